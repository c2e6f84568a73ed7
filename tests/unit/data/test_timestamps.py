"""Timestamps from files: one bad cell costs one row (``invalid_ts``), never the whole file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neo.data.feeds import read_bar_file
from neo.data.feeds.timestamps import column_to_ns, epoch_to_ns
from neo.data.validate import TS_MISSING, DataValidator, RawBars, ValidationReport
from neo.domain import DataFormatError
from tests.unit.data.helpers import MINUTE, T0, walk
from tests.unit.data.test_validate import PLANTED, T0_MS

HEADER = "timestamp,open,high,low,close,volume\n"
PLANTED_COUNTS = {
    "unsorted": 1, "invalid_ts": 0, "non_finite": 1, "non_positive_price": 0,
    "negative_volume": 1, "ohlc_order": 1, "misaligned_ts": 1, "duplicate_identical": 1,
    "duplicate_conflict": 2, "price_jump": 1, "price_jump_confirmed": 0, "possible_split": 0,
    "absurd_value": 0, "return_zscore": 0, "gap": 2,
}  # fmt: skip


def _write(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text(header + "\n".join(rows) + "\n")
    return path


def _accounted(r: ValidationReport) -> bool:
    return r.n_accepted + r.n_rejected + r.merged_duplicates == r.rows_read


def test_one_unreadable_timestamp_rejects_only_that_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", [*PLANTED, "not-a-time,101.0,101.5,100.5,101.0,10"])
    report = DataValidator("1m").validate(read_bar_file(path))
    assert report.rows_read == 16 and _accounted(report)
    assert report.counts == {**PLANTED_COUNTS, "invalid_ts": 1}
    assert (report.n_accepted, report.n_rejected, report.merged_duplicates) == (7, 8, 1)
    by_row = dict(zip(report.rejected.source_row.tolist(), report.reasons, strict=True))
    assert by_row[15] == "invalid_ts"


def test_one_huge_epoch_value_does_not_change_the_unit(tmp_path: Path) -> None:
    rows = [f"{T0_MS + i * 60_000},1,1,1,1,1" for i in range(9)]
    rows[4] = "170406720000000000000,1,1,1,1,1"  # corrupt: far beyond any unit
    path = _write(tmp_path / "huge.csv", rows)
    raw = read_bar_file(path)
    assert raw.ts_valid.tolist() == [True] * 4 + [False] + [True] * 4
    expected = [T0 + i * MINUTE for i in range(9) if i != 4]
    assert raw.ts[raw.ts_valid].tolist() == expected
    report = DataValidator("1m").validate(raw)
    assert report.counts["invalid_ts"] == 1 and report.n_accepted == 8 and _accounted(report)


def test_integer_overflow_is_a_rejected_row_not_a_wrapped_time() -> None:
    seconds = T0 // 10**9
    # 9.3e9 s is "seconds" by magnitude but beyond 2262: raw * 1e9 would wrap int64
    column = pa.array([seconds, seconds + 60, 9_300_000_000], pa.int64())
    ts, valid = column_to_ns(column)
    assert valid.tolist() == [True, True, False]
    assert ts.tolist() == [T0, T0 + MINUTE, TS_MISSING]
    floats, fvalid = column_to_ns(column.cast(pa.float64()))
    assert fvalid.tolist() == [True, True, False] and floats[0] == T0


def test_a_smaller_unit_value_outside_the_span_is_rejected() -> None:
    ms = [T0_MS + i * 60_000 for i in range(5)]
    ts, valid = column_to_ns(pa.array([*ms, T0_MS // 1000], pa.int64()))  # seconds among ms
    assert valid.tolist() == [True] * 5 + [False]
    assert ts[:5].tolist() == [T0 + i * MINUTE for i in range(5)]


def test_a_millisecond_history_through_1970_reads_whole() -> None:
    day_ms = 86_400_000
    days = np.arange(-3000, 3000, 7, dtype=np.int64)  # 1961 .. 1986, crossing epoch 0
    ts, valid = column_to_ns(pa.array(days * day_ms))
    assert valid.all()
    np.testing.assert_array_equal(ts, days * day_ms * 1_000_000)


@pytest.mark.parametrize(
    "stamps",
    [
        ["2024-01-01", "2024-01-02", "3000-01-01"],  # pyarrow reads date32
        ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "3000-01-01T00:00:00Z"],  # timestamp[s]
        ["2024-01-01", "2024-01-02T00:00:00", "3000-01-01"],  # mixed: text
        ["2024-01-01", "garbage", "3000-01-01"],
    ],
)
def test_an_out_of_range_iso_date_rejects_only_its_row(tmp_path: Path, stamps: list[str]) -> None:
    path = _write(tmp_path / "far.csv", [f"{s},1,1,1,1,1" for s in stamps])
    raw = read_bar_file(path)
    assert raw.ts_valid.tolist() == [True, stamps[1] != "garbage", False]
    assert raw.ts[0] == T0
    report = DataValidator("1d").validate(raw)
    assert report.counts["invalid_ts"] == 1 + (stamps[1] == "garbage") and _accounted(report)


def test_far_future_arrow_timestamps_in_parquet(tmp_path: Path) -> None:
    path = tmp_path / "far.parquet"
    stamps = pa.array([T0 // 10**9, 32_503_680_000, None], pa.timestamp("s", tz="UTC"))
    pq.write_table(pa.table({"date": stamps, **{k: [1.0] * 3 for k in "ohlcv"}}), path)
    raw = read_bar_file(path)
    assert raw.ts_valid.tolist() == [True, False, False] and raw.ts[0] == T0


def test_headerless_csv_with_iso_timestamps(tmp_path: Path) -> None:
    cols = walk(4, seed=2)
    rows = [
        f"2024-01-01T00:0{i}:00Z,"
        + ",".join(repr(float(cols[k][i])) for k in ("open", "high", "low", "close", "volume"))
        for i in range(4)
    ]
    raw = read_bar_file(_write(tmp_path / "noheader.csv", rows, header=""))
    np.testing.assert_array_equal(raw.ts, cols["ts"])
    np.testing.assert_array_equal(raw.close, cols["close"])
    bad_first = _write(tmp_path / "badfirst.csv", ["not-a-time,1,1,1,1,1", *rows], header="")
    assert read_bar_file(bad_first).ts_valid.tolist() == [False, True, True, True, True]
    named = _write(tmp_path / "named.csv", ["x,1,1,1,1,1"], header="date,o,h,l,c,v\n")
    assert len(read_bar_file(named)) == 1  # a header of aliases is still a header


def test_epoch_unit_comes_from_the_median() -> None:
    ms = np.array([T0 / 1e6 + i * 60_000 for i in range(5)] + [1e20])
    out = epoch_to_ns(ms)
    assert out[:5].tolist() == [T0 + i * MINUTE for i in range(5)] and out[5] == TS_MISSING
    assert epoch_to_ns(np.array([np.nan, np.inf])).tolist() == [TS_MISSING, TS_MISSING]


units = st.sampled_from([1_000_000_000, 1_000_000, 1_000, 1])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 5_000_000), min_size=3, max_size=40, unique=True),
    units,
    st.data(),
)
def test_property_invalid_ts_rejects_exactly_the_bad_cells(
    minutes: list[int], unit: int, data: st.DataObject
) -> None:
    """Any mix of good epoch numbers (one unit) and bad cells: bad cells, and only they, are
    invalid_ts; good ones read exactly; nothing is lost."""
    good = [T0 + m * MINUTE for m in minutes]
    n_bad = data.draw(st.integers(0, (len(good) - 1) // 2))
    bad_cells = data.draw(
        st.lists(
            st.sampled_from(["", "not-a-time", "1e30", "-9e25", "nan", "12:00", "2024-13-45"]),
            min_size=n_bad,
            max_size=n_bad,
        )
    )
    cells = [str(t // unit) for t in good] + bad_cells
    order = data.draw(st.permutations(range(len(cells))))
    column = pa.array([cells[i] for i in order], pa.string())
    ts, valid = column_to_ns(column)
    is_good = [i < len(good) for i in order]
    assert valid.tolist() == is_good
    assert sorted(ts[valid].tolist()) == sorted((t // unit) * unit for t in good)
    frame = {
        "ts": ts, "open": np.ones(len(ts)), "high": np.ones(len(ts)), "low": np.ones(len(ts)),
        "close": np.ones(len(ts)), "volume": np.ones(len(ts)),
    }  # fmt: skip
    raw = RawBars.from_arrays(*frame.values(), ts_valid=valid)
    report = DataValidator("1s").validate(raw)
    assert report.counts["invalid_ts"] == len(bad_cells) and _accounted(report)


def test_ingesting_a_bad_timestamp_keeps_every_row_accounted_for(tmp_path: Path) -> None:
    from neo.data.ingest import DataIngestionAPI
    from neo.data.store import HistoricalDataStore
    from tests.unit.data.helpers import BTC

    api = DataIngestionAPI(HistoricalDataStore(tmp_path / "store"))
    rows = [*PLANTED, "not-a-time,101.0,101.5,100.5,101.0,10", ",1,1,1,1,1"]
    report = api.ingest_file(_write(tmp_path / "p.csv", rows), venue="sim", symbol="BTC/USDT")
    assert report.timeframe == "1m" and report.counts_by_rule["invalid_ts"] == 2
    assert report.accepted + report.rejected + report.merged_duplicates == report.rows_read == 17
    stored, quarantined = api.store.read(BTC, "1m"), api.quarantined(BTC, "1m")
    assert len(stored) + len(quarantined) + report.merged_duplicates == report.rows_read
    bad = quarantined[quarantined["reasons"] == "invalid_ts"]
    assert sorted(bad["source_row"]) == [15, 16] and not bad["ts_valid"].any()


def test_date64_columns_and_header_detection_edges(tmp_path: Path) -> None:
    ts, valid = column_to_ns(pa.array([T0 // 10**6, None], pa.date64()))
    assert ts[0] == T0 and valid.tolist() == [True, False]
    blank = tmp_path / "blank.csv"
    blank.write_text("\n\n")
    unknown = _write(tmp_path / "names.csv", ["1,2,3,4,5,6"], header="w,x,y,z,q,u\n")
    for path in (blank, unknown):
        with pytest.raises(DataFormatError):
            read_bar_file(path)
