#!/usr/bin/env bash
# `make deploy-test`: the deployment proven to run, on this machine, without internet or cluster.
#
#  1. static: hadolint (Dockerfile), compose-spec schema + `docker-compose config`, kustomize of
#     every overlay + kubernetes-validate --strict, promtool check config/rules, dashboards
#     regenerated identically and valid against deploy/grafana/dashboard.schema.json
#  2. image: a Debian bookworm base from debootstrap (cached), then the Dockerfile's production
#     target FROM it (buildah, layer cache, wheels from a host wheelhouse of the lock files)
#  3. run: as uid 1000 with a read-only root and host networking: `neo version`, a short
#     backtest (same result as the host's venv), `neo serve` answering /healthz + HEALTHCHECK
#  4. kube: the CI overlay's API Deployment played with `podman kube play`, probes answering
#  5. prometheus: a real Prometheus scrapes the containerised `neo serve` and a paper session;
#     every panel query and alert expression evaluates (scripts/ci/deploy_checks.py)
#
# Needs root (podman/buildah) and Debian packages (scripts/ci/containers.sh installs them).
# Tests use only 127.0.0.1 and the host network; no bridge, no registry pull.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
BIN="$ROOT/.venv/bin"
PY="$BIN/python"
CACHE="${NEO_CI_CACHE:-/var/cache/neo-ci}"
BASE="${NEO_CI_BASE_IMAGE:-localhost/neo-base:bookworm}"
IMAGE="localhost/neo:ci"
RUN_ID="neo-ci-$$"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/neo-deploy-test.XXXXXX")"
PIDS=()
PG_SCHEMA=""
T0=$(date +%s)
# The test servers of scripts/ci/postgres.sh and redis.sh, when started (.ci/run starts them)
for env in /tmp/neo-ci/postgres.env /tmp/neo-ci/redis.env; do
    # shellcheck disable=SC1090
    if [ -f "$env" ]; then set -a; . "$env"; set +a; fi
done

log() { printf '== [%4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
fail() { echo "deploy-test: FAIL: $*" >&2; exit 1; }

cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    [ -f "$WORK/kube.yaml" ] && podman kube down "$WORK/kube.yaml" >/dev/null 2>&1 || true
    [ -f "$WORK/kube-secret.json" ] && podman secret rm neo-secrets >/dev/null 2>&1 || true
    podman ps -a --filter "name=^$RUN_ID" --format '{{.Names}}' | xargs -r podman rm -f -t 5 >/dev/null 2>&1 || true
    podman volume rm -f "$RUN_ID-data" neo-data >/dev/null 2>&1 || true
    [ -z "$PG_SCHEMA" ] || "$PY" scripts/ci/deploy_checks.py pg-schema drop "$NEO_TEST_POSTGRES_URL" "$PG_SCHEMA" || true
    if [ "$status" -ne 0 ]; then
        for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -30 "$f" >&2; }; done
    fi
    rm -rf "$WORK"
    log "deploy-test $([ "$status" -eq 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - T0 )) s"
}
trap cleanup EXIT

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------------------------------------
static_checks() {
    log "hadolint Dockerfile"
    "$BIN/hadolint" Dockerfile

    log "compose: compose-spec schema and docker-compose config"
    "$BIN/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml
    mkdir -p "$WORK/compose"
    cp docker-compose.yml "$WORK/compose/" && ln -s "$ROOT/deploy" "$WORK/compose/deploy"
    cp .env.example "$WORK/compose/.env"
    (cd "$WORK/compose" && docker-compose --profile logging config -q)

    log "kubernetes: kustomize every overlay, kubernetes-validate --strict"
    cp -r deploy/k8s "$WORK/k8s"
    cp "$WORK/k8s/overlays/production/secrets.env.example" "$WORK/k8s/overlays/production/secrets.env"
    for overlay in base overlays/production overlays/ci; do
        "$BIN/kubectl" kustomize "$WORK/k8s/$overlay" >"$WORK/k8s-${overlay//\//-}.yaml"
        "$BIN/kubernetes-validate" --strict --quiet "$WORK/k8s-${overlay//\//-}.yaml"
    done
    "$PY" - "$WORK/k8s-overlays-production.yaml" <<'EOF'
import sys, yaml
docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(open(sys.argv[1])) if d}
hpa = docs[("HorizontalPodAutoscaler", "neo-api")]["spec"]
assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 10), hpa
targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]}
assert targets == {"cpu": 70, "memory": 80}, targets
assert hpa["scaleTargetRef"]["name"] == "neo-api"
trader = docs[("StatefulSet", "neo-trader")]["spec"]
assert trader["replicas"] == 1, "the trader is a singleton"
for kind, name in (("Deployment", "neo-api"), ("StatefulSet", "neo-trader")):
    pod = docs[(kind, name)]["spec"]["template"]["spec"]
    c = pod["containers"][0]["securityContext"]
    assert pod["securityContext"]["runAsUser"] == 1000 and c["readOnlyRootFilesystem"], name
assert docs[("Deployment", "neo-api")]["spec"]["strategy"]["type"] == "RollingUpdate"
EOF

    log "prometheus: promtool check config / rules"
    promtool check config deploy/prometheus/prometheus.yml >/dev/null
    promtool check rules deploy/prometheus/rules/*.yml >/dev/null

    log "grafana: dashboards up to date and valid against the dashboard schema"
    "$PY" deploy/grafana/generate.py --check
    "$BIN/check-jsonschema" --schemafile deploy/grafana/dashboard.schema.json \
        deploy/grafana/dashboards/*.json
}

# ---------------------------------------------------------------------------------------------
build_image() {
    log "base image $BASE (debootstrap, cached in $CACHE)"
    bash scripts/ci/containers.sh base

    # The build reads wheels from a host wheelhouse filled by the host's pip (its index and
    # cache) from the lock files; refreshed only when a lock file changes.
    local wheels="$CACHE/wheels" stamp
    stamp="$(cat requirements.lock requirements-build.lock requirements-dev.lock | sha256sum | cut -c1-16)"
    if [ ! -f "$wheels/.stamp-$stamp" ]; then
        log "wheelhouse $wheels from the lock files"
        mkdir -p "$wheels"
        # markers dropped: a pin for another Python (e.g. `; python_full_version < "3.11.3"` for
        # Debian's 3.11.2) is needed in the image even when this interpreter would skip it
        sed -e 's/ *;.*$//' requirements.lock requirements-build.lock requirements-dev.lock \
            | grep -v '^#' >"$WORK/wheelhouse.txt"
        "$BIN/pip" download -q --no-deps --only-binary=:all: -d "$wheels" -r "$WORK/wheelhouse.txt" \
            2>"$WORK/pip-download.log" || fail "pip download of the lock files"
        rm -f "$wheels"/.stamp-* && touch "$wheels/.stamp-$stamp"
    fi

    log "buildah bud --target production FROM $BASE"
    buildah bud --quiet --layers --format docker --network host \
        --volume "$wheels:/wheels:ro" \
        --build-arg "BASE_IMAGE=$BASE" --build-arg PIP_NO_INDEX=1 \
        --build-arg PIP_FIND_LINKS=/wheels \
        --target production --tag "$IMAGE" . >"$WORK/build.log" 2>&1 \
        || fail "image build (see build.log above)"
    [ "$(podman image inspect "$IMAGE" --format '{{.Config.User}}')" = "1000:1000" ] \
        || fail "the image does not run as 1000:1000"
    podman image inspect "$IMAGE" --format '{{json .Config.Healthcheck}}' | grep -q healthz \
        || fail "the image has no HEALTHCHECK on /healthz"
}

# podman run as the image's user (1000), read-only root, tmpfs /tmp, a data volume, host network
run_neo() {
    podman run --rm --no-healthcheck --network host --read-only --tmpfs /tmp:rw,size=256m \
        --user 1000:1000 -v "$RUN_ID-data:/var/lib/neo" "$@"
}

run_checks() {
    podman volume create "$RUN_ID-data" >/dev/null
    log "run: neo version as uid 1000, read-only root"
    run_neo "$IMAGE" version --json >"$WORK/version.json"
    "$PY" -c 'import json,sys; v=json.load(open(sys.argv[1])); assert v["name"] == "neo" and v["python"].startswith("3.11"), v' "$WORK/version.json"
    [ "$(run_neo --entrypoint id "$IMAGE" -u)" = 1000 ] || fail "container user is not 1000"
    if run_neo --entrypoint /bin/sh "$IMAGE" -c 'touch /opt/neo/x' 2>/dev/null; then
        fail "the root filesystem is writable"
    fi

    log "run: a short backtest inside the container, compared with the host venv"
    run_neo "$IMAGE" simulate --out /var/lib/neo/bars.parquet --bars 3000 --seed 11 --json >/dev/null
    run_neo "$IMAGE" ingest /var/lib/neo/bars.parquet --symbol BTC/USDT --timeframe 1m --json \
        >/dev/null 2>"$WORK/ingest.log"
    run_neo "$IMAGE" backtest --strategy sma_cross --symbol BTC/USDT --venue sim --json \
        >"$WORK/backtest-container.json" 2>"$WORK/backtest.log"
    (
        cd "$WORK" && export PYTHONPATH="$ROOT/src"
        "$BIN/neo" --data-dir host simulate --out bars.parquet --bars 3000 --seed 11 --json >/dev/null
        "$BIN/neo" --data-dir host ingest bars.parquet --symbol BTC/USDT --timeframe 1m --json >/dev/null 2>&1
        "$BIN/neo" --data-dir host backtest --strategy sma_cross --symbol BTC/USDT --venue sim --json \
            >backtest-host.json 2>/dev/null
    )
    "$PY" - "$WORK/backtest-container.json" "$WORK/backtest-host.json" <<'EOF'
import json, sys
inside, host = (json.load(open(p)) for p in sys.argv[1:3])
assert inside["bars"] == 3000 and inside["orders"] > 0, inside
for key in ("bars", "orders", "fills", "final_equity"):
    assert inside[key] == host[key], (key, inside[key], host[key])
print(f"backtest in the container = host: {inside['orders']} orders, equity {inside['final_equity']:.2f}")
EOF
}

has_serve() { run_neo "$IMAGE" serve --help >/dev/null 2>&1; }

serve_checks() {
    API_PORT="$(free_port)"
    log "run: neo serve in the container on 127.0.0.1:$API_PORT"
    podman run -d --name "$RUN_ID-api" --network host --read-only --tmpfs /tmp:rw,size=256m \
        --user 1000:1000 -v "$RUN_ID-data:/var/lib/neo" -e "NEO_SERVICE__PORT=$API_PORT" \
        "$IMAGE" serve --host 127.0.0.1 --port "$API_PORT" >/dev/null 2>"$WORK/podman-api.log"
    "$PY" scripts/ci/deploy_checks.py wait-http "http://127.0.0.1:$API_PORT/healthz" --timeout 120 \
        || { podman logs "$RUN_ID-api" >"$WORK/api.log" 2>&1; fail "/healthz"; }
    # podman runs HEALTHCHECKs from systemd timers (none here): run the image's check directly
    podman healthcheck run "$RUN_ID-api" || fail "the image's HEALTHCHECK"
    "$PY" -c 'import sys, urllib.request as u; body = u.urlopen(sys.argv[1], timeout=5).read(); assert b"\nneo_" in body, "no neo_ series"' \
        "http://127.0.0.1:$API_PORT/metrics" || fail "/metrics of neo serve"
}

kube_checks() {
    local port; port="$(free_port)"
    log "kube: podman kube play of the CI overlay's API Deployment (port $port)"
    # With scripts/ci/postgres.sh's server running, the pod migrates and uses a schema of its own
    # there (dropped afterwards); else NEO's embedded SQLite. Redis likewise when running.
    local database_url=""
    if [ -n "${NEO_TEST_POSTGRES_URL:-}" ]; then
        if database_url="$("$PY" scripts/ci/deploy_checks.py pg-schema create \
                "$NEO_TEST_POSTGRES_URL" "${RUN_ID//-/_}")"; then
            PG_SCHEMA="${RUN_ID//-/_}"
            log "kube: the pod uses PostgreSQL (schema $PG_SCHEMA)"
        else
            log "kube: the env file names a PostgreSQL that does not answer: the pod uses SQLite"
        fi
    fi
    local redis_url="${NEO_TEST_REDIS_URL:-}"
    if [ -n "$redis_url" ] && ! "$PY" -c 'import sys, urllib.parse as p, socket; u = p.urlsplit(sys.argv[1]); socket.create_connection((u.hostname, u.port), timeout=3).close()' "$redis_url" 2>/dev/null; then
        log "kube: the env file names a Redis that does not answer: the pod runs without Redis"
        redis_url=""
    fi
    "$PY" scripts/ci/deploy_checks.py kube-ci "$WORK/k8s-overlays-ci.yaml" "$WORK/kube.yaml" \
        "$WORK/kube-secret.json" --port "$port" --database-url "$database_url" \
        --redis-url "$redis_url"
    podman secret rm neo-secrets >/dev/null 2>&1 || true
    podman secret create neo-secrets "$WORK/kube-secret.json" >/dev/null
    podman kube play --network host "$WORK/kube.yaml" >"$WORK/kube-play.log" 2>&1 \
        || fail "podman kube play"
    local ctr=neo-api-pod-0-api
    "$PY" scripts/ci/deploy_checks.py probes "$WORK/kube.yaml" \
        || { podman logs "$ctr" >"$WORK/kube-api.log" 2>&1; fail "the API pod's probes"; }
    [ "$(podman inspect "$ctr" --format '{{.Config.User}}')" = 1000:1000 ] || fail "kube pod user"
    [ "$(podman inspect "$ctr" --format '{{.HostConfig.ReadonlyRootfs}}')" = true ] \
        || fail "kube pod root filesystem is not read-only"
    podman kube down "$WORK/kube.yaml" >/dev/null 2>&1 && rm -f "$WORK/kube.yaml"
    podman secret rm neo-secrets >/dev/null 2>&1 || true
}

prometheus_checks() {
    local trader_port prom_port
    trader_port="$(free_port)"
    prom_port="$(free_port)"
    log "prometheus: paper session with --metrics-port $trader_port in the container"
    podman run -d --name "$RUN_ID-trader" --network host --read-only --tmpfs /tmp:rw,size=256m \
        --user 1000:1000 -v "$RUN_ID-data:/var/lib/neo" "$IMAGE" \
        paper --strategy sma_cross --feed simulated --symbol BTC/USDT --venue sim \
        --speed 20 --cycles 100000 --metrics-port "$trader_port" >/dev/null 2>"$WORK/podman-trader.log"
    "$PY" scripts/ci/deploy_checks.py wait-http "http://127.0.0.1:$trader_port/metrics" --timeout 120 \
        || { podman logs "$RUN_ID-trader" >"$WORK/trader.log" 2>&1; fail "paper --metrics-port"; }

    log "prometheus: traffic on the API (candles accepted and rejected, kill switch)"
    local key
    key="$(run_neo "$IMAGE" keys create --scope admin --label deploy-test --json \
        | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["key"])')" || fail "neo keys create"
    # the paper account: the running paper session must see it halt (neo_kill_switch_engaged)
    "$PY" scripts/ci/api_traffic.py "http://127.0.0.1:$API_PORT" "$key" paper \
        || fail "API traffic"

    "$PY" scripts/ci/deploy_checks.py prom-config --api "127.0.0.1:$API_PORT" \
        --trader "127.0.0.1:$trader_port" --rules deploy/prometheus/rules "$WORK/prometheus.yml"
    promtool check config "$WORK/prometheus.yml" >/dev/null
    prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
        --web.listen-address="127.0.0.1:$prom_port" >"$WORK/prometheus.log" 2>&1 &
    PIDS+=($!)
    "$PY" scripts/ci/deploy_checks.py wait-http "http://127.0.0.1:$prom_port/-/ready" --timeout 60
    sleep 8  # a few 1 s scrapes, so rate() over [5m] has two points per series
    "$PY" scripts/ci/deploy_checks.py evaluate --prometheus "http://127.0.0.1:$prom_port" \
        --dashboards deploy/grafana/dashboards --rules deploy/prometheus/rules \
        --may-be-empty "$MAY_BE_EMPTY" --expect-firing NeoKillSwitchEngaged \
        || fail "a panel query or alert expression"
}

# Series that exist only with a real exchange, the Redis bus or webhooks (not in this test).
MAY_BE_EMPTY="neo_exchange_request_seconds,neo_exchange_errors_total,neo_bus_messages_total,neo_webhook_deliveries_total,neo_risk_denials_total,neo_model_inference_seconds"

# podman, buildah, docker-compose, prometheus… before the first check that needs one (a fresh
# machine has none of them: the static checks' `docker-compose config` was the first to fail)
bash scripts/ci/containers.sh install
static_checks
build_image
run_checks
if has_serve; then
    serve_checks
    kube_checks
    prometheus_checks
else
    fail "this image has no \`neo serve\` (the service is not merged yet): the image, version and backtest checks passed"
fi
