"""Quarantine: rows the validator rejected, kept beside the data with their reasons and source.

Nothing read is ever lost: a rejected row is written here, never dropped. Each batch of
rejected rows lands in a file named by a hash of its content, so quarantining the same rows
from the same source twice (ingesting a file again) changes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neo.data.store.atomic import atomic_path
from neo.data.store.layout import dataset_dir, iter_dataset_dirs
from neo.data.validate import RawBars
from neo.domain.errors import StoreError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe

QUARANTINE_COLUMNS: tuple[str, ...] = (
    "ts", "ts_valid", "open", "high", "low", "close", "volume", "reasons", "source",
    "source_row",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class QuarantineWrite:
    path: Path | None
    rows: int
    new: bool


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
        """Store ``rows`` with one reason string per row; idempotent for identical content."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if len(rows) != len(reasons):
            raise StoreError(f"{len(rows)} quarantined rows but {len(reasons)} reasons")
        if len(rows) == 0:
            return QuarantineWrite(None, 0, False)
        table = pa.table(
            {
                "ts": rows.ts, "ts_valid": rows.ts_valid, "open": rows.open, "high": rows.high,
                "low": rows.low, "close": rows.close, "volume": rows.volume,
                "reasons": pa.array(list(reasons), pa.string()),
                "source": pa.array([source] * len(rows), pa.string()),
                "source_row": rows.source_row,
            }
        )  # fmt: skip
        digest = hashlib.sha256(source.encode())
        for name in (*QUARANTINE_COLUMNS[:7], "source_row"):
            digest.update(np.ascontiguousarray(table.column(name).to_numpy()).tobytes())
        digest.update("\n".join(reasons).encode())
        path = dataset_dir(self.root, instrument, timeframe) / f"{digest.hexdigest()[:24]}.parquet"
        if path.exists():
            return QuarantineWrite(path, len(rows), False)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        return QuarantineWrite(path, len(rows), True)

    def read(
        self, instrument: InstrumentId | None = None, timeframe: Timeframe | None = None
    ) -> Any:
        """Quarantined rows as a pandas DataFrame (venue, symbol, timeframe + row columns).

        Either filter may be omitted; an empty frame comes back when nothing matches.
        """
        import pandas as pd
        import pyarrow.parquet as pq

        frames = []
        for iid, tf, directory in iter_dataset_dirs(self.root):
            if (instrument is not None and iid != instrument) or (
                timeframe is not None and tf != timeframe
            ):
                continue
            for file in sorted(directory.glob("*.parquet")):
                frame = pq.read_table(file).to_pandas()
                frame.insert(0, "timeframe", str(tf))
                frame.insert(0, "symbol", iid.symbol)
                frame.insert(0, "venue", iid.venue)
                frames.append(frame)
        if not frames:
            columns = ["venue", "symbol", "timeframe", *QUARANTINE_COLUMNS]
            return pd.DataFrame({c: [] for c in columns})
        return pd.concat(frames, ignore_index=True)
