"""Durable sessions (neo.engine.live): a journal cut at any byte resumes to the same end.

Cutting the journal at a byte offset is what a SIGKILL (or a power loss) leaves behind: the
records before it, perhaps half a line. Resuming from there must give exactly the orders,
fills, cash and positions of the run that was never cut, with each record written once.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import msgspec
import pytest

from neo.data.feeds import SimulatedMarketDataFeed
from neo.domain.errors import ReconcileError, SessionError
from neo.engine.instruments import default_instrument
from neo.engine.journal import JOURNAL_FILE, FileJournal, JournalState, session_dir
from neo.engine.live import TradingSession, client_prefix
from neo.strategies.registry import create_strategy

NAME = "unit"
BARS = 300


def _run(data: Path, *, bars: int = BARS, fast: int = 3, symbols: tuple[str, ...] = ("BTC/USDT",),
         cycles: int | None = None, risk: Any = None) -> dict[str, Any]:  # fmt: skip
    feed = SimulatedMarketDataFeed(list(symbols), "1m", n_bars=bars, seed=5, venue="sim")
    journal = FileJournal(session_dir(data, NAME))
    try:
        session = TradingSession(
            name=NAME,
            strategy=create_strategy("sma_cross", {"fast": fast, "slow": 7}),
            feed=feed,
            journal=journal,
            instruments={iid: default_instrument(iid) for iid in feed.instruments},
            cycles=cycles,
            risk=risk,
        )
        return asyncio.run(session.run()).summary()
    finally:
        journal.close()


def _path(data: Path) -> Path:
    return session_dir(data, NAME) / JOURNAL_FILE


def _load(data: Path) -> JournalState:
    journal = FileJournal(session_dir(data, NAME))
    try:
        return journal.load()
    finally:
        journal.close()


def _records(data: Path, kind: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in _path(data).read_text().splitlines() if line]
    return [row for row in rows if row["kind"] == kind]


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("whole")
    _run(data, symbols=("BTC/USDT", "ETH/USDT"))
    return data


def test_a_journal_cut_at_any_byte_resumes_to_the_uninterrupted_end(
    whole: Path, tmp_path: Path
) -> None:
    content = _path(whole).read_bytes()
    reference = _load(whole)
    assert len(reference.orders) > 10
    rng = random.Random(7)
    for n, cut in enumerate(sorted(rng.sample(range(len(content)), 8))):
        data = tmp_path / f"cut{n}"
        _path(data).parent.mkdir(parents=True)
        _path(data).write_bytes(content[:cut])
        summary = _run(data, symbols=("BTC/USDT", "ETH/USDT"))
        restored = _load(data)
        assert msgspec.to_builtins(restored.orders) == msgspec.to_builtins(reference.orders)
        assert msgspec.to_builtins(restored.fills) == msgspec.to_builtins(reference.fills)
        assert restored.checkpoint is not None and reference.checkpoint is not None
        assert restored.checkpoint.cash == reference.checkpoint.cash
        assert restored.checkpoint.positions == reference.checkpoint.positions
        assert summary["bars"] == 2 * BARS
        # every order change and every fill is written once, however the cut fell
        assert len(_records(data, "fill")) == len(_records(whole, "fill"))
        assert len(_records(data, "order")) == len(_records(whole, "order"))


def test_a_finished_session_resumes_with_nothing_new(tmp_path: Path) -> None:
    first = _run(tmp_path, cycles=BARS)
    again = _run(tmp_path, cycles=BARS)
    assert again["resumed"] and again["replayed_bars"] == BARS and again["new_bars"] == 0
    for key in ("orders", "fills", "cash", "positions"):
        assert again[key] == first[key]


class _AlwaysStale:
    def is_stale(self, instrument: Any, engine_ts: int | None = None) -> bool:
        return True


def test_a_replay_is_not_judged_by_todays_stale_data(tmp_path: Path) -> None:
    """Data stale now (the exchange feed at restart) must not change the replayed past: the
    replay re-decides the journal's orders; new entries after it are stopped."""
    from neo.risk import PreTradeRiskGate, RiskConfig

    first = _run(tmp_path, cycles=100, risk=PreTradeRiskGate(RiskConfig()))
    assert first["orders"] > 0
    stale = PreTradeRiskGate(RiskConfig(), staleness=_AlwaysStale())
    again = _run(tmp_path, cycles=250, risk=stale)
    assert again["replayed_bars"] == 100 and again["new_bars"] == 150
    assert stale.staleness is not None and stale.counters["stale_data"] > 0
    assert [e.order_id for e in stale.events]  # only new entries were denied, after the replay


class _StaleBetween:
    """Stale for engine times in [start, end): the feed's judgement during the first run."""

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end

    def is_stale(self, instrument: Any, engine_ts: int | None = None) -> bool:
        return engine_ts is not None and self.start <= engine_ts < self.end


class _NeverStale:
    def is_stale(self, instrument: Any, engine_ts: int | None = None) -> bool:
        return False


def test_entries_denied_for_stale_data_are_denied_again_in_the_replay(tmp_path: Path) -> None:
    """The run denied entries while its data was stale; a restart cannot re-judge staleness
    (it is wall-clock), so it reads the run's judgement back from the journal and decides
    every order as the run did (without it, the replay approves those entries and refuses to
    resume: 'the restart decides ...')."""
    from neo.risk import PreTradeRiskGate, RiskConfig

    reference = tmp_path / "reference"
    window = _StaleBetween(_bar_ts(60), _bar_ts(160))
    gate = PreTradeRiskGate(RiskConfig(), staleness=window)
    whole = _run(reference, cycles=BARS, risk=gate)
    assert gate.counters["stale_data"] > 0  # entries were stopped while stale
    content = _path(reference).read_bytes()
    cut = content.rfind(b'"kind":"checkpoint"', 0, len(content) * 2 // 3)
    data = tmp_path / "resumed"
    _path(data).parent.mkdir(parents=True)
    _path(data).write_bytes(content[: content.rfind(b"\n", 0, cut) + 1])
    again = _run(data, cycles=BARS, risk=PreTradeRiskGate(RiskConfig(), staleness=_NeverStale()))
    assert again["resumed"] and again["replayed_bars"] > 160
    for key in ("orders", "fills", "cash", "positions"):
        assert again[key] == whole[key]


def _bar_ts(index: int) -> int:
    """The open time of the simulated feed's ``index``-th bar."""
    feed = SimulatedMarketDataFeed(["BTC/USDT"], "1m", n_bars=BARS, seed=5, venue="sim")
    (batch,) = feed.history().values()
    return int(batch.ts[index])


def test_cycles_count_the_session_bars_across_restarts(tmp_path: Path) -> None:
    assert _run(tmp_path, cycles=100)["new_bars"] == 100
    second = _run(tmp_path, cycles=250)
    assert (second["replayed_bars"], second["new_bars"], second["bars"]) == (100, 150, 250)


def test_a_restart_with_other_parameters_refuses(tmp_path: Path) -> None:
    _run(tmp_path, cycles=50)
    with pytest.raises(SessionError, match="params"):
        _run(tmp_path, cycles=60, fast=4)


def test_a_replay_that_decides_another_order_refuses(tmp_path: Path) -> None:
    """The journal says the first order was a sell; re-execution buys: refuse, do not trade."""
    _run(tmp_path, cycles=BARS)
    path = _path(tmp_path)
    lines = path.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if '"kind":"order"' in line)
    row = json.loads(lines[first])
    row["side"] = "sell" if row["side"] == "buy" else "buy"
    lines[first] = json.dumps(row, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReconcileError, match="start a new --session"):
        _run(tmp_path, cycles=BARS)


def test_a_replay_whose_fill_differs_refuses(tmp_path: Path) -> None:
    _run(tmp_path, cycles=BARS)
    path = _path(tmp_path)
    text = path.read_text()
    row = _records(tmp_path, "fill")[0]
    changed = {**row, "price": row["price"] * 1.01}
    dump = lambda r: json.dumps(r, separators=(",", ":"))  # noqa: E731
    assert dump(row) in text
    path.write_text(text.replace(dump(row), dump(changed)))
    with pytest.raises(ReconcileError, match="fill"):
        _run(tmp_path, cycles=BARS)


def test_a_corrupt_line_inside_the_journal_refuses(tmp_path: Path) -> None:
    _run(tmp_path, cycles=50)
    path = _path(tmp_path)
    lines = path.read_text().splitlines()
    lines[3] = lines[3][:10]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SessionError, match="corrupt at line 4"):
        _run(tmp_path, cycles=50)


def test_one_session_runs_in_one_process_at_a_time(tmp_path: Path) -> None:
    held = FileJournal(session_dir(tmp_path, NAME))
    try:
        with pytest.raises(SessionError, match="already running"):
            FileJournal(session_dir(tmp_path, NAME))
    finally:
        held.close()


@pytest.mark.parametrize("name", ["", "../x", ".hidden", "a/b", "x" * 65])
def test_session_names_are_plain(tmp_path: Path, name: str) -> None:
    with pytest.raises(SessionError, match="invalid session name"):
        session_dir(tmp_path, name)


def test_client_ids_fit_binance_rules() -> None:
    prefix = client_prefix("some-session")
    cid = f"{prefix}-{10**9}"
    assert len(cid) <= 36 and all(c.isalnum() or c in "-_" for c in cid)
    assert prefix != client_prefix("other-session")
