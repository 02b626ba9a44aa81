#!/usr/bin/env bash
# bench-unicode.sh - throughput of the --tokens unicode scanner and key builder (src/map/unicode.c)
# against a plain ASCII-whitespace byte scan and the words job, and against ICU's equivalents
# when libicu-dev is installed (it is not a dependency: only this measurement uses it).
#   bench/bench-unicode.sh BUILD_DIR FILE [REPS]     (BUILD_DIR: a Release build of mrcount)
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: bench/bench-unicode.sh BUILD_DIR FILE [REPS]" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(cd "$1" && pwd)
bin=$(mktemp "${TMPDIR:-/tmp}/bench_unicode.XXXXXX")
trap 'rm -f "$bin"' EXIT
icu=()
if pkg-config --exists icu-uc; then
    read -r -a icu <<<"-DWITH_ICU $(pkg-config --cflags --libs icu-uc)"
fi
read -r -a libs <<<"$(pkg-config --libs libutf8proc hwloc libxxhash zlib) $(pkg-config --libs libisal 2>/dev/null || true)"
cc -std=c11 -O3 -D_GNU_SOURCE -I"$HERE/../include" -I"$HERE/../src/map" \
    "$HERE/unicode/bench_unicode.c" -o "$bin" "$BUILD/libmrc_core.a" \
    "${libs[@]}" -lpthread -lm "${icu[@]}"
"$bin" "$2" "${3:-5}" ${4:+"$4"}
