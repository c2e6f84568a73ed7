"""What one service process holds: settings, the state database, the ingestion service, the
event hub, the sessions and the job runner. ``app.state.neo`` is this object; routes reach
it through :func:`service_state`."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request

from neo.app.jobs import JobRunner
from neo.app.sessions import SessionManager
from neo.service.events import EventHub
from neo.settings import NeoSettings

if TYPE_CHECKING:
    from anyio import CapacityLimiter

    from neo.data.ingest import DataIngestionAPI, IngestReport
    from neo.persistence import Database
    from neo.service.auth import KeyCache
    from neo.service.ingest_pool import IngestPool


@dataclass
class ServiceState:
    settings: NeoSettings
    db: Database
    hub: EventHub
    sessions: SessionManager
    jobs: JobRunner
    store_lock: threading.Lock = field(default_factory=threading.Lock)
    """Reads of the historical store take it (one at a time) and :meth:`close` takes it to
    release the store. Writes (``POST /v1/candles``) take the series' lock instead."""
    _api: DataIngestionAPI | None = None
    _key_cache: KeyCache | None = None
    _series_locks: dict[tuple[str, str], threading.Lock] = field(default_factory=dict)
    _locks_lock: threading.Lock = field(default_factory=threading.Lock)
    _ingest_limiter: CapacityLimiter | None = None
    _ingest_pool: IngestPool | None = None

    @property
    def api(self) -> DataIngestionAPI:
        """The ingestion service, opened once on first use (safe from any thread; the store
        serialises its own shared handles, and each series is written under its lock)."""
        with self._locks_lock:
            if self._api is None:
                from neo.app.ingest import ingestion_api

                self._api = ingestion_api(self.settings, on_report=self._stored)
            return self._api

    @property
    def key_cache(self) -> KeyCache:
        """API keys verified lately (see :mod:`neo.service.auth`)."""
        if self._key_cache is None:
            from neo.service.auth import KeyCache

            self._key_cache = KeyCache(self.db.keys, self.settings.service.key_cache_seconds)
        return self._key_cache

    def ingest_limiter(self) -> CapacityLimiter:
        """How many candle POSTs are stored at once (``service.ingest_threads``): their own
        limit, apart from the thread pool other routes share. Made on first use, inside the
        event loop (an anyio limiter belongs to one)."""
        if self._ingest_limiter is None:
            from anyio import CapacityLimiter

            service = self.settings.service
            # with worker processes, each runs ingest_threads batches at once
            self._ingest_limiter = CapacityLimiter(
                service.ingest_threads * max(service.ingest_processes, 1)
            )
        return self._ingest_limiter

    def series_lock(self, venue: str, symbol: str) -> threading.Lock:
        """The lock one series' writes take: POSTs of one instrument are stored one at a time
        and in order (so the Redis bus sees its candles in order), while different
        instruments are written concurrently. The store's per-dataset file lock still guards
        against other processes."""
        key = (venue, symbol.strip())
        with self._locks_lock:
            lock = self._series_locks.get(key)
            if lock is None:
                lock = self._series_locks[key] = threading.Lock()
            return lock

    def warm_up(self) -> None:
        """Pay at start what the first requests would otherwise pay, while clients wait: open
        the store, import the request path's modules and load the validator's compiled
        kernels, and start the ingest worker processes if any (``neo serve`` calls it before
        it listens)."""
        from neo.service import telemetry  # noqa: F401  (imported by the first ingestion)

        if self.api is None:  # opening it is the point; it never answers None
            raise RuntimeError("the ingestion service did not open")
        warm_validator()
        pool = self.ingest_pool
        if pool is not None:
            pool.warm_up()

    @property
    def ingest_pool(self) -> IngestPool | None:
        """The ingest worker processes (``service.ingest_processes``), or None: POSTs are
        stored by this process's threads (see :mod:`neo.service.ingest_pool`)."""
        processes = self.settings.service.ingest_processes
        if not processes:
            return None
        with self._locks_lock:
            if self._ingest_pool is None:
                from neo.service.ingest_pool import IngestPool

                self._ingest_pool = IngestPool(self.settings, processes)
            return self._ingest_pool

    def stored(self, report: IngestReport) -> None:
        """:meth:`_stored` for a report an ingest worker process made (call it under the
        series' lock, as the ingestion does in process)."""
        self._stored(report)

    def _stored(self, report: IngestReport) -> None:
        """Count what an ingestion accepted and rejected per rule, and, with a Redis bus
        configured, publish the accepted candles to the trading processes.

        Runs inside the ingestion, under the series' lock (so one series is published in
        order). A Redis failure raises a retryable
        error (503): the candles are stored, and posting them again publishes them (the bus
        refuses a bar it already holds, so nothing is traded twice)."""
        from neo.service.telemetry import record_ingest

        record_ingest(report)
        if self.settings.redis.url and report.accepted and self._api is not None:
            from neo.service.redis_bus import publish_ingested

            publish_ingested(self._api.store, [report], self.settings)

    def close(self) -> None:
        """Stop sessions and job workers and release files and connections (the state stays
        usable: an app whose lifespan starts again reopens what it needs)."""
        self.sessions.shutdown()
        self.jobs.shutdown()
        with self._locks_lock:
            locks = list(self._series_locks.values())
            pool, self._ingest_pool = self._ingest_pool, None
        if pool is not None:
            pool.close()
        with self.store_lock:
            for lock in locks:  # wait for writes in flight
                lock.acquire()
            try:
                if self._api is not None:
                    self._api.store.close()
                    self._api = None
            finally:
                for lock in locks:
                    lock.release()
        self.db.close()


def warm_validator() -> None:
    """Load the validator's compiled kernels (numba) with a tiny batch."""
    import numpy as np

    from neo.data.validate import DataValidator, RawBars

    ts = np.arange(4, dtype=np.int64) * 60_000_000_000
    price = np.full(4, 100.0)
    DataValidator("1m").validate(
        RawBars.from_arrays(ts, price, price * 1.01, price * 0.99, price, price),
        prev_close=100.0,
    )


def state_of(request: Request) -> ServiceState:
    """The service state of the app serving ``request``."""
    state = request.app.state.neo
    if not isinstance(state, ServiceState):
        raise RuntimeError("the app was not built by create_app: no service state")
    return state


async def service_state(request: Request) -> ServiceState:
    """:func:`state_of` as a dependency (``Depends(service_state)``). A coroutine, so FastAPI
    calls it on the event loop rather than through a worker thread as it does plain
    functions: a thread hop per request for an attribute lookup."""
    return state_of(request)
