#!/usr/bin/env bash
# configs.sh - every INI file in configs/ is parsed and run as shipped, under mpirun at np 2, from
# a scratch directory (so its relative output and metrics paths land there): the result equals
# the oracle for the options the file sets, read back from the file by an independent INI reader
# (awk), and the metrics file it names is written. A config this test does not know fails it, so
# a new file cannot go unrun. Words configs use the perl oracle of lib.bash, or for tokens =
# unicode tests/tools/unicode_oracle.py (the synthetic text holds only code points assigned in
# Python's Unicode version, so the oracle needs nothing stripped).
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"

# ini FILE KEY [DEFAULT] : the value of KEY (any section; inline "; comments" and blanks cut).
ini() {
    awk -v key="$2" -v def="${3-}" '
        { sub(/[ \t]*;.*/, "") }
        $0 ~ "^[ \t]*" key "[ \t]*=" { sub(/^[^=]*=[ \t]*/, ""); sub(/[ \t]+$/, ""); v = $0; found = 1 }
        END { print found ? v : def }' "$1"
}

gen_corpus "$T/text" 2 --files 3 --seed 9 >/dev/null
# text in other scripts and with blank lines, for the Unicode and n-gram configs (the others
# count it by their own rules)
python3 - "$MRC_SOURCE_DIR/tests/tools" "$T/text/synthetic.txt" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import unicode_check
unicode_check.synthetic(sys.argv[2], 3, 200_000)
PY
gen_ngrams "$T/v2" 1.5 --format v2 --order 2 --files 3 --seed 4 >/dev/null
gen_ngrams "$T/v3" 1.5 --format v3 --order 2 --files 3 --seed 4 >/dev/null

known=0
for ini_file in "$MRC_SOURCE_DIR"/configs/*.ini; do
    name=$(basename "$ini_file" .ini)
    job=$(ini "$ini_file" job words)
    out=$(ini "$ini_file" output -)
    metrics=$(ini "$ini_file" metrics)
    top=$(ini "$ini_file" top 0)
    fold=0
    [ "$(ini "$ini_file" fold-case false)" = true ] && fold=1
    case $job in
    words)
        input=$T/text
        flags=(--ngrams "$(ini "$ini_file" ngrams 1)" --break "$(ini "$ini_file" ngram-break line)")
        [ "$fold" = 1 ] && flags+=(--fold)
        case $(ini "$ini_file" tokens whitespace) in
        whitespace) oracle "${flags[@]}" "$input"/* >"$T/$name.all" ;;
        alnum) oracle --alnum "${flags[@]}" "$input"/* >"$T/$name.all" ;;
        unicode)
            python3 "$MRC_SOURCE_DIR/tests/tools/unicode_oracle.py" --unassigned error "${flags[@]}" \
                --normalize "$(ini "$ini_file" normalize none)" "$input"/* >"$T/$name.all" ||
                fail "$name.ini: the unicode oracle failed"
            ;;
        *) fail "$name.ini: tokens = $(ini "$ini_file" tokens) is not known to this test" ;;
        esac
        ;;
    ngram)
        format=$(ini "$ini_file" format v2)
        input=$T/$format
        [ -d "$input" ] || fail "$name.ini: no test input for format $format"
        ngram_oracle "$format" "$(ini "$ini_file" value match)" "$(ini "$ini_file" year-min 0)" \
            "$(ini "$ini_file" year-max 9999)" "$(ini "$ini_file" pos keep)" "$fold" "$input"/* >"$T/$name.all"
        ;;
    tsv)
        input=$T/v2
        [ "$(ini "$ini_file" delimiter tab)" = tab ] && [ "$(ini "$ini_file" header false)" = false ] ||
            fail "$name.ini: this test knows TAB-separated files without a header"
        keycol=$(ini "$ini_file" key-columns 1)
        valcol=$(ini "$ini_file" value-column 0)
        case $keycol in *,*) fail "$name.ini: this test knows one key column" ;; esac
        awk -F '\t' -v k="$keycol" -v v="$valcol" '$0 != "" { c[$k] += v > 0 ? $v : 1 }
            END { for (x in c) printf "%s\t%.0f\n", x, c[x] }' "$input"/* |
            sort -t "$(printf '\t')" -k2,2nr -k1,1 >"$T/$name.all"
        ;;
    *) fail "$name.ini: job '$job' is not known to this test" ;;
    esac
    if [ "$top" -gt 0 ]; then head -n "$top" "$T/$name.all" >"$T/$name.expected"; else mv "$T/$name.all" "$T/$name.expected"; fi

    mkdir -p "$T/run-$name"
    (cd "$T/run-$name" && run_mrc_ok 2 --config "$ini_file" "$input")
    if [ "$out" = - ]; then result=$T/stdout; else result=$T/run-$name/$out; fi
    [ -f "$result" ] || fail "$name.ini: no result at $result"
    assert_same "$T/$name.expected" "$result" "$name.ini ($job)"
    if [ -n "$metrics" ]; then
        python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$T/run-$name/$metrics" ||
            fail "$name.ini: metrics $metrics missing or not JSON"
    fi
    if [ "$(ini "$ini_file" progress auto)" = always ]; then
        grep -Eq 'ETA [0-9]+s ranks mapping' "$T/stderr" || fail "$name.ini: progress = always, but no progress line"
    fi
    log "$name.ini: $job, $(wc -l <"$T/$name.expected") lines as the oracle"
    known=$((known + 1))
done
[ "$known" -ge 5 ] || fail "only $known configs found in configs/"
log "OK: $known configs run and equal their oracles"
