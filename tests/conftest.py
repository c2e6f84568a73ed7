"""Shared fixtures: every test gets its own data directory and settings, never ./neo-data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_neo_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point NEO at a fresh data dir and keep any developer's neo.toml / NEO_* out of tests."""
    data_dir = tmp_path / "neo-data"
    for key in [k for k in __import__("os").environ if k.startswith("NEO_")]:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NEO_DATA_DIR", str(data_dir))
    empty = tmp_path / "empty-neo.toml"  # NEO_CONFIG must name a file that exists
    empty.write_text("")
    monkeypatch.setenv("NEO_CONFIG", str(empty))
    yield data_dir
