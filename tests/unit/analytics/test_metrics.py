"""Metrics: cross-checked against empyrical(-reloaded), plus hand-computed trade/exposure figures.

Conventions matched with empyrical: ``annualization=periods_per_year``; our ``risk_free`` is an
annual rate, so empyrical gets the per-bar rate ``(1 + rf) ** (1 / ppy) - 1``; both use ``ddof=1``
for volatility and Sharpe.
"""

from __future__ import annotations

import json
import math

import empyrical
import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neo.analytics import PerformanceMetrics, compute_metrics, drawdown_series
from neo.analytics.metrics import returns_from_equity
from neo.domain import ConfigError, DataFormatError, InstrumentId, Trade

HOUR = 3_600 * 1_000_000_000
BTC = InstrumentId("binance", "BTC/USDT")


def _ts(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64) * HOUR + 1_600_000_000 * 1_000_000_000


def _equity_from_returns(returns: np.ndarray, start: float = 100.0) -> np.ndarray:
    return start * np.cumprod(np.concatenate(([1.0], 1.0 + returns)))


def _close(ours: float, theirs: float) -> bool:
    if math.isnan(theirs) or math.isnan(ours):
        return math.isnan(theirs) and math.isnan(ours)
    if math.isinf(theirs) or math.isinf(ours):
        return ours == theirs
    return math.isclose(ours, theirs, rel_tol=1e-8, abs_tol=1e-10)


def _check_against_empyrical(generated: np.ndarray, ppy: float, rf: float) -> None:
    equity = _equity_from_returns(generated)
    # The convention: a bar's return is equity[i] / equity[i-1] - 1. Recomputing it from the
    # equity gives empyrical exactly the numbers the curve implies (building the curve rounds).
    returns = equity[1:] / equity[:-1] - 1.0
    metrics = compute_metrics(_ts(equity.size), equity, periods_per_year=ppy, risk_free=rf)
    per_bar_rf = (1.0 + rf) ** (1.0 / ppy) - 1.0
    with np.errstate(all="ignore"):  # the reference may overflow where we return inf quietly
        expected = _empyrical_figures(returns, ppy, per_bar_rf)
    for name, theirs in expected.items():
        ours = getattr(metrics, name)
        assert _close(ours, float(theirs)), f"{name}: ours {ours} != empyrical {theirs}"


def _empyrical_figures(returns: np.ndarray, ppy: float, per_bar_rf: float) -> dict[str, float]:
    return {
        "total_return": empyrical.cum_returns_final(returns),
        "annual_return": empyrical.annual_return(returns, annualization=ppy),
        "annual_volatility": empyrical.annual_volatility(returns, annualization=ppy),
        "sharpe": empyrical.sharpe_ratio(returns, risk_free=per_bar_rf, annualization=ppy),
        "sortino": empyrical.sortino_ratio(returns, required_return=per_bar_rf, annualization=ppy),
        "calmar": empyrical.calmar_ratio(returns, annualization=ppy),
        "max_drawdown": empyrical.max_drawdown(returns),
    }


@pytest.mark.parametrize(
    ("seed", "size", "ppy", "rf", "drift", "vol"),
    [
        (1, 500, 252.0, 0.0, 0.0005, 0.01),
        (2, 1_000, 365.0, 0.03, -0.0002, 0.02),
        (3, 2_000, 525_600.0, 0.0, 0.0, 0.001),
        (4, 50, 52.0, 0.05, 0.002, 0.03),
        (5, 300, 8_760.0, 0.01, 0.0001, 0.005),
    ],
)
def test_matches_empyrical_on_seeded_series(
    seed: int, size: int, ppy: float, rf: float, drift: float, vol: float
) -> None:
    returns = np.random.default_rng(seed).normal(drift, vol, size)
    _check_against_empyrical(returns, ppy, rf)


@settings(max_examples=40, deadline=None)
@given(
    returns=st.lists(
        st.one_of(
            st.integers(-5_000, 5_000).map(lambda bp: bp / 1e4),
            # below ~1e-9 a drawdown is float rounding noise and Calmar a ratio of noises
            st.floats(-0.5, 0.5).filter(lambda r: r == 0 or abs(r) > 1e-9),
        ),
        min_size=2,
        max_size=60,
    ),
    ppy=st.sampled_from([12.0, 252.0, 365.0, 8_760.0]),
    rf=st.sampled_from([0.0, 0.02]),
)
def test_matches_empyrical_on_any_series(returns: list[float], ppy: float, rf: float) -> None:
    _check_against_empyrical(np.asarray(returns), ppy, rf)


def test_no_downside_gives_infinite_sortino_like_empyrical() -> None:
    returns = np.array([0.01, 0.02, 0.015, 0.03])
    metrics = compute_metrics(_ts(5), _equity_from_returns(returns))
    assert metrics.sortino == math.inf
    assert empyrical.sortino_ratio(returns) == math.inf
    assert math.isnan(metrics.calmar)  # no drawdown: undefined, as in empyrical
    assert metrics.max_drawdown == 0.0


def test_cagr_by_hand() -> None:
    assert compute_metrics(_ts(2), np.array([100.0, 121.0]), periods_per_year=1).annual_return == (
        pytest.approx(0.21)
    )
    two_periods = compute_metrics(_ts(3), np.array([100.0, 110.0, 121.0]), periods_per_year=2)
    assert two_periods.annual_return == pytest.approx(0.21)
    assert two_periods.total_return == pytest.approx(0.21)


def test_drawdown_and_its_duration_by_hand() -> None:
    equity = np.array([100.0, 110.0, 99.0, 105.0, 110.0, 120.0, 90.0, 95.0])
    ts = _ts(equity.size)
    metrics = compute_metrics(ts, equity)
    assert metrics.max_drawdown == pytest.approx(90 / 120 - 1)
    # 110 at bar 1 is regained at bar 4 (3 bars); the 120 peak at bar 5 is still lost at bar 7.
    assert metrics.max_drawdown_duration_bars == 3
    assert metrics.max_drawdown_duration_ns == 3 * HOUR
    expected = [0.0, 0.0, 99 / 110 - 1, 105 / 110 - 1, 0.0, 0.0, 90 / 120 - 1, 95 / 120 - 1]
    np.testing.assert_allclose(drawdown_series(equity), expected)


def test_unrecovered_drawdown_runs_to_the_last_bar() -> None:
    equity = np.array([100.0, 101.0, 100.0, 99.0, 98.0, 100.5])
    metrics = compute_metrics(_ts(equity.size), equity)
    assert metrics.max_drawdown_duration_bars == 4  # peak at bar 1, never regained by bar 5
    assert metrics.max_drawdown_duration_ns == 4 * HOUR


def _trade(entry: float, exit_: float, quantity: float = 1.0, fees: float = 0.0) -> Trade:
    return Trade(
        instrument=BTC, quantity=quantity, entry_ts=_ts(10)[1], exit_ts=_ts(10)[3],
        entry_price=entry, exit_price=exit_, fees=fees,
    )  # fmt: skip


def test_trade_statistics_by_hand() -> None:
    trades = [
        _trade(100.0, 110.0),  # +10
        _trade(100.0, 95.0),  # -5
        _trade(50.0, 40.0, quantity=-2.0, fees=0.0),  # short: +20
        _trade(200.0, 201.0, fees=6.0),  # +1 gross, -5 after fees
    ]
    metrics = compute_metrics(_ts(10), np.full(10, 1_000.0), trades=trades)
    assert metrics.trade_count == 4
    assert metrics.win_rate == 0.5
    assert metrics.profit_factor == pytest.approx(30 / 10)
    assert metrics.average_trade == pytest.approx((10 - 5 + 20 - 5) / 4)
    assert metrics.best_trade == pytest.approx(20.0)
    assert metrics.worst_trade == pytest.approx(-5.0)
    returns = [10 / 100, -5 / 100, 20 / 100, -5 / 200]
    assert metrics.average_trade_return == pytest.approx(sum(returns) / 4)
    assert metrics.best_trade_return == pytest.approx(0.2)
    assert metrics.worst_trade_return == pytest.approx(-0.05)
    assert metrics.average_trade_duration_ns == 2 * HOUR


def test_profit_factor_without_losers_is_infinite_and_without_trades_undefined() -> None:
    winners = compute_metrics(_ts(3), np.ones(3), trades=[_trade(1.0, 2.0)])
    assert winners.profit_factor == math.inf
    assert winners.win_rate == 1.0
    nothing = compute_metrics(_ts(3), np.ones(3))
    assert nothing.trade_count == 0
    for name in ("win_rate", "profit_factor", "average_trade", "best_trade", "worst_trade"):
        assert math.isnan(getattr(nothing, name)), name


def test_exposure_and_turnover_by_hand() -> None:
    equity = np.array([100.0, 90.0, 110.0, 100.0])
    metrics = compute_metrics(
        _ts(4), equity, exposure=np.array([0.0, 0.5, 1.0, 0.0]), traded_notional=300.0
    )
    assert metrics.exposure == pytest.approx(0.375)
    assert metrics.time_in_market == 0.5
    assert metrics.turnover == pytest.approx(3.0)  # 300 / mean equity 100


def test_time_in_market_from_trades_when_no_exposure_given() -> None:
    ts = _ts(10)
    first = Trade(instrument=BTC, quantity=1, entry_ts=ts[2], exit_ts=ts[5], entry_price=1,
                  exit_price=1)  # fmt: skip
    overlapping = msgspec.structs.replace(first, entry_ts=int(ts[4]), exit_ts=int(ts[7]))
    assert compute_metrics(ts, np.ones(10), trades=[first]).time_in_market == 0.3  # bars 2-4
    both = compute_metrics(ts, np.ones(10), trades=[first, overlapping])
    assert both.time_in_market == 0.5  # bars 2-6
    assert math.isnan(both.exposure)


@pytest.mark.parametrize(
    "equity",
    [
        np.full(20, 100.0),  # flat
        np.array([100.0]),  # one bar
        np.array([100.0, 50.0, 0.0, 0.0, 10.0]),  # wiped out, then recapitalised
        np.array([100.0, 20.0, -30.0, -10.0]),  # negative equity
        np.array([0.0, 0.0, 5.0]),  # starts at zero
        np.array([-5.0, -4.0]),  # always negative
        np.empty(0),  # no bars at all
        np.array([100.0, np.nan, 90.0, np.inf, 80.0]),  # garbage in: NaN out, never a crash
    ],
)
def test_degenerate_equity_never_raises_or_warns(equity: np.ndarray) -> None:
    metrics = compute_metrics(
        _ts(equity.size), equity, exposure=np.zeros(equity.size), traded_notional=10.0
    )
    assert metrics.bars == equity.size
    as_dict = metrics.to_dict()
    assert list(as_dict) == list(PerformanceMetrics.__struct_fields__)
    json.dumps(as_dict)  # plain Python numbers (NaN allowed)
    assert all(type(v) in (int, float) for v in as_dict.values())
    strict = metrics.to_dict(json_safe=True)
    json.dumps(strict, allow_nan=False)
    assert [k for k, v in strict.items() if v is None] == [
        k for k, v in as_dict.items() if isinstance(v, float) and not math.isfinite(v)
    ]


def test_flat_equity_values() -> None:
    metrics = compute_metrics(_ts(20), np.full(20, 100.0))
    assert metrics.total_return == 0.0
    assert metrics.annual_volatility == 0.0
    assert math.isnan(metrics.sharpe)
    assert metrics.max_drawdown == 0.0
    assert metrics.max_drawdown_duration_bars == 0


def test_wiped_out_account() -> None:
    metrics = compute_metrics(_ts(3), np.array([100.0, 50.0, 0.0]))
    assert metrics.total_return == -1.0
    assert metrics.annual_return == -1.0
    assert metrics.max_drawdown == -1.0


def test_metrics_are_immutable() -> None:
    metrics = compute_metrics(_ts(3), np.array([1.0, 2.0, 3.0]))
    with pytest.raises(AttributeError):
        metrics.sharpe = 1.0  # type: ignore[misc]
    assert metrics.start == _ts(3)[0] and metrics.end == _ts(3)[-1]
    assert metrics.initial_equity == 1.0 and metrics.final_equity == 3.0


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(DataFormatError, match="one equity value per bar"):
        compute_metrics(_ts(3), np.ones(4))
    with pytest.raises(DataFormatError, match="one-dimensional"):
        compute_metrics(_ts(4), np.ones((2, 2)))
    with pytest.raises(DataFormatError, match="exposure"):
        compute_metrics(_ts(3), np.ones(3), exposure=np.ones(2))
    with pytest.raises(ConfigError, match="periods_per_year"):
        compute_metrics(_ts(3), np.ones(3), periods_per_year=0)
    with pytest.raises(ConfigError, match="annual rate"):
        compute_metrics(_ts(3), np.ones(3), risk_free=-2.0)


def test_past_drawdown_and_returns_ignore_the_future() -> None:
    rng = np.random.default_rng(7)
    equity = 100 * np.cumprod(1 + rng.normal(0, 0.01, 200))
    perturbed = equity.copy()
    perturbed[120:] *= rng.uniform(0.1, 3.0, 80)
    np.testing.assert_array_equal(drawdown_series(equity)[:120], drawdown_series(perturbed)[:120])
    np.testing.assert_array_equal(
        returns_from_equity(equity)[:119], returns_from_equity(perturbed)[:119]
    )
    early = compute_metrics(_ts(120), equity[:120])
    assert early == compute_metrics(_ts(120), perturbed[:120])


def test_exposure_without_any_finite_value_is_undefined() -> None:
    metrics = compute_metrics(_ts(3), np.ones(3), exposure=np.full(3, np.nan))
    assert math.isnan(metrics.exposure) and math.isnan(metrics.time_in_market)


def test_observed_periods_per_year_reads_the_calendar_off_the_data() -> None:
    from neo.analytics import observed_periods_per_year

    day = 86_400 * 10**9
    weekdays = np.array([d for d in range(3 * 365) if d % 7 < 5], dtype=np.int64) * day
    assert observed_periods_per_year(weekdays, 365.0) == pytest.approx(261, rel=0.01)
    every_day = np.arange(3 * 365, dtype=np.int64) * day
    assert observed_periods_per_year(every_day, 1.0) == pytest.approx(365.25, rel=0.01)
    short = np.arange(10, dtype=np.int64) * day
    assert observed_periods_per_year(short, 365.0) == 365.0
    assert observed_periods_per_year(np.array([0]), 7.0) == 7.0
