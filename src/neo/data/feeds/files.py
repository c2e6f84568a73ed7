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
* pandas ``df.to_csv()`` output: an unnamed first column (header ``,Open,High,...``) is the
  timestamp. Semicolon-, tab- and pipe-separated files are detected from the header.
* ``dd/mm/yyyy`` and ``mm/dd/yyyy`` dates are told apart by a day above 12; a file where no
  row tells is refused unless ``date_format`` (strftime, ``--date-format``) says which.
* Text timestamps with an offset (``-0400``) are converted to UTC; daily stamps at local
  midnight keep their local date (a session's date does not move with its time zone).

Two columns that could both be the same field (``close`` and ``CLOSE``, ``timestamp`` and
``time``) are an error, never a silent choice. Large files are read in chunks
(:meth:`BarFile.chunks`) so memory stays bounded whatever the file's size.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from neo.data.config import ValidationConfig
from neo.data.feeds.base import BatchFeed
from neo.data.feeds.timestamps import column_to_ns, date_order_of
from neo.data.validate import DataValidator, RawBars
from neo.domain.bar import BarBatch, BoolArray, FloatArray, IntArray
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


def _check_file(path: Path, fmt: str | None) -> str:
    kind = detect_format(path, fmt)
    if not path.is_file():
        raise DataFormatError(f"file {path} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise DataFormatError(f"file {path} is empty: nothing to read")
    return kind


def _read_error(path: Path, kind: str, exc: Exception) -> DataFormatError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    hint = ""
    if kind == "csv" and "Expected" in first and "columns" in first:
        hint = " (is it separated by something other than , ; tab or |?)"
    return DataFormatError(f"cannot read {path.name} as {kind}: {first}{hint}")


def read_table(path: Path, fmt: str | None = None) -> Any:
    """Read ``path`` into a pyarrow Table (any layout above), raising DataFormatError."""
    kind = _check_file(path, fmt)
    try:
        return _READERS[kind](path)
    except DataFormatError:
        raise
    except Exception as exc:  # pyarrow/msgspec raise many types for unreadable input
        raise _read_error(path, kind, exc) from exc


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


_DELIMITERS = (",", ";", "\t", "|")
_OFFSET = re.compile(r"\d[+-]\d{2}:?\d{2}$")  # pyarrow would drop it: read as text
_SLASH_DATE = re.compile(r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b")


@dataclass(frozen=True, slots=True)
class CsvLayout:
    """What the first lines of a CSV say: separator, header or not, and how its timestamps
    are written (read as text when they carry an offset or a day/month order to decide)."""

    delimiter: str
    headerless: bool
    text_ts: bool
    header: tuple[str, ...] = ()


def _head_lines(path: Path) -> list[str]:
    with path.open("rb") as handle:
        head = handle.read(65_536).decode("utf-8-sig", errors="replace")
    lines = [line for line in head.splitlines() if line.strip()]
    return lines[:-1] if len(lines) > 2 else lines  # the last line may be cut


def _delimiter(lines: list[str]) -> str:
    """The separator used the same number of times (and most often) on the first lines."""
    best, best_count = ",", 0
    for delimiter in _DELIMITERS:
        counts = {line.count(delimiter) for line in lines[:20]}
        count = lines[0].count(delimiter) if lines else 0
        if len(counts) == 1 and count > best_count:
            best, best_count = delimiter, count
    return best


def sniff_csv(path: Path) -> CsvLayout:
    """The :class:`CsvLayout` of a CSV file from its first 64 kB."""
    import csv

    lines = _head_lines(path)
    delimiter = _delimiter(lines)
    rows = [[c.strip().strip('"').strip() for c in r] for r in csv.reader(lines[:50],
            delimiter=delimiter)]  # fmt: skip
    if not rows:
        return CsvLayout(delimiter, False, False)
    headerless = _first_row_is_data(rows[0])
    body = rows if headerless else rows[1:]
    ts_index = 0 if headerless else _ts_index(rows[0])
    cells = [r[ts_index] for r in body if len(r) > ts_index]
    text_ts = any(_OFFSET.search(c) or _SLASH_DATE.match(c) for c in cells if not _is_number(c))
    header = tuple(_CCXT_NAMES) if headerless else tuple(next(csv.reader(lines[:1],
                   delimiter=delimiter)))  # fmt: skip
    return CsvLayout(delimiter, headerless, text_ts, header)


def _ts_index(header: list[str]) -> int:
    lower = [c.lower() for c in header]
    return next((i for i, c in enumerate(lower) if c in _ALIASES["ts"]), 0)


def _first_row_is_data(cells: list[str]) -> bool:
    """True when the first CSV row is a bar, not a header: it names no known column and most
    of its price/volume cells are numbers (whatever the timestamp looks like: ISO text too)."""
    known = {a for aliases in _ALIASES.values() for a in aliases} | set(_SYMBOL_COLUMNS)
    if any(c.lower() in known for c in cells):
        return False
    values = cells[1:6]
    return len(cells) >= 6 and 2 * sum(_is_number(c) for c in values) > len(values)


def _csv_options(layout: CsvLayout, mode: str) -> Any:
    """pyarrow read/parse/convert options. ``mode`` ``"typed"`` reads prices as float64
    (fast); ``"inferred"`` lets pyarrow infer every column's type from the whole file;
    ``"text"`` reads every column as text, converted here so a bad cell costs only its row."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    read = pacsv.ReadOptions(column_names=_CCXT_NAMES if layout.headerless else None)
    parse = pacsv.ParseOptions(delimiter=layout.delimiter)
    types: dict[str, Any] = {}
    if mode == "text":
        types = {name: pa.string() for name in layout.header}
    elif mode == "typed":
        types = {n: pa.float64() for n in layout.header if _key_of(n) in _CCXT_NAMES[1:]}
    if layout.text_ts and mode != "text":
        types.update({n: pa.string() for n in layout.header if _key_of(n) == "ts"})
    convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True)
    return read, parse, convert


def _key_of(name: str) -> str | None:
    lower = name.lower().strip()
    return next((key for key, aliases in _ALIASES.items() if lower in aliases), None)


def _read_csv(path: Path) -> Any:
    import pyarrow.csv as pacsv

    layout = sniff_csv(path)
    read, parse, convert = _csv_options(layout, "typed")
    try:
        return pacsv.read_csv(path, read_options=read, parse_options=parse,
                              convert_options=convert)  # fmt: skip
    except Exception:  # a cell that is no number: infer types, judged row by row
        read, parse, convert = _csv_options(layout, "inferred")
        return pacsv.read_csv(path, read_options=read, parse_options=parse,
                              convert_options=convert)  # fmt: skip


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


_UNNAMED = re.compile(r"^(unnamed: ?0|index|)$", re.IGNORECASE)


def _column_map(names: Sequence[str]) -> dict[str, str]:
    """The file column of each OHLCV field; an error, never a guess, when two columns could
    be the same field (``close`` and ``CLOSE``; ``timestamp`` beside ``time``)."""
    by_lower: dict[str, list[str]] = {}
    for name in names:
        by_lower.setdefault(name.lower().strip(), []).append(name)
    clashes = [group for group in by_lower.values() if len(group) > 1]
    if clashes:
        raise DataFormatError(
            f"columns {' and '.join(repr(n) for n in clashes[0])} differ only by case: keep "
            "one of them (NEO will not guess which holds the data)"
        )
    found: dict[str, str] = {}
    for key, aliases in _ALIASES.items():
        matches = [by_lower[a][0] for a in aliases if a in by_lower]
        if len(matches) > 1:
            what = "timestamp" if key == "ts" else key
            raise DataFormatError(
                f"columns {' and '.join(repr(m) for m in matches)} could both be the {what}: "
                "keep one of them (or combine a separate date and time into one column)"
            )
        found[key] = matches[0] if matches else ""
    unnamed = bool(names) and _UNNAMED.match(str(names[0]).strip()) is not None
    if not found["ts"] and unnamed:
        found["ts"] = names[0]  # pandas df.to_csv(): the index, unnamed, is the timestamp
    missing = [k for k, v in found.items() if not v and not (k == "ts" and v == names[0])]
    if missing:
        raise DataFormatError(
            f"unknown columns {list(names)}: need timestamp, open, high, low, close, volume "
            f"(missing {', '.join('timestamp' if m == 'ts' else m for m in missing)})"
        )
    return found


def symbol_column(names: Sequence[str]) -> str | None:
    """The column naming each row's symbol (``symbol`` or ``pair``), if any."""
    return next((n for n in names if n.lower().strip() in _SYMBOL_COLUMNS), None)


def file_symbols(table: Any) -> list[str]:
    """The distinct symbols of a table with a symbol column, in order of appearance."""
    import pyarrow.compute as pc

    name = symbol_column(table.column_names)
    if name is None:
        return []
    return [str(s) for s in pc.unique(table.column(name).cast("string")).to_pylist()]


def _select_symbol(table: Any, symbol: str | None) -> Any:
    import pyarrow.compute as pc

    name = symbol_column(table.column_names)
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


def table_to_raw(
    table: Any,
    *,
    symbol: str | None = None,
    source: str = "input",
    date_format: str | None = None,
) -> RawBars:
    """Map a pyarrow table's columns to :class:`RawBars` (see the module docstring)."""
    table = _select_symbol(table, symbol)
    columns = _column_map(table.column_names)
    if table.num_rows == 0:
        hint = f" for symbol {symbol}" if symbol else ""
        raise DataFormatError(f"{source} has no rows{hint}: nothing to ingest")
    stamps = table.column(columns["ts"]).combine_chunks()
    date_format = date_format or date_order_of(stamps, source)
    return columns_to_raw(table, columns, date_format=date_format)


def columns_to_raw(
    table: Any, columns: dict[str, str], *, date_format: str | None = None, first_row: int = 0
) -> RawBars:
    """The mapped columns of a table or record batch as :class:`RawBars`; rows are numbered
    from ``first_row`` (the chunk's place in its file)."""
    ts, valid = column_to_ns(_whole(table.column(columns["ts"])), date_format)
    o, h, lo, c, v = (_to_float(_whole(table.column(columns[k]))) for k in _CCXT_NAMES[1:])
    return RawBars.from_arrays(ts, o, h, lo, c, v, ts_valid=valid, first_row=first_row)


def _whole(column: Any) -> Any:
    return column.combine_chunks() if hasattr(column, "combine_chunks") else column


def read_bar_file(
    path: Path | str,
    fmt: str | None = None,
    *,
    symbol: str | None = None,
    date_format: str | None = None,
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
        return table_to_raw(table, symbol=symbol, source=file.name, date_format=date_format)
    except DataFormatError:
        raise
    except Exception as exc:  # e.g. timestamps outside the representable range
        raise DataFormatError(f"cannot interpret the columns of {file.name}: {exc}") from exc


CHUNK_ROWS = 250_000


class BarFile:
    """A bar file opened for reading in chunks of about ``chunk_rows`` rows.

    The layout (columns, separator, symbol column, day/month order) is settled once for the
    whole file when it is opened, so every chunk is read the same way; CSV is streamed with
    line-aligned pieces and Parquet by record batches, so memory does not grow with
    the file. JSON and feather files are read whole (they are small, or memory-mapped). CSV
    pieces end at line ends, so a quoted cell holding a line break (never seen in bar files)
    is not supported.
    """

    def __init__(self, path: Path | str, fmt: str | None = None, *, date_format: str | None = None):
        self.path = Path(path)
        self.kind = _check_file(self.path, fmt)
        self.layout = sniff_csv(self.path) if self.kind == "csv" else None
        self._table: Any = None
        try:
            names = self._names()
        except DataFormatError:
            raise
        except Exception as exc:
            raise _read_error(self.path, self.kind, exc) from exc
        self.columns = _column_map(names)
        self.symbol_column = symbol_column(names)
        self.date_format = date_format or self._date_order()

    def _names(self) -> list[str]:
        if self.kind == "csv":
            if self.layout is None:  # pragma: no cover - only csv files have a layout
                raise DataFormatError(f"{self.path.name}: not a delimited text file")
            return list(self.layout.header)
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(self.path).schema_arrow.names)
        self._table = _READERS[self.kind](self.path)
        return list(self._table.column_names)

    def _date_order(self) -> str | None:
        """Settle dd/mm against mm/dd over every row of a text timestamp column."""
        from neo.data.feeds.timestamps import decide_date_order, slash_date_evidence

        if self.kind == "csv" and not (self.layout and self.layout.text_ts):
            return None
        seen = [False, False, False]
        for batch in self._batches(CHUNK_ROWS, [self.columns["ts"]]):
            found = slash_date_evidence(_whole(batch.column(self.columns["ts"])))
            seen = [a or b for a, b in zip(seen, found, strict=True)]
        return decide_date_order((seen[0], seen[1], seen[2]), self.path.name)

    def _csv_pieces(self, size: int) -> Iterator[bytes]:
        """The CSV's data rows in pieces of about ``size`` bytes, each ending at a line end
        (the header left out). Read here rather than by pyarrow's streaming reader, whose
        read-ahead holds most of a large file in memory when the consumer is slower."""
        if self.layout is None:  # pragma: no cover - only csv files have a layout
            raise DataFormatError(f"{self.path.name}: not a delimited text file")
        with self.path.open("rb") as handle:
            if not self.layout.headerless:
                handle.readline()
            while True:
                data = handle.read(size)
                if not data:
                    return
                yield data + handle.readline()

    def _read_piece(self, data: bytes, mode: str, include: list[str] | None) -> Any:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        if self.layout is None:  # pragma: no cover - only csv files have a layout
            raise DataFormatError(f"{self.path.name}: not a delimited text file")
        _, parse, convert = _csv_options(self.layout, mode)
        read = pacsv.ReadOptions(column_names=list(self.layout.header))
        if include is not None:
            convert.include_columns = include
        return pacsv.read_csv(pa.BufferReader(data), read_options=read, parse_options=parse,
                              convert_options=convert)  # fmt: skip

    def _block_size(self, rows: int) -> int:
        lines = _head_lines(self.path)
        per_row = max(16, sum(len(line) + 1 for line in lines) // max(len(lines), 1))
        return int(min(max(rows * per_row, 1 << 16), 1 << 28))

    def _batches(self, rows: int, include: list[str] | None = None) -> Iterator[Any]:
        """Tables of about ``rows`` rows in file order; a CSV piece with a cell that is no
        number is read again as text, converted here so that cell costs only its row."""
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            yield from pq.ParquetFile(self.path).iter_batches(batch_size=rows, columns=include)
            return
        if self._table is not None:
            table = self._table if include is None else self._table.select(include)
            yield from table.to_batches(max_chunksize=rows)
            return
        for data in self._csv_pieces(self._block_size(rows)):
            try:
                yield self._read_piece(data, "typed", include)
            except Exception:  # a cell the typed reader cannot take
                yield self._read_piece(data, "text", include)

    def timestamps(
        self, rows: int = CHUNK_ROWS
    ) -> Iterator[tuple[IntArray, BoolArray, list[str] | None, Any]]:
        """``(ts, valid, symbols, symbol_of_row)`` per chunk: the timestamp column alone (and
        the symbol column), read and converted exactly as :meth:`chunks` does."""
        import pyarrow.compute as pc

        include = [self.columns["ts"]]
        if self.symbol_column is not None:
            include.append(self.symbol_column)
        try:
            for batch in self._batches(rows, include):
                ts, valid = column_to_ns(_whole(batch.column(self.columns["ts"])),
                                         self.date_format)  # fmt: skip
                if self.symbol_column is None:
                    yield ts, valid, None, None
                    continue
                column = _whole(batch.column(self.symbol_column)).cast("string")
                yield ts, valid, [str(x) for x in pc.unique(column).to_pylist()], column
        except DataFormatError:
            raise
        except Exception as exc:
            raise _read_error(self.path, self.kind, exc) from exc

    def chunks(self, rows: int = CHUNK_ROWS) -> Iterator[tuple[RawBars, list[str] | None, Any]]:
        """``(raw, symbols, symbol_of_row)`` per chunk: the chunk's distinct symbols and each
        row's symbol (a pyarrow array) when the file has a symbol column, else None twice."""
        import pyarrow.compute as pc

        first = 0
        try:
            for batch in self._batches(rows):
                raw = columns_to_raw(batch, self.columns, date_format=self.date_format,
                                     first_row=first)  # fmt: skip
                first += batch.num_rows
                if self.symbol_column is None:
                    yield raw, None, None
                    continue
                column = _whole(batch.column(self.symbol_column)).cast("string")
                yield raw, [str(x) for x in pc.unique(column).to_pylist()], column
        except DataFormatError:
            raise
        except Exception as exc:
            raise _read_error(self.path, self.kind, exc) from exc


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
