"""Issue 13's must-show, with the REST service as the producer: candles POSTed to ``neo serve``
reach the strategy of ``neo paper --bus redis`` (another process) in order, and SIGKILLing and
restarting either loses no candle and processes none twice.

1. ``neo paper --bus redis`` starts and waits on the streams; its strategy
   (bus/journal_strategy.py) journals every bar durably and stops dead at bar PAUSE_AT.
2. The first FIRST bars of each symbol are POSTed to ``neo serve`` (``/v1/candles``).
3. The trader reaches PAUSE_AT, holding delivered but unacknowledged bars, and is SIGKILLed.
4. Part of the rest is POSTed, ``neo serve`` is SIGKILLed, started again, and the client posts
   the whole rest again (what it could not be sure of: the store answers it unchanged and the
   bus refuses what it already holds).
5. The trader restarts under the same session and runs until every bar is processed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.integration.test_redis_two_process import (
    NEO,
    journal_lines,
    kill,
    neo,
    start_trader,
    wait_for,
)
from tests.redis_env import fresh_name, require_redis

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SYMBOLS = ("BTC/USDT", "ETH/USDT")
BARS = 120
FIRST = 80
PAUSE_AT = 100
CHUNK = 20


def serve(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """``neo serve --port 0`` and its URL, read from the line it prints when listening."""
    process = subprocess.Popen(
        [*NEO, "serve", "--port", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env=env,
    )  # fmt: skip
    assert process.stderr is not None
    for line in process.stderr:
        found = re.search(r"listening on (http://\S+)", line)
        if found:
            return process, found.group(1)
    raise AssertionError(f"neo serve exited with {process.wait()} before listening")


def post(url: str, key: str, venue: str, frame: pd.DataFrame) -> None:
    """POST ``frame``'s rows CHUNK timestamps at a time, every symbol's chunk in turn."""
    stamps = sorted(frame["timestamp"].unique())
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client:
        for at in range(0, len(stamps), CHUNK):
            window = frame[frame["timestamp"].isin(stamps[at : at + CHUNK])]
            for symbol in SYMBOLS:
                rows = window[window["symbol"] == symbol]
                candles: list[dict[str, Any]] = rows[
                    ["timestamp", "open", "high", "low", "close", "volume"]
                ].to_dict("records")
                body = {"venue": venue, "symbol": symbol, "timeframe": "1m", "candles": candles}
                answer = client.post("/v1/candles", json=body, timeout=60)
                assert answer.status_code == 200, answer.text
                assert answer.json()["accepted"] == len(candles)


def test_candles_posted_to_neo_serve_reach_a_redis_trader_once_each_across_kills(
    tmp_path: Path,
) -> None:
    url = require_redis()
    venue = fresh_name("srv")
    session = fresh_name("s")
    base = {**os.environ, "NEO_REDIS__URL": url, "PYTHONPATH": os.pathsep.join(sys.path)}
    service_env = {**base, "NEO_DATA_DIR": str(tmp_path / "service")}
    trader_env = {**base, "NEO_DATA_DIR": str(tmp_path / "trader")}
    whole = tmp_path / "all.csv"
    neo("simulate", "--symbols", ",".join(SYMBOLS), "--bars", str(BARS), "--venue", venue,
        "--out", str(whole), "--json", env=service_env)  # fmt: skip
    frame = pd.read_csv(whole)
    stamps = sorted(frame["timestamp"].unique())
    first, rest = (
        frame[frame["timestamp"] < stamps[FIRST]],
        frame[frame["timestamp"] >= stamps[FIRST]],
    )
    key = neo("keys", "create", "--scope", "trade", "--json", env=service_env)["key"]

    journal = tmp_path / "journal.txt"
    total = len(SYMBOLS) * BARS

    def trader(pause_at: int, cycles: int) -> subprocess.Popen[str]:
        return start_trader(session=session, venue=venue, symbols=SYMBOLS, journal=journal,
                            pause_at=pause_at, cycles=cycles, env=trader_env)  # fmt: skip

    service, service_url = serve(service_env)
    try:
        paused = trader(PAUSE_AT, total)
        try:
            post(service_url, key, venue, first)
            wait_for(Path(f"{journal}.paused"), paused)
        finally:
            kill(paused)
        processed = journal_lines(journal)
        assert len(processed) == PAUSE_AT - 1  # the paused bar was never journaled
        half = rest[rest["timestamp"] < stamps[FIRST + CHUNK]]
        post(service_url, key, venue, half)
    finally:
        kill(service)

    service, service_url = serve(service_env)
    try:
        post(service_url, key, venue, rest)  # all of it again: nothing is published twice
        second = trader(0, total - len(processed))
        out, err = second.communicate(timeout=180)
        assert second.returncode == 0, err
    finally:
        kill(service)
    summary = json.loads(out)
    assert summary["bars"] == total - len(processed)

    seen = journal_lines(journal)
    assert len(seen) == total and len(set(seen)) == total  # none lost, none twice
    expected = {(f"{s}@{venue}", int(ts) * 1_000_000) for s in SYMBOLS for ts in stamps}
    assert set(seen) == expected
    for symbol in SYMBOLS:
        mine = [ts for name, ts in seen if name == f"{symbol}@{venue}"]
        assert mine == sorted(mine)  # in time order, across both restarts
