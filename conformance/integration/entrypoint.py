"""pytest's entry point for KeepCall (``pytest11``): the ``--kc-*`` options, and nothing else
until a conformance run is asked for.

pytest loads this module in every run of an environment where the package is installed, so it
imports only the option table and does nothing for a run that is not a conformance run: it
reads no ``KEEPCALL_*`` variable and imports no HTTP client, XML parser or server.

A conformance run is asked for when
- any ``--kc-*`` option is given (on the command line, in ``addopts`` or ``PYTEST_ADDOPTS``), or
- an argument names the suite: ``conformance.suite`` or one of its modules (``--pyargs``), or
  a path to the suite's directory or into it.

Then, as pytest registers its ``LogXML`` only with ``--junitxml`` and pytest-xdist its
``DSession`` only with ``-n``, ``pytest_configure`` resolves the settings (a bad value is a usage
error) and registers a ``conformance.integration.plugin.KeepCallPlugin`` for the run. Otherwise the
suite's
directory is not collected, should a walk from a parent directory reach it: its tests need a
run nobody configured. ``keepcall-conformance run`` blocks this module (``-p no:keepcall``) and
registers its own plugin object.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.integration.options import given, grouped, keywords

NAME = "keepcall"  # the entry point's name in pyproject.toml: ``-p no:keepcall`` blocks it
RUN_PLUGIN = "keepcall-run"  # the name the run's plugin object is registered under
DEST_PREFIX = "kc_"
SUITE = "conformance.suite"
SUITE_DIR = Path(__file__).resolve().parents[1] / "suite"


def pytest_addoption(parser: pytest.Parser) -> None:
    for key, heading, options in grouped():
        group = parser.getgroup(f"keepcall-{key}", f"KeepCall conformance: {heading}")
        for option in options:
            group.addoption(f"--kc-{option.long}", **keywords(option, DEST_PREFIX))


def pytest_configure(config: pytest.Config) -> None:
    if not asked_for(config):
        return
    from conformance.integration.plugin import KeepCallPlugin
    from conformance.integration.settings import SettingsError, options_from, resolve

    try:
        run = KeepCallPlugin(resolve(options_from(config.option, DEST_PREFIX)))
    except SettingsError as error:
        raise pytest.UsageError(str(error)) from None
    config.pluginmanager.register(run, RUN_PLUGIN)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Keep the suite out of a run that did not ask for it (the name first: it is cheap)."""
    if collection_path.name != SUITE_DIR.name or config.pluginmanager.has_plugin(RUN_PLUGIN):
        return None
    return True if collection_path.resolve() == SUITE_DIR else None


def asked_for(config: pytest.Config) -> bool:
    """A ``--kc-*`` option given, or the suite named among the arguments."""
    if given(config.option, DEST_PREFIX):
        return True
    here = config.invocation_params.dir
    return any(_names_suite(arg.split("::")[0], here) for arg in config.args)


def _names_suite(arg: str, here: Path) -> bool:
    if arg == SUITE or arg.startswith(SUITE + "."):
        return True
    path = (here / arg).resolve()
    return path == SUITE_DIR or SUITE_DIR in path.parents
