"""The feed contract shared by backtest, paper and live: batch history plus a time-ordered stream.

One loop drives every mode (ARCHITECTURE.md); only the injected feed differs. A feed therefore
offers the same two views everywhere: ``history()`` for batch work (features, training) and
``async for bar in feed`` for the loop, bars in time order across symbols.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from neo.domain.bar import Bar, BarBatch
from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe

_YIELD_EVERY = 1024  # bars between cooperative yields when streaming as fast as possible


@runtime_checkable
class MarketDataFeed(Protocol):
    """A source of bars for a set of instruments of one timeframe.

    ``stream()`` (and ``async for``) yields each :class:`Bar` once, ordered by ``ts`` and, within
    one timestamp, by the order of :attr:`instruments`. ``history(start_ns, end_ns)`` returns bars
    with ``start_ns <= ts < end_ns`` per instrument.
    """

    @property
    def instruments(self) -> Sequence[InstrumentId]: ...

    @property
    def timeframe(self) -> Timeframe: ...

    def history(
        self, start_ns: int | None = None, end_ns: int | None = None
    ) -> dict[InstrumentId, BarBatch]: ...

    def stream(self) -> AsyncIterator[Bar]: ...

    def __aiter__(self) -> AsyncIterator[Bar]: ...


def iter_time_ordered(
    batches: Mapping[InstrumentId, BarBatch], order: Sequence[InstrumentId] | None = None
) -> Iterator[Bar]:
    """Bars of several instruments merged by ``ts`` (ties broken by instrument order)."""
    keys = list(order) if order is not None else list(batches)
    present = [k for k in keys if k in batches and len(batches[k])]
    if not present:
        return
    ts = np.concatenate([batches[k].ts for k in present])
    which = np.concatenate(
        [np.full(len(batches[k]), i, dtype=np.int64) for i, k in enumerate(present)]
    )
    row = np.concatenate([np.arange(len(batches[k]), dtype=np.int64) for k in present])
    for j in np.lexsort((which, ts)):
        yield batches[present[int(which[j])]].bar(int(row[j]))


class BatchFeed(ABC):
    """A feed whose bars can be loaded up front; subclasses supply :meth:`_load`.

    Parameters
    ----------
    pace:
        ``None`` streams as fast as the consumer takes bars; otherwise seconds of wall time
        between consecutive timestamps (all symbols of one timestamp arrive together).
    """

    def __init__(
        self,
        instruments: Sequence[InstrumentId],
        timeframe: Timeframe | str,
        *,
        pace: float | None = None,
    ) -> None:
        if not instruments:
            raise ConfigError("a feed needs at least one instrument: pass --symbols or a symbol")
        if pace is not None and pace < 0:
            raise ConfigError(f"pace must be >= 0 seconds per bar, got {pace}")
        self._instruments = tuple(instruments)
        self._timeframe = Timeframe.parse(timeframe)
        self.pace = pace
        self._cache: dict[InstrumentId, BarBatch] | None = None

    @property
    def instruments(self) -> Sequence[InstrumentId]:
        return self._instruments

    @property
    def timeframe(self) -> Timeframe:
        return self._timeframe

    @abstractmethod
    def _load(self) -> dict[InstrumentId, BarBatch]:
        """Every bar this feed can give, per instrument, sorted by ts."""

    def _all(self) -> dict[InstrumentId, BarBatch]:
        if self._cache is None:
            self._cache = self._load()
        return self._cache

    def history(
        self, start_ns: int | None = None, end_ns: int | None = None
    ) -> dict[InstrumentId, BarBatch]:
        return {iid: batch.between(start_ns, end_ns) for iid, batch in self._all().items()}

    async def stream(self) -> AsyncIterator[Bar]:
        last_ts: int | None = None
        for count, bar in enumerate(iter_time_ordered(self._all(), self._instruments), 1):
            if self.pace is not None and last_ts is not None and bar.ts != last_ts:
                await asyncio.sleep(self.pace)
            elif self.pace is None and count % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
            last_ts = bar.ts
            yield bar

    def __aiter__(self) -> AsyncIterator[Bar]:
        return self.stream()
