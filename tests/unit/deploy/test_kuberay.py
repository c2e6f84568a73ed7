"""KubeRay manifests: valid against the shipped ray.io/v1 schema, and their sweep is a real one.

kubernetes-validate knows only built-in kinds, so RayCluster and RayJob are checked with
check-jsonschema against deploy/kuberay/schema/kuberay-v1.schema.json.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from neo.cli.main import app

ROOT = Path(__file__).resolve().parents[3]
KUBERAY = ROOT / "deploy" / "kuberay"
SCHEMA = KUBERAY / "schema" / "kuberay-v1.schema.json"
MANIFESTS = sorted(KUBERAY.glob("*.yaml"))


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_schema_is_a_valid_json_schema() -> None:
    result = _check("--check-metaschema", str(SCHEMA))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_manifests_validate() -> None:
    assert {p.name for p in MANIFESTS} == {"raycluster.yaml", "rayjob.yaml"}
    result = _check("--schemafile", str(SCHEMA), *map(str, MANIFESTS))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("groupName: cpu", "groupNme: cpu", "'groupNme' was unexpected"),
        ("apiVersion: ray.io/v1", "apiVersion: ray.io/v1alpha2", "ray.io/v1"),
        ("maxReplicas: 4", "maxReplicas: four", "not of type 'integer'"),
        ("memory: 4Gi", "memory: 4 GB", "memory"),
    ],
)
def test_a_broken_manifest_is_refused(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = (KUBERAY / "rayjob.yaml").read_text()
    assert old in text
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace(old, new, 1))
    result = _check("--schemafile", str(SCHEMA), str(broken))
    assert result.returncode == 1
    assert message in result.stdout


def test_the_rayjob_runs_a_sweep_neo_accepts() -> None:
    job = yaml.safe_load((KUBERAY / "rayjob.yaml").read_text())
    words = shlex.split(job["spec"]["entrypoint"])
    assert words[0] == "neo" and "sweep" in words
    sweep = next(c for c in app.registered_commands if c.name == "sweep")
    import typer.main

    command = typer.main.get_command_from_info(
        sweep, pretty_exceptions_short=True, rich_markup_mode=None
    )
    known = {opt for p in command.params for opt in getattr(p, "opts", [])}
    given = {w for w in words[words.index("sweep") + 1 :] if w.startswith("--")}
    assert given <= known, given - known
    assert words[words.index("--backend") + 1] == "ray"
