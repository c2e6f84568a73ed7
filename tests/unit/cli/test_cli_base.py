from __future__ import annotations

import json
import logging
from datetime import datetime
from enum import Enum
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from neo.cli.common import (
    emit,
    parse_symbols,
    parse_time,
    parse_timeframe,
    progress_bar,
    settings_of,
    to_jsonable,
)
from neo.cli.main import app, main
from neo.domain import ConfigError, InstrumentId, Side
from neo.logs import JsonFormatter, ReadableFormatter, configure_logging, get_logger

runner = CliRunner()


def test_help_and_version() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "NEO" in result.output
    result = runner.invoke(app, ["version", "--json"])
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert payload["name"] == "neo" and payload["version"]
    assert runner.invoke(app, ["version"]).stdout.startswith("neo ")


def test_bad_config_is_one_clear_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--config", str(tmp_path / "nope.toml"), "version"])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: config file")
    assert "Traceback" not in result.output


def test_main_entry_point(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["neo", "version", "--json"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 0
    assert json.loads(capsys.readouterr().out)["name"] == "neo"


def test_parsers() -> None:
    assert parse_symbols("BTC/USDT, ETH/USDT,,BTC/USDT", "SOL/USDT") == [
        "BTC/USDT", "ETH/USDT", "SOL/USDT",
    ]  # fmt: skip
    assert parse_symbols(None) == []
    assert parse_time(None) is None
    assert parse_time("1970-01-02") == 86_400 * 10**9
    assert parse_time("1970-01-01T00:00:01.5Z") == 1_500_000_000
    assert parse_time("1700000000") == 1_700_000_000 * 10**9
    assert parse_time("1700000000000") == 1_700_000_000_000 * 10**6
    assert str(parse_timeframe("5m")) == "5m"
    with pytest.raises(ConfigError, match="ISO date"):
        parse_time("yesterday")


class _Color(Enum):
    RED = "red"


def test_to_jsonable_handles_research_types() -> None:
    value = {
        "a": np.float64(1.5), "b": np.int64(2), "c": float("nan"), "d": np.array([1, 2]),
        "e": Side.BUY, "f": datetime(2024, 1, 1), "g": Path("x"), "h": InstrumentId("s", "A/B"),
        "i": (1, 2), "j": _Color.RED, "k": np.bool_(True), "l": object,
    }  # fmt: skip
    out = to_jsonable(value)
    assert out["a"] == 1.5 and out["b"] == 2 and out["c"] is None and out["d"] == [1, 2]
    assert out["e"] == "buy" and out["f"].startswith("2024") and out["g"] == "x"
    assert out["h"] == {"venue": "s", "symbol": "A/B"} and out["j"] == "red" and out["k"] is True
    json.dumps(out)


def test_emit_modes(capsys: pytest.CaptureFixture[str]) -> None:
    emit({"x": 1}, True)
    assert json.loads(capsys.readouterr().out) == {"x": 1}
    emit({"x": 1}, False)
    assert "x" in capsys.readouterr().out
    emit({"x": 1}, False, lambda: print("human"))
    assert capsys.readouterr().out == "human\n"


def test_progress_bar_off_terminal_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar("work", 10) as advance:
        advance(5)
    assert capsys.readouterr().err == ""


def test_settings_of_without_root_object() -> None:
    ctx = typer.Context(typer.main.get_command(app))
    assert settings_of(ctx).log_level == "INFO"


def test_logging_formats(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json_lines=True)
    get_logger("test").info("hello", extra={"rows": 3})
    line = json.loads(capsys.readouterr().err.strip())
    assert line["msg"] == "hello" and line["rows"] == 3 and line["logger"] == "neo.test"
    configure_logging("INFO", json_lines=False)
    get_logger("neo.test").warning("plain", extra={"k": "v"})
    assert "plain k=v" in capsys.readouterr().err
    record = logging.LogRecord("neo", logging.ERROR, "", 0, "boom", None, None)
    try:
        raise ValueError("x")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert "ValueError" in JsonFormatter().format(record)
    assert "boom" in ReadableFormatter().format(record)
