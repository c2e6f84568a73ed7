"""Timeframe inference for ingestion without a timeframe: the median spacing, or a clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neo.data.feeds import write_bars
from neo.data.infer import infer_timeframe, timeframe_of_step
from neo.data.ingest import DataIngestionAPI
from neo.data.samples import sample_path
from neo.data.store import HistoricalDataStore
from neo.data.validate import RawBars
from neo.domain import DataFormatError, InstrumentId, Timeframe
from tests.unit.data.helpers import BTC, MINUTE, T0, batch_of, walk

SECOND = 10**9


def _raw(ts: list[int], valid: list[bool] | None = None) -> RawBars:
    ones = np.ones(len(ts))
    return RawBars.from_arrays(ts, ones, ones, ones, ones, ones, ts_valid=valid)


@pytest.mark.parametrize(
    ("step", "expected"),
    [(60, "1m"), (300, "5m"), (3600, "1h"), (86_400, "1d"), (7 * 86_400, "1w"), (1, "1s"),
     (90, "90s"), (600, "10m"), (2 * 86_400, "2d")],
)  # fmt: skip
def test_timeframe_of_step(step: int, expected: str) -> None:
    assert str(timeframe_of_step(step * SECOND)) == expected


def test_timeframe_of_step_refuses_fractions() -> None:
    assert timeframe_of_step(SECOND // 2) is None and timeframe_of_step(0) is None


def test_median_spacing_survives_gaps_weekends_and_corrupt_rows() -> None:
    days = [d for d in range(60) if d % 7 not in (5, 6)]  # trading days only: 1d and 3d steps
    assert infer_timeframe(_raw([T0 + d * 86_400 * SECOND for d in days])) == Timeframe.parse("1d")
    minutes = [T0 + m * MINUTE for m in range(100) if m % 10 != 3]
    minutes[5] += 7 * SECOND  # one misaligned row
    unsorted = [*minutes[::-1], minutes[0]]  # order and duplicates do not matter
    assert str(infer_timeframe(_raw(unsorted))) == "1m"


def test_unreadable_timestamps_are_ignored_and_too_few_is_an_error() -> None:
    raw = _raw([T0, -1, T0 + 3600 * SECOND, T0 + 7200 * SECOND], [True, False, True, True])
    assert str(infer_timeframe(raw)) == "1h"
    with pytest.raises(DataFormatError, match="pass --timeframe"):
        infer_timeframe(_raw([T0, T0]), "one.csv")
    with pytest.raises(DataFormatError, match="not a whole number of seconds"):
        infer_timeframe(_raw([T0, T0 + 1, T0 + 2]))


def test_ingest_without_timeframe_infers_daily_from_a_daily_file(tmp_path: Path) -> None:
    api = DataIngestionAPI(HistoricalDataStore(tmp_path / "store"))
    report = api.ingest_file(sample_path("IBM/USD"), venue="nasdaq", symbol="IBM/USD")
    assert report.timeframe == "1d" and report.timeframe_inferred
    assert report.accepted == report.rows_read and report.rejected == 0
    assert api.datasets()[0].timeframe == "1d"
    path = tmp_path / "m.csv"
    write_bars([batch_of(walk(50))], path)
    given = api.ingest_file(path, venue="sim", symbol="BTC/USDT", timeframe="1m")
    assert not given.timeframe_inferred
    assert api.ingest_file(path, venue="sim", symbol="BTC/USDT").timeframe == "1m"
    single = tmp_path / "one.csv"
    single.write_text(f"timestamp,open,high,low,close,volume\n{T0 // 10**6},1,1,1,1,1\n")
    with pytest.raises(DataFormatError, match="--timeframe"):
        api.ingest_file(single, venue="sim", symbol="X/Y")
    assert [d.instrument for d in api.datasets()] == [
        InstrumentId("nasdaq", "IBM/USD"), BTC
    ]  # fmt: skip
