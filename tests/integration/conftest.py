"""Fixtures the live tests share: a fast Binance sim on 127.0.0.1 and its keys."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from neo.exchange_sim import SimHandle


@pytest.fixture
def sim() -> Iterator[SimHandle]:
    """``neo exchange-sim --dialect binance`` closing a bar every 50 ms (seed 5, 300 bars of
    history); a test module or folder may define its own ``sim``."""
    pytest.importorskip("ccxt")
    from neo.exchange_sim import serve_in_thread

    handle = serve_in_thread("binance", seed=5, history_bars=300, bar_seconds=0.05)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sim's API keys, where NEO reads an exchange's keys (the environment)."""
    pytest.importorskip("ccxt")
    from neo.exchange_sim.client import SIM_KEY, SIM_SECRET

    monkeypatch.setenv("NEO_EXCHANGES__BINANCE__API_KEY", SIM_KEY)
    monkeypatch.setenv("NEO_EXCHANGES__BINANCE__SECRET", SIM_SECRET)
