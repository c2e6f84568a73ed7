"""The kill switch of an account as a use case: status, engage, reset.

``neo risk status|engage|reset`` and ``GET/POST /v1/accounts/{account}/killswitch…`` both call
these functions, so the CLI and the REST API report the same state and record the same history
(who, when, why). The switch itself lives in :mod:`neo.risk.killswitch`, durable per account.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neo.app.formats import stamp
from neo.domain.errors import ConfigError
from neo.settings import NeoSettings

if TYPE_CHECKING:
    from neo.risk.killswitch import KillSwitch

HISTORY_SHOWN = 20
"""The newest history entries a status shows."""


def default_actor() -> str:
    """Who acts when a command-line user engages or resets: ``neo risk (user@host pid N)``."""
    from neo.risk.killswitch import whoami

    return f"neo risk ({whoami()})"


def kill_switch(settings: NeoSettings, account: str, actor: str | None = None) -> KillSwitch:
    """The account's kill switch in the configured data directory (a bad account name is a
    ConfigError naming the accepted forms)."""
    from neo.risk import account_kill_switch

    return account_kill_switch(settings.data_dir, account, actor=actor or default_actor())


def clean_reason(reason: str) -> str:
    """The reason on one line; an empty one is refused (it is recorded with who and when)."""
    text = " ".join(reason.split())
    if not text:
        raise ConfigError("--reason must say why (it is recorded with who and when)")
    return text


def kill_switch_status(settings: NeoSettings, account: str = "paper") -> dict[str, Any]:
    """Whether the account is halted, why, since when, its basis and recent history."""
    switch = kill_switch(settings, account)
    path = switch.state_path
    history = switch.history[-HISTORY_SHOWN:]
    state = switch.to_dict()
    engaged_ns = state.pop("engaged_ns", None)
    resets = [entry for entry in switch.history if entry.get("event") == "reset"]
    return {
        "account": account,
        "path": str(path),
        "exists": path is not None and path.exists(),
        **state,
        **stamp("engaged_at", engaged_ns or None),  # ISO time, with the exact ns beside it
        "last_reset": resets[-1] if resets else None,
        "history": history,
    }


def engage_kill_switch(
    settings: NeoSettings, account: str, reason: str, *, actor: str | None = None
) -> dict[str, Any]:
    """Halt new exposure on the account now; ``changed`` is False when it was engaged."""
    why = clean_reason(reason)
    switch = kill_switch(settings, account, actor)
    changed = switch.engage(f"engaged by hand: {why}")
    return {
        "account": account,
        "path": str(switch.state_path),
        "changed": changed,
        **switch.to_dict(),
    }


def reset_kill_switch(
    settings: NeoSettings, account: str, reason: str, *, actor: str | None = None
) -> dict[str, Any]:
    """Release the account's kill switch (the only way back to trading) and its basis."""
    why = clean_reason(reason)
    switch = kill_switch(settings, account, actor)
    before = switch.reset(why)
    return {
        "account": account,
        "path": str(switch.state_path),
        "was_engaged": bool(before.get("engaged")),
        "previous_reason": before.get("reason", ""),
        "reason": why,
        "by": switch.history[-1]["by"] if switch.history else switch.actor,
        "at": switch.history[-1]["at"] if switch.history else None,
        **{key: value for key, value in switch.to_dict().items() if key != "reason"},
    }
