"""One rate limiter per exchange, and the backoff and retry budget of every call.

:class:`RateLimiter` is a token bucket in its GCRA form: each request of weight ``w`` occupies
``w × interval`` of the exchange's capacity (``interval`` = ccxt's ``rateLimit`` in ms per unit
of weight), at most ``burst`` units may be spent ahead of schedule, and a request waits for its
slot instead of being refused. It is the only limiter: :func:`neo.adapters.ccxt.client
.make_exchange` turns ccxt's own ``enableRateLimit`` off and routes every request through
:meth:`RateLimiter.acquire` with ccxt's own per-endpoint weight. A 429/418 with ``Retry-After``
pauses the whole exchange (:meth:`RateLimiter.pause`), not just the call that hit it.

:class:`Backoff` gives exponential delays with full jitter (seeded, so tests are exact) and never
less than a server's ``Retry-After``; :class:`RetryBudget` bounds attempts and total waiting, so a
fault that does not clear ends in :class:`RetryBudgetExhaustedError`, never in a hot loop.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from neo.domain.errors import (
    ExchangeBanError,
    NeoError,
    RetryableError,
    RetryBudgetExhaustedError,
)

T = TypeVar("T")


class RateLimiter:
    """Paces requests to ``1 / interval_s`` units of weight per second, ``burst`` units ahead.

    Thread-safe; :meth:`acquire` sleeps (sync callers), :meth:`acquire_async` awaits. ``clock``
    and ``sleep`` are injectable so tests run on a fake clock.
    """

    def __init__(
        self,
        interval_s: float,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if interval_s <= 0 or burst < 1:
            raise ValueError("interval_s must be > 0 and burst >= 1")
        self.interval_s = interval_s
        self.burst = burst
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._theoretical = clock()  # GCRA: when the bucket would be empty again
        self._paused_until = 0.0
        self.requests = 0
        self.weight = 0.0
        self.waited_s = 0.0

    @classmethod
    def for_rate_limit_ms(cls, rate_limit_ms: float, **kwargs: object) -> RateLimiter:
        """The limiter of a ccxt exchange whose ``rateLimit`` is ``rate_limit_ms``."""
        return cls(rate_limit_ms / 1000.0, **kwargs)  # type: ignore[arg-type]

    @property
    def per_minute(self) -> float:
        """Units of weight per minute this limiter allows on average."""
        return 60.0 / self.interval_s

    def reserve(self, weight: float = 1.0) -> float:
        """Book a slot for a request of ``weight``; returns how long to wait before sending."""
        weight = max(float(weight), 0.0)
        with self._lock:
            now = self.clock()
            start = max(now, self._theoretical - (self.burst - 1.0) * self.interval_s)
            start = max(start, self._paused_until)
            self._theoretical = max(self._theoretical, start) + weight * self.interval_s
            self.requests += 1
            self.weight += weight
            delay = start - now
            self.waited_s += max(delay, 0.0)
            return max(delay, 0.0)

    def acquire(self, weight: float = 1.0) -> float:
        """Wait (sleeping) until a request of ``weight`` may be sent; returns the wait."""
        delay = self.reserve(weight)
        if delay > 0:
            self.sleep(delay)
        return delay

    async def acquire_async(self, weight: float = 1.0) -> float:
        delay = self.reserve(weight)
        if delay > 0:
            await asyncio.sleep(delay)
        return delay

    def pause(self, seconds: float) -> None:
        """No request leaves before ``seconds`` from now (a server's Retry-After or a ban)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self.clock() + max(seconds, 0.0))


@dataclass
class Backoff:
    """Exponential backoff with full jitter: attempt ``k`` (0-based) waits a uniform draw in
    ``[base × factor^k / 2, base × factor^k]``, capped at ``cap_s``, and never less than a
    ``Retry-After``. A ban (418) starts at ``ban_s``."""

    base_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 30.0
    ban_s: float = 10.0
    seed: int | None = None
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        # backoff jitter, not a secret
        self.rng = random.Random(self.seed)  # nosec B311

    def delay(
        self, attempt: int, retry_after: float | None = None, error: BaseException | None = None
    ) -> float:
        base = self.ban_s if isinstance(error, ExchangeBanError) else self.base_s
        ceiling = min(max(self.cap_s, base), base * self.factor ** max(attempt, 0))
        jittered = ceiling / 2 + self.rng.random() * ceiling / 2
        return max(jittered, retry_after or 0.0)


@dataclass(frozen=True)
class RetryBudget:
    """At most ``attempts`` tries and ``max_wait_s`` of backoff for one call."""

    attempts: int = 6
    max_wait_s: float = 120.0


def _give_up(what: str, attempts: int, waited: float, exc: NeoError) -> RetryBudgetExhaustedError:
    return RetryBudgetExhaustedError(
        f"{what} failed {attempts} times in {waited:.1f}s of backoff (last: {exc}); the venue "
        "or the network is down: try again later or raise [exchanges.<id>] max_retries"
    )


def retry_call(
    call: Callable[[], T],
    *,
    what: str,
    translate: Callable[[BaseException], NeoError],
    backoff: Backoff,
    budget: RetryBudget,
    retry_after: Callable[[], float | None] = lambda: None,
    on_retry: Callable[[NeoError, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run an idempotent ``call``, retrying retryable faults with backoff within ``budget``.

    Fatal errors are raised at once (translated into NEO's tree). Never for a create-order:
    that goes through the outcome policy instead.
    """
    waited = 0.0
    for attempt in range(budget.attempts):
        try:
            return call()
        except Exception as raw:
            exc = translate(raw)
            if not isinstance(exc, RetryableError):
                raise exc from None
            delay = backoff.delay(attempt, retry_after(), exc)
            if attempt + 1 >= budget.attempts or waited + delay > budget.max_wait_s:
                raise _give_up(what, attempt + 1, waited, exc) from None
            if on_retry is not None:
                on_retry(exc, delay)
            sleep(delay)
            waited += delay
    raise AssertionError("unreachable")  # pragma: no cover


async def retry_call_async(
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    translate: Callable[[BaseException], NeoError],
    backoff: Backoff,
    budget: RetryBudget,
    retry_after: Callable[[], float | None] = lambda: None,
    on_retry: Callable[[NeoError, float], None] | None = None,
) -> T:
    """:func:`retry_call` for coroutines (the async ccxt client and ccxt.pro)."""
    waited = 0.0
    for attempt in range(budget.attempts):
        try:
            return await call()
        except Exception as raw:
            exc = translate(raw)
            if not isinstance(exc, RetryableError):
                raise exc from None
            delay = backoff.delay(attempt, retry_after(), exc)
            if attempt + 1 >= budget.attempts or waited + delay > budget.max_wait_s:
                raise _give_up(what, attempt + 1, waited, exc) from None
            if on_retry is not None:
                on_retry(exc, delay)
            await asyncio.sleep(delay)
            waited += delay
    raise AssertionError("unreachable")  # pragma: no cover
