"""Write the image's lock files: runtime, build backend and development-stage tools.

Why this way: ``pip-compile``/``uv`` are not installed here, so the lock comes from pip's own
resolver (``pip install --dry-run --ignore-installed --report``) run on the project's runtime
extras, constrained to the versions installed in the development venv. The image therefore runs
exactly the versions the test suite ran, and only the runtime closure (no test or lint tools).

Usage: ``python scripts/ci/lock_requirements.py [--extras service,live] [--out requirements.lock]``
(``make lock``).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "neo-trading"
DEV_TOOLS = ("pytest", "hypothesis")
"""What the image's development stage adds to the runtime (tests run from a mounted /src)."""


def _installed_constraints(python: str) -> str:
    """The dev venv's versions as pip constraints (the project itself left out)."""
    frozen = subprocess.run(
        [python, "-m", "pip", "freeze", "--exclude-editable", "--exclude", PROJECT],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return "".join(line + "\n" for line in frozen.splitlines() if "==" in line)


def _canonical(name: str) -> str:
    """PEP 503 normal form, so the lock sorts and diffs stably."""
    return re.sub(r"[-_.]+", "-", name).lower()


def resolve(python: str, requirements: list[str]) -> list[tuple[str, str]]:
    """Names and versions pip would install for ``requirements`` under the venv's constraints."""
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text(_installed_constraints(python), encoding="utf-8")
        report = Path(tmp) / "report.json"
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
             "--report", str(report), "-c", str(constraints), *requirements],
            check=True,
        )  # fmt: skip
        installs = json.loads(report.read_text(encoding="utf-8"))["install"]
    pins = {(_canonical(i["metadata"]["name"]), i["metadata"]["version"]) for i in installs}
    return sorted(pin for pin in pins if pin[0] != PROJECT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", default="service,live")
    parser.add_argument("--out", type=Path, default=ROOT / "requirements.lock")
    parser.add_argument("--build-out", type=Path, default=ROOT / "requirements-build.lock")
    parser.add_argument("--dev-out", type=Path, default=ROOT / "requirements-dev.lock")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    runtime = resolve(args.python, [f"{ROOT}[{args.extras}]"])
    _write(args.out, runtime, f"runtime: {PROJECT}[{args.extras}]")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    backend = resolve(args.python, list(pyproject["build-system"]["requires"]))
    _write(args.build_out, backend, "build backend: [build-system] requires")
    tools = resolve(args.python, list(DEV_TOOLS))
    _write(args.dev_out, tools, f"development stage: {', '.join(DEV_TOOLS)}")
    return 0


def _write(out: Path, pins: list[tuple[str, str]], what: str) -> None:
    header = (
        f"# Lock for the container image, {what}; resolved by pip and\n"
        "# pinned to the versions of the tested dev venv. Regenerate: make lock\n"
    )
    out.write_text(header + "".join(f"{n}=={v}\n" for n, v in pins), encoding="utf-8")
    print(f"wrote {len(pins)} pins to {out}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
