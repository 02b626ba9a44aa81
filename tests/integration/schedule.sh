#!/usr/bin/env bash
# schedule.sh - --schedule dynamic (ranks pull splits from an RMA counter on rank 0) gives the
# same bytes as static and as the perl oracle: ~6 MiB of generated text at np 1-5 x --threads 1-2
# x chunk sizes 64k, 1M and the default; a skewed input (one 24 MiB file, plain and .gz, among 40
# tiny ones) where the metrics show several ranks mapping and every split mapped exactly once;
# and ngram input with bad records, whose report (stderr and metrics) matches static's.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"

# splits_mapped METRICS : "total busy_ranks" from the per-rank splits_mapped of a run.
splits_mapped() {
    python3 -c '
import json, sys
n = [r["splits_mapped"] for r in json.load(open(sys.argv[1]))["ranks"]]
print(sum(n), sum(1 for k in n if k > 0))
' "$1"
}

# --- the words corpus at every rank count, thread count and chunk size -------------------------
D=$T/words
gen_corpus "$D" 6 --files 9 --seed 21
oracle "$D"/*.txt >"$T/expected.tsv"
[ -s "$T/expected.tsv" ] || fail "oracle produced nothing"
log "corpus: $(du -sh "$D" | cut -f1), $(wc -l <"$T/expected.tsv") distinct"

for np in 1 2 3 4 5; do
    for th in 1 2; do
        for chunk in 64k 1M default; do
            args=(--threads "$th")
            [ "$chunk" = default ] || args+=(--chunk-size "$chunk")
            run_mrc_ok "$np" --quiet --schedule static --output "$T/static.tsv" "${args[@]}" "$D"
            run_mrc_ok "$np" --quiet --schedule dynamic --output "$T/dynamic.tsv" \
                --metrics "$T/m.json" "${args[@]}" "$D"
            what="np $np threads $th chunk $chunk"
            assert_same "$T/static.tsv" "$T/dynamic.tsv" "dynamic vs static, $what"
            assert_same "$T/expected.tsv" "$T/dynamic.tsv" "dynamic vs oracle, $what"
            grep -q '"schedule": "dynamic"' "$T/m.json" || fail "$what: metrics do not say dynamic"
        done
    done
    log "ok: dynamic = static = oracle at np $np, threads 1-2, chunk 64k/1M/default"
done

# --- skewed: one big file among many tiny ones -------------------------------------------------
S=$T/skew
gen_corpus "$T/big" 24 --files 1 --seed 31
gen_corpus "$S" 0.2 --files 40 --seed 32
mv "$T/big/part0000.txt" "$S/big.txt"
oracle "$S"/*.txt >"$T/skew-expected.tsv"
SG=$T/skew-gz # the same bytes with the big file compressed: one split only one thread can map
mkdir -p "$SG"
cp "$S"/part*.txt "$SG/"
gzip -1 -c "$S/big.txt" >"$SG/big.txt.gz"

for dir in "$S" "$SG"; do
    for np in 2 3; do
        what="skewed $(basename "$dir") np $np"
        run_mrc_ok "$np" --quiet --threads 1 --schedule static --output "$T/static.tsv" \
            --metrics "$T/ms.json" "$dir"
        run_mrc_ok "$np" --quiet --threads 1 --schedule dynamic --output "$T/dynamic.tsv" \
            --metrics "$T/md.json" "$dir"
        assert_same "$T/skew-expected.tsv" "$T/static.tsv" "$what, static vs oracle"
        assert_same "$T/skew-expected.tsv" "$T/dynamic.tsv" "$what, dynamic vs oracle"
        read -r total_s busy_s <<<"$(splits_mapped "$T/ms.json")"
        read -r total_d busy_d <<<"$(splits_mapped "$T/md.json")"
        [ "$total_d" = "$total_s" ] || fail "$what: dynamic mapped $total_d splits, static $total_s"
        [ "$busy_d" -ge 2 ] || fail "$what: only $busy_d rank(s) mapped splits under dynamic"
        log "ok: $what: same result, $total_d splits over $busy_d ranks (static: $busy_s)"
    done
done

# --- ngram with bad records: the same report as static -----------------------------------------
N=$T/ngram
mkdir -p "$N"
"$MRC_BUILD_DIR/tests/gen_ngrams" "$T/ng" 1.5 --files 3 --seed 41
mapfile -t ngfiles < <(find "$T/ng" -type f | sort)
[ "${#ngfiles[@]}" = 3 ] || fail "gen_ngrams: expected 3 files, found ${#ngfiles[@]}"
# Every 997th line of the first two files broken in a way of its own, so each file has more bad
# records than the report's first samples and they lie in many splits.
for i in 0 1; do
    awk 'NR % 997 == 0 { print (NR % 3 == 0 ? "cat\t19x9\t5\t1" : "cat\t1999\t-5\t1"); next } { print }' \
        "${ngfiles[$i]}" >"$N/bad$i.tsv"
done
cp "${ngfiles[2]}" "$N/good.tsv"
gzip -c "$N/bad1.tsv" >"$N/bad1-copy.tsv.gz"

bad_lines() { grep -E 'malformed records|^mrcount:   ' "$T/stderr" || true; }
for spec in "2 1 16k" "3 2 8k" "4 1 64k"; do
    read -r np th chunk <<<"$spec"
    what="ngram np $np threads $th chunk $chunk"
    run_mrc_ok "$np" --job ngram --threads "$th" --chunk-size "$chunk" --schedule static \
        --output "$T/static.tsv" --metrics "$T/ms.json" "$N"
    bad_lines >"$T/static.bad"
    grep -q 'malformed records skipped in 3 files' "$T/static.bad" || fail "$what: no bad-record report"
    run_mrc_ok "$np" --job ngram --threads "$th" --chunk-size "$chunk" --schedule dynamic \
        --output "$T/dynamic.tsv" --metrics "$T/md.json" "$N"
    bad_lines >"$T/dynamic.bad"
    assert_same "$T/static.tsv" "$T/dynamic.tsv" "$what: result"
    assert_same "$T/static.bad" "$T/dynamic.bad" "$what: bad-record report on stderr"
    for m in ms md; do
        python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["bad_records"]))' \
            "$T/$m.json" >"$T/$m.bad.json"
    done
    assert_same "$T/ms.bad.json" "$T/md.bad.json" "$what: bad records in the metrics"
    log "ok: $what: same result and bad-record report as static"
done
log "PASS"
