"""Integer-nanosecond UTC timestamps as text: the one ISO 8601 form every layer prints.

Timestamps are integer nanoseconds everywhere (see the architecture's Time contract); where
people read them (command output, messages, reports, provenance logs) they appear as
``2024-01-31T00:00:00Z``, with microseconds only when there are any. Integer arithmetic keeps
the value exact (no detour through float seconds).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def iso_ns(ns: int) -> str:
    """ISO 8601 UTC with a ``Z`` for integer nanoseconds since the epoch."""
    whole = int(ns)
    moment = datetime.fromtimestamp(whole // 1_000_000_000, UTC) + timedelta(
        microseconds=(whole % 1_000_000_000) // 1_000
    )
    return moment.isoformat().replace("+00:00", "Z")


def iso_or_none(ns: int | None) -> str | None:
    """:func:`iso_ns`, with ``None`` passed through (a series with no bars has no first time)."""
    return None if ns is None else iso_ns(ns)
