"""Whatever clients do, the engine's books balance: nothing negative, locks match the open
orders, and every asset's total moves by exactly its fills and fees."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from neo.exchange_sim.engine import EngineConfig, SimEngine, SimOrderError

D = Decimal
order_op = st.tuples(
    st.just("order"),
    st.sampled_from(["BTC/USDT", "ETH/USDT"]),
    st.sampled_from(["buy", "sell"]),
    st.sampled_from(["market", "limit"]),
    st.integers(1, 400),  # quantity in hundredths of a reference size
    st.integers(-30, 30),  # limit price offset in tenths of a percent
)
advance_op = st.tuples(st.just("advance"), st.integers(1, 5))
cancel_op = st.tuples(st.just("cancel"), st.integers(0, 50))
operations = st.lists(st.one_of(order_op, advance_op, cancel_op), max_size=25)


def check_books(sim: SimEngine, start: dict[str, D]) -> None:
    for asset, balance in sim.balances.items():
        assert balance.free >= 0 and balance.locked >= 0, asset
    locked: dict[str, D] = defaultdict(D)
    for order in sim.open_orders():
        spec = sim.specs[order.symbol]
        locked[spec.quote if order.side == "buy" else spec.base] += order.locked
    for asset, balance in sim.balances.items():
        assert balance.locked == locked[asset], asset
    flow: dict[str, D] = defaultdict(D)
    for fill in sim.fills:
        spec = sim.specs[fill.symbol]
        sign = 1 if fill.side == "buy" else -1
        flow[spec.base] += sign * fill.quantity
        flow[spec.quote] -= sign * fill.quantity * fill.price
        flow[fill.fee_asset] -= fill.fee
    for asset, balance in sim.balances.items():
        assert balance.free + balance.locked == start.get(asset, D(0)) + flow[asset], asset


def apply(sim: SimEngine, op: tuple[object, ...], n: int) -> None:
    if op[0] == "advance":
        sim.advance(int(op[1]))  # type: ignore[call-overload]
    elif op[0] == "cancel":
        if sim.orders:
            order = sim.orders[int(op[1]) % len(sim.orders)]  # type: ignore[call-overload]
            try:
                sim.cancel_order(order)
            except SimOrderError:
                assert order.status != "open"
    else:
        _, symbol, side, kind, size, offset = op
        reference = D("0.5") if symbol == "BTC/USDT" else D("5")
        quantity = (reference * int(size) / 100).quantize(D("0.0001"))  # type: ignore[call-overload]
        last = sim.last_price(str(symbol))
        price = (last * (1 + D(int(offset)) / 1000)).quantize(D("0.01"))  # type: ignore[call-overload]
        try:
            sim.create_order(symbol=str(symbol), side=side, kind=kind,  # type: ignore[arg-type]
                             quantity=quantity, price=None if kind == "market" else price,
                             client_order_id=f"c{n}")  # fmt: skip
        except SimOrderError as exc:
            assert exc.kind in ("insufficient_balance", "invalid")


@settings(max_examples=60, deadline=None)
@given(ops=operations, fee_asset=st.sampled_from(["received", "quote"]),
       cap=st.sampled_from([None, D("0.05"), D("1")]))  # fmt: skip
def test_the_books_always_balance(
    ops: list[tuple[object, ...]], fee_asset: str, cap: D | None
) -> None:
    config = EngineConfig(seed=2, history_bars=5, fee_asset=fee_asset,  # type: ignore[arg-type]
                          taker_fee=D("0.0026"), maker_fee=D("0.0016"), max_fill_per_bar=cap,
                          balances=(("USDT", "20000"), ("BTC", "0.5"), ("ETH", "3")))  # fmt: skip
    sim = SimEngine(config)
    start = {asset: D(amount) for asset, amount in config.balances}
    for n, op in enumerate(ops):
        apply(sim, op, n)
        check_books(sim, start)
    assert len({f.trade_id for f in sim.fills}) == len(sim.fills)
