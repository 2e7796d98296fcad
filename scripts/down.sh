#!/usr/bin/env bash
# `make down`: stops exactly what `make up` started, nothing else.
set -uo pipefail
cd "$(dirname "$0")/.."
RUN_DIR="$(pwd)/.run"
say() { printf 'aurora: %s\n' "$*"; }

stop_pid() {
  local file="$RUN_DIR/$1.pid"
  [ -f "$file" ] || return 0
  local pid; pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    say "stopped $1 (pid $pid)"
  fi
  rm -f "$file"
}

for service in ingress correlator rca-worker notifier api nats-server; do stop_pid "$service"; done
if [ -f "$RUN_DIR/postgres-started" ]; then
  version=$(cat "$RUN_DIR/postgres-started")
  pg_ctlcluster --skip-systemctl-redirect "$version" main stop && say "stopped PostgreSQL $version"
  rm -f "$RUN_DIR/postgres-started"
fi
