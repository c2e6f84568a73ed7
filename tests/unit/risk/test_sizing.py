from __future__ import annotations

import math

import pytest

from neo.domain.errors import ConfigError
from neo.domain.instrument import Instrument
from neo.risk.sizing import (
    atr_size,
    capped_kelly,
    fixed_fraction,
    kelly_fraction,
    volatility_target,
)

LOT = Instrument.simple("BTC/USDT", lot_size=0.01, min_notional=10.0)


def test_fixed_fraction() -> None:
    # 2 % of 50_000 = 1_000 at risk; 5 per unit to the stop → 200 units
    assert fixed_fraction(50_000.0, 100.0, 0.02, stop_distance=5.0) == pytest.approx(200.0)
    # without a stop: 1_000 of notional at 100 → 10 units
    assert fixed_fraction(50_000.0, 100.0, 0.02) == pytest.approx(10.0)
    assert fixed_fraction(50_000.0, 300.0, 0.02, instrument=LOT) == 3.33  # toward zero
    assert fixed_fraction(50_000.0, 100.0, 0.02, stop_distance=0.0) == 0.0
    assert fixed_fraction(math.nan, 100.0, 0.02) == 0.0
    with pytest.raises(ConfigError):
        fixed_fraction(1.0, 1.0, 1.5)


def test_volatility_target() -> None:
    # 10 % target on 20 % realised → half the equity: 50_000 / 250 = 200 units
    assert volatility_target(100_000.0, 250.0, 0.10, 0.20) == pytest.approx(200.0)
    # 10 % target on 1 % realised would be 10x: capped at 2x leverage
    assert volatility_target(100_000.0, 250.0, 0.10, 0.01, max_leverage=2.0) == pytest.approx(800.0)
    assert volatility_target(100_000.0, 250.0, 0.10, 0.0) == 0.0
    with pytest.raises(ConfigError):
        volatility_target(1.0, 1.0, 0.0, 0.1)


def test_atr_size() -> None:
    # lose 1 % of 20_000 = 200 over 2 ATRs of 4 → 25 units
    assert atr_size(20_000.0, 50.0, 4.0, 0.01, 2.0) == pytest.approx(25.0)
    assert atr_size(20_000.0, 50.0, math.inf, 0.01) == 0.0
    with pytest.raises(ConfigError):
        atr_size(1.0, 1.0, 1.0, 0.0)


def test_kelly() -> None:
    assert kelly_fraction(0.6, 1.0) == pytest.approx(0.2)
    assert kelly_fraction(0.5, 2.0) == pytest.approx(0.25)
    # half Kelly of 0.2 = 0.1 of 10_000 at 20 → 50 units
    assert capped_kelly(10_000.0, 20.0, 0.6, 1.0) == pytest.approx(50.0)
    # full Kelly 0.25 capped at 0.05
    assert capped_kelly(10_000.0, 20.0, 0.5, 2.0, fraction=1.0, cap=0.05) == pytest.approx(25.0)
    assert capped_kelly(10_000.0, 20.0, 0.3, 1.0) == 0.0  # negative edge: no bet
    assert capped_kelly(10_000.0, 0.0, 0.6, 1.0) == 0.0
    with pytest.raises(ConfigError):
        kelly_fraction(1.2, 1.0)
    with pytest.raises(ConfigError):
        capped_kelly(1.0, 1.0, 0.5, 1.0, cap=2.0)


def test_min_notional_drops_dust() -> None:
    assert fixed_fraction(1_000.0, 100.0, 0.005, instrument=LOT) == 0.0  # 5 < min notional 10


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "equity"),
        ("none", "equity"),
        ("ALL", "equity"),
        (5, "units:5"),
        ("2.5", "units:2.5"),
        ("units:10", "units:10"),
        ("fraction:0.5", "fraction:0.5"),
        ("vol:0.15", "vol:0.15"),
        ("atr:0.01:3", "atr:0.01:3"),
        ("kelly:0.5", "kelly:0.5"),
    ],
)
def test_the_sizing_grammar(text: object, expected: str) -> None:
    from neo.risk.sizing import parse_sizing

    sizing = parse_sizing(text)
    assert str(sizing) == expected and parse_sizing(sizing) is sizing


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (True, "write one of equity"),
        ("lots:3", "unknown sizing 'lots'"),
        ("kelly", "write kelly with its number, e.g. size=kelly:0.5"),
        ("vol:0.1:2", "write vol with its number"),
        ("atr:x", "'x' is not a number"),
        ("0", "must be > 0"),
        ("fraction:1.5", r"must be in \(0, 1\]"),
        ("atr:0.01:0", r"an ATR multiple must be > 0"),
        ("kelly:0.5:2", r"a cap on the share of equity must be in \(0, 1\]"),
    ],
)
def test_bad_sizing_says_how_to_write_it(text: object, message: str) -> None:
    from neo.risk.sizing import parse_sizing

    with pytest.raises(ConfigError, match=message):
        parse_sizing(text)


def test_forecast_kelly_and_fill_time_estimates() -> None:
    from neo.risk.sizing import forecast_kelly, parse_sizing

    # half Kelly of a 0.1 % expected return with 2 % volatility: 0.5 × 0.001 / 0.0004 = 1.25 → cap
    assert forecast_kelly(10_000.0, 100.0, 0.001, 0.02, 0.5, 0.25) == pytest.approx(25.0)
    assert forecast_kelly(10_000.0, 100.0, 0.0001, 0.02, 0.5, 0.25) == pytest.approx(12.5)
    assert forecast_kelly(10_000.0, 100.0, -0.001, 0.02) == 0.0
    assert forecast_kelly(10_000.0, 100.0, math.nan, 0.02) == 0.0
    with pytest.raises(ConfigError):
        forecast_kelly(1.0, 1.0, 0.1, 0.1, fraction=2.0)
    assert parse_sizing("fraction:0.5").units(equity=10_000.0, price=100.0) == pytest.approx(50.0)
    assert parse_sizing("units:3").units(equity=math.nan, price=100.0) == 3.0
