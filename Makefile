# The front door. `make up` runs the whole stack on this machine; `make test` runs every test.
.PHONY: up down test lint

up:
	@scripts/up.sh

down:
	@scripts/down.sh

test:
	@scripts/test.sh

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
