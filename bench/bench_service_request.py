"""Server CPU of one ``POST /v1/candles`` request, in process, with the store's share apart.

    .venv/bin/python bench/bench_service_request.py [--requests 300] [--batch 1000]
        [--profile out.pstats]

Drives the FastAPI app as ASGI (no sockets, no HTTP parsing: what uvicorn adds is not counted)
with one client posting successive ``--batch``-candle JSON batches of one symbol, one request
at a time, and prints per request: the process CPU time, the CPU time spent inside
``HistoricalDataStore.write`` (the Parquet append) and in ``close_before`` (the stored close
the jump rule starts from), and the rest: what the service itself costs. ``--profile`` also
writes a cProfile of the timed requests; ``--stub-store`` replaces the store's write and
``close_before`` by no-ops (the store may spend CPU in threads of its own, which the
subtraction cannot see). The state database is SQLite in a temporary data directory.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_service_load import BatchBodies

Message = dict[str, Any]


def _scope(key: str, size: int) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/candles",
        "raw_path": b"/v1/candles",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(size).encode()),
            (b"authorization", f"Bearer {key}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8700),
    }


async def _post(app: Any, key: str, body: bytes) -> tuple[int, bytes]:
    sent: list[Message] = []
    given = False

    async def receive() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(_scope(key, len(body)), receive, send)
    status = int(sent[0]["status"])
    return status, b"".join(m.get("body", b"") for m in sent[1:])


def _timed(method: Callable[..., Any], spent: list[float]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()  # CPU of this thread: the write also waits on fsync
        try:
            return method(*args, **kwargs)
        finally:
            spent.append(time.thread_time() - started)

    return wrapper


async def _run(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    from neo.app.keys import create_key, open_state
    from neo.service.app import create_app
    from neo.settings import load_settings

    settings = load_settings(data_dir=data_dir, log_level="WARNING")
    db = open_state(settings)
    key = create_key(db, ["trade"], "bench")["key"]
    app = create_app(settings, database=db)
    bodies = BatchBodies(args.batch, seed=1)
    state = app.state.neo
    getattr(state, "warm_up", lambda: None)()  # (a service before warm_up had none)
    for index in range(args.warmup):
        status, answer = await _post(app, key, bodies.body(0, index))
        if status != 200:
            raise SystemExit(f"warm-up request answered {status}: {answer[:300]!r}")
    writes: list[float] = []
    reads: list[float] = []
    store = state.api.store
    if args.stub_store:
        from neo.data.store.historical import WriteResult

        def write(batch: Any, **_: Any) -> WriteResult:
            n = len(batch)
            return WriteResult(batch.instrument, batch.timeframe, n, n, 0, 0, 1)

        store.write = write
        store.close_before = lambda *_, **__: None
    store.write = _timed(store.write, writes)
    store.close_before = _timed(store.close_before, reads)
    profiler = cProfile.Profile() if args.profile else None
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    for index in range(args.warmup, args.warmup + args.requests):
        status, answer = await _post(app, key, bodies.body(0, index))
        if status != 200 or json.loads(answer)["accepted"] != args.batch:
            raise SystemExit(f"request answered {status}: {answer[:300]!r}")
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    state.close()
    n = args.requests
    write_ms = float(np.sum(writes)) * 1000 / n
    read_ms = float(np.sum(reads)) * 1000 / n
    return {
        "requests": n,
        "batch": args.batch,
        "wall_ms_per_request": round(wall * 1000 / n, 3),
        "cpu_ms_per_request": round(cpu * 1000 / n, 3),
        "store_write_cpu_ms_per_request": round(write_ms, 3),
        "cpu_ms_per_request_without_store_write": round(cpu * 1000 / n - write_ms, 3),
        "store_close_before_cpu_ms_per_request": round(read_ms, 3),
        "cpu_ms_per_request_without_store": round(cpu * 1000 / n - write_ms - read_ms, 3),
        "requests_per_cpu_second": round(n / cpu, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--profile", default=None, help="write a cProfile of the timed part")
    parser.add_argument(
        "--stub-store",
        action="store_true",
        help="no store: write and close_before do nothing, so the CPU is the service's alone",
    )
    args = parser.parse_args()
    os.environ.setdefault("NEO_LOG_LEVEL", "WARNING")
    with tempfile.TemporaryDirectory(prefix="neo-bench-request-") as tmp:
        result = asyncio.run(_run(args, Path(tmp) / "data"))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
