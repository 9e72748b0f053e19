"""A task's search tree: every candidate of every sample, linked to its parent, the best one marked."""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from ..store import Candidate
from .loaded import LoadedRun


class TreeNode(BaseModel):
    candidate_id: str
    sample: int = 0
    round: int = 0
    origin: str | None = None
    hint: str | None = None  # the optimisation direction the Coder was given, where the run gave one
    verdict: str | None = None
    reason: str | None = None
    speedup: float | None = None  # vs eager, from the candidate's own verification
    best: bool = False
    children: list[TreeNode] = Field(default_factory=list)

    def label(self) -> str:
        """One line: where it sits, how it came about and what the verifier found."""
        parts = [f"sample {self.sample} round {self.round}", self.origin or "", self.hint and f"hint {self.hint}",
                 (self.verdict or "no verdict") + (f" ({self.reason})" if self.reason else ""),
                 f"{self.speedup:.2f}x eager" if self.speedup is not None else "", self.candidate_id]
        return " · ".join(p for p in parts if p) + (" · best" if self.best else "")

    def walk(self) -> list[TreeNode]:
        """This node and all below it, depth first."""
        return [self] + [node for child in self.children for node in child.walk()]


def task_tree(loaded: LoadedRun, candidates: list[Candidate]) -> list[TreeNode]:
    """The roots of one task's tree; a parent outside `candidates` (or none) makes a root."""
    nodes = {c.id: _node(loaded, c) for c in sorted(candidates, key=lambda c: (c.sample, c.round, c.created_at, c.id))}
    roots = []
    for candidate in candidates:
        node = nodes[candidate.id]
        parent = nodes.get(candidate.parent_id or "")
        (parent.children if parent is not None and parent is not node else roots).append(node)
    for node in nodes.values():
        node.children.sort(key=lambda n: (n.sample, n.round, n.candidate_id))
    roots.sort(key=lambda n: (n.sample, n.round, n.candidate_id))
    passing = [n for n in nodes.values() if n.verdict == "PASS"]
    if passing:
        best = max(passing, key=lambda n: n.speedup if n.speedup is not None else -math.inf)
        best.best = True
    return roots


def _node(loaded: LoadedRun, candidate: Candidate) -> TreeNode:
    node = TreeNode(candidate_id=candidate.id, sample=candidate.sample, round=candidate.round,
                    origin=candidate.origin, hint=getattr(candidate, "hint", None))
    verifications = [v for v in loaded.verifications(candidate.id) if v.purpose != "final"]
    if verifications:
        verification = verifications[0]
        node.verdict, node.reason = verification.verdict, verification.reason
        speedup = (verification.evidence.get("timing") or {}).get("speedup_eager")
        if isinstance(speedup, (int, float)) and math.isfinite(speedup) and speedup > 0:
            node.speedup = float(speedup)
    return node
