"""When to rebalance: every k bars, when the signal changes, or when weights drift out of a band."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from neo.domain.bar import FloatArray
from neo.domain.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class RebalanceState:
    """What a policy may look at: this bar, the last rebalance and the weights now."""

    bar: int
    last_bar: int | None
    forecasts: FloatArray | None
    last_forecasts: FloatArray | None
    weights_now: FloatArray
    last_target: FloatArray | None


class RebalancePolicy(Protocol):
    def due(self, state: RebalanceState) -> bool: ...


@dataclass(frozen=True)
class EveryK:
    """Rebalance on the first eligible bar and then every ``k`` bars."""

    k: int = 1

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ConfigError(f"every_k: k must be >= 1 bar, got {self.k}")

    def due(self, state: RebalanceState) -> bool:
        return state.last_bar is None or state.bar - state.last_bar >= self.k


@dataclass(frozen=True)
class OnSignalChange:
    """Rebalance when a forecast flips sign or moves by more than ``threshold``."""

    threshold: float = 0.0

    def due(self, state: RebalanceState) -> bool:
        if state.last_bar is None or state.last_forecasts is None:
            return True
        if state.forecasts is None or state.forecasts.shape != state.last_forecasts.shape:
            return state.forecasts is not None
        flipped = np.sign(state.forecasts) != np.sign(state.last_forecasts)
        moved = np.abs(state.forecasts - state.last_forecasts) > self.threshold
        return bool((flipped | moved).any())


@dataclass(frozen=True)
class DriftBand:
    """Rebalance when any weight has drifted more than ``band`` from its last target."""

    band: float = 0.05

    def __post_init__(self) -> None:
        if not self.band > 0:
            raise ConfigError(f"drift_band: band must be > 0, got {self.band}")

    def due(self, state: RebalanceState) -> bool:
        if state.last_target is None or state.last_target.shape != state.weights_now.shape:
            return True
        return bool(np.abs(state.weights_now - state.last_target).max() > self.band)


REBALANCE_POLICIES = ("every_k", "on_signal_change", "drift_band")


def create_policy(
    name: str, *, k: int = 1, threshold: float = 0.0, band: float = 0.05
) -> RebalancePolicy:
    """The policy called ``name`` (``every_k``, ``on_signal_change`` or ``drift_band``)."""
    if name == "every_k":
        return EveryK(k)
    if name == "on_signal_change":
        return OnSignalChange(threshold)
    if name == "drift_band":
        return DriftBand(band)
    raise ConfigError(
        f"unknown rebalance policy {name!r}: use one of {', '.join(REBALANCE_POLICIES)}"
    )
