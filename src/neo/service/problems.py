"""Every error as an RFC 7807 problem: ``application/problem+json`` ``{type, title, status,
detail}``; bad input is a 4xx, never a 500.

NeoErrors map to statuses by kind (bad parameters 400, nothing found 404, a conflict 409, bad
data 422, a server that cannot serve now 503); request validation is 422 with every field at
fault in ``detail`` and ``errors``. Only a bug is a 500, and it says so without a traceback.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from neo.domain import errors as e
from neo.logs import get_logger

log = get_logger("service")

PROBLEM = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    500: "Internal server error",
    503: "Service unavailable",
}

# Most specific first: the first class the error is an instance of decides.
_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (e.DataNotFoundError, 404),
    (e.ModelNotFoundError, 404),
    (e.RecordNotFoundError, 404),
    (e.DataConflictError, 409),
    (e.KillSwitchEngagedError, 409),
    (e.SessionBusyError, 409),
    (e.DataFormatError, 422),
    (e.DataValidationError, 422),
    (e.RetryableError, 503),
    (e.StoreError, 503),
    (e.PersistenceError, 503),
)


def status_of(exc: e.NeoError) -> int:
    """The HTTP status of a NeoError (400 for bad parameters and anything unlisted)."""
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 400


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem response; ``type`` names the status family (``about:blank`` per RFC 7807)."""
    body = {
        "type": "about:blank",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": " ".join(str(detail).split()),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field(error: Any) -> str:
    loc = [str(p) for p in error.get("loc", ()) if p not in ("body",)]
    return ".".join(loc) or "body"


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"field": _field(err), "message": str(err.get("msg", ""))} for err in exc.errors()]
    detail = "; ".join(f"{err['field']}: {err['message']}" for err in errors[:10])
    return problem(422, f"invalid request: {detail}", errors=errors)


async def _model(request: Request, exc: Exception) -> JSONResponse:
    """A request body a use case validated itself (e.g. a session kind's own fields)."""
    if not isinstance(exc, ValidationError):  # registered for ValidationError only
        raise exc
    return await _validation(request, RequestValidationError(exc.errors(include_url=False)))


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    headers = dict(exc.headers) if exc.headers else None
    return problem(exc.status_code, str(exc.detail), headers=headers)


async def _neo(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, e.NeoError):  # registered for NeoError only
        raise exc
    status = status_of(exc)
    return problem(status, str(exc), title=type(exc).__name__)


async def _bug(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(
        500,
        f"unexpected {type(exc).__name__}: this is a bug in NEO, please report it",
    )


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into a problem response."""
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(ValidationError, _model)
    app.add_exception_handler(e.NeoError, _neo)
    app.add_exception_handler(Exception, _bug)
