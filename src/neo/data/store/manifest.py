"""A dataset's manifest: the one file saying which data files make up the series, with digests.

``bars/<venue>/<symbol>/<timeframe>/manifest.json``::

    {"format": 2, "generation": 7,
     "files": [{"name": "2023-<sha256[:16]>.parquet", "year": 2023, "sha256": "…", "rows": …,
                "first_ts": …, "last_ts": …, "bytes": …, "sources": {"<source>": rows}},
               {"name": "2023-<sha256[:16]>.seg.parquet", "kind": "segment", …}],
     "provenance": [{"action": "ingest", "source": "…", "time": "…", …}],
     "checksum": "<sha256 of everything above>"}

A year is its base file plus, after it, any number of *segments*: small files of bars that
came strictly after everything the year held when they were written (appends), so files never
overlap and an append writes its own bars, not the whole year again (see segments.py). Format
1 (no segments, no ``kind``) is still read, and still written while a series has no segment, so
an older NEO reads such a store; a format newer than this code knows is refused.

Versions switch atomically: a writer first writes the new data files (content-addressed names,
so a name always means the same bytes and no file is ever overwritten), then replaces the
manifest with one rename, then removes the files the new manifest no longer names. A reader
reads the manifest once and so sees one generation; a file removed under it is missing (never
different), and the read starts again from the newer manifest.

Integrity: every data file's sha256 is checked before its rows are used, so one flipped bit
fails with a message naming the file instead of returning prices like 4.7e180; the manifest
checks itself with its own checksum.

A store keeps the manifests it last read or wrote with their exact bytes (:class:`ManifestCache`):
a file holding those bytes is not parsed again, anything else is parsed and checked.

Stores written before manifests existed (``<year>.parquet`` files, no manifest) are read as a
generation-0 manifest built from the files as they are (their source unknown); the next write
records it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from neo.data.store.atomic import write_atomic
from neo.data.store.damaged import damaged_file_error, one_line
from neo.domain.errors import StoreError

MANIFEST = "manifest.json"
FORMAT = 2
"""The newest manifest format this code reads and writes (1: no segments)."""
LEGACY_SOURCE = "unknown (stored before provenance was recorded)"
_CHUNK = 1 << 20
_DIFFERS = "sha256 differs from the manifest: the file changed after it was written"


class MissingFile(Exception):  # noqa: N818 - an internal signal; never leaves the store
    """A file the manifest names is gone: a writer replaced the generation; read again."""


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One data file of a generation: a calendar year's base file, or one of its segments."""

    name: str
    year: int
    sha256: str
    rows: int
    first_ts: int | None
    last_ts: int | None
    bytes: int
    sources: Mapping[str, int] = field(default_factory=dict)
    segment: bool = False

    def to_dict(self) -> dict[str, Any]:
        body = {
            "name": self.name, "year": self.year, "sha256": self.sha256, "rows": self.rows,
            "first_ts": self.first_ts, "last_ts": self.last_ts, "bytes": self.bytes,
            "sources": dict(self.sources),
        }  # fmt: skip
        if self.segment:
            body["kind"] = "segment"
        return body

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileEntry:
        kind = data.get("kind", "base")
        if kind not in ("base", "segment"):
            raise ValueError(f"unknown file kind {kind!r}")
        return cls(
            str(data["name"]), int(data["year"]), str(data["sha256"]), int(data["rows"]),
            _opt_int(data.get("first_ts")), _opt_int(data.get("last_ts")), int(data["bytes"]),
            {str(k): int(v) for k, v in dict(data.get("sources", {})).items()},
            kind == "segment",
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Manifest:
    """One generation of a dataset: its files (by year) and its provenance log."""

    generation: int = 0
    files: tuple[FileEntry, ...] = ()
    provenance: tuple[Mapping[str, Any], ...] = ()

    def entry(self, year: int) -> FileEntry | None:
        """The base file of ``year`` (None when the year holds no bars)."""
        return next((f for f in self.files if f.year == year and not f.segment), None)

    def year_files(self, year: int) -> tuple[FileEntry, ...]:
        """``year``'s files in time order: its base file, then its segments."""
        return tuple(f for f in self.files if f.year == year)

    @property
    def segments(self) -> int:
        return sum(1 for f in self.files if f.segment)

    def sources(self) -> dict[str, int]:
        """Rows stored now by each source (from the per-file counts)."""
        total: Counter[str] = Counter()
        for entry in self.files:
            total.update(entry.sources)
        return {name: rows for name, rows in sorted(total.items()) if rows}

    def source_names(self) -> tuple[str, ...]:
        """The sources of the rows stored now, sorted: :meth:`sources`' keys without summing
        the counts (what every append asks, to say which other sources share the series)."""
        return tuple(sorted({name for f in self.files for name, rows in f.sources.items() if rows}))

    def next(self, files: Iterable[FileEntry], event: Mapping[str, Any] | None) -> Manifest:
        """The following generation with ``files`` (in time order) and ``event`` logged (None:
        the bars did not change, e.g. a compaction, so nothing is logged)."""
        ordered = tuple(sorted((f for f in files if f.rows), key=time_order))
        log = self.provenance
        if event is None:
            pass
        elif log and _same_writer(log[-1], event):
            log = (*log[:-1], _as_stored(_merged_event(log[-1], event)))  # one entry per run
        else:
            log = (*log, _as_stored(event))
        return replace(self, generation=self.generation + 1, files=ordered, provenance=log)

    def to_json(self) -> str:
        body = {
            "format": FORMAT if self.segments else 1,  # an older NEO reads a store without any
            "generation": self.generation,
            "files": [f.to_dict() for f in self.files],
            "provenance": [dict(e) for e in self.provenance],
        }
        # One encoding serves the checksum and the file: the canonical text of the body, with
        # the checksum put first (its key sorts before every other), is the file's text.
        canonical = _canonical(body)
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        return f'{{"checksum":"{digest}",{canonical[1:]}'


_SUMMED = ("rows", "inserted", "updated", "replaced")


_WRITER_FIELDS = ("action", "source", "file", "sha256", "sample", "exchange", "run")


def time_order(entry: FileEntry) -> tuple[int, bool, int]:
    """Sort key of a series' files in time order: by year, the base file before segments."""
    return entry.year, entry.segment, entry.first_ts if entry.first_ts is not None else 0


def _same_writer(last: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether ``event`` continues the log's last entry: the chunks of one ingest run, or
    consecutive appends of one writer (a feed or an API client posting batch after batch), so
    the log grows by what changed a series, not by one entry per batch."""
    if event.get("run"):
        return bool(last.get("run") == event["run"] and last.get("action") == event["action"])
    return event.get("action") == "ingest" and all(
        last.get(k) == event.get(k) for k in _WRITER_FIELDS
    )


def _merged_event(last: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
    """The log entry of a chunked write so far: counts summed, the span widened."""
    merged = {**last, **event}
    for key in _SUMMED:
        if key in last or key in event:
            merged[key] = int(last.get(key, 0)) + int(event.get(key, 0))
    spans = [e[k] for e in (last, event) for k in ("first", "last") if e.get(k)]
    if spans:
        merged["first"], merged["last"] = min(spans), max(spans)
    owners = Counter(last.get("replaced_sources") or {})
    owners.update(event.get("replaced_sources") or {})
    if owners:
        merged["replaced_sources"] = dict(owners)
    return merged


def _as_stored(event: Mapping[str, Any]) -> dict[str, Any]:
    """``event`` as reading the manifest back gives it (JSON types, sorted keys), so a
    manifest kept in memory after a write equals the one parsed from its file."""
    loaded: dict[str, Any] = json.loads(json.dumps(event, sort_keys=True))
    return loaded


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _canonical(body: Mapping[str, Any]) -> str:
    """The text the checksum covers: sorted keys, no spaces (the C encoder, no indent)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def _checksum(body: Mapping[str, Any]) -> str:
    canonical = _canonical({k: v for k, v in body.items() if k != "checksum"})
    return hashlib.sha256(canonical.encode()).hexdigest()


class ManifestCache:
    """Manifests this process read or wrote, by directory, with the exact bytes they were
    parsed from (or written as). A file holding the same bytes is the same manifest, so its
    JSON parse and checksum (~0.5 ms for a year with 30 segments, two or three times per
    append) are skipped; other bytes are parsed and checked as always. Bounded; thread-safe."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._items: OrderedDict[Path, tuple[bytes, Manifest]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, directory: Path, data: bytes) -> Manifest | None:
        with self._lock:
            found = self._items.get(directory)
            if found is None or found[0] != data:
                return None
            self._items.move_to_end(directory)
            return found[1]

    def put(self, directory: Path, data: bytes, manifest: Manifest) -> None:
        with self._lock:
            self._items[directory] = (data, manifest)
            self._items.move_to_end(directory)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


def load_manifest(directory: Path, cache: ManifestCache | None = None) -> Manifest:
    """The dataset's current manifest (empty if nothing is stored); StoreError if damaged."""
    path = directory / MANIFEST
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return legacy_manifest(directory)
    except OSError as exc:
        raise damaged_file_error(path, one_line(exc)) from exc
    if cache is not None and (hit := cache.get(directory, data)) is not None:
        return hit
    manifest = _parse(path, data)
    if cache is not None:
        cache.put(directory, data, manifest)
    return manifest


def _parse(path: Path, data: bytes) -> Manifest:
    try:
        body = json.loads(data)
        if body.get("checksum") != _checksum(body):
            raise ValueError("checksum mismatch: the file changed after it was written")
        if int(body.get("format", 1)) > FORMAT:
            raise StoreError(
                f"{path} has manifest format {body['format']}, newer than this NEO reads "
                f"({FORMAT}); upgrade NEO to read this store"
            )
        return Manifest(
            int(body["generation"]),
            tuple(FileEntry.from_dict(f) for f in body["files"]),
            tuple(dict(e) for e in body.get("provenance", [])),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise damaged_file_error(path, one_line(exc)) from exc


def save_manifest(directory: Path, manifest: Manifest, cache: ManifestCache | None = None) -> None:
    """Replace the manifest atomically and durably (call it under the dataset's lock): when
    this returns, the manifest, the data files it names (each fsynced when written) and
    their names in the directory survive a crash or power cut."""
    data = manifest.to_json().encode("utf-8")
    write_atomic(directory / MANIFEST, data, sync_directory=True)
    if cache is not None:
        cache.put(directory, data, manifest)


def legacy_manifest(directory: Path) -> Manifest:
    """Generation 0 from ``<year>.parquet`` files written before manifests (if any)."""
    legacy = sorted(p for p in directory.glob("*.parquet") if p.stem.isdigit())
    if not legacy:  # a new series (its first append): no import under many threads' lock
        return Manifest()
    import pyarrow.parquet as pq

    files = []
    for path in legacy:
        try:
            meta = pq.ParquetFile(path).metadata
        except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for damaged files
            raise damaged_file_error(path, one_line(exc)) from exc
        first = last = None
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(0).statistics
            if stats is not None and stats.has_min_max:
                first = int(stats.min) if first is None else min(first, int(stats.min))
                last = int(stats.max) if last is None else max(last, int(stats.max))
        files.append(
            FileEntry(
                path.name, int(path.stem), file_sha256(path), meta.num_rows, first, last,
                path.stat().st_size, {LEGACY_SOURCE: meta.num_rows},
            )
        )  # fmt: skip
    return Manifest(0, tuple(files), ())


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def digest_problem(directory: Path, entry: FileEntry) -> str | None:
    """Why ``entry``'s file does not match the manifest, or None when it does.

    Raises MissingFile when the file is gone (a newer generation replaced it).
    """
    path = directory / entry.name
    try:
        actual = file_sha256(path)
    except FileNotFoundError as exc:
        raise MissingFile(str(path)) from exc
    except OSError as exc:
        return one_line(exc)
    if actual != entry.sha256:
        return _DIFFERS
    return None


def verified_path(directory: Path, entry: FileEntry) -> Path:
    """``entry``'s path once its bytes match the manifest's digest.

    Raises MissingFile when the file is gone (a newer generation replaced it) and StoreError
    naming the file when its bytes differ (damaged on disk).
    """
    problem = digest_problem(directory, entry)
    if problem is not None:
        raise damaged_file_error(directory / entry.name, problem)
    return directory / entry.name


def verified_bytes(directory: Path, entry: FileEntry) -> bytes:
    """``entry``'s bytes, checked against the manifest (one read, no window for a change)."""
    path = directory / entry.name
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise MissingFile(str(path)) from exc
    except OSError as exc:
        raise damaged_file_error(path, one_line(exc)) from exc
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        raise damaged_file_error(path, _DIFFERS)
    return data


def remove_unreferenced(directory: Path, manifest: Manifest) -> None:
    """Delete data files the current manifest does not name (call it under the lock)."""
    keep = {f.name for f in manifest.files}
    for path in directory.glob("*.parquet"):
        if path.name not in keep:
            try:
                path.unlink()
            except FileNotFoundError:  # pragma: no cover - removed meanwhile
                continue


def store_error_if_missing(exc: MissingFile) -> StoreError:
    """A generation that kept changing under a reader: one clear line."""
    return StoreError(
        f"stored file {exc} vanished while reading, again and again: another process keeps "
        "rewriting this dataset; try again when it has finished"
    )
