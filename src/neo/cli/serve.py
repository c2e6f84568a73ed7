"""``neo serve``: the REST API (uvicorn) on 127.0.0.1:8700 by default.

Another address is refused unless an API key exists (``neo keys create``): a service reachable
from the network must never be open. The bound address is printed on stderr
(``neo serve: listening on http://HOST:PORT``), the real port when ``--port 0`` lets the system
choose one.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Annotated

import typer

from neo.cli.common import settings_of, stderr_console
from neo.domain.errors import ConfigError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_command(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (default service.host).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help="Port (default service.port; 0 = any free one).", min=0),
    ] = None,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log every request on stderr.")
    ] = False,
    ingest_processes: Annotated[
        int | None,
        typer.Option(
            "--ingest-processes",
            help="Worker processes storing POSTed candles (default service.ingest_processes; "
            "0 = this process's threads).",
            min=0,
            max=32,
        ),
    ] = None,
) -> None:
    """Serve the REST API (OpenAPI at /openapi.json) until interrupted."""
    import uvicorn

    from neo.app.keys import active_keys, open_state
    from neo.service.app import create_app

    settings = settings_of(ctx)
    if ingest_processes is not None:
        service = settings.service.model_copy(update={"ingest_processes": ingest_processes})
        settings = settings.model_copy(update={"service": service})
    host = host or settings.service.host
    port = settings.service.port if port is None else port
    if port > 65535:
        raise ConfigError(f"--port {port} is not a port: use 0..65535")
    db = open_state(settings)
    if not is_loopback(host) and active_keys(db) == 0:
        db.close()
        raise ConfigError(
            f"refusing to serve on {host}: no API key exists, so anyone who can reach it could "
            "trade; create one with `neo keys create --scope admin` or serve on 127.0.0.1"
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        db.close()
        sock.close()
        raise ConfigError(
            f"cannot bind {host}:{port}: {exc.strerror}; choose another --port"
        ) from None
    sock.listen(2048)  # connections queue from now on, not refused while the app starts
    bound = sock.getsockname()[1]
    app = create_app(settings, database=db)
    app.state.neo.warm_up()
    # One process: the per-series write locks, the SSE hub, the sessions and the key cache
    # live in it (uvicorn workers would each hold their own); only the candle ingestion may
    # run in worker processes (--ingest-processes, see neo.service.ingest_pool). uvloop and
    # httptools when installed (the service extra has them); the access log only on request.
    config = uvicorn.Config(
        app, log_level=settings.log_level.lower(), access_log=access_log, lifespan="on",
        timeout_graceful_shutdown=5, loop="auto", http="auto",
    )  # fmt: skip
    shown = f"[{host}]" if ":" in host else host
    stderr_console.print(f"neo serve: listening on http://{shown}:{bound}", highlight=False)
    uvicorn.Server(config).run(sockets=[sock])


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
