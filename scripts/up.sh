#!/usr/bin/env bash
# `make up`: the whole stack on this machine. Safe to run again: what runs is left running.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_DIR="$(pwd)/.run"
export AURORA_RUN_DIR="$RUN_DIR"
mkdir -p "$RUN_DIR"
say() { printf 'aurora: %s\n' "$*"; }

scripts/ensure-services.sh

DB_NAME="${AURORA_DB_NAME:-aurora}"
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB_NAME"
NATS_URL="nats://127.0.0.1:4222"
INGRESS_URL="http://127.0.0.1:8080"
API_URL="http://127.0.0.1:8081"
export AURORA__DATABASE__URL="$DATABASE_URL" AURORA__NATS__URL="$NATS_URL"
export AURORA__INGRESS__PUBLIC_URL="$INGRESS_URL"
# The key that seals signing secrets at rest: made once for this machine, kept out of git.
if [ ! -s "$RUN_DIR/secret-key" ]; then
  (umask 077; head -c 32 /dev/urandom | base64 >"$RUN_DIR/secret-key")
fi
AURORA__SECRETS__ENCRYPTION_KEY="$(cat "$RUN_DIR/secret-key")"
export AURORA__SECRETS__ENCRYPTION_KEY

if ! psql -h 127.0.0.1 -U postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
  say "creating database $DB_NAME"
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $DB_NAME"
fi

say "building (the first build takes several minutes)"
cargo build --quiet --bins
BIN="$(pwd)/target/debug"
"$BIN/aurora" migrate

alive() { [ -f "$RUN_DIR/$1.pid" ] && kill -0 "$(cat "$RUN_DIR/$1.pid")" 2>/dev/null; }
# The notifier sends only what [[notifications.routes]] ask for: with none (the default) it
# records nothing and sends nothing.
for service in ingress correlator rca-worker notifier api; do
  if alive "$service"; then say "$service already running (pid $(cat "$RUN_DIR/$service.pid"))"; continue; fi
  nohup "$BIN/$service" >"$RUN_DIR/$service.log" 2>&1 &
  echo $! >"$RUN_DIR/$service.pid"
  say "started $service (pid $!, log .run/$service.log)"
done

wait_ready() {
  for _ in $(seq 1 120); do
    curl -fsS "$1/readyz" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  say "$2 is not ready after 60 s; see .run/$2.log"; exit 1
}
wait_ready "$INGRESS_URL" ingress
wait_ready "http://127.0.0.1:8082" correlator
wait_ready "http://127.0.0.1:8083" rca-worker
wait_ready "http://127.0.0.1:8084" notifier
wait_ready "$API_URL" api

# The demo user and one integration per source, created once; their tokens stay in .run/.
json_field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
demo_user_exists() {
  local id; id=$(json_field user_id <"$RUN_DIR/demo-user.json" 2>/dev/null) || return 1
  [ -n "$id" ] && psql -h 127.0.0.1 -U postgres -d "$DB_NAME" -Atc "SELECT 1 FROM users WHERE id = '$id'" | grep -q 1
}
if [ ! -s "$RUN_DIR/demo-user.json" ] || ! demo_user_exists; then
  name="demo"
  if ! "$BIN/aurora" user create "$name" --json >"$RUN_DIR/demo-user.json" 2>/dev/null; then
    name="demo-$(date +%s)"   # a previous .run/ was deleted but the database kept its demo user
    "$BIN/aurora" user create "$name" --json >"$RUN_DIR/demo-user.json"
  fi
  mkdir -p "$RUN_DIR/integrations"
  for source in grafana alertmanager datadog netdata pagerduty splunk jenkins cloudbees dynatrace bigpanda; do
    "$BIN/aurora" integration create --user "$name" --source "$source" --json >"$RUN_DIR/integrations/$source.json"
  done
  say "created demo user $name with an integration for each source (tokens in .run/)"
fi
API_TOKEN=$(json_field api_token <"$RUN_DIR/demo-user.json")
GRAFANA_TOKEN=$(json_field token <"$RUN_DIR/integrations/grafana.json")

cat >"$RUN_DIR/env" <<ENV
AURORA_INGRESS_URL=$INGRESS_URL
AURORA_API_URL=$API_URL
DATABASE_URL=$DATABASE_URL
NATS_URL=$NATS_URL
AURORA__SECRETS__ENCRYPTION_KEY=$AURORA__SECRETS__ENCRYPTION_KEY
AURORA_API_TOKEN=$API_TOKEN
AURORA_GRAFANA_TOKEN=$GRAFANA_TOKEN
ENV

cat <<DONE

Aurora is up. Webhooks: $INGRESS_URL   API: $API_URL   (settings for scripts: .run/env)

Send a Grafana alert:
  curl -sS -X POST $INGRESS_URL/api/grafana/alerts -H 'Authorization: Bearer $GRAFANA_TOKEN' -H 'Content-Type: application/json' --data-binary @crates/vendors/tests/examples/grafana_unified_checkout_critical.json

List incidents:
  curl -sS $API_URL/api/incidents -H 'Authorization: Bearer $API_TOKEN'

Open the console in a browser at $API_URL/ and sign in with the API token:
  $API_TOKEN

Stop everything with: make down
DONE
