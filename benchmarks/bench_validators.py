"""What validating one XML answer costs: lxml parse alone (the floor), lxml XSD, xmlschema XSD.

Run: python benchmarks/bench_validators.py [N]. Prints the cost per document and the ratios; the
numbers justify using lxml for the verdict and xmlschema only to explain an invalid document.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conformance.wire.validators import (
    lxml_schema,
    parse_xml,
    readable_schema,
    validate_xml,
)

DOCUMENT = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<VerbaApi><Response code="0" type="KeepCall"/></VerbaApi>')


def per_call(action: Callable[[], object], n: int) -> float:
    """Seconds per call, best of three runs of ``n`` calls (the least disturbed run)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(n):
            action()
        best = min(best, (time.perf_counter() - started) / n)
    return best


def main(n: int = 20_000) -> None:
    root, _ = parse_xml(DOCUMENT)
    assert root is not None and lxml_schema().validate(root)
    schema, xsd = lxml_schema(), readable_schema()
    rows = {
        "lxml parse (floor)": per_call(lambda: parse_xml(DOCUMENT), n),
        "lxml XSD validate (parsed tree)": per_call(lambda: schema.validate(root), n),
        "xmlschema validate (parsed tree)": per_call(lambda: xsd.is_valid(root), max(n // 20, 1)),
        "validate_xml (parse + XSD + checks)": per_call(
            lambda: validate_xml(DOCUMENT, "text/xml; charset=UTF-8"), n),
    }
    for name, seconds in rows.items():
        print(f"{name:40} {seconds * 1e6:9.1f} us")
    lxml_cost = rows["lxml XSD validate (parsed tree)"]
    print(f"xmlschema / lxml XSD: {rows['xmlschema validate (parsed tree)'] / lxml_cost:.0f}x")
    print(f"validate_xml / parse floor: "
          f"{rows['validate_xml (parse + XSD + checks)'] / rows['lxml parse (floor)']:.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
