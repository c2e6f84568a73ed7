"""A buy's fee taken in the coins bought (Binance spot; the sim's default ``fee_asset``, which
its Binance dialect reports in the base asset as Binance does).

The account holds only USDT: after the buy it holds the quantity less the fee, and the ledger
must hold exactly that, or the exit (a market sell of the ledger's position) asks for coins the
account does not have and is refused for insufficient balance: the position can never close.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from neo.domain import Order, Side
from neo.domain.events import OrderFilled, OrderRejected
from neo.domain.order import next_order_id
from neo.exchange_sim import SimHandle, serve_in_thread
from tests.integration.adapters.conftest import Rig

pytestmark = pytest.mark.integration

Factory = Callable[..., Rig]
QUANTITY = 0.01234  # its 0.1 % fee, 0.00001234 BTC, is off the 0.00001 lot grid


def btc_held(sim: SimHandle) -> Decimal:
    def total() -> Decimal:
        balance = sim.sim.engine.balances.get("BTC")
        return Decimal(0) if balance is None else balance.free + balance.locked

    return sim.call(total)


def market(rig: Rig, side: Side, quantity: float) -> Order:
    return Order(id=next_order_id(), instrument=rig.instrument, side=side, quantity=quantity)


def test_the_ledger_holds_what_the_account_received_and_the_exit_sells_it(
    binance_sim: SimHandle, rig_factory: Factory
) -> None:
    sim = binance_sim
    sim.set_balances({"USDT": "100000", "BTC": "0"})
    rig = rig_factory(sim)
    rig.broker.submit(market(rig, Side.BUY, QUANTITY))
    rig.broker.poll()
    (bought,) = [e for e in rig.events if isinstance(e, OrderFilled)]
    assert bought.order.filled_quantity == pytest.approx(QUANTITY)  # what the exchange filled
    held = btc_held(sim)
    position = rig.ledger.position(rig.instrument)
    assert position == pytest.approx(float(held), rel=0, abs=1e-12)
    assert held == Decimal(str(QUANTITY)) * Decimal("0.999"), "the sim took the fee in BTC"
    assert bought.fill.fee_base == pytest.approx(QUANTITY * 0.001)
    assert bought.fill.fee == pytest.approx(bought.fill.fee_base * bought.fill.price)
    # cash paid the notional only; the fee (in quote) left equity all the same
    notional = bought.fill.quantity * bought.fill.price
    quote_fee = bought.fill.fee - bought.fill.fee_base * bought.fill.price
    assert rig.ledger.cash == pytest.approx(100_000.0 - notional - quote_fee, rel=1e-12)
    assert rig.ledger.fees == bought.fill.fee > 0.0
    assert rig.ledger.equity == pytest.approx(100_000.0 - bought.fill.fee, rel=1e-12)

    rig.broker.submit(market(rig, Side.SELL, position))  # the exit: the ledger's whole position
    rig.broker.poll()
    assert not [e for e in rig.events if isinstance(e, OrderRejected)], rig.events
    sold = [e for e in rig.events if isinstance(e, OrderFilled)][1:]
    assert sold and sold[-1].order.status.value == "filled"
    left = btc_held(sim)
    assert left < Decimal("0.00001")  # only dust below one lot stays, at the exchange and here
    assert left == held - Decimal(str(sold[-1].fill.quantity))
    assert rig.ledger.position(rig.instrument) == pytest.approx(float(left), rel=0, abs=1e-12)
    assert [(o["side"], o["status"]) for o in sim.orders()] == [
        ("buy", "closed"),
        ("sell", "closed"),
    ]


@pytest.fixture
def bnb_sim() -> Iterator[SimHandle]:
    handle = serve_in_thread("binance", seed=11, history_bars=600, fee_asset="BNB")
    try:
        yield handle
    finally:
        handle.stop()


def test_a_fee_paid_in_bnb_is_booked_at_bnbs_price_and_the_coins_bought_are_held(
    bnb_sim: SimHandle, rig_factory: Factory
) -> None:
    """Binance takes fees in BNB while the account holds enough (at a discount on the real
    venue). The old code booked the BNB amount as if it were USDT, some 300 times too small
    here; the whole quantity bought is held, and once BNB runs out the coins bought pay."""
    sim = bnb_sim
    sim.set_balances({"USDT": "100000", "BTC": "0", "BNB": "1"})
    rig = rig_factory(sim)
    rig.broker.submit(market(rig, Side.BUY, QUANTITY))
    rig.broker.poll()
    (bought,) = [e for e in rig.events if isinstance(e, OrderFilled)]
    (made,) = sim.fills()
    assert made["fee_asset"] == "BNB"
    bnb_usdt = float(sim.call(lambda: sim.sim.engine.last_price("BNB/USDT")))
    assert bought.fill.fee == pytest.approx(float(made["fee"]) * bnb_usdt, rel=1e-12)
    notional = bought.fill.quantity * bought.fill.price
    assert bought.fill.fee == pytest.approx(0.001 * notional, rel=1e-4)  # the venue's rate
    assert bought.fill.fee_base == 0.0
    assert btc_held(sim) == Decimal(str(QUANTITY))
    assert rig.ledger.position(rig.instrument) == pytest.approx(QUANTITY, rel=0, abs=1e-12)
    assert rig.ledger.equity == pytest.approx(100_000.0 - bought.fill.fee, rel=1e-12)

    sim.set_balances({"BNB": "0"})  # no BNB left: the coins bought pay the next fee
    rig.broker.submit(market(rig, Side.BUY, QUANTITY))
    rig.broker.poll()
    second = [e for e in rig.events if isinstance(e, OrderFilled)][1]
    assert sim.fills()[1]["fee_asset"] == "BTC"
    assert second.fill.fee_base == pytest.approx(QUANTITY * 0.001)
    held = btc_held(sim)
    assert rig.ledger.position(rig.instrument) == pytest.approx(float(held), rel=0, abs=1e-12)


def test_a_sim_refuses_a_fee_asset_it_cannot_price() -> None:
    with pytest.raises(ValueError, match="fee asset must be received, quote or BNB"):
        serve_in_thread("binance", fee_asset="DOGE")
