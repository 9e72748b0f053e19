"""Where candidates are built, verified and profiled: the local pool by default, a Ray cluster as an option."""

from .executor import Executor, LaneStats, LocalExecutor, open_executor

__all__ = ["Executor", "LaneStats", "LocalExecutor", "open_executor"]
