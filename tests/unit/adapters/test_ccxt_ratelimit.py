"""The rate limiter, backoff and retry budget on a fake clock (no sleeping)."""

from __future__ import annotations

import pytest

from neo.adapters.ccxt.ratelimit import Backoff, RateLimiter, RetryBudget, retry_call
from neo.domain.errors import (
    ExchangeBanError,
    NeoError,
    NetworkError,
    OrderRefusedError,
    RateLimitError,
    RetryBudgetExhaustedError,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def limiter(interval: float = 0.05, burst: float = 1.0) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(interval, burst=burst, clock=clock, sleep=clock.sleep), clock


def test_requests_are_paced_to_the_exchange_rate_and_weights_count() -> None:
    rl, clock = limiter(0.05)
    sent = []
    for weight in [1, 1, 1, 20, 1]:
        rl.acquire(weight)
        sent.append(round(clock.now, 6))
    assert sent == [0.0, 0.05, 0.1, 0.15, 1.15]  # the weight-20 request holds 20 slots
    assert rl.per_minute == pytest.approx(1200.0)


def test_never_above_the_limit_over_any_window() -> None:
    rl, clock = limiter(0.05, burst=5)
    times = []
    for _ in range(400):
        rl.acquire(1)
        times.append(clock.now)
    for start in range(len(times)):
        window = [t for t in times if times[start] <= t < times[start] + 1.0]
        assert len(window) <= 20 + 5  # 20 per second, plus the burst
    assert times[-1] >= (400 - 5) * 0.05 - 1e-9


def test_idle_time_does_not_bank_more_than_the_burst() -> None:
    rl, clock = limiter(0.05, burst=3)
    clock.now = 100.0
    waits = [rl.acquire(1) for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0] and waits[3] > 0


def test_a_pause_holds_every_request_until_retry_after() -> None:
    rl, clock = limiter(0.05)
    rl.acquire()
    rl.pause(3.0)
    rl.acquire()
    assert clock.now == pytest.approx(3.0)


def test_backoff_grows_with_jitter_under_the_cap_and_respects_retry_after() -> None:
    backoff = Backoff(base_s=0.5, factor=2.0, cap_s=8.0, seed=1)
    delays = [backoff.delay(k) for k in range(8)]
    for k, d in enumerate(delays):
        ceiling = min(8.0, 0.5 * 2**k)
        assert ceiling / 2 <= d <= ceiling
    assert len(set(delays)) == len(delays)  # jittered
    assert backoff.delay(0, retry_after=5.0) == 5.0
    assert backoff.delay(0, error=ExchangeBanError("418")) >= backoff.ban_s / 2
    assert Backoff(seed=4).delay(3) == Backoff(seed=4).delay(3)  # seeded: reproducible


def test_retryable_faults_are_retried_then_give_up_within_the_budget() -> None:
    clock = FakeClock()
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise NetworkError("reset")
        return "ok"

    assert (
        retry_call(
            flaky,
            what="x",
            translate=lambda e: e if isinstance(e, NeoError) else NeoError(str(e)),
            backoff=Backoff(seed=1),
            budget=RetryBudget(5),
            sleep=clock.sleep,
        )
        == "ok"
    )
    assert len(calls) == 3 and len(clock.sleeps) == 2

    def always() -> str:
        raise RateLimitError("429")

    with pytest.raises(RetryBudgetExhaustedError, match="failed 4 times"):
        retry_call(
            always,
            what="x",
            translate=lambda e: e,  # type: ignore[arg-type,return-value]
            backoff=Backoff(seed=1),
            budget=RetryBudget(4),
            sleep=clock.sleep,
        )
    assert all(s > 0 for s in clock.sleeps)  # never a hot loop


def test_a_fatal_error_is_never_retried() -> None:
    clock = FakeClock()
    calls: list[int] = []

    def refused() -> str:
        calls.append(1)
        raise OrderRefusedError("insufficient funds")

    with pytest.raises(OrderRefusedError):
        retry_call(
            refused,
            what="x",
            translate=lambda e: e,  # type: ignore[arg-type,return-value]
            backoff=Backoff(seed=1),
            budget=RetryBudget(5),
            sleep=clock.sleep,
        )
    assert len(calls) == 1 and clock.sleeps == []


def test_retry_after_from_the_server_sets_the_wait() -> None:
    clock = FakeClock()
    calls: list[int] = []

    def limited() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RateLimitError("429")
        return "ok"

    retry_call(
        limited,
        what="x",
        translate=lambda e: e,  # type: ignore[arg-type,return-value]
        backoff=Backoff(seed=1),
        budget=RetryBudget(3),
        sleep=clock.sleep,
        retry_after=lambda: 7.0,
    )
    assert clock.sleeps == [7.0]
