"""The store detects damage, shows readers one version of a series, cleans up after a killed
writer, and refuses names that are not one directory (issue 9)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from neo.cli.main import app
from neo.data.feeds import ReplayFeed, simulate_bars
from neo.data.store import HistoricalDataStore
from neo.data.store.atomic import dataset_lock
from neo.data.validate import RawBars
from neo.domain import BarBatch, ConfigError, InstrumentId, StoreError
from neo.risk.killswitch import KillSwitch
from neo.settings import load_settings
from tests.unit.data.helpers import BTC, T0, TF, batch_of, walk

HOUR = 3_600 * 10**9
A, B = InstrumentId("sim", "A/USD"), InstrumentId("sim", "B/USD")
ROOT = Path(__file__).resolve().parents[3]
runner = CliRunner()


def _two_year_store(root: Path) -> HistoricalDataStore:
    store = HistoricalDataStore(root)
    bars = simulate_bars(["A/USD", "B/USD"], "1h", 600, seed=11, start_ns=T0 - 200 * HOUR)
    for batch in bars.values():
        store.write(batch)
    return store


def _same(x: BarBatch, y: BarBatch) -> bool:
    return len(x) == len(y) and all(
        np.array_equal(getattr(x, c), getattr(y, c))
        for c in ("ts", "open", "high", "low", "close", "volume")
    )


def _read_paths(root: Path, out: Path) -> dict[str, Callable[[], object]]:
    """Every way the store hands out bars, on a store without a cache (each call reads)."""
    store = HistoricalDataStore(root, cache_entries=0)

    def export() -> str:
        store.export(A, "1h", out)
        return out.read_text()

    def listing() -> object:
        info = next(d for d in store.datasets() if d.symbol == "A/USD")
        if info.damaged:
            raise StoreError(" ".join(info.damaged))
        return (info.rows, info.first_ts, info.last_ts, info.files)

    return {
        "read": lambda: store.read(A, "1h"),
        "read_range": lambda: store.read(A, "1h", T0, T0 + 100 * HOUR),
        "read_many": lambda: store.read_many([A, B], "1h"),
        "resample": lambda: store.resample(A, "1h", "1d"),
        "export": export,
        "list": listing,
        "replay": lambda: ReplayFeed(store, [A, B], "1h")._load(),
    }


def _equal(x: object, y: object) -> bool:
    if isinstance(x, BarBatch) and isinstance(y, BarBatch):
        return _same(x, y)
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_equal(x[k], y[k]) for k in x)
    return x == y


def test_every_flipped_bit_fails_naming_the_file_or_reads_the_original(tmp_path: Path) -> None:
    """60 single-bit flips spread over a stored file, each read path on each: an error naming
    the file, or exactly the original data, never different data (59 of 60 passed unnoticed
    before digests)."""
    _two_year_store(tmp_path / "store")
    paths = _read_paths(tmp_path / "store", tmp_path / "out.csv")
    original = {name: read() for name, read in paths.items()}
    target = max((tmp_path / "store" / "bars").rglob("A%2FUSD/1h/*.parquet"), key=os.path.getsize)
    pristine = target.read_bytes()
    caught = 0
    for i, pos in enumerate(np.linspace(0, len(pristine) - 1, 60).astype(int)):
        flipped = bytearray(pristine)
        flipped[pos] ^= 1 << (i % 8)
        target.write_bytes(bytes(flipped))
        for name, read in paths.items():
            try:
                got = read()
            except StoreError as exc:
                assert str(target) in str(exc) and "\n" not in str(exc), (name, pos, exc)
                caught += 1
                continue
            assert _equal(got, original[name]), f"{name} returned other data, flip at {pos}"
        target.write_bytes(pristine)
    assert caught >= 60 * (len(paths) - 1)  # range reads may skip the flipped year's file


def test_cli_stats_export_and_backtest_name_a_damaged_file(tmp_path: Path) -> None:
    store = HistoricalDataStore.from_settings(load_settings())
    store.write(batch_of(walk(300)))
    target = next(store.bars_root.rglob("*.parquet"))
    data = bytearray(target.read_bytes())
    data[len(data) // 3] ^= 0x10  # inside the column pages: the old store returned garbage
    target.write_bytes(bytes(data))
    for args in (
        ["data", "stats", "--symbol", "BTC/USDT", "--json"],
        ["data", "export", "--symbol", "BTC/USDT", "--out", str(tmp_path / "o.csv")],
        ["backtest", "--symbol", "BTC/USDT", "--param", "size=1", "--json"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and str(target) in lines[0] and "damaged" in lines[0], lines


def test_a_damaged_manifest_is_named(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    store.write(batch_of(walk(30)))
    manifest = next(tmp_path.rglob("manifest.json"))
    text = manifest.read_text()
    damaged = re.sub(r'"rows": ?30\b', '"rows":31', text)
    assert damaged != text
    manifest.write_text(damaged)
    with pytest.raises(StoreError, match="checksum") as caught:
        HistoricalDataStore(tmp_path).read(BTC, "1m")
    assert str(manifest) in str(caught.value)
    (info,) = HistoricalDataStore(tmp_path).datasets()
    assert info.rows == 0 and str(manifest) in info.damaged[0]


_WRITER = """
import sys
import numpy as np
from neo.data.store import HistoricalDataStore
from neo.domain import BarBatch, InstrumentId
root, writes = sys.argv[1], int(sys.argv[2])
iid = InstrumentId("sim", "V/USD")
ts = {t0} + np.arange(3 * 366, dtype=np.int64) * 86_400 * 10**9  # five year files
store = HistoricalDataStore(root)
for k in range(writes):
    v = np.full(len(ts), 100.0 + k % 2)  # versions alternate: every bar 100 or 101
    store.write(BarBatch.from_arrays(iid, "1d", ts=ts, open=v, high=v, low=v, close=v, volume=v))
"""


@pytest.mark.slow
def test_readers_see_one_version_while_a_writer_upserts(tmp_path: Path) -> None:
    """A writer process rewrites all five year files again and again; every read of the
    reader (this process) holds a single version (12 of 115 reads mixed two before)."""
    root = tmp_path / "store"
    script = _WRITER.format(t0=T0 - 366 * 86_400 * 10**9)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run([sys.executable, "-c", script, str(root), "1"], check=True, env=env)
    writer = subprocess.Popen([sys.executable, "-c", script, str(root), "16"], env=env)
    iid, seen, reads = InstrumentId("sim", "V/USD"), set(), 0
    try:
        while writer.poll() is None or reads < 5:
            store = HistoricalDataStore(root, cache_entries=0)
            batch = store.read(iid, "1d")
            versions = set(np.unique(batch.close).tolist())
            assert len(batch) == 3 * 366 and len(versions) == 1, versions
            many = store.read_many([iid], "1d")[iid]
            assert len(set(np.unique(many.close).tolist())) == 1
            seen |= versions
            reads += 1
            store.close()
    finally:
        writer.wait(timeout=120)
    assert writer.returncode == 0
    assert seen == {100.0, 101.0}, seen  # the reads really overlapped the writes
    manifest = json.loads(next(root.rglob("manifest.json")).read_text())
    named = {f["name"] for f in manifest["files"]}
    assert {p.name for p in root.rglob("*.parquet")} == named  # old generations removed


_KILLED = """
import os, signal, sys
import numpy as np
from neo.data.store import HistoricalDataStore, atomic
from neo.domain import BarBatch, InstrumentId
def die(fd):
    os.kill(os.getpid(), signal.SIGKILL)  # the temp file is written, not yet renamed
atomic.os.fsync = die
ts = {t0} + np.arange(10, dtype=np.int64) * 60 * 10**9
v = np.full(10, 7.0)
HistoricalDataStore(sys.argv[1]).write(
    BarBatch.from_arrays(
        InstrumentId("sim", "BTC/USDT"), "1m", ts=ts, open=v, high=v, low=v, close=v, volume=v
    )
)
"""


def test_temp_files_of_a_killed_writer_are_removed_at_the_next_open(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    store.write(batch_of(walk(5)))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED.format(t0=T0 + 3_600 * 10**9), str(tmp_path)], env=env
    )
    assert killed.returncode == -signal.SIGKILL
    directory = next(tmp_path.rglob("manifest.json")).parent
    temps = list(directory.glob(".*.tmp"))
    assert len(temps) == 1  # what a killed write leaves behind
    with dataset_lock(directory):  # a live writer holds the lock: its temp files stay
        assert HistoricalDataStore(tmp_path).swept == 0 and temps[0].exists()
    reopened = HistoricalDataStore(tmp_path)
    assert reopened.swept == 1 and not list(directory.glob(".*.tmp"))
    assert len(reopened.read(BTC, "1m")) == 5  # the killed write changed nothing


def test_a_write_removes_leftover_temp_files(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    store.write(batch_of(walk(5)))
    directory = next(tmp_path.rglob("manifest.json")).parent
    (directory / ".2024-abc.parquet.0123.tmp").write_bytes(b"half")
    store.write(batch_of(walk(6)))
    assert not list(directory.glob(".*.tmp"))
    rows = RawBars.from_arrays([T0], [1.0], [1.0], [1.0], [1.0], [-1.0])
    written = store.write_quarantine(rows, ["negative_volume"], instrument=BTC, timeframe=TF)
    assert written.path is not None
    (written.path / ".abc.parquet.0123.tmp").write_bytes(b"half")
    store.write_quarantine(rows, ["negative_volume"], instrument=BTC, timeframe=TF)
    assert not list(written.path.glob(".*.tmp"))


def test_stale_kill_switch_temp_files_are_removed_live_ones_kept(tmp_path: Path) -> None:
    state = tmp_path / "risk" / "killswitch.json"
    state.parent.mkdir()
    stale, live = state.parent / ".killswitch-dead", state.parent / ".killswitch-live"
    stale.write_text("{")
    live.write_text("{")
    old = time.time() - 3_600
    os.utime(stale, (old, old))
    KillSwitch(state)
    assert not stale.exists() and live.exists()


@pytest.mark.parametrize(
    ("venue", "symbol"),
    [(".", "BTC/USDT"), ("..", "BTC/USDT"), ("sim", "."), ("sim", ".."), ("...", "X"),
     ("sim", "A" * 10_000), ("v" * 10_000, "X")],
)  # fmt: skip
def test_names_that_are_not_one_directory_are_refused(
    tmp_path: Path, venue: str, symbol: str
) -> None:
    root = tmp_path / "inner" / "store"
    store = HistoricalDataStore(root)
    iid = InstrumentId(venue, symbol)
    bars = BarBatch.from_arrays(iid, "1m", **walk(3))
    rows = RawBars.from_arrays([T0], [1.0], [1.0], [1.0], [1.0], [-1.0])
    calls: list[Callable[[], object]] = [
        lambda: store.write(bars),
        lambda: store.read(iid, "1m"),
        lambda: store.write_quarantine(rows, ["negative_volume"], instrument=iid, timeframe=TF),
    ]
    for call in calls:
        with pytest.raises(ConfigError, match=r"invalid (venue|symbol)") as caught:
            call()
        assert "\n" not in str(caught.value) and len(str(caught.value)) < 300
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and root not in p.parents]
    assert outside == []  # nothing escaped the store


def test_cli_refuses_dot_and_huge_names_in_one_line(tmp_path: Path) -> None:
    csv = tmp_path / "x.csv"
    csv.write_text("timestamp,open,high,low,close,volume\n2024-01-01,1,1,1,1,1\n")
    for venue, symbol in ((".", "X"), ("sim", ".."), ("sim", "S" * 10_000)):
        args = ["ingest", str(csv), "--venue", venue, "--symbol", symbol, "--timeframe", "1d"]
        result = runner.invoke(app, args)
        lines = result.stderr.splitlines()
        assert result.exit_code == 2 and len(lines) == 1, result.output
        assert lines[0].startswith("error: invalid") and "OSError" not in lines[0]


def test_list_json_is_one_object_with_sources(tmp_path: Path) -> None:
    store = HistoricalDataStore.from_settings(load_settings())
    store.write(batch_of(walk(5)), source="first")
    listed = json.loads(runner.invoke(app, ["data", "list", "--json"]).stdout)
    (dataset,) = listed["datasets"]
    assert dataset["sources"] == {"first": 5} and dataset["provenance"][0]["source"] == "first"


def test_a_store_written_before_manifests_is_read_and_upgraded(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from neo.data.store.manifest import LEGACY_SOURCE

    directory = tmp_path / "bars" / "sim" / "BTC%2FUSDT" / "1m"
    directory.mkdir(parents=True)
    more = walk(40)
    cols = {k: v[:30] for k, v in more.items()}
    pq.write_table(pa.table(cols), directory / "2024.parquet")  # the old layout
    store = HistoricalDataStore(tmp_path)
    assert _same(store.read(BTC, "1m"), batch_of(cols))
    assert store.provenance(BTC, "1m") == {"sources": {LEGACY_SOURCE: 30}, "events": []}
    result = store.write(batch_of(more), source="new.csv")
    assert (result.inserted, result.other_sources) == (10, (LEGACY_SOURCE,))
    assert not (directory / "2024.parquet").exists() and (directory / "manifest.json").exists()
    assert store.provenance(BTC, "1m")["sources"] == {LEGACY_SOURCE: 30, "new.csv": 10}
    assert _same(HistoricalDataStore(tmp_path).read(BTC, "1m"), batch_of(more))


def test_a_missing_data_file_is_named(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path, cache_entries=0)
    store.write(batch_of(walk(10)))
    next(tmp_path.rglob("*.parquet")).unlink()
    with pytest.raises(StoreError, match="vanished while reading"):
        store.read(BTC, "1m")
    with pytest.raises(StoreError, match="missing, though the manifest names it"):
        store.write(batch_of(walk(12)))
