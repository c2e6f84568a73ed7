"""Write the seeded one-minute random walks every engine reads (100 k and 1 M bars).

Columns: timestamp (int64 ms, bar open time, UTC), open, high, low, close, volume. The walk comes
from NEO's own generator (`neo simulate`, regime-switching) when NEO's venv has it, else from a
plain numpy geometric random walk; either way NEO and every peer read this one file.

- Prices sit on a 1e-6 grid (PRICE_DECIMALS), so engines with a fixed price precision
  (NautilusTrader) see the same numbers as float engines, while exact MA ties (fast == slow,
  which each engine breaks by its own float noise) stay vanishingly rare: with cents a 100 k-bar
  walk already has one, and backtesting.py and a cumsum SMA then disagree by a trade.
- Each bar opens at the previous close, so "fill at the next open" and "fill at this close" are
  the same price (NautilusTrader fills bar-driven market orders at the close).

Runs with any python that has numpy and pyarrow (NEO's venv or the peers' venv).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

RESULTS = Path(__file__).resolve().parents[1] / "results"
NEO_CLI = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "neo"
COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MINUTE_MS = 60_000
START_PRICE = 30_000.0
SIGMA = 0.0008  # per-minute log-return volatility, BTC-like
PRICE_DECIMALS = 6


def random_walk(bars: int, seed: int) -> pa.Table:
    """Geometric random walk with continuous opens and OHLC on a 1e-6 grid."""
    rng = np.random.default_rng(seed)
    log_returns = rng.normal(0.0, SIGMA, bars)
    grid = 10.0**PRICE_DECIMALS
    close = np.round(START_PRICE * np.exp(np.cumsum(log_returns)), PRICE_DECIMALS)
    open_ = np.empty_like(close)
    open_[0] = START_PRICE
    open_[1:] = close[:-1]
    wick_up = np.abs(rng.normal(0.0, SIGMA / 2, bars))
    wick_down = np.abs(rng.normal(0.0, SIGMA / 2, bars))
    high = np.ceil(np.maximum(open_, close) * (1.0 + wick_up) * grid) / grid
    low = np.floor(np.minimum(open_, close) * (1.0 - wick_down) * grid) / grid
    volume = np.round(rng.uniform(5e5, 1.5e6, bars), 3)
    timestamp = START_MS + MINUTE_MS * np.arange(bars, dtype=np.int64)
    return pa.table(
        {
            "timestamp": timestamp,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
        }
    )


def neo_walk(bars: int, seed: int) -> pa.Table:
    """NEO's simulator (one symbol), snapped to the same 1e-6 price grid.

    Rounding is monotonic, so OHLC order and "open == previous close" survive it.
    """
    with tempfile.TemporaryDirectory(prefix="neo-peers-") as tmp:
        out = Path(tmp) / "walk.parquet"
        command = [str(NEO_CLI), "simulate", "--symbols", "BTC/USDT", "--timeframe", "1m"]
        command += ["--bars", str(bars), "--seed", str(seed), "--out", str(out), "--json"]
        subprocess.run(command, check=True, capture_output=True, text=True)
        table = pq.read_table(out, columns=list(COLUMNS))
    columns = {name: table.column(name).to_numpy() for name in COLUMNS}
    for name in ("open", "high", "low", "close"):
        columns[name] = np.round(columns[name], PRICE_DECIMALS)
    return pa.table(columns)


def neo_available() -> bool:
    if not NEO_CLI.is_file():
        return False
    shown = subprocess.run(
        [str(NEO_CLI), "simulate", "--help"], capture_output=True, text=True, check=False
    )
    return shown.returncode == 0


def data_path(bars: int, seed: int, source: str, out_dir: Path = RESULTS) -> Path:
    return out_dir / f"walk_1m_{source}_{bars}_seed{seed}_p{PRICE_DECIMALS}.parquet"


def ensure(bars: int, seed: int = 7, source: str = "numpy", out_dir: Path = RESULTS) -> Path:
    """Return the file for (bars, seed, source), writing it first if it is missing."""
    path = data_path(bars, seed, source, out_dir)
    if not path.is_file():
        out_dir.mkdir(parents=True, exist_ok=True)
        table = neo_walk(bars, seed) if source == "neo" else random_walk(bars, seed)
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp)
        tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--source",
        choices=("auto", "neo", "numpy"),
        default="auto",
        help="auto: NEO's `neo simulate` when it is installed, else numpy",
    )
    args = parser.parse_args(argv)
    source = args.source
    if source == "auto":
        source = "neo" if neo_available() else "numpy"
    elif source == "neo" and not neo_available():
        parser.error(f"--source neo needs {NEO_CLI} with a `simulate` command; use --source numpy")
    for bars in args.bars:
        if bars < 100:
            parser.error(f"--bars {bars} is too small: use at least 100")
        sys.stdout.write(f"{ensure(bars, args.seed, source, args.out_dir)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
