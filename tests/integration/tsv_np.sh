#!/usr/bin/env bash
# tsv_np.sh - the tsv job equals an awk oracle of the documented rule at np 1, 2 and 3 with small
# chunks (so split boundaries fall everywhere), plain and .gz: the match_count column of an ngram
# export summed by year; two key columns; lines counted; a comma-separated file with a header and
# CRLF line ends; malformed lines counted, reported per file with their line, and fatal with
# --strict; a sum past 2^64-1 is an error naming the key; totals of 0 and --min-count; quoted
# CSV fields against Python's csv module.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"
TAB=$(printf '\t')

# tsv_oracle FS HEADER KEYCOLS VALUECOL FILES... : the rule in awk. A line is split on FS (one
# byte) after dropping a final CR; an empty line is skipped; the key is the KEYCOLS (comma list)
# fields joined by TAB; VALUECOL 0 counts lines, else that field must be all digits (else the line
# is malformed, as is a line with fewer fields than a column it needs). Output like mrcount's:
# count descending, then key bytewise. The number of malformed lines goes to $T/oracle-bad.
tsv_oracle() {
    local fs=$1 header=$2 keys=$3 value=$4
    shift 4
    awk -v FS="$fs" -v header="$header" -v keys="$keys" -v value="$value" -v bad="$T/oracle-bad" '
    BEGIN { nk = split(keys, kc, ","); need = value; for (i = 1; i <= nk; i++) if (kc[i] > need) need = kc[i] }
    FNR == 1 && header { next }
    { sub(/\r$/, "") }
    $0 == "" { next }
    {
        n = split($0, f, FS)
        if (n < need || (value > 0 && f[value] !~ /^[0-9]+$/)) { nbad++; next }
        k = f[kc[1]]
        for (i = 2; i <= nk; i++) k = k "\t" f[kc[i]]
        c[k] += value > 0 ? f[value] : 1
    }
    END { for (k in c) printf "%.0f\t%s\n", c[k], k; printf "%d\n", nbad > bad }
    ' "$@" | sort -t "$TAB" -k1,1nr -k2 | sed -E "s/^([0-9]+)$TAB(.*)\$/\\2$TAB\\1/"
}

# bad_total METRICS : bad_records.total of a metrics file.
bad_total() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bad_records"]["total"])' "$1"; }

# Data: an ngram export (v2: ngram year match volumes), plain and as 3-member gzip files.
gen_ngrams "$T/ng" 1.5 --format v2 --order 1 --files 3 --seed 11
gen_ngrams "$T/ng-gz" 1.5 --format v2 --order 1 --files 3 --seed 11 --gzip --members 3

# check NAME NP ORACLE-ARGS(fs header keys value) -- MRCOUNT-ARGS... -- INPUTS...
# The oracle reads INPUTS, or the files in the array ORACLE_INPUTS when it is set (the plain
# files a .gz input was made from).
ORACLE_INPUTS=()
check() {
    local name=$1 np=$2 fs=$3 header=$4 keys=$5 value=$6
    shift 7
    local args=() inputs=()
    while [ "$1" != -- ]; do
        args+=("$1")
        shift
    done
    shift
    inputs=("$@")
    local oracle_inputs=("${inputs[@]}")
    [ "${#ORACLE_INPUTS[@]}" = 0 ] || oracle_inputs=("${ORACLE_INPUTS[@]}")
    tsv_oracle "$fs" "$header" "$keys" "$value" "${oracle_inputs[@]}" >"$T/exp.tsv"
    [ -s "$T/exp.tsv" ] || fail "$name: the oracle produced nothing"
    run_mrc_ok "$np" --job tsv --key-columns "$keys" --value-column "$value" --quiet \
        --metrics "$T/m.json" --output "$T/got.tsv" "${args[@]}" "${inputs[@]}"
    assert_same "$T/exp.tsv" "$T/got.tsv" "$name np $np ${args[*]}"
    [ "$(bad_total "$T/m.json")" = "$(cat "$T/oracle-bad")" ] ||
        fail "$name np $np: $(bad_total "$T/m.json") bad records, the oracle counts $(cat "$T/oracle-bad")"
    log "ok: $name np $np ${args[*]} ($(wc -l <"$T/exp.tsv") keys)"
}

for np in 1 2 3; do
    check "match by year" "$np" "$TAB" 0 2 3 -- --chunk-size 16k --threads 2 -- "$T/ng"/*
    ORACLE_INPUTS=("$T/ng"/*)
    check "match by year, gz" "$np" "$TAB" 0 2 3 -- --threads 2 -- "$T/ng-gz"/*
    ORACLE_INPUTS=()
    check "two key columns" "$np" "$TAB" 0 2,1 4 -- --chunk-size 8k --threads 1 -- "$T/ng"/*
    check "lines per ngram" "$np" "$TAB" 0 1 0 -- --chunk-size 4k -- "$T/ng"/*
done

# A comma-separated file with a header, CRLF ends, empty fields and malformed lines.
mkdir -p "$T/csv"
awk 'BEGIN {
    srand(5)
    for (f = 0; f < 2; f++) {
        file = sprintf("'"$T"'/csv/part%d.csv", f)
        print "city,year,amount\r" > file
        for (i = 0; i < 4000; i++) {
            city = sprintf("c%d", int(rand() * 40)); if (i % 97 == 0) city = ""
            line = city "," (1990 + int(rand() * 20)) "," int(rand() * 100000)
            if (i % 211 == 0) line = city "," 2000
            if (i % 307 == 0) line = city ",2000,12x"
            if (i % 401 == 0) line = city ",2000,-5"
            if (i % 503 == 0) line = ""
            print line (i % 2 ? "\r" : "") > file
        }
    }
}'
for np in 1 2 3; do
    check "csv with header" "$np" , 1 1,2 3 -- --delimiter , --header --chunk-size 4k -- "$T/csv"/*
done
[ "$(cat "$T/oracle-bad")" -gt 0 ] || fail "the csv data has no malformed lines"
gzip -c "$T/csv/part0.csv" >"$T/part0.csv.gz"
ORACLE_INPUTS=("$T/csv/part0.csv")
check "csv with header, gz" 2 , 1 1 3 -- --delimiter comma --header -- "$T/part0.csv.gz"
ORACLE_INPUTS=()

# Quoted CSV fields (--quote '"', the default with a comma), as Python's csv module reads each
# line: written by csv.writer (minimal quoting, and all fields quoted with CRLF ends), with
# delimiters, doubled quotes and text after a closing quote inside fields, and lines whose quote
# does not close (malformed when the field is one the key or value needs; a later one is not
# read). The oracle is csv.reader, line by line: a field that swallowed the line's LF is one
# whose quote did not close.
mkdir -p "$T/quoted"
python3 - "$T/quoted" <<'PY'
import csv, random, sys
random.seed(7)
names = ['Paris, FR', 'The "Big" Apple', 'plain', 'a""b', ',', '"', 'x,"y"', '', 'tab\there']
for f, (quoting, end) in enumerate([(csv.QUOTE_MINIMAL, '\n'), (csv.QUOTE_ALL, '\r\n')]):
    with open(f'{sys.argv[1]}/part{f}.csv', 'w', newline='') as out:
        w = csv.writer(out, quoting=quoting, lineterminator=end)
        for i in range(3000):
            w.writerow([random.choice(names), random.randint(1990, 1999), random.randint(0, 9999),
                        random.choice(names)])
            if i % 97 == 0:
                out.write('"ab"c,1995,7,z' + end)     # abc
            if i % 131 == 0:
                out.write('"open,1995,7,z' + end)     # malformed: the key's quote
            if i % 151 == 0:
                out.write('k,1995,7,"open' + end)     # fine: column 4 is not read
PY
cat >"$T/csv_oracle.py" <<'PY'
import csv, sys
keys, value = [int(k) for k in sys.argv[1].split(',')], int(sys.argv[2])
need = max(keys + [value])
counts, bad = {}, 0
for name in sys.argv[4:]:
    for raw in open(name, 'rb').read().split(b'\n'):
        line = raw.decode('latin-1')
        if line.endswith('\r'):
            line = line[:-1]
        if line == '':
            continue
        row = next(csv.reader([line + '\n']))
        swallowed = [i for i, x in enumerate(row) if '\n' in x]
        if (swallowed and swallowed[0] < need) or len(row) < need or \
                (value and not row[value - 1].isdigit()):
            bad += 1
            continue
        row[-1] = row[-1].rstrip('\n')
        k = '\t'.join(row[c - 1] for c in keys)
        counts[k] = counts.get(k, 0) + (int(row[value - 1]) if value else 1)
with open(sys.argv[3], 'w') as f:
    print(bad, file=f)
out = sys.stdout.buffer
for k, c in sorted(counts.items(), key=lambda kc: (-kc[1], kc[0].encode('latin-1'))):
    out.write(k.encode('latin-1') + b'\t' + str(c).encode() + b'\n')
PY
python3 "$T/csv_oracle.py" 1,2 3 "$T/oracle-bad" "$T/quoted"/*.csv >"$T/exp.tsv"
[ "$(cat "$T/oracle-bad")" -gt 0 ] || fail "the quoted csv data has no malformed lines"
grep -q '^Paris, FR' "$T/exp.tsv" || fail "the quoted csv oracle has no key with a comma"
for np in 1 2 3; do
    run_mrc_ok "$np" --job tsv --delimiter , --key-columns 1,2 --value-column 3 --chunk-size 4k \
        --quiet --metrics "$T/m.json" --output "$T/got.tsv" "$T/quoted"
    assert_same "$T/exp.tsv" "$T/got.tsv" "quoted csv np $np"
    [ "$(bad_total "$T/m.json")" = "$(cat "$T/oracle-bad")" ] ||
        fail "quoted csv np $np: $(bad_total "$T/m.json") bad records, the oracle counts $(cat "$T/oracle-bad")"
done
log "ok: quoted csv fields, np 1-3 ($(wc -l <"$T/exp.tsv") keys, $(cat "$T/oracle-bad") malformed)"

# Totals of 0 are keys (values of 0), and --min-count K leaves out those below K: K = 1 drops
# the zeros, K = 0 (the default) none.
awk -v OFS="$TAB" 'BEGIN { for (i = 0; i < 3000; i++) print "k" (i % 500), (i % 500 < 100 ? 0 : i % 7) }' \
    >"$T/zeros.tsv"
tsv_oracle "$TAB" 0 1 2 "$T/zeros.tsv" >"$T/exp-all.tsv"
grep -q "$TAB"'0$' "$T/exp-all.tsv" || fail "the oracle has no key of total 0"
for k in 0 1 5; do
    awk -F "$TAB" -v k="$k" '$2 >= k' "$T/exp-all.tsv" >"$T/exp-min.tsv"
    for np in 1 3; do
        run_mrc_ok "$np" --job tsv --value-column 2 --min-count "$k" --quiet --metrics "$T/m.json" \
            --output "$T/got.tsv" "$T/zeros.tsv"
        assert_same "$T/exp-min.tsv" "$T/got.tsv" "--min-count $k np $np"
        dropped=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["min_count_dropped"])' "$T/m.json")
        [ "$dropped" = $(($(wc -l <"$T/exp-all.tsv") - $(wc -l <"$T/exp-min.tsv"))) ] ||
            fail "--min-count $k np $np: min_count_dropped $dropped"
    done
done
log "ok: --min-count 0, 1 and 5 with totals of 0"

# The warning names the file and the first malformed lines; --strict makes the first fatal.
run_mrc_ok 2 --job tsv --key-columns 1 --value-column 3 --delimiter , --header \
    --output /dev/null "$T/csv/part0.csv"
assert_stderr_has "warning: [0-9]+ malformed records? skipped in 1 file$" "bad-record warning"
assert_stderr_has "part0.csv:[0-9]+: missing columns" "bad record located"
first=$(awk -F, 'NR > 1 { sub(/\r$/, "") } NR > 1 && $0 != "" && (NF < 3 || $3 !~ /^[0-9]+$/) { print NR; exit }' "$T/csv/part0.csv")
run_mrc 3 --job tsv --key-columns 1 --value-column 3 --delimiter , --header --strict \
    --chunk-size 4k --output "$T/strict.tsv" "$T/csv/part0.csv"
assert_status 1 "--strict"
assert_one_error "part0.csv:$first: " "--strict names the first malformed line ($first)"
[ ! -e "$T/strict.tsv" ] || fail "--strict left a result"

# A sum past 2^64-1 is an error naming the key, also when the halves are on two ranks.
printf 'big\t18446744073709551615\nsmall\t1\n' >"$T/o1.tsv"
printf 'big\t1\n' >"$T/o2.tsv"
run_mrc 2 --job tsv --value-column 2 --output "$T/over.tsv" "$T/o1.tsv" "$T/o2.tsv"
assert_status 1 "overflow"
assert_one_error "'big'.*2\\^64-1" "overflow names the key"
[ ! -e "$T/over.tsv" ] || fail "an overflow left a result"
# The same with the halves in two spilled runs, of one rank or of two: the merges of runs check
# the sum too (once they wrapped it: 2^64 - 616 and 1000 came out as 'big 384', exit 0). The
# same file with a smaller first half shows that it spills and sums right.
spill_file() { # FIRST: big's first value, then 600 k keys of 1, then big 1000
    { printf 'big\t%s\n' "$1"; seq 1 600000 | sed 's/^/k/; s/$/\t1/'; printf 'big\t1000\n'; }
}
spill_file 18446744073709551000 >"$T/spill-over.tsv"
spill_file 5 >"$T/spill-ok.tsv"
for np in 1 2; do
    run_mrc_ok "$np" --job tsv --value-column 2 --threads 1 --memory-limit 16M --top 1 \
        --metrics "$T/spill.json" "$T/spill-ok.tsv"
    [ "$(cat "$T/stdout")" = "$(printf 'big\t1005')" ] || fail "np $np: spilled sum: $(cat "$T/stdout")"
    runs=$(grep -o '"spill_runs": *[0-9]*' "$T/spill.json" | grep -o '[0-9]*$' | sort -n | head -1)
    [ "${runs:-0}" -ge 2 ] || fail "np $np: a rank made ${runs:-no} spill runs, expected 2 or more"
    run_mrc "$np" --job tsv --value-column 2 --threads 1 --memory-limit 16M \
        --output "$T/over.tsv" "$T/spill-over.tsv"
    assert_status 1 "overflow across spilled runs at np $np"
    assert_one_error "'big'.*2\\^64-1" "overflow across spilled runs at np $np names the key"
    [ ! -e "$T/over.tsv" ] || fail "an overflow across spilled runs left a result (np $np)"
done

# Options: bad values are usage errors.
for args in "--key-columns 0" "--key-columns 1,x" "--delimiter ab" "--value-column -2"; do
    # shellcheck disable=SC2086 # word splitting of the option list is intended
    run_mrc 1 --job tsv $args "$T/o1.tsv"
    assert_status 2 "'$args'"
done
log "PASS"
