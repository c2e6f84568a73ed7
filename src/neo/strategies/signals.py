"""Signal helpers for ``on_bar`` code, like backtesting.py's ``crossover``.

On the event path a history buffer holds bars after ``ctx.i`` too (in a backtest), so these
helpers take the bar index: ``crossover(self.fast, self.slow, ctx.i)``. Without an index they
read the last two values of the sequences, as backtesting.py does with its sliced arrays.
``b`` may be a number (a level: ``crossover(self.rsi, 30, ctx.i)``).
"""

from __future__ import annotations

from typing import Any


def _pair(series: Any, i: int | None) -> tuple[float, float]:
    if isinstance(series, int | float):
        return float(series), float(series)
    last = len(series) - 1 if i is None else i
    if last < 1:
        return float("nan"), float("nan")
    return float(series[last - 1]), float(series[last])


def crossover(a: Any, b: Any, i: int | None = None) -> bool:
    """Whether ``a`` crossed above ``b`` at bar ``i``: below on the bar before, above now."""
    a_before, a_now = _pair(a, i)
    b_before, b_now = _pair(b, i)
    return a_before < b_before and a_now > b_now


def crossunder(a: Any, b: Any, i: int | None = None) -> bool:
    """Whether ``a`` crossed below ``b`` at bar ``i``: above on the bar before, below now."""
    return crossover(b, a, i)
