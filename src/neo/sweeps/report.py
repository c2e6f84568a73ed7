"""The sweep's self-contained HTML report (plotly inlined, no network needed to view it).

Configurations are ranked by their mean in-sample Sharpe ratio; each row shows the
out-of-sample figures beside the in-sample ones, so the reader sees how rank survives the test
windows — but nothing was chosen on them. Then the walk-forward pick of each window, the
winner's deflated Sharpe ratio and the sweep's PBO, and two charts: in-sample against
out-of-sample Sharpe per configuration, and the CSCV logits.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neo.analytics import html
from neo.analytics.report import write_document
from neo.sweeps.analysis import records

if TYPE_CHECKING:
    from neo.sweeps.api import SweepResult

MAX_RANK_ROWS = 200


def _figures(result: SweepResult) -> list[Any]:
    import plotly.graph_objects as go

    analysis = result.analysis
    ranking = analysis.ranking
    scatter = go.Figure(
        go.Scatter(
            x=ranking["is_sharpe"],
            y=ranking["oos_sharpe"],
            mode="markers",
            text=[escape(str(p)) for p in ranking["params"]],
            name="configurations",
        )
    )
    scatter.update_layout(
        title="Sharpe ratio: in-sample (x) against out-of-sample (y), one point per configuration",
        template="plotly_white",
        height=420,
        xaxis={"title": "mean in-sample Sharpe (annualised)"},
        yaxis={"title": "mean out-of-sample Sharpe (annualised)"},
    )
    figures = [scatter]
    if analysis.pbo is not None:
        logits = go.Figure(go.Histogram(x=analysis.pbo.logits, nbinsx=40, name="logit"))
        logits.update_layout(
            title=f"CSCV: logit of the in-sample winner's out-of-sample rank (PBO = "
            f"{analysis.pbo.pbo:.3f}: share at or below 0)",
            template="plotly_white",
            height=360,
        )
        figures.append(logits)
    return figures


def _summary_rows(result: SweepResult) -> list[dict[str, Any]]:
    analysis = result.analysis
    winner = analysis.winner or {}
    rows: list[dict[str, Any]] = [
        {"item": "configurations", "value": result.configs},
        {"item": "backtests", "value": result.stats.backtests},
        {"item": "backend / engine / workers",
         "value": f"{result.backend} / {result.engine} / {result.workers}"},
        {"item": "winner (best mean in-sample Sharpe)", "value": winner.get("params", "n/a")},
        {"item": "winner in-sample / out-of-sample Sharpe",
         "value": f"{winner.get('is_sharpe', float('nan')):.4g} / "
                  f"{winner.get('oos_sharpe', float('nan')):.4g}"},
    ]  # fmt: skip
    if analysis.dsr is not None:
        dsr = analysis.dsr
        rows.append({"item": "deflated Sharpe ratio (winner)", "value": f"{dsr.dsr:.4f}"})
        rows.append(
            {
                "item": "per-bar Sharpe: winner / expected max of the trials",
                "value": f"{dsr.sharpe:.5f} / {dsr.benchmark:.5f} ({dsr.trials} trials, "
                f"{dsr.observations} bars, skew {dsr.skew:.3g}, kurtosis {dsr.kurtosis:.3g})",
            }
        )
    if analysis.pbo is not None:
        rows.append(
            {
                "item": "probability of backtest overfitting (CSCV)",
                "value": f"{analysis.pbo.pbo:.4f} ({analysis.pbo.splits} splits of "
                f"{analysis.pbo.blocks} blocks)",
            }
        )
    rows.extend({"item": "note", "value": note} for note in analysis.notes)
    stats = result.stats
    rows.append({"item": "retried / failed tasks",
                 "value": f"{len(stats.retried)} / {len(stats.failed)}"})  # fmt: skip
    if stats.interrupted:
        rows.append({"item": "interrupted", "value": "yes: only finished results are shown"})
    return rows


def render_sweep_report(result: SweepResult, *, title: str) -> str:
    analysis = result.analysis
    ranking = records(analysis.ranking.head(MAX_RANK_ROWS))
    figures = _figures(result)
    charts = "\n".join(
        f.to_html(full_html=False, include_plotlyjs=k == 0, config={"responsive": True})
        for k, f in enumerate(figures)
    )
    note = (
        '<p class="note">Ranked on in-sample windows only; out-of-sample columns are shown '
        "beside, never used to choose. Sharpe ratios annualised; returns are fractions.</p>"
    )
    sections = [
        ("Summary", html.table(_summary_rows(result), table_id="summary")),
        (
            f"Configurations by in-sample Sharpe (top {len(ranking)} of {analysis.configs})",
            note + html.table(ranking, table_id="ranking"),
        ),
        (
            "Walk-forward selection (each window's in-sample best, then its test part)",
            html.table(records(analysis.selection), table_id="walk-forward"),
        ),
        ("Charts", charts),
    ]
    return html.page(title, sections)


def write_sweep_report(path: Path, result: SweepResult, *, title: str) -> Path:
    """Write the report atomically; a ConfigError when ``path`` cannot be written."""
    document = render_sweep_report(result, title=title)
    return write_document(path, document)
