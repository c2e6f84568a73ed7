"""What the portfolio and risk layers may see of the account: a read-only view.

The execution ledger implements it in every mode; tests use small fakes. It is a Protocol so the
layers between strategy and execution never import the ledger itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from neo.domain.ids import InstrumentId
from neo.domain.order import Order


class AccountView(Protocol):
    @property
    def ts(self) -> int:
        """Engine time of this view, integer ns UTC."""

    @property
    def cash(self) -> float: ...

    @property
    def equity(self) -> float:
        """Cash plus the market value of every position at the last prices."""

    @property
    def gross_exposure(self) -> float:
        """Sum of |quantity × last price| over all positions."""

    @property
    def net_exposure(self) -> float:
        """Sum of quantity × last price over all positions."""

    @property
    def peak_equity(self) -> float:
        """Highest equity seen so far (for drawdown limits)."""

    @property
    def day_start_equity(self) -> float:
        """Equity at the start of the current UTC day (for daily loss limits)."""

    def position(self, instrument: InstrumentId) -> float:
        """Signed quantity held (0.0 when flat)."""

    def price(self, instrument: InstrumentId) -> float:
        """Last known price (close of the last complete bar); NaN when none yet."""

    def instruments(self) -> Sequence[InstrumentId]:
        """Every instrument with a position or a price."""

    def open_orders(self) -> Sequence[Order]:
        """Orders still working at the broker."""
