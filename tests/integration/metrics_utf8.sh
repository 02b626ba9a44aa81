#!/usr/bin/env bash
# metrics_utf8.sh - the metrics JSON keeps paths readable and lossless: a file named in UTF-8
# (café.txt) comes back from Python's json as the same name, and a name with a byte that is not
# UTF-8 (caf\xe9.txt) comes back by the documented scheme (each such byte as the lone surrogate
# U+DC00 + byte, Python's "surrogateescape"), in the inputs and in the bad-record report alike.
# shellcheck source-path=SCRIPTDIR source=lib.bash
source "$(dirname "$0")/lib.bash"

utf8="$T/café.txt"
latin1="$T/$(printf 'caf\xe9.txt')"
printf 'un deux deux\n' >"$utf8"
printf 'trois\n' >"$latin1"
for np in 1 2; do
    run_mrc_ok "$np" --quiet --metrics "$T/m.json" --output "$T/out.tsv" "$utf8" "$latin1"
    python3 - "$T/m.json" "$utf8" "$latin1" <<'PY' || fail "np $np: the metrics do not give the names back"
import json, os, sys
m = json.load(open(sys.argv[1], encoding="utf-8"))
names = [n.encode("utf-8", "surrogateescape") for n in m["config"]["inputs"]]
want = [os.fsencode(sys.argv[2]), os.fsencode(sys.argv[3])]
assert names == want, (names, want)
assert m["config"]["inputs"][0].endswith("café.txt"), m["config"]["inputs"][0]
assert m["config"]["inputs"][1].endswith("caf\udce9.txt"), ascii(m["config"]["inputs"][1])
PY
    # the raw file is valid UTF-8 text: the é of café is written as it is, not escaped
    grep -q 'café.txt' "$T/m.json" || fail "np $np: café.txt is escaped in the metrics"
    log "ok: np $np, inputs"
done

# The bad-record report names the file the same way (a tsv line with too few columns).
printf 'a\t1\nb\n' >"$latin1"
run_mrc_ok 2 --job tsv --value-column 2 --quiet --metrics "$T/m.json" --output /dev/null "$latin1"
python3 - "$T/m.json" "$latin1" <<'PY' || fail "the bad-record path is not given back"
import json, os, sys
m = json.load(open(sys.argv[1], encoding="utf-8"))
f = m["bad_records"]["files"][0]
assert f["path"].encode("utf-8", "surrogateescape") == os.fsencode(sys.argv[2]), f
assert f["first"][0] == {"line": 2, "cause": "missing columns"}, f
PY
log "ok: bad-record path"
log "PASS"
