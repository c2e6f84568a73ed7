"""``/v1/jobs``: backtests and training runs as background jobs (:mod:`neo.app.jobs`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import HTMLResponse, Response

from neo.app.jobs import JobRequest, job_view
from neo.domain.errors import RecordNotFoundError
from neo.service.auth import READ, TRADE
from neo.service.responses import as_json
from neo.service.state import ServiceState, service_state

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
State = Annotated[ServiceState, Depends(service_state)]
JobId = Annotated[str, Path(min_length=1, max_length=64, pattern="^[A-Za-z0-9_-]+$")]


@router.post("", dependencies=[TRADE], status_code=202, summary="Submit a backtest or train job.")
def submit(state: State, request: Annotated[JobRequest, Body()]) -> Response:
    """Answers 202 with the job (``queued``); poll ``GET /v1/jobs/{id}``."""
    view = state.jobs.submit(request)
    state.hub.publish("job", {"job": view["id"], "status": view["status"]})
    return as_json(view, status=202, headers={"Location": f"/v1/jobs/{view['id']}"})


@router.get("", dependencies=[READ], summary="Jobs, newest first.")
def list_jobs(
    state: State,
    status: Annotated[str | None, Query(pattern="^(queued|running|done|failed)$")] = None,
    kind: Annotated[str | None, Query(pattern="^(backtest|train)$")] = None,
) -> Response:
    return as_json({"jobs": state.jobs.list(status=status, kind=kind)})


@router.get("/{job_id}", dependencies=[READ], summary="One job's status.")
def get_job(state: State, job_id: JobId) -> Response:
    return as_json(job_view(state.jobs.get(job_id)))


@router.get("/{job_id}/result", dependencies=[READ], summary="A finished job's result.")
def get_result(state: State, job_id: JobId) -> Response:
    """What ``neo backtest --json`` / ``neo train --json`` prints for the same request."""
    return as_json(state.jobs.result(job_id))


@router.get(
    "/{job_id}/report",
    dependencies=[READ],
    response_class=HTMLResponse,
    summary="A finished backtest's HTML report.",
)
def get_report(state: State, job_id: JobId) -> Response:
    state.jobs.result(job_id)  # 404 unless done
    path = state.jobs.report_path(job_id)
    if not path.is_file():
        raise RecordNotFoundError(f"job {job_id} has no report (only backtests write one)")
    return HTMLResponse(path.read_text(encoding="utf-8"))
