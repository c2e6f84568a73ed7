"""CcxtBarFeed.stream waits on its bar queue alone: bars come out in order, and a series task
that fails (a fatal exchange error) raises its error in the consumer once the bars queued before
it are out. A fake async exchange, no network."""

from __future__ import annotations

import asyncio
from itertools import pairwise
from typing import Any

import ccxt
import pytest

from neo.adapters.ccxt.feed import CcxtBarFeed
from neo.domain.bar import Bar
from neo.domain.errors import ExchangeAuthError

MINUTE = 60_000


class PollOnly:
    """Enough of an async ccxt client for a polling feed: one page of history, then a refused
    key (a fatal error: never retried)."""

    id = "fake"
    has: dict[str, bool] = {"watchOHLCV": False, "fetchTime": False}  # noqa: RUF012

    def __init__(self, rows: int = 4) -> None:
        self.calls = 0
        self.rows = rows

    async def load_markets(self) -> dict[str, Any]:
        return {}

    def market(self, symbol: str) -> dict[str, Any]:
        return {"id": symbol.replace("/", "")}

    async def fetch_ohlcv(self, symbol: str, frame: str, since: int | None) -> list[list[float]]:
        self.calls += 1
        if self.calls > 1:
            raise ccxt.AuthenticationError("fake: invalid api key")
        return [[n * MINUTE, 1.0, 2.0, 0.5, 1.5, 10.0] for n in range(self.rows)]


def test_bars_come_out_in_order_then_the_fatal_error_of_their_series() -> None:
    feed = CcxtBarFeed(PollOnly(), ["BTC/USDT"], "1m", mode="poll", since_ms=0)
    seen: list[Bar] = []

    async def consume() -> None:
        async for bar in feed.stream():
            seen.append(bar)

    with pytest.raises(ExchangeAuthError, match="invalid api key"):
        asyncio.run(asyncio.wait_for(consume(), 10))
    # the newest row is still forming (its end is not past on the venue's clock): 3 closed bars
    assert [bar.ts // 1_000_000 for bar in seen] == [0, MINUTE, 2 * MINUTE]


def test_a_backlog_of_bars_lets_the_other_tasks_run_between_its_bars() -> None:
    """A back-fill page queues many bars at once; the consumer takes them one event-loop pass
    apart, so the feed's other tasks (the websocket subscription, the heartbeat) are not starved
    until the page is drained."""
    feed = CcxtBarFeed(PollOnly(rows=41), ["BTC/USDT"], "1m", mode="poll", since_ms=0)

    async def consume() -> list[int]:
        passes = 0

        async def other_task() -> None:
            nonlocal passes
            while True:
                passes += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(other_task())
        seen: list[int] = []
        async for _bar in feed.stream():
            seen.append(passes)
            if len(seen) == 40:
                break
        task.cancel()
        return seen

    seen = asyncio.run(asyncio.wait_for(consume(), 10))
    assert len(seen) == 40
    assert all(later > earlier for earlier, later in pairwise(seen))
