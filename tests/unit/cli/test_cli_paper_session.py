"""`neo paper --session NAME`: a durable paper session that resumes where it stopped."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from neo.cli.main import app

runner = CliRunner()
BASE = ["paper", "--strategy", "sma_cross", "--param", "fast=3", "--param", "slow=8"]


def _paper(*extra: str, code: int = 0) -> dict[str, Any]:
    result = runner.invoke(app, [*BASE, *extra, "--json"])
    assert result.exit_code == code, result.output
    if code:  # one line, however the console wrapped it
        return {"output": " ".join(result.output.split())}
    return dict(json.loads(result.stdout))


def test_a_named_session_resumes_with_the_same_orders() -> None:
    first = _paper("--cycles", "400", "--session", "s")
    assert not first["resumed"] and first["bars"] == 400 and first["orders"] > 0
    again = _paper("--cycles", "400", "--session", "s")
    assert again["resumed"] and again["replayed_bars"] == 400 and again["new_bars"] == 0
    assert (again["orders"], again["cash"], again["positions"]) == (
        first["orders"], first["cash"], first["positions"],
    )  # fmt: skip


def test_a_session_refuses_other_symbols_and_timers() -> None:
    _paper("--cycles", "50", "--session", "s")
    out = _paper("--cycles", "60", "--session", "s", "--symbols", "ETH/USDT", code=1)["output"]
    assert "was started with instruments" in out and "new --session" in out
    out = _paper("--cycles", "60", "--session", "t", "--timer", "1", code=2)["output"]
    assert "--timer cannot be used with --session" in out
    out = _paper("--cycles", "60", "--session", "../x", code=1)["output"]
    assert "invalid session name" in out
