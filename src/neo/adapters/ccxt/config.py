"""Per-exchange settings (``[exchanges.<ccxt id>]`` in neo.toml, ``NEO_EXCHANGES__<ID>__…``).

API keys are :class:`pydantic.SecretStr`: their ``repr``, ``str`` and JSON dump are masked, so a
settings dump, a log line or a ``--json`` result can never carry them. They come from the
environment (``NEO_EXCHANGES__BINANCE__API_KEY`` / ``…__SECRET``) or from ``secrets_file``
(TOML or JSON with ``api_key``, ``secret`` and optionally ``password``); the environment wins.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from neo.domain.errors import ConfigError, ExchangeAuthError


class ExchangeConfig(BaseModel):
    """How NEO reaches one exchange.

    ``url`` overrides every REST base URL of the ccxt client (e.g. ``http://127.0.0.1:P`` of
    ``neo exchange-sim``); ``sandbox`` selects the exchange's own testnet; ``rate_limit_ms``
    overrides ccxt's ``rateLimit`` (ms per unit of request weight); ``timeout_ms`` is the HTTP
    timeout; ``max_retries`` bounds the retries of one idempotent call.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = None
    ws_url: str | None = None
    sandbox: bool = False
    rate_limit_ms: float | None = Field(default=None, gt=0)
    timeout_ms: int = Field(default=10_000, gt=0)
    max_retries: int = Field(default=5, ge=0)
    fills_stream: Literal["auto", "watch", "poll", "off"] = "auto"
    """Our own fills during ``neo live``: over the websocket where the exchange has
    ``watchMyTrades`` (auto), REST polls, or off (the broker's polls at each bar only)."""
    fills_heartbeat_s: float = Field(default=30.0, gt=0)
    secrets_file: Path | None = None
    api_key: SecretStr | None = None
    secret: SecretStr | None = None
    password: SecretStr | None = None

    def credentials(self, name: str) -> dict[str, SecretStr]:
        """The keys for exchange ``name``: the environment/settings first, then the secrets
        file. Raises ExchangeAuthError (naming where to put them, never their values) when the
        key or the secret is missing."""
        found: dict[str, SecretStr] = {}
        if self.secrets_file is not None:
            found.update(_read_secrets(self.secrets_file))
        for field in ("api_key", "secret", "password"):
            value = getattr(self, field)
            if value is not None and value.get_secret_value():
                found[field] = value
        missing = [f for f in ("api_key", "secret") if f not in found]
        if missing:
            upper = name.upper()
            raise ExchangeAuthError(
                f"no {' and no '.join(missing)} for exchange {name}: set "
                f"NEO_EXCHANGES__{upper}__API_KEY and NEO_EXCHANGES__{upper}__SECRET, or "
                f"point [exchanges.{name}] secrets_file at a TOML file with api_key and secret"
            )
        return found


def _read_secrets(path: Path) -> dict[str, SecretStr]:
    """Keys from a TOML or JSON file; errors name the file, never its content."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the secrets file {path} ({exc.strerror}): fix secrets_file"
        ) from None
    data: Any
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError):
        raise ConfigError(
            f"the secrets file {path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}"
            ': write api_key = "…" and secret = "…"'
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"the secrets file {path} must hold api_key and secret")
    return {
        key: SecretStr(str(data[key])) for key in ("api_key", "secret", "password") if data.get(key)
    }
