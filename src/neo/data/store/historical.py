"""The embedded historical store: Parquet files per venue/symbol/timeframe/year, read by DuckDB.

Layout under ``root``::

    bars/<venue>/<symbol>/<timeframe>/manifest.json      the current generation: its files with
                                                         their sha256, and the provenance log
    bars/<venue>/<symbol>/<timeframe>/<year>-<digest>.parquet   columns ts (int64 ns UTC),
                                                         open, high, low, close, volume, src;
                                                         sorted, unique ts
    bars/<venue>/<symbol>/<timeframe>/<year>-<digest>.seg.parquet   an appended segment of
                                                         that year (same columns, later bars)
    quarantine/<venue>/<symbol>/<timeframe>/<hash>.parquet   rejected rows (see quarantine.py)

Writes are upserts by timestamp under the dataset's lock: the changed files are written under
new names, then the manifest is swapped with one rename (see manifest.py), so a reader sees one
whole version of a series and a crash mid-write leaves the previous one intact. Bars after
everything a year holds (an append: a feed, a POSTed batch) go into a small segment file rather
than a rewrite of the year, so an append costs O(batch); an update merges only the files it
reaches, and segments are compacted now and then (see segments.py). A write that changes
nothing touches no file, which makes ingesting the same data twice a no-op.
Every read checks each file's sha256 against the manifest first: a damaged file fails with one
line naming it, never with wrong prices. A write that would change bars another source stored
is refused (:class:`~neo.domain.errors.DataConflictError`) unless ``replace=True``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from neo.data.store.atomic import (
    atomic_path,
    dataset_lock,
    fsync_directory,
    remove_temp_files,
    sweep_if_idle,
)
from neo.data.store.cache import LRUCache
from neo.data.store.damaged import first_damaged, one_line
from neo.data.store.hints import closest_series
from neo.data.store.layout import dataset_dir, iter_dataset_dirs
from neo.data.store.manifest import (
    MANIFEST,
    FileEntry,
    Manifest,
    ManifestCache,
    MissingFile,
    digest_problem,
    load_manifest,
    remove_unreferenced,
    save_manifest,
    store_error_if_missing,
    time_order,
    verified_path,
)
from neo.data.store.provenance import Provenance
from neo.data.store.quarantine import Quarantine, QuarantineWrite
from neo.data.store.segments import compaction, covers, split_touched
from neo.data.store.writer import (
    PARQUET_OPTIONS,
    YearCache,
    YearPlan,
    load_year,
    plan_delete,
    plan_upsert,
    read_files,
    write_year,
)
from neo.data.validate import RawBars
from neo.domain.bar import OHLCV_COLUMNS, BarBatch, IntArray
from neo.domain.errors import ConfigError, DataConflictError, DataNotFoundError, StoreError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe
from neo.domain.timestamps import iso_ns, iso_or_none

if TYPE_CHECKING:
    from neo.settings import NeoSettings

__all__ = ["PARQUET_OPTIONS", "DatasetInfo", "ExportResult", "HistoricalDataStore", "WriteResult"]

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
_MISSING_TEXTS = ("No such file or directory", "No files found")  # DuckDB's IO errors
_READ_ATTEMPTS = 8  # generations a reader may see replaced under it before giving up
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What an upsert did: rows new to the store, rows whose values changed, rows unchanged.

    ``replaced`` counts bars of other sources overwritten (only with ``replace=True``);
    ``other_sources`` names the sources that had already stored bars in the series when this
    write added bars to it (appending to another source's series is allowed, and said).
    """

    instrument: InstrumentId
    timeframe: Timeframe
    rows: int
    inserted: int
    updated: int
    unchanged: int
    files_written: int
    replaced: int = 0
    other_sources: tuple[str, ...] = ()

    @property
    def changed(self) -> int:
        return self.inserted + self.updated


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """One stored dataset; ``damaged`` names files that could not be read (left out of the
    counts), so a listing still shows every healthy dataset. ``sources`` are the rows stored
    now by each source; ``provenance`` the log of what changed the series."""

    venue: str
    symbol: str
    timeframe: str
    rows: int
    first_ts: int | None
    last_ts: int | None
    files: int
    bytes: int
    damaged: tuple[str, ...] = ()
    sources: Mapping[str, int] = field(default_factory=dict)
    provenance: tuple[Mapping[str, Any], ...] = ()

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


def _dir_stamp(directory: Path) -> tuple[int, int] | None:
    """The directory's change time and inode: any file created, renamed or removed in it
    (a killed writer's temporary or orphan file) changes it. Equal to what this store saw
    after its own last commit means nobody else left anything behind since, so the commit
    need not list the directory. A change within the file system's timestamp tick can go
    unseen: then a leftover waits for the next listing (a compaction, a delete, another
    process's write, a restart); leftovers are never read (the manifest names the files)
    and content-addressed names are rewritten when their digest differs."""
    try:
        stat = directory.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_ino


@lru_cache(maxsize=512)
def _year_start_ns(year: int) -> int:
    return int(np.datetime64(f"{year:04d}-01-01", "ns").astype(np.int64))


def _year_parts(batch: BarBatch) -> list[tuple[int, BarBatch]]:
    """``batch`` split by calendar year (it is sorted by ts)."""
    years = _years(batch.ts)
    bounds = np.flatnonzero(np.diff(years)) + 1
    starts, stops = np.concatenate(([0], bounds)), np.concatenate((bounds, [len(batch)]))
    return [
        (int(years[lo]), batch.slice(int(lo), int(hi)))
        for lo, hi in zip(starts, stops, strict=True)
    ]


@dataclass(slots=True)
class ConflictTally:
    """Bars a write would change, by the source that stored them, summed over chunks."""

    owners: Counter[str] = field(default_factory=Counter)
    first_ts: int | None = None

    def add(self, plans: list[YearPlan]) -> None:
        for plan in plans:
            self.owners.update(plan.conflicts)
            first = plan.first_conflict_ts
            if first is not None and (self.first_ts is None or first < self.first_ts):
                self.first_ts = first

    def error(
        self, instrument: InstrumentId, timeframe: Timeframe, source: str
    ) -> DataConflictError:
        named = ", ".join(f"{name} ({n} bars)" for name, n in self.owners.most_common())
        return DataConflictError(
            f"{instrument} {timeframe}: {source or 'this write'} would change "
            f"{sum(self.owners.values())} stored bars written by {named}, first at "
            f"{iso_ns(self.first_ts or 0)}; nothing was stored. Pass --replace to overwrite "
            "them (recorded in the series' provenance), or ingest into another --venue"
        )


def _conflict_error(batch: BarBatch, source: str, plans: list[YearPlan]) -> DataConflictError:
    tally = ConflictTally()
    tally.add(plans)
    return tally.error(batch.instrument, batch.timeframe, source)


def _retrying(read: Callable[[], T]) -> T:
    """Run ``read`` again while a writer replaces the generation under it (files vanish)."""
    for _ in range(_READ_ATTEMPTS - 1):
        try:
            return read()
        except MissingFile:
            continue
    try:
        return read()
    except MissingFile as exc:
        raise store_error_if_missing(exc) from exc


class HistoricalDataStore:
    """Bars of many instruments and timeframes on local disk.

    Parameters
    ----------
    root:
        Store directory (``settings.data_dir / "store"`` by default, see :meth:`from_settings`).
    cache_entries:
        Size of the in-process LRU of read ranges (0 disables it). Entries are keyed by the
        files' digests from the manifest, so a write by any process invalidates them.
    """

    def __init__(self, root: Path, *, cache_entries: int = 64) -> None:
        import duckdb

        self.root = Path(root)
        self.bars_root = self.root / "bars"
        self.quarantine = Quarantine(self.root / "quarantine")
        self._cache: LRUCache[BarBatch] = LRUCache(cache_entries)
        self._db = duckdb.connect(":memory:")
        self._lock = threading.Lock()
        self._years = YearCache()
        self._manifests = ManifestCache()
        self._clean: dict[Path, tuple[int, int] | None] = {}
        self.swept = self._sweep()

    @classmethod
    def from_settings(cls, settings: NeoSettings) -> HistoricalDataStore:
        return cls(settings.data_dir / "store", cache_entries=settings.data.store.cache_entries)

    def _sweep(self) -> int:
        """Remove temporary files of killed writers (of datasets no writer holds now)."""
        return sum(
            sweep_if_idle(directory)
            for root in (self.bars_root, self.quarantine.root)
            for _, _, directory in iter_dataset_dirs(root)
        )

    # -- writing -------------------------------------------------------------------------------
    def write(
        self,
        batch: BarBatch,
        *,
        source: str = "",
        provenance: Provenance | None = None,
        replace: bool = False,
    ) -> WriteResult:
        """Upsert validated bars: new timestamps are inserted, stored ones replaced if different.

        ``provenance`` (default: ``Provenance(source)``) says who writes; bars stored by
        another source are only changed with ``replace=True`` (else DataConflictError and
        nothing is written). Every change is logged in the series' provenance. Raises
        StoreError if ``batch`` is not sorted by strictly increasing ``ts``.
        """
        if len(batch) > 1 and not bool(np.all(np.diff(batch.ts) > 0)):
            raise StoreError(
                f"{batch.instrument} {batch.timeframe}: bars must be sorted with unique "
                "timestamps; run them through DataValidator before writing"
            )
        who = provenance if provenance is not None else Provenance(source)
        directory = dataset_dir(self.bars_root, batch.instrument, batch.timeframe)
        if not len(batch):
            return WriteResult(batch.instrument, batch.timeframe, 0, 0, 0, 0, 0)
        with dataset_lock(directory):
            stamp = _dir_stamp(directory)
            clean = stamp is not None and self._clean.get(directory) == stamp
            if not clean:
                remove_temp_files(directory)
            manifest = load_manifest(directory, self._manifests)
            plans = [
                self._plan(directory, manifest, year, part, who.source)
                for year, part in _year_parts(batch)
            ]
            conflicted = [p for p in plans if p.conflicts]
            if conflicted and not replace:
                raise _conflict_error(batch, who.source, conflicted)
            replaced = sum(sum(p.conflicts.values()) for p in conflicted)
            changed = [p for p in plans if p.merged is not None]
            if changed:
                self._commit(directory, manifest, changed, who, batch, replaced, conflicted, clean)
        inserted = sum(p.inserted for p in plans)
        updated = sum(p.updated for p in plans)
        others = tuple(s for s in manifest.source_names() if s != who.source) if inserted else ()
        return WriteResult(
            batch.instrument, batch.timeframe, len(batch), inserted, updated,
            len(batch) - inserted - updated, len(changed), replaced, others,
        )  # fmt: skip

    def close_before(
        self, instrument: InstrumentId, timeframe: Timeframe, ts: int, lookback_ns: int
    ) -> float | None:
        """The close of the last stored bar in ``[ts - lookback_ns, ts)``, or None: what
        validation compares a new batch's first bar with. Read from the year files (digest-
        checked, or as this process last wrote them), not through a query, as every append
        asks it."""
        directory = dataset_dir(self.bars_root, instrument, timeframe)
        return _retrying(lambda: self._close_before_once(directory, ts, lookback_ns))

    def _close_before_once(self, directory: Path, ts: int, lookback_ns: int) -> float | None:
        manifest = load_manifest(directory, self._manifests)
        # Files never overlap and are in time order: the newest one starting before ts holds
        # the answer (for an append, the last small segment, not the year).
        for entry in reversed(self._entries(manifest, ts - lookback_ns, ts)):
            if entry.first_ts is not None and entry.first_ts >= ts:
                continue
            year = load_year(directory, entry, self._years)
            stamps = year.columns["ts"]
            at = int(np.searchsorted(stamps, ts)) - 1  # last bar before ts
            if at >= 0:
                return float(year.columns["close"][at]) if stamps[at] >= ts - lookback_ns else None
        return None

    def has_other_sources(
        self, instrument: InstrumentId, timeframe: Timeframe | str, source: str
    ) -> bool:
        """Whether the series holds bars that a source other than ``source`` wrote (only then
        can a write by ``source`` conflict)."""
        directory = dataset_dir(self.bars_root, instrument, Timeframe.parse(timeframe))
        if not directory.is_dir():
            return False
        manifest = load_manifest(directory, self._manifests)
        return any(name != source for name in manifest.source_names())

    def count_conflicts(
        self, batch: BarBatch, provenance: Provenance, tally: ConflictTally
    ) -> None:
        """Add to ``tally`` the bars writing ``batch`` would change that another source stored,
        writing nothing: a long ingest checks every chunk before its first write, so a refusal
        never leaves part of a file stored."""
        directory = dataset_dir(self.bars_root, batch.instrument, batch.timeframe)
        if not len(batch) or not directory.is_dir():
            return
        manifest = load_manifest(directory, self._manifests)
        tally.add(
            [
                self._plan(directory, manifest, year, part, provenance.source)
                for year, part in _year_parts(batch)
            ]
        )

    def _plan(
        self, directory: Path, manifest: Manifest, year: int, part: BarBatch, source: str
    ) -> YearPlan:
        """Plan one year's upsert against the files its first bar reaches; bars after all of
        them (an append) become a new segment, or the year's base file when it has none or
        is small (see segments.py)."""
        kept, touched, split = split_touched(manifest.year_files(year), int(part.ts[0]))
        plan = plan_upsert(directory, touched, year, part, source, self._years)
        plan.touched, plan.segment = touched, bool(kept)
        plan.split_at = int(part.ts[0]) if split else None
        return plan

    def _commit(
        self,
        directory: Path,
        manifest: Manifest,
        changed: list[YearPlan],
        who: Provenance,
        batch: BarBatch,
        replaced: int,
        conflicted: list[YearPlan],
        clean: bool = False,
    ) -> None:
        """New files first, then the manifest swap (one rename), then the old files go.

        ``clean``: nobody but this store touched the directory since its last commit (see
        :func:`_dir_stamp`), so only the files this commit dropped are removed, without
        listing the directory: an append then costs no directory scan."""
        entries = {e.name: e for e in manifest.files}
        for plan in changed:
            for old in plan.touched:
                entries.pop(old.name, None)
            for segment, data in plan.outputs():
                new = write_year(directory, plan.year, data, self._years, segment=segment)
                entries[new.name] = new
        for year in sorted({plan.year for plan in changed}):
            self._compact_year(directory, entries, year, force=False)
        owners: Counter[str] = Counter()
        for plan in conflicted:
            owners.update(plan.conflicts)
        event = who.event(
            "replace" if replaced else who.action,
            rows=len(batch),
            inserted=sum(p.inserted for p in changed),
            updated=sum(p.updated for p in changed),
            first=iso_or_none(int(batch.ts[0])),
            last=iso_or_none(int(batch.ts[-1])),
            **({"replaced": replaced, "replaced_sources": dict(owners)} if replaced else {}),
        )
        current = manifest.next(entries.values(), event)
        if not manifest.files:  # a new series: its directories' names made durable too
            self._sync_parents(directory)
        save_manifest(directory, current, self._manifests)
        kept = {e.name for e in current.files}
        if clean:
            for name in {e.name for e in manifest.files} - kept:
                (directory / name).unlink(missing_ok=True)
        else:
            remove_unreferenced(directory, current)
        self._clean[directory] = _dir_stamp(directory)

    def _sync_parents(self, directory: Path) -> None:
        """fsync the directories from ``bars/`` down to ``directory``'s parent, so the names
        of a series' newly made directories survive a power cut (once per new series)."""
        chain = [d for d in directory.parents if d == self.bars_root or self.bars_root in d.parents]
        for parent in chain:
            fsync_directory(parent)

    def _compact_year(
        self, directory: Path, entries: dict[str, FileEntry], year: int, *, force: bool
    ) -> int:
        """Fold ``year``'s segments in ``entries`` (by name, updated in place) when it holds
        too many (or any, with ``force``); the number of files folded (see segments.py)."""
        files = sorted((e for e in entries.values() if e.year == year), key=time_order)
        fold = compaction(files, force=force)
        if not fold:
            return 0
        data = read_files(directory, fold, self._years)
        new = write_year(directory, year, data, self._years, segment=fold[0].segment)
        for old in fold:
            entries.pop(old.name)
        entries[new.name] = new
        return len(fold)

    def compact(
        self,
        instrument: InstrumentId | None = None,
        timeframe: Timeframe | str | None = None,
        *,
        venue: str | None = None,
    ) -> dict[str, int]:
        """Fold every year's segments into its base file (all series, or those of the
        instrument, timeframe or venue given): fewer files to open per read; bars, sources and
        provenance unchanged. Appends compact by themselves now and then, so this is never
        needed for correctness. Returns the ``series`` compacted and the ``files`` folded."""
        tf = None if timeframe is None else Timeframe.parse(timeframe)
        done = {"series": 0, "files": 0}
        for iid, frame, directory in iter_dataset_dirs(self.bars_root):
            if (
                (instrument is not None and iid != instrument)
                or (venue is not None and iid.venue != venue)
                or (tf is not None and frame != tf)
            ):
                continue
            with dataset_lock(directory):
                remove_temp_files(directory)
                manifest = load_manifest(directory, self._manifests)
                entries = {e.name: e for e in manifest.files}
                folded = sum(
                    self._compact_year(directory, entries, year, force=True)
                    for year in sorted({e.year for e in manifest.files if e.segment})
                )
                if folded:
                    current = manifest.next(entries.values(), None)
                    save_manifest(directory, current, self._manifests)
                    remove_unreferenced(directory, current)
                    done["series"] += 1
                    done["files"] += folded
        return done

    def delete(
        self,
        instrument: InstrumentId,
        timeframe: Timeframe | str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        *,
        dry_run: bool = False,
        by: str = "neo data delete",
    ) -> int:
        """Remove the bars with ``start_ns <= ts < end_ns`` (the whole series by default);
        the number of bars removed (or that would be, with ``dry_run``). Logged in the
        series' provenance. Raises DataNotFoundError when nothing is stored."""
        tf = Timeframe.parse(timeframe)
        lo = int(_INT64.min if start_ns is None else start_ns)
        hi = int(_INT64.max if end_ns is None else end_ns)
        directory = dataset_dir(self.bars_root, instrument, tf)
        with dataset_lock(directory):
            remove_temp_files(directory)
            manifest = self._manifest(instrument, tf)
            entries = {e.name: e for e in manifest.files}
            removed = 0
            for year in sorted({e.year for e in self._entries(manifest, start_ns, end_ns)}):
                files = manifest.year_files(year)
                kept, n = plan_delete(directory, files, lo, hi)
                removed += n
                if n and not dry_run:
                    for old in files:
                        entries.pop(old.name)
                    if len(kept.codes):
                        new = write_year(directory, year, kept)
                        entries[new.name] = new
            if removed and not dry_run:
                event = Provenance(by).event(
                    "delete", rows=removed, start=iso_or_none(start_ns), end=iso_or_none(end_ns)
                )
                current = manifest.next(entries.values(), event)
                save_manifest(directory, current, self._manifests)
                remove_unreferenced(directory, current)
        return removed

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
    def _manifest(self, instrument: InstrumentId, timeframe: Timeframe) -> Manifest:
        """The dataset's current manifest; DataNotFoundError when it holds no bars."""
        manifest = load_manifest(
            dataset_dir(self.bars_root, instrument, timeframe), self._manifests
        )
        if not manifest.files:
            known = [(i, t) for i, t, _ in iter_dataset_dirs(self.bars_root)]
            hint = closest_series(instrument, timeframe, known)
            raise DataNotFoundError(
                f"no {timeframe} bars stored for {instrument} ({hint}); "
                "ingest some with `neo ingest FILE` or `neo data ingest-samples`"
            )
        return manifest

    @staticmethod
    def _entries(manifest: Manifest, start_ns: int | None, end_ns: int | None) -> list[FileEntry]:
        """The manifest's files (year files and segments, in time order) that can hold bars
        in ``[start_ns, end_ns)``."""
        return [
            e
            for e in manifest.files
            if covers(e, start_ns, end_ns, (_year_start_ns(e.year), _year_start_ns(e.year + 1)))
        ]

    def _files(
        self,
        instrument: InstrumentId,
        timeframe: Timeframe,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> tuple[list[Path], tuple[str, ...]]:
        """The digest-checked files of one generation covering the range, and their digests
        (the cache key). Raises MissingFile when a writer replaced the generation meanwhile."""
        directory = dataset_dir(self.bars_root, instrument, timeframe)
        entries = self._entries(self._manifest(instrument, timeframe), start_ns, end_ns)
        return [verified_path(directory, e) for e in entries], tuple(e.sha256 for e in entries)

    def provenance(self, instrument: InstrumentId, timeframe: Timeframe | str) -> dict[str, Any]:
        """The series' sources (rows stored now by each) and its provenance log."""
        manifest = self._manifest(instrument, Timeframe.parse(timeframe))
        return {"sources": manifest.sources(), "events": [dict(e) for e in manifest.provenance]}

    def _query(
        self, sql: str, params: dict[str, Any], files: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """Run one query; a failure names the damaged file among ``files`` (default:
        ``params["files"]``) in a one-line StoreError, or raises MissingFile when a file was
        removed by a writer meanwhile."""
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

        Raises DataNotFoundError when nothing at all is stored for the instrument/timeframe,
        and StoreError naming the file when a stored file is damaged.
        """
        tf = Timeframe.parse(timeframe)
        return _retrying(lambda: self._read_once(instrument, tf, start_ns, end_ns))

    def _read_once(
        self, instrument: InstrumentId, tf: Timeframe, start_ns: int | None, end_ns: int | None
    ) -> BarBatch:
        directory = dataset_dir(self.bars_root, instrument, tf)
        entries = self._entries(self._manifest(instrument, tf), start_ns, end_ns)
        key = (instrument, tf, start_ns, end_ns, tuple(e.sha256 for e in entries))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if not entries:
            return BarBatch.empty(instrument, tf)
        files = [verified_path(directory, e) for e in entries]
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
        return _retrying(lambda: self._read_many_once(instruments, tf, start_ns, end_ns))

    def _read_many_once(
        self,
        instruments: Sequence[InstrumentId],
        tf: Timeframe,
        start_ns: int | None,
        end_ns: int | None,
    ) -> dict[InstrumentId, BarBatch]:
        out: dict[InstrumentId, BarBatch] = {}
        pending: list[tuple[InstrumentId, list[Path], tuple[Any, ...]]] = []
        for iid in dict.fromkeys(instruments):
            directory = dataset_dir(self.bars_root, iid, tf)
            entries = self._entries(self._manifest(iid, tf), start_ns, end_ns)
            key = (iid, tf, start_ns, end_ns, tuple(e.sha256 for e in entries))
            cached = self._cache.get(key)
            if cached is not None:
                out[iid] = cached
            elif not entries:
                out[iid] = BarBatch.empty(iid, tf)
            else:
                pending.append((iid, [verified_path(directory, e) for e in entries], key))
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

        def once() -> BarBatch:
            files, _ = self._files(instrument, source, start, end_ns)
            if not files:
                return BarBatch.empty(instrument, target)
            params = self._params(files, start, end_ns)
            params.update(origin=target.origin_ns, step=target.nanos)
            return BarBatch.from_arrays(instrument, target, **self._query(_RESAMPLE, params))

        return _retrying(once)

    def datasets(self) -> list[DatasetInfo]:
        """Every stored dataset with its row count, time span and provenance (from the
        manifests), each file's digest checked.

        A damaged file does not hide the rest: it is left out of its dataset's counts and
        named in :attr:`DatasetInfo.damaged`.
        """
        infos = []
        for iid, tf, directory in iter_dataset_dirs(self.bars_root):
            info = _retrying(partial(_dataset_info, iid, tf, directory))
            if info.files or info.damaged:
                infos.append(info)
        return infos

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
        return _retrying(lambda: self._export_once(instrument, tf, target, kind, start_ns, end_ns))

    def _export_once(
        self,
        instrument: InstrumentId,
        tf: Timeframe,
        target: Path,
        kind: str,
        start_ns: int | None,
        end_ns: int | None,
    ) -> ExportResult:
        files, _ = self._files(instrument, tf, start_ns, end_ns)
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


def _dataset_info(iid: InstrumentId, tf: Timeframe, directory: Path) -> DatasetInfo:
    """One dataset's listing: counts from the manifest, every file's digest checked."""
    try:
        manifest = load_manifest(directory)
    except StoreError as exc:
        bad = f"{directory / MANIFEST}: {exc}"
        return DatasetInfo(iid.venue, iid.symbol, str(tf), 0, None, None, 0, 0, (bad,))
    healthy: list[FileEntry] = []
    damaged: list[str] = []
    for entry in manifest.files:
        problem = digest_problem(directory, entry)
        if problem is None:
            healthy.append(entry)
        else:
            damaged.append(f"{directory / entry.name}: {problem}")
    firsts = [e.first_ts for e in healthy if e.first_ts is not None]
    lasts = [e.last_ts for e in healthy if e.last_ts is not None]
    return DatasetInfo(
        iid.venue, iid.symbol, str(tf), sum(e.rows for e in healthy),
        min(firsts) if firsts else None, max(lasts) if lasts else None, len(healthy),
        sum(e.bytes for e in healthy), tuple(damaged), manifest.sources(),
        tuple(dict(e) for e in manifest.provenance),
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


def _query_error(files: list[str], exc: Exception) -> Exception:
    """One line naming the damaged file when one is to blame, else DuckDB's first line; a
    file that vanished (a writer replaced the generation) is MissingFile, to read again."""
    gone = [f for f in files if not Path(f).exists()]
    if gone:
        return MissingFile(gone[0])
    if any(text in str(exc) for text in _MISSING_TEXTS):  # gone, then written again meanwhile
        return MissingFile(one_line(exc))
    found = first_damaged(Path(f) for f in files)
    return found if found is not None else StoreError(f"store query failed: {one_line(exc)}")
