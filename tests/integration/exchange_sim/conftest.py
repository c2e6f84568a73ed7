"""A sim per test (port 0, 127.0.0.1), stopped whatever the test does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.optional import require

require("ccxt")  # the live extra; CI has it, so there these tests fail rather than skip

from neo.exchange_sim import SimHandle, serve_in_thread  # noqa: E402  # needs aiohttp (ccxt's)


@pytest.fixture
def binance_sim() -> Iterator[SimHandle]:
    handle = serve_in_thread("binance", seed=11, history_bars=1500)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def kraken_sim() -> Iterator[SimHandle]:
    handle = serve_in_thread("kraken", seed=11, history_bars=1500)
    try:
        yield handle
    finally:
        handle.stop()
