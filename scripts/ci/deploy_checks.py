"""Checks behind ``make deploy-test`` that need more than a shell one-liner.

- ``kube-ci``: from the rendered CI overlay, the documents ``podman kube play`` runs (the API
  Deployment with its ConfigMap, Secret and PVC), moved to a spare port on the host network;
  nothing else is changed, so the probes, securityContext and volumes tested are the manifest's.
- ``prom-config``: a Prometheus config scraping a running API and trading session (1 s interval)
  and loading the repo's alert rules.
- ``evaluate``: every Grafana panel query and every alert expression through Prometheus's HTTP API:
  each must evaluate without error, each panel must return data unless listed in
  ``--may-be-empty`` (series that only exist with an exchange, Redis bus or webhook), every
  rule group must be healthy, and the alerts the test provoked (``--expect-firing``) must fire.
- ``probes``: GET every probe of the played Deployment (startup, liveness, readiness).
- ``pg-schema``: a schema of its own on the test PostgreSQL for the kube pod (create / drop).
- ``wait-http``: wait until a URL answers 200.

Why a script: the kube documents and the Prometheus API answers are structured data; parsing them
in bash would be guesswork. Uses only the standard library and PyYAML (a dev dependency).
"""

from __future__ import annotations

import argparse
import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]

KEEP = {("ConfigMap", "neo-config"), ("Secret", "neo-secrets"),
        ("PersistentVolumeClaim", "neo-data"), ("Deployment", "neo-api")}  # fmt: skip


NEO_PORT = 8700
"""The port the manifests' named port ``http`` stands for."""


def _get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback URL only
        return json.load(response)


def kube_ci(
    rendered: Path, out: Path, secret_out: Path, port: int, database_url: str, redis_url: str
) -> None:
    """Write the API's documents for ``podman kube play``, serving on ``port`` of the host.

    Moved to the host network: ``ports`` dropped (podman maps no ports there) and the probes'
    named port replaced by ``port``. The Secret's placeholder URLs become the test servers'
    (``database_url``, ``redis_url``) or, when empty, are dropped so NEO uses its embedded
    defaults (SQLite, in-process bus). The API binds 127.0.0.1 (host network): a test never
    listens on another address. podman 4.3 cannot feed a played Secret document to
    ``envFrom`` (it stores the document, then expects a JSON map of base64 values), so the
    Secret goes to ``secret_out`` in that form for ``podman secret create neo-secrets``.
    """
    docs = [d for d in yaml.safe_load_all(rendered.read_text(encoding="utf-8")) if d]
    kept = [d for d in docs if (d["kind"], d["metadata"]["name"]) in KEEP]
    if len(kept) != len(KEEP):
        found = sorted((d["kind"], d["metadata"]["name"]) for d in kept)
        raise SystemExit(f"error: the CI overlay lacks some of {sorted(KEEP)}; found {found}")
    for doc in kept:
        if doc["kind"] == "ConfigMap":
            doc["data"]["NEO_SERVICE__PORT"] = str(port)
            doc["data"]["NEO_SERVICE__HOST"] = "127.0.0.1"
        if doc["kind"] == "Secret":
            urls = {"NEO_DATABASE__URL": database_url, "NEO_REDIS__URL": redis_url}
            for key, url in urls.items():
                doc["stringData"].pop(key, None)
                if url:
                    doc["stringData"][key] = url
        if doc["kind"] == "Deployment":
            spec = doc["spec"]
            spec["replicas"] = 1
            pod = spec["template"]["spec"]
            pod["hostNetwork"] = True  # tests use the host's loopback, never a bridge
            container = pod["containers"][0]
            container["args"] = ["serve", "--host", "127.0.0.1", "--port", str(port)]
            # podman refuses port mappings on the host network: drop `ports` and give the probes
            # the number their port name stands for
            named = {p["name"]: p["containerPort"] for p in container.pop("ports")}
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                action = container.get(probe, {}).get("httpGet")
                if action is not None:
                    assert named.get(action["port"]) == NEO_PORT, action
                    action["port"] = port
    (secret,) = (doc for doc in kept if doc["kind"] == "Secret")
    values = {k: base64.b64encode(v.encode()).decode() for k, v in secret["stringData"].items()}
    secret_out.write_text(json.dumps(values), encoding="utf-8")
    rest = [doc for doc in kept if doc["kind"] != "Secret"]
    out.write_text(yaml.safe_dump_all(rest, sort_keys=False), encoding="utf-8")


def probes(kube: Path, host: str) -> None:
    """GET every probe of the played Deployment, as the kubelet would; each must answer 200.

    (podman turns a liveness probe into a ``curl`` inside the container, which a slim image
    does not have, so the probes are checked from outside, like Kubernetes does.)
    """
    (deployment,) = (
        d for d in yaml.safe_load_all(kube.read_text(encoding="utf-8")) if d["kind"] == "Deployment"
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    for name in ("startupProbe", "livenessProbe", "readinessProbe"):
        action = container[name]["httpGet"]
        url = f"http://{host}:{action['port']}{action['path']}"
        wait_http(url, 60)
        print(f"ok   {name} {action['path']} answers 200")


def prom_config(api: str, trader: str, rules: Path, out: Path) -> None:
    """A Prometheus config for the test: 1 s scrapes of ``api`` and ``trader`` (host:port)."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules.resolve() / "*.yml")],
        "scrape_configs": [
            {"job_name": "neo-api", "static_configs": [{"targets": [api]}]},
            {"job_name": "neo-trader", "static_configs": [{"targets": [trader]}]},
        ],
    }
    out.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def _panel_queries(dashboards: Path) -> list[tuple[str, str]]:
    queries = []
    for path in sorted(dashboards.glob("*.json")):
        model = json.loads(path.read_text(encoding="utf-8"))
        for panel in model["panels"]:
            for target in panel["targets"]:
                queries.append((f"{model['title']} / {panel['title']}", target["expr"]))
    return queries


def _rule_exprs(rules: Path) -> list[tuple[str, str]]:
    exprs: list[tuple[str, str]] = []
    for path in sorted(rules.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            exprs.extend((f"alert {r['alert']}", r["expr"]) for r in group["rules"])
    return exprs


def _query(prometheus: str, expr: str) -> tuple[str | None, int]:
    """(error or None, number of series) of an instant query."""
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    try:
        answer = _get_json(url)
    except urllib.error.HTTPError as exc:
        return json.load(exc).get("error", str(exc)), 0
    if answer.get("status") != "success":
        return str(answer.get("error")), 0
    return None, len(answer["data"]["result"])


def _firing(prometheus: str) -> set[str]:
    alerts = _get_json(f"{prometheus}/api/v1/alerts")["data"]["alerts"]
    return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}


def evaluate(
    prometheus: str, dashboards: Path, rules: Path, may_be_empty: set[str], firing: set[str]
) -> int:
    """Print one line per query; return the number of failures."""
    failures = 0
    checks = [(name, expr, True) for name, expr in _panel_queries(dashboards)]
    checks += [(name, expr, False) for name, expr in _rule_exprs(rules)]
    with_data = 0
    for name, expr, needs_data in checks:
        error, series = _query(prometheus, expr)
        exempt = any(metric in expr for metric in may_be_empty)
        if error is not None:
            verdict, failures = f"FAIL error: {error}", failures + 1
        elif needs_data and series == 0 and not exempt:
            verdict, failures = "FAIL no data", failures + 1
        else:
            verdict = (
                f"ok ({series} series{', may be empty here' if exempt and not series else ''})"
            )
        with_data += bool(needs_data and series)
        print(f"{verdict:<40} {name}: {expr}")
    panels = sum(1 for _, _, needs in checks if needs)
    print(f"{panels} panel queries ({with_data} with data), {len(checks) - panels} alert rules")
    for group in _get_json(f"{prometheus}/api/v1/rules")["data"]["groups"]:
        for rule in group["rules"]:
            if rule.get("health") != "ok":
                failures += 1
                print(
                    f"FAIL rule {rule['name']}: health {rule.get('health')} {rule.get('lastError')}"
                )
    fired = _firing(prometheus)
    for alert in sorted(firing):
        ok = alert in fired
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} alert {alert} firing (firing now: {sorted(fired)})")
    return failures


def pg_schema(action: str, url: str, schema: str) -> None:
    """Create (printing the URL that selects it) or drop a schema on the test PostgreSQL.

    The kube pod then runs NEO's migrations against a real PostgreSQL, in a schema of its own,
    like the test suite's ``database_url`` fixture (tests/databases.py).
    """
    import psycopg  # type: ignore[import-not-found,unused-ignore]

    libpq = url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        with psycopg.connect(libpq, autocommit=True, connect_timeout=5) as connection:
            if action == "create":
                connection.execute(f'CREATE SCHEMA "{schema}"')
            else:
                connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0]
        raise SystemExit(f"error: PostgreSQL of NEO_TEST_POSTGRES_URL: {first}") from None
    if action == "create":
        separator = "&" if "?" in url else "?"
        print(f"{url}{separator}options={urllib.parse.quote(f'-csearch_path={schema}')}")


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # loopback URL only
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError) as exc:
            last = str(exc)
        time.sleep(0.5)
    raise SystemExit(f"error: {url} did not answer 200 within {timeout:.0f} s ({last})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    k = sub.add_parser("kube-ci")
    k.add_argument("rendered", type=Path)
    k.add_argument("out", type=Path)
    k.add_argument("secret_out", type=Path)
    k.add_argument("--port", type=int, required=True)
    k.add_argument("--database-url", default="")
    k.add_argument("--redis-url", default="")
    p = sub.add_parser("prom-config")
    p.add_argument("--api", required=True)
    p.add_argument("--trader", required=True)
    p.add_argument("--rules", type=Path, required=True)
    p.add_argument("out", type=Path)
    e = sub.add_parser("evaluate")
    e.add_argument("--prometheus", required=True)
    e.add_argument("--dashboards", type=Path, required=True)
    e.add_argument("--rules", type=Path, required=True)
    e.add_argument("--may-be-empty", default="")
    e.add_argument("--expect-firing", default="", help="alerts the test provoked")
    q = sub.add_parser("probes")
    q.add_argument("kube", type=Path)
    g = sub.add_parser("pg-schema")
    g.add_argument("action", choices=["create", "drop"])
    g.add_argument("url")
    g.add_argument("schema")
    w = sub.add_parser("wait-http")
    w.add_argument("url")
    w.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    if args.command == "kube-ci":
        kube_ci(
            args.rendered, args.out, args.secret_out, args.port, args.database_url, args.redis_url
        )
    elif args.command == "probes":
        probes(args.kube, "127.0.0.1")
    elif args.command == "prom-config":
        prom_config(args.api, args.trader, args.rules, args.out)
    elif args.command == "evaluate":
        empty = {m for m in args.may_be_empty.split(",") if m}
        firing = {a for a in args.expect_firing.split(",") if a}
        failed = evaluate(args.prometheus, args.dashboards, args.rules, empty, firing)
        return 1 if failed else 0
    elif args.command == "pg-schema":
        pg_schema(args.action, args.url, args.schema)
    else:
        wait_http(args.url, args.timeout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
