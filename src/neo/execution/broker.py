"""The broker boundary: where orders leave the trading loop and events come back.

One Protocol serves backtest, paper and live trading, and it is all the trading loop speaks:
the loop never asks which broker it has (no ``isinstance``, no ``getattr``, no keyword outside
:class:`Broker`). The simulated broker (:class:`~neo.execution.simulated.SimulatedBroker`) fills
against bars; the exchange adapter (a later issue) implements the same six methods over ccxt.
The drivers take a :data:`BrokerFactory` (the broker needs the loop's event sink and ledger) and
default to the simulated one.

What the loop needs, and where it lives
---------------------------------------
* **Sizing to equity** is part of the order: ``Order.equity_fraction``. The broker sizes such an
  order itself when it executes (the simulated broker at the fill price, an exchange adapter from
  its own balance); ``quantity`` carries the engine's estimate; an order that sizes to less than
  one lot is cancelled with :data:`INSUFFICIENT_EQUITY`, never dropped.
* **Fee rate** (:meth:`Broker.fee_rate`): the engine's estimates use the broker's own rate.
* **Bars** (:meth:`Broker.bar_hooks`): a broker that fills against the loop's bars (the simulated
  one) returns :class:`BarHooks`, the callbacks the loop calls at each bar's open and close; a
  broker at a real venue returns ``None`` (the exchange has its own market). This is an explicit,
  typed answer read once when the loop is built, so a live adapter implements no bar methods
  as no-ops and the loop's hot path does not test for them per bar.

Who applies fills to the ledger
-------------------------------
The broker does. A broker given a :class:`~neo.execution.ledger.Ledger` calls
``ledger.apply_fill(fill)`` *before* it reports ``OrderFilled`` to the sink, so accounting can
never miss a fill and every event handler already sees the updated account. The engine must
therefore NOT forward ``OrderFilled`` fills to the ledger itself (that would count them twice).

Time
----
A broker stamps events with its own clock: for the simulated broker, the ``ts`` of the latest
bar it was shown (``on_bar_open``/``on_bar_close``) or :meth:`SimulatedBroker.set_time`; fills
carry the ``ts`` of the bar they filled against (its open time).

Events
------
Every status change of an order is reported through the :data:`EventSink` as it happens, in
order: ``OrderSubmitted``, then ``OrderAccepted`` or ``OrderRejected``, then any number of
``OrderFilled`` (partial fills carry status ``partially_filled``), or ``OrderCancelled`` /
``OrderExpired``. Each event carries the order as it is *after* the change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from neo.domain.events import Event
from neo.domain.ids import InstrumentId, OrderId
from neo.domain.instrument import Instrument
from neo.domain.order import Order
from neo.execution.ledger import Ledger

EventSink = Callable[[Event], None]
"""Receives every event the broker produces; the engine's bus publish, or ``list.append``."""

INSUFFICIENT_EQUITY = "insufficient equity to size"
"""Why an equity-sized order that came to less than one lot was cancelled (never silently)."""


@dataclass(frozen=True, slots=True)
class BarHooks:
    """How the loop shows its bars to a broker that fills against them (the simulated one).

    ``on_open(instrument, ts, open, high, low, close, volume)`` runs at each bar's open, before
    any strategy sees the bar, while the instrument has working orders (on every bar when
    ``every_bar``, e.g. to read each bar's volume for a participation cap). ``on_close``
    (``instrument, ts, close``), when given, runs after the cycle's orders were submitted (fills
    at the close). ``set_time(ts)`` moves the broker's clock to a bar whose open it skipped.
    """

    on_open: Callable[[InstrumentId, int, float, float, float, float, float], None]
    set_time: Callable[[int], None]
    on_close: Callable[[InstrumentId, int, float], None] | None = None
    every_bar: bool = False


def discard_events(event: Event) -> None:
    """A sink that drops everything (benchmarks, fast sweeps)."""


class Broker(Protocol):
    """What the engine needs from any broker, simulated or live."""

    def submit(self, order: Order) -> None:
        """Take an order in status ``new``.

        The broker moves it to ``submitted`` and then ``accepted`` (or ``rejected``, with a reason
        that says how to fix it), reporting each change through the sink. It never raises for a
        bad order: refusals are ``OrderRejected`` events. An order with ``equity_fraction`` is
        sized by the broker when it executes (see :class:`~neo.domain.order.Order`).
        """

    def cancel(self, order_id: OrderId, reason: str = "") -> None:
        """Cancel a working order; unknown or already finished orders are ignored."""

    def cancel_all(self, instrument: InstrumentId | None = None, reason: str = "") -> None:
        """Cancel every working order (of one instrument when given)."""

    def open_orders(self, instrument: InstrumentId | None = None) -> Sequence[Order]:
        """Orders still working (``accepted`` or ``partially_filled``), oldest first."""

    def fee_rate(self, instrument: InstrumentId, *, maker: bool = False) -> float:
        """The fee a fill of ``instrument`` pays, as a fraction of notional."""

    def bar_hooks(self) -> BarHooks | None:
        """How to show this broker the loop's bars, or ``None`` when it needs none (a real
        venue). Read once, when the loop is built."""


BrokerFactory = Callable[[Mapping[InstrumentId, Instrument], EventSink, Ledger], Broker]
"""Builds a driver's broker from its instruments, the loop's event sink and the ledger (in which
the broker books fills); ``run_backtest`` and ``run_paper`` default to the simulated broker."""
