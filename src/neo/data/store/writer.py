"""Writing one file of a dataset's year: merge (upsert by timestamp), conflict check, delete.

A data file holds the OHLCV columns plus ``src``, the source of each bar (dictionary-encoded,
so it costs a few bytes per file). Files are content-addressed (``<year>-<sha256[:16]>.parquet``
for a year's base file, ``….seg.parquet`` for a segment, see segments.py) and never
overwritten; :mod:`neo.data.store.manifest` decides which ones make up the series. An upsert
merges its bars with the files of the year it reaches (folded into one :class:`YearFile`) and
writes the result as one new file.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from neo.data.store.atomic import write_atomic
from neo.data.store.damaged import damaged_file_error, one_line
from neo.data.store.manifest import (
    LEGACY_SOURCE,
    FileEntry,
    MissingFile,
    digest_problem,
    file_sha256,
    verified_bytes,
)
from neo.domain.bar import OHLCV_COLUMNS, BarBatch

VALUE_COLUMNS = OHLCV_COLUMNS[1:]
# Dictionary encoding is wasted work on float prices; delta encoding shrinks regular timestamps.
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "use_dictionary": ["src"],
    "column_encoding": {"ts": "DELTA_BINARY_PACKED"},
}
SEGMENT_OPTIONS: dict[str, Any] = {**PARQUET_OPTIONS, "compression": "snappy"}
"""A segment is small and short-lived (compaction re-encodes it with zstd): a cheap codec."""
Codes = npt.NDArray[np.int32]


@dataclass(slots=True)
class YearFile:
    """The columns of one year file in memory; ``codes`` index ``labels`` (each bar's source)."""

    columns: dict[str, Any]
    codes: Codes
    labels: list[str]

    def code_of(self, label: str) -> int:
        return _code(self.labels, label)

    def rows(self, which: slice) -> YearFile:
        return YearFile({n: c[which] for n, c in self.columns.items()}, self.codes[which],
                        list(self.labels))  # fmt: skip

    @classmethod
    def concat(cls, parts: list[YearFile]) -> YearFile:
        """Files of one year in time order as one (their sources' labels merged)."""
        if len(parts) == 1:
            return parts[0]
        labels: list[str] = []
        codes = []
        for part in parts:
            remap = np.array([_code(labels, label) for label in part.labels], np.int32)
            codes.append(remap[part.codes])
        columns = {n: np.concatenate([p.columns[n] for p in parts]) for n in OHLCV_COLUMNS}
        return cls(columns, np.concatenate(codes).astype(np.int32), labels)


def _code(labels: list[str], label: str) -> int:
    if label not in labels:
        labels.append(label)
    return labels.index(label)


@dataclass(slots=True)
class YearPlan:
    """What an upsert does to one year: the merged file (None when nothing changes), counts,
    and the bars of other sources it would change (``conflicts`` by source). ``touched`` are
    the year's files the merged one replaces; it is written as a segment when ``segment``,
    else as the year's base file, split at ``split_at`` when set (see :meth:`outputs`)."""

    year: int
    merged: YearFile | None
    inserted: int = 0
    updated: int = 0
    conflicts: Counter[str] = field(default_factory=Counter)
    first_conflict_ts: int | None = None
    touched: tuple[FileEntry, ...] = ()
    segment: bool = False
    split_at: int | None = None

    def outputs(self) -> list[tuple[bool, YearFile]]:
        """The files to write, as ``(segment, data)``: the merged file; or, when an update
        reached into the year's base file (rewriting it, O(year)), the base up to the update's
        first bar and a segment from there, so the next update of those recent bars (a feed
        correcting its last bar, overlapping pages) rewrites the segment, not the year again."""
        if self.merged is None:
            return []
        if self.segment or self.split_at is None:
            return [(self.segment, self.merged)]
        cut = int(np.searchsorted(self.merged.columns["ts"], self.split_at))
        if cut == 0 or cut == len(self.merged.codes):
            return [(False, self.merged)]
        return [
            (False, self.merged.rows(slice(0, cut))),
            (True, self.merged.rows(slice(cut, None))),
        ]


class YearCache:
    """Data files this process wrote or read lately, by sha256, so the previous close of an
    append (the last segment written) or an update merging recent files does not decode again
    what this process just wrote (the bytes a digest names never change: file names are
    content addresses; the file's digest is still checked on a hit).
    Bounded by total rows; arrays are read-only, and each hit hands out its own ``labels``
    list (``code_of`` appends to it)."""

    def __init__(self, max_rows: int = 2_000_000) -> None:
        self.max_rows = max_rows
        self._items: OrderedDict[str, YearFile] = OrderedDict()
        self._rows = 0
        self._lock = threading.Lock()

    def get(self, sha256: str) -> YearFile | None:
        with self._lock:
            found = self._items.get(sha256)
            if found is None:
                return None
            self._items.move_to_end(sha256)
        return YearFile(found.columns, found.codes, list(found.labels))

    def put(self, sha256: str, data: YearFile) -> None:
        rows = len(data.codes)
        if rows > self.max_rows:
            return
        for array in (*data.columns.values(), data.codes):
            array.flags.writeable = False
        with self._lock:
            if sha256 in self._items:
                self._items.move_to_end(sha256)
                return
            self._items[sha256] = YearFile(data.columns, data.codes, list(data.labels))
            self._rows += rows
            while self._rows > self.max_rows:
                _, old = self._items.popitem(last=False)
                self._rows -= len(old.codes)


def read_year(directory: Path, entry: FileEntry, cache: YearCache | None = None) -> YearFile:
    """A stored year file, digest-checked (or as this process last wrote or read the bytes
    of that digest, from ``cache``); StoreError naming it if damaged or missing."""
    try:
        return load_year(directory, entry, cache)
    except MissingFile as exc:
        path = directory / entry.name
        raise damaged_file_error(path, "missing, though the manifest names it") from exc


def load_year(directory: Path, entry: FileEntry, cache: YearCache | None = None) -> YearFile:
    """:func:`read_year` for a reader without the dataset's lock: raises MissingFile when a
    writer replaced the generation meanwhile (read the manifest again)."""
    if cache is not None and (hit := cache.get(entry.sha256)) is not None:
        problem = digest_problem(directory, entry)  # the file on disk is still checked
        if problem is not None:
            raise damaged_file_error(directory / entry.name, problem)
        return hit
    found = _read_year(directory, entry)
    if cache is not None:
        cache.put(entry.sha256, found)
    return found


def _read_year(directory: Path, entry: FileEntry) -> YearFile:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = directory / entry.name
    data = verified_bytes(directory, entry)
    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for damaged files
        raise damaged_file_error(path, one_line(exc)) from exc
    columns = {name: table.column(name).to_numpy() for name in OHLCV_COLUMNS}
    if "src" not in table.column_names:
        return YearFile(columns, np.zeros(table.num_rows, np.int32), [LEGACY_SOURCE])
    src = table.column("src")
    if not pa.types.is_dictionary(src.type):
        src = src.dictionary_encode()
    combined = src.unify_dictionaries().combine_chunks()
    codes = combined.indices.to_numpy(zero_copy_only=False).astype(np.int32)
    return YearFile(columns, codes, [str(x) for x in combined.dictionary.to_pylist()])


def read_files(
    directory: Path, entries: Sequence[FileEntry], cache: YearCache | None = None
) -> YearFile:
    """Files of one year (in time order, never overlapping) folded into one, digest-checked."""
    return YearFile.concat([read_year(directory, entry, cache) for entry in entries])


def plan_upsert(directory: Path, touched: Sequence[FileEntry], year: int, part: BarBatch,
                source: str, cache: YearCache | None = None) -> YearPlan:  # fmt: skip
    """Merge ``part`` (one year of validated bars) into the stored files it reaches
    (``touched``: a time-ordered suffix of the year's files; none for an append)."""
    columns = {name: np.asarray(getattr(part, name)) for name in OHLCV_COLUMNS}
    if not touched:
        fresh = YearFile(columns, np.zeros(len(part), np.int32), [source])
        return YearPlan(year, fresh, inserted=len(part))
    old = read_files(directory, touched, cache)
    pos = np.searchsorted(old.columns["ts"], part.ts)
    inside = pos < len(old.codes)
    match = np.zeros(len(part), dtype=np.bool_)
    match[inside] = old.columns["ts"][pos[inside]] == part.ts[inside]
    differs = np.zeros(len(part), dtype=np.bool_)
    for name in VALUE_COLUMNS:
        differs[match] |= old.columns[name][pos[match]] != columns[name][match]
    plan = YearPlan(year, None, int(np.count_nonzero(~match)), int(np.count_nonzero(differs)))
    code = old.code_of(source)
    foreign = differs.copy()
    foreign[differs] = old.codes[pos[differs]] != code
    if foreign.any():
        plan.conflicts = Counter(old.labels[c] for c in old.codes[pos[foreign]])
        plan.first_conflict_ts = int(part.ts[np.argmax(foreign)])
    if plan.inserted == 0 and plan.updated == 0:
        return plan
    keep = np.ones(len(old.codes), dtype=np.bool_)
    keep[pos[match]] = False
    order = np.argsort(np.concatenate((old.columns["ts"][keep], part.ts)), kind="stable")
    merged = {
        name: np.concatenate((old.columns[name][keep], columns[name]))[order]
        for name in OHLCV_COLUMNS
    }
    incoming = np.full(len(part), code, np.int32)
    same = match & ~differs  # identical bars keep the source that stored them first
    incoming[same] = old.codes[pos[same]]
    codes = np.concatenate((old.codes[keep], incoming))[order]
    plan.merged = YearFile(merged, codes, old.labels)
    return plan


def plan_delete(directory: Path, entries: Sequence[FileEntry], start_ns: int, end_ns: int
                ) -> tuple[YearFile, int]:  # fmt: skip
    """The year's files folded, without bars in ``[start_ns, end_ns)``; the number removed."""
    old = read_files(directory, entries)
    ts = old.columns["ts"]
    drop = (ts >= start_ns) & (ts < end_ns)
    keep = ~drop
    kept = YearFile({n: c[keep] for n, c in old.columns.items()}, old.codes[keep], old.labels)
    return kept, int(np.count_nonzero(drop))


def write_year(
    directory: Path,
    year: int,
    data: YearFile,
    cache: YearCache | None = None,
    *,
    segment: bool = False,
) -> FileEntry:
    """Write a year's base file (or a ``segment`` of it) under its content-addressed name;
    the manifest entry describing it (the written columns go into ``cache`` under the file's
    digest)."""
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    used = np.unique(data.codes)  # drop labels no bar refers to any more
    remap = np.full(len(data.labels), -1, np.int32)
    remap[used] = np.arange(len(used), dtype=np.int32)
    labels = [data.labels[i] for i in used]
    codes = remap[data.codes]
    arrays = {name: pa.array(data.columns[name]) for name in OHLCV_COLUMNS}
    arrays["src"] = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(labels, pa.string()))
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(arrays), sink, **(SEGMENT_OPTIONS if segment else PARQUET_OPTIONS))
    payload = sink.getvalue().to_pybytes()
    digest = hashlib.sha256(payload).hexdigest()
    name = f"{year}-{digest[:16]}{'.seg' if segment else ''}.parquet"
    target = directory / name
    if not target.exists() or file_sha256(target) != digest:  # new, or a damaged copy
        write_atomic(target, payload)  # named in the directory durably by the manifest swap
    ts = data.columns["ts"]
    counts = np.bincount(codes, minlength=len(labels))
    if cache is not None:
        cache.put(digest, YearFile(data.columns, codes.astype(np.int32), labels))
    return FileEntry(
        name, year, digest, len(ts), int(ts[0]) if len(ts) else None,
        int(ts[-1]) if len(ts) else None, len(payload),
        {label: int(n) for label, n in sorted(zip(labels, counts, strict=True))}, segment,
    )  # fmt: skip
