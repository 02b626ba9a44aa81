#!/usr/bin/env python3
"""sweep.py - a random differential test of the words job (and, one configuration in five, the
tsv job): mrcount against a Python oracle.

Each configuration draws its inputs (files of words with Zipf repeats: ASCII and not, long
keys, shared prefixes, punctuation, several scripts, combining marks, compatibility forms,
Unicode delimiters, every ASCII whitespace, CRLF, blank lines, empty files,
no final newline, some gzip'ed) and its options (np 1-3, threads 1-2, static/dynamic, chunk
sizes that cut records, every --reduce, --memory-limit, --sort, --top, --min-count,
--output-per-rank, whitespace/alnum/unicode tokens, --fold-case, --normalize, --ngrams 1-3 with
every break), runs mrcount under mpirun and checks, against the oracle written from README's
rules (unicode_oracle.py's for --tokens unicode, so words draw only code points assigned in both
Python's and utf8proc's Unicode versions):
  - exit status 0 and the result byte for byte (or, with --output-per-rank, every part sorted
    and the parts together the result);
  - nothing left in --tmp-dir, and nothing beside the result but the result;
  - the metrics' distinct_keys (and the tsv job's bad_records).
The tsv configurations (--quote none; TAB, ',' or '|'; 1-4 columns, one or two key columns in any
order, a value column or none, --header, blank lines, short rows and values that are not numbers)
are checked the same way.
Some configurations count a larger shared key set under a small --memory-limit, so that the
tables spill; the sweep fails if none did (it would no longer test the spill).

usage: sweep.py --mrcount PATH [--mpirun "mpiexec --oversubscribe -np"] [--runs N] [--seed S]
                [--keep DIR]
A failed configuration prints its command and, with --keep, leaves its inputs in DIR/cfg-N.
Exit status: 0 when every configuration passed, 1 otherwise.
"""
import argparse
import collections
import gzip
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import unicode_oracle  # noqa: E402  (--tokens unicode: the reference of tests/tools)

WS = b" \t\n\v\f\r"
WS_RUN = re.compile(rb"[ \t\n\v\f\r]+")
ALNUM = re.compile(rb"[A-Za-z0-9']+")
BLANK_LINE = re.compile(rb"\n[ \t\r\v\f\n]*\n")
FOLD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")


# ---- the oracle (README: "What a token is", "Word n-grams", "Output") ----

def tokens_of(text, rule):
    if rule == "alnum":
        return ALNUM.findall(text)
    return [t for t in WS_RUN.split(text) if t]


def sequences(text, brk):
    """The pieces of a file no n-gram spans."""
    if brk == "none":
        return [text]
    if brk == "paragraph":
        return BLANK_LINE.split(text)
    return text.split(b"\n")


def count_file(text, cfg, counts):
    n = cfg["ngrams"]
    for seq in sequences(text, cfg["break"] if n > 1 else "line"):
        toks = tokens_of(seq, cfg["tokens"])
        if cfg["fold"]:
            toks = [t.translate(FOLD) for t in toks]
        if n == 1:
            counts.update(toks)
        else:
            counts.update(b" ".join(toks[i:i + n]) for i in range(len(toks) - n + 1))


def tsv_oracle(files, cfg):
    """README's tsv job with --quote none: @return (sums, malformed lines)."""
    sums, bad = collections.Counter(), 0
    cols, val = cfg["key_columns"], cfg["value_column"]
    need = max(cols + [val])
    for path in files:
        data = open(path, "rb").read()
        if path.endswith(".gz"):
            data = gzip.decompress(data)
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        if cfg["header"]:
            lines = lines[1:]
        for line in lines:
            if line == b"":
                continue
            f = line.split(cfg["delim"])
            if len(f) < need or (val and (not f[val - 1].isdigit() or int(f[val - 1]) >= 1 << 64)):
                bad += 1
                continue
            sums[b"\t".join(f[c - 1] for c in cols)] += int(f[val - 1]) if val else 1
    return sums, bad


def write_tsv(rng, root, words, cfg, nfiles):
    """Delimited rows of words (some malformed: short, a value that is not a number), blank lines,
    a header line per file with --header; @return the paths."""
    ncols, d = cfg["ncols"], cfg["delim"]
    paths = []
    for i in range(nfiles):
        rows = [d.join(b"h%d" % c for c in range(ncols))] if cfg["header"] else []
        for _ in range(rng.choice([0, 5, 200, 3000])):
            r = rng.random()
            if r < 0.03:
                rows.append(b"")
                continue
            f = [rng.choice(words) if rng.random() < 0.95 else b"" for _ in range(ncols)]
            if 0 < cfg["value_column"] <= ncols:  # past ncols: every row is short
                f[cfg["value_column"] - 1] = (str(rng.randint(0, 1000)).encode() if r > 0.08 else
                                              rng.choice([b"x1", b"", b"-3", b"1.5", b" 7"]))
            if r < 0.05:
                f = f[:rng.randint(1, ncols)]
            rows.append(d.join(f))
        body = b"\n".join(rows) + (b"\n" if rng.random() < 0.7 else b"")
        gz = rng.random() < 0.25
        path = os.path.join(root, "t%02d.tsv%s" % (i, ".gz" if gz else ""))
        with open(path, "wb") as fh:
            fh.write(gzip.compress(body, compresslevel=1) if gz else body)
        paths.append(path)
    return paths


def oracle(files, cfg):
    counts = collections.Counter()
    if cfg["tokens"] == "unicode":
        brk = cfg["break"] if cfg["ngrams"] > 1 else "line"
        for path in files:
            f = unicode_oracle.File(path)
            counts.update(k.encode("utf-8") for k in f.ngrams(cfg["ngrams"], brk, cfg["normalize"], cfg["fold"]))
        return counts
    for path in files:
        data = open(path, "rb").read()
        if path.endswith(".gz"):
            data = gzip.decompress(data)
        count_file(data, cfg, counts)
    return counts


def table_lines(counts, sort, min_count=0, top=0):
    items = [(k, c) for k, c in counts.items() if c >= min_count]
    if sort == "key":
        items.sort()
    else:
        items.sort(key=lambda kc: (-kc[1], kc[0]))
    if top:
        items = items[:top]
    return b"".join(k + b"\t" + str(c).encode() + b"\n" for k, c in items)


# ---- inputs ----

# Code points assigned long before Unicode 14 (Debian 12's Python) and 15 (its utf8proc): letters
# of several scripts, combining marks, digits, compatibility forms that NFKC changes (fullwidth,
# ligatures, the Kelvin sign), case pairs whose folding is not ASCII's (sharp s, final sigma),
# and delimiters of --tokens unicode (punctuation, NBSP, the ideographic space).
UNI_WORD = ("\u00e9\u00c9\u00e8\u00ea\u00eb\u00e0\u00e4\u00f6\u00fc\u00dc\u00e7\u00f1\u00df\u00e6\u00f8\u0142"
            "\u03b1\u03b2\u03b3\u03a3\u03c3\u03c2\u0391\u0430\u0431\u0432\u0416\u0436\u0401\u0451"
            "\u65e5\u672c\u8a9e\ud55c\uad6d\uc5b4\u0301\u0308\u0327\u0663\u0665"
            "\uff21\uff41\ufb01\u212a\u2160\u00bd\u1e9e")
UNI_DELIM = "\u2014\u3002\u00a0\u3000\u00bf\u2019'"


def vocabulary(rng, n):
    """n distinct whitespace-free words of mixed kinds."""
    prefixes = [b"", b"", b"key", b"the_", b"pre-fix.", b"ab"]
    letters = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'"
    odd = [b",", b".", b";", b"-", b"'", b"\xc3\xa9", b"\xe2\x80\x99", b"\xff", b"\x00", b"\x01"]
    words = set()
    while len(words) < n:
        r = rng.random()
        if r < 0.002:
            w = bytes(rng.choice(letters) for _ in range(rng.randint(100, 3000)))
        elif r < 0.55:
            w = rng.choice(prefixes) + bytes(rng.choice(letters) for _ in range(rng.randint(1, 12)))
        elif r < 0.75:
            chars = [rng.choice(UNI_WORD + "abcXYZ") for _ in range(rng.randint(1, 8))]
            if rng.random() < 0.3:
                chars.insert(rng.randint(0, len(chars)), rng.choice(UNI_DELIM))
            w = "".join(chars).encode("utf-8")
        else:
            parts = [bytes(rng.choice(letters) for _ in range(rng.randint(0, 6))) for _ in range(3)]
            w = parts[0] + rng.choice(odd) + parts[1] + rng.choice(odd) + parts[2]
        if w:
            words.add(w)
    return sorted(words)


def separators(rng, k):
    seps = [b" "] * 60 + [b"\n"] * 15 + [b"\t", b"  ", b"\r\n", b"\v", b"\f", b"\n\n", b"\n \t\n", b" \r"]
    return rng.choices(seps, k=k)


def write_inputs(rng, root, words, tokens, nfiles):
    """tokens words drawn from words (Zipf) into nfiles files under root; @return their paths."""
    weights = [1.0 / (i + 1) ** 0.9 for i in range(len(words))]
    drawn = rng.choices(words, weights=weights, k=tokens)
    seps = separators(rng, tokens)
    cuts = sorted(rng.randint(0, tokens) for _ in range(nfiles - 1))
    paths = []
    for i, (a, b) in enumerate(zip([0] + cuts, cuts + [tokens])):
        body = bytearray()
        for w, s in zip(drawn[a:b], seps[a:b]):
            body += w + s
        if body and rng.random() < 0.3:
            body = body.rstrip(WS)  # no final newline
        gz = rng.random() < 0.25
        path = os.path.join(root, "f%02d.txt%s" % (i, ".gz" if gz else ""))
        with open(path, "wb") as f:
            f.write(gzip.compress(bytes(body), compresslevel=1) if gz else bytes(body))
        paths.append(path)
    return paths


def draw_config(rng, spill_set):
    cfg = {
        "job": "tsv" if not spill_set and rng.random() < 0.2 else "words",
        "np": rng.choice([1, 1, 2, 2, 3]),
        "threads": rng.choice([1, 2]),
        "schedule": rng.choice(["static", "dynamic"]),
        "chunk": rng.choice([None, None, "4k", "16k", "64k", "1M"]),
        "reduce": rng.choice(["auto", "reduce", "shuffle"]),
        "sort": rng.choice(["count", "count", "key"]),
        "tokens": rng.choice(["whitespace", "whitespace", "alnum", "unicode"]),
        "normalize": rng.choice(["none", "nfc", "nfkc"]),
        "fold": rng.random() < 0.3,
        "ngrams": rng.choice([1, 1, 1, 2, 3]),
        "break": rng.choice(["line", "paragraph", "none"]),
        "top": 0,
        "min_count": 0,
        "per_rank": False,
        "stdout": rng.random() < 0.3,
        "limit": None,
        "spill": spill_set,
    }
    if spill_set:  # the byte rules only: the Unicode oracle is slow on 1.5 M tokens
        cfg["tokens"] = rng.choice(["whitespace", "alnum"])
        cfg["limit"] = "16M"
        cfg["chunk"] = rng.choice([None, "1M"])
        cfg["ngrams"] = 1
    elif rng.random() < 0.2:
        cfg["limit"] = rng.choice(["16M", "24M"])
    r = rng.random()
    if r < 0.15 and cfg["reduce"] != "reduce":
        cfg["per_rank"] = True
    elif r < 0.35:
        cfg["top"] = rng.choice([1, 5, 100, 5000])
    if rng.random() < 0.2:
        cfg["min_count"] = rng.choice([2, 3, 10])
    if cfg["job"] == "tsv":
        cfg["ncols"] = rng.randint(1, 4)
        cfg["key_columns"] = rng.sample(range(1, cfg["ncols"] + 1), rng.randint(1, min(2, cfg["ncols"])))
        cfg["value_column"] = rng.choice([0, rng.randint(1, cfg["ncols"] + 1)])
        cfg["delim"] = rng.choice([b"\t", b",", b"|"])
        cfg["header"] = rng.random() < 0.3
    return cfg


def command(cfg, mpirun, mrcount, files, out, tmp, metrics):
    args = mpirun + [str(cfg["np"]), "--bind-to", "none", mrcount, "-q", "--threads", str(cfg["threads"]),
                     "--schedule", cfg["schedule"], "--reduce", cfg["reduce"], "--sort", cfg["sort"],
                     "--tmp-dir", tmp, "-m", metrics]
    if cfg["job"] == "tsv":
        args += ["--job", "tsv", "--quote", "none", "--key-columns", ",".join(map(str, cfg["key_columns"])),
                 "--delimiter", "tab" if cfg["delim"] == b"\t" else cfg["delim"].decode()]
        if cfg["value_column"]:
            args += ["--value-column", str(cfg["value_column"])]
        if cfg["header"]:
            args += ["--header"]
    else:
        args += ["--tokens", cfg["tokens"]]
        args += words_args(cfg)
    if cfg["chunk"]:
        args += ["--chunk-size", cfg["chunk"]]
    return args_tail(cfg, args, out, files)


def words_args(cfg):
    args = []
    if cfg["fold"]:
        args += ["--fold-case"]
    if cfg["tokens"] == "unicode" and cfg["normalize"] != "none":
        args += ["--normalize", cfg["normalize"]]
    if cfg["ngrams"] > 1:
        args += ["--ngrams", str(cfg["ngrams"]), "--ngram-break", cfg["break"]]
    return args


def args_tail(cfg, args, out, files):
    if cfg["top"]:
        args += ["--top", str(cfg["top"])]
    if cfg["min_count"]:
        args += ["--min-count", str(cfg["min_count"])]
    if cfg["limit"]:
        args += ["--memory-limit", cfg["limit"]]
    if cfg["per_rank"]:
        args += ["--output-per-rank", out]
    elif not cfg["stdout"]:
        args += ["-o", out]
    return args + files


def check(cfg, proc, expected, distinct, out, tmp, metrics):
    """@return a list of what went wrong."""
    bad = []
    if proc.returncode != 0:
        return ["exit status %d: %s" % (proc.returncode, proc.stderr[-2000:].decode(errors="replace"))]
    if cfg["per_rank"]:
        parts = sorted(p for p in os.listdir(out) if p.startswith("part-"))
        if len(parts) != cfg["np"] or "manifest.json" not in os.listdir(out):
            bad.append("parts: %s" % sorted(os.listdir(out)))
        lines = []
        for p in parts:
            data = open(os.path.join(out, p), "rb").read()
            mine = data.splitlines(keepends=True)
            # by the key, not the line: a key byte below TAB ("'\x004") sorts after a shorter key
            key = (lambda l: l.rsplit(b"\t", 1)[0]) if cfg["sort"] == "key" else \
                (lambda l: (-int(l.rsplit(b"\t", 1)[1]), l.rsplit(b"\t", 1)[0]))
            if mine != sorted(mine, key=key):
                bad.append("%s is not sorted" % p)
            lines += mine
        got = b"".join(sorted(lines, key=key))
    elif cfg["stdout"]:
        got = proc.stdout
    else:
        got = open(out, "rb").read()
    if got != expected:
        g, e = got.splitlines(), expected.splitlines()
        first = next((i for i in range(min(len(g), len(e))) if g[i] != e[i]), min(len(g), len(e)))
        bad.append("result differs: %d lines, expected %d; first difference at line %d: %r vs %r" % (
            len(g), len(e), first + 1, g[first] if first < len(g) else None,
            e[first] if first < len(e) else None))
    left = os.listdir(tmp)
    if left:
        bad.append("left in --tmp-dir: %s" % left)
    beside = [p for p in os.listdir(os.path.dirname(out)) if p != os.path.basename(out)]
    if beside:
        bad.append("left beside the result: %s" % beside)
    m = json.load(open(metrics))
    if m.get("distinct_keys") != distinct:
        bad.append("metrics: distinct_keys %s, expected %d" % (m.get("distinct_keys"), distinct))
    if cfg["job"] == "tsv" and (m.get("bad_records") or {}).get("total", 0) != cfg["expected_bad"]:
        bad.append("metrics: bad_records %s, expected %d malformed lines" % (m.get("bad_records"),
                                                                            cfg["expected_bad"]))
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mrcount", required=True)
    ap.add_argument("--mpirun", default="mpiexec --oversubscribe -np")
    ap.add_argument("--runs", type=int, default=int(os.environ.get("MRC_SWEEP_RUNS", "20")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("MRC_SWEEP_SEED", "1")))
    ap.add_argument("--keep", help="keep the inputs of failed configurations under this directory")
    a = ap.parse_args()
    mpirun = shlex.split(a.mpirun)
    work = tempfile.mkdtemp(prefix="mrc-sweep.")
    failed = spilled = ranged = placed = 0
    spill_dir = None
    spill_oracles = {}
    try:
        rng = random.Random(a.seed)
        # a key set past a 16M limit (~600 k distinct words, Zipf repeats), shared by the
        # spill configurations: made once, its oracle once per token rule and folding
        spill_rng = random.Random(a.seed * 7919 + 1)
        for i in range(a.runs):
            spill_set = i % 5 == 4
            cfg = draw_config(rng, spill_set)
            cdir = os.path.join(work, "cfg")
            shutil.rmtree(cdir, ignore_errors=True)
            os.makedirs(os.path.join(cdir, "in"))
            os.makedirs(os.path.join(cdir, "out"))
            os.makedirs(os.path.join(cdir, "tmp"))
            if spill_set:
                if spill_dir is None:
                    spill_dir = os.path.join(work, "spill")
                    os.makedirs(spill_dir)
                    spill_files = write_inputs(spill_rng, spill_dir, vocabulary(spill_rng, 700000),
                                               1500000, 4)
                files = spill_files
                okey = (cfg["tokens"], cfg["fold"])
                if okey not in spill_oracles:
                    spill_oracles[okey] = oracle(files, cfg)
                counts = spill_oracles[okey]
            elif cfg["job"] == "tsv":
                words = vocabulary(rng, rng.choice([3, 50, 2000]))
                files = write_tsv(rng, os.path.join(cdir, "in"), words, cfg, rng.randint(1, 4))
                counts, cfg["expected_bad"] = tsv_oracle(files, cfg)
            else:
                nd = rng.choice([5, 300, 3000, 30000])
                words = vocabulary(rng, nd)
                files = write_inputs(rng, os.path.join(cdir, "in"), words, nd * rng.choice([1, 3, 10]),
                                     rng.randint(1, 5))
                if rng.random() < 0.2:
                    empty = os.path.join(cdir, "in", "empty.txt")
                    open(empty, "wb").close()
                    files.append(empty)
                counts = oracle(files, cfg)
            expected = table_lines(counts, cfg["sort"], cfg["min_count"], cfg["top"])
            distinct = len(counts)
            out = os.path.join(cdir, "out", "parts" if cfg["per_rank"] else "result.tsv")
            metrics = os.path.join(cdir, "metrics.json")
            tmp = os.path.join(cdir, "tmp")
            args = command(cfg, mpirun, a.mrcount, files, out, tmp, metrics)
            try:
                proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300,
                                      stdin=subprocess.DEVNULL)
                bad = check(cfg, proc, expected, distinct, out, tmp, metrics)
            except subprocess.TimeoutExpired:
                bad = ["timed out after 300 s"]
            except (OSError, ValueError) as e:
                bad = ["%s" % e]
            try:
                m = json.load(open(metrics))
                ranged += bool(m["config"].get("output_ranges"))
                placed += bool(m["config"].get("output_in_place"))
                if spill_set:
                    spilled += any(r.get("spill_runs", 0) > 0 for r in m["ranks"])
            except (OSError, ValueError, KeyError):
                pass
            status = "ok" if not bad else "FAIL"
            shown = ["-np"] + args[len(mpirun):len(mpirun) + 1] + args[len(mpirun) + 4:len(args) - len(files)]
            print("[sweep] %s %d/%d: %s" % (status, i + 1, a.runs,
                                             " ".join(shlex.quote(x.replace(work, "$W")) for x in shown)),
                  flush=True)
            if bad:
                failed += 1
                for b in bad:
                    print("[sweep]   %s" % b, flush=True)
                print("[sweep]   command: %s" % " ".join(shlex.quote(x) for x in args), flush=True)
                if a.keep:
                    dest = os.path.join(a.keep, "cfg-%d" % (i + 1))
                    shutil.rmtree(dest, ignore_errors=True)
                    shutil.copytree(cdir, dest)
                    if spill_set:
                        shutil.copytree(spill_dir, os.path.join(dest, "spill"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    spill_runs = a.runs // 5
    print("[sweep] %d configurations, %d failed; %d of the %d spill configurations spilled; "
          "%d wrote the output by ranges, %d of them in place"
          % (a.runs, failed, spilled, spill_runs, ranged, placed))
    if spill_runs and not spilled:
        print("[sweep] FAIL: no configuration spilled: the spill is no longer tested")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
