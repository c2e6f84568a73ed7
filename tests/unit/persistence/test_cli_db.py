"""``neo db status`` and ``neo db upgrade``: one JSON object, masked URL, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from neo.cli.main import app
from neo.persistence import head_revision

runner = CliRunner()


def test_status_then_upgrade_then_status(isolated_neo_env: Path) -> None:
    result = runner.invoke(app, ["db", "status", "--json"])
    assert result.exit_code == 0, result.output
    before = json.loads(result.stdout)
    assert before["backend"] == "sqlite" and before["current"] is None
    assert before["head"] == head_revision() and before["up_to_date"] is False
    assert before["url"] == f"sqlite:///{isolated_neo_env.resolve() / 'neo.db'}"
    result = runner.invoke(app, ["db", "upgrade", "--json"])
    assert result.exit_code == 0, result.output
    upgraded = json.loads(result.stdout)
    assert upgraded["previous"] is None and upgraded["current"] == head_revision()
    result = runner.invoke(app, ["db", "status"])
    assert result.exit_code == 0 and "up to date" in result.stdout
    again = runner.invoke(app, ["db", "upgrade"])
    assert again.exit_code == 0 and "upgraded" in again.stdout


def test_url_flag_and_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    result = runner.invoke(app, ["db", "upgrade", "--url", url, "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["url"] == url
    bad = runner.invoke(app, ["db", "status", "--url", "mysql://root:hunter2@h/d"])
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: unsupported database url") and "hunter2" not in bad.stderr
    down = runner.invoke(app, ["db", "status", "--url", "postgresql://u:hunter2@127.0.0.1:1/d"])
    assert down.exit_code == 1 and len(down.stderr.strip().splitlines()) == 1
    assert "hunter2" not in down.stderr and "***" in down.stderr
