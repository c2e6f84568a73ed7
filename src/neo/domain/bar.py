"""Bars: one immutable struct for a single bar, one columnar batch for bulk work.

A bar's ``ts`` is its *open* time in integer nanoseconds UTC (the ccxt convention); the bar is
complete, and its close known, at ``ts + timeframe.nanos``. Anything that acts on a bar acts at
its close, never before.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from neo.domain.errors import DataFormatError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

OHLCV_COLUMNS: tuple[str, ...] = ("ts", "open", "high", "low", "close", "volume")


class Bar(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One OHLCV bar of one instrument."""

    instrument: InstrumentId
    timeframe: Timeframe
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    @property
    def close_ts(self) -> int:
        """When the bar is complete and may be acted upon."""
        return self.ts + self.timeframe.nanos


def _frozen(array: npt.ArrayLike, dtype: type[np.generic]) -> Any:
    out = np.ascontiguousarray(array, dtype=dtype)
    if out.ndim != 1:
        raise DataFormatError(f"bar columns must be one-dimensional, got shape {out.shape}")
    if out.flags.writeable and out.base is not None:
        out = out.copy()
    out.flags.writeable = False
    return out


@dataclass(frozen=True, slots=True, eq=False)
class BarBatch:
    """Many bars of one instrument and timeframe as read-only numpy columns, sorted by ``ts``.

    This is what stores return, validators accept and features consume. Columns are read-only,
    so a batch can be shared between layers without defensive copies.
    """

    instrument: InstrumentId
    timeframe: Timeframe
    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    @classmethod
    def from_arrays(
        cls,
        instrument: InstrumentId,
        timeframe: Timeframe,
        *,
        ts: npt.ArrayLike,
        open: npt.ArrayLike,
        high: npt.ArrayLike,
        low: npt.ArrayLike,
        close: npt.ArrayLike,
        volume: npt.ArrayLike,
    ) -> BarBatch:
        columns = {
            "open": _frozen(open, np.float64),
            "high": _frozen(high, np.float64),
            "low": _frozen(low, np.float64),
            "close": _frozen(close, np.float64),
            "volume": _frozen(volume, np.float64),
        }
        ts_array = _frozen(ts, np.int64)
        lengths = {len(ts_array), *(len(c) for c in columns.values())}
        if len(lengths) != 1:
            raise DataFormatError(f"bar columns have different lengths: {sorted(lengths)}")
        return cls(instrument, timeframe, ts_array, **columns)

    @classmethod
    def empty(cls, instrument: InstrumentId, timeframe: Timeframe) -> BarBatch:
        zeros = np.empty(0)
        return cls.from_arrays(
            instrument, timeframe, ts=np.empty(0, np.int64), open=zeros, high=zeros,
            low=zeros, close=zeros, volume=zeros,
        )  # fmt: skip

    @classmethod
    def from_bars(cls, bars: list[Bar]) -> BarBatch:
        if not bars:
            raise DataFormatError("cannot build a batch from no bars")
        first = bars[0]
        return cls.from_arrays(
            first.instrument,
            first.timeframe,
            ts=[b.ts for b in bars],
            open=[b.open for b in bars],
            high=[b.high for b in bars],
            low=[b.low for b in bars],
            close=[b.close for b in bars],
            volume=[b.volume for b in bars],
        )

    def __len__(self) -> int:
        return len(self.ts)

    def bar(self, index: int) -> Bar:
        return Bar(
            instrument=self.instrument,
            timeframe=self.timeframe,
            ts=int(self.ts[index]),
            open=float(self.open[index]),
            high=float(self.high[index]),
            low=float(self.low[index]),
            close=float(self.close[index]),
            volume=float(self.volume[index]),
        )

    def __iter__(self) -> Iterator[Bar]:
        return (self.bar(i) for i in range(len(self)))

    def slice(self, start: int, stop: int) -> BarBatch:
        """Rows ``start:stop`` by position (views, no copy)."""
        return BarBatch(
            self.instrument,
            self.timeframe,
            self.ts[start:stop],
            self.open[start:stop],
            self.high[start:stop],
            self.low[start:stop],
            self.close[start:stop],
            self.volume[start:stop],
        )

    def between(self, start_ns: int | None = None, end_ns: int | None = None) -> BarBatch:
        """Bars with ``start_ns <= ts < end_ns`` (either bound optional)."""
        lo = 0 if start_ns is None else int(np.searchsorted(self.ts, start_ns, "left"))
        hi = len(self) if end_ns is None else int(np.searchsorted(self.ts, end_ns, "left"))
        return self.slice(lo, hi)

    def columns(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in OHLCV_COLUMNS}

    def to_pandas(self) -> Any:
        """A DataFrame indexed by UTC timestamps with open/high/low/close/volume columns."""
        import pandas as pd

        index = pd.DatetimeIndex(pd.to_datetime(self.ts, unit="ns", utc=True), name="ts")
        return pd.DataFrame(
            {name: np.asarray(getattr(self, name)) for name in OHLCV_COLUMNS[1:]}, index=index
        )

    def to_arrow(self) -> Any:
        import pyarrow as pa

        return pa.table(
            {
                "ts": pa.array(self.ts, type=pa.timestamp("ns", tz="UTC")),
                **{name: pa.array(getattr(self, name)) for name in OHLCV_COLUMNS[1:]},
            }
        )

    @classmethod
    def from_pandas(cls, instrument: InstrumentId, timeframe: Timeframe, frame: Any) -> BarBatch:
        """Read a frame with a UTC DatetimeIndex (or a ``ts`` column) and OHLCV columns."""
        import pandas as pd

        if "ts" in frame.columns:
            ts = pd.to_datetime(frame["ts"], utc=True)
        else:
            ts = pd.to_datetime(frame.index, utc=True)
        missing = [c for c in OHLCV_COLUMNS[1:] if c not in frame.columns]
        if missing:
            raise DataFormatError(f"frame lacks columns {missing}; expected {OHLCV_COLUMNS}")
        ts_ns = np.asarray(ts.astype("datetime64[ns, UTC]").astype("int64"))
        return cls.from_arrays(
            instrument,
            timeframe,
            ts=ts_ns,
            **{name: frame[name].to_numpy(np.float64) for name in OHLCV_COLUMNS[1:]},
        )
