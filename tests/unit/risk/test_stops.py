from __future__ import annotations

import pytest

from neo.domain.enums import OrderType, Side
from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.domain.order import Order, next_order_id
from neo.risk.stops import (
    StopRule,
    TrailingStop,
    bracket,
    replace_stop,
    stop_order,
    stop_price,
    take_profit_order,
    take_profit_price,
    time_stop_order,
)

BTC = InstrumentId("sim", "BTC/USDT")
TICK = Instrument.simple("BTC/USDT", tick_size=0.5)


def test_stop_prices() -> None:
    assert stop_price(True, 100.0, StopRule(pct=0.05)) == pytest.approx(95.0)
    assert stop_price(False, 100.0, StopRule(pct=0.05)) == pytest.approx(105.0)
    assert stop_price(True, 100.0, StopRule(kind="atr", atr_multiple=3.0), atr=2.0) == 94.0
    assert take_profit_price(True, 100.0, 0.1) == pytest.approx(110.0)
    assert take_profit_price(False, 100.0, 0.1) == pytest.approx(90.0)
    with pytest.raises(ConfigError, match="ATR"):
        stop_price(True, 100.0, StopRule(kind="atr"), atr=None)
    with pytest.raises(ConfigError, match="tighten"):
        stop_price(True, 10.0, StopRule(kind="atr"), atr=6.0)
    with pytest.raises(ConfigError):
        StopRule(pct=1.5)
    with pytest.raises(ConfigError):
        StopRule(atr_multiple=0.0)
    with pytest.raises(ConfigError):
        take_profit_price(True, 1.0, 0.0)


def test_bracket_is_real_broker_orders() -> None:
    entry = Order(id=next_order_id(), instrument=BTC, side=Side.BUY, quantity=2.0)
    stop, take = bracket(entry, 100.3, StopRule(pct=0.02), take_profit_pct=0.05, instrument=TICK)
    assert stop.type is OrderType.STOP and stop.stop_price == 98.5  # 98.294 → tick 0.5
    assert take.type is OrderType.LIMIT and take.limit_price == 105.5  # 105.315 → 105.5
    for leg in (stop, take):
        assert leg.side is Side.SELL and leg.quantity == 2.0 and leg.reduce_only
        assert leg.parent_id == entry.id
        assert leg.oco_group == f"{entry.id}-bracket"
    short = Order(id=next_order_id(), instrument=BTC, side=Side.SELL, quantity=1.0)
    (only,) = bracket(short, 100.0, StopRule(pct=0.1))
    assert only.side is Side.BUY and only.stop_price == pytest.approx(110.0)


def test_stop_limit_and_take_profit_orders() -> None:
    leg = stop_order(BTC, 3.0, 90.0, limit_offset_pct=0.01)
    assert leg.type is OrderType.STOP_LIMIT and leg.limit_price == pytest.approx(89.1)
    short_leg = stop_order(BTC, -3.0, 110.0, limit_offset_pct=0.01)
    assert short_leg.side is Side.BUY and short_leg.limit_price == pytest.approx(111.1)
    tp = take_profit_order(BTC, -1.0, 80.0)
    assert tp.side is Side.BUY and tp.reduce_only and tp.parent_id is None
    with pytest.raises(ConfigError):
        stop_order(BTC, 0.0, 1.0)
    with pytest.raises(ConfigError):
        take_profit_order(BTC, 0.0, 1.0)


def test_trailing_stop_ratchets_one_way_and_replaces() -> None:
    trail = TrailingStop(True, 100.0, StopRule(kind="trailing_pct", pct=0.1))
    assert trail.stop == pytest.approx(90.0)
    assert trail.update(high=110.0, low=104.0) == pytest.approx(99.0)
    assert trail.update(high=105.0, low=100.0) is None  # never loosens
    assert not trail.hit(high=105.0, low=99.5)
    assert trail.hit(high=105.0, low=98.0)
    old = stop_order(BTC, 1.0, 90.0, limit_offset_pct=0.01)
    new = replace_stop(old, 99.0, ts=5)
    assert new.id != old.id and new.stop_price == 99.0
    assert new.limit_price == pytest.approx(old.limit_price * 99.0 / 90.0)  # type: ignore[operator]
    short = TrailingStop(False, 100.0, StopRule(kind="atr_trailing", atr_multiple=2.0), atr=1.0)
    assert short.update(high=99.0, low=95.0, atr=1.0) == pytest.approx(97.0)
    assert short.hit(high=97.0, low=96.0)
    fixed = TrailingStop(True, 100.0, StopRule(pct=0.1))
    assert fixed.update(high=200.0, low=150.0) is None and fixed.stop == pytest.approx(90.0)


def test_time_stop() -> None:
    assert time_stop_order(BTC, 1.0, entry_ns=0, now_ns=99, max_holding_ns=100) is None
    assert time_stop_order(BTC, 0.0, entry_ns=0, now_ns=500, max_holding_ns=100) is None
    exit_order = time_stop_order(BTC, -2.0, entry_ns=0, now_ns=100, max_holding_ns=100)
    assert exit_order is not None
    assert exit_order.side is Side.BUY and exit_order.quantity == 2.0 and exit_order.reduce_only
    with pytest.raises(ConfigError):
        time_stop_order(BTC, 1.0, 0, 1, 0)
