#!/usr/bin/env bash
# compressed.sh - .zst, .xz and .bz2 inputs are read whole, like .gz: the words job over files
# compressed by the zstd, pzstd, xz and bzip2 tools (single and concatenated frames or streams,
# beside .gz and plain files) equals the perl oracle of the plain text at np 1-3 x threads, static
# and dynamic, and the ngram job over compressed v2 exports equals the awk oracle; a truncated or
# corrupt file, one whose name does not match its data, or a zstd frame whose window (zstd
# --long=31: 2 GiB) is more than a decoder may take under the memory limit is an error naming
# the file (exit 1, no result left), at np 2; a 256 MiB window (--long=28) within it decodes.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"

for tool in zstd pzstd xz bzip2 gzip; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (.ci/install-deps.sh installs it)"
done

S=$T/src
D=$T/data
mkdir -p "$D/sub"
gen_corpus "$S" 6 --files 6 --seed 31
# one file per way of compressing, and one plain; two files compressed in two parts each
zstd -q -c "$S/part0000.txt" >"$D/part0000.txt.zst"
pzstd -q -p 2 -c "$S/part0001.txt" >"$D/part0001.txt.zst" # skippable frames between frames
xz -c "$S/part0002.txt" >"$D/sub/part0002.txt.xz"
bzip2 -c "$S/part0003.txt" >"$D/sub/part0003.txt.bz2"
gzip -c "$S/part0004.txt" >"$D/part0004.txt.gz"
cp "$S/part0005.txt" "$D/sub/part0005.txt"
half() { # half FILE 1|2 : the lines of FILE's first or second half
    local n
    n=$(wc -l <"$1")
    if [ "$2" = 1 ]; then head -n $((n / 2)) "$1"; else tail -n +$((n / 2 + 1)) "$1"; fi
}
{ half "$S/part0000.txt" 1 | zstd -q -c; half "$S/part0000.txt" 2 | zstd -q -c; } >"$D/two.zst"
{ half "$S/part0002.txt" 1 | xz -c; half "$S/part0002.txt" 2 | xz -c; } >"$D/two.xz"
{ half "$S/part0003.txt" 1 | bzip2 -c; half "$S/part0003.txt" 2 | bzip2 -c; } >"$D/sub/two.bz2"
oracle "$S"/part000[0-5].txt "$S/part0000.txt" "$S/part0002.txt" "$S/part0003.txt" \
    >"$T/expected.tsv"
log "corpus: $(du -sh "$S" | cut -f1) of text, $(du -sh "$D" | cut -f1) as files, $(wc -l <"$T/expected.tsv") distinct"

for np in 1 2 3; do
    for th in 1 2; do
        run_mrc_ok "$np" --threads "$th" --chunk-size 64k --quiet --output "$T/out.tsv" "$D"
        assert_same "$T/expected.tsv" "$T/out.tsv" "np $np threads $th"
    done
done
run_mrc_ok 3 --threads 1 --schedule dynamic --quiet --output "$T/out.tsv" "$D"
assert_same "$T/expected.tsv" "$T/out.tsv" "np 3 dynamic"
log "ok: .zst (zstd, pzstd), .xz, .bz2, .gz and plain together, np 1-3, static and dynamic"

# The ngram job over compressed exports (a file of each codec, and one of two streams).
N=$T/ngram
gen_ngrams "$T/ng-src" 1 --format v2 --order 2 --files 4 --seed 32
mapfile -t ng < <(find "$T/ng-src" -type f | sort)
[ "${#ng[@]}" = 4 ] || fail "ngram setup: expected 4 files, found ${#ng[@]}"
mkdir -p "$N"
zstd -q -c "${ng[0]}" >"$N/a.zst"
xz -c "${ng[1]}" >"$N/b.xz"
bzip2 -c "${ng[2]}" >"$N/c.bz2"
{ bzip2 -c "${ng[3]}"; bzip2 -c "${ng[0]}"; } >"$N/d.bz2"
ngram_oracle v2 match 0 9999 keep 0 "${ng[@]}" "${ng[0]}" >"$T/expected-ngram.tsv"
for np in 1 2; do
    run_mrc_ok "$np" --job ngram --format v2 --quiet --output "$T/out.tsv" "$N"
    assert_same "$T/expected-ngram.tsv" "$T/out.tsv" "ngram np $np"
done
log "ok: the ngram job over .zst, .xz and .bz2 exports"

# Damaged files: an error naming the file and the cause, no result, at np 2.
B=$T/bad
mkdir -p "$B"
cut_to() { head -c $(($(stat -c %s "$1") - $2)) "$1"; }
cut_to "$D/part0000.txt.zst" 100 >"$B/cut.zst"
cut_to "$D/sub/part0002.txt.xz" 100 >"$B/cut.xz"
cut_to "$D/sub/part0003.txt.bz2" 100 >"$B/cut.bz2"
cp "$D/sub/part0002.txt.xz" "$B/flip.xz"
printf '\xff\xff\xff\xff' | dd of="$B/flip.xz" bs=1 seek=2000 conv=notrunc status=none
cp "$S/part0005.txt" "$B/text.zst"
cp "$S/part0005.txt" "$B/text.xz"
head -c 3 "$D/sub/part0002.txt.xz" >"$B/magic-cut.xz" # cut inside the 6-byte magic
cp "$D/sub/part0002.txt.xz" "$B/xz-data.bz2"
cp "$D/part0000.txt.zst" "$B/zstd-data.txt"
zstd -q --long=31 -c <"$S/part0005.txt" >"$B/long.zst" # a 2 GiB window (read from a pipe)
bad=(
    "$B/cut.zst|$B/cut.zst: truncated zstd stream at compressed byte offset"
    "$B/cut.xz|$B/cut.xz: truncated xz stream at compressed byte offset"
    "$B/cut.bz2|$B/cut.bz2: truncated bzip2 stream at compressed byte offset"
    "$B/flip.xz|$B/flip.xz: corrupt xz data at compressed byte offset"
    "$B/text.zst|$B/text.zst: not a zstd file"
    "$B/text.xz|$B/text.xz: not an xz file"
    "$B/magic-cut.xz|$B/magic-cut.xz: truncated xz stream at compressed byte offset 3\$"
    "$B/xz-data.bz2|$B/xz-data.bz2: not a bzip2 file .it holds xz-compressed data."
    "$B/zstd-data.txt|$B/zstd-data.txt: zstd-compressed data in a file whose name does not end in .zst"
    "$B/long.zst|$B/long.zst: a zstd frame that needs a 2048 MiB window .as zstd --long writes., more than a thread.s decoder may take under the memory limit .windows up to 512 MiB."
)
# 2G a rank at np 2: 0.8 GiB beside the tables for one thread's decoder, so 512 MiB windows
for entry in "${bad[@]}"; do
    file=${entry%%|*}
    run_mrc 2 --threads 1 --memory-limit 2G --chunk-size 64k --output "$T/bad.tsv" \
        "$S/part0005.txt" "$file"
    assert_status 1 "${file#"$B/"}"
    assert_one_error "${entry#*|}" "${file#"$B/"}"
    [ ! -e "$T/bad.tsv" ] || fail "${file#"$B/"}: a result was left behind"
done
log "ok: truncated, corrupt and misnamed compressed files are errors naming them"

# A window the limit allows decodes (zstd -d would need --long=28 for it).
zstd -q --long=28 -c <"$S/part0005.txt" >"$B/long28.zst"
oracle "$S/part0005.txt" >"$T/expected-5.tsv"
run_mrc_ok 2 --threads 1 --memory-limit 2G --quiet --output "$T/out.tsv" "$B/long28.zst"
assert_same "$T/expected-5.tsv" "$T/out.tsv" "a 256 MiB zstd window under a 2G limit"
log "ok: a zstd --long=28 frame within the limit decodes"
log "PASS"
