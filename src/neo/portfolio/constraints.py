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


class Box:
    """The limits every output of one allocator must satisfy (the budget is a target, not a
    bound): per-asset ``lower``/``upper``, ``sum |w| <= gross``, ``|sum w| <= net``."""

    def __init__(self, lower: FloatArray, upper: FloatArray, gross: float, net: float) -> None:
        self.lower, self.upper, self.gross, self.net = lower, upper, gross, net
        self.centre = np.clip(np.zeros(len(lower)), lower, upper)
        """The point of the box nearest to cash: the smallest gross and net it allows."""
        if not self.holds(self.centre):
            raise ConfigError(
                f"min_weight forces a gross exposure of {np.abs(self.centre).sum():g} above "
                f"max_gross_leverage {gross:g} (or max_net_leverage {net:g}): loosen them"
            )

    def holds(self, w: FloatArray, tol: float = 1e-9) -> bool:
        return bool(
            (w >= self.lower - tol).all()
            and (w <= self.upper + tol).all()
            and np.abs(w).sum() <= self.gross + tol
            and abs(w.sum()) <= self.net + tol
        )

    def anchor(self, previous: FloatArray) -> FloatArray:
        """``previous`` when it satisfies the box, else a nearby point that does: clipped to
        the bounds, then pulled toward :attr:`centre` just enough for gross and net."""
        if self.holds(previous):
            return previous
        clipped = np.clip(previous, self.lower, self.upper)
        if self.holds(clipped):
            return clipped
        low, high = 0.0, 1.0  # share of the way from the centre to the clipped point
        for _ in range(60):
            mid = (low + high) / 2.0
            if self.holds(self.centre + (clipped - self.centre) * mid):
                low = mid
            else:
                high = mid
        anchored: FloatArray = self.centre + (clipped - self.centre) * low
        return anchored


def turnover_room(
    previous: FloatArray, box: Box, max_turnover: float
) -> tuple[FloatArray, float, float]:
    """Where a turnover-limited move starts and how far it may go.

    Returns ``(anchor, spent, limit)``: the feasible start (:meth:`Box.anchor`), the turnover
    already spent reaching it from ``previous`` (0 when ``previous`` is feasible), and the
    turnover allowed in total, ``max(max_turnover, spent)``. Holdings that drifted out of the
    bounds (e.g. 0.8 under a 0.5 cap) must be brought back whatever the turnover limit says:
    the bounds always win, and the limit is exceeded only by what that restoring costs.
    """
    anchor = box.anchor(previous)
    spent = float(np.abs(anchor - previous).sum())
    return anchor, spent, max(max_turnover, spent)


def limit_turnover(
    weights: FloatArray,
    previous: FloatArray | None,
    max_turnover: float | None,
    box: Box | None = None,
) -> FloatArray:
    """Move from ``previous`` toward ``weights`` only as far as the turnover limit allows.

    With a ``box`` the move starts at the feasible anchor of ``previous`` (see
    :func:`turnover_room`), so the result is a convex combination of two points of the box and
    satisfies every bound even when ``previous`` did not. Without one, ``previous`` is assumed
    feasible.
    """
    if previous is None or max_turnover is None:
        return weights
    anchor, spent = previous, 0.0
    if box is not None:
        anchor, spent, _ = turnover_room(previous, box, max_turnover)
    step = weights - anchor
    size = float(np.abs(step).sum())
    room = max(0.0, max_turnover - spent)
    if size <= room:
        return weights
    blended: FloatArray = anchor + step * (room / size)
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
