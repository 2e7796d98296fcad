#!/usr/bin/env bash
# `make bench`: Aurora's services on a release build under an Alertmanager storm (aurora-bench,
# options passed through, e.g. `scripts/bench.sh --tenants 4`), then the in-process benches of
# the correlation step and the analysis.
set -euo pipefail
cd "$(dirname "$0")/.."
alertmanager=--alertmanager
for arg in "$@"; do
  if [ "$arg" = --no-alertmanager ]; then alertmanager=; fi
done
scripts/ensure-services.sh $alertmanager
cargo build --release --quiet --bins
target/release/aurora-bench --bin-dir target/release "$@"
cargo bench -p aurora-e2e --bench correlation --bench analysis
