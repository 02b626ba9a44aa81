/* words.c - the words job: a token is a maximal run of bytes outside a delimiter class
 * (ASCII whitespace by default, everything but [A-Za-z0-9'] with --tokens alnum); each token
 * adds 1 to its key, lower-cased in ASCII with --fold-case. This is the per-byte hot path:
 * the variant is chosen once in mrc_job_select(), never per token. --tokens unicode and word
 * n-grams (--ngrams N > 1) are counted by the span consumer of tokens.c, selected here. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "mrcount/map.h"
#include "unicode.h"
#include "words.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum token_class { CLASS_WHITESPACE, CLASS_ALNUM };

static unsigned char delim_whitespace[256];
static unsigned char delim_alnum[256];

static void init_tables(void)
{
    static int done;
    if (done) return;
    for (int b = 0; b < 256; b++) {
        delim_whitespace[b] = b == ' ' || (b >= '\t' && b <= '\r');
        int alnum =
            (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '\'';
        delim_alnum[b] = !alnum;
    }
    done = 1;
}

#if defined(__SSE2__)
/* 16-bit mask of the delimiter bytes among p[0..16). */
static inline unsigned delim_mask16(const unsigned char *p, enum token_class cls)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    if (cls == CLASS_WHITESPACE) {
        __m128i ctl = _mm_sub_epi8(x, _mm_set1_epi8('\t')); /* \t..\r -> 0..4 */
        __m128i is_ctl = _mm_cmpeq_epi8(_mm_min_epu8(ctl, _mm_set1_epi8(4)), ctl);
        __m128i is_sp = _mm_cmpeq_epi8(x, _mm_set1_epi8(' '));
        return (unsigned)_mm_movemask_epi8(_mm_or_si128(is_ctl, is_sp));
    }
    __m128i low = _mm_sub_epi8(_mm_or_si128(x, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
    __m128i is_alpha = _mm_cmpeq_epi8(_mm_min_epu8(low, _mm_set1_epi8(25)), low);
    __m128i dig = _mm_sub_epi8(x, _mm_set1_epi8('0'));
    __m128i is_digit = _mm_cmpeq_epi8(_mm_min_epu8(dig, _mm_set1_epi8(9)), dig);
    __m128i is_apos = _mm_cmpeq_epi8(x, _mm_set1_epi8('\''));
    __m128i keep = _mm_or_si128(_mm_or_si128(is_alpha, is_digit), is_apos);
    return (unsigned)_mm_movemask_epi8(keep) ^ 0xffffu;
}
#endif

/* 64-bit mask of the delimiter bytes among p[0..64). */
static inline uint64_t delim_mask64(const unsigned char *p, enum token_class cls)
{
#if defined(__SSE2__)
    return (uint64_t)delim_mask16(p, cls) | (uint64_t)delim_mask16(p + 16, cls) << 16 |
           (uint64_t)delim_mask16(p + 32, cls) << 32 | (uint64_t)delim_mask16(p + 48, cls) << 48;
#else
    const unsigned char *delim = cls == CLASS_WHITESPACE ? delim_whitespace : delim_alnum;
    uint64_t m = 0;
    for (int i = 0; i < 64; i++)
        m |= (uint64_t)(delim[p[i]] != 0) << i;
    return m;
#endif
}

static inline void fold_ascii(unsigned char *dst, const unsigned char *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = src[i];
        dst[i] = (unsigned char)((unsigned)(c - 'A') < 26u ? c + 32 : c);
    }
}

#define BATCH 256 /* tokens hashed (and their slots prefetched) before they are counted */
#define AHEAD 64  /* how far ahead of its lookup a record is prefetched */

typedef struct pending {
    size_t off; /* into buf, or into ctx->scratch with --fold-case */
    uint32_t len;
    uint64_t hash;
} pending;

/* Count a batch of hashed tokens. Their slots were prefetched when they were hashed; the
 * records those slots point at are prefetched AHEAD lookups early, so the cache misses of
 * rare keys overlap instead of queueing. */
static inline void prefetch_rec(const mrc_table *t, uint64_t hash)
{
    uint64_t s = *mrc_table_home(t, hash);
    if (s != 0) __builtin_prefetch(mrc_table_rec_at(t, s));
}

static inline int add_batch(mrc_table *t, const unsigned char *base, const pending *p, size_t n,
                            mrc_err *err)
{
    size_t i = 0;
    for (; i < n && i < AHEAD; i++)
        prefetch_rec(t, p[i].hash);
    for (i = 0; i < n; i++) {
        if (i + AHEAD < n) prefetch_rec(t, p[i + AHEAD].hash);
        if (mrc_table_add(t, base + p[i].off, p[i].len, p[i].hash, 1, err) != 0) return -1;
    }
    return 0;
}

/* Hash one token, prefetch its slot and queue it; count the queue when it is full. */
static inline int take_token(mrc_map_ctx *ctx, const unsigned char *buf, size_t start, size_t end,
                             pending *batch, size_t *nb, size_t *folded, int fold, mrc_err *err)
{
    mrc_table *t = ctx->table;
    size_t n = end - start;
    if (n > UINT32_MAX)
        return mrc_err_set(err, MRC_EINVAL, "a token of %zu bytes exceeds the 4 GiB key limit", n);
    uint64_t h;
    size_t off = start;
    if (fold) {
        if (*folded + n > ctx->scratch_cap && mrc_map_ctx_grow_scratch(ctx, *folded + n, err) != 0)
            return -1;
        fold_ascii(ctx->scratch + *folded, buf + start, n);
        off = *folded;
        *folded += n;
        h = XXH3_64bits_withSeed(ctx->scratch + off, n, MRC_HASH_SEED);
    } else {
        h = XXH3_64bits_withSeed(buf + start, n, MRC_HASH_SEED);
    }
    __builtin_prefetch(mrc_table_home(t, h));
    batch[(*nb)++] = (pending){off, (uint32_t)n, h};
    if (*nb == BATCH) {
        if (add_batch(t, fold ? ctx->scratch : buf, batch, *nb, err) != 0) return -1;
        ctx->records += *nb;
        *nb = 0;
        *folded = 0;
    }
    return 0;
}

/* The consumer body; inlined into one function per (class, fold) pair. Each 64-byte block
 * becomes a delimiter bit mask; token starts and ends are the mask's rising and falling edges,
 * taken in order with count-trailing-zeros, so the cost is per token, not per byte. */
static inline long long consume_tokens(mrc_map_ctx *ctx, const unsigned char *buf, size_t len,
                                       bool final, mrc_err *err, enum token_class cls, int fold)
{
    pending batch[BATCH];
    unsigned char tail[64];
    size_t nb = 0, folded = 0, tok_start = 0;
    bool in_tok = false;
    uint64_t carry = 1; /* the byte before buf counts as a delimiter: buf starts a record */
    long long consumed = (long long)len;
    for (size_t b = 0; b < len; b += 64) {
        uint64_t d;
        if (len - b >= 64) {
            d = delim_mask64(buf + b, cls);
        } else {
            /* The tail, padded with a delimiter: a token reaching `len` ends there. */
            memcpy(tail, buf + b, len - b);
            memset(tail + (len - b), ' ', 64 - (len - b));
            d = delim_mask64(tail, cls);
        }
        uint64_t prev = d << 1 | carry;
        uint64_t starts = ~d & prev, ends = d & ~prev;
        carry = d >> 63;
        /* Edges alternate start, end, start, ...; a token open at the block start ends first. */
        for (;;) {
            if (!in_tok) {
                if (starts == 0) break;
                tok_start = b + (size_t)__builtin_ctzll(starts);
                starts &= starts - 1;
                in_tok = true;
            }
            if (ends == 0) break;
            size_t e = b + (size_t)__builtin_ctzll(ends);
            ends &= ends - 1;
            in_tok = false;
            if (e >= len && !final) {
                consumed = (long long)tok_start;
                goto out;
            }
            if (take_token(ctx, buf, tok_start, e, batch, &nb, &folded, fold, err) != 0) return -1;
        }
    }
    if (in_tok) { /* a token running to the very end of a buffer of whole blocks */
        if (!final)
            consumed = (long long)tok_start;
        else if (take_token(ctx, buf, tok_start, len, batch, &nb, &folded, fold, err) != 0)
            return -1;
    }
out:
    if (nb > 0) {
        if (add_batch(ctx->table, fold ? ctx->scratch : buf, batch, nb, err) != 0) return -1;
        ctx->records += nb;
    }
    return consumed;
}

static long long consume_ws(void *c, const unsigned char *b, size_t n, size_t o, bool f, mrc_err *e)
{
    (void)o; /* no lookahead: all of b is the range's */
    return consume_tokens(c, b, n, f, e, CLASS_WHITESPACE, 0);
}
static long long consume_ws_fold(void *c, const unsigned char *b, size_t n, size_t o, bool f,
                                 mrc_err *e)
{
    (void)o; /* no lookahead: all of b is the range's */
    return consume_tokens(c, b, n, f, e, CLASS_WHITESPACE, 1);
}
static long long consume_alnum(void *c, const unsigned char *b, size_t n, size_t o, bool f,
                               mrc_err *e)
{
    (void)o; /* no lookahead: all of b is the range's */
    return consume_tokens(c, b, n, f, e, CLASS_ALNUM, 0);
}
static long long consume_alnum_fold(void *c, const unsigned char *b, size_t n, size_t o, bool f,
                                    mrc_err *e)
{
    (void)o; /* no lookahead: all of b is the range's */
    return consume_tokens(c, b, n, f, e, CLASS_ALNUM, 1);
}

static int words_select(mrc_job *job, const mrc_job_env *env, mrc_err *err)
{
    (void)env;
    (void)err;
    const mrc_words_opts *o = (const void *)job->settings;
    if (o->tokens == MRC_TOKENS_UNICODE || o->ngrams > 1) { /* tokens.c */
        job->consume = mrc_words_spans_select(o, &job->rules);
        return 0;
    }
    init_tables();
    if (o->tokens == MRC_TOKENS_ALNUM) {
        job->rules.delim = delim_alnum;
        job->consume = o->fold_case ? consume_alnum_fold : consume_alnum;
    } else {
        job->rules.delim = delim_whitespace;
        job->consume = o->fold_case ? consume_ws_fold : consume_ws;
    }
    return 0;
}

/* Options that only make sense together. */
static int words_check(const void *settings, mrc_err *err)
{
    const mrc_words_opts *o = settings;
    if (o->normalize != MRC_NORMALIZE_NONE && o->tokens != MRC_TOKENS_UNICODE)
        return mrc_err_set(err, MRC_EINVAL,
                           "--normalize applies to --tokens unicode only (the byte rules' keys "
                           "are their bytes)");
    return 0;
}

static void words_metrics(const mrc_job *job, FILE *f)
{
    const mrc_words_opts *o = (const void *)job->settings;
    if (o->tokens != MRC_TOKENS_UNICODE) return;
    fputs(", \"unicode_version\": ", f);
    mrc_json_string(f, mrc_unicode_data_version());
    fputs(", \"unicode_library\": ", f);
    mrc_json_string(f, mrc_unicode_library_name());
    fputs(", \"unicode_library_version\": ", f);
    mrc_json_string(f, mrc_unicode_library_version());
}

static const char *const token_names[] = {"whitespace", "alnum", "unicode", NULL};
static const char *const normalize_names[] = {"none", "nfc", "nfkc", NULL};
static const char *const break_names[] = {"line", "paragraph", "none", NULL};
static const char *const words_counters[] = {[MRC_WORDS_INVALID_UTF8] = "invalid_utf8_bytes", NULL};

static const mrc_opt_def words_opts[] = {
    {.name = "tokens",
     .section = "job",
     .type = MRC_OPT_CHOICE,
     .offset = offsetof(mrc_words_opts, tokens),
     .choices = token_names,
     .help = "a word is a run of non-space bytes (default), of\n"
             "[A-Za-z0-9'], or of Unicode letters, marks and numbers",
     .metric = "tokens"},
    {.name = "fold-case",
     .section = "job",
     .type = MRC_OPT_FLAG,
     .offset = offsetof(mrc_words_opts, fold_case),
     .help = "lower-case ASCII letters; with --tokens unicode, full\n"
             "Unicode case folding (--no-fold-case: don't)",
     .metric = "fold_case"},
    {.name = "no-fold-case",
     .type = MRC_OPT_FLAG,
     .offset = offsetof(mrc_words_opts, fold_case),
     .negate = true},
    {.name = "normalize",
     .section = "job",
     .type = MRC_OPT_CHOICE,
     .offset = offsetof(mrc_words_opts, normalize),
     .choices = normalize_names,
     .help = "--tokens unicode: normalize each token (NFC or NFKC)\n"
             "before folding (default: none)",
     .metric = "normalize"},
    {.name = "ngrams",
     .section = "job",
     .type = MRC_OPT_INT,
     .offset = offsetof(mrc_words_opts, ngrams),
     .min = 1,
     .max = MRC_NGRAMS_MAX,
     .arg = "N",
     .help = "count N consecutive tokens joined by a space (1-9,\n"
             "default 1)",
     .metric = "ngrams"},
    {.name = "ngram-break",
     .section = "job",
     .type = MRC_OPT_CHOICE,
     .offset = offsetof(mrc_words_opts, ngram_break),
     .choices = break_names,
     .help = "where an n-gram sequence ends: at an LF (default), at a\n"
             "blank line, or only at the end of the file",
     .metric = "ngram_break"},
    {0},
};

static const mrc_words_opts words_defaults = {.tokens = MRC_TOKENS_WHITESPACE,
                                              .fold_case = false,
                                              .normalize = MRC_NORMALIZE_NONE,
                                              .ngrams = 1,
                                              .ngram_break = MRC_BREAK_LINE};

const mrc_job_desc mrc_job_words = {
    .name = "words",
    .summary = "the words of text",
    .records = "tokens",
    .unit = MRC_UNIT_TOKEN,
    .opts = words_opts,
    .settings_size = sizeof(mrc_words_opts),
    .defaults = &words_defaults,
    .check = words_check,
    .select = words_select,
    .metrics = words_metrics,
    .counters = words_counters,
};
