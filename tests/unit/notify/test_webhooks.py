"""Notifications reach local webhook receivers in each service's payload shape, are retried with
backoff, never hold up the trading loop, and never log a webhook's secret URL."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from neo.domain.events import KillSwitchEngaged, KillSwitchReset, OrderFilled, StrategyFailed
from neo.engine.loop import AutonomousTradingLoop, get_autonomous_trading_loop
from neo.logs import JsonFormatter
from neo.notify import (
    EventKind,
    NotificationConfig,
    Notifier,
    WebhookConfig,
    attach_notifications,
)
from neo.notify.delivery import WebhookWorker
from neo.notify.messages import Notification, Severity
from neo.notify.redact import redact, secret_parts
from tests.unit.engine.bars import walk
from tests.unit.notify.receiver import Receiver, closed_port, receiving

SLACK = "/services/T0ABCDEF1/B0GHIJKL2/SlackSecretToken0123456789"
DISCORD = "/api/webhooks/112233445566/DiscordSecretToken_abcdefXYZ"
TELEGRAM = "/bot123456789:TelegramSecretAAEx0123456789/sendMessage"
GENERIC = "/hook?token=GenericSecretQueryToken42"
SECRETS = (
    "SlackSecretToken0123456789",
    "DiscordSecretToken_abcdefXYZ",
    "TelegramSecretAAEx0123456789",
    "123456789:TelegramSecret",
    "GenericSecretQueryToken42",
)
FAST = {"backoff_s": 0.01, "backoff_max_s": 0.05}


def _hooks(base: str, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"url": base + SLACK, "format": "slack", **extra},
        {"url": base + DISCORD, "format": "discord", **extra},
        {"url": base + TELEGRAM, "format": "telegram", "chat_id": "-100777", **extra},
        {"url": base + GENERIC, "format": "generic", **extra},
    ]


def _config(hooks: list[dict[str, Any]], **options: Any) -> NotificationConfig:
    return NotificationConfig.model_validate({"webhooks": hooks, **FAST, **options})


def _trading_loop() -> AutonomousTradingLoop:
    loop = get_autonomous_trading_loop("sma_cross", symbols=["BTC/USDT"], params={"size": 1})
    loop.start()
    return loop


def _run(loop: AutonomousTradingLoop, bars: int = 200) -> float:
    """Push ``bars`` bars through the loop; the wall time it took."""
    started = time.perf_counter()
    for bar in walk(bars, seed=11):
        loop.push_bar(bar)
    loop.stop("feed ended")
    return time.perf_counter() - started


class Records(logging.Handler):
    """Every record the neo loggers emit, formatted with their extras (as --log-json does)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.formatter_ = JsonFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.formatter_.format(record))


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    root = logging.getLogger("neo")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _by_format(receiver: Receiver) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"slack": [], "discord": [], "telegram": [], "generic": []}
    for post in receiver.posts:
        name = next(
            k
            for k, p in (
                ("slack", SLACK),
                ("discord", DISCORD),
                ("telegram", TELEGRAM),
                ("generic", GENERIC),
            )
            if post.path == p
        )
        out[name].append(post.body)
    return out


def test_fills_reach_each_format_in_its_payload_shape() -> None:
    with receiving() as receiver:
        loop = _trading_loop()
        seen: list[Any] = []
        loop.bus.subscribe(OrderFilled, seen.append)
        notifier = attach_notifications(loop, _config(_hooks(receiver.url)), session="s1")
        assert notifier is not None
        _run(loop)
        assert notifier.flush(10)
        notifier.close()
    fills = loop.stats.fills
    assert fills >= 3
    got = _by_format(receiver)
    assert {k: len(v) for k, v in got.items()} == dict.fromkeys(got, fills)
    first = seen[0].fill
    side = first.side.value
    assert [g["fields"]["side"] for g in got["generic"]] == [e.fill.side.value for e in seen]
    slack = got["slack"][0]
    assert slack["text"].startswith(f"Fill: {side} 1 BTC/USDT")
    assert [b["type"] for b in slack["blocks"]] == ["section", "context"]
    assert slack["blocks"][0]["text"]["type"] == "mrkdwn"
    discord = got["discord"][0]
    assert discord["content"].startswith("Fill:") and len(discord["embeds"]) == 1
    embed = discord["embeds"][0]
    assert {f["name"] for f in embed["fields"]} >= {"instrument", "side", "price", "quantity"}
    assert isinstance(embed["color"], int) and embed["timestamp"].endswith("Z")
    telegram = got["telegram"][0]
    assert telegram["chat_id"] == "-100777" and "BTC/USDT" in telegram["text"]
    assert len(telegram["text"]) <= 4096
    generic = got["generic"][0]
    assert generic["kind"] == "fill" and generic["source"] == "neo"
    assert generic["session"] == "s1" and generic["fields"]["side"] == side
    assert float(generic["fields"]["price"].replace(",", "")) == pytest.approx(first.price)
    assert receiver.posts[0].headers["Content-Type"] == "application/json"


def test_each_webhook_hears_only_its_events() -> None:
    with receiving() as receiver:
        hooks = [
            {"url": receiver.url + GENERIC, "format": "generic", "events": ["kill_switch"]},
            {"url": receiver.url + SLACK, "format": "slack", "events": ["error", "fill"]},
        ]
        loop = _trading_loop()
        notifier = attach_notifications(loop, _config(hooks))
        assert notifier is not None
        _run(loop, 120)
        loop.bus.publish(KillSwitchEngaged(ts=1, reason="drawdown 12% > 10%"))
        loop.bus.publish(KillSwitchReset(ts=2, by="alice"))
        loop.bus.publish(StrategyFailed(ts=3, strategy="x", error="ZeroDivisionError"))
        assert notifier.flush(10)
        notifier.close()
    got = _by_format(receiver)
    assert [b["title"] for b in got["generic"]] == [
        "Kill switch ENGAGED: trading halted",
        "Kill switch reset: trading may resume",
    ]
    assert got["generic"][0]["severity"] == "critical"
    assert got["generic"][0]["text"] == "drawdown 12% > 10%"
    slack_titles = [b["text"] for b in got["slack"]]
    assert len(slack_titles) == loop.stats.fills + 1
    assert slack_titles[-1].startswith("Strategy x failed")


def test_a_receiver_failing_with_503_is_retried_until_it_answers() -> None:
    with receiving(mode="fail", failures=2, status=503, retry_after="0") as receiver:
        config = _config([{"url": receiver.url + GENERIC}], max_attempts=4)
        notifier = Notifier(config)
        notifier.notify(_note())
        assert notifier.flush(10)
        notifier.close()
    assert receiver.attempts == 3 and len(receiver.posts) == 1
    assert notifier.workers[0].stats.as_dict() == {
        "queued": 1, "delivered": 1, "retries": 2, "failed": 0, "dropped": 0,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("header", "body", "expected"),
    [
        ("7", b"{}", 7.0),  # Slack, Discord: the Retry-After header
        (None, b'{"ok": false, "parameters": {"retry_after": 12}}', 12.0),  # Telegram
        (None, b'{"message": "rate limited", "retry_after": 0.25}', 0.25),  # Discord body
        (None, b"not json", None),
    ],
)
def test_a_429_says_how_long_to_wait_in_each_service_s_way(
    header: str | None, body: bytes, expected: float | None
) -> None:
    from neo.notify.delivery import RetryableDeliveryError, post_json

    options = {"mode": "always", "status": 429, "retry_after": header, "error_body": body}
    with receiving(**options) as receiver, pytest.raises(RetryableDeliveryError) as refused:
        post_json(receiver.url + GENERIC, b"{}", 5.0)
    assert refused.value.retry_after == expected and str(refused.value) == "HTTP 429"


def test_a_4xx_answer_is_final_and_not_retried() -> None:
    with receiving(mode="always", status=404) as receiver:
        notifier = Notifier(_config([{"url": receiver.url + GENERIC}], max_attempts=5))
        notifier.notify(_note())
        assert notifier.flush(10)
        notifier.close()
    assert receiver.attempts == 1
    assert notifier.workers[0].stats.failed == 1


def test_a_receiver_that_is_down_is_retried_then_given_up_without_blocking_the_loop(
    records: Records,
) -> None:
    base = f"http://127.0.0.1:{closed_port()}"
    outcomes: list[tuple[str, str]] = []
    loop = _trading_loop()
    notifier = attach_notifications(
        loop, _config(_hooks(base), max_attempts=3), on_outcome=lambda f, o: outcomes.append((f, o))
    )
    assert notifier is not None
    elapsed = _run(loop)
    baseline = _run(_trading_loop())
    assert notifier.flush(20)
    notifier.close()
    fills = loop.stats.fills
    for worker in notifier.workers:
        assert worker.stats.as_dict() == {
            "queued": fills, "delivered": 0, "retries": 2 * fills, "failed": fills, "dropped": 0,
        }  # fmt: skip
    assert outcomes.count(("telegram", "failed")) == fills
    assert outcomes.count(("slack", "retried")) == 2 * fills
    given_up = [line for line in records.lines if "given up" in line]
    assert len(given_up) == 4 * fills and "Connection refused" in given_up[0]
    # Not asserted tightly: the loop ran about as fast as without webhooks, nowhere near the
    # seconds that 4 x fills x 3 refused connections with backoff take on the worker threads.
    print(f"loop with a dead receiver {elapsed:.3f} s, without webhooks {baseline:.3f} s")
    assert elapsed < baseline + 2.0


def test_a_slow_receiver_does_not_hold_up_the_loop() -> None:
    with receiving(mode="hold") as receiver:
        loop = _trading_loop()
        notifier = attach_notifications(loop, _config([{"url": receiver.url + GENERIC}]))
        assert notifier is not None
        _run(loop)
        # the whole run finished while the receiver still holds the first post
        assert receiver.arrived.wait(10)
        assert receiver.posts == [] and loop.state.value == "stopped"
        receiver.release.set()
        assert notifier.flush(10)
        notifier.close()
    assert len(receiver.posts) == loop.stats.fills >= 3


def test_a_full_queue_drops_with_one_counted_warning(records: Records) -> None:
    with receiving(mode="hold") as receiver:
        notifier = Notifier(_config([{"url": receiver.url + GENERIC}], queue_size=2))
        worker = notifier.workers[0]
        notifier.notify(_note())
        assert receiver.arrived.wait(10)  # the first is in flight, held by the receiver
        started = time.perf_counter()
        for _ in range(10):
            notifier.notify(_note())
        offered = time.perf_counter() - started
        stats = worker.stats.as_dict()
        receiver.release.set()
        assert notifier.flush(10)
        notifier.close()
    assert stats["queued"] == 3 and stats["dropped"] == 8
    assert len(receiver.posts) == 3
    warnings = [line for line in records.lines if "notification dropped" in line]
    assert len(warnings) == 1
    print(f"10 offers to a full queue took {offered * 1e6:.0f} us")


@pytest.mark.parametrize("answer", ["down", "404", "503", "raises"])
def test_no_log_line_contains_the_webhook_secret(records: Records, answer: str) -> None:
    def post(url: str, body: bytes, timeout: float) -> None:
        raise OSError(f"cannot post to {url} (path {url.split('/', 3)[-1]})")

    with receiving(mode="always", status=int(answer) if answer.isdigit() else 503) as receiver:
        base = f"http://127.0.0.1:{closed_port()}" if answer == "down" else receiver.url
        config = _config(_hooks(base), max_attempts=2)
        if answer == "raises":
            workers = [WebhookWorker(hook, config, post=post) for hook in config.webhooks]
            notifier = Notifier(config, workers=workers)
        else:
            notifier = Notifier(config)
        notifier.notify(_note())
        assert notifier.flush(10)
        notifier.close()
    text = "\n".join(records.lines)
    assert "given up" in text
    for secret in SECRETS:
        assert secret not in text
    assert "***" in text or answer != "raises"
    assert all(s not in repr(config) and s not in str(config.model_dump()) for s in SECRETS)


def test_redact_masks_every_piece_of_the_url() -> None:
    url = "https://api.telegram.org/bot123456:AAE-secretpart/sendMessage?chat_id=-1001234567"
    pieces = secret_parts(url)
    message = f"error at {url}; token 123456:AAE-secretpart; chat -1001234567"
    masked = redact(message, pieces)
    assert "secretpart" not in masked and "-1001234567" not in masked
    assert masked.count("***") == 3 and "api.telegram.org" not in masked
    assert redact("nothing secret here", pieces) == "nothing secret here"


def test_backoff_is_exponential_capped_and_jittered_and_honours_retry_after() -> None:
    config = NotificationConfig(webhooks=(), backoff_s=0.5, backoff_max_s=8.0)
    hook = WebhookConfig.model_validate({"url": "http://127.0.0.1:9/x"})
    worker = WebhookWorker(hook, config, rng=random.Random(7))
    try:
        for attempt in range(1, 9):
            base = min(8.0, 0.5 * 2 ** (attempt - 1))
            delays = [worker.backoff(attempt) for _ in range(50)]
            assert all(base * 0.5 <= d <= base for d in delays)
            assert len(set(delays)) > 40  # jittered
        assert worker.backoff(1, retry_after=3.0) == 3.0
        assert worker.backoff(1, retry_after=99.0) == 8.0
    finally:
        worker.close()


def test_stale_data_is_reported_once_and_fresh_again_after_a_bar() -> None:
    wall = [1_000 * 10**9]  # the wall clock, moved by hand: no sleeping
    with receiving() as receiver:
        hooks = [{"url": receiver.url + GENERIC, "format": "generic", "events": ["stale"]}]
        loop = _trading_loop()
        notifier = Notifier(_config(hooks, stale_check_s=3600), wall_ns=lambda: wall[0])
        notifier.attach(loop.bus, loop.instruments, loop.timeframe.nanos)
        bars = list(walk(5, seed=2))  # data time: 2023, far from the wall clock
        for bar in bars[:3]:
            loop.push_bar(bar)
        arrived = wall[0]
        assert notifier.check_stale(arrived + 119 * 10**9) == []  # < 2 bars of 60 s
        stale = notifier.check_stale(arrived + 121 * 10**9)
        assert [str(i) for i in stale] == [str(loop.instruments[0])]
        assert notifier.check_stale(arrived + 500 * 10**9) == []  # once per episode
        wall[0] = arrived + 600 * 10**9
        loop.push_bar(bars[3])
        assert notifier.check_stale(wall[0] + 60 * 10**9) == []  # fresh: arrival counts
        assert notifier.flush(10)
        notifier.close()
        loop.stop()
    instrument = loop.instruments[0]
    titles = [p.body["title"] for p in receiver.posts]
    assert titles == [f"Stale data: {instrument}", f"Data fresh again: {instrument}"]
    assert receiver.posts[0].body["fields"]["age_s"] == "121"


def test_a_replay_on_old_data_at_speed_is_never_stale() -> None:
    loop = _trading_loop()
    notifier = Notifier(_config([{"url": "http://127.0.0.1:9/x", "events": ["stale"]}]))
    notifier.attach(loop.bus, loop.instruments, loop.timeframe.nanos)
    try:
        for bar in walk(50, seed=4):  # bars of 2023, pushed now
            loop.push_bar(bar)
        assert notifier.check_stale() == []
    finally:
        notifier.close()


def test_config_errors_are_clear_and_never_echo_the_url() -> None:
    with pytest.raises(ValidationError, match="needs chat_id"):
        WebhookConfig.model_validate({"url": "https://api.telegram.org/botX/sendMessage",
                                      "format": "telegram"})  # fmt: skip
    ok = WebhookConfig.model_validate(
        {"url": "https://api.telegram.org/bot1:Z/sendMessage?chat_id=5", "format": "telegram"}
    )
    assert ok.label == "telegram@api.telegram.org"
    with pytest.raises(ValidationError) as bad:
        WebhookConfig.model_validate({"url": "ftp://host/SecretPathXYZ123"})
    assert "SecretPathXYZ123" not in str(bad.value) and "http://" in str(bad.value)
    with pytest.raises(ValidationError):
        WebhookConfig.model_validate({"url": "https://x.test/h", "events": ["nonsense"]})


def test_a_bad_webhook_in_the_settings_is_one_line_without_the_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from neo.domain.errors import ConfigError
    from neo.settings import load_settings

    monkeypatch.setenv("NEO_NOTIFICATIONS__WEBHOOKS", '[{"url": "ftp://h/SecretPathXYZ123"}]')
    with pytest.raises(ConfigError) as bad:
        load_settings()
    message = str(bad.value)
    assert "notifications.webhooks.0.url" in message and "https://" in message
    assert "SecretPathXYZ123" not in message and "\n" not in message


def test_settings_read_webhooks_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from neo.settings import load_settings

    monkeypatch.setenv(
        "NEO_NOTIFICATIONS__WEBHOOKS",
        '[{"url": "https://hooks.slack.com/services/T1/B2/Sekrit123", "format": "slack",'
        ' "events": ["fill", "kill_switch"]}]',
    )
    settings = load_settings()
    (hook,) = settings.notifications.webhooks
    assert hook.events == (EventKind.FILL, EventKind.KILL_SWITCH)
    assert "Sekrit123" not in settings.model_dump_json()


def test_nothing_is_attached_without_webhooks() -> None:
    loop = _trading_loop()
    assert attach_notifications(loop, NotificationConfig()) is None
    assert not loop.bus.has_subscribers(KillSwitchEngaged)


def _note() -> Notification:
    return Notification(EventKind.ERROR, Severity.CRITICAL, "boom", "it broke", 10**18)


def test_neo_paper_sends_its_fills_to_the_configured_webhooks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    from typer.testing import CliRunner

    from neo.cli.main import app

    with receiving() as receiver:
        hook = {"url": receiver.url + TELEGRAM, "format": "telegram", "chat_id": "42"}
        monkeypatch.setenv("NEO_NOTIFICATIONS__WEBHOOKS", json.dumps([hook]))
        result = CliRunner().invoke(
            app, ["paper", "--param", "fast=2", "--param", "slow=4", "--cycles", "120", "--json"]
        )
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
    assert summary["fills"] >= 3
    assert len(receiver.posts) == summary["fills"]  # close() let every queued message out
    assert all(p.body["chat_id"] == "42" and "Fill" in p.body["text"] for p in receiver.posts)
