"""Daily loss and drawdown engage the kill switch; the halt survives a restart."""

from __future__ import annotations

import math
from pathlib import Path

from neo.domain.enums import OrderType, Side
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.domain.order import Order, next_order_id
from neo.risk import NO_ACTIONS, PreTradeRiskGate, RiskConfig, RiskLimits
from tests.unit.risk.fakes import FakeAccount

BTC = InstrumentId("sim", "BTC/USDT")
ETH = InstrumentId("sim", "ETH/USDT")


def make(tmp_path: Path, **config: object) -> PreTradeRiskGate:
    limits = RiskLimits(max_daily_loss_pct=0.05, max_drawdown_pct=0.10)
    instruments = {ETH: Instrument.simple("ETH/USDT", lot_size=0.01)}
    return PreTradeRiskGate(
        RiskConfig(limits=limits, **config),  # type: ignore[arg-type]
        tmp_path / "ks.json",
        instruments,
    )


def book(equity_drop: float) -> FakeAccount:
    acc = FakeAccount(cash=0.0, ts=10)
    acc.positions = {BTC: 1.0, ETH: -3.0}
    acc.mark(BTC, 10_000.0)
    acc.mark(ETH, 1_000.0)  # equity 10_000 - 3_000 = 7_000
    acc.peak_equity = acc.day_start_equity = 7_000.0
    acc.cash -= equity_drop
    return acc


def test_within_limits_nothing_happens(tmp_path: Path) -> None:
    gate = make(tmp_path)
    assert gate.on_bar(book(349.0)) is NO_ACTIONS  # 4.99 % daily loss
    assert not gate.kill_switch.engaged


def test_daily_loss_flattens_everything_once_then_only_uncovered(tmp_path: Path) -> None:
    gate = make(tmp_path)
    acc = book(350.0)  # exactly 5 %
    actions = gate.on_bar(acc)
    assert actions.cancel_all
    assert "daily loss" in actions.reason
    exits = {o.instrument: o for o in actions.orders}
    assert exits[BTC].side is Side.SELL and exits[BTC].quantity == 1.0
    assert exits[ETH].side is Side.BUY and exits[ETH].quantity == 3.0
    assert all(o.reduce_only and o.type is OrderType.MARKET for o in actions.orders)
    assert gate.engagements == 1 and "kill_switch_engaged" not in gate.counters
    # next bar: BTC exit still working, ETH exit was lost → only ETH is asked for again
    acc.work(exits[BTC])
    again = gate.on_bar(acc)
    assert not again.cancel_all
    assert [o.instrument for o in again.orders] == [ETH]
    acc.orders.clear()
    acc.positions = {}
    assert gate.on_bar(acc) is NO_ACTIONS  # flat and halted: nothing more to do
    assert gate.kill_switch.engaged


def test_drawdown_and_reduce_mode(tmp_path: Path) -> None:
    gate = make(tmp_path, on_breach="reduce", reduce_fraction=0.5)
    acc = book(0.0)
    acc.peak_equity = 8_000.0  # 12.5 % below the peak
    actions = gate.on_bar(acc)
    assert "drawdown" in actions.reason
    sizes = {o.instrument: o.quantity for o in actions.orders}
    assert sizes == {BTC: 0.5, ETH: 1.5}
    assert gate.on_bar(acc) is NO_ACTIONS  # reduce happens once per engagement


def test_unknown_pnl_fails_closed(tmp_path: Path) -> None:
    gate = make(tmp_path)
    acc = book(0.0)
    acc.prices[BTC] = math.nan
    actions = gate.on_bar(acc)
    assert gate.kill_switch.engaged
    assert actions.cancel_all
    assert "cannot be computed" in actions.reason


def test_halt_survives_restart_and_needs_explicit_reset(tmp_path: Path) -> None:
    make(tmp_path).on_bar(book(1_000.0))
    reborn = make(tmp_path)
    assert reborn.kill_switch.engaged
    calm = book(0.0)
    first = reborn.on_bar(calm)  # first bar after restart: cancel and flatten again
    assert first.cancel_all and len(first.orders) == 2
    entry = Order(id=next_order_id(), instrument=BTC, side=Side.BUY, quantity=0.1)
    assert reborn.check(entry, calm).code == "kill_switch"
    reborn.reset(by="ops")
    assert make(tmp_path).check(entry, calm).approved


def test_kill_switch_events_for_reports(tmp_path: Path) -> None:
    from neo.domain.events import KillSwitchEngaged, KillSwitchReset

    gate = make(tmp_path)
    gate.on_bar(book(1_000.0))
    gate.reset(by="ops", ts=99)
    kinds = gate.kill_switch_events()
    assert [type(e) for e in kinds] == [KillSwitchEngaged, KillSwitchReset]
    assert kinds[0].ts == 10 and kinds[1].by == "ops"  # type: ignore[attr-defined]


def test_drawdown_basis_survives_a_restart(tmp_path: Path) -> None:
    """The peak is kept on disk: a fresh account (peak = its start) still sees the drawdown."""
    gate = make(tmp_path)
    acc = book(0.0)
    acc.peak_equity = 7_700.0  # the first session reached 7_700
    gate.on_bar(acc)  # 9.1 % below its peak: within the 10 % limit
    assert not gate.kill_switch.engaged
    reborn = make(tmp_path)
    fresh = book(100.0)  # the new session starts at 6_900 and thinks its peak is 6_900 too
    fresh.peak_equity = fresh.day_start_equity = 6_900.0
    actions = reborn.on_bar(fresh)
    assert reborn.kill_switch.engaged and "drawdown" in actions.reason  # 10.4 % below 7_700


def test_a_fresh_account_session_keeps_the_halt_but_not_the_basis(tmp_path: Path) -> None:
    """Paper trading starts a new simulated account each session (keep_basis=False): another
    account's peak must not count as this one's drawdown, but an engaged halt still holds."""
    config = RiskConfig(limits=RiskLimits(max_daily_loss_pct=0.05, max_drawdown_pct=0.10))
    first = make(tmp_path)
    acc = book(0.0)
    acc.peak_equity = 7_700.0
    first.on_bar(acc)
    assert first.kill_switch.peak_equity == 7_700.0
    fresh = book(100.0)
    fresh.peak_equity = fresh.day_start_equity = 6_900.0
    reborn = PreTradeRiskGate(config, tmp_path / "ks.json", keep_basis=False)
    assert math.isnan(reborn.kill_switch.peak_equity)
    assert reborn.on_bar(fresh) is NO_ACTIONS  # 10.4 % below the old account's peak: ignored
    assert not reborn.kill_switch.engaged and reborn.kill_switch.peak_equity == 6_900.0
    reborn.kill_switch.engage("manual", 5)
    again = PreTradeRiskGate(config, tmp_path / "ks.json", keep_basis=False)
    assert again.kill_switch.engaged and again.kill_switch.reason == "manual"


def test_daily_loss_basis_survives_a_restart_the_same_day(tmp_path: Path) -> None:
    make(tmp_path).on_bar(book(300.0))  # 4.3 % down on the day: fine
    reborn = make(tmp_path)
    fresh = book(350.0)
    fresh.peak_equity = fresh.day_start_equity = 6_650.0  # the fresh account forgot the day
    fresh.positions = {}
    fresh.cash = 6_650.0
    assert "daily loss" in reborn.on_bar(fresh).reason  # 5 % below the stored 7_000
    # a later UTC day starts a new basis
    reborn.reset(by="ops")
    later = make(tmp_path)
    nextday = book(350.0)
    nextday.ts += 86_400 * 1_000_000_000
    nextday.day_start_equity = 6_650.0
    nextday.peak_equity = 6_650.0
    assert later.on_bar(nextday) is NO_ACTIONS


def test_restart_in_reduce_mode_does_not_reduce_again(tmp_path: Path) -> None:
    first = make(tmp_path, on_breach="reduce", reduce_fraction=0.5)
    acc = book(0.0)
    acc.peak_equity = 8_000.0
    assert first.on_bar(acc).orders  # reduces once
    reborn = make(tmp_path, on_breach="reduce", reduce_fraction=0.5)
    assert reborn.kill_switch.engaged
    assert reborn.on_bar(acc) is NO_ACTIONS  # no second reduction after the restart
    restored = [e for e in reborn.events if e.kind == "kill_switch_restored"]
    assert len(restored) == 1 and "not repeated" in restored[0].reason
    assert reborn.on_bar(acc) is NO_ACTIONS and len(reborn.events) == 1  # recorded once


def test_restart_before_the_actions_ran_runs_them(tmp_path: Path) -> None:
    first = make(tmp_path, on_breach="reduce", reduce_fraction=0.5)
    first.kill_switch.engage("manual", 5)  # engaged, but the process died before on_bar
    reborn = make(tmp_path, on_breach="reduce", reduce_fraction=0.5)
    actions = reborn.on_bar(book(0.0))
    assert actions.cancel_all and {o.quantity for o in actions.orders} == {0.5, 1.5}


def test_reset_forgets_the_basis(tmp_path: Path) -> None:
    gate = make(tmp_path)
    acc = book(0.0)
    acc.peak_equity = 7_700.0
    gate.on_bar(acc)
    assert gate.kill_switch.peak_equity == 7_700.0
    gate.reset(by="ops")
    assert math.isnan(make(tmp_path).kill_switch.peak_equity)
