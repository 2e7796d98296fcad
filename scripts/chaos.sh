#!/usr/bin/env bash
# `make chaos`: the stack as separate processes under load, crashed and restarted eight ways,
# then checked for lost and duplicated alerts. Brings its own PostgreSQL and NATS; it only
# needs their programs, which ensure-services installs when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-services.sh
cargo build --release --quiet --bins
exec target/release/aurora-chaos --bin-dir target/release "$@"
