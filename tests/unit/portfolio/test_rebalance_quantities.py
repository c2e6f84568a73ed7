from __future__ import annotations

import math

import numpy as np
import pytest

from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.portfolio import create_policy
from neo.portfolio.quantities import weight_to_quantity, weights_to_quantities
from neo.portfolio.rebalance import DriftBand, EveryK, OnSignalChange, RebalanceState


def state(bar: int, last_bar: int | None = None, **kw: object) -> RebalanceState:
    values: dict[str, object] = {
        "forecasts": None,
        "last_forecasts": None,
        "weights_now": np.zeros(2),
        "last_target": None,
    }
    values.update(kw)
    return RebalanceState(bar=bar, last_bar=last_bar, **values)  # type: ignore[arg-type]


def test_every_k() -> None:
    policy = EveryK(5)
    assert policy.due(state(3))
    assert not policy.due(state(7, last_bar=3))
    assert policy.due(state(8, last_bar=3))
    with pytest.raises(ConfigError):
        EveryK(0)


def test_on_signal_change() -> None:
    policy = OnSignalChange(threshold=0.1)
    last = np.array([0.5, -0.2])
    assert policy.due(state(1))
    assert not policy.due(state(2, 1, forecasts=np.array([0.55, -0.25]), last_forecasts=last))
    assert policy.due(state(2, 1, forecasts=np.array([0.7, -0.2]), last_forecasts=last))
    assert policy.due(state(2, 1, forecasts=np.array([0.5, 0.01]), last_forecasts=last))
    assert not policy.due(state(2, 1, forecasts=None, last_forecasts=last))
    assert policy.due(state(2, 1, forecasts=np.ones(3), last_forecasts=last))


def test_drift_band() -> None:
    policy = DriftBand(0.05)
    target = np.array([0.5, 0.5])
    assert policy.due(state(1))
    assert not policy.due(state(2, 1, weights_now=np.array([0.54, 0.46]), last_target=target))
    assert policy.due(state(2, 1, weights_now=np.array([0.56, 0.44]), last_target=target))
    with pytest.raises(ConfigError):
        DriftBand(0.0)


def test_create_policy() -> None:
    assert create_policy("every_k", k=3) == EveryK(3)
    assert create_policy("on_signal_change", threshold=0.2) == OnSignalChange(0.2)
    assert create_policy("drift_band", band=0.1) == DriftBand(0.1)
    with pytest.raises(ConfigError, match="unknown rebalance"):
        create_policy("weekly")


def test_quantities_round_toward_zero_and_drop_dust() -> None:
    btc = Instrument.simple("BTC/USDT", lot_size=0.001, min_notional=10.0)
    # 0.25 × 10_000 / 30_000 = 0.08333… → 0.083 (never overshoots)
    assert weight_to_quantity(0.25, 10_000.0, 30_000.0, btc) == 0.083
    assert weight_to_quantity(-0.25, 10_000.0, 30_000.0, btc) == -0.083
    assert weight_to_quantity(0.0009, 10_000.0, 30_000.0, btc) == 0.0  # 9 < min notional 10
    big = Instrument.simple("ES/USD", lot_size=1.0, min_quantity=2.0, contract_multiplier=50.0)
    # 0.5 × 1_000_000 / (4_000 × 50) = 2.5 contracts → 2
    assert weight_to_quantity(0.5, 1_000_000.0, 4_000.0, big) == 2.0
    assert weight_to_quantity(0.3, 1_000_000.0, 4_000.0, big) == 0.0  # 1 < min quantity 2
    assert weight_to_quantity(0.3, 1_000.0, 4.0, None) == pytest.approx(75.0)
    with pytest.raises(ConfigError, match="price"):
        weight_to_quantity(0.1, 1.0, math.nan, btc)


def test_weights_to_quantities_mapping() -> None:
    a, b = InstrumentId("sim", "A/USD"), InstrumentId("sim", "B/USD")
    lots = {a: Instrument.simple("A/USD", lot_size=1.0)}
    result = weights_to_quantities([0.5, 0.5], [a, b], 1_000.0, [3.0, 3.0], lots)
    assert result == {a: 166.0, b: pytest.approx(500 / 3)}
    with pytest.raises(ConfigError, match="same length"):
        weights_to_quantities([0.5], [a, b], 1.0, [1.0, 1.0], lots)
