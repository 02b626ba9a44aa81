/* unicode.c - the `--tokens unicode` scanner and key builder (see unicode.h). ASCII is classified
 * 64 bytes at a time by bit masks (or a 256-entry table) and never decoded; only bytes >= 0x80
 * are decoded (validated here) and classified with utf8proc's data. Keys: normalization, then
 * case folding, into buffers reused from token to token. Never allocates per token, never writes
 * the input, never lets a byte of an invalid sequence into a token. */
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <utf8proc.h>

#include "unicode.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ---- classes ---- */

enum byte_class {
    D = 0, /* ASCII delimiter: ends a token whatever surrounds it */
    W = 1, /* ASCII letter or digit: a token byte */
    A = 2, /* ' : joins two token code points */
    H = 3, /* >= 0x80: decode */
};

/* clang-format off */
static const unsigned char byte_class[256] = {
    D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, /* 00 controls */
    D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, /* 10 */
    D, D, D, D, D, D, D, A, D, D, D, D, D, D, D, D, /* 20  !"#$%&'()*+,-./ */
    W, W, W, W, W, W, W, W, W, W, D, D, D, D, D, D, /* 30 0-9 :;<=>? */
    D, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, /* 40 @A-O */
    W, W, W, W, W, W, W, W, W, W, W, D, D, D, D, D, /* 50 P-Z [\]^_ */
    D, W, W, W, W, W, W, W, W, W, W, W, W, W, W, W, /* 60 `a-o */
    W, W, W, W, W, W, W, W, W, W, W, D, D, D, D, D, /* 70 p-z {|}~ DEL */
    H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H,
    H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H,
    H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H,
    H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H,
    H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H,
    H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H,
    H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H,
    H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H,
};

static const unsigned char record_delims[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1,
    1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1,
    1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1,
    /* 0x80-0xff: 0 */
};
/* clang-format on */

const unsigned char *mrc_unicode_record_delims(void)
{
    return record_delims;
}

#define RIGHT_SINGLE_QUOTE 0x2019

/* The longest full case folding is 3 code points (CaseFolding.txt status F). */
#define FOLD_MAX 8

/* Decode the sequence at p (p < end, *p >= 0x80). @return its length (2-4) with *cp set, or 0
 * when p does not start a valid sequence: then *bad is the length (1-3) of its maximal
 * invalid subpart (a lead byte and the continuation bytes that could still have completed it,
 * as Unicode's "maximal subpart" and Python's errors='replace' group them). */
static inline size_t decode(const unsigned char *p, const unsigned char *end, int32_t *cp,
                            size_t *bad)
{
    unsigned b0 = p[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xbf; /* the second byte's valid range */
    int32_t c;
    if (b0 < 0xc2) { /* a continuation byte, or C0/C1 (always overlong) */
        *bad = 1;
        return 0;
    } else if (b0 < 0xe0) {
        need = 1;
        c = (int32_t)(b0 & 0x1f);
    } else if (b0 < 0xf0) {
        need = 2;
        c = (int32_t)(b0 & 0x0f);
        if (b0 == 0xe0) lo = 0xa0; /* overlong */
        if (b0 == 0xed) hi = 0x9f; /* surrogates */
    } else if (b0 < 0xf5) {
        need = 3;
        c = (int32_t)(b0 & 0x07);
        if (b0 == 0xf0) lo = 0x90; /* overlong */
        if (b0 == 0xf4) hi = 0x8f; /* > U+10FFFF */
    } else {
        *bad = 1;
        return 0;
    }
    size_t avail = (size_t)(end - p) - 1, i;
    if (avail == 0 || p[1] < lo || p[1] > hi) {
        *bad = 1;
        return 0;
    }
    c = c << 6 | (int32_t)(p[1] & 0x3f);
    for (i = 2; i <= need; i++) {
        if (i > avail || (p[i] & 0xc0) != 0x80) {
            *bad = i;
            return 0;
        }
        c = c << 6 | (int32_t)(p[i] & 0x3f);
    }
    *cp = c;
    return need + 1;
}

/* Per code point of the BMP, two bits read off the library once per process (never written by
 * hand): is it a token code point (general category L*, M* or N*), and does full case folding
 * change it. Code points past the BMP ask the library each time. */
#define BMP 0x10000
static uint64_t bmp_token[BMP / 64], bmp_folds[BMP / 64];
static pthread_once_t bmp_once = PTHREAD_ONCE_INIT;

static bool library_token_cp(int32_t cp)
{
    utf8proc_category_t cat = utf8proc_category(cp);
    return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO;
}

static void bmp_init(void)
{
    for (int32_t cp = 0; cp < BMP; cp++) {
        int32_t f[FOLD_MAX];
        int boundclass = UTF8PROC_BOUNDCLASS_START;
        utf8proc_ssize_t k =
            utf8proc_decompose_char(cp, f, FOLD_MAX, UTF8PROC_CASEFOLD, &boundclass);
        bool folds = k != 1 || f[0] != cp;
        bmp_token[cp / 64] |= (uint64_t)library_token_cp(cp) << (cp % 64);
        bmp_folds[cp / 64] |= (uint64_t)folds << (cp % 64);
    }
}

/* Per code point of the BMP, whether a token made only of such code points is its own NFC
 * (and NFKC): no canonical (compatibility) decomposition, combining class 0, and never the
 * second of a canonical composition (over-approximated: any code point after the first in a
 * canonical decomposition). Then neither decomposition, reordering nor composition can change
 * the token. Read off the library once per process, when a normalization is asked for. */
static uint64_t bmp_nfc_inert[BMP / 64], bmp_nfkc_inert[BMP / 64];
static pthread_once_t inert_once = PTHREAD_ONCE_INIT;

static void inert_init(void)
{
    static uint64_t second[BMP / 64];
    int32_t d[32];
    for (int32_t cp = 0; cp < 0x110000; cp++) {
        int boundclass = UTF8PROC_BOUNDCLASS_START;
        utf8proc_ssize_t k = utf8proc_decompose_char(cp, d, 32, UTF8PROC_DECOMPOSE, &boundclass);
        for (utf8proc_ssize_t i = 1; i < k && i < 32; i++)
            if (d[i] >= 0 && d[i] < BMP) second[d[i] / 64] |= 1ull << (d[i] % 64);
    }
    for (int32_t cp = 0; cp < BMP; cp++) {
        int boundclass = UTF8PROC_BOUNDCLASS_START;
        utf8proc_ssize_t k = utf8proc_decompose_char(cp, d, 32, UTF8PROC_DECOMPOSE, &boundclass);
        bool canonical = k == 1 && d[0] == cp;
        k = utf8proc_decompose_char(cp, d, 32, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, &boundclass);
        bool compat = k == 1 && d[0] == cp;
        bool inert = canonical && utf8proc_get_property(cp)->combining_class == 0 &&
                     !(second[cp / 64] >> (cp % 64) & 1);
        bmp_nfc_inert[cp / 64] |= (uint64_t)inert << (cp % 64);
        bmp_nfkc_inert[cp / 64] |= (uint64_t)(inert && compat) << (cp % 64);
    }
}

/* Is tok[0..n) (valid UTF-8) its own normal form (the inert table of that form)? */
static bool is_normal(const unsigned char *tok, size_t n, const uint64_t *inert)
{
    const unsigned char *end = tok + n;
    for (const unsigned char *p = tok; p < end;) {
        int32_t cp = *p;
        size_t bad, k = 1;
        if (cp >= 0x80 && (k = decode(p, end, &cp, &bad)) == 0) return false;
        if (cp >= BMP || !(inert[cp / 64] >> (cp % 64) & 1)) return false;
        p += k;
    }
    return true;
}

/* A code point of a token: general category L*, M* or N*. */
static inline bool is_token_cp(int32_t cp)
{
    if (cp < BMP) return bmp_token[cp / 64] >> (cp % 64) & 1;
    return library_token_cp(cp);
}

/* Does a token code point start at q (q < end)? Its length in *k when it does. */
static inline bool token_cp_at(const unsigned char *q, const unsigned char *end, size_t *k)
{
    unsigned c = byte_class[*q];
    if (c == W) {
        *k = 1;
        return true;
    }
    if (c != H) return false;
    int32_t cp;
    size_t bad;
    size_t n = decode(q, end, &cp, &bad);
    if (n == 0 || !is_token_cp(cp)) return false;
    *k = n;
    return true;
}

/* ---- 64-byte blocks of ASCII ---- */

typedef struct block_masks {
    uint64_t word; /* [A-Za-z0-9] */
    uint64_t apos; /* ' */
    uint64_t high; /* >= 0x80 */
} block_masks;

#if defined(__SSE2__)
static inline void masks16(const unsigned char *p, unsigned shift, block_masks *m)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i low = _mm_sub_epi8(_mm_or_si128(x, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
    __m128i is_alpha = _mm_cmpeq_epi8(_mm_min_epu8(low, _mm_set1_epi8(25)), low);
    __m128i dig = _mm_sub_epi8(x, _mm_set1_epi8('0'));
    __m128i is_digit = _mm_cmpeq_epi8(_mm_min_epu8(dig, _mm_set1_epi8(9)), dig);
    __m128i is_apos = _mm_cmpeq_epi8(x, _mm_set1_epi8('\''));
    m->word |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_or_si128(is_alpha, is_digit)) << shift;
    m->apos |= (uint64_t)(unsigned)_mm_movemask_epi8(is_apos) << shift;
    m->high |= (uint64_t)(unsigned)_mm_movemask_epi8(x) << shift;
}
#endif

/* The class masks of p[0..64) (`word` and `apos` only for ASCII bytes). */
static inline block_masks masks64(const unsigned char *p)
{
    block_masks m = {0, 0, 0};
#if defined(__SSE2__)
    masks16(p, 0, &m);
    masks16(p + 16, 16, &m);
    masks16(p + 32, 32, &m);
    masks16(p + 48, 48, &m);
#else
    for (unsigned i = 0; i < 64; i++) {
        unsigned c = byte_class[p[i]];
        m.word |= (uint64_t)(c == W) << i;
        m.apos |= (uint64_t)(c == A) << i;
        m.high |= (uint64_t)(c == H) << i;
    }
#endif
    return m;
}

/* The scan's state between code points: a token is open (its last code point was a token code
 * point: an apostrophe is only ever taken together with the code point after it). */
typedef struct scan_state {
    mrc_unicode_span *spans;
    size_t n, max;
    bool in_tok, ascii;
    size_t tok_start;
} scan_state;

static inline void tok_end(scan_state *s, size_t at)
{
    s->spans[s->n++] = (mrc_unicode_span){s->tok_start, at, s->ascii};
    s->in_tok = false;
}

size_t mrc_unicode_scan(const unsigned char *buf, size_t pos, size_t len, mrc_unicode_span *spans,
                        size_t max, size_t *nspans, uint64_t *invalid)
{
    const unsigned char *end = buf + len;
    scan_state s = {spans, 0, max, false, true, 0};
    pthread_once(&bmp_once, bmp_init);
    uint64_t bad_bytes = 0;
    size_t p = pos;
    while (p < len) {
        /* A block of 64 bytes as bit masks: token bytes are the letters and digits, the
         * bytes of token code points, and the apostrophes between two of them; starts and ends
         * are the edges of that mask, taken in order, so the cost is per token and per
         * non-ASCII code point, not per byte. A block where a sequence crosses the end goes
         * code point by code point. */
        if (len - p >= 64) {
            block_masks m = masks64(buf + p);
            uint64_t word = m.word, apos3 = 0, invalid_bits = 0;
            bool whole = true;
            for (uint64_t h = m.high; h != 0;) { /* the non-ASCII code points, in order */
                unsigned i = (unsigned)__builtin_ctzll(h);
                int32_t cp;
                size_t bad, k = decode(buf + p + i, end, &cp, &bad), n = k ? k : bad;
                if (i + n > 64) {
                    whole = false;
                    break;
                }
                uint64_t bits = ((1ull << n) - 1) << i;
                h &= ~bits;
                if (k == 0)
                    invalid_bits |= bits;
                else if (cp == RIGHT_SINGLE_QUOTE)
                    apos3 |= 1ull << i;
                else if (is_token_cp(cp))
                    word |= bits;
            }
            if (whole) {
                uint64_t prev = s.in_tok;
                size_t k;
                uint64_t next_word = p + 64 < len && token_cp_at(buf + p + 64, end, &k);
                uint64_t joined = m.apos & (word << 1 | prev) & (word >> 1 | next_word << 63);
                uint64_t joined3 = apos3 & (word << 1 | prev) & (word >> 3 | next_word << 61);
                uint64_t t = word | joined | joined3 | joined3 << 1 | joined3 << 2;
                uint64_t before = t << 1 | prev;
                uint64_t starts = t & ~before, ends = ~t & before;
                unsigned from = 0; /* where the open token's part in this block starts */
                for (;;) {
                    if (!s.in_tok) {
                        if (starts == 0) break;
                        from = (unsigned)__builtin_ctzll(starts);
                        starts &= starts - 1;
                        if (s.n == s.max) { /* invalid bytes past here are counted later */
                            bad_bytes +=
                                (uint64_t)__builtin_popcountll(invalid_bits & ((1ull << from) - 1));
                            p += from;
                            goto full;
                        }
                        s.tok_start = p + from;
                        s.ascii = true;
                        s.in_tok = true;
                    }
                    if (ends == 0) break;
                    unsigned e = (unsigned)__builtin_ctzll(ends);
                    ends &= ends - 1;
                    s.ascii = s.ascii && (m.high & ((1ull << e) - 1) >> from << from) == 0;
                    tok_end(&s, p + e);
                }
                if (s.in_tok) s.ascii = s.ascii && (m.high >> from) == 0;
                if (invalid_bits) /* rare; and without -mpopcnt this is a libgcc call */
                    bad_bytes += (uint64_t)__builtin_popcountll(invalid_bits);
                p += 64;
                continue;
            }
        }
        /* Code point by code point, to the end of this block (or a few bytes past it, to
         * finish a code point) */
        size_t stop = len - p >= 64 ? p + 64 : len;
        while (p < stop) {
            unsigned c = byte_class[buf[p]];
            size_t k = 1;
            if (c == W) {
                if (!s.in_tok) {
                    if (s.n == s.max) goto full;
                    s.tok_start = p;
                    s.ascii = true;
                    s.in_tok = true;
                }
                p++;
                continue;
            }
            if (c == H) {
                int32_t cp;
                size_t bad;
                k = decode(buf + p, end, &cp, &bad);
                if (k == 0) {
                    if (s.in_tok) tok_end(&s, p);
                    bad_bytes += bad;
                    p += bad;
                    continue;
                }
                if (cp != RIGHT_SINGLE_QUOTE) {
                    if (!is_token_cp(cp)) {
                        if (s.in_tok) tok_end(&s, p);
                    } else if (s.in_tok) {
                        s.ascii = false;
                    } else {
                        if (s.n == s.max) goto full;
                        s.tok_start = p;
                        s.ascii = false;
                        s.in_tok = true;
                    }
                    p += k;
                    continue;
                }
                c = A;
            }
            if (c == A && s.in_tok) { /* ' or U+2019 (k bytes): joins if a token cp follows */
                size_t k2;
                if (p + k < len && token_cp_at(buf + p + k, end, &k2)) {
                    if (k > 1 || k2 > 1) s.ascii = false;
                    p += k + k2;
                    continue;
                }
            }
            if (s.in_tok) tok_end(&s, p);
            p += k;
        }
    }
    if (s.in_tok) tok_end(&s, len);
    p = len;
full:
    *nspans = s.n;
    *invalid += bad_bytes;
    return p;
}

/* ---- keys ---- */

/* Room for `more` bytes past b->len. */
static inline int reserve_bytes(mrc_unicode_keybuf *b, size_t more, mrc_err *err)
{
    if (b->cap - b->len >= more) return 0;
    size_t need = b->len + more;
    if (need < b->len) return mrc_err_set(err, MRC_ENOMEM, "a key of %zu bytes is too long", more);
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    unsigned char *p = realloc(b->bytes, cap);
    if (p == NULL) return mrc_err_set(err, MRC_ENOMEM, "out of memory for a %zu-byte key", need);
    b->bytes = p;
    b->cap = cap;
    return 0;
}

static inline int reserve_cps(mrc_unicode_keybuf *b, size_t need, mrc_err *err)
{
    if (b->cps_cap >= need) return 0;
    size_t cap = b->cps_cap ? b->cps_cap : 64;
    while (cap < need)
        cap *= 2;
    int32_t *p = realloc(b->cps, cap * sizeof *p);
    if (p == NULL)
        return mrc_err_set(err, MRC_ENOMEM, "out of memory for a key of %zu code points", need);
    b->cps = p;
    b->cps_cap = cap;
    return 0;
}

static inline size_t encode(int32_t cp, unsigned char *d)
{
    uint32_t c = (uint32_t)cp;
    if (c < 0x80) {
        d[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        d[0] = (unsigned char)(0xc0 | c >> 6);
        d[1] = (unsigned char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        d[0] = (unsigned char)(0xe0 | c >> 12);
        d[1] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
        d[2] = (unsigned char)(0x80 | (c & 0x3f));
        return 3;
    }
    d[0] = (unsigned char)(0xf0 | c >> 18);
    d[1] = (unsigned char)(0x80 | (c >> 12 & 0x3f));
    d[2] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
    d[3] = (unsigned char)(0x80 | (c & 0x3f));
    return 4;
}

/* Append the full case folding of cp (utf8proc: CaseFolding C+F, applied again to its own
 * result, which is a fixed point). */
static inline int append_folded(mrc_unicode_keybuf *b, int32_t cp, mrc_err *err)
{
    if (reserve_bytes(b, 4 * FOLD_MAX, err) != 0) return -1;
    if (cp < 0x80) {
        b->bytes[b->len++] = (unsigned char)((unsigned)(cp - 'A') < 26u ? cp + 32 : cp);
        return 0;
    }
    if (cp < BMP && !(bmp_folds[cp / 64] >> (cp % 64) & 1)) {
        b->len += encode(cp, b->bytes + b->len);
        return 0;
    }
    int32_t f[FOLD_MAX];
    int boundclass = UTF8PROC_BOUNDCLASS_START;
    utf8proc_ssize_t k = utf8proc_decompose_char(cp, f, FOLD_MAX, UTF8PROC_CASEFOLD, &boundclass);
    if (k < 0 || k > FOLD_MAX)
        return mrc_err_set(err, MRC_EINVAL, "case folding U+%04X: %s", (unsigned)cp,
                           k < 0 ? utf8proc_errmsg(k) : "longer than expected");
    for (utf8proc_ssize_t i = 0; i < k; i++)
        b->len += encode(f[i], b->bytes + b->len);
    return 0;
}

/* Eight bytes with A-Z lower-cased (bytes >= 0x80 untouched), without a branch. */
static inline uint64_t fold8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull;
    uint64_t h = x & 0x7f * ones;
    uint64_t ge_a = h + (0x80 - 'A') * ones; /* bit 7 set where h >= 'A' */
    uint64_t gt_z = h + (0x7f - 'Z') * ones; /* bit 7 set where h > 'Z' */
    return x | ((ge_a & ~gt_z & ~x & 0x80 * ones) >> 2);
}

static inline uint64_t load8(const unsigned char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}

/* Write the token buf[start..start+n) (ASCII, or copied as it is), lower-cased with fold, at
 * d. Eight bytes at a time: a short token is read as the last 8 bytes before its end (bytes of
 * buf before it, shifted out) and written as 8 bytes, so d must have room for n + 8. */
static inline void put_ascii(unsigned char *d, const unsigned char *buf, size_t start, size_t n,
                             bool fold)
{
    const unsigned char *tok = buf + start;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n <= 8 && start + n >= 8) {
        uint64_t x = load8(tok + n - 8);
        if (fold) x = fold8(x);
        x >>= 8 * (8 - n);
        memcpy(d, &x, 8);
        return;
    }
    if (n > 8) {
        for (size_t i = 0; i + 8 < n; i += 8) {
            uint64_t x = load8(tok + i);
            if (fold) x = fold8(x);
            memcpy(d + i, &x, 8);
        }
        uint64_t x = load8(tok + n - 8);
        if (fold) x = fold8(x);
        memcpy(d + n - 8, &x, 8);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) {
        unsigned char c = tok[i];
        d[i] = (unsigned char)(fold && (unsigned)(c - 'A') < 26u ? c + 32 : c);
    }
}

#define HANGUL_T_BASE 0x11A7 /* the Hangul trailing consonants are the code points after it */

/* Compose the decomposed cps[0, k) (utf8proc_normalize_utf32()) in pieces cut at each U+11A7,
 * which is kept as it is: utf8proc 2.8 composes a Hangul LV syllable with U+11A7 as if it were
 * a trailing consonant, adding 0, so U+AC00 U+11A7 became U+AC00 (the standard's composition
 * takes only U+11A8..U+11C2; Python keeps both). U+11A7 is a starter that composes with
 * nothing on either side, so composing the pieces apart is the standard's result.
 * @return the number of code points left, or the library's error (< 0). */
static utf8proc_ssize_t compose(int32_t *cps, utf8proc_ssize_t k, utf8proc_option_t opts)
{
    utf8proc_ssize_t t = 0;
    while (t < k && cps[t] != HANGUL_T_BASE)
        t++;
    if (t == k) return utf8proc_normalize_utf32(cps, k, opts);
    utf8proc_ssize_t out = 0, from = 0;
    for (;;) {
        utf8proc_ssize_t to = from;
        while (to < k && cps[to] != HANGUL_T_BASE)
            to++;
        utf8proc_ssize_t m = to > from ? utf8proc_normalize_utf32(cps + from, to - from, opts) : 0;
        if (m < 0) return m;
        memmove(cps + out, cps + from, (size_t)m * sizeof *cps);
        out += m;
        if (to == k) return out;
        cps[out++] = HANGUL_T_BASE;
        from = to + 1;
    }
}

/* Canonical ordering of the decomposed cps[0, k): each run of non-starters (combining class >
 * 0) sorted by class, stably. utf8proc_decompose_custom() does it by swapping neighbours, which
 * takes time quadratic in a run's length: a token of 80,000 combining marks in reverse order
 * took 25 s to normalize, and a SIGTERM waited 22 s for it. Short runs (nearly all) by insertion;
 * longer ones by a counting sort on the class, linear. @return 0, or -1 out of memory. */
#define ORDER_INSERTION_MAX 32
static inline unsigned ccc(int32_t cp)
{
    return (unsigned)utf8proc_get_property(cp)->combining_class;
}

static int canonical_order(int32_t *cps, size_t k)
{
    for (size_t i = 0; i < k;) {
        if (ccc(cps[i]) == 0) {
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < k && ccc(cps[j]) != 0)
            j++;
        size_t n = j - i;
        if (n <= ORDER_INSERTION_MAX) {
            for (size_t a = i + 1; a < j; a++) {
                int32_t v = cps[a];
                unsigned cv = ccc(v);
                size_t b = a;
                for (; b > i && ccc(cps[b - 1]) > cv; b--)
                    cps[b] = cps[b - 1];
                cps[b] = v;
            }
        } else {
            int32_t *tmp = malloc(n * sizeof *tmp);
            if (tmp == NULL) return -1;
            size_t at[257] = {0}; /* at[c + 1]: marks of class c; then where class c starts */
            for (size_t a = i; a < j; a++)
                at[ccc(cps[a]) + 1]++;
            for (size_t c = 1; c < 257; c++)
                at[c] += at[c - 1];
            for (size_t a = i; a < j; a++)
                tmp[at[ccc(cps[a])]++] = cps[a];
            memcpy(cps + i, tmp, n * sizeof *tmp);
            free(tmp);
        }
        i = j;
    }
    return 0;
}

/* A library error while normalizing, in err. @return -1. */
static long long normalize_failed(utf8proc_ssize_t e, size_t n, mrc_err *err)
{
    mrc_err_set(err, e == UTF8PROC_ERROR_NOMEM ? MRC_ENOMEM : MRC_EINVAL,
                "normalizing a %zu-byte token: %s", n, utf8proc_errmsg(e));
    return -1;
}

/* tok decomposed into b->cps and put in canonical order by utf8proc_decompose_custom(): for a
 * token of up to NORMALIZE_LIBRARY_MAX bytes, whose runs of marks are short enough for the
 * library's ordering; it is faster than decompose_linear() (40 MB of NFD and NFC words in
 * seven scripts, 1 x 1: map 0.56 s against 0.60). @return the code points, or -1 (err). */
#define NORMALIZE_LIBRARY_MAX 256
static long long decompose_library(mrc_unicode_keybuf *b, const unsigned char *tok, size_t n,
                                   utf8proc_option_t opts, mrc_err *err)
{
    for (;;) {
        utf8proc_ssize_t k = utf8proc_decompose_custom(
            tok, (utf8proc_ssize_t)n, b->cps, (utf8proc_ssize_t)b->cps_cap, opts, NULL, NULL);
        if (k < 0) return normalize_failed(k, n, err);
        if ((size_t)k <= b->cps_cap) return k;
        if (reserve_cps(b, (size_t)k, err) != 0) return -1;
    }
}

/* The same for any token: each code point decomposed by utf8proc (the call the library makes,
 * with the same options), then canonical_order(), linear. @return the code points, or -1. */
static long long decompose_linear(mrc_unicode_keybuf *b, const unsigned char *tok, size_t n,
                                  utf8proc_option_t opts, mrc_err *err)
{
    size_t k = 0;
    const unsigned char *end = tok + n;
    for (const unsigned char *p = tok; p < end;) {
        int32_t cp = *p;
        size_t bad, len = 1;
        if (cp >= 0x80 && (len = decode(p, end, &cp, &bad)) == 0)
            return mrc_err_set(err, MRC_EINVAL, "a %zu-byte token is not valid UTF-8", n), -1;
        int boundclass = UTF8PROC_BOUNDCLASS_START;
        utf8proc_ssize_t m;
        for (;;) {
            if (b->cps_cap - k < 32 && reserve_cps(b, k + 32, err) != 0) return -1;
            m = utf8proc_decompose_char(cp, b->cps + k, (utf8proc_ssize_t)(b->cps_cap - k), opts,
                                        &boundclass);
            if (m < 0) return normalize_failed(m, n, err);
            if ((size_t)m <= b->cps_cap - k) break;
            if (reserve_cps(b, k + (size_t)m, err) != 0) return -1;
        }
        k += (size_t)m;
        p += len;
    }
    if (canonical_order(b->cps, k) != 0)
        return mrc_err_set(err, MRC_ENOMEM, "out of memory normalizing a %zu-byte token", n), -1;
    return (long long)k;
}

/* Normalize tok into b->cps (NFC or NFKC): decomposed (canonical, or compatibility for NFKC)
 * and ordered, then composed by utf8proc; UTF8PROC_STABLE keeps the composition exclusions
 * out, as the standard requires: without it U+2ADD U+0338 would compose to U+2ADC.
 * @return the number of code points, or -1 with err filled. */
static long long normalize(mrc_unicode_keybuf *b, const unsigned char *tok, size_t n,
                           utf8proc_option_t opts, mrc_err *err)
{
    long long k = n <= NORMALIZE_LIBRARY_MAX ? decompose_library(b, tok, n, opts, err)
                                             : decompose_linear(b, tok, n, opts, err);
    if (k < 0) return -1;
    utf8proc_ssize_t c = compose(b->cps, (utf8proc_ssize_t)k, opts);
    return c < 0 ? normalize_failed(c, n, err) : c;
}

/* The key of a token that is not all ASCII (or, without folding, that needs normalizing),
 * through the library. Out of line: the ASCII path stays small. @return 0 or error. */
static __attribute__((noinline)) int key_library(mrc_unicode_keybuf *b, const unsigned char *tok,
                                                 size_t n, enum mrc_normalize norm, bool fold,
                                                 mrc_err *err)
{
    if (norm != MRC_NORMALIZE_NONE &&
        is_normal(tok, n, norm == MRC_NORMALIZE_NFC ? bmp_nfc_inert : bmp_nfkc_inert)) {
        if (!fold) {
            if (reserve_bytes(b, n, err) != 0) return err->code;
            memcpy(b->bytes + b->len, tok, n);
            b->len += n;
            return 0;
        }
        norm = MRC_NORMALIZE_NONE; /* the token is normal: fold it as it is */
    }
    if (norm == MRC_NORMALIZE_NONE) { /* fold only: code point by code point */
        const unsigned char *end = tok + n;
        for (const unsigned char *p = tok; p < end;) {
            int32_t cp = *p;
            size_t bad, k = 1;
            if (cp >= 0x80 && (k = decode(p, end, &cp, &bad)) == 0)
                return mrc_err_set(err, MRC_EINVAL, "a %zu-byte token is not valid UTF-8", n);
            if (append_folded(b, cp, err) != 0) return err->code;
            p += k;
        }
        return 0;
    }
    utf8proc_option_t opts = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    if (norm == MRC_NORMALIZE_NFKC) opts |= UTF8PROC_COMPAT;
    long long m = normalize(b, tok, n, opts, err);
    if (m < 0) return err->code;
    if (fold) {
        for (long long i = 0; i < m; i++)
            if (append_folded(b, b->cps[i], err) != 0) return err->code;
    } else {
        if ((size_t)m > (SIZE_MAX - b->len) / 4 || reserve_bytes(b, 4 * (size_t)m, err) != 0)
            return err->code ? err->code : MRC_ENOMEM;
        for (long long i = 0; i < m; i++)
            b->len += encode(b->cps[i], b->bytes + b->len);
    }
    return 0;
}

/* The keys body; inlined into one function per (normalization, fold) pair, so an ASCII token
 * costs a copy (folded in line) and nothing else. */
static inline int make_keys(mrc_unicode_keybuf *b, const unsigned char *buf,
                            const mrc_unicode_span *spans, size_t n, size_t *ends, mrc_err *err,
                            enum mrc_normalize norm, bool fold)
{
    size_t len0 = b->len;
    /* b's fields in locals: the byte stores below may alias anything, so the compiler would
     * reload them from memory at every token */
    unsigned char *bytes = b->bytes;
    size_t len = b->len, room = b->cap - b->len;
    for (size_t i = 0; i < n; i++) {
        size_t tl = spans[i].end - spans[i].start;
        if (spans[i].ascii || (norm == MRC_NORMALIZE_NONE && !fold)) {
            if (room < tl + 8) {
                b->len = len;
                if (reserve_bytes(b, tl + 8, err) != 0) goto fail;
                bytes = b->bytes;
                room = b->cap - len;
            }
            put_ascii(bytes + len, buf, spans[i].start, tl, fold);
            len += tl;
            room -= tl;
        } else {
            b->len = len;
            if (key_library(b, buf + spans[i].start, tl, norm, fold, err) != 0) goto fail;
            bytes = b->bytes;
            len = b->len;
            room = b->cap - len;
        }
        ends[i] = len;
    }
    b->len = len;
    return 0;
fail:
    b->len = len0;
    return err->code ? err->code : MRC_EINVAL;
}

#define KEYS_FN(name, norm, fold)                                                                  \
    static int name(mrc_unicode_keybuf *b, const unsigned char *buf,                               \
                    const mrc_unicode_span *spans, size_t n, size_t *ends, mrc_err *err)           \
    {                                                                                              \
        return make_keys(b, buf, spans, n, ends, err, norm, fold);                                 \
    }
KEYS_FN(keys_none, MRC_NORMALIZE_NONE, false)
KEYS_FN(keys_fold, MRC_NORMALIZE_NONE, true)
KEYS_FN(keys_nfc, MRC_NORMALIZE_NFC, false)
KEYS_FN(keys_nfc_fold, MRC_NORMALIZE_NFC, true)
KEYS_FN(keys_nfkc, MRC_NORMALIZE_NFKC, false)
KEYS_FN(keys_nfkc_fold, MRC_NORMALIZE_NFKC, true)

mrc_unicode_keys_fn mrc_unicode_keys_select(enum mrc_normalize norm, bool fold)
{
    pthread_once(&bmp_once, bmp_init);
    if (norm != MRC_NORMALIZE_NONE) pthread_once(&inert_once, inert_init);
    switch (norm) {
    case MRC_NORMALIZE_NFC:
        return fold ? keys_nfc_fold : keys_nfc;
    case MRC_NORMALIZE_NFKC:
        return fold ? keys_nfkc_fold : keys_nfkc;
    default:
        return fold ? keys_fold : keys_none;
    }
}

void mrc_unicode_keybuf_free(mrc_unicode_keybuf *b)
{
    free(b->bytes);
    free(b->cps);
    memset(b, 0, sizeof *b);
}

const char *mrc_unicode_library_name(void)
{
    return "utf8proc";
}

const char *mrc_unicode_library_version(void)
{
    return utf8proc_version();
}

const char *mrc_unicode_data_version(void)
{
    return utf8proc_unicode_version();
}
