/* test_ngrams.c - word n-grams (--ngrams N, --ngram-break) and the span consumer of tokens.c,
 * against an oracle written here: the tokens of the whole text (a byte loop for whitespace and
 * alnum; for unicode the scanner and key builder, which tests/unit/test_unicode.c and the
 * Python oracle check on their own), cut into sequences at the breaks found in the bytes
 * between two tokens by the README's definition, and every run of N keys joined by a space.
 * Covers hand-checked cases, the consumer contract (owned, MRC_CONSUME_ENOUGH, final=false),
 * every placement of one and two range boundaries (splits and pieces are both ranges of the
 * reader) over a text made of what breaks things, random cuts over long random texts with
 * small reader buffers, and the threaded map driver with tiny pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "mrcount/input.h"
#include "mrcount/map.h"
#include "mrcount/runtime.h"
#include "mrcount/table.h"
#include "unicode.h"
#include "words.h"

#define LIT(s) (const unsigned char *)(s), sizeof(s) - 1

/* ---- configurations ---- */

typedef struct config {
    int tokens;
    bool fold;
    int norm;
    int n;
    int brk;
} config;

static const char *const rule_names[] = {"whitespace", "alnum", "unicode"};
static const char *const break_names[] = {"line", "paragraph", "none"};

static const char *config_name(const config *c)
{
    static char s[128];
    snprintf(s, sizeof s, "%s%s%s n=%d break=%s", rule_names[c->tokens], c->fold ? "+fold" : "",
             c->norm == MRC_NORMALIZE_NFC    ? "+nfc"
             : c->norm == MRC_NORMALIZE_NFKC ? "+nfkc"
                                             : "",
             c->n, break_names[c->brk]);
    return s;
}

static mrc_job job_of(const config *c)
{
    mrc_words_opts o = {.tokens = c->tokens,
                        .fold_case = c->fold,
                        .normalize = c->norm,
                        .ngrams = c->n,
                        .ngram_break = c->brk};
    mrc_job j;
    mrc_err err = {0};
    if (mrc_job_select(&j, mrc_job_find("words"), &o, NULL, &err) != 0)
        fail_msg("mrc_job_select(%s): %s", config_name(c), err.msg);
    assert_non_null(j.consume);
    assert_int_equal(j.rules.lookahead, c->n > 1);
    return j;
}

/* ---- the oracle ---- */

typedef struct otok {
    size_t start, end;
    unsigned char *key;
    size_t klen;
} otok;

typedef struct oracle {
    okvec kv;            /* the n-grams, aggregated */
    uint64_t tokens;     /* tokens of the text */
    uint64_t invalid;    /* invalid UTF-8 bytes (unicode) */
    unsigned char **mem; /* the keys kv points at */
    size_t nmem;
} oracle;

static void oracle_free(oracle *o)
{
    for (size_t i = 0; i < o->nmem; i++)
        free(o->mem[i]);
    free(o->mem);
    okvec_free(&o->kv);
    memset(o, 0, sizeof *o);
}

static bool is_ws(unsigned char b)
{
    return b == ' ' || b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r';
}

static bool byte_delim(int tokens, unsigned char b)
{
    if (tokens == MRC_TOKENS_WHITESPACE) return is_ws(b);
    return !((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
             b == '\'');
}

/* The tokens of t[0..n) with their keys; *invalid counts invalid UTF-8 (unicode). */
static otok *oracle_tokens(const config *c, const unsigned char *t, size_t n, size_t *ntok,
                           uint64_t *invalid)
{
    otok *v = malloc((n / 1 + 1) * sizeof *v);
    assert_non_null(v);
    size_t k = 0;
    if (c->tokens != MRC_TOKENS_UNICODE) {
        for (size_t i = 0; i < n;) {
            if (byte_delim(c->tokens, t[i])) {
                i++;
                continue;
            }
            size_t s = i;
            while (i < n && !byte_delim(c->tokens, t[i]))
                i++;
            unsigned char *key = malloc(i - s);
            assert_non_null(key);
            for (size_t j = s; j < i; j++)
                key[j - s] =
                    c->fold && t[j] >= 'A' && t[j] <= 'Z' ? (unsigned char)(t[j] + 32) : t[j];
            v[k++] = (otok){s, i, key, i - s};
        }
    } else {
        mrc_unicode_keys_fn keys = mrc_unicode_keys_select(c->norm, c->fold);
        mrc_unicode_span sp[1];
        for (size_t pos = 0; pos < n;) {
            size_t got;
            pos = mrc_unicode_scan(t, pos, n, sp, 1, &got, invalid);
            if (got == 0) break;
            mrc_unicode_keybuf kb = {0};
            mrc_err err = {0};
            assert_int_equal(mrc_unicode_key(keys, &kb, t + sp[0].start, sp[0].end - sp[0].start,
                                             sp[0].ascii, &err),
                             0);
            unsigned char *key = malloc(kb.len);
            assert_non_null(key);
            memcpy(key, kb.bytes, kb.len);
            v[k++] = (otok){sp[0].start, sp[0].end, key, kb.len};
            mrc_unicode_keybuf_free(&kb);
        }
    }
    *ntok = k;
    return v;
}

/* Does the gap t[a..b) between two tokens end a sequence? Straight from the README. */
static bool oracle_break(int brk, const unsigned char *t, size_t a, size_t b)
{
    if (brk == MRC_BREAK_NONE) return false;
    for (size_t p = a; p < b; p++) {
        if (t[p] != '\n') continue;
        if (brk == MRC_BREAK_LINE) return true;
        for (size_t q = p + 1; q < b && is_ws(t[q]); q++) /* LF, ASCII whitespace, LF */
            if (t[q] == '\n') return true;
    }
    return false;
}

/* Adds the n-grams of the text t[0..n) (one file) to o. */
static void oracle_add(oracle *o, const config *c, const unsigned char *t, size_t n)
{
    size_t nt;
    otok *v = oracle_tokens(c, t, n, &nt, &o->invalid);
    o->tokens += nt;
    size_t seq = 0; /* the first token of the current sequence */
    for (size_t i = 0; i < nt; i++) {
        if (i > 0 && oracle_break(c->brk, t, v[i - 1].end, v[i].start)) seq = i;
        if (i + 1 < seq + (size_t)c->n) continue; /* fewer than n tokens in the sequence yet */
        size_t first = i + 1 - (size_t)c->n, len = 0;
        for (size_t j = first; j <= i; j++)
            len += v[j].klen + (j > first);
        unsigned char *g = malloc(len ? len : 1), *w = g;
        assert_non_null(g);
        for (size_t j = first; j <= i; j++) {
            if (j > first) *w++ = ' ';
            memcpy(w, v[j].key, v[j].klen);
            w += v[j].klen;
        }
        o->mem = realloc(o->mem, (o->nmem + 1) * sizeof *o->mem);
        assert_non_null(o->mem);
        o->mem[o->nmem++] = g;
        okvec_push(&o->kv, g, (uint32_t)len, 1, mrc_hash(g, len));
    }
    for (size_t i = 0; i < nt; i++)
        free(v[i].key);
    free(v);
}

/* ---- the job under test ---- */

typedef struct counter {
    mrc_table table;
    mrc_map_ctx ctx;
    mrc_job job;
} counter;

static void counter_init(counter *k, const config *c)
{
    mrc_err err = {0};
    memset(k, 0, sizeof *k);
    k->job = job_of(c);
    assert_int_equal(mrc_table_init(&k->table, 0, &err), 0);
    k->ctx.table = &k->table;
    k->ctx.settings = k->job.settings;
}

static void counter_free(counter *k)
{
    mrc_map_ctx_free(&k->ctx);
    mrc_table_free(&k->table);
}

static void dump_rec(const mrc_rec *r, void *arg)
{
    okvec_push(arg, r->key, r->len, r->count, mrc_hash(r->key, r->len));
}

/* The counter holds exactly the oracle's n-grams, tokens and invalid bytes. */
static void check_counter(const counter *k, const oracle *o, const char *what)
{
    okvec got = {0};
    mrc_table_each(&k->table, dump_rec, &got);
    if (got.n) qsort(got.v, got.n, sizeof *got.v, okv_key_cmp);
    for (size_t i = 0; i < got.n || i < o->kv.n; i++) {
        if (i >= got.n || i >= o->kv.n || okv_key_cmp(&got.v[i], &o->kv.v[i]) != 0 ||
            got.v[i].count != o->kv.v[i].count) {
            const okv *a = i < got.n ? &got.v[i] : NULL, *b = i < o->kv.n ? &o->kv.v[i] : NULL;
            fail_msg("%s: entry %zu: got '%.*s' x%llu, oracle '%.*s' x%llu (%zu vs %zu keys)", what,
                     i, a ? (int)a->len : 0, a ? (const char *)a->key : "",
                     a ? (unsigned long long)a->count : 0ull, b ? (int)b->len : 0,
                     b ? (const char *)b->key : "", b ? (unsigned long long)b->count : 0ull, got.n,
                     o->kv.n);
        }
    }
    if (k->ctx.records != o->tokens)
        fail_msg("%s: %llu tokens, oracle %llu", what, (unsigned long long)k->ctx.records,
                 (unsigned long long)o->tokens);
    if (k->ctx.counters[MRC_WORDS_INVALID_UTF8] != o->invalid)
        fail_msg("%s: %llu invalid bytes, oracle %llu", what,
                 (unsigned long long)k->ctx.counters[MRC_WORDS_INVALID_UTF8],
                 (unsigned long long)o->invalid);
    free(got.v);
}

static void make_oracle(oracle *o, const config *c, const unsigned char *t, size_t n)
{
    memset(o, 0, sizeof *o);
    oracle_add(o, c, t, n);
    okvec_aggregate(&o->kv);
}

/* The whole buffer, one call (mrc_job_count_buffer), against the oracle. */
static void check_buffer(const config *c, const unsigned char *t, size_t n, const char *what)
{
    oracle o;
    make_oracle(&o, c, t, n);
    counter k;
    counter_init(&k, c);
    unsigned char *x = malloc(n ? n : 1);
    assert_non_null(x);
    memcpy(x, t, n);
    mrc_err err = {0};
    if (mrc_job_count_buffer(&k.job, &k.ctx, x, n, &err) != 0)
        fail_msg("%s (%s): %s", what, config_name(c), err.msg);
    char label[256];
    snprintf(label, sizeof label, "%s (%s)", what, config_name(c));
    check_counter(&k, &o, label);
    free(x);
    counter_free(&k);
    oracle_free(&o);
}

/* The n-grams of one buffer, in key order, as "k1|k2|..." for hand-checked expectations. */
static char *grams_of(const config *c, const unsigned char *t, size_t n)
{
    counter k;
    counter_init(&k, c);
    mrc_err err = {0};
    if (mrc_job_count_buffer(&k.job, &k.ctx, t, n, &err) != 0)
        fail_msg("%s: %s", config_name(c), err.msg);
    okvec got = {0};
    mrc_table_each(&k.table, dump_rec, &got);
    if (got.n) qsort(got.v, got.n, sizeof *got.v, okv_key_cmp);
    size_t cap = 1;
    for (size_t i = 0; i < got.n; i++)
        cap += got.v[i].len + 24;
    char *s = calloc(1, cap), *w = s;
    assert_non_null(s);
    for (size_t i = 0; i < got.n; i++) {
        w += sprintf(w, "%s%.*s", i ? "|" : "", (int)got.v[i].len, (const char *)got.v[i].key);
        if (got.v[i].count > 1) w += sprintf(w, "#%llu", (unsigned long long)got.v[i].count);
    }
    free(got.v);
    counter_free(&k);
    return s;
}

#define EXPECT_GRAMS(cfg, text, want)                                                              \
    do {                                                                                           \
        char *got_ = grams_of(&(cfg), LIT(text));                                                  \
        if (strcmp(got_, want) != 0)                                                               \
            fail_msg("%s on \"%s\":\n   got  %s\n   want %s", config_name(&(cfg)), text, got_,     \
                     want);                                                                        \
        free(got_);                                                                                \
    } while (0)

/* ---- hand-checked ---- */

static void test_hand_checked(void **state)
{
    (void)state;
    config c = {MRC_TOKENS_WHITESPACE, false, 0, 2, MRC_BREAK_LINE};
    const char *text = "a b\nc\n  \t\n d e\n\n\nf";
    EXPECT_GRAMS(c, "a b\nc\n  \t\n d e\n\n\nf", "a b|d e");
    c.brk = MRC_BREAK_PARAGRAPH;
    EXPECT_GRAMS(c, "a b\nc\n  \t\n d e\n\n\nf", "a b|b c|d e");
    c.brk = MRC_BREAK_NONE;
    EXPECT_GRAMS(c, "a b\nc\n  \t\n d e\n\n\nf", "a b|b c|c d|d e|e f");
    c.n = 3;
    c.brk = MRC_BREAK_PARAGRAPH;
    EXPECT_GRAMS(c, "a b\nc\n  \t\n d e\n\n\nf", "a b c");
    (void)text;
    /* a sequence shorter than N gives nothing; repeated n-grams count */
    c.n = 5;
    c.brk = MRC_BREAK_LINE;
    EXPECT_GRAMS(c, "a b c d\na b c d e\n", "a b c d e");
    c.n = 2;
    EXPECT_GRAMS(c, "x y x y x", "x y#2|y x#2");
    /* CRLF and CR: a CR is whitespace, not a break; CRLF CRLF is a blank line */
    EXPECT_GRAMS(c, "a b\r\nc d\rE f", "E f|a b|c d|d E");
    c.brk = MRC_BREAK_PARAGRAPH;
    EXPECT_GRAMS(c, "a b\r\nc\r\n\r\nd e", "a b|b c|d e");
    EXPECT_GRAMS(c, "a\n\v\f\nb c", "b c");
    /* a gap with anything but ASCII whitespace between the LFs is no blank line */
    EXPECT_GRAMS(c, "a\n-\nb", "- b|a -");
    c.tokens = MRC_TOKENS_ALNUM;
    EXPECT_GRAMS(c, "a\n-\nb, c.\n\nd", "a b|b c");
    EXPECT_GRAMS(c, "a\n\xc2\xa0\nb", "a b"); /* U+00A0 is not ASCII whitespace */
    /* fold: ASCII only with the byte rules; n-grams of folded keys */
    c.fold = true;
    c.brk = MRC_BREAK_NONE;
    EXPECT_GRAMS(c, "The CAT's hat. the cat's HAT", "cat's hat#2|hat the|the cat's#2");
    c.tokens = MRC_TOKENS_WHITESPACE;
    EXPECT_GRAMS(c, "\xc3\x89T\xc3\x89 \xc3\x89t\xc3\xa9", "\xc3\x89t\xc3\x89 \xc3\x89t\xc3\xa9");
    /* unicode: categories, apostrophes, CJK runs, folding and NFC, invalid bytes as delimiters */
    c = (config){MRC_TOKENS_UNICODE, true, MRC_NORMALIZE_NFC, 2, MRC_BREAK_LINE};
    EXPECT_GRAMS(c,
                 "L\xe2\x80\x99Homme\xe2\x80\x94 caf\xc3\xa9 "
                 "CAFE\xcc\x81!\n\xe6\x97\xa5\xe6\x9c\xac\xe3\x80\x82\xe8\xaa\x9e",
                 "caf\xc3\xa9 caf\xc3\xa9|l\xe2\x80\x99homme caf\xc3\xa9|\xe6\x97\xa5\xe6\x9c\xac "
                 "\xe8\xaa\x9e");
    EXPECT_GRAMS(c,
                 "Stra\xc3\x9f"
                 "e a\xff"
                 "b",
                 "a b|strasse a");
    c.n = 3;
    c.brk = MRC_BREAK_PARAGRAPH;
    EXPECT_GRAMS(c, "one two\n\xe2\x80\xa8\nthree. Four\n \n five six seven",
                 "five six seven|one two three|two three four");
    /* 9 tokens, the longest n-gram */
    c = (config){MRC_TOKENS_WHITESPACE, false, 0, 9, MRC_BREAK_NONE};
    EXPECT_GRAMS(c, "1 2 3 4 5 6 7 8 9 10", "1 2 3 4 5 6 7 8 9|2 3 4 5 6 7 8 9 10");
    /* the unicode rule's unigrams too (N = 1 comes here as well) */
    c = (config){MRC_TOKENS_UNICODE, false, MRC_NORMALIZE_NONE, 1, MRC_BREAK_LINE};
    EXPECT_GRAMS(c, "don't 'quoted' x\xe2\x80\x99\xe2\x80\x99y \xf0\x9f\x98\x80z",
                 "don't|quoted|x|y|z");
}

/* ---- the consumer contract ---- */

static long long call(counter *k, const char *b, size_t n, size_t owned, bool final)
{
    mrc_err err = {0};
    unsigned char *x = malloc(n ? n : 1);
    assert_non_null(x);
    memcpy(x, b, n);
    long long r = k->job.consume(&k->ctx, x, n, owned, final, &err);
    free(x);
    if (r == -1) fail_msg("consume: %s", err.msg);
    return r;
}

static uint64_t count_of(const counter *k, const char *key)
{
    uint32_t n = (uint32_t)strlen(key);
    okvec got = {0};
    mrc_table_each(&k->table, dump_rec, &got);
    uint64_t c = 0;
    for (size_t i = 0; i < got.n; i++)
        if (got.v[i].len == n && memcmp(got.v[i].key, key, n) == 0) c = got.v[i].count;
    free(got.v);
    return c;
}

static void test_consume_contract(void **state)
{
    (void)state;
    for (int tokens = 0; tokens < 3; tokens++) {
        config c = {tokens, false, 0, 3, MRC_BREAK_LINE};
        counter k;
        counter_init(&k, &c);
        mrc_map_ctx_piece(&k.ctx, "t", 0, 0);
        /* not final: the unfinished last record stays */
        assert_int_equal(call(&k, "a b c d", 7, SIZE_MAX, false), 6);
        assert_int_equal(count_of(&k, "a b c"), 1);
        assert_int_equal(k.ctx.records, 3);
        /* the window carries across calls: "b c d" needs the d of this call */
        assert_int_equal(call(&k, "d e", 3, SIZE_MAX, false), 2);
        assert_int_equal(count_of(&k, "b c d"), 1);
        /* owned = 2: "e" is the range's, "f g" context; e f g is counted, then enough */
        assert_int_equal(call(&k, "e f g h i", 9, 2, false), MRC_CONSUME_ENOUGH);
        assert_int_equal(count_of(&k, "c d e"), 1);
        assert_int_equal(count_of(&k, "d e f"), 1);
        assert_int_equal(count_of(&k, "e f g"), 1);
        assert_int_equal(count_of(&k, "f g h"), 0);
        assert_int_equal(k.ctx.records, 5);
        /* a new piece: a fresh sequence, and context that ends at a break */
        mrc_map_ctx_piece(&k.ctx, "t", 0, 100);
        assert_int_equal(call(&k, "p q r\ns t", 9, 3, false), MRC_CONSUME_ENOUGH);
        assert_int_equal(count_of(&k, "p q r"), 1);
        assert_int_equal(count_of(&k, "d e p"), 0);
        assert_int_equal(count_of(&k, "q r s"), 0);
        /* owned ends where the buffer ends: all consumed, then the context comes in later
         * calls with owned 0, until the window holds no key of the range's */
        mrc_map_ctx_piece(&k.ctx, "t", 0, 200);
        assert_int_equal(call(&k, "u v ", 4, 4, false), 4);
        assert_int_equal(call(&k, "w x", 3, 0, false), 2);
        assert_int_equal(count_of(&k, "u v w"), 1);
        assert_int_equal(call(&k, "x y z", 5, 0, false), MRC_CONSUME_ENOUGH);
        assert_int_equal(count_of(&k, "v w x"), 1);
        assert_int_equal(count_of(&k, "w x y"), 0);
        /* the context ends with the file: final */
        mrc_map_ctx_piece(&k.ctx, "t", 0, 300);
        assert_int_equal(call(&k, "m n o", 5, 2, true), MRC_CONSUME_ENOUGH);
        assert_int_equal(count_of(&k, "m n o"), 1);
        mrc_map_ctx_piece(&k.ctx, "t", 0, 400);
        long long r = call(&k, "j k", 3, 2, true); /* too short: all read, nothing counted */
        assert_true(r == 3 || r == MRC_CONSUME_ENOUGH);
        assert_int_equal(count_of(&k, "j k"), 0);
        /* nothing of the range's: enough at once */
        mrc_map_ctx_piece(&k.ctx, "t", 0, 500);
        assert_int_equal(call(&k, "  y z", 5, 1, false), MRC_CONSUME_ENOUGH);
        counter_free(&k);
    }
    /* unigrams of the unicode rule: owned is honoured too (never given without lookahead) */
    config u = {MRC_TOKENS_UNICODE, false, 0, 1, MRC_BREAK_LINE};
    counter k;
    counter_init(&k, &u);
    assert_int_equal(call(&k, "ab cd ef", 8, 2, false), MRC_CONSUME_ENOUGH);
    assert_int_equal(count_of(&k, "ab"), 1);
    assert_int_equal(count_of(&k, "cd"), 0);
    /* a record is cut only at a byte that always ends one: not inside a code point, not
     * between a letter and an apostrophe */
    assert_int_equal(call(&k, "x\xc3\xa9y \xc3", 6, SIZE_MAX, false), 5);
    assert_int_equal(call(&k, "l' h\xe2\x80\x99", 7, SIZE_MAX, false), 3);
    assert_int_equal(call(&k, "\xe2\x80\x94\xe2\x80\x94", 6, SIZE_MAX, false), 0);
    assert_int_equal(count_of(&k, "x\xc3\xa9y"), 1);
    assert_int_equal(count_of(&k, "l"), 1);
    counter_free(&k);
}

/* ---- boundaries ---- */

/* What breaks things: CRLF, blank lines with whitespace, an LF - LF that is no blank line,
 * apostrophes, a record of several unicode tokens (em dash, invalid byte) that a boundary cuts,
 * a CJK run, combining marks, and tokens longer than small reader buffers. */
static const unsigned char edge_text[] =
    "It's a dog's\r\nlife\xe2\x80\x94"
    "and l\xe2\x80\x99homme so I'd say, on\n \t\n"
    "CAF\xc3\x89 e\xcc\x81t\xc3\xa9\n.\nx\n\n\n"
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe6\x96\x87\xe3\x80\x82\xe6\xac\xa1 "
    "ab\xff"
    "cd ' q'  \n\t\nend";

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Count the file through the reader as ranges cut at cuts[0..nc) (sorted), in the given order
 * (reversed: a thread may get a file's pieces in any order), into k (one ctx for all ranges,
 * as one worker does). */
static void count_ranges(counter *k, mrc_reader *rd, const config *c, const char *path, size_t size,
                         const uint64_t *cuts, size_t nc, bool reversed)
{
    mrc_err err = {0};
    for (size_t r = 0; r <= nc; r++) {
        size_t i = reversed ? nc - r : r;
        uint64_t from = i == 0 ? 0 : cuts[i - 1], to = i == nc ? size : cuts[i];
        mrc_map_ctx_piece(&k->ctx, path, 0, from);
        if (mrc_reader_run(rd, path, from, to - from, &k->job.rules, k->job.consume, &k->ctx, NULL,
                           &err) != 0)
            fail_msg("%s: range %llu+%llu: %s", config_name(c), (unsigned long long)from,
                     (unsigned long long)(to - from), err.msg);
    }
}

static void cuts_label(char *label, size_t cap, const config *c, size_t bufsize,
                       const uint64_t *cuts, size_t nc)
{
    int w = snprintf(label, cap, "%s buf %zu cuts", config_name(c), bufsize);
    for (size_t i = 0; i < nc && i < 8 && w > 0 && (size_t)w < cap - 24; i++)
        w += snprintf(label + w, cap - (size_t)w, " %llu", (unsigned long long)cuts[i]);
}

/* A fresh counter per placement, compared key by key with the oracle. */
static void check_cuts(const config *c, const char *path, size_t size, const uint64_t *cuts,
                       size_t nc, size_t bufsize, bool reversed, const oracle *o)
{
    counter k;
    counter_init(&k, c);
    mrc_reader rd;
    mrc_err err = {0};
    assert_int_equal(mrc_reader_init(&rd, bufsize, &err), 0);
    count_ranges(&k, &rd, c, path, size, cuts, nc, reversed);
    mrc_reader_free(&rd);
    char label[256];
    cuts_label(label, sizeof label, c, bufsize, cuts, nc);
    check_counter(&k, o, label);
    counter_free(&k);
}

/* The sum of count x mix(hash of key) over a table's records: a placement adds exactly the
 * oracle's n-grams to a table when it adds their fingerprint, total, tokens and invalid bytes
 * (a fresh table per placement costs an mmap and its page faults: 100x slower). */
static void fp_rec(const mrc_rec *r, void *arg)
{
    uint64_t h = mrc_hash(r->key, r->len);
    *(uint64_t *)arg += r->count * (h ^ h >> 29 ^ 0x9E3779B97F4A7C15ull);
}

static uint64_t fingerprint(const mrc_table *t)
{
    uint64_t f = 0;
    mrc_table_each(t, fp_rec, &f);
    return f;
}

static uint64_t oracle_fingerprint(const oracle *o)
{
    uint64_t f = 0;
    for (size_t i = 0; i < o->kv.n; i++) {
        uint64_t h = o->kv.v[i].hash;
        f += o->kv.v[i].count * (h ^ h >> 29 ^ 0x9E3779B97F4A7C15ull);
    }
    return f;
}

/* The same placement check on a counter shared by many placements. */
static void check_cuts_shared(counter *k, mrc_reader *rd, const config *c, const char *path,
                              size_t size, const uint64_t *cuts, size_t nc, bool reversed,
                              const oracle *o, uint64_t ofp)
{
    uint64_t fp = fingerprint(&k->table), total = k->table.total, records = k->ctx.records,
             invalid = k->ctx.counters[MRC_WORDS_INVALID_UTF8];
    count_ranges(k, rd, c, path, size, cuts, nc, reversed);
    if (fingerprint(&k->table) - fp != ofp || k->table.total - total != okvec_total(&o->kv) ||
        k->ctx.records - records != o->tokens ||
        k->ctx.counters[MRC_WORDS_INVALID_UTF8] - invalid != o->invalid) {
        char label[256];
        cuts_label(label, sizeof label, c, rd->cap, cuts, nc);
        counter one;
        counter_init(&one, c);
        count_ranges(&one, rd, c, path, size, cuts, nc, reversed);
        check_counter(&one, o, label); /* names the difference */
        fail_msg("%s: the table's fingerprint differs", label);
    }
}

static void test_every_boundary(void **state)
{
    (void)state;
    size_t size = sizeof edge_text - 1;
    char *path = write_temp_as("/tmp/mrc-test-ngrams.XXXXXX", edge_text, size);
    static const int orders[] = {2, 3, 5};
    static const config rules[] = {
        {MRC_TOKENS_WHITESPACE, false, 0, 0, 0},
        {MRC_TOKENS_ALNUM, true, 0, 0, 0},
        {MRC_TOKENS_UNICODE, true, MRC_NORMALIZE_NFC, 0, 0},
    };
    uint64_t cuts[2];
    mrc_reader small, dflt;
    mrc_err err = {0};
    assert_int_equal(mrc_reader_init(&small, 8, &err), 0);
    assert_int_equal(mrc_reader_init(&dflt, 0, &err), 0);
    for (size_t ri = 0; ri < 3; ri++) {
        for (size_t oi = 0; oi < 3; oi++) {
            for (int brk = 0; brk < 3; brk++) {
                config c = rules[ri];
                c.n = orders[oi];
                c.brk = brk;
                oracle o;
                make_oracle(&o, &c, edge_text, size);
                assert_true(o.kv.n > 0);
                uint64_t ofp = oracle_fingerprint(&o);
                check_cuts(&c, path, size, cuts, 0, 0, false, &o);
                counter k;
                counter_init(&k, &c);
                /* one boundary anywhere: key by key, small and default reader buffers */
                for (uint64_t a = 0; a <= size; a++) {
                    cuts[0] = a;
                    check_cuts(&c, path, size, cuts, 1, 8, false, &o);
                    check_cuts_shared(&k, &dflt, &c, path, size, cuts, 1, true, &o, ofp);
                }
                /* two boundaries anywhere (a split boundary and a piece boundary) */
                for (uint64_t a = 0; a <= size; a++)
                    for (uint64_t b = a; b <= size; b++) {
                        cuts[0] = a;
                        cuts[1] = b;
                        check_cuts_shared(&k, (a + b) % 3 ? &dflt : &small, &c, path, size, cuts, 2,
                                          (a ^ b) & 1, &o, ofp);
                    }
                counter_free(&k);
                oracle_free(&o);
            }
        }
    }
    mrc_reader_free(&small);
    mrc_reader_free(&dflt);
    unlink(path);
    free(path);
}

/* Random text drawn from pieces that matter here. */
static size_t random_text(unsigned char *out, size_t size, bool long_tokens)
{
    static const char *const parts[] = {
        "the",
        "The",
        "cat",
        "CAT",
        "sat",
        "on",
        "a",
        "mat",
        "don't",
        "'",
        "l\xe2\x80\x99",
        "\xe2\x80\x99",
        "caf\xc3\xa9",
        "CAFE\xcc\x81",
        "\xc3\x9f",
        "\xe2\x80\x94",
        "\xff",
        "\xe2\x82",
        "\xe6\x97\xa5\xe6\x9c\xac",
        "\xe3\x80\x82",
        "\xce\xa3\xce\xb9",
        "-",
        ".",
        ",",
        "42",
        "\xef\xac\x81",
        "\xc2\xa0",
    };
    static const char *const gaps[] = {
        " ",    " ",        " ",  "  ",    "\n",     "\n\n", "\n \t\n",
        "\r\n", "\r\n\r\n", "\t", "\n.\n", "\n\n\n", ". ",   "\n\xe2\x80\xa8\n"};
    size_t n = 0;
    while (n < size) {
        const char *p;
        char big[3000];
        if (long_tokens && rng_below(60) == 0) {
            size_t l = 1 + rng_below(sizeof big - 1);
            for (size_t i = 0; i < l; i++)
                big[i] = (char)('a' + rng_below(3));
            big[l] = 0;
            p = big;
        } else if (rng_below(3) == 0) {
            p = gaps[rng_below(sizeof gaps / sizeof gaps[0])];
        } else {
            p = parts[rng_below(sizeof parts / sizeof parts[0])];
        }
        size_t l = strlen(p);
        if (l > size - n) l = size - n;
        memcpy(out + n, p, l);
        n += l;
    }
    return n;
}

static void test_random_cuts(void **state)
{
    (void)state;
    rng_seed(77);
    static const size_t bufsizes[] = {8, 64, 4096, 0};
    size_t size = 60000;
    unsigned char *t = malloc(size);
    assert_non_null(t);
    random_text(t, size, true);
    char *path = write_temp_as("/tmp/mrc-test-ngrams.XXXXXX", t, size);
    uint64_t cuts[64];
    for (int tokens = 0; tokens < 3; tokens++)
        for (int n = 2; n <= 9; n += (n < 5 ? 1 : 4))
            for (int brk = 0; brk < 3; brk++) {
                config c = {tokens, (n + brk) % 2 == 0, tokens == 2 ? (n + brk) % 3 : 0, n, brk};
                oracle o;
                make_oracle(&o, &c, t, size);
                for (size_t bi = 0; bi < 4; bi++) {
                    size_t nc = 1 + rng_below(60);
                    for (size_t i = 0; i < nc; i++)
                        cuts[i] = rng_below(size + 1);
                    qsort(cuts, nc, sizeof cuts[0], cmp_u64);
                    check_cuts(&c, path, size, cuts, nc, bufsizes[bi], bi & 1, &o);
                }
                check_buffer(&c, t, size, "random text");
                oracle_free(&o);
            }
    unlink(path);
    free(path);
    free(t);
}

/* ---- the map driver with threads and tiny pieces ---- */

static void test_map_driver(void **state)
{
    (void)state;
    rng_seed(5);
    enum { NF = 3 };
    static const size_t sizes[NF] = {7000, 1, 4000};
    unsigned char *data[NF];
    char *paths[NF];
    for (int i = 0; i < NF; i++) {
        data[i] = malloc(sizes[i]);
        assert_non_null(data[i]);
        random_text(data[i], sizes[i], i == 0);
        paths[i] = write_temp_as("/tmp/mrc-test-ngrams.XXXXXX", data[i], sizes[i]);
    }
    mrc_file_list files = {0};
    mrc_err err = {0};
    assert_int_equal(mrc_input_discover((const char *const *)paths, NF, &files, NULL, NULL, &err),
                     0);
    mrc_split_plan plan;
    assert_int_equal(mrc_split_plan_make(&files, 4096, 1, &plan, &err), 0);
    mrc_topo *topo = mrc_topo_open(NULL, &err);
    if (topo == NULL) fail_msg("mrc_topo_open: %s", err.msg);
    static const config cfgs[] = {
        {MRC_TOKENS_WHITESPACE, true, 0, 2, MRC_BREAK_PARAGRAPH},
        {MRC_TOKENS_UNICODE, true, MRC_NORMALIZE_NFKC, 3, MRC_BREAK_LINE},
        {MRC_TOKENS_UNICODE, false, 0, 1, MRC_BREAK_LINE},
        {MRC_TOKENS_ALNUM, false, 0, 5, MRC_BREAK_NONE},
    };
    for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++) {
        const config *c = &cfgs[ci];
        oracle o = {0};
        for (int i = 0; i < NF; i++)
            oracle_add(&o, c, data[i], sizes[i]);
        okvec_aggregate(&o.kv);
        size_t wlen;
        unsigned char *want = oracle_serialize(&o.kv, okvec_total(&o.kv), 0, &wlen);
        mrc_job j = job_of(c);
        for (size_t nthreads = 1; nthreads <= 3; nthreads++) {
            static const uint64_t pieces[] = {1, 13, 333, 0};
            for (size_t p = 0; p < 4; p++) {
                mrc_placement pl;
                if (mrc_placement_plan(topo, NULL, 0, 1, nthreads, &pl, &err) != 0)
                    fail_msg("mrc_placement_plan: %s", err.msg);
                mrc_map_run *run =
                    mrc_map_start(&j, &files, plan.splits, plan.n,
                                  &(mrc_map_opts){.piece_size = pieces[p]}, topo, &pl, &err);
                if (run == NULL) fail_msg("mrc_map_start: %s", err.msg);
                bool done = false;
                uint64_t bytes = 0;
                for (int polls = 0; !done; polls++) {
                    assert_int_equal(mrc_map_poll(run, 50, &bytes, &done), 0);
                    assert_true(polls < 4000);
                }
                void *out = NULL;
                size_t outlen = 0;
                mrc_map_stats st;
                if (mrc_map_finish(run, &out, &outlen, &st, &err) != 0)
                    fail_msg("mrc_map_finish: %s", err.msg);
                if (outlen != wlen || memcmp(out, want, wlen) != 0)
                    fail_msg("%s T=%zu piece=%llu: the map's table differs from the oracle's",
                             config_name(c), nthreads, (unsigned long long)pieces[p]);
                assert_int_equal(st.records, o.tokens);
                assert_int_equal(st.counters[MRC_WORDS_INVALID_UTF8], o.invalid);
                mrc_map_stats_free(&st);
                free(out);
                mrc_placement_free(&pl);
            }
        }
        free(want);
        oracle_free(&o);
    }
    mrc_topo_close(topo);
    mrc_split_plan_free(&plan);
    mrc_file_list_free(&files);
    for (int i = 0; i < NF; i++) {
        unlink(paths[i]);
        free(paths[i]);
        free(data[i]);
    }
}

/* ---- options ---- */

static void test_options(void **state)
{
    (void)state;
    const mrc_job_desc *d = mrc_job_find("words");
    void *s = mrc_job_settings_new(d);
    assert_non_null(s);
    mrc_err err = {0};
    mrc_job j;
    /* --normalize is for the unicode rule only */
    assert_int_equal(mrc_job_set(d, s, "normalize", "nfc", &err), 0);
    assert_int_equal(mrc_job_select(&j, d, s, NULL, &err), MRC_EINVAL);
    assert_non_null(strstr(err.msg, "--normalize"));
    assert_non_null(strstr(err.msg, "give --normalize none")); /* the way out of a config's */
    memset(&err, 0, sizeof err);
    assert_int_equal(mrc_job_set(d, s, "tokens", "unicode", &err), 0);
    assert_int_equal(mrc_job_select(&j, d, s, NULL, &err), 0);
    assert_false(j.rules.lookahead);
    assert_ptr_equal(j.rules.delim, mrc_unicode_record_delims());
    /* a break without n-grams would change nothing: refused, as the run would ignore it */
    assert_int_equal(mrc_job_set(d, s, "ngram-break", "paragraph", &err), 0);
    assert_int_equal(mrc_job_select(&j, d, s, NULL, &err), MRC_EINVAL);
    assert_non_null(strstr(err.msg, "--ngram-break applies to --ngrams 2"));
    memset(&err, 0, sizeof err);
    assert_int_equal(mrc_job_set(d, s, "ngrams", "4", &err), 0);
    assert_int_equal(mrc_job_select(&j, d, s, NULL, &err), 0);
    assert_true(j.rules.lookahead);
    assert_int_not_equal(mrc_job_set(d, s, "ngrams", "0", &err), 0);
    memset(&err, 0, sizeof err);
    assert_int_not_equal(mrc_job_set(d, s, "ngrams", "10", &err), 0);
    const mrc_words_opts *o = s;
    assert_int_equal(o->ngrams, 4);
    assert_int_equal(o->ngram_break, MRC_BREAK_PARAGRAPH);
    assert_int_equal(o->normalize, MRC_NORMALIZE_NFC);
    mrc_job_settings_free(d, s);
    assert_non_null(strstr(mrc_map_unicode_version(), "Unicode "));
    assert_non_null(strstr(mrc_map_unicode_version(), "(utf8proc "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_checked), cmocka_unit_test(test_consume_contract),
        cmocka_unit_test(test_options),      cmocka_unit_test(test_every_boundary),
        cmocka_unit_test(test_random_cuts),  cmocka_unit_test(test_map_driver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
