"""The Redis candle bus against a real server: order, acknowledgement, redelivery after a crash,
idempotent publishing and processing, and the latest-bar cache."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import pytest

from neo.domain.bar import Bar, BarBatch
from neo.domain.errors import ConfigError, NetworkError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe
from tests.redis_env import fresh_name, require_redis

redis = pytest.importorskip("redis")
from neo.service.cache import BarCache  # noqa: E402
from neo.service.redis_bus import (  # noqa: E402
    RedisBarFeed,
    done_key,
    pending_count,
    publish_candles,
    stream_key,
)

pytestmark = pytest.mark.integration
TF = Timeframe.parse("1m")
MINUTE = 60_000_000_000
T0 = 1_704_067_200_000_000_000  # 2024-01-01


@pytest.fixture
def url() -> str:
    return require_redis()


@pytest.fixture
def client(url: str) -> Iterator[Any]:
    connection = redis.Redis.from_url(url)
    yield connection
    connection.close()


@pytest.fixture
def market() -> list[InstrumentId]:
    venue = fresh_name("t")
    return [InstrumentId(venue, "BTC/USDT"), InstrumentId(venue, "ETH/USDT")]


def bars(iid: InstrumentId, start: int, n: int) -> list[Bar]:
    return [
        Bar(instrument=iid, timeframe=TF, ts=T0 + (start + k) * MINUTE, open=100.0 + k,
            high=101.0 + k, low=99.0 + k, close=100.5 + k, volume=float(k + 1))
        for k in range(n)
    ]  # fmt: skip


def consume(feed: RedisBarFeed, stop_after: int | None = None) -> list[Bar]:
    """Run the feed; with ``stop_after`` abandon it after that many bars, the last one
    unprocessed (as a crash in its cycle would: it is never committed)."""

    async def run() -> list[Bar]:
        got: list[Bar] = []
        stream = feed.stream()
        try:
            async for bar in stream:
                got.append(bar)
                if stop_after is not None and len(got) == stop_after:
                    break
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        return got

    return asyncio.run(run())


def keys(got: list[Bar]) -> list[tuple[str, int]]:
    return [(b.instrument.symbol, b.ts) for b in got]


def test_candles_arrive_in_time_order_across_instruments_and_are_acknowledged(
    url: str, client: Any, market: list[InstrumentId]
) -> None:
    btc, eth = market
    publish_candles(bars(btc, 0, 30), url=url)  # one instrument's whole run first
    publish_candles(bars(eth, 0, 30), url=url)
    group = fresh_name("g")
    feed = RedisBarFeed(url, market, TF, group=group, block_ms=50, idle_exit=1)
    got = consume(feed)
    assert len(got) == 60
    assert [b.ts for b in got] == sorted(b.ts for b in got)  # merged by bar time
    for iid in market:
        mine = [b for b in got if b.instrument == iid]
        assert mine == bars(iid, 0, 30)  # every field intact, in order
        assert pending_count(client, stream_key(iid, TF), group) == 0
    markers = client.hgetall(done_key(group))
    assert {int(v) for v in markers.values()} == {(T0 + 29 * MINUTE) // 1_000_000}


def test_publishing_again_adds_nothing_and_an_older_candle_is_refused(
    url: str, client: Any, market: list[InstrumentId]
) -> None:
    btc = market[0]
    first = publish_candles(bars(btc, 0, 10), url=url)
    again = publish_candles(bars(btc, 0, 12), url=url)  # a restarted producer
    late = publish_candles(bars(btc, 3, 1), url=url)
    assert (first.published, first.duplicates) == (10, 0)
    assert (again.published, again.duplicates) == (2, 10)
    assert (late.published, late.duplicates) == (0, 1)
    assert client.xlen(stream_key(btc, TF)) == 12


def test_a_batch_publishes_like_its_bars(url: str, client: Any, market: list[InstrumentId]) -> None:
    btc = market[0]
    rows = bars(btc, 0, 1_200)
    batch = BarBatch.from_arrays(
        btc, TF, ts=[b.ts for b in rows], open=[b.open for b in rows],
        high=[b.high for b in rows], low=[b.low for b in rows], close=[b.close for b in rows],
        volume=[b.volume for b in rows],
    )  # fmt: skip
    assert publish_candles(batch, url=url).published == 1_200
    got = consume(RedisBarFeed(url, [btc], TF, group=fresh_name("g"), block_ms=50, idle_exit=1))
    assert got == rows


def test_a_crashed_consumer_resumes_without_loss_or_repeat(
    url: str, client: Any, market: list[InstrumentId]
) -> None:
    for iid in market:
        publish_candles(bars(iid, 0, 40), url=url)
    group = fresh_name("g")
    options: dict[str, Any] = {"group": group, "block_ms": 50, "batch": 25}
    first = consume(RedisBarFeed(url, market, TF, **options), stop_after=17)
    # the 17th was handed out but its cycle never finished: not committed, still pending
    pending = sum(pending_count(client, stream_key(iid, TF), group) for iid in market)
    assert pending > 1
    processed = first[:16]
    resumed = RedisBarFeed(url, market, TF, idle_exit=1, **options)
    rest = consume(resumed)
    assert resumed.redelivered == pending  # taken back from the pending list, not lost
    assert rest[0] == first[16]
    assert sorted(keys(processed + rest)) == sorted(
        keys(bars(market[0], 0, 40) + bars(market[1], 0, 40))
    )  # every candle once
    assert len(set(keys(processed + rest))) == 80


def test_entries_of_a_dead_consumer_are_claimed_by_another(
    url: str, client: Any, market: list[InstrumentId]
) -> None:
    btc = market[0]
    publish_candles(bars(btc, 0, 20), url=url)
    group = fresh_name("g")
    dead = consume(RedisBarFeed(url, [btc], TF, group=group, consumer="a", block_ms=50), 5)
    other = RedisBarFeed(url, [btc], TF, group=group, consumer="b", block_ms=50, idle_exit=1,
                         claim_idle_ms=0)  # fmt: skip
    rest = consume(other)
    assert other.redelivered > 0
    assert keys(dead[:4] + rest) == keys(bars(btc, 0, 20))


def test_a_redelivered_candle_already_processed_is_skipped(
    url: str, client: Any, market: list[InstrumentId]
) -> None:
    btc = market[0]
    publish_candles(bars(btc, 0, 10), url=url)
    group = fresh_name("g")
    options: dict[str, Any] = {"group": group, "block_ms": 50, "idle_exit": 1}
    assert len(consume(RedisBarFeed(url, [btc], TF, **options))) == 10
    client.xgroup_setid(stream_key(btc, TF), group, "0")  # Redis hands everything out again
    publish_candles(bars(btc, 10, 2), url=url)
    again = RedisBarFeed(url, [btc], TF, **options)
    assert keys(consume(again)) == keys(bars(btc, 10, 2))  # only the new ones
    assert again.skipped == 10
    assert pending_count(client, stream_key(btc, TF), group) == 0


def test_the_feed_drives_the_paper_loop(url: str, market: list[InstrumentId]) -> None:
    from neo.engine.paper import run_paper

    for iid in market:
        publish_candles(bars(iid, 0, 25), url=url)
    feed = RedisBarFeed(url, market, TF, group=fresh_name("g"), limit=50, block_ms=50)
    result = asyncio.run(run_paper("sma_cross", feed, params={"fast": 2, "slow": 5}, status=False))
    assert result.bars == 50 and result.stopped_by == "feed ended"


def test_an_unreachable_server_is_one_clear_error(market: list[InstrumentId]) -> None:
    with pytest.raises(NetworkError, match=r"cannot reach Redis at redis://\*\*\*@127.0.0.1:1/0"):
        publish_candles(bars(market[0], 0, 1), url="redis://:pw@127.0.0.1:1/0")
    with pytest.raises(ConfigError, match=r"redis\.url"):
        publish_candles(bars(market[0], 0, 1))

    feed = RedisBarFeed("redis://127.0.0.1:1/0", market, TF)
    with pytest.raises(NetworkError, match=r"scripts/ci/redis\.sh start"):
        consume(feed)


def test_the_cache_keeps_the_latest_bar_and_features_with_a_ttl(
    url: str, client: Any, market: list[InstrumentId]
) -> None:
    btc = market[0]
    cache = BarCache(client, ttl_s=120)
    assert cache.latest_bar(btc, TF) is None
    rows = bars(btc, 0, 5)
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    cache.put_bars(shuffled)
    assert cache.latest_bar(btc, TF) == rows[-1]
    assert not cache.put_bar(rows[2])  # an older bar never moves the cache back
    assert cache.latest_bar(btc, TF) == rows[-1]
    assert 0 < client.ttl(f"neo:cache:bar:{btc.venue}:BTC/USDT:1m") <= 120
    assert cache.put_features(btc, TF, rows[-1].ts, {"rsi": 55.5, "ret_1": -0.001})
    assert not cache.put_features(btc, TF, rows[0].ts, {"rsi": 1.0})
    assert cache.features(btc, TF) == (rows[-1].ts, {"rsi": 55.5, "ret_1": -0.001})
    with pytest.raises(ConfigError, match="'ts'"):
        cache.put_features(btc, TF, rows[-1].ts, {"ts": 1.0})
    publish_candles(iter(bars(btc, 5, 3)), client=client, cache_ttl_s=60)  # the producer too
    assert cache.latest_bar(btc, TF) == bars(btc, 5, 3)[-1]


def test_ingest_publish_then_paper_bus_redis_in_process(
    url: str, client: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from typer.testing import CliRunner

    from neo.cli.main import app

    venue = fresh_name("cli")
    monkeypatch.setenv("NEO_REDIS__URL", url)
    data = tmp_path / "bars.csv"
    runner = CliRunner()
    made = runner.invoke(app, ["simulate", "--bars", "40", "--venue", venue, "--out", str(data)])
    assert made.exit_code == 0, made.output
    args = ["ingest", str(data), "--venue", venue, "--symbol", "BTC/USDT", "--publish", "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["bus"] == {"published": 40, "duplicates": 0}
    assert json.loads(runner.invoke(app, args).stdout)["bus"] == {"published": 0, "duplicates": 40}
    session = fresh_name("s")
    paper = ["paper", "--bus", "redis", "--venue", venue, "--symbol", "BTC/USDT", "--session",
             session, "--cycles", "25", "--json"]  # fmt: skip
    one = runner.invoke(app, paper)
    assert one.exit_code == 0, one.output
    assert json.loads(one.stdout)["bars"] == 25
    two = runner.invoke(app, [*paper[:-2], "15", "--json"])
    assert json.loads(two.stdout)["bars"] == 15  # the same session resumes after bar 25
    btc = InstrumentId(venue, "BTC/USDT")
    assert pending_count(client, stream_key(btc, TF), session) == 0
    assert (
        int(client.hget(done_key(session), stream_key(btc, TF))) == (T0 + 39 * MINUTE) // 1_000_000
    )
