"""The kill switch belongs to the account and is shared by every session trading it.

One test per way the per-file switch failed open (issue 10): a second session's write erased a
halt; a reset done while a halted session ran was overwritten when that session wrote again; a
halt set elsewhere was not seen by a running session. Sessions here are gates (or bare
switches) on the same state file, as two processes would hold them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from neo.domain.enums import Side
from neo.domain.ids import InstrumentId
from neo.domain.order import Order, next_order_id
from neo.risk import (
    HALT_ONLY,
    KillSwitch,
    PreTradeRiskGate,
    RiskConfig,
    RiskLimits,
    account_kill_switch,
    account_state_path,
    build_risk_gate,
)
from tests.unit.risk.fakes import FakeAccount

BTC = InstrumentId("sim", "BTC/USDT")


def account(equity_drop: float = 0.0, ts: int = 10) -> FakeAccount:
    acc = FakeAccount(cash=0.0, ts=ts)
    acc.positions = {BTC: 1.0}
    acc.mark(BTC, 10_000.0)
    acc.peak_equity = acc.day_start_equity = 10_000.0
    acc.cash -= equity_drop
    return acc


def buy() -> Order:
    return Order(id=next_order_id(), instrument=BTC, side=Side.BUY, quantity=0.1)


def session(
    path: Path, *, drawdown: float | None = None, keep_basis: bool = True
) -> PreTradeRiskGate:
    config = RiskConfig(limits=RiskLimits(max_drawdown_pct=drawdown)) if drawdown else HALT_ONLY
    return PreTradeRiskGate(config, path, keep_basis=keep_basis)


def test_a_second_session_writing_does_not_erase_a_halt(tmp_path: Path) -> None:
    """Two switches on one file: the one that did not engage writes its basis afterwards."""
    path = tmp_path / "ks.json"
    first, second = KillSwitch(path), KillSwitch(path)
    assert first.engage("drawdown", 5)
    second.update_basis(10_000.0, 10_000.0, 3, 10_000.0)  # its own, stale view: not engaged
    assert KillSwitch(path).engaged and KillSwitch(path).reason == "drawdown"
    assert json.loads(path.read_text())["peak_equity"] == 10_000.0  # its basis merged in


def test_a_reset_during_a_halted_session_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "ks.json"
    gate = session(path, drawdown=0.10)
    gate.on_bar(account(equity_drop=2_000.0))  # 20 % down: engaged, actions asked for
    assert gate.kill_switch.engaged
    KillSwitch(path).reset("checked by ops", by="ops")  # `neo risk reset` meanwhile
    gate.kill_switch.mark_actions_done()  # what the session writes after the reset...
    gate.kill_switch.update_basis(8_000.0, 10_000.0, 9, 8_000.0)
    assert not KillSwitch(path).engaged  # ...does not bring the halt back
    # and the session honours the reset at its next step, measuring from the equity then
    assert gate.on_bar(account(equity_drop=2_000.0)).orders == ()
    assert not gate.kill_switch.engaged
    assert gate.check(buy(), account(equity_drop=2_000.0)).approved
    resets = [e for e in gate.events if e.kind == "kill_switch_reset"]
    assert resets and "checked by ops" in resets[0].reason and "ops" in resets[0].reason


def test_a_halt_set_elsewhere_stops_a_running_session_at_its_next_step(tmp_path: Path) -> None:
    path = tmp_path / "ks.json"
    running = session(path, keep_basis=False)  # a paper session without limits
    acc = account()
    running.on_bar(acc)
    assert running.check(buy(), acc).approved
    other = session(path, drawdown=0.10)
    other.on_bar(account(equity_drop=2_000.0))  # another session trips the account's halt
    actions = running.on_bar(acc)  # the running session's next step
    assert running.kill_switch.engaged and "drawdown" in running.kill_switch.reason
    assert actions.cancel_all and [o.side for o in actions.orders] == [Side.SELL]  # flatten
    verdict = running.check(buy(), acc)
    assert not verdict.approved and verdict.code == "kill_switch"
    engaged = [e for e in running.events if e.kind == "kill_switch_engaged"]
    assert len(engaged) == 1 and "engaged elsewhere" in engaged[0].reason
    assert running.engagements == 0  # it did not trip it itself


def test_refresh_reads_only_when_the_file_changed(tmp_path: Path) -> None:
    path = tmp_path / "ks.json"
    switch = KillSwitch(path)
    assert not switch.refresh()  # no file yet
    KillSwitch(path).engage("elsewhere")
    assert switch.refresh() and switch.engaged and switch.take_change() == "engaged"
    assert not switch.refresh() and switch.take_change() == ""  # unchanged: a stat, no read
    path.unlink()  # a vanished file is no reset
    assert not switch.refresh() and switch.engaged


def test_a_reset_is_recorded_with_who_when_and_why(tmp_path: Path) -> None:
    path = tmp_path / "ks.json"
    KillSwitch(path, actor="session A").engage("daily loss", 42)
    before = KillSwitch(path).reset("limits reviewed", by="alice")
    assert before["engaged"] and before["reason"] == "daily loss"
    state = json.loads(path.read_text())
    assert not state["engaged"] and state["generation"] == 2
    engaged, reset = state["history"]
    assert (engaged["event"], engaged["by"], engaged["reason"], engaged["ts_ns"]) == (
        "engaged",
        "session A",
        "daily loss",
        42,
    )
    assert (reset["event"], reset["by"], reset["reason"]) == ("reset", "alice", "limits reviewed")
    assert reset["previous_reason"] == "daily loss" and reset["at"].endswith("+00:00")


def test_engage_keeps_the_first_halt_of_another_session(tmp_path: Path) -> None:
    path = tmp_path / "ks.json"
    first, second = KillSwitch(path), KillSwitch(path)
    assert first.engage("first")
    assert not second.engage("second")  # already engaged on disk: adopts that halt
    assert second.engaged and second.reason == "first" and second.take_change() == "engaged"
    assert len(json.loads(path.read_text())["history"]) == 1


def test_paper_sessions_keep_their_own_basis_and_actions(tmp_path: Path) -> None:
    """keep_basis=False (paper): the halt is the account's, the basis and the breach actions
    are the session's own, so a session that picks up a halt still flattens its positions."""
    path = tmp_path / "ks.json"
    one, two = KillSwitch(path, keep_basis=False), KillSwitch(path, keep_basis=False)
    one.update_basis(50_000.0, 50_000.0, 1, 50_000.0)
    assert not path.exists()  # nothing written: the basis is this session's
    one.engage("x")
    one.mark_actions_done()
    two.refresh()
    assert two.engaged and not two.actions_done and math.isnan(two.peak_equity)


def test_unreadable_state_fails_closed_until_a_reset_replaces_it(tmp_path: Path) -> None:
    path = tmp_path / "ks.json"
    switch = KillSwitch(path)
    path.write_text("{oops")
    assert switch.refresh() and switch.engaged and "unreadable" in switch.reason
    switch.update_basis(1.0, 1.0, 1, 1.0)  # no write over a file it cannot read
    assert path.read_text() == "{oops"
    before = KillSwitch(path).reset("file replaced")
    assert before["engaged"] and "unreadable" in before["reason"]
    assert switch.refresh() and not switch.engaged and switch.take_change() == "reset"


def test_a_hand_repaired_state_file_does_not_release_a_halt(tmp_path: Path) -> None:
    path = tmp_path / "ks.json"
    switch = KillSwitch(path)
    path.write_text("[]")
    switch.refresh()
    path.write_text(json.dumps({"engaged": False}))  # "repaired" by hand: no reset recorded
    switch.refresh()
    assert switch.engaged  # still failed closed: only a reset releases it
    KillSwitch(path).reset("checked the file")
    assert switch.refresh() and not switch.engaged


def test_the_account_is_the_data_directory_s_not_the_config_s(tmp_path: Path) -> None:
    data = tmp_path / "data"
    strict = build_risk_gate(RiskConfig(limits=RiskLimits(max_leverage=1.0)), data)
    loose = build_risk_gate(HALT_ONLY, data)
    assert strict.kill_switch.state_path == loose.kill_switch.state_path
    assert strict.kill_switch.state_path == account_state_path(data)
    strict.kill_switch.engage("manual")
    loose.on_bar(account())
    assert not loose.check(buy(), account()).approved


def test_a_halt_in_the_former_state_file_is_carried_over(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "risk").mkdir(parents=True)
    (data / "risk" / "custom.json").write_text(json.dumps({"engaged": True, "reason": "dd"}))
    switch = account_kill_switch(data)
    assert switch.engaged and "custom.json" in switch.reason and "dd" in switch.reason
    switch.reset("migrated")
    assert not account_kill_switch(data).engaged  # carried over once, not again
