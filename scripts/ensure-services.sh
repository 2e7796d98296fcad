#!/usr/bin/env bash
# Makes sure PostgreSQL and NATS with JetStream answer on their usual local ports.
# Uses what already runs; installs (apt-get, as root) and starts only what is missing.
# `--alertmanager` (for `make bench`) also installs Prometheus Alertmanager, the bench's
# point of comparison; nothing else needs it. `--browser` (for `make test`) also installs
# Debian's Chromium and chromedriver, which the console's browser test drives.
set -euo pipefail

WANT_ALERTMANAGER= WANT_BROWSER=
for arg in "$@"; do
  case "$arg" in
    --alertmanager) WANT_ALERTMANAGER=1 ;;
    --browser) WANT_BROWSER=1 ;;
    *) printf 'aurora: unknown option %s (known: --alertmanager, --browser)\n' "$arg"; exit 2 ;;
  esac
done

PG_HOST=127.0.0.1 PG_PORT=5432 NATS_PORT=4222
RUN_DIR="${AURORA_RUN_DIR:-$(pwd)/.run}"
mkdir -p "$RUN_DIR"

say() { printf 'aurora: %s\n' "$*"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 0.5; done
  say "nothing answers on port $1 after 30 s"; return 1
}
need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    say "$1 is missing and installing it needs root: run this as root, or install it yourself"; exit 1
  fi
}
apt_install() {
  need_root "$*"
  say "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if port_open "$PG_PORT"; then say "PostgreSQL already answers on $PG_PORT; using it"; return; fi
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then apt_install postgresql; fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    need_root "a PostgreSQL cluster"
    local version; version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
    pg_createcluster "$version" main >/dev/null
  fi
  local version; version=$(ls /etc/postgresql | sort -V | tail -n1)
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  # Local development: trust loopback connections, as the README's URLs assume.
  if [ -w "$hba" ] && ! grep -q '^# aurora: trust loopback' "$hba"; then
    sed -i '1i # aurora: trust loopback\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all postgres trust' "$hba"
  fi
  say "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  # Remembered so `make down` stops exactly what `make up` started.
  echo "$version" >"$RUN_DIR/postgres-started"
  wait_port "$PG_PORT"
}

ensure_nats() {
  if port_open "$NATS_PORT"; then say "NATS already answers on $NATS_PORT; using it"; return; fi
  command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || apt_install nats-server
  local bin; bin=$(command -v nats-server || echo /usr/sbin/nats-server)
  mkdir -p "$RUN_DIR/nats"
  say "starting nats-server with JetStream (data in $RUN_DIR/nats)"
  nohup "$bin" -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$RUN_DIR/nats" >"$RUN_DIR/nats-server.log" 2>&1 &
  echo $! >"$RUN_DIR/nats-server.pid"
  wait_port "$NATS_PORT"
}

if ! command -v cargo >/dev/null 2>&1; then
  say "cargo is missing: install the Rust toolchain (https://rustup.rs) and try again"; exit 1
fi
if ! command -v psql >/dev/null 2>&1; then apt_install postgresql-client; fi
if ! command -v curl >/dev/null 2>&1; then apt_install curl; fi
# The fault suite (`make chaos`, and its short run in `make test`) starts its own PostgreSQL
# cluster and nats-server, so their programs must be here even when the services run elsewhere.
ensure_server_programs() {
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql
  command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || apt_install nats-server
}

# The bench starts the Debian package's binary itself, on a free port.
ensure_alertmanager() {
  [ -x /usr/bin/prometheus-alertmanager ] || apt_install prometheus-alertmanager
}

# The console's browser test runs headless Chromium through chromedriver at these paths.
ensure_browser() {
  [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || apt_install chromium chromium-driver
}

ensure_postgres
ensure_nats
ensure_server_programs
if [ -n "$WANT_ALERTMANAGER" ]; then ensure_alertmanager; fi
if [ -n "$WANT_BROWSER" ]; then ensure_browser; fi
