"""Escaped HTML fragments for the report: the page shell, the metrics table and plain tables.

Every piece of text that reaches the page passes through :func:`html.escape` here, so a symbol,
a title or a risk-event reason can never inject markup or script.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

import numpy as np

from neo.analytics.metrics import PerformanceMetrics
from neo.domain.timestamps import iso_ns

_PERCENT_FIELDS = frozenset(
    {
        "total_return",
        "annual_return",
        "annual_volatility",
        "max_drawdown",
        "win_rate",
        "average_trade_return",
        "best_trade_return",
        "worst_trade_return",
        "exposure",
        "time_in_market",
        "benchmark_return",
        "excess_return",
        "alpha",
    }
)
_TIME_FIELDS = frozenset({"start", "end"})
_DURATION_FIELDS = frozenset({"max_drawdown_duration_ns", "average_trade_duration_ns"})

_STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 1.5rem auto;
       max-width: 1200px; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #666; font-size: 0.85rem; }
"""


format_time = iso_ns
"""ISO-8601 UTC for integer nanoseconds (the domain's one form)."""


_UNITS = (
    ("d", 86_400 * 10**9),
    ("h", 3_600 * 10**9),
    ("min", 60 * 10**9),
    ("s", 10**9),
    ("ms", 10**6),
)


def format_duration(ns: float) -> str:
    """A duration as a trader reads it: its two largest units, rounded (``31 d 14 h``,
    ``2 h 5 min``, ``45 s``), never ``31 days, 14:11:36.774194``."""
    if not math.isfinite(ns):
        return "n/a"
    total = round(abs(ns) / 10**6) * 10**6  # whole milliseconds
    if total == 0:
        return "0 s"
    sign = "-" if ns < 0 else ""
    for index, (_, size) in enumerate(_UNITS):
        if total >= size or index == len(_UNITS) - 1:
            break
    small = _UNITS[index + 1] if index + 1 < len(_UNITS) else None
    if small is None:
        return f"{sign}{total // _UNITS[index][1]} {_UNITS[index][0]}"
    count = round(total / small[1])  # round at the smaller unit, then split
    if index > 0 and count * small[1] >= _UNITS[index - 1][1]:  # 59 min 59.9 s is 1 h
        return sign + format_duration(count * small[1])
    large, rest = divmod(count, _UNITS[index][1] // small[1])
    if large == 0:
        return f"{sign}{rest} {small[0]}"
    text = f"{large} {_UNITS[index][0]}"
    return sign + (text if rest == 0 else f"{text} {rest} {small[0]}")


def clean_number(text: str) -> str:
    """Drop the sign of a number that rounds to zero (``-0``, ``-0.00 %`` → ``0``, ``0.00 %``)."""
    if text.startswith("-") and not any(c in "123456789" for c in text.split("e")[0]):
        return text[1:]
    return text


def format_metric(name: str, value: Any) -> str:
    """A metric as a human reads it: percents, dates, durations, 4 significant digits."""
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if name in _TIME_FIELDS:
        return format_time(int(value))
    if name in _DURATION_FIELDS:
        return format_duration(float(value))
    if name in _PERCENT_FIELDS:
        return clean_number(f"{value * 100:.2f} %")
    if isinstance(value, int):
        return f"{value:,}"
    return clean_number(f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.2f}")


def metrics_table(metrics: PerformanceMetrics) -> str:
    rows = "".join(
        f"<tr><th>{escape(name.removesuffix('_ns').replace('_', ' '))}</th>"
        f'<td class="num">{escape(format_metric(name, value))}</td></tr>'
        for name, value in metrics.to_dict().items()
    )
    return f'<table class="metrics" id="metrics">{rows}</table>'


def _cell(key: str, value: Any) -> str:
    is_time = key == "ts" or key.endswith(("_ts", "_ns"))
    if is_time and isinstance(value, int | np.integer) and not isinstance(value, bool):
        if key.endswith("duration_ns"):
            return escape(format_duration(float(value)))
        return escape(format_time(int(value)))
    if key == "return" and isinstance(value, float | np.floating):  # a trade's, as a fraction
        return escape(clean_number(f"{value * 100:.2f} %"))
    if isinstance(value, float | np.floating):
        return escape(clean_number(f"{value:.6g}"))
    return escape(str(value))


def table(
    rows: Sequence[Mapping[str, Any]], *, table_id: str, columns: Iterable[str] | None = None
) -> str:
    """An HTML table of ``rows``; columns default to every key, in order of first appearance."""
    names = (
        list(columns) if columns is not None else list(dict.fromkeys(k for r in rows for k in r))
    )
    head = "".join(f"<th>{escape(str(name))}</th>" for name in names)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(str(n), row.get(n, ''))}</td>" for n in names) + "</tr>"
        for row in rows
    )
    return (
        f'<table id="{escape(table_id)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def page(title: str, sections: Sequence[tuple[str, str]]) -> str:
    """The whole document; ``sections`` are (heading, already-safe HTML body) pairs."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
    ]
    for heading, body in sections:
        parts.append(f"<section><h2>{escape(heading)}</h2>{body}</section>")
    parts.append('<p class="note">Generated by NEO.</p></body></html>')
    return "\n".join(parts)
