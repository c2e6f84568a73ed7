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
    from neo.data.ingest import DataIngestionAPI
    from neo.persistence import Database


@dataclass
class ServiceState:
    settings: NeoSettings
    db: Database
    hub: EventHub
    sessions: SessionManager
    jobs: JobRunner
    store_lock: threading.Lock = field(default_factory=threading.Lock)
    """The historical store is written by one request at a time (its files are not shared
    between concurrent writers); reads take the lock too, as they share its DuckDB handle."""
    _api: DataIngestionAPI | None = None

    @property
    def api(self) -> DataIngestionAPI:
        """The ingestion service, opened on first use (hold ``store_lock`` while using it)."""
        if self._api is None:
            from neo.app.ingest import ingestion_api
            from neo.service.telemetry import record_ingest

            api = ingestion_api(self.settings)
            api.on_report = record_ingest  # candles accepted / rejected per rule on /metrics
            self._api = api
        return self._api

    def close(self) -> None:
        self.sessions.shutdown()
        self.jobs.shutdown()
        if self._api is not None:
            self._api.store.close()
        self.db.close()


def service_state(request: Request) -> ServiceState:
    state = request.app.state.neo
    assert isinstance(state, ServiceState)
    return state
