"""Defaults that agree between commands, and hints that help: the one stored timeframe is
used when none is given, a missing series names the closest stored ones, an empty window
says so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from neo.data.store import HistoricalDataStore
from neo.data.store.hints import closest_series
from neo.domain import BarBatch, InstrumentId, Timeframe
from neo.settings import load_settings
from tests.unit.engine.bars import walk

runner = CliRunner()
DAY = Timeframe.parse("1d")


def _daily(symbol: str, seed: int, n: int = 400) -> BarBatch:
    minute = walk(n, seed=seed, symbol=symbol)
    ts = 1_600_000_000 * 10**9 // DAY.nanos * DAY.nanos + np.arange(n) * DAY.nanos
    return BarBatch.from_arrays(
        InstrumentId("sim", symbol), DAY, ts=ts, open=minute.open, high=minute.high,
        low=minute.low, close=minute.close, volume=minute.volume,
    )  # fmt: skip


@pytest.fixture
def daily_only() -> None:
    store = HistoricalDataStore.from_settings(load_settings())
    store.write(_daily("GOOG/USD", 1))
    store.write(_daily("AAPL/USD", 2))
    store.close()


def _run(args: list[str]) -> dict[str, object]:
    from neo.cli.main import app

    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    payload: dict[str, object] = json.loads(result.stdout)
    return payload


@pytest.mark.usefixtures("daily_only")
def test_the_one_stored_timeframe_is_the_default_everywhere(tmp_path: Path) -> None:
    backtest = _run(["backtest", "--symbol", "GOOG/USD", "--param", "size=1"])
    assert backtest["timeframe"] == "1d" and backtest["bars"] == 400
    stats = _run(["data", "stats", "--symbol", "GOOG/USD"])
    assert stats["timeframe"] == "1d" and stats["rows"] == 400
    exported = _run(["data", "export", "--symbol", "AAPL/USD", "--out", str(tmp_path / "a.csv")])
    assert exported["rows"] == 400
    paper = _run(["paper", "--feed", "replay", "--symbol", "GOOG/USD", "--cycles", "20"])
    assert paper["bars"] == 20
    train = _run(["train", "--symbols", "GOOG/USD,AAPL/USD", "--train-window", "150",
                  "--retrain-every", "100", "--min-train", "120"])  # fmt: skip
    assert train["timeframe"] == "1d"


@pytest.mark.usefixtures("daily_only")
def test_a_missing_series_names_the_closest_stored_ones() -> None:
    from neo.cli.main import app

    typo = runner.invoke(app, ["backtest", "--symbol", "GOOGL/USD"])
    assert typo.exit_code != 0
    assert "closest stored: GOOG/USD@sim 1d" in typo.stderr
    wrong_frame = runner.invoke(app, ["backtest", "--symbol", "GOOG/USD", "--timeframe", "1h"])
    assert "GOOG/USD@sim is stored as 1d: pass --timeframe 1d" in wrong_frame.stderr


def test_closest_series_ranks_by_name_not_alphabet() -> None:
    known = [(InstrumentId("x", s), DAY) for s in ("AAA/USD", "AAB/USD", "GOOG/USD", "MSFT/USD")]
    hint = closest_series(InstrumentId("x", "GOOGL"), DAY, known)
    assert hint == "closest stored: GOOG/USD@x 1d"
    far = closest_series(InstrumentId("x", "ZZZZZZ"), DAY, known)
    assert far.startswith("nothing close; 4 stored, e.g.")
    assert closest_series(InstrumentId("x", "Q"), DAY, []) == "the store is empty"


@pytest.mark.usefixtures("daily_only")
@pytest.mark.parametrize(
    "command",
    [
        ["backtest", "--symbol", "GOOG/USD"],
        ["data", "stats", "--symbol", "GOOG/USD"],
        ["paper", "--feed", "replay", "--symbol", "GOOG/USD"],
        ["train", "--symbols", "GOOG/USD"],
    ],
)
def test_start_after_end_says_so(command: list[str]) -> None:
    from neo.cli.main import app

    result = runner.invoke(app, [*command, "--start", "2021-06-01", "--end", "2021-01-01"])
    assert result.exit_code != 0
    assert "--start 2021-06-01 is not before --end 2021-01-01" in result.stderr
