"""Deliver notifications to one webhook on a background thread, never blocking the caller.

:meth:`WebhookWorker.offer` is what the trading thread calls: a non-blocking ``put`` into a
bounded queue (O(1); it never raises, and a full queue drops the message with a counted,
rate-limited warning). The worker thread posts each message as JSON and retries connection
errors, timeouts, HTTP 429 (honouring ``Retry-After``) and 5xx with exponential backoff and
jitter; any other HTTP status is final. A receiver that is down therefore costs the trading loop
nothing: its messages wait in the queue, are retried, and are given up after ``max_attempts``.

Nothing logged here contains the webhook URL or a piece of it (:mod:`neo.notify.redact`): logs
name the webhook by its label (``slack@hooks.slack.com`` or its configured name).
"""

from __future__ import annotations

import contextlib
import json
import queue
import random
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message

from neo.domain.errors import NeoError, RetryableError
from neo.logs import get_logger
from neo.notify.config import NotificationConfig, WebhookConfig
from neo.notify.formats import payload
from neo.notify.messages import Notification
from neo.notify.redact import redact, secret_parts

log = get_logger("notify")

OutcomeHook = Callable[[str, str], None]
"""Called with (format, outcome) for each outcome: delivered, retried, failed, dropped."""

_STOP = object()
DROP_LOG_EVERY = 100
"""A full queue logs its first drop, then every this many (a flood must not flood the log)."""


@dataclass(slots=True)
class DeliveryStats:
    queued: int = 0
    delivered: int = 0
    retries: int = 0
    failed: int = 0
    dropped: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int = 1) -> int:
        with self.lock:
            value: int = getattr(self, name) + n
            setattr(self, name, value)
            return value

    def as_dict(self) -> dict[str, int]:
        with self.lock:
            return {
                "queued": self.queued,
                "delivered": self.delivered,
                "retries": self.retries,
                "failed": self.failed,
                "dropped": self.dropped,
            }


class RetryableDeliveryError(RetryableError):
    """A post that may succeed later (connection, timeout, HTTP 429 or 5xx)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FinalDeliveryError(NeoError):
    """A post the receiver refused for good (another HTTP status)."""


def _seconds(value: object) -> float | None:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return max(0.0, seconds) if seconds == seconds else None


def _retry_after(headers: Message | None, body: bytes) -> float | None:
    """How long a 429 asks us to wait: the ``Retry-After`` header (Slack, Discord), else
    ``retry_after`` in the JSON body (Discord) or ``parameters.retry_after`` (Telegram)."""
    header = None if headers is None else headers.get("Retry-After")
    if header is not None:
        return _seconds(header)
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    parameters = data.get("parameters")
    if isinstance(parameters, dict) and "retry_after" in parameters:
        return _seconds(parameters["retry_after"])
    return _seconds(data.get("retry_after"))


def post_json(url: str, body: bytes, timeout: float) -> None:
    """POST ``body`` to ``url``; a failure raises RetryableDeliveryError or FinalDeliveryError
    with a message that never holds the URL."""
    request = urllib.request.Request(  # scheme checked by WebhookConfig: http(s) only
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "neo-notify/1"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec B310
            response.read(65536)
    except urllib.error.HTTPError as exc:
        status = exc.code
        try:
            answer = exc.read(65536) if status == 429 else b""
        except OSError:
            answer = b""
        finally:
            exc.close()
        if status == 429 or status >= 500:
            wait = _retry_after(exc.headers, answer)
            raise RetryableDeliveryError(f"HTTP {status}", wait) from None
        raise FinalDeliveryError(f"HTTP {status}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RetryableDeliveryError(f"{type(exc).__name__}: {reason}") from None


class WebhookWorker:
    """A bounded queue and a daemon thread posting to one webhook (see the module docstring).

    ``post``, ``sleep`` and ``rng`` are seams for tests (the defaults post with urllib, wait on
    the worker's stop event and draw jitter from the system's random source).
    """

    def __init__(
        self,
        webhook: WebhookConfig,
        config: NotificationConfig,
        *,
        on_outcome: OutcomeHook | None = None,
        post: Callable[[str, bytes, float], None] = post_json,
        rng: random.Random | None = None,
    ) -> None:
        self.webhook = webhook
        self.config = config
        self.label = webhook.label
        self.stats = DeliveryStats()
        self._on_outcome = on_outcome
        self._post = post
        self._rng = rng or random.SystemRandom()
        self._events = frozenset(webhook.events)
        self._secrets = secret_parts(webhook.url.get_secret_value())
        self._queue: queue.Queue[object] = queue.Queue(maxsize=config.queue_size)
        self._closing = threading.Event()
        self._idle = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(
            target=self._run, name=f"neo-notify-{self.label}", daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------------ trading thread
    def offer(self, note: Notification) -> bool:
        """Queue ``note`` for delivery; False when it was dropped (queue full or closing) or
        this webhook does not want its kind. O(1); never raises, never blocks."""
        try:
            if note.kind not in self._events:
                return False
            if self._closing.is_set():
                self._drop()
                return False
            with self._idle:
                self._pending += 1
            try:
                self._queue.put_nowait(note)
            except queue.Full:
                self._done_one()
                self._drop()
                return False
            self.stats.add("queued")
            return True
        except Exception:  # never let a notification break the trading cycle
            return False

    def _drop(self) -> None:
        dropped = self.stats.add("dropped")
        self._outcome("dropped")
        if dropped == 1 or dropped % DROP_LOG_EVERY == 0:
            log.warning(
                "notification dropped (queue full or notifier closed)",
                extra={"webhook": self.label, "dropped": dropped},
            )

    # ------------------------------------------------------------------ worker thread
    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._closing.is_set():
                    return
                continue
            if item is _STOP:
                return
            try:
                if isinstance(item, Notification):
                    self._deliver(item)
            except Exception as exc:  # a bug here must not kill the worker
                log.error(
                    "notification delivery crashed",
                    extra={"webhook": self.label, "error": self._safe(repr(exc))},
                )
            finally:
                self._done_one()

    def _deliver(self, note: Notification) -> None:
        body = json.dumps(payload(note, self.webhook), ensure_ascii=False).encode("utf-8")
        url = self.webhook.url.get_secret_value()
        attempts = self.config.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                self._post(url, body, self.webhook.timeout_s)
            except FinalDeliveryError as exc:
                self._give_up(note, attempt, str(exc))
                return
            except Exception as exc:
                error = str(exc) if isinstance(exc, NeoError) else f"{type(exc).__name__}: {exc}"
                if attempt == attempts:
                    self._give_up(note, attempt, error)
                    return
                delay = self.backoff(attempt, getattr(exc, "retry_after", None))
                self.stats.add("retries")
                self._outcome("retried")
                log.info(
                    "webhook delivery failed; retrying",
                    extra={
                        "webhook": self.label,
                        "attempt": attempt,
                        "retry_in_s": round(delay, 3),
                        "error": self._safe(error),
                    },
                )
                if self._closing.wait(delay):
                    self._give_up(note, attempt, "shutting down")
                    return
            else:
                self.stats.add("delivered")
                self._outcome("delivered")
                return

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before retry number ``attempt``: exponential, capped, with 50–100 % jitter
        (so many processes do not retry in step); a server's ``Retry-After`` is a floor."""
        cap = self.config.backoff_max_s
        base = min(cap, self.config.backoff_s * 2.0 ** (attempt - 1))
        delay = base * self._rng.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, cap))
        return delay

    def _give_up(self, note: Notification, attempts: int, error: str) -> None:
        self.stats.add("failed")
        self._outcome("failed")
        log.warning(
            "webhook delivery given up",
            extra={
                "webhook": self.label,
                "kind": note.kind.value,
                "attempts": attempts,
                "error": self._safe(error),
            },
        )

    def _safe(self, text: str) -> str:
        return redact(text, self._secrets)

    def _outcome(self, outcome: str) -> None:
        if self._on_outcome is not None:
            try:
                self._on_outcome(self.webhook.format.value, outcome)
            except Exception:  # a metrics hook must not break delivery
                return

    def _done_one(self) -> None:
        with self._idle:
            self._pending -= 1
            if self._pending <= 0:
                self._idle.notify_all()

    # ------------------------------------------------------------------ control
    def flush(self, timeout: float) -> bool:
        """Wait until every queued message is delivered or given up; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending <= 0, timeout)

    def close(self, timeout: float = 2.0) -> None:
        """Stop accepting, cut retry waits short, and let the thread finish what is queued
        within ``timeout`` (it is a daemon thread: a receiver that hangs cannot hold the
        process)."""
        self._closing.set()
        with contextlib.suppress(queue.Full):  # else the worker sees the flag when dry
            self._queue.put_nowait(_STOP)
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
