"""Inferring a file's timeframe from its timestamps, for ``neo ingest`` without ``--timeframe``.

Guessing wrong is worse than asking: daily bars stored as 1m bars poison every later layer. So
the guess is the *median* spacing of the distinct readable timestamps (robust to gaps, weekends
and a few corrupt rows), it must be a whole number of seconds, and anything else is a clear
error asking for ``--timeframe``.
"""

from __future__ import annotations

import numpy as np

from neo.data.validate import RawBars
from neo.domain.errors import DataFormatError
from neo.domain.timeframe import Timeframe

_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def timeframe_of_step(step_ns: int) -> Timeframe | None:
    """The timeframe whose bars are ``step_ns`` long: a standard one (1m … 1w) if it matches,
    else the coarsest unit that divides it (90 s → 90s); None if it is no whole second."""
    for text in Timeframe.SUPPORTED:
        tf = Timeframe.parse(text)
        if tf.nanos == step_ns:
            return tf
    if step_ns <= 0 or step_ns % 1_000_000_000:
        return None
    seconds = step_ns // 1_000_000_000
    unit, size = next((u, s) for u, s in _UNITS if seconds % s == 0)
    return Timeframe(seconds // size, unit)


def infer_timeframe(raw: RawBars, source: str = "the input") -> Timeframe:
    """The timeframe of ``raw`` from the median spacing of its distinct valid timestamps.

    Raises
    ------
    DataFormatError
        Fewer than two distinct readable timestamps, or a spacing that is no timeframe.
    """
    ts = np.unique(raw.ts[raw.ts_valid])
    if len(ts) < 2:
        raise DataFormatError(
            f"cannot infer the timeframe of {source}: it has fewer than two distinct readable "
            "timestamps; pass --timeframe (e.g. --timeframe 1d)"
        )
    steps = np.diff(ts)
    middle = (len(steps) - 1) // 2  # the lower median: an observed spacing, never an average
    step = int(np.partition(steps, middle)[middle])
    tf = timeframe_of_step(step)
    if tf is None:
        raise DataFormatError(
            f"cannot infer the timeframe of {source}: its median spacing of {step} ns is not "
            "a whole number of seconds; pass --timeframe (e.g. --timeframe 1m)"
        )
    return tf
