"""Drive a running ``neo serve`` so that its metrics have series for the dashboards and alerts.

``make deploy-test`` calls this before Prometheus evaluates the panel queries: it POSTs
valid candles (``neo_candles_accepted_total``) and a batch with a bad row
(``neo_candles_rejected_total``), reads a few routes (``neo_http_requests_total``,
``neo_http_request_seconds``), sends one request without a key (a 401 in the status label),
and engages the kill switch of a test account (``neo_kill_switch_engaged``),
which the ``NeoKillSwitchEngaged`` alert must then report.

Usage: ``api_traffic.py BASE_URL API_KEY ACCOUNT``. Standard library only; loopback only.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any

MINUTE_MS = 60_000
START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def call(base: str, method: str, path: str, key: str | None, body: Any = None) -> tuple[int, Any]:
    """(status, decoded JSON body or None) of one request."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # loopback URL only
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


def candles(n: int, bad_row: bool) -> list[dict[str, float]]:
    rows = []
    price = 100.0
    for i in range(n):
        price *= 1.0 + (0.001 if i % 3 else -0.0015)
        rows.append(
            {"timestamp": START_MS + i * MINUTE_MS, "open": price, "high": price * 1.002,
             "low": price * 0.998, "close": price * 1.0005, "volume": 10.0 + i % 7}
        )  # fmt: skip
    if bad_row:
        rows[-1] = {**rows[-1], "high": rows[-1]["low"] * 0.5}  # high below low: rejected
    return rows


def main(argv: list[str]) -> int:
    base, key, account = argv[1], argv[2], argv[3]
    expectations: list[tuple[str, int, int]] = []

    def expect(what: str, status: int, wanted: int) -> None:
        expectations.append((what, status, wanted))

    good = {"venue": "sim", "symbol": "ETH/USDT", "timeframe": "1m", "candles": candles(200, False)}
    status, answer = call(base, "POST", "/v1/candles", key, good)
    expect("POST /v1/candles (valid)", status, 200)
    bad = {**good, "symbol": "SOL/USDT", "candles": candles(50, True)}
    status, answer = call(base, "POST", "/v1/candles", key, bad)
    expect("POST /v1/candles (one bad row)", status, 200)
    if status == 200 and not answer.get("rejected"):
        print(f"error: the bad row was not rejected: {answer}", file=sys.stderr)
        return 1
    for path in ("/v1/stats", "/v1/quarantine", "/v1/sessions", "/readyz"):
        status, _ = call(base, "GET", path, key)
        expect(f"GET {path}", status, 200)
    status, _ = call(base, "GET", "/v1/stats", None)
    expect("GET /v1/stats without a key", status, 401)
    engage = {"reason": "make deploy-test: the kill switch alert must fire"}
    status, _ = call(base, "POST", f"/v1/accounts/{account}/killswitch/engage", key, engage)
    expect("POST killswitch/engage", status, 200)
    failed = [e for e in expectations if e[1] != e[2]]
    for what, status, wanted in expectations:
        print(f"{'ok  ' if status == wanted else 'FAIL'} {what}: {status} (want {wanted})")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
