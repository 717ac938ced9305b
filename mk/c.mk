# mk/c.mk: the C API's tests, example and benchmark. The main Makefile includes it; it defines CARGO and the
# `lib` target (cargo build --release -p cosell-ffi). Every build output goes under target/c/.
#
#   make test-c          the C tests (tests/c/test_*.c) linked against libcosell.so and against libcosell.a,
#                        under AddressSanitizer + UBSan and under valgrind; the header compiled as C++; the
#                        example examples/plugin_host.c built and run; and test-c-symbols
#   make test-c-symbols  libcosell.so exports only cosell_* symbols, and a host links libcosell.so together
#                        with the system libsqlite3 (tests/c/host_sqlite.c)
#   make bench-c         the C benchmark (bench/c/plan_bench.c) on BENCH_DIR (default bench/out/100000)
#   make clean-c         removes target/c
#
# Each variant also has its own target (test-c-shared, test-c-static, test-c-asan, test-c-valgrind, test-c-cxx,
# test-c-example). Test programs take two arguments: the fixture directory and a scratch directory of their
# own, so the variants can run in parallel (make -j).

CC ?= cc
CXX ?= c++
BENCH_DIR ?= bench/out/100000
VALGRIND ?= valgrind

C_OUT := target/c
C_LIB_DIR := target/release
C_SO := $(C_LIB_DIR)/libcosell.so
C_A := $(C_LIB_DIR)/libcosell.a
# The library's SONAME is libcosell.so.0 but cargo writes only libcosell.so, so executables linked with -lcosell
# look for libcosell.so.0 at run time: it is a symlink in C_RUN_DIR, which is their rpath.
C_SONAME := libcosell.so.0
C_RUN_DIR := $(abspath $(C_OUT)/lib)
C_FIXTURES := tests/c/fixtures

C_WARN := -std=c11 -Wall -Wextra -Wpedantic -Werror
C_FLAGS := $(C_WARN) -Iinclude -g
CXX_FLAGS := -std=c++17 -Wall -Wextra -Wpedantic -Werror -Iinclude -g
C_SHARED := -L$(C_LIB_DIR) -lcosell -Wl,-rpath,$(C_RUN_DIR)
# What `cargo rustc -q --release -p cosell-ffi --crate-type staticlib -- --print native-static-libs` prints
# (Rust 1.85+, Linux). Hard-coded because that command rewrites target/release/libcosell.a as a side effect.
C_NATIVE_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
C_SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
C_ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
C_VALGRIND_RUN := nice -n 19 $(VALGRIND) --quiet --leak-check=full --show-leak-kinds=definite,indirect \
	--errors-for-leak-kinds=definite,indirect --error-exitcode=1

C_TESTS := $(patsubst tests/c/%.c,%,$(sort $(wildcard tests/c/test_*.c)))
# tests/c/host_sqlite.c also links the system SQLite (shared and sanitizer builds only: see test-c-symbols).
C_LIBS_host_sqlite := -lsqlite3
C_DEPS := include/cosell.h tests/c/check.h
C_SHARED_BINS := $(addprefix $(C_OUT)/shared/,$(C_TESTS))
C_STATIC_BINS := $(addprefix $(C_OUT)/static/,$(C_TESTS))
C_ASAN_BINS := $(addprefix $(C_OUT)/asan/,$(C_TESTS))

# Checks that executable $(1) loads libcosell.so.0 from C_RUN_DIR (and did not link the static library). (grep
# without -q reads all its input: no SIGPIPE under the main Makefile's `set -o pipefail`.)
define c_check_shared
@readelf -d $(1) | grep 'NEEDED.*\[$(C_SONAME)\]' > /dev/null || { echo "$(1): does not need $(C_SONAME)"; exit 1; }
@ldd $(1) | grep '$(C_SONAME) => $(C_RUN_DIR)/$(C_SONAME)' > /dev/null || { echo "$(1): does not load $(C_RUN_DIR)/$(C_SONAME)"; ldd $(1); exit 1; }
endef

# Runs the tests $(4) in directory $(2) with the fixtures and a scratch directory of their own (run/$(3)/<test>),
# the command prefixed by $(1) (a sanitizer environment, valgrind). Runs them all; fails if any failed.
define c_run_tests
@failed=""; for t in $(4); do \
	mkdir -p $(C_OUT)/run/$(3)/$$t; \
	echo "== $(3): $$t"; \
	$(1) $(2)/$$t $(C_FIXTURES) $(C_OUT)/run/$(3)/$$t || failed="$$failed $$t"; \
done; \
if [ -n "$$failed" ]; then echo "FAILED ($(3)):$$failed"; exit 1; fi
endef

.PHONY: test-c test-c-symbols test-c-shared test-c-static test-c-asan test-c-valgrind test-c-cxx test-c-example \
	bench-c clean-c

test-c: test-c-symbols test-c-shared test-c-static test-c-asan test-c-valgrind test-c-cxx test-c-example ## C API tests: shared, static, ASan+UBSan, valgrind, C++, example
	@echo "make test-c: all green"

# The run-time name of the shared library (see C_SONAME).
$(C_OUT)/lib/$(C_SONAME): lib
	@mkdir -p $(@D)
	ln -sf ../../release/libcosell.so $@

$(C_OUT)/shared/%: tests/c/%.c $(C_DEPS) $(C_OUT)/lib/$(C_SONAME) lib
	@mkdir -p $(@D)
	$(CC) $(C_FLAGS) $< -o $@ $(C_SHARED) $(C_LIBS_$*)
	$(call c_check_shared,$@)

$(C_OUT)/static/%: tests/c/%.c $(C_DEPS) lib
	@mkdir -p $(@D)
	$(CC) $(C_FLAGS) $< -o $@ $(C_A) $(C_NATIVE_LIBS)
	@! readelf -d $@ | grep 'NEEDED.*libcosell' > /dev/null || { echo "$@: linked the shared library"; exit 1; }

$(C_OUT)/asan/%: tests/c/%.c $(C_DEPS) $(C_OUT)/lib/$(C_SONAME) lib
	@mkdir -p $(@D)
	$(CC) $(C_FLAGS) $(C_SANITIZE) $< -o $@ $(C_SHARED) $(C_LIBS_$*)

test-c-shared: $(C_SHARED_BINS)
	$(call c_run_tests,,$(C_OUT)/shared,shared,$(C_TESTS))

test-c-static: $(C_STATIC_BINS)
	$(call c_run_tests,,$(C_OUT)/static,static,$(C_TESTS))

test-c-asan: $(C_ASAN_BINS) $(C_OUT)/asan/host_sqlite
	$(call c_run_tests,env $(C_ASAN_ENV),$(C_OUT)/asan,asan,$(C_TESTS) host_sqlite)

# The shared-library builds under valgrind.
test-c-valgrind: $(C_SHARED_BINS) $(C_OUT)/shared/host_sqlite
	$(call c_run_tests,$(C_VALGRIND_RUN),$(C_OUT)/shared,valgrind,$(C_TESTS) host_sqlite)

# The header as C++17: compiled with the same strictness, linked and run.
$(C_OUT)/cxx/header_cxx: tests/c/header_cxx.cpp include/cosell.h $(C_OUT)/lib/$(C_SONAME) lib
	@mkdir -p $(@D)
	$(CXX) $(CXX_FLAGS) -x c++ $< -x none -o $@ $(C_SHARED)
	$(call c_check_shared,$@)

test-c-cxx: $(C_OUT)/cxx/header_cxx
	$(C_OUT)/cxx/header_cxx

# The example, built as strictly as the tests and run (on its built-in sample records, then on fixtures and a
# store file), so that it cannot rot.
$(C_OUT)/examples/plugin_host: examples/plugin_host.c include/cosell.h $(C_OUT)/lib/$(C_SONAME) lib
	@mkdir -p $(@D)
	$(CC) $(C_FLAGS) $< -o $@ $(C_SHARED)
	$(call c_check_shared,$@)

test-c-example: $(C_OUT)/examples/plugin_host
	$(C_OUT)/examples/plugin_host > $(C_OUT)/examples/plugin_host.out
	@rm -f $(C_OUT)/examples/store.db $(C_OUT)/examples/store.db-wal $(C_OUT)/examples/store.db-shm
	$(C_OUT)/examples/plugin_host $(C_OUT)/examples/store.db $(C_FIXTURES)/referral_a.json \
		$(C_FIXTURES)/salesforce_a.json >> $(C_OUT)/examples/plugin_host.out
	@echo "plugin_host ran (output in $(C_OUT)/examples/plugin_host.out)"

# Only cosell_* symbols are exported (the bundled SQLite and the Rust runtime stay hidden), and a host that uses
# the system libsqlite3 itself links and runs with libcosell.so (tests/c/host_sqlite.c, -lcosell -lsqlite3).
test-c-symbols: lib $(C_OUT)/shared/host_sqlite ## libcosell.so exports only cosell_*; links beside the system SQLite
	@readelf -d $(C_OUT)/shared/host_sqlite | grep 'NEEDED.*\[libsqlite3.so' > /dev/null || \
		{ echo "host_sqlite does not load the system libsqlite3"; exit 1; }
	@mkdir -p $(C_OUT)/run/symbols
	@nm -D --defined-only $(C_SO) | awk '{ print $$NF }' > $(C_OUT)/run/symbols/exports.txt
	@if grep -v '^cosell_' $(C_OUT)/run/symbols/exports.txt > $(C_OUT)/run/symbols/foreign.txt; then \
		echo "$(C_SO) exports symbols without the cosell_ prefix:"; head -n 20 $(C_OUT)/run/symbols/foreign.txt; \
		exit 1; fi
	@test -s $(C_OUT)/run/symbols/exports.txt || { echo "$(C_SO) exports nothing"; exit 1; }
	@echo "$(C_SO): $$(wc -l < $(C_OUT)/run/symbols/exports.txt) exported symbols, all cosell_*"
	$(C_OUT)/shared/host_sqlite $(C_FIXTURES) $(C_OUT)/run/symbols

# The benchmark: -O2, against the shared library; its stores go to target/c/bench.
$(C_OUT)/bench/plan_bench: bench/c/plan_bench.c include/cosell.h $(C_OUT)/lib/$(C_SONAME) lib
	@mkdir -p $(@D)
	$(CC) $(C_WARN) -O2 -Iinclude $< -o $@ $(C_SHARED)
	$(call c_check_shared,$@)

bench-c: $(C_OUT)/bench/plan_bench ## the C benchmark on BENCH_DIR: one JSON line per measurement
	@$(C_OUT)/bench/plan_bench $(BENCH_DIR) $(C_OUT)/bench

clean-c: ## remove the C build output (target/c)
	rm -rf $(C_OUT)
