"""The compiled kernels compute exactly what their Python source says.

The kernel modules are executed a second time with ``numba.njit`` replaced by the identity, and
the pure-Python run is compared with the compiled one. This catches numba-specific semantics
(integer modulo, error model, typing) and lets coverage see the kernel source.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from unittest import mock

import numpy as np

from neo.features import FeaturePipeline, labels
from neo.features import kernels as compiled
from tests.unit.features.synthetic import random_walk
from tests.unit.features.test_batch_incremental import ALL_SPECS, _data


def _pure(module: ModuleType) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"{module.__name__}_pure", module.__file__)
    assert spec is not None and spec.loader is not None
    pure = importlib.util.module_from_spec(spec)
    with (
        mock.patch("numba.njit", lambda *a, **k: lambda func: func),
        mock.patch.dict(sys.modules, {spec.name: pure}),
    ):
        spec.loader.exec_module(pure)
    return pure


def test_feature_kernels_match_their_python_source() -> None:
    main, market = _data(90)
    pipeline = FeaturePipeline(ALL_SPECS)
    expected = pipeline.compute(main, context={"IDX": market}).values
    pure = _pure(compiled)
    bars = np.column_stack([main.open, main.high, main.low, main.close, main.volume])
    context = pipeline._context_matrix(main, {"IDX": market})
    out = np.empty_like(expected)
    pure.run_batch(
        pipeline._kinds, pipeline._params, pipeline._offsets, pipeline._new_state(),
        np.asarray(main.ts), bars, context, out,
    )  # fmt: skip
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert np.array_equal(np.isnan(out), np.isnan(expected))


def test_triple_barrier_kernel_matches_its_python_source() -> None:
    batch = random_walk(120, 9)
    expected = labels.triple_barrier(batch.high, batch.low, batch.close, 0.01, 0.008, 6)
    pure = _pure(labels)
    got = pure.triple_barrier(batch.high, batch.low, batch.close, 0.01, 0.008, 6)
    np.testing.assert_array_equal(got.label, expected.label)
    np.testing.assert_array_equal(got.end, expected.end)
    np.testing.assert_array_equal(got.ret, expected.ret)


def test_flat_prices_match_python_source() -> None:
    n = 60
    walk = random_walk(n, 1)
    flat = type(walk).from_arrays(
        walk.instrument, walk.timeframe, ts=walk.ts, open=np.full(n, 5.0), high=np.full(n, 5.0),
        low=np.full(n, 5.0), close=np.full(n, 5.0), volume=np.full(n, 7.0),
    )  # fmt: skip
    pipeline = FeaturePipeline(ALL_SPECS)
    expected = pipeline.compute(flat, context={"IDX": flat}).values
    pure = _pure(compiled)
    bars = np.column_stack([flat.open, flat.high, flat.low, flat.close, flat.volume])
    out = np.empty_like(expected)
    pure.run_batch(
        pipeline._kinds, pipeline._params, pipeline._offsets, pipeline._new_state(),
        np.asarray(flat.ts), bars, pipeline._context_matrix(flat, {"IDX": flat}), out,
    )  # fmt: skip
    assert np.array_equal(out, expected, equal_nan=True)
