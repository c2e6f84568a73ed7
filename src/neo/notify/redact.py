"""Keep webhook secrets out of every log line and error message.

A webhook URL is its own credential: Slack's ``/services/T…/B…/XXXX`` path, Discord's
``/api/webhooks/<id>/<token>``, Telegram's ``/bot<token>/sendMessage`` and any ``?token=``
query. Anything the notifier logs about a delivery goes through :func:`redact`, which replaces
the whole URL and each of its path segments and query values longer than a few characters (an
exception message may quote just a piece of it) with ``***``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

MASK = "***"
_SHORT = 6
"""Path segments and query values this short (``api``, ``bot``, ``v1``) are not secrets, and
masking them would garble messages."""
_PUBLIC = frozenset({"services", "webhooks", "sendMessage", "hooks", "webhook", "notify"})
"""Well-known path words of the webhook services, left readable."""


def secret_parts(url: str) -> tuple[str, ...]:
    """The pieces of ``url`` that could carry a credential, longest first."""
    parts = urlsplit(url)
    pieces = {url, parts.path, parts.query, parts.netloc if "@" in parts.netloc else ""}
    for segment in parts.path.split("/"):
        pieces.add(segment)
        pieces.add(unquote(segment))
        if segment.startswith("bot") and len(segment) > 3:  # telegram: /bot<token>/
            pieces.add(segment[3:])
    for _, value in parse_qsl(parts.query, keep_blank_values=False):
        pieces.add(value)
    if parts.password:
        pieces.add(parts.password)
    kept = (p for p in pieces if len(p) >= _SHORT and p.strip("/") not in _PUBLIC)
    return tuple(sorted(kept, key=len, reverse=True))


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every piece in ``secrets`` (from :func:`secret_parts`) masked."""
    for piece in secrets:
        if piece in text:
            text = text.replace(piece, MASK)
    return text
