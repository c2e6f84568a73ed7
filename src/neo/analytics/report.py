"""The run report: one self-contained HTML file that opens offline.

plotly.js is inlined once (with the first figure); later figures reuse it. Long series are
downsampled with min/max preservation (:mod:`neo.analytics.downsample`) and times go to the page
as float milliseconds on date axes, so a million-bar run still gives a file of a few MB.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from neo.analytics import html
from neo.analytics.downsample import DEFAULT_MAX_POINTS, downsample_indices, downsample_union
from neo.analytics.metrics import PerformanceMetrics, drawdown_series
from neo.domain.bar import FloatArray, IntArray
from neo.domain.errors import ConfigError, DataFormatError
from neo.domain.events import Event, OrderRejected, RiskDenied, StrategyFailed
from neo.domain.order import Order
from neo.domain.trade import Trade

MAX_TRADE_MARKERS = 2_000  # per instrument; more are thinned evenly
MAX_TABLE_ROWS = 1_000  # trades table; risk events are all shown up to MAX_EVENT_ROWS
MAX_EVENT_ROWS = 10_000
PRICE_POINTS_BUDGET = 20_000  # over all price traces together


def _ms(ts: Any) -> FloatArray:
    """ns → float ms: exact to the millisecond and what plotly.js date axes read natively."""
    out: FloatArray = (np.asarray(ts, dtype=np.int64) // 1_000_000).astype(np.float64)
    return out


def _checked(name: str, values: Any, size: int) -> FloatArray:
    array: FloatArray = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size != size:
        raise DataFormatError(
            f"{name} has shape {array.shape} but there are {size} bars: pass one value per bar"
        )
    return array


def _figure(title: str, y_title: str) -> Any:
    import plotly.graph_objects as go

    figure = go.Figure()
    figure.update_layout(
        title=escape(title),
        template="plotly_white",
        height=360,
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        xaxis={"type": "date"},
        yaxis={"title": escape(y_title)},
        legend={"orientation": "h"},
    )
    return figure


def _line(figure: Any, x: FloatArray, y: FloatArray, name: str, **style: Any) -> None:
    import plotly.graph_objects as go

    keep = downsample_indices(y, DEFAULT_MAX_POINTS)
    figure.add_trace(go.Scatter(x=x[keep], y=y[keep], name=escape(name), mode="lines", **style))


def _equity_figure(
    ts: IntArray,
    equity: FloatArray,
    risk_events: Sequence[Mapping[str, Any]],
    benchmark: FloatArray | None = None,
) -> Any:
    """Equity beside its buy-and-hold benchmark; risk events as ticks in a strip of their own
    under the curve, so a burst of denials never hides the line they refer to."""
    import plotly.graph_objects as go

    figure = _figure("Equity", "equity")
    x = _ms(ts)
    if benchmark is not None:
        _line(figure, x, benchmark, "buy and hold (benchmark)",
              line={"color": "grey", "dash": "dot", "width": 1.5})  # fmt: skip
    _line(figure, x, equity, "equity", line={"color": "#1f77b4", "width": 2})
    timed = [e for e in risk_events[:MAX_EVENT_ROWS] if isinstance(e.get("ts"), int | np.integer)]
    if timed and ts.size:
        stamps = np.asarray([e["ts"] for e in timed], np.int64)
        labels = [escape(", ".join(f"{k}={v}" for k, v in e.items())) for e in timed]
        figure.add_trace(
            go.Scatter(
                x=_ms(stamps),
                y=np.zeros(stamps.size),
                yaxis="y2",
                name="risk events",
                mode="markers",
                marker={"symbol": "line-ns-open", "size": 12, "color": "crimson",
                        "line": {"width": 1.5}},
                hovertext=labels,
                hoverinfo="text+x",
            )
        )  # fmt: skip
        figure.update_layout(
            xaxis={"anchor": "y2"},  # the time labels go under the strip, not between the two
            margin={"l": 60, "r": 20, "t": 50, "b": 60},
            yaxis={"domain": [0.16, 1.0]},
            yaxis2={"domain": [0.0, 0.1], "showticklabels": False, "showgrid": False,
                    "zeroline": False, "title": {"text": "risk", "font": {"size": 10}},
                    "range": [-1, 1], "fixedrange": True},
        )  # fmt: skip
    return figure


def percent_decimals(smallest: float) -> int:
    """Decimals a percent axis needs so ticks down to ``smallest`` (a fraction) stay distinct:
    0.1 % drawdowns need 2 (``-0.05 %``, ``-0.10 %``), 30 % drawdowns need none."""
    size = abs(smallest) * 100.0
    if not (math.isfinite(size) and size > 0):
        return 1
    return int(min(max(math.ceil(1 - math.log10(size)), 0), 6))


def _drawdown_figure(ts: IntArray, equity: FloatArray) -> Any:
    figure = _figure("Drawdown", "drawdown")
    drawdown = drawdown_series(equity)
    _line(figure, _ms(ts), drawdown, "drawdown", fill="tozeroy")
    finite = drawdown[np.isfinite(drawdown)]
    deepest = float(finite.min()) if finite.size else 0.0
    figure.update_layout(
        yaxis={"tickformat": f".{percent_decimals(deepest)}%", "rangemode": "tozero"}
    )
    return figure


def _series_figure(
    title: str,
    y_title: str,
    ts: IntArray,
    series: Mapping[str, Any],
    dashed: Mapping[str, Any] | None = None,
) -> Any:
    """Step lines per key; ``dashed`` series (e.g. targets beside what was held) are drawn
    dotted, named ``"<key> target"``."""
    import plotly.graph_objects as go

    figure = _figure(title, y_title)
    columns = {name: _checked(f"{title} {name!r}", v, ts.size) for name, v in series.items()}
    extra = {
        f"{name} target": _checked(f"{title} target {name!r}", v, ts.size)
        for name, v in (dashed or {}).items()
    }
    keep = downsample_union([*columns.values(), *extra.values()], DEFAULT_MAX_POINTS * 2)
    x = _ms(ts)[keep]
    everything = [v[np.isfinite(v)] for v in (*columns.values(), *extra.values())]
    largest = max((float(np.abs(v).max()) for v in everything if v.size), default=0.0)
    figure.update_layout(yaxis={"tickformat": f".{percent_decimals(largest)}%"})
    for name, values in columns.items():
        figure.add_trace(
            go.Scatter(x=x, y=values[keep], name=escape(name), mode="lines", line_shape="hv")
        )
    for name, values in extra.items():
        figure.add_trace(
            go.Scatter(
                x=x,
                y=values[keep],
                name=escape(name),
                mode="lines",
                line_shape="hv",
                line={"dash": "dot"},
            )
        )
    return figure


def _trades_of(key: str, trades: Sequence[Trade]) -> list[Trade]:
    return [t for t in trades if key in (str(t.instrument), t.instrument.symbol)]


def _thin(trades: list[Trade]) -> list[Trade]:
    if len(trades) <= MAX_TRADE_MARKERS:
        return trades
    picks = np.linspace(0, len(trades) - 1, MAX_TRADE_MARKERS).astype(np.int64)
    return [trades[int(i)] for i in picks]


def _marker_trace(trades: list[Trade], leg: str) -> Any:
    import plotly.graph_objects as go

    entry = leg == "entry"
    up = [t.is_long == entry for t in trades]  # buys point up: long entries, short exits
    return go.Scatter(
        x=_ms([t.entry_ts if entry else t.exit_ts for t in trades]),
        y=[t.entry_price if entry else t.exit_price for t in trades],
        name="trade entries" if entry else "trade exits",
        mode="markers",
        marker={
            "symbol": ["triangle-up" if u else "triangle-down" for u in up],
            "color": ["seagreen" if u else "crimson" for u in up],
            "size": 9,
            "line": {"width": 1, "color": "black"} if entry else {"width": 0},
        },
        hovertext=[
            escape(f"{leg} {t.quantity:+g} @ {t.entry_price if entry else t.exit_price:g}"
                   f"; pnl {t.pnl:.4g}")
            for t in trades
        ],
        hoverinfo="text+x",
    )  # fmt: skip


def _price_figure(
    key: str,
    ts: Any,
    close: Any,
    trades: Sequence[Trade],
    points: int,
    indicators: Mapping[str, Any] | None = None,
) -> Any:
    import plotly.graph_objects as go

    times = np.asarray(ts, dtype=np.int64)
    prices = _checked(f"price series {key!r}", close, times.size)
    lines = {
        name: _checked(f"indicator {name!r} of {key!r}", values, times.size)
        for name, values in (indicators or {}).items()
    }
    figure = _figure(f"{key}: price, indicators and trades", "price")
    keep = downsample_union([prices, *lines.values()], points)
    x = _ms(times[keep])
    figure.add_trace(go.Scatter(x=x, y=prices[keep], name=escape(key), mode="lines",
                                line={"color": "#444", "width": 1.2}))  # fmt: skip
    for name, values in lines.items():
        figure.add_trace(
            go.Scatter(x=x, y=values[keep], name=escape(name), mode="lines", line={"width": 1.2})
        )
    mine = _thin(_trades_of(key, trades))
    if mine:
        figure.add_trace(_marker_trace(mine, "entry"))
        figure.add_trace(_marker_trace(mine, "exit"))
    return figure


def risk_event_row(event: Event) -> dict[str, Any]:
    """A flat table row for a risk event (``RiskDenied``, ``KillSwitchEngaged`` …).

    The event's own fields are kept; an embedded :class:`~neo.domain.Order` becomes its id,
    instrument, side and quantity so the table stays readable.
    """
    row: dict[str, Any] = {"ts": event.ts, "event": type(event).__name__}
    for name in event.__struct_fields__:
        value = getattr(event, name)
        if isinstance(value, Order):
            row.update(
                order_id=value.id,
                instrument=str(value.instrument),
                side=str(value.side),
                quantity=value.quantity,
            )
        elif name != "ts":
            row[name] = value
    return row


def _record_row(record: Any) -> dict[str, Any]:
    """A row for a risk or portfolio record (``RiskEvent``, ``PortfolioEvent``): its ``kind``
    becomes the event name (``kill_switch_engaged`` → ``KillSwitchEngaged``)."""
    name = "".join(part.title() for part in str(record.kind).split("_"))
    row: dict[str, Any] = {"ts": int(record.ts), "event": name}
    for key in record.__struct_fields__:
        value = getattr(record, key)
        if key not in ("ts", "kind") and value not in ("", None):
            row[key] = value
    return row


def risk_event_rows(
    events: Sequence[Event], risk: Any = None, portfolio: Any = None
) -> list[dict[str, Any]]:
    """Every risk and portfolio event of a run as table rows, oldest first.

    The engine's ``RiskDenied`` events (with the order's side and quantity), then whatever the
    risk gate recorded besides denials (kill switch engaged, reset or restored after a restart,
    a limit exceeded after a fill) and the portfolio's events (an allocation that failed and
    kept the previous weights). ``risk`` and ``portfolio`` are read through their ``events``.
    Strategy failures and broker rejections are not risk events: see :func:`engine_event_rows`.
    """
    rows = [risk_event_row(e) for e in events if isinstance(e, RiskDenied)]
    rows += [_record_row(r) for r in getattr(risk, "events", ()) if r.kind != "denied"]
    rows += [_record_row(r) for r in getattr(portfolio, "events", ())]
    rows.sort(key=lambda row: int(row["ts"]))  # stable: same-time rows keep their order
    return rows


def engine_event_rows(events: Sequence[Event]) -> list[dict[str, Any]]:
    """The run's other events of note (``StrategyFailed``, ``OrderRejected``) as rows."""
    return [risk_event_row(e) for e in events if isinstance(e, StrategyFailed | OrderRejected)]


def held_weights(
    equity: FloatArray,
    positions: Mapping[str, FloatArray],
    prices: Mapping[str, FloatArray],
    multipliers: Mapping[str, float] | None = None,
) -> dict[str, FloatArray]:
    """What was actually held, per step: position × price × multiplier / equity (0 where the
    equity is not positive or the price unknown)."""
    out: dict[str, FloatArray] = {}
    equity = np.asarray(equity, dtype=np.float64)
    for key, position in positions.items():
        value = np.asarray(position, np.float64) * np.nan_to_num(np.asarray(prices[key]))
        value = value * (multipliers or {}).get(key, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[key] = np.where(equity > 0, value / equity, 0.0)
    return out


def _trade_rows(trades: Sequence[Trade]) -> list[dict[str, Any]]:
    return [
        {
            "instrument": str(t.instrument),
            "quantity": t.quantity,
            "entry_ts": t.entry_ts,
            "entry_price": t.entry_price,
            "exit_ts": t.exit_ts,
            "exit_price": t.exit_price,
            "fees": t.fees,
            "pnl": t.pnl,
            "return": t.return_pct,
        }
        for t in trades[:MAX_TABLE_ROWS]
    ]


def _figures_html(figures: Sequence[Any]) -> list[str]:
    return [
        figure.to_html(full_html=False, include_plotlyjs=index == 0, config={"responsive": True})
        for index, figure in enumerate(figures)
    ]


def _event_section(
    heading: str, rows: Sequence[Mapping[str, Any]], table_id: str
) -> tuple[str, str]:
    shown = rows[:MAX_EVENT_ROWS]
    note = (
        ""
        if len(shown) == len(rows)
        else (f'<p class="note">First {len(shown):,} of {len(rows):,} events.</p>')
    )
    return f"{heading} ({len(rows):,})", note + html.table(shown, table_id=table_id)


def _tables(
    trades: Sequence[Trade],
    risk_events: Sequence[Mapping[str, Any]],
    engine_events: Sequence[Mapping[str, Any]] = (),
) -> list[tuple[str, str]]:
    sections: list[tuple[str, str]] = []
    if risk_events:
        sections.append(_event_section("Risk events", risk_events, "risk-events"))
    if engine_events:
        sections.append(
            _event_section(
                "Strategy failures and broker rejections", engine_events, "engine-events"
            )
        )
    if trades:
        note = (
            ""
            if len(trades) <= MAX_TABLE_ROWS
            else (f'<p class="note">First {MAX_TABLE_ROWS:,} of {len(trades):,} trades.</p>')
        )
        body = note + html.table(_trade_rows(trades), table_id="trades")
        sections.append((f"Trades ({len(trades):,})", body))
    return sections


def render_report(
    *,
    title: str,
    ts: IntArray,
    equity: FloatArray,
    metrics: PerformanceMetrics,
    prices: Mapping[str, tuple[IntArray, FloatArray]],
    positions: Mapping[str, FloatArray],
    trades: Sequence[Trade],
    weights: Mapping[str, FloatArray] | None = None,
    risk_events: Sequence[Mapping[str, Any]] = (),
    engine_events: Sequence[Mapping[str, Any]] = (),
    benchmark: FloatArray | None = None,
    indicators: Mapping[str, Mapping[str, Any]] | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The report as one HTML string (what :func:`write_report` writes)."""
    times = np.asarray(ts, dtype=np.int64)
    values = _checked("equity", equity, times.size)
    yardstick = None if benchmark is None else _checked("benchmark", benchmark, times.size)
    figures = [
        _equity_figure(times, values, risk_events, yardstick),
        _drawdown_figure(times, values),
    ]
    if positions or weights:
        heading = "Positions (% of equity, signed)"
        if weights:
            heading += ": held (solid) and allocator targets (dotted)"
        solid, dotted = (positions, weights) if positions else (weights or {}, None)
        figures.append(_series_figure(heading, "% of equity", times, solid, dotted))
    points = max(PRICE_POINTS_BUDGET // max(len(prices), 1), 500)
    figures.extend(
        _price_figure(k, t, c, trades, points, (indicators or {}).get(k))
        for k, (t, c) in prices.items()
    )
    sections = [("Metrics", html.metrics_table(metrics))]
    if notes:
        items = "".join(f"<li>{escape(note)}</li>" for note in notes)
        sections.append(("Notes", f'<ul class="notes" id="notes">{items}</ul>'))
    sections.append(("Charts", "\n".join(_figures_html(figures))))
    sections.extend(_tables(trades, risk_events, engine_events))
    return html.page(title, sections)


def write_report(
    path: Path,
    *,
    title: str,
    ts: IntArray,
    equity: FloatArray,
    metrics: PerformanceMetrics,
    prices: Mapping[str, tuple[IntArray, FloatArray]],
    positions: Mapping[str, FloatArray],
    trades: Sequence[Trade],
    weights: Mapping[str, FloatArray] | None = None,
    risk_events: Sequence[Mapping[str, Any]] = (),
    engine_events: Sequence[Mapping[str, Any]] = (),
    benchmark: FloatArray | None = None,
    indicators: Mapping[str, Mapping[str, Any]] | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write the run report to ``path`` as one self-contained HTML file.

    Parameters
    ----------
    path
        Target file; parent folders are created. Written atomically (temp file + rename), so a
        reader never sees half a report.
    title
        Page title and heading (escaped).
    ts, equity
        Bar open times (int64 ns UTC) and equity per bar.
    metrics
        From :func:`neo.analytics.compute_metrics`, shown as a table.
    prices
        Per instrument key: (ts, close) arrays; trades are drawn over the price whose key is
        the trade's ``str(instrument)`` (``"BTC/USDT@binance"``) or its bare symbol.
    positions, weights
        Per instrument key, one value per bar of ``ts``: the signed fraction of equity held
        (:func:`held_weights`: units would draw many ±1 trades as a solid block); the
        allocator's target weights, drawn dotted beside them.
    trades
        Round trips, marked over price (entry/exit) and listed in a table.
    risk_events
        Flat mappings (:func:`risk_event_row` turns a ``RiskDenied`` or ``KillSwitchEngaged``
        event into one), all listed in a table; those with an integer ``ts`` are also marked on
        the equity curve.
    engine_events
        Strategy failures and broker rejections (:func:`engine_event_rows`), in their own table.
    benchmark
        A benchmark equity curve per bar of ``ts`` (:func:`neo.analytics.benchmark.buy_and_hold`),
        drawn dotted beside the equity.
    indicators
        Per price key: indicator name → values, one per bar of that price series (what the
        strategy registered for plotting), drawn over the price.
    notes
        Sentences shown under the metrics (e.g. why an allocator allocated little, library
        warnings counted during the run).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    DataFormatError
        When a series does not have one value per bar.
    ConfigError
        When ``path`` cannot be written.
    """
    document = render_report(
        title=title, ts=ts, equity=equity, metrics=metrics, prices=prices,
        positions=positions, trades=trades, weights=weights, risk_events=risk_events,
        engine_events=engine_events, benchmark=benchmark, indicators=indicators, notes=notes,
    )  # fmt: skip
    return write_document(path, document)


def write_document(path: Path | str, document: str) -> Path:
    """Write an HTML document atomically (readable by all: a report is for sharing); a
    ConfigError says when ``path`` cannot be written."""
    target = Path(path)
    temporary: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=target.parent, prefix=f".{target.name}.",
            suffix=".tmp", delete=False,
        ) as handle:  # fmt: skip
            temporary = Path(handle.name)
            handle.write(document)
        temporary.chmod(0o644)  # NamedTemporaryFile makes it 0600; a report is for sharing
        temporary.replace(target)
    except OSError as exc:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise ConfigError(
            f"cannot write report to {target}: {exc}; choose a writable path"
        ) from exc
    return target
