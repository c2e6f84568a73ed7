"""Research jobs (backtests, training runs) submitted by the REST API and run in the background.

A job is recorded in the durable ``jobs`` table (:class:`neo.persistence.JobStore`) before it
runs, claimed by a worker thread, and ends ``done`` with the same result object ``neo backtest
--json`` / ``neo train --json`` prints, or ``failed`` with the one-line error. A backtest job
writes its HTML report under ``<data_dir>/jobs/<id>/report.html``. Jobs a previous process left
``running`` are marked failed at start-up; queued ones are run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from neo.app.backtest import BacktestRequest, backtest
from neo.app.formats import to_jsonable
from neo.app.train import TrainRequest, train
from neo.domain.errors import NeoError, RecordNotFoundError
from neo.domain.timestamps import iso_or_none
from neo.logs import get_logger
from neo.settings import NeoSettings

if TYPE_CHECKING:
    from neo.persistence import JobRecord, JobStore

log = get_logger("app.jobs")

_Text = Annotated[str | None, Field(None, max_length=200)]


class BacktestJob(BaseModel):
    """``POST /v1/jobs`` for a backtest: ``neo backtest``'s selection and execution fields
    (files of the server, such as ``--risk``, are not accepted from clients)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["backtest"]
    strategy: _Text = None
    params: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=50)
    venue: _Text = None
    symbols: _Text = None
    symbol: _Text = None
    timeframe: _Text = None
    start: _Text = None
    end: _Text = None
    fill: _Text = None
    fees_bps: float | None = Field(None, ge=0, le=10_000)
    slippage_bps: float | None = Field(None, ge=0, le=10_000)
    cash: float | None = Field(None, gt=0, le=1e15)
    allocator: _Text = None
    engine: Literal["event", "fast"] = "event"
    close_at_end: bool = False


class TrainJob(BaseModel):
    """``POST /v1/jobs`` for a walk-forward training run (``neo train``'s fields)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["train"]
    venue: _Text = None
    symbols: _Text = None
    symbol: _Text = None
    timeframe: _Text = None
    start: _Text = None
    end: _Text = None
    model: _Text = None
    label: _Text = None
    horizon: int | None = Field(None, ge=1, le=100_000)
    train_window: int | None = Field(None, ge=1, le=10_000_000)
    retrain_every: int | None = Field(None, ge=1, le=10_000_000)
    expanding: bool | None = None
    purge: int | None = Field(None, ge=0, le=100_000)
    embargo: int | None = Field(None, ge=0, le=100_000)
    min_train: int | None = Field(None, ge=1, le=10_000_000)
    trials: int | None = Field(None, ge=0, le=1000)
    dead_zone: float | None = Field(None, ge=0, le=1)
    take_profit: float | None = Field(None, gt=0, le=100)
    stop_loss: float | None = Field(None, gt=0, le=100)
    barrier_timeout: _Text = None


JobRequest = Annotated[BacktestJob | TrainJob, Field(discriminator="kind")]


def job_view(record: JobRecord, *, with_result: bool = False) -> dict[str, Any]:
    """A job as ``GET /v1/jobs/{id}`` answers it (the result itself at ``…/result``)."""
    view: dict[str, Any] = {
        "id": record.id,
        "kind": record.kind,
        "status": record.status,
        "request": record.request,
        "error": record.error,
        "created_at": iso_or_none(record.created_at),
        "started_at": iso_or_none(record.started_at),
        "finished_at": iso_or_none(record.finished_at),
    }
    if with_result:
        view["result"] = record.result
    return view


class JobRunner:
    """Runs submitted jobs on a small pool of worker threads (one by default: the machine's
    cores belong to the trading sessions first)."""

    def __init__(
        self,
        settings: NeoSettings,
        jobs: JobStore,
        *,
        workers: int = 1,
        publish: Callable[[str, Mapping[str, Any]], object] | None = None,
    ) -> None:
        self.settings = settings
        self.jobs = jobs
        self.workers = workers
        self._publish = publish or (lambda kind, data: None)
        """Told ``("job", {job, status})`` when a job starts, finishes or fails (the service's
        event hub, so a page sees a job end without polling)."""
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _queue(self, job_id: str) -> None:
        """Hand a job to the pool (started on first use, again after a shutdown)."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="neo-job")
            self._pool.submit(self._run, job_id)

    def recover(self) -> None:
        """At start-up: jobs left running by a dead process fail; queued ones are run."""
        failed = self.jobs.fail_running("the service stopped while the job ran: submit it again")
        if failed:
            log.warning("marked %d interrupted jobs failed", failed)
        for record in self.jobs.list(status="queued", limit=1000):
            self._queue(record.id)

    def submit(self, request: BacktestJob | TrainJob) -> dict[str, Any]:
        """Record the job, queue it, and answer its view (status ``queued``)."""
        from neo.strategies.registry import served_strategy

        served_strategy(self.settings, getattr(request, "strategy", None))
        record = self.jobs.create(request.kind, request.model_dump(mode="json"))
        self._queue(record.id)
        return job_view(record)

    def report_path(self, job_id: str) -> Path:
        return self.settings.data_dir / "jobs" / job_id / "report.html"

    def get(self, job_id: str) -> JobRecord:
        return self.jobs.require(job_id)

    def list(self, *, status: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        return [job_view(r) for r in self.jobs.list(status=status, kind=kind)]

    def result(self, job_id: str) -> dict[str, Any]:
        """The finished job's result; a job not done yet is a RecordNotFoundError saying so."""
        record = self.get(job_id)
        if record.status != "done" or record.result is None:
            raise RecordNotFoundError(
                f"job {job_id} has no result: it is {record.status}"
                + (f" ({record.error})" if record.error else "; poll GET /v1/jobs/{id}")
            )
        return record.result

    def run_now(self, job_id: str) -> None:
        """Run a queued job on this thread (tests, a worker process)."""
        self._run(job_id)

    def _run(self, job_id: str) -> None:
        record = self.jobs.claim(job_id)
        if record is None:  # another worker took it, or it is gone
            return
        self._publish("job", {"job": job_id, "status": "running"})
        try:
            result = self._execute(record.kind, record.request, job_id)
        except NeoError as exc:
            self.jobs.fail(job_id, str(exc))
            self._publish("job", {"job": job_id, "status": "failed"})
            return
        except Exception as exc:  # a bug: the job fails with its type, the service goes on
            log.exception("job %s failed unexpectedly", job_id)
            self.jobs.fail(job_id, f"unexpected {type(exc).__name__}: {exc}")
            self._publish("job", {"job": job_id, "status": "failed"})
            return
        self.jobs.finish(job_id, to_jsonable(result))
        self._publish("job", {"job": job_id, "status": "done"})

    def _execute(self, kind: str, body: dict[str, Any], job_id: str) -> dict[str, Any]:
        fields = {k: v for k, v in body.items() if k != "kind"}
        if kind == "backtest":
            report = self.report_path(job_id)
            report.parent.mkdir(parents=True, exist_ok=True)
            return backtest(self.settings, BacktestRequest(**fields, report=report))
        return train(self.settings, TrainRequest(**fields))

    def shutdown(self, wait: bool = False) -> None:
        """Stop taking jobs; queued ones stay queued in the table (run at the next start)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)
