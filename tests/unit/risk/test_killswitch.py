from __future__ import annotations

import json
from pathlib import Path

import pytest

from neo.domain.errors import RiskError
from neo.risk import KillSwitch


def test_engaged_state_survives_restart_until_reset(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ks.json"
    switch = KillSwitch(path)
    assert not switch.engaged
    assert switch.engage("drawdown", ts_ns=7)
    assert not switch.engage("again")  # idempotent, keeps the first reason
    reborn = KillSwitch(path)
    assert reborn.engaged
    assert reborn.reason == "drawdown"
    assert reborn.engaged_ns == 7
    reborn.reset(by="ops")
    assert not KillSwitch(path).engaged
    assert json.loads(path.read_text())["engaged"] is False
    left = sorted(p.name for p in path.parent.iterdir())
    assert left == ["ks.json", "ks.json.lock"]  # no temp files left


def test_unreadable_state_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "ks.json"
    path.write_text("{not json")
    switch = KillSwitch(path)
    assert switch.engaged
    assert "unreadable" in switch.reason


def test_memory_only_switch() -> None:
    switch = KillSwitch(None)
    switch.engage("x")
    switch.reset()
    assert not switch.engaged


def test_unwritable_state_is_a_risk_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    switch = KillSwitch(blocker / "ks.json")  # parent is a file: cannot create it
    assert switch.engaged  # cannot even look: fails closed
    with pytest.raises(RiskError, match="cannot persist"):
        switch.reset("ops")
    assert switch.engaged


def test_state_keeps_basis_and_reads_the_old_format(tmp_path: Path) -> None:
    path = tmp_path / "ks.json"
    path.write_text(json.dumps({"engaged": False, "reason": "", "engaged_ns": 0}))
    old = KillSwitch(path)
    assert not old.engaged and old.day is None
    old.update_basis(100.0, 90.0, 3, 95.0)
    stored = json.loads(path.read_text())
    assert (stored["peak_equity"], stored["day"], stored["day_start_equity"]) == (100.0, 3, 95.0)
    old.update_basis(100.005, 100.0, 3, 1.0)  # below the save step: memory only, day kept
    assert KillSwitch(path).peak_equity == 100.0 and old.peak_equity == 100.005
    old.update_basis(101.0, 100.0, 3, 1.0)
    assert KillSwitch(path).peak_equity == 101.0 and KillSwitch(path).day_start_equity == 95.0


@pytest.mark.parametrize(
    "bad",
    ['{"engaged": false, "peak_equity": "x"}', '{"engaged": false, "peak_equity": NaN}', "[]"],
)
def test_corrupt_basis_fails_closed(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "ks.json"
    path.write_text(bad)
    assert KillSwitch(path).engaged
