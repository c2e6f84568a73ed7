"""Generate NEO's Grafana dashboards (JSON models in deploy/grafana/dashboards/).

Why generated: four dashboards share one datasource, one layout rule and the metric names of
``neo.service.telemetry``; writing the JSON by hand drifts. The JSON files are committed (Grafana
provisioning reads them); ``make deploy-test`` checks that they match this script, validates them
against ``dashboard.schema.json`` and evaluates every panel query on a real Prometheus.

Run: ``python deploy/grafana/generate.py`` (rewrites the JSON files).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "neo-prometheus"}
SCHEMA_VERSION = 39


@dataclass(frozen=True)
class Panel:
    title: str
    exprs: tuple[str, ...]
    unit: str = "short"
    kind: str = "timeseries"
    legend: str = ""
    description: str = ""


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]


DASHBOARDS = (
    Dashboard(
        "neo-trading",
        "NEO / Trading",
        "Equity, PnL, drawdown, exposure and fills of every session.",
        (
            Panel("Equity", ("neo_equity",), "currencyUSD", legend="{{session}}"),
            Panel("PnL", ("neo_pnl",), "currencyUSD", legend="{{session}}"),
            Panel("Drawdown", ("neo_drawdown_ratio",), "percentunit", legend="{{session}}"),
            Panel("Exposure", ("neo_exposure_ratio",), "percentunit", legend="{{session}}"),
            Panel(
                "Fills / min",
                ("sum by (venue, symbol, side) (rate(neo_fills_total[5m])) * 60",),
                legend="{{venue}} {{symbol}} {{side}}",
            ),
            Panel(
                "Orders by status / min",
                ("sum by (status) (rate(neo_orders_total[5m])) * 60",),
                legend="{{status}}",
            ),
            Panel("Sessions running", ("sum(neo_session_running)",), kind="stat"),
            Panel(
                "Bars processed / min",
                ("sum by (session) (rate(neo_bars_processed_total[5m])) * 60",),
                legend="{{session}}",
            ),
        ),
    ),
    Dashboard(
        "neo-risk",
        "NEO / Risk",
        "Pre-trade denials by rule and the kill switch of each account.",
        (
            Panel(
                "Kill switch engaged",
                ("max by (account) (neo_kill_switch_engaged)",),
                kind="stat",
                legend="{{account}}",
                description="1 while the account's kill switch halts new exposure.",
            ),
            Panel(
                "Risk denials by rule (1 h)",
                ("sum by (rule) (increase(neo_risk_denials_total[1h]))",),
                legend="{{rule}}",
            ),
            Panel("Drawdown", ("max by (session) (neo_drawdown_ratio)",), "percentunit"),
            Panel("Exposure", ("max by (session) (neo_exposure_ratio)",), "percentunit"),
        ),
    ),
    Dashboard(
        "neo-data",
        "NEO / Data",
        "Candles accepted and rejected at ingestion, and the staleness of each instrument.",
        (
            Panel(
                "Candles accepted / s",
                ("sum by (venue, symbol, timeframe) (rate(neo_candles_accepted_total[5m]))",),
                legend="{{venue}} {{symbol}} {{timeframe}}",
            ),
            Panel(
                "Candles rejected by rule (1 h)",
                ("sum by (rule) (increase(neo_candles_rejected_total[1h]))",),
                legend="{{rule}}",
            ),
            Panel(
                "Data staleness",
                ("max by (instrument) (neo_data_staleness_seconds)",),
                "s",
                legend="{{instrument}}",
            ),
            Panel(
                "Stale instruments",
                ("sum(neo_data_stale)",),
                kind="stat",
                description="Instruments whose last bar is older than two bar intervals.",
            ),
        ),
    ),
    Dashboard(
        "neo-system",
        "NEO / System",
        "Latency of the trading cycle, the exchange, the model and the API; errors.",
        (
            Panel(
                "Cycle latency p50 / p99",
                tuple(
                    f"histogram_quantile({q}, sum by (le) "
                    "(rate(neo_cycle_latency_seconds_bucket[5m])))"
                    for q in ("0.5", "0.99")
                ),
                "s",
            ),
            Panel(
                "Exchange latency p99",
                (
                    "histogram_quantile(0.99, sum by (le, exchange, endpoint) "
                    "(rate(neo_exchange_request_seconds_bucket[5m])))",
                ),
                "s",
                legend="{{exchange}} {{endpoint}}",
            ),
            Panel(
                "Exchange errors / min",
                ("sum by (exchange, kind) (rate(neo_exchange_errors_total[5m])) * 60",),
                legend="{{exchange}} {{kind}}",
            ),
            Panel(
                "Model inference p99",
                (
                    "histogram_quantile(0.99, sum by (le) "
                    "(rate(neo_model_inference_seconds_bucket[5m])))",
                ),
                "s",
            ),
            Panel(
                "API latency p99 by route",
                (
                    "histogram_quantile(0.99, sum by (le, route) "
                    "(rate(neo_http_request_seconds_bucket[5m])))",
                ),
                "s",
                legend="{{route}}",
            ),
            Panel(
                "API requests / s by status",
                ("sum by (status) (rate(neo_http_requests_total[5m]))",),
                "reqps",
                legend="{{status}}",
            ),
            Panel(
                "API 5xx ratio",
                (
                    # `or vector(0)`: no 5xx series yet means 0 %, not "No data"
                    '(sum(rate(neo_http_requests_total{status=~"5.."}[5m])) or vector(0)) '
                    "/ clamp_min(sum(rate(neo_http_requests_total[5m])), 1e-9)",
                ),
                "percentunit",
            ),
            Panel(
                "Bus messages / s",
                ("sum by (direction) (rate(neo_bus_messages_total[5m]))",),
                legend="{{direction}}",
            ),
            Panel(
                "Webhook deliveries (1 h)",
                ("sum by (format, outcome) (increase(neo_webhook_deliveries_total[1h]))",),
                legend="{{format}} {{outcome}}",
            ),
        ),
    ),
)


def _panel(panel_id: int, panel: Panel) -> dict[str, Any]:
    width = 12 if panel.kind == "timeseries" else 6
    row, col = divmod(panel_id - 1, 2)
    targets = [
        {
            "refId": chr(ord("A") + i),
            "datasource": DATASOURCE,
            "expr": expr,
            "legendFormat": panel.legend,
            "range": True,
        }
        for i, expr in enumerate(panel.exprs)
    ]
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": width, "x": col * 12, "y": row * 8},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {},
        "targets": targets,
    }


def build(dashboard: Dashboard) -> dict[str, Any]:
    """The Grafana JSON model of one dashboard."""
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": ["neo"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "links": [],
        "panels": [_panel(i, p) for i, p in enumerate(dashboard.panels, start=1)],
    }


def render(dashboard: Dashboard) -> str:
    return json.dumps(build(dashboard), indent=2) + "\n"


def main(argv: list[str]) -> int:
    """Write the dashboards; with ``--check`` only report files that differ (exit 1)."""
    check = "--check" in argv
    stale = []
    for dashboard in DASHBOARDS:
        path = OUT / f"{dashboard.uid.removeprefix('neo-')}.json"
        text = render(dashboard)
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"error: dashboards out of date: {', '.join(stale)}: run {argv[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
