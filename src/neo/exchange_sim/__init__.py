"""A local exchange for tests and for users: ``neo exchange-sim``.

Serves enough of Binance's or Kraken's API (REST, and Binance's websocket streams) for the
unmodified ccxt client to trade against it, over a seeded price path, with faults on demand and
a record of every order request it received. See docs/exchange-sim.md.
"""

from neo.exchange_sim.runner import SimHandle, make_sim, serve_in_thread

__all__ = ["SimHandle", "make_sim", "serve_in_thread"]
