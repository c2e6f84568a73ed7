"""OHLCV history from an exchange, page by page, through NEO's validation into the store.

:func:`iter_ohlcv_pages` walks ``fetch_ohlcv(since, limit)`` forward: each page starts just after
the last bar already taken, rows at or before it (a page boundary repeated) are dropped, and the
walk stops at ``until``, at an empty page or when a page makes no progress (never a hot loop).
The bar still forming (its close after *now*) is never taken: history holds closed bars only.
Each page is fetched through the exchange's rate limiter with backoff on retryable faults.

:func:`fetch_history` feeds the pages, in chunks, to :meth:`DataIngestionAPI.ingest_frame`, so
fetched bars meet exactly the rules ``neo ingest`` applies: rejects go to the quarantine with the
source ``ccxt:<exchange>``, duplicates merge, and bars another source stored are not changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from neo.adapters.ccxt.errors import translate
from neo.adapters.ccxt.ratelimit import Backoff, RetryBudget, retry_call
from neo.data.ingest import DataIngestionAPI, IngestReport
from neo.data.store.provenance import Provenance
from neo.domain.errors import ConfigError, DataNotFoundError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe
from neo.logs import get_logger

log = get_logger("adapters.ccxt.history")
_MS = 1_000_000
CHUNK_ROWS = 50_000

Row = list[float]


def bar_closed(ts_ms: int, step_ms: int, now_ms: int) -> bool:
    """Whether the *newest* bar a venue returned, opened at ``ts_ms``, is closed by the clock.

    Only when the venue is live: its end has passed but by less than one bar. A newest bar
    whose end is long past means a venue that is not live (a replay, ``neo exchange-sim``
    whose price path is not at wall time), where the newest bar is the one still forming and
    is closed only by the arrival of the next one.
    """
    end = ts_ms + step_ms
    return end <= now_ms < end + step_ms


def ccxt_timeframe(exchange: Any, timeframe: Timeframe) -> str:
    """The exchange's name for ``timeframe``; ConfigError when it has no such candles."""
    name = str(timeframe)
    offered = getattr(exchange, "timeframes", None) or {}
    if offered and name not in offered:
        raise ConfigError(
            f"{exchange.id} has no {name} candles: use one of {', '.join(list(offered)[:12])}"
        )
    return name


def iter_ohlcv_pages(
    exchange: Any,
    symbol: str,
    timeframe: Timeframe,
    since_ms: int,
    until_ms: int | None = None,
    *,
    limit: int | None = None,
    now_ms: Callable[[], int] | None = None,
    backoff: Backoff | None = None,
    budget: RetryBudget | None = None,
) -> Iterator[list[Row]]:
    """Pages of closed ``[ts_ms, o, h, l, c, v]`` rows in ``[since_ms, until_ms)``, in time
    order, each row once. A row is closed when a later one came in the same page, or by the
    clock (:func:`bar_closed`)."""
    name = ccxt_timeframe(exchange, timeframe)
    step = timeframe.nanos // _MS
    clock = now_ms or (lambda: int(time.time() * 1000))
    backoff = backoff or Backoff()
    budget = budget or getattr(exchange, "neo_budget", None) or RetryBudget()
    cursor = since_ms
    last: int | None = None
    while until_ms is None or cursor < until_ms:
        start = cursor

        def page(start: int = start) -> Any:
            return exchange.fetch_ohlcv(symbol, name, since=start, limit=limit)

        rows = retry_call(
            page,
            what=f"{exchange.id} fetch_ohlcv {symbol} {name}",
            translate=lambda exc: translate(exc, exchange.id),
            backoff=backoff,
            budget=budget,
        )
        now = clock()
        ordered = sorted((row for row in rows or []), key=lambda r: int(r[0]))
        newest = int(ordered[-1][0]) if ordered else None
        fresh = [
            [float(v) if v is not None else float("nan") for v in row]
            for row in ordered
            if (last is None or int(row[0]) > last)
            and int(row[0]) >= since_ms
            and (until_ms is None or int(row[0]) < until_ms)
            and (int(row[0]) < (newest or 0) or bar_closed(int(row[0]), step, now))
        ]
        if not fresh:
            return
        last = int(fresh[-1][0])
        yield fresh
        cursor = last + step


@dataclass
class FetchReport:
    """What ``neo data fetch`` did for one symbol (``--json`` prints ``to_dict()``)."""

    exchange: str
    instrument: str
    timeframe: str
    source: str
    pages: int = 0
    rows_fetched: int = 0
    accepted: int = 0
    rejected: int = 0
    merged_duplicates: int = 0
    stored: int = 0
    quarantine_path: str | None = None
    first_ts: int | None = None
    last_ts: int | None = None
    seconds: float = 0.0
    requests: int = 0
    chunks: list[dict[str, Any]] = field(default_factory=list)

    def add(self, report: IngestReport) -> None:
        self.accepted += report.accepted
        self.rejected += report.rejected
        self.merged_duplicates += report.merged_duplicates
        self.stored += report.stored
        self.quarantine_path = report.quarantine_path or self.quarantine_path
        if report.first_ts is not None and self.first_ts is None:
            self.first_ts = report.first_ts
        if report.last_ts is not None:
            self.last_ts = report.last_ts
        self.chunks.append(
            {
                "rows_read": report.rows_read,
                "accepted": report.accepted,
                "rejected": report.rejected,
                "counts_by_rule": report.counts_by_rule,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def source_of(exchange: Any) -> str:
    """``ccxt:<id>``, plus the host when the client's URL was overridden (``make_exchange``
    with ``url``), so a sim's bars are never mistaken for the venue's."""
    url = getattr(exchange, "neo_url", None)
    return f"ccxt:{exchange.id}@{urlsplit(url).hostname}" if url else f"ccxt:{exchange.id}"


def fetch_history(
    exchange: Any,
    api: DataIngestionAPI,
    symbol: str,
    timeframe: Timeframe | str,
    since_ns: int,
    until_ns: int | None = None,
    *,
    limit: int | None = None,
    on_page: Callable[[int, int], None] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    now_ms: Callable[[], int] | None = None,
    backoff: Backoff | None = None,
    replace: bool = False,
) -> FetchReport:
    """Fetch ``symbol``'s candles from ``since_ns`` (to ``until_ns`` or now) and ingest them.

    ``on_page(rows_so_far, last_ts_ns)`` reports progress. Bars another source stored are
    not changed (DataConflictError) unless ``replace``, as with ``neo ingest``. Raises
    DataNotFoundError when the exchange returned no closed bar in the window.
    """
    tf = Timeframe.parse(timeframe)
    instrument = InstrumentId(exchange.id, symbol)
    source = source_of(exchange)
    report = FetchReport(exchange.id, str(instrument), str(tf), source)
    started = time.perf_counter()
    before = exchange.neo_limiter.requests if hasattr(exchange, "neo_limiter") else 0
    provenance = Provenance(source, exchange=exchange.id, action="fetch")
    pending: list[Row] = []

    def flush() -> None:
        if pending:
            columns = np.asarray(pending, dtype=np.float64)
            frame = {
                "ts": columns[:, 0].astype(np.int64) * _MS,
                "open": columns[:, 1],
                "high": columns[:, 2],
                "low": columns[:, 3],
                "close": columns[:, 4],
                "volume": columns[:, 5],
            }
            report.add(
                api.ingest_frame(
                    frame,
                    instrument=instrument,
                    timeframe=tf,
                    source=source,
                    provenance=provenance,
                    replace=replace,
                )
            )
            pending.clear()

    until_ms = None if until_ns is None else until_ns // _MS
    for rows in iter_ohlcv_pages(
        exchange, symbol, tf, since_ns // _MS, until_ms, limit=limit, now_ms=now_ms, backoff=backoff
    ):
        report.pages += 1
        report.rows_fetched += len(rows)
        pending.extend(rows)
        if len(pending) >= chunk_rows:
            flush()
        if on_page is not None:
            on_page(report.rows_fetched, int(rows[-1][0]) * _MS)
    flush()
    report.seconds = time.perf_counter() - started
    if hasattr(exchange, "neo_limiter"):
        report.requests = exchange.neo_limiter.requests - before
    if report.rows_fetched == 0:
        raise DataNotFoundError(
            f"{exchange.id} returned no closed {tf} bar of {symbol} in the window: check "
            "--since/--until (the exchange may not have data that old)"
        )
    log.info(
        "fetched %s %s from %s: %d rows in %d pages, %d accepted, %d rejected",
        instrument,
        tf,
        source,
        report.rows_fetched,
        report.pages,
        report.accepted,
        report.rejected,
    )
    return report
