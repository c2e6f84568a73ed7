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

from neo.app.risk import HISTORY_SHOWN as HISTORY_SHOWN
from neo.app.risk import engage_kill_switch, kill_switch_status, reset_kill_switch
from neo.cli.common import JsonOpt, emit, settings_of
from neo.settings import NeoSettings

risk_app = typer.Typer(
    name="risk",
    help="The kill switch of an account (paper now, exchange accounts later).",
    no_args_is_help=True,
)

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
    status = kill_switch_status(settings_of(ctx), account)
    emit(status, as_json, lambda: _print(status, f"kill switch of account {account}"))


@risk_app.command("engage")
def engage_command(
    ctx: typer.Context, reason: ReasonOpt, account: AccountOpt = "paper", as_json: JsonOpt = False
) -> None:
    """Halt new exposure on the account now (recorded with who, when and why).

    Every session trading the account stops opening positions within one step, and flattens
    or reduces as its risk configuration says.
    """
    result = engage_kill_switch(settings_of(ctx), account, reason)
    emit(result, as_json, lambda: _print(result, "kill switch engaged"))


@risk_app.command("reset")
def reset_command(
    ctx: typer.Context, reason: ReasonOpt, account: AccountOpt = "paper", as_json: JsonOpt = False
) -> None:
    """Release the account's kill switch so trading resumes (recorded with who, when, why).

    Running sessions honour it within one step; it also clears the drawdown and daily-loss
    basis, which restarts from the equity of the next bar.
    """
    result = reset_kill_switch(settings_of(ctx), account, reason)
    emit(result, as_json, lambda: _print(result, "kill switch reset"))


def register(app: typer.Typer) -> None:
    """Add the ``risk`` command group to the root app."""
    app.add_typer(risk_app, name="risk")
