"""Random order streams and price paths through the gate: no configured limit is ever breached.

Each step moves prices, lets the gate see the account (on_bar), then submits random orders:
market, limit and stop orders, brackets (entry plus reduce-only stop and take-profit legs), with
quantities and prices sometimes off the lot and tick grid or below the minimum notional.
Approved ones wait on the book and fill at the end of the step in a random order (market at the
last price, limits at their limit price and stops at their trigger — the worst case; bracket
legs only once their entry filled, one cancelling the other). After every fill that grows a
position, the resulting positions are checked against every limit: the grown one valued at the
higher of its fill price and the last price, the others at the last price. Daily loss and
drawdown limits engage the kill switch, after which no fill may grow a position.

A gate that denies everything would pass all of that, so the test also proves the gate lets
trading happen: every example starts with a small order well inside every limit, which must be
approved and fill; and over the run a good share of the orders is approved and of the fills
grows a position (a deny-all gate fails both, checked by breaking the gate on purpose).

``make test`` runs this derandomized (the ``ci`` hypothesis profile of tests/conftest.py,
fixed seed); ``make fuzz`` runs it with random seeds and many more examples.
"""

from __future__ import annotations

import math
import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from neo.domain.enums import OrderType, Side
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.domain.order import Order, next_order_id
from neo.execution.simulated import bracket
from neo.risk import PreTradeRiskGate, RiskConfig, RiskLimits
from tests.unit.risk.fakes import FakeAccount

IDS = [InstrumentId("sim", s) for s in ("AAA/USD", "BBB/USD", "CCC/USD")]
INSTRUMENTS = {
    i: Instrument.simple(i.symbol, tick_size=0.01, lot_size=0.1, min_notional=15.0) for i in IDS
}
LIMITS = RiskLimits(
    max_position_notional=4_000.0,
    max_position_pct=0.35,
    max_gross_exposure=9_000.0,
    max_leverage=0.8,
    max_open_orders=6,
    max_orders_per_minute=8,
    price_band_pct=0.05,
    max_drawdown_pct=0.15,
    max_daily_loss_pct=0.08,
)
STEP_NS = 20_000_000_000
TOL = 1e-6

orders_st = st.tuples(
    st.integers(0, len(IDS) - 1),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.floats(0.01, 40.0),
    st.sampled_from(["market", "limit", "stop", "bracket"]),
    st.floats(-0.08, 0.08),
    st.booleans(),
    # on the lot/tick grid, raw, or a hair off it (as float noise or careless rounding leaves
    # it): what an exchange rejects and a tolerant grid check would let through
    st.sampled_from(["grid", "raw", "near"]),
)
step_st = st.tuples(
    st.lists(st.floats(-0.25, 0.25), min_size=len(IDS), max_size=len(IDS)),
    st.lists(orders_st, max_size=8),
    st.randoms(use_true_random=False),
)


Spec = tuple[int, Side, float, str, float, bool, str]


def build(iid: InstrumentId, spec: Spec, last: float) -> list[Order]:
    """The order(s) of one spec: a bracket is its entry followed by its two legs."""
    _, side, qty, kind, offset, reduce_only, grid = spec
    price = max(last * (1 + offset), 0.01)
    if grid != "raw":
        qty, price = round(qty, 1) or 0.1, round(price, 2)
    if grid == "near":
        qty, price = qty + 1e-9, price + 1e-7
    if kind == "market":
        return [Order(id=next_order_id(), instrument=iid, side=side, quantity=qty,
                      reduce_only=reduce_only)]  # fmt: skip
    if kind in ("limit", "stop"):
        limit, stop = (price, None) if kind == "limit" else (None, price)
        return [
            Order(
                id=next_order_id(),
                instrument=iid,
                side=side,
                quantity=qty,
                type=OrderType.LIMIT if kind == "limit" else OrderType.STOP,
                limit_price=limit,
                stop_price=stop,
                reduce_only=reduce_only,
            )
        ]
    entry = Order(id=next_order_id(), instrument=iid, side=side, quantity=qty)
    away = abs(offset) + 0.01
    stop = round(last * (1 - away * side.sign), 2)
    take = round(last * (1 + away * side.sign), 2)
    return bracket(entry, stop_loss=max(stop, 0.01), take_profit=max(take, 0.01))


def assert_limits(acc: FakeAccount, fill_price: float, equity: float, grown: InstrumentId) -> None:
    """Limits on the position a fill just grew, and on the whole book.

    Other positions may sit above a per-instrument limit because their price moved since
    they were bought (mark-to-market drift is the drawdown limit's business, not a trade's).
    """
    values = {i: abs(acc.position(i)) * acc.price(i) for i in IDS}
    values[grown] = abs(acc.position(grown)) * max(fill_price, acc.price(grown))
    assert values[grown] <= LIMITS.max_position_notional + TOL  # type: ignore[operator]
    assert values[grown] <= LIMITS.max_position_pct * equity + TOL  # type: ignore[operator]
    gross = sum(values.values())
    assert gross <= LIMITS.max_gross_exposure + TOL  # type: ignore[operator]
    assert gross <= LIMITS.max_leverage * equity + TOL  # type: ignore[operator]


def check_approved(order: Order, acc: FakeAccount, sent: list[int], reduces: bool) -> None:
    last = acc.price(order.instrument)
    band = LIMITS.price_band_pct
    assert band is not None
    spec = INSTRUMENTS[order.instrument]
    assert spec.is_valid_quantity(order.quantity), "an off-grid quantity was approved"
    for price in (order.limit_price, order.stop_price):
        assert price is None or spec.is_valid_price(price), "an off-grid price was approved"
    held = acc.position(order.instrument)
    closes_all = order.side.sign * held < 0 and order.quantity >= abs(held) - TOL
    value = order.quantity * (order.limit_price or order.stop_price or last)
    assert value >= spec.min_notional - TOL or closes_all, "an order below min notional"
    if order.stop_price is not None and not order.reduce_only:
        assert abs(order.stop_price - last) <= band * last + TOL
    if order.limit_price is not None:
        aggressive = (order.side is Side.BUY and order.limit_price > last * (1 + band)) or (
            order.side is Side.SELL and order.limit_price < last * (1 - band)
        )
        assert not aggressive
    if order.reduce_only and order.parent_id is None:
        assert order.side.sign * held < 0 and order.quantity <= abs(held) + TOL
    if not reduces:
        assert len(acc.open_orders()) <= LIMITS.max_open_orders  # type: ignore[operator]
        window = [t for t in sent if t > acc.ts - 60_000_000_000]
        assert len(window) <= LIMITS.max_orders_per_minute  # type: ignore[operator]


def submit(
    gate: PreTradeRiskGate, acc: FakeAccount, order: Order, sent: list[int], tally: Counter[str]
) -> bool:
    held = acc.position(order.instrument)
    same_side = sum(
        o.remaining_quantity
        for o in acc.orders
        if o.instrument == order.instrument
        and o.side is order.side
        and not (o.reduce_only and order.reduce_only)
    )
    # the contract: an order that can only shrink the position is an exit, never blocked
    reduces = order.side.sign * held < 0 and order.quantity + same_side <= abs(held) + TOL
    # ... and so is a bracket leg that closes its working entry
    reduces = reduces or any(
        o.id == order.parent_id and o.side is not order.side and order.quantity <= o.quantity
        for o in acc.orders
    )
    tally["submitted"] += 1
    if not gate.check(order, acc).approved:
        return False
    tally["approved"] += 1
    sent.append(acc.ts)
    acc.work(order)
    check_approved(order, acc, sent, reduces)
    return True


def fill_book(
    acc: FakeAccount, rnd: object, equity: float, engaged: bool, tally: Counter[str]
) -> None:
    """Fill the book in a random order: legs after their entry, one leg cancels the other."""
    book = list(acc.orders)
    rnd.shuffle(book)  # type: ignore[attr-defined]
    filled: set[str] = set()
    for working in book:
        if working.id not in {o.id for o in acc.orders}:
            continue  # cancelled by its OCO sibling
        if working.parent_id is not None and working.parent_id not in filled:
            continue  # its entry has not filled: the leg is not live yet
        before = abs(acc.position(working.instrument))
        price = working.limit_price or working.stop_price or acc.price(working.instrument)
        acc.fill(working, price)
        filled.add(working.id)
        if working.oco_group is not None:
            acc.orders = [o for o in acc.orders if o.oco_group != working.oco_group]
        if abs(acc.position(working.instrument)) > before + TOL:
            tally["grown"] += 1
            assert not engaged, "the kill switch let new exposure through"
            assert_limits(acc, price, equity, working.instrument)
    acc.orders = [o for o in acc.orders if o.parent_id is None or o.parent_id in filled]


def run_step(
    gate: PreTradeRiskGate,
    acc: FakeAccount,
    step: tuple[list[float], list[Spec], object],
    sent: list[int],
    tally: Counter[str],
) -> None:
    moves, specs, rnd = step
    acc.ts += STEP_NS
    for iid, move in zip(IDS, moves, strict=True):
        acc.mark(iid, round(acc.price(iid) * (1 + move), 2))
    actions = gate.on_bar(acc)
    if actions.cancel_all:
        acc.orders.clear()
    for exit_order in actions.orders:
        acc.fill(exit_order, acc.price(exit_order.instrument))
    equity = acc.equity
    for spec in specs:
        iid = IDS[spec[0]]
        entry, *legs = build(iid, spec, acc.price(iid))
        if submit(gate, acc, entry, sent, tally):
            for leg in legs:
                submit(gate, acc, leg, sent, tally)
    fill_book(acc, rnd, equity, gate.kill_switch.engaged, tally)


def probe(gate: PreTradeRiskGate, acc: FakeAccount, sent: list[int], tally: Counter[str]) -> None:
    """An order far inside every limit (100 of 10_000 equity, on the grid, no price) must be
    approved and grow the position: a gate that denies everything fails here."""
    order = Order(id=next_order_id(), instrument=IDS[0], side=Side.BUY, quantity=1.0)
    assert submit(gate, acc, order, sent, tally), "the gate denied an order within every limit"
    fill_book(acc, random.Random(0), acc.equity, gate.kill_switch.engaged, tally)
    assert acc.position(IDS[0]) == 1.0


@settings(max_examples=200)
@given(steps=st.lists(step_st, min_size=1, max_size=10))
def random_streams_never_breach_a_limit(tally: Counter[str], steps: list) -> None:  # type: ignore[type-arg]
    gate = PreTradeRiskGate(RiskConfig(limits=LIMITS), None, INSTRUMENTS)
    acc = FakeAccount(cash=10_000.0, ts=0)
    for iid in IDS:
        acc.mark(iid, 100.0)
    sent: list[int] = []
    probe(gate, acc, sent, tally)
    for step in steps:
        run_step(gate, acc, step, sent, tally)
        assert math.isfinite(acc.equity)
    tally["examples"] += 1


def test_random_streams_never_breach_a_limit() -> None:
    """The property above, then proof that it was not met by refusing to trade: a good share
    of the random orders was approved and of the fills grew a position."""
    tally: Counter[str] = Counter()
    random_streams_never_breach_a_limit(tally)
    probes = tally["examples"]
    assert tally["approved"] - probes >= 0.1 * (tally["submitted"] - probes), tally
    assert tally["grown"] - probes >= 0.2 * (tally["approved"] - probes), tally
