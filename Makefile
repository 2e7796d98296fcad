# The front door. `make up` runs the whole stack on this machine; `make test` runs every test.
.PHONY: up down test bench lint chaos eval

up:
	@scripts/up.sh

down:
	@scripts/down.sh

test:
	@scripts/test.sh

# Load, eight faults (kill -9, restarts, NATS outage, SIGTERM), then lost=0 duplicated=0 or a
# non-zero exit. Takes about five minutes after the release build.
chaos:
	@scripts/chaos.sh

# Performance figures (release build): the stack under an Alertmanager storm (ingest, end to
# end, analyses, memory, and Alertmanager for comparison; last line `bench: ...`, JSON in
# target/bench/), then the correlation step at 100 and 100,000 open incidents, and the built-in
# analysis' worker time.
bench:
	@scripts/bench.sh

# The built-in analyst on incident scenarios drawn from public postmortems
# (crates/rca-eval/scenarios): top-1 and top-3 accuracy, the unknown-when-unknown rate and every
# miss; JSON report in target/eval-report.json. `make test` holds it to the committed floor.
eval:
	cargo run --quiet --release -p aurora-rca-eval -- --report target/eval-report.json

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
