#!/usr/bin/env bash
# combine.sh - the three combines give one table: --reduce reduce, shuffle and auto are
# byte-identical at np 1-6 (oversubscribed) on corpora of 10, ~10^4 and 10^6 distinct keys, and
# equal to an oracle (`sort | uniq -c` for the exact-vocabulary corpora, the perl oracle for the
# text one); --output-per-rank parts, concatenated and sorted like the gathered result, equal it;
# --top K pruned per owner; the Alltoallv rounds (forced small) and the reduce's fall back to the
# shuffle (forced small buffer) give the same bytes, and mixed key lengths do not make it fall
# back; the ngram job with the shuffle; the misuse cases exit 2 and a part directory from another
# run is refused without touching it.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"

# sort_uniq FILE... : the words oracle for one-token-per-line files, from other tools.
sort_uniq() {
    cat "$@" | sort | uniq -c | awk '{ printf "%s\t%d\n", $2, $1 }' | sort -t "$(printf '\t')" -k2,2nr -k1,1
}

# Corpus "tiny": 10 keys, 50k tokens in 3 files; "mega": 10^6 distinct keys (each key k<n>
# once or twice) in 4 files; "text": generated English-like text (~10^4-10^5 keys).
mkdir -p "$T/tiny" "$T/mega"
for f in 0 1 2; do
    awk -v f="$f" 'BEGIN { for (i = 0; i < 16667; i++) print "w" ((i * 7 + f) % 10) }' >"$T/tiny/t$f.txt"
done
for f in 0 1 2 3; do
    awk -v f="$f" 'BEGIN { for (i = f; i < 1000000; i += 4) { print "k" i; if (i % 3 == 0) print "k" i } }' \
        >"$T/mega/m$f.txt"
done
gen_corpus "$T/text" 6 --files 5 --seed 21 --vocab 30000

sort_uniq "$T"/tiny/*.txt >"$T/tiny.expected"
sort_uniq "$T"/mega/*.txt >"$T/mega.expected"
oracle "$T"/text/*.txt >"$T/text.expected"
[ "$(wc -l <"$T/tiny.expected")" = 10 ] || fail "tiny corpus: expected 10 keys"
[ "$(wc -l <"$T/mega.expected")" = 1000000 ] || fail "mega corpus: expected 10^6 keys"
log "corpora: tiny 10 keys, mega $(wc -l <"$T/mega.expected") keys, text $(wc -l <"$T/text.expected") keys"

# metric FILE KEY : one value of the metrics' config object.
metric() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"][sys.argv[2]])' "$1" "$2"; }
# The output phase's parts in the metrics (METRICS NP RANGED RESULT): every rank has them, they
# add up to its output phase (between the phase's min and max over the ranks), and the exchange
# into ranges took time on every rank when RANGED is 1, none when 0; the ranks' ranges
# (output_range_lines, _bytes) add up to RESULT's lines and bytes when RANGED is 1, are 0 when 0.
output_parts() {
    python3 - "$@" <<'PY'
import json, os, sys
m, np, ranged = json.load(open(sys.argv[1])), int(sys.argv[2]), sys.argv[3] == "1"
out = m["phases"]["output"]
ranks = m["ranks"]
ok = len(ranks) == np
for r in ranks:
    x, s, w = (r["output_%s_seconds" % k] for k in ("exchange", "sort", "write"))
    total = x + s + w
    if min(x, s, w) < 0 or not out["min"] - 1e-5 <= total <= out["max"] + 1e-5 or (x > 0) != ranged:
        print("rank %d: exchange %g sort %g write %g, output phase %s" % (r["rank"], x, s, w, out))
        ok = False
lines = sum(r["output_range_lines"] for r in ranks)
size = sum(r["output_range_bytes"] for r in ranks)
with open(sys.argv[4], "rb") as f:
    want = (f.read().count(b"\n"), os.path.getsize(sys.argv[4])) if ranged else (0, 0)
if (lines, size) != want:
    print("the ranks' ranges: %d lines, %d bytes; the result's: %d, %d" % (lines, size, *want))
    ok = False
sys.exit(0 if ok else 1)
PY
}

for corpus in tiny text mega; do
    for np in 1 2 3 4 5 6; do
        [ "$corpus" = mega ] && [ "$np" = 5 ] && continue # keep the suite's time down
        for mode in reduce shuffle auto; do
            run_mrc_ok "$np" --threads 1 --quiet --reduce "$mode" --output "$T/out.tsv" \
                --metrics "$T/m.json" "$T/$corpus"
            assert_same "$T/$corpus.expected" "$T/out.tsv" "$corpus np $np --reduce $mode"
            used=$(metric "$T/m.json" reduce_used)
            case $mode in
            auto) ;;
            *) [ "$used" = "$mode" ] || fail "$corpus np $np --reduce $mode: metrics say $used" ;;
            esac
        done
        log "ok: $corpus np $np reduce = shuffle = auto (auto chose $used)"
    done
done

# The union estimate (HyperLogLog) is within 3% of the truth for 10^6 keys.
run_mrc_ok 4 --threads 1 --quiet --output "$T/out.tsv" --metrics "$T/m.json" "$T/mega"
est=$(metric "$T/m.json" union_estimate)
awk -v e="$est" 'BEGIN { exit !(e > 970000 && e < 1030000) }' || fail "union estimate $est for 10^6 keys"
log "ok: union estimate $est for 10^6 keys"

# Two threads merge a range in parallel; more threads than sub-ranges of small tables too.
run_mrc_ok 3 --threads 2 --quiet --reduce shuffle --output "$T/out.tsv" "$T/text"
assert_same "$T/text.expected" "$T/out.tsv" "np 3 x 2 threads shuffle"

oracle --sort-key "$T"/text/*.txt >"$T/text.bykey"

# --top K with the shuffle: each owner sends only its first K; the result is still the first K
# of the whole table, and the summary's distinct count is still the whole table's.
for np in 3 5; do
    for k in 1 10 1000; do
        run_mrc_ok "$np" --threads 1 --reduce shuffle --top "$k" --output "$T/out.tsv" "$T/text"
        head -n "$k" "$T/text.expected" >"$T/top.expected"
        assert_same "$T/top.expected" "$T/out.tsv" "np $np shuffle --top $k"
        assert_stderr_has " $(wc -l <"$T/text.expected") distinct" "np $np --top $k distinct count"
    done
    run_mrc_ok "$np" --threads 1 --quiet --reduce shuffle --sort key --top 25 --output "$T/out.tsv" "$T/text"
    head -n 25 "$T/text.bykey" >"$T/top.expected"
    assert_same "$T/top.expected" "$T/out.tsv" "np $np shuffle --sort key --top 25"
done
log "ok: shuffle --top K prunes per owner"

# Alltoallv in rounds: a 4 KiB round cap forces hundreds of rounds through the staging buffers.
MRC_TEST_SHUFFLE_ROUND=4096 run_mrc_ok 3 --threads 1 --quiet --reduce shuffle --output "$T/out.tsv" "$T/text"
assert_same "$T/text.expected" "$T/out.tsv" "shuffle in rounds"
log "ok: shuffle in rounds of 4 KiB"

# The output by ranges (after a shuffle, by default): a sample sort cuts the output order into
# one range per rank, each rank sorts and formats its own and writes it into the result file at
# its offset (the bytes it shares a page with another rank's go through rank 0), or rank 0
# appends them (standard output; MRC_TEST_OUTPUT_UNSHARED=N: rank N does not see the file, as a
# node-local path). Against the oracle and against rank 0's merge of the owners' streams
# (MRC_TEST_OUTPUT_MERGE=1): counts in ties, --sort key, --min-count, standard output, more
# ranks than keys (empty ranges; 10 lines, all in one page), 10^6 keys (many pages a rank),
# keys alike past the samples' 512-byte prefixes (splitters that cannot tell them apart), and a
# memory limit under which the ranks decline it (the merge then, same bytes, nothing spilled).
mkdir -p "$T/prefix"
awk 'BEGIN { p = sprintf("%600s", ""); gsub(/ /, "q", p)
    for (i = 0; i < 3000; i++) for (c = 0; c <= i % 4; c++) print p i }' >"$T/prefix/p.txt"
sort_uniq "$T/prefix/p.txt" >"$T/prefix.expected"
for np in 2 3 4; do
    for corpus in text prefix mega tiny; do
        [ "$corpus" = mega ] && [ "$np" = 4 ] && continue
        for sort in count key; do
            if [ $sort = key ]; then
                LC_ALL=C sort -t "$(printf '\t')" -k1,1 "$T/$corpus.expected" >"$T/want.tsv"
            else
                cp "$T/$corpus.expected" "$T/want.tsv"
            fi
            run_mrc_ok "$np" --threads 1 --quiet --reduce shuffle --sort $sort --output "$T/out.tsv" \
                --metrics "$T/m.json" "$T/$corpus"
            assert_same "$T/want.tsv" "$T/out.tsv" "$corpus np $np --sort $sort by ranges"
            [ "$(metric "$T/m.json" output_ranges)" = True ] || fail "$corpus np $np --sort $sort: not by ranges"
            [ "$(metric "$T/m.json" output_in_place)" = True ] || fail "$corpus np $np --sort $sort: not in place"
            output_parts "$T/m.json" "$np" 1 "$T/out.tsv" || fail "$corpus np $np --sort $sort: the output's parts: see above"
            [ "$corpus" = text ] || [ "$corpus" = mega ] || continue
            MRC_TEST_OUTPUT_UNSHARED=$((np - 1)) run_mrc_ok "$np" --threads 1 --quiet \
                --reduce shuffle --sort $sort --output "$T/out.tsv" --metrics "$T/m.json" \
                "$T/$corpus"
            assert_same "$T/want.tsv" "$T/out.tsv" "$corpus np $np --sort $sort appended"
            [ "$(metric "$T/m.json" output_in_place)" = False ] || fail "$corpus np $np: in place, not shared"
        done
    done
    leftover=$(find "$T" -maxdepth 1 -name 'out.tsv.tmp.*')
    [ -z "$leftover" ] || fail "np $np: temporaries left: $leftover"
    MRC_TEST_OUTPUT_MERGE=1 run_mrc_ok "$np" --threads 1 --quiet --reduce shuffle \
        --output "$T/out.tsv" --metrics "$T/m.json" "$T/text"
    assert_same "$T/text.expected" "$T/out.tsv" "text np $np merged on rank 0"
    [ "$(metric "$T/m.json" output_ranges)" = False ] || fail "np $np MRC_TEST_OUTPUT_MERGE=1: by ranges"
    output_parts "$T/m.json" "$np" 0 "$T/out.tsv" || fail "np $np merged on rank 0: the output's parts: see above"
    run_mrc_ok "$np" --threads 1 --quiet --reduce shuffle --min-count 3 --output - "$T/prefix"
    awk -F '\t' '$2 >= 3' "$T/prefix.expected" >"$T/want.tsv"
    assert_same "$T/want.tsv" "$T/stdout" "prefix np $np --min-count 3 to standard output"
    log "ok: np $np: the output by ranges equals the oracle and the merge on rank 0"
done
# The ranges' counting and copying passes on several threads, a slice of the table each (the
# rank's own records packed in each slice, then moved down in order): MRC_TEST_SLICE_MIN=7
# gives small tables a slice a thread; with --min-count, records left out in every slice.
for np in 2 3; do
    for corpus in text prefix mega; do
        [ "$corpus" = mega ] && [ "$np" = 3 ] && continue
        for sort in count key; do
            awk -F '\t' '$2 >= 2' "$T/$corpus.expected" >"$T/want.tsv"
            [ $sort = count ] || LC_ALL=C sort -t "$(printf '\t')" -k1,1 -o "$T/want.tsv" "$T/want.tsv"
            MRC_TEST_SLICE_MIN=7 run_mrc_ok "$np" --threads 3 --quiet --reduce shuffle --sort $sort \
                --min-count 2 --output "$T/out.tsv" --metrics "$T/m.json" "$T/$corpus"
            assert_same "$T/want.tsv" "$T/out.tsv" "$corpus np $np x 3 threads --sort $sort by ranges"
            [ "$(metric "$T/m.json" output_ranges)" = True ] || fail "$corpus np $np x 3: not by ranges"
        done
    done
done
log "ok: the ranges' passes on 3 threads a rank equal the oracle"
# A path local to each node, for real: rank 1 in a mount namespace of its own with a tmpfs over
# the output directory (as another node's /tmp) cannot find rank 0's temporary; the ranks fall
# back to rank 0 appending, and the result is whole. Needs root, unshare(1) and mpirun's MPMD.
case ${MPIRUN[0]##*/} in
mpirun | mpiexec)
    if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
        mkdir -p "$T/local"
        args=(--threads 1 --quiet --reduce shuffle --output "$T/local/out.tsv" --metrics "$T/m.json"
            "$T/mega")
        # shellcheck disable=SC2016 # $1 and $@ belong to the inner shell
        timeout -k 10 "$MRC_TIMEOUT" "${MPIRUN[@]}" 1 "$MRCOUNT" "${args[@]}" : -np 1 \
            unshare -m sh -c 'mount -t tmpfs none "$1" && shift && exec "$@"' sh "$T/local" \
            "$MRCOUNT" "${args[@]}" >"$T/stdout" 2>"$T/stderr" </dev/null ||
            fail "np 2, rank 1 on its own tmpfs: exit status $?: $(head -5 "$T/stderr")"
        assert_same "$T/mega.expected" "$T/local/out.tsv" "np 2, the output directory not shared"
        [ "$(metric "$T/m.json" output_in_place)" = False ] || fail "np 2, the output directory not shared: in place"
        [ -z "$(find "$T/local" -name 'out.tsv.tmp.*')" ] || fail "np 2, not shared: temporary left"
        log "ok: a directory rank 1 does not share: rank 0 appends its lines"
    else
        log "skipped: a directory rank 1 does not share (needs root and unshare -m)"
    fi
    ;;
esac

run_mrc_ok 2 --threads 1 --quiet --reduce shuffle --memory-limit 40M --output "$T/out.tsv" \
    --metrics "$T/m.json" "$T/mega"
assert_same "$T/mega.expected" "$T/out.tsv" "mega np 2 --memory-limit 40M"
[ "$(metric "$T/m.json" output_ranges)" = False ] || fail "mega np 2 --memory-limit 40M: by ranges"
[ "$(metric "$T/m.json" output_ranges_declined)" = True ] || fail "mega np 2 --memory-limit 40M: not declined"
python3 -c 'import json,sys; sys.exit(any(r["spill_bytes"] for r in json.load(open(sys.argv[1]))["ranks"]))' \
    "$T/m.json" || fail "mega np 2 --memory-limit 40M: spilled, so the decline is not what it tests"
log "ok: the ranks decline the output by ranges past the memory limit"

# The reduce's sketch-sized buffer made too small: the run falls back to the shuffle.
MRC_TEST_REDUCE_CAP=50000 run_mrc_ok 4 --threads 1 --quiet --reduce reduce --output "$T/out.tsv" \
    --metrics "$T/m.json" "$T/text"
assert_same "$T/text.expected" "$T/out.tsv" "reduce falling back to shuffle"
[ "$(metric "$T/m.json" reduce_fallback)" = True ] || fail "fall back not reported in the metrics"
[ "$(metric "$T/m.json" reduce_used)" = shuffle ] || fail "fall back: reduce_used is not shuffle"
assert_stderr_has "^mrcount: note: --reduce reduce ran as the shuffle: a merge outgrew the buffers sized from the sketch$" \
    "reduce falling back to shuffle"
[ "$(grep -c 'reduce ran as the shuffle' "$T/stderr")" = 1 ] || fail "fall back: not one note"
log "ok: too-small reduce buffer falls back to the shuffle, and says so once"

# Short keys on every rank, long ones each on one rank: the union's bytes are not the distinct
# keys times the mean record of all ranks (which counts a shared key once per rank), so the
# reduce's sketch-sized buffer fits, with no fall back (it fell back before the priority sample).
mkdir -p "$T/mixed"
awk 'BEGIN { for (b = 0; b < 8; b++) { for (i = 0; i < 5000; i++) printf "s%04d\n", i
    for (j = 0; j < 50; j++) { printf "L%d_%d_", b, j; n = 200 + (j * 37 + b * 11) % 1000
        for (k = 0; k < n; k++) printf "p"; printf "\n" } } }' >"$T/mixed/mixed.txt"
sort_uniq "$T/mixed/mixed.txt" >"$T/mixed.expected"
for np in 2 3; do
    run_mrc_ok "$np" --threads 1 --quiet --chunk-size 64k --reduce reduce --output "$T/out.tsv" \
        --metrics "$T/m.json" "$T/mixed"
    assert_same "$T/mixed.expected" "$T/out.tsv" "np $np mixed key lengths"
    [ "$(metric "$T/m.json" reduce_fallback)" = False ] || fail "np $np mixed key lengths: fell back"
done
log "ok: mixed key lengths: the reduce's buffer fits the union"

# --output-per-rank: one part per rank plus a manifest; the parts sorted like the gathered
# result are that result, byte for byte; the key sort too.
for np in 1 3 4; do
    rm -rf "$T/parts"
    run_mrc_ok "$np" --threads 1 --quiet --output-per-rank "$T/parts" "$T/text"
    [ "$(find "$T/parts" -name 'part-*.tsv' | wc -l)" = "$np" ] || fail "np $np: expected $np parts"
    [ -s "$T/parts/manifest.json" ] || fail "np $np: no manifest"
    sort -t "$(printf '\t')" -k2,2nr -k1,1 "$T"/parts/part-*.tsv >"$T/merged.tsv"
    assert_same "$T/text.expected" "$T/merged.tsv" "np $np parts merged"
    python3 - "$T/parts" "$np" "$(wc -l <"$T/text.expected")" <<'PY' || fail "np $np: manifest"
import json, os, sys
d, np, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
m = json.load(open(os.path.join(d, "manifest.json")))
assert m["ranks"] == np and len(m["parts"]) == np, m
assert m["distinct_keys"] == keys, (m["distinct_keys"], keys)
for p in m["parts"]:
    lines = sum(1 for _ in open(os.path.join(d, p["path"]), "rb"))
    assert lines == p["keys"], (p, lines)
PY
    log "ok: np $np --output-per-rank parts merge to the result"
done
# --min-count: each part's key count is the lines it holds; the manifest says what was dropped.
rm -rf "$T/parts"
run_mrc_ok 3 --threads 1 --quiet --min-count 2 --output-per-rank "$T/parts" "$T/text"
python3 - "$T/parts" "$(wc -l <"$T/text.expected")" \
    "$(awk -F '\t' '$2 >= 2' "$T/text.expected" | wc -l)" <<'PY' || fail "--min-count manifest"
import json, os, sys
d, distinct, kept = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
m = json.load(open(os.path.join(d, "manifest.json")))
assert m["distinct_keys"] == distinct and m["min_count_dropped"] == distinct - kept, m
assert sum(p["keys"] for p in m["parts"]) == kept, m
for p in m["parts"]:
    lines = sum(1 for _ in open(os.path.join(d, p["path"]), "rb"))
    assert lines == p["keys"], (p, lines)
PY
log "ok: --min-count parts: the manifest counts the lines each holds"
rm -rf "$T/parts"
run_mrc_ok 3 --threads 1 --quiet --sort key --output-per-rank "$T/parts" "$T/text"
sort "$T"/parts/part-*.tsv >"$T/merged.tsv"
assert_same "$T/text.bykey" "$T/merged.tsv" "--sort key parts merged"
# Each part is itself sorted as asked.
for p in "$T"/parts/part-*.tsv; do sort -c "$p" || fail "$p is not sorted by key"; done

# A directory holding parts of another run is refused, left as it was, exit 1, before the map
# (a failure injected into rank 1's map is not the one reported).
before=$(cd "$T/parts" && md5sum ./*)
MRC_FAULT=1:map run_mrc 2 --threads 1 --quiet --output-per-rank "$T/parts" "$T/text"
[ "$RC" = 1 ] || fail "existing parts: exit $RC, expected 1"
assert_stderr_has "parts: holds (part-0000[0-9].tsv|manifest.json) from another run" "existing parts"
[ "$(cd "$T/parts" && md5sum ./*)" = "$before" ] || fail "existing parts were changed"
# A directory whose parent does not exist: refused before the map, nothing made.
MRC_FAULT=1:map run_mrc 2 --quiet --output-per-rank "$T/no-such-dir/parts" "$T/text"
assert_status 1 "--output-per-rank under a missing directory"
assert_one_error "no-such-dir/parts: No such file or directory" "--output-per-rank, missing parent"

# Misuse: per-rank output with --top, --reduce reduce or --output (even -, the default) is exit 2.
for clash in "--top 5" "--reduce reduce" "--output $T/x.tsv" "--output -"; do
    # shellcheck disable=SC2086 # the clash is two words on purpose
    run_mrc 1 --output-per-rank "$T/p2" $clash "$T/text"
    [ "$RC" = 2 ] || fail "--output-per-rank $clash: exit $RC, expected 2"
    assert_stderr_has "excludes" "--output-per-rank $clash"
    [ ! -e "$T/p2" ] || fail "--output-per-rank $clash created the directory"
done
log "ok: per-rank misuse and stale parts refused"

# The ngram job combines the same way (its keys hold spaces; values are year sums).
NG=$MRC_BUILD_DIR/tests/gen_ngrams
if [ -x "$NG" ]; then
    "$NG" "$T/ng" 4 --format v2 --files 3 --seed 5 --order 2
    awk -F '\t' '{ c[$1] += $3 } END { for (k in c) printf "%s\t%.0f\n", k, c[k] }' "$T"/ng/* |
        sort -t "$(printf '\t')" -k2,2nr -k1,1 >"$T/ng.expected"
    for np in 2 5; do
        for mode in reduce shuffle; do
            run_mrc_ok "$np" --threads 1 --quiet --job ngram --reduce "$mode" --output "$T/out.tsv" "$T/ng"
            assert_same "$T/ng.expected" "$T/out.tsv" "ngram np $np --reduce $mode"
        done
    done
    log "ok: ngram job, reduce = shuffle = awk"
else
    fail "gen_ngrams not built at $NG"
fi
