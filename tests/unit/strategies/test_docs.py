"""docs/strategies.md is run, block by block: every file it shows is written and every command
it shows is executed, in order, on data the commands themselves make."""

from __future__ import annotations

import importlib
import re
import shlex
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neo.cli.main import app

DOC = Path(__file__).resolve().parents[3] / "docs" / "strategies.md"
BLOCK = re.compile(r"```(\w+)(?: file=(\S+))?\n(.*?)```", re.DOTALL)
runner = CliRunner()


def blocks() -> list[tuple[str, str | None, str]]:
    return [(m.group(1), m.group(2), m.group(3)) for m in BLOCK.finditer(DOC.read_text())]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("my_strategy", None)


def _install_plugin(pyproject: str, where: Path) -> None:
    """What `pip install .` leaves for importlib.metadata: a dist-info with the entry points."""
    project = tomllib.loads(pyproject)["project"]
    info = where / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = [
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items())
        for group, points in project["entry-points"].items()
    ]
    (info / "entry_points.txt").write_text("\n".join(lines))
    importlib.invalidate_caches()


def _run(line: str) -> None:
    command, _, comment = line.partition("  # ")
    expected = 1 if "exits 1" in comment else 0
    args = shlex.split(command)
    assert args[0] == "neo", line
    result = runner.invoke(app, args[1:])
    assert result.exit_code == expected, f"{line}\n{result.output}"
    if expected:
        assert "differ" in result.output


def test_every_example_of_the_strategies_guide_runs(workdir: Path) -> None:
    found = blocks()
    kinds = {kind for kind, _, _ in found}
    assert {"python", "console", "toml"} <= kinds
    commands = 0
    for kind, name, body in found:
        if name == "pyproject.toml":
            _install_plugin(body, workdir)
        elif name is not None:
            (workdir / name).write_text(body)
        elif kind == "console":
            for line in body.splitlines():
                if line.startswith("$ "):
                    _run(line[2:])
                    commands += 1
    assert commands >= 15
