"""The Prometheus metrics: every name and label set of the shared contract, and the values a
short paper session and an ingestion leave in the exposition (parsed with prometheus_client's
own parser, as Prometheus would read it)."""

from __future__ import annotations

import asyncio
import math
import socket
import urllib.request
from typing import Any, ClassVar

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from neo.data.feeds import SimulatedMarketDataFeed
from neo.data.ingest import DataIngestionAPI
from neo.data.store import HistoricalDataStore
from neo.domain.bar import Bar
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.engine.paper import build_paper_loop, drive, iterate, run_paper
from neo.risk import RiskConfig, RiskLimits, build_risk_gate
from neo.service import telemetry
from neo.strategies.base import Strategy
from neo.strategies.context import StrategyContext
from neo.strategies.registry import create_strategy
from tests.redis_env import fresh_name

CONTRACT: dict[str, tuple[str, tuple[str, ...]]] = {
    "neo_candles_accepted": ("counter", ("venue", "symbol", "timeframe")),
    "neo_candles_rejected": ("counter", ("rule",)),
    "neo_bars_processed": ("counter", ("session",)),
    "neo_orders": ("counter", ("status",)),
    "neo_fills": ("counter", ("venue", "symbol", "side")),
    "neo_risk_denials": ("counter", ("rule",)),
    "neo_exchange_errors": ("counter", ("exchange", "kind")),
    "neo_http_requests": ("counter", ("method", "route", "status")),
    "neo_bus_messages": ("counter", ("direction",)),
    "neo_webhook_deliveries": ("counter", ("format", "outcome")),
    "neo_cycle_latency_seconds": ("histogram", ()),
    "neo_exchange_request_seconds": ("histogram", ("exchange", "endpoint")),
    "neo_model_inference_seconds": ("histogram", ()),
    "neo_http_request_seconds": ("histogram", ("method", "route")),
    "neo_kill_switch_engaged": ("gauge", ("account",)),
    "neo_equity": ("gauge", ("session",)),
    "neo_pnl": ("gauge", ("session",)),
    "neo_drawdown_ratio": ("gauge", ("session",)),
    "neo_exposure_ratio": ("gauge", ("session",)),
    "neo_data_staleness_seconds": ("gauge", ("instrument",)),
    "neo_data_stale": ("gauge", ("instrument",)),
    "neo_session_running": ("gauge", ("session",)),
}


def families() -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(telemetry.render().decode())}


def sample(name: str, **labels: str) -> float:
    """The value of one sample in the exposition (0 when absent)."""
    for family in families().values():
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


def test_every_contract_metric_is_exposed_with_its_type_and_labels() -> None:
    exposed = families()
    collectors = {
        name: collector
        for collector, names in telemetry.REGISTRY._collector_to_names.items()
        for name in names
    }
    for name, (kind, labels) in CONTRACT.items():
        assert name in exposed, f"{name} missing from /metrics"
        assert exposed[name].type == kind, name
        collector = collectors[f"{name}_total" if kind == "counter" else name]
        assert tuple(collector._labelnames) == labels, name


class Busy(Strategy):
    """Flips between long and flat every few bars, so orders, fills and denials happen."""

    name: ClassVar[str] = "test_telemetry_busy"

    def on_bar(self, ctx: StrategyContext) -> None:
        if ctx.i % 4 == 0:
            ctx.target_position(0.0 if ctx.position else 5.0)


class Forecasting:
    model_id = "fixed"

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, bar: Bar) -> float:
        self.calls += 1
        return 0.5


def test_a_paper_session_fills_its_metrics() -> None:
    session = fresh_name("s")
    feed = SimulatedMarketDataFeed(["BTC/USDT", "ETH/USDT"], "1m", n_bars=60, seed=3)
    specs = {iid: Instrument.simple(iid.symbol, lot_size=1.0) for iid in feed.instruments}
    gate = build_risk_gate(
        RiskConfig(limits=RiskLimits(max_position_notional=150_000.0)), None, specs
    )
    predictor = Forecasting()
    before = {
        "cycles": _histogram_count("neo_cycle_latency_seconds"),
        "inference": _histogram_count("neo_model_inference_seconds"),
        "denied": sample("neo_risk_denials_total", rule="max_position_notional"),
    }
    attached: list[telemetry.SessionMetrics] = []

    def attach(loop: Any) -> None:
        attached.append(telemetry.attach_session_metrics(loop, session))

    result = asyncio.run(
        run_paper(
            Busy(), feed, instruments=specs, risk=gate, predictor=predictor,  # type: ignore[arg-type]
            on_loop=attach, status=False,
        )
    )  # fmt: skip
    assert result.bars == 120
    assert sample("neo_bars_processed_total", session=session) == 120
    assert _histogram_count("neo_cycle_latency_seconds") - before["cycles"] == 120
    assert _histogram_count("neo_model_inference_seconds") - before["inference"] == 120
    assert predictor.calls == 120
    assert sample("neo_equity", session=session) == pytest.approx(result.equity)
    assert sample("neo_pnl", session=session) == pytest.approx(result.equity - 100_000.0)
    assert 0.0 <= sample("neo_drawdown_ratio", session=session) < 1.0
    assert sample("neo_session_running", session=session) == 0.0  # stopped at the feed's end
    filled = sum(1 for order in result.orders if str(order.status) == "filled")
    assert filled > 0 and sample("neo_orders_total", status="filled") >= filled
    fills = sum(
        sample("neo_fills_total", venue="sim", symbol=s, side=side)
        for s in ("BTC/USDT", "ETH/USDT")
        for side in ("buy", "sell")
    )
    assert fills >= len(result.fills) > 0
    denials = result.risk_denials.get("max_position_notional", 0)
    assert denials > 0
    assert (
        sample("neo_risk_denials_total", rule="max_position_notional") - before["denied"] == denials
    )
    assert sample("neo_kill_switch_engaged", account="paper") == 0.0
    for iid in feed.instruments:  # the simulated bars are from 2024: long stale by now
        assert sample("neo_data_staleness_seconds", instrument=str(iid)) > 3600
        assert sample("neo_data_stale", instrument=str(iid)) == 1.0
    attached[0].detach()
    assert "push_bar" not in vars(attached[0].loop)
    assert attached[0].loop.predictor is predictor
    assert sample("neo_data_stale", instrument=str(feed.instruments[0])) == 0.0  # removed


def _histogram_count(name: str) -> float:
    return sample(f"{name}_count")


def test_staleness_is_read_at_scrape_time_and_flags_bars_older_than_two() -> None:
    iid = InstrumentId("sim", fresh_name("S") + "/USD")
    loop = build_paper_loop(
        create_strategy("sma_cross", {"fast": 2, "slow": 3}),
        {iid: Instrument.simple(iid.symbol)},
        __import__("neo.domain.timeframe", fromlist=["Timeframe"]).Timeframe.parse("1m"),
    )
    metrics = telemetry.attach_session_metrics(loop, fresh_name("s"))
    loop.start()
    now_ns = int(__import__("time").time() * 1e9) // 60_000_000_000 * 60_000_000_000
    bars = [
        Bar(instrument=iid, timeframe=loop.timeframe, ts=now_ns - 60_000_000_000 * (3 - k),
            open=1.0, high=1.0, low=1.0, close=1.0, volume=1.0)
        for k in range(3)
    ]  # fmt: skip
    asyncio.run(drive(loop, iterate(bars)))
    age = sample("neo_data_staleness_seconds", instrument=str(iid))
    assert 0.0 <= age < 120.0  # the last bar closed at most a minute ago
    assert sample("neo_data_stale", instrument=str(iid)) == 0.0
    metrics.last_close_s[iid] -= 180.0  # as if three minutes had passed without a bar
    assert sample("neo_data_stale", instrument=str(iid)) == 1.0
    metrics.detach()


def test_ingestion_counts_accepted_candles_and_rejections_per_rule(tmp_path: Any) -> None:
    venue = fresh_name("v")
    api = DataIngestionAPI(
        HistoricalDataStore(tmp_path / "store"), on_report=telemetry.record_ingest
    )
    n = 50
    ts = np.arange(n, dtype=np.int64) * 60_000_000_000 + 1_700_000_040_000_000_000
    close = np.linspace(100.0, 101.0, n)
    close[[7, 30]] = -1.0  # two rows with a non-positive price
    frame = {"ts": ts, "open": np.abs(close), "high": np.abs(close) + 1, "low": np.abs(close),
             "close": close, "volume": np.ones(n)}  # fmt: skip
    rejected_before = sample("neo_candles_rejected_total", rule="non_positive_price")
    report = api.ingest_frame(frame, instrument=InstrumentId(venue, "X/USD"), timeframe="1m")
    assert report.accepted == 48 and report.rejected == 2
    assert sample("neo_candles_accepted_total", venue=venue, symbol="X/USD", timeframe="1m") == 48
    rejected = sample("neo_candles_rejected_total", rule="non_positive_price") - rejected_before
    assert rejected == 2


def test_exchange_requests_are_timed_and_errors_counted_by_kind() -> None:
    exchange = fresh_name("x")
    with telemetry.observe_exchange_request(exchange, "fetch_ohlcv"):
        pass
    with pytest.raises(TimeoutError), telemetry.observe_exchange_request(exchange, "create_order"):
        raise TimeoutError("no answer")
    assert sample("neo_exchange_errors_total", exchange=exchange, kind="TimeoutError") == 1
    assert sample("neo_exchange_request_seconds_count", exchange=exchange, endpoint="fetch_ohlcv")
    assert (
        sample("neo_exchange_request_seconds_count", exchange=exchange, endpoint="create_order")
        == 1
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_metrics_server_serves_the_registry_on_loopback_and_stops() -> None:
    port = _free_port()
    stop = telemetry.start_metrics_server(port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
            kind = reply.headers["Content-Type"]
    finally:
        stop()
    assert kind.startswith("text/plain")
    assert {f.name for f in text_string_to_metric_families(text)} >= set(CONTRACT)
    with socket.socket() as again:  # nobody listens there any more (TIME_WAIT aside)
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
        again.listen()


def test_neo_paper_metrics_port_exposes_the_session(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from neo.cli.main import app

    session = fresh_name("cli")
    port = _free_port()
    args = ["paper", "--cycles", "30", "--session", session, "--metrics-port", str(port),
            "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sample("neo_bars_processed_total", session=session) == 30
    assert not math.isnan(sample("neo_equity", session=session))
    busy = CliRunner().invoke(app, ["paper", "--cycles", "5", "--metrics-port", str(port)])
    assert busy.exit_code == 0, busy.output  # the first run released its port


def test_metrics_port_in_use_is_one_clear_error() -> None:
    from typer.testing import CliRunner

    from neo.cli.main import app

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["paper", "--cycles", "5", "--metrics-port", str(port)])
    assert result.exit_code == 2
    assert f"--metrics-port {port}: cannot listen" in result.output
