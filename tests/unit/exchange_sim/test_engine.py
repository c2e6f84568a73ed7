"""The sim's engine without a server: the seeded path, fills, fees, locks and errors."""

from __future__ import annotations

import itertools
from dataclasses import replace
from decimal import Decimal

import pytest

from neo.exchange_sim.engine import EngineConfig, SimEngine, SimOrderError
from neo.exchange_sim.market import DEFAULT_SYMBOLS, PricePath

D = Decimal


def engine(**changes: object) -> SimEngine:
    return SimEngine(replace(EngineConfig(seed=3, history_bars=50), **changes))  # type: ignore[arg-type]


def test_the_path_is_seeded_per_symbol_and_well_formed() -> None:
    spec = DEFAULT_SYMBOLS[0]
    one, two = (PricePath(spec, 5, 0, 0, 60_000) for _ in range(2))
    other = PricePath(spec, 6, 0, 0, 60_000)
    bars = [one.grow() for _ in range(300)]
    assert bars == [two.grow() for _ in range(300)]
    assert bars != [other.grow() for _ in range(300)]
    for previous, bar in itertools.pairwise(bars):
        assert bar.open == previous.close
        assert bar.open_ms - previous.open_ms == 60_000
    for bar in bars:
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.close == bar.close.quantize(spec.tick) and bar.volume > 0


def test_symbols_do_not_share_a_stream() -> None:
    sim = engine()
    btc, eth = sim.paths["BTC/USDT"].bars, sim.paths["ETH/USDT"].bars
    returns = [(b.close / b.open, e.close / e.open) for b, e in zip(btc, eth, strict=True)]
    assert any(abs(r1 - r2) > D("0.0001") for r1, r2 in returns)


def test_market_buy_fills_at_the_last_close_with_the_fee_in_the_received_asset() -> None:
    sim = engine()
    last = sim.last_price("BTC/USDT")
    order = sim.create_order(symbol="BTC/USDT", side="buy", kind="market", quantity=D("0.5"),
                             price=None, client_order_id="a")  # fmt: skip
    assert order.status == "closed" and order.average == last
    assert sim.balance("BTC").free == D("1.5") - D("0.0005")
    assert sim.balance("USDT").free == D("100000") - D("0.5") * last
    assert sim.balance("USDT").locked == 0
    [fill] = sim.fills
    assert (fill.fee, fill.fee_asset, fill.maker) == (D("0.0005"), "BTC", False)


def test_quote_fee_dialect_charges_the_quote_asset() -> None:
    sim = engine(fee_asset="quote", taker_fee=D("0.0026"))
    last = sim.last_price("ETH/USDT")
    sim.create_order(symbol="ETH/USDT", side="sell", kind="market", quantity=D("2"), price=None,
                     client_order_id="k")  # fmt: skip
    fee = (D(2) * last * D("0.0026")).quantize(D("0.00000001"))
    assert sim.fills[0].fee_asset == "USDT" and sim.fills[0].fee == fee
    assert sim.balance("USDT").free == D("100000") + D(2) * last - fee
    assert sim.balance("ETH").free == D(8)


def test_a_resting_limit_locks_funds_fills_partially_and_cancel_releases_the_rest() -> None:
    sim = engine(max_fill_per_bar=D("0.2"))
    price = (sim.last_price("ETH/USDT") * D("1.001")).quantize(D("0.01"))
    order = sim.create_order(symbol="ETH/USDT", side="sell", kind="limit", quantity=D("1"),
                             price=price, client_order_id="s")  # fmt: skip
    assert order.status == "open" and sim.balance("ETH").locked == D(1)
    assert sim.balance("ETH").free == D(9)
    while order.filled == 0:
        sim.advance(1)
        assert sim.closed_bars < 1000
    crossing = sim.paths["ETH/USDT"].bars[-1]
    assert crossing.high >= price  # it filled on the bar that reached its price, not before
    assert all(b.high < price for b in sim.paths["ETH/USDT"].bars[50:-1])
    assert order.filled == D("0.2") and sim.fills[-1].price == price and sim.fills[-1].maker
    assert sim.balance("ETH").locked == D("0.8")
    sim.cancel_order(order)
    assert order.status == "canceled" and order.filled == D("0.2")
    assert sim.balance("ETH").locked == 0 and sim.balance("ETH").free == D("9.8")
    with pytest.raises(SimOrderError) as info:
        sim.cancel_order(order)
    assert info.value.kind == "order_not_found"


def test_a_limit_fills_completely_over_several_bars_and_frees_the_unused_lock() -> None:
    sim = engine(max_fill_per_bar=D("0.4"))
    price = (sim.last_price("BTC/USDT") * D("0.999")).quantize(D("0.01"))
    order = sim.create_order(symbol="BTC/USDT", side="buy", kind="limit", quantity=D("1"),
                             price=price, client_order_id="b")  # fmt: skip
    while order.status == "open":
        sim.advance(1)
        assert sim.closed_bars < 2000
    assert [f.quantity for f in sim.fills] == [D("0.4"), D("0.4"), D("0.2")]
    assert len({f.trade_id for f in sim.fills}) == 3
    assert sim.balance("USDT").locked == 0
    assert sim.balance("USDT").free == D("100000") - price
    assert sim.balance("BTC").free == D(2) - D("0.001")


def test_a_marketable_limit_takes_at_the_last_close() -> None:
    sim = engine()
    last = sim.last_price("BTC/USDT")
    order = sim.create_order(symbol="BTC/USDT", side="buy", kind="limit", quantity=D("0.1"),
                             price=last * 2, client_order_id="m")  # fmt: skip
    assert order.status == "closed" and order.average == last and not sim.fills[0].maker
    assert sim.balance("USDT").locked == 0


@pytest.mark.parametrize(
    ("kwargs", "kind"),
    [
        ({"quantity": D("10")}, "insufficient_balance"),
        ({"quantity": D("0.000001")}, "invalid"),
        ({"quantity": D("NaN")}, "invalid"),
        ({"quantity": D("0.1"), "price": D("-1"), "kind": "limit"}, "invalid"),
        ({"quantity": D("0.1"), "symbol": "DOGE/USDT"}, "bad_symbol"),
        ({"quantity": D("0.1"), "client_order_id": "taken"}, "duplicate"),
    ],
)
def test_refusals(kwargs: dict[str, object], kind: str) -> None:
    sim = engine()
    sim.create_order(symbol="BTC/USDT", side="buy", kind="market", quantity=D("0.01"),
                     price=None, client_order_id="taken")  # fmt: skip
    before = {a: (b.free, b.locked) for a, b in sim.balances.items()}
    args: dict[str, object] = {"symbol": "BTC/USDT", "side": "buy", "kind": "market",
                               "price": None, "client_order_id": "new", **kwargs}  # fmt: skip
    with pytest.raises(SimOrderError) as info:
        sim.create_order(**args)  # type: ignore[arg-type]
    assert info.value.kind == kind
    assert {a: (b.free, b.locked) for a, b in sim.balances.items()} == before
    assert len(sim.orders) == 1


def test_find_order_by_either_id() -> None:
    sim = engine()
    order = sim.create_order(symbol="BTC/USDT", side="sell", kind="limit", quantity=D("0.1"),
                             price=D("99999"), client_order_id="c")  # fmt: skip
    assert sim.find_order(client_order_id="c") is order
    assert sim.find_order(order_id=order.order_id) is order
    for missing in ({"client_order_id": "x"}, {"order_id": 99}, {"order_id": 0}, {}):
        with pytest.raises(SimOrderError):
            sim.find_order(**missing)  # type: ignore[arg-type]
    assert sim.open_orders("BTC/USDT") == [order] and sim.open_orders("ETH/USDT") == []


def test_a_quote_fee_buy_needs_the_fee_too_so_a_fill_never_overdraws() -> None:
    sim = engine(fee_asset="quote", taker_fee=D("0.0026"), maker_fee=D("0.0016"),
                 balances=(("USDT", "1000"),))  # fmt: skip
    price = (sim.last_price("ETH/USDT") * D("0.999")).quantize(D("0.01"))
    quantity = (D(1000) / price).quantize(D("0.0001"), rounding="ROUND_DOWN")
    assert quantity * price <= D(1000) < quantity * price * D("1.0026")  # notional fits, fee not
    with pytest.raises(SimOrderError) as info:
        sim.create_order(symbol="ETH/USDT", side="buy", kind="limit", quantity=quantity,
                         price=price, client_order_id="q")  # fmt: skip
    assert info.value.kind == "insufficient_balance"
    smaller = (quantity * D("0.99")).quantize(D("0.0001"))
    order = sim.create_order(symbol="ETH/USDT", side="buy", kind="limit", quantity=smaller,
                             price=price, client_order_id="q2")  # fmt: skip
    while order.status == "open":
        sim.advance(1)
        assert sim.closed_bars < 2000
    assert sim.balance("USDT").free >= 0 and sim.balance("USDT").locked == 0
