"""The kill switch through the product: engage in `neo paper`, restart, `neo risk reset`.

A paper session with a tight drawdown limit engages the switch; its state is the paper
account's, kept in ``<data-dir>/accounts/paper``; the next session (a restart) is halted from
its first bar and trades nothing; ``neo risk status`` shows the halt and its history;
``neo risk reset`` releases it and the session after that trades again. A halt holds for
every session on the account, whatever its flags (no ``--risk``, another risk file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

runner = CliRunner()
RISK = """
on_breach = "flatten"

[limits]
max_drawdown_pct = 0.003
"""


def neo(data: Path, *args: str) -> dict[str, Any]:
    from neo.cli.main import app

    result = runner.invoke(app, ["--data-dir", str(data), *args, "--json"])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, "exactly one JSON object on stdout"
    parsed: dict[str, Any] = json.loads(lines[0])
    return parsed


def paper(data: Path, risk: Path) -> dict[str, Any]:
    return neo(
        data,
        "paper",
        "--strategy",
        "sma_cross",
        "--param",
        "fast=5",
        "--param",
        "slow=20",
        "--symbols",
        "BTC/USDT",
        "--cycles",
        "400",
        "--risk",
        str(risk),
    )


def test_halt_survives_a_restart_until_neo_risk_reset(tmp_path: Path) -> None:
    data = tmp_path / "data"
    risk = tmp_path / "risk.toml"
    risk.write_text(RISK)
    assert neo(data, "risk", "status")["engaged"] is False

    first = paper(data, risk)
    assert first["kill_switch_engaged"] is True
    engaged = [e for e in first["risk_events"] if e["event"] == "KillSwitchEngaged"]
    assert len(engaged) == 1 and "drawdown" in engaged[0]["reason"]
    assert first["positions"] == {"BTC/USDT@sim": 0.0}  # flattened
    state = neo(data, "risk", "status")
    assert state["engaged"] is True and "drawdown" in state["reason"]
    assert state["path"] == str(data / "accounts" / "paper" / "killswitch.json")
    assert [e["event"] for e in state["history"]] == ["engaged"]
    # the simulated account is the session's own: its drawdown basis is not the account's
    assert state["peak_equity"] is None

    second = paper(data, risk)  # a restart: halted from the first bar
    assert second["kill_switch_engaged"] is True
    assert second["fills"] == 0 and second["orders"] == 0
    assert second["risk_denials"]["kill_switch"] > 0
    assert second["risk_events"][0]["event"] == "KillSwitchRestored"
    assert all(
        e["code"] == "kill_switch" for e in second["risk_events"] if e["event"] == "RiskDenied"
    )

    reset = neo(data, "risk", "reset", "--reason", "checked by ops")
    assert reset["was_engaged"] is True and reset["engaged"] is False
    assert "drawdown" in reset["previous_reason"]
    status = neo(data, "risk", "status")
    assert status["engaged"] is False
    assert status["last_reset"]["reason"] == "checked by ops" and status["last_reset"]["by"]

    third = paper(data, risk)  # trading resumes
    assert third["fills"] > 0
    assert third["risk_events"][0]["event"] != "KillSwitchRestored"


def test_risk_table_of_neo_toml_is_the_default(tmp_path: Path) -> None:
    from neo.cli.main import app

    config = tmp_path / "neo.toml"
    config.write_text("[risk]\n" + RISK.replace("[limits]", "[risk.limits]"))
    data = tmp_path / "data"
    args = ["--config", str(config), "--data-dir", str(data), "paper", "--strategy"]
    args += ["sma_cross", "--param", "fast=5", "--param", "slow=20", "--symbols", "BTC/USDT"]
    result = runner.invoke(app, [*args, "--cycles", "400", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["kill_switch_engaged"] is True
    status = runner.invoke(app, ["--config", str(config), "--data-dir", str(data), "risk",
                                 "status", "--json"])  # fmt: skip
    assert json.loads(status.stdout)["engaged"] is True


def test_bad_risk_file_is_one_error_line(tmp_path: Path) -> None:
    from neo.cli.main import app

    bad = tmp_path / "risk.toml"
    bad.write_text("[limits]\nmax_levrage = 2\n")
    result = runner.invoke(
        app,
        [
            "--data-dir",
            str(tmp_path),
            "paper",
            "--symbol",
            "BTC/USDT",
            "--cycles",
            "5",
            "--risk",
            str(bad),
        ],
    )
    assert result.exit_code != 0
    assert result.stderr.strip().startswith("error:") and "max_levrage" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_risk_status_for_humans(tmp_path: Path) -> None:
    from neo.cli.main import app

    result = runner.invoke(app, ["--data-dir", str(tmp_path), "risk", "status"])
    assert result.exit_code == 0 and "engaged" in result.stdout and "False" in result.stdout


def test_a_new_paper_session_measures_drawdown_from_its_own_account(tmp_path: Path) -> None:
    """Each paper session trades a fresh simulated account: a peak another session saved does
    not put the new one in drawdown (the halt itself would carry over, as above)."""
    data = tmp_path / "data"
    state = data / "accounts" / "paper" / "killswitch.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"engaged": False, "peak_equity": 250_000.0, "day": 0}))
    risk = tmp_path / "risk.toml"
    risk.write_text(RISK.replace("0.003", "0.5"))  # 100k is 60 % below the saved 250k peak
    session = paper(data, risk)
    assert session["kill_switch_engaged"] is False and session["fills"] > 0
    assert neo(data, "risk", "status")["peak_equity"] == 250_000.0  # left alone


def test_a_halt_stops_a_session_started_without_risk_limits(tmp_path: Path) -> None:
    """Issue 10: with no --risk (and no [risk] table) the session had no gate and traded
    through a halt (219 fills while `neo risk status` said engaged)."""
    data = tmp_path / "data"
    args = ["paper", "--strategy", "sma_cross", "--param", "fast=5", "--param", "slow=20"]
    args += ["--symbols", "BTC/USDT", "--cycles", "400"]
    free = neo(data, *args)
    assert free["fills"] > 0 and free["kill_switch_engaged"] is False  # trades when not halted
    engaged = neo(data, "risk", "engage", "--reason", "exchange incident")
    assert engaged["engaged"] is True and engaged["changed"] is True
    halted = neo(data, *args)
    assert halted["kill_switch_engaged"] is True
    assert halted["fills"] == 0 and halted["orders"] == 0
    assert halted["risk_denials"]["kill_switch"] > 0
    assert neo(data, "risk", "engage", "--reason", "again")["changed"] is False
    status = neo(data, "risk", "status")
    assert "exchange incident" in status["reason"] and status["engaged_by"]
    assert [e["event"] for e in status["history"]] == ["engaged"]


def test_a_risk_file_naming_its_own_state_file_is_refused(tmp_path: Path) -> None:
    """Issue 10: a risk file with another `state_file` escaped the halt (and could point
    outside the data directory); the key is now an error that says why."""
    from neo.cli.main import app

    risk = tmp_path / "risk.toml"
    risk.write_text('state_file = "../../elsewhere.json"\n' + RISK)
    result = runner.invoke(
        app, ["--data-dir", str(tmp_path), "paper", "--cycles", "5", "--risk", str(risk)]
    )
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line.startswith("error:") and "state_file" in line and "account" in line
    assert len(line.splitlines()) == 1


def test_reset_needs_a_reason_and_records_it(tmp_path: Path) -> None:
    from neo.cli.main import app

    data = tmp_path / "data"
    missing = runner.invoke(app, ["--data-dir", str(data), "risk", "reset"])
    assert missing.exit_code == 2 and "--reason" in missing.stderr
    blank = runner.invoke(app, ["--data-dir", str(data), "risk", "reset", "--reason", " "])
    assert blank.exit_code == 2 and "--reason" in blank.stderr
    neo(data, "risk", "engage", "--reason", "test")
    reset = neo(data, "risk", "reset", "--reason", "all clear")
    assert reset["was_engaged"] is True and reset["reason"] == "all clear" and reset["by"]
    status = neo(data, "risk", "status")
    assert [e["event"] for e in status["history"]] == ["engaged", "reset"]
    human = runner.invoke(app, ["--data-dir", str(data), "risk", "status"])
    assert human.exit_code == 0 and "all clear" in human.stdout and "history" in human.stdout


def test_unknown_account_is_a_usage_error(tmp_path: Path) -> None:
    from neo.cli.main import app

    result = runner.invoke(
        app, ["--data-dir", str(tmp_path), "risk", "status", "--account", "../x"]
    )
    assert result.exit_code == 2 and "unknown account" in result.stderr
