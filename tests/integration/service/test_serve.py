"""A real ``neo serve`` process on 127.0.0.1: the bind rule, keys made by ``neo keys``, and a
POST → GET round trip over a socket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.unit.service.conftest import candles

pytestmark = pytest.mark.integration
NEO = [sys.executable, "-c", "from neo.cli.main import main; main()"]


def neo(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NEO, "--data-dir", str(data_dir), *args],
        capture_output=True, text=True, timeout=120, env=os.environ.copy(), check=False,
    )  # fmt: skip


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """``neo serve --port 0`` with a trade key; yields (base URL, key, data dir)."""
    data_dir = tmp_path / "data"
    made = neo("keys", "create", "--scope", "trade", "--label", "it", "--json", data_dir=data_dir)
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)["key"]
    process = subprocess.Popen(
        [*NEO, "--data-dir", str(data_dir), "serve", "--port", "0"],
        stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )  # fmt: skip
    try:
        assert process.stderr is not None
        url = None
        for line in process.stderr:  # the first line naming the address, then serving
            if "listening on" in line:
                url = line.split("listening on", 1)[1].strip()
                break
        assert url is not None and url.startswith("http://127.0.0.1:")
        drain = threading.Thread(target=process.stderr.read, daemon=True)  # never a full pipe
        drain.start()
        yield url, key, data_dir
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def test_post_then_get_round_trip_over_a_socket(server: tuple[str, str, Path]) -> None:
    url, key, _ = server
    headers = {"Authorization": f"Bearer {key}"}
    rows = candles(50)
    with httpx.Client(base_url=url, timeout=30) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        posted = client.post(
            "/v1/candles",
            json={"venue": "sim", "symbol": "ETH/USDT", "timeframe": "1m", "candles": rows},
            headers=headers,
        )
        assert posted.status_code == 200, posted.text
        assert posted.json()["accepted"] == 50
        got = client.get(
            "/v1/candles", params={"venue": "sim", "symbol": "ETH/USDT"}, headers=headers
        ).json()
        assert [c["close"] for c in got["candles"]] == [r["close"] for r in rows]
        assert client.get("/v1/stats", headers={"Authorization": "Bearer nope"}).status_code == 401
        metrics = client.get("/metrics").text
        assert (
            'neo_http_requests_total{method="POST",route="/v1/candles",status="200"} 1.0' in metrics
        )
        assert key not in metrics


def test_serve_refuses_a_public_address_without_keys(tmp_path: Path) -> None:
    refused = neo("serve", "--host", "0.0.0.0", "--port", "0", data_dir=tmp_path / "d")
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert lines[-1].startswith("error: refusing to serve on 0.0.0.0: no API key exists")


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    data_dir = tmp_path / "d"
    made = json.loads(neo("keys", "create", "--scope", "read", "--json", data_dir=data_dir).stdout)
    assert made["key"].startswith("neo_") and made["scopes"] == ["read"]
    listed = json.loads(neo("keys", "list", "--json", data_dir=data_dir).stdout)
    assert [k["id"] for k in listed["keys"]] == [made["id"]]
    assert made["key"] not in json.dumps(listed)  # shown once, never again
    revoked = json.loads(neo("keys", "revoke", made["id"], "--json", data_dir=data_dir).stdout)
    assert revoked["active"] is False
    bad = neo("keys", "create", "--scope", "god", data_dir=data_dir)
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown scope 'god'")
    unknown = neo("keys", "revoke", "nope", data_dir=data_dir)
    assert unknown.returncode != 0 and "no API key with id 'nope'" in unknown.stderr
