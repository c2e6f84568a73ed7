"""Allocators: from returns (and optionally forecasts) to target weights under constraints.

Every allocator is built on skfolio (EqualWeighted, InverseVolatility, MeanRisk, RiskBudgeting,
HierarchicalRiskParity); cvxpy fills what skfolio lacks: a total-turnover limit, an l1 gross
leverage limit for problems skfolio does not homogenise, and fractional Kelly. The covariance
is estimated once (see :mod:`neo.portfolio.covariance`) and handed to skfolio as a fixed prior,
so every allocator sees exactly the same risk model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import cvxpy
import numpy as np
from skfolio.measures import RiskMeasure
from skfolio.moments import BaseCovariance, BaseMu
from skfolio.optimization import (
    EqualWeighted,
    HierarchicalRiskParity,
    InverseVolatility,
    MeanRisk,
    ObjectiveFunction,
    RiskBudgeting,
)
from skfolio.prior import EmpiricalPrior

from neo.domain.bar import FloatArray
from neo.domain.errors import ConfigError
from neo.logs import get_logger
from neo.portfolio.constraints import Constraints, fit_to_bounds, limit_turnover
from neo.portfolio.covariance import check_returns, estimate_covariance

log = get_logger("portfolio.allocators")
# cvxpy ships partial stubs that miss most atoms; treat the module as untyped.
cp: Any = cvxpy


class Allocator(Protocol):
    """Turns a window of returns into target weights (fractions of equity, signed)."""

    name: str

    def weights(
        self,
        returns: FloatArray,
        forecasts: FloatArray | None,
        constraints: Constraints,
        previous: FloatArray | None,
    ) -> FloatArray:
        """Weights for the N columns of ``returns`` (T×N, oldest row first).

        ``forecasts`` are expected per-bar returns (the sample mean is used when None);
        ``previous`` the weights held now, for the turnover limit.
        """
        ...


class _FixedMu(BaseMu):  # type: ignore[misc]
    """A skfolio mu estimator that returns the forecasts it was given."""

    def __init__(self, mu: FloatArray | None = None) -> None:
        self.mu = mu

    def fit(self, x: Any, y: Any = None) -> _FixedMu:
        self.mu_ = np.asarray(self.mu, dtype=np.float64)
        return self


class _FixedCovariance(BaseCovariance):  # type: ignore[misc]
    """A skfolio covariance estimator that returns the covariance it was given."""

    def __init__(self, covariance: FloatArray | None = None) -> None:
        super().__init__(nearest=False)
        self.covariance = covariance

    def fit(self, x: Any, y: Any = None) -> _FixedCovariance:
        self.covariance_ = np.asarray(self.covariance, dtype=np.float64)
        self.location_ = np.zeros(self.covariance_.shape[0])
        return self


class Moments:
    """Expected returns and covariance of one window, shared by the skfolio models."""

    def __init__(self, returns: FloatArray, forecasts: FloatArray | None, cov: FloatArray) -> None:
        self.returns = returns
        n_assets = returns.shape[1]
        if forecasts is None:
            self.mu: FloatArray = returns.mean(axis=0)
        else:
            self.mu = np.asarray(forecasts, dtype=np.float64).reshape(-1)
            if self.mu.shape[0] != n_assets or not np.isfinite(self.mu).all():
                raise ConfigError(
                    f"forecasts must be {n_assets} finite numbers, one per asset; got "
                    f"{self.mu.shape[0]}"
                )
        self.cov = cov

    def prior(self) -> EmpiricalPrior:
        return EmpiricalPrior(
            mu_estimator=_FixedMu(self.mu), covariance_estimator=_FixedCovariance(self.cov)
        )


class BaseAllocator:
    """Shared plumbing: covariance, input checks, turnover and clean-up of the result."""

    name = "base"

    def __init__(self, covariance: str = "sample", half_life: float = 40.0) -> None:
        self.covariance = covariance
        self.half_life = half_life

    def weights(
        self,
        returns: FloatArray,
        forecasts: FloatArray | None,
        constraints: Constraints,
        previous: FloatArray | None,
    ) -> FloatArray:
        matrix = check_returns(returns)
        n_assets = matrix.shape[1]
        if previous is not None:
            previous = np.asarray(previous, dtype=np.float64).reshape(-1)
            if previous.shape[0] != n_assets:
                raise ConfigError(f"previous weights: expected {n_assets}, got {len(previous)}")
        constraints.bounds(n_assets)  # fail early, with a clear message, on infeasible bounds
        cov = estimate_covariance(matrix, self.covariance, self.half_life)
        raw = self._solve(Moments(matrix, forecasts, cov), constraints, previous)
        if not np.isfinite(raw).all():
            raise ConfigError(f"{self.name}: the optimiser returned non-finite weights")
        final = limit_turnover(raw, previous, constraints.max_turnover)
        final[np.abs(final) < 1e-10] = 0.0
        return final

    def _solve(
        self, moments: Moments, constraints: Constraints, previous: FloatArray | None
    ) -> FloatArray:
        raise NotImplementedError


def _long_only_scaled(raw: FloatArray, constraints: Constraints, n_assets: int) -> FloatArray:
    lower, upper = constraints.bounds(n_assets)
    scale = min(constraints.budget, constraints.max_gross_leverage)
    return fit_to_bounds(np.maximum(raw, 0.0) * scale, lower, upper, scale)


class EqualWeightAllocator(BaseAllocator):
    name = "equal_weight"

    def _solve(
        self, moments: Moments, constraints: Constraints, previous: FloatArray | None
    ) -> FloatArray:
        model = EqualWeighted().fit(moments.returns)
        return _long_only_scaled(np.asarray(model.weights_), constraints, moments.cov.shape[0])


class InverseVolatilityAllocator(BaseAllocator):
    name = "inverse_volatility"

    def _solve(
        self, moments: Moments, constraints: Constraints, previous: FloatArray | None
    ) -> FloatArray:
        model = InverseVolatility(prior_estimator=moments.prior()).fit(moments.returns)
        return _long_only_scaled(np.asarray(model.weights_), constraints, moments.cov.shape[0])


class HRPAllocator(BaseAllocator):
    name = "hrp"

    def _solve(
        self, moments: Moments, constraints: Constraints, previous: FloatArray | None
    ) -> FloatArray:
        model = HierarchicalRiskParity(prior_estimator=moments.prior()).fit(moments.returns)
        return _long_only_scaled(np.asarray(model.weights_), constraints, moments.cov.shape[0])


class RiskParityAllocator(BaseAllocator):
    """Equal risk contributions (or ``risk_budget`` shares), long only by construction."""

    name = "risk_parity"

    def __init__(
        self,
        covariance: str = "sample",
        half_life: float = 40.0,
        risk_budget: tuple[float, ...] | None = None,
    ) -> None:
        super().__init__(covariance, half_life)
        self.risk_budget = risk_budget

    def _solve(
        self, moments: Moments, constraints: Constraints, previous: FloatArray | None
    ) -> FloatArray:
        budget = None if self.risk_budget is None else np.asarray(self.risk_budget, float)
        model = RiskBudgeting(
            risk_measure=RiskMeasure.VARIANCE,
            risk_budget=budget,
            prior_estimator=moments.prior(),
        ).fit(moments.returns)
        return _long_only_scaled(np.asarray(model.weights_), constraints, moments.cov.shape[0])


def _turnover_constraint(
    constraints: Constraints, previous: FloatArray | None, lower: FloatArray, upper: FloatArray
) -> Callable[[Any], list[Any]] | None:
    """A total-turnover cvxpy constraint when ``previous`` is itself a feasible point.

    From an infeasible start (e.g. all cash with a budget of 1) the solver could find no
    answer, so those cases fall back to :func:`limit_turnover` after the solve.
    """
    if constraints.max_turnover is None or previous is None:
        return None
    feasible = (
        abs(previous.sum() - constraints.budget) < 1e-9
        and (previous >= lower - 1e-12).all()
        and (previous <= upper + 1e-12).all()
        and np.abs(previous).sum() <= constraints.max_gross_leverage + 1e-12
    )
    if not feasible:
        return None
    limit = constraints.max_turnover
    return lambda w: [cp.norm1(w - previous) <= limit]


class MeanRiskAllocator(BaseAllocator):
    """Minimum variance (``objective='min_variance'``) or maximum Sharpe ratio."""

    def __init__(
        self, covariance: str = "sample", half_life: float = 40.0, *, objective: str
    ) -> None:
        super().__init__(covariance, half_life)
        self.name = objective

    def _solve(
        self, moments: Moments, constraints: Constraints, previous: FloatArray | None
    ) -> FloatArray:
        lower, upper = constraints.bounds(moments.cov.shape[0])
        gross, budget = constraints.max_gross_leverage, constraints.budget
        params: dict[str, Any] = {
            "risk_measure": RiskMeasure.VARIANCE,
            "prior_estimator": moments.prior(),
            "min_weights": lower,
            "max_weights": upper,
            "budget": budget,
        }
        if self.name == "max_sharpe":
            if not (moments.mu > 0).any():
                log.warning("max_sharpe: no positive expected return; using minimum variance")
            else:
                params["objective_function"] = ObjectiveFunction.MAXIMIZE_RATIO
        if (lower < 0).any():
            max_short = (gross - budget) / 2.0
            if max_short <= 1e-12:  # no room for shorts: gross leverage == budget
                params["min_weights"] = np.maximum(lower, 0.0)
            else:
                params["max_long"] = (gross + budget) / 2.0
                params["max_short"] = max_short
        if "objective_function" not in params:
            params["add_constraints"] = _turnover_constraint(constraints, previous, lower, upper)
        model = MeanRisk(**params).fit(moments.returns)
        return np.asarray(model.weights_, dtype=np.float64)


def _risk_seeking_constraints(
    w: Any, constraints: Constraints, n_assets: int, previous: FloatArray | None
) -> list[Any]:
    """Bounds, leverage and turnover for allocators that need not be fully invested."""
    lower, upper = _free_bounds(constraints, n_assets)
    limits: list[Any] = [
        w >= lower,
        w <= upper,
        cp.norm1(w) <= constraints.max_gross_leverage,
        cp.abs(cp.sum(w)) <= constraints.max_net_leverage,
    ]
    if constraints.max_turnover is not None and previous is not None:
        limits.append(cp.norm1(w - previous) <= constraints.max_turnover)
    return limits


def _free_bounds(constraints: Constraints, n_assets: int) -> tuple[FloatArray, FloatArray]:
    """Bounds without the budget equality (these allocators may hold cash), 0 always allowed."""
    lower = np.minimum(_as_array(constraints.min_weight, n_assets), 0.0)
    upper = np.maximum(_as_array(constraints.max_weight, n_assets), 0.0)
    if constraints.long_only:
        lower = np.zeros(n_assets)
    return lower, upper


def _as_array(bound: float | tuple[float, ...], n_assets: int) -> FloatArray:
    if isinstance(bound, tuple):
        return np.asarray(bound, dtype=np.float64)
    return np.full(n_assets, float(bound))


def _solve_cvxpy(problem: Any, w: Any, name: str) -> FloatArray:
    problem.solve(solver=cp.CLARABEL)
    if w.value is None or problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise ConfigError(f"{name}: no allocation satisfies the constraints ({problem.status})")
    return np.asarray(w.value, dtype=np.float64)


class TargetVolatilityAllocator(BaseAllocator):
    """Highest expected return whose volatility is at most ``target_vol``.

    ``target_vol`` is per bar unless ``periods_per_year`` is given, then it is annual.
    """

    name = "target_volatility"

    def __init__(
        self,
        covariance: str = "sample",
        half_life: float = 40.0,
        target_vol: float = 0.01,
        periods_per_year: float | None = None,
    ) -> None:
        super().__init__(covariance, half_life)
        if not target_vol > 0:
            raise ConfigError(f"target_volatility: target_vol must be > 0, got {target_vol}")
        per_bar = target_vol / math.sqrt(periods_per_year) if periods_per_year else target_vol
        self.target_vol = per_bar

    def _solve(
        self, moments: Moments, constraints: Constraints, previous: FloatArray | None
    ) -> FloatArray:
        n_assets = moments.cov.shape[0]
        lower, upper = _free_bounds(constraints, n_assets)
        model = MeanRisk(
            objective_function=ObjectiveFunction.MAXIMIZE_RETURN,
            risk_measure=RiskMeasure.VARIANCE,
            prior_estimator=moments.prior(),
            min_weights=lower,
            max_weights=upper,
            budget=None,
            min_budget=0.0 if constraints.long_only else -constraints.max_net_leverage,
            max_budget=constraints.max_net_leverage,
            max_standard_deviation=self.target_vol,
            add_constraints=lambda w: _risk_seeking_constraints(w, constraints, n_assets, previous),
        ).fit(moments.returns)
        return np.asarray(model.weights_, dtype=np.float64)


class KellyAllocator(BaseAllocator):
    """Fractional Kelly on the forecasts: maximise ``mu·w - w'Σw / (2 f)``.

    Unconstrained, the optimum is ``f · Σ⁻¹ μ`` (``f`` times the full Kelly growth-optimal
    weights); skfolio has no such objective, so it is written directly in cvxpy.
    """

    name = "kelly"

    def __init__(
        self, covariance: str = "sample", half_life: float = 40.0, fraction: float = 0.5
    ) -> None:
        super().__init__(covariance, half_life)
        if not 0 < fraction <= 1:
            raise ConfigError(f"kelly: fraction must be in (0, 1], got {fraction}")
        self.fraction = fraction

    def _solve(
        self, moments: Moments, constraints: Constraints, previous: FloatArray | None
    ) -> FloatArray:
        n_assets = moments.cov.shape[0]
        w = cp.Variable(n_assets)
        cov = cp.psd_wrap(moments.cov)
        growth = moments.mu @ w - cp.quad_form(w, cov) / (2.0 * self.fraction)
        problem = cp.Problem(
            cp.Maximize(growth), _risk_seeking_constraints(w, constraints, n_assets, previous)
        )
        return _solve_cvxpy(problem, w, self.name)


ALLOCATORS: dict[str, Callable[..., BaseAllocator]] = {
    "equal_weight": EqualWeightAllocator,
    "inverse_volatility": InverseVolatilityAllocator,
    "min_variance": lambda **p: MeanRiskAllocator(objective="min_variance", **p),
    "max_sharpe": lambda **p: MeanRiskAllocator(objective="max_sharpe", **p),
    "target_volatility": TargetVolatilityAllocator,
    "risk_parity": RiskParityAllocator,
    "hrp": HRPAllocator,
    "kelly": KellyAllocator,
}


def create_allocator(name: str, **params: Any) -> Allocator:
    """The allocator called ``name`` with its parameters.

    Every allocator takes ``covariance`` (``sample``, ``ewma``, ``ledoit_wolf``) and
    ``half_life``; ``target_volatility`` also ``target_vol`` and ``periods_per_year``;
    ``kelly`` ``fraction``; ``risk_parity`` ``risk_budget``.
    """
    factory = ALLOCATORS.get(name)
    if factory is None:
        raise ConfigError(f"unknown allocator {name!r}: use one of {', '.join(ALLOCATORS)}")
    try:
        return factory(**params)
    except TypeError as exc:
        raise ConfigError(f"allocator {name!r}: bad parameters {sorted(params)}: {exc}") from exc
