"""Faults on demand: queued by ``POST /__sim/faults``, each consumed by the requests it matches.

A fault names a kind, a path pattern (``fnmatch`` glob on the request path, e.g.
``/api/v3/order`` or ``*order*``; default ``*``), an optional HTTP method and a count: the next
``count`` matching requests get it, then it is gone. Faults are served in the order they were
queued. Websocket faults (``ws_cut``, ``ws_stall``) match the websocket's path and hit the
connections open when they are queued, or the next ones to connect.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

HTTP_FAULTS = frozenset(
    {"429", "418", "5xx", "timeout_after_accept", "malformed_json", "insufficient_balance",
     "order_not_found"}
)  # fmt: skip
WS_FAULTS = frozenset({"ws_cut", "ws_stall"})
FAULT_KINDS = HTTP_FAULTS | WS_FAULTS


class FaultSpecError(ValueError):
    """A fault request the sim cannot queue (unknown kind, bad count …)."""


@dataclass(slots=True)
class Fault:
    """One queued fault and how many more requests it will hit."""

    kind: str
    path: str = "*"
    method: str | None = None
    count: int = 1
    status: int = 503  # for 5xx
    retry_after: int = 1  # seconds, for 429 / 418
    stall_seconds: float = 30.0  # for timeout_after_accept

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return fnmatchcase(path, self.path)

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "method": self.method,
            "count": self.count,
            "status": self.status,
            "retry_after": self.retry_after,
            "stall_seconds": self.stall_seconds,
        }


def parse_fault(payload: Any) -> Fault:
    """A Fault from the admin endpoint's JSON, or FaultSpecError saying what is wrong."""
    if not isinstance(payload, dict):
        raise FaultSpecError("a fault is a JSON object: {kind, path, count}")
    kind = str(payload.get("kind", ""))
    if kind not in FAULT_KINDS:
        raise FaultSpecError(f"unknown fault kind {kind!r}; one of {sorted(FAULT_KINDS)}")
    try:
        fault = Fault(
            kind=kind,
            path=str(payload.get("path") or "*"),
            method=None if payload.get("method") is None else str(payload["method"]),
            count=int(payload.get("count", 1)),
            status=int(payload.get("status", 503)),
            retry_after=int(payload.get("retry_after", 1)),
            stall_seconds=float(payload.get("stall_seconds", 30.0)),
        )
    except (TypeError, ValueError) as exc:
        raise FaultSpecError(f"bad fault field: {exc}") from None
    if fault.count < 1:
        raise FaultSpecError("count must be at least 1")
    if kind == "5xx" and not 500 <= fault.status <= 599:
        raise FaultSpecError("a 5xx fault's status must be within 500..599")
    return fault


class FaultQueue:
    """Queued faults, consumed first-in first-out by matching requests."""

    def __init__(self) -> None:
        self.pending: list[Fault] = []
        self.fired: list[dict[str, Any]] = []

    def add(self, fault: Fault) -> None:
        self.pending.append(fault)

    def clear(self) -> None:
        self.pending.clear()

    def take(self, method: str, path: str, kinds: frozenset[str]) -> Fault | None:
        """The first pending fault of ``kinds`` matching the request, its count used once."""
        for fault in self.pending:
            if fault.kind in kinds and fault.matches(method, path):
                fault.count -= 1
                if fault.count <= 0:
                    self.pending.remove(fault)
                self.fired.append({"kind": fault.kind, "method": method, "path": path})
                return fault
        return None
