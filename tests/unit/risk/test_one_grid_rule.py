"""One rule for price and quantity validity: the risk gate approves an order's precision exactly
when ``Instrument.is_valid_price`` / ``is_valid_quantity`` say it is valid, exactly when the
simulated broker accepts it (issue 10: the gate once approved 100.0000001 on a 0.01 tick)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from neo.domain.enums import OrderType, Side
from neo.domain.events import Event, OrderAccepted, OrderRejected
from neo.domain.ids import InstrumentId
from neo.domain.instrument import GRID_TOLERANCE, Instrument, on_grid
from neo.domain.order import Order, next_order_id
from neo.execution.config import ExecutionConfig
from neo.execution.simulated import SimulatedBroker
from neo.risk import PreTradeRiskGate, RiskConfig
from tests.unit.risk.fakes import FakeAccount

IID = InstrumentId("sim", "BTC/USDT")


def _verdicts(spec: Instrument, quantity: float, limit: float | None) -> tuple[bool, bool, bool]:
    """(gate approves, domain says valid, broker accepts) for one buy order."""
    order = Order(
        id=next_order_id(),
        instrument=IID,
        side=Side.BUY,
        quantity=quantity,
        type=OrderType.MARKET if limit is None else OrderType.LIMIT,
        limit_price=limit,
    )
    account = FakeAccount(cash=1e18)
    account.mark(IID, limit if limit is not None else 100.0)
    gate = PreTradeRiskGate(RiskConfig(), None, {IID: spec})
    verdict = gate.check(order, account)  # no limits configured: precision is all it checks
    assert verdict.approved or verdict.code in ("quantity_precision", "price_precision")
    valid = spec.is_valid_quantity(quantity) and (limit is None or spec.is_valid_price(limit))
    events: list[Event] = []
    broker = SimulatedBroker({IID: spec}, ExecutionConfig(), events.append)
    broker.submit(order)
    accepted = any(isinstance(e, OrderAccepted) for e in events)
    assert accepted != any(isinstance(e, OrderRejected) for e in events)
    return verdict.approved, valid, accepted


def test_a_limit_price_a_hair_off_the_tick_is_refused_by_all_three() -> None:
    spec = Instrument.simple("BTC/USDT", tick_size=0.01, lot_size=0.001)
    assert _verdicts(spec, 1.0, 100.0000001) == (False, False, False)
    assert _verdicts(spec, 1.0, 100.01) == (True, True, True)
    assert _verdicts(spec, 1.0000001, 100.01) == (False, False, False)


def test_float_noise_stays_on_the_grid() -> None:
    spec = Instrument.simple("BTC/USDT", tick_size=0.1, lot_size=0.1)
    noisy = 0.1 + 0.2  # 0.30000000000000004
    assert _verdicts(spec, noisy, noisy) == (True, True, True)
    assert on_grid(0.3 / 0.1 * 0.1, 0.1) and not on_grid(float("nan"), 0.1)
    assert spec.is_valid_quantity(spec.round_quantity(2.9999999999999996 * 0.1))
    below = 0.29999999999999993  # one ulp under 0.3: valid, so it must reach the exchange as 0.3
    assert spec.is_valid_quantity(below) and spec.format_quantity(below) == "0.3"


def test_the_minimum_quantity_is_part_of_validity() -> None:
    spec = Instrument.simple("BTC/USDT", lot_size=0.01, min_quantity=0.05)
    assert _verdicts(spec, 0.04, None) == (False, False, False)
    assert _verdicts(spec, 0.05, None) == (True, True, True)


_STEPS = st.sampled_from([1e-8, 1e-5, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 10.0])


@st.composite
def _cases(draw: st.DrawFn) -> tuple[Instrument, float, float]:
    tick, lot = draw(_STEPS), draw(_STEPS)
    spec = Instrument.simple("BTC/USDT", tick_size=tick, lot_size=lot)

    def value(step: float) -> float:
        steps = draw(st.integers(1, 10**7))
        exact = spec.round_price(steps * step) if step == tick else steps * step
        how = draw(st.sampled_from(["exact", "noise", "off", "raw"]))
        if how == "exact":
            return exact
        if how == "noise":  # float noise far inside the tolerance
            return exact * (1.0 + draw(st.sampled_from([-1, 1])) * 4e-16)
        if how == "off":  # a real offset, from a hair to most of a step
            fraction = draw(st.floats(1e-8, 0.999))
            return exact + fraction * step
        return draw(st.floats(1e-6, 1e7, allow_nan=False, allow_infinity=False))

    return spec, value(lot), value(tick)


@given(_cases())
def test_gate_domain_and_broker_agree_on_random_grids(
    case: tuple[Instrument, float, float],
) -> None:
    spec, quantity, price = case
    approved, valid, accepted = _verdicts(spec, quantity, price)
    assert approved == valid == accepted, (spec.tick_size, spec.lot_size, quantity, price)
    if valid:  # the rounding helpers keep a valid value where it is
        assert spec.round_price(price) == spec.round_price(spec.round_price(price))
        assert spec.is_valid_quantity(spec.round_quantity(quantity))


def test_the_tolerance_is_relative_and_tiny() -> None:
    assert GRID_TOLERANCE <= 1e-12
    assert on_grid(1e6 + 1e-10, 0.01)  # float noise on a large price (one ulp is 1.2e-10)
    assert not on_grid(1e6 + 1e-4, 0.01)
