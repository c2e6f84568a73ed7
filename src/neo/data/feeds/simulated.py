"""Seeded synthetic markets: correlated geometric random walks with regime switches.

Crypto-style minute data for tests, demos and benchmarks comes from here, never the network.
The model: one market regime chain (calm / bull / bear-volatile) shared by all symbols, with
Markov durations; per-bar log returns are drift + volatility × Student-t(5) shocks (unit
variance) built from a common factor and an idiosyncratic part, so every pair of symbols has
correlation ``correlation``. Returns are clipped so no bar moves as much as the default jump
limit of the validator: simulated data always passes validation with default settings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from neo.data.config import ValidationConfig
from neo.data.feeds.base import BatchFeed
from neo.domain.bar import BarBatch, FloatArray
from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe

DEFAULT_START_NS = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000_000
_YEAR_NS = 365 * 86_400 * 1_000_000_000
# (annual drift, annual volatility, volume multiplier) per regime: calm, bull, bear-volatile.
REGIMES: tuple[tuple[float, float, float], ...] = ((0.0, 0.35, 1.0), (0.8, 0.5, 1.3),
                                                   (-0.9, 1.0, 2.2))  # fmt: skip
_START_PRICES = {"BTC": 42_000.0, "ETH": 2_300.0, "SOL": 100.0, "BNB": 310.0, "XRP": 0.6}
_T_DOF = 5.0


def _regime_path(rng: np.random.Generator, n_bars: int, mean_bars: float) -> np.ndarray:
    """Regime index per bar: geometric durations, each next regime different from the last."""
    p = min(1.0, 1.0 / max(mean_bars, 1.0))
    chunks = max(4, int(n_bars * p * 2) + 4)
    durations = rng.geometric(p, size=chunks)
    while durations.sum() < n_bars:
        durations = np.concatenate((durations, rng.geometric(p, size=chunks)))
    steps = rng.integers(1, len(REGIMES), size=len(durations))
    labels = (np.cumsum(steps) + rng.integers(len(REGIMES))) % len(REGIMES)
    return np.repeat(labels, durations)[:n_bars]


def _shocks(rng: np.random.Generator, shape: tuple[int, int], correlation: float) -> FloatArray:
    scale = math.sqrt((_T_DOF - 2.0) / _T_DOF)  # unit variance
    common = rng.standard_t(_T_DOF, size=(shape[0], 1)) * scale
    own = rng.standard_t(_T_DOF, size=shape) * scale
    out: FloatArray = math.sqrt(correlation) * common + math.sqrt(1.0 - correlation) * own
    return out


def simulate_bars(
    symbols: Sequence[str],
    timeframe: Timeframe | str,
    n_bars: int,
    seed: int,
    *,
    venue: str = "sim",
    start_ns: int = DEFAULT_START_NS,
    correlation: float = 0.5,
    regime_days: float = 30.0,
    start_prices: Sequence[float] | None = None,
) -> dict[InstrumentId, BarBatch]:
    """Simulate ``n_bars`` bars for each symbol; the same arguments always give the same bars.

    Parameters
    ----------
    correlation:
        Correlation of every pair of symbols' shocks, in ``[0, 1)``.
    regime_days:
        Mean length of a market regime in days of bars.
    start_prices:
        First open per symbol (defaults: BTC 42000, ETH 2300, … else 100).
    """
    tf = Timeframe.parse(timeframe)
    names = list(dict.fromkeys(symbols))
    _check_arguments(names, tf, n_bars, start_ns, correlation)
    if start_prices is not None and len(start_prices) != len(names):
        raise ConfigError(
            f"give one start price per symbol ({len(names)}), got {len(start_prices)}"
        )
    rng = np.random.default_rng(seed)
    regime = _regime_path(rng, n_bars, regime_days * 86_400e9 / tf.nanos)
    table = np.asarray(REGIMES)
    per_bar = tf.nanos / _YEAR_NS
    sigma = table[regime, 1] * math.sqrt(per_bar)
    drift = table[regime, 0] * per_bar - 0.5 * sigma**2
    limit = 0.9 * ValidationConfig().jump_limit(str(tf))
    returns = drift[:, None] + sigma[:, None] * _shocks(rng, (n_bars, len(names)), correlation)
    np.clip(returns, math.log1p(-limit), math.log1p(limit), out=returns)
    wick = np.abs(rng.standard_normal((2, n_bars, len(names)))) * 0.5 * sigma[None, :, None]
    activity = np.exp(0.3 * rng.standard_normal((n_bars, len(names))))
    ts = start_ns + np.arange(n_bars, dtype=np.int64) * tf.nanos
    out: dict[InstrumentId, BarBatch] = {}
    for k, name in enumerate(names):
        first = (
            float(start_prices[k])
            if start_prices is not None
            else _START_PRICES.get(InstrumentId(venue, name).base, 100.0)
        )
        close = first * np.exp(np.cumsum(returns[:, k]))
        open_ = np.concatenate(([first], close[:-1]))
        shock = np.abs(returns[:, k]) / sigma
        volume = 1e6 / first * table[regime, 2] * activity[:, k] * (1.0 + shock)
        out[InstrumentId(venue, name)] = BarBatch.from_arrays(
            InstrumentId(venue, name), tf, ts=ts, open=open_,
            high=np.maximum(open_, close) * np.exp(wick[0, :, k]),
            low=np.minimum(open_, close) * np.exp(-wick[1, :, k]),
            close=close, volume=volume,
        )  # fmt: skip
    return out


def _check_arguments(
    names: list[str], tf: Timeframe, n_bars: int, start_ns: int, correlation: float
) -> None:
    if not names:
        raise ConfigError("simulate at least one symbol, e.g. --symbols BTC/USDT")
    if n_bars < 1:
        raise ConfigError(f"the number of bars must be >= 1, got {n_bars}")
    if not 0.0 <= correlation < 1.0:
        raise ConfigError(f"correlation must be in [0, 1), got {correlation}")
    if not tf.is_aligned(start_ns):
        raise ConfigError(f"start {start_ns} is not on the {tf} grid; use a multiple of {tf}")


class SimulatedMarketDataFeed(BatchFeed):
    """A :class:`MarketDataFeed` over :func:`simulate_bars` (seeded, reproducible).

    ``pace=None`` streams as fast as possible; a number paces the stream to that many seconds
    of wall time per bar.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        timeframe: Timeframe | str,
        *,
        n_bars: int,
        seed: int,
        venue: str = "sim",
        pace: float | None = None,
        correlation: float = 0.5,
        start_ns: int = DEFAULT_START_NS,
        regime_days: float = 30.0,
    ) -> None:
        names = list(dict.fromkeys(symbols))
        super().__init__([InstrumentId(venue, s) for s in names], timeframe, pace=pace)
        self._symbols = names
        self._venue = venue
        self._n_bars = n_bars
        self._seed = seed
        self._correlation = correlation
        self._start_ns = start_ns
        self._regime_days = regime_days
        _check_arguments(names, self.timeframe, n_bars, start_ns, correlation)

    def _load(self) -> dict[InstrumentId, BarBatch]:
        return simulate_bars(
            self._symbols, self.timeframe, self._n_bars, self._seed, venue=self._venue,
            start_ns=self._start_ns, correlation=self._correlation,
            regime_days=self._regime_days,
        )  # fmt: skip
