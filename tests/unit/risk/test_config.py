from __future__ import annotations

from pathlib import Path

import pytest

from neo.domain.errors import ConfigError
from neo.risk import RiskConfig, build_risk_gate, load_risk_config


def test_loads_top_level_and_risk_table(tmp_path: Path) -> None:
    top = tmp_path / "a.toml"
    top.write_text('on_breach = "reduce"\n[limits]\nmax_leverage = 2.0\nmax_open_orders = 3\n')
    table = tmp_path / "b.toml"
    table.write_text("[risk.limits]\nmax_drawdown_pct = 0.1\n")
    first = load_risk_config(top)
    assert first.on_breach == "reduce"
    assert first.limits.max_leverage == 2.0
    assert first.limits.max_open_orders == 3
    assert load_risk_config(table).limits.max_drawdown_pct == 0.1


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[limits]\nmax_leverage = -1\n", "limits.max_leverage"),
        ("[limits]\nmax_levrage = 1\n", "max_levrage"),
        ("on_breach = 'panic'\n", "on_breach"),
        ("[limits\n", "cannot read"),
    ],
)
def test_bad_files_become_config_errors(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "risk.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_risk_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_risk_config(tmp_path / "nope.toml")


def test_build_risk_gate_from_path_and_config(tmp_path: Path) -> None:
    path = tmp_path / "risk.toml"
    path.write_text("[limits]\nmax_position_notional = 500.0\n")
    gate = build_risk_gate(str(path), tmp_path / "data")
    assert gate.limits.max_position_notional == 500.0
    paper = tmp_path / "data" / "accounts" / "paper" / "killswitch.json"
    assert gate.kill_switch.state_path == paper
    other = build_risk_gate(RiskConfig(), tmp_path / "data", account="exchange:binance:main")
    assert other.kill_switch.state_path == paper.parents[1] / "exchange/binance/main" / paper.name


@pytest.mark.parametrize(
    "text", ['state_file = "../../elsewhere.json"\n', '[risk]\nstate_file = "x.json"\n']
)
def test_a_risk_file_cannot_choose_the_kill_switch_state(tmp_path: Path, text: str) -> None:
    """The halt belongs to the account: a risk file naming its own state file (and so escaping
    a halt, or writing outside the data directory) is refused, saying why."""
    path = tmp_path / "risk.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"state_file is no longer a setting.*account"):
        load_risk_config(path)


@pytest.mark.parametrize("account", ["", "Paper", "exchange:binance", "exchange:x:../up", "a:b:c"])
def test_unknown_accounts_are_refused(tmp_path: Path, account: str) -> None:
    with pytest.raises(ConfigError, match="unknown account"):
        build_risk_gate(RiskConfig(), tmp_path, account=account)


def test_build_risk_gate_in_memory_for_backtests(tmp_path: Path) -> None:
    gate = build_risk_gate(RiskConfig(), None)
    gate.kill_switch.engage("x")
    assert gate.kill_switch.state_path is None
    assert not list(tmp_path.rglob("*.json"))
