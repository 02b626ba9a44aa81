#!/usr/bin/env bash
# ngram_errors.sh - the ngram job is honest about bad input: every malformed-record kind is
# skipped and counted (the summary and metrics give the count per file and the first lines,
# right whatever the ranks and split sizes), --strict makes the first one fatal naming the
# file and line, and a wrong --format, a truncated, corrupt or fake .gz, and a 64-bit overflow
# (in a rank or across ranks) each end the run with exit 1, a message naming the file or key,
# and no result file.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"

D=$T/data
mkdir -p "$D" "$T/out"
TAB=$(printf '\t')

# A v2 file: 3000 good lines with bad lines of every kind at known line numbers.
good_line() { printf 'w%04d\t%d\t%d\t%d\n' "$(($1 % 97))" "$((1900 + $1 % 100))" "$(($1 % 13 + 1))" 1; }
declare -A bad_at=(
    [7]="cat${TAB}1999${TAB}5"                        # missing columns
    [120]="cat${TAB}1999${TAB}5${TAB}1${TAB}9"        # too many columns
    [555]="${TAB}1999${TAB}5${TAB}1"                  # empty ngram
    [900]="cat${TAB}19x9${TAB}5${TAB}1"               # year is not a number
    [1400]="cat${TAB}12345${TAB}5${TAB}1"             # year outside 0-9999
    [1401]="cat${TAB}-3${TAB}5${TAB}1"                # year outside 0-9999
    [1800]="cat${TAB}1999${TAB}five${TAB}1"           # count is not a number
    [2100]="cat${TAB}1999${TAB}-5${TAB}1"             # negative count
    [2500]="cat${TAB}1999${TAB}18446744073709551616${TAB}1" # count over 2^64-1
    [2999]=""                                         # an empty line: missing columns
)
for i in $(seq 1 3000); do
    if [ -n "${bad_at[$i]+set}" ]; then printf '%s\n' "${bad_at[$i]}"; else good_line "$i"; fi
done >"$D/bad-v2.tsv"
for i in $(seq 1 3000); do [ -n "${bad_at[$i]+set}" ] || good_line "$i"; done >"$T/good-v2.tsv"
# A v3 file: bad entries on lines 3, 4, 5 and 40.
{
    printf 'alpha\t1990,3,1\t1991,4,2\n'
    printf 'beta\t2000,1,1\n'
    printf 'gamma\t2000,1\n'                  # entry is not year,match,volumes
    printf 'delta\t2000,1,1,1\n'              # entry is not year,match,volumes
    printf 'eps\t2000,1,1\t\n'                # empty entry
    for i in $(seq 6 39); do printf 'k%02d\t19%02d,%d,1\n' "$i" "$i" "$i"; done
    printf 'zeta\t2000,x,1\n'                 # count is not a number
    printf 'alpha\t2001,10,5\n'
} >"$D/bad-v3.tsv"
grep -v -e '^gamma' -e '^delta' -e '^eps' -e '^zeta' "$D/bad-v3.tsv" >"$T/good-v3.tsv"

v2_oracle() { awk -F '\t' '{ c[$1] += $3 } END { for (k in c) printf "%s\t%d\n", k, c[k] }' "$@" | sort -t "$TAB" -k2,2nr -k1,1; }
v3_oracle() { awk -F '\t' '{ for (i = 2; i <= NF; i++) { split($i, e, ","); c[$1] += e[2] } } END { for (k in c) printf "%s\t%d\n", k, c[k] }' "$@" | sort -t "$TAB" -k2,2nr -k1,1; }
v2_oracle "$T/good-v2.tsv" >"$T/exp-v2.tsv"
v3_oracle "$T/good-v3.tsv" >"$T/exp-v3.tsv"

# bad_report METRICS : "path count line:cause,line:cause..." per file with bad records.
bad_report() {
    python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))["bad_records"]
tot = 0
for f in m["files"]:
    tot += f["count"]
    print(f["path"].rsplit("/", 1)[-1], f["count"], ",".join("%d:%s" % (s["line"], s["cause"]) for s in f["first"]))
print("total", m["total"], tot)
' "$1"
}
cat >"$T/exp-report" <<'EXP'
bad-v2.tsv 10 7:missing columns,120:too many columns,555:empty ngram,900:year is not a number,1400:year outside 0-9999
total 10 10
EXP
cat >"$T/exp-report-v3" <<'EXP'
bad-v3.tsv 4 3:entry is not year,match,volumes,4:entry is not year,match,volumes,5:entry is not year,match,volumes,40:count is not a number
total 4 4
EXP

for spec in "1 1 64M" "2 2 8k" "3 1 4k" "4 2 6k"; do
    read -r np th chunk <<<"$spec"
    run_mrc_ok "$np" --job ngram --threads "$th" --chunk-size "$chunk" --output "$T/out.tsv" \
        --metrics "$T/m.json" "$D/bad-v2.tsv"
    assert_same "$T/exp-v2.tsv" "$T/out.tsv" "v2 with bad records, np $np chunk $chunk"
    assert_stderr_has "warning: 10 malformed records skipped in 1 file$" "v2 summary, np $np"
    assert_stderr_has "bad-v2.tsv:7: missing columns; .*bad-v2.tsv:120: too many columns" "v2 first lines, np $np"
    bad_report "$T/m.json" >"$T/report"
    assert_same "$T/exp-report" "$T/report" "v2 bad-record metrics, np $np chunk $chunk"
    run_mrc_ok "$np" --job ngram --format v3 --threads "$th" --chunk-size "$chunk" \
        --output "$T/out3.tsv" --metrics "$T/m3.json" "$D/bad-v3.tsv"
    assert_same "$T/exp-v3.tsv" "$T/out3.tsv" "v3 with bad records, np $np"
    bad_report "$T/m3.json" >"$T/report3"
    assert_same "$T/exp-report-v3" "$T/report3" "v3 bad-record metrics, np $np chunk $chunk"
    log "ok: bad records counted and located at np $np, $th threads, chunk $chunk"
done
gzip -c "$D/bad-v2.tsv" >"$T/bad-v2.tsv.gz"
run_mrc_ok 2 --job ngram --output "$T/out.tsv" --metrics "$T/m.json" "$T/bad-v2.tsv.gz"
assert_same "$T/exp-v2.tsv" "$T/out.tsv" "gzip v2 with bad records"
bad_report "$T/m.json" | sed 's/\.gz / /' >"$T/report"
assert_same "$T/exp-report" "$T/report" "gzip bad-record metrics"
log "ok: bad records in a .gz file"

# --strict: the first bad record is fatal, named by file and line, no result left.
# Only line 2100 is bad; the file is cut in 4k splits across 3 ranks, so the line is found in a
# piece far from the file's start.
{ for i in $(seq 1 3000); do if [ "$i" = 2100 ]; then printf 'cat\t1999\t-5\t1\n'; else good_line "$i"; fi; done; } >"$D/one-bad.tsv"
run_mrc 3 --job ngram --strict --chunk-size 4k --output "$T/out/r.tsv" "$D/one-bad.tsv"
[ "$RC" = 1 ] || fail "--strict: exit $RC, expected 1"
assert_stderr_has "one-bad.tsv:2100: negative count" "--strict names file:line"
[ -z "$(find "$T/out" -mindepth 1)" ] || fail "--strict left a result behind"
log "ok: --strict"

# A file of another format among the first lines: exit 1 naming file and line.
printf 'cat\t1999,5,2\t2000,7,3\n' >"$D/v3.tsv"
run_mrc 2 --job ngram --format v2 --output "$T/out/r.tsv" "$D/v3.tsv"
[ "$RC" = 1 ] || fail "v3 read as v2: exit $RC, expected 1"
assert_stderr_has "v3.tsv:1: looks like an ngram v3 export, not v2" "wrong format named"
printf 'cat\t1999\t5\t3\t2\n' >"$D/v1.tsv"
run_mrc 2 --job ngram --format v2 --output "$T/out/r.tsv" "$D/v1.tsv"
[ "$RC" = 1 ] || fail "v1 read as v2: exit $RC, expected 1"
assert_stderr_has "v1.tsv:1: looks like an ngram v1 export, not v2" "wrong format named (v1)"
[ -z "$(find "$T/out" -mindepth 1)" ] || fail "a wrong format left a result behind"
# Also when the line is past the first split or piece: three 1500-byte v2 lines, then a v1 line
# (line 4: the check), and the same with the v1 line fifth (a bad record only); 4k splits put
# line 4 in the second split, which once skipped the check (exit 0, a warning).
long=$(head -c 1500 /dev/zero | tr '\0' x)
{ for i in 1 2 3; do printf '%s%d\t2000\t1\t1\n' "$long" "$i"; done; printf 'cat\t1999\t5\t3\t2\n'; } >"$D/late4.tsv"
{ for i in 1 2 3 4; do printf '%s%d\t2000\t1\t1\n' "$long" "$i"; done; printf 'cat\t1999\t5\t3\t2\n'; } >"$D/late5.tsv"
for split in "" "--chunk-size 4k"; do
    # shellcheck disable=SC2086 # $split is empty or an option and its value
    run_mrc 2 --job ngram $split --threads 1 --output "$T/out/r.tsv" "$D/late4.tsv"
    [ "$RC" = 1 ] || fail "a v1 line 4 ${split:-in one split}: exit $RC, expected 1"
    assert_stderr_has "late4.tsv:4: looks like an ngram v1 export, not v2" "line 4 ${split:-in one split}"
    [ -z "$(find "$T/out" -mindepth 1)" ] || fail "a wrong format left a result behind"
    # shellcheck disable=SC2086
    run_mrc_ok 2 --job ngram $split --threads 1 "$D/late5.tsv"
    assert_stderr_has "late5.tsv:5: too many columns" "a v1 line 5 ${split:-in one split} is a bad record"
    [ "$(wc -l <"$T/stdout")" = 4 ] || fail "late5.tsv ${split:-in one split}: $(wc -l <"$T/stdout") keys, expected 4"
done
log "ok: wrong --format"

# Broken gzip files among good ones: exit 1 naming the file and the cause.
gen_dir=$T/gz
mkdir -p "$gen_dir"
for i in 1 2 3; do seq 1 20000 | awk -v f="$i" '{ printf "w%d\t%d\t%d\t1\n", ($1 * f) % 500, 1900 + $1 % 100, 1 }'; done >"$T/plain.tsv"
for i in 1 2 3; do gzip -c "$T/plain.tsv" >"$gen_dir/ok$i.gz"; done
head -c "$(($(wc -c <"$gen_dir/ok1.gz") / 2))" "$gen_dir/ok1.gz" >"$gen_dir/trunc.gz"
cp "$T/plain.tsv" "$gen_dir/fake.gz"
cp "$gen_dir/ok1.gz" "$gen_dir/corrupt.gz"
printf '\377\377\377\377\377\377\377\377' | dd of="$gen_dir/corrupt.gz" bs=1 seek=2000 conv=notrunc status=none
for bad in trunc:"truncated gzip stream" fake:"not a gzip file" corrupt:"corrupt gzip data"; do
    name=${bad%%:*} why=${bad#*:}
    for np in 2 3; do
        run_mrc "$np" --job ngram --output "$T/out/r.tsv" "$gen_dir/ok1.gz" "$gen_dir/$name.gz" "$gen_dir/ok2.gz" "$gen_dir/ok3.gz"
        [ "$RC" = 1 ] || fail "$name.gz at np $np: exit $RC, expected 1"
        assert_stderr_has "$name\\.gz: $why" "$name.gz at np $np"
        [ -z "$(find "$T/out" -mindepth 1)" ] || fail "$name.gz left a result behind"
    done
    log "ok: $name.gz is an error naming the file ($why)"
done

# 64-bit sums: an overflow is an error naming the key, in one rank or across ranks.
printf 'big\t2000\t18446744073709551615\t1\nbig\t2001\t1\t1\n' >"$D/over1.tsv"
run_mrc 1 --job ngram --output "$T/out/r.tsv" "$D/over1.tsv"
[ "$RC" = 1 ] || fail "overflow in a file: exit $RC, expected 1"
assert_stderr_has "'big'.*2\\^64-1" "overflow in one file names the key"
printf 'big\t2000\t18446744073709551615\t1\n' >"$D/over2a.tsv"
printf 'big\t2000\t1\t1\n' >"$D/over2b.tsv"
run_mrc 2 --job ngram --threads 1 --output "$T/out/r.tsv" "$D/over2a.tsv" "$D/over2b.tsv"
[ "$RC" = 1 ] || fail "overflow across ranks: exit $RC, expected 1"
assert_stderr_has "'big'.*2\\^64-1" "overflow across ranks names the key"
[ -z "$(find "$T/out" -mindepth 1)" ] || fail "an overflow left a result behind"
# a NUL in the key is shown, not the end of the name (which would name the valid ngram 'nul')
printf 'nul\000b\t2000\t18446744073709551615\t1\nnul\000b\t2001\t1\t1\n' >"$D/over3.tsv"
run_mrc 1 --job ngram --output "$T/out/r.tsv" "$D/over3.tsv"
assert_status 1 "overflow of a key holding a NUL"
assert_stderr_has "'nul\?b' exceeds 2\^64-1" "overflow names the key with its NUL"
printf 'big\t2000\t18446744073709551615\t1\n' >"$D/max.tsv"
run_mrc_ok 1 --job ngram --output "$T/max.tsv" "$D/max.tsv"
[ "$(cat "$T/max.tsv")" = "big${TAB}18446744073709551615" ] || fail "2^64-1 itself is a valid count"
log "ok: overflow named, 2^64-1 kept"

# Usage errors: exit 2.
for args in "--year-min 2000 --year-max 1990" "--year-min 10000" "--format v4" "--pos none" "--value pages"; do
    # shellcheck disable=SC2086 # word splitting of the option list is intended
    run_mrc 1 --job ngram $args "$D/v1.tsv"
    [ "$RC" = 2 ] || fail "'$args': exit $RC, expected 2"
done
log "ok: usage errors"
log "PASS"
