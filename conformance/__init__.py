"""keepcall-conformance: the conformance suite for the KeepCall HTTP API."""

from importlib.metadata import version

DISTRIBUTION = "keepcall-conformance"
# pyproject.toml states the version; the installed metadata carries it here, so no file of the
# package repeats it (the package is always installed: its schemas are package data).
__version__ = version(DISTRIBUTION)
