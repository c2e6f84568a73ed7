r"""What a strategy sees and how it speaks: one context per instrument, owned by the engine.

Per-bar access is cheap on purpose: price history lives in buffers indexed by ``ctx.i`` (the bar
being handled) that return plain Python floats: in a backtest, read-only ``memoryview``\ s over
the bar batch's numpy columns (no copy); in paper and live trading, ``array('d')`` buffers the
engine appends to as bars arrive. The same ``self.fast[ctx.i]`` works in both.
Orders are only *recorded* here; the engine sends them through risk to the broker after
``on_bar`` returns, so a strategy that raises half-way sends nothing.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from typing import Any, Protocol, overload

import numpy as np

from neo.domain.bar import FloatArray
from neo.domain.enums import OrderType, Side, TimeInForce
from neo.domain.errors import ConfigError, InvalidOrderError
from neo.domain.ids import InstrumentId, OrderId
from neo.domain.instrument import Instrument
from neo.domain.order import Order, next_order_id
from neo.risk.sizing import ATR_WINDOW, EQUITY, Sizing
from neo.strategies.indicators import Incremental, ema, incremental

Indicator = Callable[..., FloatArray]


class Series(Protocol):
    """A price or indicator history: ``array('d')`` (growing) or a ``memoryview`` (fixed)."""

    @overload
    def __getitem__(self, index: int) -> float: ...

    @overload
    def __getitem__(self, index: slice) -> Any: ...

    def __len__(self) -> int: ...


class IntSeries(Protocol):
    """Bar times: ``array('q')`` or a ``memoryview`` over int64."""

    @overload
    def __getitem__(self, index: int) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> Any: ...

    def __len__(self) -> int: ...


class Account(Protocol):
    """The part of the ledger a strategy may read."""

    @property
    def cash(self) -> float: ...

    @property
    def equity(self) -> float: ...

    def position(self, instrument: InstrumentId) -> float: ...


class Bracket:
    """Stop-loss and take-profit prices to attach when an entry order fills."""

    __slots__ = ("stop_loss", "take_profit")

    def __init__(self, stop_loss: float | None, take_profit: float | None) -> None:
        self.stop_loss = stop_loss
        self.take_profit = take_profit


class _Extension:
    """One registered indicator on a growing history, and how to extend it by a bar."""

    __slots__ = ("args", "buffer", "func", "out", "step")

    def __init__(
        self,
        func: Indicator,
        buffer: Series,
        args: tuple[Any, ...],
        out: array[float],
        step: Incremental | None,
    ) -> None:
        self.func = func
        self.buffer = buffer
        self.args = args
        self.out = out
        self.step = step

    def extend(self) -> None:
        out, buffer, step = self.out, self.buffer, self.step
        while len(out) < len(buffer):
            i = len(out)
            if step is not None:
                out.append(step.update(buffer, i))
            else:  # no incremental form: recompute over the whole history (O(n) per bar)
                values = self.func(np.array(buffer[: i + 1], dtype=np.float64), *self.args)
                out.append(float(values[-1]))


class StrategyContext:
    """One instrument's view of the market and the account, plus the strategy's order pad.

    Attributes
    ----------
    i:
        Index of the bar being handled in the history buffers.
    open, high, low, close, volume, ts:
        History buffers (``ts`` is each bar's open time in ns); entries after ``i`` must not be
        read (in a backtest they exist; reading them is look-ahead).
    """

    __slots__ = (
        "_account",
        "_indicators",
        "_refresh",
        "brackets",
        "close",
        "deferred",
        "dirty",
        "forecast",
        "high",
        "i",
        "instrument",
        "instrument_id",
        "low",
        "open",
        "orders",
        "plots",
        "predictions",
        "sizing",
        "strategy_name",
        "target",
        "timeframe_ns",
        "ts",
        "unsized",
        "volatility_buffer",
        "volume",
    )

    def __init__(
        self,
        instrument: Instrument,
        account: Account,
        *,
        timeframe_ns: int,
        strategy_name: str = "",
        refresh: Callable[[], None] | None = None,
    ) -> None:
        self.instrument = instrument
        self.instrument_id = instrument.id
        self._account = account
        self._refresh = refresh
        self.timeframe_ns = timeframe_ns
        self.strategy_name = strategy_name
        self.ts: IntSeries = array("q")
        self.open: Series = array("d")
        self.high: Series = array("d")
        self.low: Series = array("d")
        self.close: Series = array("d")
        self.volume: Series = array("d")
        self.predictions: Series = array("d")
        self.volatility_buffer: Series | Callable[[], FloatArray] = array("d")
        self._indicators: list[_Extension] = []
        self.plots: dict[str, Series] = {}
        self.i = -1
        self.orders: list[Order] = []
        self.brackets: dict[OrderId, Bracket] = {}
        self.deferred: list[tuple[Side, str, float]] = []
        self.sizing: Sizing = EQUITY
        self.unsized: list[tuple[Side, float, str]] = []
        self.target = math.nan
        self.forecast = math.nan
        self.dirty = False

    # ----------------------------------------------------------------- market data
    @property
    def now_ns(self) -> int:
        """When the current bar completed: the moment the strategy acts."""
        return self.ts[self.i] + self.timeframe_ns

    @property
    def price(self) -> float:
        """Close of the current bar."""
        return self.close[self.i]

    @property
    def prediction(self) -> float:
        """The model's forecast for this bar, NaN when there is none."""
        i = self.i
        return self.predictions[i] if i < len(self.predictions) else math.nan

    @property
    def volatility(self) -> float:
        """Rolling volatility of log returns up to this bar (NaN during warm-up)."""
        buffer = self.volatility_buffer
        if callable(buffer):  # a backtest computes it on first use only
            buffer = self.volatility_buffer = np.ascontiguousarray(buffer(), np.float64).data
        return buffer[self.i]

    def last(self, n: int, field: str = "close") -> FloatArray:
        """The last ``n`` values of a price field up to and including this bar, oldest first."""
        buffer = self._buffer(field)
        stop = self.i + 1
        return np.array(buffer[max(0, stop - n) : stop], dtype=np.float64)

    def load(self, columns: dict[str, Any]) -> None:
        """Engine hook (backtest): point the buffers at whole numpy columns, without copying.

        ``columns`` holds ``ts`` (int64) and float64 ``open``, ``high``, ``low``, ``close``,
        ``volume`` and optionally ``predictions``, all contiguous, plus ``volatility``: a
        function returning the rolling volatility, called the first time a strategy reads it.
        """
        if len(self.ts):
            raise ConfigError(f"{self.instrument_id}: history is already loaded")
        self.ts = np.ascontiguousarray(columns["ts"], dtype=np.int64).data
        for name in ("open", "high", "low", "close", "volume"):
            setattr(self, name, np.ascontiguousarray(columns[name], np.float64).data)
        self.volatility_buffer = columns["volatility"]
        if columns.get("predictions") is not None:
            self.predictions = np.ascontiguousarray(columns["predictions"], np.float64).data

    def append(
        self,
        ts: int,
        values: tuple[float, float, float, float, float],
        volatility: float,
        prediction: float,
    ) -> None:
        """Engine hook (paper/live): add a completed bar, then extend the indicators."""
        buffers = (self.ts, self.open, self.high, self.low, self.close, self.volume)
        if not all(isinstance(b, array) for b in buffers):
            raise ConfigError(
                f"{self.instrument_id}: cannot append bars after loading a fixed history"
            )
        self.ts.append(ts)  # type: ignore[attr-defined]
        for buffer, value in zip(buffers[1:], values, strict=True):
            buffer.append(value)  # type: ignore[attr-defined]
        self.volatility_buffer.append(volatility)  # type: ignore[union-attr]
        self.predictions.append(prediction)  # type: ignore[attr-defined]
        self.extend_indicators()

    def indicator(
        self, func: Indicator, source: Any = "close", *args: Any, lookback: int | None = None
    ) -> Series:
        """Register a causal, vectorised indicator and return its values buffer.

        ``func(values, *args)`` must map an array to one of the same length whose entry ``i``
        uses inputs up to ``i`` only. In a backtest it is computed once over the whole history;
        in paper/live trading the engine extends it as bars arrive, so strategy code is the same.
        The shipped indicators (:mod:`neo.strategies.indicators`) extend in O(1) or O(window)
        per bar with the batch values' bits; give ``lookback`` (how many trailing inputs
        determine the last value) for another window function to do the same. Without one, each
        new bar recomputes ``func`` over the whole history.
        """
        buffer = self._resolve_source(source)
        values = np.ascontiguousarray(
            func(np.asarray(buffer, dtype=np.float64), *args), dtype=np.float64
        )
        if values.shape != (len(buffer),):
            raise ConfigError(
                f"indicator {getattr(func, '__name__', func)!r} returned shape {values.shape}, "
                f"expected ({len(buffer)},): it must return one value per bar"
            )
        if not isinstance(buffer, array):  # a fixed backtest history: no copy, never extended
            return values.data
        out: array[float] = array("d")
        out.frombytes(values.tobytes())
        step = incremental(func, args, lookback)
        if step is not None:
            for i in range(len(buffer)):  # bring its state up to the history already there
                step.update(buffer, i)
        self._indicators.append(_Extension(func, buffer, args, out, step))
        return out

    def plot(self, name: str, values: Series) -> Series:
        """Ask for ``values`` (one per bar, e.g. what :meth:`indicator` returned) to be drawn
        over this instrument's price in the run report, as ``name``; returns ``values``.

        Typically in ``on_start``: ``self.fast = ctx.plot("SMA 10", ctx.indicator(sma, ...))``.
        The engine reads the series at the end of the run (``BacktestResult.plots``).
        """
        if not isinstance(name, str) or not name:
            raise ConfigError("ctx.plot needs a non-empty name for the series, e.g. 'SMA 10'")
        self.plots[name] = values
        return values

    def plotted(self) -> dict[str, FloatArray]:
        """Engine hook: the series registered with :meth:`plot`, as float arrays up to the
        last bar seen (copies, so they outlive the run's buffers)."""
        stop = len(self.ts)
        return {
            name: np.array(values[:stop], dtype=np.float64) for name, values in self.plots.items()
        }

    def extend_indicators(self) -> None:
        """Engine hook after a bar was appended: extend each indicator causally."""
        for extension in self._indicators:
            extension.extend()

    def _buffer(self, field: str) -> Series:
        buffers: dict[str, Series] = {
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
        }
        if field not in buffers:
            raise ConfigError(f"unknown price field {field!r}: use one of {', '.join(buffers)}")
        return buffers[field]

    def _resolve_source(self, source: Any) -> Series:
        if isinstance(source, str):
            return self._buffer(source)
        for name in ("close", "open", "high", "low", "volume"):
            if source is getattr(self, name):
                return self._buffer(name)
        raise ConfigError(
            "ctx.indicator needs a price field of this context (ctx.close, 'high', …) as source, "
            "so the engine can extend it causally as bars arrive"
        )

    # ------------------------------------------------------------------ account
    @property
    def position(self) -> float:
        return self._account.position(self.instrument_id)

    @property
    def cash(self) -> float:
        if self._refresh is not None:
            self._refresh()
        return self._account.cash

    @property
    def equity(self) -> float:
        if self._refresh is not None:
            self._refresh()
        return self._account.equity

    # ------------------------------------------------------------------- orders
    def buy(
        self,
        quantity: float | None = None,
        *,
        limit: float | None = None,
        stop: float | None = None,
        tif: TimeInForce = TimeInForce.GTC,
        sl: float | None = None,
        tp: float | None = None,
        tag: str = "",
    ) -> OrderId | None:
        """Buy ``quantity`` units; ``None`` sizes it with the run's sizing (by default all
        available equity in whole units, sized at the fill price).

        ``limit``/``stop`` make limit, stop or stop-limit orders; ``sl``/``tp`` attach a bracket
        (stop-loss and take-profit, one cancels the other) once the entry fills. Returns the
        order id, or None when the size rounds to nothing or is sized at execution.
        """
        return self._order(Side.BUY, quantity, limit, stop, tif, sl, tp, tag)

    def sell(
        self,
        quantity: float | None = None,
        *,
        limit: float | None = None,
        stop: float | None = None,
        tif: TimeInForce = TimeInForce.GTC,
        sl: float | None = None,
        tp: float | None = None,
        tag: str = "",
    ) -> OrderId | None:
        """Sell (or go short) ``quantity`` units; see :meth:`buy`."""
        return self._order(Side.SELL, quantity, limit, stop, tif, sl, tp, tag)

    def signal(self, value: float) -> None:
        """Hold the side of ``value`` (> 0 long, < 0 short, 0 flat; NaN keeps what is held),
        sized by the run's sizing (``--param size=…``, see :mod:`neo.risk.sizing`).

        ``units:N`` holds ``value × N`` units. The other kinds size on entry and hold: the same
        side as the position changes nothing; a new side closes the position and enters with
        all or a fraction of the equity at the fill price (``equity``, ``fraction:F``) or with
        the units ``vol``/``atr``/``kelly`` give now (times ``|value|``). What the fast path
        does with the same values from :meth:`Strategy.vector_targets`. A position below one
        lot (dust no exchange would take) counts as flat.
        """
        if value != value:
            return
        sizing = self.sizing
        if sizing.kind == "units":
            self.target_position(value * sizing.value)
            return
        wanted = (value > 0) - (value < 0)
        position = self.position
        if position and not self.instrument.round_quantity(abs(position)):
            # less than one lot, which cannot be sold: the dust a fee taken in the coins
            # bought leaves after the exit (Binance spot). Flat, for deciding what to hold.
            position = 0.0
        if wanted == (position > 0) - (position < 0):
            return
        fraction = sizing.fill_fraction
        if fraction is None:
            units = self.sized_units(wanted) * abs(value) if wanted else 0.0
            self.target_position(math.copysign(units, wanted))
            return
        if position:
            self.close_position()
        if wanted:
            self.deferred.append((Side.BUY if wanted > 0 else Side.SELL, "", fraction))
            self.dirty = True

    def sized_units(self, side: int = 1) -> float:
        """Units the run's sizing gives one unit of signal on ``side`` now, from this bar's
        equity, close, volatility, ATR and forecast (an estimate for fill-time kinds)."""
        sizing = self.sizing
        price = self.close[self.i]
        return sizing.units(
            equity=self.equity if sizing.kind != "units" else math.nan,
            price=price,
            volatility=self.volatility if sizing.kind in ("vol", "kelly") else math.nan,
            atr=self.atr() if sizing.kind == "atr" else math.nan,
            forecast=self.prediction * side,
            periods_per_year=self.bars_per_year(),
            instrument=self.instrument,
        )

    def atr(self, window: int = ATR_WINDOW) -> float:
        """Wilder's average true range up to this bar (an EMA of the true range with
        α = 1/window, over the last 10 × window bars); NaN before ``2 × window`` bars."""
        stop = self.i + 1
        start = max(0, stop - 10 * window - 1)
        if stop - start < 2 * window:
            return math.nan
        high = np.array(self.high[start:stop], dtype=np.float64)
        low = np.array(self.low[start:stop], dtype=np.float64)
        close = np.array(self.close[start:stop], dtype=np.float64)
        previous = close[:-1]
        true_range = np.maximum(high[1:], previous) - np.minimum(low[1:], previous)
        return float(ema(true_range, 2 * window - 1)[-1])

    def bars_per_year(self) -> float:
        """Bars per year observed so far (the nominal rate of the timeframe before 2 bars):
        annualises volatility for markets that close (daily stocks: about 252)."""
        year_ns = 365.25 * 86_400e9
        i = self.i
        span = self.ts[i] - self.ts[0] if i >= 1 else 0
        if i >= 20 and span > 0:
            return i * year_ns / span
        return year_ns / self.timeframe_ns

    def close_position(self) -> None:
        """Flatten this instrument's position (net of orders already working)."""
        self.target_position(0.0)

    def target_position(self, quantity: float) -> None:
        """Hold ``quantity`` (signed units) after this bar; the engine sends the difference."""
        if not math.isfinite(quantity):
            raise InvalidOrderError(f"target position must be a finite number, got {quantity}")
        self.target = quantity
        self.dirty = True

    def set_forecast(self, value: float) -> None:
        """A forecast for the portfolio constructor (used when one is configured)."""
        self.forecast = value
        self.dirty = True

    def _order(
        self,
        side: Side,
        quantity: float | None,
        limit: float | None,
        stop: float | None,
        tif: TimeInForce,
        sl: float | None,
        tp: float | None,
        tag: str,
    ) -> OrderId | None:
        if quantity is None:
            if limit is not None or stop is not None or sl is not None or tp is not None:
                raise InvalidOrderError(
                    "an order sized by the run's sizing (no quantity) must be a plain market "
                    "order; give a quantity for limit, stop or bracket orders"
                )
            fraction = self.sizing.fill_fraction
            if fraction is not None:
                self.deferred.append((side, tag, fraction))
                self.dirty = True
                return None
            quantity = self.sized_units(side.sign) if self.sizing.at_decision else self.sizing.value
        units = self.instrument.round_quantity(abs(quantity))
        if units <= 0:  # reported by the engine as a cancelled order, never dropped silently
            self.unsized.append((side, quantity, tag))
            self.dirty = True
            return None
        kind = OrderType.MARKET
        if limit is not None:
            kind = OrderType.STOP_LIMIT if stop is not None else OrderType.LIMIT
        elif stop is not None:
            kind = OrderType.STOP
        order = Order(
            id=next_order_id(),
            instrument=self.instrument_id,
            side=side,
            quantity=units,
            type=kind,
            limit_price=limit,
            stop_price=stop,
            time_in_force=tif,
            created_ns=self.now_ns,
            updated_ns=self.now_ns,
            tag=tag or self.strategy_name,
        )
        self.orders.append(order)
        if sl is not None or tp is not None:
            self.brackets[order.id] = Bracket(sl, tp)
        self.dirty = True
        return order.id

    def detach(self) -> None:
        """Engine hook at the end of a run: drop the references back into the engine."""
        self._refresh = None
        self._indicators = []

    def reset_intents(self) -> None:
        """Engine hook: forget what this cycle asked for (after it was handled or failed)."""
        self.orders = []
        self.brackets = {}
        self.deferred = []
        self.unsized = []
        self.target = math.nan
        self.dirty = False
