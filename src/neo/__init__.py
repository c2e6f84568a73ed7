"""NEO: an autonomous hybrid-AI trading system.

The public API is the curated ``__all__`` below (guarded by a test). Names are loaded lazily so
``import neo`` and the CLI start fast; heavy layers import only when used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS: dict[str, str] = {
    # domain
    "Bar": "neo.domain",
    "BarBatch": "neo.domain",
    "Instrument": "neo.domain",
    "InstrumentId": "neo.domain",
    "Timeframe": "neo.domain",
    "Side": "neo.domain",
    "OrderType": "neo.domain",
    "TimeInForce": "neo.domain",
    "OrderStatus": "neo.domain",
    "Order": "neo.domain",
    "Fill": "neo.domain",
    "Position": "neo.domain",
    "NeoError": "neo.domain",
    # settings
    "NeoSettings": "neo.settings",
    "load_settings": "neo.settings",
    # data (issue: foundation and market data)
    "MarketDataFeed": "neo.data.feeds",
    "SimulatedMarketDataFeed": "neo.data.feeds",
    "ReplayFeed": "neo.data.feeds",
    "DataValidator": "neo.data.validate",
    "HistoricalDataStore": "neo.data.store",
    "DataIngestionAPI": "neo.data.ingest",
    "get_data_ingestion_api": "neo.data.ingest",
    # features and models
    "FeaturePipeline": "neo.features",
    "FeatureSpec": "neo.features",
    "default_pipeline": "neo.features",
    "LabelSpec": "neo.features.labels",
    "create_model": "neo.models",
    "walk_forward": "neo.models",
    "WalkForwardConfig": "neo.models",
    "ModelRegistry": "neo.models",
    # strategies and engine
    "Strategy": "neo.strategies.base",
    "create_strategy": "neo.strategies.registry",
    "list_strategies": "neo.strategies.registry",
    "AutonomousTradingLoop": "neo.engine.loop",
    "get_autonomous_trading_loop": "neo.engine.loop",
    "run_backtest": "neo.engine.backtest",
    "run_paper": "neo.engine.paper",
    "ExecutionConfig": "neo.execution.config",
    "SimulatedBroker": "neo.execution.simulated",
    "Ledger": "neo.execution.ledger",
    # portfolio and risk
    "build_portfolio": "neo.portfolio",
    "create_allocator": "neo.portfolio",
    "build_risk_gate": "neo.risk",
    "load_risk_config": "neo.risk",
    # analytics
    "compute_metrics": "neo.analytics",
    "write_report": "neo.analytics",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'neo' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
