"""Bearer API keys with scopes: ``read`` < ``trade`` < ``admin``.

``Depends(require("trade"))`` on a route: no or a malformed ``Authorization`` header, or an
unknown or revoked key, is 401 (with ``WWW-Authenticate: Bearer``); a valid key without the
scope is 403. Keys are checked by :meth:`neo.persistence.KeyStore.verify` (salted hash, constant
time); a key never appears in a log line or a response.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from neo.service.state import ServiceState, service_state

_bearer = HTTPBearer(auto_error=False, description="An API key from `neo keys create`.")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def require(scope: str) -> Callable[..., Any]:
    """A dependency that admits keys holding ``scope`` (or a higher one)."""
    from neo.persistence import scope_allows

    def check(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
        state: ServiceState = Depends(service_state),  # noqa: B008
    ) -> str:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(
                401,
                "no API key: send Authorization: Bearer <key> (create one with "
                "`neo keys create --scope read`)",
                headers=_CHALLENGE,
            )
        record = state.db.keys.verify(credentials.credentials)
        if record is None:
            raise HTTPException(401, "unknown or revoked API key", headers=_CHALLENGE)
        if not scope_allows(record.scopes, scope):
            raise HTTPException(
                403, f"API key {record.prefix} lacks the {scope!r} scope (it has "
                f"{', '.join(record.scopes)})",
            )  # fmt: skip
        request.state.key_id = record.id
        return record.id

    return check


READ = Depends(require("read"))
TRADE = Depends(require("trade"))
ADMIN = Depends(require("admin"))
