#!/usr/bin/env bash
# words_ngrams.sh - word n-grams of the byte rules (--ngrams N, --ngram-break) give one exact
# table whatever the ranks, threads and chunk size: generated English text plus hand-made
# files with blank lines of spaces and tabs, CRLF, and lines of punctuation, at np 1, 2 and 3
# with 4 KiB chunks (the smallest: split and piece boundaries fall everywhere), against the perl
# oracle of lib.bash; the metrics name the options.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"

D=$T/data
mkdir -p "$D"
gen_corpus "$D" 0.6 --files 2 --seed 5 --vocab 3000 >/dev/null
{
    for i in $(seq 1 400); do
        printf 'Line %d has a few words.\r\n' "$i"
        [ $((i % 7)) = 0 ] && printf ' \t\n'
        [ $((i % 11)) = 0 ] && printf '\n-- --\n\n\n'
        [ $((i % 13)) = 0 ] && printf 'don'"'"'t stop; DON'"'"'T STOP\n\f\n'
    done
    printf 'no final newline'
} >"$D/hand.txt"
: >"$D/empty.txt"
printf 'one two\n' >"$D/short.txt"
files=("$D"/*)

# check NP ORACLE_ARGS -- MRCOUNT_ARGS... : one run against the oracle
check() {
    local np=$1 oargs=()
    shift
    while [ "$1" != -- ]; do
        oargs+=("$1")
        shift
    done
    shift
    oracle "${oargs[@]}" "${files[@]}" >"$T/expected.tsv"
    [ -s "$T/expected.tsv" ] || fail "oracle ${oargs[*]}: nothing"
    run_mrc_ok "$np" --quiet --output "$T/out.tsv" --metrics "$T/m.json" "$@" "${files[@]}"
    assert_same "$T/expected.tsv" "$T/out.tsv" "np $np $*"
    log "ok: np $np $* ($(wc -l <"$T/expected.tsv") keys)"
}

for np in 1 2 3; do
    check "$np" --ngrams 2 -- --ngrams 2 --chunk-size 4k
    check "$np" --ngrams 3 --break paragraph --fold -- --ngrams 3 --ngram-break paragraph \
        --fold-case --chunk-size 4k --threads 2
    check "$np" --alnum --ngrams 5 --break none -- --tokens alnum --ngrams 5 --ngram-break none \
        --chunk-size 4k
    check "$np" --alnum --fold --ngrams 2 --break paragraph -- --tokens alnum --fold-case --ngrams 2 \
        --ngram-break paragraph --chunk-size 4k --schedule dynamic
done
check 2 --ngrams 9 --break none -- --ngrams 9 --ngram-break none --chunk-size 4k --reduce shuffle

# the metrics: the options as set, tokens as many as with single tokens
python3 - "$T/m.json" <<'PY' || fail "metrics of an n-gram run"
import json, sys
m = json.load(open(sys.argv[1]))
c = m["config"]
assert c["ngrams"] == 9 and c["ngram_break"] == "none" and c["tokens"] == "whitespace", c
assert "unicode_version" not in c, c
assert m["invalid_utf8_bytes"] == 0, m
PY
oracle "${files[@]}" >"$T/unigrams.tsv"
tokens=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tokens"])' "$T/m.json")
[ "$tokens" = "$(total_of "$T/unigrams.tsv")" ] || fail "tokens $tokens, the oracle's $(total_of "$T/unigrams.tsv")"
log "ok: metrics"

# bad values are usage errors
run_mrc 1 --ngrams 10 "${files[@]}"
assert_status 2 "--ngrams 10"
assert_one_error "ngrams" "--ngrams 10"
run_mrc 1 --normalize nfc "${files[@]}"
assert_status 2 "--normalize without --tokens unicode"
assert_one_error "--normalize" "--normalize without --tokens unicode"
log "PASS"
