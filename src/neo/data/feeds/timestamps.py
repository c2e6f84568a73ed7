"""Timestamps from file columns to integer ns UTC, one row at a time in effect.

A bad cell must cost one row, never the file: every converter here returns ``(ns, valid)``
with ``valid`` False (and ``ns`` = :data:`~neo.data.validate.TS_MISSING`) for each cell that
cannot be read, so the validator rejects exactly those rows as ``invalid_ts``.

Epoch numbers carry no unit. It is guessed from the *median* magnitude (seconds below 1e11,
milliseconds below 1e14, microseconds below 1e17, else nanoseconds: unambiguous for every date
from March 1973 to the year 5138), so one corrupt value cannot change how the other rows are
read. Then, per row:

* a value of a larger unit class than the column's (say a nanosecond value in a millisecond
  column) would lie beyond the year 2262 that int64 nanoseconds can hold: rejected, as is
  any value whose conversion would overflow;
* a value of a smaller class (a seconds value in a millisecond column) would land near 1970;
  it is rejected when it falls outside the span of the rows whose class matches the column's,
  and kept otherwise (so a millisecond history running from 1962 through 1970 reads whole).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neo.data.validate import TS_MISSING
from neo.domain.bar import BoolArray, FloatArray, IntArray
from neo.domain.errors import DataFormatError

DAY_FIRST, MONTH_FIRST = "dayfirst", "monthfirst"
_SLASH_PARTS = r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{2,4})"
_OFFSET_PARTS = r"([+-])(\d{2}):?(\d{2})\s*$"
_HAS_OFFSET = r"[+-]\d{2}:?\d{2}\s*$"

_CLASS_BOUNDS = np.array([1e11, 1e14, 1e17])  # s | ms | us | ns, by magnitude
_NS_PER_CLASS = (1_000_000_000, 1_000_000, 1_000, 1)
_NS_PER_ARROW_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_NS_PER_DAY = 86_400 * 1_000_000_000
_INT64_MAX = int(np.iinfo(np.int64).max)
_FLOAT_LIMIT = 9.2e18  # just inside int64 ns, so a float product never wraps on the cast


def _classes(magnitude: FloatArray) -> IntArray:
    classes: IntArray = np.searchsorted(_CLASS_BOUNDS, magnitude, side="right").astype(np.int64)
    return classes


def _judge(values: FloatArray, valid: BoolArray) -> tuple[int, BoolArray]:
    """The column's unit class (that of the median magnitude) and the rows to reject for it.

    The median is taken as an element (the upper median), so at least one row has the
    column's class and anchors the span that smaller-class rows must fall inside.
    """
    bad = np.zeros(len(values), dtype=np.bool_)
    if not valid.any():
        return 0, bad
    magnitude = np.abs(values)
    judged = magnitude[valid]
    middle = len(judged) // 2
    classes = _classes(magnitude)
    column = int(_classes(np.partition(judged, middle)[middle : middle + 1])[0])
    anchor = values[valid & (classes == column)]
    smaller = valid & (classes < column)
    bad |= valid & (classes > column)
    bad |= smaller & ((values < anchor.min()) | (values > anchor.max()))
    return column, bad


def epoch_ints_to_ns(raw: IntArray, valid: BoolArray) -> tuple[IntArray, BoolArray]:
    """Integer epoch numbers (unit guessed, see the module docstring) to exact integer ns."""
    raw = np.asarray(raw, dtype=np.int64)
    valid = np.asarray(valid, dtype=np.bool_).copy()
    column, bad = _judge(raw.astype(np.float64), valid)
    scale = _NS_PER_CLASS[column]
    bad |= valid & (np.abs(raw) > (_INT64_MAX - 1) // scale)
    valid &= ~bad
    out = np.full(len(raw), TS_MISSING, dtype=np.int64)
    out[valid] = raw[valid] * scale
    return out, valid


def epoch_to_ns(values: FloatArray) -> IntArray:
    """Epoch numbers in s, ms, us or ns (unit from the median magnitude) to integer ns.

    NaN, infinite, out-of-range and unit-outlier values become ``TS_MISSING``.
    """
    ns, _ = epoch_floats_to_ns(values)
    return ns


def epoch_floats_to_ns(values: FloatArray) -> tuple[IntArray, BoolArray]:
    """Float epoch numbers to integer ns; see :func:`epoch_to_ns`."""
    values = np.asarray(values, dtype=np.float64)
    valid = np.isfinite(values)
    column, bad = _judge(values, valid)
    scale = _NS_PER_CLASS[column]
    with np.errstate(over="ignore", invalid="ignore"):
        bad |= valid & ~(np.abs(values * scale) < _FLOAT_LIMIT)
    valid &= ~bad
    out = np.full(len(values), TS_MISSING, dtype=np.int64)
    good = values[valid]
    if scale == 1:
        out[valid] = good.astype(np.int64)
    else:  # via integer microseconds: exact for any realistic date
        out[valid] = np.round(good * (scale // 1_000)).astype(np.int64) * 1_000
    return out, valid


def scaled_to_ns(raw: IntArray, valid: BoolArray, scale: int) -> tuple[IntArray, BoolArray]:
    """Integers of a known unit (``scale`` ns each) to ns; rows that would overflow are invalid."""
    valid = np.asarray(valid, dtype=np.bool_) & (np.abs(raw) <= (_INT64_MAX - 1) // scale)
    out = np.full(len(raw), TS_MISSING, dtype=np.int64)
    out[valid] = raw[valid] * scale
    return out, valid


def _arrow_ints(column: Any, kind: Any = None) -> tuple[IntArray, BoolArray]:
    import pyarrow as pa
    import pyarrow.compute as pc

    ints = column.cast(kind or pa.int64())
    valid = np.asarray(pc.is_valid(ints).to_numpy(zero_copy_only=False), dtype=np.bool_)
    raw = np.asarray(ints.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    return raw, valid


def _text_to_ns(column: Any, date_format: str | None = None) -> tuple[IntArray, BoolArray]:
    """Text cells: epoch numbers when most cells are numbers, else dates: ISO 8601 (naive is
    UTC, an offset is converted to UTC), ``dd/mm/yyyy``/``mm/dd/yyyy`` in the order
    ``date_format`` names (:data:`DAY_FIRST`, :data:`MONTH_FIRST` or a strftime format)."""
    import pandas as pd
    import pyarrow as pa

    text = pd.Series(column.cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)
    if date_format is None:
        numbers = pd.to_numeric(text, errors="coerce").to_numpy(np.float64, na_value=np.nan)
        present = int((text.notna() & (text.str.strip() != "")).sum())
        if 2 * int(np.count_nonzero(np.isfinite(numbers))) > present:
            return epoch_floats_to_ns(numbers)
    if date_format in (DAY_FIRST, MONTH_FIRST):
        parsed = pd.to_datetime(text, utc=True, errors="coerce", dayfirst=date_format == DAY_FIRST)
    else:
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format=date_format or "ISO8601")
    index = pd.DatetimeIndex(parsed)
    valid = ~np.asarray(index.isna())
    ns, valid = scaled_to_ns(np.asarray(index.asi8, dtype=np.int64), valid, _ns_per(index.unit))
    return _local_dates(text, ns, valid), valid


def _local_dates(text: Any, ns: IntArray, valid: BoolArray) -> IntArray:
    """Daily stamps written at local midnight with an offset (``2020-01-02T00:00-05:00``)
    keep their local date (00:00 UTC of it), as daily bars are stamped; anything else stays
    the UTC instant the offset gives."""
    sample = text[valid].head(1)
    if sample.empty or not sample.str.contains(_HAS_OFFSET, regex=True).any():
        return ns
    parts = text.str.extract(_OFFSET_PARTS)
    has = parts[0].notna().to_numpy() & valid
    sign = np.where(parts[0].to_numpy() == "-", -1, 1)
    hours = parts[1].fillna("0").astype(np.int64).to_numpy()
    minutes = parts[2].fillna("0").astype(np.int64).to_numpy()
    offset = sign * (hours * 3600 + minutes * 60) * 1_000_000_000
    local = ns + np.where(has, offset, 0)
    if not has.any() or not np.all(offset[has] != 0) or np.any(local[has] % _NS_PER_DAY):
        return ns
    out: IntArray = np.where(has, local, ns)
    return out


def slash_date_evidence(column: Any) -> tuple[bool, bool, bool]:
    """``(has slash dates, a first field above 12 seen, a second field above 12 seen)``."""
    import pandas as pd
    import pyarrow as pa

    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return False, False, False
    text = pd.Series(column.to_numpy(zero_copy_only=False), dtype=object)
    parts = text.str.extract(_SLASH_PARTS)
    if parts[0].isna().all():
        return False, False, False
    first = pd.to_numeric(parts[0], errors="coerce")
    second = pd.to_numeric(parts[1], errors="coerce")
    return True, bool((first > 12).any()), bool((second > 12).any())


def decide_date_order(evidence: tuple[bool, bool, bool], source: str) -> str | None:
    """:data:`DAY_FIRST` or :data:`MONTH_FIRST` from :func:`slash_date_evidence`; a clear
    error naming ``--date-format`` when the dates do not tell (or contradict each other)."""
    slashed, day_first, month_first = evidence
    if not slashed:
        return None
    if day_first and month_first:
        raise DataFormatError(
            f"the dates of {source} mix dd/mm and mm/dd (a day above 12 in both places): "
            "fix the file, or pass --date-format (strftime, e.g. --date-format %d/%m/%Y)"
        )
    if not day_first and not month_first:
        raise DataFormatError(
            f"the dates of {source} are ambiguous (no day above 12 tells dd/mm/yyyy from "
            "mm/dd/yyyy): pass --date-format %d/%m/%Y or --date-format %m/%d/%Y (strftime)"
        )
    return DAY_FIRST if day_first else MONTH_FIRST


def date_order_of(column: Any, source: str) -> str | None:
    """The day/month order of a whole text column of slash dates (None for other columns)."""
    return decide_date_order(slash_date_evidence(column), source)


def _ns_per(unit: str) -> int:
    return _NS_PER_ARROW_UNIT[unit]


def column_to_ns(column: Any, date_format: str | None = None) -> tuple[IntArray, BoolArray]:
    """Any timestamp column pyarrow can read to ``(ns, valid)``; never raises for bad cells.

    ``date_format`` (strftime, or :data:`DAY_FIRST`/:data:`MONTH_FIRST`) reads text dates.
    """
    import pyarrow as pa

    kind = column.type
    if date_format is not None and not pa.types.is_timestamp(kind):
        return _text_to_ns(column, date_format)
    if pa.types.is_timestamp(kind):  # naive means UTC
        raw, valid = _arrow_ints(column)
        return scaled_to_ns(raw, valid, _ns_per(kind.unit))
    if pa.types.is_date32(kind):
        raw, valid = _arrow_ints(column, pa.int32())
        return scaled_to_ns(raw, valid, _NS_PER_DAY)
    if pa.types.is_date64(kind):
        raw, valid = _arrow_ints(column)
        return scaled_to_ns(raw, valid, 1_000_000)
    if pa.types.is_signed_integer(kind) or (
        pa.types.is_unsigned_integer(kind) and kind.bit_width < 64
    ):
        return epoch_ints_to_ns(*_arrow_ints(column))
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return epoch_floats_to_ns(np.asarray(values, dtype=np.float64))
    return _text_to_ns(column, date_format)
