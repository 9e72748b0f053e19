"""Profiler feedback for the Judge: what the verified candidate's kernels do, and where it sits on the roofline."""

from .hardware import hardware_facts, known_gpus
from .models import KernelRow, ProfileReport, RooflinePosition
from .profiler import ProfileError, profile_candidate, profile_overrides
from .record import profile_record

__all__ = ["KernelRow", "ProfileError", "ProfileReport", "RooflinePosition", "hardware_facts", "known_gpus",
           "profile_candidate", "profile_overrides", "profile_record"]
