"""The market-data layer: feeds → validation → historical store → ingestion.

Public seeds (ARCHITECTURE.md): :class:`MarketDataFeed`, :class:`SimulatedMarketDataFeed`,
:class:`ReplayFeed`, :class:`DataValidator`, :class:`HistoricalDataStore`,
:class:`DataIngestionAPI` and :func:`get_data_ingestion_api`. Names load lazily: the settings
import ``neo.data.config`` at every start-up, and that must not pull in numba, DuckDB or Arrow.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neo.data.config import DataConfig, StoreConfig, ValidationConfig
    from neo.data.feeds import (
        CsvFeed,
        FileFeed,
        MarketDataFeed,
        ParquetFeed,
        ReplayFeed,
        SimulatedMarketDataFeed,
        read_bar_file,
        simulate_bars,
    )
    from neo.data.ingest import DataIngestionAPI, IngestReport, get_data_ingestion_api
    from neo.data.store import DatasetInfo, HistoricalDataStore, WriteResult
    from neo.data.validate import RULES, DataValidator, ValidationReport, check_price_series

_EXPORTS: dict[str, str] = {
    "DataConfig": "neo.data.config",
    "StoreConfig": "neo.data.config",
    "ValidationConfig": "neo.data.config",
    "CsvFeed": "neo.data.feeds",
    "FileFeed": "neo.data.feeds",
    "MarketDataFeed": "neo.data.feeds",
    "ParquetFeed": "neo.data.feeds",
    "ReplayFeed": "neo.data.feeds",
    "SimulatedMarketDataFeed": "neo.data.feeds",
    "read_bar_file": "neo.data.feeds",
    "simulate_bars": "neo.data.feeds",
    "DataIngestionAPI": "neo.data.ingest",
    "IngestReport": "neo.data.ingest",
    "get_data_ingestion_api": "neo.data.ingest",
    "DatasetInfo": "neo.data.store",
    "HistoricalDataStore": "neo.data.store",
    "WriteResult": "neo.data.store",
    "RULES": "neo.data.validate",
    "DataValidator": "neo.data.validate",
    "ValidationReport": "neo.data.validate",
    "check_price_series": "neo.data.validate",
}

__all__ = [
    "RULES",
    "CsvFeed",
    "DataConfig",
    "DataIngestionAPI",
    "DataValidator",
    "DatasetInfo",
    "FileFeed",
    "HistoricalDataStore",
    "IngestReport",
    "MarketDataFeed",
    "ParquetFeed",
    "ReplayFeed",
    "SimulatedMarketDataFeed",
    "StoreConfig",
    "ValidationConfig",
    "ValidationReport",
    "WriteResult",
    "check_price_series",
    "get_data_ingestion_api",
    "read_bar_file",
    "simulate_bars",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'neo.data' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
