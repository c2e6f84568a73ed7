"""Notifications: fills, risk events, kill switch, errors and stale data sent to webhooks
(Slack, Discord, Telegram or generic JSON) on background threads, never blocking the trading
cycle, never logging a webhook's secret URL.

Attach to a trading loop with :func:`attach_notifications` (the engine does not import this
package).
"""

from neo.notify.attach import Notifier, attach_notifications, attach_to_bus
from neo.notify.config import EventKind, NotificationConfig, WebhookConfig, WebhookFormat
from neo.notify.delivery import WebhookWorker
from neo.notify.messages import Notification, Severity

__all__ = [
    "EventKind",
    "Notification",
    "NotificationConfig",
    "Notifier",
    "Severity",
    "WebhookConfig",
    "WebhookFormat",
    "WebhookWorker",
    "attach_notifications",
    "attach_to_bus",
]
