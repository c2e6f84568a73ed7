"""Candle POSTs stored by worker processes: the service's second core.

One service process is bound by Python's GIL to about one core: decoding 1,000 candles,
validating them and encoding the Parquet segment (~4.5 ms a batch) share it with the HTTP
server. With ``service.ingest_processes = N`` (``neo serve --ingest-processes N``) that work
runs in N worker processes instead, each owning the series hashed to it (the same series
always goes to the same worker, whose one thread stores its batches in the order they come).
Everything else stays in the one service process: routing, keys, the per-series lock (held
while a worker stores the batch, so one series is still stored and published in order), the
metrics and the Redis publication of each report, sessions, jobs and the event hub.

Every guarantee is the worker's store's: the same ingestion service (validation, quarantine,
provenance, the fsyncs before the answer) in another process; the store's per-dataset file
lock and manifest generations make it safe for several processes (the service process reads
what the workers write). A worker that dies fails its requests with a 503, and the pool is
started again for the next ones.
"""

from __future__ import annotations

import itertools
import threading
import zlib
from concurrent.futures import Future
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import msgspec

from neo.domain.errors import StoreError

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from neo.data.ingest import DataIngestionAPI, IngestReport
    from neo.settings import NeoSettings

_worker: tuple[NeoSettings, DataIngestionAPI] | None = None


class _Head(msgspec.Struct):
    """The instrument a JSON body names (its candles are skipped, not decoded)."""

    symbol: str | None = None
    venue: str | None = None


_HEAD = msgspec.json.Decoder(_Head)


def named_series(body: bytes, kind: str) -> tuple[str | None, str | None]:
    """``(venue, symbol)`` a JSON body names, or ``(None, None)`` (another kind, or a body the
    ingestion will refuse with its own message)."""
    if kind != "json":
        return None, None
    try:
        head = _HEAD.decode(body)
    except msgspec.DecodeError:
        return None, None
    return head.venue, head.symbol


_reports = threading.local()


def _start(settings: NeoSettings) -> None:
    """Worker initializer: open the ingestion service once; its reports are kept per thread
    for the service process, which counts and publishes them."""
    global _worker
    from neo.app.ingest import ingestion_api

    def keep(report: IngestReport) -> None:
        _reports.last = report

    _worker = (settings, ingestion_api(settings, on_report=keep))


def _warm() -> int:
    """Load the request path's modules and compiled kernels in a fresh worker."""
    import os

    from neo.service.state import warm_validator

    warm_validator()
    return os.getpid()


def _ingest(body: bytes, kind: str, query: dict[str, str | None], source: str, replace: bool
            ) -> tuple[bytes, IngestReport | None]:  # fmt: skip
    """The POST's work in a worker: decode, validate, store; the answer and the report."""
    from neo.service.routes.data import ingest_body

    if _worker is None:  # pragma: no cover - the initializer always ran
        raise StoreError("ingest worker not started")
    settings, api = _worker
    _reports.last = None
    answer = ingest_body(api, settings, body, kind, query, source, replace)
    report: IngestReport | None = _reports.last
    return answer, report


def _serve(conn: Connection, settings: NeoSettings, threads: int) -> None:
    """A worker's loop: requests from its pipe run on ``threads`` threads (one batch's fsyncs
    overlap another's work), answers go back tagged with the request's number; until the
    service closes the pipe (or dies: its end reads EOF, and the worker exits with it)."""
    import signal
    from concurrent.futures import ThreadPoolExecutor

    # Ctrl-C reaches the whole process group: the service decides when workers stop (it
    # closes the pipe once the requests in flight are answered), so no traceback here
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _start(settings)
    sending = threading.Lock()

    def run(number: int, name: str, args: tuple[Any, ...]) -> None:
        try:
            result: tuple[int, bool, Any] = (
                number, True, _warm() if name == "warm" else _ingest(*args)
            )  # fmt: skip
        except Exception as exc:  # the service raises it as the route would have
            result = (number, False, exc)
        with sending, suppress(OSError):
            try:
                conn.send(result)
            except OSError:
                raise  # the service is gone (suppressed above)
            except Exception:  # an unpicklable error (PicklingError, TypeError, AttributeError)
                conn.send((number, False, StoreError(f"ingest failed: {result[2]!r}")))

    with ThreadPoolExecutor(threads, thread_name_prefix="neo-ingest") as pool:
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):
                return
            if request is None:
                return
            pool.submit(run, *request)


class _Shard:
    """One worker process and the pipe to it: calls from many threads, each answered by its
    number (a reader thread hands the answers out)."""

    def __init__(self, settings: NeoSettings, threads: int) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # the service runs threads: no fork
        self.conn, child = context.Pipe(duplex=True)
        self.process = context.Process(
            target=_serve, args=(child, settings, threads), name="neo-ingest", daemon=True
        )
        self.process.start()
        child.close()
        self._sending = threading.Lock()
        self._numbers = itertools.count()
        self._pending: dict[int, Future[tuple[bool, Any]]] = {}
        self._gone = False
        self._reader = threading.Thread(target=self._read, name="neo-ingest-reader", daemon=True)
        self._reader.start()

    def call(self, name: str, args: tuple[Any, ...]) -> Any:
        future: Future[tuple[bool, Any]] = Future()
        with self._sending:
            if self._gone:  # the reader saw the worker end: nobody would answer
                raise EOFError("ingest worker gone")
            number = next(self._numbers)
            self._pending[number] = future
            self.conn.send((number, name, args))
        ok, value = future.result()
        if not ok:
            raise value
        return value

    def _read(self) -> None:
        while True:
            try:
                number, ok, value = self.conn.recv()
            except (EOFError, OSError) as exc:  # the worker is gone: fail whoever waits
                with self._sending:
                    self._gone = True
                    pending, self._pending = self._pending, {}
                for future in pending.values():
                    future.set_exception(EOFError(str(exc)))
                return
            with self._sending:
                future = self._pending.pop(number)
            future.set_result((ok, value))

    def close(self) -> None:
        with self._sending, suppress(OSError):
            self.conn.send(None)
        self.process.join(timeout=30)
        if self.process.is_alive():  # pragma: no cover - a worker stuck in I/O
            self.process.kill()
            self.process.join()
        self.conn.close()


class IngestPool:
    """N worker processes, each owning a shard of the series."""

    def __init__(self, settings: NeoSettings, processes: int) -> None:
        self.settings = settings
        self.processes = processes
        self._lock = threading.Lock()
        self._shards: list[_Shard | None] = [None] * processes

    def _shard(self, index: int) -> _Shard:
        with self._lock:
            shard = self._shards[index]
            if shard is None:
                threads = self.settings.service.ingest_threads
                shard = self._shards[index] = _Shard(self.settings, threads)
            return shard

    def warm_up(self) -> list[int]:
        """Start every worker and load its modules (``neo serve`` calls it before it
        listens); their process ids."""
        return [int(self._shard(i).call("warm", ())) for i in range(self.processes)]

    def index(self, venue: str, symbol: str) -> int:
        return zlib.crc32(f"{venue}\0{symbol}".encode()) % self.processes

    def ingest(self, shard: int, body: bytes, kind: str, query: dict[str, str | None],
               source: str, replace: bool) -> tuple[bytes, IngestReport | None]:  # fmt: skip
        """Run one POST's ingestion in worker ``shard`` (blocking the calling thread)."""
        worker = self._shard(shard)
        try:
            answer, report = worker.call("ingest", (body, kind, query, source, replace))
        except (EOFError, OSError) as exc:
            with self._lock:
                if self._shards[shard] is worker:
                    self._shards[shard] = None  # the next request starts a new worker
            worker.process.kill()
            raise StoreError(
                "the ingest worker stopped while storing this batch; it is restarted: post "
                "the batch again (a batch stored before the stop is merged as duplicates)"
            ) from exc
        return answer, report

    def close(self) -> None:
        with self._lock:
            shards, self._shards = self._shards, [None] * self.processes
        for shard in shards:
            if shard is not None:
                shard.close()
