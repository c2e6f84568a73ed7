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

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "neo-trading"
IMAGE_PYTHONS = ("3.11.2",)
"""Python versions the image may run besides this one: Debian bookworm's python3.11."""
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


def _resolve(python: str, requirements: list[str]) -> dict[str, tuple[str, list[str]]]:
    """Name -> (version, requires_dist) of everything pip would install (project excluded)."""
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
    found = {
        _canonical(i["metadata"]["name"]): (
            i["metadata"]["version"],
            list(i["metadata"].get("requires_dist") or []),
        )
        for i in installs
    }
    found.pop(PROJECT, None)
    return found


def resolve_for_targets(
    python: str, requirements: list[str], targets: tuple[str, ...]
) -> list[tuple[str, str, str]]:
    """Pins for ``requirements`` on this interpreter, plus what another Python of the image needs.

    pip evaluates markers against the running interpreter only, and the image's Python may be
    older (Debian bookworm ships 3.11.2; e.g. redis needs async-timeout below 3.11.3). Every
    requirement of a pinned distribution whose marker holds for a ``targets`` python_full_version
    but is not pinned is resolved too and written with its marker.
    Returns (name, version, marker) sorted by name.
    """
    found = _resolve(python, requirements)
    extra: dict[str, str] = {}
    for _, requires in found.values():
        for text in requires:
            req = Requirement(text)
            name = _canonical(req.name)
            if name in found or req.marker is None or "extra" in str(req.marker):
                continue
            if any(req.marker.evaluate(_environment(v)) for v in targets):
                extra[f"{req.name}{req.specifier}"] = str(req.marker)
    pins = [(name, version, "") for name, (version, _) in found.items()]
    if extra:
        more = _resolve(python, [*requirements, *extra])
        marker = " or ".join(sorted({f"({m})" for m in extra.values()}))
        pins += [(n, v, marker) for n, (v, _) in more.items() if n not in found]
    return sorted(pins)


def _environment(python_full_version: str) -> dict[str, str]:
    major_minor = ".".join(python_full_version.split(".")[:2])
    return {"python_full_version": python_full_version, "python_version": major_minor}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", default="service,live")
    parser.add_argument("--out", type=Path, default=ROOT / "requirements.lock")
    parser.add_argument("--build-out", type=Path, default=ROOT / "requirements-build.lock")
    parser.add_argument("--dev-out", type=Path, default=ROOT / "requirements-dev.lock")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    runtime = resolve_for_targets(args.python, [f"{ROOT}[{args.extras}]"], IMAGE_PYTHONS)
    _write(args.out, runtime, f"runtime: {PROJECT}[{args.extras}]")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    backend = resolve_for_targets(
        args.python, list(pyproject["build-system"]["requires"]), IMAGE_PYTHONS
    )
    _write(args.build_out, backend, "build backend: [build-system] requires")
    tools = resolve_for_targets(args.python, list(DEV_TOOLS), IMAGE_PYTHONS)
    _write(args.dev_out, tools, f"development stage: {', '.join(DEV_TOOLS)}")
    return 0


def _write(out: Path, pins: list[tuple[str, str, str]], what: str) -> None:
    header = (
        f"# Lock for the container image, {what}; resolved by pip and\n"
        "# pinned to the versions of the tested dev venv. Regenerate: make lock\n"
    )
    lines = [f"{n}=={v}" + (f" ; {m}" if m else "") + "\n" for n, v, m in pins]
    out.write_text(header + "".join(lines), encoding="utf-8")
    print(f"wrote {len(pins)} pins to {out}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
