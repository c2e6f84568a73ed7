"""The admin API over plain HTTP, bad input answered in the exchange's own error shape, the
wall-clock bar timer, and ``neo exchange-sim`` as a process (``--json``, SIGTERM)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from neo.exchange_sim import SimHandle, serve_in_thread
from neo.exchange_sim.client import ccxt_urls, make_ccxt_client

pytestmark = pytest.mark.integration
NEO = [sys.executable, "-c", "from neo.cli.main import main; main()"]


def call(url: str, method: str = "GET", body: Any = None, raw: bytes | None = None) -> Any:
    """(status, parsed JSON) of one request; errors are answers too."""
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_admin_endpoints(binance_sim: SimHandle) -> None:
    url = binance_sim.url
    status, state = call(f"{url}/__sim/state")
    assert status == 200 and state["dialect"] == "binance" and state["closed_bars"] == 1500
    status, advanced = call(f"{url}/__sim/advance", "POST", {"bars": 4})
    assert advanced["closed_bars"] == 1504 and advanced["now_ms"] == state["now_ms"] + 240_000
    assert call(f"{url}/__sim/balances", "POST", {"balances": {"USDT": "5"}})[0] == 200
    assert call(f"{url}/__sim/balances")[1]["balances"]["USDT"] == {"free": "5", "locked": "0"}
    assert (
        call(f"{url}/__sim/config", "POST", {"max_fill_per_bar": "0.5"})[1]["max_fill_per_bar"]
        == "0.5"
    )
    faults = {"faults": [{"kind": "429", "count": 3}, {"kind": "ws_cut"}]}
    status, queued = call(f"{url}/__sim/faults", "POST", faults)
    assert status == 200 and queued["queued"] == 2
    assert [f["kind"] for f in call(f"{url}/__sim/faults")[1]["pending"]] == ["429", "ws_cut"]
    assert call(f"{url}/__sim/faults", "DELETE")[1] == {"pending": []}
    exchange = make_ccxt_client("binance", url)
    exchange.load_markets()
    exchange.create_order("BTC/USDT", "market", "sell", 0.2, params={"clientOrderId": "adm"})
    orders = call(f"{url}/__sim/orders")[1]
    assert [o["client_order_id"] for o in orders["orders"]] == ["adm"]
    assert orders["requests"][0]["params"]["side"] == "SELL"
    assert "signature" not in orders["requests"][0]["params"]
    fills = call(f"{url}/__sim/fills")[1]["fills"]
    assert [(f["client_order_id"], f["quantity"]) for f in fills] == [("adm", "0.2")]


@pytest.mark.parametrize(
    ("path", "method", "body"),
    [
        ("/__sim/faults", "POST", {"kind": "nope"}),
        ("/__sim/faults", "POST", {"kind": "5xx", "status": 200}),
        ("/__sim/advance", "POST", {"bars": -1}),
        ("/__sim/advance", "POST", {"bars": "many"}),
        ("/__sim/balances", "POST", {"balances": {"USDT": "lots"}}),
        ("/__sim/balances", "POST", ["USDT"]),
        ("/__sim/config", "POST", {"max_fill_per_bar": "-1"}),
        ("/__sim/config", "POST", {"max_fill_per_bar": "x"}),
    ],
)
def test_bad_admin_input_is_a_400_with_a_reason(
    binance_sim: SimHandle, path: str, method: str, body: Any
) -> None:
    status, answer = call(binance_sim.url + path, method, body)
    assert status == 400 and answer["error"]


def test_admin_body_that_is_not_json(binance_sim: SimHandle) -> None:
    status, answer = call(binance_sim.url + "/__sim/advance", "POST", raw=b"{bars")
    assert status == 400 and "not JSON" in answer["error"]


@pytest.mark.parametrize(
    "query",
    ["symbol=BTCUSDT&interval=7m", "symbol=NOPE&interval=1m", "interval=1m",
     "symbol=BTCUSDT&interval=1m&limit=x"],
)  # fmt: skip
def test_bad_binance_requests_get_binance_errors(binance_sim: SimHandle, query: str) -> None:
    status, answer = call(f"{binance_sim.url}/api/v3/klines?{query}")
    assert status == 400 and answer["code"] < 0 and answer["msg"]


def test_bad_order_values_are_refused_not_crashed(binance_sim: SimHandle) -> None:
    import ccxt

    exchange = make_ccxt_client("binance", binance_sim.url)
    exchange.load_markets()
    for quantity in ("abc", "NaN", "-1"):
        with pytest.raises(ccxt.BadRequest):
            exchange.privatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                       "quantity": quantity})  # fmt: skip
    assert binance_sim.orders() == []


def test_a_bug_in_the_sim_is_still_an_exchange_error_not_a_traceback(
    binance_sim: SimHandle, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import neo.exchange_sim.binance as binance

    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(binance, "aggregate_range", broken)
    status, answer = call(f"{binance_sim.url}/api/v3/klines?symbol=BTCUSDT&interval=1m")
    assert status == 500 and answer["code"] == -1000
    assert "boom" in caplog.text  # logged for whoever runs the sim


def test_a_busy_port_is_an_error_for_serve_in_thread(binance_sim: SimHandle) -> None:
    with pytest.raises(OSError):
        serve_in_thread("binance", port=binance_sim.port)


def test_bad_kraken_requests_get_kraken_errors(kraken_sim: SimHandle) -> None:
    status, answer = call(f"{kraken_sim.url}/0/public/OHLC?pair=NOPE")
    assert status == 200 and answer["error"] == ["EQuery:Unknown asset pair"]
    status, answer = call(f"{kraken_sim.url}/0/public/OHLC?pair=XBTUSDT&interval=2")
    assert answer["error"] == ["EGeneral:Invalid arguments"]


def test_start_now_anchors_the_forming_bar_at_the_current_minute() -> None:
    from neo.exchange_sim.runner import start_now

    before = int(time.time() * 1000) // 60_000 * 60_000
    with serve_in_thread("kraken", history_bars=20, start_ms=start_now(20)) as sim:
        forming = sim.state()["now_ms"]
        candles = make_ccxt_client("kraken", sim.url).fetch_ohlcv("BTC/USDT", "1m")
    after = int(time.time() * 1000) // 60_000 * 60_000
    assert before <= forming <= after
    assert candles[-1][0] == forming and len(candles) == 21


def test_the_wall_clock_bar_timer_closes_bars() -> None:
    with serve_in_thread("binance", history_bars=10, bar_seconds=0.02) as sim:
        deadline = time.monotonic() + 10
        while sim.state()["closed_bars"] < 13 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sim.state()["closed_bars"] >= 13


def test_ccxt_urls_rehost_every_api() -> None:
    urls = ccxt_urls("binance", "http://127.0.0.1:9/")
    assert urls["public"] == "http://127.0.0.1:9/api/v3"
    assert urls["sapi"] == "http://127.0.0.1:9/sapi/v1"
    assert all(v.startswith("http://127.0.0.1:9/") for v in urls.values() if isinstance(v, str))
    pro = ccxt_urls("binance", "http://127.0.0.1:9", pro=True)
    assert pro["ws"]["spot"] == "ws://127.0.0.1:9/ws"
    assert ccxt_urls("kraken", "http://h:1")["private"] == "http://h:1"
    with pytest.raises(ValueError, match="unknown dialect"):
        ccxt_urls("ftx", "http://h:1")


def test_cli_serves_until_sigterm_and_prints_one_json_object(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [*NEO, "--data-dir", str(tmp_path), "exchange-sim", "--dialect", "kraken",
         "--port", "0", "--seed", "5", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        announced = json.loads(line)
        assert announced["dialect"] == "kraken" and announced["seed"] == 5
        assert announced["url"].startswith("http://127.0.0.1:")
        assert call(announced["url"] + "/__sim/state")[1]["seed"] == 5
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0 and out == "" and "Traceback" not in err


def test_cli_refuses_an_unknown_dialect() -> None:
    result = subprocess.run(
        [*NEO, "exchange-sim", "--dialect", "ftx"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: unknown --dialect 'ftx'; use binance or kraken"
    ]


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("as_json", [True, False])
def test_cli_in_process_stops_on_sigint(tmp_path: Path, as_json: bool) -> None:
    """The command itself (no subprocess): a thread waits for the sim to answer, then sends
    SIGINT to this process; the command's handler (installed before the port opened) stops
    it and it returns normally."""
    import threading

    from typer.testing import CliRunner

    from neo.cli.main import app

    port = _free_port()
    answered: list[int] = []

    def stop_when_serving() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                state = call(f"http://127.0.0.1:{port}/__sim/state")[1]
                answered.append(state["now_ms"] - 1000 * 60_000)
                break
            except OSError:
                time.sleep(0.02)
        if answered:  # only a serving command has its handler in place
            os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=stop_when_serving)
    thread.start()
    args = ["--data-dir", str(tmp_path), "exchange-sim", "--port", str(port),
            "--start", "2024-03-01"]  # fmt: skip
    result = CliRunner().invoke(app, args + (["--json"] if as_json else []))
    thread.join()
    assert result.exit_code == 0, result.output
    assert answered == [1_709_251_200_000]  # --start 2024-03-01: the first history bar
    if as_json:
        assert json.loads(result.stdout) == {
            "url": f"http://127.0.0.1:{port}", "dialect": "binance", "seed": 7,
        }  # fmt: skip
    else:
        assert f"serving at http://127.0.0.1:{port}" in result.stdout
        assert "make_ccxt_client('binance'" in result.stdout


def test_cli_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from neo.cli.main import app

    with serve_in_thread("binance", history_bars=5) as busy:
        result = CliRunner().invoke(
            app, ["--data-dir", str(tmp_path), "exchange-sim", "--port", str(busy.port)]
        )
    assert result.exit_code != 0
    assert f"cannot serve on 127.0.0.1:{busy.port}" in result.output
