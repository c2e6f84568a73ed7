"""Validation of OHLCV data: every rule vectorised over whole frames, with stable rule codes.

Bars are validated once, at ingestion; after that every layer trusts them (ARCHITECTURE.md). The
validator never drops a row silently: each input row ends up *accepted*, *rejected* (with every
reason that applies) or *merged* into an identical duplicate, so
``accepted + rejected + merged_duplicates == rows_read`` always holds.

Rules, in the order they are applied:

=====================  =========  ==========================================================
code                   effect     meaning
=====================  =========  ==========================================================
``unsorted``           fixed      rows out of time order; the frame is sorted (stable)
                                  and the count is the fewest rows that had to move
``invalid_ts``         rejected   the timestamp is missing or unreadable
``non_finite``         rejected   a price or the volume is NaN or infinite
``non_positive_price`` rejected   a price is zero or negative
``negative_volume``    rejected   volume below zero
``ohlc_order``         rejected   not ``low <= min(open, close) <= max(open, close) <= high``
``misaligned_ts``      rejected   the timestamp is not on the timeframe's grid
``duplicate_identical`` merged    the same bar twice; one copy is kept
``duplicate_conflict`` rejected   different bars with the same timestamp; all are rejected
``price_jump``         rejected   close moved beyond the limit from the last accepted close
                                  and the next bar did not confirm it: an isolated spike
``price_jump_confirmed`` warning  such a move that the next bar confirms: a real event, kept
``possible_split``     warning    a kept jump near a common split ratio (2:1, 3:2, 1:10 ...)
``absurd_value``       warning    a kept price or volume beyond any market (1e200, 1e300)
``return_zscore``      warning    robust (median/MAD) z-score of the return is extreme; kept
``gap``                reported   bars missing between accepted rows, judged against the
                                  venue's trading calendar (weekends and holidays are no gaps)
=====================  =========  ==========================================================

Row rules see each row alone; the duplicate rule sees rows that passed them; the jump rule walks
the rows that are left, so a bad row never becomes the reference for the next one. The jump
limit is ``ValidationConfig.max_jump`` (10 %), looser for daily and coarser bars
(``max_jump_by_timeframe``: 25 % for 1d). With ``jump_confirmation`` the bar after a jump
decides: if it stays at the new level the move is real (a crash, a split) and *every* bar of
it is kept, with a warning; if it reverts, the jump bar was an isolated spike and is rejected.
That is the one rule that reads the next row: validation judges a finished file, it does not
trade. The z-score of bar ``t`` uses the ``zscore_window`` returns strictly before ``t``.

:class:`ValidationStream` applies the same rules chunk by chunk (for files larger than memory),
carrying the state one pass would hold, so chunked and one-pass results are identical.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from neo.data._kernels import (
    displaced_rows,
    jump_mask,
    jump_scan,
    rolling_robust_zscore,
    row_flags,
)
from neo.data.calendars import AlwaysOpen, TradingCalendar
from neo.data.config import ValidationConfig
from neo.domain.bar import OHLCV_COLUMNS, BarBatch, BoolArray, FloatArray, IntArray
from neo.domain.errors import DataFormatError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe

RULES: dict[str, str] = {
    "unsorted": "rows were out of time order (counted: the fewest rows that had to move); "
    "the data was sorted by time",
    "invalid_ts": "timestamp is missing or unreadable",
    "non_finite": "a price or the volume is NaN or infinite",
    "non_positive_price": "a price is zero or negative",
    "negative_volume": "volume is negative",
    "ohlc_order": "prices break low <= open, close <= high",
    "misaligned_ts": "timestamp is not a multiple of the timeframe",
    "duplicate_identical": "identical duplicate bar merged into one",
    "duplicate_conflict": "several different bars share this timestamp; all were rejected",
    "price_jump": "close jumped beyond the limit from the previous accepted close and the "
    "next bar did not confirm the new level (an isolated spike)",
    "price_jump_confirmed": "close jumped beyond the limit and the next bar confirmed the new "
    "level: a real event, kept",
    "possible_split": "a kept jump is close to a common split ratio: unadjusted prices?",
    "absurd_value": "a price or the volume is implausibly large or small (kept)",
    "return_zscore": "return is an outlier by a robust rolling z-score (kept)",
    "gap": "bars are missing between two accepted rows",
}
REJECT_CODES: tuple[str, ...] = (
    "invalid_ts",
    "non_finite",
    "non_positive_price",
    "negative_volume",
    "ohlc_order",
    "misaligned_ts",
    "duplicate_conflict",
    "price_jump",
)
_BIT = {code: np.uint16(1 << i) for i, code in enumerate(REJECT_CODES)}
_ROW_BITS = np.array(
    [int(_BIT[c]) for c in ("invalid_ts", "non_finite", "non_positive_price", "negative_volume",
                            "ohlc_order", "misaligned_ts")],
    dtype=np.int64,
)  # fmt: skip
TS_MISSING = np.iinfo(np.int64).min


@dataclass(frozen=True, slots=True, eq=False)
class RawBars:
    """Unvalidated OHLCV columns as read from a file: maybe unsorted, maybe broken.

    ``ts_valid`` marks rows whose timestamp could be read (the others hold ``TS_MISSING``);
    ``source_row`` is each row's position in the source, so quarantined rows can be traced.
    """

    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    ts_valid: BoolArray
    source_row: IntArray

    @classmethod
    def from_arrays(
        cls,
        ts: npt.ArrayLike,
        open: npt.ArrayLike,
        high: npt.ArrayLike,
        low: npt.ArrayLike,
        close: npt.ArrayLike,
        volume: npt.ArrayLike,
        ts_valid: npt.ArrayLike | None = None,
        first_row: int = 0,
    ) -> RawBars:
        """Columns as given; ``first_row`` numbers the rows (for a chunk of a larger file)."""
        ts_array = np.ascontiguousarray(ts, dtype=np.int64)
        n = len(ts_array)
        columns = [np.ascontiguousarray(c, dtype=np.float64) for c in (open, high, low, close)]
        columns.append(np.ascontiguousarray(volume, dtype=np.float64))
        if any(c.ndim != 1 or len(c) != n for c in columns):
            raise DataFormatError("OHLCV columns must be one-dimensional and of equal length")
        valid = (
            np.ones(n, dtype=np.bool_)
            if ts_valid is None
            else np.ascontiguousarray(ts_valid, dtype=np.bool_)
        )
        o, h, lo, c, v = columns
        rows = np.arange(first_row, first_row + n, dtype=np.int64)
        return cls(ts_array, o, h, lo, c, v, valid, rows)

    @classmethod
    def concat(cls, parts: list[RawBars]) -> RawBars:
        """Rows of ``parts`` one after the other (source rows kept)."""
        if len(parts) == 1:
            return parts[0]
        names = ("ts", "open", "high", "low", "close", "volume", "ts_valid", "source_row")
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in names))

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, index: npt.NDArray[np.intp] | BoolArray) -> RawBars:
        return RawBars(
            self.ts[index], self.open[index], self.high[index], self.low[index],
            self.close[index], self.volume[index], self.ts_valid[index], self.source_row[index],
        )  # fmt: skip


def as_raw_bars(data: Any) -> RawBars:
    """Accept a RawBars, a BarBatch, a pandas DataFrame or a mapping of OHLCV columns."""
    if isinstance(data, RawBars):
        return data
    if isinstance(data, BarBatch):
        return RawBars.from_arrays(data.ts, data.open, data.high, data.low, data.close, data.volume)
    if isinstance(data, Mapping):
        missing = [c for c in OHLCV_COLUMNS if c not in data]
        if missing:
            raise DataFormatError(f"columns {missing} are missing; expected {OHLCV_COLUMNS}")
        return RawBars.from_arrays(*(data[c] for c in OHLCV_COLUMNS))
    if hasattr(data, "columns") and hasattr(data, "index"):
        return _raw_from_pandas(data)
    raise DataFormatError(
        f"cannot validate a {type(data).__name__}: pass a BarBatch, a pandas DataFrame "
        "or a mapping with columns ts, open, high, low, close, volume"
    )


def _raw_from_pandas(frame: Any) -> RawBars:
    import pandas as pd

    missing = [c for c in OHLCV_COLUMNS[1:] if c not in frame.columns]
    if missing:
        raise DataFormatError(f"frame lacks columns {missing}; expected {OHLCV_COLUMNS}")
    stamps = frame["ts"] if "ts" in frame.columns else pd.Series(frame.index)
    if pd.api.types.is_integer_dtype(stamps):
        ts = stamps.to_numpy(np.int64)
        valid = np.ones(len(ts), dtype=np.bool_)
    else:
        parsed = pd.DatetimeIndex(pd.to_datetime(stamps, utc=True, errors="coerce")).as_unit("ns")
        valid = ~np.asarray(parsed.isna())
        ts = np.where(valid, parsed.asi8, TS_MISSING)
    o, h, lo, c, v = (
        pd.to_numeric(frame[name], errors="coerce").to_numpy(np.float64)
        for name in OHLCV_COLUMNS[1:]
    )
    return RawBars.from_arrays(ts, o, h, lo, c, v, ts_valid=valid)


@dataclass(frozen=True, slots=True)
class Issue:
    """One warning about a kept row (or a gap between two kept rows)."""

    code: str
    ts: int
    message: str


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing bars between two accepted rows: ``missing`` bars after ``after_ts``."""

    after_ts: int
    before_ts: int
    missing: int


@dataclass(frozen=True, slots=True, eq=False)
class ValidationReport:
    """What validation decided about every row of one frame.

    ``accepted`` holds the good rows sorted by ``ts``, unique; ``rejected`` holds the bad rows
    with ``reasons[i]`` listing every rule code row ``i`` broke (comma-separated).
    ``counts`` has one entry per rule code (see :data:`RULES`): rows affected by that rule, or
    for ``gap`` the number of gaps.
    """

    timeframe: Timeframe
    rows_read: int
    accepted: RawBars
    rejected: RawBars
    reasons: tuple[str, ...]
    merged_duplicates: int
    counts: dict[str, int]
    warnings: tuple[Issue, ...]
    gaps: tuple[Gap, ...]
    missing_bars: int = field(default=0)

    @property
    def n_accepted(self) -> int:
        return len(self.accepted)

    @property
    def n_rejected(self) -> int:
        return len(self.rejected)

    def accepted_batch(self, instrument: InstrumentId) -> BarBatch:
        a = self.accepted
        return BarBatch.from_arrays(
            instrument, self.timeframe, ts=a.ts, open=a.open, high=a.high, low=a.low,
            close=a.close, volume=a.volume,
        )  # fmt: skip

    def summary(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "accepted": self.n_accepted,
            "rejected": self.n_rejected,
            "merged_duplicates": self.merged_duplicates,
            "warnings": len(self.warnings),
            "gaps": len(self.gaps),
            "missing_bars": self.missing_bars,
            "counts": dict(self.counts),
        }


class DataValidator:
    """Validate OHLCV frames of one timeframe (see the module docstring for the rules).

    Parameters
    ----------
    timeframe:
        The bars' timeframe; fixes the timestamp grid, the gap size and the jump limit.
    config:
        Limits; defaults to :class:`ValidationConfig` defaults (10 % jump, looser for 1d+).
    calendar:
        The venue's trading calendar, so weekends and holidays are no gaps (default: 24/7).
    """

    def __init__(
        self,
        timeframe: Timeframe | str,
        config: ValidationConfig | None = None,
        calendar: TradingCalendar | None = None,
    ) -> None:
        self.timeframe = Timeframe.parse(timeframe)
        self.config = config or ValidationConfig()
        self.max_jump = self.config.jump_limit(str(self.timeframe))
        self.calendar: TradingCalendar = calendar or AlwaysOpen()

    def validate(
        self, data: Any, *, prev_close: float | None = None, skip: Collection[str] = ()
    ) -> ValidationReport:
        """Validate ``data`` (BarBatch, DataFrame, mapping of columns or :class:`RawBars`).

        ``prev_close`` is the last accepted close before this frame (e.g. from the store), so
        the jump rule also holds across ingestion batches. ``skip`` names reject rules not to
        apply (a reviewed row released from the quarantine is checked by every other rule).
        """
        raw = as_raw_bars(data)
        raw, unsorted = _sorted(raw)
        report = self.stream(prev_close=prev_close, skip=skip).feed(raw, final=True, is_sorted=True)
        report.counts["unsorted"] = unsorted
        return report

    def stream(
        self, *, prev_close: float | None = None, skip: Collection[str] = ()
    ) -> ValidationStream:
        """A validation carried across chunks of one long series (see :class:`ValidationStream`)."""
        return ValidationStream(self, prev_close, skip)

    def row_flags(self, raw: RawBars) -> npt.NDArray[np.uint16]:
        tf = self.timeframe
        flags: npt.NDArray[np.uint16] = row_flags(
            raw.ts, raw.open, raw.high, raw.low, raw.close, raw.volume, raw.ts_valid,
            tf.origin_ns, tf.nanos, _ROW_BITS,
        )  # fmt: skip
        return flags


class ValidationStream:
    """One series validated chunk by chunk, deciding every row exactly as one pass would.

    Feed chunks in time order (each chunk's readable timestamps at or after every earlier
    chunk's; rows inside a chunk may be unsorted). The state one pass would hold is carried:
    the jump reference, the closes the z-score window needs and the last accepted timestamp.
    Rows whose fate depends on rows not seen yet are held back and decided with the next chunk:
    the last timestamp (its duplicates may follow) and a jump awaiting the bar that confirms
    it. ``feed(..., final=True)`` (or :meth:`finish`) decides everything left.
    """

    def __init__(
        self, validator: DataValidator, prev_close: float | None, skip: Collection[str] = ()
    ) -> None:
        self._keep_bits = ~np.uint16(sum(int(_BIT[code]) for code in skip if code in _BIT))
        """Every rule's bit but those of ``skip`` (rules a released row is not checked by)."""
        self.validator = validator
        good = prev_close is not None and math.isfinite(prev_close) and prev_close > 0
        self._ref = float(prev_close) if good and prev_close is not None else math.nan
        self._context: FloatArray = np.array([self._ref] if good else [], dtype=np.float64)
        self._last_ts: int | None = None
        self._held: RawBars | None = None

    def finish(self) -> ValidationReport:
        """Decide the rows still held back."""
        empty = np.empty(0)
        return self.feed(RawBars.from_arrays(empty, empty, empty, empty, empty, empty), final=True)

    def feed(self, data: Any, *, final: bool = False, is_sorted: bool = False) -> ValidationReport:
        """Validate the next chunk; the report covers the rows decided now (``counts``'
        ``unsorted`` is left at 0: order across chunks is the caller's to count).
        ``is_sorted`` skips sorting a chunk already sorted as :func:`_sorted` sorts."""
        raw = as_raw_bars(data)
        if self._held is not None:
            raw, is_sorted = RawBars.concat([self._held, raw]), False
            self._held = None
        if not is_sorted:
            raw, _ = _sorted(raw)
        part = raw if final else self._hold_last_timestamp(raw)
        v = self.validator
        flags = v.row_flags(part)
        merged = _duplicates(part, flags)
        candidates = np.flatnonzero((flags == 0) & ~merged)
        start_ref = self._ref
        jumps, confirmed, ref, settled = jump_scan(
            part.close[candidates], v.max_jump, start_ref, v.config.jump_confirmation, final
        )
        if settled < len(candidates):  # a jump waits for the bar that confirms or refutes it
            cut = int(candidates[settled])
            self._hold(part.take(np.arange(cut, len(part))))
            part, flags, merged = part.take(np.arange(cut)), flags[:cut], merged[:cut]
            candidates, jumps, confirmed = (
                candidates[:settled],
                jumps[:settled],
                confirmed[:settled],
            )
        self._ref = ref
        flags[candidates[jumps]] |= _BIT["price_jump"]
        flags &= self._keep_bits
        return self._report(part, flags, merged, candidates, jumps, confirmed, start_ref)

    def _hold(self, rows: RawBars) -> None:
        self._held = rows if self._held is None else RawBars.concat([rows, self._held])

    def _hold_last_timestamp(self, raw: RawBars) -> RawBars:
        """Hold back the rows of the chunk's last readable timestamp: duplicates may follow."""
        if not raw.ts_valid.any():
            return raw
        last = raw.ts[raw.ts_valid][-1]
        cut = int(np.searchsorted(raw.ts, last, side="left"))
        self._hold(raw.take(np.arange(cut, len(raw))))
        return raw.take(np.arange(cut))

    def _report(
        self,
        part: RawBars,
        flags: npt.NDArray[np.uint16],
        merged: BoolArray,
        candidates: npt.NDArray[np.intp],
        jumps: BoolArray,
        confirmed: BoolArray,
        start_ref: float,
    ) -> ValidationReport:
        v = self.validator
        counts = dict.fromkeys(RULES, 0)
        counts["duplicate_identical"] = int(np.count_nonzero(merged))
        for code in REJECT_CODES:
            counts[code] = int(np.count_nonzero(flags & _BIT[code]))
        keep = (flags == 0) & ~merged
        accepted = part if keep.all() else part.take(keep)
        rejected_index = np.flatnonzero(flags)
        warnings = [
            *_jump_warnings(part, candidates, jumps, confirmed, start_ref, v.config, counts),
            *_absurd_warnings(accepted, v.config, counts),
            *self._zscore_warnings(accepted, counts),
        ]
        gaps, missing = self._gaps(accepted.ts)
        counts["gap"] = len(gaps)
        if len(accepted):
            window = v.config.zscore_window + 1
            self._context = np.concatenate((self._context, accepted.close))[-window:]
            self._last_ts = int(accepted.ts[-1])
        return ValidationReport(
            timeframe=v.timeframe,
            rows_read=len(part),
            accepted=accepted,
            rejected=part.take(rejected_index),
            reasons=_reasons(flags[rejected_index]),
            merged_duplicates=int(np.count_nonzero(merged)),
            counts=counts,
            warnings=tuple(sorted(warnings, key=lambda w: w.ts)),
            gaps=gaps,
            missing_bars=missing,
        )

    def _zscore_warnings(self, accepted: RawBars, counts: dict[str, int]) -> list[Issue]:
        cfg = self.validator.config
        closes = np.concatenate((self._context, accepted.close))
        offset = len(self._context)  # returns[i] ends at closes[i + 1]
        if len(closes) < 2 or len(accepted) == 0:
            return []
        returns = np.diff(np.log(closes))
        z = rolling_robust_zscore(returns, cfg.zscore_window, cfg.zscore_threshold)
        z[: max(offset - 1, 0)] = np.nan  # returns inside the context were judged before
        outliers = np.flatnonzero(np.abs(np.nan_to_num(z)) > cfg.zscore_threshold)
        counts["return_zscore"] = len(outliers)
        return [
            Issue(
                "return_zscore",
                int(accepted.ts[i + 1 - offset]),
                f"{RULES['return_zscore']}: z={z[i]:.1f}, limit {cfg.zscore_threshold}",
            )
            for i in outliers
        ]

    def _gaps(self, ts: IntArray) -> tuple[tuple[Gap, ...], int]:
        if self._last_ts is not None and len(ts):
            ts = np.concatenate(([self._last_ts], ts))
        if len(ts) < 2:
            return (), 0
        steps = self.validator.calendar.missing_between(ts, self.validator.timeframe)
        where = np.flatnonzero(steps > 0)
        gaps = tuple(Gap(int(ts[i]), int(ts[i + 1]), int(steps[i])) for i in where)
        return gaps, int(steps[where].sum())


# Price factors of common splits, "n:m" meaning n new shares for m old (price times m / n).
SPLIT_RATIOS: tuple[tuple[int, int], ...] = (
    (2, 1), (3, 1), (3, 2), (4, 1), (5, 1), (8, 1), (10, 1), (20, 1),
    (1, 2), (1, 3), (2, 3), (1, 4), (1, 5), (1, 8), (1, 10), (1, 20),
)  # fmt: skip


def split_ratio(factor: float, tolerance: float) -> str | None:
    """The common split (``"2:1"``) whose price factor is within ``tolerance`` of ``factor``."""
    best = min(SPLIT_RATIOS, key=lambda r: abs(math.log(factor * r[0] / r[1])))
    near = abs(factor * best[0] / best[1] - 1.0) <= tolerance
    return f"{best[0]}:{best[1]}" if near else None


def _jump_warnings(
    part: RawBars,
    candidates: npt.NDArray[np.intp],
    jumps: BoolArray,
    confirmed: BoolArray,
    start_ref: float,
    config: ValidationConfig,
    counts: dict[str, int],
) -> list[Issue]:
    """``price_jump_confirmed`` (and ``possible_split``) for every jump that was kept."""
    if not confirmed.any():
        return []
    kept = candidates[~jumps]
    kept_closes = part.close[kept]
    where = np.flatnonzero(confirmed[~jumps])
    out: list[Issue] = []
    for k in where:
        before = float(kept_closes[k - 1]) if k > 0 else start_ref
        after = float(kept_closes[k])
        ts = int(part.ts[kept[k]])
        factor = after / before
        out.append(Issue("price_jump_confirmed", ts, f"{RULES['price_jump_confirmed']}: close "
                         f"{before:g} -> {after:g} ({factor - 1:+.2%})"))  # fmt: skip
        ratio = split_ratio(factor, config.split_tolerance)
        if ratio is not None:
            out.append(Issue("possible_split", ts, f"{RULES['possible_split']}: prices moved by "
                             f"a factor {factor:.4f}, close to a {ratio} split"))  # fmt: skip
    counts["price_jump_confirmed"] = len(where)
    counts["possible_split"] = sum(1 for w in out if w.code == "possible_split")
    return out


def _absurd_warnings(
    accepted: RawBars, config: ValidationConfig, counts: dict[str, int]
) -> list[Issue]:
    """``absurd_value``: kept rows with prices or volumes no market has (1e200, 1e300)."""
    high, low = config.absurd_price, 1.0 / config.absurd_price
    if len(accepted) == 0 or (
        accepted.high.max() <= high
        and accepted.low.min() >= low
        and accepted.volume.max() <= config.absurd_volume
    ):
        return []
    bad = (accepted.high > high) | (accepted.low < low) | (accepted.volume > config.absurd_volume)
    rows = np.flatnonzero(bad)
    counts["absurd_value"] = len(rows)
    return [
        Issue("absurd_value", int(accepted.ts[i]), f"{RULES['absurd_value']}: high "
              f"{accepted.high[i]:g}, low {accepted.low[i]:g}, volume {accepted.volume[i]:g}")
        for i in rows
    ]  # fmt: skip


def _sorted(raw: RawBars) -> tuple[RawBars, int]:
    """Sort by timestamp (stable, unreadable timestamps first); count the rows out of order.

    The count is the fewest rows that must move to put the readable timestamps in order
    (``n`` minus their longest non-decreasing run, see :func:`displaced_rows`), so one stray
    row counts once wherever it sits, rather than "every row after a late one".
    """
    ts = raw.ts[raw.ts_valid] if not raw.ts_valid.all() else raw.ts
    in_order = len(ts) < 2 or bool(np.all(ts[1:] >= ts[:-1]))
    if in_order and raw.ts_valid.all():
        return raw, 0
    out_of_order = 0 if in_order else int(displaced_rows(np.ascontiguousarray(ts)))
    return raw.take(np.argsort(raw.ts, kind="stable")), out_of_order


def _duplicates(raw: RawBars, flags: npt.NDArray[np.uint16]) -> BoolArray:
    """Flag conflicting duplicate groups; return the mask of identical copies to merge."""
    merged = np.zeros(len(raw), dtype=np.bool_)
    clean = np.flatnonzero(flags == 0)
    ts = raw.ts[clean]
    same = ts[1:] == ts[:-1]
    if not same.any():
        return merged
    equal = same.copy()
    for column in (raw.open, raw.high, raw.low, raw.close, raw.volume):
        values = column[clean]
        equal &= values[1:] == values[:-1]
    group = np.concatenate(([0], np.cumsum(~same)))
    conflict_groups = np.zeros(group[-1] + 1, dtype=np.bool_)
    conflict_groups[group[1:][same & ~equal]] = True
    in_conflict = conflict_groups[group]
    flags[clean[in_conflict]] |= _BIT["duplicate_conflict"]
    copies = np.concatenate(([False], same)) & ~in_conflict
    merged[clean[copies]] = True
    return merged


def _reasons(flags: npt.NDArray[np.uint16]) -> tuple[str, ...]:
    if len(flags) == 0:
        return ()
    unique, inverse = np.unique(flags, return_inverse=True)
    texts = [",".join(c for c in REJECT_CODES if int(f) & int(_BIT[c])) for f in unique]
    return tuple(texts[i] for i in inverse)


@dataclass(frozen=True, slots=True)
class PriceSeriesReport:
    """Findings on one price series (e.g. adjusted closes): counts per rule and bad positions."""

    length: int
    counts: dict[str, int]
    bad_positions: dict[str, tuple[int, ...]]

    @property
    def ok(self) -> bool:
        return all(n == 0 for code, n in self.counts.items() if code != "return_zscore")


def check_price_series(
    prices: npt.ArrayLike,
    *,
    max_jump: float = 0.10,
    config: ValidationConfig | None = None,
) -> PriceSeriesReport:
    """Check a single price series (no OHLC, no timestamps) for the rules that apply to it.

    Codes: ``non_finite``, ``non_positive_price``, ``price_jump`` (against the previous good
    price, with the same confirmation as bars) and ``return_zscore`` (warning).
    """
    cfg = config or ValidationConfig()
    values = np.ascontiguousarray(prices, dtype=np.float64)
    if values.ndim != 1:
        raise DataFormatError(f"a price series must be one-dimensional, got shape {values.shape}")
    bad_finite = ~np.isfinite(values)
    bad_sign = (values <= 0) & ~bad_finite
    good = np.flatnonzero(~bad_finite & ~bad_sign)
    jumps = good[jump_mask(values[good], max_jump, math.nan, cfg.jump_confirmation)]
    kept = np.setdiff1d(good, jumps, assume_unique=True)
    outliers: npt.NDArray[np.intp] = np.empty(0, dtype=np.intp)
    if len(kept) > 1:
        z = rolling_robust_zscore(
            np.diff(np.log(values[kept])), cfg.zscore_window, cfg.zscore_threshold
        )
        outliers = kept[1:][np.abs(np.nan_to_num(z)) > cfg.zscore_threshold]
    positions = {
        "non_finite": np.flatnonzero(bad_finite),
        "non_positive_price": np.flatnonzero(bad_sign),
        "price_jump": jumps,
        "return_zscore": outliers,
    }
    return PriceSeriesReport(
        length=len(values),
        counts={k: len(v) for k, v in positions.items()},
        bad_positions={k: tuple(int(i) for i in v) for k, v in positions.items()},
    )
