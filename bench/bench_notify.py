"""What notifications cost the trading thread, and what a dead receiver costs it.

    .venv/bin/python bench/bench_notify.py [--bars 20000] [--offers 200000]

1. ``offer`` alone: one message into a webhook's bounded queue whose worker is held (the
   receiver never answers), so every offer after the queue fills is a counted drop; the figure
   is per call on the trading thread, queue filling and dropping both included.
2. A paper loop (sma_cross, 1 instrument) pushed ``--bars`` bars three ways: no notifications;
   four webhooks (slack, discord, telegram, generic) on a local receiver that answers at once;
   the same four pointing at a closed port (every post refused, retried, given up). The loop's
   bars/s should hardly move: delivery happens on the webhooks' own threads.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.engine.bars import walk

from neo.engine.loop import get_autonomous_trading_loop
from neo.notify import EventKind, NotificationConfig, Notifier, attach_notifications
from neo.notify.messages import Notification, Severity

PATHS = {
    "slack": "/services/T1/B2/secret",
    "discord": "/api/webhooks/1/secret",
    "telegram": "/bot1:secret/sendMessage",
    "generic": "/hook",
}


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Hold(_Ok):
    release = threading.Event()

    def do_POST(self) -> None:
        self.release.wait(60)
        super().do_POST()


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _closed() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _config(base: str | None, **options: Any) -> NotificationConfig:
    hooks = [] if base is None else [
        {"url": base + path, "format": name, **({"chat_id": "1"} if name == "telegram" else {})}
        for name, path in PATHS.items()
    ]  # fmt: skip
    return NotificationConfig.model_validate({"webhooks": hooks, **options})


def bench_offer(offers: int) -> None:
    server, base = _serve(_Hold)
    notifier = Notifier(_config(base, queue_size=1000))
    note = Notification(EventKind.FILL, Severity.INFO, "Fill", "buy 1 BTC/USDT", 10**18)
    started = time.perf_counter()
    for _ in range(offers):
        notifier.notify(note)
    elapsed = time.perf_counter() - started
    stats = notifier.stats()
    dropped = sum(s["dropped"] for s in stats.values())
    per_call = elapsed / offers / len(notifier.workers) * 1e9
    print(f"offer: {per_call:,.0f} ns per webhook per message ({offers:,} messages to 4 "
          f"webhooks, {dropped:,} dropped on full queues)")  # fmt: skip
    _Hold.release.set()
    notifier.close(timeout=1.0)
    server.shutdown()


def _run_loop(bars: int, config: NotificationConfig) -> tuple[float, int, Any]:
    loop = get_autonomous_trading_loop("sma_cross", symbols=["BTC/USDT"], params={"size": 1})
    notifier = attach_notifications(loop, config)
    batch = list(walk(bars, seed=11))
    loop.start()
    started = time.perf_counter()
    for bar in batch:
        loop.push_bar(bar)
    loop.stop()
    elapsed = time.perf_counter() - started
    return elapsed, loop.stats.fills, notifier


def bench_loop(bars: int) -> None:
    server, ok = _serve(_Ok)
    fast = {"backoff_s": 0.05, "backoff_max_s": 0.2, "max_attempts": 3}
    for label, base in (("no webhooks", None), ("4 webhooks, receiver up", ok),
                        ("4 webhooks, receiver down", _closed())):  # fmt: skip
        elapsed, fills, notifier = _run_loop(bars, _config(base, **fast))
        drained = ""
        if notifier is not None:
            t0 = time.perf_counter()
            notifier.flush(120)
            drained = f"; delivery finished {time.perf_counter() - t0:.2f} s after the loop"
            notifier.close()
        print(f"loop, {label}: {bars / elapsed:,.0f} bars/s ({fills} fills){drained}")
    server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=20_000)
    parser.add_argument("--offers", type=int, default=200_000)
    args = parser.parse_args()
    bench_offer(args.offers)
    bench_loop(args.bars)


if __name__ == "__main__":
    main()
