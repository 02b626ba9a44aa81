/* fuzz_ngrams.c - libFuzzer harness for the words job's span consumer (src/map/tokens.c): the
 * Unicode tokenizer and the word n-gram window, read through the real streaming reader over a
 * memfd cut into ranges (splits and pieces), against a reference written here: tokens by the
 * rule (bytes; or utf8proc_iterate code point by code point, utf8proc_category, the apostrophe
 * rule), keys (ASCII fold; or utf8proc_map to normalize, then a CASEFOLD pass), sequences cut
 * where the bytes between two tokens hold an LF (line) or LF, ASCII whitespace, LF (paragraph),
 * and every run of N keys joined by a space. The table (key by key), the token count and the
 * invalid-byte count must match exactly, or the harness abort()s.
 * Input: byte 0 = rule (bits 0-1: whitespace, alnum, unicode, unicode), fold (bit 2),
 * normalization (bits 3-4: none, NFC, NFKC, none; unicode only), reversed range order (bit 5),
 * reader buffer (bits 6-7: 8, 64, 4096 bytes, the default); byte 1 = N (bits 0-3: 1-9) and break
 * (bits 4-5: line, paragraph, none, line); byte 2 = the mean range length (0: one range); then
 * the text. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <utf8proc.h>

#include "fuzz_util.h"
#include "unicode.h"
#include "words.h"

/* ---- the text as a file the reader can open ---- */

static fuzz_file text_file = FUZZ_FILE_INIT;

/* ---- the reference ---- */

typedef struct rtok {
    size_t start, end;
    unsigned char *key; /* malloc'd */
    size_t klen;
} rtok;

static bool ws(unsigned char b)
{
    return b == ' ' || (b >= '\t' && b <= '\r');
}

static bool alnum(unsigned char b)
{
    return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '\'';
}

static unsigned char *map_utf8(const unsigned char *s, size_t n, utf8proc_option_t o,
                               size_t *out_len)
{
    unsigned char *t = NULL;
    utf8proc_ssize_t r = utf8proc_map(s, (utf8proc_ssize_t)n, &t, o);
    CHECK(r >= 0, "utf8proc_map: %s", utf8proc_errmsg(r));
    *out_len = (size_t)r;
    return t;
}

static unsigned char *ref_key(const mrc_words_opts *o, const unsigned char *tok, size_t n,
                              size_t *klen)
{
    unsigned char *k = exact_copy(tok, n);
    *klen = n;
    if (o->tokens != MRC_TOKENS_UNICODE) {
        for (size_t i = 0; o->fold_case && i < n; i++)
            if (k[i] >= 'A' && k[i] <= 'Z') k[i] = (unsigned char)(k[i] + 32);
        return k;
    }
    if (o->normalize != MRC_NORMALIZE_NONE) {
        utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
        if (o->normalize == MRC_NORMALIZE_NFKC) opt |= UTF8PROC_COMPAT;
        unsigned char *t = map_utf8(k, *klen, opt, klen);
        free(k);
        k = t;
    }
    if (o->fold_case) {
        unsigned char *t = map_utf8(k, *klen, UTF8PROC_CASEFOLD, klen);
        free(k);
        k = t;
    }
    return k;
}

enum kind { DELIM, WORD, APOS };

/* The tokens of text[0..len); *invalid counts invalid UTF-8 bytes (unicode). */
static rtok *ref_tokens(const mrc_words_opts *o, const unsigned char *text, size_t len, size_t *nt,
                        uint64_t *invalid)
{
    rtok *v = xmalloc((len + 1) * sizeof *v);
    size_t k = 0;
    if (o->tokens != MRC_TOKENS_UNICODE) {
        bool (*in)(unsigned char) = o->tokens == MRC_TOKENS_ALNUM ? alnum : NULL;
        for (size_t i = 0; i < len;) {
            bool tok = in ? in(text[i]) : !ws(text[i]);
            if (!tok) {
                i++;
                continue;
            }
            size_t s = i;
            while (i < len && (in ? in(text[i]) : !ws(text[i])))
                i++;
            v[k].start = s;
            v[k].end = i;
            v[k].key = ref_key(o, text + s, i - s, &v[k].klen);
            k++;
        }
        *nt = k;
        return v;
    }
    size_t *at = xmalloc((len + 1) * sizeof *at);
    unsigned char *kind = xmalloc(len + 1);
    size_t m = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(text + i, (utf8proc_ssize_t)(len - i), &cp);
        at[m] = i;
        if (n <= 0 || cp < 0) {
            kind[m++] = DELIM;
            (*invalid)++;
            i++;
            continue;
        }
        utf8proc_category_t c = utf8proc_category(cp);
        bool word = c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_NO;
        kind[m++] = word ? WORD : (cp == 0x27 || cp == 0x2019) ? APOS : DELIM;
        i += (size_t)n;
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
        v[k].start = at[s];
        v[k].end = at[j];
        v[k].key = ref_key(o, text + at[s], at[j] - at[s], &v[k].klen);
        k++;
    }
    free(at);
    free(kind);
    *nt = k;
    return v;
}

static bool ref_break(int brk, const unsigned char *t, size_t a, size_t b)
{
    if (brk == MRC_BREAK_NONE) return false;
    for (size_t p = a; p < b; p++) {
        if (t[p] != '\n') continue;
        if (brk == MRC_BREAK_LINE) return true;
        for (size_t q = p + 1; q < b && ws(t[q]); q++)
            if (t[q] == '\n') return true;
    }
    return false;
}

typedef struct ref {
    kclist grams;
    unsigned char **mem;
    size_t nmem;
    uint64_t tokens, invalid;
} ref;

static void reference(const mrc_words_opts *o, const unsigned char *text, size_t len, ref *r)
{
    memset(r, 0, sizeof *r);
    size_t nt;
    rtok *v = ref_tokens(o, text, len, &nt, &r->invalid);
    r->tokens = nt;
    size_t n = o->ngrams > 1 ? (size_t)o->ngrams : 1, seq = 0;
    r->mem = xmalloc((nt + 1) * sizeof *r->mem);
    for (size_t i = 0; i < nt; i++) {
        if (i > 0 && ref_break(o->ngram_break, text, v[i - 1].end, v[i].start)) seq = i;
        if (i + 1 < seq + n) continue;
        size_t first = i + 1 - n, gl = 0;
        for (size_t j = first; j <= i; j++)
            gl += v[j].klen + (j > first);
        unsigned char *g = xmalloc(gl), *w = g;
        for (size_t j = first; j <= i; j++) {
            if (j > first) *w++ = ' ';
            memcpy(w, v[j].key, v[j].klen);
            w += v[j].klen;
        }
        r->mem[r->nmem++] = g;
        kc_push(&r->grams, g, gl, 1);
    }
    bool overflow = false;
    kc_aggregate(&r->grams, &overflow);
    for (size_t i = 0; i < nt; i++)
        free(v[i].key);
    free(v);
}

static void ref_free(ref *r)
{
    for (size_t i = 0; i < r->nmem; i++)
        free(r->mem[i]);
    free(r->mem);
    kc_free(&r->grams);
}

/* ---- the job, through the reader ---- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    static const int rules[4] = {MRC_TOKENS_WHITESPACE, MRC_TOKENS_ALNUM, MRC_TOKENS_UNICODE,
                                 MRC_TOKENS_UNICODE};
    static const int norms[4] = {MRC_NORMALIZE_NONE, MRC_NORMALIZE_NFC, MRC_NORMALIZE_NFKC,
                                 MRC_NORMALIZE_NONE};
    static const int breaks[4] = {MRC_BREAK_LINE, MRC_BREAK_PARAGRAPH, MRC_BREAK_NONE,
                                  MRC_BREAK_LINE};
    static const size_t bufs[4] = {8, 64, 4096, 0};
    mrc_words_opts o = {.tokens = rules[data[0] & 3],
                        .fold_case = data[0] >> 2 & 1,
                        .ngrams = 1 + (data[1] & 15) % 9,
                        .ngram_break = breaks[data[1] >> 4 & 3]};
    if (o.tokens == MRC_TOKENS_UNICODE) o.normalize = norms[data[0] >> 3 & 3];
    bool reversed = data[0] >> 5 & 1;
    size_t bufsize = bufs[data[0] >> 6];
    size_t mean = data[2];
    const unsigned char *text = data + 3;
    size_t len = size - 3;
    if (o.tokens != MRC_TOKENS_UNICODE && o.ngrams == 1) return 0; /* words.c's: fuzz_words */
    if (o.ngrams == 1) o.ngram_break = MRC_BREAK_LINE; /* another break is refused there */

    ref want;
    reference(&o, text, len, &want);

    mrc_err err = {0};
    mrc_job job;
    CHECK(mrc_job_select(&job, mrc_job_find("words"), &o, NULL, &err) == 0, "select: %s", err.msg);
    counter c;
    counter_init(&c, &job);
    fuzz_file_put(&text_file, "fuzz-ngrams.txt", text, len);
    mrc_reader rd;
    CHECK(mrc_reader_init(&rd, bufsize, &err) == 0, "reader: %s", err.msg);
    const char *packed = mrc_input_foreign_format(text, len);
    if (packed != NULL) { /* a foreign format's signature: every piece of the file refuses it */
        mrc_map_ctx_piece(&c.ctx, text_file.path, 0, 0);
        int rc = mrc_reader_run(&rd, text_file.path, 0, len, &job.rules, job.consume, &c.ctx, NULL,
                                &c.err);
        CHECK(rc == MRC_EINVAL && strstr(c.err.msg, packed) != NULL,
              "a %s signature: status %d (%s)", packed, rc, c.err.msg);
        mrc_reader_free(&rd);
        counter_free(&c);
        ref_free(&want);
        return 0;
    }
    /* the ranges: cut at about `mean` bytes apart (anywhere: the reader finds the records) */
    size_t cuts[256], nc = 0;
    for (size_t at = 0; mean > 0 && nc < 256;) {
        at += 1 + (nc * 7919 + mean) % (2 * mean);
        if (at >= len) break;
        cuts[nc++] = at;
    }
    for (size_t r = 0; r <= nc; r++) {
        size_t i = reversed ? nc - r : r;
        size_t from = i == 0 ? 0 : cuts[i - 1], to = i == nc ? len : cuts[i];
        mrc_map_ctx_piece(&c.ctx, text_file.path, 0, from);
        int rc = mrc_reader_run(&rd, text_file.path, from, to - from, &job.rules, job.consume,
                                &c.ctx, NULL, &c.err);
        CHECK(rc == 0, "range %zu+%zu: %s", from, to - from, c.err.msg);
    }
    mrc_reader_free(&rd);

    CHECK(c.ctx.records == want.tokens, "%llu tokens, the reference has %llu",
          (unsigned long long)c.ctx.records, (unsigned long long)want.tokens);
    CHECK(c.ctx.counters[MRC_WORDS_INVALID_UTF8] == want.invalid,
          "%llu invalid bytes, the reference has %llu",
          (unsigned long long)c.ctx.counters[MRC_WORDS_INVALID_UTF8],
          (unsigned long long)want.invalid);
    kclist got = counter_keys(&c);
    char what[128];
    snprintf(what, sizeof what, "rule %d fold %d norm %d n %d break %d, %zu ranges", o.tokens,
             o.fold_case, o.normalize, o.ngrams, o.ngram_break, nc + 1);
    kc_expect_equal(&got, &want.grams, what);
    kc_free(&got);
    counter_free(&c);
    ref_free(&want);
    return 0;
}
