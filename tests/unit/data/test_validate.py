"""The validator: a hand-built file with planted faults, one property test per rule, and the
numba kernels against plain-numpy references."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neo.data._kernels import jump_mask, rolling_robust_zscore
from neo.data.config import ValidationConfig
from neo.data.feeds.files import read_bar_file
from neo.data.validate import (
    REJECT_CODES,
    RULES,
    DataValidator,
    RawBars,
    as_raw_bars,
    check_price_series,
)
from neo.domain import DataFormatError, Timeframe
from tests.unit.data.helpers import BTC, MINUTE, T0, batch_of, walk

T0_MS = T0 // 1_000_000


def _row(minute: float, o: float, h: float, lo: float, c: str | float, v: float) -> str:
    return f"{int(T0_MS + minute * 60_000)},{o},{h},{lo},{c},{v}"


# Row by row (file order), with what the rules must decide:
PLANTED = [
    _row(0, 100.0, 100.2, 99.8, 100.0, 10),  # 0 ok
    _row(1, 100.0, 100.7, 99.8, 100.5, 10),  # 1 ok
    _row(2, 100.5, 99.0, 101.0, 100.6, 10),  # 2 high < low             -> ohlc_order
    _row(3, 100.5, 100.9, 100.3, 100.7, -5),  # 3 negative volume       -> negative_volume
    _row(4, 100.7, 100.9, 100.5, "", 10),  # 4 missing close (NaN)     -> non_finite
    _row(5, 100.7, 101.2, 100.6, 101.0, 10),  # 5 ok
    _row(5, 100.7, 101.2, 100.6, 101.0, 10),  # 6 identical to 5        -> merged
    _row(6, 101.0, 101.4, 100.9, 101.2, 10),  # 7 conflicts with 8      -> duplicate_conflict
    _row(6, 101.0, 101.4, 100.9, 101.3, 10),  # 8 conflicts with 7      -> duplicate_conflict
    _row(7, 101.0, 116.5, 100.8, 116.15, 10),  # 9 +15 % vs close 101.0 -> price_jump
    _row(8, 101.0, 101.7, 100.9, 101.5, 10),  # 10 ok (back within 10 % of 101.0)
    _row(8.5, 101.5, 101.7, 101.4, 101.6, 10),  # 11 half a minute off   -> misaligned_ts
    _row(10, 101.6, 102.0, 101.5, 101.8, 10),  # 12 ok
    _row(9, 101.5, 101.7, 101.4, 101.6, 10),  # 13 ok, but after minute 10 -> unsorted
    _row(11, 101.8, 102.2, 101.7, 102.0, 10),  # 14 ok
]


def test_planted_faults_give_exactly_the_expected_counts(tmp_path: Path) -> None:
    path = tmp_path / "planted.csv"
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(PLANTED) + "\n")
    report = DataValidator("1m").validate(read_bar_file(path))

    assert report.rows_read == 15
    assert (report.n_accepted, report.n_rejected, report.merged_duplicates) == (7, 7, 1)
    assert report.n_accepted + report.n_rejected + report.merged_duplicates == report.rows_read
    assert report.counts == {
        "unsorted": 1,
        "invalid_ts": 0,
        "non_finite": 1,
        "non_positive_price": 0,
        "negative_volume": 1,
        "ohlc_order": 1,
        "misaligned_ts": 1,
        "duplicate_identical": 1,
        "duplicate_conflict": 2,
        "price_jump": 1,
        "price_jump_confirmed": 0,
        "possible_split": 0,
        "absurd_value": 0,
        "return_zscore": 0,
        "gap": 2,
    }
    assert list((report.accepted.ts - T0) // MINUTE) == [0, 1, 5, 8, 9, 10, 11]
    by_row = dict(zip(report.rejected.source_row.tolist(), report.reasons, strict=True))
    assert by_row == {
        2: "ohlc_order",
        3: "negative_volume",
        4: "non_finite",
        7: "duplicate_conflict",
        8: "duplicate_conflict",
        9: "price_jump",
        11: "misaligned_ts",
    }
    assert [(g.missing, (g.after_ts - T0) // MINUTE) for g in report.gaps] == [(3, 1), (2, 5)]
    assert report.missing_bars == 5


def test_a_row_breaking_several_rules_lists_every_reason() -> None:
    cols = walk(5)
    cols["high"][2] = -1.0  # non-positive and below low
    cols["volume"][2] = -3.0
    cols["ts"][2] += 7  # misaligned
    report = DataValidator("1m").validate(cols)
    assert report.reasons == ("non_positive_price,negative_volume,ohlc_order,misaligned_ts",)


def test_every_rule_has_a_message_and_stable_code() -> None:
    assert set(REJECT_CODES) <= set(RULES)
    assert all(RULES[code] for code in RULES)
    assert DataValidator("1m").validate(walk(3)).counts.keys() == RULES.keys()


# -- property tests, one per rule --------------------------------------------------------------
sizes = st.integers(min_value=3, max_value=60)
seeds = st.integers(min_value=0, max_value=10_000)


def _faulty(n: int, seed: int, where: int, column: str, value: float) -> dict[str, np.ndarray]:
    cols = walk(n, seed)
    cols[column][where % n] = value
    return cols


def _assert_rejected_for(cols: dict[str, np.ndarray], row: int, code: str) -> None:
    report = DataValidator("1m").validate(cols)
    reasons = dict(zip(report.rejected.source_row.tolist(), report.reasons, strict=True))
    assert code in reasons[row].split(",")
    assert report.counts[code] >= 1
    assert report.n_accepted + report.n_rejected + report.merged_duplicates == report.rows_read


def _plant_ohlc_violation(cols: dict[str, np.ndarray], row: int, kind: str, by: float) -> None:
    """Break ``low <= open, close <= high`` at ``row`` in the way ``kind`` names."""
    lo, hi = cols["low"][row], cols["high"][row]
    if kind == "high_below_low":
        cols["high"][row] = lo * (1.0 - by)
    elif kind in ("open_above_high", "close_above_high"):
        cols[kind.split("_")[0]][row] = hi * (1.0 + by)
    else:  # open_below_low, close_below_low
        cols[kind.split("_")[0]][row] = lo * (1.0 - by)


OHLC_KINDS = ["high_below_low", "open_above_high", "open_below_low", "close_above_high",
              "close_below_low"]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    sizes,
    seeds,
    st.lists(st.tuples(st.integers(0, 100), st.sampled_from(OHLC_KINDS)), min_size=1, max_size=6),
    st.floats(1e-6, 0.5),
)
def test_property_ohlc_order(n: int, seed: int, plants: list[tuple[int, str]], by: float) -> None:
    """Every kind of violation, alone or together: exactly the planted rows are ohlc_order."""
    cols = walk(n, seed)
    planted = {}
    for where, kind in plants:
        planted[where % n] = kind
    for row, kind in planted.items():
        _plant_ohlc_violation(cols, row, kind, by)
    o, h, lo, c = (cols[k] for k in ("open", "high", "low", "close"))
    broken = {int(i) for i in np.flatnonzero((lo > o) | (lo > c) | (h < o) | (h < c) | (lo > h))}
    assert broken == set(planted)  # the planting itself is right (independent of NEO)
    report = DataValidator("1m").validate(cols)
    flagged = {
        int(r)
        for r, why in zip(report.rejected.source_row, report.reasons, strict=True)
        if "ohlc_order" in why.split(",")
    }
    assert flagged == set(planted) and report.counts["ohlc_order"] == len(planted)
    assert report.n_accepted + report.n_rejected + report.merged_duplicates == report.rows_read


@settings(max_examples=40, deadline=None)
@given(
    sizes,
    seeds,
    st.integers(0, 100),
    st.sampled_from(["open", "high", "low", "close"]),
    st.floats(-1e6, 0.0),
)
def test_property_non_positive_price(n: int, seed: int, where: int, column: str, v: float) -> None:
    _assert_rejected_for(_faulty(n, seed, where, column, v), where % n, "non_positive_price")


@settings(max_examples=40, deadline=None)
@given(
    sizes,
    seeds,
    st.integers(0, 100),
    st.sampled_from(["open", "high", "low", "close", "volume"]),
    st.sampled_from([math.nan, math.inf, -math.inf]),
)
def test_property_non_finite(n: int, seed: int, where: int, column: str, v: float) -> None:
    _assert_rejected_for(_faulty(n, seed, where, column, v), where % n, "non_finite")


@settings(max_examples=40, deadline=None)
@given(sizes, seeds, st.integers(0, 100), st.floats(-1e9, -1e-9))
def test_property_negative_volume(n: int, seed: int, where: int, v: float) -> None:
    _assert_rejected_for(_faulty(n, seed, where, "volume", v), where % n, "negative_volume")


@settings(max_examples=40, deadline=None)
@given(sizes, seeds, st.integers(0, 100), st.integers(1, MINUTE - 1))
def test_property_misaligned_ts(n: int, seed: int, where: int, offset: int) -> None:
    cols = walk(n, seed)
    cols["ts"][where % n] += offset
    _assert_rejected_for(cols, where % n, "misaligned_ts")


def _fewest_moves(values: list[int]) -> int:
    """Oracle: the fewest rows to move so the rest is in order, by the O(n^2) longest
    non-decreasing subsequence DP (a different algorithm from the validator's)."""
    best = [1] * len(values)
    for i in range(len(values)):
        for j in range(i):
            if values[j] <= values[i]:
                best[i] = max(best[i], best[j] + 1)
    return len(values) - max(best, default=0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=40), seeds)
def test_property_unsorted_input_is_sorted(minutes: list[int], seed: int) -> None:
    """Any order, with duplicates: the accepted rows are ``sorted()`` of the input's distinct
    bars, nothing is lost, and ``unsorted`` is the fewest rows that had to move."""
    base = walk(31, seed)
    rows = np.asarray(minutes)
    cols = {k: v[rows] for k, v in base.items()}  # repeated minutes are identical bars
    report = DataValidator("1m").validate(cols)
    assert report.n_accepted + report.n_rejected + report.merged_duplicates == len(minutes)
    assert report.n_rejected == 0
    expected = sorted(set(int(t) for t in cols["ts"]))
    assert report.accepted.ts.tolist() == expected
    by_ts = {int(t): float(c) for t, c in zip(cols["ts"], cols["close"], strict=True)}
    assert report.accepted.close.tolist() == [by_ts[t] for t in expected]
    assert report.counts["unsorted"] == _fewest_moves(minutes)


def test_unsorted_counts_one_stray_row_once() -> None:
    cols = walk(10)
    late_first = {k: np.concatenate((v[[9]], v[:9])) for k, v in cols.items()}
    early_last = {k: np.concatenate((v[1:], v[[0]])) for k, v in cols.items()}
    for shuffled in (late_first, early_last):
        report = DataValidator("1m").validate(shuffled)
        assert report.counts["unsorted"] == 1 and report.n_accepted == 10
    reversed_ = {k: v[::-1].copy() for k, v in cols.items()}
    assert DataValidator("1m").validate(reversed_).counts["unsorted"] == 9


@settings(max_examples=40, deadline=None)
@given(sizes, seeds, st.lists(st.integers(0, 100), min_size=1, max_size=5))
def test_property_identical_duplicates_are_merged(n: int, seed: int, copies: list[int]) -> None:
    cols = walk(n, seed)
    rows = [c % n for c in copies]
    dup = {k: np.concatenate((v, v[rows])) for k, v in cols.items()}
    report = DataValidator("1m").validate(dup)
    assert report.merged_duplicates == len(rows) == report.counts["duplicate_identical"]
    assert report.n_rejected == 0
    np.testing.assert_array_equal(report.accepted.close, cols["close"])


@settings(max_examples=40, deadline=None)
@given(sizes, seeds, st.integers(0, 100), st.floats(1e-6, 0.01))
def test_property_conflicting_duplicates_are_rejected(
    n: int, seed: int, where: int, bump: float
) -> None:
    cols = walk(n, seed)
    row = where % n
    extra = {k: v[[row]].copy() for k, v in cols.items()}
    extra["volume"] *= 1.0 + bump
    report = DataValidator("1m").validate({k: np.concatenate((cols[k], extra[k])) for k in cols})
    assert report.counts["duplicate_conflict"] == 2
    assert sorted(report.rejected.source_row.tolist()) == [row, n]
    assert report.n_accepted == n - 1


def _jump_reference(close: list[float], limit: float, confirm: bool) -> list[bool]:
    """Plain-Python statement of the jump rule: a close beyond ``limit`` from the last accepted
    close is rejected, unless (with ``confirm``) the next close agrees with it within
    ``limit``: then the move is real and the bar is kept as the new reference."""
    out: list[bool] = []
    ref: float | None = None
    for i, price in enumerate(close):
        if ref is None or abs(price / ref - 1) <= limit:
            out.append(False)
            ref = price
            continue
        nxt = close[i + 1] if i + 1 < len(close) else None
        if confirm and nxt is not None and abs(nxt / price - 1) <= limit:
            out.append(False)
            ref = price
        else:
            out.append(True)
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.5, 2.0), min_size=1, max_size=80), st.booleans())
def test_property_price_jump_matches_reference(factors: list[float], confirm: bool) -> None:
    close = np.cumprod(np.asarray(factors)) * 100.0
    expected = _jump_reference(close.tolist(), 0.1, confirm)
    assert jump_mask(close, 0.1, math.nan, confirm).tolist() == expected


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.8, 1.25), min_size=1, max_size=60),
    st.booleans(),
    st.sampled_from(["1m", "1d"]),
    st.one_of(st.none(), st.floats(50.0, 200.0)),
)
def test_property_price_jump_through_the_validator(
    factors: list[float], confirm: bool, timeframe: str, prev_close: float | None
) -> None:
    """Whole bars through DataValidator: the rows rejected as price_jump are exactly what the
    plain-Python rule says for the closes, with the timeframe's limit and the stored close."""
    close = np.cumprod(np.asarray(factors)) * 100.0
    n = len(close)
    tf = Timeframe.parse(timeframe)
    cols = {
        "ts": T0 + np.arange(n, dtype=np.int64) * tf.nanos,
        "open": close.copy(), "high": close * 1.001, "low": close * 0.999, "close": close,
        "volume": np.ones(n),
    }  # fmt: skip
    config = ValidationConfig(jump_confirmation=confirm)
    report = DataValidator(timeframe, config).validate(cols, prev_close=prev_close)
    limit = config.jump_limit(timeframe)
    reference_input = close.tolist() if prev_close is None else [prev_close, *close.tolist()]
    expected = _jump_reference(reference_input, limit, confirm)[0 if prev_close is None else 1 :]
    jumped = [
        int(r)
        for r, why in zip(report.rejected.source_row, report.reasons, strict=True)
        if why == "price_jump"
    ]
    assert jumped == [i for i, bad in enumerate(expected) if bad]
    assert report.counts["price_jump"] == sum(expected) == report.n_rejected
    assert report.n_accepted == n - sum(expected)


def test_price_jump_uses_previous_close_and_confirmation() -> None:
    spike = np.array([100.0, 115.0, 101.0, 102.0])
    assert jump_mask(spike, 0.1, math.nan, True).tolist() == [False, True, False, False]
    level = np.array([100.0, 130.0, 131.0, 132.0])
    assert jump_mask(level, 0.1, math.nan, True).tolist() == [False, False, False, False]
    assert jump_mask(level, 0.1, math.nan, False).tolist() == [False, True, True, True]
    assert jump_mask(np.array([150.0]), 0.1, 100.0, False).tolist() == [True]


def _robust_z_reference(x: np.ndarray, window: int) -> np.ndarray:
    z = np.full(len(x), np.nan)
    for i in range(window, len(x)):
        past = x[i - window : i]
        median = np.median(past)
        mad = np.median(np.abs(past - median))
        if mad > 0:
            z[i] = (x[i] - median) / (1.4826 * mad)
    return z


@settings(max_examples=40, deadline=None)
@given(seeds, st.integers(5, 12), st.floats(1.5, 6.0))
def test_property_rolling_zscore_matches_numpy(seed: int, window: int, threshold: float) -> None:
    x = np.random.default_rng(seed).standard_t(3, 200)
    fast = rolling_robust_zscore(x, window, threshold)
    slow = _robust_z_reference(x, window)
    flagged = np.abs(np.nan_to_num(slow)) > threshold
    np.testing.assert_array_equal(np.abs(np.nan_to_num(fast)) > threshold, flagged)
    np.testing.assert_allclose(fast[flagged], slow[flagged])


def test_return_zscore_warns_and_keeps_the_row() -> None:
    cols = walk(120, seed=3, step=0.001)
    cols["close"][100] = cols["close"][99] * 1.05  # 5 %: far beyond the MAD, below the jump
    cols["high"][100] = cols["close"][100] * 1.001
    report = DataValidator("1m").validate(cols)
    assert report.n_accepted == 120
    assert report.counts["return_zscore"] >= 1
    assert int(cols["ts"][100]) in {w.ts for w in report.warnings}
    assert all(w.code == "return_zscore" for w in report.warnings)


@settings(max_examples=40, deadline=None)
@given(st.integers(10, 60), seeds, st.sets(st.integers(1, 58), max_size=10))
def test_property_gaps_are_reported(n: int, seed: int, drop: set[int]) -> None:
    interior = sorted(d for d in drop if d < n - 1)
    keep = np.setdiff1d(np.arange(n), interior)
    cols = {k: v[keep] for k, v in walk(n, seed).items()}
    report = DataValidator("1m").validate(cols)
    runs = sum(1 for i, d in enumerate(interior) if i == 0 or interior[i - 1] != d - 1)
    assert report.counts["gap"] == runs == len(report.gaps)
    assert report.missing_bars == len(interior)


messy_floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(0.5, 2.0))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 20), messy_floats, messy_floats, messy_floats, messy_floats, messy_floats
        ),
        min_size=1,
        max_size=40,
    )
)
def test_property_nothing_is_lost_and_accepted_rows_are_clean(
    rows: list[tuple[float, ...]],
) -> None:
    data = np.asarray(rows, dtype=np.float64)
    cols = {
        "ts": T0 + data[:, 0].astype(np.int64) * MINUTE,
        **{k: data[:, i + 1] for i, k in enumerate(["open", "high", "low", "close", "volume"])},
    }
    report = DataValidator("1m").validate(cols)
    assert report.n_accepted + report.n_rejected + report.merged_duplicates == len(rows)
    a = report.accepted
    assert np.all(np.diff(a.ts) > 0)
    assert np.all(np.isfinite(a.close)) and np.all(a.low > 0) and np.all(a.volume >= 0)
    assert np.all((a.low <= np.minimum(a.open, a.close)) & (a.high >= np.maximum(a.open, a.close)))
    assert len(report.reasons) == report.n_rejected and all(report.reasons)


@settings(max_examples=25, deadline=None)
@given(st.integers(60, 150), seeds, st.integers(0, 59), st.floats(0.5, 2.0))
def test_no_look_ahead_future_rows_never_change_past_decisions(
    n: int, seed: int, cut: int, scale: float
) -> None:
    cols = walk(n, seed)
    cols["close"][cut + 5 :: 7] *= 1.3  # some future jumps and anomalies
    future = {k: v.copy() for k, v in cols.items()}
    for k in ("open", "high", "low", "close"):
        future[k][cut + 1 :] *= scale
    future["volume"][cut + 1 :: 3] = -1.0
    config = ValidationConfig(zscore_window=10, zscore_threshold=3.0)

    def past(report_cols: dict[str, np.ndarray]) -> tuple[object, ...]:
        report = DataValidator("1m", config).validate(report_cols)
        limit = T0 + cut * MINUTE
        return (
            report.accepted.ts[report.accepted.ts <= limit].tolist(),
            [w.ts for w in report.warnings if w.ts <= limit],
        )

    assert past(cols) == past(future)


def test_inputs_batch_frame_mapping_and_errors() -> None:
    cols = walk(10)
    batch = batch_of(cols)
    frame = batch.to_pandas()
    for data in (batch, frame, cols, frame.reset_index()):
        assert DataValidator("1m").validate(data).n_accepted == 10
    text = pd.DataFrame(
        {
            "ts": ["2024-01-01T00:00:00Z", "garbage"],
            "open": [1, 1],
            "high": [1, 1],
            "low": [1, 1],
            "close": [1, "x"],
            "volume": [1, 1],
        }
    )
    report = DataValidator("1m").validate(text)
    assert report.reasons == ("invalid_ts,non_finite",)
    with pytest.raises(DataFormatError, match="missing"):
        as_raw_bars({"ts": [1]})
    with pytest.raises(DataFormatError, match="lacks columns"):
        as_raw_bars(pd.DataFrame({"ts": [1]}))
    with pytest.raises(DataFormatError, match="cannot validate"):
        as_raw_bars([1, 2, 3])
    with pytest.raises(DataFormatError, match="equal length"):
        RawBars.from_arrays([1, 2], [1.0], [1.0], [1.0], [1.0], [1.0])
    assert as_raw_bars(as_raw_bars(cols)) is not None


def test_report_helpers_and_prev_close() -> None:
    cols = walk(5)
    spike = {k: v.copy() for k, v in cols.items()}
    spike["close"][0] = spike["high"][0] = cols["close"][0] * 1.5  # off the level, then back
    prev = cols["close"][0]
    report = DataValidator(Timeframe.parse("1m")).validate(spike, prev_close=prev)
    assert report.counts["price_jump"] == 1 and report.summary()["rejected"] == 1
    # the whole frame at another level than the stored close: a real move, kept with a warning
    moved = DataValidator(Timeframe.parse("1m")).validate(cols, prev_close=prev * 2)
    assert moved.counts["price_jump_confirmed"] == 1 and moved.n_rejected == 0
    assert report.accepted_batch(BTC).instrument == BTC
    assert DataValidator("1d").max_jump == 0.25 and DataValidator("1m").max_jump == 0.10
    empty = DataValidator("1m").validate({k: v[:0] for k, v in cols.items()})
    assert empty.rows_read == 0 and empty.gaps == ()


steps_strategy = st.one_of(
    st.tuples(st.just("move"), st.floats(0.85, 1.18)),  # the level moves
    st.tuples(st.just("spike"), st.sampled_from([1.5, 0.6])),  # one bar off the level
    st.tuples(st.just("value"), st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -1.0])),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(steps_strategy, min_size=1, max_size=80), st.floats(0.05, 0.3), st.booleans())
def test_property_check_price_series(
    steps: list[tuple[str, float]], max_jump: float, confirm: bool
) -> None:
    """Each position lands in the code a plain statement of the rules gives it: non-finite,
    non-positive, a jump from the last good price (with confirmation), or kept."""
    prices, level = [], 100.0
    for kind, x in steps:
        if kind == "move":
            level *= x
        prices.append(level if kind == "move" else level * x if kind == "spike" else x)
    values = np.asarray(prices)
    config = ValidationConfig(jump_confirmation=confirm, zscore_threshold=1e9)
    report = check_price_series(values, max_jump=max_jump, config=config)
    non_finite = [i for i, p in enumerate(prices) if not math.isfinite(p)]
    non_positive = [i for i, p in enumerate(prices) if math.isfinite(p) and p <= 0]
    good = [i for i in range(len(prices)) if i not in non_finite and i not in non_positive]
    flags = _jump_reference([prices[i] for i in good], max_jump, confirm)
    jumps = [i for i, bad in zip(good, flags, strict=True) if bad]
    assert report.bad_positions["non_finite"] == tuple(non_finite)
    assert report.bad_positions["non_positive_price"] == tuple(non_positive)
    assert report.bad_positions["price_jump"] == tuple(jumps)
    assert report.counts["return_zscore"] == 0  # threshold out of reach
    assert report.length == len(prices)
    assert report.ok == (not non_finite and not non_positive and not jumps)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=60), seeds)
def test_property_invalid_ts_rejects_exactly_the_unreadable_rows(
    readable: list[bool], seed: int
) -> None:
    """Rows whose timestamp could not be read are rejected as invalid_ts, whatever their
    values; every other row is judged as if those rows were not there."""
    n = len(readable)
    cols = walk(n, seed)
    valid = np.asarray(readable)
    raw = RawBars.from_arrays(
        np.where(valid, cols["ts"], np.iinfo(np.int64).min),
        *(cols[k] for k in ("open", "high", "low", "close", "volume")),
        ts_valid=valid,
    )
    report = DataValidator("1m").validate(raw)
    bad = {int(r) for r, why in zip(report.rejected.source_row, report.reasons, strict=True)
           if why == "invalid_ts"}  # fmt: skip
    assert bad == {i for i, ok in enumerate(readable) if not ok}
    assert report.counts["invalid_ts"] == n - sum(readable) == report.n_rejected
    assert report.accepted.ts.tolist() == [
        int(t) for t, ok in zip(cols["ts"], readable, strict=True) if ok
    ]
    assert report.counts["unsorted"] == 0


def test_check_price_series() -> None:
    prices = np.array([100.0, 101.0, math.nan, -3.0, 130.0, 102.0, 103.0])
    report = check_price_series(prices)
    assert report.counts["non_finite"] == 1 and report.bad_positions["non_finite"] == (2,)
    assert report.bad_positions["non_positive_price"] == (3,)
    assert report.bad_positions["price_jump"] == (4,)
    assert not report.ok
    assert check_price_series(100.0 * np.exp(np.linspace(0, 0.5, 300))).ok
    with pytest.raises(DataFormatError):
        check_price_series(np.ones((2, 2)))
