"""The search options `run` and `eval` share: strategy, beam width, parallel samples, a Coder-call budget."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .render import fail

STRATEGIES = ("chain", "beam", "evolve")
SEARCH_SAMPLES = 4  # parallel expansions per round when a search strategy is asked without --samples

StrategyOption = Annotated[str, typer.Option(
    "--strategy", help="chain: each sample refines its own best; beam: the top --beam candidates across samples are "
                       "expanded with different optimisation directions; evolve: a program database per task, "
                       "parents drawn for quality and diversity.")]
BeamOption = Annotated[int, typer.Option("--beam", min=1, help="beam: candidates kept across samples each round.")]
CoderCallsOption = Annotated[Optional[int], typer.Option(
    "--budget-coder-calls", min=1, help="Stop the run after this many Coder calls (equal spend across strategies).")]


def search_samples(strategy: str, samples: int | None) -> int:
    """Samples per task: as given, else 1 for a chain and SEARCH_SAMPLES for a search."""
    if strategy not in STRATEGIES:
        fail(f"unknown --strategy {strategy!r}: use {', '.join(STRATEGIES)}")
    if samples is not None:
        return samples
    return 1 if strategy == "chain" else SEARCH_SAMPLES
