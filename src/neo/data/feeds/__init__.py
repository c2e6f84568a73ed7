"""Market data feeds: one contract, :class:`MarketDataFeed`, for simulated, replayed and file
bars."""

from neo.data.feeds.base import BatchFeed, MarketDataFeed, iter_time_ordered
from neo.data.feeds.files import (
    CsvFeed,
    FileFeed,
    ParquetFeed,
    detect_format,
    read_bar_file,
    write_bars,
)
from neo.data.feeds.replay import ReplayFeed
from neo.data.feeds.simulated import DEFAULT_START_NS, SimulatedMarketDataFeed, simulate_bars

__all__ = [
    "DEFAULT_START_NS",
    "BatchFeed",
    "CsvFeed",
    "FileFeed",
    "MarketDataFeed",
    "ParquetFeed",
    "ReplayFeed",
    "SimulatedMarketDataFeed",
    "detect_format",
    "iter_time_ordered",
    "read_bar_file",
    "simulate_bars",
    "write_bars",
]
