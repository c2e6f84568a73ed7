"""A live session killed after its sell filled and was journalled, before the step's checkpoint.

The restart replays the journal up to the last checkpoint, which still holds the position the
sell closed; the exchange no longer does. The sell belongs to the step the crash cut short: its
records (intent … filled, final) and its fill sit after the checkpoint, are not replayed, and
are booked again only when the re-run of that step adopts the order. Reconciliation runs
before that re-run, so it must allow for the whole of such a sell, not only for what its
journal records had left unfilled. It did not: the restart refused with "binance holds 0.967006
BTC but the session's ledger holds 2.3508" (the live-ws SIGKILL test, seed 23, a kill between
the sell's ``final`` record and the checkpoint) although nothing was missing or booked twice.

The kill is made exactly there (a journal that dies instead of writing that checkpoint: every
record before it is on disk, nothing after it is written, as with SIGKILL), with and without the
websocket fills stream beside the session; the restart must go on and end with each trade
booked once, the exchange's position, and no order sent twice.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from neo.engine.journal import Checkpoint, FileJournal, JournalState, session_dir
from neo.strategies.base import Strategy
from neo.strategies.context import StrategyContext

pytest.importorskip("ccxt")
from neo.exchange_sim import SimHandle, serve_in_thread

SYMBOL = "BTC/USDT"
KEY = f"{SYMBOL}@binance"
LEAD = 12
"""Closed bars the session starts from (the buy goes out on the last of them)."""
BOUGHT = 0.03
SOLD = 0.0299
"""Less than bought: the sim takes the buy's fee in BTC, so 0.03 is not there to sell."""
HELD = BOUGHT * (1 - 0.001)
"""What the buy left in the account (and the ledger books): the 0.1 % fee was taken in BTC."""
NAME = "cut"


class BuyThenSell(Strategy):
    """A market buy on the last closed bar, a market sell two bars later."""

    name = "buy_then_sell"

    def on_bar(self, ctx: StrategyContext) -> None:
        if ctx.i == LEAD - 1:
            ctx.buy(BOUGHT)
        elif ctx.i == LEAD + 1:
            ctx.sell(SOLD)


class Killed(BaseException):
    """The process died (nothing catches this, as nothing survives a SIGKILL)."""


class DiesBeforeCheckpoint:
    """A FileJournal that dies instead of writing the first checkpoint counting ``fills``."""

    def __init__(self, inner: FileJournal, fills: int) -> None:
        self.inner = inner
        self.fills = fills
        self.dead = False

    def load(self) -> JournalState:
        return self.inner.load()

    def start(self, meta: Any) -> None:
        self._alive()
        self.inner.start(meta)

    def append_bar(self, *args: Any) -> None:
        self._alive()
        self.inner.append_bar(*args)

    def record_order(self, record: Any) -> None:
        self._alive()
        self.inner.record_order(record)

    def record_fill(self, record: Any) -> bool:
        self._alive()
        return self.inner.record_fill(record)

    def checkpoint(self, checkpoint: Checkpoint) -> None:
        self._alive()
        if checkpoint.fills >= self.fills:
            self.dead = True
            raise Killed
        self.inner.checkpoint(checkpoint)

    def close(self) -> None:
        self.inner.close()

    def _alive(self) -> None:
        if self.dead:  # pragma: no cover - Killed unwinds the session first
            raise Killed


def _session_run(handle: SimHandle, data: Path, cycles: int, ws: bool, die_at: int | None,
                 advanced: list[int]) -> dict[str, Any]:  # fmt: skip
    from neo.adapters.ccxt import load_instruments, make_exchange
    from neo.adapters.ccxt.broker import ccxt_broker
    from neo.adapters.ccxt.feed import CcxtBarFeed
    from neo.adapters.ccxt.fills_stream import CcxtFillStream, FillInbox, run_beside
    from neo.engine.live import TradingSession
    from tests.integration.live_venue_child import config

    since = int(handle.state()["now_ms"]) - (LEAD + advanced[0]) * 60_000

    async def pace(session: TradingSession, fills: CcxtFillStream | None) -> None:
        """Close one more bar whenever the session has caught up (and its fills stream is
        subscribed), so that the orders meet the market at the same points every run."""
        while True:
            ready = fills is None or fills.subscribed.is_set()
            if ready and session.committed_bars >= LEAD + advanced[0]:
                handle.advance(1)
                advanced[0] += 1
            await asyncio.sleep(0.005)

    async def run() -> dict[str, Any]:
        exchange = make_exchange("binance", config(handle.url), credentials=True)
        bars = make_exchange("binance", config(handle.url), asynchronous=True)
        keyed = make_exchange("binance", config(handle.url), asynchronous=True, credentials=True)
        fills = CcxtFillStream(keyed, [SYMBOL], FillInbox(), heartbeat_s=5.0) if ws else None
        files = FileJournal(session_dir(data, NAME))
        journal: Any = files if die_at is None else DiesBeforeCheckpoint(files, die_at)
        try:
            session = TradingSession(
                name=NAME, mode="live", account="exchange:binance:t", strategy=BuyThenSell(),
                feed=CcxtBarFeed(bars, [SYMBOL], "1m", since_ms=since), journal=journal,
                instruments=load_instruments(exchange, [SYMBOL]),
                exchange_broker=ccxt_broker(exchange), fill_scope="", cycles=cycles,
            )  # fmt: skip
            assert session.venue is not None
            pacer = asyncio.create_task(pace(session, fills))
            try:
                if fills is None:
                    return (await session.run()).summary()
                session.venue.fill_inbox = fills.inbox
                return (await run_beside(fills, session.run())).summary()
            finally:
                pacer.cancel()
        finally:
            files.close()
            await bars.close()
            await keyed.close()
            exchange.close()

    return asyncio.run(run())


def _records(data: Path) -> list[dict[str, Any]]:
    text = (session_dir(data, NAME) / "journal.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.integration
@pytest.mark.parametrize("ws", [False, True], ids=["rest", "ws"])
def test_a_sell_filled_and_journalled_by_the_step_a_crash_cut_short_does_not_refuse_the_restart(
    tmp_path: Path, ws: bool
) -> None:
    handle = serve_in_thread("binance", seed=3, history_bars=300)
    advanced = [0]
    try:
        handle.set_balances({"BTC": "0"})  # the session's coins are all the account holds
        with pytest.raises(Killed):
            _session_run(handle, tmp_path, LEAD + 4, ws, die_at=2, advanced=advanced)
        rows = _records(tmp_path)
        last = max(i for i, r in enumerate(rows) if r["kind"] == "checkpoint")
        assert rows[last]["positions"][KEY] == pytest.approx(HELD, abs=1e-12)  # before the sell
        cut = rows[last + 1 :]
        assert [r["side"] for r in cut if r["kind"] == "fill"] == ["sell"]  # journalled...
        sell = [r for r in cut if r["kind"] == "order"][-1]
        assert (sell["side"], sell["filled_quantity"]) == ("sell", SOLD)  # ...filled, final
        assert sell["outcome"] == "final"

        summary = _session_run(handle, tmp_path, LEAD + 4, ws, die_at=None, advanced=advanced)
        sim_orders, sim_fills = handle.orders(), handle.fills()
        held = handle.call(lambda: handle.sim.engine.balance("BTC").free)
    finally:
        handle.stop()
    assert summary["resumed"]
    assert summary["positions"][KEY] == pytest.approx(HELD - SOLD, abs=1e-12)
    assert summary["fills"] == 2 == len(sim_fills)
    assert [o["side"] for o in sim_orders] == ["buy", "sell"]  # nothing sent twice
    rows = _records(tmp_path)
    latest = {r["cid"]: r for r in rows if r["kind"] == "order"}
    # each order's last word is still its final state: deciding the sell again at the restart
    # wrote no "submitted, nothing filled" record after the journal's "filled"
    assert [(o["side"], o["status"], o["filled_quantity"], o["outcome"]) for o in
            latest.values()] == [("buy", "filled", BOUGHT, "final"),
                                 ("sell", "filled", SOLD, "final")]  # fmt: skip
    journalled = [r["trade_id"] for r in rows if r["kind"] == "fill"]
    assert sorted(journalled) == sorted(f"binance:{f['trade_id']}" for f in sim_fills)
    # the exchange holds what the ledger holds: the buy's fee it took in BTC is booked so (the
    # ledger held the whole 0.03 before, more than the account, and could not sell all of it)
    assert float(held) == pytest.approx(summary["positions"][KEY], abs=1e-12)
