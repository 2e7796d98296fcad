#!/usr/bin/env bash
# `make test`: checks deploy/, ensures PostgreSQL and NATS the way `make up` does, then runs every
# test.
set -euo pipefail
cd "$(dirname "$0")/.."
# The Kubernetes manifests and the container build, first: a few seconds, no services needed.
scripts/check-deploy.sh
# --browser: Chromium and chromedriver for the console's browser test.
scripts/ensure-services.sh --browser
# The Prometheus rules (promtool) and the Grafana dashboard, against the exported metrics.
scripts/check-observability.sh
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
# The fault suite, shorter: every fault once, at a lower rate, on the debug build.
cargo build --quiet --bins
target/debug/aurora-chaos --bin-dir target/debug --rate 200 --phase-secs 8 --users 2 --groups-per-user 8
# The bench, a few seconds of it: every 202 must reach PostgreSQL.
target/debug/aurora-bench --bin-dir target/debug --smoke --no-alertmanager
