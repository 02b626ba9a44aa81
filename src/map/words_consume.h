/* words_consume.h - the words consumer, included by words.c once per kernel (no include guard,
 * on purpose). Before each inclusion words.c defines WORDS_ISA (scalar, sse2, avx2, avx512) and
 * WORDS_TARGET (that kernel's target attribute, or nothing); each inclusion defines
 * consume_{ws,ws_fold,alnum,alnum_fold}_<isa>, compiled for that target with kern_<isa>_*
 * inlined. It must never reach its kernel through a pointer or branch on an option per block. */

#define WORDS_CAT_(a, b) a##_##b
#define WORDS_CAT(a, b) WORDS_CAT_(a, b)
#define WORDS_FN(name) WORDS_CAT(name, WORDS_ISA)
#define WORDS_KERN(op) WORDS_CAT(WORDS_CAT(kern, WORDS_ISA), op)

/* The delimiter mask of one block; with fold, dst[0..64) gets the block lower-cased too.
 * cls and fold are constants wherever this is inlined. */
MRC_KERNEL_INLINE WORDS_TARGET uint64_t WORDS_FN(block)(const unsigned char *p, unsigned char *dst,
                                                        enum token_class cls, int fold)
{
    if (cls == CLASS_WHITESPACE) return fold ? WORDS_KERN(ws_fold)(p, dst) : WORDS_KERN(ws)(p);
    return fold ? WORDS_KERN(alnum_fold)(p, dst) : WORDS_KERN(alnum)(p);
}

/* The consumer body. Each 64-byte block becomes a delimiter bit mask; token starts and ends are
 * the mask's rising and falling edges, taken in order with count-trailing-zeros, so the cost is
 * per token, not per byte. With fold the kernel also stores the block lower-cased into a window
 * of ctx->scratch (scratch[i - win] is buf[i] folded, for win <= i < b + 64) and tokens are
 * hashed and counted from there: no per-token folding pass. The window restarts at the current
 * block each time a batch is counted, so it stays a few KiB (a token's length when longer).
 * Measured, 1 GiB corpus, 1 rank x 1 thread, CPU seconds of the whole command (medians of 6
 * interleaved runs on the shared 2-core EPYC; main before: 5.64 whitespace, 5.61 alnum, 6.25
 * alnum+fold): whitespace 5.38 scalar, 4.80 sse2, 5.16 avx2, 4.92 avx512; alnum 5.54, 4.96,
 * 5.03, 4.91; alnum+fold 5.24, 4.40, 4.12, 4.07. Samples: count_batch (hash, table) ~60%, this
 * loop with its kernel ~11%: the table's cache misses bound the map, not the kernel. */
MRC_KERNEL_INLINE WORDS_TARGET long long
WORDS_FN(consume_tokens)(mrc_map_ctx *ctx, const unsigned char *buf, size_t len, bool final,
                         mrc_err *err, enum token_class cls, int fold)
{
    token_batch tb;
    tb.n = 0;
    memset(tb.in_class, 0, sizeof tb.in_class);
    unsigned char tail[64];
    size_t tok_start = 0, win = 0;
    bool in_tok = false;
    uint64_t carry = 1; /* the byte before buf counts as a delimiter: buf starts a record */
    long long consumed = (long long)len;
    for (size_t b = 0; b < len; b += 64) {
        const unsigned char *p = buf + b;
        if (len - b < 64) {
            /* The tail, padded with a delimiter: a token reaching `len` ends there. */
            memcpy(tail, p, len - b);
            memset(tail + (len - b), ' ', 64 - (len - b));
            p = tail;
        }
        unsigned char *dst = NULL;
        if (fold) {
            if (b - win + 64 > ctx->scratch_cap &&
                mrc_map_ctx_grow_scratch(ctx, b - win + 64, err) != 0)
                return -1;
            dst = ctx->scratch + (b - win);
        }
        uint64_t d = WORDS_FN(block)(p, dst, cls, fold);
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
            if (take_token(&tb, tok_start - (fold ? win : 0), e - tok_start, err) != 0) return -1;
            if (tb.n == BATCH) {
                if (count_batch(ctx, fold ? ctx->scratch : buf, &tb, err) != 0) return -1;
                if (fold) { /* later tokens start in this block: keep only it */
                    memmove(ctx->scratch, ctx->scratch + (b - win), 64);
                    win = b;
                }
            }
        }
    }
    if (in_tok) { /* a token running to the very end of a buffer of whole blocks */
        if (!final)
            consumed = (long long)tok_start;
        else if (take_token(&tb, tok_start - (fold ? win : 0), len - tok_start, err) != 0)
            return -1;
    }
out:
    if (tb.n > 0 && count_batch(ctx, fold ? ctx->scratch : buf, &tb, err) != 0) return -1;
    return consumed;
}

static WORDS_TARGET long long WORDS_FN(consume_ws)(void *c, const unsigned char *b, size_t n,
                                                   size_t o, bool f, mrc_err *e)
{
    (void)o; /* no lookahead: all of b is the range's */
    return WORDS_FN(consume_tokens)(c, b, n, f, e, CLASS_WHITESPACE, 0);
}
static WORDS_TARGET long long WORDS_FN(consume_ws_fold)(void *c, const unsigned char *b, size_t n,
                                                        size_t o, bool f, mrc_err *e)
{
    (void)o; /* no lookahead: all of b is the range's */
    return WORDS_FN(consume_tokens)(c, b, n, f, e, CLASS_WHITESPACE, 1);
}
static WORDS_TARGET long long WORDS_FN(consume_alnum)(void *c, const unsigned char *b, size_t n,
                                                      size_t o, bool f, mrc_err *e)
{
    (void)o; /* no lookahead: all of b is the range's */
    return WORDS_FN(consume_tokens)(c, b, n, f, e, CLASS_ALNUM, 0);
}
static WORDS_TARGET long long WORDS_FN(consume_alnum_fold)(void *c, const unsigned char *b,
                                                           size_t n, size_t o, bool f, mrc_err *e)
{
    (void)o; /* no lookahead: all of b is the range's */
    return WORDS_FN(consume_tokens)(c, b, n, f, e, CLASS_ALNUM, 1);
}

#undef WORDS_CAT_
#undef WORDS_CAT
#undef WORDS_FN
#undef WORDS_KERN
