"""What to suggest when a series is not stored: the closest ones that are.

A typo (``GOOGL`` for ``GOOG``) or a wrong venue or timeframe is the usual reason, so the hint
names the same instrument's other timeframes first, then the instruments whose names are
closest (difflib), not the first ten alphabetically.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe

MAX_SUGGESTIONS = 5
CUTOFF = 0.6


def _base(symbol: str) -> str:
    return symbol.split("/")[0].upper()


def _score(wanted: InstrumentId, other: InstrumentId) -> float:
    """Name similarity in [0, 1]: the best of whole symbol and base asset, a bonus for the
    same venue (so ``GOOGL`` on the default venue still finds ``GOOG/USD@nasdaq``)."""
    ratio = max(
        difflib.SequenceMatcher(None, wanted.symbol.upper(), other.symbol.upper()).ratio(),
        difflib.SequenceMatcher(None, _base(wanted.symbol), _base(other.symbol)).ratio(),
    )
    return ratio + (0.05 if wanted.venue == other.venue else 0.0)


def closest_series(
    instrument: InstrumentId,
    timeframe: Timeframe,
    known: Iterable[tuple[InstrumentId, Timeframe]],
) -> str:
    """A short hint naming the stored series closest to ``instrument`` ``timeframe``."""
    stored = list(known)
    if not stored:
        return "the store is empty"
    same = [str(t) for i, t in stored if i == instrument]
    if same:
        return f"{instrument} is stored as {', '.join(same)}: pass --timeframe {same[0]}"
    by_instrument: dict[InstrumentId, list[str]] = {}
    for iid, frame in stored:
        by_instrument.setdefault(iid, []).append(str(frame))
    ranked = sorted(by_instrument, key=lambda iid: (-_score(instrument, iid), str(iid)))
    close = [iid for iid in ranked if _score(instrument, iid) >= CUTOFF][:MAX_SUGGESTIONS]
    picks = close or ranked[:MAX_SUGGESTIONS]
    listed = ", ".join(f"{iid} {'/'.join(by_instrument[iid])}" for iid in picks)
    label = "closest stored" if close else f"nothing close; {len(by_instrument)} stored, e.g."
    return f"{label}: {listed}"
