"""numba builds of the pure functions NEO shares between its Python and compiled paths.

Rules that both the event path (plain Python, no numba import) and the compiled kernels apply
(fill pricing and sizing in :mod:`neo.execution.pricing`, the grid rule of
:mod:`neo.domain.instrument`, the indicator steps of :mod:`neo.features.steps`) are written
once, as plain functions on scalars. The kernels compile those very functions here, so the two
paths cannot drift. Importing this module imports numba: only compiled paths do.

numba's on-disk cache does not notice edits to a function compiled in another file: after
changing one of the shared modules, delete the ``__pycache__/*.nbi``/``*.nbc`` files beside the
kernels (a fresh checkout has none).
"""

from __future__ import annotations

from collections.abc import Callable
from types import FunctionType
from typing import Any

import numba


def compile_shared(func: Callable[..., Any], **callees: Any) -> Any:
    """The numba build of the plain function ``func``; ``callees`` name the shared functions it
    calls, given as their numba builds (numba cannot call plain Python functions)."""
    if callees and isinstance(func, FunctionType):
        namespace = {**func.__globals__, **callees}
        clone = FunctionType(func.__code__, namespace, func.__name__, func.__defaults__)
        clone.__qualname__, clone.__module__ = func.__qualname__, func.__module__
        clone.__doc__ = func.__doc__
        func = clone
    # numba.njit looked up at call time, so a test may swap it for the identity (pure Python)
    return numba.njit(cache=True, nogil=True, error_model="numpy")(func)
