"""The historical store: Parquet + DuckDB on local disk, with a quarantine and an LRU cache."""

from neo.data.store.atomic import atomic_path
from neo.data.store.cache import LRUCache
from neo.data.store.historical import DatasetInfo, ExportResult, HistoricalDataStore, WriteResult
from neo.data.store.quarantine import Quarantine, QuarantineWrite

__all__ = [
    "DatasetInfo",
    "ExportResult",
    "HistoricalDataStore",
    "LRUCache",
    "Quarantine",
    "QuarantineWrite",
    "WriteResult",
    "atomic_path",
]
