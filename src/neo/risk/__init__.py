"""(stage) risk: position sizing, stops as broker orders, pre-trade limits and the kill switch."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.risk.base import (
    APPROVED,
    NO_ACTIONS,
    PassThroughRiskGate,
    RiskActions,
    RiskGate,
    RiskVerdict,
)
from neo.risk.config import RiskConfig, RiskLimits, StopsConfig, load_risk_config
from neo.risk.gate import REASON_CODES, PreTradeRiskGate, RiskEvent
from neo.risk.killswitch import KillSwitch

__all__ = [
    "APPROVED",
    "NO_ACTIONS",
    "REASON_CODES",
    "KillSwitch",
    "PassThroughRiskGate",
    "PreTradeRiskGate",
    "RiskActions",
    "RiskConfig",
    "RiskEvent",
    "RiskGate",
    "RiskLimits",
    "RiskVerdict",
    "StopsConfig",
    "build_risk_gate",
    "load_risk_config",
]


def build_risk_gate(
    path_or_config: Path | str | RiskConfig,
    state_dir: Path | None,
    instruments: Mapping[InstrumentId, Instrument] | None = None,
    *,
    keep_basis: bool = True,
) -> PreTradeRiskGate:
    """The RiskGate for ``--risk FILE.toml`` (or a ready RiskConfig).

    The kill-switch state is kept in ``state_dir / config.state_file`` so an engaged switch
    survives a restart (paper and live: pass e.g. ``settings.data_dir / "risk"``); ``None``
    keeps it in memory, which backtests want so one run's halt does not block the next.
    Pass ``instruments`` to enable the quantity and price precision checks.
    ``keep_basis=False`` restores only the halt from that file, not the drawdown and daily
    basis: for an account that starts afresh each session (paper trading).
    """
    config = (
        path_or_config
        if isinstance(path_or_config, RiskConfig)
        else load_risk_config(Path(path_or_config))
    )
    state = None if state_dir is None else state_dir / config.state_file
    return PreTradeRiskGate(config, state, instruments, keep_basis=keep_basis)
