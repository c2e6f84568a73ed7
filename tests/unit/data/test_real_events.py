"""Real market events are data, not errors (issue 9): a crash or a split that the next bars
confirm is kept with a warning, only an isolated spike is rejected, absurd values warn, and
`neo data export` followed by `neo ingest` gives back the same series."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from neo.cli.main import app
from neo.data.config import ValidationConfig
from neo.data.ingest import DataIngestionAPI
from neo.data.store.historical import HistoricalDataStore
from neo.data.validate import DataValidator, RawBars, split_ratio
from neo.domain import InstrumentId
from tests.unit.data.helpers import T0

runner = CliRunner()
DAY = 86_400 * 1_000_000_000
CRASH, SPLIT, EDGE = 100, 200, 250


def _daily(close: np.ndarray, volume: float = 1e6) -> dict[str, np.ndarray]:
    n = len(close)
    open_ = np.concatenate(([close[0]], close[:-1]))
    return {
        "ts": T0 + np.arange(n, dtype=np.int64) * DAY,
        "open": open_,
        "high": np.maximum(open_, close) * 1.002,
        "low": np.minimum(open_, close) * 0.998,
        "close": close,
        "volume": np.full(n, volume),
    }


def _eventful(n: int = 300) -> dict[str, np.ndarray]:
    """Small daily moves, a -30 % crash, an unadjusted 2:1 split and a -25.004 % day; the
    bars after each event stay at the new level."""
    rng = np.random.default_rng(11)
    factors = np.exp(rng.normal(0.0, 0.004, n))
    factors[CRASH] = 0.70
    factors[SPLIT] = 0.5
    factors[EDGE] = 1 - 0.25004
    return _daily(100.0 * np.cumprod(factors))


def _csv(columns: dict[str, np.ndarray], path: Path) -> Path:
    lines = ["timestamp,open,high,low,close,volume"] + [
        ",".join([str(int(columns["ts"][i] // 1_000_000))]
                 + [repr(float(columns[k][i])) for k in ("open", "high", "low", "close", "volume")])
        for i in range(len(columns["ts"]))
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def test_confirmed_crash_split_and_edge_move_are_kept_with_warnings() -> None:
    report = DataValidator("1d").validate(_eventful())
    assert report.n_rejected == 0 and report.n_accepted == 300
    assert report.counts["price_jump_confirmed"] == 3
    events = {w.code: [] for w in report.warnings}  # type: dict[str, list[int]]
    for w in report.warnings:
        events[w.code].append(int((w.ts - T0) // DAY))
    assert events["price_jump_confirmed"] == [CRASH, SPLIT, EDGE]
    (split,) = [w for w in report.warnings if w.code == "possible_split"]
    assert int((split.ts - T0) // DAY) == SPLIT and "2:1" in split.message


def test_an_isolated_spike_that_reverts_is_still_rejected() -> None:
    close = np.full(20, 100.0)
    close[10] = 160.0
    report = DataValidator("1d").validate(_daily(close))
    assert report.reasons == ("price_jump",)
    assert int((report.rejected.ts[0] - T0) // DAY) == 10
    assert report.counts["price_jump_confirmed"] == 0


@pytest.mark.parametrize(
    ("factor", "ratio"),
    [(0.5, "2:1"), (1 / 3, "3:1"), (2 / 3, "3:2"), (0.25, "4:1"), (0.2, "5:1"), (2.0, "1:2"),
     (3.0, "1:3"), (10.0, "1:10"), (0.1, "10:1"), (0.503, "2:1"), (0.70, None), (0.75, None)],
)  # fmt: skip
def test_split_ratios(factor: float, ratio: str | None) -> None:
    assert split_ratio(factor, ValidationConfig().split_tolerance) == ratio


def test_absurd_values_that_pass_every_rule_warn() -> None:
    huge = _daily(np.full(10, 1e200), volume=1e300)
    report = DataValidator("1d").validate(huge)
    assert report.n_accepted == 10 and report.counts["absurd_value"] == 10
    assert {w.code for w in report.warnings} == {"absurd_value"}
    tiny_volume = _daily(np.full(10, 50.0), volume=1e300)
    assert DataValidator("1d").validate(tiny_volume).counts["absurd_value"] == 10
    assert DataValidator("1d").validate(_daily(np.full(10, 50.0))).counts["absurd_value"] == 0


def test_a_jump_awaiting_its_confirmation_at_the_end_is_rejected() -> None:
    close = np.full(10, 100.0)
    close[-1] = 60.0  # nothing after it can confirm the new level
    report = DataValidator("1d").validate(_daily(close))
    assert report.reasons == ("price_jump",)


def _ingest_json(args: list[str]) -> dict[str, object]:
    result = runner.invoke(app, ["ingest", *args, "--json"])
    assert result.exit_code == 0, result.output
    payload: dict[str, object] = json.loads(result.stdout)
    return payload


def test_export_then_ingest_gives_back_the_same_series(tmp_path: Path) -> None:
    """The defect: the crash day was quarantined and re-ingesting NEO's own export dropped a
    -25.004 % day. Now every bar survives both trips, and the warnings are in the output."""
    source = _csv(_eventful(), tmp_path / "events.csv")
    first = _ingest_json([str(source), "--symbol", "EV/USD", "--venue", "a", "--timeframe", "1d"])
    assert (first["accepted"], first["rejected"]) == (300, 0)
    counts = first["counts_by_rule"]
    assert isinstance(counts, dict)
    assert counts["price_jump_confirmed"] == 3 and counts["possible_split"] == 1
    samples = first["warning_samples"]
    assert isinstance(samples, list)
    assert {w["code"] for w in samples} >= {"price_jump_confirmed", "possible_split"}
    exported = tmp_path / "export.csv"
    result = runner.invoke(
        app, ["data", "export", "--symbol", "EV/USD", "--venue", "a", "--timeframe", "1d",
              "--out", str(exported)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    second = _ingest_json([str(exported), "--symbol", "EV/USD", "--venue", "b"])
    assert (second["accepted"], second["rejected"], second["timeframe"]) == (300, 0, "1d")
    human = runner.invoke(app, ["ingest", str(exported), "--symbol", "EV/USD", "--venue", "c"])
    assert human.exit_code == 0 and "warning: possible_split" in human.stdout
    assert "close to a 2:1 split" in human.stdout


def test_round_trip_through_the_store_is_exact(tmp_path: Path) -> None:
    api = DataIngestionAPI(HistoricalDataStore(tmp_path / "store"))
    columns = _eventful()
    api.ingest_file(_csv(columns, tmp_path / "in.csv"), venue="a", symbol="EV/USD")
    a = InstrumentId("a", "EV/USD")
    api.export(a, "1d", tmp_path / "out.parquet")
    again = api.ingest_file(tmp_path / "out.parquet", venue="b", symbol="EV/USD")
    assert again.rejected == 0
    stored_a = api.store.read(a, "1d")
    stored_b = api.store.read(InstrumentId("b", "EV/USD"), "1d")
    np.testing.assert_array_equal(stored_a.ts, columns["ts"])
    for name in ("ts", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(stored_a, name), getattr(stored_b, name))


def test_a_move_confirmed_only_in_the_next_batch_is_judged_there() -> None:
    """One bar at a time (daily updates): the crash bar alone cannot be confirmed, so it is
    rejected; re-ingesting it with the day after confirms and keeps both."""
    columns = _daily(np.array([100.0, 100.5, 70.0, 70.4]))
    raw = RawBars.from_arrays(*(columns[k] for k in ("ts", "open", "high", "low", "close",
                                                     "volume")))  # fmt: skip
    first = DataValidator("1d").validate(raw.take(np.arange(3)))
    assert first.reasons == ("price_jump",)
    later = DataValidator("1d").validate(raw.take(np.arange(2, 4)), prev_close=100.5)
    assert later.n_rejected == 0 and later.counts["price_jump_confirmed"] == 1
