"""Prometheus metrics of NEO: one set of names (docs/monitoring.md), one registry.

Every metric lives in prometheus_client's default ``REGISTRY``, so ``neo serve``'s ``/metrics``
(:func:`metrics_app` or :func:`render`) and a trading process started alone
(:func:`start_metrics_server`, ``neo paper --metrics-port P``) expose the same names.

The engine never imports this module. A session's metrics come from
:func:`attach_session_metrics`, which subscribes to the loop's bus (orders, fills, risk
denials) and times the loop's per-bar entry point and the predictor from outside; ingestion
reports reach :func:`record_ingest` through the callback the ingestion service accepts
(``DataIngestionAPI(on_report=record_ingest)``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    make_asgi_app,
    start_http_server,
)

from neo.data.validate import REJECT_CODES
from neo.domain.events import (
    EngineStarted,
    EngineStopped,
    Event,
    KillSwitchEngaged,
    KillSwitchReset,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    RiskDenied,
)
from neo.domain.ids import InstrumentId

if TYPE_CHECKING:
    from neo.data.ingest import IngestReport
    from neo.domain.bar import Bar
    from neo.engine.loop import AutonomousTradingLoop

__all__ = [
    "CONTENT_TYPE",
    "REGISTRY",
    "SessionMetrics",
    "attach_session_metrics",
    "metrics_app",
    "observe_exchange_request",
    "observe_http_request",
    "record_ingest",
    "render",
    "start_metrics_server",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The media type of :func:`render`'s output (Prometheus text format 0.0.4)."""

_FAST = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
_NETWORK = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# -- counters --------------------------------------------------------------------------------
CANDLES_ACCEPTED = Counter(
    "neo_candles_accepted", "Candles that passed validation and were stored.",
    ["venue", "symbol", "timeframe"],
)  # fmt: skip
CANDLES_REJECTED = Counter(
    "neo_candles_rejected", "Candles rejected (quarantined), per validation rule.", ["rule"]
)
BARS_PROCESSED = Counter(
    "neo_bars_processed", "Bars a trading session ran a cycle for.", ["session"]
)
ORDERS = Counter("neo_orders", "Order state changes reported by the broker, by status.", ["status"])
FILLS = Counter("neo_fills", "Fills booked.", ["venue", "symbol", "side"])
RISK_DENIALS = Counter(
    "neo_risk_denials", "Orders the pre-trade risk gate refused, per rule.", ["rule"]
)
EXCHANGE_ERRORS = Counter(
    "neo_exchange_errors", "Failed exchange calls, by kind of failure.", ["exchange", "kind"]
)
HTTP_REQUESTS = Counter(
    "neo_http_requests", "REST requests answered.", ["method", "route", "status"]
)
BUS_MESSAGES = Counter(
    "neo_bus_messages",
    "Redis bus messages: published, duplicate (refused by the stream), consumed, redelivered "
    "(pending after a crash), skipped (already processed).",
    ["direction"],
)
WEBHOOK_DELIVERIES = Counter(
    "neo_webhook_deliveries", "Notification webhook deliveries.", ["format", "outcome"]
)

# -- histograms ------------------------------------------------------------------------------
CYCLE_LATENCY = Histogram(
    "neo_cycle_latency_seconds", "Wall time of one bar's cycle (strategy, risk, broker).",
    buckets=_FAST,
)  # fmt: skip
EXCHANGE_REQUEST = Histogram(
    "neo_exchange_request_seconds", "Wall time of exchange calls.", ["exchange", "endpoint"],
    buckets=_NETWORK,
)  # fmt: skip
MODEL_INFERENCE = Histogram(
    "neo_model_inference_seconds", "Wall time of one model forecast (features included).",
    buckets=_FAST,
)  # fmt: skip
HTTP_REQUEST = Histogram(
    "neo_http_request_seconds", "Wall time of REST requests.", ["method", "route"],
    buckets=_NETWORK,
)  # fmt: skip

# -- gauges ----------------------------------------------------------------------------------
KILL_SWITCH = Gauge(
    "neo_kill_switch_engaged", "1 while the account's kill switch halts new exposure.", ["account"]
)
EQUITY = Gauge("neo_equity", "Account equity of the session (quote currency).", ["session"])
PNL = Gauge("neo_pnl", "Equity less the session's starting cash.", ["session"])
DRAWDOWN = Gauge(
    "neo_drawdown_ratio", "Fall of equity from the session's peak (0.1 = 10 %).", ["session"]
)
EXPOSURE = Gauge("neo_exposure_ratio", "Gross exposure over equity.", ["session"])
STALENESS = Gauge(
    "neo_data_staleness_seconds",
    "Seconds since the close of the instrument's last bar (read at scrape time).",
    ["instrument"],
)
STALE = Gauge("neo_data_stale", "1 when the last bar is older than 2 bars.", ["instrument"])
SESSION_RUNNING = Gauge("neo_session_running", "1 while the session runs.", ["session"])


# -- exposition ------------------------------------------------------------------------------
def render() -> bytes:
    """The current metrics in Prometheus text format (serve with :data:`CONTENT_TYPE`)."""
    return generate_latest(REGISTRY)


def metrics_app() -> Any:
    """An ASGI app serving ``/metrics`` from the default registry (``app.mount("/metrics",
    metrics_app())`` in FastAPI)."""
    return make_asgi_app(REGISTRY)


def start_metrics_server(port: int, host: str = "127.0.0.1") -> Callable[[], None]:
    """Serve ``/metrics`` on ``host:port`` in a daemon thread; returns a function stopping it.

    Binds loopback by default: the metrics name sessions and accounts."""
    server, thread = start_http_server(port, addr=host, registry=REGISTRY)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


# -- ingestion -------------------------------------------------------------------------------
def record_ingest(report: IngestReport) -> None:
    """Count one ingestion's accepted candles and its rejections per rule (the ingestion
    service's ``on_report`` callback)."""
    iid = InstrumentId.parse(report.instrument)
    if report.accepted:
        CANDLES_ACCEPTED.labels(iid.venue, iid.symbol, report.timeframe).inc(report.accepted)
    for rule in REJECT_CODES:
        count = report.counts_by_rule.get(rule, 0)
        if count:
            CANDLES_REJECTED.labels(rule).inc(count)


# -- exchange calls (the ccxt adapter) -------------------------------------------------------
@contextmanager
def observe_exchange_request(exchange: str, endpoint: str) -> Iterator[None]:
    """Time an exchange call; a raised error is counted under its type's name and re-raised."""
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        EXCHANGE_ERRORS.labels(exchange, type(exc).__name__).inc()
        raise
    finally:
        EXCHANGE_REQUEST.labels(exchange, endpoint).observe(time.perf_counter() - started)


def exchange_request_observed(
    exchange: str, endpoint: str, seconds: float, error: BaseException | None
) -> None:
    """The ccxt adapter's request observer (``make_exchange(..., observer=...)``): the same
    figures as :func:`observe_exchange_request`, for calls the adapter times itself."""
    if error is not None:
        EXCHANGE_ERRORS.labels(exchange, type(error).__name__).inc()
    EXCHANGE_REQUEST.labels(exchange, endpoint).observe(seconds)


def data_staleness_observed(instrument: InstrumentId, stale: bool, age_s: float) -> None:
    """``on_stale`` of the exchange feed (:class:`neo.adapters.ccxt.CcxtBarFeed`): its
    instrument's staleness flag and age at each change."""
    label = str(instrument)
    STALE.labels(label).set(1.0 if stale else 0.0)
    STALENESS.labels(label).set(age_s)


def webhook_delivered(format: str, outcome: str) -> None:
    """The notifier's delivery hook (``on_outcome``): ``neo_webhook_deliveries_total``."""
    WEBHOOK_DELIVERIES.labels(format, outcome).inc()


# -- REST requests (the FastAPI app's middleware) --------------------------------------------
def observe_http_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count and time one answered request; ``route`` is the route's template (``/v1/jobs/
    {id}``), never the raw path, so ids do not explode the label set."""
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_REQUEST.labels(method, route).observe(seconds)


# -- a trading session -----------------------------------------------------------------------
class _TimedPredictor:
    """The loop's predictor with every forecast timed; anything else is the predictor's."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def predict(self, bar: Bar) -> float:
        started = time.perf_counter()
        try:
            value: float = self.inner.predict(bar)
            return value
        finally:
            MODEL_INFERENCE.observe(time.perf_counter() - started)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class SessionMetrics:
    """The metrics of one loop, labelled ``session``; :meth:`detach` undoes the wiring.

    Account gauges (equity, PnL, drawdown, exposure, kill switch) are updated in the loop's own
    thread after every cycle and fill, so a scrape never reads the ledger mid-change; data
    staleness is computed at scrape time from each instrument's last bar close.
    """

    def __init__(self, loop: AutonomousTradingLoop, session: str, account: str) -> None:
        self.loop = loop
        self.session = session
        self.account = account
        self.peak = loop.ledger.equity
        self.last_close_s: dict[InstrumentId, float] = {}
        self._tf_s = loop.timeframe.nanos / 1e9
        self._bars = BARS_PROCESSED.labels(session)
        self._handlers: list[tuple[type[Event], Callable[[Event], None]]] = [
            (kind, self._on_order) for kind in _ORDER_EVENTS
        ]
        self._handlers += [
            (OrderFilled, self._on_fill),
            (RiskDenied, self._on_denied),
            (KillSwitchEngaged, self._on_kill_switch),
            (KillSwitchReset, self._on_kill_switch),
            (EngineStarted, self._on_started),
            (EngineStopped, self._on_stopped),
        ]
        for kind, handler in self._handlers:
            loop.bus.subscribe(kind, handler)
        self._push = loop.push_bar
        self._timer = loop.on_timer
        setattr(loop, "push_bar", self._timed_push)  # noqa: B010  (an instance override)
        setattr(loop, "on_timer", self._timed_timer)  # noqa: B010
        self._predictor = loop.predictor
        if loop.predictor is not None:
            loop.predictor = _TimedPredictor(loop.predictor)
        SESSION_RUNNING.labels(session).set(1 if loop.state.value in ("running", "paused") else 0)
        self.update_account()

    def _timed_push(self, bar: Bar) -> None:
        started = time.perf_counter()
        self._push(bar)
        CYCLE_LATENCY.observe(time.perf_counter() - started)
        history = self.loop.context(bar.instrument).ts
        if len(history) and history[-1] == bar.ts:  # taken, not ignored as out of order
            self._bars.inc()
            self._seen(bar.instrument, bar.close_ts / 1e9)
        self.update_account()

    def _timed_timer(self, name: str) -> None:
        self._timer(name)
        self.update_account()

    def _seen(self, iid: InstrumentId, close_s: float) -> None:
        first = iid not in self.last_close_s
        self.last_close_s[iid] = close_s
        if first:
            label = str(iid)
            tf = self._tf_s
            last = self.last_close_s
            STALENESS.labels(label).set_function(lambda: max(0.0, time.time() - last[iid]))
            STALE.labels(label).set_function(lambda: float(time.time() - last[iid] > 2 * tf))

    def update_account(self) -> None:
        """Equity, PnL, drawdown from the session's peak, exposure and the kill switch now."""
        ledger = self.loop.ledger
        equity = ledger.equity
        if equity == equity:  # NaN (no price yet) leaves the gauges as they were
            self.peak = max(self.peak, equity)
            EQUITY.labels(self.session).set(equity)
            PNL.labels(self.session).set(equity - ledger.initial_cash)
            DRAWDOWN.labels(self.session).set(1.0 - equity / self.peak if self.peak > 0 else 0.0)
            EXPOSURE.labels(self.session).set(ledger.gross_exposure / equity if equity > 0 else 0.0)
        switch = getattr(self.loop.risk, "kill_switch", None)
        if switch is not None:
            KILL_SWITCH.labels(self.account).set(1.0 if switch.engaged else 0.0)

    def _on_order(self, event: Event) -> None:
        ORDERS.labels(str(event.order.status)).inc()  # type: ignore[attr-defined]

    def _on_fill(self, event: Event) -> None:
        self._on_order(event)
        fill = event.fill  # type: ignore[attr-defined]
        FILLS.labels(fill.instrument.venue, fill.instrument.symbol, str(fill.side)).inc()
        self.update_account()

    def _on_denied(self, event: Event) -> None:
        RISK_DENIALS.labels(event.code).inc()  # type: ignore[attr-defined]
        self.update_account()

    def _on_kill_switch(self, event: Event) -> None:
        KILL_SWITCH.labels(self.account).set(1.0 if isinstance(event, KillSwitchEngaged) else 0.0)

    def _on_started(self, event: Event) -> None:
        SESSION_RUNNING.labels(self.session).set(1)

    def _on_stopped(self, event: Event) -> None:
        SESSION_RUNNING.labels(self.session).set(0)
        self.update_account()

    def detach(self) -> None:
        """Unsubscribe, restore the loop's methods and predictor, and drop the staleness
        series (they would grow forever); counters keep their totals."""
        for kind, handler in self._handlers:
            self.loop.bus.unsubscribe(kind, handler)
        vars(self.loop).pop("push_bar", None)
        vars(self.loop).pop("on_timer", None)
        self.loop.predictor = self._predictor
        for iid in self.last_close_s:
            for gauge in (STALENESS, STALE):
                with suppress(KeyError):
                    gauge.remove(str(iid))
        SESSION_RUNNING.labels(self.session).set(0)


_ORDER_EVENTS: tuple[type[Event], ...] = (
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
)


def attach_session_metrics(
    loop: AutonomousTradingLoop, session: str, *, account: str = "paper"
) -> SessionMetrics:
    """Wire ``loop``'s metrics under ``session`` (call before ``loop.start()`` or any time).

    Bars processed and cycle latency time the loop's ``push_bar`` (paper and live drivers call
    it per completed bar); orders, fills and risk denials come from its bus; model inference
    latency times its predictor; the kill switch is read from its risk gate (labelled
    ``account``).
    """
    return SessionMetrics(loop, session, account)
