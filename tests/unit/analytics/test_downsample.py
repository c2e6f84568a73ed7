from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from neo.analytics.downsample import downsample_indices, downsample_union


def test_short_series_come_back_whole() -> None:
    np.testing.assert_array_equal(downsample_indices(np.arange(10.0), 100), np.arange(10))
    assert downsample_indices(np.empty(0), 100).size == 0


def test_million_points_shrink_to_the_budget_keeping_extremes() -> None:
    rng = np.random.default_rng(3)
    values = np.cumsum(rng.normal(0, 1, 1_000_000))
    values[123_457] = values.min() - 50  # a one-bar crash must survive the thinning
    keep = downsample_indices(values, 5_000)
    assert keep.size <= 5_000
    assert 123_457 in keep
    assert int(np.argmax(values)) in keep
    assert keep[0] == 0 and keep[-1] == values.size - 1
    assert np.all(np.diff(keep) > 0)


def test_nan_is_not_chosen_over_numbers() -> None:
    values = np.array([np.nan, 1.0, np.nan, 5.0, np.nan, -2.0, np.nan, 0.0] * 10)
    keep = downsample_indices(values, 10)
    interior = keep[1:-1]
    assert not np.isnan(values[interior]).any()
    assert np.nanmax(values[keep]) == 5.0 and np.nanmin(values[keep]) == -2.0


@settings(max_examples=60, deadline=None)
@given(
    values=arrays(np.float64, st.integers(1, 3_000), elements=st.floats(-1e6, 1e6)),
    max_points=st.integers(4, 200),
)
def test_any_series_stays_in_budget_with_its_extremes(values: np.ndarray, max_points: int) -> None:
    keep = downsample_indices(values, max_points)
    assert keep.size <= max(max_points, 4) or keep.size == values.size
    assert np.all(np.diff(keep) > 0) and keep[0] == 0 and keep[-1] == values.size - 1
    assert values[keep].min() == values.min()
    assert values[keep].max() == values.max()


def test_union_of_several_series_keeps_each_ones_extremes() -> None:
    rng = np.random.default_rng(5)
    first, second = rng.normal(size=50_000), rng.normal(size=50_000)
    keep = downsample_union([first, second], 2_000)
    assert keep.size <= 2_000
    for values in (first, second):
        assert int(np.argmin(values)) in keep and int(np.argmax(values)) in keep
    assert downsample_union([], 100).size == 0
