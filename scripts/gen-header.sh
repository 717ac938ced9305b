#!/bin/sh
# Writes include/cosell.h (or the file given as $1) from ffi/src with the pinned cbindgen, and adds the version
# macros from the crate version in Cargo.toml (the one source of truth for the version).
set -eu
cd "$(dirname "$0")/.."
out="${1:-include/cosell.h}"
cbindgen="${CBINDGEN:-cbindgen}"
version=$(cargo pkgid -p cosell-ffi | sed 's/.*[#@]//')
major=$(echo "$version" | cut -d. -f1)
minor=$(echo "$version" | cut -d. -f2)
patch=$(echo "$version" | cut -d. -f3 | sed 's/[^0-9].*//')
number=$((major * 1000000 + minor * 1000 + patch))
config=$(mktemp)
trap 'rm -f "$config"' EXIT
cat > "$config" <<TOML
after_includes = """

/* The version of this header; compare COSELL_VERSION_NUMBER with cosell_version_number() at run time. */
#define COSELL_VERSION "$version"
#define COSELL_VERSION_MAJOR $major
#define COSELL_VERSION_MINOR $minor
#define COSELL_VERSION_PATCH $patch
#define COSELL_VERSION_NUMBER $number

#if defined(__GNUC__) || defined(__clang__)
#define COSELL_MUST_USE __attribute__((warn_unused_result))
#else
#define COSELL_MUST_USE
#endif"""
TOML
cat ffi/cbindgen.toml >> "$config"
"$cbindgen" --quiet --config "$config" --crate cosell-ffi --output "$out" ffi
