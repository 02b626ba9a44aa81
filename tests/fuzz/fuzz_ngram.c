/* fuzz_ngram.c - libFuzzer harness for the ngram job (Google Books exports v1, v2, v3): the line
 * parser, year filter, POS modes, --fold-case, --strict, the format check and the overflow
 * checks, on the whole input and fed in reader-sized pieces. Both must agree with each other and
 * with a reference written here from the README's rules (its own field split and tag rule):
 * the same keys and sums, lines, bad records, and an error exactly when one is due.
 * Input: byte 0 = format, value, fold, pos, strict, year mode; bytes 1-4 = year bounds;
 * byte 5 = piece step; the rest is the export. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "ngram.h"
#include "mrcount/map.h"
#include "mrcount/table.h"

#define HEADER_BYTES 6

/* ---- the reference ---- */

/* An all-digit field of n bytes: false if empty or another byte is in it; *v saturates and
 * *ovf is set past 2^64-1. */
static bool digits(const unsigned char *s, size_t n, uint64_t *v, bool *ovf)
{
    *v = 0;
    *ovf = false;
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        uint64_t ten;
        if (__builtin_mul_overflow(*v, 10, &ten) || mrc_add_u64(ten, (uint64_t)(s[i] - '0'), v))
            *ovf = true;
    }
    return true;
}

static bool year_field(const unsigned char *s, size_t n, int *year)
{
    uint64_t v;
    bool ovf;
    if (!digits(s, n, &v, &ovf) || ovf || v > MRC_YEAR_MAX) return false;
    *year = (int)v;
    return true;
}

static bool count_field(const unsigned char *s, size_t n, uint64_t *v)
{
    bool ovf;
    return digits(s, n, v, &ovf) && !ovf;
}

/* Cuts s[0..n) at each `sep`; at most max fields (*nf = max + 1 when there are more). */
static void split(const unsigned char *s, size_t n, unsigned char sep, const unsigned char **f,
                  size_t *fl, size_t max, size_t *nf)
{
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != sep) continue;
        if (k == max) {
            *nf = max + 1;
            return;
        }
        f[k] = s + start;
        fl[k++] = i - start;
        start = i + 1;
    }
    *nf = k;
}

typedef struct ref_line {
    size_t key_len;
    uint64_t value;
    bool counted, value_overflow;
} ref_line;

/* Whether line (no LF, no final CR) is a well-formed `fmt` record; its value if so. */
static bool ref_parse(const mrc_ngram_opts *o, enum mrc_ngram_format fmt, const unsigned char *line,
                      size_t n, ref_line *r)
{
    const unsigned char *f[6];
    size_t fl[6], nf;
    split(line, n, '\t', f, fl, 5, &nf);
    if (nf < 2 || fl[0] == 0) return false;
    r->key_len = fl[0];
    r->value = 0;
    r->counted = r->value_overflow = false;
    int year;
    if (fmt != MRC_NGRAM_V3) {
        size_t want = fmt == MRC_NGRAM_V1 ? 5 : 4;
        if (nf != want || !year_field(f[1], fl[1], &year)) return false;
        uint64_t c[3];
        for (size_t i = 2; i < want; i++)
            if (!count_field(f[i], fl[i], &c[i - 2])) return false;
        r->counted = year >= o->year_min && year <= o->year_max;
        r->value = o->value == MRC_VALUE_MATCH ? c[0] : c[want - 3];
        return true;
    }
    /* v3: every field after the key is year,match,volumes */
    for (size_t s = fl[0] + 1; s <= n;) {
        size_t e = s;
        while (e < n && line[e] != '\t')
            e++;
        const unsigned char *x[4];
        size_t xl[4], nx;
        uint64_t match, volumes;
        split(line + s, e - s, ',', x, xl, 3, &nx);
        if (nx != 3 || !year_field(x[0], xl[0], &year) || !count_field(x[1], xl[1], &match) ||
            !count_field(x[2], xl[2], &volumes))
            return false;
        if (year >= o->year_min && year <= o->year_max) {
            r->counted = true;
            uint64_t v = o->value == MRC_VALUE_MATCH ? match : volumes;
            if (mrc_add_u64(r->value, v, &r->value)) r->value_overflow = true;
        }
        s = e + 1;
    }
    return true;
}

static const char *const tags[] = {"NOUN", "VERB", "ADJ",  "ADV", "PRON", "DET",
                                   "ADP",  "NUM",  "CONJ", "PRT", "X",    "."};
#define NTAGS (sizeof tags / sizeof tags[0])

/* The README's tag rule for one token: "_TAG_" alone (*alone), or "word_TAG" with a non-empty
 * word. @return the length of the "_TAG" suffix (the whole token when alone), 0 if untagged. */
static size_t ref_tag(const unsigned char *t, size_t n, bool *alone)
{
    *alone = false;
    for (size_t i = 0; i < NTAGS; i++) {
        size_t k = strlen(tags[i]);
        if (n == k + 2 && t[0] == '_' && t[n - 1] == '_' && memcmp(t + 1, tags[i], k) == 0) {
            *alone = true;
            return n;
        }
    }
    for (size_t i = 0; i < NTAGS; i++) {
        size_t k = strlen(tags[i]);
        if (n > k + 1 && t[n - k - 1] == '_' && memcmp(t + n - k, tags[i], k) == 0) return k + 1;
    }
    return 0;
}

/* The key an ngram counts under (--pos, --fold-case; tags keep their case) into out, which
 * has room for n bytes. @return false when --pos drops it. */
static bool ref_key(const mrc_ngram_opts *o, const unsigned char *key, size_t n, unsigned char *out,
                    size_t *out_len)
{
    bool any_tag = false;
    size_t w = 0, s = 0;
    for (;;) {
        size_t e = s;
        while (e < n && key[e] != ' ')
            e++;
        bool alone;
        size_t tag = ref_tag(key + s, e - s, &alone);
        any_tag |= tag != 0;
        size_t word = alone ? 0 : e - s - tag;
        for (size_t i = 0; i < word; i++) {
            unsigned char c = key[s + i];
            out[w++] = o->fold_case && c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
        }
        if (alone || (tag != 0 && o->pos != MRC_POS_STRIP)) {
            memcpy(out + w, key + e - tag, tag);
            w += tag;
        }
        if (e == n) break;
        out[w++] = ' ';
        s = e + 1;
    }
    *out_len = w;
    if (o->pos == MRC_POS_UNTAGGED) return !any_tag;
    if (o->pos == MRC_POS_TAGGED) return any_tag;
    return true;
}

static void reference(const mrc_ngram_opts *o, const unsigned char *text, size_t len, ref_result *r)
{
    memset(r, 0, sizeof *r);
    r->arena = xmalloc(len); /* a rewritten key is never longer than the ngram */
    size_t used = 0, pos = 0;
    while (pos < len) {
        const unsigned char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len, n = end - pos;
        const unsigned char *line = text + pos;
        if (n > 0 && line[n - 1] == '\r') n--;
        ref_line rl;
        if (!ref_parse(o, o->format, line, n, &rl)) {
            r->bad++;
            if (o->strict) r->error = true;
            for (int f = MRC_NGRAM_V1; f <= MRC_NGRAM_V3 && r->lines < 4; f++)
                if (f != (int)o->format && ref_parse(o, (enum mrc_ngram_format)f, line, n, &rl))
                    r->error = true; /* "looks like an ngram vN export" */
        } else {
            size_t kl; /* only counted sums overflow: not those of years out of range or of
                        * ngrams --pos drops */
            if (rl.counted && ref_key(o, line, rl.key_len, r->arena + used, &kl)) {
                if (rl.value_overflow) r->error = true;
                kc_push(&r->keys, r->arena + used, kl, rl.value);
                used += kl;
            }
        }
        r->lines++;
        pos = nl ? end + 1 : len;
    }
    bool overflow = false;
    kc_aggregate(&r->keys, &overflow);
    if (overflow) r->error = true;
}

/* ---- the job under test ---- */

/* The bad-record logs of the whole buffer and of its pieces are the same. */
static void expect_same_log(const mrc_bad_log *a, const mrc_bad_log *b)
{
    CHECK(a->total == b->total && a->nsamples == b->nsamples, "bad logs: %llu/%zu vs %llu/%zu",
          (unsigned long long)a->total, a->nsamples, (unsigned long long)b->total, b->nsamples);
    for (size_t i = 0; i < a->nsamples; i++) {
        const mrc_bad_sample *x = &a->samples[i], *y = &b->samples[i];
        CHECK(x->cause == y->cause && x->piece_line == y->piece_line && x->file == y->file &&
                  x->piece_offset == y->piece_offset,
              "bad sample %zu: cause %u line %llu vs cause %u line %llu", i, x->cause,
              (unsigned long long)x->piece_line, y->cause, (unsigned long long)y->piece_line);
        CHECK(x->cause >= MRC_BAD_COLUMNS && x->cause < MRC_BAD_CAUSES, "cause %u", x->cause);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEADER_BYTES) return 0;
    mrc_ngram_opts o = {.year_min = 0, .year_max = MRC_YEAR_MAX};
    o.format = (enum mrc_ngram_format)((data[0] & 3) % 3);
    o.value = data[0] & 4 ? MRC_VALUE_VOLUMES : MRC_VALUE_MATCH;
    o.fold_case = (data[0] & 8) != 0;
    o.pos = (enum mrc_pos)((data[0] >> 4) & 3);
    o.strict = (data[0] & 0x40) != 0;
    if (data[0] & 0x80) { /* years from the input, some outside 0..9999 or reversed */
        o.year_min = (int)((data[1] | data[2] << 8) % 10020) - 10;
        o.year_max = (int)((data[3] | data[4] << 8) % 10020) - 10;
    }
    size_t step = 1 + (size_t)data[5];
    const unsigned char *text = data + HEADER_BYTES;
    size_t len = size - HEADER_BYTES;

    mrc_job job;
    mrc_err err = {0};
    int rc = mrc_job_select(&job, mrc_job_find("ngram"), &o, NULL, &err);
    bool range_ok = o.year_min >= 0 && o.year_max <= MRC_YEAR_MAX && o.year_min <= o.year_max;
    CHECK((rc == 0) == range_ok, "mrc_job_select(years %d-%d) returned %d", o.year_min, o.year_max,
          rc);
    if (rc != 0) {
        CHECK(rc == MRC_EINVAL && err.msg[0] != '\0', "a bad year range needs a message");
        return 0;
    }

    ref_result want;
    reference(&o, text, len, &want);

    counter whole;
    counter_init(&whole, &job);
    unsigned char *buf = exact_copy(text, len);
    int rc_whole = mrc_job_count_buffer(&whole.job, &whole.ctx, buf, len, &whole.err);
    free(buf);
    expect_outcome(&whole, rc_whole, &want, "whole buffer");

    counter pieces;
    counter_init(&pieces, &job);
    int rc_pieces = feed_in_pieces(pieces.job.consume, &pieces.ctx, text, len, step, &pieces.err);
    expect_outcome(&pieces, rc_pieces != 0, &want, "in pieces");
    if (rc_whole == 0) expect_same_log(&whole.ctx.bad, &pieces.ctx.bad);

    counter_free(&whole);
    counter_free(&pieces);
    ref_result_free(&want);
    return 0;
}
