#!/usr/bin/env bash
# ngram_np.sh - the ngram job equals an awk oracle of the documented rule for every export
# format (v1, v2, v3; 1- and 2-grams), plain and multi-member gzip, at np 1-4 and thread counts,
# with year ranges, --value volumes, each --pos mode and --fold-case; gzip and plain inputs give
# byte-identical outputs. Data comes from the project's generator (tests/tools/gen_ngrams.c).
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"

# Corpora: per format, plain files and the same content as 3-member gzip files.
for spec in "v1 1" "v2 1" "v2 2" "v3 1" "v3 2"; do
    read -r fmt order <<<"$spec"
    gen_ngrams "$T/$fmt-$order" 1.5 --format "$fmt" --order "$order" --files 3 --seed 7
    gen_ngrams "$T/$fmt-$order-gz" 1.5 --format "$fmt" --order "$order" --files 3 --seed 7 --gzip --members 3
done

# check FMT ORDER NP ORACLE-ARGS(value ymin ymax pos fold) -- MRCOUNT-ARGS...
check() {
    local fmt=$1 order=$2 np=$3 value=$4 ymin=$5 ymax=$6 pos=$7 fold=$8
    shift 9
    local d=$T/$fmt-$order exp=$T/exp-$fmt-$order-$value-$ymin-$ymax-$pos-$fold.tsv
    [ -f "$exp" ] || ngram_oracle "$fmt" "$value" "$ymin" "$ymax" "$pos" "$fold" "$d"/* >"$exp"
    [ -s "$exp" ] || fail "oracle produced nothing for $fmt-$order $value $ymin-$ymax $pos $fold"
    local args=(--job ngram --format "$fmt" --value "$value" --year-min "$ymin" --year-max "$ymax"
        --pos "$pos" --quiet "$@")
    [ "$fold" = 0 ] || args+=(--fold-case)
    run_mrc_ok "$np" "${args[@]}" --output "$T/plain.tsv" "$d"
    assert_same "$exp" "$T/plain.tsv" "$fmt-$order np $np ${args[*]}"
    run_mrc_ok "$np" "${args[@]}" --output "$T/gz.tsv" "$d-gz"
    assert_same "$T/plain.tsv" "$T/gz.tsv" "$fmt-$order gzip vs plain, np $np ${args[*]}"
    log "ok: $fmt-$order np $np ${args[*]} ($(wc -l <"$exp") keys)"
}

for spec in "v1 1" "v2 1" "v2 2" "v3 1" "v3 2"; do
    read -r fmt order <<<"$spec"
    check "$fmt" "$order" 1 match 0 9999 keep 0 -- --threads 1
    check "$fmt" "$order" 2 match 0 9999 keep 0 -- --threads 2 --chunk-size 64k
    check "$fmt" "$order" 3 match 0 9999 keep 0 -- --threads 1 --chunk-size 16k
    check "$fmt" "$order" 4 volumes 1900 1950 keep 0 -- --threads 2 --chunk-size 100k
done
for spec in "v2 1" "v3 2"; do
    read -r fmt order <<<"$spec"
    for pos in untagged tagged strip; do
        check "$fmt" "$order" 2 match 0 9999 "$pos" 0 -- --threads 2 --chunk-size 32k
    done
    check "$fmt" "$order" 3 match 1800 2000 strip 1 -- --threads 1 --chunk-size 48k
    check "$fmt" "$order" 2 volumes 2000 2000 keep 1 -- --threads 2
done
check v1 1 2 match 1990 2008 keep 1 -- --threads 2 --chunk-size 20k

# The ngram key is the whole first column: --sort key and --top follow the same table.
run_mrc_ok 2 --job ngram --format v3 --quiet --sort key --top 50 --output "$T/top.tsv" "$T/v3-2"
sort -t "$(printf '\t')" -k1,1 "$T/exp-v3-2-match-0-9999-keep-0.tsv" >"$T/bykey.tsv"
head -n 50 "$T/bykey.tsv" >"$T/top-exp.tsv"
assert_same "$T/top-exp.tsv" "$T/top.tsv" "--sort key --top 50"
log "PASS"
