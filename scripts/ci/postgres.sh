#!/usr/bin/env bash
# A throwaway PostgreSQL for the test suite, on 127.0.0.1 and a spare port.
#
#   bash scripts/ci/postgres.sh start   # idempotent: installs, initialises, starts, prints URL
#   bash scripts/ci/postgres.sh stop    # idempotent
#   bash scripts/ci/postgres.sh url     # prints the URL of the running server
#
# The cluster lives in /tmp/neo-ci/pg (data, socket, log), owned by the `postgres` user when run
# as root (PostgreSQL refuses to run as root), else by the caller. `start` writes
#   export NEO_TEST_POSTGRES_URL=postgresql+psycopg://neo:<password>@127.0.0.1:<port>/neo_test
# into /tmp/neo-ci/postgres.env, which `make unit` sources. Durability settings are off
# (fsync, synchronous_commit): it is a test server, and the tests kill clients, never it.
set -euo pipefail

ROOT=/tmp/neo-ci
PGROOT="$ROOT/pg"
DATA="$PGROOT/data"
SOCK="$PGROOT/sock"
LOG="$PGROOT/server.log"
ENV_FILE="$ROOT/postgres.env"
DB=neo_test
ROLE=neo

die() { echo "error: postgres.sh: $*" >&2; exit 1; }

if [ "$(id -u)" = 0 ]; then
  OWNER=postgres
  as_owner() { runuser -u postgres -- "$@"; }
else
  OWNER="$(id -un)"
  as_owner() { "$@"; }
fi

pg_bindir() {
  local ctl
  if ctl="$(command -v pg_ctl 2>/dev/null)"; then
    dirname "$(readlink -f "$ctl")"
    return
  fi
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  [ -n "$dir" ] && echo "$dir"
}

install_postgres() {
  [ -n "$(pg_bindir)" ] && return
  echo "postgres.sh: installing PostgreSQL from Debian packages" >&2
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q postgresql >&2
  [ -n "$(pg_bindir)" ] || die "PostgreSQL is still missing after apt-get install postgresql"
}

spare_port() {
  python3 - <<'PY'
import socket
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
PY
}

running() { [ -f "$DATA/PG_VERSION" ] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

write_env() {
  local port password url
  port="$(cat "$PGROOT/port")"
  password="$(cat "$PGROOT/password")"
  url="postgresql+psycopg://$ROLE:$password@127.0.0.1:$port/$DB"
  umask 077
  printf 'export NEO_TEST_POSTGRES_URL=%s\n' "$url" > "$ENV_FILE.tmp"
  mv "$ENV_FILE.tmp" "$ENV_FILE"
  echo "NEO_TEST_POSTGRES_URL=$url"
}

init_cluster() {
  mkdir -p "$ROOT"
  chmod 755 "$ROOT"
  mkdir -p "$PGROOT" "$SOCK"
  [ -f "$PGROOT/password" ] || python3 -c 'import secrets; print(secrets.token_hex(16))' > "$PGROOT/password"
  chmod 600 "$PGROOT/password"
  chown -R "$OWNER" "$PGROOT"
  if [ ! -f "$DATA/PG_VERSION" ]; then
    as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$PGROOT/initdb.log" 2>&1 \
      || as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 >"$PGROOT/initdb.log" 2>&1 \
      || die "initdb failed: see $PGROOT/initdb.log"
  fi
}

start() {
  install_postgres
  BIN="$(pg_bindir)"
  if running; then
    write_env
    return
  fi
  init_cluster
  # a port that was free when chosen; keep it across restarts unless it is taken now
  local port
  port="$(cat "$PGROOT/port" 2>/dev/null || true)"
  if [ -z "$port" ] || ! python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', $port))" 2>/dev/null; then
    port="$(spare_port)"
  fi
  echo "$port" > "$PGROOT/port"
  as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start -o \
    "-c listen_addresses=127.0.0.1 -p $port -k $SOCK -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    >/dev/null || die "pg_ctl start failed: see $LOG"
  local password psql
  password="$(cat "$PGROOT/password")"
  psql=("$BIN/psql" -h "$SOCK" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt)
  if [ "$(as_owner "${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname='$ROLE'")" != 1 ]; then
    as_owner "${psql[@]}" -c "CREATE ROLE $ROLE LOGIN PASSWORD '$password'"
  else
    as_owner "${psql[@]}" -c "ALTER ROLE $ROLE LOGIN PASSWORD '$password'"
  fi
  if [ "$(as_owner "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname='$DB'")" != 1 ]; then
    as_owner "${psql[@]}" -c "CREATE DATABASE $DB OWNER $ROLE"
  fi
  write_env
}

stop() {
  BIN="$(pg_bindir || true)"
  if [ -n "$BIN" ] && running; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    echo "postgres.sh: stopped" >&2
  fi
  rm -f "$ENV_FILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) BIN="$(pg_bindir)"; running || die "not running: bash scripts/ci/postgres.sh start"; write_env ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
