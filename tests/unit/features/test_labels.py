"""Labels checked against hand-computed values; each reports when it becomes known."""

from __future__ import annotations

import numpy as np
import pytest

from neo.domain import BarBatch, ConfigError, InstrumentId, Timeframe
from neo.features import LabelSpec, forward_return, sign_label, triple_barrier

CLOSE = np.array([100.0, 101.0, 100.5, 102.0, 99.0, 99.0])


def test_forward_return_and_sign() -> None:
    fr = forward_return(CLOSE, 2)
    np.testing.assert_allclose(
        fr[:4], [100.5 / 100 - 1, 102 / 101 - 1, 99 / 100.5 - 1, 99 / 102 - 1]
    )
    assert np.isnan(fr[4:]).all()
    np.testing.assert_array_equal(sign_label(CLOSE, 1, 0.0)[:5], [1, 0, 1, 0, np.nan])
    dz = sign_label(CLOSE, 1, dead_zone=0.006)  # +1 %, -0.495 %, +1.49 %, -2.9 %, 0
    np.testing.assert_array_equal(dz, [1, np.nan, 1, 0, np.nan, np.nan])
    assert np.isnan(forward_return(CLOSE[:2], 3)).all()


def test_label_argument_errors() -> None:
    with pytest.raises(ConfigError, match="horizon"):
        forward_return(CLOSE, 0)
    with pytest.raises(ConfigError, match="dead zone"):
        sign_label(CLOSE, 1, -0.1)
    with pytest.raises(ConfigError, match="tp > 0"):
        triple_barrier(CLOSE, CLOSE, CLOSE, 0.0, 0.1, 3)
    with pytest.raises(ConfigError, match="unknown label"):
        LabelSpec(kind="median")  # type: ignore[arg-type]


def test_triple_barrier_by_hand() -> None:
    close = np.array([100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0])
    high = np.array([100.0, 100.5, 102.5, 100.0, 100.0, 100.0, 100.0])
    low = np.array([100.0, 99.5, 99.9, 97.0, 100.0, 100.0, 100.0])
    out = triple_barrier(high, low, close, tp=0.02, sl=0.02, timeout=2)
    # t=0: bar 2 reaches 102.5 >= 102 -> +1 at 2; t=1: same; t=2: bar 3 low 97 <= 98 -> -1 at 3
    # t=3: nothing in bars 4-5 -> timeout 0 at 5; t=4: timeout at 6; t=5, 6: unknown
    np.testing.assert_array_equal(out.label, [1, 1, -1, 0, 0, np.nan, np.nan])
    np.testing.assert_array_equal(out.end, [2, 2, 3, 5, 6, -1, -1])
    np.testing.assert_allclose(out.ret[:5], [0.02, 0.02, -0.02, 0.0, 0.0])
    both = triple_barrier([100, 103], [100, 97], [100, 100], tp=0.02, sl=0.02, timeout=1)
    assert both.label[0] == -1  # both barriers in one bar: the stop is assumed first


def _batch(close: np.ndarray) -> BarBatch:
    n = len(close)
    return BarBatch.from_arrays(
        InstrumentId("sim", "A/B"), Timeframe.parse("1h"), ts=np.arange(n) * 3_600_000_000_000,
        open=close, high=close * 1.001, low=close * 0.999, close=close, volume=np.ones(n),
    )  # fmt: skip


def test_label_spec_compute() -> None:
    batch = _batch(CLOSE)
    sign = LabelSpec(kind="sign", horizon=1).compute(batch)
    assert LabelSpec().task == "classification"
    np.testing.assert_array_equal(sign.end, [1, 2, 3, 4, 5, -1])
    np.testing.assert_array_equal(sign.target[:5], [1, 0, 1, 0, np.nan])
    reg = LabelSpec(kind="forward_return", horizon=2).compute(batch)
    assert LabelSpec(kind="forward_return").task == "regression"
    np.testing.assert_array_equal(reg.target, forward_return(CLOSE, 2))
    np.testing.assert_array_equal(reg.end, [2, 3, 4, 5, -1, -1])
    tb = LabelSpec(kind="triple_barrier", horizon=2, take_profit=0.01, stop_loss=0.02)
    labels = tb.compute(batch)
    # t=0: 101 * 1.001 >= 101 -> up at 1; t=2: bar 3 high 102.1 >= 101.5 -> up; t=3: stop
    assert labels.target[0] == 1.0 and labels.end[0] == 1
    assert labels.target[2] == 1.0 and labels.target[3] == 0.0 and labels.end[3] == 4


def test_triple_barrier_timeouts_dropped_or_labelled_by_sign() -> None:
    close = np.array([100.0, 100.5, 101.0, 100.2, 99.5, 99.6])
    batch = _batch(close)  # barriers 5 % away: every decided bar times out
    spec = {"kind": "triple_barrier", "horizon": 2, "take_profit": 0.05, "stop_loss": 0.05}
    dropped = LabelSpec(**spec).compute(batch)  # type: ignore[arg-type]
    assert np.isnan(dropped.target).all()
    signed = LabelSpec(**spec, barrier_timeout="sign").compute(batch)  # type: ignore[arg-type]
    # returns at the timeout: 101/100 > 0, 100.2/100.5 < 0, 99.5/101 < 0, 99.6/100.2 < 0
    np.testing.assert_array_equal(signed.target, [1.0, 0.0, 0.0, 0.0, np.nan, np.nan])
    np.testing.assert_array_equal(signed.end, [2, 3, 4, 5, -1, -1])  # known at the timeout
    with pytest.raises(ConfigError, match="barrier_timeout"):
        LabelSpec(barrier_timeout="zero")  # type: ignore[arg-type]
