"""POST /v1/candles bodies: the msgspec/numpy JSON path reads every body as the pandas path it
replaced did, the CLI and the API reject the same rows for the same reasons, and no body, however
wrong, is answered 500."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from neo.app.ingest import rows_from_json
from neo.cli.main import app
from neo.data.validate import DataValidator, RawBars, as_raw_bars
from tests.unit.service.conftest import MINUTE_MS, T0_MS, Service, candles

BTC = {"venue": "sim", "symbol": "BTC/USDT", "timeframe": "1m"}
FIELDS = ("open", "high", "low", "close", "volume")


def _reference(rows: list[dict[str, Any]]) -> RawBars:
    """The rows as the pandas path read them before (nullable ms → ns, None → NaN)."""
    frame = pd.DataFrame(
        {
            "ts": pd.Series(
                [None if r.get("timestamp") is None else r["timestamp"] * 1_000_000 for r in rows],
                dtype=object,
            ),
            **{name: [r.get(name) for r in rows] for name in FIELDS},
        }
    )
    if frame["ts"].notna().all():
        frame["ts"] = frame["ts"].astype("int64")
    return as_raw_bars(frame)


def _same(a: RawBars, b: RawBars) -> None:
    for name in ("ts_valid", "source_row", *FIELDS):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_array_equal(a.ts[a.ts_valid], b.ts[b.ts_valid])


price = st.one_of(
    st.none(),
    st.floats(min_value=-10.0, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.integers(min_value=-5, max_value=10**6),
)
stamp = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=50).map(lambda i: T0_MS + i * MINUTE_MS),
    # any time int64 ns can hold (beyond it the pandas path overflowed: see the test below)
    st.integers(min_value=-(2**63 // 1_000_000) + 1, max_value=(2**63 - 1) // 1_000_000),
)
candle = st.fixed_dictionaries(
    {"timestamp": stamp, **{name: price for name in FIELDS}},
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(candle, min_size=1, max_size=30))
def test_json_rows_are_read_as_the_pandas_path_read_them(rows: list[dict[str, Any]]) -> None:
    body = json.dumps({**BTC, "candles": rows}).encode()
    fast, named = rows_from_json(body)
    reference = _reference(rows)
    _same(fast.raw, reference)
    assert named == {"venue": "sim", "symbol": "BTC/USDT", "timeframe": "1m"}
    validator = DataValidator("1m")
    ours, theirs = validator.validate(fast.raw), validator.validate(reference)
    assert ours.reasons == theirs.reasons and ours.summary() == theirs.summary()


def _bad_rows() -> list[dict[str, Any]]:
    rows = candles(12)
    rows[1] = {**rows[1], "high": rows[1]["low"] - 1}  # ohlc_order
    rows[3] = {**rows[3], "timestamp": rows[3]["timestamp"] + 7}  # misaligned_ts
    rows[4] = {**rows[4], "close": None}  # non_finite
    rows[6] = {**rows[6], "volume": -1.0}  # negative_volume
    rows[7] = {**rows[7], "open": 0.0, "low": 0.0}  # non_positive_price
    rows[9] = {**rows[8], "close": rows[8]["close"] * 1.0001}  # duplicate_conflict with row 8
    rows[11] = {**rows[11], "timestamp": None}  # invalid_ts
    return rows


def test_cli_and_api_reject_the_same_rows_for_the_same_reasons(
    service: Service, tmp_path: Path
) -> None:
    rows = _bad_rows()
    lines = ["timestamp,open,high,low,close,volume"]
    for r in rows:
        cells = [r["timestamp"], *(r[name] for name in FIELDS)]
        lines.append(",".join("" if c is None else str(c) for c in cells))
    (tmp_path / "bars.csv").write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(
        app,
        ["--data-dir", str(tmp_path / "cli"), "ingest", str(tmp_path / "bars.csv"),
         "--symbol", "BTC/USDT", "--venue", "sim", "--timeframe", "1m", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    cli = json.loads(result.stdout)
    answer = service.client.post(
        "/v1/candles", json={**BTC, "candles": rows}, headers=service.auth("trade")
    )
    assert answer.status_code == 200, answer.text
    api = answer.json()
    for key in ("rows_read", "accepted", "rejected", "merged_duplicates", "counts_by_rule"):
        assert api[key] == cli[key], key
    reasons = {r["row"]: r["reasons"] for r in api["rejected_rows"]}
    assert reasons == {
        1: ["ohlc_order"], 3: ["misaligned_ts"], 4: ["non_finite"], 6: ["negative_volume"],
        7: ["non_positive_price"], 8: ["duplicate_conflict"], 9: ["duplicate_conflict"],
        11: ["invalid_ts"],
    }  # fmt: skip
    quarantine = service.client.get("/v1/quarantine", headers=service.auth("read")).json()
    assert quarantine["rows"] == 8


@pytest.mark.parametrize("timestamp", [10**13, -(10**13), 2**63, 10**19, 10**30])
def test_a_timestamp_beyond_2262_is_a_rejected_row_not_a_500(
    service: Service, timestamp: int
) -> None:
    """Its nanoseconds overflow int64: the row is unreadable (invalid_ts), the others stored.
    (The pandas path answered 500.)"""
    rows = candles(3)
    rows[1] = {**rows[1], "timestamp": timestamp}
    body = json.dumps({**BTC, "candles": rows}).encode()
    service.client.raise_server_exceptions = False  # type: ignore[attr-defined]
    headers = {**service.auth("trade"), "Content-Type": "application/json"}
    answer = service.client.post("/v1/candles", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["accepted"] == 2
    assert report["rejected_rows"] == [
        {"row": 1, "ts": None, "ts_ns": None, "reasons": ["invalid_ts"]}
    ]


GOOD = json.dumps(candles(1)[0])
BAD_JSON_BODIES = [
    b'{"candles": [' + GOOD.encode() + b"]}",  # no symbol
    b'{"symbol": "X/USDT"}',  # no candles
    b'{"symbol": "X/USDT", "candles": {}}',
    b'{"symbol": 5, "candles": [' + GOOD.encode() + b"]}",
    b'{"symbol": "X/USDT", "candles": [[1, 2, 3, 4, 5, 6]]}',
    b'{"symbol": "X/USDT", "candles": [{"timestamp": "1700000000000"}]}',
    b'{"symbol": "X/USDT", "candles": [{"timestamp": 1700000000000.5}]}',
    b'{"symbol": "X/USDT", "candles": [{"timestamp": true}]}',
    b'{"symbol": "X/USDT", "candles": [{"open": "NaN"}]}',
    b'{"symbol": "X/USDT", "candles": [{"open": NaN}]}',
    b'{"symbol": "X/USDT", "candles": [{"open": Infinity}]}',
    b'{"symbol": "X/USDT", "candles": [{"open": 1e400}]}',
    b'{"symbol": "X/USDT", "candles": [{"open": ' + b"9" * 400 + b"}]}",
    b'{"symbol": "X/USDT", "candles": [{"opn": 1}]}',
    b'{"symbol": "X/USDT", "candles": [null]}',
    b'{"symbol": "X/USDT", "candles": []}',
    b'{"symbol": "", "candles": [' + GOOD.encode() + b"]}",
    b'{"symbol": "' + b"A" * 65 + b'", "candles": [' + GOOD.encode() + b"]}",
    b'{"symbol": "X/USDT", "venue": [], "candles": [' + GOOD.encode() + b"]}",
    b'{"symbol": "X/USDT", "candles": [' + GOOD.encode() + b"]",
    b'{"symbol": "X/USDT\xff\xfe", "candles": []}',
    b"\xff\xfe\x00{",
    b"",
    b"null",
    b"[]",
    b'"candles"',
]


@pytest.mark.parametrize("body", BAD_JSON_BODIES)
def test_bad_json_bodies_are_422_problems(service: Service, body: bytes) -> None:
    service.client.raise_server_exceptions = False  # type: ignore[attr-defined]
    headers = {**service.auth("trade"), "Content-Type": "application/json"}
    answer = service.client.post("/v1/candles", content=body, headers=headers)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"]


def test_a_row_of_nulls_is_answered_rejected_not_refused(service: Service) -> None:
    rows = [*candles(2), {"timestamp": None}, {}]
    answer = service.client.post(
        "/v1/candles", json={**BTC, "candles": rows}, headers=service.auth("trade")
    )
    assert answer.status_code == 200, answer.text
    by_row = {r["row"]: r["reasons"] for r in answer.json()["rejected_rows"]}
    assert by_row == {2: ["invalid_ts", "non_finite"], 3: ["invalid_ts", "non_finite"]}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"symbol": "A" * 201}, "symbol"),
        ({"venue": "v" * 201}, "venue"),
        ({"timeframe": "1" * 17}, "timeframe"),
        ({"replace": "maybe"}, "replace"),
    ],
)
def test_bad_query_parameters_are_422_naming_the_field(
    service: Service, params: dict[str, str], field: str
) -> None:
    """The POST reads its query itself (no FastAPI parameter machinery): the same 422."""
    headers = {**service.auth("trade"), "Content-Type": "text/csv"}
    body = b"timestamp,open,high,low,close,volume\n1700000040000,1,2,0.5,1.5,3\n"
    answer = service.client.post(
        "/v1/candles", content=body, params={"symbol": "X/USDT", **params}, headers=headers
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert field in answer.text


def test_replace_reads_booleans_as_fastapi_did(service: Service) -> None:
    rows = candles(2)
    assert (
        service.client.post(
            "/v1/candles", json={**BTC, "candles": rows}, headers=service.auth("trade")
        ).status_code
        == 200
    )
    changed = [{**r, "close": r["close"] * 1.001} for r in rows]
    other = service.auth("admin")
    for flag, status in (("no", 409), ("0", 409), ("YES", 200), ("on", 200)):
        answer = service.client.post(
            "/v1/candles", json={**BTC, "candles": changed}, params={"replace": flag},
            headers=other,
        )  # fmt: skip
        assert answer.status_code == status, (flag, answer.text)
