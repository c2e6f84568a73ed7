"""The fill model's arithmetic, once: taker price, fee and all-equity sizing on scalars.

The simulated broker (event path) calls these as plain Python; the compiled fast path
(:mod:`neo.execution.fastpath`, :mod:`neo.execution.fastpath_multi`) compiles these very
functions with numba and calls them from its kernels. One source, so the two paths cannot drift:
the same IEEE operations in the same order give the same bits (numba runs without fast-math).
The module imports no numba, so the event path never pays numba's import and memory.

Keep every function here pure: floats and ints in, a float out, no Python objects, and only
calls to other functions that the fast path compiles too (:func:`neo.domain.instrument.
floor_to_grid`); :func:`neo.jit.compile_shared` builds them (read its note on numba's cache).
"""

from __future__ import annotations

from neo.domain.instrument import floor_to_grid


def taker_price(
    reference: float, sign: float, quantity: float, volume: float, slippage: float, impact: float
) -> float:
    """What a taker pays (``sign`` > 0, a buy) or gets for ``quantity`` units at ``reference``:
    ``reference × (1 ± (slippage + impact × quantity / volume))``, the impact term only when
    ``impact`` and ``volume`` are > 0 (``volume`` 0 prices a size-less reference)."""
    move = slippage
    if impact != 0.0 and volume > 0.0:
        move += impact * quantity / volume
    if move == 0.0:
        return reference
    return reference * (1.0 + sign * move)


def fill_fee(rate: float, quantity: float, price: float) -> float:
    """The fee of one fill: ``rate × quantity × price`` (``quantity`` unsigned)."""
    return rate * quantity * price


def equity_budget(equity: float, gross_exposure: float, fraction: float) -> float:
    """What an equity-fraction order may spend: ``fraction`` of the equity not already held in
    positions (the cash, when flat), never below 0."""
    return max(0.0, equity - gross_exposure) * fraction


def affordable_units(
    budget: float, price: float, fee_rate: float, lot: float, decimals: int
) -> float:
    """Whole lots that ``budget`` buys at ``price`` with the fee on top, rounded down.

    Whole-unit instruments (``lot`` 1) use exact floor division, as backtesting.py sizes; other
    lots go through the domain's :func:`~neo.domain.instrument.floor_to_grid`.
    """
    unit_cost = price + fee_rate * price
    if not unit_cost > 0.0 or not budget > 0.0:
        return 0.0
    if lot == 1.0:
        return float(budget // unit_cost)
    return floor_to_grid(budget / unit_cost, lot, decimals)
