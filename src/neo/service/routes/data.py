"""``/v1/candles``, ``/v1/stats``, ``/v1/quarantine``: candles in and out through the one
ingestion service (:mod:`neo.app.ingest`)."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from neo.app import ingest as use
from neo.domain.errors import ConfigError, DataFormatError
from neo.service.auth import READ, TRADE
from neo.service.ingest_pool import named_series
from neo.service.responses import as_json, plain_json
from neo.service.state import ServiceState, service_state, state_of

if TYPE_CHECKING:
    from neo.data.ingest import DataIngestionAPI
    from neo.service.ingest_pool import IngestPool
    from neo.settings import NeoSettings

router = APIRouter(prefix="/v1", tags=["data"])
State = Annotated[ServiceState, Depends(service_state)]
Text = Annotated[str | None, Query(max_length=200)]

_KINDS = {
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "text/csv": "csv",
    "application/csv": "csv",
    "multipart/form-data": "multipart",
}
_CANDLE_SCHEMA = {"$ref": "#/components/schemas/CandleBatch"}
_POST_QUERY = (("venue", 200), ("symbol", 200), ("timeframe", 16))
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
_POST_DOC: dict[str, Any] = {
    "parameters": [
        *(
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {"type": "string", "maxLength": limit},
            }
            for name, limit in _POST_QUERY
        ),
        {
            "name": "replace",
            "in": "query",
            "required": False,
            "schema": {"type": "boolean", "default": False},
        },
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _CANDLE_SCHEMA},
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    },
}


def _kind(request: Request) -> str:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    kind = _KINDS.get(media)
    if kind is None:
        raise HTTPException(
            415,
            f"content type {media or '(none)'!r} is not accepted: send application/json, "
            "application/x-ndjson, text/csv or a multipart/form-data file",
        )
    return kind


def _post_query(request: Request) -> tuple[dict[str, str | None], bool]:
    """``venue``, ``symbol``, ``timeframe`` and ``replace`` of a POST, checked as FastAPI checks
    declared query parameters (the same 422 problem), read directly: FastAPI's parameter
    machinery cost a quarter of the service's own time per 1,000-candle request."""
    query = request.query_params
    values: dict[str, str | None] = {}
    errors: list[dict[str, Any]] = []
    for name, limit in _POST_QUERY:
        value = values[name] = query.get(name)
        if value is not None and len(value) > limit:
            errors.append(
                {"type": "string_too_long", "loc": ("query", name), "input": value,
                 "msg": f"String should have at most {limit} characters"}
            )  # fmt: skip
    text = query.get("replace")
    replace = text is not None and text.strip().lower() in _TRUE
    if text is not None and not replace and text.strip().lower() not in _FALSE:
        errors.append(
            {"type": "bool_parsing", "loc": ("query", "replace"), "input": text,
             "msg": "Input should be a valid boolean, unable to interpret input"}
        )  # fmt: skip
    if errors:
        raise RequestValidationError(errors)
    return values, replace


async def _upload(request: Request) -> tuple[bytes, str]:
    """The ``file`` field of a multipart form and its kind (ndjson by its name, else csv)."""
    async with request.form() as form:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise DataFormatError("send the candles as a form field named file")
        data = await upload.read()
        name = (upload.filename or "").lower()
    return data, "ndjson" if name.endswith((".ndjson", ".jsonl")) else "csv"


def _parsed(body: bytes, kind: str) -> tuple[use.CandleRows, dict[str, str | None]]:
    """The body as rows, and the instrument it names (JSON body) or nothing (query decides)."""
    if kind == "json":
        return use.rows_from_json(body)
    return use.rows_from_text(body, kind), {}


@router.post(
    "/candles",
    openapi_extra=_POST_DOC,
    dependencies=[TRADE],
    summary="Validate and store candles; answers accepted and rejected rows with reasons.",
)
async def post_candles(request: Request) -> Response:
    """JSON ``{venue, symbol, timeframe, candles: [{timestamp (ms), open, high, low, close,
    volume}]}``, or NDJSON / CSV rows (then ``symbol`` etc. as query parameters; ``replace``
    lets this key's candles change bars another source stored)."""
    state = state_of(request)
    query, replace = _post_query(request)
    kind = _kind(request)
    key = getattr(request.state, "key_id", "anonymous")
    if kind == "multipart":
        body, kind = await _upload(request)
    else:
        body = await request.body()
    source = f"api:{key}"
    pool = state.ingest_pool

    def ingest() -> bytes:
        # one worker thread does the request's work (decode, validate, store, answer), off the
        # event loop, which keeps accepting requests meanwhile; at most
        # service.ingest_threads of them at once
        if pool is not None:
            return _pooled(state, pool, body, kind, query, source, replace)
        return ingest_body(
            state.api, state.settings, body, kind, query, source, replace, state.series_lock
        )

    answer = await to_thread.run_sync(ingest, limiter=state.ingest_limiter())
    return Response(answer, media_type="application/json")


def ingest_body(
    api: DataIngestionAPI,
    settings: NeoSettings,
    body: bytes,
    kind: str,
    query: dict[str, str | None],
    source: str,
    replace: bool,
    lock: Callable[[str, str], AbstractContextManager[Any]] | None = None,
) -> bytes:
    """A POST's work, in this process or an ingest worker: decode the body, validate and
    store its rows (under ``lock(venue, symbol)`` when given), the answer's JSON."""
    rows, named = _parsed(body, kind)
    chosen_symbol = named.get("symbol") or query["symbol"]
    if not chosen_symbol:
        raise ConfigError("name the candles' symbol: ?symbol=BTC/USDT (or symbol in the JSON)")
    chosen_venue = named.get("venue") or query["venue"] or settings.data.default_venue
    with lock(chosen_venue, chosen_symbol) if lock is not None else nullcontext():
        payload = use.ingest_rows(
            api, settings, rows, symbol=chosen_symbol, venue=chosen_venue,
            timeframe=named.get("timeframe") or query["timeframe"], source=source,
            replace=replace,
        )  # fmt: skip
    return plain_json(payload)


def _pooled(state: ServiceState, pool: IngestPool, body: bytes, kind: str,
            query: dict[str, str | None], source: str, replace: bool) -> bytes:  # fmt: skip
    """A POST stored by the ingest worker owning its series, under the series' lock here (so
    one series is stored and published in order); its report counted and published here."""
    named_venue, named_symbol = named_series(body, kind)
    chosen_symbol = (named_symbol or query["symbol"] or "").strip()
    chosen_venue = named_venue or query["venue"] or state.settings.data.default_venue
    # no symbol: the worker answers with the ingestion's own error
    shard = pool.index(chosen_venue, chosen_symbol) if chosen_symbol else 0
    lock = state.series_lock(chosen_venue, chosen_symbol) if chosen_symbol else nullcontext()
    with lock:
        answer, report = pool.ingest(shard, body, kind, query, source, replace)
        if report is not None:
            state.stored(report)
    return answer


@router.get("/candles", dependencies=[READ], summary="Stored candles, a page at a time.")
def get_candles(
    request: Request,
    state: State,
    symbol: Annotated[str, Query(min_length=1, max_length=200)],
    venue: Text = None,
    timeframe: Annotated[str | None, Query(max_length=16)] = None,
    start: Text = None,
    end: Text = None,
    limit: Annotated[int, Query(ge=1, le=use.MAX_PAGE)] = 1000,
    cursor: Annotated[int | None, Query(ge=0, description="next_cursor of the page before")] = None,
    format: Annotated[str | None, Query(pattern="^(json|csv|arrow)$")] = None,
) -> Response:
    """JSON by default; ``format=csv|arrow`` (or ``Accept: text/csv`` /
    ``application/vnd.apache.arrow.stream``). ``next_cursor`` (also the ``X-Next-Cursor``
    header) fetches the next page."""
    with state.store_lock:
        page = use.read_candles(
            state.api, state.settings, symbol=symbol, venue=venue, timeframe=timeframe,
            start=start, end=end, limit=limit, cursor=cursor,
        )  # fmt: skip
    chosen = format or _accepted(request.headers.get("accept", ""))
    headers = {} if page.next_cursor is None else {"X-Next-Cursor": str(page.next_cursor)}
    if chosen == "csv":
        return Response(_csv(page), media_type="text/csv", headers=headers)
    if chosen == "arrow":
        return Response(
            _arrow(page), media_type="application/vnd.apache.arrow.stream", headers=headers
        )
    body = {
        "instrument": str(page.instrument),
        "timeframe": str(page.timeframe),
        "candles": page.rows(),
        "next_cursor": page.next_cursor,
    }
    return as_json(body, headers=headers)


def _accepted(accept: str) -> str:
    if "text/csv" in accept:
        return "csv"
    if "arrow" in accept:
        return "arrow"
    return "json"


def _csv(page: use.CandlePage) -> str:
    out = io.StringIO()
    out.write("timestamp,open,high,low,close,volume\n")
    for row in page.rows():
        out.write(
            f"{row['timestamp']},{row['open']!r},{row['high']!r},{row['low']!r},"
            f"{row['close']!r},{row['volume']!r}\n"
        )
    return out.getvalue()


def _arrow(page: use.CandlePage) -> bytes:
    import pyarrow as pa

    table = pa.table(
        {
            "ts": pa.array(page.columns["ts"], pa.timestamp("ns", tz="UTC")),
            **{n: pa.array(page.columns[n]) for n in ("open", "high", "low", "close", "volume")},
        }
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


@router.get("/stats", dependencies=[READ], summary="One dataset's statistics, or every dataset.")
def get_stats(
    state: State,
    symbol: Text = None,
    venue: Text = None,
    timeframe: Annotated[str | None, Query(max_length=16)] = None,
    start: Text = None,
    end: Text = None,
) -> Response:
    """With ``symbol``: what ``neo data stats --json`` prints; without: the stored datasets."""
    with state.store_lock:
        if symbol is None:
            datasets = [
                {"venue": d.venue, "symbol": d.symbol, "timeframe": d.timeframe, "rows": d.rows}
                for d in state.api.datasets()
            ]
            return as_json({"datasets": datasets})
        stats = use.dataset_stats(
            state.api, state.settings, symbol=symbol, venue=venue, timeframe=timeframe,
            start=start, end=end,
        )  # fmt: skip

    return as_json(stats)


@router.get("/quarantine", dependencies=[READ], summary="Rows rejected at ingestion.")
def get_quarantine(
    state: State,
    symbol: Text = None,
    venue: Text = None,
    timeframe: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=0, le=10_000)] = 20,
) -> Response:
    """What ``neo data quarantine --json`` prints."""
    with state.store_lock:
        view = use.quarantine_view(
            state.api, state.settings, symbol=symbol, venue=venue, timeframe=timeframe,
            limit=limit,
        )  # fmt: skip

    return as_json(view)
