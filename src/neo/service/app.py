"""The FastAPI application: :func:`create_app` builds it from settings.

Layout: ``/healthz``, ``/readyz``, ``/metrics``, ``/openapi.json``; ``/v1/candles|stats|
quarantine`` (data), ``/v1/jobs`` (research), ``/v1/sessions`` and ``/v1/accounts/…/killswitch``
(trading), ``/v1/events`` (SSE). Every route calls :mod:`neo.app`; errors are problem JSON
(:mod:`neo.service.problems`); bodies above ``service.max_body_bytes`` are 413.

Hooks for other packages:

- ``routers=[...]`` (or a package ``neo.service.dashboard`` exposing ``router``, included when
  present) adds routes; a router reaches the service through
  ``Depends(neo.service.state.service_state)`` and guards with ``neo.service.auth.READ`` etc.
- ``app.state.neo.hub`` is the :class:`~neo.service.events.EventHub` (publish / subscribe).
- ``app.state.neo.sessions.register_kind(kind, start)`` adds a session kind; ``paper`` and
  ``live`` (:func:`neo.app.sessions_live.start_live`) are registered.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from neo.app.jobs import JobRunner
from neo.app.sessions import SessionManager, start_paper
from neo.app.sessions_live import start_live
from neo.logs import get_logger
from neo.service import problems
from neo.service.events import EventHub
from neo.service.http_metrics import HttpMetrics
from neo.service.limits import BodySizeLimit
from neo.service.request_ids import RequestIds
from neo.service.routes import accounts, data, events, health, jobs, sessions
from neo.service.state import ServiceState
from neo.settings import NeoSettings

if TYPE_CHECKING:
    from neo.engine.loop import AutonomousTradingLoop
    from neo.persistence import Database

log = get_logger("service")

OPTIONAL_ROUTERS = ("neo.service.dashboard",)
"""Packages whose ``router`` is included when they are installed (the dashboard)."""


def _session_hooks(settings: NeoSettings, loop: AutonomousTradingLoop, session_id: str) -> None:
    """Every session the service runs reports its metrics at ``/metrics`` under its id, and
    sends the configured webhooks (their threads are daemons, idle once the session ends)."""
    from neo.notify import attach_notifications
    from neo.service.telemetry import attach_session_metrics, webhook_delivered

    attach_session_metrics(loop, session_id)
    attach_notifications(
        loop, settings.notifications, session=session_id, on_outcome=webhook_delivered
    )


def _optional(module: str, name: str) -> Any:
    try:
        found = importlib.import_module(module)
    except ImportError:
        return None
    return getattr(found, name, None)


def build_state(settings: NeoSettings, database: Database | None = None) -> ServiceState:
    """The service's state: database (opened and migrated unless given), hub, sessions, jobs."""
    from neo.app.keys import open_state

    db = database or open_state(settings)
    hub = EventHub()
    manager = SessionManager(settings, hub.publish)
    manager.register_kind("paper", partial(start_paper, on_loop=partial(_session_hooks, settings)))
    manager.register_kind("live", start_live)
    runner = JobRunner(settings, db.jobs, workers=settings.service.job_workers, publish=hub.publish)
    return ServiceState(settings=settings, db=db, hub=hub, sessions=manager, jobs=runner)


def create_app(
    settings: NeoSettings,
    *,
    database: Database | None = None,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The REST service for ``settings`` (see the module docstring for its routes and hooks)."""
    from neo.cli.main import package_version

    state = build_state(settings, database)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.jobs.recover()
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="NEO",
        version=package_version(),
        summary="Autonomous hybrid-AI trading: data, research jobs, sessions, risk.",
        lifespan=lifespan,
    )
    app.state.neo = state
    problems.install(app)
    for router in (health.router, data.router, jobs.router, sessions.router, accounts.router,
                   events.router, *routers):  # fmt: skip
        app.include_router(router)
    for module in OPTIONAL_ROUTERS:
        extra = _optional(module, "router")
        if isinstance(extra, APIRouter):
            app.include_router(extra)
    if settings.service.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.service.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BodySizeLimit, max_body_bytes=settings.service.max_body_bytes)
    app.add_middleware(HttpMetrics)
    app.add_middleware(RequestIds)
    return app
