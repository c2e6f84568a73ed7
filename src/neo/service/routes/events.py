"""``GET /v1/events``: server-sent events from the :class:`~neo.service.events.EventHub`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from neo.service.auth import READ
from neo.service.state import ServiceState, service_state

router = APIRouter(prefix="/v1", tags=["events"])
State = Annotated[ServiceState, Depends(service_state)]
HEARTBEAT_S = 15.0


@router.get(
    "/events",
    dependencies=[READ],
    response_class=StreamingResponse,
    summary="Live events (SSE): fill, order, equity, risk, killswitch, session, job.",
)
async def events(
    request: Request,
    state: State,
    kinds: Annotated[str | None, Query(max_length=200, description="Comma-separated.")] = None,
    max_events: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
) -> StreamingResponse:
    """``text/event-stream``; a comment line every 15 s keeps proxies from closing it.
    ``max_events`` ends the stream after that many events (scripts, tests)."""
    wanted = None if not kinds else {k.strip() for k in kinds.split(",") if k.strip()}
    sub = state.hub.subscribe(wanted, after=last_event_id)

    async def stream() -> AsyncIterator[str]:
        sent = 0
        try:
            yield ": connected\n\n"
            while max_events is None or sent < max_events:
                event = await sub.get(HEARTBEAT_S)
                if event is None:
                    if await request.is_disconnected():
                        return
                    yield ": keep-alive\n\n"
                    continue
                yield event.sse()
                sent += 1
        finally:
            state.hub.unsubscribe(sub)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
