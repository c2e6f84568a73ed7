"""ccxt's exceptions translated into NEO's one error tree (retryable vs fatal).

=============================================  ======================================
ccxt                                           NEO
=============================================  ======================================
``RequestTimeout``                             :class:`RequestTimeoutError` (retryable)
``RateLimitExceeded`` (429)                    :class:`RateLimitError` (retryable)
``DDoSProtection`` (418, Cloudflare)           :class:`ExchangeBanError` (retryable, slow)
``ExchangeNotAvailable``/``OnMaintenance``     :class:`ExchangeUnavailableError`
other ``NetworkError``, ``BadResponse``        :class:`NetworkError` (retryable)
``AuthenticationError``/``PermissionDenied``   :class:`ExchangeAuthError` (fatal)
``OrderNotFound``                              :class:`ExchangeOrderNotFoundError`
``InvalidOrder``/``InsufficientFunds``         :class:`OrderRefusedError` (never retried)
anything else                                  :class:`ExchangeError` (fatal)
=============================================  ======================================

Messages keep ccxt's text (the venue's own reason) but never a header or a key: ccxt puts only
the exchange id, method, URL and body in them.
"""

from __future__ import annotations

import ccxt

from neo.domain.errors import (
    ExchangeAuthError,
    ExchangeBanError,
    ExchangeError,
    ExchangeOrderNotFoundError,
    ExchangeUnavailableError,
    NeoError,
    NetworkError,
    OrderRefusedError,
    RateLimitError,
    RequestTimeoutError,
)

_ORDER: tuple[tuple[type[BaseException], type[NeoError], str], ...] = (
    (ccxt.RequestTimeout, RequestTimeoutError, "timeout"),
    (ccxt.RateLimitExceeded, RateLimitError, "rate_limit"),
    (ccxt.DDoSProtection, ExchangeBanError, "ban"),
    (ccxt.ExchangeNotAvailable, ExchangeUnavailableError, "unavailable"),
    (ccxt.NetworkError, NetworkError, "network"),
    (ccxt.BadResponse, NetworkError, "bad_response"),
    (ccxt.AuthenticationError, ExchangeAuthError, "auth"),
    (ccxt.PermissionDenied, ExchangeAuthError, "auth"),
    (ccxt.AccountSuspended, ExchangeAuthError, "auth"),
    (ccxt.OrderNotFound, ExchangeOrderNotFoundError, "not_found"),
    (ccxt.InsufficientFunds, OrderRefusedError, "insufficient_funds"),
    (ccxt.InvalidOrder, OrderRefusedError, "invalid_order"),
    (ccxt.BadRequest, OrderRefusedError, "bad_request"),
    (ccxt.BaseError, ExchangeError, "exchange"),
)


def error_kind(exc: BaseException) -> str:
    """A short stable label for metrics (``neo_exchange_errors_total{kind}``)."""
    if isinstance(exc, NeoError):
        return type(exc).__name__
    for ccxt_type, _, kind in _ORDER:
        if isinstance(exc, ccxt_type):
            return kind
    return "other"


def translate(exc: BaseException, exchange: str = "") -> NeoError:
    """The NEO error for a ccxt exception (a NeoError passes through unchanged)."""
    if isinstance(exc, NeoError):
        return exc
    for ccxt_type, neo_type, _ in _ORDER:
        if isinstance(exc, ccxt_type):
            text = " ".join(str(exc).split())[:300] or type(exc).__name__
            prefix = f"{exchange}: " if exchange and not text.startswith(exchange) else ""
            return neo_type(f"{prefix}{text}")
    return ExchangeError(f"{exchange}: unexpected {type(exc).__name__}: {exc}")


def retry_after_seconds(headers: object) -> float | None:
    """The ``Retry-After`` of the last response in seconds (delta-seconds form), if any."""
    if not hasattr(headers, "get"):
        return None
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return seconds if seconds is not None and seconds >= 0 else None
