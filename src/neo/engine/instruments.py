"""Instrument specs the drivers use when the caller gives none."""

from __future__ import annotations

from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument


def default_instrument(instrument: InstrumentId) -> Instrument:
    """A fee-free instrument traded in whole units (backtesting.py's convention).

    Fees then come from ``ExecutionConfig.fees_bps``.
    """
    return Instrument(
        id=instrument,
        base=instrument.base,
        quote=instrument.quote,
        tick_size=1e-8,
        lot_size=1.0,
    )
