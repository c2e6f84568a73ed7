"""Chunked ingestion gives exactly the results of one pass (issue 9, bounded memory): counts,
stored bars, quarantine and idempotence, with a jump, a duplicate and rows out of order at
chunk boundaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neo.data.feeds import write_bars
from neo.data.feeds.files import BarFile
from neo.data.ingest import DataIngestionAPI, IngestReport
from neo.data.store.historical import HistoricalDataStore
from neo.data.validate import DataValidator, RawBars
from neo.domain import InstrumentId
from tests.unit.data.helpers import BTC, MINUTE, T0, batch_of, walk

N = 3_000
ONE_PASS = 10_000_000


def _planted(n: int = N, *, shuffle: bool = False) -> dict[str, np.ndarray]:
    """A 1m walk with faults placed around the chunk boundaries used below (multiples of
    100 and 250): a confirmed level shift whose jump bar ends a chunk, an isolated spike,
    conflicting and identical duplicates straddling a boundary, a bad row and a gap."""
    cols = walk(n, seed=21)
    cols["close"][999:] *= 0.8  # -20 % at row 999, the last row of a 1000-row chunk
    cols["open"][999:] *= 0.8
    cols["high"][998:] = np.maximum(cols["high"][998:] * 0.8, cols["open"][998:])
    cols["low"][999:] *= 0.8
    cols["high"] = np.maximum.reduce([cols["high"], cols["open"], cols["close"]])
    cols["low"] = np.minimum.reduce([cols["low"], cols["open"], cols["close"]])
    cols["close"][1499] *= 1.5  # an isolated spike, ending a chunk of 250 and 500
    cols["high"][1499] = cols["close"][1499]
    cols["volume"][700] = -1.0
    keep = np.ones(n, dtype=bool)
    keep[2200:2205] = False  # a gap
    out = {k: v[keep] for k, v in cols.items()}
    dup_identical = {k: v[1999:2000] for k, v in out.items()}
    dup_conflict = {k: v[499:500].copy() for k, v in out.items()}
    dup_conflict["volume"] = dup_conflict["volume"] + 1.0
    rows = {k: np.concatenate((v[:500], dup_conflict[k], v[500:2000], dup_identical[k],
                               v[2000:])) for k, v in out.items()}  # fmt: skip
    if shuffle:
        rng = np.random.default_rng(5)
        order = np.arange(len(rows["ts"]))
        late = rng.choice(len(order), 40, replace=False)  # 40 rows moved far away
        order = np.concatenate((np.delete(order, late), late))
        rows = {k: v[order] for k, v in rows.items()}
    return rows


def _file(tmp_path: Path, cols: dict[str, np.ndarray], name: str) -> Path:
    path = tmp_path / name
    raw = "timestamp,open,high,low,close,volume\n" + "".join(
        f"{int(cols['ts'][i] // 1_000_000)},{float(cols['open'][i])!r},"
        f"{float(cols['high'][i])!r},{float(cols['low'][i])!r},{float(cols['close'][i])!r},"
        f"{float(cols['volume'][i])!r}\n"
        for i in range(len(cols["ts"]))
    )
    if path.suffix == ".csv":
        path.write_text(raw)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({k: cols[k] // (1_000_000 if k == "ts" else 1) for k in cols}),
                       path, row_group_size=300)  # fmt: skip
    return path


def _outcome(tmp_path: Path, path: Path, chunk_rows: int, tag: str) -> dict[str, Any]:
    api = DataIngestionAPI(HistoricalDataStore(tmp_path / f"store-{tag}"))
    report = api.ingest_file(path, venue="sim", symbol="BTC/USDT", chunk_rows=chunk_rows)
    again = api.ingest_file(path, venue="sim", symbol="BTC/USDT", chunk_rows=chunk_rows)
    stored = api.store.read(BTC, report.timeframe)
    quarantined = api.quarantined(BTC, report.timeframe).sort_values("source_row")
    return {
        "report": _comparable(report),
        "again": (again.stored, again.quarantine_added, again.accepted, again.rejected),
        "stored": {k: getattr(stored, k).tolist() for k in ("ts", "open", "close", "volume")},
        "quarantine": list(zip(quarantined["source_row"], quarantined["reasons"], strict=True)),
    }


def _comparable(report: IngestReport) -> dict[str, Any]:
    out = report.to_dict()
    for key in ("seconds", "quarantine_path", "source"):
        out.pop(key)
    return out


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_chunked_ingest_equals_one_pass(tmp_path: Path, shuffle: bool, suffix: str) -> None:
    path = _file(tmp_path, _planted(shuffle=shuffle), f"bars{suffix}")
    one = _outcome(tmp_path, path, ONE_PASS, "one")
    assert one["report"]["rejected"] >= 4 and one["report"]["counts_by_rule"]["price_jump"] == 1
    assert one["report"]["counts_by_rule"]["price_jump_confirmed"] == 1
    assert one["report"]["counts_by_rule"]["duplicate_conflict"] == 2
    assert (one["report"]["counts_by_rule"]["unsorted"] > 0) == shuffle
    assert one["again"] == (0, 0, one["report"]["accepted"], one["report"]["rejected"])
    for chunk_rows in (100, 250, 1000, 1001):
        assert _outcome(tmp_path, path, chunk_rows, f"c{chunk_rows}") == one, chunk_rows


@settings(max_examples=25, deadline=None)
@given(
    st.integers(5, 400),
    st.lists(st.integers(0, 299), max_size=6),
    st.lists(st.sampled_from([0.5, 0.7, 1.4, 2.0]), min_size=0, max_size=4),
    st.integers(1, 97),
)
def test_property_the_stream_decides_like_one_pass(
    n: int, dups: list[int], shocks: list[float], chunk: int
) -> None:
    """Any chunking of any series (level shifts, spikes, duplicates) decides every row as
    one pass does: same accepted rows, same rejected rows and reasons, same counts."""
    cols = walk(n, seed=n)
    rng = np.random.default_rng(n)
    for shock in shocks:
        at = int(rng.integers(0, n))
        span = n if rng.random() < 0.5 else at + 1  # a level shift or a one-bar spike
        for k in ("open", "high", "low", "close"):
            cols[k][at:span] *= shock
    extra = np.array([d % n for d in dups], dtype=np.int64)
    index = np.sort(np.concatenate((np.arange(n), extra)))
    raw = RawBars.from_arrays(*(cols[k][index] for k in ("ts", "open", "high", "low", "close",
                                                          "volume")))  # fmt: skip
    one = DataValidator("1m").validate(raw)
    stream = DataValidator("1m").stream()
    parts = [stream.feed(raw.take(np.arange(i, min(i + chunk, len(raw)))))
             for i in range(0, len(raw), chunk)] + [stream.finish()]  # fmt: skip
    accepted = np.concatenate([p.accepted.source_row for p in parts])
    assert accepted.tolist() == one.accepted.source_row.tolist()
    rejected = sorted((int(r), why) for p in parts
                      for r, why in zip(p.rejected.source_row, p.reasons, strict=True))  # fmt: skip
    assert rejected == sorted(zip(one.rejected.source_row.tolist(), one.reasons, strict=True))
    for code, count in one.counts.items():
        assert sum(p.counts[code] for p in parts) == count, code
    assert [(w.code, w.ts) for p in parts for w in p.warnings] == [
        (w.code, w.ts) for w in one.warnings]  # fmt: skip


def test_chunks_number_rows_across_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    write_bars([batch_of(walk(1000))], path)
    rows = [raw.source_row for raw, _, _ in BarFile(path).chunks(128)]
    assert len(rows) == 8 and np.concatenate(rows).tolist() == list(range(1000))


def test_a_bad_cell_deep_in_a_csv_costs_its_row_only(tmp_path: Path) -> None:
    """The fast typed reader meets 'oops' after many pieces: that piece is read again as
    text, and only the row is rejected, as in one pass."""
    cols = walk(5000, seed=3)
    path = _file(tmp_path, cols, "late.csv")
    lines = path.read_text().splitlines()
    lines[4500] = lines[4500].rsplit(",", 1)[0] + ",oops"
    path.write_text("\n".join(lines) + "\n")
    api = DataIngestionAPI(HistoricalDataStore(tmp_path / "store"))
    report = api.ingest_file(path, venue="sim", symbol="BTC/USDT", chunk_rows=300)
    assert (report.rows_read, report.rejected, report.counts_by_rule["non_finite"]) == (
        5000, 1, 1)  # fmt: skip
    stored = api.store.read(InstrumentId("sim", "BTC/USDT"), "1m")
    assert len(stored) == 4999 and int((stored.ts[-1] - T0) // MINUTE) == 4999
