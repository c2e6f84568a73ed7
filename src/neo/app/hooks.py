"""Optional hooks the application layer calls when the service extra is installed."""

from __future__ import annotations

from typing import Any


def telemetry_hook(name: str) -> Any:
    """The Prometheus hook ``neo.service.telemetry.<name>`` (an observer or callback the
    engine, adapter or notifier calls), or None when the service extra (prometheus-client) is
    not installed: the trading commands run without metrics then."""
    try:
        import neo.service.telemetry as telemetry
    except ImportError:  # pragma: no cover - without the service extra
        return None
    return getattr(telemetry, name)
