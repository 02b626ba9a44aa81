/* test_unicode.c - the `--tokens unicode` scanner and key builder (src/map/unicode.h) against
 * hand-checked expectations: apostrophes, marks, delimiters of other scripts, CJK, digits of
 * other scripts, invalid and truncated UTF-8 (counted per byte), resuming when the span array is
 * full, ranges cut at record delimiters; keys from CaseFolding.txt (C+F) and the normalization
 * forms, checked by hand against the Unicode data files (and Python 3.11's unicodedata).
 * tests/tools/unicode_check.py compares every code point and real text with Python. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"
#include "unicode.h"

/* ---- scanning ---- */

#define MAX_TOKENS 64

typedef struct scanned {
    char tok[MAX_TOKENS][64];
    bool ascii[MAX_TOKENS];
    size_t n;
    uint64_t invalid;
} scanned;

/* Scan s[0..len) whole, `max` spans per call, checking the resume contract on the way. */
static void scan_all(const char *s, size_t len, size_t max, scanned *out)
{
    const unsigned char *b = (const unsigned char *)s;
    mrc_unicode_span spans[MAX_TOKENS];
    assert_true(max <= MAX_TOKENS);
    memset(out, 0, sizeof *out);
    for (size_t pos = 0; pos < len;) {
        size_t n = 99;
        size_t next = mrc_unicode_scan(b, pos, len, spans, max, &n, &out->invalid);
        assert_true(n <= max);
        assert_true(next <= len);
        if (next < len) assert_int_equal(n, max); /* stops early only when full */
        for (size_t i = 0; i < n; i++) {
            size_t tl = spans[i].end - spans[i].start;
            assert_true(spans[i].start >= pos && spans[i].end <= next && tl > 0 && tl < 64);
            assert_true(out->n < MAX_TOKENS);
            memcpy(out->tok[out->n], s + spans[i].start, tl);
            out->tok[out->n][tl] = '\0';
            bool ascii = true;
            for (size_t j = spans[i].start; j < spans[i].end; j++)
                ascii = ascii && b[j] < 0x80;
            assert_int_equal(spans[i].ascii, ascii);
            out->ascii[out->n++] = spans[i].ascii;
        }
        assert_true(next > pos || n > 0);
        pos = next;
    }
}

/* s (NUL-free unless len is given) scans to exactly the tokens in want (NULL-terminated), with
 * `invalid` invalid bytes, whatever the span limit. */
static void expect_tokens_n(const char *s, size_t len, uint64_t invalid, const char *const *want)
{
    static const size_t maxes[] = {1, 2, 3, MAX_TOKENS};
    for (size_t m = 0; m < sizeof maxes / sizeof *maxes; m++) {
        scanned got;
        scan_all(s, len, maxes[m], &got);
        size_t nw = 0;
        while (want[nw] != NULL)
            nw++;
        if (got.n != nw || got.invalid != invalid) {
            print_error("input \"%s\" (max %zu): %zu tokens, %llu invalid; want %zu, %llu\n", s,
                        maxes[m], got.n, (unsigned long long)got.invalid, nw,
                        (unsigned long long)invalid);
            for (size_t i = 0; i < got.n; i++)
                print_error("  got [%s]\n", got.tok[i]);
            fail();
        }
        for (size_t i = 0; i < nw; i++)
            assert_string_equal(got.tok[i], want[i]);
    }
}

#define EXPECT(s, invalid, ...)                                                                    \
    expect_tokens_n(s, sizeof(s) - 1, invalid, (const char *const[]){__VA_ARGS__, NULL})
#define EXPECT_NONE(s, invalid)                                                                    \
    expect_tokens_n(s, sizeof(s) - 1, invalid, (const char *const[]){NULL})

static void test_record_delims(void **state)
{
    (void)state;
    const unsigned char *d = mrc_unicode_record_delims();
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
                    b == '\'' || b >= 0x80;
        assert_int_equal(d[b] != 0, !keep);
        /* a flagged byte is never inside a token, whatever surrounds it */
        if (d[b]) {
            char s[4] = {'a', (char)b, 'b', 0};
            scanned got;
            scan_all(s, 3, MAX_TOKENS, &got);
            assert_int_equal(got.n, 2);
        }
    }
}

static void test_apostrophes(void **state)
{
    (void)state;
    EXPECT("don't l\u2019homme 'quoted' dogs'", 0, "don't", "l\u2019homme", "quoted", "dogs");
    EXPECT("rock'n'roll rock\u2019n\u2019roll", 0, "rock'n'roll", "rock\u2019n\u2019roll");
    EXPECT("a''b a\u2019\u2019b a'\u2019b", 0, "a", "b", "a", "b", "a", "b");
    EXPECT_NONE("' '' \u2019 \u2019\u2019 '\u2019", 0);
    EXPECT("\u2019x\u2019 'y' x'", 0, "x", "y", "x");
    EXPECT("\u00e9'\u00e9 1'2 \u0661'\u0662", 0, "\u00e9'\u00e9", "1'2", "\u0661'\u0662");
    EXPECT("a'\u0301", 0, "a'\u0301"); /* a mark after the apostrophe joins */
    EXPECT("a'.b", 0, "a", "b");
    /* apostrophe flags: ' keeps a token ASCII, U+2019 does not */
    scanned got;
    scan_all("don't l\u2019a", 12, MAX_TOKENS, &got);
    assert_int_equal(got.n, 2);
    assert_true(got.ascii[0]);
    assert_false(got.ascii[1]);
}

static void test_marks_and_scripts(void **state)
{
    (void)state;
    /* a mark after a delimiter starts a token; e + U+0301 is one token */
    EXPECT("\u0301x e\u0301 =\u0338 caf\u00e9", 0, "\u0301x", "e\u0301", "\u0338", "caf\u00e9");
    /* spaces and separators of any script are delimiters, tokens around them stay ASCII */
    EXPECT("a\u00a0b\u3000c\u2009d\u202fe\u2028f\xc2\x85g", 0, "a", "b", "c", "d", "e", "f", "g");
    scanned got;
    scan_all("a\u00a0b", 4, MAX_TOKENS, &got);
    assert_true(got.n == 2 && got.ascii[0] && got.ascii[1]);
    /* symbols (So, Sm, Sc), punctuation of other scripts, U+FFFD, private use, noncharacters */
    EXPECT("x\U0001F600y I\u2764NY \u00abz\u00bb 5\u20ac \u00bfq? a\ufffdb c\ue000d e\ufffef", 0,
           "x", "y", "I", "NY", "z", "5", "q", "a", "b", "c", "d", "e", "f");
    /* scripts written without spaces give long runs; the ideographic full stop ends one */
    EXPECT("\u65e5\u672c\u8a9e\u306e\u6587\u3002\u6b21\u3001\u30ab\u30bf", 0,
           "\u65e5\u672c\u8a9e\u306e\u6587", "\u6b21", "\u30ab\u30bf");
    /* numbers of other scripts: Nd (Arabic-Indic, Devanagari), Nl (Roman), No (fractions) */
    EXPECT("\u0661\u0662\u0663 \u096710 \u216b \u00bd \u2460", 0, "\u0661\u0662\u0663", "\u096710",
           "\u216b", "\u00bd", "\u2460");
    /* Greek, Cyrillic, Hangul jamo, Devanagari with its marks */
    EXPECT("\u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3, \u043f\u0440\u0438\u0432\u0435\u0442! "
           "\u1100\u1161\u11a8 \u0939\u093f\u0928\u094d\u0926\u0940",
           0, "\u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3", "\u043f\u0440\u0438\u0432\u0435\u0442",
           "\u1100\u1161\u11a8", "\u0939\u093f\u0928\u094d\u0926\u0940");
    /* _ - and the ASCII controls and DEL are delimiters */
    EXPECT("snake_case co-op a\x7f"
           "b\x01z",
           0, "snake", "case", "co", "op", "a", "b", "z");
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    EXPECT("ab\xff"
           "cd",
           1, "ab", "cd");
    EXPECT("ab\xc3", 1, "ab");       /* truncated by the end: each byte counts */
    EXPECT("ab\xe2\x82", 2, "ab");   /* 3-byte sequence, 2 present */
    EXPECT("\xf0\x9f\x98x", 3, "x"); /* 4-byte sequence, 3 present, then ASCII */
    EXPECT("ab\xc3x", 1, "ab", "x"); /* a lead byte cut by ASCII */
    EXPECT("a\xc0\xaf"
           "b",
           2, "a", "b"); /* overlong '/' (C0 and C1 never start a sequence) */
    EXPECT("a\xe0\x80\xaf"
           "b",
           3, "a", "b"); /* overlong, 3 bytes */
    EXPECT("a\xf0\x80\x80\xaf"
           "b",
           4, "a", "b");                               /* overlong, 4 bytes */
    EXPECT("a\xed\xa0\x80z\xed\xbf\xbf", 6, "a", "z"); /* surrogates U+D800, U+DFFF */
    EXPECT("a\xf4\x90\x80\x80"
           "b",
           4, "a", "b"); /* U+110000 */
    EXPECT("a\xf5\x80\x80\x80"
           "b\xf8\x88\x80\x80\x80"
           "c",
           9, "a", "b", "c");
    EXPECT("a\x80\xbf"
           "b",
           2, "a", "b"); /* stray continuation bytes */
    EXPECT("a'\xff"
           "b",
           1, "a", "b");                     /* an invalid byte does not join */
    EXPECT("a\xe2\x80\x99\xe2\x80", 2, "a"); /* U+2019 then a truncated sequence */
    EXPECT("x\xe2\x80\x99", 0, "x");         /* U+2019 at the very end */
    EXPECT("\xc3\xa9\xc3", 1, "\u00e9");     /* a token ended by a truncated sequence */
    /* the boundary values that are valid */
    EXPECT("\xc2\xaa \xe0\xa0\x80 \xed\x9f\xbb \xee\x80\x80 \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf", 0,
           "\u00aa", "\u0800", "\ud7fb", "\U00010000");
    EXPECT_NONE("\xff\xfe\xfd", 3);
    EXPECT_NONE("\xe2\x82\xe2\x82\xe2", 5);
    const char nul[] = {'a', 0, 'b'};
    expect_tokens_n(nul, 3, 0, (const char *const[]){"a", "b", NULL});
}

/* A buffer of many tokens (ASCII, non-ASCII, joined apostrophes) and delimiters, some invalid:
 * every span limit gives the same spans, the resume point is always the next token's start,
 * and invalid bytes are counted once. */
static void test_many_spans(void **state)
{
    (void)state;
    static const char *const pieces[] = {
        "word",     " ",     "\u00e9t\u00e9", "\u00a0",   "don't", "\xff",    "\u4e2d\u6587",
        "\xe2\x82", "dogs'", "\u3000",        "x\u2019y", ", ",    "\u0301a", "\xed\xa0\x80"};
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    rng_seed(42);
    while (len + 16 < cap) {
        const char *p = pieces[rng_below(sizeof pieces / sizeof *pieces)];
        memcpy(buf + len, p, strlen(p));
        len += strlen(p);
        buf[len++] = ' ';
    }
    const unsigned char *b = (const unsigned char *)buf;
    size_t nref = 0;
    uint64_t inv_ref = 0;
    mrc_unicode_span *ref = malloc(len * sizeof *ref);
    assert_non_null(ref);
    assert_int_equal(mrc_unicode_scan(b, 0, len, ref, len, &nref, &inv_ref), len);
    assert_true(nref > 1000 && inv_ref > 100);
    static const size_t maxes[] = {1, 2, 3, 7, 64, 255};
    mrc_unicode_span spans[255];
    for (size_t m = 0; m < sizeof maxes / sizeof *maxes; m++) {
        size_t k = 0, n;
        uint64_t inv = 0;
        for (size_t pos = 0; pos < len;) {
            size_t next = mrc_unicode_scan(b, pos, len, spans, maxes[m], &n, &inv);
            for (size_t i = 0; i < n; i++, k++) {
                assert_true(k < nref);
                assert_true(spans[i].start == ref[k].start && spans[i].end == ref[k].end &&
                            spans[i].ascii == ref[k].ascii);
            }
            if (next < len) {
                assert_int_equal(n, maxes[m]);
                assert_true(k < nref);
                assert_int_equal(next, ref[k].start); /* resumes at the next token */
            }
            pos = next;
        }
        assert_int_equal(k, nref);
        assert_int_equal(inv, inv_ref);
    }
    /* ranges cut after record delimiters (as the reader hands them) give the same spans */
    const unsigned char *delim = mrc_unicode_record_delims();
    size_t k = 0, n;
    uint64_t inv = 0;
    for (size_t pos = 0; pos < len;) {
        size_t end = pos + 1 + rng_below(200);
        while (end < len && !delim[b[end - 1]])
            end++;
        if (end > len) end = len;
        for (size_t p = pos; p < end;) {
            p = mrc_unicode_scan(b, p, end, spans, 255, &n, &inv);
            for (size_t i = 0; i < n; i++, k++)
                assert_true(k < nref && spans[i].start == ref[k].start &&
                            spans[i].end == ref[k].end);
        }
        pos = end;
    }
    assert_int_equal(k, nref);
    assert_int_equal(inv, inv_ref);
    /* exactly max tokens, then only delimiters: done in one call, trailing bytes counted */
    const char tail[] = "one two\xff \xe2\x82";
    uint64_t inv2 = 0;
    assert_int_equal(
        mrc_unicode_scan((const unsigned char *)tail, 0, sizeof tail - 1, spans, 2, &n, &inv2),
        sizeof tail - 1);
    assert_int_equal(n, 2);
    assert_int_equal(inv2, 3);
    /* a range starting mid-buffer */
    inv2 = 0;
    assert_int_equal(mrc_unicode_scan((const unsigned char *)tail, 4, 7, spans, 2, &n, &inv2), 7);
    assert_true(n == 1 && spans[0].start == 4 && spans[0].end == 7 && inv2 == 0);
    free(ref);
    free(buf);
}

/* Text made of units whose class is known (ASCII letters, ', U+2019, an accented letter, a
 * combining mark, NBSP, an invalid byte, truncated sequences...), tokenized here unit by unit:
 * the scanner's 64-byte ASCII blocks and its code point path must agree wherever the units
 * fall against the block edges, and so must the keys. */
typedef struct unit {
    const char *bytes;
    char cls; /* 'w' token code point, 'a' apostrophe, 'd' delimiter, 'x' one invalid byte */
} unit;

static const unit units[] = {
    {"a", 'w'},      {"Z", 'w'},          {"7", 'w'},      {"'", 'a'},
    {"\u2019", 'a'}, {" ", 'd'},          {".", 'd'},      {"\n", 'd'},
    {"\u00e9", 'w'}, {"\u0301", 'w'},     {"\u00a0", 'd'}, {"\u4e2d", 'w'},
    {"\xff", 'x'},   {"\U0001F600", 'd'}, {"\u0130", 'w'}, {"\ufb01", 'w'},
};

static void test_block_edges(void **state)
{
    (void)state;
    enum { N = 600 };
    char *text = malloc(N * 4 + 1);
    size_t *at = malloc((N + 1) * sizeof *at);
    unsigned char *cls = malloc(N);
    mrc_unicode_span *spans = malloc(N * sizeof *spans), *want = malloc(N * sizeof *want);
    assert_true(text && at && cls && spans && want);
    rng_seed(7);
    for (int round = 0; round < 300; round++) {
        /* mostly ASCII, so that many 64-byte blocks are pure ASCII: other units take 0-5% */
        size_t len = 0, m = 0, other = rng_below(6);
        for (; m < N; m++) {
            size_t r = rng_below(100);
            const unit *u = r < other ? &units[rng_below(sizeof units / sizeof *units)]
                            : r < 80  ? &units[rng_below(3)]
                                      : &units[3 + rng_below(4)]; /* ' ’ space . */
            at[m] = len;
            cls[m] = (unsigned char)u->cls;
            memcpy(text + len, u->bytes, strlen(u->bytes));
            len += strlen(u->bytes);
        }
        at[m] = len;
        size_t nw = 0;
        uint64_t want_invalid = 0;
        for (size_t j = 0; j < m;) {
            want_invalid += cls[j] == 'x';
            if (cls[j] != 'w') {
                j++;
                continue;
            }
            size_t s = j++;
            while (j < m && (cls[j] == 'w' || (cls[j] == 'a' && j + 1 < m && cls[j + 1] == 'w')))
                j += cls[j] == 'w' ? 1 : 2;
            bool ascii = true;
            for (size_t k = at[s]; k < at[j]; k++)
                ascii = ascii && (unsigned char)text[k] < 0x80;
            want[nw++] = (mrc_unicode_span){at[s], at[j], ascii};
        }
        size_t max = 1 + rng_below(40), k = 0, n;
        uint64_t invalid = 0;
        const unsigned char *b = (const unsigned char *)text;
        for (size_t pos = 0; pos < len;) {
            pos = mrc_unicode_scan(b, pos, len, spans, max, &n, &invalid);
            for (size_t i = 0; i < n; i++, k++) {
                assert_true(k < nw);
                if (spans[i].start != want[k].start || spans[i].end != want[k].end ||
                    spans[i].ascii != want[k].ascii) {
                    print_error("round %d token %zu: %zu..%zu (%d), want %zu..%zu (%d)\n", round, k,
                                spans[i].start, spans[i].end, spans[i].ascii, want[k].start,
                                want[k].end, want[k].ascii);
                    fail();
                }
            }
        }
        assert_int_equal(k, nw);
        assert_int_equal(invalid, want_invalid);
        /* the keys of ASCII tokens: folded 8 bytes at a time, the same as byte by byte */
        mrc_unicode_keybuf kb = {0};
        mrc_err err = {0};
        size_t *ends = malloc((nw + 1) * sizeof *ends);
        assert_non_null(ends);
        assert_int_equal(
            mrc_unicode_keys_select(MRC_NORMALIZE_NFKC, true)(&kb, b, want, nw, ends, &err), 0);
        for (size_t i = 0, e0 = 0; i < nw; e0 = ends[i++]) {
            if (!want[i].ascii) continue;
            size_t tl = want[i].end - want[i].start;
            assert_int_equal(ends[i] - e0, tl);
            for (size_t j = 0; j < tl; j++) {
                unsigned char c = b[want[i].start + j];
                assert_int_equal(kb.bytes[e0 + j], c >= 'A' && c <= 'Z' ? c + 32 : c);
            }
        }
        free(ends);
        mrc_unicode_keybuf_free(&kb);
    }
    free(text);
    free(at);
    free(cls);
    free(spans);
    free(want);
}

/* ---- keys ---- */

static void expect_key(const char *tok, enum mrc_normalize norm, bool fold, const char *want)
{
    mrc_unicode_keybuf kb = {0};
    mrc_err err = {0};
    size_t n = strlen(tok);
    bool ascii = true;
    for (size_t i = 0; i < n; i++)
        ascii = ascii && (unsigned char)tok[i] < 0x80;
    /* appended after what the buffer already holds */
    kb.len = 0;
    assert_int_equal(mrc_unicode_key(mrc_unicode_keys_select(norm, fold), &kb,
                                     (const unsigned char *)"x", 1, true, &err),
                     0);
    assert_int_equal(mrc_unicode_key(mrc_unicode_keys_select(norm, fold), &kb,
                                     (const unsigned char *)tok, n, ascii, &err),
                     0);
    if (kb.len - 1 != strlen(want) || memcmp(kb.bytes + 1, want, kb.len - 1) != 0) {
        print_error("key of \"%s\" (norm %d, fold %d): \"%.*s\", want \"%s\"\n", tok, (int)norm,
                    fold, (int)(kb.len - 1), (const char *)kb.bytes + 1, want);
        fail();
    }
    if (mrc_unicode_key_is_token(norm, fold, ascii)) assert_string_equal(tok, want);
    mrc_unicode_keybuf_free(&kb);
}

#define NONE MRC_NORMALIZE_NONE
#define NFC MRC_NORMALIZE_NFC
#define NFKC MRC_NORMALIZE_NFKC

static void test_case_folding(void **state)
{
    (void)state;
    /* ASCII: A-Z only, whatever the normalization */
    for (int nm = NONE; nm <= NFKC; nm++) {
        expect_key("HeLLo", (enum mrc_normalize)nm, true, "hello");
        expect_key("HeLLo", (enum mrc_normalize)nm, false, "HeLLo");
        expect_key("Don't", (enum mrc_normalize)nm, true, "don't");
    }
    expect_key("Stra\u00dfe", NONE, true, "strasse"); /* 00DF; F; 0073 0073 */
    expect_key("STRA\u1e9eE", NONE, true, "strasse"); /* 1E9E; F; 0073 0073 */
    expect_key("Stra\u00dfe", NONE, false, "Stra\u00dfe");
    /* final sigma folds like any sigma (03C2; C; 03C3) */
    expect_key("\u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3", NONE, true,
               "\u03c3\u03af\u03c3\u03c5\u03c6\u03bf\u03c3");
    expect_key("\u03c3\u03af\u03c3\u03c5\u03c6\u03bf\u03c2", NONE, true,
               "\u03c3\u03af\u03c3\u03c5\u03c6\u03bf\u03c3");
    expect_key("\u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3", NFC, true,
               "\u03c3\u03af\u03c3\u03c5\u03c6\u03bf\u03c3");
    /* Turkish dotted capital I, locale-free: 0130; F; 0069 0307 (not the T entry); dotless i
     * has no folding */
    expect_key("\u0130stanbul", NONE, true, "i\u0307stanbul");
    expect_key("\u0130", NFC, true, "i\u0307");
    expect_key("\u0131", NONE, true, "\u0131");
    /* Cherokee: the small letters (Unicode 8) fold to the capitals, not the other way:
     * AB70; C; 13A0 and 13F8; C; 13F0; 13A0 has no folding */
    expect_key("\u13a0", NONE, true, "\u13a0");
    expect_key("\uab70", NONE, true, "\u13a0");
    expect_key("\u13f8", NONE, true, "\u13f0");
    /* status F expansions: the ligature fi, iota with dialytika and tonos, n preceded by
     * apostrophe, and a fold that is not NFC (j with caron stays decomposed) */
    expect_key("\ufb01", NONE, true, "fi");
    expect_key("\u0390", NONE, true, "\u03b9\u0308\u0301");
    expect_key("\u0149", NONE, true, "\u02bcn");
    expect_key("\u01f0", NFC, true, "j\u030c");
    expect_key("\u1f88", NONE, true, "\u1f00\u03b9"); /* 1F88; F; 1F00 03B9 */
    /* the Kelvin sign and full-width letters fold within their own forms */
    expect_key("\u212a", NONE, true, "k");
    expect_key("\uff21", NONE, true, "\uff41");
    /* a mixed token: ASCII parts are folded in line */
    expect_key("CAF\u00c9", NONE, true, "caf\u00e9");
}

static void test_normalization(void **state)
{
    (void)state;
    expect_key("e\u0301", NFC, false, "\u00e9");
    expect_key("e\u0301", NFKC, false, "\u00e9");
    expect_key("e\u0301", NONE, false, "e\u0301");
    expect_key("E\u0301t\u00c9", NFC, true, "\u00e9t\u00e9");
    expect_key("\u00e9", NFC, false, "\u00e9");
    /* canonical reordering, then composition: c + acute + cedilla -> U+1E09 */
    expect_key("c\u0301\u0327", NFC, false, "\u1e09");
    /* composition exclusions stay decomposed: U+0958 is excluded (utf8proc's composition
     * table leaves the script exclusions out; UTF8PROC_STABLE keeps out the rest, all of them
     * symbols such as U+2ADC, so never inside a token: unicode_check.py compares them all) */
    expect_key("\u0915\u093c", NFC, false, "\u0915\u093c");
    expect_key("\u0958", NFC, false, "\u0915\u093c");
    /* Hangul jamo compose algorithmically; a leading jamo alone stays */
    expect_key("\u1100\u1161\u11a8", NFC, false, "\uac01");
    expect_key("\u1100\u1161", NFKC, true, "\uac00");
    expect_key("\u1100", NFC, false, "\u1100");
    /* U+11A7 is not a trailing consonant (those are U+11A8..U+11C2): it stays, and a trailing
     * consonant after it does not join the syllable (utf8proc 2.8 composed it away, adding 0,
     * and then U+11A8 into the syllable: U+AC00 U+11A7 U+11A8 became U+AC01) */
    expect_key("\uac00\u11a7", NFC, false, "\uac00\u11a7");
    expect_key("\u1100\u1161\u11a7", NFKC, true, "\uac00\u11a7");
    expect_key("\uac00\u11a7\u11a8", NFC, false, "\uac00\u11a7\u11a8");
    expect_key("\u11a7\u1100\u1161\u11a7\u11a7\u1100\u1161\u11a8\u11a7", NFC, true,
               "\u11a7\uac00\u11a7\u11a7\uac01\u11a7");
    /* vowel signs of combining class 0 that compose with the letter before them (Oriya,
     * Myanmar): a token of class-0 code points is not always its own NFC */
    expect_key("\u0b47\u0b3e", NFC, false, "\u0b4b");
    expect_key("\u1025\u102e", NFC, true, "\u1026");
    expect_key("\u0b47", NFC, false, "\u0b47");
    /* already normal, with folding: Cyrillic, Greek with tonos */
    expect_key("\u041f\u0440\u0438\u0432\u0435\u0442", NFC, true,
               "\u043f\u0440\u0438\u0432\u0435\u0442");
    expect_key("\u0386\u03b8\u03b7\u03bd\u03b1", NFKC, true, "\u03ac\u03b8\u03b7\u03bd\u03b1");
    /* compatibility forms: only NFKC */
    expect_key("\ufb01", NFKC, false, "fi");
    expect_key("\ufb01", NFC, false, "\ufb01");
    expect_key("\uff21", NFKC, false, "A");
    expect_key("\uff21", NFKC, true, "a");
    expect_key("\uff21", NFC, false, "\uff21");
    expect_key("\u212a", NFC, false, "K"); /* a canonical singleton */
    expect_key("\u2460", NFKC, false, "1");
    expect_key("\u00bd", NFKC, false, "1\u20442");
    expect_key("\u037a", NFKC, false, " \u0345"); /* a key may hold a space */
    expect_key("\u037a", NFKC, true, " \u03b9");
    expect_key("\u0130", NFKC, false, "\u0130");
    /* canonical ordering of a run of marks: stable by class, whatever its length (a token of
     * up to 256 bytes by utf8proc, a longer one by mrcount: a long run took time quadratic in
     * its length): a with n acutes (230) then n dots below (220) is U+1EA1, n - 1 dots, n
     * acutes (Python's NFC) */
    for (size_t n = 1; n <= 80; n += 79) {
        char tok[1024], want[1024];
        size_t t = 0, w = 0;
        tok[t++] = 'a';
        for (size_t i = 0; i < n; i++)
            t += (size_t)sprintf(tok + t, "\u0301");
        for (size_t i = 0; i < n; i++)
            t += (size_t)sprintf(tok + t, "\u0323");
        w += (size_t)sprintf(want + w, "\u1ea1");
        for (size_t i = 1; i < n; i++)
            w += (size_t)sprintf(want + w, "\u0323");
        for (size_t i = 0; i < n; i++)
            w += (size_t)sprintf(want + w, "\u0301");
        expect_key(tok, NFC, false, want);
        expect_key(tok, NFKC, true, want);
    }
    /* a long token of short runs (ordered by insertion, past the library's token length) */
    char tok[512], want[512];
    size_t t = 0, w = 0;
    for (int i = 0; i < 60; i++) {
        t += (size_t)sprintf(tok + t, "a\u0301\u0323");
        w += (size_t)sprintf(want + w, "\u1ea1\u0301");
    }
    expect_key(tok, NFC, false, want);
    expect_key(tok, NFKC, true, want);
}

static void test_key_buffers(void **state)
{
    (void)state;
    mrc_unicode_keybuf kb = {0};
    mrc_err err = {0};
    /* a long token: the byte and code point buffers grow */
    size_t reps = 50000;
    unsigned char *tok = malloc(2 * reps);
    assert_non_null(tok);
    for (size_t i = 0; i < reps; i++)
        memcpy(tok + 2 * i, "\xce\x90", 2); /* U+0390: 3 code points folded, 6 bytes */
    for (int nm = NONE; nm <= NFKC; nm++) {
        kb.len = 0;
        assert_int_equal(mrc_unicode_key(mrc_unicode_keys_select((enum mrc_normalize)nm, true), &kb,
                                         tok, 2 * reps, false, &err),
                         0);
        assert_int_equal(kb.len, 6 * reps);
        assert_memory_equal(kb.bytes + kb.len - 6, "\xce\xb9\xcc\x88\xcc\x81", 6);
    }
    /* a batch: keys one after the other, each one's end given */
    const char text[] = "Stra\u00dfe DON'T \u00c9t\u00e9 x";
    const unsigned char *t = (const unsigned char *)text;
    mrc_unicode_span spans[8];
    size_t ns, ends[8];
    uint64_t invalid = 0;
    assert_int_equal(mrc_unicode_scan(t, 0, sizeof text - 1, spans, 8, &ns, &invalid),
                     sizeof text - 1);
    assert_int_equal(ns, 4);
    kb.len = 2;
    assert_int_equal(mrc_unicode_keys_select(NFC, true)(&kb, t, spans, ns, ends, &err), 0);
    static const char *const want[] = {"strasse", "don't", "\u00e9t\u00e9", "x"};
    for (size_t i = 0, at = 2; i < ns; at = ends[i++]) {
        assert_int_equal(ends[i] - at, strlen(want[i]));
        assert_memory_equal(kb.bytes + at, want[i], strlen(want[i]));
    }
    /* invalid UTF-8 is refused, and the buffer is left as it was before the batch */
    memcpy(tok, "Ab\xff", 3);
    mrc_unicode_span bad[2] = {{0, 2, true}, {0, 3, false}};
    for (int nm = NONE; nm <= NFKC; nm++) {
        for (int fold = 0; fold < 2; fold++) {
            if (nm == NONE && !fold) continue; /* the identity never decodes */
            memset(&err, 0, sizeof err);
            kb.len = 3;
            assert_int_equal(
                mrc_unicode_keys_select((enum mrc_normalize)nm, fold)(&kb, tok, bad, 2, ends, &err),
                MRC_EINVAL);
            assert_int_equal(kb.len, 3);
            assert_true(err.msg[0] != '\0');
        }
    }
    mrc_unicode_keybuf_free(&kb);
    assert_null(kb.bytes);
    free(tok);
}

static void test_versions(void **state)
{
    (void)state;
    assert_string_equal(mrc_unicode_library_name(), "utf8proc");
    unsigned a, b, c;
    char extra;
    assert_int_equal(sscanf(mrc_unicode_library_version(), "%u.%u.%u%c", &a, &b, &c, &extra), 3);
    assert_int_equal(sscanf(mrc_unicode_data_version(), "%u.%u.%u%c", &a, &b, &c, &extra), 3);
    assert_true(a >= 8); /* Cherokee small letters (above) need Unicode 8 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_delims),     cmocka_unit_test(test_apostrophes),
        cmocka_unit_test(test_marks_and_scripts), cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_many_spans),        cmocka_unit_test(test_block_edges),
        cmocka_unit_test(test_case_folding),      cmocka_unit_test(test_normalization),
        cmocka_unit_test(test_key_buffers),       cmocka_unit_test(test_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
