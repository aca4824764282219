"""keepcall-conformance: the conformance suite for the KeepCall HTTP API."""

__version__ = "0.1.0"
