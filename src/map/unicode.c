/* unicode.c - the `--tokens unicode` scanner and key builder (see unicode.h). Per byte, ASCII is
 * classified by a 256-entry table and never decoded; only bytes >= 0x80 are decoded (here,
 * validated) and classified by utf8proc. Keys: normalization then case folding, by utf8proc,
 * into buffers reused from token to token. Never allocates per token, never writes the input,
 * and never treats a byte of an invalid sequence as part of a token. */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "unicode.h"

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

/* A code point of a token: general category L*, M* or N*. */
static inline bool is_token_cp(int32_t cp)
{
    utf8proc_category_t cat = utf8proc_category(cp);
    return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO;
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

size_t mrc_unicode_scan(const unsigned char *buf, size_t pos, size_t len, mrc_unicode_span *spans,
                        size_t max, size_t *nspans, uint64_t *invalid)
{
    const unsigned char *end = buf + len;
    size_t n = 0, p = pos;
    uint64_t bad_bytes = 0;
    while (p < len) {
        /* Between tokens: skip delimiters, count invalid bytes. An apostrophe here has no
         * token code point before it, so it is a delimiter too. */
        size_t start = p;
        bool ascii = true;
        unsigned c = byte_class[buf[p]];
        if (c == W) {
            if (n == max) break;
            p++;
        } else if (c != H) {
            p++;
            continue;
        } else {
            int32_t cp;
            size_t bad, k = decode(buf + p, end, &cp, &bad);
            if (k == 0) {
                bad_bytes += bad;
                p += bad;
                continue;
            }
            if (cp == RIGHT_SINGLE_QUOTE || !is_token_cp(cp)) {
                p += k;
                continue;
            }
            if (n == max) break;
            ascii = false;
            p += k;
        }
        /* In a token that started at `start`: take token code points, and an apostrophe
         * when a token code point follows it. */
        for (;;) {
            while (p < len && byte_class[buf[p]] == W)
                p++;
            if (p == len) break;
            size_t apos;
            if (buf[p] == '\'') {
                apos = 1;
            } else if (buf[p] < 0x80) {
                break;
            } else {
                int32_t cp;
                size_t bad, k = decode(buf + p, end, &cp, &bad);
                if (k == 0) break; /* counted by the loop between tokens */
                if (cp != RIGHT_SINGLE_QUOTE) {
                    if (!is_token_cp(cp)) break;
                    ascii = false;
                    p += k;
                    continue;
                }
                apos = k;
            }
            size_t k;
            if (p + apos == len || !token_cp_at(buf + p + apos, end, &k)) break;
            if (apos > 1 || k > 1) ascii = false;
            p += apos + k;
        }
        spans[n++] = (mrc_unicode_span){start, p, ascii};
    }
    *nspans = n;
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

/* The longest full case folding is 3 code points (CaseFolding.txt status F). */
#define FOLD_MAX 8

/* Append the full case folding of cp (utf8proc: CaseFolding C+F, applied again to its own
 * result, which is a fixed point). */
static inline int append_folded(mrc_unicode_keybuf *b, int32_t cp, mrc_err *err)
{
    if (reserve_bytes(b, 4 * FOLD_MAX, err) != 0) return -1;
    if (cp < 0x80) {
        b->bytes[b->len++] = (unsigned char)((unsigned)(cp - 'A') < 26u ? cp + 32 : cp);
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

static inline void append_ascii(mrc_unicode_keybuf *b, const unsigned char *tok, size_t n,
                                bool fold)
{
    unsigned char *d = b->bytes + b->len;
    if (fold) {
        for (size_t i = 0; i < n; i++) {
            unsigned char c = tok[i];
            d[i] = (unsigned char)((unsigned)(c - 'A') < 26u ? c + 32 : c);
        }
    } else {
        memcpy(d, tok, n);
    }
    b->len += n;
}

/* Normalize tok into b->cps (NFC or NFKC, utf8proc's canonical ordering and composition;
 * UTF8PROC_STABLE keeps the composition exclusions out, as the standard requires: without it
 * U+2ADD U+0338 would compose to U+2ADC).
 * @return the number of code points, or -1 with err filled. */
static long long normalize(mrc_unicode_keybuf *b, const unsigned char *tok, size_t n,
                           utf8proc_option_t opts, mrc_err *err)
{
    for (;;) {
        utf8proc_ssize_t k = utf8proc_decompose_custom(
            tok, (utf8proc_ssize_t)n, b->cps, (utf8proc_ssize_t)b->cps_cap, opts, NULL, NULL);
        if (k < 0) {
            mrc_err_set(err, k == UTF8PROC_ERROR_NOMEM ? MRC_ENOMEM : MRC_EINVAL,
                        "normalizing a %zu-byte token: %s", n, utf8proc_errmsg(k));
            return -1;
        }
        if ((size_t)k <= b->cps_cap) return utf8proc_normalize_utf32(b->cps, k, opts);
        if (reserve_cps(b, (size_t)k, err) != 0) return -1;
    }
}

/* The key body; inlined into one function per (normalization, fold) pair. */
static inline int make_key(mrc_unicode_keybuf *b, const unsigned char *tok, size_t n, bool ascii,
                           mrc_err *err, enum mrc_normalize norm, bool fold)
{
    size_t len0 = b->len;
    if (ascii || (norm == MRC_NORMALIZE_NONE && !fold)) {
        if (reserve_bytes(b, n, err) != 0) goto fail;
        append_ascii(b, tok, n, fold);
        return 0;
    }
    if (norm == MRC_NORMALIZE_NONE) { /* fold only: code point by code point */
        const unsigned char *end = tok + n;
        for (const unsigned char *p = tok; p < end;) {
            int32_t cp = *p;
            size_t bad, k = 1;
            if (cp >= 0x80 && (k = decode(p, end, &cp, &bad)) == 0) goto invalid;
            if (append_folded(b, cp, err) != 0) goto fail;
            p += k;
        }
        return 0;
    }
    utf8proc_option_t opts = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    if (norm == MRC_NORMALIZE_NFKC) opts |= UTF8PROC_COMPAT;
    long long m = normalize(b, tok, n, opts, err);
    if (m < 0) goto fail;
    if (fold) {
        for (long long i = 0; i < m; i++)
            if (append_folded(b, b->cps[i], err) != 0) goto fail;
    } else {
        if ((size_t)m > (SIZE_MAX - b->len) / 4 || reserve_bytes(b, 4 * (size_t)m, err) != 0)
            goto fail;
        for (long long i = 0; i < m; i++)
            b->len += encode(b->cps[i], b->bytes + b->len);
    }
    return 0;
invalid:
    mrc_err_set(err, MRC_EINVAL, "a %zu-byte token is not valid UTF-8", n);
fail:
    b->len = len0;
    return err->code ? err->code : MRC_EINVAL;
}

#define KEY_FN(name, norm, fold)                                                                   \
    static int name(mrc_unicode_keybuf *b, const unsigned char *tok, size_t n, bool ascii,         \
                    mrc_err *err)                                                                  \
    {                                                                                              \
        return make_key(b, tok, n, ascii, err, norm, fold);                                        \
    }
KEY_FN(key_none, MRC_NORMALIZE_NONE, false)
KEY_FN(key_fold, MRC_NORMALIZE_NONE, true)
KEY_FN(key_nfc, MRC_NORMALIZE_NFC, false)
KEY_FN(key_nfc_fold, MRC_NORMALIZE_NFC, true)
KEY_FN(key_nfkc, MRC_NORMALIZE_NFKC, false)
KEY_FN(key_nfkc_fold, MRC_NORMALIZE_NFKC, true)

mrc_unicode_key_fn mrc_unicode_key_select(enum mrc_normalize norm, bool fold)
{
    switch (norm) {
    case MRC_NORMALIZE_NFC:
        return fold ? key_nfc_fold : key_nfc;
    case MRC_NORMALIZE_NFKC:
        return fold ? key_nfkc_fold : key_nfkc;
    default:
        return fold ? key_fold : key_none;
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
