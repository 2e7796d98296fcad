#!/usr/bin/env bash
# Checks deploy/observability/: promtool checks the rules and runs their unit tests, and
# check-observability.py holds the rules, the tests and the dashboard to the metrics the
# services export. Installs promtool (the Debian package prometheus) and PyYAML with apt-get,
# as root, when they are missing; a few seconds otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=deploy/observability

say() { printf 'aurora: %s\n' "$*"; }
apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    say "$* is missing and installing it needs root: run this as root, or install it yourself"; exit 1
  fi
  say "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Only promtool is wanted, but the package also enables and starts a Prometheus server; it
# did not exist before the install, so stopping and disabling it undoes only the install.
ensure_promtool() {
  command -v promtool >/dev/null 2>&1 && return
  apt_install prometheus
  service prometheus stop >/dev/null 2>&1 || true
  update-rc.d prometheus disable >/dev/null 2>&1 || true
}

ensure_promtool
python3 -c 'import yaml' 2>/dev/null || apt_install python3-yaml
promtool check rules "$DIR/rules.yml"
promtool test rules "$DIR/rules.test.yml"
python3 scripts/check-observability.py "$DIR" promtool
