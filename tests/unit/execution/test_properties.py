"""Random order streams against random bars: the state machine and the books always hold."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neo.domain import (
    ALLOWED_TRANSITIONS,
    Event,
    Order,
    OrderFilled,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from neo.domain.order import next_order_id
from neo.execution import ExecutionConfig, Ledger, SimulatedBroker, bracket

from .helpers import MINUTE, instrument

SPEC = instrument(taker_fee=0.001, maker_fee=0.0002)
IID = SPEC.id

action_st = st.tuples(
    st.sampled_from(["market", "limit", "stop", "stop_limit", "bracket", "cancel", "none"]),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 30),
    st.floats(-0.03, 0.03),
    st.sampled_from(list(TimeInForce)),
    st.booleans(),
)
bar_st = st.tuples(st.floats(-0.02, 0.02), st.floats(0.0, 0.02), st.floats(0.0, 0.02),
                   st.floats(-0.02, 0.02), st.sampled_from([0.0, 50.0, 500.0]))  # fmt: skip
config_st = st.builds(
    ExecutionConfig,
    fill=st.sampled_from(["next_open", "close"]),
    slippage_bps=st.sampled_from([0.0, 5.0]),
    impact=st.sampled_from(["none", "volume"]),
    participation_cap=st.sampled_from([None, 0.05, 0.5]),
    fees_bps=st.sampled_from([None, 10.0]),
)


def _order(action: tuple[Any, ...], price: float, ts: int) -> list[Order]:
    kind, side, quantity, offset, tif, reduce_only = action
    fields: dict[str, Any] = {
        "id": next_order_id(), "instrument": IID, "side": side, "quantity": float(quantity),
        "time_in_force": tif, "reduce_only": reduce_only, "created_ns": ts,
        "expire_ns": ts + 3 * MINUTE if tif is TimeInForce.GTD else None,
    }  # fmt: skip
    level = round(price * (1 + offset), 2)
    if kind == "limit":
        fields.update(type=OrderType.LIMIT, limit_price=level)
    elif kind == "stop":
        fields.update(type=OrderType.STOP, stop_price=level)
    elif kind == "stop_limit":
        fields.update(type=OrderType.STOP_LIMIT, stop_price=level, limit_price=level)
    if kind != "bracket":
        return [Order(**fields)]
    fields.update(reduce_only=False, time_in_force=TimeInForce.GTC, expire_ns=None)
    stop, target = price * (1 - side.sign * 0.01), price * (1 + side.sign * 0.01)
    return bracket(Order(**fields), stop_loss=round(stop, 2), take_profit=round(target, 2))


class Checker:
    """Follows every event and checks it against the order state machine."""

    def __init__(self) -> None:
        self.status: dict[str, OrderStatus] = {}
        self.filled: dict[str, float] = {}
        self.position = 0.0
        self.fees = 0.0

    def __call__(self, event: Event) -> None:
        order: Order = event.order  # type: ignore[attr-defined]
        before = self.status.get(order.id, OrderStatus.NEW)
        assert order.status in ALLOWED_TRANSITIONS[before], (before, order.status)
        self.status[order.id] = order.status
        if isinstance(event, OrderFilled):
            fill = event.fill
            assert 0 < fill.quantity <= order.quantity
            self.filled[order.id] = self.filled.get(order.id, 0.0) + fill.quantity
            assert self.filled[order.id] <= order.quantity + 1e-9
            assert order.filled_quantity == pytest.approx(self.filled[order.id])
            after = self.position + fill.signed_quantity
            if order.reduce_only:
                assert abs(after) <= abs(self.position) + 1e-9
                assert after == 0 or math.copysign(1, after) == math.copysign(1, self.position)
            self.position = after
            self.fees += fill.fee


@settings(max_examples=40, deadline=None)
@given(
    config=config_st,
    steps=st.lists(st.tuples(bar_st, st.lists(action_st, max_size=3)), min_size=1, max_size=40),
)
def test_random_streams_keep_every_invariant(
    config: ExecutionConfig, steps: list[tuple[tuple[float, ...], list[tuple[Any, ...]]]]
) -> None:
    checker = Checker()
    ledger = Ledger(config.cash, {IID: SPEC})
    broker = SimulatedBroker({IID: SPEC}, config, checker, ledger)
    price = 100.0
    for index, (bar, actions) in enumerate(steps):
        ts = index * MINUTE
        drift, up, down, move, volume = bar
        open_ = price * (1 + drift)
        close = open_ * (1 + move)
        high, low = max(open_, close) * (1 + up), min(open_, close) * (1 - down)
        broker.on_bar_open(IID, ts, open_, high, low, close, volume)
        ledger.update_price(IID, close, ts)
        for action in actions:
            if action[0] == "cancel":
                working = broker.open_orders()
                if working:
                    broker.cancel(working[0].id, "random cancel")
                continue
            if action[0] != "none":
                for order in _order(action, close, ts):
                    broker.submit(order)
        broker.on_bar_close(IID, ts, close)
        price = close
        assert ledger.position(IID) == pytest.approx(checker.position, abs=1e-9)
        assert ledger.equity == pytest.approx(ledger.cash + ledger.position(IID) * close)
        assert ledger.fees == pytest.approx(checker.fees, abs=1e-9)
        lots = ledger.open_lots(IID)
        open_pnl = sum(q * (close - entry) - fee * abs(q) for q, entry, _, fee in lots)
        assert sum(t.pnl for t in ledger.trades()) + open_pnl == pytest.approx(
            ledger.equity - config.cash, abs=1e-6
        )
    for order in broker.open_orders():
        assert order.status.is_working
