"""Feeds: the simulator's statistics and determinism, streaming order, and every file layout."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from neo.data.feeds import (
    DEFAULT_START_NS,
    CsvFeed,
    FileFeed,
    MarketDataFeed,
    ParquetFeed,
    ReplayFeed,
    SimulatedMarketDataFeed,
    detect_format,
    iter_time_ordered,
    read_bar_file,
    simulate_bars,
    write_bars,
)
from neo.data.feeds.timestamps import epoch_to_ns
from neo.data.store import HistoricalDataStore
from neo.data.validate import DataValidator
from neo.domain import Bar, ConfigError, DataFormatError, InstrumentId, Timeframe
from tests.unit.data.helpers import BTC, MINUTE, T0, batch_of, walk

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]


def test_simulate_is_seeded_positive_and_valid() -> None:
    bars = simulate_bars(SYMBOLS, "1m", 20_000, seed=7)
    again = simulate_bars(SYMBOLS, "1m", 20_000, seed=7)
    other = simulate_bars(SYMBOLS, "1m", 20_000, seed=8)
    btc = InstrumentId("sim", "BTC/USDT")
    np.testing.assert_array_equal(bars[btc].close, again[btc].close)
    assert not np.array_equal(bars[btc].close, other[btc].close)
    assert bars[btc].open[0] == 42_000.0 and bars[InstrumentId("sim", "SOL/USDT")].open[0] == 100.0
    for batch in bars.values():
        assert len(batch) == 20_000 and batch.ts[0] == DEFAULT_START_NS
        assert np.all(np.diff(batch.ts) == MINUTE)
        report = DataValidator("1m").validate(batch)
        assert report.n_rejected == 0 and report.n_accepted == 20_000


def test_simulate_correlation_and_regimes() -> None:
    bars = simulate_bars(["A/USD", "B/USD"], "1h", 30_000, seed=1, correlation=0.6)
    a, b = (np.diff(np.log(x.close)) for x in bars.values())
    assert abs(np.corrcoef(a, b)[0, 1] - 0.6) < 0.05
    independent = simulate_bars(["A/USD", "B/USD"], "1h", 30_000, seed=1, correlation=0.0)
    a0, b0 = (np.diff(np.log(x.close)) for x in independent.values())
    assert abs(np.corrcoef(a0, b0)[0, 1]) < 0.05
    # regime switches: rolling volatility varies far more than sampling noise would allow
    vol = np.array([a[i : i + 500].std() for i in range(0, len(a) - 500, 500)])
    assert vol.max() / vol.min() > 1.8


def test_simulate_daily_data_passes_daily_limits() -> None:
    bars = simulate_bars(["X/USD"], "1d", 3000, seed=3, start_prices=[50.0])
    batch = next(iter(bars.values()))
    assert DataValidator("1d").validate(batch).n_rejected == 0
    assert batch.open[0] == 50.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"symbols": []}, "at least one symbol"),
        ({"n_bars": 0}, "number of bars"),
        ({"correlation": 1.0}, "correlation"),
        ({"start_ns": DEFAULT_START_NS + 1}, "grid"),
        ({"start_prices": [1.0, 2.0]}, "start price"),
    ],
)
def test_simulate_rejects_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"symbols": ["A/B"], "timeframe": "1m", "n_bars": 10, "seed": 1}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        simulate_bars(**args)  # type: ignore[arg-type]


def _collect(feed: MarketDataFeed) -> list[Bar]:
    async def run() -> list[Bar]:
        return [bar async for bar in feed]

    return asyncio.run(run())


def test_simulated_feed_streams_in_time_order_across_symbols() -> None:
    feed = SimulatedMarketDataFeed(SYMBOLS, "5m", n_bars=1500, seed=2, pace=None)
    assert isinstance(feed, MarketDataFeed)
    assert feed.timeframe == Timeframe.parse("5m") and len(feed.instruments) == 3
    bars = _collect(feed)
    assert len(bars) == 4500
    keys = [(b.ts, SYMBOLS.index(b.instrument.symbol)) for b in bars]
    assert keys == sorted(keys)
    history = feed.history(DEFAULT_START_NS + 10 * 300_000_000_000, None)
    assert all(len(b) == 1490 for b in history.values())
    first = history[feed.instruments[0]]
    assert bars[30].close == first.close[0]


def test_paced_feed_and_arguments() -> None:
    feed = SimulatedMarketDataFeed(["A/B", "C/D"], "1m", n_bars=3, seed=1, pace=0.0)
    bars = _collect(feed)
    assert [b.ts for b in bars] == sorted(b.ts for b in bars) and len(bars) == 6
    with pytest.raises(ConfigError, match="pace"):
        SimulatedMarketDataFeed(["A/B"], "1m", n_bars=3, seed=1, pace=-1)
    with pytest.raises(ConfigError, match="at least one instrument"):
        SimulatedMarketDataFeed([], "1m", n_bars=3, seed=1)
    assert list(iter_time_ordered({})) == []


def _frame_rows(n: int = 5) -> dict[str, np.ndarray]:
    return walk(n, seed=4)


def test_generic_csv_with_ms_seconds_and_iso(tmp_path: Path) -> None:
    cols = _frame_rows()
    stamps = {
        "ms": [str(t // 1_000_000) for t in cols["ts"]],
        "s": [str(t // 1_000_000_000) for t in cols["ts"]],
        "iso": [f"2024-01-01T00:0{i}:00Z" for i in range(5)],
    }
    for name, ts_text in stamps.items():
        path = tmp_path / f"{name}.csv"
        lines = ["Timestamp,Open,High,Low,Close,Volume"] + [
            ",".join(
                [t, *(repr(float(cols[k][i])) for k in ("open", "high", "low", "close", "volume"))]
            )
            for i, t in enumerate(ts_text)
        ]
        path.write_text("\n".join(lines) + "\n")
        raw = read_bar_file(path)
        np.testing.assert_array_equal(raw.ts, cols["ts"])
        np.testing.assert_array_equal(raw.close, cols["close"])


def test_headerless_ccxt_csv_and_json_lists(tmp_path: Path) -> None:
    cols = _frame_rows()
    rows = [
        [
            int(cols["ts"][i] // 1_000_000),
            *(float(cols[k][i]) for k in ("open", "high", "low", "close", "volume")),
        ]
        for i in range(5)
    ]
    csv_path = tmp_path / "ccxt.csv"
    csv_path.write_text("\n".join(",".join(repr(v) for v in r) for r in rows) + "\n")
    json_path = tmp_path / "BTC_USDT-1m.json"  # freqtrade's json files are ccxt lists
    json_path.write_text(json.dumps(rows))
    dict_path = tmp_path / "dicts.json"
    dict_path.write_text(
        json.dumps(
            [
                dict(zip(["timestamp", "open", "high", "low", "close", "volume"], r, strict=True))
                for r in rows
            ]
        )
    )
    for path in (csv_path, json_path, dict_path):
        raw = read_bar_file(path)
        np.testing.assert_array_equal(raw.ts, cols["ts"])
        np.testing.assert_array_equal(raw.volume, cols["volume"])
    assert len(read_bar_file(json_path, "ccxt")) == 5


def test_freqtrade_feather_and_parquet(tmp_path: Path) -> None:
    cols = _frame_rows()
    table = pa.table(
        {
            "date": pa.array(cols["ts"] // 1_000_000, pa.timestamp("ms", tz="UTC")),
            **{k: cols[k] for k in ("open", "high", "low", "close", "volume")},
        }
    )
    feather.write_feather(table, tmp_path / "BTC_USDT-1m.feather")
    pq.write_table(table, tmp_path / "bars.parquet")
    for name in ("BTC_USDT-1m.feather", "bars.parquet"):
        raw = read_bar_file(tmp_path / name)
        np.testing.assert_array_equal(raw.ts, cols["ts"])


def test_symbol_column_selects_rows_and_write_bars_round_trips(tmp_path: Path) -> None:
    bars = simulate_bars(["A/USD", "B/USD"], "1m", 50, seed=5)
    path = tmp_path / "two.csv"
    assert write_bars(list(bars.values()), path) == 100
    raw = read_bar_file(path, symbol="B/USD")
    expected = bars[InstrumentId("sim", "B/USD")]
    np.testing.assert_array_equal(raw.ts, expected.ts)
    np.testing.assert_allclose(raw.close, expected.close, rtol=1e-15)
    with pytest.raises(DataFormatError, match="2 symbols"):
        read_bar_file(path)
    with pytest.raises(DataFormatError, match="no rows for symbol"):
        read_bar_file(path, symbol="C/USD")
    single = tmp_path / "one.parquet"
    write_bars([expected], single)
    assert len(read_bar_file(single)) == 50
    with pytest.raises(ConfigError, match="csv or parquet"):
        write_bars([expected], tmp_path / "x.json")


def test_bad_files_raise_one_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header_only = tmp_path / "header.csv"
    header_only.write_text("timestamp,open,high,low,close,volume\n")
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("when,price\n1,2\n")
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet at all")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("[[1, 2]]")
    cases = [
        (empty, "empty"),
        (header_only, "no rows"),
        (unknown, "unknown columns"),
        (garbage, "cannot read garbage.parquet"),
        (bad_json, "every row must be"),
        (tmp_path / "missing.csv", "does not exist"),
        (tmp_path / "data.txt", "cannot tell the format"),
    ]
    for path, match in cases:
        with pytest.raises(DataFormatError, match=match):
            read_bar_file(path)
    (tmp_path / "empty_list.json").write_text("[]")
    with pytest.raises(DataFormatError, match="holds no bars"):
        read_bar_file(tmp_path / "empty_list.json")


def test_bad_values_become_rejectable_rows(tmp_path: Path) -> None:
    path = tmp_path / "text.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z,1,1,1,1,1\n"
        "not a time,1,1,1,oops,1\n"
    )
    raw = read_bar_file(path)
    assert raw.ts_valid.tolist() == [True, False]
    assert np.isnan(raw.close[1])
    nullable = tmp_path / "nulls.parquet"
    pq.write_table(
        pa.table(
            {
                "ts": pa.array([T0 // 10**6, None], pa.float64()),
                "open": [1.0, 1.0],
                "high": [1, 1],
                "low": [1, 1],
                "close": [1, 1],
                "volume": [1, 1],
            }
        ),
        nullable,
    )
    assert read_bar_file(nullable).ts_valid.tolist() == [True, False]


def test_epoch_units_and_format_detection() -> None:
    seconds = np.array([1_704_067_200.0, np.nan])
    assert epoch_to_ns(seconds).tolist() == [T0, np.iinfo(np.int64).min]
    assert epoch_to_ns(np.array([T0 / 1000.0]))[0] == T0  # microseconds
    assert epoch_to_ns(np.array([float(T0)]))[0] == T0
    assert epoch_to_ns(np.array([np.nan]))[0] == np.iinfo(np.int64).min
    assert detect_format(Path("a.csv.gz")) == "csv"
    assert detect_format(Path("a.bin"), "freqtrade-feather") == "feather"


def test_file_feeds_validate_and_serve(tmp_path: Path) -> None:
    cols = walk(30, seed=9)
    cols["volume"][4] = -1.0
    path = tmp_path / "bars.csv"
    write_bars([batch_of(cols)], path)
    feed = CsvFeed(path, BTC, "1m")
    history = feed.history()
    assert len(history[BTC]) == 29 and feed.report.n_rejected == 1
    assert len(_collect(feed)) == 29
    pq_path = tmp_path / "bars.parquet"
    write_bars([batch_of(walk(10))], pq_path)
    assert len(ParquetFeed(pq_path, BTC, "1m").history()[BTC]) == 10
    assert (
        len(FileFeed(pq_path, BTC, "1m", fmt="parquet").history(end_ns=T0 + 3 * MINUTE)[BTC]) == 3
    )


def test_replay_feed_reads_the_store(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path / "store")
    bars = simulate_bars(["A/USD", "B/USD"], "1m", 40, seed=1)
    for batch in bars.values():
        store.write(batch)
    feed = ReplayFeed(store, list(bars), "1m", start_ns=T0 + 10 * MINUTE, end_ns=T0 + 20 * MINUTE)
    streamed = _collect(feed)
    assert len(streamed) == 20
    assert [b.ts for b in streamed[::2]] == [T0 + i * MINUTE for i in range(10, 20)]
    assert streamed[0].instrument.symbol == "A/USD" and streamed[1].instrument.symbol == "B/USD"
