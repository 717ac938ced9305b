#!/bin/sh
# Compiles the C example of the README's "C API" section (strict C11, against include/cosell.h) so that it
# cannot rot. The example is the first ```c block after the "## C API" heading.
set -eu
cd "$(dirname "$0")/.."
out=target/c/readme
mkdir -p "$out"
awk '/^## C API/{api=1} api && /^```c$/{grab=1; next} grab && /^```$/{exit} grab{print}' README.md > "$out/readme.c"
test -s "$out/readme.c" || { echo "no C example found in README.md" >&2; exit 1; }
${CC:-cc} -std=c11 -Wall -Wextra -Wpedantic -Werror -Wno-unused-function -Iinclude -c "$out/readme.c" -o "$out/readme.o"
echo "README C example compiles"
