"""Ledger accounting worked out by hand, plus hypothesis properties over random fill streams."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neo.domain import Fill, Instrument, InstrumentId, InvalidOrderError, Side, TradeId
from neo.domain.ids import OrderId
from neo.execution import EquityRecorder, Ledger
from neo.execution.ledger import NS_PER_DAY

from .helpers import instrument

BTC = instrument()
ETH = Instrument.simple("ETH/USDT", lot_size=1.0)


def fill(side: Side, quantity: float, price: float, fee: float = 0.0, ts: int = 0,
         iid: InstrumentId = BTC.id) -> Fill:  # fmt: skip
    return Fill(
        order_id=OrderId("o"), trade_id=TradeId("t"), instrument=iid, side=side,
        quantity=quantity, price=price, fee=fee, ts=ts,
    )  # fmt: skip


def test_long_round_trip_by_hand() -> None:
    ledger = Ledger(10_000.0, {BTC.id: BTC})
    ledger.apply_fill(fill(Side.BUY, 10, 100.0, fee=1.0, ts=1))
    ledger.update_price(BTC.id, 110.0, 2)
    assert ledger.cash == 10_000.0 - 1_000.0 - 1.0
    assert ledger.equity == 10_000.0 - 1.0 + 100.0
    assert ledger.unrealized_pnl == 100.0
    assert ledger.realized_pnl == 0.0
    assert ledger.gross_exposure == ledger.net_exposure == 1_100.0
    assert ledger.leverage == pytest.approx(1_100.0 / 10_099.0)
    ledger.apply_fill(fill(Side.SELL, 10, 120.0, fee=1.2, ts=3))
    assert ledger.position(BTC.id) == 0.0
    assert ledger.realized_pnl == 200.0
    assert ledger.fees == pytest.approx(2.2)
    assert ledger.equity == pytest.approx(10_000.0 + 200.0 - 2.2)
    (trade,) = ledger.trades()
    assert (trade.quantity, trade.entry_price, trade.exit_price) == (10, 100.0, 120.0)
    assert (trade.entry_ts, trade.exit_ts) == (1, 3)
    assert trade.fees == pytest.approx(2.2)
    assert trade.pnl == pytest.approx(197.8)
    assert len(ledger.fills()) == ledger.fill_count == 2
    assert ledger.trade_count == len(ledger.trade_log) == 1
    assert ledger.trade_log.exit_price.tolist() == [120.0]


def test_fifo_partial_close_and_average_cost_agree() -> None:
    ledger = Ledger(100_000.0, {BTC.id: BTC})
    ledger.apply_fill(fill(Side.BUY, 10, 100.0, ts=1))
    ledger.apply_fill(fill(Side.BUY, 10, 110.0, ts=2))
    ledger.apply_fill(fill(Side.SELL, 15, 120.0, fee=1.5, ts=3))
    ledger.update_price(BTC.id, 120.0, 3)
    first, second = ledger.trades()
    assert (first.quantity, first.entry_price, second.quantity, second.entry_price) == (
        10, 100.0, 5, 110.0,
    )  # fmt: skip
    assert first.fees == pytest.approx(1.0) and second.fees == pytest.approx(0.5)
    position = ledger.position_of(BTC.id)
    assert position.average_price == 105.0 and position.quantity == 5
    assert ledger.realized_pnl == 15 * (120.0 - 105.0)
    # average cost and FIFO split PnL differently but agree in total
    fifo_open = 5 * (120.0 - 110.0)
    assert (
        ledger.realized_pnl + ledger.unrealized_pnl
        == first.gross_pnl + second.gross_pnl + fifo_open
    )
    assert ledger.open_lots(BTC.id) == [(5.0, 110.0, 2, 0.0)]


def test_reversal_closes_and_reopens_with_fees_pro_rata() -> None:
    ledger = Ledger(100_000.0, {BTC.id: BTC})
    ledger.apply_fill(fill(Side.BUY, 5, 100.0, fee=0.5, ts=1))
    ledger.apply_fill(fill(Side.SELL, 10, 90.0, fee=0.9, ts=2))
    (trade,) = ledger.trades()
    assert trade.quantity == 5 and trade.fees == pytest.approx(0.5 + 0.45)
    assert ledger.position(BTC.id) == -5
    ((quantity, entry, entry_ts, fee_per_unit),) = ledger.open_lots(BTC.id)
    assert (quantity, entry, entry_ts) == (-5.0, 90.0, 2)
    assert fee_per_unit == pytest.approx(0.09)
    ledger.update_price(BTC.id, 80.0, 3)
    assert ledger.unrealized_pnl == pytest.approx(50.0)
    assert ledger.equity == pytest.approx(100_000.0 - 50.0 - 1.4 + 50.0)


def test_short_gains_when_price_falls() -> None:
    ledger = Ledger(1_000.0, {BTC.id: BTC})
    ledger.apply_fill(fill(Side.SELL, 10, 100.0))
    assert ledger.cash == 2_000.0
    ledger.update_price(BTC.id, 90.0, 1)
    assert ledger.equity == 1_100.0
    assert ledger.net_exposure == -900.0 and ledger.gross_exposure == 900.0


def test_several_instruments_and_multiplier() -> None:
    future = Instrument.simple("BTC/USDT:USDT", lot_size=1.0, contract_multiplier=0.01)
    ledger = Ledger(10_000.0, {BTC.id: BTC, future.id: future})
    ledger.apply_fill(fill(Side.BUY, 2, 100.0, iid=BTC.id))
    ledger.apply_fill(fill(Side.SELL, 100, 50_000.0, iid=future.id))
    ledger.update_price(BTC.id, 110.0, 1)
    ledger.update_price(future.id, 49_000.0, 1)
    assert ledger.equity == pytest.approx(10_000.0 + 20.0 + 100 * 0.01 * 1_000.0)
    assert ledger.gross_exposure == pytest.approx(220.0 + 49_000.0)
    assert ledger.net_exposure == pytest.approx(220.0 - 49_000.0)
    assert ledger.realized_pnl == 0.0
    assert set(ledger.positions()) == {BTC.id, future.id}
    assert ledger.unrealized_pnl == pytest.approx(20.0 + 1_000.0)


def test_unknown_instruments_appear_on_first_price_or_fill() -> None:
    ledger = Ledger(1_000.0, {})
    assert math.isnan(ledger.price(ETH.id)) and ledger.position(ETH.id) == 0.0
    assert ledger.position_of(ETH.id).is_flat and ledger.open_lots(ETH.id) == []
    ledger.apply_fill(fill(Side.BUY, 1, 50.0, iid=ETH.id))
    assert ledger.price(ETH.id) == 50.0 and ledger.instruments() == [ETH.id]
    ledger.update_price(BTC.id, 10.0, 5)
    assert ledger.instruments() == [ETH.id, BTC.id] and ledger.ts == 5
    assert ledger.open_orders() == []
    ledger.attach_orders(lambda: ())
    assert ledger.open_orders() == []


def test_peak_and_day_start_equity() -> None:
    ledger = Ledger(1_000.0, {BTC.id: BTC})
    ledger.apply_fill(fill(Side.BUY, 10, 100.0))
    ledger.update_price(BTC.id, 120.0, NS_PER_DAY - 10)
    ledger.update_price(BTC.id, 90.0, NS_PER_DAY - 5)
    assert ledger.peak_equity == 1_200.0
    ledger.update_price(BTC.id, 95.0, NS_PER_DAY + 60)  # first bar of day 2
    assert ledger.day_start_equity == 900.0
    ledger.update_price(BTC.id, 80.0, NS_PER_DAY + 120)
    assert ledger.day_start_equity == 900.0 and ledger.peak_equity == 1_200.0
    assert ledger.leverage == pytest.approx(800.0 / 800.0)
    ledger.apply_fill(fill(Side.SELL, 10, 70.0, fee=5.0, ts=2 * NS_PER_DAY))  # day 3 opens
    assert ledger.day_start_equity == 800.0  # marked at the last close, before the fill
    assert ledger.equity == 1_000.0 - 1_000.0 + 700.0 - 5.0
    assert ledger.leverage == 0.0


def test_leverage_without_equity_and_bad_cash() -> None:
    ledger = Ledger(100.0, {BTC.id: BTC})
    assert ledger.leverage == 0.0
    ledger.apply_fill(fill(Side.BUY, 10, 100.0))
    ledger.update_price(BTC.id, 1.0, 1)
    assert ledger.equity < 0 and ledger.leverage == math.inf
    with pytest.raises(InvalidOrderError, match="starting cash"):
        Ledger(0.0, {})


def test_equity_recorder_arrays() -> None:
    recorder = EquityRecorder([BTC.id])
    recorder.record(1, 10.0, 5.0, [1.0])
    recorder.record(2, 11.0, 5.0)
    ledger = Ledger(7.0, {BTC.id: BTC})
    recorder.record_ledger(3, ledger)
    curve = recorder.arrays()
    assert len(recorder) == 3
    assert curve.ts.tolist() == [1, 2, 3] and curve.ts.dtype == np.int64
    assert curve.equity.tolist() == [10.0, 11.0, 7.0]
    assert curve.cash.tolist() == [5.0, 5.0, 7.0]
    np.testing.assert_array_equal(curve.positions[BTC.id], [1.0, np.nan, 0.0])


side_st = st.sampled_from([Side.BUY, Side.SELL])
fill_st = st.tuples(
    st.sampled_from([0, 1]),
    side_st,
    st.integers(1, 50).map(float),
    st.floats(1.0, 500.0),
    st.floats(0.0, 0.005),
    st.floats(1.0, 500.0),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(fill_st, min_size=1, max_size=40))
def test_accounting_identities_hold_after_every_fill(
    stream: list[tuple[int, Side, float, float, float, float]],
) -> None:
    specs = [BTC, ETH]
    ledger = Ledger(50_000.0, {s.id: s for s in specs})
    total_fees = 0.0
    for step, (which, side, quantity, price, fee_rate, mark) in enumerate(stream):
        iid = specs[which].id
        fee = fee_rate * quantity * price
        total_fees += fee
        ledger.apply_fill(fill(side, quantity, price, fee=fee, ts=step, iid=iid))
        ledger.update_price(iid, mark, step)
        marks = {s.id: ledger.price(s.id) for s in specs}
        value = sum(ledger.position(i) * p for i, p in marks.items() if not math.isnan(p))
        assert ledger.equity == pytest.approx(ledger.cash + value, rel=1e-9, abs=1e-6)
        assert ledger.fees == pytest.approx(total_fees, rel=1e-9, abs=1e-9)
        closed = ledger.trades()
        open_lots = [(i, lot) for i in marks for lot in ledger.open_lots(i)]
        open_pnl = sum(q * (marks[i] - entry) - fpu * abs(q) for i, (q, entry, _, fpu) in open_lots)
        assert sum(t.pnl for t in closed) + open_pnl == pytest.approx(
            ledger.equity - 50_000.0, rel=1e-9, abs=1e-6
        )
        lot_fees = sum(fpu * abs(q) for _, (q, _, _, fpu) in open_lots)
        assert sum(t.fees for t in closed) + lot_fees == pytest.approx(total_fees, abs=1e-6)
        assert ledger.equity - 50_000.0 == pytest.approx(
            ledger.realized_pnl + ledger.unrealized_pnl - ledger.fees, rel=1e-9, abs=1e-6
        )
        for i in marks:
            lots = ledger.open_lots(i)
            assert sum(q for q, *_ in lots) == pytest.approx(ledger.position(i), abs=1e-9)


def test_a_fee_taken_in_the_bought_coins_is_not_held_and_not_paid_in_cash() -> None:
    """Binance spot: buying 1 BTC at 100 with a 0.1 % fee leaves 0.999 BTC; the USDT paid is
    the notional only. The exit sells what is held; its fee (in USDT received) is cash."""
    ledger = Ledger(1_000.0, {BTC.id: BTC})
    bought = Fill(
        order_id=OrderId("o"), trade_id=TradeId("t1"), instrument=BTC.id, side=Side.BUY,
        quantity=1.0, price=100.0, fee=0.1, fee_base=0.001, ts=1,
    )  # fmt: skip
    assert bought.position_delta == pytest.approx(0.999)
    position = ledger.apply_fill(bought)
    assert position.quantity == ledger.position(BTC.id) == pytest.approx(0.999)
    assert position.average_price == 100.0 and position.fees == pytest.approx(0.1)
    assert ledger.cash == pytest.approx(900.0)
    assert ledger.fees == pytest.approx(0.1)
    assert ledger.equity == pytest.approx(1_000.0 - 0.1)
    assert ledger.unrealized_pnl == 0.0 and ledger.realized_pnl == 0.0
    ((lot_quantity, _, _, fee_per_unit),) = ledger.open_lots(BTC.id)
    assert lot_quantity == pytest.approx(0.999)
    assert fee_per_unit * lot_quantity == pytest.approx(0.1)
    ledger.update_price(BTC.id, 110.0, 2)
    assert ledger.equity == pytest.approx(900.0 + 0.999 * 110.0)
    ledger.apply_fill(fill(Side.SELL, 0.999, 110.0, fee=0.10989, ts=3))
    assert ledger.position(BTC.id) == pytest.approx(0.0, abs=1e-12)
    assert ledger.cash == pytest.approx(900.0 + 0.999 * 110.0 - 0.10989)
    assert ledger.fees == pytest.approx(0.1 + 0.10989)
    assert ledger.realized_pnl == pytest.approx(0.999 * 10.0)
    (trade,) = ledger.trades()
    assert trade.quantity == pytest.approx(0.999) and trade.fees == pytest.approx(0.20989)
    assert trade.pnl == pytest.approx(ledger.equity - 1_000.0)
    assert ledger.fills()[0].fee_base == 0.001  # kept with the fill


def test_a_fee_taken_in_the_base_on_a_sell_comes_out_of_the_holding() -> None:
    """A sell whose fee the venue takes in the coins sold gives quantity + fee_base."""
    ledger = Ledger(1_000.0, {BTC.id: BTC})
    ledger.apply_fill(fill(Side.BUY, 2.0, 100.0, ts=1))
    sold = Fill(
        order_id=OrderId("o"), trade_id=TradeId("t2"), instrument=BTC.id, side=Side.SELL,
        quantity=1.0, price=120.0, fee=0.12, fee_base=0.001, ts=2,
    )  # fmt: skip
    assert sold.position_delta == pytest.approx(-1.001)
    ledger.apply_fill(sold)
    assert ledger.position(BTC.id) == pytest.approx(0.999)
    assert ledger.cash == pytest.approx(800.0 + 120.0)
    assert ledger.fees == pytest.approx(0.12)
    assert ledger.realized_pnl == pytest.approx(1.001 * 20.0)
    ledger.update_price(BTC.id, 120.0, 2)
    assert ledger.equity == pytest.approx(920.0 + 0.999 * 120.0)
    assert ledger.equity - 1_000.0 == pytest.approx(
        ledger.realized_pnl + ledger.unrealized_pnl - ledger.fees
    )


base_fill_st = st.tuples(side_st, st.integers(1, 50).map(float), st.floats(1.0, 500.0),
                         st.floats(0.0, 0.005), st.booleans(), st.floats(1.0, 500.0))  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(st.lists(base_fill_st, min_size=1, max_size=40))
def test_identities_hold_with_fees_in_the_base_asset(
    stream: list[tuple[Side, float, float, float, bool, float]],
) -> None:
    ledger = Ledger(50_000.0, {BTC.id: BTC})
    held = cash = total_fees = 0.0
    for step, (side, quantity, price, fee_rate, in_base, mark) in enumerate(stream):
        fee_base = fee_rate * quantity if in_base else 0.0
        fee = fee_rate * quantity * price
        total_fees += fee
        held += side.sign * quantity - fee_base
        cash -= side.sign * quantity * price + (0.0 if in_base else fee)
        ledger.apply_fill(
            Fill(
                order_id=OrderId("o"), trade_id=TradeId(f"t{step}"), instrument=BTC.id,
                side=side, quantity=quantity, price=price, fee=fee, fee_base=fee_base, ts=step,
            )
        )  # fmt: skip
        ledger.update_price(BTC.id, mark, step)
        assert ledger.position(BTC.id) == pytest.approx(held, abs=1e-9)
        assert ledger.cash == pytest.approx(50_000.0 + cash, rel=1e-9, abs=1e-6)
        assert ledger.fees == pytest.approx(total_fees, rel=1e-9, abs=1e-9)
        assert ledger.equity == pytest.approx(ledger.cash + held * mark, rel=1e-9, abs=1e-6)
        assert ledger.equity - 50_000.0 == pytest.approx(
            ledger.realized_pnl + ledger.unrealized_pnl - ledger.fees, rel=1e-9, abs=1e-6
        )
        closed = ledger.trades()
        lots = ledger.open_lots(BTC.id)
        assert sum(q for q, *_ in lots) == pytest.approx(held, abs=1e-9)
        open_pnl = sum(q * (mark - entry) - fpu * abs(q) for q, entry, _, fpu in lots)
        assert sum(t.pnl for t in closed) + open_pnl == pytest.approx(
            ledger.equity - 50_000.0, rel=1e-9, abs=1e-6
        )
