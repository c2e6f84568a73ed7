"""The NEO dashboard: a page served by ``neo serve`` at ``/dashboard/`` (static files shipped
in this package, no CDN, no front-end server) that reads the REST API with the key a user pastes
and updates live from ``/v1/events``.

``create_app`` includes :data:`router` when this package is present (or, explicitly, with one
line: ``app.include_router(dashboard_router())``).
"""

from neo.service.dashboard.routes import ASSETS, dashboard_router

router = dashboard_router()
"""The dashboard's routes, as ``create_app`` looks them up (``neo.service.dashboard.router``)."""

__all__ = ["ASSETS", "dashboard_router", "router"]
