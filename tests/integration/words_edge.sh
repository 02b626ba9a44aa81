#!/usr/bin/env bash
# words_edge.sh - the words rule on hand-made edge inputs: empty and whitespace-only files, no
# trailing newline, CRLF, VT/FF, NUL bytes, invalid UTF-8, NBSP, tokens longer than a chunk and
# tokens straddling chunk boundaries; each file alone and all together, against the perl oracle.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"

D=$T/edge
mkdir -p "$D"
: >"$D/empty.txt"
printf ' \t\n\r\v\f  \n\n\r\n\t\t' >"$D/whitespace.txt"
printf 'alpha beta alpha' >"$D/no-trailing-newline.txt"
printf 'a' >"$D/one-byte.txt"
printf 'a b\r\nc a\r\n\r\nb\r\nend\r' >"$D/crlf with spaces.txt"
printf 'v\vw\fx\vv\f\fw\v' >"$D/vt-ff.txt"
printf 'x\0y \0\0 z\0\n\0\nx\0y\n\0\0' >"$D/nul.bin"
printf 'a \xff\xfe caf\xc3 caf\xc3\xa9 \xe2\x80 \x80abc \xff\xfe\n\xc3\xa9\xc3\n' >"$D/bad-utf8.txt"
printf 'non\xc2\xa0breaking nel\x85x \xe2\x80\x83emsp \xe3\x80\x80 a\n' >"$D/unicode-space.txt"
# bytewise order on ties: upper case, lower case, digits, punctuation and high bytes, count 1 each
printf 'b B a A 1 _ ~ \xc3\xa9 \xff z Z 10 9 a\n' >"$D/order.txt"
# a 100 KiB token (twice) among short ones: longer than many 4 KiB chunks
perl -e 'my $t = "q" x 102400; print "a $t b\n$t\n", "x" x 5000, "\n"' >"$D/long-token.txt"
# many tokens of varied length, so chunk boundaries fall inside tokens and on separators
perl -e 'for my $i (1 .. 6000) { print "w" . ("abcdefg" x ($i % 5)) . ($i % 97), ($i % 13 ? " " : "\n") }' \
    >"$D/boundaries.txt"
# separators exactly around the 4 KiB marks
perl -e 'print " " x 4095, "edge", "\n" x 4093, "edge", "\t" x 4100, "tail"' >"$D/aligned.txt"
# a file that ends with a token exactly at a chunk multiple
perl -e 'print "y" x 8192' >"$D/exact-chunks.txt"

mapfile -t files < <(find "$D" -type f | sort)
for f in "${files[@]}"; do
    name=${f##*/}
    oracle "$f" >"$T/expected.tsv"
    run_mrc_ok 1 --quiet --threads 1 --output "$T/out.tsv" "$f"
    assert_same "$T/expected.tsv" "$T/out.tsv" "np 1: $name"
    run_mrc_ok 3 --quiet --threads 2 --chunk-size 4k --output "$T/out.tsv" "$f"
    assert_same "$T/expected.tsv" "$T/out.tsv" "np 3 --threads 2 --chunk-size 4k: $name"
    log "ok: $name ($(wc -l <"$T/expected.tsv") keys)"
done

# empty and whitespace-only inputs give an existing, empty result
for f in empty.txt whitespace.txt; do
    run_mrc_ok 2 --quiet --output "$T/empty-out.tsv" "$D/$f"
    if [ ! -f "$T/empty-out.tsv" ] || [ -s "$T/empty-out.tsv" ]; then fail "$f: result should be an empty file"; fi
done

# everything at once, through the directory
oracle "${files[@]}" >"$T/expected.tsv"
run_mrc_ok 2 --quiet --threads 2 --chunk-size 4k --output "$T/out.tsv" "$D"
assert_same "$T/expected.tsv" "$T/out.tsv" "np 2, all edge files"
run_mrc_ok 3 --quiet --threads 1 --chunk-size 4k --reduce reduce --output "$T/out.tsv" "$D"
assert_same "$T/expected.tsv" "$T/out.tsv" "np 3 --reduce reduce, all edge files"
log "PASS"
