"""The one purge rule every time split in NEO uses: outer walk-forward folds, the Optuna inner
split and the stacking split.

Samples live on a shared timeline of bar positions: a sample's features are observed at its
``start`` and its label becomes known at its ``end`` (``start + horizon``, or the bar a triple
barrier was touched). A split at position ``cut`` may train on a sample only if its label was
known ``gap`` bars before the later part begins (``end <= cut - gap``), so no training label
overlaps the part it is judged on. Splits are made on timestamps, never on pooled rows: with
several instruments one timestamp holds several rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neo.domain.bar import BoolArray, IntArray
from neo.domain.errors import ModelError


def known_before(end: IntArray, cut: int, gap: int) -> BoolArray:
    """Samples whose label was known at least ``gap`` bars before position ``cut``."""
    mask: BoolArray = np.asarray(end <= cut - gap, dtype=np.bool_)
    return mask


@dataclass(frozen=True, slots=True, eq=False)
class Spans:
    """Per training row: timeline position of its features (``start``) and of its label's end
    (``end``), plus the purge + embargo ``gap`` to keep between a split's parts."""

    start: IntArray
    end: IntArray
    gap: int = 0

    def __post_init__(self) -> None:
        if len(self.start) != len(self.end):
            raise ModelError(f"spans need as many starts as ends, got {len(self.start)}")

    @classmethod
    def rows(cls, n: int, horizon: int = 1) -> Spans:
        """Spans for ``n`` time-ordered rows of one instrument with ``horizon``-bar labels."""
        start = np.arange(n, dtype=np.int64)
        return cls(start, start + horizon)

    def __len__(self) -> int:
        return len(self.start)

    def subset(self, mask: BoolArray) -> Spans:
        return Spans(self.start[mask], self.end[mask], self.gap)

    def split(self, fraction: float) -> tuple[BoolArray, BoolArray, int]:
        """Earlier part, later part and the cut position.

        The cut is the first timestamp of the last ``1 - fraction`` of the distinct sample
        times; the later part is every row at or after it, the earlier part every row whose
        label was known ``gap`` bars before it (rows in between are purged).
        """
        times = np.unique(self.start)
        if len(times) < 2:
            none = np.zeros(len(self), dtype=np.bool_)
            return none, none, int(times[0]) if len(times) else 0
        cut = int(times[min(max(int(len(times) * fraction), 1), len(times) - 1)])
        later: BoolArray = np.asarray(self.start >= cut, dtype=np.bool_)
        earlier = known_before(self.end, cut, self.gap) & ~later
        return earlier, later, cut
