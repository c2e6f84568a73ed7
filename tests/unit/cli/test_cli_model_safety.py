"""Through the command line: a crafted model file runs no code, `neo predict --end T` answers
with the model walk-forward used at T (perturbing the data after T moves nothing), and
`neo paper --model` refuses an in-sample replay unless it is asked for and flagged."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from neo.cli.common import parse_time
from neo.cli.main import app
from neo.data.feeds import simulate_bars
from neo.data.store import HistoricalDataStore
from neo.domain import InstrumentId
from neo.models import ModelRegistry
from tests.unit.features.synthetic import perturb_after
from tests.unit.models.test_storage import plant_pickle

runner = CliRunner()
SMALL = ["--train-window", "150", "--retrain-every", "50", "--min-train", "120", "--purge", "2"]
T = "2024-01-12T00:00:00"
"""The as-of time: the last bar complete by then is 2024-01-11 23:00, bar 263 of 400."""
T_BAR = 263


def _store(data_dir: Path, perturbed: bool = False) -> None:
    store = HistoricalDataStore(data_dir / "store")
    for batch in simulate_bars(["BTC/USDT"], "1h", 400, seed=3).values():
        store.write(perturb_after(batch, T_BAR, seed=11) if perturbed else batch)
    store.close()


@pytest.fixture
def stored(isolated_neo_env: Path) -> Path:
    _store(isolated_neo_env)
    return isolated_neo_env


def _train(*extra: str) -> str:
    args = ["train", "--symbol", "BTC/USDT", "--timeframe", "1h", "--model", "logistic",
            "--horizon", "3", *SMALL, "--json", *extra]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["model_id"])


def _predict(model_id: str, *extra: str) -> dict[str, object]:
    args = ["predict", "--model", model_id, "--symbol", "BTC/USDT", "--json", *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload: dict[str, object] = json.loads(result.stdout)
    return payload


@pytest.mark.parametrize("forge", [False, True])
def test_a_crafted_pickle_runs_no_code_in_predict_or_paper(
    stored: Path, tmp_path: Path, forge: bool
) -> None:
    model_id = _train()
    marker = tmp_path / "marker"
    plant_pickle(stored / "models", model_id, marker, forge)
    predict = ["predict", "--model", model_id, "--symbol", "BTC/USDT"]
    paper = ["paper", "--model", model_id, "--symbols", "BTC/USDT", "--timeframe", "1h",
             "--cycles", "3"]  # fmt: skip
    for args in (predict, paper, [*paper, "--feed", "replay", "--allow-in-sample"]):
        result = runner.invoke(app, args)
        assert not marker.exists(), "the crafted model file ran code"
        assert result.exit_code != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "retrain" in lines[0]
        assert "Traceback" not in result.output


def test_predict_as_of_t_ignores_everything_after_t(
    stored: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retrained on data whose bars after T are noise, the forecast as of T is the same."""
    oos = tmp_path / "oos.csv"
    model_id = _train("--predictions-out", str(oos))
    before = _predict(model_id, "--end", T)
    assert before["bar_ts"] == "2024-01-11T23:00:00Z"
    frame = pd.read_csv(oos)
    walk_forward = frame.loc[frame["ts"] == "2024-01-11 23:00:00+00:00", "prediction"]
    assert before["prediction"] == pytest.approx(float(walk_forward.iloc[0]), abs=1e-15)

    other = tmp_path / "perturbed"
    _store(other, perturbed=True)
    monkeypatch.setenv("NEO_DATA_DIR", str(other))
    perturbed_id = _train()
    after = _predict(perturbed_id, "--end", T)
    assert after["prediction"] == before["prediction"]
    assert after["model_used"] == before["model_used"]
    # the perturbation is real: the live model trained on the perturbed data (what an as-of
    # forecast used before) gives another number for the same bar
    store = HistoricalDataStore(stored / "store")
    batch = store.read(InstrumentId("sim", "BTC/USDT"), "1h", None, parse_time(T))
    store.close()
    registry = ModelRegistry(other / "models")
    row = registry.pipeline(perturbed_id).compute(batch).values[-1]
    assert float(registry.load(perturbed_id).predict(row)[0]) != before["prediction"]


def test_predict_before_the_first_fold_is_refused(stored: Path) -> None:
    model_id = _train()
    result = runner.invoke(
        app, ["predict", "--model", model_id, "--symbol", "BTC/USDT", "--end", "2024-01-04"]
    )
    assert result.exit_code != 0
    assert "no walk-forward model" in result.stderr and "first fold's test window" in result.stderr
    after_training = _train("--end", "2024-01-12")
    later = _predict(after_training, "--end", "2024-01-15")  # after the training data
    used = later["model_used"]
    assert isinstance(used, dict) and used["model"] == "live"
    assert used["train_end_ns"] < parse_time("2024-01-12")


def test_paper_replay_in_sample_is_refused_unless_allowed_and_then_flagged(
    stored: Path,
) -> None:
    model_id = _train("--end", "2024-01-12")
    base = ["paper", "--model", model_id, "--feed", "replay", "--symbols", "BTC/USDT",
            "--timeframe", "1h"]  # fmt: skip
    refused = runner.invoke(app, [*base, "--start", "2024-01-11"])
    assert refused.exit_code != 0 and "--allow-in-sample" in refused.stderr
    assert "before the end of model" in refused.stderr
    flagged = runner.invoke(app, [*base, "--allow-in-sample", "--json"])
    assert flagged.exit_code == 0, flagged.output
    assert json.loads(flagged.stdout)["in_sample"] is True
    assert "warning: in sample" in flagged.stderr
    text = runner.invoke(app, [*base, "--allow-in-sample"])
    assert text.exit_code == 0 and "in_sample: True" in text.stdout
    assert "warning: in sample" in text.stderr
    clean = runner.invoke(app, [*base, "--start", "2024-01-12", "--json"])
    assert clean.exit_code == 0, clean.output
    assert json.loads(clean.stdout)["in_sample"] is False and "in sample" not in clean.stderr


def test_models_list_names_a_damaged_model_and_lists_the_rest(stored: Path) -> None:
    healthy, damaged = _train(), _train()
    path = stored / "models" / damaged / "metadata.json"
    path.write_bytes(path.read_bytes()[:100])  # what a crash mid-write left before the fix
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [m["model_id"] for m in listed["models"]] == [healthy]
    assert [d["model_id"] for d in listed["damaged"]] == [damaged]
    assert f"damaged model {damaged}" in result.stderr
    text = runner.invoke(app, ["models", "list"])
    assert text.exit_code == 0 and healthy in text.stdout and f"{damaged}  DAMAGED" in text.stdout
    assert _predict(healthy)["model_id"] == healthy
