"""A service per test: its own data directory and SQLite state database, one key per scope."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

with warnings.catch_warnings():  # starlette's TestClient warns that httpx is deprecated for it
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from neo.app.keys import create_key, open_state
from neo.service.app import create_app
from neo.settings import NeoSettings, load_settings

MINUTE_MS = 60_000
T0_MS = 1_700_000_040_000  # on the minute


@dataclass
class Service:
    client: TestClient
    settings: NeoSettings
    keys: dict[str, str]

    def auth(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}


def candles(n: int, start_ms: int = T0_MS, price: float = 100.0) -> list[dict[str, Any]]:
    """``n`` valid one-minute candles, a gentle zig-zag."""
    rows = []
    for i in range(n):
        close = price * (1 + 0.001 * ((-1) ** i))
        rows.append(
            {"timestamp": start_ms + i * MINUTE_MS, "open": price, "high": max(price, close) + 0.5,
             "low": min(price, close) - 0.5, "close": close, "volume": 1.0 + i}
        )  # fmt: skip
        price = close
    return rows


def make_service(**overrides: Any) -> Iterator[Service]:
    settings = load_settings(**overrides)
    db = open_state(settings)
    keys = {
        scope: create_key(db, [scope], f"test {scope}")["key"]
        for scope in ("read", "trade", "admin")
    }
    with TestClient(create_app(settings, database=db)) as client:
        yield Service(client, settings, keys)


@pytest.fixture
def service() -> Iterator[Service]:
    yield from make_service()
