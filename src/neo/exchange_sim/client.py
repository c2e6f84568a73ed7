"""Point the unmodified ccxt client at a running sim.

``ccxt_urls(dialect, base_url)`` is the ``urls['api']`` override: every API of the exchange keeps
its path and swaps Binance's or Kraken's host for the sim's. ``make_ccxt_client`` builds a sync,
async or ccxt.pro client with that override and the options the sim needs:

- Binance: ``fetchMarkets: {'types': ['spot']}`` (the sim is spot only), ``fetchCurrencies:
  False`` and ``fetchMargins: False`` (both call ``sapi`` endpoints the sim does not serve).
- Kraken: nothing beyond the URLs.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

DIALECTS = ("binance", "kraken")
SIM_KEY = "sim-key"
# The sim's own published test credentials, not secrets of anything real:
SIM_SECRET = "sim-secret"  # nosec B105
KRAKEN_SIM_SECRET = "c2ltLXNlY3JldA=="  # nosec B105  # base64 of "sim-secret" (Kraken: base64)


def _rehost(value: Any, base_url: str, ws_url: str) -> Any:
    if isinstance(value, dict):
        return {key: _rehost(item, base_url, ws_url) for key, item in value.items()}
    if isinstance(value, str) and value.startswith(("https://", "http://")):
        return re.sub(r"^https?://[^/]+", base_url, value)
    if isinstance(value, str) and value.startswith(("wss://", "ws://")):
        return re.sub(r"^wss?://[^/]+", ws_url, value)
    return value


def ccxt_urls(dialect: str, base_url: str, *, pro: bool = False) -> dict[str, Any]:
    """ccxt's ``urls['api']`` for ``dialect`` with every host replaced by the sim's.

    With ``pro=True`` the websocket URLs (ccxt.pro's ``urls['api']['ws']``) are included too.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; one of {', '.join(DIALECTS)}")
    base_url = base_url.rstrip("/")
    ws_url = re.sub(r"^http", "ws", base_url)
    module = importlib.import_module("ccxt.pro" if pro else "ccxt")
    api = getattr(module, dialect)().urls["api"]
    return {key: _rehost(value, base_url, ws_url) for key, value in api.items()}


def ccxt_options(dialect: str) -> dict[str, Any]:
    """The ccxt ``options`` the sim needs for ``dialect`` (see the module docstring)."""
    if dialect == "binance":
        return {
            "fetchMarkets": {"types": ["spot"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
            "defaultType": "spot",
        }
    return {}


def make_ccxt_client(dialect: str, base_url: str, *, pro: bool = False, asyncio: bool = False,
                     api_key: str = SIM_KEY, secret: str | None = None,
                     timeout_ms: int = 10_000) -> Any:  # fmt: skip
    """A ccxt client of ``dialect`` trading against the sim at ``base_url``.

    ``pro=True`` gives a ccxt.pro client (async, with websockets); ``asyncio=True`` the plain
    async client; otherwise the sync one. The key and secret default to the sim's own.
    """
    if secret is None:
        secret = KRAKEN_SIM_SECRET if dialect == "kraken" else SIM_SECRET
    name = "ccxt.pro" if pro else "ccxt.async_support" if asyncio else "ccxt"
    module = importlib.import_module(name)
    client = getattr(module, dialect)({
        "apiKey": api_key,
        "secret": secret,
        "timeout": timeout_ms,
        "enableRateLimit": False,
        "options": ccxt_options(dialect),
    })  # fmt: skip
    client.urls["api"] = ccxt_urls(dialect, base_url, pro=pro)
    return client
