"""Configuration of notifications: which webhooks hear which events, and how delivery retries.

In ``neo.toml``::

    [[notifications.webhooks]]
    url = "https://hooks.slack.com/services/T000/B000/XXXX"
    format = "slack"
    events = ["fill", "kill_switch", "error"]

    [[notifications.webhooks]]
    url = "https://api.telegram.org/bot123456:ABC-DEF/sendMessage"
    format = "telegram"
    chat_id = "-100123456"

or from the environment, ``NEO_NOTIFICATIONS__WEBHOOKS='[{"url": "...", "format": "discord"}]'``.
A webhook URL carries its credential (a Slack hook path, a Discord webhook token, a Telegram bot
token), so it is a :class:`~pydantic.SecretStr`: never printed, never logged (see
:mod:`neo.notify.redact`).
"""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class WebhookFormat(StrEnum):
    SLACK = "slack"
    DISCORD = "discord"
    TELEGRAM = "telegram"
    GENERIC = "generic"


class EventKind(StrEnum):
    """What a webhook can subscribe to (``events`` in its config)."""

    FILL = "fill"
    """An order (partly) filled."""
    RISK = "risk"
    """The risk layer denied an order."""
    KILL_SWITCH = "kill_switch"
    """The account's kill switch was engaged or reset."""
    ERROR = "error"
    """A strategy raised, the venue rejected an order, or the session stopped on a failure."""
    STALE = "stale"
    """An instrument's data is older than ``stale_after_bars`` bars (and when it is fresh again)."""


ALL_EVENTS = tuple(EventKind)


class WebhookConfig(BaseModel):
    """One webhook: where to post (``url``, a secret), in which payload shape, on which events."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    url: SecretStr
    format: WebhookFormat = WebhookFormat.GENERIC
    events: tuple[EventKind, ...] = ALL_EVENTS
    chat_id: str | None = None
    """Telegram only: the chat to post into (or ``?chat_id=`` in the URL)."""
    name: str = ""
    """How logs refer to this webhook (default: its format and host; never the URL)."""
    timeout_s: float = Field(5.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # the message must not echo the URL: it may hold a token
            raise ValueError(
                "a webhook url must be an http:// or https:// URL with a host "
                f"(got one with scheme {parts.scheme!r})"
            )
        return value

    @model_validator(mode="after")
    def _telegram_chat(self) -> WebhookConfig:
        if self.format is WebhookFormat.TELEGRAM and not self.chat_id:
            query = parse_qs(urlsplit(self.url.get_secret_value()).query)
            if "chat_id" not in query:
                raise ValueError(
                    'a telegram webhook needs chat_id: set chat_id = "..." beside its url '
                    "(or add ?chat_id=... to the URL)"
                )
        return self

    @property
    def label(self) -> str:
        """A name safe to log: the configured one, else ``format@host``."""
        if self.name:
            return self.name
        host = urlsplit(self.url.get_secret_value()).hostname or "?"
        return f"{self.format.value}@{host}"


class NotificationConfig(BaseModel):
    """Webhooks and delivery policy (``[notifications]`` in neo.toml).

    Delivery never blocks the trading cycle: each webhook has a bounded queue drained by its own
    background thread; a full queue drops the message and counts it. A failed post (connection
    error, timeout, HTTP 429 or 5xx) is retried up to ``max_attempts`` times, waiting
    ``backoff_s × 2^(attempt-1)`` (at most ``backoff_max_s``, times a random 50–100 % jitter);
    any other HTTP status is final.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    webhooks: tuple[WebhookConfig, ...] = ()
    queue_size: int = Field(1000, ge=1, le=1_000_000)
    max_attempts: int = Field(5, ge=1, le=50)
    backoff_s: float = Field(0.5, gt=0, le=600)
    backoff_max_s: float = Field(30.0, gt=0, le=3600)
    stale_after_bars: float = Field(2.0, gt=0)
    """Data is stale once the newest bar is this many bar lengths older than it should be."""
    stale_check_s: float = Field(5.0, gt=0)
    """How often the stale-data watch looks (wall time)."""

    @property
    def enabled(self) -> bool:
        return bool(self.webhooks)
