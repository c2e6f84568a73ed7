"""Logging to stderr: readable lines on a terminal, one JSON object per line with --log-json.

stdout is reserved for results (``--json`` prints exactly one object there).

Every line carries the request id and client order id in effect (:func:`log_context`, context
variables, so each REST request or order gets its own even across asyncio tasks), and passes
through :func:`redact`: API keys, secrets, passwords, bearer tokens and credentials inside URLs
never reach a log line, whatever a caller passed.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()) | {
    "message",
    "asctime",
}


REQUEST_ID: ContextVar[str | None] = ContextVar("neo_request_id", default=None)
CLIENT_ORDER_ID: ContextVar[str | None] = ContextVar("neo_client_order_id", default=None)
_CONTEXT = {"request_id": REQUEST_ID, "client_order_id": CLIENT_ORDER_ID}


@contextmanager
def log_context(
    *, request_id: str | None = None, client_order_id: str | None = None
) -> Iterator[None]:
    """Stamp every log line inside the block with these ids (None leaves one as it was)."""
    tokens = [
        (var, var.set(value))
        for var, value in ((REQUEST_ID, request_id), (CLIENT_ORDER_ID, client_order_id))
        if value is not None
    ]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


_SECRET_KEY = re.compile(r"(api[_-]?key|secret|passw(or)?d|token|authorization|signature)", re.I)
_SECRET_PATTERNS = (
    # scheme://user:password@host -> scheme://***@host
    (re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)[^/\s@:]*:[^/\s@]*@", re.I), r"\g<scheme>***@"),
    # ?token=...&api_key=... in URLs and key=value / key: value text
    (
        re.compile(
            r"(?P<key>\b[\w-]*(api[_-]?key|secret|passw(or)?d|token|signature)[\w-]*"
            r"[\"']?\s*[=:]\s*[\"']?)[^\s&\"',;}]+",
            re.I,
        ),
        r"\g<key>***",
    ),
    (re.compile(r"\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+", re.I), r"\1 ***"),
)


def redact(text: str) -> str:
    """``text`` with credentials replaced by ``***`` (URL userinfo, key=value secrets, bearer
    tokens)."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's extra fields plus the context ids, secret-named fields masked."""
    fields = {k: v for k, v in vars(record).items() if k not in _RESERVED}
    for name, var in _CONTEXT.items():
        value = var.get()
        if value is not None and name not in fields:
            fields[name] = value
    return {k: "***" if _SECRET_KEY.search(k) else v for k, v in fields.items()}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update(_fields(record))
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, default=str))


class ReadableFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        tail = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        return redact(f"{line} {tail}" if tail else line)


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def configure_logging(level: str = "INFO", json_lines: bool = False) -> None:
    """Route the ``neo`` loggers to stderr in the chosen format (idempotent).

    An unknown ``level`` is a ConfigError naming the valid ones (never a bare ValueError).
    """
    name = level.strip().upper()
    if name not in LEVELS:
        from neo.domain.errors import ConfigError

        raise ConfigError(f"unknown log level {level!r}: use one of {', '.join(LEVELS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else ReadableFormatter())
    root = logging.getLogger("neo")
    root.handlers[:] = [handler]
    root.setLevel(name)
    root.propagate = False


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name if name.startswith("neo") else f"neo.{name}")
