"""Shared fixtures: a real reference server on loopback, and pytester for the plugin's tests.

One server per module is enough: every test provisions calls with fresh numbers and callIDs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conformance.reference import ReferenceServer

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module")
def reference() -> Iterator[ReferenceServer]:
    """A running reference server with the preferred readings and random credentials."""
    with ReferenceServer() as server:
        yield server
