"""Appends as segments: why an append costs its own bars, not the whole year file again.

A year of one-minute bars is ~525,000 rows; rewriting its file for every 1,000-bar batch made
each append O(year). Instead, bars that lie strictly after everything a year holds are written
as a small *segment* file listed after the year's base file in the manifest. Files of a year
never overlap and are kept in time order (base first), so:

* a read passes every file to DuckDB (``ORDER BY ts`` puts them together);
* the last bar before ``t`` lies in the newest file that starts before ``t``;
* an upsert only needs the *suffix* of files its first bar reaches (:func:`split_touched`):
  those are folded with the new bars into one file (a segment when a file stays before it),
  and the files before it stay as they are. When the suffix holds the base, the rewritten year
  is split at the upsert's first bar (base, then a segment), so the next update of those
  recent bars rewrites a small file;
* a small year (fewer than :data:`SMALL_YEAR_ROWS` rows) stays one file: rewriting it costs
  no more than writing a segment.

Compaction bounds the number of files: once a year holds more than :data:`MAX_SEGMENTS`
segments, the newest ones are folded into one, size-tiered (:func:`compaction`): small
segments together first, the year file only once the segments hold as many rows as it does, so
a large year is rewritten once per that many appended rows, and a row is re-encoded a few
times in all (amortised O(batch x log) per append). It happens in the same manifest swap as
the append that triggers it, under the dataset's lock, or on demand
(``HistoricalDataStore.compact``: everything into the year file).
"""

from __future__ import annotations

from collections.abc import Sequence

from neo.data.store.manifest import FileEntry

MAX_SEGMENTS = 32
"""Segments a year may hold before an append folds them."""
SMALL_YEAR_ROWS = 4_096
"""A year holding fewer rows is rewritten whole by every write (one file, as cheap)."""


def split_touched(
    files: Sequence[FileEntry], first_ts: int
) -> tuple[tuple[FileEntry, ...], tuple[FileEntry, ...], bool]:
    """``files`` of one year (in time order) split into the ones that end before ``first_ts``
    (an upsert starting there cannot change them) and the suffix it may reach, and whether the
    rewritten suffix is to be split at ``first_ts`` (it holds the base of a large year). A file
    whose span is unknown (a legacy file without statistics) counts as reached."""
    if sum(f.rows for f in files) < SMALL_YEAR_ROWS:
        return (), tuple(files), False
    cut = len(files)
    while cut > 0:
        last = files[cut - 1].last_ts
        if last is not None and last < first_ts:
            break
        cut -= 1
    return tuple(files[:cut]), tuple(files[cut:]), cut == 0


def compaction(files: Sequence[FileEntry], *, force: bool = False) -> tuple[FileEntry, ...]:
    """Consecutive files of one year (in time order) to fold into one, or () to leave them:
    nothing until the year holds more than MAX_SEGMENTS segments (then at least two files),
    everything with ``force`` (when it holds any segment).

    Size-tiered: walking back from the newest file, an older file joins the fold only while it
    holds no more rows than the files already in it, so small appends fold together first, a
    file is folded again only once the newer ones have grown as large, and the year file joins
    when the segments together hold as many rows as it does. A row is so re-encoded a few
    times (logarithmic in the year's size over the batch size), not once per 32 appends. A
    fold into the year file leaves the newest segment out, so an update of the latest bars (a
    feed correcting its last bar) still rewrites a small file."""
    segments = sum(1 for f in files if f.segment)
    if not segments or (segments <= MAX_SEGMENTS and not force):
        return ()
    if force:
        return tuple(files)
    run = rows = 0
    for entry in reversed(files):
        if run >= 2 and entry.rows > rows:
            break
        run, rows = run + 1, rows + entry.rows
    if run == len(files) >= 3 and not files[0].segment:
        return tuple(files[:-1])  # into the year file, the newest bars left in their segment
    return tuple(files[len(files) - run :])


def covers(entry: FileEntry, start_ns: int | None, end_ns: int | None, year_bounds: tuple[
        int, int]) -> bool:  # fmt: skip
    """Whether ``entry`` can hold bars in ``[start_ns, end_ns)`` (its span, or its year's
    ``year_bounds`` when the span is unknown)."""
    lo = entry.first_ts if entry.first_ts is not None else year_bounds[0]
    hi = entry.last_ts if entry.last_ts is not None else year_bounds[1] - 1
    return (start_ns is None or hi >= start_ns) and (end_ns is None or lo < end_ns)
