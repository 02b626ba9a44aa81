#!/usr/bin/env bash
# valgrind_runs.sh - mrcount under valgrind memcheck, single rank (MPI singleton), 2 threads:
# the words job, the ngram job on multi-member .gz exports, and --top with --sort key. Any
# invalid read or write, use of uninitialised memory, or definite leak of mrcount's own fails
# (--error-exitcode); the results must still equal the oracles. Open MPI's own start-up and
# shutdown allocations are suppressed (Open MPI's openmpi-valgrind.supp, and openmpi.supp here).
# Skips (77) without valgrind, unless MRC_REQUIRE_VALGRIND=1.
# shellcheck source-path=SCRIPTDIR source=../integration/lib.bash
source "$(dirname "$0")/../integration/lib.bash"

if ! command -v valgrind >/dev/null; then
    [ "${MRC_REQUIRE_VALGRIND:-0}" = 1 ] && fail "valgrind not installed"
    log "SKIP: valgrind not installed"
    exit 77
fi
supp=(--suppressions="$(dirname "$0")/openmpi.supp")
for f in /usr/share/openmpi/openmpi-valgrind.supp /usr/share/openmpi/openmpi-valgrind.supp.*; do
    [ -f "$f" ] && supp+=(--suppressions="$f")
done

# vg ARGS... : mrcount under memcheck, bounded in time; stderr in $T/vg.log.
vg() {
    local rc=0
    timeout -k 10 300 valgrind -q --num-callers=50 --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite --show-leak-kinds=definite "${supp[@]}" \
        "$MRCOUNT" --threads 2 --quiet "$@" 2>"$T/vg.log" </dev/null || rc=$?
    if [ "$rc" != 0 ]; then
        grep -v '^hwloc\|^May be\|^and reloading' "$T/vg.log" | head -60 >&2
        fail "valgrind run failed (status $rc): mrcount $*"
    fi
}

gen_corpus "$T/text" 0.5 --files 3 --seed 3 >/dev/null
printf 'CR\r\nNUL\0byte \xff\xfe invalid utf-8\n' >"$T/text/edge.txt"
vg --output "$T/words.tsv" --metrics "$T/words.json" "$T/text"
oracle "$T"/text/* >"$T/words.expected"
assert_same "$T/words.expected" "$T/words.tsv" "words under valgrind"

gen_ngrams "$T/ng" 0.3 --format v2 --order 2 --files 2 --seed 8 --gzip --members 2 >/dev/null
gen_ngrams "$T/ng-plain" 0.3 --format v2 --order 2 --files 2 --seed 8 >/dev/null
vg --job ngram --format v2 --output "$T/ngram.tsv" "$T/ng"
ngram_oracle v2 match 0 9999 keep 0 "$T"/ng-plain/* >"$T/ngram.expected"
assert_same "$T/ngram.expected" "$T/ngram.tsv" "ngram (.gz) under valgrind"

vg --tokens alnum --fold-case --sort key --top 100 --output "$T/top.tsv" "$T/text"
oracle --alnum --fold --sort-key "$T"/text/* >"$T/alnum.all" # --top K: the first K lines
head -n 100 "$T/alnum.all" >"$T/top.expected"
assert_same "$T/top.expected" "$T/top.tsv" "--top --sort key under valgrind"

log "OK: three runs clean under memcheck, results equal the oracles"
