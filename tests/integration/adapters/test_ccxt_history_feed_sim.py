"""History fetch and the bar feed, with the real ccxt client against neo exchange-sim."""

from __future__ import annotations

import asyncio
import json
import logging
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from neo.adapters.ccxt import CcxtBarFeed, fetch_history, make_exchange
from neo.adapters.ccxt.ratelimit import Backoff
from neo.data.ingest import DataIngestionAPI
from neo.data.store.historical import HistoricalDataStore
from neo.domain import Bar, InstrumentId
from neo.exchange_sim import SimHandle
from tests.integration.adapters.conftest import sim_config

pytestmark = pytest.mark.integration

MINUTE_MS = 60_000


def sim_bars(sim: SimHandle, symbol: str = "BTC/USDT") -> list[Any]:
    return sim.call(lambda: list(sim.engine.paths[symbol].bars))


def test_history_pages_into_the_store_equal_the_sims_path(sim: SimHandle, tmp_path: Path) -> None:
    exchange = make_exchange(sim.dialect, sim_config(sim))
    api = DataIngestionAPI(HistoricalDataStore(tmp_path / "store"))
    path = sim_bars(sim)
    since = path[0].open_ms * 1_000_000
    seen: list[int] = []
    report = fetch_history(
        exchange, api, "BTC/USDT", "1m", since, limit=97, on_page=lambda rows, ts: seen.append(rows)
    )
    assert report.pages >= 6 and seen == sorted(seen)  # 600 bars in pages of 97
    assert report.rows_fetched == report.accepted == len(path)  # each bar once, forming bar not
    stored = api.store.read(InstrumentId(sim.dialect, "BTC/USDT"), "1m")
    np.testing.assert_array_equal(stored.ts, [b.open_ms * 1_000_000 for b in path])
    np.testing.assert_allclose(stored.close, [float(b.close) for b in path])
    np.testing.assert_allclose(stored.volume, [float(b.volume) for b in path])
    again = fetch_history(exchange, api, "BTC/USDT", "1m", since, limit=97)
    assert again.stored == 0 and again.accepted == len(path)  # idempotent


def test_a_418_during_history_backs_off_and_completes(
    binance_sim: SimHandle, tmp_path: Path
) -> None:
    exchange = make_exchange("binance", sim_config(binance_sim))
    api = DataIngestionAPI(HistoricalDataStore(tmp_path / "store"))
    binance_sim.add_fault("418", "/api/v3/klines", count=1, retry_after=1)
    since = sim_bars(binance_sim)[0].open_ms * 1_000_000
    report = fetch_history(
        exchange,
        api,
        "BTC/USDT",
        "1m",
        since,
        limit=500,
        backoff=Backoff(base_s=0.05, ban_s=0.1, seed=3),
    )
    assert report.accepted == 600
    assert exchange.neo_limiter.waited_s >= 0.9  # the ban's Retry-After paused the limiter


def test_neo_data_fetch_json_and_logs_never_carry_a_key(
    binance_sim: SimHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from neo.cli.main import app

    monkeypatch.setattr(logging.getLogger(), "handlers", list(logging.getLogger().handlers))
    monkeypatch.setenv("NEO_EXCHANGES__BINANCE__API_KEY", "key-never-shown-1")
    monkeypatch.setenv("NEO_EXCHANGES__BINANCE__SECRET", "secret-never-shown-2")
    since = str(sim_bars(binance_sim)[0].open_ms)
    args = [
        "--log-level",
        "DEBUG",
        "data",
        "fetch",
        "--exchange",
        "binance",
        "--symbols",
        "BTC/USDT",
        "--since",
        since,
        "--exchange-url",
        binance_sim.url,
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.stdout)["reports"]
    assert report["accepted"] == 600 and report["source"].startswith("ccxt:binance@127.0.0.1")
    assert "DEBUG" in result.stderr or "exchange binance ready" in result.stderr
    for text in (result.stdout, result.stderr):
        assert "key-never-shown" not in text and "secret-never-shown" not in text


def test_private_calls_never_log_the_api_key(
    binance_sim: SimHandle, caplog: pytest.LogCaptureFixture
) -> None:
    """ccxt logs every request's headers (X-MBX-APIKEY) at DEBUG: make_exchange keeps its
    loggers above DEBUG, so even a DEBUG root logger never sees the key."""
    caplog.set_level(logging.DEBUG)
    config = sim_config(binance_sim)
    exchange = make_exchange("binance", config, credentials=True)
    exchange.fetch_balance()
    key = config.api_key.get_secret_value()  # type: ignore[union-attr]
    secret = config.secret.get_secret_value()  # type: ignore[union-attr]
    assert "exchange binance ready" in caplog.text
    assert key not in caplog.text and secret not in caplog.text
    assert key not in repr(config) and key not in config.model_dump_json()


def _collect(feed: CcxtBarFeed, n: int, driver: Any, timeout: float = 20.0) -> list[Bar]:
    async def main() -> list[Bar]:
        got: list[Bar] = []
        stream = feed.stream()
        task = asyncio.create_task(driver())
        try:
            async with asyncio.timeout(timeout):
                async for bar in stream:
                    got.append(bar)
                    if len(got) >= n:
                        break
        finally:
            task.cancel()
            await stream.aclose()
            await feed.exchange.close()
        return got

    return asyncio.run(main())


def _check(bars: list[Bar], sim: SimHandle) -> None:
    ts = [b.ts // 1_000_000 for b in bars]
    assert ts == sorted(set(ts)), "in order, no duplicates"
    assert all(b - a == MINUTE_MS for a, b in pairwise(ts)), "no gap"
    truth = {b.open_ms: float(b.close) for b in sim_bars(sim)}
    assert all(truth[t] == bar.close for t, bar in zip(ts, bars, strict=True)), "closed values"


def test_the_websocket_feed_yields_closed_bars_once_across_a_cut_and_a_stall(
    binance_sim: SimHandle,
) -> None:
    exchange = make_exchange("binance", sim_config(binance_sim), asynchronous=True)
    feed = CcxtBarFeed(
        exchange,
        ["BTC/USDT"],
        "1m",
        heartbeat_s=0.6,
        backoff=Backoff(base_s=0.05, cap_s=0.2, seed=2),
    )
    assert feed.mode == "watch"

    async def drive() -> None:
        await asyncio.sleep(0.8)  # subscribed
        for step in range(9):
            if step == 3:
                binance_sim.add_fault("ws_cut", "*")
            if step == 6:
                binance_sim.add_fault("ws_stall", "*")
            await asyncio.to_thread(binance_sim.advance, 1)
            await asyncio.sleep(0.3)
        while True:
            await asyncio.sleep(0.5)
            await asyncio.to_thread(binance_sim.advance, 1)

    bars = _collect(feed, 10, drive)
    _check(bars, binance_sim)
    assert feed.stats.reconnects >= 2 and feed.stats.backfilled >= 1
    assert feed.stats.heartbeats_missed >= 1


@pytest.mark.parametrize(
    ("close_after_fetch", "settle_s"),
    [(2, 0.0), (3, 0.3)],
    ids=["before-the-subscription", "while-a-rest-snapshot-is-in-flight"],
)
def test_a_bar_closing_around_a_subscription_arrives_with_its_closed_values(
    binance_sim: SimHandle, close_after_fetch: int, settle_s: float
) -> None:
    """The sim closes the forming bar right after a REST page returned it as forming.

    After fetch 2 (the back-fill's last page), before the websocket subscription is live: its
    closing kline goes to nobody and the sim stays silent (it only speaks when a bar closes; in
    the SIGKILL tests the next bar waits for this one). The feed used to wait for the next
    kline, i.e. forever here; now, once subscribed, it back-fills the gap over REST.

    After fetch 3 (that gap back-fill), with the subscription live: the closing kline arrives
    (``settle_s``) while the REST page holding the bar's forming snapshot is still to be
    folded in; the snapshot must not be yielded as the closed bar."""
    exchange = make_exchange("binance", sim_config(binance_sim), asynchronous=True)
    closed = sim_bars(binance_sim)
    since = closed[-3].open_ms
    feed = CcxtBarFeed(exchange, ["BTC/USDT"], "1m", heartbeat_s=60.0, since_ms=since)
    fetch = exchange.fetch_ohlcv
    calls = 0

    async def fetch_then_close_the_forming_bar(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        rows = await fetch(*args, **kwargs)
        calls += 1
        if calls == close_after_fetch:
            await asyncio.to_thread(binance_sim.advance, 1)
            await asyncio.sleep(settle_s)
        return rows

    exchange.fetch_ohlcv = fetch_then_close_the_forming_bar

    async def idle() -> None:
        await asyncio.sleep(3600)

    bars = _collect(feed, 4, idle, timeout=10.0)
    _check(bars, binance_sim)
    assert [b.ts // 1_000_000 for b in bars][-1] == sim_bars(binance_sim)[-1].open_ms
    assert bars[-1].volume == float(sim_bars(binance_sim)[-1].volume) > 0  # not the snapshot
    assert feed.stats.heartbeats_missed == 0
    assert feed.stats.subscriptions_acked == 1 and feed.stats.subscriptions_unacked == 0


def test_the_polling_feed_yields_each_closed_bar_once(sim: SimHandle) -> None:
    exchange = make_exchange(sim.dialect, sim_config(sim), asynchronous=True)
    feed = CcxtBarFeed(exchange, ["BTC/USDT"], "1m", mode="poll", poll_s=0.05)

    async def drive() -> None:
        while True:
            await asyncio.sleep(0.15)
            await asyncio.to_thread(sim.advance, 1)

    bars = _collect(feed, 4, drive)
    _check(bars, sim)
    assert feed.stats.polls > 4  # polled more often than bars closed: each still once


def test_staleness_is_flagged_after_two_bars_without_data() -> None:
    """On a fake clock: no bar for more than two bar lengths flags the instrument stale."""
    now = [0.0]
    changes: list[tuple[InstrumentId, bool]] = []
    exchange = make_exchange("binance", sim_config_url("http://127.0.0.1:9"), asynchronous=True)
    feed = CcxtBarFeed(
        exchange,
        ["BTC/USDT"],
        "1m",
        clock=lambda: now[0],
        on_stale=lambda i, stale, age: changes.append((i, stale)),
    )
    iid = feed.instruments[0]
    now[0] = 119.0
    feed.check_staleness()
    assert not feed.is_stale(iid) and changes == []
    now[0] = 121.0
    feed.check_staleness()
    assert feed.is_stale(iid) and changes == [(iid, True)]
    feed._emit(feed.series["BTC/USDT"], [60_000.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    feed.check_staleness()
    assert not feed.is_stale(iid) and changes == [(iid, True), (iid, False)]
    asyncio.run(exchange.close())


def sim_config_url(url: str) -> Any:
    from neo.adapters.ccxt import ExchangeConfig

    return ExchangeConfig(url=url, api_key=SecretStr("k"), secret=SecretStr("s"))


def test_fetched_bars_never_silently_change_another_sources_bars(
    binance_sim: SimHandle, tmp_path: Path
) -> None:
    from neo.domain.errors import DataConflictError

    exchange = make_exchange("binance", sim_config(binance_sim))
    api = DataIngestionAPI(HistoricalDataStore(tmp_path / "store"))
    path = sim_bars(binance_sim)[:50]
    ts = [b.open_ms * 1_000_000 for b in path]
    other = {
        "ts": ts,
        "open": [1.0] * 50,
        "high": [2.0] * 50,
        "low": [0.5] * 50,
        "close": [1.5] * 50,
        "volume": [1.0] * 50,
    }
    api.ingest_frame(
        other,
        instrument=InstrumentId("binance", "BTC/USDT"),
        timeframe="1m",
        source="somewhere-else",
    )
    with pytest.raises(DataConflictError):
        fetch_history(exchange, api, "BTC/USDT", "1m", ts[0], ts[-1] + 60_000_000_000)
    report = fetch_history(
        exchange, api, "BTC/USDT", "1m", ts[0], ts[-1] + 60_000_000_000, replace=True
    )
    assert report.accepted == 50
    stored = api.store.read(InstrumentId("binance", "BTC/USDT"), "1m")
    np.testing.assert_allclose(stored.close, [float(b.close) for b in path])
