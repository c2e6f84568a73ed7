"""The REST service: a FastAPI app over :mod:`neo.app` (``neo serve``).

Import :func:`neo.service.app.create_app` for the app; this package's ``__init__`` stays light
so ``neo.settings`` can import :class:`neo.service.config.ServiceConfig` without FastAPI.
"""
