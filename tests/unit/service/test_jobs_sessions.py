"""Jobs (backtest, train) run in the background and are polled; paper sessions start, pause,
resume and stop in-process; the kill switch and every session publish to /v1/events."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from neo.data.store import HistoricalDataStore
from neo.service.events import EventHub
from tests.unit.engine.bars import walk
from tests.unit.service.conftest import Service, make_service

DEADLINE_S = 60.0


def _until(service: Service, path: str, done: Any) -> dict[str, Any]:
    """Poll ``path`` until ``done(body)`` (a deadline, not a sleep race)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        body: dict[str, Any] = service.client.get(path, headers=service.auth("read")).json()
        if done(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def _stored(service: Service) -> None:
    store = HistoricalDataStore.from_settings(service.settings)
    store.write(walk(300, seed=5, symbol="BTC/USDT"))
    store.close()


BACKTEST = {"kind": "backtest", "strategy": "sma_cross", "params": ["fast=5", "slow=15"],
            "venue": "sim", "symbols": "BTC/USDT", "timeframe": "1m"}  # fmt: skip


def test_backtest_job_is_queued_run_and_reported(service: Service) -> None:
    _stored(service)
    submitted = service.client.post("/v1/jobs", json=BACKTEST, headers=service.auth("trade"))
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()
    assert job["status"] in ("queued", "running") and job["kind"] == "backtest"
    final = _until(service, f"/v1/jobs/{job['id']}", lambda b: b["status"] in ("done", "failed"))
    assert final["status"] == "done", final
    result = service.client.get(f"/v1/jobs/{job['id']}/result", headers=service.auth("read"))
    assert result.json()["bars"] == 300 and result.json()["metrics"]["total_return"] is not None
    report = service.client.get(f"/v1/jobs/{job['id']}/report", headers=service.auth("read"))
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    listed = service.client.get("/v1/jobs", headers=service.auth("read")).json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]


def test_failed_job_says_why_and_has_no_result(service: Service) -> None:
    body = {**BACKTEST, "symbols": "NOPE/USDT"}
    job = service.client.post("/v1/jobs", json=body, headers=service.auth("trade")).json()
    final = _until(service, f"/v1/jobs/{job['id']}", lambda b: b["status"] in ("done", "failed"))
    assert final["status"] == "failed" and "NOPE/USDT" in final["error"]
    missing = service.client.get(f"/v1/jobs/{job['id']}/result", headers=service.auth("read"))
    assert missing.status_code == 404 and "failed" in missing.json()["detail"]
    assert service.client.get("/v1/jobs/unknown", headers=service.auth("read")).status_code == 404


def test_bad_job_bodies_are_422(service: Service) -> None:
    trade = service.auth("trade")
    for body in ({"kind": "sweep"}, {"kind": "backtest", "risk": "/etc/passwd"}, {}, []):
        answer = service.client.post("/v1/jobs", json=body, headers=trade)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"


def test_paper_session_runs_to_its_cycles_and_keeps_its_record(service: Service) -> None:
    body = {"strategy": "sma_cross", "params": ["fast=3", "slow=8"], "cycles": 200, "seed": 3}
    started = service.client.post("/v1/sessions", json=body, headers=service.auth("trade"))
    assert started.status_code == 201, started.text
    sid = started.json()["id"]
    final = _until(service, f"/v1/sessions/{sid}", lambda b: b["status"] == "stopped")
    assert final["result"]["bars"] == 200 and final["result"]["stopped_by"] == "200 cycles"
    fills = service.client.get(f"/v1/sessions/{sid}/fills", headers=service.auth("read")).json()
    assert len(fills["fills"]) == final["result"]["fills"] > 0
    equity = service.client.get(f"/v1/sessions/{sid}/equity", headers=service.auth("read"))
    assert equity.json()["equity"][-1]["equity"] == final["result"]["equity"]
    for view in ("positions", "orders", "risk-events", "model", "forecasts"):
        answer = service.client.get(f"/v1/sessions/{sid}/{view}", headers=service.auth("read"))
        assert answer.status_code == 200, view
    again = service.client.post(f"/v1/sessions/{sid}/pause", headers=service.auth("trade"))
    assert again.status_code == 400  # a stopped session cannot change


def test_paper_session_pauses_resumes_and_stops_on_request(service: Service) -> None:
    body = {"strategy": "sma_cross", "speed": 200, "cycles": 1_000_000}
    sid = service.client.post("/v1/sessions", json=body, headers=service.auth("trade")).json()["id"]
    trade = service.auth("trade")
    _until(service, f"/v1/sessions/{sid}", lambda b: b["bars"] > 2)
    assert (
        service.client.post(f"/v1/sessions/{sid}/pause", headers=trade).json()["status"] == "paused"
    )
    assert (
        service.client.post(f"/v1/sessions/{sid}/resume", headers=trade).json()["status"]
        == "running"
    )
    stopped = service.client.post(f"/v1/sessions/{sid}/stop", headers=trade).json()
    assert stopped["status"] == "stopped"
    assert stopped["result"]["bars"] < 1_000_000
    listed = service.client.get("/v1/sessions", headers=service.auth("read")).json()
    assert [s["id"] for s in listed["sessions"]] == [sid] and "paper" in listed["kinds"]


def test_bad_session_requests_are_4xx(service: Service) -> None:
    trade = service.auth("trade")
    moon = service.client.post("/v1/sessions", json={"kind": "moon"}, headers=trade)
    assert moon.status_code == 400 and "unknown session kind 'moon'" in moon.json()["detail"]
    unknown = service.client.post("/v1/sessions", json={"strategy": "nope"}, headers=trade)
    assert unknown.status_code == 400, unknown.text
    assert service.client.get("/v1/sessions/none", headers=service.auth("read")).status_code == 404


def test_killswitch_engage_is_published_as_an_event(service: Service) -> None:
    engaged = service.client.post(
        "/v1/accounts/paper/killswitch/engage",
        json={"reason": "drill"},
        headers=service.auth("trade"),
    )
    assert engaged.status_code == 200 and engaged.json()["engaged"] is True
    with service.client.stream(
        "GET", "/v1/events", params={"kinds": "killswitch", "max_events": 1},
        headers={**service.auth("read"), "Last-Event-ID": "0"},
    ) as stream:  # fmt: skip
        text = "".join(stream.iter_text())
    assert "event: killswitch" in text and '"reason":"drill"' in text
    bad = service.client.post(
        "/v1/accounts/nobody/killswitch/engage", json={"reason": "x"}, headers=service.auth("trade")
    )
    assert bad.status_code == 400 and "unknown account" in bad.json()["detail"]


def test_event_hub_fans_out_by_kind_and_replays_after_an_id() -> None:
    import asyncio

    async def scenario() -> list[tuple[str, int]]:
        hub = EventHub()
        first = hub.publish("fill", {"n": 1})
        sub = hub.subscribe({"equity"}, after=0)
        hub.publish("fill", {"n": 2})
        hub.publish("equity", {"n": 3})
        got = await sub.get(1.0)
        assert got is not None
        replay = hub.subscribe(None, after=first.id)
        again = [await replay.get(1.0) for _ in range(2)]
        hub.unsubscribe(sub)
        hub.unsubscribe(replay)
        assert hub.subscribers == 0
        return [(got.kind, got.data["n"])] + [(e.kind, e.data["n"]) for e in again if e]

    assert asyncio.run(scenario()) == [("equity", 3), ("fill", 2), ("equity", 3)]


def test_train_job_runs_the_train_use_case(service: Service) -> None:
    body = {"kind": "train", "symbols": "NOPE/USDT", "venue": "sim", "timeframe": "1m"}
    job = service.client.post("/v1/jobs", json=body, headers=service.auth("trade")).json()
    final = _until(service, f"/v1/jobs/{job['id']}", lambda b: b["status"] in ("done", "failed"))
    assert final["kind"] == "train" and final["status"] == "failed"
    assert "no 1m bars stored for NOPE/USDT@sim" in final["error"]
    kinds = service.client.get("/v1/jobs", params={"kind": "train"}, headers=service.auth("read"))
    assert [j["id"] for j in kinds.json()["jobs"]] == [job["id"]]


def test_a_registered_session_kind_is_started_by_its_own_starter(service: Service) -> None:
    """The hook the live sessions use: register_kind, then POST {"kind": ...}."""
    from neo.app.sessions import Session

    class Idle:
        def pause(self) -> None: ...
        def resume(self) -> None: ...
        def stop(self) -> None:
            self.session.status = "stopped"

        def join(self, timeout: float | None = None) -> None: ...

    def start(settings: Any, body: Any, session: Session, publish: Any) -> Idle:
        runner = Idle()
        runner.session = session  # type: ignore[attr-defined]
        session.status = "running"
        publish("session", {"status": "running", "venue": body["venue"]})
        return runner

    service.client.app.state.neo.sessions.register_kind("live", start)  # type: ignore[attr-defined]
    trade = service.auth("trade")
    body = {"kind": "live", "venue": "binance", "account": "exchange:binance:main"}
    started = service.client.post("/v1/sessions", json=body, headers=trade)
    assert started.status_code == 201, started.text
    assert started.json()["account"] == "exchange:binance:main"
    sid = started.json()["id"]
    assert sid.startswith("live-")
    assert (
        service.client.post(f"/v1/sessions/{sid}/stop", headers=trade).json()["status"] == "stopped"
    )
    bad = service.client.post("/v1/sessions", json={"cycles": 0}, headers=trade)
    assert bad.status_code == 422 and "cycles" in bad.json()["detail"]


def test_a_strategy_file_named_by_a_request_is_refused_unless_the_operator_listed_it(
    tmp_path: Path,
) -> None:
    """Loading a strategy file runs it: a request (any trade key) may not name one, nor a
    module; the operator's `[strategies] load` may. The refused file never ran."""
    ran = tmp_path / "ran"
    source = tmp_path / "mine.py"
    source.write_text(
        "from pathlib import Path\n"
        "from neo.strategies.moving_average import SmaCross\n"
        f"Path({str(ran)!r}).write_text('ran')\n"
        "class Mine(SmaCross):\n    name = 'mine'\n"
    )
    spec = f"{source}:Mine"
    service = next(refused := make_service())
    try:
        trade = service.auth("trade")
        for target, body in (
            ("/v1/sessions", {"strategy": spec, "cycles": 5}),
            ("/v1/sessions", {"strategy": "os.path:join", "cycles": 5}),
            ("/v1/jobs", {**BACKTEST, "strategy": spec}),
        ):
            answer = service.client.post(target, json=body, headers=trade)
            assert answer.status_code == 400, (target, answer.text)
            assert "names a file or module" in answer.json()["detail"]
        assert not ran.exists()
    finally:
        refused.close()
    allowed = make_service(strategies={"load": [spec]})
    service = next(allowed)
    try:
        body = {"strategy": spec, "params": ["fast=3", "slow=8"], "cycles": 50}
        started = service.client.post("/v1/sessions", json=body, headers=service.auth("trade"))
        assert started.status_code == 201, started.text
        final = _until(service, f"/v1/sessions/{started.json()['id']}",
                       lambda b: b["status"] == "stopped")  # fmt: skip
        assert final["strategy"] == "mine" and final["result"]["bars"] == 50 and ran.exists()
    finally:
        allowed.close()
