"""``/healthz`` (the process answers), ``/readyz`` (what it needs is reachable) and
``/metrics`` (Prometheus; open to loopback clients, a ``read`` key otherwise)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from neo.service.http_metrics import metrics_response
from neo.service.limits import client_is_loopback
from neo.service.responses import as_json
from neo.service.state import ServiceState, service_state, state_of

router = APIRouter(tags=["health"])
State = Annotated[ServiceState, Depends(service_state)]


@router.get("/healthz", summary="Liveness: the process answers.")
def healthz() -> Response:
    return as_json({"status": "ok"})


def _check(name: str, probe: Any) -> dict[str, Any]:
    try:
        detail = probe()
    except Exception as exc:  # a readiness probe reports, it never raises
        return {"name": name, "ok": False, "detail": f"{type(exc).__name__}: {exc}"}
    return {"name": name, "ok": True, "detail": detail}


def _store(state: ServiceState) -> str:
    with state.store_lock:
        count = len(state.api.datasets())
    return f"{count} datasets under {state.settings.data_dir / 'store'}"


def _database(state: ServiceState) -> str:
    from sqlalchemy import text

    with state.db.reading() as session:
        session.execute(text("SELECT 1"))
    return f"{state.db.backend} reachable"


def _redis(state: ServiceState) -> str | None:
    config = getattr(state.settings, "redis", None)
    url = getattr(config, "url", None)
    if not url:
        return None
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return "reachable"


def _sessions(state: ServiceState) -> str:
    views = state.sessions.list()
    failed = [v["id"] for v in views if v["status"] == "failed"]
    running = sum(v["status"] in ("running", "paused") for v in views)
    return f"{running} running" + (f"; failed: {', '.join(failed)}" if failed else "")


@router.get("/readyz", summary="Readiness: store, database, Redis (when configured), sessions.")
def readyz(state: State) -> Response:
    checks = [
        _check("store", lambda: _store(state)),
        _check("database", lambda: _database(state)),
        _check("sessions", lambda: _sessions(state)),
    ]
    redis_check = _check("redis", lambda: _redis(state))
    if redis_check["detail"] is not None or not redis_check["ok"]:
        checks.append(redis_check)
    ready = all(c["ok"] for c in checks)
    return as_json(
        {"status": "ready" if ready else "unready", "checks": checks}, status=200 if ready else 503
    )


@router.get("/metrics", summary="Prometheus metrics.", include_in_schema=False)
def metrics(request: Request) -> Response:
    if not client_is_loopback(request.scope):
        from neo.service.auth import authorise

        authorise(request, _credentials(request), state_of(request), "read")  # 401/403
    return metrics_response()


def _credentials(request: Request) -> Any:
    from fastapi.security import HTTPAuthorizationCredentials

    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not token:
        return None
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())
