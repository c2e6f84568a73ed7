"""The sweep's one Parquet table, written as results arrive so an interrupted sweep keeps them.

Each finished task's rows go at once into their own small, complete Parquet file in
``<out>.parts/`` (a crash loses at most the task in flight); :meth:`ResultWriter.finish`
gathers them into ``<out>``, sorted by configuration, symbol and window, written atomically,
and removes the parts. Columns: the configuration (``config_id``, ``params`` as JSON, one
``p_<name>`` column per parameter), where it ran (``symbol``, ``window``, timestamps, ``engine``,
``attempts``), in-sample (``is_*``) and out-of-sample (``oos_*``) figures, the return moments
the statistics need, and ``error`` (null unless the task failed after its retries).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from neo.data.store.atomic import atomic_path
from neo.domain.errors import ConfigError
from neo.strategies.base import Param

_FIXED: tuple[tuple[str, pa.DataType], ...] = (
    ("config_id", pa.int64()),
    ("params", pa.string()),
    ("symbol", pa.string()),
    ("window", pa.int64()),
    ("engine", pa.string()),
    ("attempts", pa.int64()),
    ("error", pa.string()),
    ("train_start_ts", pa.int64()),
    ("test_start_ts", pa.int64()),
    ("test_end_ts", pa.int64()),
    ("is_bars", pa.int64()),
    ("oos_bars", pa.int64()),
    ("is_return", pa.float64()),
    ("oos_return", pa.float64()),
    ("is_sharpe", pa.float64()),
    ("oos_sharpe", pa.float64()),
    ("is_max_drawdown", pa.float64()),
    ("oos_max_drawdown", pa.float64()),
    ("is_fills", pa.int64()),
    ("oos_fills", pa.int64()),
    ("final_equity", pa.float64()),
    ("is_s1", pa.float64()),
    ("is_s2", pa.float64()),
    ("is_s3", pa.float64()),
    ("is_s4", pa.float64()),
    ("block_n", pa.list_(pa.float64())),
    ("block_sum", pa.list_(pa.float64())),
    ("block_sumsq", pa.list_(pa.float64())),
)
_ARROW_TYPES: dict[type, pa.DataType] = {
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    str: pa.string(),
}
SORT_KEYS = ("config_id", "symbol", "window")


def result_schema(params: Mapping[str, Param]) -> pa.Schema:
    """The table's columns for a strategy with ``params``."""
    extra = [(f"p_{name}", _ARROW_TYPES.get(p.type, pa.string())) for name, p in params.items()]
    return pa.schema([*_FIXED, *extra])


class ResultWriter:
    """Appends rows as one part file per call; :meth:`finish` makes the one table."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = Path(path)
        self.schema = schema
        self.parts_dir = self.path.with_name(self.path.name + ".parts")
        self.rows_written = 0
        self._parts = 0
        try:
            if self.parts_dir.exists():
                shutil.rmtree(self.parts_dir)
            self.parts_dir.mkdir(parents=True)
        except OSError as exc:
            raise ConfigError(f"cannot write results next to {self.path}: {exc}") from exc

    def append(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        columns = {name: [row.get(name) for row in rows] for name in self.schema.names}
        table = pa.Table.from_pydict(columns, schema=self.schema)
        self._parts += 1
        part = self.parts_dir / f"part-{self._parts:06d}.parquet"
        temporary = part.with_suffix(".tmp")  # renamed when whole: Ctrl-C mid-write loses no part
        pq.write_table(table, temporary)
        temporary.replace(part)
        self.rows_written += len(rows)

    def finish(self) -> Path:
        """Gather the parts into ``path`` (sorted), atomically; remove the parts."""
        files = sorted(self.parts_dir.glob("part-*.parquet"))
        tables = [pq.read_table(f, schema=self.schema) for f in files]
        table = pa.concat_tables(tables) if tables else self.schema.empty_table()
        table = table.sort_by([(key, "ascending") for key in SORT_KEYS])
        with atomic_path(self.path) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        shutil.rmtree(self.parts_dir, ignore_errors=True)
        return self.path
