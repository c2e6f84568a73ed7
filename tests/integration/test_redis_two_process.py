"""Issue 13's must-show over Redis: a producing process and ``neo paper --bus redis`` in another
process; candles reach the strategy in order, and killing (SIGKILL) and restarting either
loses no candle and processes none twice.

1. ``neo paper --bus redis`` starts first and waits on the streams; its strategy
   (bus/journal_strategy.py) journals every bar durably and stops dead at bar PAUSE_AT.
2. ``neo ingest part1.csv --publish`` stores and publishes the first 2 × FIRST bars.
3. The consumer reaches PAUSE_AT (holding more delivered, unacknowledged entries) and is
   SIGKILLed there, before journaling that bar.
4. A producer publishing part 2 bar by bar (bus/producer.py, ``publish_candles``) is SIGKILLed
   after PRODUCER_KILL_AT bars, and ``neo ingest part2.csv --publish`` then publishes all of
   part 2 again (Redis refuses what is already there).
5. The consumer restarts with the same session name and runs until every bar is processed.

The journal must hold each of the 2 × BARS bars exactly once, each instrument's in time order.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.redis_env import fresh_name, require_redis

pytestmark = [pytest.mark.integration, pytest.mark.slow]
NEO = [sys.executable, "-c", "from neo.cli.main import main; main()"]
HERE = Path(__file__).parent / "bus"
SYMBOLS = ("BTC/USDT", "ETH/USDT")
BARS = 160
FIRST = 100
PAUSE_AT = 130
PRODUCER_KILL_AT = 50


def neo(*args: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [*NEO, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 120.0) -> None:
    """Until ``path`` exists (the process paused there); its early exit fails the test."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}: {process.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} never appeared")
        time.sleep(0.05)


def kill(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    _, err = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL, err


def journal_lines(path: Path) -> list[tuple[str, int]]:
    rows = [line.split() for line in path.read_text().splitlines()]
    return [(name, int(ts)) for name, ts in rows]


def start_trader(
    *, session: str, venue: str, symbols: tuple[str, ...], journal: Path, pause_at: int,
    cycles: int, env: dict[str, str],
) -> subprocess.Popen[str]:  # fmt: skip
    """``neo paper --bus redis`` with the journaling strategy (it stops dead at ``pause_at``)."""
    strategy = f"{HERE / 'journal_strategy.py'}:Journal"
    args = ["paper", "--bus", "redis", "--session", session, "--venue", venue,
            "--symbols", ",".join(symbols), "--strategy", strategy,
            "--param", f"journal={journal}", "--param", f"pause_at={pause_at}",
            "--cycles", str(cycles), "--json"]  # fmt: skip
    return subprocess.Popen(
        [*NEO, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def test_two_processes_over_redis_lose_nothing_and_repeat_nothing(tmp_path: Path) -> None:
    url = require_redis()
    venue = fresh_name("bus")
    session = fresh_name("s")
    base = {**os.environ, "NEO_REDIS__URL": url, "PYTHONPATH": os.pathsep.join(sys.path)}
    producer_env = {**base, "NEO_DATA_DIR": str(tmp_path / "producer")}
    trader_env = {**base, "NEO_DATA_DIR": str(tmp_path / "trader")}
    whole = tmp_path / "all.csv"
    neo("simulate", "--symbols", ",".join(SYMBOLS), "--bars", str(BARS), "--venue", venue,
        "--out", str(whole), "--json", env=producer_env)  # fmt: skip
    frame = pd.read_csv(whole)
    stamps = sorted(frame["timestamp"].unique())
    part1, part2 = tmp_path / "part1.csv", tmp_path / "part2.csv"
    frame[frame["timestamp"] < stamps[FIRST]].to_csv(part1, index=False)
    frame[frame["timestamp"] >= stamps[FIRST]].to_csv(part2, index=False)

    journal = tmp_path / "journal.txt"
    total = len(SYMBOLS) * BARS

    def trader(pause_at: int, cycles: int) -> subprocess.Popen[str]:
        return start_trader(session=session, venue=venue, symbols=SYMBOLS, journal=journal,
                            pause_at=pause_at, cycles=cycles, env=trader_env)  # fmt: skip

    first = trader(PAUSE_AT, total)
    try:
        ingest = neo("ingest", str(part1), "--venue", venue, "--publish", "--json",
                     env=producer_env)  # fmt: skip
        assert ingest["bus"] == {"published": 2 * FIRST, "duplicates": 0}
        wait_for(Path(f"{journal}.paused"), first)
    finally:
        kill(first)
    processed = journal_lines(journal)
    assert len(processed) == PAUSE_AT - 1  # the paused bar was never journaled

    marker = tmp_path / "producer.paused"
    producer = subprocess.Popen(
        [sys.executable, str(HERE / "producer.py"), url, str(part2), venue,
         str(PRODUCER_KILL_AT), str(marker)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=producer_env,
    )  # fmt: skip
    try:
        wait_for(marker, producer)
    finally:
        kill(producer)
    again = neo("ingest", str(part2), "--venue", venue, "--publish", "--json", env=producer_env)
    rest = 2 * (BARS - FIRST)
    assert again["bus"] == {"published": rest - PRODUCER_KILL_AT, "duplicates": PRODUCER_KILL_AT}

    second = trader(0, total - len(processed))
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    summary = json.loads(out)
    assert summary["bars"] == total - len(processed)
    assert summary["stopped_by"] == "feed ended"

    seen = journal_lines(journal)
    assert len(seen) == total and len(set(seen)) == total  # none lost, none twice
    expected = {(f"{s}@{venue}", int(ts) * 1_000_000) for s in SYMBOLS for ts in stamps}
    assert set(seen) == expected
    for symbol in SYMBOLS:
        mine = [ts for name, ts in seen if name == f"{symbol}@{venue}"]
        assert mine == sorted(mine)  # in time order, across the restart too
