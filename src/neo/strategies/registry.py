"""Strategy lookup by name: what ``--strategy NAME`` and ``neo strategies list`` read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neo.domain.errors import StrategyError
from neo.strategies.base import Strategy, StrategyInfo
from neo.strategies.crossover import EmaCross, SmaCross
from neo.strategies.hybrid import Hybrid
from neo.strategies.rsi_reversion import RsiReversion

_BUILTIN: tuple[type[Strategy], ...] = (SmaCross, EmaCross, RsiReversion, Hybrid)


def strategy_classes() -> dict[str, type[Strategy]]:
    """Every shipped strategy by name (a fresh dict: callers may add their own)."""
    return {cls.name: cls for cls in _BUILTIN}


def list_strategies() -> list[StrategyInfo]:
    return [cls.info() for cls in _BUILTIN]


def create_strategy(name: str, params: Mapping[str, Any] | None = None) -> Strategy:
    """A strategy instance with validated parameters (strings are coerced: ``fast="12"``)."""
    classes = strategy_classes()
    if name not in classes:
        raise StrategyError(
            f"unknown strategy {name!r}: choose one of {', '.join(classes)} "
            "(see `neo strategies list`)"
        )
    return classes[name](**dict(params or {}))


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    """``["fast=10", "size=none"]`` → ``{"fast": "10", "size": "none"}``."""
    result: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise StrategyError(f"--param {pair!r}: write it as name=value, e.g. --param fast=10")
        result[key.strip()] = value.strip()
    return result
