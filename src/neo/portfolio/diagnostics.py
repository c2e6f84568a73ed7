"""Why an allocator allocated nothing, or little: the facts a user needs, gathered as it runs.

An allocator run that makes no order, or five one-share trades, is not wrong by itself: the
instruments may lack history, the forecasts may all be zero (a Kelly optimum is then flat),
a weight bound or the leverage may bind, or the weights may round to less than one lot. This
module counts each of those as the portfolio constructor meets them, and counts the warnings
the optimisation libraries raise (skfolio repairs a covariance that is not positive definite
and says so at every rebalance) so a run logs one line per kind instead of dozens.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from neo.domain.bar import FloatArray
from neo.domain.ids import InstrumentId
from neo.domain.timestamps import iso_or_none
from neo.logs import get_logger

log = get_logger("portfolio")

_TOLERANCE = 1e-6
LITTLE = 0.05
"""A mean gross weight below this (5 % of equity) is "little allocated" and gets explained."""

_ACTIONS = {
    "not positive definite": "the optimiser went on with skfolio's nearest positive-definite "
    "repair of that covariance",
}


class AllocationDiagnostics:
    """Counters of one run of :class:`~neo.portfolio.constructor.AllocatorPortfolio`."""

    def __init__(self, min_history: int) -> None:
        self.min_history = min_history
        self.rebalances = 0
        self.lacked_history: Counter[InstrumentId] = Counter()
        self.ready_from_ns: dict[InstrumentId, int] = {}
        self.zero_forecasts = 0
        self.bound: Counter[str] = Counter()
        self.below_one_lot = 0
        self.gross_total = 0.0
        self._warnings: dict[str, list[Any]] = {}  # text → [count, category name]

    # ------------------------------------------------------------------ recording
    def waiting(self, ts: int, lacking: Mapping[InstrumentId, int], ready: int) -> None:
        """One cycle: ``lacking`` maps the instruments without ``min_history`` returns yet,
        ``ready`` counts those with it. The common warm-up (none ready) is not a gap."""
        if ready:
            for iid in lacking:
                self.lacked_history[iid] += 1
        for iid in self.lacked_history:
            if iid not in lacking and iid not in self.ready_from_ns:
                self.ready_from_ns[iid] = ts

    def allocated(
        self,
        ids: tuple[InstrumentId, ...],
        target: FloatArray,
        signal: FloatArray | None,
        box: Any,
        quantities: Mapping[InstrumentId, float],
    ) -> None:
        """One rebalance: its weights, the forecasts it saw, the bounds it had."""
        self.rebalances += 1
        weights = np.asarray(target, dtype=np.float64)
        gross = float(np.abs(weights).sum())
        self.gross_total += gross
        if signal is not None and not np.any(signal):
            self.zero_forecasts += 1
        if box is not None:
            self._bounds(weights, box, gross)
        for iid, weight in zip(ids, weights.tolist(), strict=True):
            if abs(weight) > _TOLERANCE and quantities.get(iid, 0.0) == 0.0:
                self.below_one_lot += 1

    def _bounds(self, weights: FloatArray, box: Any, gross: float) -> None:
        upper = np.asarray(box.upper, dtype=np.float64)
        lower = np.asarray(box.lower, dtype=np.float64)
        if np.any((weights >= upper - _TOLERANCE) & (upper < 1.0 - _TOLERANCE)):
            self.bound["max_weight"] += 1
        if np.any((weights <= lower + _TOLERANCE) & (lower > 0.0)):
            self.bound["min_weight"] += 1
        if np.any((np.abs(weights) <= _TOLERANCE) & (lower == 0.0)):
            self.bound["long_only (some weights held at 0)"] += 1
        if gross >= float(box.gross) - _TOLERANCE:
            self.bound["max_gross_leverage"] += 1
        if abs(float(weights.sum())) >= float(box.net) - _TOLERANCE:
            self.bound["max_net_leverage"] += 1

    def warned(self, caught: Iterable[warnings.WarningMessage]) -> None:
        """Count the warnings one allocation raised, by message."""
        for record in caught:
            text = " ".join(str(record.message).split())
            entry = self._warnings.setdefault(text, [0, record.category.__name__])
            entry[0] += 1

    # ------------------------------------------------------------------ reporting
    @property
    def warnings_count(self) -> int:
        return sum(count for count, _ in self._warnings.values())

    def warning_rows(self) -> list[dict[str, Any]]:
        """One row per distinct library warning: message, category, count, what was done."""
        rows = []
        for text, (count, category) in self._warnings.items():
            action = next((a for key, a in _ACTIONS.items() if key in text), None)
            rows.append(
                {
                    "message": text,
                    "category": category,
                    "count": count,
                    "action": action or "the allocation went on; the warning was only counted",
                }
            )
        return rows

    def notes(self, *, mean_exposure: float | None = None) -> list[str]:
        """Plain sentences: why nothing or little was allocated (empty when neither)."""
        notes: list[str] = []
        for iid, steps in sorted(self.lacked_history.items(), key=lambda kv: -kv[1]):
            since = self.ready_from_ns.get(iid)
            until = f"until {iso_or_none(since)}" if since is not None else "for the whole run"
            notes.append(
                f"{iid} lacked {self.min_history} bars of history for {steps:,} steps ({until}); "
                "the others were allocated without it meanwhile"
            )
        if self.rebalances == 0:
            notes.append(
                "no rebalance was made: no instrument had min_history "
                f"({self.min_history}) bars of returns, or the rebalance policy never fell due"
            )
            return notes
        mean_gross = self.gross_total / self.rebalances
        little = mean_gross < LITTLE or (mean_exposure is not None and mean_exposure < LITTLE)
        if not little:
            return notes
        reasons = [f"mean target gross weight {mean_gross:.2%} over {self.rebalances} rebalances"]
        if self.zero_forecasts:
            reasons.append(
                f"all forecasts were 0 at {self.zero_forecasts} of them (the strategy stated no "
                "direction, so a forecast-driven optimum such as Kelly is flat)"
            )
        for name, count in self.bound.most_common():
            reasons.append(f"{name} bound at {count}")
        if self.below_one_lot:
            reasons.append(f"{self.below_one_lot} target weights rounded to less than one lot")
        notes.append("little was allocated: " + "; ".join(reasons))
        return notes

    def to_dict(self, *, mean_exposure: float | None = None) -> dict[str, Any]:
        """What ``--json`` prints under ``allocation``."""
        return {
            "rebalances": self.rebalances,
            "lacked_history": {
                str(iid): {"steps": steps, "ready_from": iso_or_none(self.ready_from_ns.get(iid))}
                for iid, steps in self.lacked_history.items()
            },
            "zero_forecast_rebalances": self.zero_forecasts,
            "bound": dict(self.bound),
            "below_one_lot": self.below_one_lot,
            "mean_gross_weight": (self.gross_total / self.rebalances if self.rebalances else None),
            "library_warnings": self.warning_rows(),
            "library_warnings_count": self.warnings_count,
            "notes": self.notes(mean_exposure=mean_exposure),
        }

    def log_summary(self, *, mean_exposure: float | None = None) -> None:
        """One log line per distinct library warning and per note, once per run."""
        for row in self.warning_rows():
            log.warning(
                f"{row['category']} raised {row['count']} times during allocation: "
                f"{row['message']} ({row['action']})"
            )
        for note in self.notes(mean_exposure=mean_exposure):
            log.warning(f"allocation: {note}")
