"""(7) Execution: the broker boundary, the simulated broker and its fill model, the ledger
(accounting) and the compiled fast path for precomputed target positions.

The fast path lives in :mod:`neo.execution.fastpath` and is not imported here, so that importing
the package (settings, CLI start-up) does not load numba.
"""

from neo.execution.broker import BarHooks, Broker, BrokerFactory, EventSink, discard_events
from neo.execution.config import ExecutionConfig
from neo.execution.ledger import (
    EquityCurve,
    EquityRecorder,
    FillLog,
    Ledger,
    TradeLog,
    TradeMatcher,
)
from neo.execution.simulated import SimulatedBroker, bracket, simulated_broker

__all__ = [
    "BarHooks",
    "Broker",
    "BrokerFactory",
    "EquityCurve",
    "EquityRecorder",
    "EventSink",
    "ExecutionConfig",
    "FillLog",
    "Ledger",
    "SimulatedBroker",
    "TradeLog",
    "TradeMatcher",
    "bracket",
    "discard_events",
    "simulated_broker",
]
