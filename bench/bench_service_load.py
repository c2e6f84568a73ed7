"""Load on the REST API: concurrent clients POSTing candle batches to a real ``neo serve``.

    .venv/bin/python bench/bench_service_load.py [--clients 100] [--batch 1000] [--seconds 30]
        [--database-url postgresql+psycopg://...] [--warmup 3] [--ingest-processes 2]

Starts ``neo serve --port 0 --ingest-processes N`` (default 2: the candles are decoded, validated
and stored by two worker processes; 0 = by the service process's threads) on a fresh data
directory (state database: ``--database-url``,
else ``NEO_TEST_POSTGRES_URL`` when set, else SQLite in the data directory; candles go to the
Parquet store either way), creates a ``trade`` key, and runs ``--clients`` asyncio clients, each
on its own keep-alive connection, POSTing successive ``--batch``-candle JSON batches of its own
symbol for ``--seconds`` (after ``--warmup`` seconds of the same load, not counted). Prints
errors, p50/p99 request latency, candles/s accepted, the server's CPU seconds over the timed
window and candles per server-CPU-second (the client shares the machine's cores: that figure
says what the server costs whatever the client takes), and checks that the rows stored
(``GET /v1/stats`` per symbol) equal the rows accepted.

The client is kept lean so that it does not eat the server's CPU: the bodies come from a
template made once (per client only the timestamps change: ``bytes % tuple``), and the HTTP/1.1
requests go over raw asyncio streams (one connection per client, ``Content-Length`` framed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
import numpy as np
import psutil

NEO = [sys.executable, "-c", "from neo.cli.main import main; main()"]
T0_MS = 1_600_000_020_000 - 1_600_000_020_000 % 60_000
MINUTE_MS = 60_000
TEMPLATES = 4


class BatchBodies:
    """JSON bodies of ``size`` valid one-minute candles, made from templates: each template is a
    random walk that ends where it starts (its log-steps sum to zero), so successive batches
    join without a jump whatever template follows which. A body costs one ``bytes % tuple``."""

    def __init__(self, size: int, seed: int = 7) -> None:
        self.size = size
        self._formats = [self._format(np.random.default_rng(seed + i)) for i in range(TEMPLATES)]

    def _format(self, rng: np.random.Generator) -> bytes:
        steps = rng.normal(0.0, 0.0005, self.size)
        close = 100.0 * np.exp(np.cumsum(steps - steps.mean()))
        open_ = np.concatenate(([100.0], close[:-1]))
        high = np.maximum(open_, close) * 1.0005
        low = np.minimum(open_, close) * 0.9995
        rows = [
            f'{{"timestamp":%d,"open":{o!r},"high":{h!r},"low":{lo!r},"close":{c!r},"volume":1.0}}'
            for o, h, lo, c in zip(
                open_.tolist(), high.tolist(), low.tolist(), close.tolist(), strict=True
            )
        ]
        head = '{"venue":"bench","symbol":"C%d/USDT","timeframe":"1m","candles":['
        return (head + ",".join(rows) + "]}").encode()

    def body(self, client: int, index: int) -> bytes:
        """Batch ``index`` of client ``client``'s symbol ``C<client>/USDT``."""
        start = T0_MS + index * self.size * MINUTE_MS
        stamps = range(start, start + self.size * MINUTE_MS, MINUTE_MS)
        return self._formats[(client + index) % TEMPLATES] % (client, *stamps)


class Http:
    """One keep-alive HTTP/1.1 connection over asyncio streams: just what the bench needs
    (``Content-Length`` framed answers, which is what uvicorn sends for every route here)."""

    def __init__(self, url: str, key: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.auth = f"Authorization: Bearer {key}\r\nHost: {self.host}\r\n".encode()
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        head = (
            f"{method} {target} HTTP/1.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
        ).encode()
        writer.write(head + self.auth + b"\r\n" + body)
        try:
            header = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            raise
        lines = header.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close = None, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length is None:
            await self.close()
            raise ConnectionError(f"answer {status} without Content-Length")
        answer = await reader.readexactly(length)
        if close:
            await self.close()
        return status, answer

    async def close(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()


class Load:
    """What the clients saw: latencies and errors in the timed window, accepted rows per
    client over the whole run (the stored rows are checked against those)."""

    def __init__(self, clients: int) -> None:
        self.latency: list[float] = []
        self.errors: list[str] = []
        self.accepted = [0] * clients
        self.rejected = 0
        self.timed_from = 0.0


async def _client(
    url: str, key: str, client: int, bodies: BatchBodies, until: float, out: Load
) -> None:
    http = Http(url, key)
    decode = msgspec.json.Decoder(dict[str, Any]).decode
    index = 0
    try:
        while (started := time.perf_counter()) < until:
            try:
                status, answer = await http.request(
                    "POST", "/v1/candles", bodies.body(client, index)
                )
            except (OSError, asyncio.IncompleteReadError) as exc:
                out.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            if started >= out.timed_from:
                out.latency.append(time.perf_counter() - started)
            if status != 200:
                out.errors.append(f"{status}: {answer[:200]!r}")
                continue
            report = decode(answer)
            out.accepted[client] += int(report["accepted"])
            out.rejected += int(report["rejected"])
            index += 1
    finally:
        await http.close()


async def _stored(url: str, key: str, clients: list[int]) -> int:
    http = Http(url, key)
    stored = 0
    try:
        for client in clients:
            status, answer = await http.request(
                "GET", f"/v1/stats?venue=bench&symbol=C{client}%2FUSDT"
            )
            stored += int(json.loads(answer)["rows"]) if status == 200 else 0
    finally:
        await http.close()
    return stored


async def _load(
    url: str, key: str, args: argparse.Namespace, server: psutil.Process
) -> dict[str, Any]:
    out = Load(args.clients)
    bodies = BatchBodies(args.batch)
    begun = time.perf_counter()
    out.timed_from = begun + args.warmup
    until = out.timed_from + args.seconds

    async def meter() -> tuple[float, float, float, float, float]:
        await asyncio.sleep(max(out.timed_from - time.perf_counter(), 0.0))
        me = psutil.Process()
        cpu0, own0, accepted0 = _cpu(server), _cpu(me, children=False), sum(out.accepted)
        sys0 = _cpu(server, system=True)
        await asyncio.sleep(max(until - time.perf_counter(), 0.0))
        return (
            _cpu(server) - cpu0, _cpu(me, children=False) - own0, accepted0, sum(out.accepted),
            _cpu(server, system=True) - sys0,
        )  # fmt: skip

    tasks = [_client(url, key, c, bodies, until, out) for c in range(args.clients)]
    metered, *_ = await asyncio.gather(meter(), *tasks)
    elapsed = time.perf_counter() - out.timed_from
    server_cpu, client_cpu, accepted0, accepted1, server_system = metered
    timed = accepted1 - accepted0
    total = sum(out.accepted)
    stored = await _stored(url, key, [c for c in range(args.clients) if out.accepted[c]])
    latency = np.array(out.latency) * 1000
    return {
        "clients": args.clients,
        "batch": args.batch,
        "seconds": round(elapsed, 1),
        "warmup_seconds": args.warmup,
        "database": "postgresql" if args.database_url else "sqlite",
        "ingest_processes": args.ingest_processes,
        "requests": len(latency),
        "requests_per_s": round(len(latency) / elapsed, 1),
        "errors": len(out.errors),
        "first_errors": out.errors[:3],
        "p50_ms": round(float(np.percentile(latency, 50)), 1) if len(latency) else None,
        "p99_ms": round(float(np.percentile(latency, 99)), 1) if len(latency) else None,
        "candles_accepted": total,
        "candles_rejected": out.rejected,
        "candles_per_s": round(timed / elapsed),
        "server_cpu_seconds": round(server_cpu, 1),
        "server_system_cpu_seconds": round(server_system, 1),
        "server_cpu_ms_per_request": round(server_cpu * 1000 / max(len(latency), 1), 2),
        "candles_per_server_cpu_second": round(timed / server_cpu) if server_cpu else None,
        "client_cpu_seconds": round(client_cpu, 1),
        "rows_stored": stored,
        "stored_equals_accepted": stored == total,
    }


def _cpu(process: psutil.Process, *, system: bool = False, children: bool = True) -> float:
    """CPU seconds of ``process`` and, with ``children``, of its children (the workers of
    ``neo serve --workers``); kernel time alone with ``system``."""
    total = 0.0
    for each in (process, *(_children(process) if children else ())):
        times = each.cpu_times()
        total += times.system if system else times.user + times.system
    return total


def _children(process: psutil.Process) -> list[psutil.Process]:
    try:
        return list(process.children(recursive=True))
    except psutil.Error:
        return []


def _serve(
    data_dir: Path, env: dict[str, str], processes: int
) -> tuple[subprocess.Popen[str], str, str]:
    made = subprocess.run(
        [*NEO, "--data-dir", str(data_dir), "keys", "create", "--scope", "trade", "--json"],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    key = json.loads(made.stdout)["key"]
    process = subprocess.Popen(
        [*NEO, "--data-dir", str(data_dir), "--log-level", "WARNING", "serve", "--port", "0",
         "--ingest-processes", str(processes)],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert process.stderr is not None
    for line in process.stderr:
        if "listening on" in line:
            url = line.split("listening on", 1)[1].strip()
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return process, url, key
    raise SystemExit(f"neo serve did not start (exit {process.wait()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load not timed")
    parser.add_argument("--database-url", default=os.environ.get("NEO_TEST_POSTGRES_URL"))
    parser.add_argument(
        "--ingest-processes", type=int, default=2, help="neo serve --ingest-processes (0: none)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="neo-bench-service-") as tmp:
        env = os.environ.copy()
        if args.database_url:
            env["NEO_DATABASE__URL"] = args.database_url
        process, url, key = _serve(Path(tmp) / "data", env, args.ingest_processes)
        print(f"server pid {process.pid} at {url}", file=sys.stderr, flush=True)
        try:
            result = asyncio.run(_load(url, key, args, psutil.Process(process.pid)))
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
