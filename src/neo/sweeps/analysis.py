"""What the sweep table says: configurations ranked in-sample, their out-of-sample results
beside them, a walk-forward selection, and how far to trust the winner (DSR, PBO).

Selection only ever reads in-sample columns (``is_*``): the ranking sorts by the mean in-sample
Sharpe ratio, and each window's pick is the configuration best on that window's training part.
Out-of-sample columns are shown beside, never used to choose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from neo.sweeps.stats import (
    DeflatedSharpe,
    Overfitting,
    deflated_sharpe_ratio,
    pbo_from_moments,
)

CSCV_BLOCKS = 16
RANK_COLUMNS = (
    "config_id",
    "params",
    "is_sharpe",
    "oos_sharpe",
    "is_return",
    "oos_return",
    "is_max_drawdown",
    "oos_max_drawdown",
    "is_fills",
    "oos_fills",
    "runs",
)


@dataclass(frozen=True, slots=True)
class SweepAnalysis:
    ranking: pd.DataFrame
    selection: pd.DataFrame
    dsr: DeflatedSharpe | None
    pbo: Overfitting | None
    failed_rows: int
    configs: int
    notes: list[str] = field(default_factory=list)

    @property
    def winner(self) -> dict[str, Any] | None:
        if self.ranking.empty:
            return None
        return records(self.ranking.head(1))[0]

    def summary(self) -> dict[str, Any]:
        """The JSON-ready headline: winner, DSR, PBO and the walk-forward selection."""
        dsr = self.dsr
        return {
            "configs": self.configs,
            "failed_rows": self.failed_rows,
            "winner": _clean(self.winner),
            "deflated_sharpe": None
            if dsr is None
            else {
                "dsr": dsr.dsr,
                "sharpe_per_bar": dsr.sharpe,
                "expected_max_sharpe_per_bar": dsr.benchmark,
                "trials": dsr.trials,
                "observations": dsr.observations,
                "skew": dsr.skew,
                "kurtosis": dsr.kurtosis,
            },
            "pbo": None
            if self.pbo is None
            else {"pbo": self.pbo.pbo, "splits": self.pbo.splits, "blocks": self.pbo.blocks},
            "walk_forward": [_clean(r) for r in records(self.selection)],
            "notes": self.notes,
        }


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts with string keys."""
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _clean(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[str(key)] = value
    return out


def load_results(path: Path) -> pd.DataFrame:
    frame: pd.DataFrame = pq.read_table(path).to_pandas()
    return frame


def analyse(frame: pd.DataFrame) -> SweepAnalysis:
    """Rank, select and deflate: see the module docstring."""
    failed = frame["error"].notna() if "error" in frame else pd.Series(False, index=frame.index)
    good = frame[~failed]
    notes: list[str] = []
    if good.empty:
        empty = pd.DataFrame(columns=list(RANK_COLUMNS))
        return SweepAnalysis(empty, pd.DataFrame(), None, None, int(failed.sum()), 0, notes)
    ranking = rank_configs(good)
    selection = walk_forward_selection(good)
    dsr = _deflated(good, int(ranking.iloc[0]["config_id"]), notes)
    pbo = _overfitting(good, notes)
    return SweepAnalysis(
        ranking, selection, dsr, pbo, int(failed.sum()), int(ranking.shape[0]), notes
    )


def rank_configs(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration, means over symbols and windows, best in-sample first."""
    grouped = frame.groupby("config_id", sort=True)
    ranking = grouped.agg(
        params=("params", "first"),
        is_sharpe=("is_sharpe", "mean"),
        oos_sharpe=("oos_sharpe", "mean"),
        is_return=("is_return", "mean"),
        oos_return=("oos_return", "mean"),
        is_max_drawdown=("is_max_drawdown", "min"),
        oos_max_drawdown=("oos_max_drawdown", "min"),
        is_fills=("is_fills", "sum"),
        oos_fills=("oos_fills", "sum"),
        runs=("window", "size"),
    ).reset_index()
    ranking["_key"] = ranking["is_sharpe"].fillna(-np.inf)
    ranking = ranking.sort_values(["_key", "config_id"], ascending=[False, True], kind="stable")
    return ranking.drop(columns="_key").reset_index(drop=True)[list(RANK_COLUMNS)]


def walk_forward_selection(frame: pd.DataFrame) -> pd.DataFrame:
    """Per window: the configuration best in-sample (mean over symbols) and what it then did
    out of sample in that same window."""
    per_window = frame.groupby(["window", "config_id"], sort=True).agg(
        params=("params", "first"),
        is_sharpe=("is_sharpe", "mean"),
        oos_sharpe=("oos_sharpe", "mean"),
        oos_return=("oos_return", "mean"),
    )
    rows = []
    flat = per_window.reset_index()
    for window in sorted(flat["window"].unique()):
        part = flat[flat["window"] == window]
        best = records(part.iloc[[int(np.argmax(part["is_sharpe"].fillna(-np.inf).to_numpy()))]])[0]
        rows.append(
            {
                "window": int(window),
                "config_id": int(best["config_id"]),
                "params": best["params"],
                "is_sharpe": float(best["is_sharpe"]),
                "oos_sharpe": float(best["oos_sharpe"]),
                "oos_return": float(best["oos_return"]),
            }
        )
    return pd.DataFrame(rows)


def pooled_moments(frame: pd.DataFrame) -> pd.DataFrame:
    """Per configuration: in-sample per-bar Sharpe, skew and kurtosis of all its in-sample
    returns pooled over symbols and windows (from the stored power sums)."""
    sums = frame.groupby("config_id")[["is_bars", "is_s1", "is_s2", "is_s3", "is_s4"]].sum()
    n = sums["is_bars"].astype(float)
    mean = sums["is_s1"] / n
    raw2, raw3, raw4 = sums["is_s2"] / n, sums["is_s3"] / n, sums["is_s4"] / n
    m2 = np.maximum(raw2 - mean**2, 0.0)
    m3 = raw3 - 3 * mean * raw2 + 2 * mean**3
    m4 = raw4 - 4 * mean * raw3 + 6 * mean**2 * raw2 - 3 * mean**4
    std = np.sqrt(m2 * n / (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = pd.DataFrame(
            {
                "n": n,
                "sharpe": np.where(std > 0, mean / std, 0.0),
                "skew": np.where(m2 > 0, m3 / m2**1.5, 0.0),
                "kurtosis": np.where(m2 > 0, m4 / m2**2, 3.0),
            },
            index=sums.index,
        )
    return out


def _deflated(frame: pd.DataFrame, winner: int, notes: list[str]) -> DeflatedSharpe | None:
    moments = pooled_moments(frame)
    if len(moments) < 2:
        notes.append("one configuration: nothing to deflate its Sharpe ratio against")
        return None
    row = int(np.flatnonzero(moments.index.to_numpy() == winner)[0])
    column = {name: moments[name].to_numpy(dtype=np.float64) for name in moments.columns}
    return deflated_sharpe_ratio(
        float(column["sharpe"][row]),
        column["sharpe"],
        int(column["n"][row]),
        float(column["skew"][row]),
        float(column["kurtosis"][row]),
    )


def _overfitting(frame: pd.DataFrame, notes: list[str]) -> Overfitting | None:
    """CSCV over every (symbol, window, block) cell of the configurations run everywhere."""
    cells = frame.sort_values(["config_id", "symbol", "window"])
    per_config = cells.groupby("config_id")
    sizes = per_config.size()
    complete = sizes[sizes == sizes.max()].index
    if len(complete) < 2:
        notes.append("PBO needs at least two configurations run on every window")
        return None
    if len(complete) < len(sizes):
        notes.append(f"PBO leaves out {len(sizes) - len(complete)} configurations with failed runs")
    cells = cells[cells["config_id"].isin(complete)]  # each: the same runs, the same order
    counts, sums, squares = (
        np.asarray(cells[column].tolist(), dtype=np.float64)  # rows x blocks
        .reshape(len(complete), -1)  # configs x (runs * blocks), in time order per symbol
        .T
        for column in ("block_n", "block_sum", "block_sumsq")
    )
    units = counts.shape[0]
    blocks = min(CSCV_BLOCKS, units - units % 2)
    if blocks < 2:
        notes.append("too few blocks for PBO")
        return None
    edges = np.linspace(0, units, blocks + 1).astype(int)[:-1]
    grouped = [np.add.reduceat(m, edges, axis=0) for m in (counts, sums, squares)]
    return pbo_from_moments(*grouped)
