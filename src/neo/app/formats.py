"""The one JSON convention of every front end: times as ISO strings with exact ``_ns`` twins,
non-finite floats as null, numpy/enum/struct values as plain JSON types.

Both the CLI (``--json``) and the REST API print through these functions, so the same request
gives byte-for-byte the same object whichever front end answered it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from neo.domain.timestamps import iso_or_none


def iso_utc(ns: int | None) -> str | None:
    """Integer ns UTC → ISO 8601 with a ``Z`` (microseconds only when there are any).

    The one timestamp convention of every command's output: a time field holds this string;
    where the exact value matters, an integer ``<field>_ns`` sits beside it (:func:`stamp`).
    """
    return iso_or_none(ns)


def stamp(name: str, ns: int | None) -> dict[str, Any]:
    """``{name: ISO string, name_ns: int}`` for a JSON row (see :func:`iso_utc`)."""
    return {name: iso_utc(ns), f"{name}_ns": None if ns is None else int(ns)}


TIME_KEYS = ("ts", "start", "end")


def is_time_key(key: str) -> bool:
    """Whether a result field named ``key`` holds a point in time (in integer ns)."""
    return key in TIME_KEYS or key.endswith(("_ts", "_at"))


def times_as_iso(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row whose integer ns time fields (``ts``, ``*_ts`` …) become ISO strings, each with
    its ``_ns`` twin; other fields pass as they are."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if is_time_key(key) and isinstance(value, int | np.integer) and not isinstance(value, bool):
            out.update(stamp(key, int(value)))
        else:
            out[key] = value
    return out


def iso_times_deep(value: Any) -> Any:
    """:func:`times_as_iso` through nested mappings and lists (e.g. an ingest report with its
    warning samples)."""
    if isinstance(value, Mapping):
        return {k: iso_times_deep(v) for k, v in times_as_iso(value).items()}
    if isinstance(value, list | tuple):
        return [iso_times_deep(v) for v in value]
    return value


def metrics_json(metrics: Any) -> dict[str, Any]:
    """Performance metrics for ``--json``: ``start``/``end`` as ISO with ``_ns`` twins,
    durations in integer ns with a humanised twin (``max_drawdown_duration``: ``"31 d 14 h"``),
    non-finite figures as null."""
    from neo.analytics.html import format_duration

    out: dict[str, Any] = {}
    for key, value in times_as_iso(metrics.to_dict(json_safe=True)).items():
        out[key] = value
        if key.endswith("duration_ns"):
            out[key.removesuffix("_ns")] = None if value is None else format_duration(value)
    return out


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, paths, enums, datetimes, structs… into JSON types.

    Non-finite floats become ``null`` so the output is strict JSON.
    """
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, msgspec.Struct):
        return to_jsonable(msgspec.to_builtins(value))
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable({f: getattr(value, f) for f in value.__dataclass_fields__})
    return str(value)
