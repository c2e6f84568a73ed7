"""The risk layer's contract with the engine: every order passes ``check`` before it leaves.

The engine calls, in every mode: ``check`` for each order it is about to submit (denied orders
never reach the broker and become RiskDenied events), ``on_fill`` after each fill, and
``on_bar`` after each bar is processed so portfolio limits (daily loss, drawdown) can engage the
kill switch, whose :class:`RiskActions` the engine carries out at once.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from neo.domain.account import AccountView
from neo.domain.fill import Fill
from neo.domain.ids import InstrumentId
from neo.domain.order import Order


class RiskVerdict(msgspec.Struct, frozen=True):
    approved: bool
    code: str = ""
    reason: str = ""


APPROVED = RiskVerdict(True)


class RiskActions(msgspec.Struct, frozen=True):
    """What the kill switch asks the engine to do now."""

    cancel_all: bool = False
    orders: tuple[Order, ...] = ()
    reason: str = ""


NO_ACTIONS = RiskActions()


class RiskGate(Protocol):
    def check(self, order: Order, account: AccountView) -> RiskVerdict: ...

    def on_fill(self, fill: Fill, account: AccountView) -> None: ...

    def on_bar(self, account: AccountView) -> RiskActions: ...


class StalenessSource(Protocol):
    """Whether an instrument's market data is too old to open positions on (e.g. the exchange
    feed, :class:`neo.adapters.ccxt.CcxtBarFeed`). ``engine_ts`` is the engine time (ns) of the
    decision, so a source can also judge a bar that arrived late (a back-filled gap)."""

    def is_stale(self, instrument: InstrumentId, engine_ts: int | None = None) -> bool: ...


class PassThroughRiskGate:
    """Approves everything: the engine's default until risk limits are configured."""

    def check(self, order: Order, account: AccountView) -> RiskVerdict:
        return APPROVED

    def on_fill(self, fill: Fill, account: AccountView) -> None:
        return None

    def on_bar(self, account: AccountView) -> RiskActions:
        return NO_ACTIONS
