"""Damaged store files: find them and describe them in one line that says what to do.

pyarrow and DuckDB raise many error types with multi-line messages (DuckDB appends the query
and a caret). The CLI prints a StoreError as one ``error: ...`` line, so every message built
here is one line and names the file at fault.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from neo.domain.errors import StoreError


def one_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (its type name if there is none)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def parquet_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as Parquet (footer and metadata), or None if it can."""
    import pyarrow.parquet as pq

    try:
        pq.ParquetFile(path).metadata  # noqa: B018 - reading it is the check
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, … for damaged files
        return one_line(exc)
    return None


def damaged_file_error(path: Path, problem: str) -> StoreError:
    return StoreError(
        f"stored file {path} is damaged ({problem}): move it out of the store, then ingest "
        "its data again"
    )


def first_damaged(files: Iterable[Path]) -> StoreError | None:
    """A StoreError naming the first unreadable file among ``files``, or None."""
    for path in files:
        problem = parquet_problem(path)
        if problem is not None:
            return damaged_file_error(path, problem)
    return None
