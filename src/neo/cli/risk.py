"""CLI commands of the risk layer: ``neo risk status`` and ``neo risk reset``.

The kill switch of paper (and live) trading keeps its state in ``<data_dir>/risk/<state_file>``
(``state_file`` from the risk configuration, ``risk_state.json`` by default): whether it is
engaged and why, and the equity basis of the drawdown and daily-loss limits. Once engaged it
halts new exposure in every later session until someone runs ``neo risk reset``, the only way
back to trading; the reset also starts a new basis from the equity of the next bar.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from neo.cli.common import JsonOpt, emit, settings_of, stamp
from neo.settings import NeoSettings

risk_app = typer.Typer(
    name="risk", help="The kill switch of paper and live trading.", no_args_is_help=True
)

RiskFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--risk", help="Risk TOML whose state_file to use (default: \\[risk] of neo.toml)."
    ),
]


def state_path(settings: NeoSettings, risk: Path | None = None) -> Path:
    """The kill-switch state file paper trading uses with this configuration."""
    from neo.cli.trading import risk_config_of, risk_state_dir
    from neo.risk import RiskConfig

    config = risk_config_of(settings, risk) or RiskConfig()
    return risk_state_dir(settings) / config.state_file


def _status(path: Path) -> dict[str, Any]:
    from neo.risk import KillSwitch

    switch = KillSwitch(path)
    state = switch.to_dict()
    engaged_ns = state.pop("engaged_ns", None)
    return {
        "path": str(path),
        "exists": path.exists(),
        **state,
        **stamp("engaged_at", engaged_ns or None),  # ISO time, with the exact ns beside it
    }


def _print(status: dict[str, Any], title: str) -> None:
    table = Table(title=title, show_header=False)
    for key, value in status.items():
        if not key.endswith("_ns"):  # the ISO twin is shown
            table.add_row(key, str(value))
    Console().print(table)


@risk_app.command("status")
def status_command(ctx: typer.Context, risk: RiskFileOpt = None, as_json: JsonOpt = False) -> None:
    """Show whether the kill switch is engaged, why, and the limits' equity basis."""
    status = _status(state_path(settings_of(ctx), risk))
    emit(status, as_json, lambda: _print(status, "kill switch"))


@risk_app.command("reset")
def reset_command(
    ctx: typer.Context,
    risk: RiskFileOpt = None,
    reason: Annotated[
        str, typer.Option("--reason", help="Who resets and why (logged and recorded).")
    ] = "",
    as_json: JsonOpt = False,
) -> None:
    """Release the kill switch so trading can resume (also clears the drawdown basis)."""
    from neo.risk import KillSwitch

    path = state_path(settings_of(ctx), risk)
    switch = KillSwitch(path)
    before = switch.to_dict()
    switch.reset(by=reason or "neo risk reset")
    result = {
        "path": str(path),
        "was_engaged": before["engaged"],
        "previous_reason": before["reason"],
        "reason": reason,
        **{key: value for key, value in switch.to_dict().items() if key != "reason"},
    }
    emit(result, as_json, lambda: _print(result, "kill switch reset"))


def register(app: typer.Typer) -> None:
    """Add the ``risk`` command group to the root app."""
    app.add_typer(risk_app, name="risk")
