"""A run's rows, read from the store once per report and shared by its records, trajectory and harness."""

from __future__ import annotations

from collections import defaultdict
from functools import cached_property
from typing import TypeVar

from ..store import (
    Build,
    Candidate,
    Event,
    LLMCall,
    Profile,
    Run,
    SampleRecord as StoredSample,
    Store,
    StoreError,
    TaskRecord,
    Verification,
)

R = TypeVar("R", Build, Verification, Profile)


class LoadedRun:
    """One run's candidates, events, verifications, builds, profiles and the store's tasks, each read in one
    query on first use, so a report costs a fixed number of store calls however many candidates the run has."""

    def __init__(self, store: Store, run_id: str) -> None:
        run = store.get(Run, run_id)
        if run is None:
            raise StoreError(f"{store.path} has no run {run_id!r}; `kernelwright db info` lists the latest runs")
        self.store, self.run = store, run

    @property
    def run_id(self) -> str:
        return self.run.id

    @cached_property
    def candidates(self) -> list[Candidate]:
        return self.store.candidates(run_id=self.run_id)

    @cached_property
    def events(self) -> list[Event]:
        return self.store.events(run_id=self.run_id)

    @cached_property
    def samples(self) -> dict[tuple[str, int], StoredSample]:
        """Each (task, sample)'s row: its status and, once finished, its outcome."""
        return {(row.task_hash, row.sample): row for row in self.store.samples(self.run_id)}

    @cached_property
    def llm_calls(self) -> list[LLMCall]:
        """The run's calls without their prompts, and with only the Judge's replies (its advice is shown)."""
        return self.store.llm_call_heads(self.run_id, responses_of="judge")

    @cached_property
    def tasks(self) -> list[TaskRecord]:
        return self.store.tasks()

    @cached_property
    def _tasks_by_hash(self) -> dict[str, TaskRecord]:
        return {task.hash: task for task in self.tasks}

    def task(self, task_hash: str) -> TaskRecord | None:
        return self._tasks_by_hash.get(task_hash)

    @cached_property
    def _verifications(self) -> dict[str, list[Verification]]:
        return _by_candidate(self.store.verifications(run_id=self.run_id))

    @cached_property
    def _builds(self) -> dict[str, list[Build]]:
        return _by_candidate(self.store.builds(run_id=self.run_id))

    @cached_property
    def _profiles(self) -> dict[str, list[Profile]]:
        return _by_candidate(self.store.profiles(run_id=self.run_id))

    def verifications(self, candidate_id: str) -> list[Verification]:
        """The candidate's verifications, oldest first."""
        return self._verifications.get(candidate_id, [])

    def builds(self, candidate_id: str) -> list[Build]:
        return self._builds.get(candidate_id, [])

    def profiles(self, candidate_id: str) -> list[Profile]:
        return self._profiles.get(candidate_id, [])

    @cached_property
    def _verifications_by_id(self) -> dict[str, Verification]:
        return {v.id: v for found in self._verifications.values() for v in found}

    def verification(self, verification_id: str | None) -> Verification | None:
        """A verification by id: one of the run's candidates', else (a row of another run) from the store."""
        if not verification_id:
            return None
        found = self._verifications_by_id.get(verification_id)
        return found if found is not None else self.store.get(Verification, verification_id)


def _by_candidate(rows: list[R]) -> dict[str, list[R]]:
    grouped: dict[str, list[R]] = defaultdict(list)
    for row in rows:
        grouped[row.candidate_id].append(row)
    return dict(grouped)
