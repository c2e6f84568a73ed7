"""The Redis flags of the CLI fail with one clear line when Redis is not configured, and an
ingestion with --publish keeps what it stored when publishing fails (a rerun publishes it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from neo.cli.main import app

runner = CliRunner()


def test_paper_bus_redis_without_a_url_says_how_to_configure_it() -> None:
    result = runner.invoke(app, ["paper", "--bus", "redis", "--symbols", "BTC/USDT"])
    assert result.exit_code == 2
    assert "--bus redis needs a Redis server: set redis.url" in result.output
    assert "Traceback" not in result.output


def test_bus_redis_and_a_feed_do_not_mix() -> None:
    result = runner.invoke(app, ["paper", "--bus", "redis", "--feed", "replay", "--symbol", "X/Y"])
    assert result.exit_code == 2
    assert "--bus redis reads its bars from Redis: drop --feed" in result.output


def test_an_unknown_bus_is_refused() -> None:
    result = runner.invoke(app, ["paper", "--bus", "kafka", "--cycles", "3"])
    assert result.exit_code == 2
    assert "unknown --bus 'kafka': use memory or redis" in result.output


def test_ingest_publish_without_redis_stores_first_then_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "bars.csv"
    made = runner.invoke(app, ["simulate", "--bars", "20", "--out", str(data)])
    assert made.exit_code == 0, made.output
    result = runner.invoke(app, ["ingest", str(data), "--symbol", "BTC/USDT", "--publish"])
    assert result.exit_code == 2
    assert "--publish needs a Redis server" in result.output
    listed = runner.invoke(app, ["data", "list", "--json"])
    assert "BTC/USDT" in listed.output  # stored before publishing was tried

    monkeypatch.setenv("NEO_REDIS__URL", "redis://:pw@127.0.0.1:1/0")  # nobody listens there
    down = runner.invoke(app, ["ingest", str(data), "--symbol", "BTC/USDT", "--publish"])
    assert down.exit_code != 0
    assert "cannot reach Redis at redis://***@127.0.0.1:1/0" in down.output
    assert "pw" not in down.output
