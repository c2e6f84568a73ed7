"""``/v1/sessions``: paper (and, once registered, live) sessions of this process."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import Response

from neo.app.sessions import PaperSessionRequest
from neo.service.auth import READ, TRADE
from neo.service.responses import as_json
from neo.service.state import ServiceState, service_state

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])
State = Annotated[ServiceState, Depends(service_state)]
SessionId = Annotated[str, Path(min_length=1, max_length=64, pattern="^[A-Za-z0-9_.:-]+$")]
Limit = Annotated[int, Query(ge=1, le=5000)]
_VIEWS = ("fills", "orders", "equity", "risk-events")


@router.post("", dependencies=[TRADE], status_code=201, summary="Start a session.")
def start(
    state: State,
    request: Annotated[PaperSessionRequest, Body(description="kind paper; live when enabled")],
) -> Response:
    view = state.sessions.start(request.model_dump(mode="json", exclude_none=True))
    return as_json(view, status=201, headers={"Location": f"/v1/sessions/{view['id']}"})


@router.get("", dependencies=[READ], summary="Sessions of this process.")
def list_sessions(state: State) -> Response:
    return as_json({"sessions": state.sessions.list(), "kinds": state.sessions.kinds})


@router.get("/{session_id}", dependencies=[READ], summary="One session.")
def get_session(state: State, session_id: SessionId) -> Response:
    return as_json(state.sessions.get(session_id).view())


def _control(action: str) -> Any:
    def control(state: State, session_id: SessionId) -> Response:
        return as_json(state.sessions.control(session_id, action))

    control.__name__ = f"{action}_session"
    return control


for _action in ("stop", "pause", "resume"):
    router.post(
        f"/{{session_id}}/{_action}", dependencies=[TRADE], summary=f"{_action.title()} a session."
    )(_control(_action))


@router.get("/{session_id}/positions", dependencies=[READ], summary="Positions now.")
def positions(state: State, session_id: SessionId) -> Response:
    session = state.sessions.get(session_id)
    return as_json({"session": session.id, "positions": session.positions})


@router.get("/{session_id}/model", dependencies=[READ], summary="The model in use, if any.")
def model(state: State, session_id: SessionId) -> Response:
    session = state.sessions.get(session_id)
    return as_json({"session": session.id, "model": session.model})


@router.get("/{session_id}/forecasts", dependencies=[READ], summary="Recent forecasts.")
def forecasts(state: State, session_id: SessionId) -> Response:
    session = state.sessions.get(session_id)
    return as_json({"session": session.id, "forecasts": []})


def _view(name: str) -> Any:
    attribute = name.replace("-", "_")

    def view(state: State, session_id: SessionId, limit: Limit = 500) -> Response:
        session = state.sessions.get(session_id)
        rows = list(getattr(session, attribute))[-limit:]
        return as_json({"session": session.id, attribute: rows})

    view.__name__ = f"session_{attribute}"
    return view


for _name in _VIEWS:
    router.get(f"/{{session_id}}/{_name}", dependencies=[READ], summary=f"Recent {_name}.")(
        _view(_name)
    )
