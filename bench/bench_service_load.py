"""Load on the REST API: concurrent clients POSTing candle batches to a real ``neo serve``.

    .venv/bin/python bench/bench_service_load.py [--clients 100] [--batch 1000] [--seconds 30]
        [--database-url postgresql+psycopg://...]

Starts ``neo serve --port 0`` on a fresh data directory (state database: ``--database-url``,
else ``NEO_TEST_POSTGRES_URL`` when set, else SQLite in the data directory; candles go to the
Parquet store either way), creates a ``trade`` key, and runs ``--clients`` asyncio clients, each
POSTing successive ``--batch``-candle JSON batches of its own symbol for ``--seconds``. Prints
errors, p50/p99 request latency, candles/s accepted, and checks that the rows stored (``GET
/v1/stats`` per symbol) equal the rows accepted. The client runs on the same machine as the
server, so both share its cores.
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

import httpx
import msgspec
import numpy as np

NEO = [sys.executable, "-c", "from neo.cli.main import main; main()"]
T0_MS = 1_600_000_020_000 - 1_600_000_020_000 % 60_000
MINUTE_MS = 60_000


def _env(database_url: str | None) -> dict[str, str]:
    env = os.environ.copy()
    if database_url:
        env["NEO_DATABASE__URL"] = database_url
    return env


def _batch(client: int, index: int, size: int) -> dict[str, Any]:
    """``size`` valid one-minute candles of symbol C<client>/USDT, batch ``index`` of them."""
    rng = np.random.default_rng(client * 1_000_003 + index)
    start = T0_MS + index * size * MINUTE_MS
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0005, size)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) * 1.0005
    low = np.minimum(open_, close) * 0.9995
    stamps = (start + np.arange(size) * MINUTE_MS).tolist()
    rows = [
        {"timestamp": t, "open": o, "high": h, "low": lo, "close": c, "volume": 1.0}
        for t, o, h, lo, c in zip(
            stamps, open_.tolist(), high.tolist(), low.tolist(), close.tolist(), strict=True
        )
    ]
    return {"venue": "bench", "symbol": f"C{client}/USDT", "timeframe": "1m", "candles": rows}


async def _client(
    url: str, headers: dict[str, str], client: int, size: int, until: float, out: dict[str, Any]
) -> None:
    """One client: its own connection (one pool per client: a shared 100-connection httpx pool
    spends more CPU scanning its connections than sending), bodies encoded with msgspec."""
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as http:
        await _posts(http, client, size, until, out)


async def _posts(
    http: httpx.AsyncClient, client: int, size: int, until: float, out: dict[str, Any]
) -> None:
    index = 0
    while time.perf_counter() < until:
        body = msgspec.json.encode(_batch(client, index, size))
        started = time.perf_counter()
        try:
            answer = await http.post(
                "/v1/candles", content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            out["errors"].append(f"{type(exc).__name__}: {exc}")
            continue
        out["latency"].append(time.perf_counter() - started)
        if answer.status_code != 200:
            out["errors"].append(f"{answer.status_code}: {answer.text[:200]}")
            continue
        report = answer.json()
        out["accepted"][client] = out["accepted"].get(client, 0) + int(report["accepted"])
        out["rejected"] += int(report["rejected"])
        index += 1


async def _load(url: str, key: str, clients: int, size: int, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {"latency": [], "errors": [], "accepted": {}, "rejected": 0}
    headers = {"Authorization": f"Bearer {key}"}
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(*(_client(url, headers, c, size, until, out) for c in range(clients)))
    out["elapsed"] = time.perf_counter() - started
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as http:
        stored = 0
        for client in out["accepted"]:
            stats = await http.get(
                "/v1/stats", params={"venue": "bench", "symbol": f"C{client}/USDT"}
            )
            stored += int(stats.json()["rows"]) if stats.status_code == 200 else 0
        out["stored"] = stored
    return out


def _serve(data_dir: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str, str]:
    made = subprocess.run(
        [*NEO, "--data-dir", str(data_dir), "keys", "create", "--scope", "trade", "--json"],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    key = json.loads(made.stdout)["key"]
    process = subprocess.Popen(
        [*NEO, "--data-dir", str(data_dir), "--log-level", "WARNING", "serve", "--port", "0"],
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--database-url", default=os.environ.get("NEO_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="neo-bench-service-") as tmp:
        env = _env(args.database_url)
        process, url, key = _serve(Path(tmp) / "data", env)
        try:
            out = asyncio.run(_load(url, key, args.clients, args.batch, args.seconds))
        finally:
            process.terminate()
            process.wait(timeout=30)
    latency = np.array(out["latency"]) * 1000
    accepted = sum(out["accepted"].values())
    result = {
        "clients": args.clients,
        "batch": args.batch,
        "seconds": round(out["elapsed"], 1),
        "database": "postgresql" if args.database_url else "sqlite",
        "requests": len(latency),
        "errors": len(out["errors"]),
        "first_errors": out["errors"][:3],
        "p50_ms": round(float(np.percentile(latency, 50)), 1) if len(latency) else None,
        "p99_ms": round(float(np.percentile(latency, 99)), 1) if len(latency) else None,
        "candles_accepted": accepted,
        "candles_rejected": out["rejected"],
        "candles_per_s": round(accepted / out["elapsed"]),
        "rows_stored": out["stored"],
        "stored_equals_accepted": out["stored"] == accepted,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
