#!/bin/sh
# Prints the system libraries a program linking libcosell.a statically also needs (what rustc reports as
# native-static-libs), for cosell.pc's Libs.private.
set -eu
cd "$(dirname "$0")/.."
cargo rustc -q --release -p cosell-ffi --crate-type staticlib -- --print native-static-libs 2>&1 \
  | sed -n 's/.*native-static-libs: //p' | head -1
