"""What the server needs from an exchange dialect (Binance, Kraken): its routes and error shapes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

if TYPE_CHECKING:
    from neo.exchange_sim.engine import EngineConfig
    from neo.exchange_sim.faults import Fault
    from neo.exchange_sim.server import ExchangeSim


@dataclass(frozen=True, slots=True)
class OrderRequestInfo:
    """An order request as the record shows it: what it does and the client id it carries."""

    action: str  # create | cancel | query
    client_order_id: str | None
    params: dict[str, Any]


class Dialect(Protocol):
    """One exchange's wire format over the shared engine."""

    name: str

    def engine_config(self, seed: int) -> EngineConfig:
        """The engine defaults this exchange implies (fees, fee asset)."""
        ...

    def add_routes(self, app: web.Application, sim: ExchangeSim) -> None:
        """Register the exchange's REST (and websocket) routes."""
        ...

    async def describe(self, request: web.Request) -> OrderRequestInfo | None:
        """The order request carried by ``request``, or None when it is not one."""
        ...

    def error(self, kind: str, message: str) -> web.Response:
        """The exchange's own response for an engine error kind (or an injected one)."""
        ...

    def throttled(self, fault: Fault) -> web.Response:
        """The exchange's 429 / 418 response."""
        ...
