"""``keepcall-conformance replay RESULTS.json CASE-ID``: one case of a run, set up and sent again.

The run's case manifest (cases.json.gz, beside results.json) holds every case, passing ones too,
with its checks. A matrix case is rebuilt from its id (the matrix is the same for every run of
a suite version), set up afresh on the target given (by default the embedded server) and
judged; the new checks are printed beside the recorded ones. A case of a property search is
not replayed alone: its example came from the search, so its recorded reproduction is shown.
A replay that judged nothing the gate reads (the target unreachable, no answer, a case that
could not be set up) says why and exits 3, as an inconclusive run does: never "passes now".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from conformance.catalog.requirements import BY_ID, GATING_LEVELS
from conformance.domain.matrix import all_cases
from conformance.domain.model import Check
from conformance.integration.session import start_session
from conformance.integration.settings import Settings
from conformance.reports.report import PART_NAME, load_part
from conformance.running.batch import run_case
from conformance.running.runner import Result

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_UNJUDGED = 0, 1, 2, 3


class ReplayError(ValueError):
    """A manifest or case that cannot be replayed (one line)."""


def recorded(results: Path, case: str) -> tuple[dict[str, Any], list[list[Any]]]:
    """The run's manifest and the checks it recorded for ``case``."""
    path = results.with_name(PART_NAME)
    try:
        manifest = load_part(path)
        rows: list[list[Any]] = manifest["ledger"]["cases"][case]
    except (OSError, ValueError, EOFError) as error:
        raise ReplayError(f"{path}: {error}") from None
    except (KeyError, TypeError):
        raise ReplayError(f"no case '{case[:120]}' in {path}") from None
    return manifest, rows


def replay(results: Path, case_id: str, settings: Settings, out: TextIO) -> int:
    """Replay ``case_id``; 0 if it passes now, 1 if it fails at the gating level, 3 if it
    could not be judged there."""
    manifest, rows = recorded(results, case_id)
    out.write(f"case {case_id}\nrecorded:\n")
    out.writelines(f"  {line}\n" for line in _recorded_lines(manifest, case_id, rows))
    quick = bool(manifest["suite"].get("quick"))
    case = next((c for c in all_cases(quick) if c.id == case_id), None)
    if case is None:
        raise ReplayError(f"{case_id[:120]} is a property example, not a matrix case: rerun "
                          f"the run with --seed {manifest['suite'].get('seed')} to repeat it")
    session = start_session(settings)
    try:
        if session.ledger.aborted:
            out.write(f"could not judge: {session.ledger.aborted}\n")
            return EXIT_UNJUDGED
        result = run_case(session.target, case, session.numbering)
    finally:
        session.target.client.close()
        if session.server is not None:
            session.server.stop()
    out.write("replayed:\n")
    out.writelines(f"  {line}\n" for line in _check_lines(result.checks))
    out.write(f"reproduce:\n{result.reproduction()}\n")
    gate = GATING_LEVELS[settings.level]
    failing = [c for c in result.failures if BY_ID[c.requirement].level in gate]
    if failing:
        return EXIT_FAIL
    if why := _unjudged(result, gate):
        out.write(f"could not judge: {why}\n")
        return EXIT_UNJUDGED
    return EXIT_PASS


def _unjudged(result: Result, gate: frozenset[str]) -> str | None:
    """Why the replay cannot say the case passes at the gate, or None: a check there left not
    tested (not set up, not sent, not answered), or none there judged at all."""
    gating = [c for c in result.checks if BY_ID[c.requirement].level in gate]
    untested = next((c for c in gating if c.verdict == "not-tested"), None)
    if untested is not None:
        return f"{untested.requirement} not tested: {untested.message}"
    return None if gating else "no check at the gating level"


def _recorded_lines(manifest: dict[str, Any], case: str, rows: Sequence[Sequence[Any]]
                    ) -> list[str]:
    """The recorded checks; a failure's words come from the run's evidence, if kept."""
    evidence = {(rid, e["case"]): e["message"]
                for rid, found in manifest["ledger"]["evidence"].items() for e in found}
    return [f"{verdict:<10} {rid:<14} {evidence.get((rid, case), message)}"
            + (f" (x{count})" if count > 1 else "")
            for rid, verdict, message, count in rows]


def _check_lines(checks: Iterable[Check]) -> list[str]:
    return [f"{c.verdict:<10} {c.requirement:<14} {c.message}" for c in checks]
