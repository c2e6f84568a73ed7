"""Live sessions in the service process: ``POST /v1/sessions {"kind": "live", …}``.

The session is the one ``neo live`` runs (:func:`neo.app.live.build_live_session`): durable,
journalled, mirrored into the state database, reconciled with the exchange before it trades,
resumed when started again under the same ``session`` name. Its id in the service is that
name, so ``GET /v1/sessions/{id}`` and the database's ``sessions`` row agree, and the journal's
lock refuses a second runner of the same name (in this process or any other).

A pause holds the session between steps (:meth:`~neo.engine.live.TradingSession.hold`): no
bar is decided or sent until resume. Stop ends it after the step in progress; the journal and
the exchange clients are closed on the session's own thread.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from neo.app.backtest import execution_config
from neo.app.live import DEFAULT_WARMUP, LiveSetup, build_live_session
from neo.app.selection import parse_symbols, parse_timeframe
from neo.app.sessions import STOP_GRACE_S, PaperRunner, Publish, Session, SessionRunner
from neo.domain.errors import ConfigError
from neo.settings import NeoSettings

NAME = "^[A-Za-z0-9_.:-]+$"


class LiveSessionRequest(BaseModel):
    """``POST /v1/sessions`` for a live session (the flags of ``neo live``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field("live", pattern="^live$")
    exchange: str = Field(..., pattern="^[a-z0-9_]{2,40}$", description="ccxt exchange id.")
    symbols: str = Field(..., min_length=1, max_length=1000, description="A,B,… unified.")
    timeframe: str = Field("1m", max_length=16)
    strategy: str | None = Field(None, max_length=200)
    params: list[str] = Field(default_factory=list, max_length=50)
    session: str | None = Field(
        None, min_length=1, max_length=64, pattern=NAME, description="Its journal; resumes."
    )
    account: str = Field("main", min_length=1, max_length=64, pattern=NAME)
    warmup: int = Field(DEFAULT_WARMUP, ge=0, le=10_000)
    cycles: int | None = Field(None, ge=1, le=100_000_000)
    cash: float | None = Field(None, gt=0, le=1e15)
    confirm_live: bool = Field(False, description="Must be true: the session sends real orders.")
    exchange_url: str | None = Field(
        None,
        max_length=200,
        description="A loopback URL only (a local `neo exchange-sim`); the exchange's own URL "
        "comes from the settings ([exchanges.<id>] url).",
    )


def loopback_url(url: str) -> str:
    """``url`` when it is http(s) on a loopback address; a request may not point the keyed
    client anywhere else (the keys would go with it)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme not in ("http", "https") or not loopback:
        raise ConfigError(
            f"exchange_url must be http(s) on a loopback address (a local neo exchange-sim), "
            f"not {url!r}; set the exchange's URL in [exchanges.<id>] url"
        )
    return url


class LiveRunner(PaperRunner):
    """A live session on its own thread and event loop; it reports to the service as a
    paper session does (fills, orders, risk, kill switch, equity after every step)."""

    def __init__(self, session: Session, setup: LiveSetup, publish: Publish) -> None:
        super().__init__(session, setup.runner.loop, setup.feed, publish, None)
        self.setup = setup
        self._live: asyncio.Task[dict[str, Any]] | None = None
        setup.runner.on_step = lambda trading: self._on_bar(trading.loop)

    async def _main(self) -> None:
        self._aio = asyncio.get_running_loop()
        self.session.status = "running"
        self._live = asyncio.create_task(self.setup.run())
        self._ready.set()
        summary: dict[str, Any] | None = None
        try:
            summary = await self._live
        except asyncio.CancelledError:
            summary = None
        finally:
            self.setup.close()
        self._on_bar(self.loop)
        ledger = self.loop.ledger
        reason = "stopped by request" if summary is None else str(summary["stopped_by"])
        self.session.result = summary or {
            "session": self.session.id,
            "bars": self.setup.runner.committed_bars,
            "equity": float(ledger.equity),
            "cash": float(ledger.cash),
            "fills": ledger.fill_count,
            "stopped_by": reason,
        }
        self.session.status = "stopped"
        self.publish("session", {"status": "stopped", "stopped_by": reason})

    def pause(self) -> None:
        self._call(self.setup.runner.hold)
        self.session.status = "paused"

    def resume(self) -> None:
        self._call(self.setup.runner.release)
        self.session.status = "running"

    def stop(self) -> None:
        def cancel() -> None:
            self.loop.stop("stopped by request")
            self.setup.runner.release()  # a held session wakes to see the stop
            if self._live is not None and self._aio is not None:
                self._aio.call_later(STOP_GRACE_S, self._live.cancel)

        self._call(cancel)


def start_live(
    settings: NeoSettings, body: Mapping[str, Any], session: Session, publish: Publish
) -> SessionRunner:
    """Validate, build (markets, keys, journal lock: errors answer the request), start."""
    from neo.strategies.registry import configured_strategy, served_strategy

    request = LiveSessionRequest.model_validate(dict(body))  # ValidationError: 422
    served_strategy(settings, request.strategy)
    if not request.confirm_live:
        raise ConfigError(
            f"a live session sends real orders to {request.exchange}: set confirm_live true "
            "(try it against a local neo exchange-sim first)"
        )
    url = None if request.exchange_url is None else loopback_url(request.exchange_url)
    names = parse_symbols(request.symbols, None)
    parse_timeframe(request.timeframe)
    strategy = configured_strategy(settings, request.strategy, request.params or None)
    config = execution_config(
        settings, fill=None, fees_bps=None, slippage_bps=None, cash=request.cash
    )
    setup = build_live_session(
        settings, request.exchange, url, names, request.timeframe, strategy, config,
        session=request.session, account=request.account, warmup=request.warmup,
        cycles=request.cycles,
    )  # fmt: skip
    session.id = setup.runner.name
    session.account = setup.runner.account
    session.strategy = strategy.name
    runner = LiveRunner(session, setup, publish)
    runner.start()
    return runner


__all__ = ["LiveRunner", "LiveSessionRequest", "loopback_url", "start_live"]
