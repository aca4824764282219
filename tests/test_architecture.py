"""ARCHITECTURE.md's layer table states what the import-linter contracts check.

The contracts in pyproject.toml (``lint-imports``, run by .ci/run) check the imports themselves;
this test checks what they cannot: that the page a newcomer reads names the same layers, in the
same order, with the same modules, so the two never drift apart.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "conformance"
_ROW = re.compile(r"^\| (?P<layer>[a-z]*) *\| `(?P<module>[a-z_]+)(?:\.py|/)` \|", re.M)


def _contract(contract_id: str) -> dict[str, Any]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return next(c for c in config["contracts"] if c["id"] == contract_id)


def _exists(module: str) -> bool:
    return (PACKAGE / f"{module}.py").is_file() or (PACKAGE / module).is_dir()


def contract_layers() -> list[set[str]]:
    """The modules of each layer, top first; an optional ``(module)`` only where it exists."""
    layers = []
    for layer in _contract("layers")["layers"]:
        names = (name.strip() for name in re.split(r"[:|]", layer))
        layers.append({n.strip("()") for n in names
                       if not n.startswith("(") or _exists(n.strip("()"))})
    return layers


def documented_layers() -> list[set[str]]:
    """The modules of each layer of ARCHITECTURE.md's table, top first."""
    layers: list[set[str]] = []
    for row in _ROW.finditer((ROOT / "ARCHITECTURE.md").read_text()):
        if row["layer"]:
            layers.append(set())
        layers[-1].add(row["module"])
    return layers


def test_the_page_and_the_contracts_name_the_same_layers() -> None:
    assert documented_layers() == contract_layers()


def test_the_page_names_only_modules_that_exist() -> None:
    missing = {m for layer in documented_layers() for m in layer if not _exists(m)}
    assert missing == set()


def test_the_reference_server_is_outside_the_layers() -> None:
    assert _contract("layers")["exhaustive_ignores"] == ["reference"]
    assert _contract("reference-importers")["allowed_importers"] == [
        "conformance.integration.plugin", "conformance.integration.session",
        "conformance.integration.cli"]


# Modules that may write a file themselves, and why; every other writes through ``sink``.
OWN_WRITERS = {
    "sink.py": "the redaction sink itself",
    "evidence.py": "the sealed bundle: its files passed the sink before they were hashed and "
                   "signed (redacting after signing would break the seal)",
    "signing.py": "key files, created exclusively with their mode (a secret key, no secret "
                  "of the run)",
    "workers.py": "a part's stderr.txt, the file its process's stderr (a redacting stream "
                  "inherited from the parent) writes to",
    "finish.py": "junit.xml as pytest's writer leaves it, spooled (SpoolingLogXML): the plugin "
                 "passes it through the sink after, as it did pytest's own (sink.rewrite)",
}
_WRITE_CALLS = frozenset({"write_text", "write_bytes", "fdopen"})


def _writes(tree: ast.AST) -> list[int]:
    """Lines that write a file: Path.write_*, os.open/fdopen, gzip.open, open(..., "w")."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        owner = getattr(getattr(func, "value", None), "id", "")
        modes = [a.value for a in [*node.args[1:2], *(k.value for k in node.keywords
                                                      if k.arg == "mode")]
                 if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if owner == "sink":
            continue
        if name in _WRITE_CALLS or (name == "open" and (
                owner in ("os", "gzip") or any(set(m) & set("wax+") for m in modes))):
            found.append(node.lineno)
    return found


def _suite_modules() -> list[Path]:
    """The suite's modules, in whatever folders: not the reference server, a separate program,
    nor the shipped tests."""
    return sorted(p for p in PACKAGE.rglob("*.py")
                  if not {"reference", "suite"} & set(p.relative_to(PACKAGE).parts))


def test_only_the_sink_writes_files() -> None:
    """Every file the suite writes passes the redaction sink (issue: no secret in any file)."""
    offenders = {}
    modules = _suite_modules()
    for path in modules:
        lines = _writes(ast.parse(path.read_text(encoding="utf-8")))
        if lines and path.name not in OWN_WRITERS:
            offenders[path.name] = lines
    assert offenders == {}, f"write through conformance.wire.sink instead: {offenders}"
    assert set(OWN_WRITERS) <= {p.name for p in modules}
    assert _writes(ast.parse("open(p, 'w'); p.write_text('x'); gzip.open(p)")) == [1, 1, 1]
