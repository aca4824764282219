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
import html
import importlib.metadata
import importlib.resources
import json
import platform
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jsonschema import Draft202012Validator
from lxml import etree

from conformance import DISTRIBUTION, __version__
from conformance.catalog.requirements import CATALOG
from conformance.reports.report import (
    JUNIT_NAME,
    PART_NAME,
    RESULTS_NAME,
    RESULTS_SCHEMA,
    public_url,
)
from conformance.reports.signing import EvidenceError, key_fingerprint, load_private_key, sha256
from conformance.wire import sink
from conformance.wire.secret_forms import MIN_SECRET_LEN, encoded_forms
from conformance.wire.validators import SCHEMA_PACKAGE, schema_file

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
MANIFEST_VALIDATOR = Draft202012Validator(MANIFEST_SCHEMA)
MESSAGE_CHARS: Final = 160  # of a library's message quoted in a problem
MAX_SCHEMA_ERRORS: Final = 20  # a hostile manifest may break the form a million times
MAX_MANIFEST_BYTES: Final = 1 << 20  # a real one is about 1.5 kB; 1 MiB validates in 0.3 s


# --- hashing and canonical forms ------------------------------------------------------------------


def canonical(data: Any) -> bytes:
    """One byte string per JSON value, so a hash names content, not formatting."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


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
                            f"{json_path(error.absolute_path)}{error.message[:MESSAGE_CHARS]}")
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


def json_path(path: Iterable[object]) -> str:
    """Where in a JSON document a schema error is, as a problem line starts."""
    steps = "/".join(str(step) for step in path)
    return f"at {steps}: " if steps else ""
