"""Quarantine: rows the validator rejected, kept beside the data with their reasons and source.

Nothing read is ever lost: a rejected row is written here, never dropped. The quarantine is
idempotent on *what* was rejected, not on where it came from: a row is identified by its
content (timestamp, prices, volume), its reasons and its occurrence (the k-th identical
rejected row of one ingestion, so two identical bad rows of one file stay two rows) within
its venue/symbol/timeframe directory. Ingesting the same data again, under any path, adds
nothing, and the source first recorded is kept.

That identity, as 16 hex digits, is the row's stable ``id`` (``neo data quarantine --json``):
``neo data release ID`` stores a reviewed row and removes it from here. Quarantine files are
written with Parquet page checksums and verified when read, so a damaged one fails naming it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from neo.data.store.atomic import (
    atomic_path,
    dataset_lock,
    fsync_directory,
    remove_temp_files,
)
from neo.data.store.damaged import damaged_file_error, one_line
from neo.data.store.layout import dataset_dir, iter_dataset_dirs
from neo.data.validate import RawBars
from neo.domain.errors import StoreError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe

QUARANTINE_COLUMNS: tuple[str, ...] = (
    "ts", "ts_valid", "open", "high", "low", "close", "volume", "reasons", "source",
    "source_row",
)  # fmt: skip
_OCCURRENCE = "occurrence"  # stored, not shown: older files without it count per file
KeyArray = npt.NDArray[np.uint64]  # one row identity each


@dataclass(frozen=True, slots=True)
class QuarantineWrite:
    """What a quarantine write did: ``rows`` offered, ``added`` new to the quarantine (the
    rest were already there), ``path`` the dataset's quarantine directory (None if no rows)."""

    path: Path | None
    rows: int
    added: int

    @property
    def new(self) -> bool:
        return self.added > 0


def _identity(frame: Any) -> Any:
    """The identity columns with fixed dtypes, so a row hashes the same fresh or re-read."""
    import pandas as pd

    out = pd.DataFrame(
        {name: frame[name].to_numpy(np.float64) for name in ("open", "high", "low", "close")}
    )
    out["volume"] = frame["volume"].to_numpy(np.float64)
    out["ts"] = frame["ts"].to_numpy(np.int64)
    out["ts_valid"] = frame["ts_valid"].to_numpy(np.bool_)
    out["reasons"] = pd.Series([str(r) for r in frame["reasons"]], dtype=object)
    return out


def _occurrences(frame: Any) -> Any:
    """0 for the first row of each identity, 1 for the next identical one, …"""
    import pandas as pd

    base = pd.util.hash_pandas_object(_identity(frame), index=False).to_numpy(np.uint64)
    return pd.Series(base).groupby(base).cumcount().to_numpy(np.int64)


def row_keys(frame: Any) -> KeyArray:
    """One 64-bit identity per row: content, reasons and occurrence (see the module doc)."""
    import pandas as pd

    identity = _identity(frame)
    identity[_OCCURRENCE] = frame[_OCCURRENCE].to_numpy(np.int64)
    hashed = pd.util.hash_pandas_object(identity, index=False)
    return np.asarray(hashed, dtype=np.uint64)


_WRITE_OPTIONS: dict[str, Any] = {"write_page_checksum": True}


def row_ids(frame: Any) -> list[str]:
    """Each row's stable id: its identity (:func:`row_keys`) as 16 hex digits."""
    return [f"{int(k):016x}" for k in row_keys(frame)]


def _read_file(path: Path) -> Any:
    import pyarrow.parquet as pq

    try:
        frame = pq.read_table(path, page_checksum_verification=True).to_pandas()
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for damaged files
        raise damaged_file_error(path, one_line(exc)) from exc
    if _OCCURRENCE not in frame.columns:
        frame[_OCCURRENCE] = _occurrences(frame)
    return frame


class Quarantine:
    """Rejected rows under ``root/<venue>/<symbol>/<timeframe>/<content-hash>.parquet``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def write(
        self,
        rows: RawBars,
        reasons: Sequence[str],
        *,
        instrument: InstrumentId,
        timeframe: Timeframe,
        source: str = "",
    ) -> QuarantineWrite:
        """Store ``rows`` with one reason string per row; rows already quarantined (same
        content, reasons and occurrence) are skipped, so re-ingesting adds nothing."""
        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq

        if len(rows) != len(reasons):
            raise StoreError(f"{len(rows)} quarantined rows but {len(reasons)} reasons")
        if len(rows) == 0:
            return QuarantineWrite(None, 0, 0)
        frame = pd.DataFrame(
            {
                "ts": rows.ts, "ts_valid": rows.ts_valid, "open": rows.open, "high": rows.high,
                "low": rows.low, "close": rows.close, "volume": rows.volume,
                "reasons": pd.Series(list(reasons), dtype=object),
                "source": pd.Series([source] * len(rows), dtype=object),
                "source_row": rows.source_row,
            }
        )  # fmt: skip
        frame[_OCCURRENCE] = _occurrences(frame)
        keys = row_keys(frame)
        directory = dataset_dir(self.root, instrument, timeframe)
        with dataset_lock(directory):
            remove_temp_files(directory)
            fresh = ~np.isin(keys, self._stored_keys(directory))
            added = int(np.count_nonzero(fresh))
            if added:
                name = hashlib.sha256(np.sort(keys[fresh]).tobytes()).hexdigest()[:24]
                table = pa.Table.from_pandas(frame[fresh], preserve_index=False)
                with atomic_path(directory / f"{name}.parquet") as tmp:
                    pq.write_table(table, tmp, **_WRITE_OPTIONS)
                # the new name durable too (and the series' directories, made on its first
                # rejection), before the ingestion answers: rejected rows are kept, not lost
                for level in (directory, *directory.parents):
                    fsync_directory(level)
                    if level == self.root:
                        break
        return QuarantineWrite(directory, len(rows), added)

    def _stored_keys(self, directory: Path) -> KeyArray:
        frames = [row_keys(_read_file(f)) for f in _files(directory)]
        return np.concatenate(frames) if frames else np.empty(0, dtype=np.uint64)

    def read(
        self, instrument: InstrumentId | None = None, timeframe: Timeframe | None = None
    ) -> Any:
        """Quarantined rows as a pandas DataFrame (venue, symbol, timeframe + row columns),
        oldest first. Either filter may be omitted; an empty frame comes back when nothing
        matches. Raises StoreError naming a damaged quarantine file.
        """
        import pandas as pd

        frames = []
        for iid, tf, directory in iter_dataset_dirs(self.root):
            if (instrument is not None and iid != instrument) or (
                timeframe is not None and tf != timeframe
            ):
                continue
            parts = [_read_file(f) for f in _files(directory)]
            if not parts:
                continue
            frame = pd.concat(parts, ignore_index=True)
            frame = frame[~pd.Series(row_keys(frame)).duplicated().to_numpy()]
            ids = row_ids(frame)
            frame = frame.drop(columns=[_OCCURRENCE]).reset_index(drop=True)
            frame.insert(0, "id", ids)
            frame.insert(0, "timeframe", str(tf))
            frame.insert(0, "symbol", iid.symbol)
            frame.insert(0, "venue", iid.venue)
            frames.append(frame)
        if not frames:
            columns = ["venue", "symbol", "timeframe", "id", *QUARANTINE_COLUMNS]
            return pd.DataFrame({c: [] for c in columns})
        return pd.concat(frames, ignore_index=True)

    def remove(self, instrument: InstrumentId, timeframe: Timeframe, ids: Sequence[str]) -> int:
        """Drop the rows with these ids (released into the store); the number removed.
        Each file holding one is rewritten without it, atomically, under the dataset lock."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        wanted = set(ids)
        removed = 0
        directory = dataset_dir(self.root, instrument, timeframe)
        with dataset_lock(directory):
            for path in _files(directory):
                frame = _read_file(path)
                drop = np.isin(row_ids(frame), list(wanted))
                if not drop.any():
                    continue
                removed += int(np.count_nonzero(drop))
                if drop.all():
                    path.unlink()
                    continue
                table = pa.Table.from_pandas(frame[~drop], preserve_index=False)
                with atomic_path(path) as tmp:
                    pq.write_table(table, tmp, **_WRITE_OPTIONS)
        return removed


def _files(directory: Path) -> list[Path]:
    """Quarantine files oldest first (by modification time, then name)."""
    files = directory.glob("*.parquet") if directory.is_dir() else iter(())
    return sorted(files, key=lambda f: (f.stat().st_mtime_ns, f.name))
