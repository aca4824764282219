"""``keepcall-conformance certify``: the locked profile, then a signed evidence bundle.

A certificate must not depend on how the run was tuned: the full matrix, a pinned seed and
property budget, SHOULD requirements gating, no expected-failures file, and no untested gating
requirement allowed. Only the target, its credentials, control URL, profile, transport limits
and workers are the vendor's to give. Whatever the verdict, the run's reports are sealed into
a bundle (``evidence.py``) that a certifier verifies offline with the signer's public key.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Final

from conformance.integration.options import OPTIONS

# The locked profile: what every certification run uses, by option name.
PROFILE: Final[dict[str, Any]] = {
    "quick": False, "seed": 20261201, "budget": 120.0, "examples": 100, "level": "should",
    "allow_untested": False, "expect": None, "shard": None, "part": "all",
    "deferred": None, "max_duration": None}
LOCKED: Final = frozenset(PROFILE)


def locked(args: argparse.Namespace) -> argparse.Namespace:
    """The run's options: the vendor's, with the locked profile over them."""
    return argparse.Namespace(**(vars(args) | PROFILE | {"select": None}))


def configuration(args: argparse.Namespace) -> dict[str, Any]:
    """What the bundle records of the run's options (secrets are left out here, and again by
    the bundle itself)."""
    return {option.name: _plain(getattr(args, option.name, None)) for option in OPTIONS
            if not option.secret and getattr(args, option.name, None) is not None}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else (
        str(value) if isinstance(value, Path) else value)
