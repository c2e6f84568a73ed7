"""Shrink long series for plotting without hiding their extremes.

A million-bar equity curve cannot go into an HTML file point by point, but a plot that drops the
deepest drawdown bar lies. Each bucket of consecutive points therefore keeps its minimum and its
maximum (in time order), plus the first and last points of the whole series.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from neo.domain.bar import IntArray

DEFAULT_MAX_POINTS = 5_000


def downsample_indices(values: npt.ArrayLike, max_points: int = DEFAULT_MAX_POINTS) -> IntArray:
    """Sorted indices of at most ``max_points`` points that keep each bucket's min and max.

    Series no longer than ``max_points`` come back whole. ``NaN`` values are never chosen as a
    bucket's extreme unless the whole bucket is ``NaN``.
    """
    array: Any = np.asarray(values, dtype=np.float64)
    size = int(array.size)
    if size <= max(max_points, 4):
        return np.arange(size, dtype=np.int64)
    buckets = max((max_points - 2) // 2, 1)
    width = -(-size // buckets)  # ceil
    padded = np.pad(array, (0, buckets * width - size), mode="edge").reshape(buckets, width)
    high = np.where(np.isnan(padded), -np.inf, padded).argmax(axis=1)
    low = np.where(np.isnan(padded), np.inf, padded).argmin(axis=1)
    offsets = np.arange(buckets, dtype=np.int64) * width
    chosen = np.concatenate(([0, size - 1], offsets + low, offsets + high))
    indices: IntArray = np.unique(np.minimum(chosen, size - 1)).astype(np.int64)
    return indices


def downsample_union(series: list[npt.ArrayLike], max_points: int = DEFAULT_MAX_POINTS) -> IntArray:
    """One index set for several series on the same time axis (e.g. stacked weights).

    Each series gets an equal share of ``max_points`` so the union stays within the budget.
    """
    if not series:
        return np.empty(0, np.int64)
    share = max(max_points // len(series), 4)
    parts = [downsample_indices(values, share) for values in series]
    indices: IntArray = np.unique(np.concatenate(parts)).astype(np.int64)
    return indices
