#!/usr/bin/env bash
# words_unicode.sh - `--tokens unicode` (with --fold-case, --normalize and word n-grams) gives
# one exact table whatever the ranks, threads, chunks and schedule, against the Python oracle
# tests/tools/unicode_oracle.py (unicodedata for categories, str.casefold, unicodedata.normalize),
# on real text (French, German, Russian and Greek man pages of Debian's manpages-fr/-de/-ru/-el,
# plain and one .gz) and on generated text (tests/tools/unicode_check.py's: every script's
# marks, Hangul, compatibility characters, apostrophes, blank lines, invalid UTF-8), at np 1, 2
# and 3 with 4 KiB chunks so split and piece boundaries fall everywhere. The metrics' token count,
# invalid_utf8_bytes and Unicode versions are checked too.
# Unicode versions differ: Python 3.11's unicodedata is Unicode 14.0, utf8proc 2.8's 15.0. Code
# points unassigned in Python's version (a superset of those unassigned in the library's: a
# version only assigns more) may be letters to the library, so the oracle strips them from the
# inputs (unicode_oracle.py --strip-unassigned) and both sides count the stripped copies; the
# oracle then runs with --unassigned error, so none is left. Noncharacters are kept: they are
# unassigned in every version, delimiters on both sides.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"

TOOLS=$MRC_SOURCE_DIR/tests/tools
ORACLE=(python3 "$TOOLS/unicode_oracle.py")
RAW=$T/raw
D=$T/data
mkdir -p "$RAW" "$D"

# Real text: about 100 KB of man pages per language (a fixed sample), one plain file each.
python3 - "$TOOLS" "$RAW" <<'PY' || fail "no man pages: apt-get install manpages-fr manpages-de manpages-ru manpages-el"
import gzip, os, sys
sys.path.insert(0, sys.argv[1])
import unicode_check
for lang in ("fr", "de", "ru", "el"):
    paths, total = unicode_check.man_sample(lang, 100_000)
    if not paths:
        sys.exit("no man pages in /usr/share/man/%s" % lang)
    with open(os.path.join(sys.argv[2], "man-%s.txt" % lang), "wb") as out:
        for p in paths:
            with gzip.open(p, "rb") as f:
                out.write(f.read())
# Generated text: two files (one cut inside a UTF-8 sequence at its end).
for seed in (1, 2):
    unicode_check.synthetic(os.path.join(sys.argv[2], "synthetic-%d.txt" % seed), seed, 120_000)
PY
printf 'Caf\xc3\xa9 CAFE\xcc\x81 l\xe2\x80\x99homme\n \t\n\xef\xac\x81n \xe2\x84\xab\xc3\x85 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x80\x82x\xffy' \
    >"$RAW/hand.txt"
"${ORACLE[@]}" --list-unassigned "$RAW"/*.txt >"$T/unassigned.txt" || true
log "stripping $(wc -l <"$T/unassigned.txt") code points unassigned in Python's Unicode version"
"${ORACLE[@]}" --strip-unassigned "$D" "$RAW"/*.txt
gzip -c "$D/man-el.txt" >"$D/man-el-copy.txt.gz" # a .gz file is one split, read streaming
: >"$D/empty.txt"
files=("$D"/*)
log "inputs: $(cat "$RAW"/*.txt | wc -c) bytes of real and generated text in ${#files[@]} files"

# check NAME ORACLE_ARGS -- MRCOUNT_ARGS : the oracle once, then mrcount at np 1, 2 and 3 (and
# once with the dynamic schedule and the shuffle), each with its tokens and invalid bytes
check() {
    local name=$1 oargs=()
    shift
    while [ "$1" != -- ]; do
        oargs+=("$1")
        shift
    done
    shift
    "${ORACLE[@]}" --unassigned error --stats "$T/$name.stats" "${oargs[@]}" "${files[@]}" \
        >"$T/$name.expected" || fail "$name: the oracle failed"
    [ -s "$T/$name.expected" ] || fail "$name: the oracle found nothing"
    local np runs=("1" "2 --chunk-size 4k --threads 2" "3 --chunk-size 4k"
        "2 --chunk-size 4k --schedule dynamic --reduce shuffle")
    for run in "${runs[@]}"; do
        read -r -a a <<<"$run"
        np=${a[0]}
        run_mrc_ok "$np" --quiet --output "$T/out.tsv" --metrics "$T/m.json" --tokens unicode \
            "${a[@]:1}" "$@" "${files[@]}"
        assert_same "$T/$name.expected" "$T/out.tsv" "$name: np ${run} $*"
        python3 - "$T/m.json" "$T/$name.stats" <<'PY' || fail "$name: np $run: metrics differ from the oracle's"
import json, sys
m, want = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
c = m["config"]
for k in ("tokens", "invalid_utf8_bytes"):
    if m[k] != want[k]:
        sys.exit("%s: mrcount %d, the oracle %d" % (k, m[k], want[k]))
assert c["tokens"] == "unicode", c
assert c["unicode_library"] == "utf8proc" and c["unicode_version"].count(".") == 2, c
assert c["unicode_library_version"].count(".") == 2, c
PY
    done
    log "ok: $name: $(wc -l <"$T/$name.expected") keys, $(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["tokens"], "tokens,", s["invalid_utf8_bytes"], "invalid bytes")' "$T/$name.stats")"
}

check words --
check fold --fold -- --fold-case
check nfkc-fold --fold --normalize nfkc -- --fold-case --normalize nfkc
check bigrams-paragraph --fold --normalize nfc --ngrams 2 --break paragraph -- \
    --fold-case --normalize nfc --ngrams 2 --ngram-break paragraph
check trigrams-line --normalize nfc --ngrams 3 --break line -- --normalize nfc --ngrams 3
check 5grams-none --fold --ngrams 5 --break none -- --fold-case --ngrams 5 --ngram-break none
log "PASS"
