"""Every CLI failure is one physical ``error: ...`` line: usage errors, NeoErrors, bugs and a
damaged store, at any terminal width; timeframe inference in ``neo ingest``."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from neo.cli.common import stderr_console
from neo.cli.main import NeoGroup, app
from neo.data.samples import sample_path
from tests.unit.data.helpers import T0

runner = CliRunner()


def _one_error_line(result: object, code: int) -> str:
    assert result.exit_code == code, result.output  # type: ignore[attr-defined]
    lines = result.stderr.splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and "Traceback" not in lines[0]
    assert result.stdout == ""  # type: ignore[attr-defined]
    line: str = lines[0]
    return line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["ingest", "x.csv", "--bogus"], "No such option: --bogus (try 'neo ingest --help')"),
        (["simulate", "--out"], "Option '--out' requires an argument"),
        (["simulate", "--out", "x.csv", "--bars", "many"], "Invalid value for '--bars'"),
        (["ingest"], "Missing argument 'file'"),
        (["data", "nosuch"], "No such command 'nosuch'. (try 'neo data --help')"),
        (["nosuch"], "(try 'neo --help')"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(args: list[str], expected: str) -> None:
    assert expected in _one_error_line(runner.invoke(app, args), 2)


class _Colour(StrEnum):
    red = "red"
    blue = "blue"


def _tiny_app() -> typer.Typer:
    tiny = typer.Typer(cls=NeoGroup, add_completion=False, pretty_exceptions_enable=False)

    @tiny.command("paint")
    def paint(colour: Annotated[_Colour, typer.Option("--colour")] = _Colour.red) -> None:
        if colour is _Colour.blue:
            raise RuntimeError("boom\nsecond line of a multi-line message")

    @tiny.command("other")
    def other() -> None:
        raise typer.Abort()

    return tiny


def test_a_bad_choice_is_one_line() -> None:
    line = _one_error_line(runner.invoke(_tiny_app(), ["paint", "--colour", "green"]), 2)
    assert "'green' is not one of 'red', 'blue'" in line


def test_an_unexpected_exception_is_one_line_not_a_traceback() -> None:
    line = _one_error_line(runner.invoke(_tiny_app(), ["paint", "--colour", "blue"]), 1)
    assert "unexpected RuntimeError: boom (rerun with --log-level DEBUG" in line
    assert _one_error_line(runner.invoke(_tiny_app(), ["other"]), 1) == "error: aborted"
    assert runner.invoke(_tiny_app(), ["paint"]).exit_code == 0


def test_non_standalone_callers_get_the_exceptions() -> None:
    from typer.main import get_command

    command = get_command(_tiny_app())
    with pytest.raises(typer.TyperException):
        command.main(["paint", "--colour", "green"], standalone_mode=False)


def test_all_rejected_error_never_wraps_on_a_narrow_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / ("a-rather-long-directory-name-" * 3) / "bad.csv"
    deep.parent.mkdir(parents=True)
    deep.write_text(f"timestamp,open,high,low,close,volume\n{T0 // 10**6},1,1,1,1,-1\n")
    monkeypatch.setattr(stderr_console, "width", 40)
    monkeypatch.setenv("COLUMNS", "40")
    args = ["ingest", str(deep), "--symbol", "BTC/USDT", "--timeframe", "1m"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    # every physical line is a log line or the error: a wrapped continuation would be neither
    assert all(re.match(r"^(\d\d:\d\d:\d\d |error: )", line) for line in lines), lines
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and str(deep) in errors[0]
    assert errors[0].endswith("see `neo data quarantine`") and len(errors[0]) > 80


def test_rich_stderr_lines_do_not_wrap(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(stderr_console, "width", 20)
    stderr_console.print("training a model on several instruments at once, which is long")
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def _stored(tmp_path: Path) -> None:
    out = tmp_path / "sim.csv"
    result = runner.invoke(
        app, ["simulate", "--symbols", "A/USD,B/USD", "--bars", "30", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    for symbol in ("A/USD", "B/USD"):
        result = runner.invoke(app, ["ingest", str(out), "--symbol", symbol, "--timeframe", "1m"])
        assert result.exit_code == 0, result.output


def test_damaged_store_file_in_list_stats_and_quarantine(
    tmp_path: Path, isolated_neo_env: Path
) -> None:
    _stored(tmp_path)
    damaged = next((isolated_neo_env / "store" / "bars").rglob("B%2FUSD/1m/*.parquet"))
    damaged.write_bytes(b"garbage")
    result = runner.invoke(app, ["data", "list", "--json"])
    assert result.exit_code == 0
    listed = json.loads(result.stdout)
    assert [d["symbol"] for d in listed["datasets"]] == ["A/USD", "B/USD"]
    assert listed["datasets"][0]["rows"] == 30 and listed["datasets"][1]["rows"] == 0
    assert len(listed["damaged"]) == 1 and str(damaged) in listed["damaged"][0]
    warnings = result.stderr.splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("warning: damaged store file")
    stats = runner.invoke(app, ["data", "stats", "--symbol", "B/USD", "--json"])
    assert str(damaged) in _one_error_line(stats, 1)
    assert runner.invoke(app, ["data", "stats", "--symbol", "A/USD", "--json"]).exit_code == 0
    bad = tmp_path / "bad.csv"
    bad.write_text(f"timestamp,open,high,low,close,volume\n{T0 // 10**6},1,1,1,1,-1\n")
    runner.invoke(app, ["ingest", str(bad), "--symbol", "C/USD", "--timeframe", "1m"])
    quarantine_file = next((isolated_neo_env / "store" / "quarantine").rglob("*.parquet"))
    quarantine_file.write_bytes(b"garbage")
    result = runner.invoke(app, ["data", "quarantine", "--json"])
    assert str(quarantine_file) in _one_error_line(result, 1)


def test_ingest_infers_and_reports_the_timeframe(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", str(sample_path("MSFT/USD")), "--symbol", "MSFT/USD",
                                 "--venue", "nasdaq", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["timeframe"] == "1d" and report["timeframe_inferred"] is True
    assert report["rejected"] == 0
    assert "inferred 1d" in result.stderr
    human = runner.invoke(app, ["ingest", str(sample_path("MSFT/USD")), "--symbol", "MSFT/USD"])
    assert "1d (inferred)" in human.stdout
    one = tmp_path / "one.csv"
    one.write_text(f"timestamp,open,high,low,close,volume\n{T0 // 10**6},1,1,1,1,1\n")
    line = _one_error_line(runner.invoke(app, ["ingest", str(one), "--symbol", "X/Y"]), 1)
    assert "pass --timeframe" in line


def test_export_of_an_empty_range_is_a_valid_parquet_file(tmp_path: Path) -> None:
    _stored(tmp_path)
    out = tmp_path / "empty.parquet"
    args = ["data", "export", "--symbol", "A/USD", "--start", "2030-01-01", "--out", str(out)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["rows"] == 0
    assert pq.read_table(out).column_names[0] == "timestamp"
