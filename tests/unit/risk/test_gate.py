from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import msgspec
import pytest

from neo.domain.enums import OrderType, Side
from neo.domain.fill import Fill
from neo.domain.ids import InstrumentId, OrderId, TradeId
from neo.domain.instrument import Instrument
from neo.domain.order import Order, next_order_id
from neo.risk import REASON_CODES, PreTradeRiskGate, RiskConfig, RiskLimits
from tests.unit.risk.fakes import FakeAccount

BTC = InstrumentId("sim", "BTC/USDT")
ETH = InstrumentId("sim", "ETH/USDT")
INSTRUMENTS = {
    BTC: Instrument.simple("BTC/USDT", tick_size=0.5, lot_size=0.001),
    ETH: Instrument.simple("ETH/USDT", tick_size=0.01, lot_size=0.01),
}


def order(side: Side = Side.BUY, qty: float = 1.0, iid: InstrumentId = BTC, **kw: Any) -> Order:
    return Order(id=next_order_id("T"), instrument=iid, side=side, quantity=qty, **kw)


def gate_with(tmp_path: Path | None = None, **limits: Any) -> PreTradeRiskGate:
    state = None if tmp_path is None else tmp_path / "state.json"
    return PreTradeRiskGate(RiskConfig(limits=RiskLimits(**limits)), state, INSTRUMENTS)


def account(btc: float = 100.0, eth: float = 10.0, cash: float = 10_000.0) -> FakeAccount:
    acc = FakeAccount(cash=cash, ts=1_000)
    acc.mark(BTC, btc)
    acc.mark(ETH, eth)
    return acc


def test_no_limits_approves_and_counts_nothing() -> None:
    gate = gate_with()
    assert gate.check(order(qty=50.0), account()).approved
    assert not gate.counters
    assert not gate.events


def test_position_notional_judges_the_resulting_position() -> None:
    gate = gate_with(max_position_notional=1_000.0)
    acc = account()
    acc.positions[BTC] = 6.0  # 600 held
    assert gate.check(order(qty=4.0), acc).approved  # exactly 1000
    verdict = gate.check(order(qty=4.001), acc)
    assert (verdict.approved, verdict.code) == (False, "max_position_notional")
    acc.work(order(qty=3.0))  # a working buy counts as if filled
    assert gate.check(order(qty=1.001), acc).code == "max_position_notional"
    assert gate.check(order(qty=1.0), acc).approved
    # shorting through zero is judged on the short side
    assert gate.check(order(Side.SELL, qty=16.0), acc).approved
    assert gate.check(order(Side.SELL, qty=16.001), acc).code == "max_position_notional"
    assert gate.counters["max_position_notional"] == 3
    assert [e.code for e in gate.events] == ["max_position_notional"] * 3


def test_limit_price_above_last_values_the_position_higher() -> None:
    gate = gate_with(max_position_notional=1_000.0)
    acc = account()
    assert gate.check(order(qty=9.5, type=OrderType.LIMIT, limit_price=100.0), acc).approved
    limit = order(qty=9.5, type=OrderType.LIMIT, limit_price=110.0)
    assert gate.check(limit, acc).code == "max_position_notional"


def test_position_pct_of_equity() -> None:
    gate = gate_with(max_position_pct=0.1)  # equity 10_000 → 1_000 per instrument
    acc = account()
    assert gate.check(order(qty=10.0), acc).approved
    assert gate.check(order(qty=10.001), acc).code == "max_position_pct"


def test_gross_exposure_and_leverage_include_other_instruments() -> None:
    acc = account()
    acc.positions[ETH] = -100.0  # 1_000 short
    acc.cash = 11_000.0  # equity 10_000
    gate = gate_with(max_gross_exposure=3_000.0)
    assert gate.check(order(qty=20.0), acc).approved
    assert gate.check(order(qty=20.001), acc).code == "max_gross_exposure"
    acc.work(order(Side.SELL, qty=50.0, iid=ETH))  # could add 500 more
    assert gate.check(order(qty=15.001), acc).code == "max_gross_exposure"
    assert gate.check(order(qty=15.0), acc).approved
    lev = gate_with(max_leverage=0.25)  # 2_500 of gross on 10_000 equity
    assert lev.check(order(qty=10.0), acc).approved
    assert lev.check(order(qty=10.001), acc).code == "max_leverage"


def test_price_buffer_values_exposure_with_slippage() -> None:
    gate = gate_with(max_position_notional=1_000.0, price_buffer_pct=0.01)
    assert gate.check(order(qty=9.9), account()).approved
    assert gate.check(order(qty=9.91), account()).code == "max_position_notional"


def test_open_orders_and_rate() -> None:
    acc = account()
    gate = gate_with(max_open_orders=2)
    acc.work(order())
    assert gate.check(order(), acc).approved
    acc.work(order())
    assert gate.check(order(), acc).code == "max_open_orders"
    rate = gate_with(max_orders_per_minute=2)
    quiet = account()
    assert rate.check(order(), quiet).approved
    assert rate.check(order(), quiet).approved
    assert rate.check(order(), quiet).code == "max_order_rate"
    quiet.ts += 60_000_000_000  # one minute later the window is empty again
    assert rate.check(order(), quiet).approved


def test_price_band_both_sides_and_exit_legs() -> None:
    gate = gate_with(price_band_pct=0.05)
    acc = account()
    assert gate.check(order(type=OrderType.LIMIT, limit_price=105.0), acc).approved
    assert gate.check(order(type=OrderType.LIMIT, limit_price=105.5), acc).code == "price_band"
    assert gate.check(order(type=OrderType.LIMIT, limit_price=94.5), acc).code == "price_band"
    stop = order(Side.SELL, type=OrderType.STOP, stop_price=94.5)
    assert gate.check(stop, acc).code == "price_band"
    acc.positions[BTC] = 2.0
    # a reduce-only take-profit far above the market is fine; a marketable one far below is not
    far_tp = order(Side.SELL, qty=2.0, type=OrderType.LIMIT, limit_price=150.0, reduce_only=True)
    assert gate.check(far_tp, acc).approved
    dump = order(Side.SELL, qty=2.0, type=OrderType.LIMIT, limit_price=50.0, reduce_only=True)
    assert gate.check(dump, acc).code == "price_band"


def test_precision() -> None:
    gate = gate_with()
    acc = account()
    assert gate.check(order(qty=0.0015), acc).code == "quantity_precision"
    assert gate.check(order(type=OrderType.LIMIT, limit_price=100.25), acc).code == (
        "price_precision"
    )
    assert gate.check(order(type=OrderType.LIMIT, limit_price=100.5), acc).approved
    unknown = order(iid=InstrumentId("sim", "XRP/USDT"), qty=0.123456789)
    acc.mark(unknown.instrument, 1.0)
    assert gate.check(unknown, acc).approved  # no instrument: no precision rule to apply
    relaxed = PreTradeRiskGate(RiskConfig(check_precision=False), None, INSTRUMENTS)
    assert relaxed.check(order(qty=0.0015), acc).approved


def test_missing_price_fails_closed_except_market_exits() -> None:
    gate = gate_with()
    acc = FakeAccount()
    assert gate.check(order(), acc).code == "no_price"
    acc.positions[BTC] = 1.0
    acc.equity_override = 100_000.0
    assert gate.check(order(Side.SELL, qty=1.0), acc).approved


def test_reduce_only_must_reduce() -> None:
    gate = gate_with()
    acc = account()
    assert gate.check(order(Side.SELL, reduce_only=True), acc).code == "reduce_only"
    acc.positions[BTC] = 1.0
    assert gate.check(order(Side.BUY, reduce_only=True), acc).code == "reduce_only"
    assert gate.check(order(Side.SELL, qty=1.001, reduce_only=True), acc).code == "reduce_only"
    assert gate.check(order(Side.SELL, qty=1.0, reduce_only=True), acc).approved
    # bracket legs (both reduce-only) each cover the whole position
    acc.work(order(Side.SELL, qty=1.0, reduce_only=True, type=OrderType.STOP, stop_price=90.0))
    assert gate.check(order(Side.SELL, qty=1.0, reduce_only=True), acc).approved


def test_two_exits_adding_past_zero_are_not_exits() -> None:
    gate = gate_with(max_position_notional=50.0)
    acc = account()
    acc.positions[BTC] = 1.0
    acc.work(order(Side.SELL, qty=1.0))
    verdict = gate.check(order(Side.SELL, qty=1.0), acc)  # could end at -1 BTC = 100 notional
    assert verdict.code == "max_position_notional"


def test_kill_switch_halts_new_exposure_but_not_exits(tmp_path: Path) -> None:
    gate = gate_with(tmp_path)
    acc = account()
    acc.positions[BTC] = 2.0
    gate.kill_switch.engage("manual")
    assert gate.check(order(), acc).code == "kill_switch"
    assert gate.check(order(Side.SELL, qty=3.0), acc).code == "kill_switch"
    assert gate.check(order(Side.SELL, qty=2.0), acc).approved
    gate.reset(by="test")
    assert gate.check(order(), acc).approved
    assert [e.kind for e in gate.events][-1] == "kill_switch_reset"


@pytest.mark.parametrize("equity", [math.nan, math.inf, -5.0])
def test_uncomputable_equity_engages_the_switch(equity: float) -> None:
    gate = gate_with()
    acc = account()
    acc.equity_override = equity
    assert gate.check(order(), acc).code == "kill_switch"
    assert gate.kill_switch.engaged


class _AlwaysStale:
    def is_stale(self, instrument: InstrumentId, engine_ts: int | None = None) -> bool:
        return True


def _producers() -> dict[str, tuple[PreTradeRiskGate, Order, FakeAccount]]:
    """One (gate, order, account) per reason code that makes the gate deny with that code."""
    held = account()
    held.positions[BTC] = 1.0
    halted = gate_with()
    halted.kill_switch.engage("test")
    busy = account()
    busy.work(order())
    rate = gate_with(max_orders_per_minute=1)
    rate.check(order(), account())
    stale = gate_with()
    stale.staleness = _AlwaysStale()
    return {
        "kill_switch": (halted, order(), account()),
        "stale_data": (stale, order(), account()),
        "reduce_only": (gate_with(), order(Side.SELL, reduce_only=True), account()),
        "quantity_precision": (gate_with(), order(qty=0.0015), account()),
        "price_precision": (
            gate_with(),
            order(type=OrderType.LIMIT, limit_price=100.25),
            account(),
        ),
        "min_notional": (
            PreTradeRiskGate(
                RiskConfig(),
                None,
                {BTC: Instrument.simple("BTC/USDT", lot_size=0.001, min_notional=10.0)},
            ),
            order(qty=0.05),
            account(),
        ),
        "no_price": (gate_with(), order(), FakeAccount()),
        "price_band": (
            gate_with(price_band_pct=0.05),
            order(type=OrderType.LIMIT, limit_price=120.0),
            account(),
        ),
        "max_open_orders": (gate_with(max_open_orders=1), order(), busy),
        "max_order_rate": (rate, order(), account()),
        "max_position_notional": (gate_with(max_position_notional=10.0), order(), account()),
        "max_position_pct": (gate_with(max_position_pct=0.001), order(), account()),
        "max_gross_exposure": (gate_with(max_gross_exposure=10.0), order(), account()),
        "max_leverage": (gate_with(max_leverage=0.001), order(), account()),
    }


def test_every_reason_code_is_produced_by_some_order_and_documented() -> None:
    import neo.risk.gate as gate_module

    producers = _producers()
    assert set(producers) == set(REASON_CODES), "a code no order can produce, or vice versa"
    for code, (gate, denied, acc) in producers.items():
        verdict = gate.check(denied, acc)
        assert (verdict.approved, verdict.code) == (False, code)
        assert gate.counters[code] == 1
        assert gate.events[-1].code == code and gate.events[-1].kind == "denied"
    doc = gate_module.__doc__ or ""
    for code in REASON_CODES:
        assert f"``{code}``" in doc, f"{code} is not documented in neo.risk.gate"


def test_a_protective_stop_below_the_band_is_approved() -> None:
    """Long 10 @ 100 with a 5 % band: a reduce-only sell stop at 90 only rests, so it passes."""
    gate = gate_with(price_band_pct=0.05)
    acc = account()
    acc.positions[BTC] = 10.0
    protective = order(Side.SELL, qty=10.0, type=OrderType.STOP, stop_price=90.0, reduce_only=True)
    assert gate.check(protective, acc).approved
    # a short's protective buy stop far above is passive too
    acc.positions[BTC] = -10.0
    cover = order(Side.BUY, qty=10.0, type=OrderType.STOP, stop_price=125.0, reduce_only=True)
    assert gate.check(cover, acc).approved
    # an opening stop (breakout entry) far from the market is still denied
    entry = order(Side.BUY, qty=1.0, type=OrderType.STOP, stop_price=120.0)
    assert gate.check(entry, acc).code == "price_band"


def test_a_brackets_stop_leg_is_approved_when_its_entry_is() -> None:
    from neo.execution.simulated import bracket

    gate = gate_with(price_band_pct=0.05)
    acc = account()
    entry = order(qty=10.0)
    legs = bracket(entry, stop_loss=90.0, take_profit=112.0)
    assert gate.check(legs[0], acc).approved
    acc.work(legs[0])
    for leg in legs[1:]:
        assert gate.check(leg, acc).approved, leg
        acc.work(leg)


def test_stop_limit_limit_is_judged_against_its_trigger() -> None:
    gate = gate_with(price_band_pct=0.05)
    acc = account()
    acc.positions[BTC] = 10.0
    # sell stop at 90, limit 88: 2.2 % under its trigger, fine although 12 % under the market
    ok = order(
        Side.SELL,
        qty=10.0,
        type=OrderType.STOP_LIMIT,
        stop_price=90.0,
        limit_price=88.0,
        reduce_only=True,
    )
    assert gate.check(ok, acc).approved
    dump = order(
        Side.SELL,
        qty=10.0,
        type=OrderType.STOP_LIMIT,
        stop_price=90.0,
        limit_price=80.0,
        reduce_only=True,
    )
    assert gate.check(dump, acc).code == "price_band"
    # trigger already crossed (sell stop above the market): the limit is live now, vs. 100
    live = order(
        Side.SELL,
        qty=10.0,
        type=OrderType.STOP_LIMIT,
        stop_price=101.0,
        limit_price=94.0,
        reduce_only=True,
    )
    assert gate.check(live, acc).code == "price_band"


def test_min_notional_applies_to_orders_but_never_blocks_closing() -> None:
    specs = {BTC: Instrument.simple("BTC/USDT", lot_size=0.001, min_notional=500.0)}
    gate = PreTradeRiskGate(RiskConfig(), None, specs)
    acc = account()  # BTC at 100: 5 units = 500
    assert gate.check(order(qty=5.0), acc).approved
    small = gate.check(order(qty=4.999), acc)
    assert (small.approved, small.code) == (False, "min_notional")
    # a limit order is valued at its own price
    assert gate.check(order(qty=4.9, type=OrderType.LIMIT, limit_price=102.05), acc).approved
    acc.positions[BTC] = 2.0  # 200 held: below the minimum, must still be closable
    assert gate.check(order(Side.SELL, qty=2.0), acc).approved
    assert gate.check(order(Side.SELL, qty=2.0, reduce_only=True), acc).approved
    # but a partial reduction below the minimum is denied
    assert gate.check(order(Side.SELL, qty=1.0), acc).code == "min_notional"
    assert gate.check(order(Side.SELL, qty=1.0, reduce_only=True), acc).code == "min_notional"


def _fill(qty: float, price: float) -> Fill:
    return Fill(
        order_id=OrderId("x"),
        trade_id=TradeId("t"),
        instrument=BTC,
        side=Side.BUY,
        quantity=qty,
        price=price,
        fee=0.0,
        ts=5,
    )


def test_on_fill_records_a_breach_caused_by_a_gap() -> None:
    gate = gate_with(max_position_notional=1_000.0)
    acc = account()
    acc.positions[BTC] = 10.0
    gate.on_fill(_fill(10.0, 100.0), acc)
    assert not gate.events
    gate.on_fill(_fill(10.0, 120.0), acc)
    assert [e.kind for e in gate.events] == ["limit_exceeded_after_fill"]
    gate_with().on_fill(_fill(10.0, 120.0), acc)  # no limit: nothing to record


def test_on_fill_records_every_exposure_limit_it_ended_beyond() -> None:
    acc = account()  # cash 10_000, BTC at 100
    acc.positions[BTC] = 10.0  # 1_000 of BTC: equity 11_000, gross 1_000, leverage 0.091
    assert (acc.equity, acc.gross_exposure) == (11_000.0, 1_000.0)
    gate = gate_with(max_position_pct=0.05, max_gross_exposure=800.0, max_leverage=0.05)
    gate.on_fill(_fill(10.0, 100.0), acc)
    assert sorted(e.code for e in gate.events) == [
        "max_gross_exposure",  # 1_000 > 800
        "max_leverage",  # 0.091 > 0.05
        "max_position_pct",  # 9.1 % > 5 %
    ]
    assert {e.kind for e in gate.events} == {"limit_exceeded_after_fill"}
    loose = gate_with(max_position_pct=0.1, max_gross_exposure=1_000.0, max_leverage=0.1)
    loose.on_fill(_fill(10.0, 100.0), acc)  # exactly at or inside every limit
    assert not loose.events
    reducing = gate_with(max_position_pct=0.01)
    sell = msgspec.structs.replace(_fill(1.0, 100.0), side=Side.SELL)
    reducing.on_fill(sell, acc)  # 11 -> 10 units: exposure came down, nothing to record
    assert not reducing.events


def test_reduce_only_exit_before_a_plain_buy_counts_toward_the_worst_case() -> None:
    gate = gate_with(max_position_notional=2_000.0)
    acc = account()
    acc.positions[BTC] = -20.0
    acc.work(order(Side.BUY, qty=9.0, reduce_only=True))  # may fill first: -20 → -11
    # plain buy 36 alone would end at +16, but after the exit it ends at +25 (2_500)
    assert gate.check(order(qty=36.0), acc).code == "max_position_notional"
    assert gate.check(order(qty=29.0), acc).approved  # -20 + 9 + 29 = +18 → 1_800


def test_bracket_legs_of_a_working_entry_pass_and_do_not_count_twice() -> None:
    gate = gate_with(max_position_notional=1_000.0)
    acc = account()
    entry = acc.work(order(qty=10.0))
    stop = order(
        Side.SELL,
        qty=10.0,
        reduce_only=True,
        type=OrderType.STOP,
        stop_price=90.0,
        parent_id=entry.id,
        oco_group="g",
    )
    take = order(
        Side.SELL,
        qty=10.0,
        reduce_only=True,
        type=OrderType.LIMIT,
        limit_price=110.0,
        parent_id=entry.id,
        oco_group="g",
    )
    for leg in (stop, take):
        assert gate.check(leg, acc).approved
        acc.work(leg)
    assert gate.check(order(Side.SELL, qty=10.0), acc).approved  # flat → -10 at worst
    orphan = order(Side.SELL, qty=1.0, reduce_only=True, parent_id=OrderId("gone"))
    assert gate.check(orphan, acc).code == "reduce_only"
    too_big = order(Side.SELL, qty=11.0, reduce_only=True, parent_id=entry.id)
    assert gate.check(too_big, acc).code == "reduce_only"


def test_pass_through_gate_is_the_no_limits_default() -> None:
    from neo.risk import NO_ACTIONS, PassThroughRiskGate

    gate = PassThroughRiskGate()
    acc = account()
    assert gate.check(order(qty=1e9), acc).approved
    assert gate.on_fill(_fill(1.0, 1.0), acc) is None
    assert gate.on_bar(acc) is NO_ACTIONS
