"""Several processes and SIGKILL, on both backends: client ids stay unique, nothing committed
is lost, and a restarted writer's replayed fills are dropped as duplicates."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from neo.persistence import open_database

ROOT = Path(__file__).resolve().parents[3]


def _allocate(url: str, session_id: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    db = open_database(url)
    try:
        ids: list[str] = []
        for _ in range(25):
            ids += db.sessions.allocate_client_ids(session_id, rng.randint(1, 3))
        return ids
    finally:
        db.close()


def test_allocate_client_ids_from_several_processes_never_overlaps(database_url: str) -> None:
    with open_database(database_url) as db:
        session = db.sessions.create("live", "acc", "x", session_id="conc")
    context = multiprocessing.get_context("fork")
    with context.Pool(4) as pool:
        batches = pool.starmap(_allocate, [(database_url, "conc", seed) for seed in range(4)])
    ids = [cid for batch in batches for cid in batch]
    assert len(ids) == len(set(ids))
    seqs = sorted(int(cid.rsplit("-", 1)[1]) for cid in ids)
    assert seqs == list(range(1, len(ids) + 1))  # no gap either: every allocation committed
    for batch in batches:  # each process saw its own ids increase
        numbers = [int(cid.rsplit("-", 1)[1]) for cid in batch]
        assert numbers == sorted(numbers)
    with open_database(database_url) as db:
        assert db.sessions.require("conc").next_client_seq == len(ids) + 1
    assert session.tag == "conc"


def _writer(url: str, count: int) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT}")
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.persistence.writer", url, "kill", str(count)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_sigkill_at_random_points_loses_nothing_committed(database_url: str) -> None:
    count = 30
    with open_database(database_url) as db:
        db.sessions.create("live", "exchange:binance:main", "x", session_id="kill")
    rng = random.Random(20240229)
    printed: list[list[str]] = []
    for _ in range(4):
        with _writer(database_url, count) as child:
            assert child.stdout is not None
            for _ in range(rng.randint(3, 25)):  # the seeded point: after this many lines
                line = child.stdout.readline()
                if not line:
                    break
                printed.append(line.split())
            child.send_signal(signal.SIGKILL)
            rest, err = child.communicate(timeout=60)
        printed += [line.split() for line in rest.splitlines()]  # printed before it died
        assert child.returncode == -signal.SIGKILL, err
    with _writer(database_url, count) as final:
        out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    printed += [line.split() for line in out.splitlines()]
    assert printed[-1] == ["done"] and printed.count(["done"]) == 1  # every kill was mid-run

    with open_database(database_url) as db:
        orders = db.orders.orders(session_id="kill")
        fills = db.orders.fills(session_id="kill")
        next_seq = db.sessions.require("kill").next_client_seq
    by_id = {order.client_order_id: order for order in orders}
    # every committed intent and fill the writers reported is there
    for words in printed:
        if words[0] in ("intent", "ack"):
            assert words[1] in by_id
    recorded = {fill.trade_id for fill in fills}
    assert {words[1] for words in printed if words[0] == "fill"} <= recorded
    # ids: unique, contiguous (allocation and intent commit together), below the counter
    seqs = sorted(int(cid.rsplit("-", 1)[1]) for cid in by_id)
    assert seqs == list(range(1, count + 1)) and next_seq == count + 1
    # each order filled exactly once, whatever was replayed after the kills
    assert len(fills) == 2 * count
    for order in orders:
        own = [fill for fill in fills if fill.client_order_id == order.client_order_id]
        assert sorted(fill.trade_id for fill in own) == [
            f"{order.client_order_id}-0",
            f"{order.client_order_id}-1",
        ]
        assert sum(fill.quantity for fill in own) == pytest.approx(order.quantity)
        assert (order.status, order.outcome) == ("filled", "final")
        assert order.filled_quantity == pytest.approx(order.quantity)
