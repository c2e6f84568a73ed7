"""Appends as segments: an append writes its own bars, not the year file again, and every read,
update, conflict, delete and compaction sees the same series as the store that rewrote years."""

from __future__ import annotations

import itertools
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neo.data.store import HistoricalDataStore, atomic, historical, segments
from neo.data.store.manifest import FORMAT, MANIFEST, FileEntry, ManifestCache, load_manifest
from neo.data.store.provenance import Provenance
from neo.domain import BarBatch, DataConflictError, InstrumentId, StoreError
from tests.unit.data.helpers import BTC, MINUTE, T0, TF, batch_of, walk

ROOT = Path(__file__).resolve().parents[3]
ETH = InstrumentId("sim", "ETH/USDT")
N = 160  # bar slots of the property tests: 2023-12-31 23:20 .. 2024-01-01 01:59


def _cols(index: np.ndarray, version: int = 0) -> dict[str, np.ndarray]:
    """Bars at ``T0 + (index - 40)`` minutes, with values that differ between versions."""
    close = 100.0 + np.sin(index * 0.3) + version * 0.5
    return {
        "ts": T0 + (index.astype(np.int64) - 40) * MINUTE,
        "open": close - 0.1,
        "high": close + 0.2,
        "low": close - 0.2,
        "close": close,
        "volume": 1.0 + index % 7 + version,
    }


def _bars(lo: int, hi: int, version: int = 0, instrument: InstrumentId = BTC) -> BarBatch:
    return batch_of(_cols(np.arange(lo, hi), version), instrument)


def _dir(root: Path, instrument: InstrumentId = BTC) -> Path:
    return next(
        p for p in (root / "bars").rglob(MANIFEST) if instrument.symbol[:3] in str(p)
    ).parent


def _same(x: BarBatch, y: BarBatch) -> bool:
    return len(x) == len(y) and all(
        np.array_equal(getattr(x, c), getattr(y, c))
        for c in ("ts", "open", "high", "low", "close", "volume")
    )


@pytest.fixture(autouse=True, scope="module")
def _every_year_takes_segments() -> Iterator[None]:
    """These tests use series of a few hundred bars: let them take segments as a large year
    does (a year under SMALL_YEAR_ROWS is otherwise rewritten whole, see the last test)."""
    with mock.patch.object(segments, "SMALL_YEAR_ROWS", 0):
        yield


@contextmanager
def _rewriting() -> Iterator[None]:
    """The store as it was before segments: every upsert merges into the whole year file."""

    def everything(files: Any, first_ts: int) -> tuple[tuple[Any, ...], tuple[Any, ...], bool]:
        return (), tuple(files), False

    with mock.patch.object(historical, "split_touched", everything):
        yield


# -- an append writes a segment -----------------------------------------------------------------


def test_an_append_writes_a_segment_and_leaves_the_year_file_untouched(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    store.write(batch_of(walk(2_000)), source="feed")
    directory = _dir(tmp_path)
    (year_file,) = directory.glob("*.parquet")
    before = year_file.read_bytes()
    more = walk(2_100)
    store.write(batch_of({k: v[2_000:] for k, v in more.items()}), source="feed")
    assert year_file.read_bytes() == before  # the year file was not rewritten
    manifest = load_manifest(directory)
    base, segment = manifest.files
    assert base.name == year_file.name and not base.segment
    assert segment.segment and segment.name.endswith(".seg.parquet") and segment.rows == 100
    assert {p.name for p in directory.glob("*.parquet")} == {base.name, segment.name}
    assert json.loads((directory / MANIFEST).read_text())["format"] == FORMAT
    assert len(store.read(BTC, TF)) == 2_100


def test_an_append_fsyncs_its_segment_and_the_manifest_and_reads_no_year_file(
    tmp_path: Path,
) -> None:
    """The previous close an append is validated against comes from the newest segment: with
    the year file damaged, appending still works (the year is neither read nor rewritten),
    while a read of the year names the damaged file."""
    store = HistoricalDataStore(tmp_path)
    store.write(_bars(0, 3_000), source="feed")
    store.write(_bars(3_000, 3_100), source="feed")
    directory = _dir(tmp_path)
    year_file = directory / load_manifest(directory).files[-2].name
    data = bytearray(year_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    year_file.write_bytes(bytes(data))
    fresh = HistoricalDataStore(tmp_path)  # nothing cached: every file read is from disk
    synced: list[bool] = []  # whether each fsync was of a directory

    def fsync(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))

    with mock.patch.object(atomic.os, "fsync", fsync):
        close = fresh.close_before(BTC, TF, int(_bars(3_100, 3_101).ts[0]), 10 * MINUTE)
        fresh.write(_bars(3_100, 3_200), source="feed")
    assert close == _bars(3_099, 3_100).close[0]
    # the segment file, then the manifest, then the directory holding their new names
    assert synced == [False, False, True]
    with pytest.raises(StoreError, match=str(year_file.name)):
        fresh.read(BTC, TF)


def _bytes_written_by_an_append(root: Path, stored: int) -> int:
    store = HistoricalDataStore(root)
    store.write(_bars(0, stored), source="feed")
    directory = _dir(root)
    before = {p.name for p in directory.iterdir()}
    store.write(_bars(stored, stored + 500), source="feed")
    return sum(p.stat().st_size for p in directory.iterdir() if p.name not in before)


def test_bytes_written_per_append_do_not_grow_with_the_stored_year(tmp_path: Path) -> None:
    """The same 500-bar append onto 1,000 and onto 100,000 stored bars writes about the same
    bytes (before segments the second rewrote a year file 100 times larger)."""
    small = _bytes_written_by_an_append(tmp_path / "small", 1_000)
    large = _bytes_written_by_an_append(tmp_path / "large", 100_000)
    assert large < 1.5 * small, (small, large)


# -- reads after appends = reads of the same bars written at once -------------------------------


def _read_all_ways(store: HistoricalDataStore, cuts: list[int], out: Path) -> dict[str, Any]:
    ranges = [(None, None)] + [
        (int(T0 + (a - 40) * MINUTE), int(T0 + (b - 40) * MINUTE))
        for a, b in itertools.pairwise(cuts)
    ]
    got: dict[str, Any] = {f"read {r}": store.read(BTC, TF, *r) for r in ranges}
    got["many"] = store.read_many([BTC, ETH], TF, *ranges[-1])
    got["resample"] = store.resample(BTC, TF, "5m")
    store.export(BTC, TF, out)
    got["export"] = out.read_text()
    got["close_before"] = [
        store.close_before(BTC, TF, int(T0 + (c - 40) * MINUTE), 7 * MINUTE) for c in cuts
    ]
    got["list"] = [(d.symbol, d.rows, d.first_ts, d.last_ts, dict(d.sources)) for d in
                   store.datasets()]  # fmt: skip
    got["sources"] = store.provenance(BTC, TF)["sources"]
    return got


def _equal(x: Any, y: Any) -> bool:
    if isinstance(x, BarBatch):
        return isinstance(y, BarBatch) and _same(x, y)
    if isinstance(x, dict):
        return isinstance(y, dict) and x.keys() == y.keys() and all(_equal(x[k], y[k]) for k in x)
    if isinstance(x, tuple | list):
        return type(x) is type(y) and len(x) == len(y) and all(map(_equal, x, y))
    return bool(x == y)


@settings(max_examples=20, deadline=None)
@given(
    splits=st.lists(st.integers(1, N - 1), min_size=1, max_size=12, unique=True),
    cuts=st.lists(st.integers(0, N + 5), min_size=2, max_size=5),
    max_segments=st.integers(1, 4),
)
def test_appends_read_back_as_the_same_bars_written_at_once(
    splits: list[int], cuts: list[int], max_segments: int
) -> None:
    bounds = [0, *sorted(splits), N]
    with (
        tempfile.TemporaryDirectory() as tmp,
        mock.patch.object(segments, "MAX_SEGMENTS", max_segments),
    ):
        once, appended = (
            HistoricalDataStore(Path(tmp) / "once"),
            HistoricalDataStore(Path(tmp) / "appended"),
        )
        for store in (once, appended):
            store.write(_bars(0, N, instrument=ETH), source="eth")
        once.write(_bars(0, N), source="feed")
        for lo, hi in itertools.pairwise(bounds):
            result = appended.write(_bars(lo, hi), source="feed")
            assert result.inserted == hi - lo
        expected = _read_all_ways(once, cuts, Path(tmp) / "once.csv")
        got = _read_all_ways(appended, cuts, Path(tmp) / "appended.csv")
        assert _equal(got, expected)
        events = appended.provenance(BTC, TF)["events"]
        assert len(events) == 1 and events[0]["inserted"] == N  # one writer, one log entry
        year_2024 = load_manifest(_dir(Path(tmp) / "appended")).year_files(2024)
        assert sum(f.segment for f in year_2024) <= max_segments  # compaction bounds them


# -- updates, conflicts, replace, delete: as the store that rewrote years -----------------------

_OPS = st.one_of(
    st.tuples(st.just("append"), st.integers(1, 25), st.sampled_from("ab")),
    st.tuples(
        st.just("upsert"),
        st.integers(0, N - 1),
        st.integers(1, 30),
        st.sampled_from("ab"),
        st.integers(0, 2),
        st.booleans(),
    ),
    st.tuples(st.just("delete"), st.integers(0, N), st.integers(0, 40)),
    st.tuples(st.just("compact")),
)


def _apply(store: HistoricalDataStore, op: tuple[Any, ...], end: int) -> tuple[Any, int]:
    """Run one operation; its outcome (a result, or the error's type and message) and the
    series' end slot after it."""
    try:
        if op[0] == "append":
            hi = min(N, end + op[1])
            if hi <= end:
                return ("full",), end
            result: Any = store.write(_bars(end, hi), source=op[2])
            return result, hi
        if op[0] == "upsert":
            _, lo, n, source, version, replace = op
            hi = min(N, lo + n)
            result = store.write(_bars(lo, hi, version), source=source, replace=replace)
            return result, max(end, hi)
        if op[0] == "delete":
            lo, hi = (T0 + (op[1] - 40 + k * op[2]) * MINUTE for k in (0, 1))
            return store.delete(BTC, TF, lo, hi), end
        return store.compact(BTC, TF)["series"] >= 0, end
    except (DataConflictError, StoreError) as exc:
        return (type(exc).__name__, str(exc)), end
    except Exception as exc:  # DataNotFoundError once everything is deleted
        return (type(exc).__name__, str(exc)), end


def _series(store: HistoricalDataStore) -> Any:
    try:
        prov = store.provenance(BTC, TF)
    except Exception as exc:
        return type(exc).__name__
    events = [{k: v for k, v in e.items() if k != "time"} for e in prov["events"]]
    return store.read(BTC, TF), prov["sources"], events


@settings(max_examples=20, deadline=None)
@given(ops=st.lists(_OPS, min_size=1, max_size=14), max_segments=st.integers(1, 3))
def test_updates_conflicts_and_deletes_behave_as_with_whole_year_rewrites(
    ops: list[tuple[Any, ...]], max_segments: int
) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        mock.patch.object(segments, "MAX_SEGMENTS", max_segments),
    ):
        fast, slow = (
            HistoricalDataStore(Path(tmp) / "fast"),
            HistoricalDataStore(Path(tmp) / "slow"),
        )
        fast.write(_bars(0, 30), source="a")
        with _rewriting():
            slow.write(_bars(0, 30), source="a")
        end = 30
        for op in ops:
            got, new_end = _apply(fast, op, end)
            with _rewriting():
                expected, _ = _apply(slow, op, end)
            assert _equal(got, expected), op
            end = new_end
            assert _equal(_series(fast), _series(slow)), op
            if op[0] == "append":
                for ts in (end - 1, end, end + 3):
                    at = int(T0 + (ts - 40) * MINUTE)
                    assert fast.close_before(BTC, TF, at, 5 * MINUTE) == slow.close_before(
                        BTC, TF, at, 5 * MINUTE
                    )


def test_updates_of_the_latest_bars_rewrite_the_year_file_once_not_every_time(
    tmp_path: Path,
) -> None:
    """A feed correcting its last bar, then pages overlapping the last bar: once the year
    file has been split at the update, later updates of those bars rewrite a small segment."""
    store = HistoricalDataStore(tmp_path)
    store.write(_bars(0, 2_000), source="feed")  # a bulk ingest: one year file
    store.write(_bars(1_999, 2_000, version=1), source="feed")  # the last bar corrected
    directory = _dir(tmp_path)
    base = load_manifest(directory).entry(2024)
    assert base is not None and base.rows == 1_999 - 40  # 2024's bars before the update
    for version, (lo, hi) in enumerate([(1_999, 2_000), (1_999, 2_100), (2_099, 2_101)], 2):
        result = store.write(_bars(lo, hi, version=version), source="feed")
        assert result.updated == 1
        assert load_manifest(directory).entry(2024) == base  # the year file stays
    parts = [_cols(np.arange(0, 1_999)), _cols(np.arange(1_999, 2_099), 3)]
    parts.append(_cols(np.arange(2_099, 2_101), 4))
    expected = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    assert _same(store.read(BTC, TF), batch_of(expected))


def test_a_conflict_inside_a_segment_is_refused_and_replace_is_recorded(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    store.write(_bars(0, 50), source="a")
    store.write(_bars(50, 60), source="a")  # a segment
    with pytest.raises(DataConflictError, match=r"would change 5 stored bars written by a \(5"):
        store.write(_bars(55, 65, version=1), source="b")
    assert len(store.read(BTC, TF)) == 60
    result = store.write(_bars(55, 65, version=1), source="b", replace=True)
    assert (result.inserted, result.updated, result.replaced) == (5, 5, 5)
    assert store.provenance(BTC, TF)["sources"] == {"a": 55, "b": 10}
    base = load_manifest(_dir(tmp_path)).entry(2024)
    assert base is not None and base.rows == 10  # the update merged the segment, not the year


# -- compaction ---------------------------------------------------------------------------------


def test_segments_are_compacted_and_compact_preserves_everything(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    store.write(_bars(0, 10), source="a")
    for k in range(60):  # 60 appends (45 in 2024), two sources taking turns every 15
        store.write(_bars(10 + 2 * k, 12 + 2 * k), source="ab"[k // 15 % 2])
        manifest = load_manifest(_dir(tmp_path))
        for year in (2023, 2024):
            assert sum(f.segment for f in manifest.year_files(year)) <= segments.MAX_SEGMENTS
    directory = _dir(tmp_path)
    before = (store.read(BTC, TF), store.provenance(BTC, TF), store.datasets())
    assert 0 < len(load_manifest(directory).year_files(2024)) - 1 < 45  # compacted on the way
    assert len(before[1]["events"]) == 4  # a (its write and 15 appends), b, a, b
    done = store.compact()
    manifest = load_manifest(directory)
    assert done["series"] == 1 and manifest.segments == 0 and len(manifest.files) == 2
    after = (store.read(BTC, TF), store.provenance(BTC, TF), store.datasets()[0])
    assert _same(after[0], before[0]) and after[1] == before[1]
    assert (after[2].rows, after[2].first_ts, after[2].last_ts, after[2].sources) == (
        before[2][0].rows, before[2][0].first_ts, before[2][0].last_ts, before[2][0].sources,
    )  # fmt: skip
    assert {p.name for p in directory.glob("*.parquet")} == {f.name for f in manifest.files}
    assert json.loads((directory / MANIFEST).read_text())["format"] == 1  # old NEO reads it
    assert store.compact() == {"series": 0, "files": 0}


def test_small_segments_fold_together_before_they_fold_into_a_large_year(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    store.write(_bars(0, 2_000), source="a")
    base = load_manifest(_dir(tmp_path)).entry(2024)
    for k in range(segments.MAX_SEGMENTS + 1):
        store.write(_bars(2_000 + k, 2_001 + k), source="a")
    manifest = load_manifest(_dir(tmp_path))
    assert manifest.entry(2024) == base and manifest.segments == 1  # the year was not rewritten
    assert len(store.read(BTC, TF)) == 2_000 + segments.MAX_SEGMENTS + 1


def _entry(rows: int, segment: bool = True) -> FileEntry:
    return FileEntry(f"{rows}-{id(object())}", 2024, "", rows, None, None, 0, {}, segment)


def test_compaction_folds_small_segments_first_and_the_year_file_last() -> None:
    big, small = _entry(1_000, segment=False), _entry(100, segment=False)
    ones = [_entry(1) for _ in range(segments.MAX_SEGMENTS - 2)]
    assert segments.compaction([big, *ones[:-1]]) == ()  # not too many yet
    tiers = [big, _entry(500), _entry(100), *ones]  # 32 segments, then one more
    assert segments.compaction(tiers) == ()
    tiers.append(_entry(1))
    assert segments.compaction(tiers) == tuple(tiers[3:])  # the 100-row one is larger: stays
    tens = [_entry(10) for _ in range(segments.MAX_SEGMENTS + 1)]
    assert segments.compaction([big, *tens]) == tuple(tens)  # 330 rows < the year's 1,000
    assert segments.compaction([small, *tens]) == (small, *tens[:-1])  # into the year file
    assert segments.compaction([big, tens[0]], force=True) == (big, tens[0])
    assert segments.compaction([big], force=True) == ()


def test_a_manifest_as_the_previous_version_wrote_it_still_loads(tmp_path: Path) -> None:
    """Format 1, indented: what NEO wrote before segments; read as it is, appended to."""
    store = HistoricalDataStore(tmp_path)
    store.write(_bars(0, 50), source="a")
    path = _dir(tmp_path) / MANIFEST
    body = json.loads(path.read_text())
    assert body["format"] == 1 and all("kind" not in f for f in body["files"])
    path.write_text(json.dumps(body, indent=1, sort_keys=True))
    reopened = HistoricalDataStore(tmp_path)
    assert _same(reopened.read(BTC, TF), _bars(0, 50))
    reopened.write(_bars(50, 60), source="a")
    assert load_manifest(_dir(tmp_path)).segments == 1
    assert _same(HistoricalDataStore(tmp_path).read(BTC, TF), _bars(0, 60))


def test_a_newer_manifest_format_is_refused_in_one_line(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    store.write(_bars(0, 5))
    path = _dir(tmp_path) / MANIFEST
    body = json.loads(path.read_text())
    body["format"] = FORMAT + 1
    from neo.data.store.manifest import _checksum

    body["checksum"] = _checksum(body)
    path.write_text(json.dumps(body))
    with pytest.raises(StoreError, match=f"format {FORMAT + 1}, newer than this NEO") as caught:
        store.read(BTC, TF)
    assert "\n" not in str(caught.value)


# -- kill -9 while appending and while compacting -----------------------------------------------

_KILLED = """
import os, signal, sys
from pathlib import Path
from unittest import mock
sys.path.insert(0, {root!r})
from neo.data.store import HistoricalDataStore, atomic, segments
from tests.unit.data.test_store_segments import _bars
calls = [0]
real = atomic.os.fsync
def die(fd):
    calls[0] += 1
    if calls[0] == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)
    real(fd)
store = HistoricalDataStore(Path(sys.argv[1]))
atomic.os.fsync = die
segments.SMALL_YEAR_ROWS = 0
with mock.patch.object(segments, "MAX_SEGMENTS", 2):
    store.write(_bars(13, 16), source="a")
"""


@pytest.mark.parametrize(
    ("kill_at", "what"),
    [(1, "segment file"), (2, "compacted file"), (3, "manifest")],
)
def test_kill_9_while_appending_and_compacting_leaves_the_old_generation(
    tmp_path: Path, kill_at: int, what: str
) -> None:
    """The third append onto two segments folds them (MAX_SEGMENTS=2): fsync 1 is its segment,
    2 the folded file, 3 the manifest; a kill at any of them leaves the series as it was."""
    store = HistoricalDataStore(tmp_path)
    store.write(_bars(0, 7), source="a")
    store.write(_bars(7, 10), source="a")
    store.write(_bars(10, 13), source="a")
    directory = _dir(tmp_path)
    before = store.read(BTC, TF)
    manifest = (directory / MANIFEST).read_bytes()
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    script = _KILLED.format(root=str(ROOT))
    killed = subprocess.run([sys.executable, "-c", script, str(tmp_path), str(kill_at)], env=env)
    assert killed.returncode == -signal.SIGKILL, what
    assert (directory / MANIFEST).read_bytes() == manifest  # the old generation, whole
    reopened = HistoricalDataStore(tmp_path)
    assert not list(directory.glob(".*.tmp"))  # a dead writer's temp files are swept
    assert _same(reopened.read(BTC, TF), before)
    with mock.patch.object(segments, "MAX_SEGMENTS", 2):
        reopened.write(_bars(13, 16), source="a")  # the append again, now whole
    assert _same(reopened.read(BTC, TF), _bars(0, 16))
    named = {f.name for f in load_manifest(directory).files}
    assert {p.name for p in directory.glob("*.parquet")} == named  # orphans removed
    assert load_manifest(directory).segments == 1  # folded into the year file but the newest


def test_cli_compact_folds_the_selected_series_and_prints_one_json_object() -> None:
    from typer.testing import CliRunner

    from neo.cli.main import app
    from neo.settings import load_settings

    store = HistoricalDataStore.from_settings(load_settings())
    for instrument in (BTC, ETH):
        store.write(_bars(50, 60, instrument=instrument), source="a")
        store.write(_bars(60, 70, instrument=instrument), source="a")  # a segment each
    runner = CliRunner()
    args = ["data", "compact", "--symbol", "BTC/USDT", "--timeframe", "1m", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"series": 1, "files": 2}
    btc, eth = (load_manifest(_dir(store.root, i)).segments for i in (BTC, ETH))
    assert (btc, eth) == (0, 1)
    result = runner.invoke(app, ["data", "compact", "--venue", "sim", "--json"])
    assert json.loads(result.stdout) == {"series": 1, "files": 2}
    assert _same(store.read(ETH, TF), _bars(50, 70, instrument=ETH))


def test_the_manifest_kept_after_a_write_is_the_one_its_file_parses_to(tmp_path: Path) -> None:
    """Appends skip parsing a manifest whose bytes they wrote or read last: what they use must
    be exactly what the file says, down to the key order of the provenance printed."""
    cache = ManifestCache()
    store = HistoricalDataStore(tmp_path)
    store.write(_bars(0, 50), provenance=Provenance("a", exchange="x", ids=("q1",)))
    store.write(_bars(45, 60, version=1), source="b", replace=True)
    store.write(_bars(60, 70), source="b")
    directory = _dir(tmp_path)
    kept = store._manifests.get(directory, (directory / MANIFEST).read_bytes())
    parsed = load_manifest(directory, cache)
    assert kept is not None and kept == parsed and kept is not parsed
    assert [json.dumps(e) for e in kept.provenance] == [json.dumps(e) for e in parsed.provenance]
    assert [list(f.sources) for f in kept.files] == [list(f.sources) for f in parsed.files]
    assert load_manifest(directory, cache) is parsed  # same bytes: not parsed again
    (directory / MANIFEST).write_bytes((directory / MANIFEST).read_bytes().replace(b"70", b"71"))
    with pytest.raises(StoreError, match="is damaged"):
        load_manifest(directory, cache)  # other bytes are parsed and checked again


def test_a_small_year_stays_one_file() -> None:
    """Under SMALL_YEAR_ROWS rows a year is rewritten whole by every write: as cheap as a
    segment, and a small series is one file per year."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        mock.patch.object(segments, "SMALL_YEAR_ROWS", 4_096),
    ):
        store = HistoricalDataStore(Path(tmp))
        for lo in range(50, 4_050, 1_000):
            store.write(_bars(lo, lo + 1_000), source="a")
            assert len(load_manifest(_dir(Path(tmp))).year_files(2024)) == 1
        store.write(_bars(4_050, 4_150), source="a")  # 4,000 rows before: rewritten
        assert len(load_manifest(_dir(Path(tmp))).year_files(2024)) == 1
        store.write(_bars(4_150, 4_160), source="a")  # 4,100 rows before: a segment
        assert len(load_manifest(_dir(Path(tmp))).year_files(2024)) == 2
        assert _same(store.read(BTC, TF), _bars(50, 4_160))


def test_an_append_lists_the_directory_only_when_someone_else_changed_it(tmp_path: Path) -> None:
    """Appends skip the directory scan for leftovers while only this store wrote there; a
    killed writer's temporary and orphan files (the directory changed) are still swept."""
    store = HistoricalDataStore(tmp_path)
    store.write(_bars(0, 5000))
    directory = _dir(tmp_path)
    with mock.patch.object(Path, "glob", autospec=True, side_effect=Path.glob) as listing:
        store.write(_bars(5000, 5100))
        store.write(_bars(5100, 5200))
    assert listing.call_count == 0
    leftovers = [directory / ".x.parquet.0123.tmp", directory / "2020-deadbeefdeadbeef.parquet"]
    for path in leftovers:
        path.write_bytes(b"a killed writer's bytes")
    store.write(_bars(5200, 5300))
    assert not any(path.exists() for path in leftovers)
    assert _same(store.read(BTC, TF), _bars(0, 5300))
