"""What a store write makes durable before it returns, and what it costs to say so: the data
file and the manifest each fsynced before their rename, the directory fsynced after the
manifest's (so the new names survive a power cut), a new series' directories too; the
manifest encoded once (its checksum covers the same canonical text the file holds)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from unittest import mock

import numpy as np
import pytest

from neo.data.store import HistoricalDataStore, atomic
from neo.data.store.manifest import MANIFEST, _checksum, load_manifest
from neo.domain import StoreError
from tests.unit.data.helpers import BTC, MINUTE, T0, TF, batch_of, walk

T = TypeVar("T")


def _synced(write: Callable[[], T]) -> tuple[T, list[str]]:
    """What ``write()`` returned, and the paths it fsynced, in order (directories end in /)."""
    seen: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        path = str(Path(f"/proc/self/fd/{fd}").readlink())
        seen.append(path + "/" if stat.S_ISDIR(os.fstat(fd).st_mode) else path)
        real(fd)

    with mock.patch.object(atomic.os, "fsync", fsync):
        result = write()
    return result, seen


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_new_series_and_each_append_are_durable_when_write_returns(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    cols = walk(6_000)
    _, first = _synced(
        lambda: store.write(batch_of({k: v[:5_000] for k, v in cols.items()}), source="a")
    )
    directory = next((tmp_path / "bars").rglob(MANIFEST)).parent
    files = [p for p in first if not p.endswith("/")]
    dirs = [p for p in first if p.endswith("/")]
    assert Path(files[0]).name.startswith(".2024-") and ".parquet." in files[0]  # the data
    assert Path(files[-1]).name.startswith(f".{MANIFEST}.")  # then the manifest, last
    # the series' new directories (bars/<venue>/<symbol>/) and its own, after the rename
    assert dirs[-1] == f"{directory}/" and first[-1] == dirs[-1]
    assert {f"{directory.parent}/", f"{directory.parent.parent}/"} <= set(dirs)
    _, again = _synced(
        lambda: store.write(batch_of({k: v[5_000:] for k, v in cols.items()}), source="a")
    )
    assert Path(again[0]).name.startswith(".2024-") and ".seg.parquet." in again[0]
    assert Path(again[1]).name.startswith(f".{MANIFEST}.")
    assert again[2:] == [f"{directory}/"]  # an append: no parent directory again


def test_the_manifest_is_its_canonical_text_checked_by_its_checksum(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    store.write(batch_of(walk(50)), source="a")
    path = next(tmp_path.rglob(MANIFEST))
    text = path.read_text()
    body = json.loads(text)
    assert body["checksum"] == _checksum(body)
    assert text == json.dumps(body, sort_keys=True, separators=(",", ":"))


def test_source_names_are_the_sources_with_rows(tmp_path: Path) -> None:
    store = HistoricalDataStore(tmp_path)
    cols = walk(300)
    part = {k: v[:100] for k, v in cols.items()}
    store.write(batch_of(part), source="a")
    store.write(batch_of({k: v[100:200] for k, v in cols.items()}), source="b")
    directory = next(tmp_path.rglob(MANIFEST)).parent
    manifest = load_manifest(directory)
    assert manifest.source_names() == tuple(manifest.sources()) == ("a", "b")
    result = store.write(batch_of({k: v[200:] for k, v in cols.items()}), source="c")
    assert result.other_sources == ("a", "b")
    other = {k: v[:100] for k, v in walk(300, seed=9).items()}  # a's stamps, other prices
    store.write(batch_of(other), source="c", replace=True)  # c takes a's bars over
    manifest = load_manifest(directory)
    assert manifest.source_names() == tuple(manifest.sources()) == ("b", "c")


def test_a_failed_write_leaves_no_temporary_file_and_the_old_generation(
    tmp_path: Path,
) -> None:
    store = HistoricalDataStore(tmp_path)
    store.write(batch_of(walk(10)), source="a")
    directory = next(tmp_path.rglob(MANIFEST)).parent
    before = sorted(p.name for p in directory.iterdir())
    later = {k: v + 0 for k, v in walk(20).items()}
    later["ts"] = T0 + np.arange(10, 30, dtype=np.int64) * MINUTE
    with (
        mock.patch.object(atomic.os, "write", side_effect=OSError(28, "No space left")),
        pytest.raises(StoreError, match="No space left"),
    ):
        store.write(batch_of(later), source="a")
    assert sorted(p.name for p in directory.iterdir()) == before
    assert len(store.read(BTC, TF)) == 10


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_quarantined_rows_are_durable_with_their_directory(tmp_path: Path) -> None:
    from neo.data.validate import RawBars

    store = HistoricalDataStore(tmp_path)
    cols = walk(3)
    rows = RawBars.from_arrays(cols["ts"], cols["open"], cols["high"], cols["low"],
                               cols["close"], cols["volume"])  # fmt: skip
    written, seen = _synced(
        lambda: store.write_quarantine(
            rows, ["ohlc_order"] * 3, instrument=BTC, timeframe=TF, source="a"
        )
    )
    assert written.added == 3 and written.path is not None
    where = written.path
    expected = [where, where.parent, where.parent.parent, store.quarantine.root]
    assert seen[-4:] == [f"{d}/" for d in expected]
