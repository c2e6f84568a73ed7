"""Bars from files: generic CSV/Parquet, ccxt OHLCV lists and freqtrade's json/feather files.

Readers return :class:`~neo.data.validate.RawBars` (unvalidated, maybe unsorted) so that the
ingestion service can account for every row; :class:`FileFeed` validates and serves the good
rows as a :class:`~neo.data.feeds.base.MarketDataFeed`.

Accepted layouts (column names are case-insensitive):

* ``timestamp,open,high,low,close,volume`` (also ``ts``, ``time``, ``date``, ``datetime``) with
  epoch seconds, milliseconds, microseconds or nanoseconds (told apart by magnitude), or ISO
  text; naive times are UTC. An optional ``symbol`` column selects rows of one symbol.
* ccxt ``fetch_ohlcv`` lists ``[[ms, o, h, l, c, v], ...]`` as JSON, or the same as a CSV
  without a header; freqtrade's ``*.json`` files are exactly this.
* freqtrade ``*.feather`` files (``date`` column with UTC timestamps).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from neo.data.config import ValidationConfig
from neo.data.feeds.base import BatchFeed
from neo.data.feeds.timestamps import column_to_ns
from neo.data.validate import DataValidator, RawBars
from neo.domain.bar import BarBatch, FloatArray
from neo.domain.errors import ConfigError, DataFormatError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe

FORMATS: dict[str, str] = {
    "csv": "csv", "parquet": "parquet", "pq": "parquet", "feather": "feather",
    "arrow": "feather", "ipc": "feather", "json": "json", "ccxt": "json",
    "freqtrade-json": "json", "freqtrade-feather": "feather",
}  # fmt: skip
_ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("timestamp", "ts", "time", "date", "datetime", "open_time", "opentime"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v"),
}
_SYMBOL_COLUMNS = ("symbol", "pair")
_CCXT_NAMES = ["ts", "open", "high", "low", "close", "volume"]


def detect_format(path: Path, fmt: str | None = None) -> str:
    """The reader to use: ``fmt`` if given, else from the file suffix."""
    key = (fmt or "").lower().lstrip(".")
    if not key:
        suffixes = [s.lstrip(".").lower() for s in path.suffixes]
        key = next((s for s in reversed(suffixes) if s in FORMATS), "")
    if key not in FORMATS:
        raise DataFormatError(
            f"cannot tell the format of {path.name}: use a .csv, .parquet, .feather or .json "
            f"file, or pass --format with one of {', '.join(sorted(FORMATS))}"
        )
    return FORMATS[key]


def read_table(path: Path, fmt: str | None = None) -> Any:
    """Read ``path`` into a pyarrow Table (any layout above), raising DataFormatError."""
    kind = detect_format(path, fmt)
    if not path.is_file():
        raise DataFormatError(f"file {path} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise DataFormatError(f"file {path} is empty: nothing to read")
    try:
        return _READERS[kind](path)
    except DataFormatError:
        raise
    except Exception as exc:  # pyarrow/msgspec raise many types for unreadable input
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataFormatError(f"cannot read {path.name} as {kind}: {first}") from exc


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _first_row_is_data(path: Path) -> bool:
    """True when the first CSV row is a bar, not a header: it names no known column and most
    of its price/volume cells are numbers (whatever the timestamp looks like: ISO text too)."""
    import csv

    with path.open("rb") as handle:
        head = handle.read(65_536).decode("utf-8-sig", errors="replace")
    lines = [line for line in head.splitlines() if line.strip()]
    if not lines:
        return False
    cells = [c.strip().strip('"').strip() for c in next(csv.reader([lines[0]]))]
    known = {a for aliases in _ALIASES.values() for a in aliases} | set(_SYMBOL_COLUMNS)
    if any(c.lower() in known for c in cells):
        return False
    values = cells[1:6]
    return len(cells) >= 6 and 2 * sum(_is_number(c) for c in values) > len(values)


def _read_csv(path: Path) -> Any:
    import pyarrow.csv as pacsv

    headerless = _first_row_is_data(path)
    options = pacsv.ReadOptions(column_names=_CCXT_NAMES if headerless else None)
    return pacsv.read_csv(path, read_options=options)


def _read_parquet(path: Path) -> Any:
    import pyarrow.parquet as pq

    return pq.read_table(path)


def _read_feather(path: Path) -> Any:
    import pyarrow.feather as feather

    return feather.read_table(path)


def _read_json(path: Path) -> Any:
    import pyarrow as pa

    rows = msgspec.json.decode(path.read_bytes())
    if isinstance(rows, dict):
        return pa.table(rows)
    if not isinstance(rows, list) or not rows:
        raise DataFormatError(f"{path.name} holds no bars: expected a JSON list of OHLCV rows")
    if isinstance(rows[0], dict):
        return pa.Table.from_pylist(rows)
    if not all(isinstance(r, list) and len(r) >= 6 for r in rows):
        raise DataFormatError(
            f"{path.name}: every row must be [timestamp, open, high, low, close, volume]"
        )
    columns = list(zip(*(r[:6] for r in rows), strict=True))
    return pa.table({name: list(col) for name, col in zip(_CCXT_NAMES, columns, strict=True)})


_READERS = {
    "csv": _read_csv,
    "parquet": _read_parquet,
    "feather": _read_feather,
    "json": _read_json,
}


def _column_map(names: Sequence[str]) -> dict[str, str]:
    lower = {n.lower().strip(): n for n in names}
    found = {key: next((lower[a] for a in aliases if a in lower), "") for key, aliases in
             _ALIASES.items()}  # fmt: skip
    missing = [k for k, v in found.items() if not v]
    if missing:
        raise DataFormatError(
            f"unknown columns {list(names)}: need timestamp, open, high, low, close, volume "
            f"(missing {', '.join('timestamp' if m == 'ts' else m for m in missing)})"
        )
    return found


def _select_symbol(table: Any, symbol: str | None) -> Any:
    import pyarrow.compute as pc

    name = next((n for n in table.column_names if n.lower() in _SYMBOL_COLUMNS), None)
    if name is None:
        return table
    column = table.column(name).cast("string")
    if symbol is None:
        distinct = pc.unique(column).to_pylist()
        if len(distinct) > 1:
            raise DataFormatError(
                f"the file holds {len(distinct)} symbols ({', '.join(map(str, distinct[:5]))}): "
                "pass --symbol to pick one"
            )
        return table
    return table.filter(pc.equal(column, symbol))


def _to_float(column: Any) -> FloatArray:
    import pyarrow as pa

    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        values: FloatArray = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return np.ascontiguousarray(values, dtype=np.float64)
    import pandas as pd

    text = pd.Series(column.cast(pa.string()).to_numpy(zero_copy_only=False))
    return pd.to_numeric(text, errors="coerce").to_numpy(np.float64, na_value=np.nan)


def table_to_raw(table: Any, *, symbol: str | None = None, source: str = "input") -> RawBars:
    """Map a pyarrow table's columns to :class:`RawBars` (see the module docstring)."""
    table = _select_symbol(table, symbol)
    columns = _column_map(table.column_names)
    if table.num_rows == 0:
        hint = f" for symbol {symbol}" if symbol else ""
        raise DataFormatError(f"{source} has no rows{hint}: nothing to ingest")
    ts, valid = column_to_ns(table.column(columns["ts"]).combine_chunks())
    o, h, lo, c, v = (_to_float(table.column(columns[k]).combine_chunks()) for k in _CCXT_NAMES[1:])
    return RawBars.from_arrays(ts, o, h, lo, c, v, ts_valid=valid)


def read_bar_file(
    path: Path | str, fmt: str | None = None, *, symbol: str | None = None
) -> RawBars:
    """Read a bar file of any supported layout into unvalidated columns.

    Raises
    ------
    DataFormatError
        The file is missing, empty, unreadable, or lacks OHLCV columns.
    """
    file = Path(path)
    table = read_table(file, fmt)
    try:
        return table_to_raw(table, symbol=symbol, source=file.name)
    except DataFormatError:
        raise
    except Exception as exc:  # e.g. timestamps outside the representable range
        raise DataFormatError(f"cannot interpret the columns of {file.name}: {exc}") from exc


class FileFeed(BatchFeed):
    """A feed over one bar file of one instrument; rows failing validation are left out.

    The validation report of the load is kept in :attr:`report` for inspection.
    """

    default_format: str | None = None

    def __init__(
        self,
        path: Path | str,
        instrument: InstrumentId,
        timeframe: Timeframe | str,
        *,
        fmt: str | None = None,
        pace: float | None = None,
        config: ValidationConfig | None = None,
    ) -> None:
        super().__init__([instrument], timeframe, pace=pace)
        self.path = Path(path)
        self.fmt = fmt or self.default_format
        self.config = config
        self.report: Any = None

    def _load(self) -> dict[InstrumentId, BarBatch]:
        raw = read_bar_file(self.path, self.fmt, symbol=self.instruments[0].symbol)
        self.report = DataValidator(self.timeframe, self.config).validate(raw)
        return {self.instruments[0]: self.report.accepted_batch(self.instruments[0])}


class CsvFeed(FileFeed):
    default_format = "csv"


class ParquetFeed(FileFeed):
    default_format = "parquet"


def write_bars(batches: Sequence[BarBatch], path: Path | str, fmt: str | None = None) -> int:
    """Write batches to one CSV/Parquet file (``symbol`` column when several); returns rows.

    Timestamps are written as epoch milliseconds, the ccxt convention every reader accepts.
    Written to a temporary file and renamed, so a crash never leaves half a file.
    """
    import pyarrow as pa

    file = Path(path)
    kind = detect_format(file, fmt)
    if kind not in ("csv", "parquet"):
        raise ConfigError(f"can only write csv or parquet, not {kind}: use a .csv or .parquet path")
    parts = []
    for batch in batches:
        columns: dict[str, Any] = {"timestamp": pa.array(batch.ts // 1_000_000)}
        if len(batches) > 1:
            columns["symbol"] = pa.array([batch.instrument.symbol] * len(batch), pa.string())
        columns.update({k: pa.array(getattr(batch, k)) for k in _CCXT_NAMES[1:]})
        parts.append(pa.table(columns))
    table = pa.concat_tables(parts) if parts else pa.table({})
    from neo.data.store.atomic import atomic_path

    with atomic_path(file) as tmp:
        if kind == "csv":
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, tmp)
        else:
            import pyarrow.parquet as pq

            pq.write_table(table, tmp, compression="zstd", use_dictionary=False)
    return int(table.num_rows)
