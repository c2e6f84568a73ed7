"""Concurrent processes engaging, updating and resetting one account's kill switch lose nothing.

Eight processes start together (a barrier) and each runs many random rounds of refresh, then
engage, basis update, breach actions or reset on the same state file, each through its own
long-lived (so often stale) switch, as sessions and ``neo risk`` commands would. Every engage
that took effect and every reset starts a generation: the file must end with exactly as many
generations as the processes made, each in the history once, in order. Without the file lock
the read-modify-write cycles overlap and generations go missing (checked by replacing the
lock with a no-op: 6 of 6 runs lost 70 to 78 of about 90 generations).
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import random
from pathlib import Path
from typing import Any

import pytest

PROCESSES = 8
ROUNDS = 30


def worker(path: str, seed: int, barrier: Any, results: Any) -> None:
    from neo.risk.killswitch import KillSwitch

    switch = KillSwitch(Path(path), keep_basis=True, actor=f"w{seed}")
    rng = random.Random(seed)
    made: list[str] = []
    barrier.wait()
    for round_ in range(ROUNDS):
        switch.refresh()
        pick = rng.random()
        if pick < 0.4:
            reason = f"engage w{seed} r{round_}"
            if switch.engage(reason, round_):
                made.append(reason)
        elif pick < 0.65:
            equity = rng.uniform(90.0, 110.0)
            switch.update_basis(equity, equity, round_ // 5, equity)
        elif pick < 0.8:
            switch.mark_actions_done()
        else:
            reason = f"reset w{seed} r{round_}"
            switch.reset(reason)
            made.append(reason)
    results.put(made)


@pytest.mark.slow
@pytest.mark.parametrize("repeat", range(2))
def test_concurrent_processes_never_lose_a_halt_or_a_reset(tmp_path: Path, repeat: int) -> None:
    ctx = multiprocessing.get_context("fork")  # children start at once, neo already imported
    path = tmp_path / "accounts" / "paper" / "killswitch.json"
    barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(str(path), 100 * repeat + n, barrier, results))
        for n in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    made = [reason for _ in procs for reason in results.get(timeout=120)]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    state = json.loads(path.read_text())
    history = state["history"]
    assert state["generation"] == len(made) == len(history)
    assert [entry["generation"] for entry in history] == list(range(1, len(made) + 1))
    assert sorted(entry["reason"] for entry in history) == sorted(made)
    assert state["engaged"] is (history[-1]["event"] == "engaged")
    events = [entry["event"] for entry in history]
    assert all(a != b or a == "reset" for a, b in itertools.pairwise(events))
