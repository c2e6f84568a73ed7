"""Appends as segments: why an append costs its own bars, not the whole year file again.

A year of one-minute bars is ~525,000 rows; rewriting its file for every 1,000-bar batch made
each append O(year). Instead, bars that lie strictly after everything a year holds are written
as a small *segment* file listed after the year's base file in the manifest. Files of a year
never overlap and are kept in time order (base first), so:

* a read passes every file to DuckDB (``ORDER BY ts`` puts them together);
* the last bar before ``t`` lies in the newest file that starts before ``t``;
* an upsert only needs the *suffix* of files its first bar reaches (:func:`split_touched`):
  those are folded with the new bars into one file (a base when the suffix starts at the base,
  else a segment), and the files before it stay as they are.

Compaction bounds the number of files: once a year holds more than :data:`MAX_SEGMENTS`
segments they are folded, into the base when they hold at least a quarter of its rows, else
into one segment (so a large year is rewritten once per many appends; cost amortised O(batch)
with a constant of a few). It happens in the same manifest swap as the append that triggers
it, under the dataset's lock, or on demand (``HistoricalDataStore.compact``).
"""

from __future__ import annotations

from collections.abc import Sequence

from neo.data.store.manifest import FileEntry

MAX_SEGMENTS = 32
"""Segments a year may hold before an append folds them."""
FOLD_INTO_BASE = 4
"""Segments are folded into the base once they hold at least 1/FOLD_INTO_BASE of its rows."""


def split_touched(
    files: Sequence[FileEntry], first_ts: int
) -> tuple[tuple[FileEntry, ...], tuple[FileEntry, ...]]:
    """``files`` of one year (in time order) split into the ones that end before ``first_ts``
    (an upsert starting there cannot change them) and the suffix it may reach. A file whose
    span is unknown (a legacy file without statistics) counts as reached."""
    cut = len(files)
    while cut > 0:
        last = files[cut - 1].last_ts
        if last is not None and last < first_ts:
            break
        cut -= 1
    return tuple(files[:cut]), tuple(files[cut:])


def compaction(files: Sequence[FileEntry], *, force: bool = False) -> tuple[FileEntry, ...]:
    """The files of one year (in time order) to fold into one, or () to leave them: nothing
    until the year holds more than MAX_SEGMENTS segments (or any, with ``force``); then the
    base and all segments, or only the segments while they are small next to the base."""
    segments = tuple(f for f in files if f.segment)
    if not segments or (len(segments) <= MAX_SEGMENTS and not force):
        return ()
    base_rows = sum(f.rows for f in files if not f.segment)
    if force or FOLD_INTO_BASE * sum(f.rows for f in segments) >= base_rows:
        return tuple(files)
    return segments if len(segments) > 1 else ()


def covers(entry: FileEntry, start_ns: int | None, end_ns: int | None, year_bounds: tuple[
        int, int]) -> bool:  # fmt: skip
    """Whether ``entry`` can hold bars in ``[start_ns, end_ns)`` (its span, or its year's
    ``year_bounds`` when the span is unknown)."""
    lo = entry.first_ts if entry.first_ts is not None else year_bounds[0]
    hi = entry.last_ts if entry.last_ts is not None else year_bounds[1] - 1
    return (start_ns is None or hi >= start_ns) and (end_ns is None or lo < end_ns)
