"""Allocators: from returns (and optionally forecasts) to target weights under constraints.

Every allocator is built on skfolio (EqualWeighted, InverseVolatility, MeanRisk, RiskBudgeting,
HierarchicalRiskParity); fractional Kelly is MeanRisk's utility objective with risk aversion
1/(2f). cvxpy expressions passed to skfolio (``add_constraints``) add what it lacks: a
*total*-turnover limit (skfolio's ``max_turnover`` bounds each asset's change, not the sum) and
an l1 gross-leverage limit where skfolio does not impose one. The covariance is estimated once
(see :mod:`neo.portfolio.covariance`) and handed to skfolio as a fixed prior, so every
allocator sees exactly the same risk model.

Turnover: the optimisers (minimum variance, max Sharpe, target volatility, Kelly) solve the
turnover-limited problem itself, with every bound as a constraint; max Sharpe in its
homogenised form (skfolio solves the ratio with ``y = κw``, so the limit becomes
``|y - κ·previous|₁ <= κ·T`` with ``κ = Σy / budget``). When no allocation of the budget lies
within the limit (e.g. all in cash with a budget of 1), and for the closed-form allocators
(equal weight, inverse volatility, risk parity, HRP), which have no objective to trade off
against turnover, the result moves from the holdings toward the unconstrained target along a
straight line (:func:`~neo.portfolio.constraints.limit_turnover`). Either way held weights that
drifted out of the bounds are first brought back inside (:class:`~neo.portfolio.constraints.Box`),
so every result satisfies every bound.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, Protocol

import cvxpy
import numpy as np
from skfolio.exceptions import OptimizationError
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
from neo.portfolio.constraints import Box, Constraints, fit_to_bounds, limit_turnover, turnover_room
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


Turnover = tuple[FloatArray, float] | None
"""``(previous, limit)`` for an optimiser to enforce ``|w - previous|₁ <= limit``, or None."""


class BaseAllocator:
    """Shared plumbing: covariance, input checks, turnover and clean-up of the result."""

    name = "base"

    def __init__(self, covariance: str = "sample", half_life: float = 40.0) -> None:
        self.covariance = covariance
        self.half_life = half_life

    def box(self, constraints: Constraints, n_assets: int) -> Box:
        """The bounds every result satisfies (the budget is a target, not a bound)."""
        lower, upper = constraints.bounds(n_assets)
        return Box(lower, upper, constraints.max_gross_leverage, constraints.max_net_leverage)

    def validate(self, constraints: Constraints, n_assets: int) -> None:
        """Raise ConfigError now if ``constraints`` can never be met for ``n_assets``."""
        self.box(constraints, n_assets)

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
        box = self.box(constraints, n_assets)  # fails early, clearly, on impossible bounds
        cov = estimate_covariance(matrix, self.covariance, self.half_life)
        turnover: Turnover = None
        if previous is not None and constraints.max_turnover is not None:
            turnover = previous, turnover_room(previous, box, constraints.max_turnover)[2]
        raw, enforced = self._solve(Moments(matrix, forecasts, cov), constraints, turnover)
        if not np.isfinite(raw).all():
            raise ConfigError(f"{self.name}: the optimiser returned non-finite weights")
        final = raw if enforced else limit_turnover(raw, previous, constraints.max_turnover, box)
        final = np.clip(final, box.lower, box.upper)  # solver tolerance only (~1e-9)
        final[np.abs(final) < 1e-10] = 0.0
        return final

    def _solve(
        self, moments: Moments, constraints: Constraints, turnover: Turnover
    ) -> tuple[FloatArray, bool]:
        """The allocation, and whether the turnover limit is already part of it."""
        raise NotImplementedError


def _long_only_scaled(raw: FloatArray, constraints: Constraints, n_assets: int) -> FloatArray:
    lower, upper = constraints.bounds(n_assets)
    scale = min(constraints.budget, constraints.max_gross_leverage)
    return fit_to_bounds(np.maximum(raw, 0.0) * scale, lower, upper, scale)


class EqualWeightAllocator(BaseAllocator):
    name = "equal_weight"

    def _solve(
        self, moments: Moments, constraints: Constraints, turnover: Turnover
    ) -> tuple[FloatArray, bool]:
        model = EqualWeighted().fit(moments.returns)
        weights = np.asarray(model.weights_)
        return _long_only_scaled(weights, constraints, moments.cov.shape[0]), False


class InverseVolatilityAllocator(BaseAllocator):
    name = "inverse_volatility"

    def _solve(
        self, moments: Moments, constraints: Constraints, turnover: Turnover
    ) -> tuple[FloatArray, bool]:
        model = InverseVolatility(prior_estimator=moments.prior()).fit(moments.returns)
        weights = np.asarray(model.weights_)
        return _long_only_scaled(weights, constraints, moments.cov.shape[0]), False


class HRPAllocator(BaseAllocator):
    name = "hrp"

    def _solve(
        self, moments: Moments, constraints: Constraints, turnover: Turnover
    ) -> tuple[FloatArray, bool]:
        model = HierarchicalRiskParity(prior_estimator=moments.prior()).fit(moments.returns)
        weights = np.asarray(model.weights_)
        return _long_only_scaled(weights, constraints, moments.cov.shape[0]), False


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
        self, moments: Moments, constraints: Constraints, turnover: Turnover
    ) -> tuple[FloatArray, bool]:
        budget = None if self.risk_budget is None else np.asarray(self.risk_budget, float)
        n_assets = moments.cov.shape[0]
        lower, upper = constraints.bounds(n_assets)
        scale = min(constraints.budget, constraints.max_gross_leverage)
        # The bounds go into skfolio's problem (risk budgeting among the assets they leave
        # free), as shares of the fully invested portfolio that is scaled to ``scale`` below.
        model = RiskBudgeting(
            risk_measure=RiskMeasure.VARIANCE,
            risk_budget=budget,
            prior_estimator=moments.prior(),
            min_weights=np.maximum(lower, 0.0) / scale,
            max_weights=np.minimum(upper / scale, 1.0),
        ).fit(moments.returns)
        weights = np.asarray(model.weights_)
        return _long_only_scaled(weights, constraints, n_assets), False


def _fit(params: dict[str, Any], returns: FloatArray) -> FloatArray:
    return np.asarray(MeanRisk(**params).fit(returns).weights_, dtype=np.float64)


def _fit_limited(
    params: dict[str, Any],
    returns: FloatArray,
    limits: Callable[[Any], list[Any]],
    other_constraints: Callable[[Any], list[Any]] | None = None,
) -> tuple[FloatArray, bool]:
    """Solve with the turnover ``limits`` (and ``other_constraints``); when no allocation meets
    them, solve without the turnover limit and let the caller step toward that (returns False)."""
    both = limits if other_constraints is None else (lambda w: [*other_constraints(w), *limits(w)])
    try:
        return _fit({**params, "add_constraints": both}, returns), True
    except (OptimizationError, cvxpy.SolverError):
        log.info("no allocation within the turnover limit; stepping toward the optimum")
        return _fit({**params, "add_constraints": other_constraints}, returns), False


def _best_return(
    mu: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    constraints: Constraints,
    turnover: Turnover,
) -> float:
    """Highest expected return of a fully invested allocation within the limits (an LP)."""
    if not (mu > 0).any():
        return 0.0
    w = cp.Variable(len(mu))
    limits = [
        w >= lower,
        w <= upper,
        cp.sum(w) == constraints.budget,
        cp.norm1(w) <= constraints.max_gross_leverage,
    ]
    best = _maximum(cp.Problem(cp.Maximize(mu @ w), limits))
    if turnover is not None:  # the ratio is solved within the turnover limit when it can be
        limited = _maximum(
            cp.Problem(cp.Maximize(mu @ w), [*limits, cp.norm1(w - turnover[0]) <= turnover[1]])
        )
        best = best if limited is None else limited
    return 0.0 if best is None else best


def _maximum(problem: Any) -> float | None:
    """The optimal value, or None when the solver finds none (CLARABEL: HiGHS would print a
    banner on stdout, which must hold only the CLI's JSON)."""
    try:
        with warnings.catch_warnings():  # an inaccurate optimum is fine for this yes/no test
            warnings.simplefilter("ignore", UserWarning)
            problem.solve(solver=cp.CLARABEL)
    except cvxpy.SolverError:
        return None
    value = problem.value
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or value is None:
        return None
    return float(value) if math.isfinite(value) else None


class MeanRiskAllocator(BaseAllocator):
    """Minimum variance (``objective='min_variance'``) or maximum Sharpe ratio."""

    def __init__(
        self, covariance: str = "sample", half_life: float = 40.0, *, objective: str
    ) -> None:
        super().__init__(covariance, half_life)
        self.name = objective

    def _solve(
        self, moments: Moments, constraints: Constraints, turnover: Turnover
    ) -> tuple[FloatArray, bool]:
        lower, upper = constraints.bounds(moments.cov.shape[0])
        gross, budget = constraints.max_gross_leverage, constraints.budget
        params: dict[str, Any] = {
            "risk_measure": RiskMeasure.VARIANCE,
            "prior_estimator": moments.prior(),
            "min_weights": lower,
            "max_weights": upper,
            "budget": budget,
        }
        ratio = False
        if self.name == "max_sharpe":
            if _best_return(moments.mu, lower, upper, constraints, turnover) <= 1e-12:
                log.warning(
                    "max_sharpe: no allocation within the limits has a positive expected "
                    "return (the ratio is undefined); using minimum variance"
                )
            else:
                params["objective_function"] = ObjectiveFunction.MAXIMIZE_RATIO
                ratio = True
        if (lower < 0).any():
            max_short = (gross - budget) / 2.0
            if max_short <= 1e-12:  # no room for shorts: gross leverage == budget
                params["min_weights"] = np.maximum(lower, 0.0)
            else:
                params["max_long"] = (gross + budget) / 2.0
                params["max_short"] = max_short
        if turnover is None or (ratio and budget <= 0):
            return _fit(params, moments.returns), False
        previous, limit = turnover
        if ratio:  # homogenised: y = κw with κ = Σy / budget (see the module docstring)

            def limits(y: Any) -> list[Any]:
                kappa = cp.sum(y) / budget
                return [cp.norm1(y - previous * kappa) <= limit * kappa]

        else:

            def limits(y: Any) -> list[Any]:
                return [cp.norm1(y - previous) <= limit]

        return _fit_limited(params, moments.returns, limits)


def _risk_seeking_constraints(w: Any, constraints: Constraints) -> list[Any]:
    """Gross and net leverage for allocators that need not be fully invested."""
    return [
        cp.norm1(w) <= constraints.max_gross_leverage,
        cp.abs(cp.sum(w)) <= constraints.max_net_leverage,
    ]


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


class _RiskSeeking(BaseAllocator):
    """Allocators that may hold cash: free bounds, gross and net leverage, turnover in the
    solver (always feasible: the box's anchor of the holdings is within the limit)."""

    def box(self, constraints: Constraints, n_assets: int) -> Box:
        constraints.bounds(n_assets)
        lower, upper = _free_bounds(constraints, n_assets)
        return Box(lower, upper, constraints.max_gross_leverage, constraints.max_net_leverage)

    def _params(self, moments: Moments, constraints: Constraints) -> dict[str, Any]:
        lower, upper = _free_bounds(constraints, moments.cov.shape[0])
        return {
            "risk_measure": RiskMeasure.VARIANCE,
            "prior_estimator": moments.prior(),
            "min_weights": lower,
            "max_weights": upper,
            "budget": None,
            "min_budget": 0.0 if constraints.long_only else -constraints.max_net_leverage,
            "max_budget": constraints.max_net_leverage,
        }

    def _fit_with(
        self, params: dict[str, Any], moments: Moments, constraints: Constraints, turnover: Turnover
    ) -> tuple[FloatArray, bool]:
        def leverage(w: Any) -> list[Any]:
            return _risk_seeking_constraints(w, constraints)

        if turnover is None:
            return _fit({**params, "add_constraints": leverage}, moments.returns), False
        previous, limit = turnover

        def limits(w: Any) -> list[Any]:
            return [cp.norm1(w - previous) <= limit]

        return _fit_limited(params, moments.returns, limits, leverage)


class TargetVolatilityAllocator(_RiskSeeking):
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
        self, moments: Moments, constraints: Constraints, turnover: Turnover
    ) -> tuple[FloatArray, bool]:
        params = self._params(moments, constraints)
        params["objective_function"] = ObjectiveFunction.MAXIMIZE_RETURN
        params["max_standard_deviation"] = self.target_vol
        return self._fit_with(params, moments, constraints, turnover)


class KellyAllocator(_RiskSeeking):
    """Fractional Kelly on the forecasts: maximise ``mu·w - w'Σw / (2 f)``.

    That is skfolio's mean-variance utility ``mu·w - λ w'Σw`` with ``λ = 1 / (2 f)``.
    Unconstrained, the optimum is ``f · Σ⁻¹ μ`` (``f`` times the full Kelly growth-optimal
    weights); the tests check it against that closed form and against an independent cvxpy
    formulation with constraints.
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
        self, moments: Moments, constraints: Constraints, turnover: Turnover
    ) -> tuple[FloatArray, bool]:
        params = self._params(moments, constraints)
        params["objective_function"] = ObjectiveFunction.MAXIMIZE_UTILITY
        params["risk_aversion"] = 1.0 / (2.0 * self.fraction)
        return self._fit_with(params, moments, constraints, turnover)


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
