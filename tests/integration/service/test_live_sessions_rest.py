"""``POST /v1/sessions {"kind": "live"}``: the session ``neo live`` runs, in the service, against
``neo exchange-sim`` (127.0.0.1 only): it trades, pauses between steps, refuses a second
runner of its name, stops, and resumes from its journal with nothing sent twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("ccxt")
from neo.exchange_sim import SimHandle
from neo.exchange_sim.client import SIM_SECRET
from tests.unit.service.conftest import Service, make_service

pytestmark = pytest.mark.integration
DEADLINE_S = 60.0


@pytest.fixture
def service(keys: None) -> Iterator[Service]:
    yield from make_service()


def _body(sim: SimHandle, **changes: Any) -> dict[str, Any]:
    body = {"kind": "live", "exchange": "binance", "symbols": "BTC/USDT", "exchange_url": sim.url,
            "strategy": "sma_cross", "params": ["fast=2", "slow=4"], "warmup": 8,
            "session": "r1", "confirm_live": True}  # fmt: skip
    body.update(changes)
    return body


def _view(service: Service, sid: str) -> dict[str, Any]:
    answer = service.client.get(f"/v1/sessions/{sid}", headers=service.auth("read"))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _until(service: Service, sid: str, done: Any) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_S
    while not done(view := _view(service, sid)):
        assert time.monotonic() < deadline, view
        time.sleep(0.05)
    return view


def test_a_live_session_is_refused_without_confirm_live_or_off_loopback(
    service: Service, sim: SimHandle
) -> None:
    trade = service.auth("trade")
    unconfirmed = service.client.post("/v1/sessions", json=_body(sim, confirm_live=False),
                                      headers=trade)  # fmt: skip
    assert unconfirmed.status_code == 400
    assert "sends real orders to binance: set confirm_live true" in unconfirmed.json()["detail"]
    elsewhere = _body(sim, exchange_url="http://203.0.113.9:8765")
    away = service.client.post("/v1/sessions", json=elsewhere, headers=trade)
    assert away.status_code == 400 and "loopback" in away.json()["detail"]
    unknown = service.client.post("/v1/sessions", json=_body(sim, warmup=-1), headers=trade)
    assert unknown.status_code == 422
    reader = service.client.post("/v1/sessions", json=_body(sim), headers=service.auth("read"))
    assert reader.status_code == 403
    assert sim.orders() == [] and SIM_SECRET not in away.text + unconfirmed.text


def test_a_live_session_trades_pauses_stops_and_resumes_from_its_journal(
    service: Service, sim: SimHandle, caplog: pytest.LogCaptureFixture
) -> None:
    trade = service.auth("trade")
    started = service.client.post("/v1/sessions", json=_body(sim), headers=trade)
    assert started.status_code == 201, started.text
    assert started.json()["id"] == "r1" and started.json()["account"] == "exchange:binance:main"
    _until(service, "r1", lambda v: v["bars"] >= 30 and v["orders"] > 0)

    twice = service.client.post("/v1/sessions", json=_body(sim), headers=trade)
    assert twice.status_code == 409 and "already running" in twice.json()["detail"]

    paused = service.client.post("/v1/sessions/r1/pause", headers=trade).json()
    assert paused["status"] == "paused"
    trading = service.client.app.state.neo.sessions.get("r1").runner.setup.runner  # type: ignore[attr-defined]
    deadline = time.monotonic() + DEADLINE_S
    while not trading.holding:  # the step in progress ends, the next bar waits
        assert time.monotonic() < deadline, "the hold never took effect"
        time.sleep(0.02)
    held = _view(service, "r1")["bars"]
    time.sleep(0.5)  # ten bars of the sim go by
    assert _view(service, "r1")["bars"] == held, "a paused session took a step"
    resumed = service.client.post("/v1/sessions/r1/resume", headers=trade).json()
    assert resumed["status"] == "running"
    _until(service, "r1", lambda v: v["bars"] >= held + 5)

    stopped = service.client.post("/v1/sessions/r1/stop", headers=trade).json()
    assert stopped["status"] == "stopped", stopped
    first = stopped["result"]
    assert first["stopped_by"] == "loop stopped" and first["orders"] > 0
    fills = service.client.get("/v1/sessions/r1/fills", headers=service.auth("read")).json()
    assert len(fills["fills"]) == first["fills"]

    cycles = first["bars"] + 10
    again = service.client.post("/v1/sessions", json=_body(sim, cycles=cycles), headers=trade)
    assert again.status_code == 201, again.text
    final = _until(service, "r1", lambda v: v["status"] in ("stopped", "failed"))
    assert final["status"] == "stopped", final
    second = final["result"]
    assert second["resumed"] and second["replayed_bars"] == first["bars"]
    assert second["bars"] == cycles and second["stopped_by"] == f"{cycles} cycles"
    sent = [o["client_order_id"] for o in sim.orders()]
    assert len(sent) == len(set(sent))  # the replay sent nothing again

    from neo.persistence import open_database

    with open_database(service.settings) as db:
        record = db.sessions.get("r1")
        orders = db.orders.orders(session_id="r1")
    assert record is not None and record.status == "stopped"
    assert len(orders) == second["orders"]  # those refused before sending too
    assert set(sent) <= {o.client_order_id for o in orders}
    # the resume synced the state store without stepping any order back (it logged an error
    # per order at every resume: "order … is already filled: it cannot become submitted")
    assert "state store not updated" not in caplog.text

    # a restarted service (or one beside `neo live` in its own process) shows the session
    # as the state database has it
    restarted = make_service()
    later = next(restarted)
    try:
        read = later.auth("read")
        listed = later.client.get("/v1/sessions", headers=read).json()
        assert listed["sessions"] == [] and [s["id"] for s in listed["stored"]] == ["r1"]
        view = later.client.get("/v1/sessions/r1", headers=read).json()
        assert view["source"] == "database" and view["status"] == "stopped"
        assert (view["bars"], view["orders"], view["fills"]) == (
            cycles, second["orders"], second["fills"],
        )  # fmt: skip
        assert view["positions"] == pytest.approx(second["positions"])
        stored_orders = later.client.get("/v1/sessions/r1/orders", headers=read).json()["orders"]
        assert [o["client_order_id"] for o in stored_orders] == [o.client_order_id for o in orders]
        stored_fills = later.client.get("/v1/sessions/r1/fills", headers=read).json()["fills"]
        assert len(stored_fills) == second["fills"]
        assert {f["instrument"] for f in stored_fills} == {"BTC/USDT@binance"}
        assert all(f["ts"] and f["ts"].startswith("20") for f in stored_fills)
        assert later.client.get("/v1/sessions/r2/orders", headers=read).status_code == 404
        assert later.client.get("/v1/sessions/r1/equity", headers=read).json()["equity"] == []
        for view in ("model", "forecasts", "positions", "risk-events"):  # what the dashboard asks
            answer = later.client.get(f"/v1/sessions/r1/{view}", headers=read)
            assert answer.status_code == 200, (view, answer.text)
    finally:
        restarted.close()  # the TestClient shuts the second service down
