# cosell: the one task runner. `make help` lists the targets.
# Everything runs from a fresh clone on the reference image (Rust stable, gcc, Python 3); one shared target dir.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
PYTHON ?= python3
BENCH_N ?= 100000
BENCH_DIR := bench/out/$(BENCH_N)
SMOKE_DIR := bench/out/smoke

.PHONY: help demo test lint fmt build test-rust bench bench-smoke clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

demo: ## build and run the end-to-end sync scenario (plans, applies, commits; prints plans and audit)
	$(CARGO) run --release -q -p cosell-core --example demo

test: lint test-rust bench-smoke ## everything CI runs: lint, all tests, the demo and a small benchmark run
	$(CARGO) run -q -p cosell-core --example demo > /dev/null
	@echo "make test: all green"

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

build: ## build every crate and target
	$(CARGO) build --workspace --all-targets

test-rust: ## unit, scenario, property and doc tests (fails if no test ran)
	scripts/cargo-test-counted.sh --workspace

$(BENCH_DIR)/manifest.json: bench/workload.py
	$(PYTHON) bench/workload.py $(BENCH_N) $(BENCH_DIR) > /dev/null

bench: $(BENCH_DIR)/manifest.json ## the standard workload (BENCH_N=100000 pairs): one JSON line per measurement
	$(CARGO) bench -q -p cosell-core --bench workload -- $(abspath $(BENCH_DIR)) | tee bench/out/results-$(BENCH_N).jsonl

bench-smoke: ## the benchmark at 2,000 pairs: checks it runs and its plan counts match the manifest
	$(PYTHON) bench/workload.py 2000 $(SMOKE_DIR) > /dev/null
	$(CARGO) bench -q -p cosell-core --bench workload -- $(abspath $(SMOKE_DIR))

clean: ## remove build output and benchmark data
	$(CARGO) clean
	rm -rf bench/out
