"""End to end: bars in the store -> `neo train` -> `neo predict` -> `neo models list`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from neo.cli.common import parse_time
from neo.cli.main import app
from neo.data.feeds import simulate_bars
from neo.data.store import HistoricalDataStore
from neo.domain import InstrumentId
from neo.engine.predictor import ModelPredictor
from neo.models import ModelRegistry

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


def _metadata(stored: Path, model_id: str) -> dict[str, Any]:
    text = (stored / "models" / model_id / "metadata.json").read_text(encoding="utf-8")
    record: dict[str, Any] = json.loads(text)
    return record


def test_default_lightgbm_model_records_its_provenance(stored: Path) -> None:
    args = ["train", "--symbols", "BTC/USDT,ETH/USDT", "--timeframe", "1h", *SMALL, "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    meta = _metadata(stored, payload["model_id"])
    assert meta["model"]["name"] == "lightgbm" and meta["task"] == "classification"
    assert len(meta["data_hash"]) == 64 and meta["feature_hash"] and meta["feature_code"]
    assert meta["instruments"] == ["BTC/USDT@sim", "ETH/USDT@sim"] and meta["timeframe"] == "1h"
    window = meta["training_window"]
    assert window["n_samples"] > 0 and window["end"].endswith("Z")
    assert window["start_ns"] < window["end_ns"] and window["end"] == _utc(window["end_ns"])
    assert meta["folds"] == payload["folds"] and len(meta["folds"]) >= 2
    fold = meta["folds"][0]
    for key in ("train_start", "train_end", "test_start", "test_end"):
        assert isinstance(fold[f"{key}_ns"], int) and fold[key] == _utc(fold[f"{key}_ns"])
    assert {"accuracy", "auc", "log_loss"} <= set(fold)
    libraries = meta["libraries"]
    assert {"python", "numpy", "lightgbm", "scikit-learn", "optuna", "neo-trading"} <= set(
        libraries
    )
    assert meta["files"]["model/booster.txt"] and meta["walk_forward"]["train_window"] == 150
    assert meta["fold_models"] == len(meta["folds"]) and meta["files"]["folds/0/booster.txt"]


def _utc(ns: int) -> str:
    return pd.Timestamp(ns, unit="ns", tz="UTC").isoformat().replace("+00:00", "Z")


def test_label_flags_override_the_config(stored: Path) -> None:
    barrier = _train("--label", "triple_barrier", "--take-profit", "0.02", "--stop-loss", "0.005")
    assert barrier["label"] == {"kind": "triple_barrier", "horizon": 1, "dead_zone": 0.0,
                                "take_profit": 0.02, "stop_loss": 0.005,
                                "barrier_timeout": "drop"}  # fmt: skip
    signed = _train("--label", "triple_barrier", "--barrier-timeout", "sign", "--horizon", "3")
    assert signed["label"]["barrier_timeout"] == "sign"  # type: ignore[index]
    wrong = runner.invoke(app, ["train", "--symbols", "BTC/USDT", *SMALL, "--label",
                                "triple_barrier", "--barrier-timeout", "zero"])  # fmt: skip
    assert wrong.exit_code != 0 and "barrier_timeout" in wrong.stderr
    sign = _train("--dead-zone", "0.002")
    assert sign["label"]["dead_zone"] == 0.002  # type: ignore[index]
    bad = runner.invoke(app, ["train", "--symbols", "BTC/USDT", *SMALL, "--take-profit", "0"])
    assert bad.exit_code != 0 and "--take-profit must be > 0" in bad.stderr


def test_predict_checks_the_configured_features(
    stored: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_id = str(_train()["model_id"])
    monkeypatch.setenv("NEO_FEATURES__MARKET", "ETH/USDT")  # [features] now builds more
    base = ["predict", "--model", model_id, "--symbol", "BTC/USDT", "--json"]
    result = runner.invoke(app, base)
    assert result.exit_code != 0
    assert "only in [features]: market_ret_1, market_corr_20" in result.stderr
    assert "Traceback" not in result.output
    own = runner.invoke(app, [*base, "--model-features"])  # explicitly the model's own spec
    assert own.exit_code == 0, own.output
    paper = runner.invoke(app, ["paper", "--model", model_id, "--symbols", "BTC/USDT",
                                "--timeframe", "1h", "--cycles", "5", "--json"])  # fmt: skip
    assert paper.exit_code != 0 and "only in [features]" in paper.stderr
    paper_own = runner.invoke(app, ["paper", "--model", model_id, "--symbols", "BTC/USDT",
                                    "--timeframe", "1h", "--cycles", "5", "--model-features",
                                    "--json"])  # fmt: skip
    assert paper_own.exit_code == 0, paper_own.output


def test_market_model_end_to_end(stored: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model with cross-asset features: its data hash covers the market, predict reads the
    market series, and paper trading refuses a feed without the market (or at another
    timeframe), warms up on the bars before --start and forecasts from the first live bar."""
    plain = _metadata(stored, str(_train("--symbols", "ETH/USDT")["model_id"]))
    monkeypatch.setenv("NEO_FEATURES__MARKET", "BTC/USDT")
    model_id = str(_train("--symbols", "ETH/USDT")["model_id"])
    meta = _metadata(stored, model_id)
    assert meta["context_instruments"] == {"BTC/USDT": "BTC/USDT@sim"}
    assert meta["data_hash"] != plain["data_hash"]  # same ETH bars, plus the market's
    result = runner.invoke(app, ["predict", "--model", model_id, "--symbol", "ETH/USDT", "--json"])
    assert result.exit_code == 0, result.output
    paper = ["paper", "--model", model_id, "--feed", "replay", "--timeframe", "1h",
             "--start", "2024-01-10", "--json"]  # fmt: skip
    missing = runner.invoke(app, [*paper, "--symbols", "ETH/USDT"])
    assert missing.exit_code != 0 and "add them to --symbols" in missing.stderr
    wrong = runner.invoke(app, [*paper, "--symbols", "ETH/USDT,BTC/USDT", "--timeframe", "1m"])
    assert wrong.exit_code != 0 and "trained on 1h bars" in wrong.stderr
    forecasts: list[tuple[str, float]] = []
    real_predict = ModelPredictor.predict

    def recording(self: ModelPredictor, bar: Any) -> float:
        value = real_predict(self, bar)
        forecasts.append((bar.instrument.symbol, value))
        return value

    monkeypatch.setattr(ModelPredictor, "predict", recording)
    in_sample = runner.invoke(app, [*paper, "--symbols", "ETH/USDT,BTC/USDT"])
    assert in_sample.exit_code != 0 and "--allow-in-sample" in in_sample.stderr
    assert not forecasts  # refused before the first bar
    args = [*paper, "--symbols", "ETH/USDT,BTC/USDT", "--allow-in-sample"]
    ok = runner.invoke(app, args)
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["in_sample"] is True
    assert forecasts[0][0] == "BTC/USDT"  # the market first within each timestamp
    live_bars = 2 * (400 - 9 * 24)  # both symbols from 2024-01-10 on
    assert len(forecasts) == live_bars and all(math.isfinite(v) for _, v in forecasts)


def test_predict_as_of_uses_no_later_bar(stored: Path, tmp_path: Path) -> None:
    oos = tmp_path / "oos.csv"
    model_id = str(_train("--predictions-out", str(oos))["model_id"])
    base = ["predict", "--model", model_id, "--symbol", "BTC/USDT", "--json"]
    latest = json.loads(runner.invoke(app, base).stdout)
    as_of = "2024-01-10T05:30:00"
    result = runner.invoke(app, [*base, "--end", as_of, "--timeframe", "1h"])
    assert result.exit_code == 0, result.output
    earlier = json.loads(result.stdout)
    assert earlier["bar_ts"] == "2024-01-10T04:00:00Z"  # the last bar complete by 05:30
    assert earlier["decided_at"] <= "2024-01-10T05:30:00Z" < latest["bar_ts"]
    # the model walk-forward used for that bar, trained on labels known before it
    used = earlier["model_used"]
    assert used["model"].startswith("fold ") and used["train_end"] <= earlier["bar_ts"]
    # the same number as the walk-forward out-of-sample prediction of that bar
    frame = pd.read_csv(oos)
    mine = frame[(frame["symbol"] == "BTC/USDT@sim") & (frame["ts"] == "2024-01-10 04:00:00+00:00")]
    assert earlier["prediction"] == pytest.approx(float(mine["prediction"].iloc[0]), abs=1e-15)
    # and from the batch pipeline on the bars up to that one, with that fold's model
    store = HistoricalDataStore(stored / "store")
    batch = store.read(InstrumentId("sim", "BTC/USDT"), "1h", None, parse_time("2024-01-10T04:01"))
    store.close()
    registry = ModelRegistry(stored / "models")
    fold = used["model"].split()[1]
    model, _ = registry.load_with_metadata(model_id, part=f"folds/{fold}")
    row = registry.pipeline(model_id).compute(batch).values[-1]
    assert earlier["prediction"] == float(model.predict(row)[0])
    assert earlier["prediction"] != float(registry.load(model_id).predict(row)[0])
    assert earlier["forecast"] == pytest.approx(2 * earlier["prediction"] - 1)
    wrong = runner.invoke(app, [*base, "--timeframe", "4h"])
    assert wrong.exit_code != 0 and "trained on 1h bars" in wrong.stderr
