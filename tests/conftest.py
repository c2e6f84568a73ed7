"""Shared fixtures: every test gets its own data directory and settings, never ./neo-data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.databases import BACKENDS, fresh_database

# Hypothesis profiles, chosen with HYPOTHESIS_PROFILE (default "ci"):
#   ci    `make test`: derandomized (a fixed seed per test), so a run is reproducible and a
#         property that passes today passes tomorrow; no example database.
#   fuzz  `make fuzz`: random seeds and FUZZ_SCALE times each test's examples, to hunt for
#         what the fixed seed does not reach; failures are kept in the example database.
#   dev   random seeds, the tests' own example counts.
FUZZ_SCALE = int(os.environ.get("NEO_FUZZ_SCALE", "20"))
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz", derandomize=False, deadline=None, print_blob=True, max_examples=100 * FUZZ_SCALE
)
settings.register_profile("dev", derandomize=False, deadline=None)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under the fuzz profile, scale the examples a test asked for by FUZZ_SCALE (a test's own
    ``@settings(max_examples=...)`` would otherwise cap it)."""
    if PROFILE != "fuzz":
        return
    for item in items:
        function = getattr(item, "obj", None)
        _scale(function)
        for value in vars(getattr(item, "module", None) or object()).values():
            if value is not function:
                _scale(value)


def _scale(function: object) -> None:
    own = getattr(function, "_hypothesis_internal_use_settings", None)
    if own is None or getattr(function, "_neo_fuzz_scaled", False):
        return
    scaled = settings(own, max_examples=own.max_examples * FUZZ_SCALE, derandomize=False)
    function._hypothesis_internal_use_settings = scaled  # type: ignore[attr-defined]
    function._neo_fuzz_scaled = True  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def empty_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty neo.toml outside every test's tmp_path: NEO_CONFIG must name a file that
    exists, and a test listing its own tmp_path should not find it."""
    path = tmp_path_factory.mktemp("config") / "empty-neo.toml"
    path.write_text("")
    return path


@pytest.fixture(autouse=True)
def isolated_neo_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_config: Path
) -> Iterator[Path]:
    """Point NEO at a fresh data dir and keep any developer's neo.toml / NEO_* out of tests."""
    data_dir = tmp_path / "neo-data"
    for key in [k for k in __import__("os").environ if k.startswith("NEO_")]:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NEO_DATA_DIR", str(data_dir))
    monkeypatch.setenv("NEO_CONFIG", str(empty_config))
    yield data_dir


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty state database per test: SQLite in tmp_path, or a new schema on the
    PostgreSQL of NEO_TEST_POSTGRES_URL (skipped without it, failed under CI=true)."""
    yield from fresh_database(request.param, tmp_path)
