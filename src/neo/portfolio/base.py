"""The portfolio layer's contract with the engine.

Strategies that speak in forecasts (``ctx.set_forecast``) rather than orders hand them to a
:class:`PortfolioConstructor`, which decides at each bar whether to rebalance and, if so, the
target quantity (signed, in units) of every instrument. The engine turns target quantities into
orders, and those go through risk like any other order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from neo.domain.account import AccountView
from neo.domain.bar import FloatArray
from neo.domain.ids import InstrumentId


class PortfolioConstructor(Protocol):
    """May also expose ``lookback: int`` (bars of returns it reads); the engine then hands it
    only that window, so a long run does not rebuild the whole history at every bar."""

    def rebalance(
        self,
        forecasts: Mapping[InstrumentId, float],
        account: AccountView,
        returns: Mapping[InstrumentId, FloatArray],
    ) -> Mapping[InstrumentId, float] | None:
        """Target quantities now, or None to leave the portfolio as it is.

        ``returns`` holds each instrument's simple close-to-close returns up to and including
        the current bar (never later), oldest first.
        """
        ...
