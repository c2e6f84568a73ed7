"""Nobody's data is overwritten silently: each series records its sources, another source's
bars change only with ``replace``, and the shipped samples never touch a user's series."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from neo.cli.main import app
from neo.data.ingest import DataIngestionAPI
from neo.data.samples import ingest_samples, ingest_samples_report, load_sample, sample_path
from neo.data.store import HistoricalDataStore
from neo.domain import DataConflictError, InstrumentId
from neo.settings import load_settings
from tests.unit.data.helpers import BTC, walk

runner = CliRunner()
AAPL = InstrumentId("nasdaq", "AAPL/USD")


def _csv(path: Path, cols: dict[str, np.ndarray], scale: float = 1.0) -> Path:
    frame = pd.DataFrame({k: v for k, v in cols.items() if k != "ts"})
    for name in ("open", "high", "low", "close"):
        frame[name] *= scale
    frame.insert(0, "timestamp", pd.to_datetime(cols["ts"], utc=True).strftime("%Y-%m-%dT%H:%M"))
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def api(tmp_path: Path) -> DataIngestionAPI:
    return DataIngestionAPI(HistoricalDataStore(tmp_path / "store"))


def _ingest(api: DataIngestionAPI, path: Path, replace: bool = False) -> object:
    return api.ingest_file(path, venue="sim", symbol="BTC/USDT", timeframe="1m", replace=replace)


def test_changing_another_sources_bars_is_refused_naming_both(
    api: DataIngestionAPI, tmp_path: Path
) -> None:
    cols = walk(50)
    mine = _csv(tmp_path / "mine.csv", cols)
    _ingest(api, mine)
    before = api.store.read(BTC, "1m")
    theirs = _csv(tmp_path / "theirs.csv", cols, scale=1.01)  # same bars, other prices
    with pytest.raises(DataConflictError) as caught:
        _ingest(api, theirs)
    message = str(caught.value)
    assert str(mine) in message and str(theirs) in message and "--replace" in message
    assert "would change 50 stored bars" in message and "\n" not in message
    after = api.store.read(BTC, "1m")
    assert np.array_equal(after.close, before.close)  # nothing stored
    assert api.store.provenance(BTC, "1m")["sources"] == {str(mine): 50}


def test_replace_overwrites_and_is_recorded(api: DataIngestionAPI, tmp_path: Path) -> None:
    cols = walk(50)
    mine = _csv(tmp_path / "mine.csv", cols)
    _ingest(api, mine)
    theirs = _csv(tmp_path / "theirs.csv", {k: v[:20] for k, v in cols.items()}, scale=1.01)
    report = api.ingest_file(theirs, venue="sim", symbol="BTC/USDT", timeframe="1m", replace=True)
    assert (report.updated, report.replaced) == (20, 20)
    assert np.allclose(api.store.read(BTC, "1m").close[:20], cols["close"][:20] * 1.01)
    prov = api.store.provenance(BTC, "1m")
    assert prov["sources"] == {str(mine): 30, str(theirs): 20}
    first, last = prov["events"]
    assert first["action"] == "ingest" and first["source"] == str(mine)
    assert first["sha256"] == hashlib.sha256(mine.read_bytes()).hexdigest()
    assert last["action"] == "replace" and last["replaced_sources"] == {str(mine): 20}
    assert last["file"] == "theirs.csv" and last["time"].endswith("Z")


def test_appending_from_another_source_is_allowed_and_said(
    api: DataIngestionAPI, tmp_path: Path
) -> None:
    cols = walk(60)
    mine = _csv(tmp_path / "mine.csv", {k: v[:30] for k, v in cols.items()})
    more = _csv(tmp_path / "more.csv", {k: v[25:] for k, v in cols.items()})  # 5 identical
    _ingest(api, mine)
    report = _ingest(api, more)
    assert (report.inserted, report.unchanged, report.other_sources) == (30, 5, [str(mine)])
    assert api.store.provenance(BTC, "1m")["sources"] == {str(mine): 30, str(more): 30}


def test_a_source_may_correct_its_own_bars_and_a_no_op_records_nothing(
    api: DataIngestionAPI, tmp_path: Path
) -> None:
    cols = walk(40)
    mine = _csv(tmp_path / "mine.csv", cols)
    _ingest(api, mine)
    _ingest(api, mine)  # the same data again: no change, no event
    assert len(api.store.provenance(BTC, "1m")["events"]) == 1
    cols["volume"][3] += 1.0
    _csv(mine, cols)  # the user fixes their file in place
    assert _ingest(api, mine).updated == 1
    events = api.store.provenance(BTC, "1m")["events"]
    assert [e["action"] for e in events] == ["ingest", "ingest"]
    assert events[0]["sha256"] != events[1]["sha256"]


def _users_aapl(path: Path) -> Path:
    """The user's own AAPL daily bars: other adjustment (+3 %), the first 300 days."""
    batch = load_sample("AAPL")
    cols = {c: np.asarray(getattr(batch, c))[:300] for c in ("ts", "open", "high", "low", "close",
                                                              "volume")}  # fmt: skip
    frame = pd.DataFrame({k: v for k, v in cols.items() if k != "ts"})
    for name in ("open", "high", "low", "close"):
        frame[name] *= 1.03
    frame.insert(0, "timestamp", pd.to_datetime(cols["ts"], utc=True).strftime("%Y-%m-%d"))
    frame.to_csv(path, index=False)
    return path


def test_samples_never_change_a_users_series(api: DataIngestionAPI, tmp_path: Path) -> None:
    mine = _users_aapl(tmp_path / "aapl.csv")
    api.ingest_file(mine, venue="nasdaq", symbol="AAPL/USD", timeframe="1d")
    before = api.store.read(AAPL, "1d")
    reports = ingest_samples(api)  # what `neo demo` does first
    after = api.store.read(AAPL, "1d")
    assert len(after) == len(before) and np.array_equal(after.close, before.close)
    assert api.store.provenance(AAPL, "1d")["sources"] == {str(mine): len(before)}
    assert "AAPL/USD@nasdaq" not in [r.instrument for r in reports]
    assert len(reports) == 4  # the other samples went in
    _, skipped = ingest_samples_report(api)
    (message,) = skipped
    assert "AAPL.parquet" in message and str(mine) in message and "never change" in message


def test_cli_ingest_samples_skips_and_stats_show_provenance() -> None:
    store = HistoricalDataStore.from_settings(load_settings())
    user = load_sample("IBM").slice(0, 100)
    moved = {c: np.asarray(getattr(user, c)) * (1.02 if c != "ts" and c != "volume" else 1)
             for c in ("ts", "open", "high", "low", "close", "volume")}  # fmt: skip
    moved["ts"] = np.asarray(user.ts)
    from neo.domain import BarBatch

    store.write(
        BarBatch.from_arrays(InstrumentId("nasdaq", "IBM/USD"), "1d", **moved), source="my-ibm"
    )
    result = runner.invoke(app, ["data", "ingest-samples", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert len(payload["reports"]) == 4 and len(payload["skipped"]) == 1
    assert "IBM.parquet" in payload["skipped"][0] and "my-ibm" in payload["skipped"][0]
    assert "warning: sample IBM.parquet not ingested" in result.stderr
    args = ["data", "stats", "--venue", "nasdaq", "--symbol", "IBM/USD", "--timeframe", "1d"]
    stats = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert stats["rows"] == 100 and stats["provenance"]["sources"] == {"my-ibm": 100}
    msft = json.loads(runner.invoke(app, [*args[:5], "MSFT/USD", *args[6:], "--json"]).stdout)[
        "provenance"
    ]
    assert msft["sources"] == {"sample:MSFT.parquet": 3270}
    (event,) = msft["events"]
    assert event["sample"] == "MSFT.parquet"
    assert event["sha256"] == hashlib.sha256(sample_path("MSFT").read_bytes()).hexdigest()


def test_cli_ingest_refuses_then_replaces(tmp_path: Path) -> None:
    cols = walk(20)
    mine, theirs = _csv(tmp_path / "a.csv", cols), _csv(tmp_path / "b.csv", cols, scale=0.99)
    base = ["ingest", "--symbol", "BTC/USDT", "--timeframe", "1m", "--json"]
    assert runner.invoke(app, [base[0], str(mine), *base[1:]]).exit_code == 0
    refused = runner.invoke(app, [base[0], str(theirs), *base[1:]])
    lines = refused.stderr.splitlines()
    assert refused.exit_code == 1 and len(lines) == 1 and str(mine) in lines[0]
    replaced = runner.invoke(app, [base[0], str(theirs), *base[1:], "--replace"])
    assert replaced.exit_code == 0 and json.loads(replaced.stdout)["replaced"] == 20
    assert "replaced 20 bars" in replaced.stderr
