"""The NEO service layer: REST API, Prometheus telemetry, the Redis bus and cache.

Nothing below ``neo.service`` is imported by the engine or the data layer: telemetry subscribes
to the engine's bus, and the data layer takes plain callbacks.
"""
