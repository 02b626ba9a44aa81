/* fuzz_tsv.c - libFuzzer harness for the tsv job: delimiters, CSV quoting (--quote), key
 * columns (repeated ones too), the value column, --header and --strict, on the whole input and
 * fed in reader-sized pieces. Both must agree with each other and with a reference written here
 * from the README's rule, byte by byte as a state machine (the job finds fields with memchr):
 * the same keys and sums, lines read, bad records, and an error exactly when one is due.
 * Input: byte 0 = delimiter, quote, header, strict; byte 1 = key columns; byte 2 = value
 * column; byte 3 = piece step; the rest is the text. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "mrcount/map.h"
#include "mrcount/table.h"
#include "tsv.h"

#define HEADER_BYTES 4
#define REF_MAX_FIELDS 8 /* the highest column the harness asks for is 4 */

/* ---- the reference ---- */

typedef struct ref_field {
    const unsigned char *raw; /* the field's bytes as they stand on the line */
    size_t raw_len;
    unsigned char *text; /* its text (quotes taken off), in the caller's buffer */
    size_t len;
} ref_field;

/* The first `max` fields of line[0, n) (CR already dropped) into f, their texts written to out
 * (room for n bytes). @return the number of fields (max + 1 when there are more), with *open
 * set to the 1-based number of a field whose quote does not close (0: none; it is the last). */
static size_t ref_fields(const unsigned char *line, size_t n, unsigned char delim, int quote,
                         ref_field *f, size_t max, unsigned char *out, size_t *open)
{
    enum { START, PLAIN, QUOTED, QUOTE_SEEN } st = START;
    size_t nf = 0, w = 0;
    *open = 0;
    f[0] = (ref_field){line, 0, out, 0};
    for (size_t i = 0; i <= n; i++) {
        bool end = i == n;
        int c = end ? -1 : line[i];
        if (st == QUOTED) {
            if (end) {
                *open = nf + 1;
                return nf + 1;
            }
            if (c == quote)
                st = QUOTE_SEEN;
            else
                out[w++] = (unsigned char)c;
            continue;
        }
        if (st == QUOTE_SEEN && c == quote) { /* "" inside quotes */
            out[w++] = (unsigned char)c;
            st = QUOTED;
            continue;
        }
        if (end || c == delim) {
            if (nf < max) {
                f[nf].raw_len = (size_t)(line + i - f[nf].raw);
                f[nf].len = (size_t)(out + w - f[nf].text);
            }
            nf++;
            if (end) return nf;
            if (nf < max) f[nf] = (ref_field){line + i + 1, 0, out + w, 0};
            st = START;
            continue;
        }
        if (st == START && quote != 0 && c == quote) {
            st = QUOTED;
            continue;
        }
        st = PLAIN; /* after a closing quote too: the rest is the field's */
        out[w++] = (unsigned char)c;
    }
    return nf;
}

static bool ref_value(const unsigned char *s, size_t n, uint64_t *v)
{
    *v = 0;
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        uint64_t ten;
        if (__builtin_mul_overflow(*v, 10, &ten) || mrc_add_u64(ten, (uint64_t)(s[i] - '0'), v))
            return false;
    }
    return true;
}

static void reference(const mrc_tsv_opts *o, int quote, const unsigned char *text, size_t len,
                      ref_result *r)
{
    memset(r, 0, sizeof *r);
    size_t need = (size_t)o->value_column;
    for (uint32_t k = 0; k < o->keys.n; k++)
        if (o->keys.col[k] > need) need = o->keys.col[k];
    /* keys: up to 3 copies of a field of each line, and 2 TABs */
    r->arena = xmalloc(6 * len + 16);
    unsigned char *texts = xmalloc(len + 1);
    size_t used = 0, pos = 0;
    bool first = true;
    while (pos < len) {
        const unsigned char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len, n = end - pos;
        const unsigned char *line = text + pos;
        pos = nl ? end + 1 : len;
        if (n > 0 && line[n - 1] == '\r') n--;
        if (first && o->header) { /* the header: skipped, not a line read */
            first = false;
            continue;
        }
        first = false;
        r->lines++; /* every other line, blank and malformed ones too */
        if (n == 0) continue;
        ref_field f[REF_MAX_FIELDS + 1];
        size_t open, nf = ref_fields(line, n, (unsigned char)o->delimiter, quote, f, REF_MAX_FIELDS,
                                     texts, &open);
        uint64_t v = 1;
        bool good = !(open != 0 && open <= need) && nf >= need &&
                    (o->value_column == 0 ||
                     ref_value(f[o->value_column - 1].text, f[o->value_column - 1].len, &v));
        if (!good) {
            r->bad++;
            if (o->strict) r->error = true;
            continue;
        }
        unsigned char *key = r->arena + used;
        size_t kl = 0;
        for (uint32_t k = 0; k < o->keys.n; k++) {
            if (k > 0) key[kl++] = '\t';
            memcpy(key + kl, f[o->keys.col[k] - 1].text, f[o->keys.col[k] - 1].len);
            kl += f[o->keys.col[k] - 1].len;
        }
        kc_push(&r->keys, key, kl, v);
        used += kl;
    }
    free(texts);
    bool overflow = false;
    kc_aggregate(&r->keys, &overflow);
    if (overflow) r->error = true;
}

/* ---- the job under test ---- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEADER_BYTES) return 0;
    static const int delims[8] = {'\t', ',', ';', '|', ' ', '"', '\t', ','};
    static const int quotes[4] = {MRC_TSV_QUOTE_AUTO, 0, '"', '\''};
    mrc_tsv_opts o = {.delimiter = delims[data[0] & 7], .quote = quotes[(data[0] >> 3) & 3]};
    o.header = (data[0] & 0x20) != 0;
    o.strict = (data[0] & 0x40) != 0;
    o.keys.n = 1 + (data[1] & 3) % 3;
    for (uint32_t k = 0; k < o.keys.n; k++)
        o.keys.col[k] = 1 + ((data[1] >> (2 + 2 * k)) & 3); /* 1-4, repeats allowed */
    o.value_column = data[2] % 5;                           /* 0: count the lines */
    size_t step = 1 + (size_t)data[3];
    const unsigned char *text = data + HEADER_BYTES;
    size_t len = size - HEADER_BYTES;

    mrc_job job;
    mrc_err err = {0};
    int rc = mrc_job_select(&job, mrc_job_find("tsv"), &o, NULL, &err);
    int quote = o.quote == MRC_TSV_QUOTE_AUTO
                    ? (o.delimiter == '\t' || o.delimiter == '"' ? 0 : '"')
                    : o.quote;
    if (quote == o.delimiter) {
        CHECK(
            o.quote != MRC_TSV_QUOTE_AUTO && rc == MRC_EINVAL && strstr(err.msg, "--quote") != NULL,
            "a quote equal to the delimiter must be refused (never by auto): %d '%s'", rc, err.msg);
        return 0;
    }
    CHECK(rc == 0, "mrc_job_select: %s", err.msg);

    ref_result want;
    reference(&o, quote, text, len, &want);

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

    counter_free(&whole);
    counter_free(&pieces);
    ref_result_free(&want);
    return 0;
}
