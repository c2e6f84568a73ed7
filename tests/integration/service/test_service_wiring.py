"""The service wires its parts together: candles POSTed to ``neo serve`` are counted at
``/metrics`` and, with a Redis bus configured, published for the trading processes; a paper
session started through the API reports its own metrics under its id."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe
from tests.redis_env import fresh_name, require_redis
from tests.unit.service.conftest import Service, candles, make_service

DEADLINE_S = 30.0


def _samples(service: Service, name: str) -> list[Any]:
    text = service.client.get("/metrics").text
    return [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def _value(service: Service, name: str, **labels: str) -> float:
    return sum(
        s.value
        for s in _samples(service, name)
        if all(s.labels.get(k) == v for k, v in labels.items())
    )


@pytest.fixture
def service() -> Iterator[Service]:
    yield from make_service()


@pytest.fixture
def redis_service() -> Iterator[Service]:
    url = require_redis()
    yield from make_service(redis={"url": url})


def test_posted_candles_are_counted_and_published_to_the_redis_bus(
    redis_service: Service,
) -> None:
    import redis

    from neo.service.redis_bus import stream_key

    venue = fresh_name("wire")
    rows = candles(5)
    rows[3] = {**rows[3], "high": rows[3]["low"] - 1.0}  # high below low: rejected, kept out
    before = _value(redis_service, "neo_candles_accepted_total", venue=venue)
    answer = redis_service.client.post(
        "/v1/candles",
        json={"venue": venue, "symbol": "BTC/USDT", "timeframe": "1m", "candles": rows},
        headers=redis_service.auth("trade"),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 4
    assert _value(redis_service, "neo_candles_accepted_total", venue=venue) - before == 4
    client = redis.Redis.from_url(redis_service.settings.redis.url or "")
    try:
        key = stream_key(InstrumentId(venue, "BTC/USDT"), Timeframe.parse("1m"))
        entries = client.xrange(key)
    finally:
        client.close()
    published_ms = [int(ident.decode().split("-")[0]) for ident, _ in entries]
    expected = [row["timestamp"] for i, row in enumerate(rows) if i != 3]
    assert published_ms == expected  # the accepted candles, in order; the rejected one is not


def test_a_session_started_through_the_api_reports_its_metrics(service: Service) -> None:
    body = {"strategy": "sma_cross", "params": ["fast=3", "slow=8"], "cycles": 120, "seed": 3}
    started = service.client.post("/v1/sessions", json=body, headers=service.auth("trade"))
    assert started.status_code == 201, started.text
    sid = started.json()["id"]
    deadline = time.monotonic() + DEADLINE_S
    while (
        service.client.get(f"/v1/sessions/{sid}", headers=service.auth("read")).json()["status"]
        != "stopped"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert _value(service, "neo_bars_processed_total", session=sid) == 120
    assert _samples(service, "neo_equity") and any(
        s.labels.get("session") == sid for s in _samples(service, "neo_equity")
    )


def test_a_session_records_every_order_change_and_fills_name_their_order(
    service: Service,
) -> None:
    body = {"strategy": "sma_cross", "params": ["fast=3", "slow=8"], "cycles": 150, "seed": 3}
    sid = service.client.post("/v1/sessions", json=body, headers=service.auth("trade")).json()["id"]
    deadline = time.monotonic() + DEADLINE_S
    while (
        service.client.get(f"/v1/sessions/{sid}", headers=service.auth("read")).json()["status"]
        != "stopped"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    read = service.auth("read")
    orders = service.client.get(f"/v1/sessions/{sid}/orders", headers=read).json()["orders"]
    fills = service.client.get(f"/v1/sessions/{sid}/fills", headers=read).json()["fills"]
    assert fills
    latest: dict[str, str] = {}
    for row in orders:
        latest[row["order"]["id"]] = row["order"]["status"]
    # a market order that filled ends "filled" in the record, not "submitted"
    assert {fill["order_id"] for fill in fills} <= {
        oid for oid, status in latest.items() if status == "filled"
    }
    assert "OrderAccepted" in {row["event"] for row in orders}


def test_a_job_reports_its_end_on_the_event_hub(service: Service) -> None:
    state = service.client.app.state.neo  # type: ignore[attr-defined]
    seen: list[dict[str, Any]] = []
    state.jobs._publish = lambda kind, data: seen.append({"kind": kind, **data})
    body = {"kind": "backtest", "strategy": "sma_cross", "symbols": "NOPE/USDT"}
    job = service.client.post("/v1/jobs", json=body, headers=service.auth("trade")).json()
    deadline = time.monotonic() + DEADLINE_S
    while not any(e.get("status") == "failed" for e in seen):
        assert time.monotonic() < deadline, seen
        time.sleep(0.05)
    assert [e["status"] for e in seen if e["job"] == job["id"]] == ["running", "failed"]
