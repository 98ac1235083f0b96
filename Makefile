# One-word entry points: `make run` serves the API on localhost; `make test` is what CI runs.
PORT ?= 3000
VENV := .venv
TOOLS := $(VENV)/.installed
ARM_TARGET := aarch64-unknown-linux-gnu
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: run test lint deny audit unit test-rust test-template test-contract test-scripts test-docs test-browser test-examples test-load test-bench bench profile build emulator fuzz fault-matrix load

run:
	cargo run -p otp-local -- --port $(PORT)

test: lint deny test-rust test-template test-contract test-scripts test-docs test-browser test-examples test-load test-bench

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --all-features -- -D warnings

# Every Rust test; the AWS adapter tests talk to moto's server, started for them. Two groups
# run on their own afterwards: the pumping campaigns on DynamoDB, which keep moto (serving
# one request at a time) busy for a minute and would push the others' calls past their
# timeouts, and the fault matrix, whose held calls and timeouts must not compete with the
# other tests for the CPU, nor theirs with it.
ALONE := breaker_campaign::dynamodb fault_matrix::
test-rust: $(TOOLS)
	scripts/harness/with-moto.sh sh -c 'cargo test --workspace --all-features -- $(addprefix --skip ,$(ALONE)) && \
	  cargo test -p otp-shared --all-features --test integration breaker_campaign::dynamodb && \
	  cargo test -p otp-shared --all-features --test integration fault_matrix::'

# The Rust tests that need no moto, no Python and no browser: test-rust's run without
# with-moto.sh, skipping (libtest's --skip matches any part of a test's path) every test
# that reaches moto through otp_testkit::moto, which fails without MOTO_ENDPOINT (or, for
# the fault matrix, FAULT_PROXY_ENDPOINT): the `moto` module of otp-shared's integration
# binary, the DynamoDB halves of the store contract and of the pumping campaigns, the fault
# matrix, and the one telemetry test that serves requests over moto. No Rust test needs
# Python or a browser (otp-local's own tests speak plain HTTP to the binary); those checks
# are the scripts' (test-scripts, test-browser, test-docs, ...).
NEEDS_MOTO := moto:: store_contract::dynamodb:: breaker_campaign::dynamodb:: fault_matrix:: \
  telemetry::at_every_level_audit_events_and_metrics_are_written_and_no_secret_or_body
unit:
	cargo test --workspace --all-features -- $(addprefix --skip ,$(NEEDS_MOTO))

# schemathesis against otp-local with openapi.yaml (no 5xx, every response as specified), then
# the verification tokens checked with PyJWT.
test-contract: $(TOOLS)
	scripts/e2e/contract.sh

# The test tools' own tests: the fault proxy against botocore, the Lambda Runtime API
# emulator against a stand-in function, the hot-item model on made-up flows.
test-scripts: $(TOOLS)
	$(VENV)/bin/python scripts/harness/test_fault_proxy.py
	$(VENV)/bin/python scripts/harness/test_lambda_runtime.py
	$(VENV)/bin/python scripts/perf/hot_items.py --self-test

# Debian's Chromium and its WebDriver (chromium-driver depends on chromium), when missing.
CHROMEDRIVER := /usr/bin/chromedriver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(CHROMEDRIVER):
	$(SUDO) apt-get install -y -qq --no-install-recommends chromium-driver || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends chromium-driver; }

# The Mermaid CLI (pinned in scripts/docs/mermaid/package-lock.json), drawing in Debian's
# Chromium rather than the browser puppeteer would download; and npm, from Debian, if absent.
NPM := /usr/bin/npm
MMDC := scripts/docs/mermaid/node_modules/.bin/mmdc
$(NPM):
	$(SUDO) apt-get install -y -qq --no-install-recommends npm || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends npm; }
$(MMDC): scripts/docs/mermaid/package-lock.json | $(NPM)
	cd scripts/docs/mermaid && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --silent
	touch $@

# The docs held to the code: every relative link and #anchor of README.md and docs/, every
# Mermaid block (its structure, then drawn by the Mermaid CLI; each checker tests its own
# rules first), and the README's quickstart run as pasted against a fresh otp-local. The
# tables that tests compare with the code (configuration, fault matrix) are in test-rust.
test-docs: $(TOOLS) $(CHROMEDRIVER) $(MMDC)
	$(VENV)/bin/python scripts/docs/check_links.py --self-test
	$(VENV)/bin/python scripts/docs/check_mermaid.py --self-test --mmdc $(MMDC)
	cargo build -q -p otp-local
	$(VENV)/bin/python scripts/e2e/test_quickstart.py --binary target/debug/otp-local

# The console and the demo page of otp-local in headless Chromium, through WebDriver
# (scripts/e2e/test_browser.py says what it checks); screenshots land in target/browser.
test-browser: $(TOOLS) $(CHROMEDRIVER)
	cargo build -q -p otp-local
	$(VENV)/bin/python scripts/e2e/test_browser.py --binary target/debug/otp-local --screenshots target/browser

# The backend examples (examples/backend: PyJWT, jose, jsonwebtoken) against a live
# otp-local: a good token accepted, nine bad ones refused (scripts/e2e/test_backend_examples.py).
test-examples: $(TOOLS) | $(NPM)
	cargo build -q -p otp-local -p otp-backend-example
	$(VENV)/bin/python scripts/e2e/test_backend_examples.py --otp-local target/debug/otp-local --rust-example target/debug/check-token

# A small load run of the real function binaries (debug build), so `make load` cannot rot.
test-load: $(TOOLS)
	cargo build -q -p otp-register -p otp-verify
	scripts/harness/with-moto.sh sh -c '$(VENV)/bin/python scripts/perf/load.py --target-dir target/debug --moto "$$MOTO_ENDPOINT" --processes 2 --users 20'

# The load run: LOAD_PROCESSES instances of register and of verify (release build) under
# the Runtime API emulator, against moto, with hostile traffic; fails on any 5xx or any
# limit that did not hold exactly. Prints throughput and p50/p99 per endpoint.
LOAD_PROCESSES ?= 8
LOAD_USERS ?= 200
load: $(TOOLS)
	cargo build -q --release -p otp-register -p otp-verify
	scripts/harness/with-moto.sh sh -c '$(VENV)/bin/python scripts/perf/load.py --target-dir target/release --moto "$$MOTO_ENDPOINT" --processes $(LOAD_PROCESSES) --users $(LOAD_USERS)'

# Supply chain: licenses, banned and duplicate crates (duplicates warn), sources
# (crates.io only); see deny.toml. `make audit` adds the RustSec advisories.
DENY := .tools/bin/cargo-deny
DENY_VERSION := 0.20.2
deny: $(DENY)
	$(DENY) check licenses bans sources

audit: $(DENY)
	scripts/supply-chain/audit.sh $(DENY)

$(DENY):
	cargo install --quiet --locked --root .tools cargo-deny@$(DENY_VERSION)

# The functions' start-up and per-request cost against a bare lambda_http function: the
# release binaries under the Runtime API emulator, against moto behind the counting proxy,
# also over TLS; then BENCH_USERS users register and verify into one country, and the items
# their writes share give the design's ceiling (scripts/perf/hot_items.py). Prints the tables
# and writes target/bench/latest.json (BENCH_COMPARE=FILE compares with an earlier run).
# scripts/perf/bench.py says what each figure is.
BENCH_COLD ?= 15
BENCH_WARM ?= 300
BENCH_USERS ?= 80
BENCH_BINARIES := -p otp-register -p otp-resend -p otp-verify -p otp-bench-baseline
bench: $(TOOLS)
	cargo build -q --release $(BENCH_BINARIES)
	scripts/harness/with-moto.sh sh -c '$(VENV)/bin/python scripts/perf/bench.py --target-dir target/release \
	  --moto "$$MOTO_ENDPOINT" --cold $(BENCH_COLD) --warm $(BENCH_WARM) --tls --hot-items $(BENCH_USERS) \
	  --json target/bench/latest.json $(if $(BENCH_COMPARE),--compare $(BENCH_COMPARE))'

# Where the functions' CPU goes: `make bench`'s run over the `profiling` profile (release
# with line tables), each function's warm invocations under `perf record`, then the share of
# the largest callers (inclusive) and the top of the flat profile. perf must be installed.
PROFILE_DIR := target/bench/perf
profile: $(TOOLS)
	command -v perf >/dev/null || { echo "make profile needs perf (Debian: linux-perf)"; exit 1; }
	cargo build -q --profile profiling $(BENCH_BINARIES)
	scripts/harness/with-moto.sh sh -c '$(VENV)/bin/python scripts/perf/bench.py --target-dir target/profiling \
	  --moto "$$MOTO_ENDPOINT" --cold 1 --warm $(BENCH_WARM) --perf $(PROFILE_DIR)'
	for f in otp-register otp-resend otp-verify; do \
	  echo "== $$f: by library"; perf report -i $(PROFILE_DIR)/$$f.data --no-children --sort dso -g none -q | head -5; \
	  echo "== $$f: flat, top 15"; perf report -i $(PROFILE_DIR)/$$f.data --no-children --sort sym -g none -q | head -15; \
	done

# One cold start and ten warm invocations of each (debug build), so `make bench` cannot rot.
test-bench: $(TOOLS)
	cargo build -q $(BENCH_BINARIES)
	scripts/harness/with-moto.sh sh -c '$(VENV)/bin/python scripts/perf/bench.py --target-dir target/debug \
	  --moto "$$MOTO_ENDPOINT" --cold 1 --warm 10 --tls --hot-items 4'

# checkov in a venv of its own: its pinned dependencies would fight the SAM CLI's.
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_VERSION := 3.3.30
$(CHECKOV):
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)

# The template's lint, checkov's security checks (each one skipped is named and justified in
# .checkov.yaml, so a new finding fails the run), then what `sam local invoke` gives each function (SAM CLI's own
# environment code, each binary under the Runtime API emulator with each file of events/).
test-template: $(TOOLS) $(CHECKOV)
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/sam validate --lint
	$(CHECKOV) --config-file .checkov.yaml
	cargo build -q -p otp-register -p otp-verify -p otp-resend
	scripts/harness/with-moto.sh sh -c '$(VENV)/bin/python scripts/e2e/test_sam_local.py --target-dir target/debug --moto "$$MOTO_ENDPOINT"'

# The deployable artefacts: one arm64 `bootstrap` per function under .aws-sam/build.
# AWS_LC_SYS_NO_JITTER_ENTROPY: as in .cargo/config.toml, named again in case SAM builds
# from a copy of the tree.
build: $(TOOLS)
	rustup target list --installed | grep -qx $(ARM_TARGET) || rustup target add $(ARM_TARGET)
	AWS_LC_SYS_NO_JITTER_ENTROPY=1 PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/sam build
	@ls -l .aws-sam/build/*/bootstrap

# Each cargo-fuzz target for FUZZ_SECONDS (nightly toolchain; cargo-fuzz installed on first use).
FUZZ_SECONDS ?= 60
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
	for target in phone request_body; do \
	  cargo +nightly fuzz run $$target -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	done

# moto's DynamoDB and SNS on 127.0.0.1:5000 with the table, for `cargo lambda watch`.
emulator: $(TOOLS)
	$(VENV)/bin/python scripts/harness/emulator.py

$(TOOLS): requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Rewrites the fault matrix of docs/operating.md from what the fault test observes.
fault-matrix: $(TOOLS)
	FAULT_MATRIX_WRITE=1 scripts/harness/with-moto.sh cargo test -p otp-shared --all-features --test integration fault_matrix::
