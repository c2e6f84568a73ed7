"""The strategy contract is checked when a class is defined or loaded, not by never trading."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import numpy as np
import pytest

from neo.domain.errors import StrategyError
from neo.engine.backtest import run_backtest
from neo.engine.loop import strategy_instances
from neo.strategies import Strategy, StrategyContext, crossover, crossunder, param
from neo.strategies.registry import check_class
from tests.unit.engine.bars import walk


class Typed(Strategy):
    fast: int = param(10, minimum=2, maximum=500, help="fast window")
    ratio: float = 1.5
    level: float | None = param(None, help="optional level")
    short: bool = param(True)
    label: str = "x"
    _private: int = 3

    def on_bar(self, ctx: StrategyContext) -> None:
        pass


def test_parameters_are_declared_once_as_typed_attributes() -> None:
    params = Typed.info().to_dict()["params"]
    assert list(params) == ["fast", "ratio", "level", "short", "label", "size"]
    assert params["fast"] == {
        "type": "int",
        "default": 10,
        "optional": False,
        "minimum": 2,
        "maximum": 500,
        "help": "fast window",
    }
    assert params["ratio"]["type"] == "float" and params["ratio"]["default"] == 1.5
    assert params["level"]["optional"] is True and params["short"]["type"] == "bool"
    strategy = Typed(fast="12", level="none", short="no")
    assert (strategy.fast, strategy.level, strategy.short, strategy.ratio) == (12, None, False, 1.5)
    assert Typed.name == "Typed"  # the class name unless it says otherwise
    with pytest.raises(StrategyError, match="must be >= 2"):
        Typed(fast=1)


def test_a_params_mapping_or_an_unsupported_type_fails_at_definition() -> None:
    from neo.strategies.base import Param

    with pytest.raises(StrategyError, match="declare parameters once"):

        class Twice(Strategy):
            params: ClassVar[Any] = {"fast": Param(int, 3)}

    with pytest.raises(StrategyError, match="int, float, bool or str"):

        class Listy(Strategy):
            windows: list[int] = param([1, 2])


def test_a_strategy_without_on_bar_fails_at_load() -> None:
    class NoBar(Strategy):
        pass

    with pytest.raises(StrategyError, match="does not define on_bar"):
        check_class(NoBar, "my.py:NoBar")
    with pytest.raises(TypeError):
        NoBar()  # type: ignore[abstract]
    with pytest.raises(StrategyError, match="not a strategy"):
        check_class(dict, "my.py:dict")


class Thresholded(Strategy):
    """A custom __init__ with its own argument and state; every instrument needs its own."""

    window: int = param(5, minimum=2)

    def __init__(self, scale: float = 1.0, **params: Any) -> None:
        super().__init__(**params)
        self.scale = scale
        self.seen: list[float] = []

    def on_bar(self, ctx: StrategyContext) -> None:
        self.seen.append(ctx.close[ctx.i])
        if ctx.i == self.window:
            ctx.target_position(self.scale)


def test_a_custom_init_works_in_multi_instrument_runs() -> None:
    """Fails on the old engine: it made further instances with ``type(s)(**param_values())``,
    losing ``scale`` (and breaking any __init__ with a required argument)."""
    a, b = walk(40, seed=1, symbol="AAA/USD"), walk(40, seed=2, symbol="BBB/USD")
    strategy = Thresholded(3.0, window=7)
    result = run_backtest(strategy, {a.instrument: a, b.instrument: b})
    assert {f.instrument: f.quantity for f in result.fills} == {
        a.instrument: 3.0,
        b.instrument: 3.0,
    }
    clone = strategy.clone()
    assert isinstance(clone, Thresholded) and clone.scale == 3.0 and clone.window == 7
    assert clone.seen == [] and strategy.seen  # its own state, not a shared list


def test_every_instrument_gets_its_own_instance() -> None:
    from neo.engine.loop import get_autonomous_trading_loop

    loop = get_autonomous_trading_loop(Thresholded(2.0), symbols=["A/USD", "B/USD"])
    first, second = strategy_instances(loop).values()
    assert first is not second and second.scale == 2.0  # type: ignore[attr-defined]


def test_crossover_helpers_follow_backtesting_py() -> None:
    fast = np.array([1.0, 2.0, 4.0, 3.0, 1.0])
    slow = np.array([3.0, 3.0, 3.0, 3.0, 3.0])
    assert [crossover(fast, slow, i) for i in range(5)] == [False, False, True, False, False]
    assert [crossunder(fast, slow, i) for i in range(5)] == [False, False, False, False, False]
    assert crossunder(fast, 2.5, 4) and crossover(fast[:3], slow[:3])  # a level; the last bar
    assert not crossover(fast, slow, 3)  # touching is not crossing (strict, as backtesting.py)


def test_a_rule_is_evaluated_the_same_on_floats_and_arrays() -> None:
    from neo.strategies import RuleStrategy, Values, indicator
    from neo.strategies.indicators import sma
    from neo.strategies.rule import Rule

    class Band(RuleStrategy):
        window: int = param(5, minimum=2)

        def inputs(self) -> dict[str, Any]:
            return {"mean": indicator(sma, self.window), "low": indicator(sma, 3, source="low")}

        def rule(self, now: Values, before: Values) -> Rule:
            return ((now.close > now.mean * 1.001, 1.0), (now.close < now.low, -1.0), (True, 0.0))

    batch = walk(300, seed=5)
    strategy = Band()
    vector = strategy.vector_targets(batch)
    assert vector is not None
    close, low = np.asarray(batch.close), np.asarray(batch.low)
    for i in (10, 77, 150, 299):
        mean = float(np.mean(close[i - 4 : i + 1]))
        now = {"close": close[i], "mean": mean, "low": float(np.mean(low[i - 2 : i + 1]))}
        assert strategy.evaluate(now) == pytest.approx(vector[i])
    result = run_backtest(Band(size="units:1"), batch)
    from neo.engine.fast import fast_backtest

    assert fast_backtest(Band(size="units:1"), batch).trades == result.trades


def test_a_rule_written_with_and_or_says_how_to_fix_it() -> None:
    from neo.strategies import RuleStrategy, Values
    from neo.strategies.rule import Rule

    class Wrong(RuleStrategy):
        def rule(self, now: Values, before: Values) -> Rule:
            return ((now.close > 1 and now.close < 1e9, 1.0),)

    with pytest.raises(StrategyError, match=re.escape("combine conditions with & and |")):
        Wrong().vector_targets(walk(20))
    with pytest.raises(StrategyError, match="reads 'nope'"):
        Values(close=1.0).nope  # noqa: B018


def test_parameters_annotated_with_real_types() -> None:
    from neo.strategies.base import _annotation_type

    assert _annotation_type("X", "a", int) == (int, False)
    assert _annotation_type("X", "a", float | None) == (float, True)
    assert _annotation_type("X", "a", "Optional[bool]") == (bool, True)
    with pytest.raises(StrategyError, match="int, float, bool or str"):
        _annotation_type("X", "a", list)


def test_size_is_reserved_and_clone_survives_without_captured_arguments() -> None:
    with pytest.raises(StrategyError, match="default_size"):

        class Sized(Strategy):
            size: str = "equity"

    strategy = Typed(fast=20)
    del strategy._init_args
    assert strategy.clone().fast == 20  # type: ignore[attr-defined]
