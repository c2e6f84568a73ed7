"""(5) Strategies: the versioned contract, the context they speak through, and the shipped ones.

Names are imported on first use, so reading settings (``neo.strategies.config``) stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neo.strategies.base import Param, Strategy, StrategyInfo, param
    from neo.strategies.context import StrategyContext
    from neo.strategies.registry import (
        create_strategy,
        find_strategy,
        list_strategies,
        parse_params,
    )
    from neo.strategies.rule import RuleStrategy, Values, indicator
    from neo.strategies.signals import crossover, crossunder

_WHERE = {
    "Param": "neo.strategies.base",
    "RuleStrategy": "neo.strategies.rule",
    "Strategy": "neo.strategies.base",
    "StrategyContext": "neo.strategies.context",
    "StrategyInfo": "neo.strategies.base",
    "Values": "neo.strategies.rule",
    "create_strategy": "neo.strategies.registry",
    "crossover": "neo.strategies.signals",
    "crossunder": "neo.strategies.signals",
    "find_strategy": "neo.strategies.registry",
    "indicator": "neo.strategies.rule",
    "list_strategies": "neo.strategies.registry",
    "param": "neo.strategies.base",
    "parse_params": "neo.strategies.registry",
}

__all__ = [
    "Param",
    "RuleStrategy",
    "Strategy",
    "StrategyContext",
    "StrategyInfo",
    "Values",
    "create_strategy",
    "crossover",
    "crossunder",
    "find_strategy",
    "indicator",
    "list_strategies",
    "param",
    "parse_params",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'neo.strategies' has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)
