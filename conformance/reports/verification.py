"""An evidence bundle verified offline: the signature under a public key obtained out of band,
every file's hash, nothing added or missing, the catalog and schemas the verdict was judged
against. A defect of the bundle, however malformed, is a problem line (fail closed); only
unusable input (no bundle, an unreadable key) raises.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, Final, Literal, TextIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from lxml import etree

from conformance import __version__
from conformance.reports.evidence import (
    MANIFEST,
    MANIFEST_VALIDATOR,
    MAX_MANIFEST_BYTES,
    MAX_SCHEMA_ERRORS,
    MESSAGE_CHARS,
    RESULTS,
    SEAL,
    SIGNATURE,
    case_manifest,
    catalog_digest,
    installed_catalog,
    installed_schemas,
    json_path,
)
from conformance.reports.signing import EvidenceError, key_fingerprint, load_public_key, sha256

Kind = Literal["problem", "note"]


@dataclass(frozen=True)
class Finding:
    """One line of a verification: a problem invalidates the bundle, a note does not."""

    kind: Kind
    text: str


def _problem(subject: str, text: str) -> Finding:
    return Finding("problem", f"{subject}: {text}")


def _note(subject: str, text: str) -> Finding:
    return Finding("note", f"{subject}: {text}")


def _read(root: Path, name: str) -> bytes | None:
    """A regular file of the bundle (never through a link), or None."""
    try:
        path = root / name
        return path.read_bytes() if stat.S_ISREG(path.lstat().st_mode) else None
    except OSError:
        return None


@dataclass(frozen=True)
class _Opened:
    """A bundle as read from disk, each part None where it could not be read."""

    root: Path
    key: Ed25519PublicKey
    manifest_bytes: bytes | None
    signature: bytes | None
    manifest: dict[str, Any] | None  # only when it follows MANIFEST_SCHEMA
    findings: tuple[Finding, ...]  # what opening found wrong with the seal

    def read(self, name: str) -> bytes | None:
        return _read(self.root, name)


@dataclass(frozen=True)
class Verification:
    """The problems (empty: valid) and the notes of one bundle's verification."""

    problems: tuple[str, ...]
    notes: tuple[str, ...]
    manifest: Mapping[str, Any] | None

    @property
    def valid(self) -> bool:
        return not self.problems


def _open(bundle_dir: Path, key: Ed25519PublicKey) -> _Opened:
    if not bundle_dir.is_dir():
        raise EvidenceError(f"{bundle_dir} is not a directory")
    if not any((bundle_dir / name).exists() or (bundle_dir / name).is_symlink()
               for name in SEAL):
        raise EvidenceError(f"{bundle_dir} is not an evidence bundle (no {MANIFEST}, "
                            f"no {SIGNATURE})")
    manifest_bytes, signature = _read(bundle_dir, MANIFEST), _read(bundle_dir, SIGNATURE)
    findings = [_problem(name, "missing, or not a regular file")
                for name, data in ((MANIFEST, manifest_bytes), (SIGNATURE, signature))
                if data is None]
    manifest, problems = (_parse_manifest(manifest_bytes) if manifest_bytes is not None
                          else (None, []))
    return _Opened(bundle_dir, key, manifest_bytes, signature, manifest,
                   (*findings, *problems))


def _parse_manifest(data: bytes) -> tuple[dict[str, Any] | None, list[Finding]]:
    """The manifest if it follows MANIFEST_SCHEMA, else why not (bounded: read offline from
    anywhere, a manifest must not be able to keep a verifier busy for minutes)."""
    if len(data) > MAX_MANIFEST_BYTES:
        return None, [_problem(MANIFEST, f"larger than {MAX_MANIFEST_BYTES} bytes: not read")]
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        return None, [_problem(MANIFEST, f"not UTF-8 JSON ({str(exc)[:MESSAGE_CHARS]})")]
    errors = list(islice(MANIFEST_VALIDATOR.iter_errors(manifest), MAX_SCHEMA_ERRORS + 1))
    shown = [_problem(MANIFEST, f"{json_path(e.absolute_path)}{e.message[:MESSAGE_CHARS]}")
             for e in errors[:MAX_SCHEMA_ERRORS]]
    if len(errors) > MAX_SCHEMA_ERRORS:
        shown.append(_problem(MANIFEST, "more errors not shown"))
    return (None, shown) if errors else (manifest, [])




def _signature(opened: _Opened) -> Iterator[Finding]:
    """manifest.sig: exactly the base64 of 64 bytes (one newline allowed), which verifies."""
    if opened.signature is None or opened.manifest_bytes is None:
        return
    text = opened.signature.removesuffix(b"\n")
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 64 or base64.b64encode(raw) != text:
        yield _problem(SIGNATURE, "not the base64 text of an Ed25519 signature")
        return
    try:
        opened.key.verify(raw, opened.manifest_bytes)
    except InvalidSignature:
        yield _problem(f"{MANIFEST}, {SIGNATURE}",
                       "the signature does not verify under the given public key")


def _signer(opened: _Opened, manifest: Mapping[str, Any]) -> Iterator[Finding]:
    given = key_fingerprint(opened.key)
    named = manifest["signer"]["fingerprint"]
    if named != given:
        yield _problem(MANIFEST, f"names signer {named}, the given public key is {given}")


def _listed(opened: _Opened, manifest: Mapping[str, Any]) -> Iterator[Finding]:
    for name, digest in sorted(manifest["files"].items()):
        data = opened.read(name)
        if data is None:
            yield _problem(name, "listed in the manifest but missing, or not a regular file")
        elif sha256(data) != digest:
            yield _problem(name, "SHA-256 differs from the manifest's")


def _unlisted(opened: _Opened, manifest: Mapping[str, Any]) -> Iterator[Finding]:
    present = sorted(entry.name for entry in os.scandir(opened.root))
    for name in present:
        if name not in manifest["files"] and name not in SEAL:
            yield _problem(name, "present but not listed in the manifest")


def _results_catalog(opened: _Opened, manifest: Mapping[str, Any]) -> Iterator[Finding]:
    """results.json's verdicts are on the catalog the manifest names, by the same suite."""
    data = opened.read(RESULTS)
    if data is None:
        return  # _listed says so
    try:
        results = json.loads(data)
        digest = catalog_digest(results["requirements"])
        version = results["suite"]["version"]
    except (ValueError, RecursionError, KeyError, TypeError, AttributeError) as exc:
        yield _problem(RESULTS, f"unreadable as a results file ({type(exc).__name__})")
        return
    if digest != manifest["catalog"]["sha256"]:
        yield _problem(RESULTS, "its requirements are not the catalog the manifest names")
    if version != manifest["suite"]["version"]:
        yield _problem(RESULTS, f"written by suite {version!r}, the manifest names "
                                f"{manifest['suite']['version']!r}")


def _cases(opened: _Opened, manifest: Mapping[str, Any]) -> Iterator[Finding]:
    """The case manifest matches the file it was taken from."""
    cases = manifest["cases"]
    if cases is None:
        return
    source = cases["source"]
    data = opened.read(source)
    if data is None or source not in manifest["files"]:
        yield _problem(source, "the case manifest's source is not in the bundle")
        return
    try:
        found = case_manifest({source: data})
    except etree.XMLSyntaxError:
        found = None
    if found is None or found["sha256"] != cases["sha256"]:
        yield _problem(source, "its cases do not hash to the manifest's case manifest")


def _installed_suite(opened: _Opened, manifest: Mapping[str, Any]) -> Iterator[Finding]:
    """Catalog and XSDs against the installed suite's: a problem when the bundle says it was
    made by this very version (then they must be equal), a note across versions (a newer suite
    may change both, and still verify older bundles)."""
    version = manifest["suite"]["version"]
    found = _problem if version == __version__ else _note
    comparisons = (("catalog", manifest["catalog"]["sha256"], installed_catalog()),
                   ("schemas", manifest["schemas"], installed_schemas()))
    for what, sealed, installed in comparisons:
        if sealed != installed:
            yield found(what, f"differs from the installed suite {__version__}'s "
                              f"(the bundle was made with {version})")


BundleCheck = Callable[[_Opened, Mapping[str, Any]], Iterator[Finding]]
# Each reads the bundle and a manifest that follows MANIFEST_SCHEMA (so indexing it is safe).
CHECKS: Final[tuple[BundleCheck, ...]] = (_signer, _listed, _unlisted, _results_catalog, _cases,
                                    _installed_suite)


def verify_bundle(bundle_dir: Path, public_key: Path) -> Verification:
    """Verify a bundle offline; problems and notes. Raises EvidenceError only for unusable
    input (a key that cannot be read as Ed25519, a path that is no bundle at all); a defect of
    the bundle itself, however malformed, is a problem line, and a check that breaks on one
    is a problem too (fail closed)."""
    opened = _open(bundle_dir, load_public_key(public_key))
    findings = [*opened.findings, *_guarded("signature", partial(_signature, opened))]
    if opened.manifest is not None:
        for each in CHECKS:
            findings += _guarded(each.__name__.strip("_"),
                                 partial(each, opened, opened.manifest))
    return Verification(tuple(f.text for f in findings if f.kind == "problem"),
                        tuple(f.text for f in findings if f.kind == "note"), opened.manifest)


def _guarded(name: str, run: Callable[[], Iterable[Finding]]) -> list[Finding]:
    try:
        return list(run())
    except Exception as exc:  # fail closed: an unexpected error is a defect, never a pass
        return [_problem(name, f"could not be checked ({type(exc).__name__}: "
                               f"{str(exc)[:MESSAGE_CHARS]})")]


def verify(bundle_dir: Path, public_key: Path) -> list[str]:
    """The problems of a bundle, offline; empty means valid (see ``verify_bundle``)."""
    return list(verify_bundle(bundle_dir, public_key).problems)


def main_verify(bundle_dir: Path, public_key: Path, out: TextIO) -> int:
    """``keepcall-conformance verify``: 0 valid, 1 invalid (each problem printed), 2 unusable
    input (one line)."""
    try:
        result = verify_bundle(bundle_dir, public_key)
    except EvidenceError as exc:
        print(f"keepcall-conformance verify: {exc}", file=out)
        return 2
    for line in result.problems:
        print(f"PROBLEM {line}", file=out)
    for line in result.notes:
        print(f"note    {line}", file=out)
    if result.problems:
        print(f"INVALID: {bundle_dir}: {len(result.problems)} problem(s)", file=out)
        return 1
    manifest = result.manifest or {}  # valid: it follows MANIFEST_SCHEMA
    print(f"VALID: {bundle_dir}: {len(manifest['files'])} files sealed by "
          f"{manifest['signer']['fingerprint']}, suite {manifest['suite']['version']}, "
          f"created {manifest['created']}", file=out)
    return 0
