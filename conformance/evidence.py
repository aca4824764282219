"""Signed evidence bundles: a run's reports, sealed so a certifier can check them offline.

A bundle is a plain directory (easy to inspect, diff and archive with any tool) of the run's
files plus ``manifest.json``, which lists every file with its SHA-256 and pins what the verdict
was judged against (the requirement catalog, the shipped XSDs, the cases), and ``manifest.sig``,
an Ed25519 signature over the exact bytes of ``manifest.json`` (base64 text). The signer's key is
named in the manifest only by fingerprint: the certifier verifies with a public key obtained
out of band, never with one the bundle carries. docs/CERTIFICATION.md is the certifier's guide.

Layout (flat, no subdirectories)::

    results.json  junit.xml  *.html  cases.json.gz  copied from the report directory (junit.xml,
                                                   the HTML pages and cases.json.gz when present)
    configuration.json                             the run's configuration, secrets dropped
    environment.json                               Python, platform, package versions
    manifest.json  manifest.sig                    the seal
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import importlib.metadata
import importlib.resources
import json
import os
import platform
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, Final, Literal, TextIO
from urllib.parse import parse_qsl, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jsonschema import Draft202012Validator
from lxml import etree

from conformance import DISTRIBUTION, __version__, sink
from conformance.redact import MIN_SECRET_LEN, encoded_forms
from conformance.report import JUNIT_NAME, PART_NAME, RESULTS_NAME, RESULTS_SCHEMA, public_url
from conformance.requirements import CATALOG
from conformance.validators import SCHEMA_PACKAGE, schema_file

FORMAT: Final = "keepcall-conformance-evidence/1"
MANIFEST: Final = "manifest.json"
SIGNATURE: Final = "manifest.sig"
RESULTS, JUNIT, CASES = RESULTS_NAME, JUNIT_NAME, PART_NAME  # the report directory's files
CONFIGURATION: Final = "configuration.json"
ENVIRONMENT: Final = "environment.json"
SEAL: Final = frozenset({MANIFEST, SIGNATURE})
# Copied from the report directory when present; results.json is required.
OPTIONAL_REPORTS: Final = (JUNIT, CASES)
HTML_GLOB: Final = "*.html"
REQUIRED_FILES: Final = (RESULTS, CONFIGURATION, ENVIRONMENT)
CATALOG_FIELDS: Final = ("id", "level", "title", "clause", "source")
# The packages a run's behaviour depends on, recorded with their installed versions.
PACKAGES: Final = ("pytest", "hypothesis", "httpx", "lxml", "xmlschema", "pytest-html",
                   "jinja2", "cryptography")
# A configuration key whose name holds one of these (case-insensitive) is dropped with its
# value: the brief's apiKey, api_key, token, password, secret, plus the dashed spelling of a
# flag and the credential headers the redactor masks.
SECRET_MARKERS: Final = ("apikey", "api_key", "api-key", "token", "password", "secret",
                         "authorization", "cookie")
FINGERPRINT_PREFIX: Final = "sha256:"
URL_SCHEMES: Final = ("http://", "https://")  # configuration URLs keep no user info or query

_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
# A bundle is flat: a listed name is one plain file name, never a path or the seal itself.
_NAME = {"type": "string", "pattern": r"^[^/\\\x00\n]+$",
         "not": {"enum": [".", "..", *sorted(SEAL)]}}
MANIFEST_SCHEMA: Final[Mapping[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["format", "suite", "created", "signer", "files", "catalog", "schemas",
                 "cases"],
    "properties": {
        "format": {"const": FORMAT},
        "suite": {"type": "object", "required": ["name", "version"],
                  "properties": {"name": {"const": DISTRIBUTION},
                                 "version": {"type": "string"}}},
        "created": {"type": "string"},
        "signer": {"type": "object", "required": ["algorithm", "fingerprint"],
                   "properties": {"algorithm": {"const": "Ed25519"},
                                  "fingerprint": {"type": "string",
                                                  "pattern": "^sha256:[0-9a-f]{64}$"}}},
        "files": {"type": "object", "required": list(REQUIRED_FILES), "propertyNames": _NAME,
                  "additionalProperties": _SHA256},
        "catalog": {"type": "object", "required": ["sha256", "requirements"],
                    "properties": {"sha256": _SHA256,
                                   "requirements": {"type": "integer", "minimum": 0}}},
        "schemas": {"type": "object", "propertyNames": _NAME, "additionalProperties": _SHA256},
        "cases": {"oneOf": [
            {"type": "null"},
            {"type": "object", "required": ["source", "sha256", "count"],
             "properties": {"source": {"enum": [CASES, JUNIT]}, "sha256": _SHA256,
                            "count": {"type": ["integer", "null"], "minimum": 0}}}]},
    },
}
_MANIFEST_VALIDATOR = Draft202012Validator(MANIFEST_SCHEMA)
_MESSAGE_CHARS = 160
MAX_SCHEMA_ERRORS: Final = 20  # a hostile manifest may break the form a million times
MAX_MANIFEST_BYTES: Final = 1 << 20  # a real one is about 1.5 kB; 1 MiB validates in 0.3 s


class EvidenceError(ValueError):
    """Unusable input (a key, a report directory, a destination): one line saying which."""


# --- hashing and canonical forms ------------------------------------------------------------------


def canonical(data: Any) -> bytes:
    """One byte string per JSON value, so a hash names content, not formatting."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def catalog_digest(records: Iterable[Mapping[str, Any]]) -> str:
    """The SHA-256 of catalog records (id, level, title, clause, source), sorted by id.

    Computed the same way from the installed ``CATALOG`` and from the ``requirements`` of a
    results.json, so a bundle shows which catalog its verdicts were judged against."""
    rows = [{name: record[name] for name in CATALOG_FIELDS} for record in records]
    return sha256(canonical(sorted(rows, key=lambda row: str(row["id"]))))


def installed_catalog() -> str:
    return catalog_digest(asdict(requirement) for requirement in CATALOG)


def installed_schemas() -> dict[str, str]:
    """The SHA-256 of each XSD shipped in ``conformance.schemas``, by file name."""
    shipped = importlib.resources.files(SCHEMA_PACKAGE).iterdir()
    return {f.name: sha256(f.read_bytes()) for f in sorted(shipped, key=lambda f: f.name)
            if f.name.endswith(".xsd")}


def junit_case_ids(junit: bytes) -> list[str]:
    """``classname::name`` of every testcase, sorted: the case manifest when no cases.json.gz.

    The class name keeps two modules' tests of one name apart; parsing is hardened (no
    entities, no DTD, no network), since a bundle's junit.xml is read offline as untrusted."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False)
    root = etree.fromstring(junit, parser)
    return sorted(f"{case.get('classname', '')}::{case.get('name', '')}"
                  for case in root.iter("testcase"))


def case_manifest(files: Mapping[str, bytes]) -> dict[str, Any] | None:
    """The cases run: cases.json.gz as is when the run wrote one, else the ids in junit.xml."""
    if CASES in files:
        return {"source": CASES, "sha256": sha256(files[CASES]), "count": None}
    if JUNIT in files:
        ids = junit_case_ids(files[JUNIT])
        return {"source": JUNIT, "sha256": sha256(canonical(ids)), "count": len(ids)}
    return None


# --- keys -----------------------------------------------------------------------------------------


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


def _read_key(path: Path, kind: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise EvidenceError(f"cannot read the {kind} key {path}: {exc.strerror}") from None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    data = _read_key(path, "private")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise EvidenceError(f"{path} is not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise EvidenceError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    data = _read_key(path, "public")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise EvidenceError(f"{path} is not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise EvidenceError(f"{path} is not an Ed25519 public key")
    return key


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """``sha256:`` and the hex SHA-256 of the 32 raw public key bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return FINGERPRINT_PREFIX + sha256(raw)


def fingerprint(public_key: Path) -> str:
    """The fingerprint of a public key file, to compare with what its owner published."""
    return key_fingerprint(load_public_key(public_key))


# --- the configuration, without secrets -----------------------------------------------------------


def is_secret_key(name: object) -> bool:
    """A name that suggests a secret (``SECRET_MARKERS``): over-dropping costs little here."""
    lowered = str(name).lower()
    return any(marker in lowered for marker in SECRET_MARKERS)


def safe_configuration(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration as a bundle records it: every key whose name suggests a secret
    (``SECRET_MARKERS``, a case-insensitive substring: apiKey, api_key, token, password,
    secret, ...) is dropped with its value, at every depth, and URLs lose their user info,
    query and fragment, as in the reports.

    The caller is expected to pass a configuration already redacted; this is the second
    line, because a signed bundle is handed on and cannot be taken back."""
    return {str(k): _safe(v) for k, v in configuration.items() if not is_secret_key(k)}


def _safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return safe_configuration(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [_safe(v) for v in items]
    if isinstance(value, str):
        return _safe_url(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return _safe_url(str(value))  # a Path, an enum: its text


def _safe_url(text: str) -> str:
    return (public_url(text) or text) if text.startswith(URL_SCHEMES) else text


def _dropped_secrets(value: Any, dropped: bool = False) -> Iterator[str]:
    """What ``safe_configuration`` drops, as text no bundle file may hold: the text values
    under a secret-named key, at any depth, and a URL's password and secret-named query values.

    Only text: a flag or a number under such a key (``token_renewal: 50``) is no secret, and
    key names are not looked for (``password`` occurs in any report's help text)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _dropped_secrets(item, dropped or is_secret_key(key))
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _dropped_secrets(item, dropped)
    elif dropped and isinstance(value, str):
        yield value
    elif isinstance(value, str) and value.startswith(URL_SCHEMES):
        url = urlsplit(value)
        yield from (url.password or "", *(v for k, v in parse_qsl(url.query) if is_secret_key(k)))


def _secret_forms(secret: str) -> set[bytes]:
    """A secret as it may stand in a report: raw, URL-, form-, JSON- and HTML-encoded."""
    texts = {*encoded_forms(secret), json.dumps(secret)[1:-1], html.escape(secret)}
    return {t.encode("utf-8") for t in texts}


def _leaks(files: Mapping[str, bytes], secrets: Iterable[str]) -> list[str]:
    """Bundle files holding a dropped secret: a tripwire for a redaction that missed one.

    Secrets shorter than the redactor's minimum are skipped: they occur by chance."""
    forms = {form for s in secrets if len(s) >= MIN_SECRET_LEN for form in _secret_forms(s)}
    return sorted(name for name, data in files.items()
                  if any(f in _unpacked(data) for f in forms))


def _unpacked(data: bytes) -> bytes:
    """A gzipped file (cases.json.gz) as its reader sees it; others as they are."""
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError):
        return data


# --- the bundle -----------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    """What ran the suite: enough to rerun it the same way (no host name, no user)."""
    return {"python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "suite": {"name": DISTRIBUTION, "version": __version__},
            "packages": {name: _installed(name) for name in PACKAGES}}


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _json_file(data: Any) -> bytes:
    """A bundle's own JSON file, through the sink before it is hashed and signed."""
    return sink.redacted_bytes(
        (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode())


def _report_files(report_dir: Path) -> dict[str, bytes]:
    """results.json, and junit.xml, cases.json.gz and the HTML pages when present."""
    results = report_dir / RESULTS
    if not results.is_file():
        raise EvidenceError(f"no {RESULTS} in {report_dir}: not a report directory")
    names = [RESULTS, *OPTIONAL_REPORTS, *(p.name for p in report_dir.glob(HTML_GLOB))]
    return {name: sink.redacted_bytes((report_dir / name).read_bytes())
            for name in sorted(set(names))
            if (report_dir / name).is_file()}


def _check_results(data: bytes) -> None:
    """results.json must be valid and judged by this suite: its catalog is the one sealed."""
    try:
        results = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise EvidenceError(f"{RESULTS} is not JSON: {exc}") from None
    schema = json.loads(schema_file(RESULTS_SCHEMA).read_bytes())
    error = next(iter(Draft202012Validator(schema).iter_errors(results)), None)
    if error is not None:
        raise EvidenceError(f"{RESULTS} does not follow {RESULTS_SCHEMA}: "
                            f"{_where(error.absolute_path)}{error.message[:_MESSAGE_CHARS]}")
    version = results["suite"]["version"]
    if version != __version__:
        raise EvidenceError(f"{RESULTS} was written by suite {version}, this is {__version__}: "
                            "bundle with the suite that ran")
    try:
        judged = catalog_digest(results["requirements"])
    except KeyError as exc:
        raise EvidenceError(f"a requirement of {RESULTS} has no {exc}") from None
    if judged != installed_catalog():
        raise EvidenceError(f"the requirements in {RESULTS} are not this suite's catalog")


def bundle(report_dir: Path, out_dir: Path, *, configuration: Mapping[str, Any],
           private_key: Path) -> Path:
    """Seal a run's report directory into the bundle directory ``out_dir``; returns it.

    ``configuration`` goes through ``safe_configuration`` (secret-named keys dropped); if any
    file of the bundle still holds one of the dropped values, nothing is written. The case
    manifest is cases.json.gz when the report directory has one, else the sorted
    ``classname::name`` of junit.xml's testcases (``case_manifest``). The bundle is built
    beside ``out_dir`` and moved into place whole, so a failed run leaves no half bundle.
    ``out_dir`` must not exist or be empty."""
    key = load_private_key(private_key)
    check_destination(out_dir)
    files = _report_files(report_dir)
    _check_results(files[RESULTS])
    try:
        cases = case_manifest(files)
    except etree.XMLSyntaxError as exc:
        raise EvidenceError(f"{JUNIT} is not well-formed XML: {exc}") from None
    files[CONFIGURATION] = _json_file(safe_configuration(configuration))
    files[ENVIRONMENT] = _json_file(environment())
    leaked = _leaks(files, _dropped_secrets(configuration))
    if leaked:
        raise EvidenceError(f"{', '.join(leaked)} holds a secret of the configuration: "
                            "not bundled")
    manifest = _json_file(_manifest(files, cases, key.public_key()))
    signature = base64.b64encode(key.sign(manifest)) + b"\n"
    _write_whole(out_dir, {**files, MANIFEST: manifest, SIGNATURE: signature})
    return out_dir


def check_destination(out_dir: Path, report_dir: Path | None = None) -> None:
    """Whether ``bundle`` can write ``out_dir``: new or empty, not where the run's reports go
    (they would fill it), and a directory can be made beside it (the bundle is built there,
    then moved into place). ``certify`` asks before its run, which takes minutes."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise EvidenceError(f"{out_dir} exists and is not an empty directory")
    if report_dir is not None and out_dir.resolve() in (report_dir.resolve(),
                                                        *report_dir.resolve().parents):
        raise EvidenceError(f"{out_dir} would hold the run's reports (--report-dir "
                            f"{report_dir}): name another directory")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent)).rmdir()
    except OSError as exc:
        raise EvidenceError(f"cannot write in {out_dir.parent}: {exc.strerror}") from None


def _manifest(files: Mapping[str, bytes], cases: Mapping[str, Any] | None,
              key: Ed25519PublicKey) -> dict[str, Any]:
    return {"format": FORMAT,
            "suite": {"name": DISTRIBUTION, "version": __version__},
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "signer": {"algorithm": "Ed25519", "fingerprint": key_fingerprint(key)},
            "files": {name: sha256(data) for name, data in sorted(files.items())},
            "catalog": {"sha256": installed_catalog(), "requirements": len(CATALOG)},
            "schemas": installed_schemas(),
            "cases": cases}


def _write_whole(out_dir: Path, files: Mapping[str, bytes]) -> None:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        staging.chmod(0o755)  # mkdtemp's 0700 would keep a certifier's reader out
        if out_dir.is_dir():
            out_dir.rmdir()  # empty, checked above
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


# --- verification ---------------------------------------------------------------------------------

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
        return None, [_problem(MANIFEST, f"not UTF-8 JSON ({str(exc)[:_MESSAGE_CHARS]})")]
    errors = list(islice(_MANIFEST_VALIDATOR.iter_errors(manifest), MAX_SCHEMA_ERRORS + 1))
    shown = [_problem(MANIFEST, f"{_where(e.absolute_path)}{e.message[:_MESSAGE_CHARS]}")
             for e in errors[:MAX_SCHEMA_ERRORS]]
    if len(errors) > MAX_SCHEMA_ERRORS:
        shown.append(_problem(MANIFEST, "more errors not shown"))
    return (None, shown) if errors else (manifest, [])


def _where(path: Iterable[object]) -> str:
    steps = "/".join(str(step) for step in path)
    return f"at {steps}: " if steps else ""


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
                               f"{str(exc)[:_MESSAGE_CHARS]})")]


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
