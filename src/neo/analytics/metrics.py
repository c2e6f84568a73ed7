"""Performance metrics of an equity curve and its round-trip trades, in vectorised numpy.

Conventions follow empyrical(-reloaded), so results cross-check against it one for one:

* per-bar returns are ``equity[i] / equity[i-1] - 1``; ``equity[0]`` is the starting value, so a
  run of ``n`` bars has ``n - 1`` returns;
* ``annual_return`` is the CAGR ``(final / initial) ** (periods_per_year / (n - 1)) - 1``;
* volatility uses the sample standard deviation (``ddof=1``) times ``sqrt(periods_per_year)``;
* Sharpe and Sortino take ``risk_free`` as an *annual* rate, converted to a per-bar rate
  ``(1 + risk_free) ** (1 / periods_per_year) - 1`` before it is subtracted (empyrical's
  ``risk_free`` / ``required_return`` are already per bar); Sortino uses it as the minimum
  acceptable return;
* ``max_drawdown`` is a negative fraction (``-0.25`` is a 25 % fall from the peak);
* a ratio with a zero denominator is ``inf`` (or ``NaN`` for 0/0), as in empyrical, except
  Calmar, which is ``NaN`` without a drawdown.

Undefined metrics (too few bars, no trades, no exposure data, non-positive equity where a ratio
needs a positive base) are ``NaN``; nothing here warns or raises for such input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from neo.analytics.benchmark import relative_metrics
from neo.domain.bar import FloatArray, IntArray
from neo.domain.errors import ConfigError, DataFormatError
from neo.domain.trade import Trade

NAN = float("nan")


class PerformanceMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """The headline figures of one run. Fractions, not percent (``0.12`` is 12 %).

    ``best_trade`` / ``worst_trade`` / ``average_trade`` are in money (PnL after fees); their
    ``*_return`` twins are fractions of the entry notional. ``exposure`` is the mean of gross
    exposure / equity per bar; ``time_in_market`` the fraction of bars with any position.
    ``max_drawdown_duration_*`` is the longest stretch from a peak to its recovery (or to the last
    bar, if equity never recovered), as in backtesting.py. The ``benchmark_*``, ``excess_return``,
    ``beta``, ``alpha`` and ``information_ratio`` figures compare the run with a benchmark curve
    (:mod:`neo.analytics.benchmark`); ``NaN`` when none was given.
    """

    start: int
    end: int
    bars: int
    initial_equity: float
    final_equity: float
    total_return: float
    annual_return: float
    annual_volatility: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_duration_bars: int
    max_drawdown_duration_ns: int
    win_rate: float
    profit_factor: float
    average_trade: float
    average_trade_return: float
    best_trade: float
    worst_trade: float
    best_trade_return: float
    worst_trade_return: float
    average_trade_duration_ns: float
    exposure: float
    time_in_market: float
    turnover: float
    trade_count: int
    benchmark_return: float = NAN
    excess_return: float = NAN
    beta: float = NAN
    alpha: float = NAN
    information_ratio: float = NAN

    def to_dict(self, *, json_safe: bool = False) -> dict[str, Any]:
        """Plain ``int`` / ``float`` values by field name; undefined figures stay ``NaN``.

        With ``json_safe`` non-finite floats become ``None``, for strict JSON (REST, ``--json``).
        """
        values = {name: getattr(self, name) for name in self.__struct_fields__}
        if json_safe:
            return {k: None if isinstance(v, float) and not math.isfinite(v) else v
                    for k, v in values.items()}  # fmt: skip
        return values


def _array(values: npt.ArrayLike, dtype: type[np.generic], name: str) -> Any:
    out = np.asarray(values, dtype=dtype)
    if out.ndim != 1:
        raise DataFormatError(f"{name} must be one-dimensional, got shape {out.shape}")
    return out


_NS_PER_YEAR = 365.25 * 86_400 * 1e9


def observed_periods_per_year(ts: npt.ArrayLike, fallback: float) -> float:
    """Bars per year as the timestamps show them, for annualising.

    A market that trades 252 days a year gives ~252 daily bars per year, a 24/7 crypto
    market 365; reading it off the data avoids assuming either. Spans under 30 days are
    too short to tell weekends from gaps, so they use ``fallback`` (the timeframe's
    continuous-trading count).
    """
    stamps = np.asarray(ts, dtype=np.int64)
    if len(stamps) < 2:
        return fallback
    span = float(stamps[-1] - stamps[0])
    if span < 30 * 86_400 * 1e9:
        return fallback
    return (len(stamps) - 1) / (span / _NS_PER_YEAR)


def drawdown_series(equity: npt.ArrayLike) -> FloatArray:
    """Per-bar drawdown from the running peak: ``equity / peak - 1`` (``<= 0``).

    ``NaN`` while the peak is not positive (no meaningful fraction can be lost yet).
    """
    values = _array(equity, np.float64, "equity")
    if values.size == 0:
        return np.empty(0, np.float64)
    peak = np.maximum.accumulate(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown: FloatArray = np.where(peak > 0, values / peak - 1.0, np.nan)
    return drawdown


def returns_from_equity(equity: npt.ArrayLike) -> FloatArray:
    """Simple per-bar returns (length ``n - 1``); ``NaN`` after a non-positive equity."""
    values = _array(equity, np.float64, "equity")
    if values.size < 2:
        return np.empty(0, np.float64)
    previous = values[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns: FloatArray = np.where(previous > 0, values[1:] / previous - 1.0, np.nan)
    return returns


def _ratio(numerator: float, denominator: float) -> float:
    """``x / 0`` is ``±inf`` and ``0 / 0`` is ``NaN``, silently (empyrical's convention)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(numerator) / np.float64(denominator))


def _sample_std(values: FloatArray) -> float:
    """``ddof=1`` standard deviation, exactly 0 for constant input (no 1e-18 residue)."""
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        return NAN
    if finite.max() == finite.min():
        return 0.0
    return float(np.std(finite, ddof=1))


def _nanmean(values: FloatArray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else NAN


def _cagr(initial: float, final: float, periods: int, periods_per_year: float) -> float:
    if periods < 1 or initial <= 0:
        return NAN
    growth = final / initial
    if growth < 0:
        return NAN
    with np.errstate(over="ignore"):  # a huge short-run gain annualises to inf, not an error
        return float(np.float64(growth) ** (periods_per_year / periods) - 1.0)


def _calmar(annual_return: float, max_drawdown: float) -> float:
    if not max_drawdown < 0:
        return NAN
    calmar = annual_return / -max_drawdown
    return calmar if math.isfinite(calmar) else NAN


def _longest_drawdown(drawdown: FloatArray) -> tuple[int, int]:
    """(peak index, recovery-or-last index) of the longest underwater stretch; (0, 0) if none."""
    underwater = np.zeros(drawdown.size + 2, np.int8)
    underwater[1:-1] = drawdown < 0
    edges = np.diff(underwater)
    starts = np.flatnonzero(edges == 1)  # first underwater bar of each stretch
    stops = np.flatnonzero(edges == -1)  # first bar back at the peak (may be past the end)
    if starts.size == 0:
        return 0, 0
    peaks = starts - 1
    recoveries = np.minimum(stops, drawdown.size - 1)
    longest = int(np.argmax(recoveries - peaks))
    return int(peaks[longest]), int(recoveries[longest])


def _risk_ratios(
    returns: FloatArray, periods_per_year: float, risk_free: float
) -> tuple[float, float, float]:
    """(annual volatility, Sharpe, Sortino) from per-bar returns."""
    if np.count_nonzero(np.isfinite(returns)) < 2:
        return NAN, NAN, NAN
    per_bar_rf = (1.0 + risk_free) ** (1.0 / periods_per_year) - 1.0
    excess = returns - per_bar_rf
    root = math.sqrt(periods_per_year)
    volatility = _sample_std(returns) * root
    sharpe = _ratio(_nanmean(excess), _sample_std(excess)) * root
    downside = np.minimum(excess[np.isfinite(excess)], 0.0)
    downside_risk = math.sqrt(float(np.mean(downside * downside))) * root
    sortino = _ratio(_nanmean(excess) * periods_per_year, downside_risk)
    return volatility, sharpe, sortino


_TRADE_FIELDS = (
    "win_rate",
    "profit_factor",
    "average_trade",
    "average_trade_return",
    "best_trade",
    "worst_trade",
    "best_trade_return",
    "worst_trade_return",
    "average_trade_duration_ns",
)


def _trade_stats(trades: Sequence[Trade]) -> dict[str, float]:
    if not trades:
        return dict.fromkeys(_TRADE_FIELDS, NAN)
    pnl = np.fromiter((t.pnl for t in trades), np.float64, len(trades))
    returns = np.fromiter((t.return_pct for t in trades), np.float64, len(trades))
    durations = np.fromiter((t.duration_ns for t in trades), np.float64, len(trades))
    gross_profit = float(pnl[pnl > 0].sum())
    gross_loss = float(np.abs(pnl[pnl < 0]).sum())  # +0.0 when no losers, never -0.0
    return {
        "win_rate": float(np.count_nonzero(pnl > 0) / pnl.size),
        "profit_factor": _ratio(gross_profit, gross_loss),
        "average_trade": float(pnl.mean()),
        "average_trade_return": float(returns.mean()),
        "best_trade": float(pnl.max()),
        "worst_trade": float(pnl.min()),
        "best_trade_return": float(returns.max()),
        "worst_trade_return": float(returns.min()),
        "average_trade_duration_ns": float(durations.mean()),
    }


def _bars_in_trades(ts: IntArray, trades: Sequence[Trade]) -> FloatArray:
    """1.0 for bars whose open time lies in some trade's ``[entry_ts, exit_ts)``, else 0.0."""
    entries = np.fromiter((t.entry_ts for t in trades), np.int64, len(trades))
    exits = np.fromiter((t.exit_ts for t in trades), np.int64, len(trades))
    open_count = np.zeros(ts.size + 1, np.int64)
    np.add.at(open_count, np.searchsorted(ts, entries, "left"), 1)
    np.add.at(open_count, np.searchsorted(ts, exits, "left"), -1)
    return (np.cumsum(open_count[:-1]) > 0).astype(np.float64)


def _exposure_stats(
    ts: IntArray, exposure: FloatArray | None, trades: Sequence[Trade]
) -> tuple[float, float]:
    """(mean exposure, fraction of bars in the market)."""
    if exposure is None:
        if not trades or ts.size == 0:
            return NAN, NAN
        return NAN, float(_bars_in_trades(ts, trades).mean())
    values = _array(exposure, np.float64, "exposure")
    if values.size != ts.size:
        raise DataFormatError(
            f"exposure has {values.size} values but there are {ts.size} bars: "
            "pass one gross-exposure/equity value per bar"
        )
    if values.size == 0:
        return NAN, NAN
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return NAN, NAN
    return float(np.abs(finite).mean()), float(np.count_nonzero(finite != 0) / finite.size)


def compute_metrics(
    ts: IntArray,
    equity: FloatArray,
    *,
    trades: Sequence[Trade] = (),
    exposure: FloatArray | None = None,
    traded_notional: float = 0.0,
    periods_per_year: float = 252.0,
    risk_free: float = 0.0,
    benchmark: FloatArray | None = None,
) -> PerformanceMetrics:
    """Measure a run from its per-bar equity curve and its round-trip trades.

    Parameters
    ----------
    ts
        Bar open times, int64 ns UTC, ascending, one per equity value.
    equity
        Account equity at each bar's close; ``equity[0]`` is the starting value.
    trades
        Round trips (:class:`neo.domain.Trade`) for the trade statistics.
    exposure
        Gross exposure / equity per bar. Without it ``exposure`` is ``NaN`` and
        ``time_in_market`` is derived from the trades' holding intervals.
    traded_notional
        Total absolute notional traded; ``turnover`` is this over the mean equity.
    periods_per_year
        Bars per year, for annualisation (252 for daily stock bars,
        :attr:`neo.domain.Timeframe.periods_per_year` for 24/7 markets).
    risk_free
        Annual risk-free rate for Sharpe and Sortino (see the module notes).
    benchmark
        A benchmark equity curve, one value per bar (e.g.
        :func:`neo.analytics.benchmark.buy_and_hold`), for the relative figures.

    Returns
    -------
    PerformanceMetrics
        Undefined figures are ``NaN``; see the module docstring for conventions.

    Raises
    ------
    DataFormatError
        When arrays are not one-dimensional or their lengths differ.
    ConfigError
        When ``periods_per_year`` is not a positive number or ``risk_free`` is not above -1.
    """
    ts_array = _array(ts, np.int64, "ts")
    values = _array(equity, np.float64, "equity")
    if ts_array.size != values.size:
        raise DataFormatError(
            f"ts has {ts_array.size} values but equity has {values.size}: pass one equity "
            "value per bar"
        )
    if not (periods_per_year > 0 and math.isfinite(periods_per_year)):
        raise ConfigError(f"periods_per_year must be a positive number, got {periods_per_year}")
    if not (risk_free > -1.0 and math.isfinite(risk_free)):
        raise ConfigError(f"risk_free is an annual rate such as 0.03 (3 %), got {risk_free}")
    bars = int(values.size)
    initial = float(values[0]) if bars else NAN
    final = float(values[-1]) if bars else NAN
    drawdown = drawdown_series(values)
    finite_drawdown = drawdown[np.isfinite(drawdown)]
    max_drawdown = float(finite_drawdown.min()) if finite_drawdown.size else NAN
    peak, recovery = _longest_drawdown(drawdown)
    annual_return = _cagr(initial, final, bars - 1, periods_per_year)
    volatility, sharpe, sortino = _risk_ratios(
        returns_from_equity(values), periods_per_year, risk_free
    )
    mean_exposure, time_in_market = _exposure_stats(ts_array, exposure, trades)
    mean_equity = float(values.mean()) if bars else NAN
    relative = (
        {}
        if benchmark is None
        else relative_metrics(
            values, benchmark, periods_per_year=periods_per_year, risk_free=risk_free
        )
    )
    return PerformanceMetrics(
        start=int(ts_array[0]) if bars else 0,
        end=int(ts_array[-1]) if bars else 0,
        bars=bars,
        initial_equity=initial,
        final_equity=final,
        total_return=final / initial - 1.0 if initial > 0 else NAN,
        annual_return=annual_return,
        annual_volatility=volatility,
        sharpe=sharpe,
        sortino=sortino,
        calmar=_calmar(annual_return, max_drawdown),
        max_drawdown=max_drawdown,
        max_drawdown_duration_bars=recovery - peak,
        max_drawdown_duration_ns=int(ts_array[recovery] - ts_array[peak]) if bars else 0,
        exposure=mean_exposure,
        time_in_market=time_in_market,
        turnover=float(traded_notional) / mean_equity if mean_equity > 0 else NAN,
        trade_count=len(trades),
        **_trade_stats(trades),
        **relative,
    )
