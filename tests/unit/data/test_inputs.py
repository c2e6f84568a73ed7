"""Inputs people actually have (issue 9): pandas CSVs, day/month dates, offsets, semicolons,
multi-symbol files, ambiguous columns, explicit timeframes that contradict the file, and gaps
judged against the venue's trading calendar."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from neo.cli.main import app
from neo.data.calendars import AlwaysOpen, ExchangeCalendar, calendar_named
from neo.data.config import VenueConfig
from neo.data.feeds.files import read_bar_file
from neo.data.ingest import DataIngestionAPI
from neo.data.store.historical import HistoricalDataStore
from neo.domain import ConfigError, DataFormatError, InstrumentId, Timeframe

runner = CliRunner()
DAY = 86_400 * 1_000_000_000
HOUR = 3_600 * 1_000_000_000
ROW = "100,101,99,100.5,10"


def _api(tmp_path: Path) -> DataIngestionAPI:
    return DataIngestionAPI(HistoricalDataStore(tmp_path / "store"))


def _ns(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").value)


def test_pandas_to_csv_with_an_unnamed_index(tmp_path: Path) -> None:
    index = pd.date_range("2024-01-01", periods=5, freq="D")
    frame = pd.DataFrame(
        {"Open": 1.0, "High": 2.0, "Low": 0.5, "Close": 1.5, "Volume": 10.0}, index=index
    )
    path = tmp_path / "pandas.csv"
    frame.to_csv(path)
    assert path.read_text().startswith(",Open,High")
    raw = read_bar_file(path)
    assert raw.ts.tolist() == [int(t.value) for t in index.tz_localize("UTC")]
    report = _api(tmp_path).ingest_file(path, venue="x", symbol="P/USD")
    assert (report.accepted, report.timeframe) == (5, "1d")


@pytest.mark.parametrize(
    ("dates", "order"),
    [(["13/01/2024", "14/01/2024", "15/01/2024"], "day"),
     (["01/13/2024", "01/14/2024", "01/15/2024"], "month")],
)  # fmt: skip
def test_day_and_month_first_dates_are_told_apart(
    tmp_path: Path, dates: list[str], order: str
) -> None:
    path = tmp_path / "dates.csv"
    path.write_text("date,open,high,low,close,volume\n" + "".join(f"{d},{ROW}\n" for d in dates))
    raw = read_bar_file(path)
    assert raw.ts.tolist() == [_ns(f"2024-01-{13 + i}") for i in range(3)], order


def test_ambiguous_dates_are_refused_naming_date_format(tmp_path: Path) -> None:
    path = tmp_path / "ambiguous.csv"
    path.write_text("date,open,high,low,close,volume\n"
                    + "".join(f"0{d}/02/2024,{ROW}\n" for d in range(1, 6)))  # fmt: skip
    with pytest.raises(DataFormatError, match="--date-format"):
        read_bar_file(path)
    result = runner.invoke(app, ["ingest", str(path), "--symbol", "D/USD", "--json"])
    assert result.exit_code != 0 and "--date-format" in result.stderr and result.stdout == ""
    day_first = read_bar_file(path, date_format="%d/%m/%Y")
    assert day_first.ts.tolist() == [_ns(f"2024-02-0{d}") for d in range(1, 6)]
    month_first = tmp_path / "month_first.csv"
    month_first.write_text("date,open,high,low,close,volume\n"
                           + "".join(f"02/0{d}/2024,{ROW}\n" for d in range(1, 6)))  # fmt: skip
    args = ["ingest", str(month_first), "--symbol", "D/USD", "--date-format", "%m/%d/%Y"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["first_ts"] == "2024-02-01T00:00:00Z" and report["timeframe"] == "1d"
    assert report["accepted"] == 5


def test_mixed_day_and_month_orders_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(f"date,open,high,low,close,volume\n13/01/2024,{ROW}\n01/14/2024,{ROW}\n")
    with pytest.raises(DataFormatError, match="mix dd/mm and mm/dd"):
        read_bar_file(path)


def test_offsets_are_converted_to_utc_before_alignment(tmp_path: Path) -> None:
    hourly = tmp_path / "fx.csv"
    hourly.write_text("timestamp,open,high,low,close,volume\n" + "".join(
        f"2024-03-08T{9 + i:02d}:00:00-0500,{ROW}\n" for i in range(4)))  # fmt: skip
    raw = read_bar_file(hourly)
    assert raw.ts.tolist() == [_ns(f"2024-03-08T{14 + i}:00") for i in range(4)]
    report = _api(tmp_path).ingest_file(hourly, venue="fx", symbol="EUR/USD")
    assert (report.accepted, report.counts_by_rule["misaligned_ts"], report.timeframe) == (
        4, 0, "1h")  # fmt: skip
    daily = tmp_path / "stock.csv"
    daily.write_text(
        "Date,Open,High,Low,Close,Volume\n"
        + "".join(
            f"2024-03-{d:02d} 00:00:00{'-05:00' if d < 11 else '-04:00'},{ROW}\n"
            for d in (7, 8, 11, 12)
        )
    )  # fmt: skip  (DST begins on 2024-03-10)
    raw = read_bar_file(daily)
    assert raw.ts.tolist() == [_ns(f"2024-03-{d:02d}") for d in (7, 8, 11, 12)]
    report = _api(tmp_path).ingest_file(daily, venue="nasdaq", symbol="S/USD", timeframe="1d")
    assert (report.accepted, report.rejected, report.gaps) == (4, 0, 0)


def test_semicolon_separated_files(tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    rows = "".join(f"{1704067200 + 60 * i};100;101;99;100.5;10\n" for i in range(3))
    path.write_text("timestamp;open;high;low;close;volume\n" + rows)
    raw = read_bar_file(path)
    assert len(raw) == 3 and raw.close.tolist() == [100.5] * 3


def test_a_file_with_a_symbol_column_ingests_every_symbol(tmp_path: Path) -> None:
    out = tmp_path / "two.csv"
    result = runner.invoke(
        app, ["simulate", "--symbols", "A/USD,B/USD", "--bars", "40", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["ingest", str(out), "--json"])
    assert result.exit_code == 0, result.output
    reports = json.loads(result.stdout)["reports"]
    assert [(r["instrument"], r["accepted"]) for r in reports] == [
        ("A/USD@sim", 40), ("B/USD@sim", 40)]  # fmt: skip
    listed = json.loads(runner.invoke(app, ["data", "list", "--json"]).stdout)["datasets"]
    assert sorted(d["symbol"] for d in listed) == ["A/USD", "B/USD"]
    one = json.loads(runner.invoke(app, ["ingest", str(out), "--symbol", "B/USD", "--json"])
                     .stdout)  # fmt: skip
    assert one["instrument"] == "B/USD@sim" and one["stored"] == 0


@pytest.mark.parametrize(
    ("header", "match"),
    [("timestamp,open,high,low,close,CLOSE,volume", "differ only by case"),
     ("timestamp,time,open,high,low,close,volume", "could both be the timestamp")],
)  # fmt: skip
def test_columns_that_could_be_the_same_field_are_an_error(
    tmp_path: Path, header: str, match: str
) -> None:
    path = tmp_path / "two.csv"
    path.write_text(f"{header}\n1704067200,1704067200,1,1,1,1,1\n")
    with pytest.raises(DataFormatError, match=match):
        read_bar_file(path)
    result = runner.invoke(app, ["ingest", str(path), "--symbol", "X/USD"])
    assert result.exit_code != 0 and match in result.stderr


def _stamps(path: Path, stamps: list[int]) -> Path:
    path.write_text("timestamp,open,high,low,close,volume\n"
                    + "".join(f"{t // 1_000_000},{ROW}\n" for t in stamps))  # fmt: skip
    return path


@pytest.mark.parametrize(("spacing", "given", "found"), [(DAY, "1h", "1d"), (HOUR, "1d", "1h")])
def test_a_timeframe_that_contradicts_the_file_is_an_error(
    tmp_path: Path, spacing: int, given: str, found: str
) -> None:
    start = _ns("2024-01-01")
    path = _stamps(tmp_path / "bars.csv", [start + i * spacing for i in range(30)])
    result = runner.invoke(app, ["ingest", str(path), "--symbol", "X/USD", "--timeframe", given])
    assert result.exit_code != 0
    assert f"--timeframe {given}" in result.stderr and f"{found} apart" in result.stderr
    listed = json.loads(runner.invoke(app, ["data", "list", "--json"]).stdout)
    assert listed["datasets"] == []
    assert len(json.loads(runner.invoke(app, ["data", "quarantine", "--json"]).stdout)
               ["sample"]) == 0  # fmt: skip


def test_sparse_data_is_not_a_contradiction(tmp_path: Path) -> None:
    start = _ns("2024-01-01")
    path = _stamps(tmp_path / "sparse.csv", [start + 2 * i * 60_000_000_000 for i in range(30)])
    report = _api(tmp_path).ingest_file(path, venue="x", symbol="X/USD", timeframe="1m")
    assert report.accepted == 30 and report.missing_bars == 29


def test_gaps_follow_the_venue_calendar(tmp_path: Path) -> None:
    """XNAS in January 2024: weekends and Martin Luther King day (the 15th) are no gaps;
    one real missing session (the 10th) is. On a 24/7 venue every absent day is missing."""
    sessions = pd.bdate_range("2024-01-02", "2024-01-31")
    sessions = [d for d in sessions if d.day not in (10, 15)]
    path = _stamps(tmp_path / "daily.csv", [int(d.tz_localize("UTC").value) for d in sessions])
    api = _api(tmp_path)
    on_nasdaq = api.ingest_file(path, venue="nasdaq", symbol="S/USD")
    assert (on_nasdaq.gaps, on_nasdaq.missing_bars) == (1, 1)
    stats = api.stats(InstrumentId("nasdaq", "S/USD"), "1d")
    assert (stats["gaps"], stats["missing_bars"], stats["calendar"]) == (1, 1, "XNAS")
    on_crypto = api.ingest_file(path, venue="crypto", symbol="S/USD")
    assert on_crypto.missing_bars == 30 - len(sessions)  # every day of Jan 2-31 expected
    assert runner.invoke(app, ["ingest", str(path), "--symbol", "S/USD", "--venue",
                               "nasdaq"]).exit_code == 0  # fmt: skip
    result = runner.invoke(app, ["data", "stats", "--symbol", "S/USD", "--venue", "nasdaq",
                                 "--timeframe", "1d", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["missing_bars"] == 1


def test_intraday_gaps_follow_session_hours(tmp_path: Path) -> None:
    """Hourly bars on XNAS (09:30-16:00 New York = 14:30-21:00 UTC in January): the bars
    starting 14:00 ... 20:00 are expected each session, nights are no gaps."""
    stamps = [
        _ns(f"2024-01-{day:02d}T{hour:02d}:00")
        for day in (2, 3, 4)
        for hour in range(14, 21)
        if not (day == 3 and hour == 17)
    ]
    cal = ExchangeCalendar("XNAS")
    missing = cal.missing_between(np.asarray(stamps), Timeframe.parse("1h"))
    assert int(missing.sum()) == 1
    api = DataIngestionAPI(
        HistoricalDataStore(tmp_path / "store"), venues={"ex": VenueConfig(calendar="XNAS")}
    )
    report = api.ingest_file(_stamps(tmp_path / "h.csv", stamps), venue="ex", symbol="S/USD")
    assert (report.gaps, report.missing_bars) == (1, 1)


def test_calendar_configuration() -> None:
    assert isinstance(calendar_named(None), AlwaysOpen)
    assert isinstance(calendar_named("24/7"), AlwaysOpen)
    assert calendar_named("xnys").name == "XNYS"
    with pytest.raises(ConfigError, match="unknown trading calendar"):
        calendar_named("NOPE")


def test_venues_from_neo_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "neo.toml"
    config.write_text('[venues.lse]\ncalendar = "XLON"\n')
    monkeypatch.setenv("NEO_CONFIG", str(config))
    from neo.settings import load_settings

    settings = load_settings()
    assert settings.venues["lse"].calendar == "XLON"
    assert "nasdaq" not in settings.venues  # a configured table replaces the default one
    from neo.settings import NeoSettings

    assert NeoSettings.model_fields["venues"].default_factory is not None
