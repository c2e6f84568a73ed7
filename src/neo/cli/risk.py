"""CLI commands of the risk layer: ``neo risk status``, ``neo risk engage``, ``neo risk reset``.

The kill switch belongs to the account, not to a configuration file: the paper account of a
data directory keeps it in ``<data_dir>/accounts/paper/killswitch.json`` (later each exchange
account ``exchange:<venue>:<label>`` in its own folder). Every session trading the account
honours it, whatever flags it was started with, and picks up a change within one step. Once
engaged (by a limit, or by hand with ``neo risk engage``) it halts new exposure until someone
runs ``neo risk reset --reason ...``, the only way back to trading; every engage and reset is
recorded with who, when and why (``neo risk status`` shows the history).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from neo.cli.common import JsonOpt, emit, settings_of, stamp
from neo.domain.errors import ConfigError
from neo.settings import NeoSettings

risk_app = typer.Typer(
    name="risk",
    help="The kill switch of an account (paper now, exchange accounts later).",
    no_args_is_help=True,
)

HISTORY_SHOWN = 20

AccountOpt = Annotated[
    str,
    typer.Option(
        "--account", help="Whose kill switch: paper (default) or exchange:<venue>:<label>."
    ),
]
ReasonOpt = Annotated[
    str, typer.Option("--reason", help="Why (required; recorded with who and when).")
]


def state_path(settings: NeoSettings, account: str = "paper") -> Path:
    """The kill-switch state file of ``account`` in the configured data directory."""
    from neo.risk import account_state_path

    return account_state_path(settings.data_dir, account)


def _switch(settings: NeoSettings, account: str) -> Any:
    from neo.risk import account_kill_switch

    return account_kill_switch(settings.data_dir, account, actor=_actor())


def _actor() -> str:
    from neo.risk.killswitch import whoami

    return f"neo risk ({whoami()})"


def _reason(reason: str) -> str:
    text = " ".join(reason.split())
    if not text:
        raise ConfigError("--reason must say why (it is recorded with who and when)")
    return text


def _status(settings: NeoSettings, account: str) -> dict[str, Any]:
    switch = _switch(settings, account)
    path = switch.state_path
    history = switch.history[-HISTORY_SHOWN:]
    state = switch.to_dict()
    engaged_ns = state.pop("engaged_ns", None)
    resets = [entry for entry in switch.history if entry.get("event") == "reset"]
    return {
        "account": account,
        "path": str(path),
        "exists": path.exists(),
        **state,
        **stamp("engaged_at", engaged_ns or None),  # ISO time, with the exact ns beside it
        "last_reset": resets[-1] if resets else None,
        "history": history,
    }


def _print(status: dict[str, Any], title: str) -> None:
    table = Table(title=title, show_header=False)
    for key, value in status.items():
        if key != "history" and not key.endswith("_ns"):  # the ISO twin is shown
            table.add_row(key, str(value))
    console = Console()
    console.print(table)
    history = status.get("history")
    if history:
        log = Table("generation", "event", "at", "by", "reason", title="history (latest last)")
        for entry in history:
            log.add_row(
                str(entry.get("generation", "")),
                str(entry.get("event", "")),
                str(entry.get("at", "")),
                str(entry.get("by", "")),
                str(entry.get("reason", "")),
            )
        console.print(log)


@risk_app.command("status")
def status_command(
    ctx: typer.Context, account: AccountOpt = "paper", as_json: JsonOpt = False
) -> None:
    """Show whether the account's kill switch is engaged, why, and its history.

    Also the equity basis of the drawdown and daily-loss limits, and who engaged or reset it
    and when.
    """
    status = _status(settings_of(ctx), account)
    emit(status, as_json, lambda: _print(status, f"kill switch of account {account}"))


@risk_app.command("engage")
def engage_command(
    ctx: typer.Context, reason: ReasonOpt, account: AccountOpt = "paper", as_json: JsonOpt = False
) -> None:
    """Halt new exposure on the account now (recorded with who, when and why).

    Every session trading the account stops opening positions within one step, and flattens
    or reduces as its risk configuration says.
    """
    why = _reason(reason)
    switch = _switch(settings_of(ctx), account)
    changed = switch.engage(f"engaged by hand: {why}")
    result = {
        "account": account,
        "path": str(switch.state_path),
        "changed": changed,
        **switch.to_dict(),
    }
    emit(result, as_json, lambda: _print(result, "kill switch engaged"))


@risk_app.command("reset")
def reset_command(
    ctx: typer.Context, reason: ReasonOpt, account: AccountOpt = "paper", as_json: JsonOpt = False
) -> None:
    """Release the account's kill switch so trading resumes (recorded with who, when, why).

    Running sessions honour it within one step; it also clears the drawdown and daily-loss
    basis, which restarts from the equity of the next bar.
    """
    why = _reason(reason)
    switch = _switch(settings_of(ctx), account)
    before = switch.reset(why)
    result = {
        "account": account,
        "path": str(switch.state_path),
        "was_engaged": bool(before.get("engaged")),
        "previous_reason": before.get("reason", ""),
        "reason": why,
        "by": switch.history[-1]["by"] if switch.history else switch.actor,
        "at": switch.history[-1]["at"] if switch.history else None,
        **{key: value for key, value in switch.to_dict().items() if key != "reason"},
    }
    emit(result, as_json, lambda: _print(result, "kill switch reset"))


def register(app: typer.Typer) -> None:
    """Add the ``risk`` command group to the root app."""
    app.add_typer(risk_app, name="risk")
