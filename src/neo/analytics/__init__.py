"""(8) Analytics: performance metrics of a run and its self-contained HTML report.

``compute_metrics`` is pure numpy (no plotting import), so services and the engine can call it
cheaply; ``write_report`` imports plotly only when it runs.
"""

from neo.analytics.benchmark import buy_and_hold, relative_metrics
from neo.analytics.downsample import downsample_indices
from neo.analytics.metrics import (
    PerformanceMetrics,
    compute_metrics,
    drawdown_series,
    observed_periods_per_year,
    returns_from_equity,
)
from neo.analytics.report import render_report, risk_event_row, write_report

__all__ = [
    "PerformanceMetrics",
    "buy_and_hold",
    "compute_metrics",
    "downsample_indices",
    "drawdown_series",
    "observed_periods_per_year",
    "relative_metrics",
    "render_report",
    "returns_from_equity",
    "risk_event_row",
    "write_report",
]
