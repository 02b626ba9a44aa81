/* words.c - the words job: a token is a maximal run of bytes outside a delimiter class
 * (ASCII whitespace by default, everything but [A-Za-z0-9'] with --tokens alnum); each token
 * adds 1 to its key, lower-cased in ASCII with --fold-case. This is the per-byte hot path:
 * the variant is chosen once in mrc_job_select(), never per token. */
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "mrcount/map.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum token_class { CLASS_WHITESPACE, CLASS_ALNUM };

static unsigned char delim_whitespace[256];
static unsigned char delim_alnum[256];

static void init_tables(void)
{
    static int done;
    if (done)
        return;
    for (int b = 0; b < 256; b++) {
        delim_whitespace[b] = b == ' ' || (b >= '\t' && b <= '\r');
        int alnum = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
                    b == '\'';
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

/* First index >= i in buf[0..len) whose delimiter-ness equals `want` (1: a delimiter);
 * len if none. 16 bytes a step while they are there, byte table for the tail. */
static inline size_t find_class(const unsigned char *buf, size_t len, size_t i, int want,
                                enum token_class cls)
{
    const unsigned char *delim = cls == CLASS_WHITESPACE ? delim_whitespace : delim_alnum;
#if defined(__SSE2__)
    while (i + 16 <= len) {
        unsigned m = delim_mask16(buf + i, cls);
        if (!want)
            m ^= 0xffffu;
        if (m != 0)
            return i + (size_t)__builtin_ctz(m);
        i += 16;
    }
#endif
    while (i < len && (delim[buf[i]] != 0) != want)
        i++;
    return i;
}

static int grow_scratch(mrc_map_ctx *ctx, size_t need, mrc_err *err)
{
    size_t cap = ctx->scratch_cap ? ctx->scratch_cap : 256;
    while (cap < need)
        cap *= 2;
    unsigned char *s = realloc(ctx->scratch, cap);
    if (s == NULL)
        return mrc_err_set(err, MRC_ENOMEM, "out of memory for a %zu-byte key", need);
    ctx->scratch = s;
    ctx->scratch_cap = cap;
    return 0;
}

static inline void fold_ascii(unsigned char *dst, const unsigned char *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = src[i];
        dst[i] = (unsigned char)((unsigned)(c - 'A') < 26u ? c + 32 : c);
    }
}

#define BATCH 32

typedef struct pending {
    size_t off;  /* into buf, or into ctx->scratch with --fold-case */
    uint32_t len;
    uint64_t hash;
} pending;

/* Count a batch of hashed tokens. Their slots were prefetched when they were hashed; here
 * the records those slots point at are prefetched, all of them before the first lookup, so
 * the cache misses of rare keys overlap instead of queueing. */
static inline int add_batch(mrc_table *t, const unsigned char *base, const pending *p, size_t n,
                            mrc_err *err)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t s = t->slots[(size_t)p[i].hash & t->mask];
        if (s != 0)
            __builtin_prefetch(mrc_table_rec_at(t, s));
    }
    for (size_t i = 0; i < n; i++)
        if (mrc_table_add(t, base + p[i].off, p[i].len, p[i].hash, 1, err) != 0)
            return -1;
    return 0;
}

/* The consumer body; inlined into one function per (class, fold) pair. Tokens are found,
 * hashed and their slots prefetched in batches of BATCH, then counted. */
static inline long long consume_tokens(mrc_map_ctx *ctx, const unsigned char *buf, size_t len,
                                       bool final, mrc_err *err, enum token_class cls, int fold)
{
    mrc_table *t = ctx->table;
    pending batch[BATCH];
    size_t nb = 0, folded = 0;
    uint64_t records = 0;
    size_t pos = 0;
    long long consumed = (long long)len;
    for (;;) {
        size_t start = find_class(buf, len, pos, 0, cls);
        if (start == len)
            break;
        size_t end = find_class(buf, len, start + 1, 1, cls);
        if (end == len && !final) {
            consumed = (long long)start;
            break;
        }
        size_t n = end - start;
        if (n > UINT32_MAX) {
            mrc_err_set(err, MRC_EINVAL, "a token of %zu bytes exceeds the 4 GiB key limit", n);
            return -1;
        }
        uint64_t h;
        size_t off = start;
        if (fold) {
            if (folded + n > ctx->scratch_cap && grow_scratch(ctx, folded + n, err) != 0)
                return -1;
            fold_ascii(ctx->scratch + folded, buf + start, n);
            off = folded;
            folded += n;
            h = XXH3_64bits_withSeed(ctx->scratch + off, n, MRC_HASH_SEED);
        } else {
            h = XXH3_64bits_withSeed(buf + start, n, MRC_HASH_SEED);
        }
        __builtin_prefetch(&t->slots[(size_t)h & t->mask]);
        batch[nb++] = (pending){off, (uint32_t)n, h};
        if (nb == BATCH) {
            if (add_batch(t, fold ? ctx->scratch : buf, batch, nb, err) != 0)
                return -1;
            records += nb;
            nb = 0;
            folded = 0;
        }
        pos = end;
    }
    if (nb > 0 && add_batch(t, fold ? ctx->scratch : buf, batch, nb, err) != 0)
        return -1;
    ctx->records += records + nb;
    return consumed;
}

static long long consume_ws(void *c, const unsigned char *b, size_t n, bool f, mrc_err *e)
{
    return consume_tokens(c, b, n, f, e, CLASS_WHITESPACE, 0);
}
static long long consume_ws_fold(void *c, const unsigned char *b, size_t n, bool f, mrc_err *e)
{
    return consume_tokens(c, b, n, f, e, CLASS_WHITESPACE, 1);
}
static long long consume_alnum(void *c, const unsigned char *b, size_t n, bool f, mrc_err *e)
{
    return consume_tokens(c, b, n, f, e, CLASS_ALNUM, 0);
}
static long long consume_alnum_fold(void *c, const unsigned char *b, size_t n, bool f,
                                    mrc_err *e)
{
    return consume_tokens(c, b, n, f, e, CLASS_ALNUM, 1);
}

int mrc_job_select(const mrc_job_opts *o, mrc_job *out, mrc_err *err)
{
    init_tables();
    memset(out, 0, sizeof *out);
    if (o->job != NULL && strcmp(o->job, "words") != 0)
        return mrc_err_set(err, MRC_EINVAL, "--job %s: not supported by this version (words)",
                           o->job);
    out->name = "words";
    if (o->tokens == MRC_TOKENS_ALNUM) {
        out->rules.delim = delim_alnum;
        out->consume = o->fold_case ? consume_alnum_fold : consume_alnum;
    } else {
        out->rules.delim = delim_whitespace;
        out->consume = o->fold_case ? consume_ws_fold : consume_ws;
    }
    return 0;
}

int mrc_job_count_buffer(const mrc_job *job, mrc_map_ctx *ctx, const void *buf, size_t len,
                         mrc_err *err)
{
    long long n = job->consume(ctx, buf, len, true, err);
    return n < 0 ? (err->code ? err->code : MRC_EINVAL) : 0;
}

void mrc_map_ctx_free(mrc_map_ctx *ctx)
{
    free(ctx->scratch);
    ctx->scratch = NULL;
    ctx->scratch_cap = 0;
}
