#!/usr/bin/env bash
# bench-spillz.sh - does compressing spill runs pay? A spill run is the wire format's records
# (u64 count, u32 length, key) in hash order, which puts keys in an effectively random order;
# this builds such runs from result tables ("key TAB count", as mrcount writes them), shuffled
# with a fixed seed, and measures side by side, medians of RUNS:
#   write      the run written to TMPDIR (page cache, as a spill writes it) and with fsync;
#   gzip -1    zlib's fastest level (zlib is linked already), compress and decompress;
#   zstd -1, lz4 -1   when the tools are installed: what a faster codec would give.
# A codec pays when compressing and reading back cost less than the bytes it saves would take
# to write and read: the table says MB/s of each against the write's, and the ratio.
#   usage: bench/bench-spillz.sh TABLE.tsv [TABLE.tsv ...]   (first MAX_RECS lines of each)
# Env: RUNS (3), MAX_RECS (5000000), TMPDIR (where the runs go).
set -euo pipefail
RUNS=${RUNS:-3}
MAX_RECS=${MAX_RECS:-5000000}
[ $# -ge 1 ] || { echo "usage: bench/bench-spillz.sh TABLE.tsv ..." >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mrc-spillz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
secs() { # CMD...: wall seconds of the command
    local s e
    s=$(date +%s.%N)
    "$@"
    e=$(date +%s.%N)
    echo "$e - $s" | bc -l
}

codecs=("gzip -1")
command -v zstd >/dev/null && codecs+=("zstd -1 -q")
command -v lz4 >/dev/null && codecs+=("lz4 -1 -q")

echo "# bench-spillz $(date -u +%Y-%m-%dT%H:%MZ) on $(hostname), $(nproc) cores, TMPDIR ${TMPDIR:-/tmp}, medians of $RUNS"
echo
echo "| table | records | run MB | codec | ratio | compress MB/s | decompress MB/s | write MB/s (cache / fsync) |"
echo "|---|---:|---:|---|---:|---:|---:|---:|"
for t in "$@"; do
    run=$tmp/run.bin
    python3 - "$t" "$run" "$MAX_RECS" <<'EOF'
import random, struct, sys
src, dst, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
recs = []
with open(src, 'rb') as f:
    for line in f:
        k, _, c = line.rstrip(b'\n').rpartition(b'\t')
        recs.append((k, int(c)))
        if len(recs) >= limit:
            break
random.seed(1)
random.shuffle(recs)
with open(dst, 'wb') as o:
    o.write(b''.join(struct.pack('<QI', c, len(k)) + k for k, c in recs))
EOF
    bytes=$(stat -c %s "$run")
    mb=$(echo "$bytes / 1000000" | bc -l)
    recs=$(wc -l <"$t")
    [ "$recs" -le "$MAX_RECS" ] || recs=$MAX_RECS
    wc_=() wf=()
    for _ in $(seq "$RUNS"); do
        rm -f "$tmp/w"
        wc_+=("$(secs cp "$run" "$tmp/w")")
        rm -f "$tmp/w"
        wf+=("$(secs dd if="$run" of="$tmp/w" bs=4M conv=fsync status=none)")
    done
    w1=$(printf '%s\n' "${wc_[@]}" | median)
    w2=$(printf '%s\n' "${wf[@]}" | median)
    for c in "${codecs[@]}"; do
        ct=() dt=()
        for _ in $(seq "$RUNS"); do
            ct+=("$(secs sh -c "$c -c <'$run' >'$tmp/z'")")
            read -r -a dec <<<"$c"
            dt+=("$(secs sh -c "${dec[0]} -d -c <'$tmp/z' >/dev/null")")
        done
        zb=$(stat -c %s "$tmp/z")
        printf '| %s | %s | %.0f | %s | %.2f | %.0f | %.0f | %.0f / %.0f |\n' "$(basename "$t")" "$recs" "$mb" \
            "${c% -q}" "$(echo "$bytes / $zb" | bc -l)" \
            "$(echo "$mb / $(printf '%s\n' "${ct[@]}" | median)" | bc -l)" \
            "$(echo "$mb / $(printf '%s\n' "${dt[@]}" | median)" | bc -l)" \
            "$(echo "$mb / $w1" | bc -l)" "$(echo "$mb / $w2" | bc -l)"
    done
done
