"""POST/GET /v1/candles, /v1/stats, /v1/quarantine: every row answered, problems for bad input."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pyarrow as pa
import pytest

from tests.unit.service.conftest import Service, candles, make_service

BTC = {"venue": "sim", "symbol": "BTC/USDT", "timeframe": "1m"}


def _post(service: Service, rows: list[dict[str, object]]) -> dict[str, object]:
    answer = service.client.post(
        "/v1/candles", json={**BTC, "candles": rows}, headers=service.auth("trade")
    )
    assert answer.status_code == 200, answer.text
    payload: dict[str, object] = answer.json()
    return payload


def test_post_json_answers_accepted_and_rejected_rows_with_reasons(service: Service) -> None:
    rows = candles(10)
    rows[3] = {**rows[3], "high": rows[3]["low"] - 1}  # high below low: ohlc_order
    rows[6] = {**rows[6], "timestamp": rows[6]["timestamp"] + 7}  # off the minute grid
    rows[8] = {**rows[8], "close": None}  # a missing price
    report = _post(service, rows)
    assert report["rows_read"] == 10
    assert report["accepted"] == 7 and report["rejected"] == 3
    by_row = {r["row"]: r["reasons"] for r in report["rejected_rows"]}  # type: ignore[union-attr]
    assert by_row == {3: ["ohlc_order"], 6: ["misaligned_ts"], 8: ["non_finite"]}
    assert report["counts_by_rule"]["misaligned_ts"] == 1  # type: ignore[index]
    quarantine = service.client.get("/v1/quarantine", headers=service.auth("read")).json()
    assert quarantine["rows"] == 3
    assert quarantine["by_reason"] == {"ohlc_order": 1, "misaligned_ts": 1, "non_finite": 1}


def test_get_candles_pages_through_what_was_stored(service: Service) -> None:
    rows = candles(25)
    _post(service, rows)
    seen: list[dict[str, object]] = []
    cursor = None
    pages = 0
    while True:
        params = {**BTC, "limit": 10, **({} if cursor is None else {"cursor": cursor})}
        page = service.client.get("/v1/candles", params=params, headers=service.auth("read"))
        assert page.status_code == 200, page.text
        body = page.json()
        seen += body["candles"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert page.headers["x-next-cursor"] == str(cursor)
    assert pages == 3
    assert [c["timestamp"] for c in seen] == [r["timestamp"] for r in rows]
    assert [c["close"] for c in seen] == [r["close"] for r in rows]


def test_get_candles_as_csv_and_arrow(service: Service) -> None:
    rows = candles(5)
    _post(service, rows)
    csv = service.client.get(
        "/v1/candles", params={**BTC, "format": "csv"}, headers=service.auth("read")
    )
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0] == "timestamp,open,high,low,close,volume"
    assert [int(line.split(",")[0]) for line in lines[1:]] == [r["timestamp"] for r in rows]
    arrow = service.client.get(
        "/v1/candles",
        params=BTC,
        headers={**service.auth("read"), "Accept": "application/vnd.apache.arrow.stream"},
    )
    table = pa.ipc.open_stream(io.BytesIO(arrow.content)).read_all()
    assert table.num_rows == 5
    assert table.column("close").to_pylist() == [r["close"] for r in rows]


def test_ndjson_csv_and_file_upload_take_the_same_path(service: Service) -> None:
    rows = candles(6)
    ndjson = "\n".join(json.dumps(r) for r in rows[:2]).encode()
    params = BTC
    headers = {**service.auth("trade"), "Content-Type": "application/x-ndjson"}
    first = service.client.post("/v1/candles", content=ndjson, params=params, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["accepted"] == 2
    text = "timestamp,open,high,low,close,volume\n" + "\n".join(
        f"{r['timestamp']},{r['open']},{r['high']},{r['low']},{r['close']},{r['volume']}"
        for r in rows[2:4]
    )
    headers["Content-Type"] = "text/csv"
    second = service.client.post(
        "/v1/candles", content=text.encode(), params=params, headers=headers
    )
    assert second.json()["accepted"] == 2
    upload = "timestamp,open,high,low,close,volume\n" + "\n".join(
        f"{r['timestamp']},{r['open']},{r['high']},{r['low']},{r['close']},{r['volume']}"
        for r in rows[4:]
    )
    third = service.client.post(
        "/v1/candles", params=params, headers=service.auth("trade"),
        files={"file": ("bars.csv", upload.encode(), "text/csv")},
    )  # fmt: skip
    assert third.status_code == 200, third.text
    assert third.json()["accepted"] == 2
    stats = service.client.get("/v1/stats", params=BTC, headers=service.auth("read")).json()
    assert stats["rows"] == 6


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/json", b"{not json", 422),
        ("application/json", b'{"symbol": "X", "candles": []}', 422),
        ("application/json", b'{"symbol": "X", "candles": [{"timestamp": "soon"}]}', 422),
        ("application/json", b"[]", 422),
        ("application/x-ndjson", b"{}\n[1,2]\n", 422),
        ("application/x-ndjson", b"not json\n", 422),
        ("text/csv", b"a,b\n1,2\n", 422),
        ("text/csv", b"timestamp,open,high,low,close,volume\n", 422),
        ("text/csv", b"\xff\xfe", 422),
        ("text/plain", b"hello", 415),
        ("", b"hello", 415),
    ],
)
def test_bad_bodies_are_problems_not_500(
    service: Service, content_type: str, body: bytes, status: int
) -> None:
    headers = {**service.auth("trade"), "Content-Type": content_type}
    answer = service.client.post("/v1/candles", content=body, params=BTC, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert set(problem) >= {"type", "title", "status", "detail"}
    assert problem["status"] == status and problem["detail"]


def test_missing_series_and_bad_queries_are_4xx(service: Service) -> None:
    read = service.auth("read")
    missing = service.client.get("/v1/candles", params={"symbol": "NOPE/USDT"}, headers=read)
    assert missing.status_code == 404
    assert missing.json()["title"] == "DataNotFoundError"
    window = service.client.get(
        "/v1/candles", params={**BTC, "start": "2024-02-01", "end": "2024-01-01"}, headers=read
    )
    assert window.status_code == 400 and "window is empty" in window.json()["detail"]
    assert (
        service.client.get("/v1/candles", params={**BTC, "limit": 0}, headers=read).status_code
        == 422
    )
    assert (
        service.client.get(
            "/v1/candles", params={**BTC, "start": "yesterday"}, headers=read
        ).status_code
        == 400
    )
    assert service.client.get("/v1/nowhere", headers=read).status_code == 404


@pytest.fixture
def small_service() -> Iterator[Service]:
    yield from make_service(service={"max_body_bytes": 2048})


def test_body_too_large_is_413(small_service: Service) -> None:
    service = small_service
    rows = candles(100)
    big = json.dumps({**BTC, "candles": rows}).encode()
    assert len(big) > 2048
    headers = {**service.auth("trade"), "Content-Type": "application/json"}
    answer = service.client.post("/v1/candles", content=big, headers=headers)
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts as it reads
        for start in range(0, len(big), 500):
            yield big[start : start + 500]

    streamed = service.client.post("/v1/candles", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    small = json.dumps({**BTC, "candles": rows[:3]}).encode()
    assert service.client.post("/v1/candles", content=small, headers=headers).status_code == 200


def test_conflicting_source_is_409_until_replace(service: Service) -> None:
    """Each key is its own source: another key changing stored bars needs replace=true."""
    rows = candles(3)
    _post(service, rows)
    changed = [{**r, "close": r["close"] * 1.001} for r in rows]
    body = {**BTC, "candles": changed}
    other = service.auth("admin")
    refused = service.client.post("/v1/candles", json=body, headers=other)
    assert refused.status_code == 409, refused.text
    assert "replace" in refused.json()["detail"]
    replaced = service.client.post(
        "/v1/candles", json=body, params={"replace": True}, headers=other
    )
    assert replaced.status_code == 200 and replaced.json()["replaced"] == 3
