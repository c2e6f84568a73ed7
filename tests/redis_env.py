"""The Redis server of the integration tests: ``NEO_TEST_REDIS_URL`` (``scripts/ci/redis.sh
start`` writes it to /tmp/neo-ci/redis.env, which the Makefile's unit target sources).

Read once, at import: the autouse fixture of tests/conftest.py clears every ``NEO_*`` variable
before each test. Without a reachable server a test skips, or fails under ``CI=true`` (as
tests/optional.py does for reference libraries). Tests keep to keys of their own (a fresh venue
and consumer group each), so they never flush a database another test may be using.
"""

from __future__ import annotations

import os
import uuid

import pytest

from tests.optional import in_ci

REDIS_URL = os.environ.get("NEO_TEST_REDIS_URL", "")


def require_redis() -> str:
    """The URL of a live Redis server, else skip (fail in CI)."""
    redis = pytest.importorskip("redis")
    problem = "NEO_TEST_REDIS_URL is not set"
    if REDIS_URL:
        try:
            client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
            client.ping()
            client.close()
            return REDIS_URL
        except redis.RedisError as exc:
            problem = f"Redis at {REDIS_URL} is unreachable ({exc})"
    hint = f"{problem}: run `bash scripts/ci/redis.sh start` and source /tmp/neo-ci/redis.env"
    if in_ci():
        pytest.fail(f"{hint} (CI must run this test, not skip it)", pytrace=False)
    pytest.skip(hint)


def fresh_name(prefix: str) -> str:
    """A name no other test uses (venue, consumer group)."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"
