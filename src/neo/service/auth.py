"""Bearer API keys with scopes: ``read`` < ``trade`` < ``admin``.

``Depends(require("trade"))`` on a route: no or a malformed ``Authorization`` header, or an
unknown or revoked key, is 401 (with ``WWW-Authenticate: Bearer``); a valid key without the
scope is 403. Keys are checked by :meth:`neo.persistence.KeyStore.verify` (salted hash, constant
time); a key never appears in a log line or a response.

A verified key is remembered for ``service.key_cache_seconds`` (:class:`KeyCache`), so a busy
client costs one database lookup per that interval rather than one per request: a key revoked
with ``neo keys revoke`` (by any process) is refused at the latest that long after
(default 1 s). Unknown or refused keys are never remembered.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from neo.service.state import ServiceState, state_of

if TYPE_CHECKING:
    from neo.persistence import ApiKeyRecord, KeyStore

_bearer = HTTPBearer(auto_error=False, description="An API key from `neo keys create`.")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class KeyCache:
    """Keys verified in the last ``seconds`` (0: none kept), by the sha256 of the key (the
    plaintext is not kept). ``clock`` is monotonic seconds (a test moves it)."""

    def __init__(
        self, keys: KeyStore, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.keys = keys
        self.seconds = seconds
        self.clock = clock
        self._verified: dict[bytes, tuple[float, ApiKeyRecord]] = {}
        self._lock = threading.Lock()

    def cached(self, key: str) -> ApiKeyRecord | None:
        """The record of ``key`` if it was verified less than ``seconds`` ago (no I/O)."""
        return self._fresh(_digest(key))

    def _fresh(self, digest: bytes) -> ApiKeyRecord | None:
        hit = self._verified.get(digest)
        if hit is None or self.clock() >= hit[0]:
            return None
        return hit[1]

    def verify(self, key: str) -> ApiKeyRecord | None:
        """Check ``key`` against the database (blocking) and remember it when valid. One
        lookup at a time: the requests that found the key expired together wait for the
        first one's answer instead of each asking the database."""
        digest = _digest(key)
        with self._lock:
            record = self._fresh(digest)
            if record is not None:
                return record
            record = self.keys.verify(key)
            if record is None:
                self._verified.pop(digest, None)
            elif self.seconds > 0:
                if len(self._verified) > 10_000:  # many keys: start over, never grow unbounded
                    self._verified.clear()
                self._verified[digest] = (self.clock() + self.seconds, record)
        return record


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.strip().encode("utf-8", "surrogatepass")).digest()


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            401,
            "no API key: send Authorization: Bearer <key> (create one with "
            "`neo keys create --scope read`)",
            headers=_CHALLENGE,
        )
    return credentials.credentials


def _admit(request: Request, record: ApiKeyRecord | None, scope: str) -> str:
    from neo.persistence import scope_allows

    if record is None:
        raise HTTPException(401, "unknown or revoked API key", headers=_CHALLENGE)
    if not scope_allows(record.scopes, scope):
        raise HTTPException(
            403, f"API key {record.prefix} lacks the {scope!r} scope (it has "
            f"{', '.join(record.scopes)})",
        )  # fmt: skip
    request.state.key_id = record.id
    return record.id


def authorise(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    state: ServiceState,
    scope: str,
) -> str:
    """The key id of a request whose key holds ``scope``; 401/403 otherwise. Blocking (it may
    ask the database): for a route that runs in a worker thread."""
    token = _token(credentials)
    record = state.key_cache.cached(token) or state.key_cache.verify(token)
    return _admit(request, record, scope)


def require(scope: str) -> Callable[..., Any]:
    """A dependency that admits keys holding ``scope`` (or a higher one). It runs on the event
    loop: a key verified lately is admitted without I/O; otherwise the database is asked in a
    worker thread."""
    from neo.persistence import scope_allows

    scope_allows((), scope)  # an unknown scope is a programming error: fail at import

    async def check(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
    ) -> str:
        state = state_of(request)
        token = _token(credentials)
        record = state.key_cache.cached(token)
        if record is None:
            record = await run_in_threadpool(state.key_cache.verify, token)
        return _admit(request, record, scope)

    return check


READ = Depends(require("read"))
TRADE = Depends(require("trade"))
ADMIN = Depends(require("admin"))
