"""A paper session the SIGKILL tests start, kill and restart (``python -m`` this module).

The hybrid strategy needs a forecast: here a causal momentum predictor (the last bar's return,
which a model would learn to weigh) stands in for a trained model, so the test needs no model
registry; the predictor's state (the previous close) is rebuilt by the restart's replay like
any model's incremental features.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from neo.data.feeds import SimulatedMarketDataFeed
from neo.domain.bar import Bar
from neo.domain.ids import InstrumentId
from neo.engine.instruments import default_instrument
from neo.engine.journal import FileJournal, session_dir
from neo.engine.live import TradingSession
from neo.strategies.registry import create_strategy

SYMBOLS = ("BTC/USDT", "ETH/USDT")
STEPS = 5_000
SEED = 11
HYBRID = {"trend": 20, "vol_window": 30, "threshold": 0.0003}


class MomentumPredictor:
    """Forecast = the return of the bar just closed (causal: reads bars up to now only)."""

    def __init__(self) -> None:
        self.last: dict[InstrumentId, float] = {}

    def predict(self, bar: Bar) -> float:
        before = self.last.get(bar.instrument)
        self.last[bar.instrument] = bar.close
        return float("nan") if before is None else bar.close / before - 1.0


def session(data_dir: Path, name: str, steps: int = STEPS) -> tuple[TradingSession, FileJournal]:
    feed = SimulatedMarketDataFeed(list(SYMBOLS), "1m", n_bars=steps, seed=SEED, venue="sim")
    specs = {iid: default_instrument(iid) for iid in feed.instruments}
    journal = FileJournal(session_dir(data_dir, name))
    runner = TradingSession(
        name=name,
        strategy=create_strategy("hybrid", HYBRID),
        feed=feed,
        journal=journal,
        instruments=specs,
        predictor=MomentumPredictor(),
    )
    return runner, journal


def run(data_dir: Path, name: str, steps: int = STEPS) -> dict[str, Any]:
    runner, journal = session(data_dir, name, steps)
    try:
        return asyncio.run(runner.run()).summary()
    finally:
        journal.close()


if __name__ == "__main__":
    import json

    print(json.dumps(run(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))))
