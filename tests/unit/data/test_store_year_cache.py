"""The writer's year-file cache and the previous close read from year files: the same answers
as reading the store through DuckDB, and a damaged file is still found."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neo.data.store import HistoricalDataStore
from neo.data.store.writer import YearCache, YearFile
from neo.domain import StoreError
from tests.unit.data.helpers import BTC, MINUTE, T0, TF, batch_of, walk


def _shifted(n: int, minutes: int, seed: int) -> dict[str, np.ndarray]:
    cols = walk(n, seed=seed)
    cols["ts"] = cols["ts"] + minutes * MINUTE
    return cols


def test_close_before_matches_a_read_of_the_window_across_years_and_gaps(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    store.write(batch_of(_shifted(30, -10, seed=1)))  # 2023-12-31 23:50 .. 2024-01-01 00:19
    store.write(batch_of(_shifted(20, 100, seed=2)))  # after a gap of 80 minutes
    lookback = 50 * MINUTE
    for minutes in (-20, -10, -9, 0, 5, 20, 21, 69, 70, 71, 100, 101, 119, 120, 500):
        ts = T0 + minutes * MINUTE
        window = store.read(BTC, TF, ts - lookback, ts)
        expected = float(window.close[-1]) if len(window) else None
        assert store.close_before(BTC, TF, ts, lookback) == expected, minutes


def test_close_before_of_an_empty_series_is_none(tmp_path: Path) -> None:
    assert HistoricalDataStore(tmp_path).close_before(BTC, TF, T0, MINUTE) is None


def test_appends_through_the_cache_store_exactly_what_a_fresh_store_reads(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    for part in range(5):  # each append merges into the year file the one before wrote
        store.write(batch_of(_shifted(10, 10 * part, seed=part)))
    store.write(batch_of(_shifted(5, 12, seed=9)))  # an update in the middle
    fresh = HistoricalDataStore(tmp_path).read(BTC, TF)
    assert len(fresh) == 50
    expected = np.concatenate([_shifted(10, 10 * p, seed=p)["close"] for p in range(5)])
    expected[12:17] = _shifted(5, 12, seed=9)["close"]
    np.testing.assert_array_equal(fresh.close, expected)


def test_a_damaged_file_is_found_even_when_its_columns_are_cached(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    store.write(batch_of(walk(5)))
    damaged = next(tmp_path.rglob("*.parquet"))
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\x00")  # same size, other bytes
    # An update reaching the file reads it (an append after it would not: it writes a
    # segment of its own bars and leaves the year file alone, see test_store_segments.py).
    with pytest.raises(StoreError, match="is damaged"):
        store.write(batch_of(_shifted(5, 2, seed=3)))
    with pytest.raises(StoreError, match="is damaged"):
        store.close_before(BTC, TF, T0 + 3 * MINUTE, 100 * MINUTE)


def test_year_cache_is_bounded_by_rows_and_hands_out_its_own_labels() -> None:
    cache = YearCache(max_rows=10)

    def year(rows: int) -> YearFile:
        columns = {"ts": np.arange(rows, dtype=np.int64)}
        return YearFile(columns, np.zeros(rows, np.int32), ["a"])

    cache.put("one", year(6))
    got = cache.get("one")
    assert got is not None
    got.code_of("b")  # a merge adds a source to its copy only
    again = cache.get("one")
    assert again is not None and again.labels == ["a"]
    with pytest.raises(ValueError):
        again.columns["ts"][0] = 5  # cached arrays are read-only
    cache.put("two", year(6))  # 12 rows > 10: the oldest goes
    assert cache.get("one") is None and cache.get("two") is not None
    cache.put("big", year(11))  # larger than the whole budget: not kept
    assert cache.get("big") is None
