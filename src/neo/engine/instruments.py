"""Instrument specs the drivers use when the caller gives none."""

from __future__ import annotations

from collections.abc import Mapping

from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.engine.config import InstrumentSpec


def default_instrument(instrument: InstrumentId) -> Instrument:
    """A fee-free instrument traded in whole units (backtesting.py's convention).

    Fees then come from ``ExecutionConfig.fees_bps``.
    """
    return InstrumentSpec().build(instrument)


def configured_instrument(
    instrument: InstrumentId, specs: Mapping[str, InstrumentSpec]
) -> Instrument:
    """The ``[instruments]`` entry for ``instrument`` (``SYMBOL@venue`` first, then
    ``SYMBOL``), else :func:`default_instrument`."""
    spec = specs.get(str(instrument)) or specs.get(instrument.symbol)
    return default_instrument(instrument) if spec is None else spec.build(instrument)
