"""A durable paper session killed with SIGKILL at random points ends exactly as an
uninterrupted one: the same orders (client ids, sides, quantities, final states), the same
fills (trade ids, quantities, prices) and the same cash and positions.

The child process (:mod:`tests.integration.live_child`) runs the hybrid strategy on two
simulated instruments, 5,000 steps each (10,000 bars). The test kills it once its journal has
grown past a seeded random size, so the kill lands anywhere: between steps, inside a step's
cycle, in the middle of a journal write. Each restart replays the completed steps, checks them
against the journal and goes on from the step the kill cut short.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from neo.engine.journal import FileJournal, JournalState, session_dir
from tests.integration import live_child

ROOT = Path(__file__).resolve().parents[2]
KILLS = 3
NAME = "kill-me"


def _journal(data_dir: Path) -> JournalState:
    journal = FileJournal(session_dir(data_dir, NAME))
    try:
        return journal.load()
    finally:
        journal.close()


def _orders(state: JournalState) -> dict[str, Any]:
    return {cid: msgspec.to_builtins(record) for cid, record in state.orders.items()}


def _fills(state: JournalState) -> dict[str, Any]:
    return {tid: msgspec.to_builtins(record) for tid, record in state.fills.items()}


def _count(data_dir: Path, kind: str) -> int:
    text = (session_dir(data_dir, NAME) / "journal.jsonl").read_text()
    return text.count(f'{{"kind":"{kind}",')


def _child(data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.live_child", str(data_dir), NAME,
         str(live_child.STEPS)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip


def _kill_when_grown(child: subprocess.Popen[str], path: Path, size: int) -> bool:
    """SIGKILL the child once ``path`` exceeds ``size`` bytes; False when it finished first."""
    while child.poll() is None:
        if path.exists() and path.stat().st_size > size:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            return True
        time.sleep(0.002)
    return False


@pytest.mark.slow
def test_a_session_killed_at_random_points_ends_as_an_uninterrupted_one(tmp_path: Path) -> None:
    whole = live_child.run(tmp_path / "whole", NAME)
    reference = _journal(tmp_path / "whole")
    full_size = (session_dir(tmp_path / "whole", NAME) / "journal.jsonl").stat().st_size
    assert whole["bars"] == 2 * live_child.STEPS and whole["orders"] > 50

    data = tmp_path / "killed"
    path = session_dir(data, NAME) / "journal.jsonl"
    rng = random.Random(20261203)
    kills = 0
    for _ in range(KILLS):
        grown = path.stat().st_size if path.exists() else 0
        child = _child(data)
        target = grown + rng.randint(full_size // 20, full_size // (KILLS + 1))
        kills += _kill_when_grown(child, path, target)
        assert child.stdout is not None
        child.stdout.close()
    assert kills == KILLS  # every child was killed before it could finish
    final = _child(data)
    out, _ = final.communicate(timeout=120)
    assert final.returncode == 0
    summary = json.loads(out)
    assert summary["resumed"] and summary["replayed_bars"] > 0

    restored = _journal(data)
    assert _orders(restored) == _orders(reference)
    assert _fills(restored) == _fills(reference)
    assert restored.checkpoint is not None and reference.checkpoint is not None
    assert restored.checkpoint.positions == reference.checkpoint.positions
    assert restored.checkpoint.cash == reference.checkpoint.cash
    for kind in ("order", "fill"):  # each change and each fill written once
        assert _count(data, kind) == _count(tmp_path / "whole", kind)
    assert {k: summary[k] for k in ("bars", "orders", "fills", "cash", "positions")} == {
        k: whole[k] for k in ("bars", "orders", "fills", "cash", "positions")
    }
