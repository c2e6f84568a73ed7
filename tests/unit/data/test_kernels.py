"""The numba kernels interpreted as plain Python must agree with their compiled selves
(this also lets coverage see inside them), and extra edge cases of the data layer."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import neo.data
from neo.data import _kernels
from neo.data.feeds import read_bar_file, simulate_bars
from neo.data.store import HistoricalDataStore
from neo.data.validate import DataValidator
from tests.unit.data.helpers import MINUTE, T0, walk


def test_interpreted_kernels_match_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(11)
    returns = rng.standard_t(3, 400)
    returns[200:215] = 0.0  # a flat stretch: MAD of zero must not divide
    prices = 100.0 * np.cumprod(rng.uniform(0.85, 1.15, 300))
    compiled_z = {w: _kernels.rolling_robust_zscore(returns, w, 3.0) for w in (10, 11)}
    compiled_jumps = _kernels.jump_mask(prices, 0.1, math.nan, True)
    for name in ("_exact_mad", "_lower_bound", "_replace"):
        monkeypatch.setattr(_kernels, name, getattr(_kernels, name).py_func)
    for window, expected in compiled_z.items():
        interpreted = _kernels.rolling_robust_zscore.py_func(returns, window, 3.0)
        np.testing.assert_array_equal(np.isnan(interpreted), np.isnan(expected))
        np.testing.assert_allclose(interpreted[~np.isnan(expected)], expected[~np.isnan(expected)])
    interpreted_jumps = _kernels.jump_mask.py_func(prices, 0.1, math.nan, True)
    np.testing.assert_array_equal(interpreted_jumps, compiled_jumps)
    assert compiled_jumps.any() and not compiled_jumps.all()
    cols = walk(50, seed=2)
    cols["volume"][3] = -1.0
    cols["close"][5] = math.nan
    cols["high"][7] = 0.0
    cols["ts"][9] += 1
    valid = np.ones(50, dtype=np.bool_)
    valid[11] = False
    args = (*(cols[k] for k in ("ts", "open", "high", "low", "close", "volume")), valid)
    bits = np.array([1, 2, 4, 8, 16, 32], dtype=np.int64)
    compiled_flags = _kernels.row_flags(*args, 0, MINUTE, bits)
    interpreted_flags = _kernels.row_flags.py_func(*args, 0, MINUTE, bits)
    np.testing.assert_array_equal(interpreted_flags, compiled_flags)
    assert {i: int(f) for i, f in enumerate(compiled_flags) if f} == {
        3: 8,
        5: 2,
        7: 4 | 16,
        9: 32,
        11: 1,
    }


def test_integer_ts_frames_json_columns_and_junk_dirs(tmp_path: Path) -> None:
    cols = walk(4)
    frame = pd.DataFrame(cols)
    assert DataValidator("1m").validate(frame).n_accepted == 4
    path = tmp_path / "columns.json"
    columns = {k: v.tolist() for k, v in cols.items()}
    path.write_text(json.dumps({**columns, "ts": [t // 1_000_000 for t in columns["ts"]]}))
    np.testing.assert_array_equal(read_bar_file(path).ts, cols["ts"])
    store = HistoricalDataStore(tmp_path / "store")
    (store.bars_root / "venue" / "SYM" / "not-a-timeframe").mkdir(parents=True)
    (store.bars_root / "venue" / "SYM" / "1m").mkdir(parents=True)
    assert store.datasets() == []


def test_symbol_filter_single_symbol_and_out_of_range_times(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("symbol,timestamp,open,high,low,close,volume\nA/B,1704067200000,1,1,1,1,1\n")
    assert len(read_bar_file(path)) == 1
    far = tmp_path / "far.csv"
    far.write_text(
        "date,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,1,1,1,1\n"
        "9999-01-01T00:00:00Z,1,1,1,1,1\n"
    )
    assert read_bar_file(far).ts_valid.tolist() == [True, False]  # that row only, not the file


def test_short_regimes_and_lazy_package_exports() -> None:
    bars = simulate_bars(["A/B"], "1d", 50, seed=0, regime_days=0.5)
    assert len(next(iter(bars.values()))) == 50
    assert neo.data.DataValidator is DataValidator
    with pytest.raises(AttributeError, match="no attribute"):
        _ = neo.data.Nope  # type: ignore[attr-defined]
    assert T0 % MINUTE == 0


def test_displaced_rows_interpreted_compiled_and_by_hand() -> None:
    rng = np.random.default_rng(5)
    for n in (0, 1, 2, 7, 50):
        ts = rng.integers(0, 10, n).astype(np.int64)
        assert _kernels.displaced_rows(ts) == _kernels.displaced_rows.py_func(ts)
    cases = {(5, 1, 2, 3, 4): 1, (1, 2, 3, 4, 0): 1, (3, 3, 1, 2): 2, (4, 3, 2, 1): 3, (1,): 0}
    for values, moves in cases.items():
        assert _kernels.displaced_rows.py_func(np.array(values, dtype=np.int64)) == moves
