"""Ed25519 keys of certification: a key pair made, keys read, a public key's fingerprint.

A signing key is never overwritten (each file is created exclusively): one replaced by accident
cannot be got back, and every bundle it signed would lose its verifier. The certifier verifies
with a public key obtained out of band, named in a bundle only by its fingerprint.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FINGERPRINT_PREFIX: Final = "sha256:"


class EvidenceError(ValueError):
    """Unusable input (a key, a report directory, a destination): one line saying which."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def keygen(private_path: Path, public_path: Path) -> None:
    """A new Ed25519 key pair as PEM: the private key PKCS8, unencrypted, mode 0600.

    Never overwrites (each file is created exclusively, and a pair is written whole or not at
    all): a signing key replaced by accident cannot be got back, and every bundle it signed
    would lose its verifier."""
    if private_path.resolve() == public_path.resolve():
        raise EvidenceError(f"the private and public key paths are the same: {private_path}")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    _create(private_path, private, 0o600)
    try:
        _create(public_path, public, 0o644)
    except EvidenceError:
        private_path.unlink()  # no half pair left behind
        raise


def _create(path: Path, data: bytes, mode: int) -> None:
    """Write a new file, created with ``mode`` (O_EXCL: never a file that appeared meanwhile)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise EvidenceError(f"refusing to overwrite {path}") from None
    except OSError as exc:
        raise EvidenceError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(descriptor, "wb") as out:
        os.fchmod(out.fileno(), mode)  # the umask may only have narrowed it; make it exact
        out.write(data)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = _load(path, "private", "an unencrypted PEM private key",
                lambda data: serialization.load_pem_private_key(data, password=None))
    if not isinstance(key, Ed25519PrivateKey):
        raise EvidenceError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = _load(path, "public", "a PEM public key", serialization.load_pem_public_key)
    if not isinstance(key, Ed25519PublicKey):
        raise EvidenceError(f"{path} is not an Ed25519 public key")
    return key


def _load(path: Path, kind: str, form: str, parse: Callable[[bytes], object]) -> object:
    """A key file read and parsed; an EvidenceError saying which step failed."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EvidenceError(f"cannot read the {kind} key {path}: {exc.strerror}") from None
    try:
        return parse(data)
    except (ValueError, TypeError) as exc:
        raise EvidenceError(f"{path} is not {form} ({exc})") from None


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """``sha256:`` and the hex SHA-256 of the 32 raw public key bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return FINGERPRINT_PREFIX + sha256(raw)


def fingerprint(public_key: Path) -> str:
    """The fingerprint of a public key file, to compare with what its owner published."""
    return key_fingerprint(load_public_key(public_key))
