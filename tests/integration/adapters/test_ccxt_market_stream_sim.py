"""Trades and top of book from neo exchange-sim through the real ccxt client: websockets
(``@trade``, ``@bookTicker``) and the REST fallback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from itertools import pairwise
from typing import Any

import pytest

from neo.adapters.ccxt import CcxtMarketStream, make_exchange
from neo.adapters.ccxt.ratelimit import Backoff
from neo.domain import InstrumentId, Quote, TradeTick
from neo.exchange_sim import SimHandle
from tests.integration.adapters.conftest import sim_config

pytestmark = pytest.mark.integration
BTC = InstrumentId("binance", "BTC/USDT")


def _take(
    sim: SimHandle, market: CcxtMarketStream, kind: str, n: int, cut_at: int = -1
) -> list[Any]:
    """The first ``n`` values of ``market``'s ``kind`` stream while the sim advances a bar every
    0.2 s (the socket cut once the ``cut_at``-th value arrived); the client closed after."""
    stream: AsyncGenerator[Any, None] = getattr(market, kind)()

    async def main() -> list[Any]:
        got: list[Any] = []

        async def drive() -> None:
            while True:
                await asyncio.sleep(0.2)
                await asyncio.to_thread(sim.advance, 1)

        task = asyncio.create_task(drive())
        try:
            async with asyncio.timeout(30):
                async for value in stream:
                    got.append(value)
                    if len(got) == cut_at:
                        sim.add_fault("ws_cut", "*")
                    if len(got) >= n:
                        break
        finally:
            task.cancel()
            await stream.aclose()
            await market.exchange.close()
        return got

    return asyncio.run(main())


def _stream(sim: SimHandle, mode: str) -> CcxtMarketStream:
    exchange = make_exchange("binance", sim_config(sim), asynchronous=True)
    backoff = Backoff(base_s=0.05, cap_s=0.2, seed=4)
    return CcxtMarketStream(exchange, ["BTC/USDT"], mode=mode, heartbeat_s=2.0, poll_s=0.1,
                            backoff=backoff)  # fmt: skip


def _sim_closes(sim: SimHandle) -> dict[int, float]:
    bars = sim.call(lambda: list(sim.engine.paths["BTC/USDT"].bars))
    return {b.index + 1: float(b.close) for b in bars}


def test_trades_over_the_websocket_are_the_sims_prints_each_once_across_a_cut(
    binance_sim: SimHandle,
) -> None:
    stream = _stream(binance_sim, "auto")
    ticks: list[TradeTick] = _take(binance_sim, stream, "trades", 6, cut_at=2)
    assert all(isinstance(t, TradeTick) and t.instrument == BTC for t in ticks)
    ids = [int(t.trade_id) for t in ticks]
    assert ids == sorted(set(ids))  # in order, each once
    closes = _sim_closes(binance_sim)
    assert all(t.price == closes[int(t.trade_id)] for t in ticks)  # the sim's own prints
    assert stream.reconnects >= 1  # the cut was noticed and the socket reopened


@pytest.mark.parametrize("mode", ["auto", "poll"])
def test_top_of_book_over_the_websocket_and_by_polling(binance_sim: SimHandle, mode: str) -> None:
    stream = _stream(binance_sim, mode)
    quotes: list[Quote] = _take(binance_sim, stream, "quotes", 3)
    assert all(isinstance(q, Quote) and q.instrument == BTC for q in quotes)
    assert all(0 < q.bid < q.ask and q.spread > 0 for q in quotes)
    pairs = [(q.bid, q.ask) for q in quotes]
    assert all(a != b for a, b in pairwise(pairs))  # yielded on change
    tick = float(binance_sim.call(lambda: binance_sim.engine.specs["BTC/USDT"].tick))
    closes = set(_sim_closes(binance_sim).values())
    assert all(round(q.mid, 8) in {round(c, 8) for c in closes} for q in quotes)
    assert all(abs(q.spread - 2 * tick) < 1e-9 for q in quotes)
