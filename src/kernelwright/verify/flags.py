"""Typed flags: what a verification noticed, as a code with a kind. Verdicts read the code and the kind, never
the message, which is rendered from the code for people (rewording one changes no verdict)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

# integrity: the candidate misbehaved while measured (SUSPECT); candidate_fault: it crashed or hung (RUNTIME_ERROR /
# TIMEOUT); harness: the measurement itself failed (no speedup counts); note: worth showing, decides nothing.
FlagKind = Literal["integrity", "harness", "candidate_fault", "note"]

FLAGS: dict[str, tuple[FlagKind, str]] = {
    # timing: the candidate's own fault
    "timing_timeout": ("candidate_fault", "timeout"),
    "timing_crash": ("candidate_fault", "crash"),
    "timing_malformed": ("candidate_fault", "malformed"),
    "timing_runtime_error": ("candidate_fault", "runtime error during timing"),
    "timing_memory": ("candidate_fault", "out of memory during timing"),
    # timing: the harness could not measure
    "timing_harness": ("harness", "harness"),
    "timing_setup_error": ("harness", "harness: the timing worker failed before the candidate ran"),
    "stream_check_impossible": ("harness", "stream check impossible"),
    "worker_twins": ("harness", "harness: the correctness and timing workers differed before the candidate loaded"),
    # timing: integrity
    "global_state": ("integrity", "global state changed by the candidate"),
    "monkeypatch": ("integrity", "timer / checker monkeypatch"),
    "lazy_outputs": ("integrity", "lazy / non-tensor outputs during timing"),
    "ghost_kernel": ("integrity", "ghost kernel"),
    "timer_inconsistency": ("integrity", "timer inconsistency"),
    "stream_injection": ("integrity", "stream injection"),
    "below_roofline": ("integrity", "faster than the hardware allows"),
    "recheck_failed": ("integrity", "phase detection / re-check failed"),
    "harness_tampered": ("integrity", "harness tampered with"),
    # the sandbox
    "isolation_network": ("harness", "ISOLATION"),
    "isolation_filesystem": ("harness", "ISOLATION"),
    # a static-gate finding of severity "flag" (detail: "RULE: message")
    "gate": ("note", ""),
    # a flag stored before flags were typed: its text, deciding nothing
    "legacy": ("note", ""),
}


class Flag(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    kind: FlagKind
    message: str

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        return {"code": "legacy", "kind": "note", "message": value} if isinstance(value, str) else value

    def __str__(self) -> str:
        return self.message


def flag(code: str, detail: str = "", prefix: str = "") -> Flag:
    """The flag `code` (a key of FLAGS) with its kind, and its message: the code's title, then `detail`."""
    kind, title = FLAGS[code]
    message = f"{title}: {detail}" if title and detail else title or detail
    return Flag(code=code, kind=kind, message=f"{prefix}{message}")


def messages(flags: list[Flag]) -> list[str]:
    return [f.message for f in flags]
