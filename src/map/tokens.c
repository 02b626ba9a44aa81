/* tokens.c - the words job's span consumer, for `--tokens unicode` (any --ngrams) and for word
 * n-grams of every token rule (words.c's SIMD consumer keeps the byte rules' unigrams). Tokens
 * are found as spans (the unicode scanner, or a byte-class span finder for whitespace/alnum),
 * keyed in batches (as they are, ASCII-folded, or by the unicode key builder: normalize, then
 * fold), then hashed with their slots prefetched and counted, or joined into n-grams through
 * the window of the last N-1 keys (ngramwin.h).
 * It never counts what starts at or after `owned` (past the range: mrc_consume_fn), never lets
 * an n-gram cross a break or a piece, and never tests an option per token: one consumer per
 * (rule, keying, unigram or n-gram, break), chosen once. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "batch.h"
#include "mrcount/map.h"
#include "ngramwin.h"
#include "unicode.h"
#include "words.h"

/* ---- rules ---- */

enum rule { RULE_WHITESPACE, RULE_ALNUM, RULE_UNICODE };

/* How a token becomes its key. */
enum keying {
    KEY_TOKEN,      /* its own bytes (hashed in place) */
    KEY_FOLD_ASCII, /* A-Z lowered, every other byte kept (the byte rules' --fold-case) */
    KEY_BUILT,      /* the unicode key builder (normalize, then full case folding) */
};

static unsigned char delim_whitespace[256], delim_alnum[256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void tables_init(void)
{
    for (int b = 0; b < 256; b++) {
        delim_whitespace[b] = b == ' ' || (b >= '\t' && b <= '\r');
        int alnum =
            (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '\'';
        delim_alnum[b] = !alnum;
    }
}

/* The bytes that always end a token (and a record) under a rule. */
static const unsigned char *rule_delims(enum rule rule)
{
    return rule == RULE_UNICODE ? mrc_unicode_record_delims()
           : rule == RULE_ALNUM ? delim_alnum
                                : delim_whitespace;
}

/* The tokens of buf[pos..end) under a byte rule (maximal runs of non-delimiter bytes), in the
 * unicode scanner's manner: at most `max` spans, @return where to resume. */
static inline size_t byte_scan(const unsigned char *buf, size_t pos, size_t end,
                               const unsigned char *delim, mrc_unicode_span *spans, size_t max,
                               size_t *nspans)
{
    size_t n = 0;
    for (;;) {
        while (pos < end && delim[buf[pos]])
            pos++;
        if (pos == end || n == max) break;
        size_t s = pos++;
        while (pos < end && !delim[buf[pos]])
            pos++;
        spans[n++] = (mrc_unicode_span){s, pos, false};
    }
    *nspans = n;
    return pos;
}

/* ---- the state a thread's consumer keeps from call to call ---- */

#define SPANS BATCH /* tokens scanned and keyed per step; n-grams hashed per batch */

typedef struct span_state {
    uint64_t piece; /* ctx->pieces when the window was last reset */
    mrc_unicode_keys_fn keys;
    mrc_unicode_span spans[SPANS];
    size_t ends[SPANS];
    mrc_unicode_keybuf kb; /* the keys of one step (KEY_BUILT, KEY_FOLD_ASCII) */
    token_batch tb;        /* unigrams: the step's keys, by length class (batch.h) */
    pending batch[SPANS];  /* n-grams */
    size_t nb;
    unsigned char *grams; /* the n-grams of the batch */
    size_t grams_len, grams_cap;
    mrc_ngram_window win;
    bool lf_since_token; /* paragraph breaks: an LF, then only ASCII whitespace */
} span_state;

static void span_state_free(void *p)
{
    span_state *st = p;
    if (st == NULL) return;
    mrc_unicode_keybuf_free(&st->kb);
    mrc_ngram_window_free(&st->win);
    free(st->grams);
    free(st);
}

static span_state *span_state_of(mrc_map_ctx *ctx, mrc_err *err)
{
    if (ctx->state != NULL && ctx->state_free == span_state_free) return ctx->state;
    if (ctx->state != NULL && ctx->state_free != NULL) ctx->state_free(ctx->state);
    const mrc_words_opts *o = ctx->settings;
    span_state *st = calloc(1, sizeof *st);
    if (st == NULL) {
        mrc_err_set(err, MRC_ENOMEM, "out of memory for the token consumer's state");
        return NULL;
    }
    st->keys = mrc_unicode_keys_select((enum mrc_normalize)o->normalize, o->fold_case);
    mrc_ngram_window_init(&st->win, o->ngrams > 1 ? (unsigned)o->ngrams : 2);
    st->piece = ctx->pieces;
    ctx->state = st;
    ctx->state_free = span_state_free;
    return st;
}

/* ---- counting ---- */

/* An n-gram (its bytes at st->grams + off) into the batch: hashed and its home slot fetched
 * now, added with the batch (add_pending, addq.h). */
static inline void queue(mrc_map_ctx *ctx, span_state *st, const unsigned char *key, size_t off,
                         size_t len)
{
    uint64_t h = XXH3_64bits_withSeed(key, len, MRC_HASH_SEED);
    __builtin_prefetch(mrc_table_home(ctx->table, h));
    st->batch[st->nb++] = (pending){off, (uint32_t)len, h, 1};
}

static int flush_grams(mrc_map_ctx *ctx, span_state *st, mrc_err *err)
{
    int rc = st->nb ? add_pending(ctx->table, st->grams, st->batch, st->nb, err) : 0;
    st->nb = 0;
    st->grams_len = 0;
    return rc;
}

/* The n-gram that the window and `key` make, queued; the batch counted when it is full. */
static inline int emit_gram(mrc_map_ctx *ctx, span_state *st, const unsigned char *key, size_t klen,
                            mrc_err *err)
{
    size_t n = mrc_ngram_window_gram_len(&st->win, klen);
    if (n > UINT32_MAX)
        return mrc_err_set(err, MRC_EINVAL,
                           "%s: an n-gram of %zu bytes exceeds the 4 GiB key limit",
                           ctx->path ? ctx->path : "input", n);
    if (st->grams_cap - st->grams_len < n) {
        size_t cap = st->grams_cap ? st->grams_cap : 16384;
        while (cap - st->grams_len < n)
            cap *= 2;
        unsigned char *g = realloc(st->grams, cap);
        if (g == NULL) return mrc_err_set(err, MRC_ENOMEM, "out of memory for n-grams");
        st->grams = g;
        st->grams_cap = cap;
    }
    unsigned char *dst = st->grams + st->grams_len;
    mrc_ngram_window_write(&st->win, dst, key, klen);
    queue(ctx, st, dst, st->grams_len, n);
    st->grams_len += n;
    return st->nb == SPANS ? flush_grams(ctx, st, err) : 0;
}

/* The gap between two tokens, buf[p..e): a break empties the window. */
static inline void gap(span_state *st, const unsigned char *p, const unsigned char *e,
                       enum mrc_ngram_break brk)
{
    if (brk == MRC_BREAK_LINE) {
        for (; p < e; p++)
            if (*p == '\n') {
                mrc_ngram_window_reset(&st->win);
                return;
            }
        return;
    }
    for (; p < e; p++) { /* paragraph: LF, ASCII whitespace, LF */
        unsigned c = *p;
        if (c == '\n') {
            if (st->lf_since_token) mrc_ngram_window_reset(&st->win);
            st->lf_since_token = true;
        } else if (!(c == ' ' || (c >= '\t' && c <= '\r'))) {
            st->lf_since_token = false;
        }
    }
}

/* Fold the byte-rule tokens spans[0..n) into st->kb (ends[] as the unicode builder sets them). */
static inline int fold_ascii_keys(span_state *st, const unsigned char *buf, size_t n, mrc_err *err)
{
    mrc_unicode_keybuf *b = &st->kb;
    size_t need = 0;
    for (size_t i = 0; i < n; i++)
        need += st->spans[i].end - st->spans[i].start;
    if (b->cap < need) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < need)
            cap *= 2;
        unsigned char *p = realloc(b->bytes, cap);
        if (p == NULL) return mrc_err_set(err, MRC_ENOMEM, "out of memory for %zu key bytes", need);
        b->bytes = p;
        b->cap = cap;
    }
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = st->spans[i].start; j < st->spans[i].end; j++) {
            unsigned char c = buf[j];
            b->bytes[len++] = (unsigned char)((unsigned)(c - 'A') < 26u ? c + 32 : c);
        }
        st->ends[i] = len;
    }
    b->len = len;
    return 0;
}

/* The tokens of buf[from..to) (a complete region: it ends at a record delimiter or at the end
 * of the input), counted as unigrams or through the n-gram window; `own`: they are the range's
 * (their invalid bytes go to *invalid, their tokens to ctx->records). A context region stops,
 * *enough set, at the first token that no n-gram of the range needs. @return 0 or -1. */
static inline __attribute__((always_inline)) int
region(mrc_map_ctx *ctx, span_state *st, const unsigned char *buf, size_t from, size_t to, bool own,
       uint64_t *invalid, bool *enough, mrc_err *err, enum rule rule, enum keying keying,
       bool ngram, enum mrc_ngram_break brk)
{
    const unsigned char *delim = rule_delims(rule);
    size_t pos = from, gap_from = from;
    while (pos < to) {
        size_t n, next;
        if (rule == RULE_UNICODE)
            next = mrc_unicode_scan(buf, pos, to, st->spans, SPANS, &n, invalid);
        else
            next = byte_scan(buf, pos, to, delim, st->spans, SPANS, &n);
        if (keying == KEY_BUILT) {
            st->kb.len = 0;
            if (st->keys(&st->kb, buf, st->spans, n, st->ends, err) != 0) return -1;
        } else if (keying == KEY_FOLD_ASCII) {
            if (fold_ascii_keys(st, buf, n, err) != 0) return -1;
        }
        const unsigned char *kbase = keying == KEY_TOKEN ? buf : st->kb.bytes;
        for (size_t i = 0; i < n; i++) {
            const mrc_unicode_span *s = &st->spans[i];
            size_t koff = keying == KEY_TOKEN ? s->start : i ? st->ends[i - 1] : 0;
            size_t klen = keying == KEY_TOKEN ? s->end - s->start : st->ends[i] - koff;
            if (klen > UINT32_MAX)
                return mrc_err_set(err, MRC_EINVAL,
                                   "%s: a token of %zu bytes exceeds the 4 GiB key limit",
                                   ctx->path ? ctx->path : "input", klen),
                       -1;
            if (!ngram) {
                take_token(&st->tb, koff, klen, err); /* klen fits: checked above */
                continue;
            }
            if (brk != MRC_BREAK_NONE) {
                gap(st, buf + gap_from, buf + s->start, brk);
                gap_from = s->end;
                st->lf_since_token = false;
            }
            if (!own && st->win.owned == 0) {
                *enough = true;
                return 0;
            }
            if (mrc_ngram_window_counts(&st->win) && emit_gram(ctx, st, kbase + koff, klen, err))
                return -1;
            if (mrc_ngram_window_push(&st->win, kbase + koff, klen, own, err) != 0) return -1;
        }
        if (!ngram) { /* count_batch adds them to ctx->records (unigrams are only own) */
            if (st->tb.n && count_batch(ctx, kbase, &st->tb, err) != 0) return -1;
        } else if (own) {
            ctx->records += n;
        }
        pos = next;
    }
    if (ngram && brk != MRC_BREAK_NONE) gap(st, buf + gap_from, buf + to, brk);
    if (ngram && !own && st->win.owned == 0) *enough = true;
    return 0;
}

/* The consumer (mrc_consume_fn): the range's part of buf, then as much context as its last
 * n-grams need. */
static inline __attribute__((always_inline)) long long
consume_spans(void *c, const unsigned char *buf, size_t len, size_t owned, bool final, mrc_err *err,
              enum rule rule, enum keying keying, bool ngram, enum mrc_ngram_break brk)
{
    mrc_map_ctx *ctx = c;
    span_state *st = span_state_of(ctx, err);
    if (st == NULL) return -1;
    if (st->piece != ctx->pieces) { /* a piece's first token starts a sequence */
        st->piece = ctx->pieces;
        mrc_ngram_window_reset(&st->win);
        st->lf_since_token = false;
    }
    /* What is complete: up to the last byte that always ends a record (all of it when final). */
    const unsigned char *delim = rule_delims(rule);
    size_t limit = len;
    if (!final)
        while (limit > 0 && !delim[buf[limit - 1]])
            limit--;
    size_t own_end = owned < limit ? owned : limit;
    uint64_t invalid = 0, context_invalid = 0;
    bool enough = false;
    if (region(ctx, st, buf, 0, own_end, true, &invalid, &enough, err, rule, keying, ngram, brk) !=
        0)
        goto fail;
    ctx->counters[MRC_WORDS_INVALID_UTF8] += invalid;
    if (owned <= limit) { /* every record of the range is counted: context only from here */
        if (!ngram || st->win.owned == 0)
            enough = true;
        else if (region(ctx, st, buf, own_end, limit, false, &context_invalid, &enough, err, rule,
                        keying, ngram, brk) != 0)
            goto fail;
    }
    if (ngram && flush_grams(ctx, st, err) != 0) return -1;
    if (enough && owned < len) return MRC_CONSUME_ENOUGH;
    return final ? (long long)len : (long long)limit;
fail:
    st->nb = 0;
    st->grams_len = 0;
    st->tb.n = 0;
    memset(st->tb.in_class, 0, sizeof st->tb.in_class);
    return -1;
}

/* ---- one consumer per (rule, keying, order, break) ---- */

#define CONSUMER(name, rule, keying, ngram, brk)                                                   \
    static long long name(void *c, const unsigned char *b, size_t n, size_t o, bool f, mrc_err *e) \
    {                                                                                              \
        return consume_spans(c, b, n, o, f, e, rule, keying, ngram, brk);                          \
    }

/* unigrams: unicode only */
CONSUMER(uni_token, RULE_UNICODE, KEY_TOKEN, false, MRC_BREAK_NONE)
CONSUMER(uni_built, RULE_UNICODE, KEY_BUILT, false, MRC_BREAK_NONE)

/* n-grams: every rule, keying and break */
#define NGRAM_CONSUMERS(tag, rule, keying)                                                         \
    CONSUMER(tag##_line, rule, keying, true, MRC_BREAK_LINE)                                       \
    CONSUMER(tag##_para, rule, keying, true, MRC_BREAK_PARAGRAPH)                                  \
    CONSUMER(tag##_none, rule, keying, true, MRC_BREAK_NONE)
NGRAM_CONSUMERS(ws, RULE_WHITESPACE, KEY_TOKEN)
NGRAM_CONSUMERS(ws_fold, RULE_WHITESPACE, KEY_FOLD_ASCII)
NGRAM_CONSUMERS(alnum, RULE_ALNUM, KEY_TOKEN)
NGRAM_CONSUMERS(alnum_fold, RULE_ALNUM, KEY_FOLD_ASCII)
NGRAM_CONSUMERS(uni, RULE_UNICODE, KEY_TOKEN)
NGRAM_CONSUMERS(uni_keys, RULE_UNICODE, KEY_BUILT)

/* [rule][keying][break] */
static const mrc_consume_fn ngram_consumers[3][3][3] = {
    [RULE_WHITESPACE] = {[KEY_TOKEN] = {ws_line, ws_para, ws_none},
                         [KEY_FOLD_ASCII] = {ws_fold_line, ws_fold_para, ws_fold_none}},
    [RULE_ALNUM] = {[KEY_TOKEN] = {alnum_line, alnum_para, alnum_none},
                    [KEY_FOLD_ASCII] = {alnum_fold_line, alnum_fold_para, alnum_fold_none}},
    [RULE_UNICODE] = {[KEY_TOKEN] = {uni_line, uni_para, uni_none},
                      [KEY_BUILT] = {uni_keys_line, uni_keys_para, uni_keys_none}},
};

mrc_consume_fn mrc_words_spans_select(const mrc_words_opts *o, mrc_record_rules *rules)
{
    pthread_once(&tables_once, tables_init);
    enum rule rule = o->tokens == MRC_TOKENS_UNICODE ? RULE_UNICODE
                     : o->tokens == MRC_TOKENS_ALNUM ? RULE_ALNUM
                                                     : RULE_WHITESPACE;
    enum keying keying = KEY_TOKEN;
    if (rule == RULE_UNICODE) {
        /* the key builder's tables are read off the library here, once, not in a worker */
        mrc_unicode_keys_select((enum mrc_normalize)o->normalize, o->fold_case);
        if (!mrc_unicode_key_is_token((enum mrc_normalize)o->normalize, o->fold_case, false))
            keying = KEY_BUILT;
    } else if (o->fold_case) {
        keying = KEY_FOLD_ASCII;
    }
    rules->delim = rule_delims(rule);
    rules->lookahead = o->ngrams > 1;
    if (o->ngrams <= 1) return keying == KEY_TOKEN ? uni_token : uni_built;
    int brk =
        o->ngram_break >= 0 && o->ngram_break <= MRC_BREAK_NONE ? o->ngram_break : MRC_BREAK_LINE;
    return ngram_consumers[rule][keying][brk];
}

/* ---- the versions --version shows ---- */

static char unicode_version[128];
static pthread_once_t unicode_version_once = PTHREAD_ONCE_INIT;

static void unicode_version_init(void)
{
    snprintf(unicode_version, sizeof unicode_version, "Unicode %s (%s %s)",
             mrc_unicode_data_version(), mrc_unicode_library_name(), mrc_unicode_library_version());
}

const char *mrc_map_unicode_version(void)
{
    pthread_once(&unicode_version_once, unicode_version_init);
    return unicode_version;
}
