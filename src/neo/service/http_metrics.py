"""HTTP request metrics and the ``/metrics`` body.

``neo_http_requests_total{method,route,status}`` and ``neo_http_request_seconds{method,route}``
(names from the shared contract) are counted by :class:`HttpMetrics`, an ASGI middleware that
labels by the route *template* (``/v1/jobs/{job_id}``), never the raw path, so label values stay
few. :func:`metrics_response` serves prometheus_client's default registry, where every other
NEO metric (``neo.service.telemetry``) registers too.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from neo.service import telemetry

# One definition of every metric (neo.service.telemetry, the shared contract); defining them here
# too registered the same names twice in the default registry.
HTTP_REQUESTS = telemetry.HTTP_REQUESTS
HTTP_SECONDS = telemetry.HTTP_REQUEST


def metrics_response() -> Response:
    """The Prometheus text exposition of the default registry."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class HttpMetrics:
    """Counts every HTTP request and times it, after routing has named its template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            route = _route_of(scope)
            method = str(scope.get("method", ""))
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_SECONDS.labels(method, route).observe(time.perf_counter() - started)
