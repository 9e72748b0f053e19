"""Reading runs back out of the store: trajectories, and (later) metrics and reports."""

from .trajectory import RoundView, RunView, TaskView, load_run

__all__ = ["RoundView", "RunView", "TaskView", "load_run"]
