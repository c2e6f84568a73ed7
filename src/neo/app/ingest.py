"""Candles in and out as use cases: ingest (a file, or rows sent as JSON/NDJSON/CSV), read a
page of stored bars, dataset statistics and the quarantine.

``neo ingest`` / ``neo data stats|quarantine`` and ``POST/GET /v1/candles``, ``GET /v1/stats``,
``GET /v1/quarantine`` call these, so both front ends report the same numbers: every row sent
ends up accepted, rejected (quarantined, with the rules it broke) or merged as an identical
duplicate, through the one :class:`~neo.data.ingest.DataIngestionAPI`.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from neo.app.formats import iso_times_deep
from neo.app.selection import parse_window, resolve_timeframe
from neo.domain.errors import ConfigError, DataFormatError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe
from neo.domain.timestamps import iso_or_none
from neo.settings import NeoSettings

if TYPE_CHECKING:
    import pandas as pd

    from neo.data.ingest import DataIngestionAPI, IngestReport
    from neo.data.validate import RawBars
    from neo.domain.bar import BoolArray, FloatArray, IntArray

MAX_PAGE = 10_000
"""The most bars one page of ``GET /v1/candles`` holds."""
_NS_PER_MS = 1_000_000


def ingestion_api(
    settings: NeoSettings, *, on_report: Callable[[IngestReport], None] | None = None
) -> DataIngestionAPI:
    """The configured ingestion service (the store under ``<data_dir>/store``); ``on_report``
    sees every stored report (the service counts and publishes them)."""
    from neo.data.ingest import get_data_ingestion_api

    return get_data_ingestion_api(settings, on_report=on_report)


def report_payload(report: IngestReport) -> dict[str, Any]:
    """An ingest report as both front ends print it (ISO times with ``_ns`` twins)."""
    raw = report.to_dict()
    counts = dict(raw["counts_by_rule"])  # rule codes such as misaligned_ts are not times
    payload: dict[str, Any] = iso_times_deep({**raw, "counts_by_rule": {}})
    payload["counts_by_rule"] = counts
    return payload


# -- rows sent to the API ----------------------------------------------------------------------


class Candle(BaseModel):
    """One candle as sent: ``timestamp`` in epoch milliseconds (ccxt's convention).

    Values are not checked here beyond their JSON type: a missing price or a high below the
    low is the validator's business, so such a row is answered *rejected* with its reasons
    and kept in the quarantine, never refused wholesale.
    """

    model_config = ConfigDict(extra="forbid")

    timestamp: int | None = Field(None, description="Bar open time, epoch milliseconds UTC.")
    open: float | None = None
    high: float | None = None
    low: float | None = None
    close: float | None = None
    volume: float | None = None


class CandleBatch(BaseModel):
    """``POST /v1/candles`` as JSON: one instrument's candles."""

    model_config = ConfigDict(extra="forbid")

    venue: str | None = Field(None, max_length=64, description="Default: data.default_venue.")
    symbol: str = Field(..., min_length=1, max_length=64, description="ccxt symbol, BTC/USDT.")
    timeframe: str | None = Field(None, max_length=16, description="Default: inferred.")
    candles: list[Candle] = Field(..., min_length=1)


@dataclass(frozen=True, slots=True)
class CandleRows:
    """Rows parsed from any accepted body, before validation: numpy columns (``ts`` in ns with
    ``ts_valid`` marking readable ones, OHLCV as float64, NaN where missing), one row per candle
    sent, in the order sent (``source_row`` is the position in the body)."""

    raw: RawBars


def rows_from_batch(batch: CandleBatch) -> CandleRows:
    """The JSON body's candles as rows (a missing timestamp stays missing: invalid_ts)."""
    return _rows_of(batch.candles)


class _Candle(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    timestamp: int | None = None
    open: float | None = None
    high: float | None = None
    low: float | None = None
    close: float | None = None
    volume: float | None = None


class _Batch(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    symbol: str
    candles: list[_Candle]
    venue: str | None = None
    timeframe: str | None = None


_FIELDS = ("open", "high", "low", "close", "volume")
_BATCH = msgspec.json.Decoder(_Batch)
_MIN_MS = -(2**63 // _NS_PER_MS) + 1
_MAX_MS = (2**63 - 1) // _NS_PER_MS
"""Epoch milliseconds whose nanoseconds fit an int64 (years 1678 to 2262); a timestamp beyond
them is unreadable (invalid_ts), not an overflow."""


def rows_from_json(body: bytes) -> tuple[CandleRows, dict[str, str | None]]:
    """A :class:`CandleBatch` JSON body as rows and the instrument it names, decoded straight
    into typed structs and from them into numpy columns (no DataFrame: this is the hot path
    of ``POST /v1/candles``). A body that does not match the schema is a DataFormatError
    naming the field at fault; a value of the right JSON type but wrong (a missing price, a
    timestamp beyond 2262) is left to the validator, which rejects that row with a reason."""
    try:
        batch = _BATCH.decode(body)
    except msgspec.DecodeError as exc:
        raise DataFormatError(f"the JSON body does not match CandleBatch: {exc}") from None
    if not batch.candles:
        raise DataFormatError("candles is empty: send at least one candle")
    if not batch.symbol.strip() or len(batch.symbol) > 64:
        raise DataFormatError("symbol must be 1 to 64 characters, e.g. BTC/USDT")
    named = {"venue": batch.venue, "symbol": batch.symbol, "timeframe": batch.timeframe}
    return _rows_of(batch.candles), named


def _rows_of(candles: Sequence[_Candle | Candle]) -> CandleRows:
    """Candles as numpy columns: a None price becomes NaN (numpy's float conversion of None),
    a missing or out-of-range timestamp an unreadable one."""
    from neo.data.validate import RawBars

    ts, valid = _ms_to_ns([c.timestamp for c in candles])
    o, h, lo, c, v = (_floats(candles, get) for get in _GETTERS)
    return CandleRows(RawBars.from_arrays(ts, o, h, lo, c, v, ts_valid=valid))


_GETTERS = tuple(attrgetter(name) for name in _FIELDS)


def _floats(candles: Sequence[_Candle | Candle], get: attrgetter[Any]) -> FloatArray:
    """One field of every candle as float64, NaN where it is None: ``np.fromiter`` (no list
    in between, ~30 % cheaper) unless a None is among them."""
    try:
        return np.fromiter(map(get, candles), dtype=np.float64, count=len(candles))
    except TypeError:  # a None: numpy's float conversion of a list makes it NaN
        return np.array(list(map(get, candles)), dtype=np.float64)


def _ms_to_ns(stamps: list[int | None]) -> tuple[IntArray, BoolArray]:
    """Epoch ms as ns and which were readable: one numpy conversion when every one is an
    in-range integer (the usual body), else row by row."""
    try:
        ms = np.array(stamps, dtype=np.int64)
    except (TypeError, OverflowError):
        ms = None
    if ms is not None and len(ms) and int(ms.min()) >= _MIN_MS and int(ms.max()) <= _MAX_MS:
        return ms * _NS_PER_MS, np.ones(len(ms), dtype=np.bool_)
    from neo.data.validate import TS_MISSING

    ns = [t * _NS_PER_MS if t is not None and _MIN_MS <= t <= _MAX_MS else None for t in stamps]
    valid = np.array([t is not None for t in ns], dtype=np.bool_)
    return np.array([TS_MISSING if t is None else t for t in ns], dtype=np.int64), valid


def rows_from_text(body: bytes, kind: str) -> CandleRows:
    """NDJSON (one candle object per line) or CSV (a header with ``timestamp`` or ``ts``, and
    open, high, low, close, volume) as rows; an unreadable body is a DataFormatError."""
    import pandas as pd

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"the body is not UTF-8 text: {exc}") from None
    if kind == "ndjson":
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise DataFormatError(f"NDJSON line {number} is not JSON: {exc}") from None
            if not isinstance(record, dict):
                raise DataFormatError(f"NDJSON line {number} is not a candle object")
            records.append(record)
        frame = pd.DataFrame.from_records(records)
    else:
        try:
            frame = pd.read_csv(io.StringIO(text))
        except (ValueError, pd.errors.ParserError) as exc:
            raise DataFormatError(f"the CSV body cannot be read: {exc}") from None
    if frame.empty:
        raise DataFormatError("the body holds no candles: send at least one row")
    return CandleRows(_raw_of_frame(_normalised(_timestamps_as_ns(frame))))


def _timestamps_as_ns(frame: pd.DataFrame) -> pd.DataFrame:
    """A ``timestamp`` column of integers is epoch ms (as in the JSON body); text passes as
    it is (ISO times, parsed by the validator's reader); ``ts`` is taken as given."""
    import pandas as pd

    lower = {str(c).strip().lower(): c for c in frame.columns}
    if "ts" in lower:
        return frame.rename(columns={lower["ts"]: "ts"})
    key = lower.get("timestamp") or lower.get("date") or lower.get("time")
    if key is None:
        raise DataFormatError(
            f"no timestamp column among {list(frame.columns)}: name it timestamp (epoch ms "
            "or ISO time) and send open, high, low, close, volume beside it"
        )
    stamps = frame[key]
    if pd.api.types.is_integer_dtype(stamps) or pd.api.types.is_float_dtype(stamps):
        numbers = pd.to_numeric(stamps, errors="coerce")
        stamps = (numbers * _NS_PER_MS).round().astype("Int64")
    else:  # ISO text; an unreadable one stays a row (invalid_ts)
        parsed = pd.to_datetime(stamps, utc=True, errors="coerce", format="ISO8601")
        values = parsed.dt.as_unit("ns").to_numpy(dtype="datetime64[ns]").astype("int64")
        stamps = pd.Series(values, index=frame.index).astype("Int64").mask(parsed.isna())
    return frame.drop(columns=[key]).assign(ts=stamps)


def _raw_of_frame(frame: pd.DataFrame) -> RawBars:
    """A text body's frame as rows: ``ts`` of nullable integers (ns; a missing one stays a
    row, invalid_ts) or text as given, which the validator's reader parses."""
    from neo.data.validate import as_raw_bars

    ts = frame["ts"]
    if str(ts.dtype) == "Int64":
        frame = frame.assign(
            ts=ts.astype("int64") if not ts.isna().any() else ts.astype(object).where(ts.notna())
        )
    return as_raw_bars(frame)


def _normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Lower-case OHLCV column names; a missing one is a DataFormatError naming it."""
    frame = frame.rename(columns={c: str(c).strip().lower() for c in frame.columns})
    missing = [c for c in ("open", "high", "low", "close", "volume") if c not in frame.columns]
    if missing:
        raise DataFormatError(
            f"columns {missing} are missing: send timestamp, open, high, low, close, volume"
        )
    return frame


def ingest_rows(
    api: DataIngestionAPI,
    settings: NeoSettings,
    rows: CandleRows,
    *,
    symbol: str,
    venue: str | None = None,
    timeframe: str | None = None,
    source: str = "api",
    replace: bool = False,
) -> dict[str, Any]:
    """Validate and store rows sent to the API: the ingest report plus ``rejected_rows``, each
    with its position in the body (``row``, from 0), timestamp and the rules it broke."""
    if not symbol.strip():
        raise ConfigError("give the candles' symbol, e.g. symbol=BTC/USDT")
    instrument = InstrumentId(venue or settings.data.default_venue, symbol.strip())
    rejected: list[dict[str, Any]] = []
    report = api.ingest_frame(
        rows.raw,
        instrument=instrument,
        timeframe=None if timeframe is None else Timeframe.parse(timeframe),
        source=source,
        replace=replace,
        rejections=rejected,
    )
    payload = report_payload(report)
    payload["rejected_rows"] = [
        {**row, "ts": iso_or_none(row["ts"]), "ts_ns": row["ts"]} for row in rejected
    ]
    return payload


# -- reads --------------------------------------------------------------------------------------


def one_instrument(settings: NeoSettings, venue: str | None, symbol: str | None) -> InstrumentId:
    """The one instrument a read selects (``symbol`` required)."""
    if not symbol or not symbol.strip():
        raise ConfigError("pass exactly one symbol with --symbol, e.g. --symbol BTC/USDT")
    return InstrumentId(venue or settings.data.default_venue, symbol.strip())


def dataset_stats(
    api: DataIngestionAPI,
    settings: NeoSettings,
    *,
    symbol: str | None,
    venue: str | None = None,
    timeframe: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> dict[str, Any]:
    """Rows, span, gaps, return/volatility and provenance of one stored dataset."""
    instrument = one_instrument(settings, venue, symbol)
    frame = resolve_timeframe(settings, timeframe, [instrument], "1m")
    stats = api.stats(instrument, str(frame), *parse_window(start, end))
    stats["first_ts"], stats["last_ts"] = (
        iso_or_none(stats["first_ts"]),
        iso_or_none(stats["last_ts"]),
    )
    stats["provenance"] = api.store.provenance(instrument, str(frame))
    return stats


def quarantine_view(
    api: DataIngestionAPI,
    settings: NeoSettings,
    *,
    symbol: str | None = None,
    venue: str | None = None,
    timeframe: str | None = None,
    limit: int = 20,
) -> dict[str, Any]:
    """Rejected rows: how many, counted by reason, and the first ``limit`` with their ids."""
    instrument = None if symbol is None else one_instrument(settings, venue, symbol)
    frame = api.quarantined(instrument, timeframe)
    if venue is not None and instrument is None:
        frame = frame[frame["venue"] == venue]
    reasons: Counter[str] = Counter()
    for text in frame["reasons"]:
        reasons.update(str(text).split(","))
    sample = [
        {**row, "ts": iso_or_none(int(row["ts"])) if row["ts_valid"] else None}
        for row in frame.head(max(limit, 0)).to_dict("records")
    ]
    return {"rows": len(frame), "by_reason": dict(reasons), "sample": sample}


@dataclass(frozen=True, slots=True)
class CandlePage:
    """One page of stored bars and where the next starts (None: this was the last)."""

    instrument: InstrumentId
    timeframe: Timeframe
    columns: dict[str, Any]
    next_cursor: int | None

    def rows(self) -> list[dict[str, Any]]:
        """Rows as ``GET /v1/candles`` JSON answers them (``timestamp`` in ms, as sent)."""
        ts = self.columns["ts"]
        names = ("open", "high", "low", "close", "volume")
        return [
            {
                "timestamp": int(ts[i]) // _NS_PER_MS,
                "time": iso_or_none(int(ts[i])),
                **{name: float(self.columns[name][i]) for name in names},
            }
            for i in range(len(ts))
        ]


def read_candles(
    api: DataIngestionAPI,
    settings: NeoSettings,
    *,
    symbol: str | None,
    venue: str | None = None,
    timeframe: str | None = None,
    start: str | None = None,
    end: str | None = None,
    limit: int = 1000,
    cursor: int | None = None,
) -> CandlePage:
    """Stored bars in ``[start, end)``, at most ``limit``, from ``cursor`` (a ``ts_ns`` the
    previous page named) on."""
    if not 1 <= limit <= MAX_PAGE:
        raise ConfigError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    instrument = one_instrument(settings, venue, symbol)
    frame = resolve_timeframe(settings, timeframe, [instrument], "1m")
    lo, hi = parse_window(start, end)
    if cursor is not None:
        lo = cursor if lo is None else max(lo, cursor)
    batch = api.store.read(instrument, frame, lo, hi)
    n = len(batch)
    take = min(n, limit)
    columns = {
        name: getattr(batch, name)[:take]
        for name in ("ts", "open", "high", "low", "close", "volume")
    }
    return CandlePage(instrument, frame, columns, int(batch.ts[take]) if n > take else None)


def ingest_file(
    api: DataIngestionAPI,
    file: Path,
    *,
    venue: str,
    symbol: str | None,
    **options: Any,
) -> list[IngestReport]:
    """A file into the store: one report per symbol (all of a symbol column when ``symbol`` is
    None)."""
    if symbol is None:
        return list(api.ingest_file_symbols(file, venue=venue, **options))
    return [api.ingest_file(file, venue=venue, symbol=symbol, **options)]
