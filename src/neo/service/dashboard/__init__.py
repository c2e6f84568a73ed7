"""The NEO dashboard: a page served by ``neo serve`` at ``/dashboard/`` (static files shipped
in this package, no CDN, no front-end server) that reads the REST API with the key a user pastes
and updates live from ``/v1/events``.

``create_app`` includes it with one line: ``app.include_router(dashboard_router())``.
"""

from neo.service.dashboard.router import ASSETS, dashboard_router

__all__ = ["ASSETS", "dashboard_router"]
