/* fuzz_words.c - libFuzzer harness for the words job: the SIMD tokenizers (whitespace and alnum,
 * with and without --fold-case), built for every block kernel this machine runs (scalar, SSE2,
 * AVX2, AVX-512BW), on the whole input and fed in reader-sized pieces. Every table must equal a
 * naive byte loop's count, key by key, and the token total must match: a mismatch abort()s, so
 * the fuzzer finds logic bugs (in any kernel) as well as memory errors.
 * Input: byte 0 = the mode (bits 0-1) and the piece step (bits 2-7: 1-32 bytes, then multiples
 * of 64 up to 2048), the rest is the text. One mode per input: a table costs an mmap. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "kernels.h"
#include "words.h"
#include "mrcount/map.h"
#include "mrcount/table.h"

typedef struct mode {
    enum mrc_tokens tokens;
    bool fold;
    const char *name;
} mode;

static const mode modes[] = {
    {MRC_TOKENS_WHITESPACE, false, "whitespace"},
    {MRC_TOKENS_WHITESPACE, true, "whitespace+fold"},
    {MRC_TOKENS_ALNUM, false, "alnum"},
    {MRC_TOKENS_ALNUM, true, "alnum+fold"},
};

/* The README's rule, byte by byte. */
static bool is_delim(const mode *m, unsigned char b)
{
    if (m->tokens == MRC_TOKENS_WHITESPACE)
        return b == ' ' || b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r';
    bool keep =
        (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '\'';
    return !keep;
}

/* The reference count: tokens of text (keys from `keys`, the folded copy), summed by sort.
 * @return the number of tokens. */
static uint64_t reference(const mode *m, const unsigned char *text, const unsigned char *keys,
                          size_t len, kclist *out)
{
    uint64_t tokens = 0;
    size_t i = 0;
    while (i < len) {
        if (is_delim(m, text[i])) {
            i++;
            continue;
        }
        size_t s = i;
        while (i < len && !is_delim(m, text[i]))
            i++;
        kc_push(out, keys + s, i - s, 1);
        tokens++;
    }
    bool overflow = false;
    kc_aggregate(out, &overflow);
    return tokens;
}

/* The words job in mode m, with block kernel k. */
static mrc_job job_of(const mode *m, enum mrc_kernel k)
{
    mrc_job job;
    mrc_err err = {0};
    mrc_words_opts o = {.tokens = m->tokens, .fold_case = m->fold};
    mrc_job_env env = {.kernel = mrc_kernel_name(k)};
    CHECK(mrc_job_select(&job, mrc_job_find("words"), &o, &env, &err) == 0, "mrc_job_select: %s",
          err.msg);
    CHECK(strcmp(job.kernel, mrc_kernel_name(k)) == 0, "kernel %s ran, not %s", job.kernel,
          mrc_kernel_name(k));
    return job;
}

static void expect_counted(counter *c, const kclist *want, uint64_t tokens, const char *how,
                           const mode *m)
{
    char what[96];
    snprintf(what, sizeof what, "%s, %s kernel, %s", m->name, c->job.kernel, how);
    kclist got = counter_keys(c);
    CHECK(c->ctx.records == tokens, "%s: %llu tokens, the reference has %llu", what,
          (unsigned long long)c->ctx.records, (unsigned long long)tokens);
    CHECK(c->table.total == tokens, "%s: table total %llu, want %llu", what,
          (unsigned long long)c->table.total, (unsigned long long)tokens);
    CHECK(c->table.used == want->n, "%s: table says %zu keys, want %zu", what, c->table.used,
          want->n);
    kc_expect_equal(&got, want, what);
    kc_free(&got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    const mode *m = &modes[data[0] & 3];
    size_t s = (size_t)data[0] >> 2;
    size_t step = s < 32 ? s + 1 : (s - 31) * 64;
    const unsigned char *text = data + 1;
    size_t len = size - 1;
    unsigned char *folded = exact_copy(text, len);
    for (size_t i = 0; i < len; i++)
        if (folded[i] >= 'A' && folded[i] <= 'Z') folded[i] = (unsigned char)(folded[i] + 32);
    kclist want = {0};
    uint64_t tokens = reference(m, text, m->fold ? folded : text, len, &want);

    for (int k = 0; k < MRC_KERNELS; k++) {
        if (!mrc_kernel_runs((enum mrc_kernel)k)) continue;
        mrc_job job = job_of(m, (enum mrc_kernel)k);
        counter whole;
        counter_init(&whole, &job);
        unsigned char *buf = exact_copy(text, len);
        int rc = mrc_job_count_buffer(&whole.job, &whole.ctx, buf, len, &whole.err);
        free(buf);
        CHECK(rc == 0, "%s: mrc_job_count_buffer: %s", m->name, whole.err.msg);
        expect_counted(&whole, &want, tokens, "whole buffer", m);
        counter_free(&whole);

        counter pieces;
        counter_init(&pieces, &job);
        rc = feed_in_pieces(pieces.job.consume, &pieces.ctx, text, len, step, &pieces.err);
        CHECK(rc == 0, "%s: pieces of %zu bytes: %s", m->name, step, pieces.err.msg);
        expect_counted(&pieces, &want, tokens, "in pieces", m);
        counter_free(&pieces);
    }
    kc_free(&want);
    free(folded);
    return 0;
}
