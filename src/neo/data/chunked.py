"""Ingesting a file chunk by chunk, in bounded memory, with the results of one pass.

A 10 M-row CSV read whole, validated and written at once needs several times its size in
memory. Here the file is read twice, each time in chunks of about ``chunk_rows`` rows:

1. **scan** the timestamps only: per symbol, the rows, the first readable timestamp, whether
   the readable timestamps are already in order, and how often each spacing occurs (the
   median spacing infers the timeframe, or shows that ``--timeframe`` contradicts the file);
2. **validate and store**: each chunk's rows go to their symbol's
   :class:`~neo.data.validate.ValidationStream`, which carries the validator's state across
   chunks, and the decided rows are written (bars to the store, rejects to the quarantine).

A file whose rows are out of time order is first split by (symbol, year) into temporary
Arrow files, each then sorted on its own: memory is bounded by one year of one symbol. Only
then is the ``unsorted`` count (rows that had to move) computed, from the timestamps alone.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neo.data._kernels import displaced_rows
from neo.data.feeds.files import CHUNK_ROWS, BarFile
from neo.data.infer import timeframe_of_step
from neo.data.validate import RawBars, ValidationReport, ValidationStream
from neo.domain.bar import BoolArray, IntArray
from neo.domain.errors import DataFormatError
from neo.domain.timeframe import Timeframe

_NS_PER_YEAR = 365 * 86_400 * 1_000_000_000
_CONTRADICTION_FACTOR = 3  # a spacing this many timeframes apart is sparse data, not a mistake


@dataclass(slots=True)
class SeriesScan:
    """What the timestamp scan learnt about one symbol's rows."""

    rows: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    in_order: bool = True
    steps: Counter[int] = field(default_factory=Counter)

    def add(self, ts: IntArray) -> None:
        """Account for the next readable timestamps of this symbol (file order)."""
        if len(ts) == 0:
            return
        low = int(ts.min())
        self.first_ts = low if self.first_ts is None else min(self.first_ts, low)
        joined = ts if self.last_ts is None else np.concatenate(([self.last_ts], ts))
        steps = np.diff(joined)
        if self.in_order and np.any(steps < 0):
            self.in_order = False
            self.steps.clear()  # spacings of an unsorted file come from a full sort later
        if self.in_order:
            self.add_steps(steps)
        self.last_ts = int(ts[-1])

    def add_steps(self, steps: IntArray) -> None:
        values, counts = np.unique(steps[steps > 0], return_counts=True)
        self.steps.update(dict(zip(values.tolist(), counts.tolist(), strict=True)))

    def median_step(self) -> int | None:
        """The lower median of the spacings between distinct timestamps (None if < 2)."""
        total = sum(self.steps.values())
        if total == 0:
            return None
        middle, seen = (total - 1) // 2, 0
        for step in sorted(self.steps):
            seen += self.steps[step]
            if seen > middle:
                return int(step)
        return None  # pragma: no cover - the loop always returns


def split_by_symbol(
    raw: RawBars, symbols: list[str] | None, column: Any, only: str | None
) -> Iterator[tuple[str | None, RawBars]]:
    """The chunk's rows per symbol (all rows under None when the file has no symbol column)."""
    import pyarrow.compute as pc

    if symbols is None:
        yield None, raw
        return
    for symbol in symbols:
        if only is not None and symbol != only:
            continue
        mask = np.asarray(pc.equal(column, symbol).to_numpy(zero_copy_only=False), dtype=bool)
        yield symbol, raw if mask.all() else raw.take(mask)


def _symbol_masks(
    symbols: list[str] | None, column: Any, only: str | None
) -> Iterator[tuple[str | None, BoolArray | None]]:
    """Each symbol of a chunk with the mask of its rows (None: every row)."""
    import pyarrow.compute as pc

    if symbols is None:
        yield None, None
        return
    for symbol in symbols:
        if only is None or symbol == only:
            mask = np.asarray(pc.equal(column, symbol).to_numpy(zero_copy_only=False), dtype=bool)
            yield symbol, mask


def scan(file: BarFile, chunk_rows: int, only: str | None) -> dict[str | None, SeriesScan]:
    """Pass 1: per symbol, rows, span, order and spacings (see the module docstring); reads
    the timestamp (and symbol) column only."""
    out: dict[str | None, SeriesScan] = {}
    for ts, valid, symbols, column in file.timestamps(chunk_rows):
        for symbol, mask in _symbol_masks(symbols, column, only):
            rows = valid if mask is None else valid & mask
            found = out.setdefault(symbol, SeriesScan())
            found.rows += len(ts) if mask is None else int(np.count_nonzero(mask))
            found.add(ts[rows])
    return out


def check_timeframe(
    given: Timeframe | None, found: SeriesScan, source: str
) -> tuple[Timeframe, bool]:
    """The timeframe to use and whether it was inferred; an explicit one that contradicts
    the file's spacing (1h given for daily bars, 1d for hourly ones) is an error."""
    step = found.median_step()
    inferred = None if step is None else timeframe_of_step(step)
    if given is None:
        if step is None:
            raise DataFormatError(
                f"cannot infer the timeframe of {source}: it has fewer than two distinct "
                "readable timestamps; pass --timeframe (e.g. --timeframe 1d)"
            )
        if inferred is None:
            raise DataFormatError(
                f"cannot infer the timeframe of {source}: its median spacing of {step} ns is "
                "not a whole number of seconds; pass --timeframe (e.g. --timeframe 1m)"
            )
        return inferred, True
    if step is not None and (step < given.nanos or step > _CONTRADICTION_FACTOR * given.nanos):
        spacing = str(inferred) if inferred is not None else f"{step} ns"
        raise DataFormatError(
            f"--timeframe {given} contradicts {source}: its bars are {spacing} apart (median "
            f"spacing); pass --timeframe {spacing} or leave --timeframe out to infer it"
        )
    return given, False


def rescan_unsorted(
    file: BarFile, chunk_rows: int, symbol: str | None, only: str | None, found: SeriesScan
) -> int:
    """For a symbol whose rows are out of order: the rows that had to move (as one pass
    counts them) and, into ``found``, the spacings of its sorted distinct timestamps. Reads
    that symbol's timestamps whole: 8 bytes a row, for unsorted files only."""
    parts = [
        ts[valid if mask is None else valid & mask]
        for ts, valid, symbols, column in file.timestamps(chunk_rows)
        for name, mask in _symbol_masks(symbols, column, only)
        if name == symbol
    ]
    ts = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    moved = int(displaced_rows(np.ascontiguousarray(ts))) if len(ts) > 1 else 0
    ts.sort()
    found.steps.clear()
    found.add_steps(np.diff(ts))
    return moved


Sink = Callable[[str | None, ValidationReport], None]


def validate_in_order(
    file: BarFile,
    streams: dict[str | None, ValidationStream],
    sink: Sink,
    chunk_rows: int = CHUNK_ROWS,
    only: str | None = None,
) -> None:
    """Pass 2 for a file in time order: each chunk straight to its symbol's stream."""
    for raw, symbols, column in file.chunks(chunk_rows):
        for symbol, part in split_by_symbol(raw, symbols, column, only):
            sink(symbol, streams[symbol].feed(part))
    for symbol, stream in streams.items():
        sink(symbol, stream.finish())


_COLUMNS = ("ts", "open", "high", "low", "close", "volume", "ts_valid", "source_row")


def validate_by_year(
    file: BarFile,
    streams: dict[str | None, ValidationStream],
    sink: Sink,
    chunk_rows: int = CHUNK_ROWS,
    only: str | None = None,
) -> None:
    """Pass 2 for a file out of order: spill rows by (symbol, year), then each partition
    sorted (stable, so equal timestamps keep file order) to its symbol's stream in time
    order; unreadable timestamps first, as one pass sorts them."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    with tempfile.TemporaryDirectory(prefix="neo-ingest-") as tmp:
        writers: dict[tuple[int, int], Any] = {}
        names = {symbol: i for i, symbol in enumerate(streams)}
        for raw, symbols, column in file.chunks(chunk_rows):
            for symbol, part in split_by_symbol(raw, symbols, column, only):
                years = np.where(part.ts_valid, part.ts // _NS_PER_YEAR, -(1 << 40))
                for year in np.unique(years):
                    rows = part.take(years == year)
                    key = (names[symbol], int(year))
                    table = pa.table({name: getattr(rows, name) for name in _COLUMNS})
                    if key not in writers:
                        sink_file = pa.OSFile(str(Path(tmp) / f"{key[0]}_{key[1]}.arrow"), "wb")
                        writers[key] = (sink_file, ipc.new_stream(sink_file, table.schema))
                    writers[key][1].write_table(table)
        for sink_file, writer in writers.values():
            writer.close()
            sink_file.close()
        for symbol, index in names.items():
            for key in sorted(k for k in writers if k[0] == index):
                path = Path(tmp) / f"{key[0]}_{key[1]}.arrow"
                with pa.memory_map(str(path)) as source:
                    table = ipc.open_stream(source).read_all()
                rows = RawBars(*(table.column(n).to_numpy() for n in _COLUMNS))
                order = np.argsort(rows.ts, kind="stable")
                sink(symbol, streams[symbol].feed(rows.take(order)))
            sink(symbol, streams[symbol].finish())
