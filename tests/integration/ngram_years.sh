#!/usr/bin/env bash
# ngram_years.sh - --per-year: the key is (ngram, year), written "ngram TAB year TAB count", equal
# to an awk oracle for v1, v2 and v3 exports (v3: one key per entry), plain and .gz, at np 1-3
# with small chunks, within year ranges, with --value volumes; --sort key gives every ngram's
# years in order (a time series), and --sort count orders equal counts by ngram, then year.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"
TAB=$(printf '\t')

for fmt in v1 v2 v3; do
    gen_ngrams "$T/$fmt" 1 --format "$fmt" --order 2 --files 3 --seed 17
    gen_ngrams "$T/$fmt-gz" 1 --format "$fmt" --order 2 --files 3 --seed 17 --gzip --members 2
done

# years_oracle FORMAT VALUE YMIN YMAX FILES... : per (ngram, year) sums in awk, sorted by count
# descending, then key (ngram TAB 4-digit year) bytewise.
years_oracle() {
    local fmt=$1 value=$2 ymin=$3 ymax=$4
    shift 4
    awk -F '\t' -v fmt="$fmt" -v value="$value" -v ymin="$ymin" -v ymax="$ymax" '
    function add(y, v) { if (y + 0 >= ymin && y + 0 <= ymax) c[sprintf("%s\t%04d", $1, y + 0)] += v }
    {
        if (fmt == "v3") {
            for (i = 2; i <= NF; i++) { split($i, e, ","); add(e[1], value == "match" ? e[2] : e[3]) }
        } else {
            add($2, value == "match" ? $3 : (fmt == "v1" ? $5 : $4))
        }
    }
    END { for (k in c) printf "%s\t%.0f\n", k, c[k] }' "$@" | sort -t "$TAB" -k3,3nr -k1,2
}

for fmt in v1 v2 v3; do
    for spec in "1 match 0 9999 --threads 1" "2 volumes 1900 1950 --threads 2 --chunk-size 16k" \
        "3 match 1800 2000 --threads 1 --chunk-size 8k"; do
        read -r np value ymin ymax extra <<<"$spec"
        read -r -a more <<<"$extra"
        args=(--job ngram --format "$fmt" --per-year --value "$value" --year-min "$ymin"
            --year-max "$ymax" --quiet "${more[@]}")
        years_oracle "$fmt" "$value" "$ymin" "$ymax" "$T/$fmt"/* >"$T/exp.tsv"
        [ -s "$T/exp.tsv" ] || fail "$fmt: the oracle produced nothing"
        run_mrc_ok "$np" "${args[@]}" --output "$T/out.tsv" "$T/$fmt"
        assert_same "$T/exp.tsv" "$T/out.tsv" "$fmt np $np ${args[*]}"
        run_mrc_ok "$np" "${args[@]}" --output "$T/gz.tsv" "$T/$fmt-gz"
        assert_same "$T/exp.tsv" "$T/gz.tsv" "$fmt .gz np $np ${args[*]}"
        log "ok: $fmt np $np ${args[*]} ($(wc -l <"$T/exp.tsv") keys)"
    done
done

# --sort key: ngram bytewise, then year ascending: one time series per ngram.
years_oracle v3 match 0 9999 "$T/v3"/* | sort -t "$TAB" -k1,1 -k2,2 >"$T/exp-key.tsv"
run_mrc_ok 2 --job ngram --format v3 --per-year --sort key --quiet --output "$T/out.tsv" "$T/v3"
assert_same "$T/exp-key.tsv" "$T/out.tsv" "--per-year --sort key"
awk -F '\t' 'NR > 1 && $1 == p && $2 <= y { bad = 1 } { p = $1; y = $2 } END { exit bad }' "$T/out.tsv" ||
    fail "--sort key: an ngram's years are not ascending"
log "ok: --per-year --sort key is a time series per ngram"
log "PASS"
