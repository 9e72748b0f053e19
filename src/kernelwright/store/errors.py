"""The single exception type the store raises."""

from __future__ import annotations


class StoreError(Exception):
    """A store problem worth one line to the user (bad file, newer schema, failed write)."""
