"""The CLI (--json) and the REST API answer the same request with the same JSON: both call
neo.app, so they cannot drift apart."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from neo.cli.main import app
from neo.data.store import HistoricalDataStore
from tests.unit.engine.bars import walk
from tests.unit.service.conftest import Service

runner = CliRunner()


def _cli(args: list[str], code: int = 0) -> dict[str, Any]:
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def _csv(path: Path) -> bytes:
    rows = ["timestamp,open,high,low,close,volume"]
    for i in range(30):
        minute = f"2024-01-01T00:{i:02d}:00Z"
        rows.append(f"{minute},{100 + i},{101 + i},{99 + i},{100.5 + i},{10 + i}")
    rows[5] = "2024-01-01T00:04:00Z,104,100,103,104.5,14"  # high below low
    rows[9] = "2024-01-01T00:08:30Z,108,109,107,108.5,18"  # off the minute grid
    rows[12] = "not a time,1,2,0.5,1.5,3"
    path.write_text("\n".join(rows) + "\n")
    return path.read_bytes()


VOLATILE = {"source", "seconds", "quarantine_path", "rejected_rows"}


def test_ingest_cli_and_rest_report_the_same(service: Service, tmp_path: Path) -> None:
    body = _csv(tmp_path / "bars.csv")
    cli = _cli(
        ["--data-dir", str(tmp_path / "cli-data"), "ingest", str(tmp_path / "bars.csv"),
         "--symbol", "BTC/USDT", "--venue", "sim", "--timeframe", "1m", "--json"]
    )  # fmt: skip
    params = {"symbol": "BTC/USDT", "venue": "sim", "timeframe": "1m"}
    headers = {**service.auth("trade"), "Content-Type": "text/csv"}
    rest = service.client.post("/v1/candles", content=body, params=params, headers=headers).json()
    assert cli["rejected"] == 3 and cli["accepted"] == 27
    assert cli["counts_by_rule"]["misaligned_ts"] == 1  # a count, not a time
    assert cli["counts_by_rule"]["invalid_ts"] == 1
    assert {k: v for k, v in cli.items() if k not in VOLATILE} == {
        k: v for k, v in rest.items() if k not in VOLATILE
    }
    assert sorted(r["row"] for r in rest["rejected_rows"]) == [4, 8, 11]


def test_backtest_cli_and_job_result_are_the_same(service: Service) -> None:
    store = HistoricalDataStore.from_settings(service.settings)
    store.write(walk(300, seed=5, symbol="BTC/USDT"))
    store.close()
    args = ["--strategy", "sma_cross", "--param", "fast=5", "--param", "slow=15", "--venue", "sim",
            "--symbols", "BTC/USDT", "--timeframe", "1m", "--fees-bps", "10",
            "--close-at-end"]  # fmt: skip
    cli = _cli(["backtest", *args, "--json"])
    job = service.client.post(
        "/v1/jobs",
        json={"kind": "backtest", "strategy": "sma_cross", "params": ["fast=5", "slow=15"],
              "venue": "sim", "symbols": "BTC/USDT", "timeframe": "1m", "fees_bps": 10,
              "close_at_end": True},
        headers=service.auth("trade"),
    ).json()  # fmt: skip
    deadline = time.monotonic() + 60
    while service.client.get(f"/v1/jobs/{job['id']}", headers=service.auth("read")).json()[
        "status"
    ] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    rest = service.client.get(f"/v1/jobs/{job['id']}/result", headers=service.auth("read")).json()
    assert rest.pop("report").endswith("report.html") and cli.pop("report") is None
    assert cli == rest
    assert cli["trades"] and cli["metrics"]["sharpe"] is not None


def test_risk_status_cli_and_rest_are_the_same(service: Service) -> None:
    engaged = service.client.post(
        "/v1/accounts/paper/killswitch/engage",
        json={"reason": "parity"},
        headers=service.auth("trade"),
    )
    assert engaged.status_code == 200
    rest = service.client.get("/v1/accounts/paper/killswitch", headers=service.auth("read")).json()
    cli = _cli(["risk", "status", "--json"])
    assert cli == rest
    assert cli["engaged"] is True and "parity" in cli["reason"]
    assert cli["history"][-1]["by"].startswith("neo api (key ")
