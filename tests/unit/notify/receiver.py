"""A local webhook receiver on 127.0.0.1 for the notification tests.

``mode`` decides each answer: ``ok`` (200), ``fail`` (the next ``failures`` posts get
``status``, then 200), ``always`` (every post gets ``status``) and ``hold`` (each post waits for
``release`` before its 200: a slow receiver, without sleeping in the test).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    body: Any
    headers: dict[str, str]


@dataclass
class Receiver:
    url: str = ""
    mode: str = "ok"
    status: int = 503
    failures: int = 0
    retry_after: str | None = None
    error_body: bytes = b"{}"
    posts: list[Received] = field(default_factory=list)
    attempts: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self) -> int:
        with self.lock:
            self.attempts += 1
            if self.mode == "always":
                return self.status
            if self.mode == "fail" and self.failures > 0:
                self.failures -= 1
                return self.status
        return 200


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            receiver.arrived.set()
            if receiver.mode == "hold":
                receiver.release.wait(30)
            status = receiver.answer()
            if status == 200:
                with receiver.lock:
                    receiver.posts.append(
                        Received(self.path, json.loads(raw), dict(self.headers.items()))
                    )
            self.send_response(status)
            if receiver.retry_after is not None and status != 200:
                self.send_header("Retry-After", receiver.retry_after)
            answer = b"{}" if status == 200 else receiver.error_body
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def receiving(**options: Any) -> Iterator[Receiver]:
    receiver = Receiver(**options)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (a receiver that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
