"""One timestamp convention in every command's JSON, and readable text tables.

A time is an ISO-8601 UTC string; where the exact value matters an integer ``<key>_ns`` sits
beside it. So no integer that looks like a nanosecond epoch (> 1e17) may appear under any other
key, and every ``<key>_ns`` time has its ISO twin.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from neo.cli.main import app
from neo.data.store import HistoricalDataStore
from neo.settings import load_settings
from tests.unit.engine.bars import walk

runner = CliRunner()
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture
def stored() -> None:
    store = HistoricalDataStore.from_settings(load_settings())
    store.write(walk(400, seed=5, symbol="BTC/USDT"))
    store.write(walk(400, seed=6, symbol="ETH/USDT"))
    store.close()


def _json(args: list[str]) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _check(value: Any, path: str = "") -> int:
    """Walk the payload; return how many time fields it holds."""
    if isinstance(value, dict):
        found = 0
        for key, item in value.items():
            where = f"{path}.{key}"
            is_ns_epoch = isinstance(item, int) and not isinstance(item, bool) and item > 10**17
            if is_ns_epoch and not key.endswith("_ns"):
                raise AssertionError(f"{where} = {item}: a time in ns without its ISO form")
            if key.endswith("_ns") and is_ns_epoch and "duration" not in key:
                twin = value.get(key.removesuffix("_ns"))
                assert isinstance(twin, str) and ISO.match(twin), f"{where}: ISO twin {twin!r}"
                found += 1
            found += _check(item, where)
        return found
    if isinstance(value, list):
        return sum(_check(item, f"{path}[]") for item in value)
    return 0


@pytest.mark.usefixtures("stored")
def test_every_command_prints_iso_times_with_ns_twins() -> None:
    backtest = _json(["backtest", "--symbols", "BTC/USDT,ETH/USDT", "--param", "size=1"])
    assert _check(backtest) > 4  # first/last, metrics start/end, trade entries and exits
    assert ISO.match(backtest["metrics"]["start"]) and backtest["trades"]
    assert backtest["metrics"]["max_drawdown_duration"]  # humanised beside the ns
    paper = _json(["paper", "--feed", "replay", "--symbol", "BTC/USDT", "--cycles", "50"])
    _check(paper)
    for args in (
        ["data", "stats", "--symbol", "BTC/USDT"],
        ["data", "list"],
        ["risk", "status"],
    ):
        _check(_json(args))
    assert _json(["risk", "status"])["engaged_at"] is None  # never engaged


@pytest.mark.usefixtures("stored")
def test_the_backtest_table_prints_dates_and_durations_for_people() -> None:
    result = runner.invoke(app, ["backtest", "--symbol", "BTC/USDT", "--param", "size=1"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "2023-11-14T22:14:00Z" in text  # the first bar, not 1699999...000
    assert not re.search(r"\b1[67]\d{17}\b", text), "a raw ns time in the table"
    assert not re.search(r"\d+ days?, \d+:\d\d:\d\d", text), "a timedelta repr"
    assert not re.search(r"(?<![\w.])-0(\.0+)?(?![\d.])", text), "a negative zero"


def test_ingest_reports_follow_the_convention(tmp_path: Path) -> None:
    path = tmp_path / "walk.csv"
    simulated = _json(["simulate", "--symbols", "X/USD", "--bars", "300", "--out", str(path)])
    _check(simulated)
    report = _json(["ingest", str(path), "--venue", "sim", "--symbol", "X/USD"])
    assert _check(report) >= 2 and ISO.match(report["first_ts"])
    samples = _json(["data", "ingest-samples"])
    assert _check(samples) >= 10  # first/last of each sample, their warning samples
