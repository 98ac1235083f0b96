# One-word entry points. `make run` serves the API on localhost; `make test` is what CI runs.
PORT ?= 3000

.PHONY: run test lint

run:
	cargo run -p otp-local -- --port $(PORT)

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

test: lint
	cargo test --workspace
