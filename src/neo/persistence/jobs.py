"""Research jobs (backtests, training runs) submitted through the service: a durable queue.

A job goes ``queued`` → ``running`` → ``done`` | ``failed``. :meth:`JobStore.claim` moves the
oldest queued job to ``running`` in one conditional UPDATE, so two workers never run the same
job; :meth:`JobStore.fail_running` marks jobs a dead worker left ``running`` as failed.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from neo.domain.errors import PersistenceError, RecordNotFoundError
from neo.persistence._util import choice, json_object
from neo.persistence.models import JOB_KINDS, JOB_STATUSES, JobRow
from neo.persistence.records import JobRecord, now_ns

if TYPE_CHECKING:
    from neo.persistence.database import Database


class JobStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def create(self, kind: str, request: Mapping[str, Any]) -> JobRecord:
        choice(kind, JOB_KINDS, "job kind")
        row = JobRow(
            id=secrets.token_hex(8),
            kind=kind,
            status="queued",
            request=json_object(request, "job request"),
            result=None,
            error=None,
            created_at=now_ns(),
            started_at=None,
            finished_at=None,
        )
        with self._db.transaction() as session:
            session.add(row)
        return JobRecord.of(row)

    def get(self, job_id: str) -> JobRecord | None:
        with self._db.reading() as session:
            row = session.get(JobRow, job_id)
            return None if row is None else JobRecord.of(row)

    def require(self, job_id: str) -> JobRecord:
        record = self.get(job_id)
        if record is None:
            raise RecordNotFoundError(f"no job {job_id!r}")
        return record

    def list(
        self,
        *,
        status: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[JobRecord]:
        """Jobs, newest first."""
        query = select(JobRow).order_by(JobRow.created_at.desc(), JobRow.id)
        if status is not None:
            query = query.where(JobRow.status == choice(status, JOB_STATUSES, "job status"))
        if kind is not None:
            query = query.where(JobRow.kind == choice(kind, JOB_KINDS, "job kind"))
        with self._db.reading() as session:
            rows = session.scalars(query.limit(limit).offset(offset))
            return [JobRecord.of(row) for row in rows]

    def claim(self, job_id: str | None = None, *, kind: str | None = None) -> JobRecord | None:
        """Move a queued job (``job_id``, or the oldest of ``kind``) to ``running``; None when
        there is none (or another worker claimed it first)."""
        with self._db.transaction() as session:
            target = job_id if job_id is not None else _oldest_queued(session, kind)
            if target is None:
                return None
            statement = (
                update(JobRow)
                .where(JobRow.id == target, JobRow.status == "queued")
                .values(status="running", started_at=now_ns())
                .execution_options(synchronize_session=False)
            )
            if session.execute(statement).rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = session.get(JobRow, target, populate_existing=True)
            return None if row is None else JobRecord.of(row)

    def finish(self, job_id: str, result: Mapping[str, Any]) -> JobRecord:
        data = json_object(result, f"result of job {job_id}")
        return self._end(job_id, "done", result=data)

    def fail(self, job_id: str, error: str) -> JobRecord:
        return self._end(job_id, "failed", error=" ".join(error.split()) or "failed")

    def fail_running(self, error: str = "the worker stopped before the job finished") -> int:
        """Mark every ``running`` job failed (at start-up, after a crash); how many."""
        statement = (
            update(JobRow)
            .where(JobRow.status == "running")
            .values(status="failed", error=error, finished_at=now_ns())
            .execution_options(synchronize_session=False)
        )
        with self._db.transaction() as session:
            return int(session.execute(statement).rowcount)  # type: ignore[attr-defined]

    def _end(
        self,
        job_id: str,
        status: str,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> JobRecord:
        with self._db.transaction() as session:
            row = session.get(JobRow, job_id, with_for_update=True)
            if row is None:
                raise RecordNotFoundError(f"no job {job_id!r}")
            if row.status in ("done", "failed"):
                raise PersistenceError(
                    f"job {job_id} already ended ({row.status}); it cannot become {status}"
                )
            if row.status == "queued" and status == "done":
                raise PersistenceError(f"job {job_id} was never started: claim it first")
            row.status = status
            row.result = result
            row.error = error
            row.finished_at = now_ns()
            if row.started_at is None:
                row.started_at = row.finished_at
            return JobRecord.of(row)


def _oldest_queued(session: Session, kind: str | None) -> str | None:
    query = select(JobRow.id).where(JobRow.status == "queued")
    if kind is not None:
        query = query.where(JobRow.kind == choice(kind, JOB_KINDS, "job kind"))
    found = session.scalars(query.order_by(JobRow.created_at, JobRow.id).limit(1)).first()
    return found
