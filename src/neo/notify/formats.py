"""Payloads in the shapes Slack, Discord and Telegram accept, and a generic JSON one.

* Slack incoming webhook: ``{"text": ..., "blocks": [...]}`` (``text`` is the fallback shown in
  notifications; blocks are mrkdwn sections).
* Discord webhook: ``{"content": ..., "embeds": [{"title", "description", "color", "timestamp",
  "fields": [{"name", "value", "inline"}]}]}`` within Discord's length limits.
* Telegram Bot API ``sendMessage``: ``{"chat_id": ..., "text": ...}`` (plain text, so nothing
  needs escaping; at most 4096 characters).
* Generic: the notification itself as JSON, for any receiver of your own.
"""

from __future__ import annotations

from typing import Any

from neo.notify.config import WebhookConfig, WebhookFormat
from neo.notify.messages import Notification, Severity

_DISCORD_COLOURS = {
    Severity.INFO: 0x2E7D32,
    Severity.WARNING: 0xF9A825,
    Severity.CRITICAL: 0xC62828,
}
_SLACK_ICONS = {Severity.INFO: ":white_check_mark:", Severity.WARNING: ":warning:",
                Severity.CRITICAL: ":rotating_light:"}  # fmt: skip
TELEGRAM_LIMIT = 4096


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def payload(note: Notification, webhook: WebhookConfig) -> dict[str, Any]:
    """The JSON body to POST to ``webhook`` for ``note``."""
    kind = webhook.format
    if kind is WebhookFormat.SLACK:
        return slack(note)
    if kind is WebhookFormat.DISCORD:
        return discord(note)
    if kind is WebhookFormat.TELEGRAM:
        return telegram(note, webhook.chat_id)
    return generic(note)


def _field_line(note: Notification) -> str:
    return " · ".join(f"{k}: {v}" for k, v in note.fields.items() if v)


def slack(note: Notification) -> dict[str, Any]:
    head = f"{_SLACK_ICONS[note.severity]} *{note.title}*"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(f"{head}\n{note.text}", 3000)}}
    ]
    context = _field_line(note)
    tail = f"{context} · {note.ts_iso}" if context else note.ts_iso
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(tail, 3000)}]})
    return {"text": _clip(f"{note.title}: {note.text}", 3000), "blocks": blocks}


def discord(note: Notification) -> dict[str, Any]:
    fields = [
        {"name": _clip(k, 256), "value": _clip(v, 1024), "inline": True}
        for k, v in list(note.fields.items())[:25]
        if v
    ]
    embed: dict[str, Any] = {
        "title": _clip(note.title, 256),
        "description": _clip(note.text, 4096),
        "color": _DISCORD_COLOURS[note.severity],
        "timestamp": note.ts_iso,
        "fields": fields,
        "footer": {"text": f"NEO · {note.kind.value}"},
    }
    return {"content": _clip(note.title, 2000), "embeds": [embed]}


def telegram(note: Notification, chat_id: str | None) -> dict[str, Any]:
    lines = [note.title, note.text]
    context = _field_line(note)
    if context:
        lines.append(context)
    lines.append(note.ts_iso)
    body: dict[str, Any] = {
        "text": _clip("\n".join(lines), TELEGRAM_LIMIT),
        "disable_web_page_preview": True,
    }
    if chat_id:
        body["chat_id"] = chat_id
    return body


def generic(note: Notification) -> dict[str, Any]:
    return {
        "source": "neo",
        "kind": note.kind.value,
        "severity": note.severity.value,
        "title": note.title,
        "text": note.text,
        "fields": note.fields,
        "session": note.session,
        "ts": note.ts_iso,
        "ts_ns": note.ts_ns,
    }
