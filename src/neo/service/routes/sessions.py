"""``/v1/sessions``: paper and live sessions of this process (live: the durable session
``neo live`` runs, by its journal's name)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import Response

from neo.app.sessions import PaperSessionRequest, Session
from neo.app.sessions_live import LiveSessionRequest
from neo.app.stored_sessions import stored_records, stored_session, stored_sessions
from neo.domain.errors import RecordNotFoundError
from neo.service.auth import READ, TRADE
from neo.service.responses import as_json
from neo.service.state import ServiceState, service_state

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])
State = Annotated[ServiceState, Depends(service_state)]
SessionId = Annotated[str, Path(min_length=1, max_length=64, pattern="^[A-Za-z0-9_.:-]+$")]
Limit = Annotated[int, Query(ge=1, le=5000)]
_VIEWS = ("fills", "orders", "equity", "risk-events")


_START_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        PaperSessionRequest.model_json_schema(),
                        LiveSessionRequest.model_json_schema(),
                    ]
                }
            }
        },
    }
}


@router.post(
    "", dependencies=[TRADE], status_code=201, summary="Start a session.", openapi_extra=_START_DOC
)
def start(
    state: State,
    request: Annotated[
        dict[str, Any], Body(description="kind paper (default) or a registered one")
    ],
) -> Response:
    """The body is checked by the kind's starter (:class:`PaperSessionRequest`,
    :class:`LiveSessionRequest`), so each kind takes its own fields."""
    view = state.sessions.start(request)
    return as_json(view, status=201, headers={"Location": f"/v1/sessions/{view['id']}"})


@router.get("", dependencies=[READ], summary="Sessions of this process, and stored ones.")
def list_sessions(state: State) -> Response:
    """``sessions``: this process's; ``stored``: the state database's other sessions (their
    own process's, or an earlier service run's), as their last checkpoint has them."""
    here = state.sessions.list()
    stored = stored_sessions(state.db, besides={view["id"] for view in here})
    return as_json({"sessions": here, "stored": stored, "kinds": state.sessions.kinds})


def _here(state: ServiceState, session_id: str) -> Session | None:
    try:
        return state.sessions.get(session_id)
    except RecordNotFoundError:
        return None


@router.get("/{session_id}", dependencies=[READ], summary="One session.")
def get_session(state: State, session_id: SessionId) -> Response:
    session = _here(state, session_id)
    if session is None:
        return as_json(stored_session(state.db, session_id))
    return as_json(session.view())


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
    session = _here(state, session_id)
    if session is None:
        held = stored_session(state.db, session_id)["positions"]
        return as_json({"session": session_id, "positions": held})
    return as_json({"session": session.id, "positions": session.positions})


@router.get("/{session_id}/model", dependencies=[READ], summary="The model in use, if any.")
def model(state: State, session_id: SessionId) -> Response:
    session = _here(state, session_id)
    if session is None:  # a stored session: the database keeps no model reference
        stored_session(state.db, session_id)
        return as_json({"session": session_id, "model": None, "source": "database"})
    return as_json({"session": session.id, "model": session.model})


@router.get("/{session_id}/forecasts", dependencies=[READ], summary="Recent forecasts.")
def forecasts(state: State, session_id: SessionId) -> Response:
    session = _here(state, session_id)
    if session is None:
        stored_session(state.db, session_id)
    return as_json({"session": session_id, "forecasts": []})


def _view(name: str) -> Any:
    attribute = name.replace("-", "_")

    def view(state: State, session_id: SessionId, limit: Limit = 500) -> Response:
        session = _here(state, session_id)
        if session is None:  # a stored session: its journaled orders and fills; no curve
            if attribute in ("orders", "fills"):
                rows = stored_records(state.db, session_id, attribute, limit)
            else:
                stored_session(state.db, session_id)  # 404 when there is none at all
                rows = []
            return as_json({"session": session_id, attribute: rows, "source": "database"})
        rows = list(getattr(session, attribute))[-limit:]
        return as_json({"session": session.id, attribute: rows})

    view.__name__ = f"session_{attribute}"
    return view


for _name in _VIEWS:
    router.get(f"/{{session_id}}/{_name}", dependencies=[READ], summary=f"Recent {_name}.")(
        _view(_name)
    )
