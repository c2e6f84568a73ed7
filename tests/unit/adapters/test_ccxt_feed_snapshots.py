"""``CcxtBarFeed`` on a scripted exchange: a forming bar taken from a REST page is never yielded
with its snapshot values on the strength of a later bar on the socket (the socket missed its
close); it is fetched again over REST, where its closed values are."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from neo.adapters.ccxt import CcxtBarFeed
from neo.domain import Bar

STEP = 60_000
T0 = 1_000 * STEP  # long past: the clock never closes a bar here, only the venue's data


def final(k: int) -> list[float]:
    return [T0 + k * STEP, 100.0 + k, 110.0 + k, 90.0 + k, 105.0 + k, 7.0]


def forming(k: int) -> list[float]:
    """The venue's snapshot of a bar still open: the last close, no volume."""
    return [T0 + k * STEP, 104.0 + k, 104.0 + k, 104.0 + k, 104.0 + k, 0.0]


class ScriptedExchange:
    """REST shows bars 0..closed-1 closed and bar ``closed`` forming; the socket delivers the
    scripted batches, each after the venue closed bars up to a new point."""

    id = "scripted"
    has: ClassVar[dict[str, bool]] = {"watchOHLCV": True}

    def __init__(self, script: list[tuple[int, list[list[float]]]]) -> None:
        self.closed = 2
        self.script = script
        self.fetches: list[int | None] = []

    async def load_markets(self) -> dict[str, Any]:
        return {}

    def market(self, name: str) -> dict[str, Any]:
        return {"id": name.replace("/", "")}

    async def fetch_ohlcv(self, symbol: str, timeframe: str, since: int | None) -> list[Any]:
        self.fetches.append(since)
        rows = [final(k) for k in range(self.closed)] + [forming(self.closed)]
        return [r for r in rows if since is None or r[0] >= since]

    async def watch_ohlcv(self, symbol: str, timeframe: str) -> list[Any]:
        if not self.script:
            await asyncio.sleep(3600)
        closed, rows = self.script.pop(0)
        self.closed = closed
        return rows


def collect(exchange: ScriptedExchange, n: int) -> list[Bar]:
    async def main() -> list[Bar]:
        feed = CcxtBarFeed(exchange, ["BTC/USDT"], "1m", since_ms=T0, heartbeat_s=30.0)
        got: list[Bar] = []
        stream = feed.stream()
        try:
            async with asyncio.timeout(5):
                async for bar in stream:
                    got.append(bar)
                    if len(got) == n:
                        break
        finally:
            await stream.aclose()
        return got

    return asyncio.run(main())


def closes(bars: list[Bar]) -> list[tuple[int, float, float]]:
    return [((b.ts // 1_000_000 - T0) // STEP, b.close, b.volume) for b in bars]


def test_a_rest_snapshot_is_fetched_again_when_the_socket_shows_a_later_bar() -> None:
    # bar 2 closed (and bar 3 began) while nobody listened: the socket's first word is bar 3
    exchange = ScriptedExchange([(3, [forming(3)]), (4, [final(3), forming(4)])])
    bars = collect(exchange, 4)
    assert closes(bars) == [(k, final(k)[4], final(k)[5]) for k in range(4)]
    # history (ends with bar 2 forming, asked again), the gap after subscribing, then bar 2
    # once more when bar 3 showed up on the socket, and from bar 3 (still forming)
    assert exchange.fetches == [T0, T0 + 2 * STEP, T0 + 2 * STEP, T0 + 2 * STEP, T0 + 3 * STEP]


def test_a_bar_the_socket_updated_is_taken_from_the_socket() -> None:
    exchange = ScriptedExchange([(2, [final(2), forming(3)])])
    bars = collect(exchange, 3)
    assert closes(bars) == [(k, final(k)[4], final(k)[5]) for k in range(3)]
    assert exchange.fetches == [T0, T0 + 2 * STEP, T0 + 2 * STEP]  # history, its end, the gap
