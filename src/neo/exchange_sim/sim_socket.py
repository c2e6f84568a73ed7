"""One websocket of the sim, whatever it streams: an outgoing queue drained by a writer, the
``ws_cut`` / ``ws_stall`` faults, pongs (none while stalled), and the bookkeeping in and out (the
sim's set of sockets, and the engine listener that feeds this one). Binance's market streams
(:mod:`neo.exchange_sim.binance_ws`) and its user data stream
(:mod:`neo.exchange_sim.binance_user`) are both one of these, so a fault or a disconnect behaves
the same on each.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from neo.exchange_sim.faults import WS_FAULTS
from neo.exchange_sim.server import ExchangeSim


class SimSocket:
    """A socket's outgoing queue (``None`` ends it) and its fault state."""

    def __init__(self, sim: ExchangeSim, ws: web.WebSocketResponse, path: str) -> None:
        self.sim = sim
        self.ws = ws
        self.path = path
        self.stalled = False
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()

    def check_faults(self) -> None:
        """Apply a pending ws fault that matches this socket's path."""
        fault = self.sim.faults.take("GET", self.path, WS_FAULTS)
        if fault is None:
            return
        if fault.kind == "ws_cut":
            self.queue.put_nowait(None)
        else:
            self.stalled = True

    async def close(self) -> None:
        self.queue.put_nowait(None)
        with contextlib.suppress(Exception):
            await self.ws.close()

    async def serve(
        self, listeners: list[Any], listener: Callable[..., None], on_text: Callable[[str], None]
    ) -> None:
        """Until the client leaves: ``listener`` is registered in the engine's ``listeners``
        (what feeds this socket), text frames go to ``on_text``; then everything is undone."""
        self.sim.ws_connections.add(self)
        listeners.append(listener)
        self.check_faults()
        writer = asyncio.create_task(self._write())
        try:
            async for message in self.ws:
                if message.type == WSMsgType.PING:
                    if not self.stalled:
                        await self.ws.pong(message.data)
                elif message.type == WSMsgType.TEXT:
                    on_text(message.data)
                elif message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        finally:
            self.sim.ws_connections.discard(self)
            with contextlib.suppress(ValueError):
                listeners.remove(listener)
            self.queue.put_nowait(None)
            await writer

    async def _write(self) -> None:
        while True:
            message = await self.queue.get()
            if message is None or self.ws.closed:
                break
            await self.ws.send_str(message)
        with contextlib.suppress(Exception):
            await self.ws.close()
