"""`neo sweep` end to end: one JSON object, the Parquet table, the report, clear errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from neo.cli.main import app
from neo.settings import load_settings
from tests.unit.sweeps.helpers import store_market

runner = CliRunner()


@pytest.fixture
def stored() -> None:
    store_market(load_settings().data_dir / "store")  # where `neo ingest` puts bars


BASE = [
    *("sweep", "--strategy", "sma_cross", "--symbols", "BTC/USDT,ETH/USDT", "--venue", "sim"),
    *("--fees-bps", "10", "--param", "size=2", "--windows", "2", "--backend", "serial"),
]


@pytest.mark.usefixtures("stored")
def test_a_sweep_prints_one_json_object_and_writes_table_and_report(tmp_path: Path) -> None:
    out, report = tmp_path / "s.parquet", tmp_path / "s.html"
    args = [*BASE, "--grid", "fast=5,10", "--grid", "slow=20:30:10", "--out", str(out),
            "--report", str(report), "--json"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    assert payload["configs"] == 4 and payload["backtests"] == 16
    assert payload["backend"] == "serial" and payload["engine"] == "fast"
    assert payload["failed_tasks"] == [] and payload["interrupted"] is False
    assert 0 <= payload["deflated_sharpe"]["dsr"] <= 1 and 0 <= payload["pbo"]["pbo"] <= 1
    assert len(payload["walk_forward"]) == 2
    table = pd.read_parquet(out)
    assert len(table) == 16 and set(table["symbol"]) == {"BTC/USDT@sim", "ETH/USDT@sim"}
    assert payload["winner"]["config_id"] == table.groupby("config_id")["is_sharpe"].mean().idxmax()
    page = report.read_text()
    assert page.count("<script") >= 1 and "plotly" in page.lower()
    assert 'id="ranking"' in page and "deflated Sharpe ratio" in page
    assert "never used to choose" in page


@pytest.mark.usefixtures("stored")
def test_human_output_names_the_winner(tmp_path: Path) -> None:
    args = [*BASE, "--grid", "fast=5", "--grid", "slow=20", "--out", str(tmp_path / "h.pq")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "winner" in result.stdout and "PBO" in result.stdout


@pytest.mark.usefixtures("stored")
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--grid", "speed=1"], "no parameter 'speed'"),
        (["--grid", "fast=5", "--backend", "cloud"], "unknown --backend"),
        (["--grid", "fast=5", "--windows", "0"], "--windows must be >= 1"),
        (["--grid", "fast=5", "--train-frac", "1.5"], "--train-frac"),
        (["--grid", "fast=5", "--symbols", "NOPE/USDT"], "NOPE/USDT"),
    ],
)
def test_bad_sweeps_fail_with_one_line(tmp_path: Path, extra: list[str], message: str) -> None:
    result = runner.invoke(app, [*BASE, "--out", str(tmp_path / "x.pq"), *extra])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert message in result.stderr


def test_no_symbols_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sweep", "--grid", "fast=5", "--backend", "serial"])
    assert result.exit_code == 2 and "--symbols" in result.stderr


@pytest.mark.slow
@pytest.mark.usefixtures("stored")
def test_sigint_stops_the_sweep_and_keeps_finished_rows(tmp_path: Path) -> None:
    out = tmp_path / "int.parquet"
    args = [
        *BASE[:-2],  # not serial: the pool, whose workers leave Ctrl-C to the driver
        *("--backend", "pool", "--workers", "2", "--engine", "event"),
        *("--grid", "fast=2:41", "--grid", "slow=45:60:5", "--out", str(out), "--json"),
    ]
    process = subprocess.Popen(
        [sys.executable, "-c", "from neo.cli.main import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    parts = out.with_name(out.name + ".parts")
    deadline = time.monotonic() + 120
    while not any(parts.glob("part-*.parquet")) and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    payload = json.loads(stdout)
    assert payload["interrupted"] is True
    table = pd.read_parquet(out)
    assert 1 <= len(table) < 160 * 2 * 2 and payload["backtests"] >= 1
    assert table["error"].isna().all() and not parts.exists()
