"""The Ray backend gives the process pool's rows (one small local Ray for the module)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from neo.sweeps.api import run_sweep
from neo.sweeps.backends import TEST_OBJECT_STORE_BYTES, import_ray, ray_available
from tests.unit.sweeps.helpers import frame, request, store_market


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """One local Ray for the module, imported only when these tests run (not at collection)."""
    if not ray_available():
        pytest.skip("Ray is not installed (the distributed extra)")
    ray = import_ray()
    mp = pytest.MonkeyPatch()
    mp.setenv("RAY_AUTH_MODE", "disabled")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=TEST_OBJECT_STORE_BYTES,
        log_to_driver=False,
        configure_logging=False,
    )
    yield ray
    ray.shutdown()
    mp.undo()


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["fast", "event"])
def test_ray_gives_the_pools_rows(local_ray: Any, tmp_path: Path, engine: str) -> None:
    ray = local_ray
    store_market(tmp_path / "store")
    grid = ["fast=5,10", "slow=20:40:10"] if engine == "fast" else ["fast=5", "slow=20,30"]
    on_ray = run_sweep(
        request(tmp_path / "store", tmp_path / "r.parquet", backend="ray", engine=engine, grid=grid)
    )
    assert on_ray.backend == "ray" and on_ray.workers == 2 and ray.is_initialized()
    pool = run_sweep(
        request(
            tmp_path / "store", tmp_path / "p.parquet", backend="pool", engine=engine, grid=grid
        )
    )
    pd.testing.assert_frame_equal(frame(on_ray.path), frame(pool.path))
    assert logging.getLogRecordFactory() is logging.LogRecord  # Ray's stamp kept out of logs
