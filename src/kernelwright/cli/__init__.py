"""The `kernelwright` command line: parsing, one call, rendering."""

from .app import app

__all__ = ["app"]
