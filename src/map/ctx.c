/* ctx.c - the per-thread consumer state shared by the jobs: the key scratch buffer, where the
 * current piece lies, and the bad-record log (causes, samples, the lookup of a bad record's line
 * number) that every job with bad records shares.
 * Nothing here is on the per-byte path except the rare scratch growth. */
#include <stdlib.h>
#include <string.h>

#include "mrcount/map.h"

int mrc_map_ctx_grow_scratch(mrc_map_ctx *ctx, size_t need, mrc_err *err)
{
    size_t cap = ctx->scratch_cap ? ctx->scratch_cap : 256;
    while (cap < need)
        cap *= 2;
    unsigned char *s = realloc(ctx->scratch, cap);
    if (s == NULL) return mrc_err_set(err, MRC_ENOMEM, "out of memory for a %zu-byte key", need);
    ctx->scratch = s;
    ctx->scratch_cap = cap;
    return 0;
}

void mrc_map_ctx_piece(mrc_map_ctx *ctx, const char *path, uint32_t file, uint64_t offset)
{
    ctx->path = path;
    ctx->file = file;
    ctx->piece_offset = offset;
    ctx->piece_line = 0;
    ctx->pieces++;
}

void mrc_bad_log_free(mrc_bad_log *b)
{
    free(b->per_file);
    free(b->samples);
    memset(b, 0, sizeof *b);
}

void mrc_map_ctx_free(mrc_map_ctx *ctx)
{
    free(ctx->scratch);
    ctx->scratch = NULL;
    ctx->scratch_cap = 0;
    if (ctx->state != NULL && ctx->state_free != NULL) ctx->state_free(ctx->state);
    ctx->state = NULL;
    ctx->state_free = NULL;
    mrc_bad_log_free(&ctx->bad);
}

int mrc_bad_sample_cmp(const void *a, const void *b)
{
    const mrc_bad_sample *x = a, *y = b;
    if (x->file != y->file) return x->file < y->file ? -1 : 1;
    if (x->piece_offset != y->piece_offset) return x->piece_offset < y->piece_offset ? -1 : 1;
    if (x->piece_line != y->piece_line) return x->piece_line < y->piece_line ? -1 : 1;
    return 0;
}

size_t mrc_bad_samples_first(mrc_bad_sample *s, size_t n)
{
    if (n > 1) qsort(s, n, sizeof *s, mrc_bad_sample_cmp);
    size_t k = 0, run = 0;
    for (size_t i = 0; i < n; i++) {
        run = i > 0 && s[i].file == s[i - 1].file ? run + 1 : 0;
        if (run < MRC_BAD_SAMPLES) s[k++] = s[i];
    }
    return k;
}

int mrc_bad_locate(const char *path, const mrc_bad_sample *s, uint64_t *line, mrc_err *err)
{
    if (s->piece_offset == 0) {
        *line = s->piece_line + 1;
        return 0;
    }
    /* The piece's first line starts after the first LF at or past offset - 1 (the reader's
     * ownership rule), so it is line (LFs before offset - 1) + 2. */
    uint64_t lf = 0;
    int rc = mrc_input_count_newlines(path, s->piece_offset - 1, UINT64_MAX, &lf, err);
    if (rc != 0) return rc;
    *line = lf + 2 + s->piece_line;
    return 0;
}

const char *mrc_bad_cause_text(enum mrc_bad_cause c)
{
    static const char *const text[MRC_BAD_CAUSES] = {
        [MRC_BAD_COLUMNS] = "missing columns",
        [MRC_BAD_EXTRA] = "too many columns",
        [MRC_BAD_EMPTY_NGRAM] = "empty ngram",
        [MRC_BAD_YEAR] = "year is not a number",
        [MRC_BAD_YEAR_RANGE] = "year outside 0-9999",
        [MRC_BAD_COUNT] = "count is not a number",
        [MRC_BAD_NEGATIVE] = "negative count",
        [MRC_BAD_COUNT_RANGE] = "count over 2^64-1",
        [MRC_BAD_ENTRY] = "entry is not year,match,volumes",
        [MRC_BAD_QUOTE] = "quoted field not closed on its line",
        [MRC_BAD_VALUE] = "value is not a number",
        [MRC_BAD_VALUE_NEGATIVE] = "negative value",
        [MRC_BAD_VALUE_RANGE] = "value over 2^64-1",
    };
    return c >= MRC_BAD_COLUMNS && c < MRC_BAD_CAUSES ? text[c] : "malformed record";
}

int mrc_map_bad_record(mrc_map_ctx *ctx, int cause, bool strict, mrc_err *err)
{
    mrc_bad_log *b = &ctx->bad;
    mrc_bad_sample s = {ctx->file, (uint32_t)cause, ctx->piece_offset, ctx->piece_line};
    if (strict) {
        uint64_t line = 0;
        if (mrc_bad_locate(ctx->path, &s, &line, err) != 0) return -1;
        mrc_err_set(err, MRC_EINVAL, "%s:%llu: %s", ctx->path, (unsigned long long)line,
                    mrc_bad_cause_text(cause));
        return -1;
    }
    if (ctx->file >= b->nfiles) {
        size_t n = b->nfiles ? b->nfiles : 16;
        while (n <= ctx->file)
            n *= 2;
        uint64_t *pf = realloc(b->per_file, n * sizeof *pf);
        if (pf == NULL) return mrc_err_set(err, MRC_ENOMEM, "out of memory for bad records"), -1;
        memset(pf + b->nfiles, 0, (n - b->nfiles) * sizeof *pf);
        b->per_file = pf;
        b->nfiles = n;
    }
    /* Pieces of a file reach a thread in file order: its first samples are its earliest. */
    if (b->per_file[ctx->file] < MRC_BAD_SAMPLES) {
        if (b->nsamples == b->cap) {
            size_t cap = b->cap ? 2 * b->cap : 16;
            mrc_bad_sample *ns = realloc(b->samples, cap * sizeof *ns);
            if (ns == NULL)
                return mrc_err_set(err, MRC_ENOMEM, "out of memory for bad records"), -1;
            b->samples = ns;
            b->cap = cap;
        }
        b->samples[b->nsamples++] = s;
    }
    b->per_file[ctx->file]++;
    b->total++;
    return 0;
}
