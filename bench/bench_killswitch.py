"""Benchmark: what the account's kill switch costs a running session.

* the per-step check (``KillSwitch.refresh`` on an unchanged file: one ``stat``), goal < 50 µs;
* one locked read-modify-write with fsync (an engage or a reset), goal < 50 ms;
* 8 processes × 25 locked changes each on one file (throughput under contention).

Run: ``.venv/bin/python bench/bench_killswitch.py``. Prints one line per figure.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
from pathlib import Path

from neo.risk.killswitch import KillSwitch

ROUNDS = 25
PROCESSES = 8


def churn(path: str) -> None:
    switch = KillSwitch(Path(path), actor="bench")
    for _ in range(ROUNDS):
        switch.refresh()
        if not switch.engage("bench"):
            switch.reset("bench")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "killswitch.json"
        watcher = KillSwitch(path, actor="session")
        KillSwitch(path, actor="ops").engage("warm up")
        watcher.refresh()
        n = 100_000
        started = time.perf_counter()
        for _ in range(n):
            watcher.refresh()
        per_step = (time.perf_counter() - started) / n
        print(f"killswitch refresh per step (unchanged): {per_step * 1e6:.2f} µs (goal < 50 µs)")

        ops = KillSwitch(path, actor="ops")
        started = time.perf_counter()
        for _ in range(50):
            ops.reset("bench")
            ops.engage("bench")
        per_change = (time.perf_counter() - started) / 100
        print(f"killswitch locked change (fsync): {per_change * 1e3:.2f} ms (goal < 50 ms)")

        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=churn, args=(str(path),)) for _ in range(PROCESSES)]
        started = time.perf_counter()
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        elapsed = time.perf_counter() - started
        total = PROCESSES * ROUNDS
        print(
            f"killswitch {PROCESSES} processes x {ROUNDS} changes: {elapsed:.2f} s wall "
            f"({total / elapsed:.0f} changes/s incl. process start)"
        )


if __name__ == "__main__":
    main()
