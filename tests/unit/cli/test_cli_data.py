"""`neo simulate`, `neo ingest` and `neo data …` through the real typer app."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from typer.testing import CliRunner

from neo.cli.main import app
from neo.domain.timestamps import iso_or_none as iso
from tests.unit.data.test_validate import PLANTED

runner = CliRunner()


def _json(args: list[str], code: int = 0) -> dict[str, object]:
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    payload: dict[str, object] = json.loads(result.stdout)
    return payload


def test_simulate_then_ingest_then_inspect(tmp_path: Path) -> None:
    out = tmp_path / "sim.csv"
    sim = _json(
        [
            "simulate",
            "--symbols",
            "BTC/USDT,ETH/USDT",
            "--timeframe",
            "1m",
            "--bars",
            "300",
            "--seed",
            "7",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert sim["rows"] == 600 and sim["first_ts"] == "2024-01-01T00:00:00Z"
    report = _json(["ingest", str(out), "--symbol", "ETH/USDT", "--timeframe", "1m", "--json"])
    assert report["accepted"] == 300 and report["rows_read"] == 300 and report["stored"] == 300
    listed = _json(["data", "list", "--json"])
    assert listed["datasets"] == [
        {
            "venue": "sim",
            "symbol": "ETH/USDT",
            "timeframe": "1m",
            "rows": 300,
            "first": "2024-01-01T00:00:00Z",
            "last": "2024-01-01T04:59:00Z",
            "files": 1,
            "bytes": listed["datasets"][0]["bytes"],
            "sources": {str(out): 300},
            "provenance": listed["datasets"][0]["provenance"],
        },  # type: ignore[index]
    ]
    (event,) = listed["datasets"][0]["provenance"]  # type: ignore[index]
    assert event["action"] == "ingest" and event["source"] == str(out)
    assert event["file"] == "sim.csv" and event["inserted"] == 300
    assert event["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    stats = _json(
        [
            "data",
            "stats",
            "--symbol",
            "ETH/USDT",
            "--timeframe",
            "1m",
            "--start",
            "2024-01-01T01:00",
            "--json",
        ]
    )
    assert stats["rows"] == 240 and stats["first_ts"] == "2024-01-01T01:00:00Z"
    exported = _json(
        [
            "data",
            "export",
            "--symbol",
            "ETH/USDT",
            "--out",
            str(tmp_path / "e.parquet"),
            "--end",
            "2024-01-01T00:10",
            "--json",
        ]
    )
    assert exported == {"path": str(tmp_path / "e.parquet"), "rows": 10, "format": "parquet"}


def test_human_output(tmp_path: Path) -> None:
    out = tmp_path / "sim.parquet"
    result = runner.invoke(app, ["simulate", "--bars", "50", "--out", str(out)])
    assert result.exit_code == 0 and "wrote 50 bars" in result.stdout
    result = runner.invoke(app, ["ingest", str(out), "--symbol", "BTC/USDT"])
    assert result.exit_code == 0 and "accepted" in result.stdout
    assert "BTC/USDT@sim 1m: 50 rows" in runner.invoke(app, ["data", "list"]).stdout
    assert "rows: 50" in runner.invoke(app, ["data", "stats", "--symbol", "BTC/USDT"]).stdout
    result = runner.invoke(
        app, ["data", "export", "--symbol", "BTC/USDT", "--out", str(tmp_path / "x.csv")]
    )
    assert "exported 50 rows" in result.stdout
    assert "0 quarantined rows" in runner.invoke(app, ["data", "quarantine"]).stdout


def test_planted_file_through_the_cli_and_quarantine(tmp_path: Path) -> None:
    path = tmp_path / "planted.csv"
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(PLANTED) + "\n")
    report = _json(["ingest", str(path), "--symbol", "BTC/USDT", "--venue", "test", "--json"])
    assert (report["accepted"], report["rejected"], report["merged_duplicates"]) == (7, 7, 1)
    quarantine = _json(
        [
            "data",
            "quarantine",
            "--symbol",
            "BTC/USDT",
            "--venue",
            "test",
            "--timeframe",
            "1m",
            "--limit",
            "3",
            "--json",
        ]
    )
    assert quarantine["rows"] == 7 and len(quarantine["sample"]) == 3  # type: ignore[arg-type]
    assert quarantine["by_reason"] == {
        "ohlc_order": 1,
        "negative_volume": 1,
        "non_finite": 1,
        "duplicate_conflict": 2,
        "price_jump": 1,
        "misaligned_ts": 1,
    }
    by_venue = _json(["data", "quarantine", "--venue", "elsewhere", "--json"])
    assert by_venue["rows"] == 0
    human = runner.invoke(app, ["data", "quarantine", "--limit", "1"])
    assert "7 quarantined rows" in human.stdout and "BTC/USDT@test" in human.stdout


def test_bad_input_is_one_line_and_stores_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("a,b\n1,2\n")
    for path in (empty, unknown, tmp_path / "missing.csv"):
        result = runner.invoke(app, ["ingest", str(path), "--symbol", "BTC/USDT", "--json"])
        assert result.exit_code != 0 and result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
    assert _json(["data", "list", "--json"]) == {"datasets": [], "damaged": []}
    one = tmp_path / "one.csv"
    one.write_text("timestamp,open,high,low,close,volume\n1704067200000,1,1,1,1,1\n")
    result = runner.invoke(app, ["ingest", str(one)])
    assert result.exit_code != 0 and "has no symbol column: pass --symbol" in result.stderr
    result = runner.invoke(app, ["data", "stats", "--symbol", "NOPE/X"])
    assert result.exit_code == 1 and "ingest-samples" in result.stderr


def test_all_rejected_file_exits_non_zero_with_a_report(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,open,high,low,close,volume\n1704067200000,1,1,1,1,-1\n")
    args = ["ingest", str(path), "--symbol", "BTC/USDT", "--timeframe", "1m", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["rejected"] == 1
    assert "no row" in result.stderr


def test_samples_commands() -> None:
    samples = _json(["data", "samples", "--json"])
    assert len(samples["samples"]) == 5  # type: ignore[arg-type]
    assert "AAPL/USD@nasdaq 1d: 3270 rows" in runner.invoke(app, ["data", "samples"]).stdout
    ingested = _json(["data", "ingest-samples", "--json"])
    assert [r["rejected"] for r in ingested["reports"]] == [0, 0, 0, 0, 0]  # type: ignore[union-attr,index]
    human = runner.invoke(app, ["data", "ingest-samples"])
    assert "AAPL/USD@nasdaq: 3270 accepted, 0 quarantined, 0 new or changed" in human.stdout


def test_empty_store_and_iso() -> None:
    assert "the store is empty" in runner.invoke(app, ["data", "list"]).stdout
    assert iso(None) is None and iso(0) == "1970-01-01T00:00:00Z"
