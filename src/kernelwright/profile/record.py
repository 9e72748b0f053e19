"""A profile as the store keeps it."""

from __future__ import annotations

from ..store.models import Profile
from .models import ProfileReport


def profile_record(report: ProfileReport, candidate_id: str) -> Profile:
    """The store row of one profile: the whole report as metrics, the tool that produced it and the fallback
    reason; `raw` holds the Judge's highlight lines."""
    return Profile(candidate_id=candidate_id, tool=report.tool, metrics=report.model_dump(mode="json"),
                   fallback=report.fallback, raw="\n".join(report.highlights(limit=20)) or None)
