#!/usr/bin/env bash
# `make test`: ensures PostgreSQL and NATS the way `make up` does, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-services.sh
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
