"""``/v1/accounts/{account}/killswitch``: the kill switch of an account (:mod:`neo.app.risk`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from neo.app import risk as use
from neo.service.auth import ADMIN, READ, TRADE
from neo.service.responses import as_json
from neo.service.state import ServiceState, service_state

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])
State = Annotated[ServiceState, Depends(service_state)]
Account = Annotated[str, Path(min_length=1, max_length=100, description="paper or exchange:v:l")]


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(..., min_length=1, max_length=500, description="Why (recorded).")


ReasonBody = Annotated[Reason, Body()]


def _actor(request: Request) -> str:
    return f"neo api (key {getattr(request.state, 'key_id', '?')})"


@router.get("/{account}/killswitch", dependencies=[READ], summary="Kill switch status.")
def status(state: State, account: Account) -> Response:
    """What ``neo risk status --account A --json`` prints."""
    return as_json(use.kill_switch_status(state.settings, account))


@router.post("/{account}/killswitch/engage", dependencies=[TRADE], summary="Halt the account.")
def engage(
    state: State, request: Request, account: Account, body: Annotated[Reason, Body()]
) -> Response:
    result = use.engage_kill_switch(state.settings, account, body.reason, actor=_actor(request))
    state.hub.publish("killswitch", {"account": account, "engaged": True, "reason": body.reason})
    return as_json(result)


@router.post("/{account}/killswitch/reset", dependencies=[ADMIN], summary="Release the halt.")
def reset(
    state: State, request: Request, account: Account, body: Annotated[Reason, Body()]
) -> Response:
    result = use.reset_kill_switch(state.settings, account, body.reason, actor=_actor(request))
    state.hub.publish("killswitch", {"account": account, "engaged": False, "reason": body.reason})
    return as_json(result)
