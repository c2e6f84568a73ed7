"""``neo exchange-sim``: serve a local Binance- or Kraken-like exchange until SIGINT/SIGTERM.

Prints the URL and how to point ccxt (or NEO) at it; ``--json`` prints one object
``{url, dialect, seed}`` on stdout instead, then serves. See docs/exchange-sim.md.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from neo.cli.common import JsonOpt, parse_time
from neo.domain.errors import ConfigError


def exchange_sim_command(
    dialect: Annotated[
        str, typer.Option("--dialect", help="Which exchange's API to serve: binance or kraken.")
    ] = "binance",
    port: Annotated[int, typer.Option("--port", help="TCP port (0: a free one).", min=0)] = 8765,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the price path.")] = 7,
    bar_seconds: Annotated[
        float | None,
        typer.Option(
            "--bar-seconds",
            help="Close a bar every X wall seconds (default: only on POST /__sim/advance).",
            min=0.01,
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help="Open time of the first of the 1000 history bars (ISO, UTC), or 'now' so the "
            "forming bar is the current minute (default 2024-01-01).",
        ),
    ] = None,
    fee_asset: Annotated[
        str | None,
        typer.Option(
            "--fee-asset",
            help="What fees are paid in: received (a buy's out of the coins bought; Binance's "
            "default), quote (Kraken's default), or BNB (while the account holds enough; adds "
            "BNB/USDT).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Serve a local exchange (Binance or Kraken REST, Binance websockets) for ccxt and NEO."""
    if dialect not in ("binance", "kraken"):
        raise ConfigError(f"unknown --dialect {dialect!r}; use binance or kraken")
    try:
        from neo.exchange_sim.runner import make_sim, serve_until_signalled, start_now
    except ImportError as exc:  # aiohttp/ccxt come with the live extra
        raise ConfigError(
            f"{exc}; install the live extra: pip install 'neo-trading[live]'"
        ) from None
    start_ns = None if start in (None, "now") else parse_time(start)
    start_ms = start_now() if start == "now" else None if start_ns is None else start_ns // 10**6
    try:
        sim = make_sim(dialect, seed=seed, bar_seconds=bar_seconds, start_ms=start_ms,
                       fee_asset=fee_asset)  # fmt: skip
    except ValueError as exc:
        raise ConfigError(f"--fee-asset: {exc}") from None

    def ready(url: str) -> None:
        if as_json:
            typer.echo(json.dumps({"url": url, "dialect": dialect, "seed": seed}))
            return
        typer.echo(f"exchange-sim ({dialect}, seed {seed}) serving at {url}")
        typer.echo(
            "  python: from neo.exchange_sim.client import make_ccxt_client; "
            f"ex = make_ccxt_client({dialect!r}, {url!r})"
        )
        typer.echo(f"  neo:    set NEO_EXCHANGES__{dialect.upper()}__URL={url}")
        typer.echo(f"  admin:  curl -X POST {url}/__sim/advance -d '{{\"bars\": 1}}'")
        typer.echo("  stop:   Ctrl-C")

    try:
        asyncio.run(serve_until_signalled(sim, host, port, ready))
    except OSError as exc:
        raise ConfigError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None


def register(app: typer.Typer) -> None:
    app.command("exchange-sim")(exchange_sim_command)
