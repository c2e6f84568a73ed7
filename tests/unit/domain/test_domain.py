from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from neo.domain import (
    ALLOWED_TRANSITIONS,
    Bar,
    BarBatch,
    BarClosed,
    ConfigError,
    DataFormatError,
    Fill,
    Instrument,
    InstrumentId,
    InvalidOrderError,
    InvalidOrderTransitionError,
    Order,
    OrderFilled,
    OrderStatus,
    OrderType,
    Position,
    RiskDenied,
    Side,
    Timeframe,
    TimeInForce,
    TradeId,
    decode_event,
    encode_event,
    next_order_id,
)

BTC = InstrumentId("binance", "BTC/USDT")
M1 = Timeframe.parse("1m")


def test_timeframe_parse_and_units() -> None:
    assert Timeframe.parse("15m").nanos == 15 * 60 * 10**9
    assert str(Timeframe.parse(" 4H ")) == "4h"
    assert Timeframe.parse("1d").pandas_freq == "1D"
    assert Timeframe.parse(M1) is M1
    assert M1.is_aligned(120 * 10**9) and not M1.is_aligned(121 * 10**9)
    assert M1.floor(125 * 10**9) == 120 * 10**9
    week = Timeframe.parse("1w")
    monday = 4 * 86_400 * 10**9
    assert week.is_aligned(monday) and not week.is_aligned(0)
    assert math.isclose(Timeframe.parse("1d").periods_per_year, 365.0)
    assert Timeframe.parse("1s").seconds == 1.0


@pytest.mark.parametrize("month", ["1M", "3M", " 1M ", "1mo", "1month", "2Months"])
def test_timeframe_refuses_months_instead_of_reading_minutes(month: str) -> None:
    """ccxt's ``1M`` is one month: reading it as one minute would silently corrupt data."""
    with pytest.raises(ConfigError, match="monthly bars are not supported") as caught:
        Timeframe.parse(month)
    assert "1m" in str(caught.value) and "1w" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1m", "1m"), ("15m", "15m"), ("4H", "4h"), ("1D", "1d"), ("1W", "1w"), ("30S", "30s")],
)
def test_timeframe_units_other_than_months_are_case_insensitive(text: str, expected: str) -> None:
    assert str(Timeframe.parse(text)) == expected


@pytest.mark.parametrize("bad", ["", "1x", "m", "0m", "-1h", "1.5h"])
def test_timeframe_rejects_bad_text(bad: str) -> None:
    with pytest.raises(ConfigError, match="timeframe"):
        Timeframe.parse(bad)


def test_instrument_id_round_trip() -> None:
    assert str(BTC) == "BTC/USDT@binance"
    assert InstrumentId.parse("BTC/USDT@binance") == BTC
    assert InstrumentId.parse("ETH/USDT").venue == "sim"
    assert (BTC.base, BTC.quote) == ("BTC", "USDT")
    assert InstrumentId("bybit", "BTC/USDT:USDT").quote == "USDT"
    assert InstrumentId("x", "AAPL").quote == ""
    with pytest.raises(ConfigError):
        InstrumentId("", "BTC/USDT")


def test_instrument_rounding_is_exact() -> None:
    inst = Instrument.simple("BTC/USDT", "binance", tick_size=0.01, lot_size=0.001)
    assert inst.round_price(100.006) == 100.01
    assert inst.round_quantity(0.0019) == 0.001
    assert inst.round_quantity(-0.0019) == -0.001
    assert inst.format_price(100.006) == "100.01"
    assert inst.format_quantity(1.23456) == "1.234"
    assert inst.is_valid_price(100.01) and not inst.is_valid_price(100.015)
    assert inst.is_valid_quantity(0.002) and not inst.is_valid_quantity(0.0025)
    assert (inst.symbol, inst.venue, inst.price_decimals, inst.quantity_decimals) == (
        "BTC/USDT", "binance", 2, 3,
    )  # fmt: skip
    with pytest.raises(ConfigError):
        Instrument.simple("BTC/USDT", tick_size=0)
    with pytest.raises(ConfigError, match="fractions"):
        Instrument.simple("BTC/USDT", taker_fee=10.0)


@given(st.floats(1e-6, 1e6), st.sampled_from([1e-8, 0.001, 0.5, 1.0, 10.0]))
def test_round_quantity_never_exceeds(quantity: float, lot: float) -> None:
    inst = Instrument.simple("X/Y", lot_size=lot)
    rounded = inst.round_quantity(quantity)
    assert 0 <= rounded <= quantity * (1 + 1e-12)
    assert quantity - rounded < lot + 1e-9


def _batch(n: int = 5) -> BarBatch:
    close = np.linspace(100, 104, n)
    return BarBatch.from_arrays(
        BTC, M1, ts=np.arange(n) * M1.nanos, open=close, high=close + 1, low=close - 1,
        close=close, volume=np.ones(n),
    )  # fmt: skip


def test_bar_batch_columns_are_read_only_and_sliceable() -> None:
    batch = _batch()
    assert len(batch) == 5
    with pytest.raises(ValueError, match="read-only"):
        batch.close[0] = 1.0
    bar = batch.bar(2)
    assert isinstance(bar, Bar) and bar.close == 102.0 and bar.close_ts == bar.ts + M1.nanos
    assert len(batch.between(M1.nanos, 3 * M1.nanos)) == 2
    assert len(batch.between()) == 5
    assert [b.ts for b in batch][-1] == 4 * M1.nanos
    assert BarBatch.from_bars(list(batch)).close.tolist() == batch.close.tolist()
    assert len(BarBatch.empty(BTC, M1)) == 0
    assert set(batch.columns()) == {"ts", "open", "high", "low", "close", "volume"}


def test_bar_batch_pandas_and_arrow_round_trip() -> None:
    batch = _batch()
    frame = batch.to_pandas()
    assert str(frame.index.tz) == "UTC"
    back = BarBatch.from_pandas(BTC, M1, frame)
    assert back.ts.tolist() == batch.ts.tolist()
    assert back.close.tolist() == batch.close.tolist()
    table = batch.to_arrow()
    assert table.num_rows == 5 and table.column_names[0] == "ts"
    with pytest.raises(DataFormatError, match="lacks columns"):
        BarBatch.from_pandas(BTC, M1, frame.drop(columns=["volume"]))


def test_bar_batch_rejects_ragged_columns() -> None:
    with pytest.raises(DataFormatError, match="different lengths"):
        BarBatch.from_arrays(BTC, M1, ts=[1, 2], open=[1.0], high=[1.0], low=[1.0],
                             close=[1.0], volume=[1.0])  # fmt: skip
    with pytest.raises(DataFormatError, match="one-dimensional"):
        BarBatch.from_arrays(BTC, M1, ts=[[1]], open=[[1.0]], high=[[1.0]], low=[[1.0]],
                             close=[[1.0]], volume=[[1.0]])  # fmt: skip
    with pytest.raises(DataFormatError):
        BarBatch.from_bars([])


def _order(**kwargs: object) -> Order:
    base: dict[str, object] = {"id": next_order_id(), "instrument": BTC, "side": Side.BUY,
                               "quantity": 2.0}  # fmt: skip
    base.update(kwargs)
    return Order(**base)  # type: ignore[arg-type]


def test_order_validation() -> None:
    with pytest.raises(InvalidOrderError, match="quantity"):
        _order(quantity=0.0)
    with pytest.raises(InvalidOrderError, match="needs a limit_price"):
        _order(type=OrderType.LIMIT)
    with pytest.raises(InvalidOrderError, match="takes no limit_price"):
        _order(limit_price=10.0)
    with pytest.raises(InvalidOrderError, match="needs a stop_price"):
        _order(type=OrderType.STOP)
    with pytest.raises(InvalidOrderError, match="takes no stop_price"):
        _order(stop_price=10.0)
    with pytest.raises(InvalidOrderError, match="must be > 0"):
        _order(type=OrderType.LIMIT, limit_price=-1.0)
    with pytest.raises(InvalidOrderError, match="GTD"):
        _order(time_in_force=TimeInForce.GTD)
    ok = _order(type=OrderType.STOP_LIMIT, limit_price=10.0, stop_price=11.0, side=Side.SELL)
    assert ok.signed_quantity == -2.0


def test_order_state_machine_happy_path_and_refusals() -> None:
    order = _order()
    order = order.transition(OrderStatus.SUBMITTED, 1).transition(OrderStatus.ACCEPTED, 2)
    order = order.with_fill(0.5, 100.0, 3)
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.remaining_quantity == 1.5
    order = order.with_fill(1.5, 104.0, 4)
    assert order.status is OrderStatus.FILLED and order.is_terminal
    assert order.average_fill_price == pytest.approx(103.0)
    with pytest.raises(InvalidOrderTransitionError, match="filled to cancelled"):
        order.transition(OrderStatus.CANCELLED, 5)
    with pytest.raises(InvalidOrderTransitionError, match="exceeds"):
        _order().transition(OrderStatus.SUBMITTED, 1).transition(OrderStatus.ACCEPTED, 1).with_fill(
            3.0, 1.0, 1
        )
    with pytest.raises(InvalidOrderTransitionError, match="cannot fill"):
        _order().with_fill(1.0, 1.0, 1)


@given(st.lists(st.sampled_from(list(OrderStatus)), max_size=8))
def test_state_machine_only_allows_listed_transitions(path: list[OrderStatus]) -> None:
    order = _order()
    for status in path:
        if status in ALLOWED_TRANSITIONS[order.status]:
            order = order.transition(status, 0)
            assert order.status is status
        else:
            with pytest.raises(InvalidOrderTransitionError):
                order.transition(status, 0)


def _fill(side: Side, qty: float, price: float, fee: float = 0.0) -> Fill:
    return Fill(order_id=next_order_id(), trade_id=TradeId("t"), instrument=BTC, side=side,
                quantity=qty, price=price, fee=fee, ts=1)  # fmt: skip


def test_position_average_cost_accounting() -> None:
    pos = Position(instrument=BTC)
    pos = pos.apply(_fill(Side.BUY, 2, 100, 0.2)).apply(_fill(Side.BUY, 2, 110, 0.2))
    assert pos.quantity == 4 and pos.average_price == 105 and pos.is_long
    pos = pos.apply(_fill(Side.SELL, 1, 120))
    assert pos.realized_pnl == 15 and pos.average_price == 105
    pos = pos.apply(_fill(Side.SELL, 5, 100))  # flip to short 2 @ 100
    assert pos.quantity == -2 and pos.average_price == 100 and pos.is_short
    assert pos.realized_pnl == pytest.approx(15 - 15)
    assert pos.unrealized_pnl(90) == 20 and pos.market_value(90) == -180
    pos = pos.apply(_fill(Side.BUY, 2, 95))
    assert pos.is_flat and pos.realized_pnl == pytest.approx(10) and pos.fees == pytest.approx(0.4)


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 5), st.integers(50, 150)), max_size=30))
def test_position_pnl_adds_up(trades: list[tuple[bool, int, int]]) -> None:
    """Realised + unrealised PnL equals the cash flow of all fills marked at the last price."""
    pos = Position(instrument=BTC)
    cash = 0.0
    for is_buy, qty, price in trades:
        fill = _fill(Side.BUY if is_buy else Side.SELL, float(qty), float(price))
        pos = pos.apply(fill)
        cash -= fill.signed_quantity * fill.price
    mark = 100.0
    assert pos.realized_pnl + pos.unrealized_pnl(mark) == pytest.approx(
        cash + pos.quantity * mark, abs=1e-6
    )


def test_events_round_trip_through_json() -> None:
    order = _order()
    fill = _fill(Side.BUY, 2.0, 100.0, 0.1)
    bar = _batch().bar(0)
    for event in (
        BarClosed(ts=1, bar=bar),
        OrderFilled(ts=2, order=order, fill=fill),
        RiskDenied(ts=3, order=order, code="max_position", reason="too big"),
    ):
        assert decode_event(encode_event(event)) == event
    assert b'"type":"OrderFilled"' in encode_event(OrderFilled(ts=2, order=order, fill=fill))


def test_domain_types_are_immutable() -> None:
    order = _order()
    with pytest.raises(AttributeError):
        order.quantity = 3.0  # type: ignore[misc]
    assert msgspec.structs.replace(order, quantity=3.0).quantity == 3.0
    assert Side.BUY.opposite is Side.SELL and Side.SELL.sign == -1
    assert OrderStatus.ACCEPTED.is_working and not OrderStatus.NEW.is_working


def test_round_trip_trade_pnl() -> None:
    from neo.domain import Trade

    long = Trade(instrument=BTC, quantity=2.0, entry_ts=1, exit_ts=5, entry_price=100.0,
                 exit_price=110.0, fees=1.0)  # fmt: skip
    assert long.is_long and long.gross_pnl == 20.0 and long.pnl == 19.0
    assert long.return_pct == pytest.approx(19.0 / 200.0) and long.duration_ns == 4
    short = Trade(instrument=BTC, quantity=-1.0, entry_ts=1, exit_ts=2, entry_price=100.0,
                  exit_price=90.0)  # fmt: skip
    assert not short.is_long and short.pnl == 10.0
    assert Trade(instrument=BTC, quantity=1.0, entry_ts=0, exit_ts=0, entry_price=0.0,
                 exit_price=1.0).return_pct == 0.0  # fmt: skip
