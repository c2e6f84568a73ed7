from __future__ import annotations

import pytest

from neo.domain.errors import StrategyError
from neo.strategies import Param, create_strategy, list_strategies, parse_params
from neo.strategies.moving_average import SmaCross


def test_shipped_strategies_are_listed_with_typed_defaults() -> None:
    infos = {info.name: info.to_dict() for info in list_strategies()}
    assert set(infos) == {"sma_cross", "ema_cross", "rsi_reversion", "hybrid"}
    sma = infos["sma_cross"]["params"]
    assert sma["fast"] == {
        "type": "int",
        "default": 10,
        "optional": False,
        "minimum": 1,
        "maximum": 10_000_000,
        "help": "fast average period (bars)",
    }
    assert sma["size"]["default"] == "equity" and "kelly:K" in sma["size"]["help"]
    assert infos["rsi_reversion"]["params"]["lower"]["type"] == "float"
    assert all(info["version"] and info["source"] == "builtin" for info in infos.values())
    assert all(info["vector_form"] for info in infos.values())


def test_params_from_the_command_line_are_coerced() -> None:
    strategy = create_strategy("sma_cross", parse_params(["fast=5", "slow=30", "size=none"]))
    assert strategy.param_values() == {"fast": 5, "slow": 30, "size": "equity"}
    assert isinstance(strategy, SmaCross)
    rsi = create_strategy("rsi_reversion", {"allow_short": "no", "size": "2.5", "period": "7.0"})
    assert rsi.param_values()["allow_short"] is False
    assert rsi.param_values()["size"] == "units:2.5"
    assert rsi.param_values()["period"] == 7


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("nope", {}, "unknown strategy 'nope'"),
        ("sma_cross", {"fast": "x"}, "'x' is not a valid int"),
        ("sma_cross", {"fast": "1.5"}, "not a valid int"),
        ("sma_cross", {"speed": 3}, "has no parameter"),
        ("sma_cross", {"fast": 30, "slow": 20}, "must be shorter"),
        ("sma_cross", {"fast": 0}, "must be >= 1"),
        ("sma_cross", {"fast": "none"}, "needs a int value"),
        ("rsi_reversion", {"lower": 60}, "lower < 50 < upper"),
        ("rsi_reversion", {"allow_short": "maybe"}, "not a valid bool"),
        ("hybrid", {"threshold": "inf"}, "not a valid float"),
        ("hybrid", {"size": "fraction:1.5"}, r"must be in \(0, 1\]"),
        ("sma_cross", {"size": "lots:3"}, "unknown sizing 'lots'"),
    ],
)
def test_bad_parameters_say_what_to_fix(name: str, params: dict[str, object], message: str) -> None:
    with pytest.raises(StrategyError, match=message):
        create_strategy(name, params)


def test_param_strings_and_bad_pairs() -> None:
    assert Param(str, "a").coerce("x", 5) == "5"
    assert Param(bool, True).coerce("x", False) is False
    with pytest.raises(StrategyError, match="name=value"):
        parse_params(["fast"])
