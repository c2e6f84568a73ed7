"""(5) Strategies: the versioned contract, the context they speak through, and the shipped ones.

Names are imported on first use, so reading settings (``neo.strategies.config``) stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neo.strategies.base import Param, Strategy, StrategyInfo
    from neo.strategies.context import StrategyContext
    from neo.strategies.registry import create_strategy, list_strategies, parse_params

_WHERE = {
    "Param": "neo.strategies.base",
    "Strategy": "neo.strategies.base",
    "StrategyContext": "neo.strategies.context",
    "StrategyInfo": "neo.strategies.base",
    "create_strategy": "neo.strategies.registry",
    "list_strategies": "neo.strategies.registry",
    "parse_params": "neo.strategies.registry",
}

__all__ = [
    "Param",
    "Strategy",
    "StrategyContext",
    "StrategyInfo",
    "create_strategy",
    "list_strategies",
    "parse_params",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'neo.strategies' has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)
