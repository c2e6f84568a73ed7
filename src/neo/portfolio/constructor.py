"""AllocatorPortfolio: the PortfolioConstructor the engine calls at every bar.

It combines an allocator, a rebalancing policy, constraints and a covariance estimate over a
lookback window of the returns the engine hands it. It only ever reads those returns (which end
at the current bar), so nothing later than ``account.ts`` can influence a target.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import cvxpy as cp
import msgspec
import numpy as np
from skfolio.exceptions import OptimizationError

from neo.domain.account import AccountView
from neo.domain.bar import FloatArray
from neo.domain.errors import ConfigError, NeoError
from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.logs import get_logger
from neo.portfolio.allocators import Allocator
from neo.portfolio.constraints import Constraints
from neo.portfolio.diagnostics import AllocationDiagnostics
from neo.portfolio.quantities import weights_to_quantities
from neo.portfolio.rebalance import RebalancePolicy, RebalanceState

log = get_logger("portfolio")


class PortfolioEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Something the portfolio layer did instead of rebalancing (for reports)."""

    ts: int
    kind: str
    code: str
    reason: str


class AllocatorPortfolio:
    """Target quantities from ``allocator`` whenever ``policy`` says a rebalance is due.

    Parameters
    ----------
    allocator, policy, constraints
        What to hold, when to trade, and the limits on weights.
    instruments
        Lot size, minimum notional and multiplier of each instrument (missing ones trade
        unrounded quantities).
    lookback
        Most recent bars of returns the allocator sees.
    min_history
        Bars every instrument needs before the first allocation; until then no targets.

    Attributes
    ----------
    history
        ``(ts, {instrument: weight})`` at every rebalance, for reports (weights over time).
    events
        :class:`PortfolioEvent` for every rebalance that could not be made: the allocation was
        infeasible or the solver failed on that window. The previous weights are then kept (no
        orders), the run goes on. A configuration that can never work (bounds that cannot
        add up to the budget, impossible leverage) fails at construction instead.
    diagnostics
        Why little or nothing was allocated (:class:`AllocationDiagnostics`): instruments that
        lacked history, forecasts that were all zero, bounds that bound, targets below one lot,
        and the warnings the optimisation libraries raised (counted, not printed each time).

    Instruments whose histories start at different times: each rebalance allocates over those
    with ``min_history`` returns already (the others get no weight yet), so a universe whose
    members list years apart starts trading once enough common history exists.
    """

    def __init__(
        self,
        allocator: Allocator,
        policy: RebalancePolicy,
        constraints: Constraints,
        instruments: Mapping[InstrumentId, Instrument] | None = None,
        *,
        lookback: int = 120,
        min_history: int = 30,
    ) -> None:
        if min_history < 2 or lookback < min_history:
            raise ConfigError(
                f"need 2 <= min_history <= lookback, got min_history={min_history} "
                f"lookback={lookback}"
            )
        self.allocator = allocator
        self.policy = policy
        self.constraints = constraints
        self.instruments: Mapping[InstrumentId, Instrument] = instruments or {}
        self.lookback = lookback
        self.min_history = min_history
        self.history: list[tuple[int, dict[InstrumentId, float]]] = []
        self.events: list[PortfolioEvent] = []
        self.diagnostics = AllocationDiagnostics(min_history=min_history)
        validate = getattr(allocator, "validate", None)
        if validate is not None and self.instruments:
            validate(constraints, len(self.instruments))  # bad configuration: fail now
        self._bar = -1
        self._last_bar: int | None = None
        self._last_forecasts: FloatArray | None = None
        self._last_target: FloatArray | None = None
        self._last_ids: tuple[InstrumentId, ...] = ()

    def rebalance(
        self,
        forecasts: Mapping[InstrumentId, float],
        account: AccountView,
        returns: Mapping[InstrumentId, FloatArray],
    ) -> Mapping[InstrumentId, float] | None:
        self._bar += 1
        equity = account.equity
        if not returns or not (math.isfinite(equity) and equity > 0):
            return None
        ids = self._ready(returns, account.ts)
        if not ids:
            return None
        depth = min(len(returns[i]) for i in ids)
        prices = np.array([account.price(i) for i in ids], dtype=np.float64)
        if not (np.isfinite(prices) & (prices > 0)).all():
            return None
        now = self._current_weights(ids, account, prices, equity)
        signal = self._forecast_vector(ids, forecasts)
        same_universe = ids == self._last_ids
        state = RebalanceState(
            bar=self._bar,
            last_bar=self._last_bar if same_universe else None,
            forecasts=signal,
            last_forecasts=self._last_forecasts if same_universe else None,
            weights_now=now,
            last_target=self._last_target if same_universe else None,
        )
        if not self.policy.due(state):
            return None
        span = min(depth, self.lookback)
        window = np.column_stack([np.asarray(returns[i][-span:], dtype=np.float64) for i in ids])
        if not np.isfinite(window).all():
            return None
        target = self._allocate(account.ts, window, signal, now)
        if target is None:
            return None
        self._last_bar, self._last_forecasts, self._last_target = self._bar, signal, target
        self._last_ids = ids
        self.history.append((account.ts, dict(zip(ids, target.tolist(), strict=True))))
        quantities = weights_to_quantities(
            target.tolist(), ids, equity, prices.tolist(), self.instruments
        )
        self.diagnostics.allocated(ids, target, signal, self._box(len(ids)), quantities)
        return quantities

    def _ready(
        self, returns: Mapping[InstrumentId, FloatArray], ts: int
    ) -> tuple[InstrumentId, ...]:
        """The instruments with ``min_history`` returns by now; the others are noted as
        waiting (they join the allocation once they have it)."""
        ready = tuple(sorted(i for i in returns if len(returns[i]) >= self.min_history))
        self.diagnostics.waiting(
            ts, {i: len(r) for i, r in returns.items() if len(r) < self.min_history}, len(ready)
        )
        return ready

    def _allocate(
        self, ts: int, window: FloatArray, signal: FloatArray | None, now: FloatArray
    ) -> FloatArray | None:
        """The allocator's weights, or None (recorded) when it failed. Library warnings
        (skfolio repairing a covariance that is not positive definite …) are counted in
        :attr:`diagnostics`, not printed at every rebalance."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                target: FloatArray = self.allocator.weights(window, signal, self.constraints, now)
            except (
                OptimizationError,
                cp.SolverError,
                ValueError,
                ArithmeticError,
                NeoError,
            ) as exc:
                self._failed(ts, exc)
                target = None  # type: ignore[assignment]
        self.diagnostics.warned(caught)
        return target

    def _box(self, n_assets: int) -> Any:
        box = getattr(self.allocator, "box", None)
        return None if box is None else box(self.constraints, n_assets)

    def _failed(self, ts: int, exc: Exception) -> None:
        """An allocation that cannot be made on this window: keep the previous weights."""
        name = getattr(self.allocator, "name", "allocator")
        reason = f"{name}: {type(exc).__name__}: {exc}; keeping the previous weights"
        log.warning("allocation failed, keeping the previous weights", extra={"error": reason})
        self.events.append(
            PortfolioEvent(ts=ts, kind="allocation_failed", code=name, reason=reason)
        )

    def _current_weights(
        self,
        ids: tuple[InstrumentId, ...],
        account: AccountView,
        prices: FloatArray,
        equity: float,
    ) -> FloatArray:
        multipliers = np.array(
            [self.instruments[i].contract_multiplier if i in self.instruments else 1.0 for i in ids]
        )
        held = np.array([account.position(i) for i in ids], dtype=np.float64)
        weights: FloatArray = held * prices * multipliers / equity
        return weights

    @staticmethod
    def _forecast_vector(
        ids: tuple[InstrumentId, ...], forecasts: Mapping[InstrumentId, float]
    ) -> FloatArray | None:
        if not forecasts:
            return None
        values = np.array([forecasts.get(i, 0.0) for i in ids], dtype=np.float64)
        return np.where(np.isfinite(values), values, 0.0)
