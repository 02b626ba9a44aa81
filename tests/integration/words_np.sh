#!/usr/bin/env bash
# words_np.sh - the words job gives one exact table whatever the ranks, threads, chunk size,
# schedule and combine: ~8 MiB of generated text in files, a directory and a nested directory,
# at np 1-4 (oversubscribed on small machines) x --threads 1-3, compared byte for byte with the
# perl oracle; the token total of an ASCII-only file equals `LC_ALL=C wc -w`.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"

D=$T/data
mkdir -p "$D/sub/nested"
gen_corpus "$T/gen" 7 --files 7 --seed 11
mv "$T/gen/part0000.txt" "$T/gen/part0001.txt" "$D/"
mv "$T/gen/part0002.txt" "$T/gen/part0003.txt" "$T/gen/part0004.txt" "$D/sub/"
mv "$T/gen/part0005.txt" "$T/gen/part0006.txt" "$D/sub/nested/"
gen_corpus "$T/ascii" 1 --files 1 --seed 12 --ascii
mv "$T/ascii/part0000.txt" "$D/sub/nested/ascii.txt"

mapfile -t files < <(find "$D" -type f | sort)
[ "${#files[@]}" = 8 ] || fail "corpus setup: expected 8 files, found ${#files[@]}"
oracle "${files[@]}" >"$T/expected.tsv"
[ -s "$T/expected.tsv" ] || fail "oracle produced nothing"
log "corpus: $(du -sh "$D" | cut -f1), $(wc -l <"$T/expected.tsv") distinct, $(total_of "$T/expected.tsv") tokens"

# check NP ARGS... : one run over the whole corpus directory must equal the oracle.
check() {
    local np=$1
    shift
    run_mrc_ok "$np" --quiet --output "$T/out.tsv" "$@" "$D"
    assert_same "$T/expected.tsv" "$T/out.tsv" "np $np $*"
    log "ok: np $np $*"
}

for np in 1 2 3 4; do
    for th in 1 2 3; do
        if [ "$np$th" = 11 ]; then
            check 1 --threads 1 --metrics "$T/m11.json" # the default chunk size, adapted
        else
            check "$np" --threads "$th" --chunk-size 512k
        fi
    done
done
check 2 --threads 2 --chunk-size 4k
# Most of those tokens were counted in the table's hot front (the frequent words, one cache line
# each) and still came out exact: the front is in use, not only there.
python3 - "$T/m11.json" <<'PY' || fail "the hot front: see above"
import json, sys
m = json.load(open(sys.argv[1]))
hot = m["ranks"][0]["hot_front_records"]
if not m["tokens"] / 2 < hot <= m["tokens"]:
    sys.exit("hot_front_records %d of %d tokens" % (hot, m["tokens"]))
PY
log "ok: np 1 x 1 counted most tokens in the hot front"
check 3 --threads 2 --chunk-size 256k --reduce reduce

# The default chunk size adapts: ~16 splits per rank within [1 MiB, 64 MiB], so a small corpus
# still gives every one of 4 ranks a share (64 MiB splits would leave ranks idle).
run_mrc_ok 4 --threads 1 --quiet --output "$T/out.tsv" --metrics "$T/m.json" "$D"
assert_same "$T/expected.tsv" "$T/out.tsv" "np 4, default chunk size"
total=$(cat "${files[@]}" | wc -c)
python3 - "$T/m.json" "$total" <<'PY' || fail "default chunk size: see above"
import json, sys
m, total = json.load(open(sys.argv[1])), int(sys.argv[2])
want = min(max((total // (4 * 16) + 1 + 65535) // 65536 * 65536, 1 << 20), 64 << 20)
got = m["config"]["chunk_size"]
idle = [r["rank"] for r in m["ranks"] if r["bytes"] == 0]
if got != want or idle:
    sys.exit("chunk_size %d (want %d), idle ranks %s" % (got, want, idle))
PY
log "ok: np 4 default chunk size adapts, every rank maps"

# The bytes a run reports (metrics, summary, progress) are its input's, however its splits cut
# it: a split reads on to its last token's end and the next one back to its first's start, and
# those bytes read twice are not input (one 300 kB token cut into 4 k splits was counted ~2x).
head -c 300000 /dev/zero | tr '\0' 'x' >"$T/long-token.txt"
echo " y" >>"$T/long-token.txt"
for np in 1 3; do
    run_mrc_ok "$np" --threads 2 --chunk-size 4k --output "$T/long.tsv" --metrics "$T/m.json" \
        "$T/long-token.txt" "$D"
    total=$(cat "$T/long-token.txt" "${files[@]}" | wc -c)
    python3 - "$T/m.json" "$total" <<'PY' || fail "np $np: the bytes reported: see above"
import json, sys
m, total = json.load(open(sys.argv[1])), int(sys.argv[2])
ranks = sum(r["bytes"] for r in m["ranks"])
if m["bytes_read"] != total or ranks != total:
    sys.exit("bytes_read %d, ranks' bytes %d, input %d" % (m["bytes_read"], ranks, total))
PY
    grep -q ", $(awk -v b="$total" 'BEGIN { printf "%.1f", b / 1e6 }') MB," "$T/stderr" ||
        fail "np $np: the summary does not give the input's $total bytes: $(cat "$T/stderr")"
done
log "ok: the bytes reported are the input's (np 1 and 3, 4 k splits, a 300 kB token)"

# Default --output is standard output, forwarded by mpirun unchanged.
run_mrc_ok 2 --threads 1 --chunk-size 1M "$D"
assert_same "$T/expected.tsv" "$T/stdout" "np 2 --output - (default)"
log "ok: np 2 to standard output"

# On printable ASCII text, wc -w and the words rule agree on the total.
run_mrc_ok 2 --threads 2 --chunk-size 64k --quiet --output "$T/ascii.tsv" "$D/sub/nested/ascii.txt"
want=$(wc -w <"$D/sub/nested/ascii.txt" | tr -d ' ')
got=$(total_of "$T/ascii.tsv")
[ "$got" = "$want" ] || fail "ASCII total: mrcount $got tokens, wc -w $want"
log "ok: ASCII total $got = wc -w"

# The combine's path for tables past 2 GiB (the buffer as a vector of blocks), forced small.
export MRC_TEST_REDUCE_BLOCK=4096
check 3 --threads 1 --chunk-size 256k
check 4 --threads 2
unset MRC_TEST_REDUCE_BLOCK
log "PASS"
