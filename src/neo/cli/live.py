"""Durable trading sessions from the command line: ``neo paper --session NAME`` and ``neo live``.

A named session keeps its journal in ``<data_dir>/sessions/<NAME>/`` and resumes where it
stopped when started again with the same settings (see :mod:`neo.engine.live`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.engine.journal import FileJournal, session_dir
from neo.engine.live import TradingSession
from neo.engine.loop import Predictor
from neo.engine.paper import Feed
from neo.execution.config import ExecutionConfig
from neo.portfolio.base import PortfolioConstructor
from neo.risk.base import RiskGate
from neo.settings import NeoSettings
from neo.strategies.base import Strategy


def run_paper_session(
    settings: NeoSettings,
    session: str,
    strategy: Strategy,
    feed: Feed,
    instruments: Mapping[InstrumentId, Instrument],
    execution: ExecutionConfig,
    *,
    risk: RiskGate | None,
    portfolio: PortfolioConstructor | None,
    predictor: Predictor | None,
    cycles: int | None,
) -> dict[str, Any]:
    """Run (or resume) the paper session ``session`` with the simulated broker."""
    journal = FileJournal(session_dir(settings.data_dir, session))
    try:
        runner = TradingSession(
            name=session,
            strategy=strategy,
            feed=feed,
            journal=journal,
            instruments=instruments,
            execution=execution,
            engine=settings.engine,
            risk=risk,
            portfolio=portfolio,
            predictor=predictor,
            cycles=cycles,
        )
        result = asyncio.run(runner.run())
    finally:
        journal.close()
    return result.summary()
