#!/usr/bin/env python3
"""unicode_oracle.py - a Python reference of the words job with `--tokens unicode`, written from
the issue's rule with nothing but the standard library (unicodedata), for tests to compare
mrcount against. It never shares code or tables with the C implementation.

The rule. Files are read as bytes (.gz inflated). A token is a maximal run of code points whose
general category is L*, M* or N*; an apostrophe (U+0027 or U+2019) joins two such runs only when
a letter, mark or number stands right before and right after it, and is then part of the token.
Every other code point is a delimiter, and so is every byte that is not part of a valid UTF-8
sequence (overlongs, surrogates, > U+10FFFF, stray continuation bytes, truncated sequences): each
such byte counts once in invalid_utf8_bytes. The key of a token is
casefold(normalize(token)) (`--fold`, `--normalize nfc|nfkc|none`); `--ngrams N` joins N
consecutive keys with one space, within a sequence: `--break line` ends a sequence at an LF,
`paragraph` at an LF, optional ASCII whitespace, then an LF, `none` only at the end of each file
(n-grams never span files). Output: `key TAB count`, by count descending then key bytes (UTF-8),
or by key bytes with --sort-key.

Unicode versions. unicodedata is Unicode 14.0 in Debian 12's Python 3.11; the C side uses its
library's (utf8proc 2.8.0: 15.0). For every code point assigned in Python's version the two agree on category, case
folding, NFC and NFKC (tests/tools/unicode_check.py compares them all), but a code point that is
unassigned (Cn) here may be a letter there. So use the oracle only on text free of such code
points: by default it warns (stderr) when it meets any, --unassigned=error makes that exit 3,
--list-unassigned lists them, --strip-unassigned OUTDIR writes copies without them (noncharacters,
Cn in every version, are kept: both sides agree they are delimiters).

Usage:
  unicode_oracle.py [--fold] [--normalize none|nfc|nfkc] [--ngrams N]
                    [--break|--ngram-break line|paragraph|none] [--sort-key] [--top K]
                    [--min-count K]
                    [--stats FILE.json] [--unassigned warn|error|ignore] [--careful] FILE...
  unicode_oracle.py --keys [--fold] [--normalize ...] FILE...   every key in input order, one a
                    line, and per file "PATH TAB tokens N invalid_utf8_bytes M" on stderr
  unicode_oracle.py --list-unassigned FILE...        "U+XXXX TAB count TAB file" lines; exit 3
                    when there is any
  unicode_oracle.py --strip-unassigned OUTDIR FILE...
  unicode_oracle.py --self-test
--careful decodes with the hand-written decoder below instead of Python's (same result, slower;
--self-test checks that they agree).
"""

import argparse
import collections
import gzip
import json
import os
import random
import re
import sys
import unicodedata

APOSTROPHES = ("'", "\u2019")
PARAGRAPH = re.compile(r"\n[ \t\n\v\f\r]*\n")
INVALID = re.compile("[\udc80-\udcff]")
INVALID_LO, INVALID_HI = 0xDC80, 0xDCFF  # surrogateescape's stand-ins for bytes 0x80..0xFF


def read_bytes(path):
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    return data


# ---- decoding: invalid bytes become U+DC80+byte, one per byte ----


def decode_fast(data):
    """Python's strict UTF-8 decoder (it rejects overlongs, surrogates and > U+10FFFF) with
    errors='surrogateescape': every byte of an ill-formed subsequence becomes one lone surrogate
    U+DC80..U+DCFF. Valid UTF-8 never decodes to a surrogate, so those are exactly the invalid
    bytes (a U+FFFD in the text stays U+FFFD: a So symbol, a delimiter)."""
    return data.decode("utf-8", errors="surrogateescape")


def decode_careful(data):
    """The same, byte by byte from the Unicode definition of well-formed UTF-8 (Table 3-7)."""
    out = []
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b < 0x80:
            out.append(chr(b))
            i += 1
            continue
        if 0xC2 <= b <= 0xDF:
            need, lo, hi = 1, 0x80, 0xBF
        elif b == 0xE0:
            need, lo, hi = 2, 0xA0, 0xBF
        elif b == 0xED:
            need, lo, hi = 2, 0x80, 0x9F
        elif 0xE1 <= b <= 0xEF:
            need, lo, hi = 2, 0x80, 0xBF
        elif b == 0xF0:
            need, lo, hi = 3, 0x90, 0xBF
        elif 0xF1 <= b <= 0xF3:
            need, lo, hi = 3, 0x80, 0xBF
        elif b == 0xF4:
            need, lo, hi = 3, 0x80, 0x8F
        else:  # 0x80..0xC1 (continuation, overlong lead), 0xF5..0xFF
            out.append(chr(INVALID_LO + b - 0x80))
            i += 1
            continue
        ok = i + 1 < n and lo <= data[i + 1] <= hi
        k = 2
        while ok and k <= need:
            ok = i + k < n and 0x80 <= data[i + k] <= 0xBF
            k += 1
        if ok:
            out.append(data[i : i + need + 1].decode("utf-8"))
            i += need + 1
        else:  # the lead byte alone is invalid; the bytes after it are looked at again
            out.append(chr(INVALID_LO + b - 0x80))
            i += 1
    return "".join(out)


def is_invalid(ch):
    return INVALID_LO <= ord(ch) <= INVALID_HI


def is_noncharacter(cp):
    return 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE


def unassigned(text):
    """Code points that are Cn in Python's Unicode version (noncharacters excepted), counted."""
    c = collections.Counter()
    for ch in text:
        cp = ord(ch)
        if cp >= 0x80 and not is_invalid(ch) and not is_noncharacter(cp):
            if unicodedata.category(ch) == "Cn":
                c[cp] += 1
    return c


# ---- tokens ----

_word = {}


def is_word(ch):
    w = _word.get(ch)
    if w is None:
        w = not is_invalid(ch) and unicodedata.category(ch)[0] in "LMN"
        _word[ch] = w
    return w


def tokens(text):
    """[(start, end)] of the tokens of text (a decoded file), in order."""
    out = []
    i, n = 0, len(text)
    while i < n:
        if not is_word(text[i]):
            i += 1
            continue
        s = i
        i += 1
        while i < n:
            if is_word(text[i]):
                i += 1
            elif text[i] in APOSTROPHES and i + 1 < n and is_word(text[i + 1]):
                i += 2
            else:
                break
        out.append((s, i))
    return out


def key_of(tok, norm, fold):
    if norm != "none":
        tok = unicodedata.normalize(norm.upper(), tok)
    return tok.casefold() if fold else tok


def breaks_between(gap, mode):
    if mode == "line":
        return "\n" in gap
    if mode == "paragraph":
        return PARAGRAPH.search(gap) is not None
    return False


class File:
    """One input, decoded and tokenized once; keys computed per (normalize, fold)."""

    def __init__(self, path, careful=False):
        self.path = path
        data = read_bytes(path)
        self.text = (decode_careful if careful else decode_fast)(data)
        self.invalid = len(INVALID.findall(self.text))
        self.spans = tokens(self.text)

    def keys(self, norm, fold):
        t = self.text
        return [key_of(t[s:e], norm, fold) for s, e in self.spans]

    def sequences(self, mode):
        """Index ranges [a, b) of self.spans forming the sequences n-grams stay within."""
        out, a = [], 0
        sp, t = self.spans, self.text
        for i in range(1, len(sp)):
            if mode != "none" and breaks_between(t[sp[i - 1][1] : sp[i][0]], mode):
                out.append((a, i))
                a = i
        if sp:
            out.append((a, len(sp)))
        return out

    def ngrams(self, n, mode, norm, fold):
        k = self.keys(norm, fold)
        for a, b in self.sequences(mode):
            for i in range(a, b - n + 1):
                yield " ".join(k[i : i + n])


def count(files, args):
    counts = collections.Counter()
    for f in files:
        counts.update(f.ngrams(args.ngrams, args.break_, args.normalize, args.fold))
    items = [(k.encode("utf-8"), c) for k, c in counts.items() if c >= args.min_count]
    if args.sort_key:
        items.sort(key=lambda kc: kc[0])
    else:
        items.sort(key=lambda kc: (-kc[1], kc[0]))
    if args.top is not None:
        items = items[: args.top]
    return counts, items


# ---- self-test: hand-checked cases, and the two decoders agreeing ----


def self_test():
    def toks(s):
        t = decode_fast(s.encode("utf-8"))
        return [t[a:b] for a, b in tokens(t)]

    cases = [
        ("don't l\u2019homme 'quoted' dogs'", ["don't", "l\u2019homme", "quoted", "dogs"]),
        ("a''b rock'n'roll '' x'\u2019y", ["a", "b", "rock'n'roll", "x", "y"]),
        ("caf\u00e9 e\u0301t\u00e9 \u0301x", ["caf\u00e9", "e\u0301t\u00e9", "\u0301x"]),
        ("a\u00a0b\u3000c d\u2009e", ["a", "b", "c", "d", "e"]),
        ("x\U0001F600y \ufffdz", ["x", "y", "z"]),
        ("\u65e5\u672c\u8a9e\u306e\u6587\u3002\u6b21", ["\u65e5\u672c\u8a9e\u306e\u6587", "\u6b21"]),
        ("\u0661\u0662\u0663 \u096710 \u00bd", ["\u0661\u0662\u0663", "\u096710", "\u00bd"]),
    ]
    for s, want in cases:
        got = toks(s)
        assert got == want, (s, got, want)
    # invalid bytes: delimiters, one count each
    for raw, want_toks, want_bad in [
        (b"ab\xffcd", ["ab", "cd"], 1),
        (b"ab\xc3", ["ab"], 1),  # truncated at the end
        (b"ab\xe2\x82", ["ab"], 2),
        (b"\xf0\x9f\x98x", ["x"], 3),
        (b"a\xc0\xafb", ["a", "b"], 2),  # overlong '/'
        (b"a\xed\xa0\x80b", ["a", "b"], 3),  # surrogate U+D800
        (b"a\xf4\x90\x80\x80b", ["a", "b"], 4),  # > U+10FFFF
        (b"a\x80\xbfb", ["a", "b"], 2),  # stray continuation bytes
        (b"a'\xffb", ["a", "b"], 1),  # an invalid byte does not join
        (b"\xe2\x80\x99a\xe2\x80\x99\xe2\x80\x99b\xe2\x80\x99", ["a", "b"], 0),
    ]:
        for dec in (decode_fast, decode_careful):
            t = dec(raw)
            got = [t[a:b] for a, b in tokens(t)]
            bad = sum(1 for ch in t if is_invalid(ch))
            assert got == want_toks and bad == want_bad, (raw, dec.__name__, got, bad)
    # keys
    for tok, norm, fold, want in [
        ("Stra\u00dfe", "none", True, "strasse"),
        ("\u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3", "none", True, "\u03c3\u03af\u03c3\u03c5\u03c6\u03bf\u03c3"),
        ("\u03c3\u03af\u03c3\u03c5\u03c6\u03bf\u03c2", "none", True, "\u03c3\u03af\u03c3\u03c5\u03c6\u03bf\u03c3"),
        ("\u0130", "none", True, "i\u0307"),
        ("\ufb01", "nfkc", False, "fi"),
        ("\uff21", "nfkc", True, "a"),
        ("e\u0301", "nfc", False, "\u00e9"),
        ("\u0915\u093c", "nfc", False, "\u0915\u093c"),  # a composition exclusion (U+0958)
    ]:
        got = key_of(tok, norm, fold)
        assert got == want, (tok, norm, fold, got, want)
    # n-grams and breaks
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "t.txt")
        with open(p, "wb") as fh:
            fh.write(b"a b\nc\n  \t\n d e\n\n\nf")
        f = File(p)
        for mode, n, want in [
            ("none", 2, ["a b", "b c", "c d", "d e", "e f"]),
            ("line", 2, ["a b", "d e"]),
            ("paragraph", 2, ["a b", "b c", "d e"]),
            ("paragraph", 3, ["a b c"]),
            ("line", 1, ["a", "b", "c", "d", "e", "f"]),
        ]:
            got = list(f.ngrams(n, mode, "none", False))
            assert got == want, (mode, n, got, want)
        with open(p, "wb") as fh:
            fh.write("b a B \u00c9 c a \u00e9 a\xa0b".encode())
        ns = argparse.Namespace(ngrams=1, break_="none", normalize="nfc", fold=True,
                                min_count=1, sort_key=False, top=None)
        _, items = count([File(p)], ns)
        assert items == [(b"a", 3), (b"b", 3), ("\u00e9".encode(), 2), (b"c", 1)], items
        ns.min_count, ns.top = 2, 2
        assert count([File(p)], ns)[1] == [(b"a", 3), (b"b", 3)]
        ns.min_count, ns.top, ns.sort_key = 1, None, True
        assert [k for k, _ in count([File(p)], ns)[1]] == [b"a", b"b", b"c", "\u00e9".encode()]
    # the decoders agree on random bytes biased towards UTF-8 lead/continuation bytes
    rng = random.Random(1)
    alphabet = list(range(0x00, 0x80, 7)) + list(range(0x80, 0x100))
    for _ in range(20000):
        raw = bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 12)))
        assert decode_fast(raw) == decode_careful(raw), raw
    print("unicode_oracle self-test: ok (Unicode %s)" % unicodedata.unidata_version)


# ---- command line ----


def main(argv):
    ap = argparse.ArgumentParser(
        description="Python reference of mrcount's words job with --tokens unicode."
    )
    ap.add_argument("--fold", action="store_true")
    ap.add_argument("--normalize", choices=("none", "nfc", "nfkc"), default="none")
    ap.add_argument("--ngrams", type=int, default=1)
    ap.add_argument("--break", "--ngram-break", dest="break_", choices=("line", "paragraph", "none"),
                    default="line")
    ap.add_argument("--sort-key", action="store_true")
    ap.add_argument("--top", type=int)
    ap.add_argument("--min-count", type=int, default=1)
    ap.add_argument("--stats", metavar="FILE.json")
    ap.add_argument("--unassigned", choices=("warn", "error", "ignore"), default="warn")
    ap.add_argument("--careful", action="store_true")
    ap.add_argument("--keys", action="store_true")
    ap.add_argument("--list-unassigned", action="store_true")
    ap.add_argument("--strip-unassigned", metavar="OUTDIR")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args(argv)
    if args.self_test:
        self_test()
        return 0
    if args.ngrams < 1:
        ap.error("--ngrams N: N >= 1")
    if not args.files:
        ap.error("no input files")
    out = sys.stdout.buffer

    if args.strip_unassigned:
        os.makedirs(args.strip_unassigned, exist_ok=True)
        for p in args.files:
            text = decode_fast(read_bytes(p))
            drop = unassigned(text)
            kept = "".join(ch for ch in text if ord(ch) not in drop) if drop else text
            dst = os.path.join(args.strip_unassigned, os.path.basename(p).removesuffix(".gz"))
            with open(dst, "wb") as fh:
                fh.write(kept.encode("utf-8", errors="surrogateescape"))
        return 0
    if args.list_unassigned:
        found = False
        for p in args.files:
            for cp, c in sorted(unassigned(decode_fast(read_bytes(p))).items()):
                out.write(b"U+%04X\t%d\t%s\n" % (cp, c, os.fsencode(p)))
                found = True
        return 3 if found else 0

    files = []
    for p in args.files:
        f = File(p, careful=args.careful)
        if args.unassigned != "ignore":
            u = unassigned(f.text)
            if u:
                some = " ".join("U+%04X" % cp for cp in sorted(u)[:8])
                print(
                    "unicode_oracle: %s: %d code point(s) unassigned in Unicode %s (%s%s): the "
                    "C side may read them as letters; see --strip-unassigned"
                    % (p, sum(u.values()), unicodedata.unidata_version, some,
                       " ..." if len(u) > 8 else ""),
                    file=sys.stderr,
                )
                if args.unassigned == "error":
                    return 3
        files.append(f)

    if args.keys:
        for f in files:
            for k in f.keys(args.normalize, args.fold):
                out.write(k.encode("utf-8"))
                out.write(b"\n")
            print("%s\ttokens %d invalid_utf8_bytes %d" % (f.path, len(f.spans), f.invalid),
                  file=sys.stderr)
        return 0

    counts, items = count(files, args)
    for k, c in items:
        out.write(k + b"\t%d\n" % c)
    if args.stats:
        with open(args.stats, "w") as fh:
            json.dump(
                {
                    "tokens": sum(len(f.spans) for f in files),
                    "ngrams": sum(counts.values()),
                    "distinct": len(counts),
                    "invalid_utf8_bytes": sum(f.invalid for f in files),
                    "unicode_version": unicodedata.unidata_version,
                },
                fh,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
