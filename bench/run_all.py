"""Run every benchmark: each bench/bench_*.py with NEO's venv python, then the peer harness.

Each script prints its own figures; this only runs them in turn, echoes their output and exits
non-zero if any failed. Extra arguments after ``--peers`` go to bench/peers/run.py, e.g.

    .venv/bin/python bench/run_all.py                      # everything, 100 k and 1 M bars
    .venv/bin/python bench/run_all.py --peers --quick      # peers at 100 k bars, SMA only
    .venv/bin/python bench/run_all.py --skip-peers
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
NEO_PYTHON = ROOT / ".venv" / "bin" / "python"


def neo_python() -> str:
    return str(NEO_PYTHON) if NEO_PYTHON.is_file() else sys.executable


def run(title: str, command: list[str]) -> bool:
    print(f"\n=== {title} ===", flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, check=False)
    elapsed = time.perf_counter() - started
    status = "ok" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
    print(f"--- {title}: {status} in {elapsed:.1f} s", flush=True)
    return done.returncode == 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    peers_args: list[str] = []
    if "--peers" in argv:
        cut = argv.index("--peers")
        argv, peers_args = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-peers", action="store_true", help="only bench/bench_*.py")
    args = parser.parse_args(argv)
    python = neo_python()
    failed = []
    for script in sorted(BENCH.glob("bench_*.py")):
        if not run(script.name, [python, str(script)]):
            failed.append(script.name)
    if not args.skip_peers:
        peers = [python, str(BENCH / "peers" / "run.py"), *peers_args]
        if not run("peers (bench/peers/run.py)", peers):
            failed.append("peers")
    if failed:
        print(f"\nfailed: {', '.join(failed)}", flush=True)
        return 1
    print("\nall benchmarks ran", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
