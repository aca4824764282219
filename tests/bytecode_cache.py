"""Compiled bytecode shared by every process of a test session, kept outside the working tree.

With PYTHONDONTWRITEBYTECODE set (as in this project's shells), each process compiled and
assertion-rewrote the package and the test modules anew: ~3 s of CPU per pytest process and ~2 s
per child run. Imported first by tests/conftest.py, this module turns writing back on for the
pytest process itself, before the conftest's own imports (the package, Hypothesis); ``share``
does it for the children, through their environment.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

PREFIX = str(Path(tempfile.gettempdir()) / f"keepcall-pycache-{os.getuid()}")


def share(environ: MutableMapping[str, str]) -> None:
    """Children started with ``environ`` read and write the shared cache."""
    environ.pop("PYTHONDONTWRITEBYTECODE", None)
    environ.setdefault("PYTHONPYCACHEPREFIX", PREFIX)


sys.dont_write_bytecode = False
sys.pycache_prefix = sys.pycache_prefix or os.environ.get("PYTHONPYCACHEPREFIX", PREFIX)
