"""``neo demo``: the main job, end to end on embedded defaults (what ``make run`` runs).

Shipped real data → validated ingestion → walk-forward model → hybrid strategy backtest with an
HTML report → a paper session. The paper session replays the bars *after* the training cutoff
with the model fitted strictly before it, so it is out of time, not a rerun of what the model
already saw.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from neo.cli.common import (
    JsonOpt,
    emit,
    iso_times_deep,
    metric_rows,
    parse_symbols,
    parse_time,
    settings_of,
    stderr_console,
)
from neo.domain.errors import ConfigError
from neo.domain.ids import InstrumentId
from neo.domain.timeframe import Timeframe
from neo.settings import NeoSettings

DEMO_SYMBOLS = "AAPL/USD,MSFT/USD,IBM/USD,GOOG/USD"
DEMO_VENUE = "nasdaq"
DEMO_CUTOFF = "2012-03-01"
# Trend and volatility-regime filters sized for daily bars; 100 shares a signal, 10 bps fees.
DEMO_STRATEGY_PARAMS: dict[str, Any] = {"trend": 50, "vol_window": 60, "size": 100.0}
DEMO_FEES_BPS = 10.0


def _step(message: str) -> None:
    stderr_console.print(f"[bold cyan]neo demo[/bold cyan] {message}")


def _ingest(settings: NeoSettings) -> tuple[list[dict[str, Any]], list[str]]:
    """Ingest the samples; a sample whose series holds the user's own bars is skipped (the
    demo then runs on the user's series, never on a splice of both)."""
    from neo.data.ingest import get_data_ingestion_api
    from neo.data.samples import ingest_samples_report

    _step("1/4 ingesting the shipped daily OHLCV samples (validated, quarantine kept)")
    reports, skipped = ingest_samples_report(get_data_ingestion_api(settings))
    for message in skipped:
        stderr_console.print(f"[yellow]warning:[/yellow] {message}", highlight=False)
    return [iso_times_deep(r.to_dict()) for r in reports], skipped


def _train(
    settings: NeoSettings, ids: list[InstrumentId], cutoff_ns: int, out: Path
) -> dict[str, Any]:
    from neo.cli.models import _walk_config, label_spec_of, run_train

    _step("2/4 walk-forward training LightGBM (purged, out of sample) before the cutoff")
    config = _walk_config(
        settings,
        {"train_window": 750, "retrain_every": 63, "min_train_samples": 500, "purge": 5},
    )
    return run_train(
        settings,
        ids,
        Timeframe.parse("1d"),
        (None, cutoff_ns),
        settings.models.default_model,
        label_spec_of(settings, "sign", 5),
        config,
        out,
    )


def _backtest(
    settings: NeoSettings, ids: list[InstrumentId], cutoff_ns: int, predictions: Path, report: Path
) -> dict[str, Any]:
    from neo.cli.trading import execution_config, run_backtest_job
    from neo.strategies.registry import create_strategy

    _step("3/4 backtesting the hybrid strategy on the walk-forward forecasts")
    return run_backtest_job(
        settings,
        create_strategy("hybrid", DEMO_STRATEGY_PARAMS),
        ids,
        Timeframe.parse("1d"),
        (None, cutoff_ns),
        execution_config(settings, fill=None, fees_bps=DEMO_FEES_BPS, slippage_bps=None, cash=None),
        predictions=predictions,
        report=report,
    )


def _paper(
    settings: NeoSettings, ids: list[InstrumentId], cutoff_ns: int, model_id: str, cycles: int
) -> dict[str, Any]:
    from neo.cli.models import configured_features
    from neo.cli.trading import execution_config
    from neo.data.feeds import ReplayFeed
    from neo.data.store import HistoricalDataStore
    from neo.engine.paper import run_paper
    from neo.engine.predictor import ModelPredictor, store_history

    _step("4/4 paper trading the held-out bars after the cutoff with the trained model")
    store = HistoricalDataStore.from_settings(settings)
    try:
        predictor = ModelPredictor.from_registry(
            settings.data_dir / "models",
            model_id,
            features=configured_features(settings),
            history=store_history(store),  # warmed on the bars before the cutoff, never after
        )
        ids = predictor.prepare(ids, Timeframe.parse("1d"))
        feed = ReplayFeed(store, ids, Timeframe.parse("1d"), start_ns=cutoff_ns)
        result = asyncio.run(
            run_paper(
                "hybrid",
                feed,
                params=DEMO_STRATEGY_PARAMS,
                execution=execution_config(
                    settings, fill=None, fees_bps=DEMO_FEES_BPS, slippage_bps=None, cash=None
                ),
                engine=settings.engine,
                predictor=predictor,
                cycles=cycles,
                status=stderr_console.is_terminal,
            )
        )
    finally:
        store.close()
    return result.summary()


def run_demo(
    settings: NeoSettings, symbols: list[str], cutoff: str, paper_cycles: int
) -> dict[str, Any]:
    """Run the four steps and return what ``neo demo --json`` prints."""
    cutoff_ns = parse_time(cutoff)
    if cutoff_ns is None:
        raise ConfigError("--cutoff needs a date, e.g. 2012-03-01")
    ids = [InstrumentId(DEMO_VENUE, symbol) for symbol in symbols]
    demo_dir = settings.data_dir / "demo"
    predictions = demo_dir / "predictions.parquet"
    report = settings.data_dir / "reports" / "demo-backtest.html"
    ingested, skipped = _ingest(settings)
    trained = _train(settings, ids, cutoff_ns, predictions)
    backtest = _backtest(settings, ids, cutoff_ns, predictions, report)
    paper = _paper(settings, ids, cutoff_ns, str(trained["model_id"]), paper_cycles)
    return {
        "ingest": [
            {k: r[k] for k in ("source", "rows_read", "accepted", "rejected", "warnings") if k in r}
            for r in ingested
        ],
        "samples_skipped": skipped,
        "model": {
            "model_id": trained["model_id"],
            "out_of_sample": trained["overall"],
            "baselines": trained["baselines"],
            "folds": len(trained["folds"]),
            "training_window": trained["training_window"],
        },
        "cutoff": cutoff,
        "backtest": {
            key: backtest[key]
            for key in ("strategy", "params", "instruments", "bars", "final_equity", "metrics")
        }
        | {"trades": len(backtest["trades"])},
        "report": backtest["report"],
        "paper": paper,
    }


def _cell(key: str, value: Any) -> str:
    """Readable values of the model and paper rows."""
    if isinstance(value, float):
        return f"{value:,.4f}"
    return str(value)


def _render(result: dict[str, Any]) -> None:
    console = Console()
    table = Table(title="NEO demo: hybrid strategy, walk-forward LightGBM, shipped real data")
    table.add_column("metric")
    table.add_column("value", justify="right")
    model = result["model"]
    table.add_row("model id", str(model["model_id"]))
    for key, value in model["out_of_sample"].items():
        table.add_row(f"model OOS {key}", _cell(key, value))
    table.add_section()
    table.add_row("backtest trades", str(result["backtest"]["trades"]))
    for label, text in metric_rows(result["backtest"]["metrics"]):
        table.add_row(label, text)
    table.add_section()
    paper = result["paper"]
    for key in ("bars", "equity", "orders", "fills", "strategy_failures"):
        table.add_row(f"paper {key}", _cell(key, paper[key]))
    console.print(table)
    console.print(f"report: [bold]{result['report']}[/bold]")


def register(app: typer.Typer) -> None:
    """Add ``neo demo`` to the root app."""

    @app.command("demo")
    def demo_command(
        ctx: typer.Context,
        symbols: Annotated[
            str, typer.Option("--symbols", help="Shipped sample symbols to trade.")
        ] = DEMO_SYMBOLS,
        cutoff: Annotated[
            str, typer.Option("--cutoff", help="Train and backtest before it; paper after it.")
        ] = DEMO_CUTOFF,
        paper_cycles: Annotated[
            int, typer.Option("--paper-cycles", min=1, help="Bars in the paper session.")
        ] = 1000,
        as_json: JsonOpt = False,
    ) -> None:
        """Run the main job end to end: ingest → train → backtest + report → paper."""
        result = run_demo(settings_of(ctx), parse_symbols(symbols), cutoff, paper_cycles)
        emit(result, as_json, lambda: _render(result))
