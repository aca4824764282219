"""Signed evidence bundles (conformance/reports/evidence.py): sealed, verified offline, and any
change to any file, any file added or removed, or another key is named as a problem. Secrets of the
configuration never reach a byte of the bundle.

A small fake report directory stands in for a run (results.json valid against its schema, a
junit.xml, two HTML pages): every test here is in the fast lane.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from canary import assert_no_leak
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jsonschema import Draft202012Validator

from conformance import DISTRIBUTION, __version__
from conformance.catalog.requirements import CATALOG
from conformance.reports import evidence as ev
from conformance.reports import signing, verification
from conformance.reports.report import RESULTS_SCHEMA
from conformance.wire.validators import schema_file

# Every file of a bundle made from the fake report directory.
FILES = ("compliance.html", "configuration.json", "environment.json", "junit.xml",
         "manifest.json", "manifest.sig", "report.html", "results.json")
SEALED = tuple(f for f in FILES if f not in ev.SEAL)
JUNIT_CASES = (("conformance.suite.test_matrix", "test_case[lookup|callID|GET]"),
               ("conformance.suite.test_methods", "test_case[lookup|callID|GET]"))
CONFIGURATION = {"target": "http://127.0.0.1:9/verba/api", "level": "should", "quick": False,
                 "seed": 7}
# Canary secrets: as values under secret-named keys, at every depth and in every spelling of
# the key, and inside key names themselves.
CANARIES = ("canary-api-key-4f1c9e", "canary-token-77ab02", "canary-password-e3d5",
            "canary-secret-0b9a61", "canary-nested-5c2e8d", "canary-listed-a81f3c",
            "canary-keyname-92d0b7", "canary-url-pass-61b2", "canary-url-query-c4e9")
SECRET_CONFIGURATION: dict[str, Any] = {
    **CONFIGURATION,
    "apiKey": CANARIES[0], "KEEPCALL_TOKEN": CANARIES[1], "Password": CANARIES[2],
    "client_SECRET": CANARIES[3],
    "control": {"url": "http://127.0.0.1:9/_conformance", "api-key": CANARIES[4]},
    "logins": [{"username": "conformance", "password": CANARIES[5]}],
    f"token-{CANARIES[6]}": "x",
    "mirror": f"https://user:{CANARIES[7]}@mirror.example/verba/api?apiKey={CANARIES[8]}",
}
SAFE_CONFIGURATION = {**CONFIGURATION, "control": {"url": "http://127.0.0.1:9/_conformance"},
                      "logins": [{"username": "conformance"}],
                      "mirror": "https://mirror.example/verba/api"}


@dataclass(frozen=True)
class Keys:
    private: Path
    public: Path


def _keys(directory: Path) -> Keys:
    directory.mkdir()
    keys = Keys(directory / "signer.pem", directory / "signer.pub.pem")
    signing.keygen(keys.private, keys.public)
    return keys


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return _keys(tmp_path_factory.mktemp("keys") / "signer")


@pytest.fixture(scope="module")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return _keys(tmp_path_factory.mktemp("keys") / "other")


def fake_results(version: str = __version__) -> dict[str, Any]:
    """A small results.json: every catalog requirement passed or observed, no evidence."""
    verdicts = {"MUST": "pass", "SHOULD": "pass", "OBSERVE": "observed"}
    requirements = [{"id": r.id, "level": r.level, "title": r.title, "clause": r.clause,
                     "source": r.source, "verdict": verdicts[r.level], "cases": 1,
                     "failed": 0, "evidence": []} for r in CATALOG]
    counts = {v: sum(r["verdict"] == v for r in requirements) for v in ("pass", "observed")}
    return {"suite": {"name": DISTRIBUTION, "version": version, "spec": "KeepCall",
                      "quick": False, "seed": 7, "level": "should"},
            "target": {"url": "http://127.0.0.1:9/verba/api", "embedded": False},
            "requirements": requirements,
            "summary": {"verdict": "conformant", "exit_code": 0, "level": "should",
                        "requirements": counts, "cases": len(JUNIT_CASES),
                        "failed_requirements": [], "untested_gating": [],
                        "transport_failures": 0, "aborted": None, "internal_errors": [],
                        "suite_notes": []}}


def schema_errors(data: Any) -> list[str]:
    schema = json.loads(schema_file(RESULTS_SCHEMA).read_bytes())
    return [e.message for e in Draft202012Validator(schema).iter_errors(data)]


def junit(cases: Iterable[tuple[str, str]] = JUNIT_CASES) -> bytes:
    rows = "".join(f'<testcase classname="{c}" name="{n}" time="0.01"/>' for c, n in cases)
    return (f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" '
            f'tests="{len(JUNIT_CASES)}">{rows}</testsuite></testsuites>').encode()


@pytest.fixture(scope="module")
def results_text() -> str:
    """The fake results.json, checked against the schema once for the module's reports."""
    results = fake_results()
    assert schema_errors(results) == []
    return json.dumps(results, indent=2)


@pytest.fixture
def report_dir(tmp_path: Path, results_text: str) -> Path:
    return write_reports(tmp_path, results_text)


def write_reports(where: Path, results_text: str) -> Path:
    """A report directory in ``where``: the fake results, junit.xml, the pages, and a file that
    is not a report."""
    directory = where / "reports"
    directory.mkdir()
    (directory / "results.json").write_text(results_text)
    (directory / "junit.xml").write_bytes(junit())
    (directory / "report.html").write_text("<!DOCTYPE html><html><body>pytest</body></html>")
    (directory / "compliance.html").write_text("<!DOCTYPE html><html><body>OK</body></html>")
    (directory / "notes.txt").write_text("not a report: never bundled")
    return directory


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, results_text: str, keys: Keys) -> Path:
    """The bundle of the fake report directory, made once for the module: never changed."""
    reports = tmp_path_factory.mktemp("pristine")
    return ev.bundle(write_reports(reports, results_text), reports / "bundle",
                     configuration=CONFIGURATION, private_key=keys.private)


@pytest.fixture
def sealed(report_dir: Path, pristine: Path, tmp_path: Path) -> Path:
    """A bundle of ``report_dir`` for the test to break: a copy of the module's one (the same
    files; bundling again for each test was most of this module's time)."""
    return Path(shutil.copytree(pristine, tmp_path / "bundle", symlinks=True))


def subjects(problems: Iterable[str]) -> set[str]:
    """The files the problem lines name (``name: what``, ``a, b: what``)."""
    return {name for line in problems for name in line.split(": ", 1)[0].split(", ")}


def manifest_of(bundle: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((bundle / "manifest.json").read_bytes())
    return data


def resign(bundle: Path, keys: Keys, edit: Callable[[dict[str, Any]], object],
           files: Mapping[str, bytes] | None = None) -> None:
    """Rewrite files, rehash them, edit the manifest and sign it again: what a signer could do."""
    for name, data in (files or {}).items():
        (bundle / name).write_bytes(data)
    manifest = manifest_of(bundle)
    manifest["files"] = {name: signing.sha256((bundle / name).read_bytes())
                         for name in manifest["files"]}
    edit(manifest)
    data = json.dumps(manifest).encode()
    (bundle / "manifest.json").write_bytes(data)
    signature = signing.load_private_key(keys.private).sign(data)
    (bundle / "manifest.sig").write_bytes(base64.b64encode(signature) + b"\n")


def run_verify(bundle: Path, public: Path) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = verification.main_verify(bundle, public, out)
    return code, out.getvalue().splitlines()


# --- keys -----------------------------------------------------------------------------------------


def test_keygen_writes_an_ed25519_pair_the_private_half_0600(keys: Keys) -> None:
    private_pem, public_pem = keys.private.read_bytes(), keys.public.read_bytes()
    assert private_pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS8, unencrypted
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----")  # SubjectPublicKeyInfo
    assert stat.S_IMODE(keys.private.stat().st_mode) == 0o600
    private = serialization.load_pem_private_key(private_pem, password=None)
    public = serialization.load_pem_public_key(public_pem)
    assert isinstance(private, Ed25519PrivateKey) and isinstance(public, Ed25519PublicKey)
    signature = private.sign(b"round trip")
    public.verify(signature, b"round trip")  # raises if the halves do not belong together
    assert signing.fingerprint(keys.public) == signing.key_fingerprint(private.public_key())


@pytest.mark.parametrize("existing", ["private", "public", "both"])
def test_keygen_refuses_to_overwrite(tmp_path: Path, existing: str) -> None:
    paths = {"private": tmp_path / "k.pem", "public": tmp_path / "k.pub.pem"}
    taken = list(paths) if existing == "both" else [existing]
    for name in taken:
        paths[name].write_bytes(b"an older key")
    with pytest.raises(signing.EvidenceError) as raised:
        signing.keygen(paths["private"], paths["public"])
    assert "\n" not in str(raised.value) and "overwrite" in str(raised.value)
    for name, path in paths.items():
        assert (path.read_bytes() == b"an older key") if name in taken else not path.exists()


# --- a bundle as made -----------------------------------------------------------------------------


def test_a_fresh_bundle_verifies(sealed: Path, keys: Keys) -> None:
    assert sorted(p.name for p in sealed.iterdir()) == list(FILES)
    assert verification.verify(sealed, keys.public) == []
    code, lines = run_verify(sealed, keys.public)
    assert code == 0 and lines[-1].startswith("VALID:"), lines
    assert sorted(manifest_of(sealed)["files"]) == list(SEALED)


def test_the_manifest_pins_catalog_schemas_cases_and_signer(sealed: Path, keys: Keys) -> None:
    manifest = manifest_of(sealed)
    assert manifest["suite"] == {"name": DISTRIBUTION, "version": __version__}
    assert manifest["catalog"] == {"sha256": ev.catalog_digest(fake_results()["requirements"]),
                                   "requirements": len(CATALOG)}
    changed = [{**r, "title": "x"} if r["id"] == CATALOG[0].id else r
               for r in fake_results()["requirements"]]
    assert ev.catalog_digest(changed) != manifest["catalog"]["sha256"]
    xsd = schema_file("keepcall-response.xsd").read_bytes()
    assert manifest["schemas"] == {"keepcall-response.xsd": signing.sha256(xsd)}
    ids = sorted(f"{c}::{n}" for c, n in JUNIT_CASES)
    assert manifest["cases"] == {"source": "junit.xml", "count": len(JUNIT_CASES),
                                 "sha256": signing.sha256(json.dumps(ids, separators=(",", ":"))
                                                     .encode())}
    assert manifest["signer"] == {"algorithm": "Ed25519",
                                  "fingerprint": signing.fingerprint(keys.public)}
    environment = json.loads((sealed / "environment.json").read_bytes())
    assert environment["suite"]["version"] == __version__
    assert set(environment["packages"]) >= {"pytest", "hypothesis", "httpx", "lxml",
                                            "xmlschema", "pytest-html", "jinja2"}
    assert environment["packages"]["pytest"] == pytest.__version__


def test_cases_json_is_the_case_manifest_when_the_run_wrote_one(
        report_dir: Path, keys: Keys, tmp_path: Path) -> None:
    cases = json.dumps(["lookup|callID|GET", "edges|ended-0s|POST"]).encode()
    (report_dir / "cases.json.gz").write_bytes(cases)
    bundle = ev.bundle(report_dir, tmp_path / "b", configuration={}, private_key=keys.private)
    manifest = manifest_of(bundle)
    assert manifest["cases"] == {"source": "cases.json.gz", "sha256": signing.sha256(cases),
                                 "count": None}
    assert manifest["files"]["cases.json.gz"] == signing.sha256(cases)
    assert verification.verify(bundle, keys.public) == []


# --- tampering ------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("name", FILES)
def test_one_flipped_byte_of_any_file_is_named(sealed: Path, keys: Keys, name: str,
                                               where: str) -> None:
    path = sealed / name
    data = bytearray(path.read_bytes())
    position = {"first": 0, "middle": len(data) // 2, "last": len(data) - 1}[where]
    data[position] ^= 0x01
    path.write_bytes(bytes(data))
    problems = verification.verify(sealed, keys.public)
    assert name in subjects(problems), problems
    assert run_verify(sealed, keys.public)[0] == 1


@pytest.mark.parametrize("name", FILES)
def test_a_missing_file_is_named(sealed: Path, keys: Keys, name: str) -> None:
    (sealed / name).unlink()
    problems = verification.verify(sealed, keys.public)
    assert name in subjects(problems), problems


@pytest.mark.parametrize("extra", ["extra.txt", ".DS_Store", "subdirectory"])
def test_a_file_not_listed_is_named(sealed: Path, keys: Keys, extra: str) -> None:
    if extra == "subdirectory":
        (sealed / extra).mkdir()
        (sealed / extra / "results.json").write_text("{}")
    else:
        (sealed / extra).write_text("added after sealing")
    assert subjects(verification.verify(sealed, keys.public)) == {extra}


def test_a_file_replaced_by_a_link_is_named(sealed: Path, keys: Keys, tmp_path: Path) -> None:
    """Same bytes, but through a link: a bundle's files are its own, never read elsewhere."""
    outside = tmp_path / "outside.json"
    outside.write_bytes((sealed / "results.json").read_bytes())
    (sealed / "results.json").unlink()
    (sealed / "results.json").symlink_to(outside)
    assert "results.json" in subjects(verification.verify(sealed, keys.public))


def test_another_public_key_is_refused(sealed: Path, other_keys: Keys) -> None:
    problems = verification.verify(sealed, other_keys.public)
    assert {"manifest.json", "manifest.sig"} <= subjects(problems), problems
    assert any(signing.fingerprint(other_keys.public) in line for line in problems)
    assert run_verify(sealed, other_keys.public)[0] == 1


def test_a_bundle_resigned_with_another_key_is_refused(sealed: Path, keys: Keys,
                                                       other_keys: Keys) -> None:
    """A valid signature by the wrong key is still the wrong signer."""
    resign(sealed, other_keys, lambda m: None)
    # the manifest names the first signer
    assert verification.verify(sealed, other_keys.public) != []
    assert "manifest.sig" in subjects(verification.verify(sealed, keys.public))


MALFORMED: dict[str, bytes] = {
    "empty": b"",
    "not UTF-8": b"\xff\xfe{}",
    "not JSON": b"{files: yes",
    "a list": b"[]",
    "an empty object": b"{}",
    "deeply nested": b"[" * 100_000 + b"]" * 100_000,
    "wrong types": json.dumps({"format": 1, "files": [], "suite": None}).encode(),
    "many bad names": json.dumps({"files": {f"a/{i}": 0 for i in range(50_000)}}).encode(),
    "too large": json.dumps({"files": {f"a{i}": "0" * 64 for i in range(20_000)}}).encode(),
}


@pytest.mark.parametrize("content", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_manifest_is_a_problem_never_an_exception(sealed: Path, keys: Keys,
                                                              content: bytes) -> None:
    (sealed / "manifest.json").write_bytes(content)
    problems = verification.verify(sealed, keys.public)
    assert "manifest.json" in subjects(problems), problems[:5]
    assert len(problems) <= ev.MAX_SCHEMA_ERRORS + 1 + len(FILES)  # readable, however broken
    assert run_verify(sealed, keys.public)[0] == 1


def test_a_manifest_too_large_is_not_read(sealed: Path, keys: Keys) -> None:
    """Bounded work: a manifest cannot keep an offline verifier busy for minutes."""
    (sealed / "manifest.json").write_bytes(MALFORMED["too large"])
    problems = verification.verify(sealed, keys.public)
    assert any(p.startswith("manifest.json: larger than") for p in problems), problems


EDITS: dict[str, Callable[[dict[str, Any]], object]] = {
    "a path out of the bundle": lambda m: m["files"].update({"../results.json": "0" * 64}),
    "a seal file listed": lambda m: m["files"].update({"manifest.sig": "0" * 64}),
    "results.json not listed": lambda m: m["files"].pop("results.json"),
    "an unknown format": lambda m: m.update(format="keepcall-conformance-evidence/0"),
    "a short hash": lambda m: m["files"].update({"junit.xml": "abc"}),
    "no case manifest source": lambda m: m["cases"].update(source="cases.json.gz"),
    "another catalog": lambda m: m["catalog"].update(sha256="0" * 64),
    "another case list": lambda m: m["cases"].update(sha256="0" * 64),
}


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_a_signed_but_inconsistent_manifest_is_invalid(sealed: Path, keys: Keys,
                                                       edit: Callable[[dict[str, Any]],
                                                                      object]) -> None:
    """Even the key's owner cannot seal a bundle whose parts disagree."""
    resign(sealed, keys, edit)
    problems = verification.verify(sealed, keys.public)
    assert problems != [] and not any("could not be checked" in p for p in problems), problems


@pytest.mark.parametrize("version", ["same", "other"])
def test_schemas_differing_from_the_installed_suite(sealed: Path, keys: Keys,
                                                    version: str) -> None:
    """A problem when the bundle claims this very suite version; across versions a note."""
    stated = __version__ if version == "same" else "0+another"

    def edit(manifest: dict[str, Any]) -> None:
        manifest["schemas"] = {"keepcall-response.xsd": "0" * 64}
        manifest["suite"]["version"] = stated

    results = json.dumps(fake_results(stated)).encode()
    resign(sealed, keys, edit, {"results.json": results})
    found = verification.verify_bundle(sealed, keys.public)
    if version == "same":
        assert subjects(found.problems) == {"schemas"} and found.notes == ()
    else:
        assert found.problems == () and subjects(found.notes) == {"schemas"}
        code, lines = run_verify(sealed, keys.public)
        assert code == 0 and any(line.startswith("note") for line in lines)


def test_results_judged_on_another_catalog_are_named(sealed: Path, keys: Keys) -> None:
    """The verdicts in results.json are on the catalog the manifest names, or it says so."""
    results = fake_results()
    results["requirements"][0]["title"] = "a requirement the catalog does not have"
    resign(sealed, keys, lambda m: None, {"results.json": json.dumps(results).encode()})
    assert subjects(verification.verify(sealed, keys.public)) == {"results.json"}


def test_a_check_that_breaks_is_a_problem(sealed: Path, keys: Keys,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail closed: a check that raises on some bundle makes it invalid, never valid."""
    def breaks(opened: object, manifest: object) -> Iterator[verification.Finding]:
        raise RuntimeError("a bundle nobody foresaw")

    monkeypatch.setattr(verification, "CHECKS", (*verification.CHECKS, breaks))
    assert subjects(verification.verify(sealed, keys.public)) == {"breaks"}


def test_results_of_another_suite_version_are_named(sealed: Path, keys: Keys) -> None:
    results = json.dumps(fake_results("0+another")).encode()
    resign(sealed, keys, lambda m: None, {"results.json": results})
    assert subjects(verification.verify(sealed, keys.public)) == {"results.json"}


# --- unusable input: exit 2, one line -------------------------------------------------------------


def _rsa_public(path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


UNUSABLE_KEYS: dict[str, Callable[[Path, Keys], Path]] = {
    "missing": lambda d, k: d / "absent.pem",
    "garbage": lambda d, k: (d / "garbage.pem", (d / "garbage.pem").write_text("hello"))[0],
    "the private key": lambda d, k: k.private,
    "an RSA key": lambda d, k: _rsa_public(d / "rsa.pem"),
}


@pytest.mark.parametrize("make", UNUSABLE_KEYS.values(), ids=UNUSABLE_KEYS.keys())
def test_an_unusable_key_exits_2_with_one_line(sealed: Path, keys: Keys, tmp_path: Path,
                                               make: Callable[[Path, Keys], Path]) -> None:
    code, lines = run_verify(sealed, make(tmp_path, keys))
    assert (code, len(lines)) == (2, 1), lines
    with pytest.raises(signing.EvidenceError):
        verification.verify(sealed, make(tmp_path, keys))


@pytest.mark.parametrize("what", ["an empty directory", "a file", "nothing"])
def test_not_a_bundle_exits_2_with_one_line(tmp_path: Path, keys: Keys, what: str) -> None:
    path = tmp_path / "candidate"
    if what == "an empty directory":
        path.mkdir()
    elif what == "a file":
        path.write_text("{}")
    code, lines = run_verify(path, keys.public)
    assert (code, len(lines)) == (2, 1), lines


def _bad_results(report_dir: Path, data: Any) -> None:
    (report_dir / "results.json").write_text(json.dumps(data))


def _occupy(out_dir: Path) -> None:
    out_dir.mkdir()
    (out_dir / "old.txt").write_text("an earlier bundle")


def _drop_source(report_dir: Path) -> None:
    results = fake_results()
    del results["requirements"][0]["source"]
    _bad_results(report_dir, results)


REFUSALS: dict[str, Callable[[Path, Path], object]] = {
    "no results.json": lambda r, o: (r / "results.json").unlink(),
    "results.json not JSON": lambda r, o: (r / "results.json").write_text("{"),
    "results.json against its schema": lambda r, o: _bad_results(r, {"suite": {}}),
    "results of another suite": lambda r, o: _bad_results(r, fake_results("0+another")),
    "another catalog": lambda r, o: _bad_results(r, {**fake_results(), "requirements": []}),
    "a requirement without source": lambda r, o: _drop_source(r),
    "junit.xml not XML": lambda r, o: (r / "junit.xml").write_text("<testsuites>"),
    "out_dir not empty": lambda r, o: _occupy(o),
    "out_dir a file": lambda r, o: o.write_text("x"),
}


@pytest.mark.parametrize("spoil", REFUSALS.values(), ids=REFUSALS.keys())
def test_bundle_refuses_unusable_input(report_dir: Path, keys: Keys, tmp_path: Path,
                                       spoil: Callable[[Path, Path], object]) -> None:
    out = tmp_path / "bundle"
    spoil(report_dir, out)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(signing.EvidenceError) as raised:
        ev.bundle(report_dir, out, configuration={}, private_key=keys.private)
    assert "\n" not in str(raised.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no half bundle, no staging


def test_bundle_refuses_a_public_key_as_the_signing_key(report_dir: Path, keys: Keys,
                                                        tmp_path: Path) -> None:
    with pytest.raises(signing.EvidenceError, match="private key"):
        ev.bundle(report_dir, tmp_path / "b", configuration={}, private_key=keys.public)


# --- secrets --------------------------------------------------------------------------------------


def test_canary_secrets_never_reach_the_bundle(report_dir: Path, keys: Keys,
                                               tmp_path: Path) -> None:
    bundle = ev.bundle(report_dir, tmp_path / "b", configuration=SECRET_CONFIGURATION,
                       private_key=keys.private)
    assert_no_leak(bundle, CANARIES)
    recorded = json.loads((bundle / "configuration.json").read_bytes())
    assert recorded == SAFE_CONFIGURATION  # dropped exactly the secrets, kept the rest
    assert verification.verify(bundle, keys.public) == []


def test_safe_configuration_drops_every_secret_spelling() -> None:
    keys = ["apiKey", "APIKEY", "api_key", "X-Api-Key", "open_api_key", "token", "TOKEN",
            "KEEPCALL_PASSWORD", "client_secret", "Authorization", "cookie"]
    assert ev.safe_configuration({k: "s3cr3t-value" for k in keys} | {"level": "must"}) == {
        "level": "must"}


def test_a_report_holding_a_configuration_secret_is_not_bundled(
        report_dir: Path, keys: Keys, tmp_path: Path) -> None:
    """The tripwire: a redaction that missed a secret stops the bundle, in any encoding."""
    secret = "canary pass/word&1"
    (report_dir / "report.html").write_text("<p>canary%20pass%2Fword%261</p>")
    with pytest.raises(signing.EvidenceError, match=r"report\.html"):
        ev.bundle(report_dir, tmp_path / "b", configuration={"password": secret},
                  private_key=keys.private)
    assert not (tmp_path / "b").exists()


def test_a_secret_inside_the_gzipped_case_manifest_trips_it_too(
        report_dir: Path, keys: Keys, tmp_path: Path) -> None:
    (report_dir / "cases.json.gz").write_bytes(gzip.compress(b'{"curl": "canary pass/word&1"}'))
    with pytest.raises(signing.EvidenceError, match=r"cases\.json\.gz"):
        ev.bundle(report_dir, tmp_path / "b", configuration={"password": "canary pass/word&1"},
                  private_key=keys.private)


def test_a_report_holding_a_configuration_url_password_is_not_bundled(
        report_dir: Path, keys: Keys, tmp_path: Path) -> None:
    """A URL's password and secret-named query values are dropped, so they trip it too."""
    (report_dir / "junit.xml").write_bytes(junit([("x", "canary-url-pass-61b2")]))
    with pytest.raises(signing.EvidenceError, match=r"junit\.xml"):
        ev.bundle(report_dir, tmp_path / "b", configuration=SECRET_CONFIGURATION,
                  private_key=keys.private)


def test_short_or_non_text_secret_values_do_not_trip_the_wire(
        report_dir: Path, keys: Keys, tmp_path: Path) -> None:
    """``token_renewal: 50`` is no secret, and a 3-character one occurs in text by chance."""
    configuration = {"token_renewal": 50, "use_token": True, "password": "pyt"}
    bundle = ev.bundle(report_dir, tmp_path / "b", configuration=configuration,
                       private_key=keys.private)
    assert json.loads((bundle / "configuration.json").read_bytes()) == {}
