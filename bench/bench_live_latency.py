"""Bar-to-order latency of a live session against ``neo exchange-sim``, stage by stage.

    .venv/bin/python bench/bench_live_latency.py [--bars 1000] [--profile bench|live] [--json]

A durable live session (journal, checkpoint per step, CcxtBroker through the unmodified ccxt
client) trades a strategy that changes its target on every bar, so every live bar sends one
market order. The clock starts when the websocket message that closes a kline is received
(ccxt.pro's ``handle_ohlcv``, before any of NEO's code) and stops when the order's create
request is handed to ccxt (``create_order`` called): NEO's own time.

Profiles:

* ``bench`` (default): a file journal without fsync and no risk gate — NEO's own code only.
* ``live``: what ``neo live`` builds — the file journal fsynced at each checkpoint, mirrored into
  the SQLite state database (:class:`~neo.engine.mirror.SqlMirror`), and the kill-switch and
  staleness risk gate. Its extra cost is reported stage by stage, so it can be told apart.

Pacing: the sim closes a bar (``advance``) only once the websocket is subscribed, then closes
the next one as soon as the session has checkpointed the bar before, so bars never queue behind
each other and never close while the socket is down (a bar closed then only arrives by the
feed's REST back-fill after a heartbeat timeout: untimed, and 30 s lost). The warm-up bars
(back-filled over REST before the socket opens) decide nothing, as in ``neo live``: every order
of the run comes from a websocket bar and is timed.

Each timed bar is stamped at: ``ws`` (kline received) → ``emit`` (the feed has the closed bar
and queues it) → ``yield`` (the session's ``async for`` gets it) → ``push`` (the loop receives
it, after the bar's journal record) → ``strategy`` (``on_bar`` starts) → ``decided`` (it
returns) → ``submit`` (risk passed, the broker's ``submit`` called) → ``intent`` (the journal's
intent record written) → ``create`` (``create_order`` called). The figures give p50/p99/max of
each stage's share, the CPU time this thread spent in the window (``time.thread_time``: a wall
time far above it means the process waited — for another process on a busy machine, or for
I/O), and every garbage collection that overlapped a timed window (``gc.callbacks``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from neo.adapters.ccxt import ExchangeConfig, load_instruments, make_exchange
from neo.adapters.ccxt.broker import ccxt_broker
from neo.adapters.ccxt.feed import CcxtBarFeed
from neo.domain.bar import Bar
from neo.engine.journal import FileJournal, SessionJournal, session_dir
from neo.engine.live import TradingSession
from neo.exchange_sim import serve_in_thread
from neo.exchange_sim.client import SIM_KEY, SIM_SECRET
from neo.strategies.base import Strategy
from neo.strategies.context import StrategyContext

SYMBOL = "BTC/USDT"
WARMUP_BARS = 5
STAGES = ("ws", "emit", "yield", "push", "strategy", "decided", "submit", "intent", "create")
_MS = 1_000_000


class Flip(Strategy):
    """Long 0.01 on even bars, flat on odd ones: one market order per bar."""

    name = "flip"

    def __init__(self, marks: Marks | None = None) -> None:
        super().__init__()
        self.marks = marks

    def on_bar(self, ctx: StrategyContext) -> None:
        marks = self.marks
        if marks is not None:
            marks.stamp("strategy")
        ctx.target_position(0.01 if ctx.i % 2 == 0 else 0.0)
        if marks is not None:
            marks.stamp("decided")


class Marks:
    """Per-bar stage timestamps (perf_counter ns) and the GC pauses of the run."""

    def __init__(self) -> None:
        self.bars: dict[int, dict[str, int]] = {}
        self.cpu: dict[int, list[int]] = {}
        self.current = -1
        self.gc: list[tuple[int, int, int]] = []  # (start ns, end ns, generation)
        self.durations: dict[str, list[float]] = {}
        self._gc_start = 0

    def timed(self, name: str, call: Any) -> Any:
        """``call`` wrapped to add each call's duration (ms) to ``self.durations[name]``."""
        durations = self.durations.setdefault(name, [])

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter_ns()
            try:
                return call(*args, **kwargs)
            finally:
                durations.append((time.perf_counter_ns() - start) / _MS)

        return wrapper

    def stamp(self, stage: str, key: int | None = None) -> None:
        bar = self.current if key is None else key
        self.bars.setdefault(bar, {}).setdefault(stage, time.perf_counter_ns())

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter_ns()
        else:
            self.gc.append((self._gc_start, time.perf_counter_ns(), int(info["generation"])))


def _config(url: str) -> ExchangeConfig:
    return ExchangeConfig(
        url=url, api_key=SecretStr(SIM_KEY), secret=SecretStr(SIM_SECRET), rate_limit_ms=1.0
    )


def _instrument_stream(stream: Any, marks: Marks) -> None:
    """Stamp ``ws`` when a closing kline is received (before ccxt or NEO parse it)."""
    original = stream.handle_ohlcv

    def handle_ohlcv(client: Any, message: Any) -> Any:
        kline = message.get("k") if isinstance(message, dict) else None
        if isinstance(kline, dict) and kline.get("x"):
            key = int(kline["t"])
            marks.stamp("ws", key)
            marks.cpu[key] = [time.thread_time_ns()]
        return original(client, message)

    stream.handle_ohlcv = handle_ohlcv


def _instrument_feed(feed: CcxtBarFeed, marks: Marks) -> None:
    emit = feed._emit
    stream = feed.stream

    def stamped_emit(series: Any, row: list[float]) -> None:
        marks.stamp("emit", int(row[0]))
        emit(series, row)

    async def stamped_stream() -> AsyncGenerator[Bar, None]:
        async for bar in stream():
            marks.current = bar.ts // _MS
            marks.stamp("yield")
            yield bar

    feed._emit = stamped_emit  # type: ignore[method-assign]
    feed.stream = stamped_stream  # type: ignore[method-assign]


def _instrument_session(session: TradingSession, exchange: Any, marks: Marks) -> None:
    loop = session.loop
    push, broker = loop.push_bar, loop.broker
    submit = broker.submit

    def stamped_push(bar: Bar) -> None:
        marks.stamp("push")
        push(bar)

    def stamped_submit(order: Any) -> None:
        marks.stamp("submit")
        submit(order)

    step_done = session.step_done

    def stamped_step_done(ts: int) -> None:
        step_done(ts)  # checkpoint, deferred database writes, garbage collection
        marks.stamp("stepped", ts // _MS)

    session.step_done = stamped_step_done  # type: ignore[method-assign]
    loop.push_bar = stamped_push  # type: ignore[method-assign]
    broker.submit = stamped_submit  # type: ignore[method-assign]
    venue = session.venue
    assert venue is not None
    journal = venue.journal
    intent = journal.record_intent

    def stamped_intent(order: Any, name: str | None) -> str:
        cid = intent(order, name)
        marks.stamp("intent")
        return cid

    journal.record_intent = stamped_intent  # type: ignore[method-assign]
    create = exchange.create_order

    def stamped_create(*args: Any, **kwargs: Any) -> Any:
        marks.stamp("create")
        cpu = marks.cpu.get(marks.current)
        if cpu is not None:
            cpu.append(time.thread_time_ns())
        return create(*args, **kwargs)

    exchange.create_order = stamped_create


def _journal(profile: str, directory: Path, url: str, marks: Marks) -> tuple[SessionJournal, Any]:
    """The session's journal: a plain file (bench) or what ``neo live`` opens (live), with
    its checkpoint (write + fsync) and the database's deferred writes timed."""
    file = FileJournal(session_dir(directory, "bench"), sync=profile == "live")
    file.checkpoint = marks.timed("checkpoint_file", file.checkpoint)  # type: ignore[method-assign]
    if profile == "bench":
        return file, file
    from neo.engine.mirror import SqlMirror
    from neo.persistence import open_database

    mirror = SqlMirror(file, open_database(url))
    if hasattr(mirror, "flush"):  # the deferred database writes (absent before they were)
        mirror.flush = marks.timed("database_flush", mirror.flush)  # type: ignore[method-assign]
    return mirror, mirror


def _gate(profile: str, directory: Path, instruments: Any, feed: Any) -> Any:
    if profile == "bench":
        return None
    from neo.risk import HALT_ONLY, build_risk_gate

    gate = build_risk_gate(
        HALT_ONLY, directory, instruments, account="exchange:binance:bench", keep_basis=True
    )
    gate.staleness = feed
    return gate


def _subscribed(sim: Any) -> bool:
    streams = sim.call(lambda: [set(c.streams) for c in sim.sim.ws_connections])
    return any(any("@kline_" in s for s in found) for found in streams)


def _pace(sim: Any, session: TradingSession, stepped: threading.Event, done: threading.Event,
          counts: dict[str, int]) -> None:  # fmt: skip
    """Close a bar once the socket is subscribed, then each next one once the session has
    checkpointed the bar before (its step is done)."""
    while not _subscribed(sim):
        if done.wait(0.01):
            return
    while not done.is_set():
        state = sim.advance(1)
        counts["advanced"] += 1
        closed_ns = (int(state["now_ms"]) - int(state["bar_ms"])) * _MS
        waited = time.monotonic()
        while session.last_step < closed_ns and not done.is_set():
            stepped.wait(timeout=1.0)
            stepped.clear()
            if time.monotonic() - waited > 60:
                counts["stalls"] += 1
                return


def run(bars: int, profile: str = "bench", quiet_gc: bool = True) -> dict[str, Any]:
    sim = serve_in_thread("binance", seed=7, history_bars=200)
    marks = Marks()
    stepped, done = threading.Event(), threading.Event()
    counts = {"advanced": 0, "stalls": 0}
    try:
        exchange = make_exchange("binance", _config(sim.url), credentials=True)
        stream = make_exchange("binance", _config(sim.url), asynchronous=True)
        _instrument_stream(stream, marks)
        instruments = load_instruments(exchange, [SYMBOL])
        now = int(sim.state()["now_ms"])
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            journal, closing = _journal(profile, directory, f"sqlite:///{tmp}/neo.db", marks)
            feed = CcxtBarFeed(stream, [SYMBOL], "1m", since_ms=now - WARMUP_BARS * 60_000)
            _instrument_feed(feed, marks)
            session = TradingSession(
                name="bench", mode="live", account="exchange:binance:bench",
                strategy=Flip(marks), feed=feed, journal=journal, instruments=instruments,
                risk=_gate(profile, directory, instruments, feed),
                exchange_broker=ccxt_broker(exchange), fill_scope="",
                cycles=WARMUP_BARS + bars, on_step=lambda _s: stepped.set(),
                live_from_ns=now * _MS, **({} if quiet_gc else {"quiet_gc": False}),
            )  # fmt: skip
            if profile == "live":
                journal.ledger = session.loop.ledger  # type: ignore[attr-defined]
            _instrument_session(session, exchange, marks)
            pacer = threading.Thread(
                target=_pace, args=(sim, session, stepped, done, counts), daemon=True
            )

            async def main() -> Any:
                pacer.start()
                try:
                    return await session.run()
                finally:
                    done.set()
                    await stream.close()

            gc.callbacks.append(marks.on_gc)
            cpu0, started = time.process_time(), time.perf_counter()
            try:
                result = asyncio.run(main())
            finally:
                gc.callbacks.remove(marks.on_gc)
                done.set()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu0
            pacer.join(timeout=10)
            closing.close()
    finally:
        sim.stop()
    figures = _figures(marks, result, session, counts, elapsed, cpu, profile)
    figures["quiet_gc"] = quiet_gc
    return figures


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "p50_ms": round(statistics.median(values), 4),
        "p99_ms": round(_pct(values, 0.99), 4),
        "max_ms": round(max(values), 4),
    }


def _gc_in(marks: Marks, start: int, end: int) -> list[tuple[float, int]]:
    return [((b - a) / _MS, g) for a, b, g in marks.gc if a < end and b > start]


def _drift(totals: dict[int, float]) -> dict[str, float]:
    """p50 of the first and of the last tenth of the run: a cost that grows with the session's
    history (orders kept, journal state) shows here."""
    ordered = [totals[k] for k in sorted(totals)]
    tenth = max(1, len(ordered) // 10)
    if len(ordered) < 20:
        return {}
    return {
        "first_tenth_p50_ms": round(statistics.median(ordered[:tenth]), 4),
        "last_tenth_p50_ms": round(statistics.median(ordered[-tenth:]), 4),
    }


def _stages(bar: dict[str, int]) -> dict[str, float]:
    """Each stage's share (ms) of one bar's window."""
    return {
        f"{a}->{b}": (bar[b] - bar[a]) / _MS
        for a, b in itertools.pairwise(STAGES)
        if a in bar and b in bar
    }


def _figures(marks: Marks, result: Any, session: TradingSession, counts: dict[str, int],
             elapsed: float, cpu: float, profile: str) -> dict[str, Any]:  # fmt: skip
    timed = {k: v for k, v in marks.bars.items() if "ws" in v and "create" in v}
    untimed = [k for k, v in marks.bars.items() if "create" in v and "ws" not in v]
    totals = {k: (v["create"] - v["ws"]) / _MS for k, v in timed.items()}
    shares = [_stages(v) for v in timed.values()]
    stages = {
        f"{a}->{b}": _summary([row[f"{a}->{b}"] for row in shares if f"{a}->{b}" in row])
        for a, b in itertools.pairwise(STAGES)
    }
    after = [(v["stepped"] - v["create"]) / _MS for v in timed.values() if "stepped" in v]
    cpu_ms = [(c[1] - c[0]) / _MS for k, c in marks.cpu.items() if k in timed and len(c) > 1]
    gc_hits = {k: _gc_in(marks, v["ws"], v["create"]) for k, v in timed.items()}
    pauses = [p for hits in gc_hits.values() for p, _ in hits]
    first = min((v["ws"] for v in timed.values()), default=0)
    trading = [(a, b, g) for a, b, g in marks.gc if a >= first]  # not the start-up collection
    slowest = sorted(totals, key=lambda k: totals[k], reverse=True)[:5]
    return {
        "profile": profile,
        "bars": result.bars,
        "live_bars": counts["advanced"],
        "orders": result.orders,
        "orders_timed": len(totals),
        "orders_untimed": len(untimed),
        "stalls": counts["stalls"],
        "reconnects": session.feed.stats.reconnects,  # type: ignore[attr-defined]
        **_summary(list(totals.values())),
        "drift": _drift(totals),
        "stage_drift": {
            name: _drift({k: r[name] for k, r in zip(timed, shares, strict=True) if name in r})
            for name in stages
        },
        "stages": stages,
        "cpu_in_window": _summary(cpu_ms),
        "after_create_to_step_end": _summary(after),
        "after_the_order": {k: _summary(v) for k, v in marks.durations.items()},
        "gc": {
            "collections": len(trading),
            "by_generation": {g: sum(1 for *_, x in trading if x == g) for g in (0, 1, 2)},
            "max_pause_ms_by_generation": {
                g: round(max(((b - a) / _MS for a, b, x in trading if x == g), default=0.0), 4)
                for g in (0, 1, 2)
            },
            "in_timed_windows": len(pauses),
            "max_pause_in_window_ms": round(max(pauses, default=0.0), 4),
        },
        "slowest": [
            {
                "bar": k,
                "total_ms": round(totals[k], 4),
                "gc": gc_hits[k],
                **{name: round(value, 4) for name, value in _stages(timed[k]).items()},
            }
            for k in slowest
        ],
        "wall_s": round(elapsed, 2),
        "cpu_s": round(cpu, 2),
        "load_avg": os.getloadavg()[0],
        "goal": "p99 < 5 ms of NEO's own time",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bars", type=int, default=1000)
    parser.add_argument("--profile", choices=("bench", "live"), default="bench")
    parser.add_argument(
        "--default-gc", action="store_true",
        help="leave CPython's collector as it is (no StepCollector): for comparison",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args.bars, args.profile, quiet_gc=not args.default_gc)
    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"bar-to-order latency ({figures['profile']}) over {figures['orders_timed']} orders "
        f"({figures['bars']} bars, {figures['orders_untimed']} untimed, {figures['wall_s']} s "
        f"wall, {figures['cpu_s']} s CPU, load {figures['load_avg']:.2f}): "
        f"p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms, "
        f"max {figures['max_ms']:.2f} ms (goal: p99 < 5 ms)"
    )
    if figures["drift"]:
        print(f"  p50 of the first / last tenth of the run: "
              f"{figures['drift']['first_tenth_p50_ms']:.3f} / "
              f"{figures['drift']['last_tenth_p50_ms']:.3f} ms")  # fmt: skip
    for name, row in figures["stages"].items():
        if row:
            print(f"  {name:<18} p50 {row['p50_ms']:7.3f}  p99 {row['p99_ms']:7.3f}  "
                  f"max {row['max_ms']:7.3f} ms")  # fmt: skip
    cpu = figures["cpu_in_window"]
    if cpu:
        print(f"  CPU in window      p50 {cpu['p50_ms']:7.3f}  p99 {cpu['p99_ms']:7.3f}  "
              f"max {cpu['max_ms']:7.3f} ms")  # fmt: skip
    after = figures["after_create_to_step_end"]
    if after:
        print(f"  create->step end   p50 {after['p50_ms']:7.3f}  p99 {after['p99_ms']:7.3f}  "
              f"max {after['max_ms']:7.3f} ms (after the order: outside the window)")  # fmt: skip
    for name, row in figures["after_the_order"].items():
        if row:
            print(f"  {name:<18} p50 {row['p50_ms']:7.3f}  p99 {row['p99_ms']:7.3f}  "
                  f"max {row['max_ms']:7.3f} ms (after the order)")  # fmt: skip
    print(f"  gc (quiet_gc={figures['quiet_gc']}): {figures['gc']}")
    for row in figures["slowest"]:
        print(f"  slow bar: {row}")


if __name__ == "__main__":
    main()
