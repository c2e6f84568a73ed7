"""CORS is closed unless origins are configured; problem bodies for unknown methods."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.service.conftest import Service, make_service

PREFLIGHT = {"Origin": "https://dash.example", "Access-Control-Request-Method": "GET"}


def test_cors_is_closed_by_default(service: Service) -> None:
    answer = service.client.options("/v1/stats", headers=PREFLIGHT)
    assert "access-control-allow-origin" not in answer.headers
    plain = service.client.get("/healthz", headers={"Origin": "https://dash.example"})
    assert "access-control-allow-origin" not in plain.headers


@pytest.fixture
def open_service() -> Iterator[Service]:
    yield from make_service(service={"cors_origins": ["https://dash.example"]})


def test_cors_admits_only_the_configured_origins(open_service: Service) -> None:
    client = open_service.client
    allowed = client.options("/v1/stats", headers=PREFLIGHT)
    assert allowed.headers["access-control-allow-origin"] == "https://dash.example"
    other = client.options("/v1/stats", headers={**PREFLIGHT, "Origin": "https://evil.example"})
    assert other.headers.get("access-control-allow-origin") != "https://evil.example"


def test_wrong_method_is_a_problem(service: Service) -> None:
    answer = service.client.delete("/v1/candles", headers=service.auth("admin"))
    assert answer.status_code == 405
    assert answer.headers["content-type"] == "application/problem+json"


def test_every_answer_carries_a_request_id(service: Service) -> None:
    mine = service.client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert mine.headers["x-request-id"] == "abc-123"
    made = service.client.get("/v1/stats")  # a 401 problem too
    assert len(made.headers["x-request-id"]) == 16
    odd = service.client.get("/healthz", headers={"X-Request-ID": "x" * 500})
    assert odd.headers["x-request-id"] != "x" * 500
