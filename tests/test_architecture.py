"""The import rule of ARCHITECTURE.md: a module imports only modules listed above it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "conformance"
ORDER = [m.group(1) for m in re.finditer(r"^\| \d+ \| `([a-z_]+)(?:\.py|/)` \|",
                                          (ROOT / "ARCHITECTURE.md").read_text(), re.M)]


def _imports(path: Path) -> set[str]:
    """First-level conformance modules a file imports, lazily imported ones included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                 else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
        for name in names:
            parts = name.split(".")
            if parts[0] == "conformance" and len(parts) > 1:
                found.add(parts[1])
    return found


def _module_files() -> list[tuple[str, Path]]:
    files = [(p.stem, p) for p in PACKAGE.glob("*.py") if p.stem in ORDER]
    files += [("suite", p) for p in (PACKAGE / "suite").glob("*.py")]
    return files


def test_the_order_names_every_module() -> None:
    present = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert present <= set(ORDER), present - set(ORDER)


@pytest.mark.parametrize(("module", "path"), _module_files(), ids=lambda v: str(v)[-30:])
def test_imports_only_modules_above(module: str, path: Path) -> None:
    allowed = set(ORDER[: ORDER.index(module)])
    if module in ("plugin", "cli"):  # the two that may start the embedded server
        allowed.add("reference")
    wrong = _imports(path) - allowed - {module}
    assert not wrong, f"{path.name} imports {sorted(wrong)}, listed below it"


@pytest.mark.parametrize("path", sorted((PACKAGE / "reference").glob("*.py")), ids=str)
def test_reference_never_imports_the_suite(path: Path) -> None:
    assert _imports(path) <= {"spec", "model", "reference"}, path.name
