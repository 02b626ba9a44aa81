#!/usr/bin/env python3
"""unicode_check.py - the `--tokens unicode` scanner and key builder (through the C test driver
tests/tools/unicode_keys) against the Python oracle (tests/tools/unicode_oracle.py), on:
  1. every code point: category, token or not, and its key for each (normalize, fold), for all
     code points assigned in Python's Unicode version (the others are listed as the version gap);
  2. real non-English UTF-8 text: a fixed sample of the French, German, Russian and Greek man
     pages of Debian's manpages-fr/-de/-ru/-el (troff sources, read gzipped);
  3. synthetic text made here: marks in random order, Hangul jamo, compatibility characters,
     apostrophes, delimiters of every script, invalid and truncated UTF-8;
every key in input order, the token count and invalid_utf8_bytes, for each of the six
(fold, normalize) combinations, the driver scanning with several span limits and record cuts.
Run by CTest (oracle.unicode); exits 1 on any difference, printing the first ones.
  unicode_check.py --driver BUILD/tests/unicode_keys [--sample-bytes N] [--keep DIR]
"""

import argparse
import collections
import glob
import gzip
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unicodedata
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import unicode_oracle as oracle  # noqa: E402

MANPAGES = {"fr": "manpages-fr", "de": "manpages-de", "ru": "manpages-ru", "el": "manpages-el"}
COMBOS = [(fold, norm) for fold in (False, True) for norm in ("none", "nfc", "nfkc")]
# (spans per scanner call, record cut): one call per span, small cuts, the default
SCANS = [(1, 0), (7, 97), (64, 4096), (1000, 0)]

failures = []
passed = 0


def check(ok, what):
    global passed
    if ok:
        passed += 1
    else:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)


def hx(s):
    return " ".join("%04X" % ord(c) for c in s)


def check_code_points(driver):
    out = subprocess.run([driver, "--table"], check=True, capture_output=True).stdout
    gap, seen = [], 0
    for line in out.decode().splitlines():
        f = line.split("\t")
        cp = int(f[0], 16)
        c = chr(cp)
        cat = unicodedata.category(c)
        seen += 1
        if cat == "Cn":
            if f[1] != "Cn":
                gap.append(cp)
            continue
        nfc, nfkc = (unicodedata.normalize(x, c) for x in ("NFC", "NFKC"))
        want = [cat, str(int(cat[0] in "LMN")), hx(c.casefold()), hx(nfc), hx(nfkc),
                hx(nfc.casefold()), hx(nfkc.casefold())]
        if f[1:] != want:
            check(False, "U+%04X: driver %s, Python %s" % (cp, f[1:], want))
    check(seen == 0x110000 - 0x800, "the table has %d code points" % seen)
    print("code points: %d compared; %d unassigned in Python's Unicode %s are assigned in the "
          "library's (e.g. %s)" % (seen - len(gap), len(gap), unicodedata.unidata_version,
                                   " ".join("U+%04X" % c for c in gap[:4])))
    check(True, "code points")


def man_sample(lang, limit):
    """Man pages of every section in a fixed shuffled order (by the CRC of their names), up to
    `limit` bytes of text; both the driver and the oracle read them gzipped."""
    paths = sorted(glob.glob("/usr/share/man/%s/man*/*.gz" % lang),
                   key=lambda p: (zlib.crc32(os.path.basename(p).encode()), p))
    out, total = [], 0
    for p in paths:
        if total >= limit:
            break
        with gzip.open(p, "rb") as f:
            total += len(f.read())
        out.append(p)
    return out, total


def pick(rng, lo, hi):
    """A code point of [lo, hi] the oracle may be used on: assigned in Python's Unicode
    version, or a noncharacter (unassigned in every version)."""
    while True:
        cp = rng.randint(lo, hi)
        cat = unicodedata.category(chr(cp))
        if cat != "Cs" and (cat != "Cn" or oracle.is_noncharacter(cp)):
            return chr(cp)


# Where the synthetic text draws its code points from (ranges, inclusive), weighted.
POOLS = [
    (8, [(0x61, 0x7A), (0x41, 0x5A), (0x30, 0x39)]),
    (4, [(0xC0, 0x24F), (0x1E00, 0x1EFF)]),  # Latin with diacritics, precomposed
    (4, [(0x370, 0x3FF), (0x1F00, 0x1FFF)]),  # Greek (final sigma, tonos, iota subscripts)
    (3, [(0x400, 0x52F)]),  # Cyrillic
    (6, [(0x300, 0x36F), (0x591, 0x5C7), (0x610, 0x61A), (0x64B, 0x65F), (0x93C, 0x94D),
         (0xF71, 0xF84), (0x1DC0, 0x1DFF), (0x20D0, 0x20F0), (0x302A, 0x302F),
         (0x1D165, 0x1D169), (0x1D16D, 0x1D172)]),  # marks of many combining classes
    (2, [(0xB05, 0xB57), (0xB85, 0xBD7), (0xD05, 0xD57), (0x1000, 0x102E), (0x1B05, 0x1B35),
         (0x9BE, 0x9D7)]),  # letters and class-0 vowel signs that compose (Oriya U+0B47 U+0B3E)
    # Hangul: modern jamo that compose, syllables, and the archaic jamo around them that do not
    # (U+11A7 sits just before the trailing consonants; utf8proc 2.8 composed it away)
    (3, [(0x1100, 0x1112), (0x1161, 0x1175), (0x11A8, 0x11C2), (0xAC00, 0xD7A3),
         (0x11A7, 0x11A7), (0x11A7, 0x11A7), (0x1176, 0x11A6), (0x11C3, 0x11FF)]),
    (2, [(0x4E00, 0x9FFF), (0x3041, 0x30FF)]),  # CJK, kana
    (2, [(0x660, 0x669), (0x966, 0x96F), (0xFF10, 0xFF19), (0x2160, 0x2188), (0xB2, 0xBE),
         (0x2460, 0x24FF)]),  # Nd, Nl, No
    (3, [(0xFB00, 0xFB06), (0xFF21, 0xFF5A), (0x37A, 0x37A), (0xFC5E, 0xFC63), (0x3300, 0x33FF),
         (0x1D400, 0x1D7FF), (0x2100, 0x214F), (0x1E9E, 0x1E9E), (0x130, 0x131), (0x149, 0x149),
         (0x1F0, 0x1F0), (0x390, 0x390), (0x915, 0x915), (0x958, 0x95F)]),  # compat, specials
    (2, [(0x13A0, 0x13FD), (0xAB70, 0xABBF)]),  # Cherokee
    (6, [(0x20, 0x20), (0x0A, 0x0A), (0x27, 0x27), (0x2019, 0x2019), (0x2C, 0x2E),
         (0xA0, 0xA0), (0x3000, 0x3000), (0x2000, 0x200F), (0x2028, 0x2029), (0xAB, 0xAB),
         (0xBB, 0xBB), (0x1F300, 0x1F64F), (0xFFFD, 0xFFFD), (0x00, 0x1F), (0x7F, 0x9F),
         (0xFDD0, 0xFDD0), (0xFFFE, 0xFFFF), (0xE000, 0xE010)]),  # delimiters
    (1, [(0x80, 0x10FFFF)]),  # anything assigned
]
INVALID = [b"\xff", b"\xfe", b"\x80", b"\xbf\x80", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf",
           b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf0\x80\x80\xaf", b"\xf4\x90\x80\x80",
           b"\xf5\x80\x80\x80", b"\xe2\x82", b"\xf0\x9f\x98", b"\xc3", b"\xe2"]


def synthetic(path, seed, size):
    rng = random.Random(seed)
    weights = [w for w, _ in POOLS]
    out = bytearray()
    while len(out) < size:
        r = rng.random()
        if r < 0.01:
            out += rng.choice(INVALID)
        elif r < 0.03:
            out += rng.choice(["don't", "'quoted'", "dogs'", "rock'n'roll", "a''b", "l\u2019homme",
                               "\u2019x\u2019", "e\u0301", "\u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3",
                               "Stra\u00dfe", "\u0915\u093c", "\n \t\n", "\n\n"]).encode()
        else:
            _, ranges = rng.choices(POOLS, weights)[0]
            lo, hi = rng.choice(ranges)
            out += pick(rng, lo, hi).encode("utf-8")
    if seed % 2:
        out += rng.choice(INVALID[-4:])  # a sequence cut by the end of the file
    with open(path, "wb") as f:
        f.write(out)


def compare_keys(driver, files, label):
    """Keys, token counts and invalid bytes of the driver and the oracle, per combination."""
    parsed = [oracle.File(p) for p in files]
    for f in parsed:
        check(not oracle.unassigned(f.text), "%s: %s has code points unassigned in Python's "
              "Unicode version" % (label, f.path))
    for i, (fold, norm) in enumerate(COMBOS):
        want = b"".join(k.encode("utf-8") + b"\n" for f in parsed for k in f.keys(norm, fold))
        want_err = "".join("%s\ttokens %d invalid_utf8_bytes %d\n" % (f.path, len(f.spans), f.invalid)
                           for f in parsed)
        spans, cut = SCANS[i % len(SCANS)]
        args = [driver, "--normalize", norm, "--max", str(spans), "--cut", str(cut)]
        args += ["--fold"] if fold else []
        r = subprocess.run(args + files, capture_output=True)
        what = "%s, fold=%s normalize=%s max=%d cut=%d" % (label, fold, norm, spans, cut)
        if r.returncode != 0:
            check(False, "%s: driver failed: %s" % (what, r.stderr.decode(errors="replace")))
            continue
        if r.stdout != want:
            g, w = r.stdout.split(b"\n"), want.split(b"\n")
            j = next((j for j in range(min(len(g), len(w))) if g[j] != w[j]), min(len(g), len(w)))
            check(False, "%s: key %d differs: driver %r, oracle %r (%d vs %d keys)"
                  % (what, j, g[j:j + 1], w[j:j + 1], len(g) - 1, len(w) - 1))
        else:
            check(True, what)
        check(r.stderr.decode() == want_err, "%s: counts differ:\n%s\nvs oracle\n%s"
              % (what, r.stderr.decode(), want_err))
    tokens = sum(len(f.spans) for f in parsed)
    invalid = sum(f.invalid for f in parsed)
    print("%s: %d files, %d tokens, %d invalid bytes: keys equal for %d combinations"
          % (label, len(files), tokens, invalid, len(COMBOS)))
    return tokens, invalid


def check_counts(driver, files):
    """The oracle's command line (counts, sorted by count then key bytes, or by key) against the
    driver's keys counted here, for single tokens (n-grams are in the oracle's self-test)."""
    r = subprocess.run([driver, "--fold", "--normalize", "nfkc"] + files, capture_output=True,
                       check=True)
    counts = collections.Counter(r.stdout.split(b"\n")[:-1])
    by_count = sorted(counts.items(), key=lambda kc: (-kc[1], kc[0]))
    by_key = sorted(counts.items())
    for extra, want in (([], by_count), (["--sort-key"], by_key)):
        o = subprocess.run([sys.executable, os.path.join(HERE, "unicode_oracle.py"), "--fold",
                            "--normalize", "nfkc", "--ngrams", "1"] + extra + files,
                           capture_output=True, check=True)
        check(o.stdout == b"".join(k + b"\t%d\n" % c for k, c in want),
              "oracle %s: the counted keys differ from the driver's" % (extra or "by count"))
    print("oracle counts: %d distinct keys, by count and by key, equal the driver's" % len(counts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--sample-bytes", type=int, default=400_000, help="text per language")
    ap.add_argument("--keep", help="keep the synthetic files in this directory")
    args = ap.parse_args()

    oracle.self_test()
    check(True, "oracle self-test")
    check_code_points(args.driver)

    for lang, pkg in MANPAGES.items():
        files, total = man_sample(lang, args.sample_bytes)
        if not files:
            check(False, "no man pages in /usr/share/man/%s: apt-get install %s "
                  "(.ci/install-deps.sh installs it)" % (lang, pkg))
            continue
        compare_keys(args.driver, files, "%s man pages (%d bytes)" % (lang, total))

    tmp = args.keep or tempfile.mkdtemp(prefix="mrc-unicode-")
    os.makedirs(tmp, exist_ok=True)
    try:
        files = []
        for seed in range(1, 5):
            p = os.path.join(tmp, "synthetic-%d.txt" % seed)
            synthetic(p, seed, 150_000)
            files.append(p)
        _, invalid = compare_keys(args.driver, files, "synthetic")
        check(invalid > 0, "the synthetic text has invalid bytes")
        check_counts(args.driver, files)
    finally:
        if not args.keep:
            shutil.rmtree(tmp)

    print("%d passed, %d failed" % (passed, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
