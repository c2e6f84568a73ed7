"""The Ray backend gives the process pool's rows (one small local Ray for the module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from neo.sweeps.api import run_sweep
from neo.sweeps.backends import TEST_OBJECT_STORE_BYTES
from tests.unit.sweeps.helpers import frame, request, store_market

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    mp.setenv("RAY_AUTH_MODE", "disabled")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=TEST_OBJECT_STORE_BYTES,
        log_to_driver=False,
        configure_logging=False,
    )
    yield
    ray.shutdown()
    mp.undo()


@pytest.mark.slow
@pytest.mark.usefixtures("local_ray")
@pytest.mark.parametrize("engine", ["fast", "event"])
def test_ray_gives_the_pools_rows(tmp_path: Path, engine: str) -> None:
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
