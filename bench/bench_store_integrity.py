"""What the store's integrity check costs; prints figures, asserts nothing.

    .venv/bin/python bench/bench_store_integrity.py [--rows 1000000]

Every read checks each stored file's sha256 against the series' manifest before DuckDB reads
it (see ``neo/data/store/manifest.py``). This stores ``--rows`` one-minute bars, then times a
full-range ``read``, ``read_many`` and a CSV ``export`` on a store without a cache, with the
check and with it switched off, and prints the difference. The files sit in the page cache, so
this is the check's CPU cost (hashing), the worst case relative to the read itself.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _best(fn: Callable[[], object], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows

    from neo.data.feeds import simulate_bars
    from neo.data.store import HistoricalDataStore, historical
    from neo.data.store.manifest import FileEntry

    batch = next(iter(simulate_bars(["BTC/USDT"], "1m", rows, seed=7).values()))
    with tempfile.TemporaryDirectory() as tmp:
        store = HistoricalDataStore(Path(tmp), cache_entries=0)
        started = time.perf_counter()
        store.write(batch)
        wrote = time.perf_counter() - started
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*.parquet"))
        iid, out = batch.instrument, Path(tmp) / "out.csv"
        paths: dict[str, Callable[[], object]] = {
            "read": lambda: store.read(iid, "1m"),
            "read_many": lambda: store.read_many([iid], "1m"),
            "export csv": lambda: store.export(iid, "1m", out),
        }
        checked = {name: _best(fn) for name, fn in paths.items()}
        real = historical.verified_path

        def unchecked(directory: Path, entry: FileEntry) -> Path:
            return directory / entry.name

        historical.verified_path = unchecked  # type: ignore[assignment]
        try:
            bare = {name: _best(fn) for name, fn in paths.items()}
        finally:
            historical.verified_path = real
        store.close()
    print(
        f"store integrity: {rows:,} 1m bars in {size / 1e6:.1f} MB of Parquet "
        f"(written in {wrote:.2f} s, digests included)"
    )
    for name in paths:
        extra = checked[name] - bare[name]
        print(
            f"  {name:<10} with sha256 check {checked[name] * 1e3:7.1f} ms, without "
            f"{bare[name] * 1e3:7.1f} ms: +{extra * 1e3:.1f} ms ({extra / bare[name]:+.0%})"
        )


if __name__ == "__main__":
    main()
