"""``service.ingest_processes``: candle POSTs stored by worker processes give the answers,
stored rows, quarantine, provenance, metrics and errors that the in-process path gives."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from neo.service.ingest_pool import named_series
from tests.unit.service.conftest import Service, make_service
from tests.unit.service.test_concurrent_posts import POSTS_PER_SERIES, ROWS, SERIES, _body
from tests.unit.service.test_ingest_metrics import _samples


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service with two ingest workers for the module (a worker starts in ~2 s)."""
    data_dir = tmp_path_factory.mktemp("pooled") / "neo-data"
    yield from make_service(data_dir=data_dir, service={"ingest_processes": 2})


@pytest.fixture
def local() -> Iterator[Service]:
    yield from make_service()


def _post_all(service: Service) -> dict[tuple[int, int], dict[str, Any]]:
    jobs = [(s, p) for p in range(POSTS_PER_SERIES) for s in range(len(SERIES))]
    start = threading.Barrier(len(jobs))

    def post(job: tuple[int, int]) -> dict[str, Any]:
        body, _ = _body(*job)
        start.wait()
        answer = service.client.post("/v1/candles", json=body, headers=service.auth("trade"))
        assert answer.status_code == 200, answer.text
        payload: dict[str, Any] = answer.json()
        return payload

    # each series' posts in order (the later ones continue the series), series at once
    answers: dict[tuple[int, int], dict[str, Any]] = {}
    for number in range(POSTS_PER_SERIES):
        start = threading.Barrier(len(SERIES))
        batch = [(s, number) for s in range(len(SERIES))]
        with ThreadPoolExecutor(len(batch)) as pool:
            answers.update(zip(batch, pool.map(post, batch), strict=True))
    return answers


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    report = dict(report)
    report.pop("seconds", None)  # timing
    report.pop("quarantine_path", None)  # each service has its own data directory
    report["source"] = report["source"].split(":")[0]  # each its own key id
    return report


def test_worker_processes_answer_and_store_as_this_process_does(
    pooled: Service, local: Service
) -> None:
    assert pooled.client.app.state.neo.ingest_pool is not None  # type: ignore[attr-defined]
    got, expected = _post_all(pooled), _post_all(local)
    for job, report in got.items():
        mine, theirs = _comparable(report), _comparable(expected[job])
        differ = {f: (mine.get(f), theirs.get(f)) for f in {*mine, *theirs}
                  if mine.get(f) != theirs.get(f)}  # fmt: skip
        assert not differ, (job, differ)
    read_p, read_l = pooled.auth("read"), local.auth("read")
    for symbol in SERIES:
        params = {"venue": "sim", "symbol": symbol, "limit": 10_000}
        pages = [
            s.client.get("/v1/candles", params=params, headers=h).json()["candles"]
            for s, h in ((pooled, read_p), (local, read_l))
        ]
        assert pages[0] == pages[1] and len(pages[0]) == POSTS_PER_SERIES * (ROWS - 1)
        stats = pooled.client.get(
            "/v1/stats", params={"venue": "sim", "symbol": symbol}, headers=read_p
        ).json()
        assert stats["rows"] == POSTS_PER_SERIES * (ROWS - 1)  # stored = accepted
        assert sum(e["inserted"] for e in stats["provenance"]["events"]) == stats["rows"]
        quarantine = pooled.client.get(
            "/v1/quarantine", params={"venue": "sim", "symbol": symbol}, headers=read_p
        ).json()
        assert quarantine["rows"] == POSTS_PER_SERIES


def test_worker_reports_are_counted_in_the_service_process(pooled: Service) -> None:
    accepted = ("neo_candles_accepted_total",
                (("symbol", "MET/USDT"), ("timeframe", "1m"), ("venue", "sim")))  # fmt: skip
    rejected = ("neo_candles_rejected_total", (("rule", "ohlc_order"),))
    before = _samples(pooled)
    body, _ = _body(0, 0)
    answer = pooled.client.post(
        "/v1/candles", json={**body, "symbol": "MET/USDT"}, headers=pooled.auth("trade")
    )
    assert answer.status_code == 200, answer.text
    after = _samples(pooled)
    assert after[accepted] - before.get(accepted, 0.0) == ROWS - 1
    assert after[rejected] - before.get(rejected, 0.0) == 1


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        (b'{"symbol": "X/Y", "candles": [', 422, "CandleBatch"),
        (b'{"candles": [{"timestamp": 1}]}', 422, "symbol"),
        (b'{"symbol": "X/Y", "candles": []}', 422, "empty"),
    ],
)
def test_worker_processes_refuse_bad_bodies_as_this_process_does(
    pooled: Service, local: Service, body: bytes, status: int, text: str
) -> None:
    answers = [
        s.client.post(
            "/v1/candles",
            content=body,
            headers={**s.auth("trade"), "Content-Type": "application/json"},
        )
        for s in (pooled, local)
    ]
    assert [a.status_code for a in answers] == [status, status]
    assert answers[0].json() == answers[1].json() and text in answers[0].json()["detail"]


def test_a_worker_that_dies_fails_its_request_with_503_and_is_restarted(
    pooled: Service,
) -> None:
    pool = pooled.client.app.state.neo.ingest_pool  # type: ignore[attr-defined]
    body, _ = _body(0, 0)
    body = {**body, "symbol": "DIE/USDT"}
    shard = pool.index("sim", "DIE/USDT")
    os.kill(pool._shard(shard).process.pid, signal.SIGKILL)
    answer = pooled.client.post("/v1/candles", json=body, headers=pooled.auth("trade"))
    assert answer.status_code == 503 and "restarted" in answer.json()["detail"]
    again = pooled.client.post("/v1/candles", json=body, headers=pooled.auth("trade"))
    assert again.status_code == 200 and again.json()["accepted"] == ROWS - 1


def test_named_series_reads_the_instrument_without_the_candles() -> None:
    body = b'{"venue": "v", "candles": [{"timestamp": 1, "x": [1, 2]}], "symbol": "A/B"}'
    assert named_series(body, "json") == ("v", "A/B")
    assert named_series(b"{not json", "json") == (None, None)
    assert named_series(b"timestamp,open\n", "csv") == (None, None)


@pytest.mark.parametrize("symbol", ["CSV/USDT", None])
def test_worker_processes_take_csv_with_the_symbol_in_the_query(
    pooled: Service, local: Service, symbol: str | None
) -> None:
    body, _ = _body(1, 0)
    lines = ["timestamp,open,high,low,close,volume"] + [
        f"{c['timestamp']},{c['open']},{c['high']},{c['low']},{c['close']},{c['volume']}"
        for c in body["candles"]
    ]
    params = {"venue": "sim", "timeframe": "1m", **({"symbol": symbol} if symbol else {})}
    answers = [
        s.client.post(
            "/v1/candles",
            content="\n".join(lines).encode(),
            params=params,
            headers={**s.auth("trade"), "Content-Type": "text/csv"},
        )
        for s in (pooled, local)
    ]
    assert answers[0].status_code == answers[1].status_code == (200 if symbol else 400)
    if symbol:
        assert _comparable(answers[0].json()) == _comparable(answers[1].json())
        assert answers[0].json()["accepted"] == ROWS - 1
    else:
        assert answers[0].json() == answers[1].json()
