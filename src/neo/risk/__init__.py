"""(stage) risk: position sizing, stops as broker orders, pre-trade limits and the kill switch."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.logs import get_logger
from neo.risk.base import (
    APPROVED,
    NO_ACTIONS,
    PassThroughRiskGate,
    RiskActions,
    RiskGate,
    RiskVerdict,
    StalenessSource,
)
from neo.risk.config import HALT_ONLY, RiskConfig, RiskLimits, StopsConfig, load_risk_config
from neo.risk.gate import REASON_CODES, PreTradeRiskGate, RiskEvent
from neo.risk.killswitch import (
    PAPER_ACCOUNT,
    KillSwitch,
    account_state_path,
    import_legacy_halt,
)

__all__ = [
    "APPROVED",
    "HALT_ONLY",
    "NO_ACTIONS",
    "PAPER_ACCOUNT",
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
    "StalenessSource",
    "StopsConfig",
    "account_kill_switch",
    "account_state_path",
    "build_risk_gate",
    "load_risk_config",
]

log = get_logger("risk")


def account_kill_switch(
    data_dir: Path, account: str = PAPER_ACCOUNT, *, keep_basis: bool = True, actor: str = ""
) -> KillSwitch:
    """The kill switch of ``account`` in ``data_dir``: one per account, whatever the session's
    configuration (an engaged halt of the former per-config state file is carried over)."""
    switch = KillSwitch(account_state_path(data_dir, account), keep_basis=keep_basis, actor=actor)
    if account == PAPER_ACCOUNT:
        import_legacy_halt(data_dir, switch)
    log.info(
        "kill switch of the account",
        extra={"account": account, "engaged": switch.engaged, "path": str(switch.state_path)},
    )
    return switch


def build_risk_gate(
    path_or_config: Path | str | RiskConfig,
    data_dir: Path | None,
    instruments: Mapping[InstrumentId, Instrument] | None = None,
    *,
    account: str = PAPER_ACCOUNT,
    keep_basis: bool = True,
) -> PreTradeRiskGate:
    """The RiskGate for ``--risk FILE.toml`` (or a ready RiskConfig).

    With a ``data_dir`` the gate uses the kill switch of ``account`` there
    (:func:`account_kill_switch`), shared with every other session trading that account, so a
    halt survives restarts and stops them all; ``None`` keeps it in memory, which backtests
    want so one run's halt does not block the next. Pass ``instruments`` to enable the
    quantity and price precision checks. ``keep_basis=False`` shares only the halt, not the
    drawdown and daily basis: for an account that starts afresh each session (paper trading).
    """
    config = (
        path_or_config
        if isinstance(path_or_config, RiskConfig)
        else load_risk_config(Path(path_or_config))
    )
    switch = (
        None if data_dir is None else account_kill_switch(data_dir, account, keep_basis=keep_basis)
    )
    return PreTradeRiskGate(config, None, instruments, keep_basis=keep_basis, kill_switch=switch)
