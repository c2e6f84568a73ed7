"""The embedded historical store: Parquet files per venue/symbol/timeframe/year, read by DuckDB.

Layout under ``root``::

    bars/<venue>/<symbol>/<timeframe>/<year>.parquet     columns ts (int64 ns UTC), open, high,
                                                         low, close, volume; sorted, unique ts
    quarantine/<venue>/<symbol>/<timeframe>/<hash>.parquet   rejected rows (see quarantine.py)

Writes are upserts by timestamp, one year file at a time, each replaced atomically (temp file +
rename), so a crash mid-write leaves the previous file intact. A write that changes nothing
touches no file, which makes ingesting the same data twice a no-op.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neo.data.store.atomic import atomic_path, dataset_lock
from neo.data.store.cache import LRUCache
from neo.data.store.damaged import damaged_file_error, first_damaged, one_line, parquet_problem
from neo.data.store.hints import closest_series
from neo.data.store.layout import dataset_dir, iter_dataset_dirs
from neo.data.store.quarantine import Quarantine, QuarantineWrite
from neo.data.validate import RawBars
from neo.domain.bar import OHLCV_COLUMNS, BarBatch, IntArray
from neo.domain.errors import ConfigError, DataNotFoundError, StoreError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe

if TYPE_CHECKING:
    from neo.settings import NeoSettings

_VALUE_COLUMNS = OHLCV_COLUMNS[1:]
_RANGE = " FROM read_parquet($files) WHERE ts >= $start AND ts < $end"
_SELECT = "SELECT ts, open, high, low, close, volume" + _RANGE + " ORDER BY ts"
_RESAMPLE = (
    "SELECT (ts - $origin) // $step * $step + $origin AS ts, arg_min(open, ts) AS open, "
    "max(high) AS high, min(low) AS low, arg_max(close, ts) AS close, sum(volume) AS volume"
    + _RANGE
    + " GROUP BY 1 ORDER BY 1"
)
_EXPORT = (
    "SELECT make_timestamp(ts // 1000) AS timestamp, open, high, low, close, volume"
    + _RANGE
    + " ORDER BY ts"
)
_COUNT = "SELECT count(*) AS n" + _RANGE
_INT64 = np.iinfo(np.int64)
# Dictionary encoding is wasted work on float prices; delta encoding shrinks regular timestamps.
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "use_dictionary": False,
    "column_encoding": {"ts": "DELTA_BINARY_PACKED"},
}


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What an upsert did: rows new to the store, rows whose values changed, rows unchanged."""

    instrument: InstrumentId
    timeframe: Timeframe
    rows: int
    inserted: int
    updated: int
    unchanged: int
    files_written: int

    @property
    def changed(self) -> int:
        return self.inserted + self.updated


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """One stored dataset; ``damaged`` names files that could not be read (left out of the
    counts), so a listing still shows every healthy dataset."""

    venue: str
    symbol: str
    timeframe: str
    rows: int
    first_ts: int | None
    last_ts: int | None
    files: int
    bytes: int
    damaged: tuple[str, ...] = ()

    @property
    def instrument(self) -> InstrumentId:
        return InstrumentId(self.venue, self.symbol)


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    rows: int
    format: str


def _years(ts: IntArray) -> IntArray:
    years: IntArray = ts.astype("datetime64[ns]").astype("datetime64[Y]").astype(np.int64) + 1970
    return years


def _year_start_ns(year: int) -> int:
    return int(np.datetime64(f"{year:04d}-01-01", "ns").astype(np.int64))


class HistoricalDataStore:
    """Bars of many instruments and timeframes on local disk.

    Parameters
    ----------
    root:
        Store directory (``settings.data_dir / "store"`` by default, see :meth:`from_settings`).
    cache_entries:
        Size of the in-process LRU of read ranges (0 disables it). Entries are keyed by the
        files' modification times, so a write by any process invalidates them.
    """

    def __init__(self, root: Path, *, cache_entries: int = 64) -> None:
        import duckdb

        self.root = Path(root)
        self.bars_root = self.root / "bars"
        self.quarantine = Quarantine(self.root / "quarantine")
        self._cache: LRUCache[BarBatch] = LRUCache(cache_entries)
        self._db = duckdb.connect(":memory:")
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: NeoSettings) -> HistoricalDataStore:
        return cls(settings.data_dir / "store", cache_entries=settings.data.store.cache_entries)

    # -- writing -------------------------------------------------------------------------------
    def write(self, batch: BarBatch, *, source: str = "") -> WriteResult:
        """Upsert validated bars: new timestamps are inserted, stored ones replaced if different.

        ``source`` is recorded for the log only. Raises StoreError if ``batch`` is not sorted
        by strictly increasing ``ts`` (validate it first).
        """
        if len(batch) > 1 and not bool(np.all(np.diff(batch.ts) > 0)):
            raise StoreError(
                f"{batch.instrument} {batch.timeframe}: bars must be sorted with unique "
                "timestamps; run them through DataValidator before writing"
            )
        directory = dataset_dir(self.bars_root, batch.instrument, batch.timeframe)
        inserted = updated = files = 0
        if len(batch):
            years = _years(batch.ts)
            bounds = np.flatnonzero(np.diff(years)) + 1
            with dataset_lock(directory):
                for lo, hi in zip(
                    np.concatenate(([0], bounds)), np.concatenate((bounds, [len(batch)])),
                    strict=True,
                ):  # fmt: skip
                    part = batch.slice(int(lo), int(hi))
                    path = directory / f"{int(years[lo])}.parquet"
                    new, changed = self._upsert_file(path, part)
                    inserted += new
                    updated += changed
                    files += int(new + changed > 0)
        return WriteResult(
            batch.instrument, batch.timeframe, len(batch), inserted, updated,
            len(batch) - inserted - updated, files,
        )  # fmt: skip

    def _upsert_file(self, path: Path, part: BarBatch) -> tuple[int, int]:
        columns = {name: np.asarray(getattr(part, name)) for name in OHLCV_COLUMNS}
        if path.exists():
            old = _read_file(path)
            pos = np.searchsorted(old["ts"], part.ts)
            inside = pos < len(old["ts"])
            match = np.zeros(len(part), dtype=np.bool_)
            match[inside] = old["ts"][pos[inside]] == part.ts[inside]
            differs = np.zeros(len(part), dtype=np.bool_)
            for name in _VALUE_COLUMNS:
                differs[match] |= old[name][pos[match]] != columns[name][match]
            inserted, updated = int(np.count_nonzero(~match)), int(np.count_nonzero(differs))
            if inserted == 0 and updated == 0:
                return 0, 0
            keep = np.ones(len(old["ts"]), dtype=np.bool_)
            keep[pos[match]] = False
            order = np.argsort(np.concatenate((old["ts"][keep], part.ts)), kind="stable")
            columns = {
                name: np.concatenate((old[name][keep], columns[name]))[order]
                for name in OHLCV_COLUMNS
            }
        else:
            inserted, updated = len(part), 0
        _write_file(path, columns)
        return inserted, updated

    def write_quarantine(
        self,
        rows: RawBars,
        reasons: Sequence[str],
        *,
        instrument: InstrumentId,
        timeframe: Timeframe,
        source: str = "",
    ) -> QuarantineWrite:
        """Keep rejected rows beside the data (idempotent, see :class:`Quarantine`)."""
        return self.quarantine.write(
            rows, reasons, instrument=instrument, timeframe=timeframe, source=source
        )

    def read_quarantine(
        self, instrument: InstrumentId | None = None, timeframe: Timeframe | None = None
    ) -> Any:
        """Quarantined rows as a pandas DataFrame, optionally for one instrument/timeframe."""
        return self.quarantine.read(instrument, timeframe)

    # -- reading -------------------------------------------------------------------------------
    def _files(
        self,
        instrument: InstrumentId,
        timeframe: Timeframe,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[Path]:
        directory = dataset_dir(self.bars_root, instrument, timeframe)
        files = sorted(directory.glob("*.parquet")) if directory.is_dir() else []
        if not files:
            known = [(i, t) for i, t, _ in iter_dataset_dirs(self.bars_root)]
            hint = closest_series(instrument, timeframe, known)
            raise DataNotFoundError(
                f"no {timeframe} bars stored for {instrument} ({hint}); "
                "ingest some with `neo ingest FILE` or `neo data ingest-samples`"
            )
        return [
            f
            for f in files
            if (start_ns is None or _year_start_ns(int(f.stem) + 1) > start_ns)
            and (end_ns is None or _year_start_ns(int(f.stem)) < end_ns)
        ]

    def _query(
        self, sql: str, params: dict[str, Any], files: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """Run one query; a failure names the damaged file among ``files`` (default:
        ``params["files"]``) in a one-line StoreError."""
        with self._lock:
            try:
                result: dict[str, Any] = self._db.execute(sql, params).fetchnumpy()
            except Exception as exc:  # duckdb raises its own error types for unreadable files
                raise _query_error(list(files or params["files"]), exc) from exc
        return result

    @staticmethod
    def _params(files: list[Path], start_ns: int | None, end_ns: int | None) -> dict[str, Any]:
        """Bound query parameters: an open bound becomes the int64 extreme."""
        return {
            "files": [str(f) for f in files],
            "start": int(_INT64.min if start_ns is None else start_ns),
            "end": int(_INT64.max if end_ns is None else end_ns),
        }

    def read(
        self,
        instrument: InstrumentId,
        timeframe: Timeframe | str,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> BarBatch:
        """Bars with ``start_ns <= ts < end_ns`` (an empty batch when the range has none).

        Raises DataNotFoundError when nothing at all is stored for the instrument/timeframe.
        """
        tf = Timeframe.parse(timeframe)
        files = self._files(instrument, tf, start_ns, end_ns)
        key = _cache_key(instrument, tf, start_ns, end_ns, files)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if not files:
            return BarBatch.empty(instrument, tf)
        batch = BarBatch.from_arrays(
            instrument, tf, **self._query(_SELECT, self._params(files, start_ns, end_ns))
        )
        self._cache.put(key, batch)
        return batch

    def read_many(
        self,
        instruments: Sequence[InstrumentId],
        timeframe: Timeframe | str,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> dict[InstrumentId, BarBatch]:
        """:meth:`read` for several instruments over the same range, in one DuckDB query over
        the union of their partitions (cached ranges are served from the cache).

        Raises DataNotFoundError when nothing is stored for one of the instruments.
        """
        tf = Timeframe.parse(timeframe)
        out: dict[InstrumentId, BarBatch] = {}
        pending: list[tuple[InstrumentId, list[Path], tuple[Any, ...]]] = []
        for iid in dict.fromkeys(instruments):
            files = self._files(iid, tf, start_ns, end_ns)
            key = _cache_key(iid, tf, start_ns, end_ns, files)
            cached = self._cache.get(key)
            if cached is not None:
                out[iid] = cached
            elif not files:
                out[iid] = BarBatch.empty(iid, tf)
            else:
                pending.append((iid, files, key))
        if pending:
            parts = [(iid, files) for iid, files, _ in pending]
            batches = self._read_union(tf, parts, start_ns, end_ns)
            for (iid, _, key), batch in zip(pending, batches, strict=True):
                self._cache.put(key, batch)
                out[iid] = batch
        return {iid: out[iid] for iid in instruments}

    def _read_union(
        self,
        tf: Timeframe,
        parts: list[tuple[InstrumentId, list[Path]]],
        start_ns: int | None,
        end_ns: int | None,
    ) -> list[BarBatch]:
        """One query over several instruments' files; the rows come back tagged and split."""
        files = [f for _, instrument_files in parts for f in instrument_files]
        params = self._params(files, start_ns, end_ns)
        # Each file's instrument index, looked up by the file name DuckDB reports per row.
        params["keys"] = [
            k for k, (_, instrument_files) in enumerate(parts) for _ in instrument_files
        ]
        sql = (
            "SELECT $keys[list_position($files, filename)] AS k, ts, open, high, low, close, volume"
            " FROM read_parquet($files, filename = true)"
            " WHERE ts >= $start AND ts < $end ORDER BY k, ts"
        )
        result = self._query(sql, params)
        bounds = np.searchsorted(result["k"], np.arange(len(parts) + 1))
        batches = []
        for i, (iid, _) in enumerate(parts):
            rows = slice(int(bounds[i]), int(bounds[i + 1]))
            columns = {name: result[name][rows] for name in OHLCV_COLUMNS}
            batches.append(BarBatch.from_arrays(iid, tf, **columns))
        return batches

    def resample(
        self,
        instrument: InstrumentId,
        source_tf: Timeframe | str,
        target_tf: Timeframe | str,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> BarBatch:
        """Aggregate stored bars to a coarser timeframe (first open, max high, min low, last
        close, summed volume). ``start_ns`` is floored to the target grid so the first bar is
        whole; the last bar may be partial if the data ends inside it."""
        source, target = Timeframe.parse(source_tf), Timeframe.parse(target_tf)
        if target.nanos % source.nanos != 0 or target.nanos < source.nanos:
            raise ConfigError(
                f"cannot resample {source} bars to {target}: the target must be a whole "
                f"multiple of the source timeframe"
            )
        start = None if start_ns is None else target.floor(start_ns)
        files = self._files(instrument, source, start, end_ns)
        if not files:
            return BarBatch.empty(instrument, target)
        params = self._params(files, start, end_ns)
        params.update(origin=target.origin_ns, step=target.nanos)
        return BarBatch.from_arrays(instrument, target, **self._query(_RESAMPLE, params))

    def datasets(self) -> list[DatasetInfo]:
        """Every stored dataset with its row count and time span (from Parquet metadata).

        A damaged file does not hide the rest: it is left out of its dataset's counts and
        named in :attr:`DatasetInfo.damaged`.
        """
        return [
            _dataset_info(iid, tf, files)
            for iid, tf, directory in iter_dataset_dirs(self.bars_root)
            if (files := sorted(directory.glob("*.parquet")))
        ]

    def export(
        self,
        instrument: InstrumentId,
        timeframe: Timeframe | str,
        path: Path | str,
        *,
        fmt: str | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> ExportResult:
        """Stream a range to CSV or Parquet without loading it into memory (DuckDB ``COPY``).

        Columns: ``timestamp`` (UTC, naive ISO text in CSV), open, high, low, close, volume;
        the file is what :func:`~neo.data.feeds.files.read_bar_file` reads back.
        """
        from neo.data.feeds.files import detect_format

        tf = Timeframe.parse(timeframe)
        target = Path(path)
        kind = detect_format(target, fmt)
        if kind not in ("csv", "parquet"):
            raise ConfigError(f"export writes csv or parquet, not {kind}")
        files = self._files(instrument, tf, start_ns, end_ns)
        with atomic_path(target) as tmp:
            if not files:  # the range prunes every year file: an empty file with the schema
                _write_empty_export(tmp, kind)
                return ExportResult(target, 0, kind)
            params = self._params(files, start_ns, end_ns)
            with self._lock:
                try:
                    relation = self._db.sql(_EXPORT, params=params)
                    if kind == "csv":
                        relation.write_csv(str(tmp), header=True)
                    else:
                        relation.write_parquet(str(tmp))
                except Exception as exc:  # duckdb error types
                    raise _query_error(params["files"], exc) from exc
            rows = int(self._query(_COUNT, params)["n"][0])
        return ExportResult(target, rows, kind)

    def close(self) -> None:
        self._db.close()


def _cache_key(
    iid: InstrumentId, tf: Timeframe, start_ns: int | None, end_ns: int | None, files: list[Path]
) -> tuple[Any, ...]:
    """A read's cache key: the range and each file's name, mtime and size (a write by any
    process changes it)."""
    stamp = tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    return (iid, tf, start_ns, end_ns, stamp)


def _dataset_info(iid: InstrumentId, tf: Timeframe, files: list[Path]) -> DatasetInfo:
    import pyarrow.parquet as pq

    rows, size, first, last, damaged = 0, 0, None, None, []
    for file in files:
        try:
            meta = pq.ParquetFile(file).metadata
        except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for damaged files
            damaged.append(f"{file}: {one_line(exc)}")
            continue
        rows += meta.num_rows
        size += file.stat().st_size
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(0).statistics
            if stats is not None and stats.has_min_max:
                first = int(stats.min) if first is None else min(first, int(stats.min))
                last = int(stats.max) if last is None else max(last, int(stats.max))
    return DatasetInfo(
        iid.venue, iid.symbol, str(tf), rows, first, last, len(files) - len(damaged), size,
        tuple(damaged),
    )  # fmt: skip


EXPORT_SCHEMA_NAMES = ("timestamp", *_VALUE_COLUMNS)


def _write_empty_export(path: Path, kind: str) -> None:
    """A valid empty export: the CSV header, or a Parquet file with the export's schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if kind == "csv":
        path.write_text(",".join(EXPORT_SCHEMA_NAMES) + "\n")
        return
    fields = [pa.field("timestamp", pa.timestamp("us"), nullable=False)]
    fields += [pa.field(name, pa.float64(), nullable=False) for name in _VALUE_COLUMNS]
    pq.write_table(pa.schema(fields).empty_table(), path)


def _query_error(files: list[str], exc: Exception) -> StoreError:
    """One line naming the damaged file when one is to blame, else DuckDB's first line."""
    found = first_damaged(Path(f) for f in files)
    return found if found is not None else StoreError(f"store query failed: {one_line(exc)}")


def _read_file(path: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for damaged files
        raise damaged_file_error(path, parquet_problem(path) or one_line(exc)) from exc
    return {name: table.column(name).to_numpy() for name in OHLCV_COLUMNS}


def _write_file(path: Path, columns: dict[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({name: pa.array(columns[name]) for name in OHLCV_COLUMNS})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **PARQUET_OPTIONS)
