"""What an allocation may look like: bounds per asset, leverage, budget and turnover."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neo.domain.bar import FloatArray
from neo.domain.errors import ConfigError

Bound = float | tuple[float, ...]


@dataclass(frozen=True, kw_only=True)
class Constraints:
    """Limits every allocator honours.

    Weights are fractions of equity, signed (negative = short). ``budget`` is the net weight
    the fully-invested allocators aim for (1.0 = all equity invested, long); the
    risk-seeking ones (target volatility, Kelly) may invest less and only respect
    ``max_net_leverage``. ``min_weight``/``max_weight`` are one bound for every asset or one
    per asset; under ``long_only`` a negative lower bound is raised to 0. ``max_turnover``
    bounds ``sum |w - previous|`` per rebalance.
    """

    long_only: bool = True
    min_weight: Bound = 0.0
    max_weight: Bound = 1.0
    budget: float = 1.0
    max_gross_leverage: float = 1.0
    max_net_leverage: float = 1.0
    max_turnover: float | None = None

    def __post_init__(self) -> None:
        if not self.max_gross_leverage > 0:
            raise ConfigError(f"max_gross_leverage must be > 0, got {self.max_gross_leverage}")
        if not 0 <= self.max_net_leverage <= self.max_gross_leverage:
            raise ConfigError(
                "max_net_leverage must be in [0, max_gross_leverage], got "
                f"{self.max_net_leverage} with gross {self.max_gross_leverage}"
            )
        if abs(self.budget) > self.max_net_leverage + 1e-12:
            raise ConfigError(
                f"budget {self.budget} exceeds max_net_leverage {self.max_net_leverage}: "
                "lower the budget or raise the leverage limit"
            )
        if self.long_only and self.budget < 0:
            raise ConfigError("a long-only portfolio needs budget >= 0")
        if self.max_turnover is not None and not self.max_turnover > 0:
            raise ConfigError(f"max_turnover must be > 0 when set, got {self.max_turnover}")

    def bounds(self, n_assets: int) -> tuple[FloatArray, FloatArray]:
        """Per-asset lower and upper weight bounds, checked for this number of assets."""
        lower = _expand(self.min_weight, n_assets, "min_weight")
        upper = _expand(self.max_weight, n_assets, "max_weight")
        if self.long_only:
            lower = np.maximum(lower, 0.0)
        if (lower > upper).any():
            raise ConfigError("min_weight exceeds max_weight for some asset: widen the bounds")
        if not lower.sum() <= self.budget <= upper.sum():
            raise ConfigError(
                f"weights bounded by [{lower.sum():g}, {upper.sum():g}] in total cannot add up "
                f"to the budget {self.budget:g} over {n_assets} assets: widen min/max_weight"
            )
        return lower, upper

    def violations(
        self, weights: FloatArray, previous: FloatArray | None = None, tol: float = 1e-6
    ) -> list[str]:
        """Names of the limits ``weights`` breaks (empty when all hold); budget not included."""
        w = np.asarray(weights, dtype=np.float64)
        lower, upper = self.bounds(w.shape[0])
        broken: list[str] = []
        if (w < lower - tol).any():
            broken.append("min_weight")
        if (w > upper + tol).any():
            broken.append("max_weight")
        if np.abs(w).sum() > self.max_gross_leverage + tol:
            broken.append("max_gross_leverage")
        if abs(w.sum()) > self.max_net_leverage + tol:
            broken.append("max_net_leverage")
        if (
            self.max_turnover is not None
            and previous is not None
            and np.abs(w - previous).sum() > self.max_turnover + tol
        ):
            broken.append("max_turnover")
        return broken


def _expand(bound: Bound, n_assets: int, name: str) -> FloatArray:
    if isinstance(bound, tuple):
        if len(bound) != n_assets:
            raise ConfigError(f"{name} has {len(bound)} values for {n_assets} assets")
        return np.asarray(bound, dtype=np.float64)
    return np.full(n_assets, float(bound))


def limit_turnover(
    weights: FloatArray, previous: FloatArray | None, max_turnover: float | None
) -> FloatArray:
    """Move from ``previous`` toward ``weights`` only as far as the turnover limit allows.

    The result is a convex combination of two allocations, so any linear limit both satisfy
    (bounds, leverage) still holds.
    """
    if previous is None or max_turnover is None:
        return weights
    step = weights - previous
    turnover = float(np.abs(step).sum())
    if turnover <= max_turnover:
        return weights
    blended: FloatArray = previous + step * (max_turnover / turnover)
    return blended


def fit_to_bounds(
    weights: FloatArray, lower: FloatArray, upper: FloatArray, budget: float
) -> FloatArray:
    """Non-negative weights rescaled to ``budget`` with the excess over a cap spread pro rata.

    Used for the closed-form allocators (inverse volatility, HRP and risk parity scaled to a
    budget) whose raw output may break the bounds; water-filling keeps their ranking.
    """
    w = np.clip(weights, lower, upper)
    for _ in range(4 * len(w) + 4):
        gap = budget - w.sum()
        if abs(gap) <= 1e-12:
            break
        free = (w < upper - 1e-15) if gap > 0 else (w > lower + 1e-15)
        if not free.any():
            break
        base = np.where(free, np.maximum(weights, 1e-12), 0.0)
        w = np.clip(w + gap * base / base.sum(), lower, upper)
    return w
