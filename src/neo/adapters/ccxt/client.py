"""Building a ccxt client from :class:`ExchangeConfig`: URL override, keys, one rate limiter.

:func:`make_exchange` returns the real, unmodified ccxt client (sync ``ccxt.<id>``, or the
asyncio/websocket ``ccxt.pro.<id>`` with ``asynchronous=True``) with three things changed:

* ``url`` rewrites every REST (and websocket) base URL to that host, keeping the paths, so the
  client talks to ``neo exchange-sim`` (or a proxy) exactly as it would to the venue;
* ccxt's own ``enableRateLimit`` is off and every request first takes a slot from the
  exchange's one :class:`RateLimiter` with ccxt's own per-endpoint weight (``cost``), and a
  429/418 with ``Retry-After`` pauses that limiter;
* keys are loaded only with ``credentials=True`` (paper trading never loads them), and ccxt's
  DEBUG request log, which prints request headers (the API key), is silenced.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ccxt

from neo.adapters.ccxt.config import ExchangeConfig
from neo.adapters.ccxt.errors import retry_after_seconds
from neo.adapters.ccxt.ratelimit import RateLimiter, RetryBudget
from neo.domain.errors import ConfigError
from neo.logs import get_logger

log = get_logger("adapters.ccxt")

RequestObserver = Callable[[str, str, float, BaseException | None], None]
"""Called after every HTTP request: ``(exchange, endpoint, seconds, error or None)``; the
telemetry (``neo_exchange_request_seconds``) subscribes here."""

_OPTIONS: dict[str, dict[str, Any]] = {
    # spot only: no futures/options exchangeInfo calls, no keyed currency list at load
    "binance": {
        "fetchMarkets": {"types": ["spot"]},
        "fetchCurrencies": False,
        "fetchMargins": False,
        "defaultType": "spot",
    },
}


def _silence_ccxt_debug() -> None:
    """ccxt logs request headers (API keys) at DEBUG: keep its loggers at INFO or above."""
    for name in ("ccxt", "ccxt.base.exchange", "ccxt.async_support.base.exchange"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)


def rewrite_urls(urls: Any, base_url: str) -> Any:
    """Every ``http(s)://`` / ``ws(s)://`` URL in ccxt's ``urls['api']`` moved to the host of
    ``base_url`` (paths kept; websocket URLs get ``ws://`` for an ``http://`` base)."""
    target = urlsplit(base_url.rstrip("/"))
    if not target.scheme or not target.netloc:
        raise ConfigError(
            f"exchange url {base_url!r} is not an absolute URL: use e.g. http://127.0.0.1:8765"
        )
    if isinstance(urls, dict):
        return {key: rewrite_urls(value, base_url) for key, value in urls.items()}
    if not isinstance(urls, str) or "://" not in urls:
        return urls
    parts = urlsplit(urls)
    secure = target.scheme == "https"
    scheme = ("wss" if secure else "ws") if parts.scheme.startswith("ws") else target.scheme
    return urlunsplit((scheme, target.netloc, target.path + parts.path, parts.query, ""))


def make_exchange(
    name: str,
    config: ExchangeConfig | None = None,
    *,
    credentials: bool = False,
    asynchronous: bool = False,
    limiter: RateLimiter | None = None,
    observer: RequestObserver | None = None,
) -> Any:
    """A configured ccxt client for exchange ``name`` (a ccxt id such as ``binance``).

    ``limiter`` shares one :class:`RateLimiter` between the sync and async clients of one
    exchange (default: a new one from ``rate_limit_ms`` or ccxt's ``rateLimit``); it is
    reachable as ``exchange.neo_limiter``. Raises ConfigError for an exchange ccxt does not
    know, ExchangeAuthError when ``credentials`` are asked for and missing.
    """
    config = config or ExchangeConfig()
    module: Any = ccxt
    if asynchronous:
        import ccxt.async_support as ccxt_async
        import ccxt.pro as ccxt_pro

        module = ccxt_pro if name in ccxt_pro.exchanges else ccxt_async
    if name not in ccxt.exchanges or not hasattr(module, name):
        raise ConfigError(
            f"unknown exchange {name!r}: use a ccxt id such as binance or kraken "
            "(python -c 'import ccxt; print(ccxt.exchanges)' lists them)"
        )
    _silence_ccxt_debug()
    params: dict[str, Any] = {
        "enableRateLimit": False,
        "timeout": config.timeout_ms,
        "options": dict(_OPTIONS.get(name, {})),
    }
    if credentials:
        keys = config.credentials(name)
        params["apiKey"] = keys["api_key"].get_secret_value()
        params["secret"] = keys["secret"].get_secret_value()
        if "password" in keys:
            params["password"] = keys["password"].get_secret_value()
    exchange = getattr(module, name)(params)
    if config.sandbox:
        exchange.set_sandbox_mode(True)
    if config.url:
        exchange.urls["api"] = rewrite_urls(exchange.urls["api"], config.url)
    if config.ws_url and isinstance(exchange.urls["api"], dict) and "ws" in exchange.urls["api"]:
        exchange.urls["api"]["ws"] = rewrite_urls(exchange.urls["api"]["ws"], config.ws_url)
    rate_ms = config.rate_limit_ms or float(exchange.rateLimit)
    exchange.neo_url = config.url
    exchange.neo_budget = RetryBudget(attempts=config.max_retries + 1)
    exchange.neo_limiter = limiter or RateLimiter.for_rate_limit_ms(rate_ms)
    _route_through_limiter(exchange, asynchronous, observer)
    log.info(
        "exchange %s ready (url %s, %.0f ms per weight unit, keys %s)",
        name,
        config.url or "default",
        rate_ms,
        "loaded" if credentials else "not loaded",
    )
    return exchange


def _cost(exchange: Any, path: Any, api: Any, method: str, params: Any, config: Any) -> float:
    try:
        return float(exchange.calculate_rate_limiter_cost(api, method, path, params, config or {}))
    except (TypeError, ValueError):  # pragma: no cover - defensive: ccxt always returns a number
        return 1.0


def _after(
    exchange: Any,
    endpoint: str,
    started: float,
    error: BaseException | None,
    observer: RequestObserver | None,
) -> None:
    if isinstance(error, ccxt.DDoSProtection):  # 429 and 418 (RateLimitExceeded derives)
        wait = retry_after_seconds(exchange.last_response_headers)
        if wait:
            exchange.neo_limiter.pause(wait)
    if observer is not None:
        observer(exchange.id, endpoint, time.perf_counter() - started, error)


def _route_through_limiter(
    exchange: Any, asynchronous: bool, observer: RequestObserver | None
) -> None:
    """Wrap ``fetch2`` (every ccxt REST request passes there) with the limiter."""
    original = exchange.fetch2

    if asynchronous:

        async def fetch2_async(
            path: Any,
            api: Any = "public",
            method: str = "GET",
            params: Any = None,
            config: Any = None,
        ) -> Any:
            params = {} if params is None else params
            await exchange.neo_limiter.acquire_async(
                _cost(exchange, path, api, method, params, config)
            )
            started, error = time.perf_counter(), None
            try:
                return await original(path, api, method, params, config or {})
            except BaseException as exc:
                error = exc
                raise
            finally:
                _after(exchange, str(path), started, error, observer)

        exchange.fetch2 = fetch2_async
        return

    def fetch2(
        path: Any, api: Any = "public", method: str = "GET", params: Any = None, config: Any = None
    ) -> Any:
        params = {} if params is None else params
        exchange.neo_limiter.acquire(_cost(exchange, path, api, method, params, config))
        started, error = time.perf_counter(), None
        try:
            return original(path, api, method, params, config or {})
        except BaseException as exc:
            error = exc
            raise
        finally:
            _after(exchange, str(path), started, error, observer)

    exchange.fetch2 = fetch2


def stream_mode(exchange: Any, mode: str, capability: str | None = None) -> str:
    """How a stream (bars, fills, trades, book) listens: ``mode`` checked (``auto``, ``watch`` or
    ``poll``), and ``auto`` resolved to ``watch`` when the exchange ``has`` ``capability`` (a
    ccxt.pro ``watch…`` method), else ``poll``; with no capability, ``mode`` as given."""
    if mode not in ("auto", "watch", "poll"):
        raise ValueError(f"mode must be auto, watch or poll, not {mode!r}")
    if mode != "auto" or capability is None:
        return mode
    return "watch" if (getattr(exchange, "has", {}) or {}).get(capability) else "poll"
