#!/usr/bin/env bash
# bench-text.sh - the text options side by side in one run, on the 1 GiB English corpus:
#   ws        the default whitespace rule (and the same with OLD_MRCOUNT, an older build, if set)
#   unicode   --tokens unicode --fold-case, against ws (target >= 0.7x its speed)
#   ngrams    --ngrams 2 and 3 --ngram-break paragraph, against unigrams: distinct keys, peak RSS
#   ckpt      --checkpoint DIR against no checkpoint (1 x 2), and a run stopped by SIGTERM at half
#             its time then resumed, against the whole run
#   python    --tokens unicode --fold-case at 1 x 1 against bench/python/unicode_words.py
#             (str.split + casefold in the users' multiprocessing MapReduce) with --procs 1 (per
#             core), on the first PY_FILES files of the corpus (default: all of it, as the
#             issue specifies; Python then takes ~4 min and ~9 GiB) and on a non-English text
#             made of the ru/de/fr/el man pages Debian installs (manpages-ru ...), repeated to
#             NE_MIB MiB. A small PY_FILES weighs mrcount's ~0.3 s start-up (mpirun, MPI_Init)
#             against a short run: 2 files (128 MiB) gave 19.4x where the whole corpus gives 49x
# Runs are interleaved (RUNS rounds of every command; the two ws builds swap places in even
# rounds); medians; peak RSS from mrcount's metrics
# (largest rank) or peakmem.py (python).
#   usage: bench/bench-text.sh [CORPUS_DIR [RESULTS_DIR]]
# Env: MRCOUNT (default build/mrcount), OLD_MRCOUNT, MRC_SHARED (../shared), RUNS (3),
#      PARTS ("ws unicode ngrams ckpt python"), PY_FILES (all), NE_MIB (256).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CORPUS=${1:-/tmp/mrc-bench/corpus-1g}
RESULTS=${2:-$ROOT/bench/results}
MRC=${MRCOUNT:-$ROOT/build/mrcount}
SHARED=${MRC_SHARED:-$ROOT/../shared}
RUNS=${RUNS:-3}
PARTS=" ${PARTS:-ws unicode ngrams ckpt python} "
PY_FILES=${PY_FILES:-all}
NE_MIB=${NE_MIB:-256}
[ -x "$MRC" ] || { echo "bench-text.sh: no mrcount at $MRC" >&2; exit 2; }
[ -d "$CORPUS" ] || { echo "bench-text.sh: no corpus at $CORPUS (../shared/bench/make-corpus.sh)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$RESULTS"
out=$RESULTS/bench-text-$(date +%Y%m%d-%H%M%S).md
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mrc-bench-text.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mapfile -t all < <(find "$CORPUS" -maxdepth 1 -type f | sort)
if [ "$PY_FILES" = all ]; then sub=("${all[@]}"); else sub=("${all[@]:0:$PY_FILES}"); fi

has() { [[ $PARTS == *" $1 "* ]]; }
names=() cmds=()
add() { names+=("$1"); cmds+=("$2"); }
q() { [ $# -eq 0 ] || printf '%q ' "$@"; }
mrc() { # NAME NP THREADS INPUTS... -- ARGS...
    local name=$1 np=$2 th=$3 in=()
    shift 3
    while [ "$1" != -- ]; do in+=("$1"); shift; done
    shift
    add "$name" "mpirun -np $np --bind-to none $(q "$MRC") --threads $th --quiet --output $tmp/$name.tsv --metrics $tmp/$name.json $(q "$@") $(q "${in[@]}")"
}

if has ws || has unicode || has ngrams; then
    mrc ws-1x1 1 1 "$CORPUS" --
    [ -z "${OLD_MRCOUNT:-}" ] || add old-ws-1x1 "mpirun -np 1 --bind-to none $(q "$OLD_MRCOUNT") --threads 1 --quiet --output $tmp/old.tsv --metrics $tmp/old-ws-1x1.json $(q "$CORPUS")"
    mrc ws-1x2 1 2 "$CORPUS" --
fi
if has unicode; then
    mrc unicode-fold-1x1 1 1 "$CORPUS" -- --tokens unicode --fold-case
    mrc unicode-fold-1x2 1 2 "$CORPUS" -- --tokens unicode --fold-case
fi
if has ngrams; then
    mrc bigrams-1x2 1 2 "$CORPUS" -- --ngrams 2 --ngram-break paragraph
    mrc trigrams-1x2 1 2 "$CORPUS" -- --ngrams 3 --ngram-break paragraph
fi
if has ckpt; then
    has ws || mrc ws-1x2 1 2 "$CORPUS" --
    mrc ckpt-1x2 1 2 "$CORPUS" -- --checkpoint "$tmp/ckpt"
fi
if has python; then
    mrc py-sub-mrc-1x1 1 1 "${sub[@]}" -- --tokens unicode --fold-case
    add py-sub-python "python3 $(q "$ROOT/bench/python/unicode_words.py") --procs 1 $(q "${sub[@]}") >$tmp/py-sub.out"
    ne=$tmp/non-english.txt
    for lang in ru de fr el; do
        find "/usr/share/man/$lang" -name '*.gz' -print0 2>/dev/null | sort -z | xargs -0 -r zcat 2>/dev/null
    done >"$tmp/ne-one.txt"
    [ -s "$tmp/ne-one.txt" ] || { echo "bench-text.sh: no ru/de/fr/el man pages (apt-get install manpages-ru ...)" >&2; exit 2; }
    while [ "$(stat -c %s "$ne" 2>/dev/null || echo 0)" -lt $((NE_MIB << 20)) ]; do cat "$tmp/ne-one.txt" >>"$ne"; done
    mrc ne-mrc-1x1 1 1 "$ne" -- --tokens unicode --fold-case
    add ne-python "python3 $(q "$ROOT/bench/python/unicode_words.py") --procs 1 $(q "$ne") >$tmp/ne.out"
fi

declare -A times
for ((r = 1; r <= RUNS; r++)); do
    order=("${!names[@]}")
    # The first command of a round ran slower than the second, whichever build it was (5.26 vs
    # 4.37 s here, 4.13-4.30 vs 4.27-4.36 s by hand): in even rounds the old build goes first.
    if ((r % 2 == 0)) && [ "${#order[@]}" -gt 1 ] && [ "${names[1]}" = old-ws-1x1 ]; then
        order[0]=1 order[1]=0
    fi
    for i in "${order[@]}"; do
        n=${names[$i]}
        [[ $n == py-sub-python || $n == ne-python ]] && [ "$r" -gt 1 ] && continue # minutes each
        rm -rf "$tmp/ckpt"
        printf '==> round %d: %s\n' "$r" "$n" >&2
        if [[ $n == *python ]]; then
            python3 "$SHARED/bench/peakmem.py" -- bash -c "${cmds[$i]}" 2>"$tmp/$n.peak"
            t=$(grep -o 'wall [0-9.]*' "$tmp/$n.peak" | grep -o '[0-9.]*' || true)
        else
            t0=$(date +%s.%N)
            bash -c "${cmds[$i]}"
            t1=$(date +%s.%N)
            t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
        fi
        times[$n]="${times[$n]:-} $t"
    done
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
metric() { # FILE KEY: the largest value of KEY in a metrics file
    grep -o "\"$2\": *[0-9.]*" "$1" 2>/dev/null | grep -o '[0-9.]*$' | sort -g | tail -1
}
{
    printf '# bench-text %s on %s, %s cores, %s rounds (medians, runs interleaved)\n\n' "$(date -u +%FT%RZ)" "$(hostname)" "$(nproc)" "$RUNS"
    printf 'mrcount: %s (%s); corpus: %s (%s files, %s bytes)\n\n' "$MRC" "$("$MRC" --version | head -1)" "$CORPUS" "${#all[@]}" "$(cat "${all[@]}" | wc -c)"
    printf '| command | median s | MB/s | distinct keys | peak RSS MiB (largest rank / tree) |\n|---|---:|---:|---:|---:|\n'
    for n in "${names[@]}"; do
        m=$(median "${times[$n]}")
        case $n in
        py-sub-* ) bytes=$(cat "${sub[@]}" | wc -c) ;;
        ne-*) bytes=$(wc -c <"$tmp/non-english.txt") ;;
        *) bytes=$(cat "${all[@]}" | wc -c) ;;
        esac
        if [[ $n == *python ]]; then
            d=$(grep '^#distinct' "$tmp/${n%-python}.out" 2>/dev/null | cut -f2)
            rss=$(grep -o 'tree-RSS [0-9.]*' "$tmp/$n.peak" | grep -o '[0-9.]*$')
        else
            d=$(metric "$tmp/$n.json" distinct_keys)
            rss=$(( $(metric "$tmp/$n.json" peak_rss_bytes) >> 20 ))
        fi
        printf '| %s | %.2f | %.0f | %s | %s |\n' "$n" "$m" "$(awk -v b="$bytes" -v s="$m" 'BEGIN { print b / 1e6 / s }')" "$d" "$rss"
    done
    echo
    ratio() { awk -v a="$(median "${times[$1]}")" -v b="$(median "${times[$2]}")" 'BEGIN { printf "%.2f", b / a }'; }
    printf 'Ratios (speed of the first / speed of the second, from the medians):\n\n'
    [ -z "${times[old-ws-1x1]:-}" ] || printf -- '- ws-1x1 / old-ws-1x1: %s\n' "$(ratio ws-1x1 old-ws-1x1)"
    [ -z "${times[unicode-fold-1x1]:-}" ] || printf -- '- unicode-fold-1x1 / ws-1x1: %s (target >= 0.7)\n- unicode-fold-1x2 / ws-1x2: %s\n' "$(ratio unicode-fold-1x1 ws-1x1)" "$(ratio unicode-fold-1x2 ws-1x2)"
    [ -z "${times[bigrams-1x2]:-}" ] || printf -- '- bigrams-1x2 / ws-1x2: %s; trigrams-1x2 / ws-1x2: %s\n' "$(ratio bigrams-1x2 ws-1x2)" "$(ratio trigrams-1x2 ws-1x2)"
    [ -z "${times[ckpt-1x2]:-}" ] || printf -- '- ckpt-1x2 / ws-1x2: %s (checkpoint bytes written: %s)\n' "$(ratio ckpt-1x2 ws-1x2)" "$(metric "$tmp/ckpt-1x2.json" bytes_written)"
    [ -z "${times[py-sub-python]:-}" ] || printf -- '- py-sub-mrc-1x1 / py-sub-python (per core, %s files): %s (target >= 20)\n' "$PY_FILES" "$(ratio py-sub-mrc-1x1 py-sub-python)"
    [ -z "${times[ne-python]:-}" ] || printf -- '- ne-mrc-1x1 / ne-python (non-English, per core): %s\n' "$(ratio ne-mrc-1x1 ne-python)"
} | tee "$out"

if has ckpt; then
    # A stop at half the run's time (SIGTERM to mpirun, which passes it on), then the resume,
    # against the whole run's median.
    whole=$(median "${times[ws-1x2]}")
    half=$(awk -v w="$whole" 'BEGIN { printf "%.2f", w / 2 }')
    rm -rf "$tmp/ckpt"
    t0=$(date +%s.%N)
    mpirun -np 1 --bind-to none "$MRC" --threads 2 --quiet \
        --checkpoint "$tmp/ckpt" --output "$tmp/stop.tsv" "$CORPUS" &
    pid=$!
    sleep "$half"
    kill -TERM "$pid"
    rc=0
    wait "$pid" || rc=$?
    t1=$(date +%s.%N)
    mpirun -np 1 --bind-to none "$MRC" --threads 2 --quiet --checkpoint "$tmp/ckpt" \
        --output "$tmp/resumed.tsv" --metrics "$tmp/resumed.json" "$CORPUS"
    t2=$(date +%s.%N)
    same=$(cmp -s "$tmp/resumed.tsv" "$tmp/ws-1x2.tsv" && echo identical || echo DIFFERENT)
    {
        printf '\nStop and resume (1 x 2): SIGTERM at %s s (half the whole run, %s s): stopped in %.2f s (exit %s); the resume took %.2f s, skipping %s bytes; stop + resume = %.2f s = %.2fx the whole run; result %s to the whole run'"'"'s\n' \
            "$half" "$whole" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$rc" \
            "$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')" "$(metric "$tmp/resumed.json" bytes_skipped)" \
            "$(awk -v a="$t0" -v b="$t2" 'BEGIN { print b - a }')" "$(awk -v a="$t0" -v b="$t2" -v w="$whole" 'BEGIN { print (b - a) / w }')" "$same"
    } | tee -a "$out"
fi
echo "bench-text.sh: $out" >&2
