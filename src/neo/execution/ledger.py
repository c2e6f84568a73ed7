"""Accounting: cash, positions, PnL, fees, equity and the round-trip trade list.

The ledger is the one account of a run in every mode. Positions follow the one average-cost rule,
:meth:`neo.domain.position.Position.apply`; round-trip trades are matched FIFO from the fills, the
way backtesting.py lists them (a reversal closes the old trade and opens a new one; each fill's fee
is shared pro rata by the units it opened or closed).

Identities kept at every step (and tested with hypothesis)::

    cash   = initial cash − Σ signed fill quantity × price × multiplier − Σ fees
             + Σ fee_base × price × multiplier          (fees the venue took in the base asset)
    position = Σ (signed fill quantity − fee_base)      (what the account actually holds)
    equity = cash + Σ position × last price × multiplier
    equity − initial cash = realised PnL + unrealised PnL − fees
                          = Σ closed trade PnL + open lots' unrealised PnL − open lots' entry fees

The engine calls :meth:`Ledger.update_price` on every bar, so it is written for speed: plain lists
indexed by an instrument slot, a one-entry cache for the last instrument, no allocation.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from neo.domain.bar import FloatArray, IntArray
from neo.domain.enums import LiquiditySide, Side
from neo.domain.errors import InvalidOrderError
from neo.domain.fill import Fill
from neo.domain.ids import InstrumentId, OrderId, TradeId
from neo.domain.instrument import Instrument
from neo.domain.order import Order
from neo.domain.position import Position
from neo.domain.trade import Trade

NS_PER_DAY = 86_400 * 1_000_000_000


class _Lot:
    """Open units of one FIFO lot: signed quantity, entry and the entry fee per unit."""

    __slots__ = ("entry_price", "entry_ts", "fee_per_unit", "quantity")

    def __init__(self, quantity: float, entry_price: float, entry_ts: int, fee_per_unit: float):
        self.quantity = quantity
        self.entry_price = entry_price
        self.entry_ts = entry_ts
        self.fee_per_unit = fee_per_unit


class TradeLog:
    """Closed round trips stored column-wise; :meth:`to_trades` builds the records on demand.

    Columns instead of one object per trade keep a million-bar run's memory small and give the
    garbage collector nothing to rescan as the list grows.
    """

    __slots__ = ("entry_price", "entry_ts", "exit_price", "exit_ts", "fees", "quantity", "slot")

    def __init__(self) -> None:
        self.slot = array("i")
        self.quantity = array("d")
        self.entry_ts = array("q")
        self.exit_ts = array("q")
        self.entry_price = array("d")
        self.exit_price = array("d")
        self.fees = array("d")

    def __len__(self) -> int:
        return len(self.slot)

    def to_trades(self, instruments: Sequence[InstrumentId]) -> list[Trade]:
        """The trades in the order they closed; ``instruments[slot]`` names each one."""
        return [
            Trade(
                instrument=instruments[slot],
                quantity=quantity,
                entry_ts=entry_ts,
                exit_ts=exit_ts,
                entry_price=entry_price,
                exit_price=exit_price,
                fees=fees,
            )
            for slot, quantity, entry_ts, exit_ts, entry_price, exit_price, fees in zip(
                self.slot,
                self.quantity,
                self.entry_ts,
                self.exit_ts,
                self.entry_price,
                self.exit_price,
                self.fees,
                strict=True,
            )
        ]


class TradeMatcher:
    """FIFO round-trip matching of one instrument's fills into a :class:`TradeLog`.

    Shared by the ledger and the fast path so both build the trade list the same way.
    """

    __slots__ = ("_lots", "_slot", "log")

    def __init__(self, slot: int = 0, log: TradeLog | None = None) -> None:
        self._slot = slot
        self._lots: deque[_Lot] = deque()
        self.log = TradeLog() if log is None else log

    def add(self, signed_quantity: float, price: float, fee: float, ts: int) -> None:
        """Match one fill: close opposite lots oldest first, open a lot with what is left."""
        remaining = signed_quantity
        fee_per_unit = fee / abs(signed_quantity)
        lots = self._lots
        log = self.log
        tolerance = 1e-12 * abs(signed_quantity)
        while lots and lots[0].quantity * remaining < 0.0:
            lot = lots[0]
            closed = min(abs(remaining), abs(lot.quantity))
            sign = 1.0 if lot.quantity > 0.0 else -1.0
            log.slot.append(self._slot)
            log.quantity.append(sign * closed)
            log.entry_ts.append(lot.entry_ts)
            log.exit_ts.append(ts)
            log.entry_price.append(lot.entry_price)
            log.exit_price.append(price)
            log.fees.append((lot.fee_per_unit + fee_per_unit) * closed)
            lot.quantity -= sign * closed
            remaining += sign * closed
            if abs(lot.quantity) <= tolerance:
                lots.popleft()
            if abs(remaining) <= tolerance:
                return
        lots.append(_Lot(remaining, price, ts, fee_per_unit))

    def open_lots(self) -> list[tuple[float, float, int, float]]:
        """(signed quantity, entry price, entry ts, entry fee per unit) of each open lot."""
        return [(x.quantity, x.entry_price, x.entry_ts, x.fee_per_unit) for x in self._lots]


class FillLog:
    """Fills stored column-wise (see :class:`TradeLog` for why)."""

    __slots__ = (
        "buy", "fee", "fee_base", "maker", "order_id", "price", "quantity", "slot", "trade_id",
        "ts",
    )  # fmt: skip

    def __init__(self) -> None:
        self.order_id: list[str] = []
        self.trade_id: list[str] = []
        self.slot = array("i")
        self.buy = array("b")
        self.maker = array("b")
        self.quantity = array("d")
        self.price = array("d")
        self.fee = array("d")
        self.fee_base = array("d")
        self.ts = array("q")

    def __len__(self) -> int:
        return len(self.slot)

    def append(self, slot: int, fill: Fill) -> None:
        self.order_id.append(fill.order_id)
        self.trade_id.append(fill.trade_id)
        self.slot.append(slot)
        self.buy.append(fill.side is Side.BUY)
        self.maker.append(fill.liquidity is LiquiditySide.MAKER)
        self.quantity.append(fill.quantity)
        self.price.append(fill.price)
        self.fee.append(fill.fee)
        self.fee_base.append(fill.fee_base)
        self.ts.append(fill.ts)

    def to_fills(self, instruments: Sequence[InstrumentId]) -> list[Fill]:
        return [
            Fill(
                order_id=OrderId(order_id),
                trade_id=TradeId(trade_id),
                instrument=instruments[slot],
                side=Side.BUY if buy else Side.SELL,
                quantity=quantity,
                price=price,
                fee=fee,
                ts=ts,
                liquidity=LiquiditySide.MAKER if maker else LiquiditySide.TAKER,
                fee_base=fee_base,
            )
            for order_id, trade_id, slot, buy, maker, quantity, price, fee, fee_base, ts in zip(
                self.order_id,
                self.trade_id,
                self.slot,
                self.buy,
                self.maker,
                self.quantity,
                self.price,
                self.fee,
                self.fee_base,
                self.ts,
                strict=True,
            )
        ]


class Ledger:
    """The account of a run; implements :class:`neo.domain.account.AccountView`.

    Parameters
    ----------
    cash:
        Starting cash in the (single) quote currency of every instrument.
    instruments:
        Instruments known up front; others are added on their first fill or price.
    """

    def __init__(self, cash: float, instruments: Mapping[InstrumentId, Instrument]) -> None:
        if not (cash > 0 and math.isfinite(cash)):
            raise InvalidOrderError(f"starting cash must be a positive number, got {cash}")
        self.initial_cash = float(cash)
        self._cash = float(cash)
        self._instruments = dict(instruments)
        self._slots: dict[InstrumentId, int] = {}
        self._ids: list[InstrumentId] = []
        self._positions: list[Position] = []
        self._qty: list[float] = []
        self._price: list[float] = []
        self._mult: list[float] = []
        self._mv: list[float] = []
        self._matchers: list[TradeMatcher] = []
        self._mv_total = 0.0
        self._fees = 0.0
        self._ts = 0
        self._peak = self._cash
        self._day_start = self._cash
        self._next_day_ns = -(2**62)
        self._last_id: InstrumentId | None = None
        self._last_slot = -1
        self._single = True
        self._fills = FillLog()
        self._trades = TradeLog()
        self._orders_source: Callable[[], Sequence[Order]] | None = None
        for instrument in self._instruments:
            self._slot(instrument)

    # -- slots -----------------------------------------------------------------------------
    def _slot(self, instrument: InstrumentId) -> int:
        slot = self._slots.get(instrument)
        if slot is None:
            slot = len(self._ids)
            self._slots[instrument] = slot
            self._ids.append(instrument)
            self._positions.append(Position(instrument=instrument))
            self._qty.append(0.0)
            self._price.append(math.nan)
            spec = self._instruments.get(instrument)
            self._mult.append(spec.contract_multiplier if spec is not None else 1.0)
            self._mv.append(0.0)
            self._matchers.append(TradeMatcher(slot, self._trades))
            self._single = len(self._ids) == 1
        return slot

    def attach_orders(self, source: Callable[[], Sequence[Order]]) -> None:
        """Let :meth:`open_orders` read the broker's working orders (the broker calls this)."""
        self._orders_source = source

    # -- the two calls of the hot loop -----------------------------------------------------
    def update_price(self, instrument: InstrumentId, price: float, ts: int) -> None:
        """Mark ``instrument`` at ``price`` (a complete bar's close) as of ``ts``.

        O(1) and allocation-free: the market value total is kept incrementally and re-summed
        exactly on every fill and every new UTC day, so it cannot drift.
        """
        if instrument is self._last_id:
            slot = self._last_slot
        else:
            slot = self._slot(instrument)
            self._last_id, self._last_slot = instrument, slot
        if ts >= self._next_day_ns:
            self._roll_day(ts)
        self._ts = ts
        self._price[slot] = price
        quantity = self._qty[slot]
        if quantity != 0.0:
            value = quantity * price * self._mult[slot]
            if self._single:  # exact, the common one-instrument case
                self._mv_total = value
            else:
                self._mv_total += value - self._mv[slot]
            self._mv[slot] = value
            equity = self._cash + self._mv_total
            if equity > self._peak:
                self._peak = equity

    def _roll_day(self, ts: int) -> None:
        self._resum()
        self._day_start = self._cash + self._mv_total
        self._next_day_ns = (ts // NS_PER_DAY + 1) * NS_PER_DAY

    def _resum(self) -> None:
        self._mv_total = math.fsum(self._mv)

    def apply_fill(self, fill: Fill) -> Position:
        """Book one fill: cash, fees, the position (average cost) and the trade list.

        A fee the venue took in the base asset (:attr:`Fill.fee_base`) is booked as the
        account has it: the position moves by :attr:`Fill.position_delta` and cash pays only
        the rest of the fee; equity drops by ``fee`` either way."""
        instrument = fill.instrument
        if instrument is self._last_id:
            slot = self._last_slot
        else:
            slot = self._slot(instrument)
            self._last_id, self._last_slot = instrument, slot
        if fill.ts >= self._next_day_ns:  # the day starts before its first fill is booked
            self._roll_day(fill.ts)
        position = self._positions[slot].apply(fill)
        self._positions[slot] = position
        signed = fill.quantity if fill.side is Side.BUY else -fill.quantity
        mult = self._mult[slot]
        fee_base = fill.fee_base
        if fee_base:  # paid in the base asset: the holding is smaller, cash pays no fee for it
            self._cash -= signed * fill.price * mult + (fill.fee - fee_base * fill.price * mult)
            signed -= fee_base
        else:
            self._cash -= signed * fill.price * mult + fill.fee
        self._fees += fill.fee
        self._qty[slot] = position.quantity
        price = self._price[slot]
        if price != price:  # first sight of this instrument: mark it at the fill
            price = self._price[slot] = fill.price
        self._mv[slot] = position.quantity * price * mult
        self._resum()
        if fill.ts > self._ts:
            self._ts = fill.ts
        equity = self._cash + self._mv_total
        if equity > self._peak:
            self._peak = equity
        self._fills.append(slot, fill)
        if signed != 0.0:
            self._matchers[slot].add(signed, fill.price, fill.fee, fill.ts)
        return position

    # -- AccountView -----------------------------------------------------------------------
    @property
    def ts(self) -> int:
        return self._ts

    @property
    def cash(self) -> float:
        return self._cash

    @property
    def equity(self) -> float:
        return self._cash + self._mv_total

    @property
    def gross_exposure(self) -> float:
        return math.fsum(abs(v) for v in self._mv)

    @property
    def net_exposure(self) -> float:
        return math.fsum(self._mv)

    @property
    def leverage(self) -> float:
        """Gross exposure over equity (inf when equity is not positive but exposure is)."""
        equity = self.equity
        gross = self.gross_exposure
        if equity > 0:
            return gross / equity
        return math.inf if gross else 0.0

    @property
    def peak_equity(self) -> float:
        return self._peak

    @property
    def day_start_equity(self) -> float:
        return self._day_start

    @property
    def fees(self) -> float:
        return self._fees

    @property
    def realized_pnl(self) -> float:
        """Realised PnL before fees, in the quote currency."""
        return math.fsum(
            p.realized_pnl * m for p, m in zip(self._positions, self._mult, strict=True)
        )

    @property
    def unrealized_pnl(self) -> float:
        total = 0.0
        for position, price, mult in zip(self._positions, self._price, self._mult, strict=True):
            if position.quantity != 0.0:
                total += position.unrealized_pnl(price) * mult
        return total

    def position(self, instrument: InstrumentId) -> float:
        if instrument is self._last_id:  # skips hashing the id in the hot loop
            return self._qty[self._last_slot]
        slot = self._slots.get(instrument)
        return 0.0 if slot is None else self._qty[slot]

    def position_of(self, instrument: InstrumentId) -> Position:
        slot = self._slots.get(instrument)
        return Position(instrument=instrument) if slot is None else self._positions[slot]

    def positions(self) -> dict[InstrumentId, Position]:
        """Every instrument's position, flat ones included."""
        return dict(zip(self._ids, self._positions, strict=True))

    def price(self, instrument: InstrumentId) -> float:
        slot = self._slots.get(instrument)
        return math.nan if slot is None else self._price[slot]

    def instruments(self) -> Sequence[InstrumentId]:
        return list(self._ids)

    def open_orders(self) -> Sequence[Order]:
        return [] if self._orders_source is None else list(self._orders_source())

    def trades(self) -> list[Trade]:
        """Closed round trips, FIFO, in the order they closed (built on each call)."""
        return self._trades.to_trades(self._ids)

    def fills(self) -> list[Fill]:
        """Every fill booked, oldest first (built on each call)."""
        return self._fills.to_fills(self._ids)

    @property
    def trade_count(self) -> int:
        return len(self._trades)

    @property
    def fill_count(self) -> int:
        return len(self._fills)

    @property
    def trade_log(self) -> TradeLog:
        """The closed trades as columns (read-only by convention), for bulk analytics."""
        return self._trades

    def open_lots(self, instrument: InstrumentId) -> list[tuple[float, float, int, float]]:
        """Open FIFO lots of one instrument (see :meth:`TradeMatcher.open_lots`)."""
        slot = self._slots.get(instrument)
        return [] if slot is None else self._matchers[slot].open_lots()


@dataclass(frozen=True, slots=True)
class EquityCurve:
    """What :meth:`EquityRecorder.arrays` returns: one row per recorded step."""

    ts: IntArray
    equity: FloatArray
    cash: FloatArray
    positions: dict[InstrumentId, FloatArray]


class EquityRecorder:
    """Per-bar equity, cash and positions, O(1) per record.

    Columns are typed ``array.array`` buffers: appends are amortised O(1) (the buffer grows
    geometrically, like doubling a preallocated numpy array) and cost a fraction of a numpy
    item assignment; :meth:`arrays` turns them into numpy arrays without a Python loop. Works
    the same whether the length is known (backtest) or not (live).
    """

    def __init__(self, instruments: Sequence[InstrumentId]) -> None:
        self._ids = list(instruments)
        self._ts = array("q")
        self._equity = array("d")
        self._cash = array("d")
        self._positions = [array("d") for _ in self._ids]

    def __len__(self) -> int:
        return len(self._ts)

    def record(
        self, ts: int, equity: float, cash: float, positions: Sequence[float] | None = None
    ) -> None:
        """Append one row; ``positions`` in the order of the instruments given at creation
        (NaN when omitted)."""
        self._ts.append(ts)
        self._equity.append(equity)
        self._cash.append(cash)
        if positions is None:
            for column in self._positions:
                column.append(math.nan)
        else:
            for column, value in zip(self._positions, positions, strict=True):
                column.append(value)

    def record_ledger(self, ts: int, ledger: Ledger) -> None:
        """Append the ledger's equity, cash and positions as of ``ts``."""
        self._ts.append(ts)
        self._equity.append(ledger.equity)
        self._cash.append(ledger.cash)
        for column, instrument in zip(self._positions, self._ids, strict=True):
            column.append(ledger.position(instrument))

    def arrays(self) -> EquityCurve:
        positions = {
            instrument: np.frombuffer(column, dtype=np.float64).copy()
            for instrument, column in zip(self._ids, self._positions, strict=True)
        }
        return EquityCurve(
            ts=np.frombuffer(self._ts, dtype=np.int64).copy(),
            equity=np.frombuffer(self._equity, dtype=np.float64).copy(),
            cash=np.frombuffer(self._cash, dtype=np.float64).copy(),
            positions=positions,
        )
