"""The NEO service layer: REST API, Prometheus telemetry, the Redis bus and cache.

Import :func:`neo.service.app.create_app` for the app; this package's ``__init__`` stays light
so ``neo.settings`` can import :class:`neo.service.config.ServiceConfig` without FastAPI.
Nothing below ``neo.service`` is imported by the engine or the data layer: telemetry subscribes
to the engine's bus, and the data layer takes plain callbacks.
"""
