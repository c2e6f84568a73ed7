"""Numba step kernels: the one definition of every feature.

Each feature is a scalar *step* function that reads one bar, updates its explicit state (a slice
of one float64 array) and returns the feature value for that bar, or NaN during warm-up. The batch
path runs :func:`run_batch` (a loop over bars inside numba) and the live path calls
:func:`step_all` once per bar; both run the very same step code on the very same state, so batch
and incremental results agree bit for bit by construction.

State layout convention: ``s[0]`` counts the bars the feature has seen; ring buffers follow.
Formulas follow TA-Lib's conventions (SMA-seeded Wilder/EMA smoothing, population standard
deviation for Bollinger bands) so the indicators can be cross-checked against it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from neo.domain.bar import FloatArray, IntArray
from neo.features import steps
from neo.jit import compile_shared

K_RETURN = 0
K_LOG_RETURN = 1
K_VOLATILITY = 2
K_RSI = 3
K_MACD = 4
K_BB_PCTB = 5
K_ATR = 6
K_ADX = 7
K_STOCH = 8
K_OBV = 9
K_VOLUME_Z = 10
K_SKEW = 11
K_TIME_OF_DAY = 12
K_DAY_OF_WEEK = 13
K_MARKET_RETURN = 14
K_MARKET_CORR = 15

N_PARAMS = 5
DAY_NS = 86_400_000_000_000
TA_EPSILON = steps.TA_EPSILON

# The recursive indicators are defined once, in neo.features.steps (plain Python, shared with
# the strategies' indicators and the stop manager); here they are compiled.
_ema_next = compile_shared(steps.ema_next)
_wilder_next = compile_shared(steps.wilder_next)
_rsi_value = compile_shared(steps.rsi_value)
_ema_update = compile_shared(steps.ema_update, ema_next=_ema_next)
_rsi_update = compile_shared(steps.rsi_update, wilder_next=_wilder_next, rsi_value=_rsi_value)
_volatility_update = compile_shared(steps.volatility_update)
_true_range = compile_shared(steps.true_range)
_atr_update = compile_shared(steps.atr_update, true_range=_true_range, wilder_next=_wilder_next)


@njit(cache=True, error_model="numpy")
def _mean(s: FloatArray, lo: int, n: int) -> float:
    total = 0.0
    for j in range(lo, lo + n):
        total += s[j]
    return float(total / n)


@njit(cache=True, error_model="numpy")
def _std(s: FloatArray, lo: int, n: int, ddof: int) -> float:
    mean = _mean(s, lo, n)
    acc = 0.0
    for j in range(lo, lo + n):
        acc += (s[j] - mean) * (s[j] - mean)
    return math.sqrt(acc / (n - ddof))


@njit(cache=True, error_model="numpy")
def step_return(p: FloatArray, i: int, s: FloatArray, o: int, close: float, log: bool) -> float:
    """Return over k bars. State: [n, ring of k+1 closes]."""
    k = int(p[i, 0])
    n = int(s[o + 0])
    s[o + 1 + n % (k + 1)] = close
    s[o + 0] = n + 1
    if n < k:
        return np.nan
    past = s[o + 1 + (n - k) % (k + 1)]
    return math.log(close / past) if log else close / past - 1.0


@njit(cache=True, error_model="numpy")
def step_volatility(p: FloatArray, i: int, s: FloatArray, o: int, close: float) -> float:
    """Sample std of 1-bar log returns over w bars (:func:`neo.features.steps.volatility_update`).
    State: [n, prev close, ring of w returns]."""
    return float(_volatility_update(s, o, close, int(p[i, 0])))


@njit(cache=True, error_model="numpy")
def step_rsi(p: FloatArray, i: int, s: FloatArray, o: int, close: float) -> float:
    """Wilder RSI seeded by the mean of the first w moves, TA-Lib's conventions
    (:func:`neo.features.steps.rsi_update`). State: [n, prev, gain, loss]."""
    return float(_rsi_update(s, o, close, int(p[i, 0]), TA_EPSILON, 0.0))


@njit(cache=True, error_model="numpy")
def _ema_seeded(s: FloatArray, i_sum: int, i_ema: int, x: float, m: int, period: int) -> bool:
    """EMA seeded with the SMA of its first ``period`` inputs (TA-Lib); ``m`` counts inputs
    from 0. Returns True once the EMA is defined (after ``period`` inputs)."""
    return bool(_ema_update(s, i_sum, i_ema, x, m, period, False))


@njit(cache=True, error_model="numpy")
def step_macd(p: FloatArray, i: int, s: FloatArray, o: int, close: float) -> float:
    """MACD line, signal or histogram, TA-Lib alignment (fast EMA seeded on the last ``fast`` of
    the first ``slow`` closes). State: [n, fast sum, fast ema, slow sum, slow ema, sig sum, sig].
    p = [fast, slow, signal, output (0 macd, 1 signal, 2 hist), divide by close (0/1)].
    """
    fast = int(p[i, 0])
    slow = int(p[i, 1])
    signal = int(p[i, 2])
    n = int(s[o + 0])
    s[o + 0] = n + 1
    slow_ready = _ema_seeded(s, o + 3, o + 4, close, n, slow)
    if n >= slow - fast:
        _ema_seeded(s, o + 1, o + 2, close, n - (slow - fast), fast)
    if not slow_ready:
        return np.nan
    macd = s[o + 2] - s[o + 4]
    if not _ema_seeded(s, o + 5, o + 6, macd, n - (slow - 1), signal):
        return np.nan
    mode = int(p[i, 3])
    value = macd if mode == 0 else (s[o + 6] if mode == 1 else macd - s[o + 6])
    return float(value / close if p[i, 4] > 0 else value)


@njit(cache=True, error_model="numpy")
def step_bb_pctb(p: FloatArray, i: int, s: FloatArray, o: int, close: float) -> float:
    """Bollinger %b on an SMA with population std. State: [n, ring of w closes]."""
    w = int(p[i, 0])
    n = int(s[o + 0])
    s[o + 0] = n + 1
    s[o + 1 + n % w] = close
    if n < w - 1:
        return np.nan
    mid = _mean(s, o + 1, w)
    band = p[i, 1] * _std(s, o + 1, w, 0)
    if band <= 0.0:
        return 0.5
    lower = mid - band
    return float((close - lower) / (2.0 * band))


@njit(cache=True, error_model="numpy")
def step_atr(
    p: FloatArray, i: int, s: FloatArray, o: int, high: float, low: float, close: float
) -> float:
    """Wilder ATR seeded by the mean of the first w true ranges
    (:func:`neo.features.steps.atr_update`). State: [n, prev close, atr]."""
    atr = _atr_update(s, o, high, low, close, int(p[i, 0]))
    return float(atr / close if p[i, 1] > 0 else atr)


@njit(cache=True, error_model="numpy")
def _directional(
    s: FloatArray, o: int, high: float, low: float, close: float, w: int, n: int
) -> None:
    """Wilder-smoothed +DM, -DM and TR (TA-Lib's ADX recurrences). s[1:4] prev H/L/C."""
    diff_p = high - s[o + 1]
    diff_m = s[o + 2] - low
    tr = _true_range(high, low, s[o + 3])
    if n >= w:
        s[o + 4] -= s[o + 4] / w
        s[o + 5] -= s[o + 5] / w
        s[o + 6] -= s[o + 6] / w
    if diff_m > 0 and diff_p < diff_m:
        s[o + 5] += diff_m
    elif diff_p > 0 and diff_p > diff_m:
        s[o + 4] += diff_p
    s[o + 6] += tr
    s[o + 1] = high
    s[o + 2] = low
    s[o + 3] = close


@njit(cache=True, error_model="numpy")
def _dx(s: FloatArray, o: int) -> float:
    if -TA_EPSILON < s[o + 6] < TA_EPSILON:
        return np.nan
    plus = 100.0 * (s[o + 4] / s[o + 6])
    minus = 100.0 * (s[o + 5] / s[o + 6])
    total = plus + minus
    if -TA_EPSILON < total < TA_EPSILON:
        return np.nan
    return float(100.0 * (abs(minus - plus) / total))


@njit(cache=True, error_model="numpy")
def step_adx(
    p: FloatArray, i: int, s: FloatArray, o: int, high: float, low: float, close: float
) -> float:
    """Wilder ADX as TA-Lib computes it (first value after 2w bars).

    State: [n, prev high, prev low, prev close, +DM, -DM, TR, sum DX, ADX].
    """
    w = int(p[i, 0])
    n = int(s[o + 0])
    s[o + 0] = n + 1
    if n == 0:
        s[o + 1] = high
        s[o + 2] = low
        s[o + 3] = close
        return np.nan
    _directional(s, o, high, low, close, w, n)
    if n < w:
        return np.nan
    dx = _dx(s, o)
    if n < 2 * w - 1:
        if not math.isnan(dx):
            s[o + 7] += dx
        return np.nan
    if n == 2 * w - 1:
        if not math.isnan(dx):
            s[o + 7] += dx
        s[o + 8] = s[o + 7] / w
    elif not math.isnan(dx):
        s[o + 8] = ((s[o + 8] * (w - 1)) + dx) / w
    return float(s[o + 8])


@njit(cache=True, error_model="numpy")
def step_stoch(
    p: FloatArray, i: int, s: FloatArray, o: int, high: float, low: float, close: float
) -> float:
    """Stochastic %K over k bars smoothed by an SMA over d (TA-Lib STOCHF fast %D).

    State: [n, ring k highs, ring k lows, ring d raw %K].
    """
    k = int(p[i, 0])
    d = int(p[i, 1])
    n = int(s[o + 0])
    s[o + 0] = n + 1
    s[o + 1 + n % k] = high
    s[o + 1 + k + n % k] = low
    if n < k - 1:
        return np.nan
    highest = s[o + 1]
    lowest = s[o + 1 + k]
    for j in range(1, k):
        highest = max(highest, s[o + 1 + j])
        lowest = min(lowest, s[o + 1 + k + j])
    diff = (highest - lowest) / 100.0
    raw = (close - lowest) / diff if diff != 0.0 else 0.0
    m = n - (k - 1)
    s[o + 1 + 2 * k + m % d] = raw
    if m < d - 1:
        return np.nan
    return _mean(s, o + 1 + 2 * k, d)


@njit(cache=True, error_model="numpy")
def step_obv(p: FloatArray, i: int, s: FloatArray, o: int, close: float, volume: float) -> float:
    """On-balance volume; with window w > 0, its change over w bars per unit of volume traded.

    State: [n, prev close, obv, ring of w+1 obv values, ring of w volumes].
    """
    w = int(p[i, 0])
    n = int(s[o + 0])
    s[o + 0] = n + 1
    if n == 0:
        s[o + 2] = volume
    elif close > s[o + 1]:
        s[o + 2] += volume
    elif close < s[o + 1]:
        s[o + 2] -= volume
    s[o + 1] = close
    if w == 0:
        return float(s[o + 2])
    s[o + 3 + n % (w + 1)] = s[o + 2]
    s[o + 4 + w + n % w] = volume
    if n < w:
        return np.nan
    traded = 0.0
    for j in range(o + 4 + w, o + 4 + 2 * w):
        traded += s[j]
    if traded <= 0.0:
        return 0.0
    return float((s[o + 2] - s[o + 3 + (n - w) % (w + 1)]) / traded)


@njit(cache=True, error_model="numpy")
def step_volume_z(p: FloatArray, i: int, s: FloatArray, o: int, volume: float) -> float:
    """Z-score of volume against its last w bars (population std). State: [n, ring of w]."""
    w = int(p[i, 0])
    n = int(s[o + 0])
    s[o + 0] = n + 1
    s[o + 1 + n % w] = volume
    if n < w - 1:
        return np.nan
    sd = _std(s, o + 1, w, 0)
    if sd <= 0.0:
        return 0.0
    return (volume - _mean(s, o + 1, w)) / sd


@njit(cache=True, error_model="numpy")
def step_skew(p: FloatArray, i: int, s: FloatArray, o: int, close: float) -> float:
    """Bias-corrected skewness of w 1-bar log returns. State: [n, prev close, ring of w]."""
    w = int(p[i, 0])
    n = int(s[o + 0])
    s[o + 0] = n + 1
    prev = s[o + 1]
    s[o + 1] = close
    if n == 0:
        return np.nan
    s[o + 2 + (n - 1) % w] = math.log(close / prev)
    if n < w:
        return np.nan
    mean = _mean(s, o + 2, w)
    m2 = 0.0
    m3 = 0.0
    for j in range(o + 2, o + 2 + w):
        dev = s[j] - mean
        m2 += dev * dev
        m3 += dev * dev * dev
    m2 /= w
    m3 /= w
    if m2 <= 1e-300:
        return 0.0
    return float(m3 / m2**1.5 * math.sqrt(w * (w - 1.0)) / (w - 2.0))


@njit(cache=True, error_model="numpy")
def step_calendar(p: FloatArray, i: int, ts: int, weekly: bool) -> float:
    """Sine or cosine encoding of the bar's open time within its day or week."""
    if weekly:
        days = ts // DAY_NS
        phase = ((days + 3) % 7) / 7.0  # 1970-01-01 was a Thursday; Monday = 0
    else:
        phase = (ts % DAY_NS) / DAY_NS
    angle = 2.0 * math.pi * phase
    return math.cos(angle) if p[i, 0] > 0 else math.sin(angle)


@njit(cache=True, error_model="numpy")
def _carry(s: FloatArray, i_last: int, market_close: float) -> float:
    """Carry the market's last known close forward over bars it lacks."""
    if not math.isnan(market_close):
        s[i_last] = market_close
    return float(s[i_last])


@njit(cache=True, error_model="numpy")
def step_market_return(p: FloatArray, i: int, s: FloatArray, o: int, market_close: float) -> float:
    """The market's return over k bars. State: [n, last market close, ring of k+1]."""
    k = int(p[i, 0])
    n = int(s[o + 0])
    if n == 0:
        s[o + 1] = np.nan
    s[o + 0] = n + 1
    last = _carry(s, o + 1, market_close)
    s[o + 2 + n % (k + 1)] = last
    if n < k:
        return np.nan
    return float(last / s[o + 2 + (n - k) % (k + 1)] - 1.0)


@njit(cache=True, error_model="numpy")
def step_market_corr(
    p: FloatArray, i: int, s: FloatArray, o: int, close: float, market_close: float
) -> float:
    """Correlation of 1-bar log returns with the market's over w bars.

    State: [n, prev close, last market, prev market, ring w own, ring w market].
    """
    w = int(p[i, 0])
    n = int(s[o + 0])
    if n == 0:
        s[o + 2] = np.nan
    s[o + 0] = n + 1
    prev_market = s[o + 2]
    last = _carry(s, o + 2, market_close)
    prev = s[o + 1]
    s[o + 1] = close
    if n == 0:
        return np.nan
    s[o + 4 + (n - 1) % w] = math.log(close / prev)
    s[o + 4 + w + (n - 1) % w] = math.log(last / prev_market)
    if n < w:
        return np.nan
    mx = _mean(s, o + 4, w)
    my = _mean(s, o + 4 + w, w)
    sxy = 0.0
    sxx = 0.0
    syy = 0.0
    for k in range(w):
        dx = s[o + 4 + k] - mx
        dy = s[o + 4 + w + k] - my
        sxy += dx * dy
        sxx += dx * dx
        syy += dy * dy
    if math.isnan(sxy):
        return np.nan
    if sxx <= 1e-300 or syy <= 1e-300:
        return 0.0
    return sxy / math.sqrt(sxx * syy)


@njit(cache=True, error_model="numpy")
def _step_price(
    kind: int, p: FloatArray, i: int, s: FloatArray, o: int, high: float, low: float, close: float
) -> float:
    if kind in (K_RETURN, K_LOG_RETURN):
        return step_return(p, i, s, o, close, kind == K_LOG_RETURN)
    if kind == K_VOLATILITY:
        return step_volatility(p, i, s, o, close)
    if kind == K_RSI:
        return step_rsi(p, i, s, o, close)
    if kind == K_MACD:
        return step_macd(p, i, s, o, close)
    if kind == K_BB_PCTB:
        return step_bb_pctb(p, i, s, o, close)
    if kind == K_ATR:
        return step_atr(p, i, s, o, high, low, close)
    return step_adx(p, i, s, o, high, low, close)


@njit(cache=True, error_model="numpy")
def _step_other(
    kind: int,
    p: FloatArray,
    i: int,
    s: FloatArray,
    o: int,
    ts: int,
    high: float,
    low: float,
    close: float,
    volume: float,
    context: FloatArray,
    t: int,
) -> float:
    if kind == K_STOCH:
        return step_stoch(p, i, s, o, high, low, close)
    if kind == K_OBV:
        return step_obv(p, i, s, o, close, volume)
    if kind == K_VOLUME_Z:
        return step_volume_z(p, i, s, o, volume)
    if kind == K_SKEW:
        return step_skew(p, i, s, o, close)
    if kind in (K_TIME_OF_DAY, K_DAY_OF_WEEK):
        return step_calendar(p, i, ts, kind == K_DAY_OF_WEEK)
    if kind == K_MARKET_RETURN:
        return step_market_return(p, i, s, o, context[t, int(p[i, 1])])
    return step_market_corr(p, i, s, o, close, context[t, int(p[i, 1])])


@njit(cache=True, error_model="numpy")
def step_all(
    kinds: IntArray,
    params: FloatArray,
    offsets: IntArray,
    state: FloatArray,
    ts: IntArray,
    bars: FloatArray,
    context: FloatArray,
    out: FloatArray,
    t: int,
) -> None:
    """Advance every feature by bar ``t``: ``bars[t]`` is [open, high, low, close, volume],
    ``context[t]`` the market closes, and the features go to ``out[t]``.

    Rows are addressed by index rather than sliced so the hot loop makes no array views.
    """
    high = bars[t, 1]
    low = bars[t, 2]
    close = bars[t, 3]
    for i in range(kinds.shape[0]):
        o = offsets[i]
        kind = kinds[i]
        if kind < K_STOCH:
            out[t, i] = _step_price(kind, params, i, state, o, high, low, close)
        else:
            out[t, i] = _step_other(
                kind, params, i, state, o, ts[t], high, low, close, bars[t, 4], context, t
            )


@njit(cache=True, error_model="numpy")
def run_batch(
    kinds: IntArray,
    params: FloatArray,
    offsets: IntArray,
    state: FloatArray,
    ts: IntArray,
    bars: FloatArray,
    context: FloatArray,
    out: FloatArray,
) -> None:
    """Run :func:`step_all` over every row of ``bars`` (n x 5) and ``context`` (n x m)."""
    for t in range(ts.shape[0]):
        step_all(kinds, params, offsets, state, ts, bars, context, out, t)
