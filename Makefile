# cosell: the one task runner. `make help` lists the targets.
# Everything runs from a fresh clone on the reference image (Rust stable, gcc, Python 3); one shared target dir.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
CC ?= cc
PYTHON ?= python3
BENCH_N ?= 100000
BENCH_DIR := bench/out/$(BENCH_N)
SMOKE_DIR := bench/out/smoke
# The pinned cbindgen that writes include/cosell.h, installed under .tools/ on first use.
CBINDGEN_VERSION := 0.29.4
CBINDGEN := .tools/bin/cbindgen
PREFIX ?= /usr/local
# The Python virtual environment (maturin, pytest, mypy, pandas, matplotlib, nbclient, tqdm), made on first use.
VENV := .venv
VPY := $(VENV)/bin/python
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))

.PHONY: help demo test lint fmt build test-rust bench bench-smoke clean lib header header-check install readme-c install-check wheel test-python

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

demo: ## build and run the end-to-end sync scenario (plans, applies, commits; prints plans and audit)
	$(CARGO) run --release -q -p cosell-core --example demo

test: lint header-check test-rust test-c readme-c install-check test-python bench-smoke ## everything CI runs: lint, header check, Rust, C and Python tests, the demo, a small benchmark
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

$(VENV)/.installed: python/requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r python/requirements-dev.txt
	touch $@

wheel: $(VENV)/.installed ## build the Python wheel (release, abi3) with maturin and install it into .venv
	rm -f target/wheels/cosell-*.whl
	$(VENV)/bin/maturin build --release -q -m python/Cargo.toml --out target/wheels
	$(VENV)/bin/pip install -q --force-reinstall --no-deps target/wheels/cosell-*.whl

test-python: wheel ## pytest (tests/python), stubs checked against the built module, mypy --strict on the examples
	$(VPY) -m pytest -q -p no:cacheprovider tests/python
	$(VPY) -m mypy.stubtest cosell
	$(VPY) -m mypy --strict --cache-dir target/mypy -p cosell
	$(VPY) -m mypy --strict --cache-dir target/mypy examples/python bench/python
	$(VPY) examples/python/quickstart.py > /dev/null
	$(VPY) scripts/run-notebook.py examples/audit_analysis.ipynb

lib: ## build libcosell.so and libcosell.a (release) into target/release
	$(CARGO) build --release -q -p cosell-ffi

$(CBINDGEN):
	$(CARGO) install -q cbindgen --version $(CBINDGEN_VERSION) --locked --root .tools

header: $(CBINDGEN) ## regenerate include/cosell.h from ffi/src with the pinned cbindgen
	CBINDGEN=$(CBINDGEN) scripts/gen-header.sh include/cosell.h

header-check: $(CBINDGEN) ## fail when include/cosell.h is not what ffi/src generates
	@tmp=$$(mktemp); trap 'rm -f "$$tmp"' EXIT; \
	CBINDGEN=$(CBINDGEN) scripts/gen-header.sh "$$tmp"; \
	if ! diff -u include/cosell.h "$$tmp"; then \
	  echo "include/cosell.h is stale: run 'make header' and commit it" >&2; exit 1; fi; \
	echo "include/cosell.h is up to date"

install-check: ## install into target/install-check and build the example host through pkg-config
	rm -rf target/install-check
	$(MAKE) -s install PREFIX=$(CURDIR)/target/install-check
	mkdir -p target/c
	$(CC) -std=c11 -Wall -Wextra -Wpedantic -Werror \
	  $$(PKG_CONFIG_PATH=target/install-check/lib/pkgconfig pkg-config --cflags cosell) \
	  examples/plugin_host.c -o target/c/plugin_host_installed \
	  $$(PKG_CONFIG_PATH=target/install-check/lib/pkgconfig pkg-config --libs cosell) \
	  -Wl,-rpath,$(CURDIR)/target/install-check/lib
	readelf -d target/c/plugin_host_installed | grep -q 'NEEDED.*libcosell.so.$(SOMAJOR)'
	target/c/plugin_host_installed > /dev/null
	@echo "install: header, libcosell.so.$(SOMAJOR), libcosell.a and cosell.pc work through pkg-config"

readme-c: ## compile the C example of the README against the header
	scripts/readme-c.sh

# The system libraries static linking needs, as rustc reports them (kept, since asking relinks the library).
target/native-static-libs.txt: Cargo.lock ffi/Cargo.toml
	mkdir -p target
	scripts/native-static-libs.sh > $@

install: lib target/native-static-libs.txt ## install the header, libcosell.so.$(VERSION) (+ links), libcosell.a and cosell.pc under PREFIX
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/cosell.h $(DESTDIR)$(PREFIX)/include/cosell.h
	install -m 755 target/release/libcosell.so $(DESTDIR)$(PREFIX)/lib/libcosell.so.$(VERSION)
	strip --strip-debug $(DESTDIR)$(PREFIX)/lib/libcosell.so.$(VERSION)
	ln -sf libcosell.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libcosell.so.$(SOMAJOR)
	ln -sf libcosell.so.$(SOMAJOR) $(DESTDIR)$(PREFIX)/lib/libcosell.so
	install -m 644 target/release/libcosell.a $(DESTDIR)$(PREFIX)/lib/libcosell.a
	strip --strip-debug $(DESTDIR)$(PREFIX)/lib/libcosell.a
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	  -e "s|@LIBS_PRIVATE@|$$(cat target/native-static-libs.txt)|" \
	  ffi/cosell.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/cosell.pc
	@echo "installed cosell $(VERSION) under $(DESTDIR)$(PREFIX)"

$(BENCH_DIR)/manifest.json: bench/workload.py
	$(PYTHON) bench/workload.py $(BENCH_N) $(BENCH_DIR) > /dev/null

bench: $(BENCH_DIR)/manifest.json wheel ## the standard workload (BENCH_N=100000 pairs) in Rust, through the C API and from Python: one JSON line per measurement
	$(CARGO) bench -q -p cosell-core --bench workload -- $(abspath $(BENCH_DIR)) | tee bench/out/results-$(BENCH_N).jsonl
	$(MAKE) -s bench-c BENCH_DIR=$(BENCH_DIR) | tee -a bench/out/results-$(BENCH_N).jsonl
	$(PYTHON) scripts/bench-ratio.py bench/out/results-$(BENCH_N).jsonl
	$(VPY) bench/python/workload_bench.py $(BENCH_DIR) --rust bench/out/results-$(BENCH_N).jsonl \
	  | tee -a bench/out/results-$(BENCH_N).jsonl

bench-smoke: wheel ## the benchmarks (Rust, C and Python) at 2,000 pairs: check they run and their plan counts match the manifest
	$(PYTHON) bench/workload.py 2000 $(SMOKE_DIR) > /dev/null
	$(CARGO) bench -q -p cosell-core --bench workload -- $(abspath $(SMOKE_DIR))
	$(MAKE) -s bench-c BENCH_DIR=$(SMOKE_DIR)
	$(VPY) bench/python/workload_bench.py $(SMOKE_DIR) --runs 1

clean: ## remove build output, benchmark data and the pinned tools
	$(CARGO) clean
	rm -rf bench/out .tools

include mk/c.mk
