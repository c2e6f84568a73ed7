"""The ingestion service and the shipped samples: every row accounted for, idempotent."""

from __future__ import annotations

from pathlib import Path

import bokeh_sampledata.stocks as stocks
import numpy as np
import pytest

from neo.data import get_data_ingestion_api
from neo.data.feeds import write_bars
from neo.data.ingest import DataIngestionAPI, dataset_stats
from neo.data.samples import (
    SAMPLES_DIR,
    ingest_samples,
    list_samples,
    load_sample,
    load_sp500_closes,
    sample_path,
)
from neo.data.store import HistoricalDataStore
from neo.domain import BarBatch, DataFormatError, DataNotFoundError, InstrumentId
from neo.settings import load_settings
from tests.unit.data.helpers import BTC, MINUTE, T0, TF, batch_of, walk
from tests.unit.data.test_validate import PLANTED


@pytest.fixture
def api(tmp_path: Path) -> DataIngestionAPI:
    return DataIngestionAPI(HistoricalDataStore(tmp_path / "store"))


def test_planted_file_is_fully_accounted_for_and_idempotent(
    api: DataIngestionAPI, tmp_path: Path
) -> None:
    path = tmp_path / "planted.csv"
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(PLANTED) + "\n")
    report = api.ingest_file(path, venue="sim", symbol="BTC/USDT", timeframe="1m")
    assert (report.rows_read, report.accepted, report.rejected, report.merged_duplicates) == (
        15,
        7,
        7,
        1,
    )
    assert report.stored == 7 and report.ok and report.gaps == 2 and report.missing_bars == 5
    stored = api.store.read(BTC, "1m")
    quarantined = api.quarantined(BTC, "1m")
    assert len(stored) + len(quarantined) + report.merged_duplicates == report.rows_read
    assert sorted(quarantined["source_row"]) == [2, 3, 4, 7, 8, 9, 11]
    assert set(quarantined["source"]) == {str(path)}
    files = sorted((p, p.stat().st_mtime_ns) for p in api.store.root.rglob("*") if p.is_file())
    again = api.ingest_file(path, venue="sim", symbol="BTC/USDT", timeframe="1m")
    assert (again.accepted, again.stored, again.unchanged) == (7, 0, 7)
    assert (
        sorted((p, p.stat().st_mtime_ns) for p in api.store.root.rglob("*") if p.is_file()) == files
    )
    assert report.to_dict()["counts_by_rule"]["price_jump"] == 1


def test_jump_rule_holds_across_batches(api: DataIngestionAPI) -> None:
    cols = walk(20)
    api.ingest_frame(batch_of({k: v[:10] for k, v in cols.items()}), instrument=BTC, timeframe=TF)
    later = {k: v[10:].copy() for k, v in cols.items()}
    for name in ("open", "high", "low", "close"):
        later[name][0] *= 1.2  # the first new bar jumps 20 % from the stored close
    report = api.ingest_frame(later, instrument=BTC, timeframe=TF, source="later")
    assert report.counts_by_rule["price_jump"] == 1 and report.accepted == 9


def test_empty_and_all_rejected_input(api: DataIngestionAPI) -> None:
    with pytest.raises(DataFormatError, match="no rows"):
        api.ingest_frame(BarBatch.empty(BTC, TF), instrument=BTC, timeframe=TF)
    cols = walk(3)
    cols["volume"][:] = -1.0
    report = api.ingest_frame(cols, instrument=BTC, timeframe=TF)
    assert not report.ok and report.rejected == 3 and report.first_ts is None
    assert report.quarantine_path is not None and Path(report.quarantine_path).is_dir()
    assert report.quarantine_added == 3


def test_stats_export_and_datasets(api: DataIngestionAPI, tmp_path: Path) -> None:
    cols = walk(100, seed=5)
    keep = np.r_[0:40, 43:100]
    api.ingest_frame({k: v[keep] for k, v in cols.items()}, instrument=BTC, timeframe=TF)
    stats = api.stats(BTC, "1m")
    assert stats["rows"] == 97 and stats["gaps"] == 1 and stats["missing_bars"] == 3
    close = cols["close"][keep]
    log_returns = np.diff(np.log(close))
    assert stats["returns"]["std_log"] == pytest.approx(np.std(log_returns, ddof=1))
    assert stats["returns"]["total"] == pytest.approx(close[-1] / close[0] - 1)
    assert stats["first_ts"] == T0 and stats["last_ts"] == T0 + 99 * MINUTE
    assert api.datasets()[0].rows == 97
    assert api.export(BTC, "1m", tmp_path / "x.csv").rows == 97
    single = dataset_stats(batch_of({k: v[:1] for k, v in cols.items()}))
    assert single["returns"] is None and single["gaps"] == 0
    two = dataset_stats(batch_of({k: v[:2] for k, v in cols.items()}))
    assert two["returns"]["std_log"] == 0.0


def test_factory_uses_settings(isolated_neo_env: Path) -> None:
    api = get_data_ingestion_api()
    assert api.store.root == isolated_neo_env / "store"
    assert api.validator_config == load_settings().data.validation
    assert get_data_ingestion_api(load_settings()).store.root == api.store.root


def test_ingest_file_of_simulated_data(api: DataIngestionAPI, tmp_path: Path) -> None:
    from neo.data.feeds import simulate_bars

    bars = simulate_bars(["ETH/USDT"], "1m", 500, seed=3)
    write_bars(list(bars.values()), tmp_path / "eth.parquet")
    report = api.ingest_file(
        tmp_path / "eth.parquet", venue="sim", symbol="ETH/USDT", timeframe="1m"
    )
    assert report.accepted == 500 and report.rejected == 0
    with pytest.raises(DataNotFoundError):
        api.stats(InstrumentId("sim", "NOPE/X"), "1m")


# -- shipped samples ----------------------------------------------------------------------------
def test_samples_are_adjusted_real_data() -> None:
    infos = list_samples()
    assert [i.symbol for i in infos] == ["AAPL/USD", "IBM/USD", "MSFT/USD", "GOOG/USD", "FB/USD"]
    assert all(i.venue == "nasdaq" and i.timeframe == "1d" for i in infos)
    aapl = load_sample("AAPL")
    raw = stocks.AAPL
    np.testing.assert_allclose(aapl.close, np.asarray(raw["adj_close"]), rtol=1e-12)
    assert len(aapl) == len(raw["date"]) == infos[0].rows
    factor = np.asarray(raw["adj_close"]) / np.asarray(raw["close"])
    np.testing.assert_allclose(aapl.open, np.asarray(raw["open"]) * factor, rtol=1e-12)
    # the 2:1 split of 2000-06-21 is gone from the adjusted series
    day = np.flatnonzero(np.asarray(raw["date"]) == "2000-06-21")[0]
    assert np.asarray(raw["open"])[day] / np.asarray(raw["close"])[day - 1] < 0.6
    assert 0.9 < aapl.open[day] / aapl.close[day - 1] < 1.1
    assert sample_path("MSFT/USD") == SAMPLES_DIR / "MSFT.parquet"
    assert (SAMPLES_DIR / "SOURCE.md").is_file()
    with pytest.raises(DataNotFoundError, match="AAPL/USD"):
        load_sample("TSLA")


def test_ingest_samples_keeps_the_real_crash_with_a_warning(api: DataIngestionAPI) -> None:
    """AAPL's -52 % day (2000-09-29) is confirmed by the days after it: a real event, kept
    and reported (it used to be quarantined). Against the NASDAQ calendar the samples have
    no gaps: weekends and holidays are not missing bars."""
    reports = ingest_samples(api)
    assert [r.rows_read for r in reports] == [3270, 3270, 3270, 2148, 196]
    for r in reports:
        assert r.accepted == r.rows_read and r.rejected == 0
        assert r.gaps == 0 and r.missing_bars == 0
    assert len(api.quarantined()) == 0
    aapl = reports[0]
    assert aapl.counts_by_rule["price_jump_confirmed"] == 1
    (event,) = [w for w in aapl.warning_samples if w["code"] == "price_jump_confirmed"]
    assert str(np.datetime64(int(event["ts"]), "ns"))[:10] == "2000-09-29"
    assert "-51.87%" in event["message"]
    assert sum(r.stored for r in ingest_samples(api)) == 0


def test_sp500_closes_come_from_skfolio() -> None:
    closes = load_sp500_closes()
    assert closes.shape[1] == 20 and "AAPL" in closes.columns
    assert (closes.to_numpy() > 0).all()
