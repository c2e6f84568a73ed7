"""A local exchange for tests and for users: ``neo exchange-sim``.

Serves enough of Binance's or Kraken's API (REST, and Binance's websocket streams) for the
unmodified ccxt client to trade against it, over a seeded price path, with faults on demand and
a record of every order request it received. See docs/exchange-sim.md.

The server needs aiohttp (it comes with ccxt, the ``live`` extra); the engine, the path and the
fault queue do not, so the names below are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neo.exchange_sim.runner import SimHandle, make_sim, serve_in_thread

__all__ = ["SimHandle", "make_sim", "serve_in_thread"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from neo.exchange_sim import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'neo.exchange_sim' has no attribute {name!r}")
