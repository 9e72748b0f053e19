"""One task's samples run as one search: rounds in lockstep, each round's plans made by a strategy from what every
sample tried before, the samples of a round run at once (their builds overlap on the CPU pool while others hold
the device).

The same TaskLoop runs each sample's round, so resume, budgets and the trajectory store work as in a chain. Progress
stops (plateau, roofline) look at the task's best over all samples; a sample that runs out of usable replies retires
while the others go on; a budget stop or an interruption ends the search after the round's running calls return.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from .budget import RoundsDone, ScriptExhausted, StopLoop, TooManyFailures
from .loop import LoopConfig, TaskLoop, Tried, check_stops, progress, run_rounds
from .strategies import Strategy, all_tried, ranked

RETIRES = (TooManyFailures, ScriptExhausted)


class SearchLoop:
    def __init__(self, loops: list[TaskLoop], strategy: Strategy, config: LoopConfig) -> None:
        self.loops, self.strategy, self.config = loops, strategy, config
        self.active = list(loops)
        self.rounds_since_gain = 0

    def best(self) -> Tried | None:
        top = ranked(all_tried(self.loops))
        return top[0] if top else None

    def run(self) -> str:
        """Rounds until a stop; returns the search's stop reason (also noted on every sample still running)."""
        def on_stop(reached: int, stop: StopLoop) -> None:
            for loop in self.active:
                loop.note_stop(reached, stop)

        return run_rounds(self.config.rounds, self.round, on_stop)

    def round(self, round_index: int) -> None:
        before = self.best()
        plans = self.strategy.plans(round_index, self.loops)
        running = [(loop, plans[self.loops.index(loop)]) for loop in self.active]
        with ThreadPoolExecutor(max_workers=len(running), thread_name_prefix="kw-search") as pool:
            futures = [(loop, pool.submit(loop.round, round_index, plan)) for loop, plan in running]
            results = [(loop, _outcome(future)) for loop, future in futures]
        tried, stop, retired = [], None, None
        for loop, result in results:
            if isinstance(result, Tried):
                tried.append(result)
            elif isinstance(result, RETIRES):
                loop.note_stop(round_index, result)
                self.active.remove(loop)
                retired = result
            elif isinstance(result, StopLoop):
                stop = stop or result
            elif isinstance(result, BaseException):
                raise result
        self.strategy.after_round(round_index, tried)
        if stop is not None:
            raise stop
        if not self.active:
            raise retired or RoundsDone("no sample left")
        after = self.best()
        self.rounds_since_gain = progress(self.config, before, after, self.rounds_since_gain)
        check_stops(self.config, after, self.rounds_since_gain)


def _outcome(future) -> object:
    try:
        return future.result()
    except BaseException as error:  # noqa: BLE001 - sorted by the caller
        return error
