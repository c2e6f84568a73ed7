from __future__ import annotations

import pytest

from neo.domain.enums import OrderType, Side
from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.risk.stops import stop_order, take_profit_order

BTC = InstrumentId("sim", "BTC/USDT")
TICK = Instrument.simple("BTC/USDT", tick_size=0.5)


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


def test_legs_are_rounded_to_the_tick() -> None:
    stop = stop_order(BTC, 2.0, 98.294, instrument=TICK)
    take = take_profit_order(BTC, 2.0, 105.315, instrument=TICK)
    assert stop.type is OrderType.STOP and stop.stop_price == 98.5
    assert take.type is OrderType.LIMIT and take.limit_price == 105.5
    for leg in (stop, take):
        assert leg.side is Side.SELL and leg.quantity == 2.0 and leg.reduce_only
