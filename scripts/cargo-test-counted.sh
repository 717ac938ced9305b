#!/usr/bin/env bash
# Runs `cargo test` with the given arguments and fails when it ran no test at all: a suite that silently
# compiles to nothing must not pass. Prints the total at the end as "N passed, N failed".
set -euo pipefail
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test "$@" 2>&1 | tee "$log" || status=$?
read -r passed failed < <(awk '/^test result: /{
    for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i }
  } END { print p + 0, f + 0 }' "$log")
echo "cargo test: ${passed} passed, ${failed} failed"
if [ "$status" -ne 0 ]; then
  exit "$status"
fi
if [ "$passed" -eq 0 ]; then
  echo "error: cargo test ran no test" >&2
  exit 1
fi
