"""End to end: bars in the store -> `neo train` -> `neo predict` -> `neo models list`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from neo.cli.main import app
from neo.data.feeds import simulate_bars
from neo.data.store import HistoricalDataStore

runner = CliRunner()
SMALL = ["--train-window", "150", "--retrain-every", "100", "--min-train", "120"]


@pytest.fixture
def stored(isolated_neo_env: Path) -> Path:
    store = HistoricalDataStore(isolated_neo_env / "store")
    for batch in simulate_bars(["BTC/USDT", "ETH/USDT"], "1h", 400, seed=3).values():
        store.write(batch)
    store.close()
    return isolated_neo_env


def _train(*extra: str) -> dict[str, object]:
    args = ["train", "--symbols", "BTC/USDT,ETH/USDT", "--timeframe", "1h", "--model",
            "logistic", *SMALL, "--json", *extra]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload: dict[str, object] = json.loads(result.stdout)
    return payload


def test_train_predict_list(stored: Path, tmp_path: Path) -> None:
    out = tmp_path / "oos.csv"
    payload = _train("--predictions-out", str(out))
    model_id = str(payload["model_id"])
    assert payload["task"] == "classification" and payload["folds"]
    assert set(payload["baselines"]) == {"always_long", "previous_return_sign"}  # type: ignore[arg-type]
    assert {"accuracy", "auc", "log_loss", "hit_rate"} <= set(payload["overall"])  # type: ignore[arg-type]
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["ts", "symbol", "prediction", "forecast"] and len(frame) == 800
    assert payload["predictions_rows"] == 800

    result = runner.invoke(app, ["predict", "--model", model_id, "--symbol", "BTC/USDT", "--json"])
    assert result.exit_code == 0, result.output
    prediction = json.loads(result.stdout)
    assert 0.0 <= prediction["prediction"] <= 1.0 and prediction["instrument"] == "BTC/USDT@sim"

    listed = json.loads(runner.invoke(app, ["models", "list", "--json"]).stdout)
    assert [m["model_id"] for m in listed["models"]] == [model_id]
    human = runner.invoke(app, ["models", "list"])
    assert human.exit_code == 0 and model_id in human.stdout
    assert (
        runner.invoke(app, ["predict", "--model", model_id, "--symbol", "BTC/USDT"]).exit_code == 0
    )


def test_train_regression_to_parquet_with_human_output(stored: Path, tmp_path: Path) -> None:
    out = tmp_path / "oos.parquet"
    args = ["train", "--symbol", "ETH/USDT", "--model", "ridge", "--label", "forward_return",
            "--horizon", "2", "--purge", "1", "--embargo", "1", "--expanding", *SMALL,
            "--retrain-every", "15", "--predictions-out", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "baseline: always_long" in result.stdout and "model id" in result.stdout
    assert "more folds" in result.stdout  # 19 folds: the table shows the first and last three
    assert len(pd.read_parquet(out)) == 400


def test_user_errors_are_one_line(stored: Path, tmp_path: Path) -> None:
    cases = [
        (["train", "--timeframe", "1h"], "give the symbols"),
        (["train", "--symbols", "XRP/USDT", *SMALL], "no 1h bars stored"),
        (["train", "--symbols", "BTC/USDT", "--model", "svm", *SMALL], "unknown model"),
        (["train", "--symbols", "BTC/USDT", "--label", "median", *SMALL], "unknown label"),
        (["train", "--symbols", "BTC/USDT", *SMALL, "--predictions-out", str(tmp_path / "x.txt")],
         ".csv or .parquet"),
        (["predict", "--model", "nope-1", "--symbol", "BTC/USDT"], "no model"),
        (["predict", "--model", "nope-1"], "give the symbol"),
        (["train", "--symbols", "BTC/USDT", "--min-train", "5000"], "min_train_samples"),
    ]  # fmt: skip
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code != 0, args
        assert message in result.stderr and "Traceback" not in result.output, result.output


def test_predict_needs_enough_history(stored: Path) -> None:
    model_id = str(_train()["model_id"])
    store = HistoricalDataStore(stored / "store")
    (short,) = simulate_bars(["SOL/USDT"], "1h", 10, seed=4).values()
    store.write(short)
    store.close()
    result = runner.invoke(app, ["predict", "--model", model_id, "--symbol", "SOL/USDT"])
    assert result.exit_code != 0 and "ingest more history" in result.stderr


def test_models_list_when_empty() -> None:
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0 and "no models yet" in result.stdout
