"""Why a task was not solved: a family (from the verdict) and a sub-reason, counted into a taxonomy."""

from __future__ import annotations

import re
from collections import Counter

from .records import RoundRecord, SampleRecord

VERDICT_FAMILY = {
    "COMPILE_FAIL": "compile_error",
    "INCORRECT": "incorrect",
    "TIMEOUT": "timeout",
    "RUNTIME_ERROR": "runtime_error",
    "STATIC_REJECT": "static_reject",
    "SUSPECT": "suspect",
    "NONDETERMINISTIC": "nondeterministic",
}

# checked in this order on each line of the log; the first line that matches any family names the error
COMPILE_FAMILIES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ptxas / resources", re.compile(
        r"ptxas|too much shared|too many resources|out of resources|exceeds? .*(register|shared)", re.IGNORECASE)),
    ("linker / undefined symbol", re.compile(
        r"undefined (reference|symbol)|ld returned|multiple definition|unresolved external", re.IGNORECASE)),
    ("undeclared identifier", re.compile(
        r"identifier \S+ is undefined|undeclared identifier|was not declared|is not a member of|has no member"
        r"|does not name a type|is not a (type|namespace|template)", re.IGNORECASE)),
    ("type mismatch / no matching function", re.compile(
        r"no instance of|no matching (function|constructor|member)|cannot convert|invalid conversion"
        r"|no suitable (conversion|constructor)|is incompatible with|cannot be used to initialize"
        r"|cannot be assigned to|no operator .* matches|too (few|many) arguments", re.IGNORECASE)),
    ("syntax", re.compile(
        r"expected (a|an|'|\"|primary|unqualified|declaration|expression|identifier)|expected .* before"
        r"|syntax error|unterminated|missing terminating|stray '|unrecognized token", re.IGNORECASE)),
)


# per-trial seeds and trial labels inside a reason ("weights small-3799", "seed 9498", "[trial t3]")
PER_TRIAL = re.compile(r"(?<=[A-Za-z_])-\d{2,}\b|\s*\bseeds? \d+|\s*\[trial t\d+\]")


def without_seeds(reason: str) -> str:
    """A reason with its per-trial seeds dropped, so the same failure on other trials groups as one."""
    return " ".join(PER_TRIAL.sub("", reason).split()) or reason


def compile_family(log: str | None) -> str:
    """The family of the first recognisable compiler error in a log, else "other"."""
    for line in (log or "").splitlines():
        for family, pattern in COMPILE_FAMILIES:
            if pattern.search(line):
                return family
    return "other"


def failure_of(record: SampleRecord) -> tuple[str, str] | None:
    """(family, sub-reason) of a sample whose best is not PASS; None for a correct one.

    The verdict is the best's (the final verification's); a sample with none yet takes its last round with a
    verdict; reason and compile log come from the best candidate's round when the record lacks them.
    """
    if record.correct:
        return None
    if record.error:
        return "harness_error", _first_line(record.error)
    source = _source_round(record)
    if record.best_verdict != "NO_CANDIDATE":
        verdict = record.best_verdict
    elif source is not None and source.verdict is not None:
        verdict = source.verdict
    else:
        last = record.rounds[-1] if record.rounds else None
        return "no_code", (last.reason if last and last.reason else "not started")
    same = source is not None and source.verdict == verdict
    if verdict == "COMPILE_FAIL":
        return "compile_error", compile_family(source.compile_log if same and source else None)
    reason = record.best_reason or (source.reason if same and source else None)
    return VERDICT_FAMILY.get(verdict, verdict.lower()), reason or "unspecified"


def failure_taxonomy(records: list[SampleRecord]) -> dict[str, dict[str, int]]:
    """family -> {sub-reason -> count}, families and sub-reasons most frequent first."""
    counts: Counter[tuple[str, str]] = Counter((family, without_seeds(sub)) for family, sub in
                                               (f for f in map(failure_of, records) if f is not None))
    families: Counter[str] = Counter()
    for (family, _), n in counts.items():
        families[family] += n
    return {family: {sub: n for (fam, sub), n in counts.most_common() if fam == family}
            for family, _ in families.most_common()}


def _source_round(record: SampleRecord) -> RoundRecord | None:
    if record.best_candidate_id is not None:
        for round_record in record.rounds:
            if round_record.candidate_id == record.best_candidate_id:
                return round_record
    return next((r for r in reversed(record.rounds) if r.verdict is not None), None)


def _first_line(text: str, width: int = 80) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "unspecified"
    return line if len(line) <= width else line[: width - 1] + "…"
