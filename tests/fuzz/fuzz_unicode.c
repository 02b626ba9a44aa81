/* fuzz_unicode.c - libFuzzer harness for the `--tokens unicode` scanner and key builder
 * (src/map/unicode.h) against a slow reference written here: decode code point by code point
 * with utf8proc_iterate (an invalid byte is one delimiter, counted), classify with
 * utf8proc_category, join at apostrophes between token code points, then build each key with
 * utf8proc_map (normalize, then a separate CASEFOLD pass). The scanner is driven in ranges cut
 * after record delimiters and with a varying span limit; keys, their order and the invalid-byte
 * count must match exactly, or the harness abort()s.
 * Input: byte 0 = key options (bits 0-2: normalization none/NFC/NFKC x fold) and span limit
 * (bits 3-7: 1-32), byte 1 = the mean range length (0: the whole text as one range), then the
 * text. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "fuzz_util.h"
#include "unicode.h"

typedef struct key {
    unsigned char *bytes; /* malloc'd */
    size_t len;
} key;

typedef struct keylist {
    key *v;
    size_t n, cap;
} keylist;

static void keys_push(keylist *l, const unsigned char *b, size_t len)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (l->v == NULL) abort();
    }
    l->v[l->n++] = (key){exact_copy(b, len), len};
}

static void keys_free(keylist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].bytes);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* ---- the reference ---- */

enum kind { DELIM, WORD, APOS };

/* tok[0..n) normalized by utf8proc_map, a piece at a time between the U+11A7s, which are
 * kept: utf8proc 2.8 composes U+11A7 into a Hangul syllable before it (deleting it), where the
 * standard (and mrcount) compose only U+11A8..U+11C2; U+11A7 composes with nothing. */
static unsigned char *ref_normalize(const unsigned char *tok, size_t n, utf8proc_option_t o,
                                    size_t *len)
{
    static const unsigned char t_base[3] = {0xE1, 0x86, 0xA7};
    size_t at = 0, from = 0, cap = n + 4;
    unsigned char *s = malloc(cap);
    CHECK(s != NULL, "out of memory");
    for (;;) {
        size_t to = from;
        while (to < n && !(to + 3 <= n && memcmp(tok + to, t_base, 3) == 0))
            to++;
        if (to > from) {
            unsigned char *piece = exact_copy(tok + from, to - from), *t = NULL;
            utf8proc_ssize_t r = utf8proc_map(piece, (utf8proc_ssize_t)(to - from), &t, o);
            CHECK(r >= 0, "utf8proc_map normalize: %s", utf8proc_errmsg(r));
            if ((size_t)r + 3 > cap - at) { /* NFKC may grow a piece many times over */
                cap = 2 * (at + (size_t)r + 3);
                s = realloc(s, cap);
                CHECK(s != NULL, "out of memory");
            }
            memcpy(s + at, t, (size_t)r);
            at += (size_t)r;
            free(piece);
            free(t);
        }
        if (to >= n) break;
        memcpy(s + at, t_base, 3);
        at += 3;
        from = to + 3;
    }
    *len = at;
    return s;
}

/* The key of tok[0..n) by utf8proc_map, in the documented order: normalize, then fold. */
static void ref_key(const unsigned char *tok, size_t n, enum mrc_normalize norm, bool fold,
                    keylist *out)
{
    unsigned char *s = exact_copy(tok, n);
    size_t len = n;
    if (norm != MRC_NORMALIZE_NONE) {
        utf8proc_option_t o = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
        if (norm == MRC_NORMALIZE_NFKC) o |= UTF8PROC_COMPAT;
        unsigned char *t = ref_normalize(s, len, o, &len);
        free(s);
        s = t;
    }
    if (fold) {
        unsigned char *t = NULL;
        utf8proc_ssize_t r = utf8proc_map(s, (utf8proc_ssize_t)len, &t, UTF8PROC_CASEFOLD);
        CHECK(r >= 0, "utf8proc_map casefold: %s", utf8proc_errmsg(r));
        free(s);
        s = t;
        len = (size_t)r;
    }
    keys_push(out, s, len);
    free(s);
}

/* Tokens of text[0..len) by the rule, their keys appended to out.
 * @return the invalid bytes. */
static uint64_t reference(const unsigned char *text, size_t len, enum mrc_normalize norm, bool fold,
                          keylist *out)
{
    /* one entry per code point or invalid byte: where it starts, its length, its kind */
    size_t *at = xmalloc((len + 1) * sizeof *at);
    unsigned char *kind = xmalloc(len + 1);
    size_t m = 0;
    uint64_t invalid = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(text + i, (utf8proc_ssize_t)(len - i), &cp);
        at[m] = i;
        if (k <= 0 || cp < 0) {
            kind[m++] = DELIM;
            invalid++;
            i++;
            continue;
        }
        utf8proc_category_t c = utf8proc_category(cp);
        bool word =
            c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT ||
            c == UTF8PROC_CATEGORY_LM || c == UTF8PROC_CATEGORY_LO || c == UTF8PROC_CATEGORY_MN ||
            c == UTF8PROC_CATEGORY_MC || c == UTF8PROC_CATEGORY_ME || c == UTF8PROC_CATEGORY_ND ||
            c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
        kind[m++] = word ? WORD : (cp == 0x27 || cp == 0x2019) ? APOS : DELIM;
        i += (size_t)k;
    }
    at[m] = len;
    for (size_t j = 0; j < m;) {
        if (kind[j] != WORD) {
            j++;
            continue;
        }
        size_t s = j++;
        while (j < m && (kind[j] == WORD || (kind[j] == APOS && j + 1 < m && kind[j - 1] == WORD &&
                                             kind[j + 1] == WORD)))
            j++;
        ref_key(text + at[s], at[j] - at[s], norm, fold, out);
    }
    free(at);
    free(kind);
    return invalid;
}

/* ---- the scanner and key builder ---- */

static uint64_t scanned(const unsigned char *text, size_t len, size_t max, size_t mean_range,
                        enum mrc_normalize norm, bool fold, keylist *out)
{
    const unsigned char *delim = mrc_unicode_record_delims();
    mrc_unicode_keys_fn keys = mrc_unicode_keys_select(norm, fold);
    mrc_unicode_keybuf kb = {0};
    mrc_unicode_span *spans = xmalloc(max * sizeof *spans);
    size_t *ends = xmalloc(max * sizeof *ends);
    uint64_t invalid = 0;
    size_t cut = 0;
    for (size_t pos = 0; pos < len;) {
        /* a range of about mean_range bytes, ended after a record delimiter (or the text) */
        size_t end = len;
        if (mean_range > 0) {
            end = pos + 1 + (cut++ * 7919 % (2 * mean_range));
            while (end < len && !delim[text[end - 1]])
                end++;
            if (end > len) end = len;
        }
        /* an exact-size copy of the range: ASan sees any read past it */
        unsigned char *r = exact_copy(text + pos, end - pos);
        for (size_t p = 0; p < end - pos;) {
            size_t n;
            size_t next = mrc_unicode_scan(r, p, end - pos, spans, max, &n, &invalid);
            CHECK(next <= end - pos && n <= max, "scan returned %zu, %zu spans", next, n);
            CHECK(next == end - pos || n == max, "stopped at %zu with %zu of %zu spans", next, n,
                  max);
            CHECK(next > p || n > 0, "no progress at %zu", p);
            for (size_t i = 0; i < n; i++) {
                const mrc_unicode_span *s = &spans[i];
                CHECK(s->start >= p && s->start < s->end && s->end <= next, "span %zu..%zu",
                      s->start, s->end);
                bool ascii = true;
                for (size_t j = s->start; j < s->end; j++)
                    ascii = ascii && r[j] < 0x80;
                CHECK(s->ascii == ascii, "span %zu..%zu ascii flag %d", s->start, s->end, s->ascii);
            }
            /* the keys of the batch, after a byte already in the buffer */
            mrc_err err = {0};
            kb.len = 0;
            CHECK(mrc_unicode_key(keys, &kb, (const unsigned char *)"-", 1, true, &err) == 0,
                  "key: %s", err.msg);
            CHECK(keys(&kb, r, spans, n, ends, &err) == 0, "keys: %s", err.msg);
            for (size_t i = 0, at = 1; i < n; at = ends[i++]) {
                const mrc_unicode_span *s = &spans[i];
                CHECK(ends[i] >= at && ends[i] <= kb.len, "key %zu ends at %zu", i, ends[i]);
                if (mrc_unicode_key_is_token(norm, fold, s->ascii))
                    CHECK(ends[i] - at == s->end - s->start &&
                              memcmp(kb.bytes + at, r + s->start, ends[i] - at) == 0,
                          "a key that should be its token is not");
                keys_push(out, kb.bytes + at, ends[i] - at);
            }
            p = next;
        }
        free(r);
        pos = end;
    }
    free(spans);
    free(ends);
    mrc_unicode_keybuf_free(&kb);
    return invalid;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    static const enum mrc_normalize norms[3] = {MRC_NORMALIZE_NONE, MRC_NORMALIZE_NFC,
                                                MRC_NORMALIZE_NFKC};
    enum mrc_normalize norm = norms[(data[0] & 7) % 6 / 2];
    bool fold = (data[0] & 7) % 2;
    size_t max = (size_t)(data[0] >> 3) + 1;
    size_t mean_range = data[1];
    const unsigned char *text = data + 2;
    size_t len = size - 2;

    keylist want = {0}, got = {0};
    uint64_t want_invalid = reference(text, len, norm, fold, &want);
    uint64_t got_invalid = scanned(text, len, max, mean_range, norm, fold, &got);
    CHECK(got_invalid == want_invalid, "invalid bytes %llu, the reference has %llu",
          (unsigned long long)got_invalid, (unsigned long long)want_invalid);
    CHECK(got.n == want.n, "%zu tokens, the reference has %zu (norm %d fold %d max %zu)", got.n,
          want.n, (int)norm, fold, max);
    for (size_t i = 0; i < want.n; i++)
        CHECK(got.v[i].len == want.v[i].len &&
                  memcmp(got.v[i].bytes, want.v[i].bytes, want.v[i].len) == 0,
              "key %zu differs: %zu bytes vs the reference's %zu (norm %d fold %d)", i,
              got.v[i].len, want.v[i].len, (int)norm, fold);
    keys_free(&want);
    keys_free(&got);
    return 0;
}
