"""Conversion between records and table rows (JSON fields become text)."""

from __future__ import annotations

import json
import types
from datetime import date, datetime
from functools import cache
from pathlib import PurePath
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel

from .models import Record

R = TypeVar("R", bound=Record)


def _is_json_type(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_is_json_type(a) for a in get_args(annotation) if a is not type(None))
    if origin in (dict, list) or annotation in (dict, list):
        return True
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


@cache
def json_fields(cls: type[Record]) -> frozenset[str]:
    """Names of the fields of cls stored as JSON text."""
    return frozenset(n for n, f in cls.model_fields.items() if _is_json_type(f.annotation))


def _json_default(value: Any) -> Any:
    # numpy/torch scalars and arrays, paths, models, sets: common in evidence and metrics dicts
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    return repr(value)


def dumps(value: Any) -> str:
    """JSON text for a stored field; non-JSON values degrade to lists, numbers or repr."""
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def to_row(record: Record) -> dict[str, Any]:
    """The row for record: JSON fields as text, everything else as is."""
    row = record.model_dump()
    for name in json_fields(type(record)):
        if row[name] is not None:
            row[name] = dumps(row[name])
    return row


def from_row(cls: type[R], row: dict[str, Any]) -> R:
    """The record for a row read from cls's table."""
    data = dict(row)
    for name in json_fields(cls):
        if isinstance(data.get(name), str):
            data[name] = json.loads(data[name])
    return cls.model_validate(data)
