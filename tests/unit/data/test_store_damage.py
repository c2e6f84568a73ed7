"""A damaged store gives one clear line naming the file; the quarantine is idempotent on
content (not on how the source path was typed); empty exports are valid files."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from neo.data.feeds import simulate_bars
from neo.data.ingest import DataIngestionAPI
from neo.data.store import HistoricalDataStore
from neo.data.store.damaged import one_line
from neo.data.validate import RawBars
from neo.domain import DataNotFoundError, InstrumentId, StoreError
from tests.unit.data.helpers import BTC, MINUTE, T0, TF, batch_of, walk
from tests.unit.data.test_validate import PLANTED

DAY = 86_400 * 10**9
HEADER = "timestamp,open,high,low,close,volume\n"


def _two_datasets(root: Path) -> HistoricalDataStore:
    store = HistoricalDataStore(root)
    bars = simulate_bars(["A/USD", "B/USD"], "1m", 20, seed=1)
    for batch in bars.values():
        store.write(batch)
    return store


def test_datasets_lists_the_healthy_ones_and_names_the_damaged_file(tmp_path: Path) -> None:
    store = _two_datasets(tmp_path)
    damaged = next((tmp_path / "bars").rglob("B%2FUSD/1m/*.parquet"))
    damaged.write_bytes(b"not parquet")
    infos = {d.symbol: d for d in store.datasets()}
    assert infos["A/USD"].rows == 20 and infos["A/USD"].damaged == ()
    b = infos["B/USD"]
    assert (b.rows, b.files, b.first_ts, b.last_ts) == (0, 0, None, None)
    assert len(b.damaged) == 1 and b.damaged[0].startswith(str(damaged))


def test_reading_a_damaged_file_is_one_line_naming_it(tmp_path: Path) -> None:
    store = _two_datasets(tmp_path)
    damaged = next((tmp_path / "bars").rglob("A%2FUSD/1m/*.parquet"))
    damaged.write_bytes(b"PAR1" + b"\0" * 64 + b"PAR1")  # magic bytes, nonsense footer
    iid = InstrumentId("sim", "A/USD")
    calls = [
        lambda: store.read(iid, "1m"),
        lambda: store.resample(iid, "1m", "5m"),
        lambda: store.export(iid, "1m", tmp_path / "out.csv"),
    ]
    for call in calls:
        with pytest.raises(StoreError) as caught:
            call()
        message = str(caught.value)
        assert str(damaged) in message and "\n" not in message and "damaged" in message
    assert not (tmp_path / "out.csv").exists()  # a failed export leaves no file


def test_query_errors_without_a_damaged_file_are_one_line(tmp_path: Path) -> None:
    store = _two_datasets(tmp_path)
    with pytest.raises(StoreError, match="store query failed") as caught:
        store._query("SELECT nope FROM read_parquet($files)", {"files": []})
    assert "\n" not in str(caught.value)
    healthy = [str(f) for f in (tmp_path / "bars").rglob("*.parquet")]
    with pytest.raises(StoreError, match="store query failed"):
        store._query("SELECT nope FROM read_parquet($files)", {"files": healthy})
    assert one_line(ValueError("")) == "ValueError"
    (store.quarantine.root / "sim" / "A%2FUSD" / "1m").mkdir(parents=True)  # no files yet
    assert len(store.read_quarantine()) == 0


def test_a_damaged_quarantine_file_is_one_line_naming_it(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    rows = RawBars.from_arrays([T0], [1.0], [1.0], [1.0], [1.0], [-1.0])
    written = store.write_quarantine(rows, ["negative_volume"], instrument=BTC, timeframe=TF)
    assert written.path is not None
    damaged = next(written.path.glob("*.parquet"))
    damaged.write_bytes(b"garbage")
    for call in (
        lambda: store.read_quarantine(),
        lambda: store.write_quarantine(rows, ["x"], instrument=BTC, timeframe=TF),
    ):
        with pytest.raises(StoreError) as caught:
            call()
        assert str(damaged) in str(caught.value) and "\n" not in str(caught.value)


def test_quarantine_is_idempotent_under_any_path_and_keeps_the_first_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = DataIngestionAPI(HistoricalDataStore(tmp_path / "store"))
    (tmp_path / "p15.csv").write_text(HEADER + "\n".join(PLANTED) + "\n")
    monkeypatch.chdir(tmp_path)
    first = api.ingest_file("p15.csv", venue="sim", symbol="BTC/USDT", timeframe="1m")
    again = api.ingest_file(tmp_path / "p15.csv", venue="sim", symbol="BTC/USDT", timeframe="1m")
    (tmp_path / "copy").mkdir()
    copy = tmp_path / "copy" / "renamed.csv"
    copy.write_text((tmp_path / "p15.csv").read_text())
    third = api.ingest_file(copy, venue="sim", symbol="BTC/USDT", timeframe="1m")
    assert (first.rejected, first.quarantine_added) == (7, 7)
    assert (again.rejected, again.quarantine_added) == (7, 0)
    assert (third.rejected, third.quarantine_added) == (7, 0)
    frame = api.quarantined(BTC, "1m")
    assert len(frame) == 7 and set(frame["source"]) == {str(tmp_path / "p15.csv")}
    stored = api.store.read(BTC, "1m")
    assert len(stored) + len(frame) + first.merged_duplicates == first.rows_read


def test_identical_bad_rows_of_one_file_stay_separate_rows(tmp_path: Path) -> None:
    api = DataIngestionAPI(HistoricalDataStore(tmp_path / "store"))
    bad = f"{T0 // 10**6},1,1,1,1,-1"
    path = tmp_path / "twice.csv"
    path.write_text(HEADER + f"{bad}\n{bad}\n{T0 // 10**6 + 60_000},1,1,1,1,1\n")
    report = api.ingest_file(path, venue="sim", symbol="BTC/USDT", timeframe="1m")
    assert (report.accepted, report.rejected, report.merged_duplicates) == (1, 2, 0)
    assert len(api.quarantined(BTC, "1m")) == 2
    more = tmp_path / "thrice.csv"
    more.write_text(HEADER + f"{bad}\n{bad}\n{bad}\n")
    assert api.ingest_file(more, venue="sim", symbol="BTC/USDT", timeframe="1m").rejected == 3
    quarantined = api.quarantined(BTC, "1m")
    assert len(quarantined) == 3  # the third copy is new; the first two were already there
    assert quarantined["source"].tolist() == [str(path)] * 2 + [str(more)]


def test_quarantine_files_of_older_versions_are_read_without_double_counting(
    tmp_path: Path,
) -> None:
    """Older NEO wrote one file per (rows, source as typed): the same rows twice."""
    store = HistoricalDataStore(tmp_path)
    directory = store.quarantine.root / "sim" / "BTC%2FUSDT" / "1m"
    directory.mkdir(parents=True)
    for i, source in enumerate(["p15.csv", "/abs/p15.csv"]):
        table = pa.table(
            {
                "ts": [T0, T0], "ts_valid": [True, True], "open": [1.0, 1.0],
                "high": [1.0, 1.0], "low": [1.0, 1.0], "close": [1.0, 1.0],
                "volume": [-1.0, -1.0], "reasons": ["negative_volume"] * 2,
                "source": [source] * 2, "source_row": [0, 1],
            }
        )  # fmt: skip
        pq.write_table(table, directory / f"old{i}.parquet")
        os.utime(directory / f"old{i}.parquet", ns=(T0 + i, T0 + i))
    frame = store.read_quarantine(BTC, TF)
    assert len(frame) == 2 and set(frame["source"]) == {"p15.csv"}
    rows = RawBars.from_arrays([T0] * 2, [1.0] * 2, [1.0] * 2, [1.0] * 2, [1.0] * 2, [-1.0] * 2)
    again = store.write_quarantine(
        rows, ["negative_volume"] * 2, instrument=BTC, timeframe=TF, source="new.csv"
    )
    assert again.added == 0 and not again.new


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_exporting_an_empty_range_writes_a_valid_empty_file(tmp_path: Path, suffix: str) -> None:
    store = HistoricalDataStore(tmp_path / "store")
    store.write(batch_of(walk(30)))
    for start in (T0 + 900 * DAY, T0 + 40 * MINUTE):  # no year file / a file but no rows
        out = tmp_path / f"empty-{start}.{suffix}"
        assert store.export(BTC, "1m", out, start_ns=start).rows == 0
        if suffix == "parquet":
            table = pq.read_table(out)
            assert table.num_rows == 0
            assert table.column_names == ["timestamp", "open", "high", "low", "close", "volume"]
            assert pa.types.is_timestamp(table.schema.field("timestamp").type)
        else:
            assert out.read_text().splitlines() == ["timestamp,open,high,low,close,volume"]
    full = tmp_path / f"full.{suffix}"
    store.export(BTC, "1m", full)
    if suffix == "parquet":  # the empty file has the same schema as a full one
        assert pq.read_schema(full).equals(
            pq.read_schema(tmp_path / f"empty-{T0 + 900 * DAY}.{suffix}")
        )


def test_read_many_is_one_query_that_matches_single_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = HistoricalDataStore(tmp_path, cache_entries=0)
    symbols = ["A/USD", "B/USD", "C/USD"]
    start = T0 - 3 * DAY  # spans two year files
    bars = simulate_bars(symbols, "1h", 200, seed=3, start_ns=start)
    for batch in list(bars.values())[:2]:
        store.write(batch)
    store.write(list(bars.values())[2].slice(0, 10))  # C has 2023 data only
    ids = [InstrumentId("sim", s) for s in symbols]
    calls: list[str] = []
    real = store._query
    monkeypatch.setattr(store, "_query", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    for lo, hi in [(None, None), (T0, T0 + 2 * DAY), (start + 5 * 3600 * 10**9, T0 + DAY)]:
        calls.clear()
        many = store.read_many([ids[1], ids[0], ids[2], ids[1]], "1h", lo, hi)
        assert len(calls) == 1 and list(many) == [ids[1], ids[0], ids[2]]
        for iid in ids:
            single = HistoricalDataStore(tmp_path).read(iid, "1h", lo, hi)
            for name in ("ts", "open", "high", "low", "close", "volume"):
                assert getattr(many[iid], name).tolist() == getattr(single, name).tolist()
            assert many[iid].instrument == iid
    calls.clear()
    far = store.read_many(ids, "1h", T0 + 900 * DAY, None)  # every file pruned: no query
    assert calls == [] and all(len(b) == 0 for b in far.values())


def test_read_many_uses_the_cache_and_reports_missing_or_damaged_data(tmp_path: Path) -> None:
    store = _two_datasets(tmp_path)
    ids = [InstrumentId("sim", "A/USD"), InstrumentId("sim", "B/USD")]
    first = store.read_many(ids, "1m")
    again = store.read_many(ids, "1m")
    assert all(again[i] is first[i] for i in ids) and store.read(ids[0], "1m") is first[ids[0]]
    with pytest.raises(DataNotFoundError, match="C/USD"):
        store.read_many([*ids, InstrumentId("sim", "C/USD")], "1m")
    damaged = next((tmp_path / "bars").rglob("B%2FUSD/1m/*.parquet"))
    damaged.write_bytes(b"PAR1" + b"\0" * 64 + b"PAR1")
    cached = store.read_many(ids, "1m")  # the ranges read before the damage: still correct
    assert all(cached[i] is first[i] for i in ids)
    with pytest.raises(StoreError, match="damaged") as caught:
        HistoricalDataStore(tmp_path).read_many(ids, "1m")
    assert str(damaged) in str(caught.value)
