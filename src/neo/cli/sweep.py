"""``neo sweep``: a parameter sweep with walk-forward windows, on a process pool or Ray.

A thin shell over :func:`neo.sweeps.api.run_sweep`: parse the shared flags and the grid, run,
print the winner with its deflated Sharpe ratio and PBO (``--json``: one object on stdout;
progress on stderr). Ctrl-C stops the sweep and keeps every finished result (exit 130).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from neo.cli.common import (
    EndOpt,
    JsonOpt,
    StartOpt,
    SymbolOpt,
    SymbolsOpt,
    TimeframeOpt,
    VenueOpt,
    emit,
    parse_symbols,
    parse_time,
    resolve_timeframe,
    settings_of,
    stderr_console,
)
from neo.cli.trading import (
    CashOpt,
    FeesOpt,
    FillOpt,
    ParamOpt,
    SlippageOpt,
    StrategyOpt,
    execution_config,
)
from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId

INTERRUPTED_EXIT = 130


def sweep_command(
    ctx: typer.Context,
    strategy: StrategyOpt = None,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            help="Swept parameter: name=v1,v2 or name=start:stop[:step]; repeat for several.",
        ),
    ] = None,
    param: ParamOpt = None,
    optuna: Annotated[
        int | None,
        typer.Option("--optuna", help="Optuna trials over the --grid space instead of all of it."),
    ] = None,
    venue: VenueOpt = None,
    symbols: SymbolsOpt = None,
    symbol: SymbolOpt = None,
    timeframe: TimeframeOpt = "1m",
    start: StartOpt = None,
    end: EndOpt = None,
    windows: Annotated[int, typer.Option("--windows", help="Walk-forward windows.")] = 1,
    train_frac: Annotated[
        float, typer.Option("--train-frac", help="In-sample share of each window.")
    ] = 0.7,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Parallel workers (default: CPU count).", min=1)
    ] = None,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="auto (Ray when installed, else pool), ray, pool (local processes) or serial.",
        ),
    ] = "auto",
    address: Annotated[
        str | None,
        typer.Option("--address", help="Ray cluster address (ray://head:10001 or auto)."),
    ] = None,
    engine: Annotated[
        str, typer.Option("--engine", help="auto (fast path when possible), fast or event.")
    ] = "auto",
    fill: FillOpt = None,
    fees_bps: FeesOpt = None,
    slippage_bps: SlippageOpt = None,
    cash: CashOpt = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the Optuna sampler.")] = 42,
    retries: Annotated[
        int, typer.Option("--retries", help="Times a failed task is retried.", min=0)
    ] = 2,
    out: Annotated[Path, typer.Option("--out", help="Results table (Parquet).")] = Path(
        "sweep.parquet"
    ),
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Sweep a strategy's parameters over symbols and walk-forward windows."""
    from neo.strategies.registry import parse_params
    from neo.sweeps.api import SweepRequest, run_sweep
    from neo.sweeps.grid import parse_grid, strategy_class

    settings = settings_of(ctx)
    name = strategy or settings.strategies.default
    cls = strategy_class(name)
    names = parse_symbols(symbols, symbol)
    if not names:
        raise ConfigError("select what to sweep with --symbols A,B or --symbol A")
    where = venue or settings.data.default_venue
    from neo.engine.instruments import configured_instrument

    instruments = [
        configured_instrument(InstrumentId(where, s), settings.instruments) for s in names
    ]
    request = SweepRequest(
        strategy=name,
        grid=parse_grid(grid or [], cls),
        fixed=parse_params(param),
        instruments=instruments,
        timeframe=resolve_timeframe(settings, timeframe, [i.id for i in instruments], "1m"),
        store_root=settings.data_dir / "store",
        out=out,
        execution=execution_config(
            settings, fill=fill, fees_bps=fees_bps, slippage_bps=slippage_bps, cash=cash
        ),
        start_ns=parse_time(start),
        end_ns=parse_time(end),
        windows=windows,
        train_frac=train_frac,
        engine=engine,
        backend=backend,
        workers=workers,
        address=address,
        optuna_trials=optuna,
        seed=seed,
        retries=retries,
    )
    with _progress(f"sweep {name}") as (on_total, advance):
        result = run_sweep(request, progress=advance, on_total=on_total)
    written = None
    if report is not None:
        from neo.sweeps.report import write_sweep_report

        written = write_sweep_report(report, result, title=f"NEO sweep: {name} {timeframe}")
    payload = sweep_payload(result, written)
    emit(payload, as_json, lambda: _print(payload))
    if result.stats.interrupted:
        raise typer.Exit(code=INTERRUPTED_EXIT)


@contextmanager
def _progress(description: str) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """A rich progress bar on stderr (terminals only) whose total is set once known."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr_console,
        disable=not stderr_console.is_terminal,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)
        yield (lambda n: bar.update(task, total=n)), (lambda n: bar.advance(task, n))


def sweep_payload(result: Any, report: Path | None) -> dict[str, Any]:
    stats = result.stats
    return {
        "results": str(result.path),
        "report": None if report is None else str(report),
        "backend": result.backend,
        "engine": result.engine,
        "workers": result.workers,
        "configs": result.configs,
        "refused_configs": result.refused,
        "backtests": stats.backtests,
        "tasks": stats.tasks,
        "seconds": stats.seconds,
        "worker_cpu_seconds": stats.cpu_seconds,
        "retried_tasks": stats.retried,
        "failed_tasks": stats.failed,
        "interrupted": stats.interrupted,
        **result.analysis.summary(),
    }


def _print(payload: dict[str, Any]) -> None:
    console = Console()
    table = Table(title="sweep", show_header=False)
    for key in ("results", "backend", "engine", "workers", "configs", "backtests", "seconds"):
        table.add_row(key, str(payload[key]))
    winner = payload.get("winner") or {}
    table.add_row("winner (in-sample)", str(winner.get("params")))
    table.add_row(
        "winner IS / OOS Sharpe", f"{winner.get('is_sharpe')} / {winner.get('oos_sharpe')}"
    )
    dsr = payload.get("deflated_sharpe") or {}
    pbo = payload.get("pbo") or {}
    table.add_row("deflated Sharpe ratio", str(dsr.get("dsr")))
    table.add_row("PBO", str(pbo.get("pbo")))
    table.add_row("retried / failed tasks",
                  f"{len(payload['retried_tasks'])} / {len(payload['failed_tasks'])}")  # fmt: skip
    if payload["interrupted"]:
        table.add_row("interrupted", "yes: finished results kept")
    if payload["report"]:
        table.add_row("report", payload["report"])
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep_command)
