"""Replay stored bars as a feed: the backtest's view of the historical store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from neo.data.feeds.base import BatchFeed
from neo.domain.bar import BarBatch
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe

if TYPE_CHECKING:
    from neo.data.store.historical import HistoricalDataStore


class ReplayFeed(BatchFeed):
    """Bars of ``instruments`` from ``store`` in ``[start_ns, end_ns)``, time-ordered across
    symbols; ``pace`` as for every :class:`~neo.data.feeds.base.BatchFeed`."""

    def __init__(
        self,
        store: HistoricalDataStore,
        instruments: Sequence[InstrumentId],
        timeframe: Timeframe | str,
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
        pace: float | None = None,
    ) -> None:
        super().__init__(instruments, timeframe, pace=pace)
        self.store = store
        self.start_ns = start_ns
        self.end_ns = end_ns

    def _load(self) -> dict[InstrumentId, BarBatch]:
        return self.store.read_many(self.instruments, self.timeframe, self.start_ns, self.end_ns)
