"""The historical store: upserts, atomic writes, range queries, resampling, quarantine, export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neo.data.feeds import read_bar_file, simulate_bars
from neo.data.store import HistoricalDataStore, LRUCache, atomic, atomic_path
from neo.data.validate import RawBars
from neo.domain import (
    BarBatch,
    ConfigError,
    DataNotFoundError,
    InstrumentId,
    StoreError,
    Timeframe,
)
from neo.settings import load_settings
from tests.unit.data.helpers import BTC, MINUTE, T0, TF, batch_of, walk

DAY = 86_400 * 10**9


def _files(store: HistoricalDataStore) -> dict[str, int]:
    return {
        str(p.relative_to(store.root)): p.stat().st_mtime_ns
        for p in store.root.rglob("*")
        if p.is_file()
    }


def test_write_read_round_trip_and_idempotent_upsert(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    batch = batch_of(walk(100))
    first = store.write(batch, source="t")
    assert (first.inserted, first.updated, first.unchanged, first.files_written) == (100, 0, 0, 1)
    before = _files(store)
    again = store.write(batch)
    assert (again.inserted, again.updated, again.unchanged, again.changed) == (0, 0, 100, 0)
    assert _files(store) == before  # nothing rewritten
    read = store.read(BTC, "1m")
    for name in ("ts", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(read, name), getattr(batch, name))
    assert next(tmp_path.joinpath("bars", "sim").iterdir()).name == "BTC%2FUSDT"


def test_upsert_replaces_changed_rows_and_merges_new_ones(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    cols = walk(50)
    store.write(batch_of({k: v[:30] for k, v in cols.items()}))
    changed = {k: v[20:50].copy() for k, v in cols.items()}
    changed["volume"][:5] += 1.0  # rows 20..24 differ from what is stored
    result = store.write(batch_of(changed))
    assert (result.inserted, result.updated, result.unchanged) == (20, 5, 5)
    read = store.read(BTC, TF)
    assert len(read) == 50 and np.all(np.diff(read.ts) > 0)
    np.testing.assert_array_equal(read.volume[20:25], cols["volume"][20:25] + 1.0)
    np.testing.assert_array_equal(read.volume[:20], cols["volume"][:20])


def test_years_are_separate_files_and_ranges_prune_them(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    start = T0 - 3 * DAY  # 2023-12-29
    bars = simulate_bars(["X/USD"], "1d", 10, seed=1, start_ns=start)
    iid = InstrumentId("sim", "X/USD")
    assert store.write(bars[iid]).files_written == 2
    names = sorted(p.name for p in tmp_path.rglob("*.parquet"))
    assert [name.split("-")[0] for name in names] == ["2023", "2024"]  # <year>-<digest>
    assert len(store.read(iid, "1d", T0, None)) == 7
    assert len(store.read(iid, "1d", None, T0)) == 3
    assert len(store.read(iid, "1d", T0 + DAY, T0 + 3 * DAY)) == 2
    assert len(store.read(iid, "1d", T0 + 400 * DAY, None)) == 0


def test_read_many_datasets_and_not_found(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    bars = simulate_bars(["A/USD", "B/USD"], "1m", 20, seed=1)
    for batch in bars.values():
        store.write(batch)
    many = store.read_many(list(bars), "1m", T0 + 5 * MINUTE, T0 + 8 * MINUTE)
    assert [len(b) for b in many.values()] == [3, 3]
    infos = store.datasets()
    assert [(d.symbol, d.rows, d.first_ts, d.last_ts) for d in infos] == [
        ("A/USD", 20, T0, T0 + 19 * MINUTE),
        ("B/USD", 20, T0, T0 + 19 * MINUTE),
    ]
    assert infos[0].instrument == InstrumentId("sim", "A/USD") and infos[0].files == 1
    with pytest.raises(DataNotFoundError, match="stored: A/USD@sim 1m"):
        store.read(InstrumentId("sim", "C/USD"), "1m")
    with pytest.raises(DataNotFoundError, match="the store is empty"):
        HistoricalDataStore(tmp_path / "other").read(BTC, "1m")


def test_resample_matches_pandas(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    batch = batch_of(walk(600, seed=2))
    store.write(batch)
    hourly = store.resample(BTC, "1m", "1h")
    frame = batch.to_pandas()
    expected = frame.resample("1h").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    assert hourly.timeframe == Timeframe.parse("1h") and len(hourly) == 10
    np.testing.assert_array_equal(hourly.ts, expected.index.as_unit("ns").asi8)
    for name in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(getattr(hourly, name), expected[name].to_numpy())
    np.testing.assert_allclose(hourly.volume, expected["volume"].to_numpy())
    part = store.resample(BTC, "1m", "1h", T0 + 90 * MINUTE, T0 + 180 * MINUTE)
    assert list(part.ts) == [T0 + 60 * MINUTE, T0 + 120 * MINUTE]  # start floored to the hour
    with pytest.raises(ConfigError, match="whole multiple"):
        store.resample(BTC, "1h", "1m")
    with pytest.raises(ConfigError, match="whole multiple"):
        store.resample(BTC, "3m", "5m")
    assert len(store.resample(BTC, "1m", "1h", T0 + 500 * DAY)) == 0


def test_weekly_resample_starts_on_monday(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    iid = InstrumentId("sim", "W/USD")
    store.write(simulate_bars(["W/USD"], "1d", 21, seed=4)[iid])
    weekly = store.resample(iid, "1d", "1w")
    assert [pd.Timestamp(t, tz="UTC").day_name() for t in weekly.ts] == ["Monday"] * 3


def test_cache_serves_repeats_and_sees_writes(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path, cache_entries=4)
    cols = walk(30)
    store.write(batch_of({k: v[:10] for k, v in cols.items()}))
    first = store.read(BTC, "1m")
    assert store.read(BTC, "1m") is first and store._cache.hits == 1
    store.write(batch_of(cols))
    assert len(store.read(BTC, "1m")) == 30  # the file changed, so the key changed
    cache: LRUCache[int] = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.get("a")
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and len(cache) == 2
    cache.clear()
    disabled: LRUCache[int] = LRUCache(0)
    disabled.put("a", 1)
    assert disabled.get("a") is None


def test_crash_mid_write_keeps_the_stored_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = HistoricalDataStore(tmp_path)
    cols = walk(20)
    store.write(batch_of({k: v[:10] for k, v in cols.items()}))
    stored = next(tmp_path.rglob("*.parquet"))
    before = stored.read_bytes()

    def crash(fd: int) -> None:  # the new file's bytes are written, not yet renamed
        raise RuntimeError("power cut")

    monkeypatch.setattr(atomic.os, "fsync", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        store.write(batch_of(cols))
    monkeypatch.undo()
    assert stored.read_bytes() == before
    names = sorted(p.name for p in stored.parent.iterdir())
    assert names == [".lock", stored.name, "manifest.json"]  # no temp, the old generation
    assert len(store.read(BTC, "1m")) == 10


def test_atomic_path_turns_os_errors_into_store_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot write"), atomic_path(blocker / "sub" / "f"):
        pass


def test_write_refuses_unsorted_batches_and_damaged_files(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    cols = walk(5)
    cols["ts"] = cols["ts"][::-1].copy()
    with pytest.raises(StoreError, match="DataValidator"):
        store.write(batch_of(cols))
    assert store.write(BarBatch.empty(BTC, TF)).rows == 0
    store.write(batch_of(walk(5)))
    damaged = next(tmp_path.rglob("*.parquet"))
    damaged.write_bytes(b"garbage")
    for call in (lambda: store.write(batch_of(walk(6))), lambda: store.read(BTC, "1m")):
        with pytest.raises(StoreError, match="is damaged") as caught:
            call()
        assert str(damaged) in str(caught.value) and "\n" not in str(caught.value)


def test_quarantine_keeps_rows_with_reasons_idempotently(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    rows = RawBars.from_arrays(
        [T0, T0 + MINUTE], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [1.0, np.nan], [1.0, -1.0]
    )
    reasons = ["ohlc_order", "non_finite,negative_volume"]
    first = store.write_quarantine(rows, reasons, instrument=BTC, timeframe=TF, source="f.csv")
    second = store.write_quarantine(rows, reasons, instrument=BTC, timeframe=TF, source="f.csv")
    assert first.new and not second.new and first.path == second.path
    frame = store.read_quarantine(BTC, TF)
    assert frame["reasons"].tolist() == reasons and set(frame["source"]) == {"f.csv"}
    assert frame["symbol"].tolist() == ["BTC/USDT"] * 2
    assert len(store.read_quarantine(InstrumentId("x", "Y/Z"))) == 0
    assert len(store.read_quarantine(timeframe=Timeframe.parse("1h"))) == 0
    empty = store.write_quarantine(
        rows.take(np.array([], dtype=np.intp)), [], instrument=BTC, timeframe=TF
    )
    assert empty.path is None
    with pytest.raises(StoreError, match="reasons"):
        store.write_quarantine(rows, ["one"], instrument=BTC, timeframe=TF)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_export_streams_a_range_that_reads_back(tmp_path: Path, suffix: str) -> None:
    store = HistoricalDataStore(tmp_path / "store")
    batch = batch_of(walk(200, seed=6))
    store.write(batch)
    out = tmp_path / f"out.{suffix}"
    result = store.export(BTC, "1m", out, start_ns=T0 + 10 * MINUTE, end_ns=T0 + 110 * MINUTE)
    assert result.rows == 100 and result.format == suffix
    raw = read_bar_file(out)
    np.testing.assert_array_equal(raw.ts, batch.ts[10:110])
    np.testing.assert_array_equal(raw.close, batch.close[10:110])


def test_export_edge_cases(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path / "store")
    iid = InstrumentId("sim", "X/USD")
    store.write(simulate_bars(["X/USD"], "1d", 3, seed=1)[iid])
    empty = store.export(iid, "1d", tmp_path / "e.csv", start_ns=T0 + 900 * DAY)
    assert empty.rows == 0 and (tmp_path / "e.csv").read_text().startswith("timestamp")
    with pytest.raises(ConfigError, match="csv or parquet"):
        store.export(iid, "1d", tmp_path / "e.json")
    store.close()


def test_from_settings_uses_the_data_dir(isolated_neo_env: Path) -> None:
    store = HistoricalDataStore.from_settings(load_settings())
    assert store.root == isolated_neo_env / "store"
    assert store.quarantine.root == isolated_neo_env / "store" / "quarantine"


def test_concurrent_writers_of_one_dataset_lose_nothing(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    cols = walk(4000)
    parts = [batch_of({k: v[i::4] for k, v in cols.items()}) for i in range(4)]
    stores = [HistoricalDataStore(tmp_path) for _ in parts]  # like separate processes
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda sp: sp[0].write(sp[1]), zip(stores, parts, strict=True)))
    assert sum(r.inserted for r in results) == 4000
    np.testing.assert_array_equal(HistoricalDataStore(tmp_path).read(BTC, "1m").ts, cols["ts"])


def test_dataset_lock_reports_unusable_paths(tmp_path: Path) -> None:
    from neo.data.store.atomic import dataset_lock

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot lock"), dataset_lock(blocker / "dir"):
        pass
