"""Log lines carry the request id and client order id in effect, and never a secret."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from neo.logs import (
    CLIENT_ORDER_ID,
    REQUEST_ID,
    JsonFormatter,
    ReadableFormatter,
    get_logger,
    log_context,
    redact,
)


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A neo logger writing JSON lines into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    logger = get_logger("test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield logger, buffer
    finally:
        logger.removeHandler(handler)


def parsed(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_lines_carry_the_request_and_client_order_ids_in_effect(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = lines
    logger.info("before")
    with log_context(request_id="req-1"):
        logger.info("in the request")
        with log_context(client_order_id="neoab12-7"):
            logger.info("order sent", extra={"venue": "binance"})
        logger.info("after the order")
    logger.info("after")
    first, in_request, sent, after_order, last = parsed(buffer)
    assert "request_id" not in first and "client_order_id" not in first
    assert in_request["request_id"] == "req-1" and "client_order_id" not in in_request
    assert sent["request_id"] == "req-1" and sent["client_order_id"] == "neoab12-7"
    assert sent["venue"] == "binance"
    assert after_order["request_id"] == "req-1" and "client_order_id" not in after_order
    assert "request_id" not in last
    assert REQUEST_ID.get() is None and CLIENT_ORDER_ID.get() is None


def test_concurrent_requests_keep_their_own_ids(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = lines

    async def handle(request: str, gate: asyncio.Event, other: asyncio.Event) -> None:
        with log_context(request_id=request):
            logger.info("start")
            gate.set()
            await other.wait()  # the other request runs in between
            logger.info("end")

    async def both() -> None:
        a, b = asyncio.Event(), asyncio.Event()
        await asyncio.gather(handle("A", a, b), handle("B", b, a))

    asyncio.run(both())
    by_request = [(line["request_id"], line["msg"]) for line in parsed(buffer)]
    assert sorted(by_request) == [("A", "end"), ("A", "start"), ("B", "end"), ("B", "start")]


SECRETS = ("hunter2", "AKIA-ABCDEF", "tok-123456", "s3cr3t-val", "pg-pass")


def test_no_secret_reaches_a_log_line(lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = lines
    logger.info("connecting to redis://:hunter2@127.0.0.1:6390/0")
    logger.info("keys", extra={"api_key": "AKIA-ABCDEF", "exchange": "binance"})
    logger.warning("GET https://api.example.com/v1/x?token=tok-123456&limit=5 failed")
    logger.info("header Authorization: Bearer s3cr3t-val")
    logger.info("db %s", "postgresql+psycopg://neo:pg-pass@localhost:5432/neo")
    try:
        raise RuntimeError("secret=s3cr3t-val rejected")
    except RuntimeError:
        logger.exception("failed")
    text = buffer.getvalue()
    for secret in SECRETS:
        assert secret not in text
    rows = parsed(buffer)
    assert rows[0]["msg"] == "connecting to redis://***@127.0.0.1:6390/0"
    assert rows[1]["api_key"] == "***" and rows[1]["exchange"] == "binance"
    assert "limit=5" in str(rows[2]["msg"])  # what is not a secret stays readable


def test_readable_lines_are_redacted_too() -> None:
    record = logging.LogRecord(
        "neo.x", logging.INFO, __file__, 1, "url %s", ("http://u:pw@h/",), None
    )
    record.secret = "topsecret"
    with log_context(request_id="r9"):
        line = ReadableFormatter().format(record)
    assert "pw@" not in line and "topsecret" not in line
    assert "request_id=r9" in line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis://127.0.0.1:6390/0", "redis://127.0.0.1:6390/0"),
        ("https://user:pw@host/x", "https://***@host/x"),
        ('{"secret": "abc", "n": 1}', '{"secret": "***", "n": 1}'),
        ("password=abc; next", "password=***; next"),
        ("Bearer abc.def-ghi", "Bearer ***"),
        ("the token bucket refilled", "the token bucket refilled"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected
