"""The broker boundary: where orders leave the trading loop and events come back.

One Protocol serves backtest, paper and live trading. The simulated broker
(:class:`~neo.execution.simulated.SimulatedBroker`) fills against bars; the exchange adapter (a
later issue) implements the same four methods over ccxt.

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

from collections.abc import Callable, Sequence
from typing import Protocol

from neo.domain.events import Event
from neo.domain.ids import InstrumentId, OrderId
from neo.domain.order import Order

EventSink = Callable[[Event], None]
"""Receives every event the broker produces; the engine's bus publish, or ``list.append``."""


def discard_events(event: Event) -> None:
    """A sink that drops everything (benchmarks, fast sweeps)."""


class Broker(Protocol):
    """What the engine needs from any broker, simulated or live."""

    def submit(self, order: Order) -> None:
        """Take an order in status ``new``.

        The broker moves it to ``submitted`` and then ``accepted`` (or ``rejected``, with a reason
        that says how to fix it), reporting each change through the sink. It never raises for a
        bad order: refusals are ``OrderRejected`` events.
        """

    def cancel(self, order_id: OrderId, reason: str = "") -> None:
        """Cancel a working order; unknown or already finished orders are ignored."""

    def cancel_all(self, instrument: InstrumentId | None = None, reason: str = "") -> None:
        """Cancel every working order (of one instrument when given)."""

    def open_orders(self, instrument: InstrumentId | None = None) -> Sequence[Order]:
        """Orders still working (``accepted`` or ``partially_filled``), oldest first."""
