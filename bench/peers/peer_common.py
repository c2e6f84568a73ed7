"""What every peer runner shares: one CLI, one data loader and one JSON result line.

The runners execute in bench/peers/.venv (the peers' own environment) and must not import
NEO; this module therefore uses only the standard library, numpy, pyarrow and psutil, so
NEO's bench/neo_runner.py can follow the same contract without depending on it.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class RunSpec:
    """The strategy every engine runs: MA crossover, fixed size, long/short reversal."""

    data: Path
    strategy: str  # "sma" or "ema"
    fast: int
    slow: int
    size: float
    fees_bps: float
    cash: float

    @property
    def fee_rate(self) -> float:
        return self.fees_bps / 10_000.0


def build_parser(engine: str) -> argparse.ArgumentParser:
    """The runners' shared command line (a runner may add flags of its own before parsing)."""
    parser = argparse.ArgumentParser(
        description=f"{engine}: SMA/EMA crossover, fixed size, reversal; prints one JSON line."
    )
    parser.add_argument("--data", type=Path, required=True, help="Parquet file from make_data.py")
    parser.add_argument("--strategy", choices=("sma", "ema"), default="sma")
    parser.add_argument("--fast", type=int, default=10)
    parser.add_argument("--slow", type=int, default=20)
    parser.add_argument("--size", type=float, default=100.0, help="units per position")
    parser.add_argument("--fees-bps", type=float, default=10.0, help="commission, bps of notional")
    parser.add_argument("--cash", type=float, default=1e11, help="ample, so trading never stops")
    return parser


def spec_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> RunSpec:
    """The validated run of parsed ``args`` (a bad combination exits with the parser's usage)."""
    if not 0 < args.fast < args.slow:
        parser.error(f"need 0 < --fast < --slow, got {args.fast} and {args.slow}")
    if not args.data.is_file():
        parser.error(f"--data {args.data} does not exist: run bench/peers/make_data.py first")
    return RunSpec(
        data=args.data,
        strategy=args.strategy,
        fast=args.fast,
        slow=args.slow,
        size=args.size,
        fees_bps=args.fees_bps,
        cash=args.cash,
    )


def parse_args(engine: str, argv: list[str] | None = None) -> RunSpec:
    parser = build_parser(engine)
    return spec_of(parser, parser.parse_args(argv))


def load_bars(path: Path) -> dict[str, np.ndarray]:
    """Read the shared Parquet file into contiguous numpy columns (not timed by runners)."""
    table = pq.read_table(path, columns=list(COLUMNS))
    return {name: np.ascontiguousarray(table.column(name).to_numpy()) for name in COLUMNS}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def emit(
    engine: str,
    spec: RunSpec,
    bars: int,
    seconds: float,
    trades: int,
    final_equity: float,
    **extra: object,
) -> None:
    """Print the single JSON result line the orchestrator parses."""
    result: dict[str, object] = {
        "engine": engine,
        "strategy": spec.strategy,
        "bars": int(bars),
        "seconds": round(seconds, 6),
        "bars_per_s": round(bars / seconds, 1) if seconds > 0 else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "trades": int(trades),
        "final_equity": round(float(final_equity), 2),
    }
    result.update(extra)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
