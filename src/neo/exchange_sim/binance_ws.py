"""Binance websocket streams (placeholder until the stream part lands)."""

from __future__ import annotations

from aiohttp import web

from neo.exchange_sim.server import ExchangeSim


def add_ws_routes(app: web.Application, sim: ExchangeSim) -> None:
    """No websocket routes yet."""
