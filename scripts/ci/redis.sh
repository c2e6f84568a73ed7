#!/usr/bin/env bash
# Start or stop the Redis server the integration tests use (idempotent).
#   scripts/ci/redis.sh start   install redis-server if missing, run it on 127.0.0.1:$PORT as
#                               the redis user, write NEO_TEST_REDIS_URL to $STATE/redis.env
#   scripts/ci/redis.sh stop    shut it down (nothing to do when it is not running)
# Tests read NEO_TEST_REDIS_URL (the Makefile's unit target sources redis.env); under CI=true a
# missing server fails them, otherwise they skip.
set -euo pipefail

STATE="${NEO_CI_STATE:-/tmp/neo-ci}"
DIR="$STATE/redis"
ENV_FILE="$STATE/redis.env"
PORT="${NEO_CI_REDIS_PORT:-6390}"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

as_redis() {
  if [ "$(id -u)" = 0 ]; then runuser -u redis -- "$@"; else $SUDO -u redis "$@"; fi
}

running() {
  redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null | grep -q PONG
}

start() {
  if ! command -v redis-server >/dev/null 2>&1; then
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q redis-server redis-tools
  fi
  if ! id redis >/dev/null 2>&1; then
    $SUDO useradd --system --no-create-home --shell /usr/sbin/nologin redis
  fi
  mkdir -p "$DIR"
  $SUDO chown redis "$DIR"
  if ! running; then
    as_redis redis-server --bind 127.0.0.1 --port "$PORT" --daemonize yes --dir "$DIR" \
      --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" --save "" --appendonly no
    for _ in $(seq 1 50); do
      running && break
      sleep 0.1
    done
    running || { echo "redis-server did not start; see $DIR/redis.log" >&2; exit 1; }
  fi
  echo "export NEO_TEST_REDIS_URL=redis://127.0.0.1:$PORT/0" >"$ENV_FILE"
  cat "$ENV_FILE"
}

stop() {
  if running; then
    redis-cli -h 127.0.0.1 -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
  fi
  rm -f "$ENV_FILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
