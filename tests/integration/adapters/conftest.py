"""The real ccxt client (through ``make_exchange``) against ``neo exchange-sim`` on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from neo.adapters.ccxt import ExchangeConfig, load_instruments, make_exchange
from neo.adapters.ccxt.broker import CcxtBroker
from neo.adapters.ccxt.journal import MemoryJournal
from neo.adapters.ccxt.outcome import OutcomePolicy
from neo.adapters.ccxt.ratelimit import Backoff, RetryBudget
from neo.domain.events import Event
from neo.exchange_sim import SimHandle, serve_in_thread
from neo.exchange_sim.client import KRAKEN_SIM_SECRET, SIM_KEY, SIM_SECRET
from neo.execution.ledger import Ledger

ORDER_PATH = {"binance": "/api/v3/order", "kraken": "/0/private/AddOrder"}
QUERY_PATH = {"binance": "/api/v3/order", "kraken": "/0/private/QueryOrders"}
SYMBOL = "BTC/USDT"
BASE_FEE = {"binance": 0.001, "kraken": 0.0}
"""The fee each dialect takes in the coins bought: the sim's Binance takes a buy's fee out of
them (as Binance spot does), its Kraken charges fees in the quote currency."""


def received(sim: SimHandle, quantity: float) -> float:
    """What a buy of ``quantity`` leaves in the account, and so in the ledger."""
    return quantity * (1.0 - BASE_FEE[sim.dialect])


def sim_config(sim: SimHandle, **changes: Any) -> ExchangeConfig:
    secret = KRAKEN_SIM_SECRET if sim.dialect == "kraken" else SIM_SECRET
    values: dict[str, Any] = {
        "url": sim.url, "api_key": SecretStr(SIM_KEY), "secret": SecretStr(secret),
        "timeout_ms": 1500, "rate_limit_ms": 5.0,
    }  # fmt: skip
    values.update(changes)
    return ExchangeConfig(**values)


def _served(dialect: str) -> Iterator[SimHandle]:
    handle = serve_in_thread(dialect, seed=11, history_bars=600)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(params=["binance", "kraken"])
def sim(request: pytest.FixtureRequest) -> Iterator[SimHandle]:
    yield from _served(request.param)


@pytest.fixture
def binance_sim() -> Iterator[SimHandle]:
    yield from _served("binance")


@pytest.fixture
def kraken_sim() -> Iterator[SimHandle]:
    yield from _served("kraken")


class Rig:
    """A CcxtBroker on a sim, with its events, ledger and journal at hand."""

    def __init__(self, sim: SimHandle, **config: Any) -> None:
        self.sim = sim
        self.exchange = make_exchange(sim.dialect, sim_config(sim, **config), credentials=True)
        self.instruments = load_instruments(self.exchange, [SYMBOL])
        self.events: list[Event] = []
        self.ledger = Ledger(100_000.0, self.instruments)
        self.journal = MemoryJournal(tag="t")
        self.broker = CcxtBroker(
            self.exchange, self.instruments, self.events.append, self.ledger,
            journal=self.journal, session="test",
            policy=OutcomePolicy(strikes_to_resend=2, strikes_to_lost=3, resolve_attempts=6),
            backoff=Backoff(base_s=0.05, cap_s=0.5, ban_s=0.2, seed=1),
            budget=RetryBudget(attempts=5, max_wait_s=10.0),
        )  # fmt: skip
        self.instrument = next(iter(self.instruments))

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events]

    def sim_orders(self) -> list[dict[str, Any]]:
        return self.sim.orders()


@pytest.fixture
def rig_factory() -> Callable[..., Rig]:
    return Rig
