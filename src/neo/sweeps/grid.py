"""The parameter space of a sweep: ``--grid k=v1,v2`` values, ranges, and their product.

``fast=5,10,20`` lists values; ``fast=5:50:5`` is a range (start, stop inclusive, step) that
expands to every value on the grid and, for ``--optuna``, is a search interval (step kept).
Values are checked against the strategy's declared parameters before anything runs, and
combinations the strategy refuses (e.g. ``fast >= slow``) are left out of the grid and counted.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from neo.domain.errors import ConfigError, NeoError, StrategyError
from neo.strategies.base import Strategy
from neo.strategies.registry import strategy_classes

MAX_CONFIGS = 1_000_000
"""More combinations than this is a typo in a range, not a study."""


@dataclass(frozen=True, slots=True)
class Axis:
    """One swept parameter: its values in order, and the interval when given as a range."""

    name: str
    values: tuple[Any, ...]
    low: float | None = None
    high: float | None = None
    step: float | None = None

    @property
    def is_range(self) -> bool:
        return self.low is not None


def strategy_class(name: str) -> type[Strategy]:
    classes = strategy_classes()
    if name not in classes:
        raise StrategyError(
            f"unknown strategy {name!r}: choose one of {', '.join(classes)} "
            "(see `neo strategies list`)"
        )
    return classes[name]


def parse_axis(text: str, strategy: type[Strategy]) -> Axis:
    """One ``--grid`` value, coerced by the strategy's parameter types."""
    name, sep, spec = text.partition("=")
    name = name.strip()
    if not sep or not name or not spec.strip():
        raise ConfigError(f"--grid {text!r}: write it as name=v1,v2 or name=start:stop:step")
    known = strategy.info().params
    param = known.get(name)
    if param is None:
        raise ConfigError(
            f"--grid {text!r}: {strategy.name} has no parameter {name!r}; its parameters are "
            f"{', '.join(known) or 'none'}"
        )
    if ":" in spec and param.type in (int, float):
        return _range_axis(name, spec, text, param.type)
    values = tuple(param.coerce(name, v.strip()) for v in spec.split(",") if v.strip())
    if name == "size":  # every strategy's sizing spec (units:N, fraction:F, …): check it now
        from neo.risk.sizing import parse_sizing

        try:
            values = tuple(str(parse_sizing(value)) for value in values)
        except NeoError as exc:
            raise ConfigError(f"--grid {text!r}: {exc}") from None
    return Axis(name, tuple(dict.fromkeys(values)))


def _range_axis(name: str, spec: str, text: str, kind: type) -> Axis:
    parts = spec.split(":")
    if len(parts) not in (2, 3) or kind not in (int, float):
        raise ConfigError(f"--grid {text!r}: a range is start:stop[:step] of a numeric parameter")
    try:
        low, high = float(parts[0]), float(parts[1])
        step = float(parts[2]) if len(parts) == 3 else 1.0
    except ValueError:
        raise ConfigError(f"--grid {text!r}: start, stop and step must be numbers") from None
    if step <= 0 or high < low:
        raise ConfigError(f"--grid {text!r}: need start <= stop and step > 0")
    count = int((high - low) / step + 1e-9) + 1
    if count > MAX_CONFIGS:
        raise ConfigError(f"--grid {text!r}: {count:,} values is too many")
    values = tuple(kind(round(low + k * step, 12)) for k in range(count))
    return Axis(name, values, low, high, step)


def parse_grid(texts: Sequence[str], strategy: type[Strategy]) -> list[Axis]:
    axes = [parse_axis(text, strategy) for text in texts]
    names = [axis.name for axis in axes]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"--grid names {', '.join(duplicated)} more than once: give it once")
    return axes


def expand(
    axes: Sequence[Axis], strategy: type[Strategy], fixed: Mapping[str, Any] | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Every valid combination (the strategy accepts it) and how many were refused."""
    total = 1
    for axis in axes:
        total *= max(1, len(axis.values))
    if total > MAX_CONFIGS:
        raise ConfigError(f"the grid has {total:,} combinations: narrow a --grid range")
    names = [axis.name for axis in axes]
    configs: list[dict[str, Any]] = []
    refused = 0
    for values in itertools.product(*(axis.values for axis in axes)):
        params = {**dict(fixed or {}), **dict(zip(names, values, strict=True))}
        full = full_params(strategy, params)
        if full is None:
            refused += 1
        else:
            configs.append(full)
    if not configs:
        raise ConfigError(
            f"no combination of the grid is valid for {strategy.name} ({refused} refused, e.g. "
            "fast must be shorter than slow): check the --grid values"
        )
    return configs, refused


def is_valid(strategy: type[Strategy], params: Mapping[str, Any]) -> bool:
    return full_params(strategy, params) is not None


def full_params(strategy: type[Strategy], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """Every parameter of ``strategy`` with ``params`` applied, coerced to its type (None
    when the strategy refuses the combination)."""
    try:
        return strategy(**dict(params)).param_values()
    except StrategyError:
        return None


def work_order(configs: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices of ``configs`` sorted so neighbours share the most-varied parameter's value:
    chunks of neighbours then reuse each other's indicators (one slow SMA serves every fast
    one). Parameters with more distinct values sort first."""
    if not configs:
        return []
    names = list(configs[0])
    spread = {n: len({repr(c.get(n)) for c in configs}) for n in names}
    keys = sorted(names, key=lambda n: -spread[n])
    return sorted(
        range(len(configs)), key=lambda i: tuple(_sortable(configs[i].get(k)) for k in keys)
    )


def _sortable(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value))
