"""A running `neo paper` process is halted by `neo risk engage` run from another process.

The session paces a simulated feed at SPEED bars per second and logs JSON lines to stderr.
Once it has opened the account's kill switch (its first log line), the test runs
``neo risk engage`` as a separate process. The session must notice the halt at the end of the
first step after the state file changed: bars are paced by sleeping 1/SPEED s each, so at the
file's write time the session has reached at most bar ``(write - start) × SPEED + 1``; the bar
it reports the halt at may be at most one later (plus one for the bar-close timestamp). After
that it flattens, every order it tries is denied by the kill switch, and it ends flat.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import pytest

from neo.data.feeds.simulated import DEFAULT_START_NS

SPEED = 40.0
CYCLES = 240
MINUTE_NS = 60_000_000_000
NEO = [sys.executable, "-c", "from neo.cli.main import main; main()"]


def _wall(line: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(line["ts"])).timestamp()


def _wait_for(stream: IO[str], message: str) -> dict[str, Any]:
    """Read JSON log lines until one carries ``message`` (blocks; EOF fails the test)."""
    for line in stream:
        if line.startswith("{") and json.loads(line)["msg"] == message:
            parsed: dict[str, Any] = json.loads(line)
            return parsed
    raise AssertionError(f"the session never logged {message!r}")


@pytest.mark.slow
def test_neo_risk_engage_halts_a_running_paper_session_within_a_step(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "NEO_DATA_DIR": str(data)}
    args = ["--log-json", "paper", "--strategy", "sma_cross", "--param", "fast=2"]
    args += ["--param", "slow=4", "--symbols", "BTC/USDT", "--speed", str(SPEED)]
    args += ["--cycles", str(CYCLES), "--json"]
    with subprocess.Popen(
        [*NEO, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as session:
        assert session.stderr is not None and session.stdout is not None
        first = _wait_for(session.stderr, "kill switch of the account")  # the session is up
        assert first["engaged"] is False
        engage = subprocess.run(
            [*NEO, "risk", "engage", "--reason", "ops drill", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert engage.returncode == 0, engage.stderr
        written = (data / "accounts" / "paper" / "killswitch.json").stat().st_mtime_ns / 1e9
        out, err = session.communicate(timeout=120)
    assert session.returncode == 0, err
    result = json.loads(out)
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    noticed = [line for line in logs if line["msg"] == "kill switch engaged by another process"]
    assert len(noticed) == 1 and "ops drill" in noticed[0]["reason"]
    assert written < _wall(noticed[0])

    reached = (written - _wall(first)) * SPEED + 1  # the furthest bar the session could be at
    halted_at = (noticed[0]["bar_ts"] - DEFAULT_START_NS) / MINUTE_NS
    assert halted_at <= reached + 2, f"noticed at bar {halted_at:.0f}, written by {reached:.1f}"
    assert halted_at < CYCLES - 5, "engage came too late to see the session react"

    assert result["kill_switch_engaged"] is True and result["positions"] == {"BTC/USDT@sim": 0.0}
    events = result["risk_events"]
    assert not any(e["event"] == "KillSwitchRestored" for e in events)  # it was running
    halt = next(e for e in events if e["event"] == "KillSwitchEngaged")
    assert "engaged elsewhere" in halt["reason"]
    after = [e for e in events if e["event"] == "RiskDenied" and e["ts"] >= halt["ts"]]
    assert after and all(e["code"] == "kill_switch" for e in after)  # tried, and was stopped
    assert result["fills"] > 0  # it traded before the halt
