"""(engine) One trading loop for backtest, paper and live: clock, bus, loop and drivers.

Names are imported on first use, so reading settings (which imports ``neo.engine.config``)
does not pull in the execution stack and numba.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neo.engine.backtest import BacktestResult, run_backtest
    from neo.engine.bus import MessageBus
    from neo.engine.clock import Clock, SimulatedClock, WallClock
    from neo.engine.loop import (
        AutonomousTradingLoop,
        LoopState,
        Predictor,
        get_autonomous_trading_loop,
    )
    from neo.engine.paper import PaperResult, run_paper

_WHERE = {
    "AutonomousTradingLoop": "neo.engine.loop",
    "BacktestResult": "neo.engine.backtest",
    "Clock": "neo.engine.clock",
    "LoopState": "neo.engine.loop",
    "MessageBus": "neo.engine.bus",
    "PaperResult": "neo.engine.paper",
    "Predictor": "neo.engine.loop",
    "SimulatedClock": "neo.engine.clock",
    "WallClock": "neo.engine.clock",
    "get_autonomous_trading_loop": "neo.engine.loop",
    "run_backtest": "neo.engine.backtest",
    "run_paper": "neo.engine.paper",
}

__all__ = [
    "AutonomousTradingLoop",
    "BacktestResult",
    "Clock",
    "LoopState",
    "MessageBus",
    "PaperResult",
    "Predictor",
    "SimulatedClock",
    "WallClock",
    "get_autonomous_trading_loop",
    "run_backtest",
    "run_paper",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'neo.engine' has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)
