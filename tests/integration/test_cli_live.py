"""`neo live` and `neo paper --feed exchange:…` against `neo exchange-sim` (127.0.0.1 only).

The sim closes a bar every 50 ms of wall time, so a few dozen bars take a second or two.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from neo.cli.main import app
from neo.strategies.base import Strategy
from neo.strategies.context import StrategyContext

pytest.importorskip("ccxt")
from neo.exchange_sim import SimHandle, serve_in_thread
from neo.exchange_sim.client import SIM_KEY, SIM_SECRET

runner = CliRunner()
FAST = ["--strategy", "sma_cross", "--param", "fast=2", "--param", "slow=4"]


def _live(sim: SimHandle, *extra: str, code: int = 0) -> dict[str, Any]:
    args = ["live", "--exchange", "binance", "--exchange-url", sim.url, "--symbols", "BTC/USDT"]
    result = runner.invoke(app, [*args, *FAST, "--warmup", "8", *extra, "--json"])
    assert result.exit_code == code, result.output
    assert SIM_SECRET not in result.output and SIM_KEY not in result.output
    if code:  # one line, however the console wrapped it
        return {"output": " ".join(result.output.split())}
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def test_neo_live_refuses_to_trade_without_confirm_live(sim: SimHandle) -> None:
    out = _live(sim, "--cycles", "5", code=2)["output"]
    assert "add --confirm-live to trade, or --dry-run" in out
    assert sim.orders() == []


def test_confirm_live_and_dry_run_exclude_each_other(sim: SimHandle) -> None:
    out = _live(sim, "--confirm-live", "--dry-run", code=2)["output"]
    assert "exclude each other" in out


def test_a_dry_run_lists_what_it_would_send_and_sends_nothing(sim: SimHandle) -> None:
    """No keys are set: a dry run does not load them, and the exchange receives nothing."""
    summary = _live(sim, "--dry-run", "--cycles", "60")
    assert summary["mode"] == "dry-run" and summary["would_send"]
    assert {row["side"] for row in summary["would_send"]} <= {"buy", "sell"}
    assert sim.orders() == [] and sim.requests() == []


@pytest.mark.slow
def test_paper_on_an_exchange_feed_needs_no_keys_and_sends_nothing(sim: SimHandle) -> None:
    args = ["paper", "--feed", "exchange:binance", "--exchange-url", sim.url]
    result = runner.invoke(
        app, [*args, "--symbols", "BTC/USDT", *FAST, "--cycles", "230", "--session", "p1", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["bars"] == 230 and summary["orders"] > 0 and summary["mode"] == "paper"
    assert sim.orders() == []


@pytest.mark.slow
@pytest.mark.usefixtures("keys")
def test_a_live_session_trades_resumes_and_refuses_when_the_exchange_disagrees(
    sim: SimHandle,
) -> None:
    first = _live(sim, "--confirm-live", "--session", "s1", "--cycles", "40")
    sent = [o["client_order_id"] for o in sim.orders()]
    assert first["fills"] > 0 and len(sent) == len(set(sent))
    assert first["fills_stream"]["mode"] == "watch"  # our fills over Binance's user stream
    again = _live(sim, "--confirm-live", "--session", "s1", "--cycles", "60")
    assert again["resumed"] and again["replayed_bars"] == 40 and again["new_bars"] == 20
    sent = [o["client_order_id"] for o in sim.orders()]
    assert len(sent) == len(set(sent))  # the replay sent nothing again
    _state_store_agrees("s1", again)


class BuyOnce(Strategy):
    """Buys 0.01 BTC while it holds less than half of that, then holds: a session that
    certainly ends holding a position (sma_cross may end flat, or on fee dust below a lot)."""

    name = "buy_once"

    def on_bar(self, ctx: StrategyContext) -> None:
        if ctx.position < 0.005:
            ctx.buy(0.01)


@pytest.mark.usefixtures("keys")
def test_a_live_session_refuses_to_start_when_the_exchange_lost_its_coins(
    sim: SimHandle,
) -> None:
    """CI once ran the old form of this check on sma_cross's last position, 7.9e-07 BTC of
    fee dust: below one lot, so the restart rightly went ahead and the test failed."""
    strategy = ["--strategy", f"{__name__}:BuyOnce"]
    args = ["live", "--exchange", "binance", "--exchange-url", sim.url, "--symbols", "BTC/USDT"]
    common = [*args, *strategy, "--warmup", "2", "--confirm-live", "--session", "b1", "--json"]
    first = runner.invoke(app, [*common, "--cycles", "30"])  # the first dozen are history
    assert first.exit_code == 0, first.output
    held = json.loads(first.stdout)["positions"]["BTC/USDT@binance"]
    assert held == pytest.approx(0.00999)  # 0.01 less the venue's 0.1 % fee in BTC
    sim.set_balances({"BTC": "0"})
    again = runner.invoke(app, [*common, "--cycles", "40"])
    assert again.exit_code == 1, again.output
    out = " ".join(again.output.split())
    assert "binance holds 0 BTC but the session's ledger holds 0.00999" in out
    assert "fills are missing from the journal; refusing to start" in out
    assert len(sim.orders()) == 1  # nothing was sent after the refusal


def _state_store_agrees(session: str, summary: dict[str, Any]) -> None:
    """The SQL state store (neo.persistence) holds the session's orders, fills and position."""
    from neo.domain.ids import InstrumentId
    from neo.persistence import open_database
    from neo.settings import load_settings

    with open_database(load_settings()) as db:
        orders = db.orders.orders(session_id=session)
        fills = db.orders.fills(session_id=session)
        position = db.positions.get("exchange:binance:main", InstrumentId("binance", "BTC/USDT"))
        record = db.sessions.get(session)
    assert len(orders) == summary["orders"] and len(fills) == summary["fills"]
    assert len({o.client_order_id for o in orders}) == len(orders)
    assert position is not None
    assert position.quantity == pytest.approx(summary["positions"]["BTC/USDT@binance"])
    assert record is not None and record.status == "stopped" and record.checkpoint is not None
    assert record.checkpoint["bars"] == summary["bars"]


class RestingBuy(Strategy):
    """One limit buy just below the market at its 12th bar, left resting."""

    name = "resting_buy"

    def on_bar(self, ctx: StrategyContext) -> None:
        if ctx.i == 11:
            ctx.buy(0.01, limit=round(ctx.price * 0.9995, 2))


def test_fills_made_while_the_session_was_down_are_found_at_restart(
    tmp_path: Path, keys: None
) -> None:
    """The session stops with a limit order resting; the market trades through it while
    NEO is down; the restart adopts the order, books the fill once and holds the position."""
    from neo.adapters.ccxt import load_instruments, make_exchange
    from neo.adapters.ccxt.broker import ccxt_broker
    from neo.adapters.ccxt.feed import CcxtBarFeed
    from neo.engine.journal import FileJournal, session_dir
    from neo.engine.live import TradingSession
    from tests.integration.live_venue_child import config

    handle = serve_in_thread("binance", seed=3, history_bars=300)
    since = int(handle.state()["now_ms"]) - 20 * 60_000

    async def run(cycles: int) -> dict[str, Any]:
        exchange = make_exchange("binance", config(handle.url), credentials=True)
        stream = make_exchange("binance", config(handle.url), asynchronous=True)
        journal = FileJournal(session_dir(tmp_path, "down"))
        try:
            session = TradingSession(
                name="down", mode="live", account="exchange:binance:t", strategy=RestingBuy(),
                feed=CcxtBarFeed(stream, ["BTC/USDT"], "1m", since_ms=since),
                journal=journal, instruments=load_instruments(exchange, ["BTC/USDT"]),
                exchange_broker=ccxt_broker(exchange), fill_scope="", cycles=cycles,
            )  # fmt: skip
            return (await session.run()).summary()
        finally:
            journal.close()
            await stream.close()

    try:
        first = asyncio.run(run(15))
        assert first["orders"] == 1 and first["fills"] == 0
        for _ in range(300):  # NEO is down; the market moves until the order fills
            handle.advance(1)
            if handle.fills():
                break
        assert handle.fills(), "the sim never reached the limit"
        handle.advance(1)
        second = asyncio.run(run(16))
        (made,) = handle.fills()
    finally:
        handle.stop()
    assert second["resumed"] and second["fills"] == 1
    # what the account holds: the fill less the fee the venue took in BTC (0.01 × 0.999)
    assert made["fee_asset"] == "BTC"
    held = float(made["quantity"]) - float(made["fee"])
    assert held == pytest.approx(0.00999)
    assert second["positions"]["BTC/USDT@binance"] == pytest.approx(held, abs=1e-12)
    assert second["reconciled"]["adopted"] == [f"{first_cid(tmp_path)}"]
    text = (session_dir(tmp_path, "down") / "journal.jsonl").read_text()
    rows = [json.loads(x) for x in text.splitlines()]
    fills = [r for r in rows if r["kind"] == "fill"]
    assert len(fills) == 1 and fills[0]["source"] == "rest"


def first_cid(data: Path) -> str:
    from neo.engine.journal import session_dir

    for line in (session_dir(data, "down") / "journal.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["kind"] == "order":
            return str(row["cid"])
    return ""
