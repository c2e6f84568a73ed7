"""Concurrent ``POST /v1/candles`` of the same and of different series: each request gets its
own answer (its rows, its rejected positions), and every accepted row is stored once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.unit.service.conftest import MINUTE_MS, T0_MS, Service, candles, make_service

SERIES = ("AAA/USDT", "BBB/USDT", "CCC/USDT")
POSTS_PER_SERIES = 4
ROWS = 40


def _body(series: int, post: int) -> tuple[dict[str, Any], int]:
    """Post ``post`` of series ``series``: its own time range, and one bad row at a position
    unique to it (high below low), returned beside the body."""
    start = T0_MS + post * ROWS * MINUTE_MS
    rows = candles(ROWS, start_ms=start, price=100.0 + series)
    bad = (3 * series + 7 * post + 1) % ROWS
    rows[bad] = {**rows[bad], "high": rows[bad]["low"] - 1.0}
    body = {"venue": "sim", "symbol": SERIES[series], "timeframe": "1m", "candles": rows}
    return body, bad


def test_concurrent_posts_each_get_their_own_answer_and_stored_equals_accepted(
    service: Service,
) -> None:
    jobs = [(s, p) for p in range(POSTS_PER_SERIES) for s in range(len(SERIES))]
    start = threading.Barrier(len(jobs))

    def post(job: tuple[int, int]) -> dict[str, Any]:
        body, _ = _body(*job)
        start.wait()  # all requests in flight together
        answer = service.client.post("/v1/candles", json=body, headers=service.auth("trade"))
        assert answer.status_code == 200, answer.text
        payload: dict[str, Any] = answer.json()
        return payload

    with ThreadPoolExecutor(len(jobs)) as pool:
        answers = dict(zip(jobs, pool.map(post, jobs), strict=True))

    for (series, number), report in answers.items():
        body, bad = _body(series, number)
        assert report["instrument"] == f"{SERIES[series]}@sim"
        assert report["rows_read"] == ROWS
        assert report["accepted"] == ROWS - 1 and report["rejected"] == 1
        assert [(r["row"], r["reasons"]) for r in report["rejected_rows"]] == [
            (bad, ["ohlc_order"])
        ]
        assert report["rejected_rows"][0]["ts_ns"] == body["candles"][bad]["timestamp"] * 10**6
        good = [c["timestamp"] for i, c in enumerate(body["candles"]) if i != bad]
        assert report["first_ts_ns"] == good[0] * 10**6
        assert report["last_ts_ns"] == good[-1] * 10**6
        assert report["inserted"] == ROWS - 1

    read = service.auth("read")
    for series, symbol in enumerate(SERIES):
        accepted = sum(a["accepted"] for (s, _), a in answers.items() if s == series)
        stats = service.client.get(
            "/v1/stats", params={"venue": "sim", "symbol": symbol}, headers=read
        ).json()
        assert stats["rows"] == accepted == POSTS_PER_SERIES * (ROWS - 1)
        page = service.client.get(
            "/v1/candles",
            params={"venue": "sim", "symbol": symbol, "limit": 10_000},
            headers=read,
        ).json()["candles"]
        sent = {
            c["timestamp"]: c["close"]
            for p in range(POSTS_PER_SERIES)
            for i, c in enumerate(_body(series, p)[0]["candles"])
            if i != _body(series, p)[1]
        }
        assert {c["timestamp"]: c["close"] for c in page} == sent
        quarantine = service.client.get(
            "/v1/quarantine", params={"venue": "sim", "symbol": symbol}, headers=read
        ).json()
        assert quarantine["rows"] == POSTS_PER_SERIES
        events = service.client.get(
            "/v1/stats", params={"venue": "sim", "symbol": symbol}, headers=read
        ).json()["provenance"]["events"]
        assert sum(e["inserted"] for e in events) == accepted  # every write logged


@pytest.fixture
def two_threads() -> Iterator[Service]:
    yield from make_service(service={"ingest_threads": 2})


def test_at_most_ingest_threads_posts_are_stored_at_once(two_threads: Service) -> None:
    """``service.ingest_threads`` bounds the POSTs being stored together (40 threads
    contending for the GIL and the journal stored fewer candles per second than 4 to 8)."""
    service = two_threads
    store = service.client.app.state.neo.api.store  # type: ignore[attr-defined]
    write = store.write
    active, most = [0], [0]
    changed = threading.Condition()

    def gated(*args: Any, **kwargs: Any) -> Any:
        with changed:
            active[0] += 1
            most[0] = max(most[0], active[0])
            changed.notify_all()
            # a third writer would arrive here within milliseconds if let in
            changed.wait_for(lambda: active[0] >= 3, timeout=0.5)
        try:
            return write(*args, **kwargs)
        finally:
            with changed:
                active[0] -= 1

    store.write = gated
    start = threading.Barrier(3)

    def post(series: int) -> int:
        body, _ = _body(series, 0)
        start.wait()
        answer = service.client.post("/v1/candles", json=body, headers=service.auth("trade"))
        assert answer.status_code == 200, answer.text
        return int(answer.json()["accepted"])

    with ThreadPoolExecutor(3) as pool:
        accepted = list(pool.map(post, range(3)))
    assert accepted == [ROWS - 1] * 3
    assert most[0] == 2
