"""The main job (`make run` → `neo demo`) end to end on the shipped real data."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from neo.cli.common import parse_time
from neo.cli.main import app


def test_demo_runs_the_whole_chain_out_of_time(isolated_neo_env: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--json", "--paper-cycles", "400"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)

    ingested = {row["source"]: row for row in out["ingest"]}
    assert len(ingested) == 5
    for row in ingested.values():  # nothing lost: every row read is accepted or quarantined
        assert row["accepted"] + row["rejected"] <= row["rows_read"]
        assert row["accepted"] > 0

    model = out["model"]
    assert model["folds"] > 5
    assert {"accuracy", "auc", "log_loss"} <= set(model["out_of_sample"])
    assert model["baselines"], "OOS metrics must be shown beside naive baselines"
    cutoff_ns = parse_time(out["cutoff"])
    assert cutoff_ns is not None
    # The live model's labels end before the paper session's first bar: out of time.
    assert model["training_window"]["end_ns"] < cutoff_ns

    backtest = out["backtest"]
    assert backtest["strategy"] == "hybrid" and backtest["trades"] > 0
    assert backtest["metrics"]["end_ns"] < cutoff_ns
    assert Path(out["report"]).is_file()
    assert "<html" in Path(out["report"]).read_text()[:2000].lower()

    paper = out["paper"]
    assert paper["bars"] == 400 and paper["strategy_failures"] == 0
    assert paper["fills"] > 0, "the paper session should trade on the model's forecasts"
