"""Bearer keys with scopes: 401 without or with a bad key, 403 without the scope, 200 with it."""

from __future__ import annotations

import pytest

from neo.app.keys import open_state, revoke_key
from tests.unit.service.conftest import Service, make_service

# (method, path, body, scope needed)
ROUTES = [
    ("GET", "/v1/stats", None, "read"),
    ("GET", "/v1/quarantine", None, "read"),
    ("GET", "/v1/jobs", None, "read"),
    ("GET", "/v1/sessions", None, "read"),
    ("GET", "/v1/accounts/paper/killswitch", None, "read"),
    ("POST", "/v1/accounts/paper/killswitch/engage", {"reason": "test"}, "trade"),
    ("POST", "/v1/accounts/paper/killswitch/reset", {"reason": "test"}, "admin"),
]
LOWER = {"read": None, "trade": "read", "admin": "trade"}


@pytest.mark.parametrize(("method", "path", "body", "scope"), ROUTES)
def test_auth_matrix(service: Service, method: str, path: str, body: object, scope: str) -> None:
    call = service.client.request
    none = call(method, path, json=body)
    assert none.status_code == 401
    assert none.headers["content-type"] == "application/problem+json"
    assert none.headers["www-authenticate"] == "Bearer"
    assert none.json()["status"] == 401
    bad = call(method, path, json=body, headers={"Authorization": "Bearer neo_0123456789ab_x" * 2})
    assert bad.status_code == 401
    assert call(method, path, json=body, headers={"Authorization": "Basic abc"}).status_code == 401
    lower = LOWER[scope]
    if lower is not None:
        denied = call(method, path, json=body, headers=service.auth(lower))
        assert denied.status_code == 403, denied.text
        assert scope in denied.json()["detail"]
    for enough in ("read", "trade", "admin")[("read", "trade", "admin").index(scope) :]:
        ok = call(method, path, json=body, headers=service.auth(enough))
        assert ok.status_code == 200, ok.text


def test_revoked_key_is_refused_once_its_verification_expires(service: Service) -> None:
    """A verified key is admitted without the database for service.key_cache_seconds (1 s):
    a key revoked by another process is refused once that has passed, never later."""
    now = [1000.0]
    cache = service.client.app.state.neo.key_cache  # type: ignore[attr-defined]
    cache.clock = lambda: now[0]
    headers = service.auth("read")
    assert service.client.get("/v1/stats", headers=headers).status_code == 200
    db = open_state(service.settings)
    key_id = service.keys["read"].split("_")[1]
    revoke_key(db, key_id)
    db.close()
    now[0] += 0.5  # still within the second its verification holds
    assert service.client.get("/v1/stats", headers=headers).status_code == 200
    now[0] += 0.5
    refused = service.client.get("/v1/stats", headers=headers)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    now[0] += 3600  # and stays refused: a refusal is never remembered as a pass
    assert service.client.get("/v1/stats", headers=headers).status_code == 401


def test_key_cache_off_asks_the_database_every_request() -> None:
    for service in make_service(service={"key_cache_seconds": 0}):
        headers = service.auth("trade")
        assert service.client.get("/v1/stats", headers=headers).status_code == 200
        db = open_state(service.settings)
        revoke_key(db, service.keys["trade"].split("_")[1])
        db.close()
        assert service.client.get("/v1/stats", headers=headers).status_code == 401


def test_a_cached_key_keeps_its_scopes(service: Service) -> None:
    """The cache remembers who a key is, not that a request passed: a read key verified a
    moment ago is still 403 on a trade route, and a wrong secret with a cached key's id is
    still 401."""
    read = service.auth("read")
    assert service.client.get("/v1/stats", headers=read).status_code == 200
    body = {"symbol": "X/USDT", "candles": [{"timestamp": 0}]}
    assert service.client.post("/v1/candles", json=body, headers=read).status_code == 403
    forged = service.keys["read"][:-4] + (
        "AAAA" if not service.keys["read"].endswith("AAAA") else "BBBB"
    )
    answer = service.client.get("/v1/stats", headers={"Authorization": f"Bearer {forged}"})
    assert answer.status_code == 401


def test_open_routes_need_no_key(service: Service) -> None:
    assert service.client.get("/healthz").json() == {"status": "ok"}
    ready = service.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert {c["name"] for c in ready.json()["checks"]} >= {"store", "database", "sessions"}
    assert service.client.get("/openapi.json").json()["info"]["title"] == "NEO"
    metrics = service.client.get("/metrics")  # the test client counts as loopback
    assert metrics.status_code == 200
    assert "neo_http_requests_total" in metrics.text


def test_no_secret_in_any_answer(service: Service) -> None:
    """Key listings and problem bodies never echo a key."""
    for scope, key in service.keys.items():
        secret = key.split("_", 2)[2]
        answer = service.client.get("/v1/stats", headers={"Authorization": f"Bearer {key}x"})
        assert secret not in answer.text, scope
