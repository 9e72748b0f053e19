"""Help output: an on/off flag shows no value placeholder (`--json`, not `--json <bool>`)."""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

_typed = TyperOption.display_type_rich


def _display_type(self: TyperOption, ctx: Any) -> str | None:
    if self.is_flag and not self.count:
        return None
    return _typed(self, ctx)


def flags_without_placeholders() -> None:
    """Typer labels every option with its type, flags included; flags take no value, so they get no label."""
    TyperOption.display_type_rich = _display_type  # type: ignore[method-assign]
