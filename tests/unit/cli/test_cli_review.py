"""Review what was rejected: quarantine ids, `neo data release`, `neo data delete`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from neo.cli.main import app
from neo.data.store import HistoricalDataStore
from neo.data.validate import DataValidator
from neo.settings import load_settings
from tests.unit.data.helpers import BTC, MINUTE, T0, walk

runner = CliRunner()
SPIKE, NEGATIVE = 20, 30  # rows of the file: an isolated spike, a negative volume


def _file(tmp_path: Path) -> Path:
    cols = walk(60)
    cols["close"][SPIKE] *= 1.4  # reverts at the next bar: a price_jump
    cols["high"][SPIKE] = cols["close"][SPIKE] * 1.001
    cols["volume"][NEGATIVE] = -1.0
    frame = pd.DataFrame({k: v for k, v in cols.items() if k != "ts"})
    frame.insert(0, "timestamp", pd.to_datetime(cols["ts"], utc=True).strftime("%Y-%m-%dT%H:%M"))
    path = tmp_path / "bars.csv"
    frame.to_csv(path, index=False)
    return path


def _run(args: list[str], code: int = 0) -> dict[str, object]:
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if code == 0 and "--json" in args else {}


def _error(args: list[str], code: int) -> str:
    result = runner.invoke(app, args)
    lines = result.stderr.splitlines()
    assert result.exit_code == code and len(lines) == 1, result.output
    return lines[0]


def _ingest(path: Path) -> None:
    _run(["ingest", str(path), "--symbol", "BTC/USDT", "--timeframe", "1m", "--json"])


def _quarantine() -> dict[str, dict[str, object]]:
    rows = _run(["data", "quarantine", "--json"])["sample"]
    return {str(r["reasons"]): r for r in rows}  # type: ignore[attr-defined]


def test_quarantine_ids_are_stable_and_release_stores_the_reviewed_row(tmp_path: Path) -> None:
    path = _file(tmp_path)
    _ingest(path)
    first = _quarantine()
    assert set(first) == {"price_jump", "negative_volume"}
    _ingest(path)  # the same file again: the same rows, the same ids
    again = _quarantine()
    assert {k: r["id"] for k, r in again.items()} == {k: r["id"] for k, r in first.items()}
    spike = str(first["price_jump"]["id"])
    released = _run(["data", "release", spike, "--json"])
    (item,) = released["released"]  # type: ignore[attr-defined]
    assert item == {"instrument": "BTC/USDT@sim", "timeframe": "1m", "ids": [spike], "stored": 1}
    store = HistoricalDataStore.from_settings(load_settings())
    bars = store.read(BTC, "1m")
    at = int(np.searchsorted(bars.ts, T0 + SPIKE * MINUTE))
    assert bars.ts[at] == T0 + SPIKE * MINUTE and len(bars) == 59  # the negative row stays out
    assert set(_quarantine()) == {"negative_volume"}
    event = store.provenance(BTC, "1m")["events"][-1]
    assert event["action"] == "release" and event["ids"] == [spike]
    assert event["source"] == str(path)
    _ingest(path)  # ingesting the file again does not quarantine the released row again
    assert len(store.read(BTC, "1m")) == 59


def test_release_refuses_wrong_data_and_unknown_ids(tmp_path: Path) -> None:
    _ingest(_file(tmp_path))
    negative = str(_quarantine()["negative_volume"]["id"])
    assert f"  {negative} BTC/USDT@sim" in runner.invoke(app, ["data", "quarantine"]).stdout
    line = _error(["data", "release", negative], 1)
    assert "negative_volume" in line and "fix the source" in line
    assert "nope" in _error(["data", "release", "nope"], 1)
    assert set(_quarantine()) == {"price_jump", "negative_volume"}  # nothing released


def test_validator_skips_only_the_named_rule() -> None:
    cols = walk(3)
    cols["close"][1] *= 1.5
    cols["high"][1] = cols["close"][1]
    cols["volume"][1] = -1.0
    report = DataValidator("1m").validate(cols, skip=("price_jump",))
    assert report.reasons == ("negative_volume",)
    cols["volume"][1] = 1.0
    assert DataValidator("1m").validate(cols, skip=("price_jump",)).n_rejected == 0
    assert DataValidator("1m").validate(cols).reasons == ("price_jump",)


def test_delete_needs_yes_and_records_it(tmp_path: Path) -> None:
    _ingest(_file(tmp_path))
    base = ["data", "delete", "--symbol", "BTC/USDT", "--timeframe", "1m"]
    window = ["--start", "2024-01-01T00:10", "--end", "2024-01-01T00:15"]
    line = _error([*base, *window], 2)
    assert "would delete 5 bars" in line and "--yes" in line
    store = HistoricalDataStore.from_settings(load_settings())
    assert len(store.read(BTC, "1m")) == 58
    deleted = _run([*base, *window, "--yes", "--json"])
    assert deleted["deleted"] == 5 and deleted["start"] == "2024-01-01T00:10:00Z"
    bars = store.read(BTC, "1m")
    assert len(bars) == 53 and not np.isin(T0 + np.arange(10, 15) * MINUTE, bars.ts).any()
    event = store.provenance(BTC, "1m")["events"][-1]
    assert (event["action"], event["rows"]) == ("delete", 5)
    assert _run([*base, "--yes", "--json"])["deleted"] == 53  # the whole series
    assert "no 1m bars stored" in _error(["data", "stats", "--symbol", "BTC/USDT"], 1)
    listed = _run(["data", "list", "--json"])
    assert listed["datasets"] == []


@pytest.mark.parametrize("args", [["data", "delete", "--symbol", "X/Y", "--timeframe", "1m"]])
def test_delete_of_nothing_is_a_clear_error(args: list[str]) -> None:
    assert "no 1m bars stored for X/Y@sim" in _error(args, 1)
