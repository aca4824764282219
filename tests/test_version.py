"""The version is written once, in pyproject.toml; the package reads it from its metadata."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import conformance

ROOT = Path(__file__).resolve().parent.parent


def test_the_version_comes_from_the_installed_metadata() -> None:
    assert conformance.__version__ == version(conformance.DISTRIBUTION)


def test_no_module_states_the_version() -> None:
    stated = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    quoted = (f'"{stated}"', f"'{stated}'")
    offenders = [p.name for p in (ROOT / "conformance").rglob("*.py")
                 if any(q in p.read_text(encoding="utf-8") for q in quoted)]
    assert offenders == []
