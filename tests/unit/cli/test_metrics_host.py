"""``neo paper --metrics-host``: where the trading process's metrics server listens.

A trader in a container must listen on the pod's address so Prometheus can scrape it
(docker-compose.yml and deploy/k8s pass ``--metrics-host 0.0.0.0``); the default stays loopback.
The tests use another loopback address (127.0.0.2) to show the option is honoured.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest

from neo.cli.trading import session_metrics


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_metrics_server_listens_on_the_given_host() -> None:
    port = _free_port()
    _, stop = session_metrics("host-test", port, "127.0.0.2")
    try:
        with urllib.request.urlopen(f"http://127.0.0.2:{port}/metrics", timeout=5) as answer:
            assert answer.status == 200
            assert b"neo_" in answer.read()
        with pytest.raises(urllib.error.URLError):  # not on 127.0.0.1: the host was honoured
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
    finally:
        stop()


def test_a_host_not_on_this_machine_is_one_clear_error() -> None:
    from typer.testing import CliRunner

    from neo.cli.main import app

    port = str(_free_port())  # 192.0.2.1 (TEST-NET-1) is on no interface: bind fails, no traffic
    args = ["paper", "--cycles", "5", "--metrics-port", port, "--metrics-host", "192.0.2.1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"--metrics-port {port}: cannot listen on 192.0.2.1:{port}" in result.output
    assert "Traceback" not in result.output
