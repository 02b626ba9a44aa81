/* test_words.c - the words job against a naive tokenizer written here: a byte loop applying the
 * DESIGN rule (whitespace = space TAB LF VT FF CR; --tokens alnum keeps [A-Za-z0-9'] runs;
 * --fold-case lowers ASCII A-Z only), its counts summed by sort. Covers the 16-byte SIMD steps
 * at every alignment, the final=false consumer contract, any placement of split boundaries
 * through the streaming reader, and the threaded map driver end to end without MPI. */
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
#include "words.h"

/* ---- the oracle tokenizer ---- */

typedef struct mode {
    enum mrc_tokens tokens;
    bool fold;
    const char *name;
} mode;

static const mode modes[4] = {
    {MRC_TOKENS_WHITESPACE, false, "whitespace"},
    {MRC_TOKENS_WHITESPACE, true, "whitespace+fold"},
    {MRC_TOKENS_ALNUM, false, "alnum"},
    {MRC_TOKENS_ALNUM, true, "alnum+fold"},
};

static int is_space(unsigned char b)
{
    return b == ' ' || b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r';
}

static int is_kept_alnum(unsigned char b)
{
    return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '\'';
}

static int oracle_delim(const mode *m, unsigned char b)
{
    return m->tokens == MRC_TOKENS_ALNUM ? !is_kept_alnum(b) : is_space(b);
}

/* A buffer as the oracle sees it: the key bytes (folded copy with --fold-case). */
static unsigned char *oracle_keys_of(const mode *m, const unsigned char *buf, size_t len)
{
    unsigned char *k = malloc(len + 1);
    assert_non_null(k);
    for (size_t i = 0; i < len; i++)
        k[i] = m->fold && buf[i] >= 'A' && buf[i] <= 'Z' ? (unsigned char)(buf[i] - 'A' + 'a')
                                                         : buf[i];
    return k;
}

/* Tokens of buf[0..len) (the end ends a token), keys taken from `keys` (same offsets). */
static void oracle_tokens(const mode *m, const unsigned char *buf, const unsigned char *keys,
                          size_t len, okvec *o)
{
    size_t i = 0;
    while (i < len) {
        if (oracle_delim(m, buf[i])) {
            i++;
            continue;
        }
        size_t s = i;
        while (i < len && !oracle_delim(m, buf[i]))
            i++;
        okvec_push(o, keys + s, (uint32_t)(i - s), 1, mrc_hash(keys + s, i - s));
        o->tokens++;
    }
}

/* ---- the job under test ---- */

static void dump_rec(const mrc_rec *r, void *arg)
{
    okvec_push(arg, r->key, r->len, r->count, mrc_hash(r->key, r->len));
}

/* The table holds exactly the (aggregated) oracle's keys and counts. */
static void check_table(const mrc_table *t, const okvec *want, const char *what)
{
    okvec got = {0};
    mrc_table_each(t, dump_rec, &got);
    if (got.n) qsort(got.v, got.n, sizeof *got.v, okv_key_cmp);
    if (got.n != want->n) fail_msg("%s: %zu distinct keys, oracle %zu", what, got.n, want->n);
    assert_int_equal(t->used, want->n);
    uint64_t total = 0;
    for (size_t i = 0; i < want->n; i++) {
        if (okv_key_cmp(&got.v[i], &want->v[i]) != 0)
            fail_msg("%s: key %zu differs (len %u, oracle len %u)", what, i, got.v[i].len,
                     want->v[i].len);
        if (got.v[i].count != want->v[i].count)
            fail_msg("%s: key %zu (len %u) counted %llu, oracle %llu", what, i, want->v[i].len,
                     (unsigned long long)got.v[i].count, (unsigned long long)want->v[i].count);
        assert_int_equal(got.v[i].hash, want->v[i].hash);
        total += want->v[i].count;
    }
    assert_int_equal(t->total, total);
    free(got.v);
}

static mrc_job job_for(const mode *m)
{
    mrc_words_opts o = {.tokens = m->tokens, .fold_case = m->fold};
    mrc_job j;
    mrc_err err = {0};
    assert_int_equal(mrc_job_select(&j, mrc_job_find("words"), &o, NULL, &err), 0);
    assert_non_null(j.consume);
    assert_non_null(j.rules.delim);
    return j;
}

typedef struct counter {
    mrc_table table;
    mrc_map_ctx ctx;
} counter;

static void counter_init(counter *c)
{
    mrc_err err = {0};
    memset(c, 0, sizeof *c);
    assert_int_equal(mrc_table_init(&c->table, 0, &err), 0);
    c->ctx.table = &c->table;
}

static void counter_free(counter *c)
{
    mrc_map_ctx_free(&c->ctx);
    mrc_table_free(&c->table);
}

/* Count buf with the job and with the oracle; compare. */
static void check_buffer(const mode *m, const unsigned char *buf, size_t len, const char *what)
{
    mrc_job j = job_for(m);
    counter c;
    counter_init(&c);
    mrc_err err = {0};
    int rc = mrc_job_count_buffer(&j, &c.ctx, buf, len, &err);
    if (rc != 0) fail_msg("%s (%s): mrc_job_count_buffer: %s", what, m->name, err.msg);
    unsigned char *keys = oracle_keys_of(m, buf, len);
    okvec o = {0};
    oracle_tokens(m, buf, keys, len, &o);
    uint64_t ntok = o.tokens;
    okvec_aggregate(&o);
    char label[160];
    snprintf(label, sizeof label, "%s (%s, %zu bytes)", what, m->name, len);
    check_table(&c.table, &o, label);
    if (c.ctx.records != ntok)
        fail_msg("%s: %llu records, oracle %llu tokens", label, (unsigned long long)c.ctx.records,
                 (unsigned long long)ntok);
    okvec_free(&o);
    free(keys);
    counter_free(&c);
}

/* Copy into an allocation of exactly len bytes, so ASan sees any read past the end. */
static unsigned char *exact_copy(const void *src, size_t len)
{
    unsigned char *b = malloc(len ? len : 1);
    assert_non_null(b);
    if (len) memcpy(b, src, len);
    return b;
}

static void check_all_modes(const void *src, size_t len, const char *what)
{
    unsigned char *b = exact_copy(src, len);
    for (int k = 0; k < 4; k++)
        check_buffer(&modes[k], b, len, what);
    free(b);
}

/* The count of one key in a table (0 if absent). */
static uint64_t count_of(const mrc_table *t, const void *key, uint32_t len)
{
    okvec got = {0};
    mrc_table_each(t, dump_rec, &got);
    uint64_t c = 0;
    for (size_t i = 0; i < got.n; i++)
        if (bytes_cmp(got.v[i].key, got.v[i].len, key, len) == 0) c += got.v[i].count;
    free(got.v);
    return c;
}

/* ---- tokenizer edge cases ---- */

#define LIT(s) (s), sizeof(s) - 1

static void test_hand_checked(void **state)
{
    (void)state;
    static const unsigned char text[] = "The the\tTHE\nit's\x1c_x-y \x85\xa0 \xc0\xde\vDon't\f\r9a";
    size_t len = sizeof text - 1;
    struct {
        int mode;
        const char *key;
        uint32_t klen;
        uint64_t count;
    } want[] = {
        {0, "The", 3, 1},          {0, "the", 3, 1},      {0, "THE", 3, 1},
        {0, "it's\x1c_x-y", 9, 1}, {0, "\x85\xa0", 2, 1}, {0, "\xc0\xde", 2, 1},
        {0, "Don't", 5, 1},        {0, "9a", 2, 1},       {1, "the", 3, 3},
        {1, "it's\x1c_x-y", 9, 1}, {1, "\xc0\xde", 2, 1}, {1, "don't", 5, 1},
        {2, "it's", 4, 1},         {2, "x", 1, 1},        {2, "y", 1, 1},
        {2, "THE", 3, 1},          {2, "9a", 2, 1},       {3, "the", 3, 3},
        {3, "don't", 5, 1},        {3, "x", 1, 1},
    };
    static const uint64_t records[4] = {8, 8, 8, 8};
    static const size_t distinct[4] = {8, 6, 8, 6};
    for (int k = 0; k < 4; k++) {
        mrc_job j = job_for(&modes[k]);
        counter c;
        counter_init(&c);
        mrc_err err = {0};
        assert_int_equal(mrc_job_count_buffer(&j, &c.ctx, text, len, &err), 0);
        assert_int_equal(c.ctx.records, records[k]);
        assert_int_equal(c.table.used, distinct[k]);
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
            if (want[i].mode == k && count_of(&c.table, want[i].key, want[i].klen) != want[i].count)
                fail_msg("%s: key %zu counted %llu, want %llu", modes[k].name, i,
                         (unsigned long long)count_of(&c.table, want[i].key, want[i].klen),
                         (unsigned long long)want[i].count);
        counter_free(&c);
    }
    check_all_modes(text, len, "hand-checked text");
}

static void test_edge_buffers(void **state)
{
    (void)state;
    check_all_modes(LIT(""), "empty");
    check_all_modes(LIT(" \t\n\v\f\r"), "whitespace only");
    char big_ws[300];
    for (size_t i = 0; i < sizeof big_ws; i++)
        big_ws[i] = " \t\n\v\f\r"[i % 6];
    check_all_modes(big_ws, sizeof big_ws, "long whitespace");
    static const char ws[] = " \t\n\v\f\r";
    for (int s = 0; s < 6; s++) {
        char b[64];
        int n = snprintf(b, sizeof b, "alpha%cbeta%c%cgamma%calpha", ws[s], ws[s], ws[s], ws[s]);
        check_all_modes(b, (size_t)n, "one separator kind");
        /* the separator alone counts as two tokens split */
        counter c;
        counter_init(&c);
        mrc_job j = job_for(&modes[0]);
        mrc_err err = {0};
        assert_int_equal(mrc_job_count_buffer(&j, &c.ctx, b, (size_t)n, &err), 0);
        assert_int_equal(c.ctx.records, 4);
        assert_int_equal(count_of(&c.table, "alpha", 5), 2);
        counter_free(&c);
    }
    check_all_modes(LIT("abc"), "no trailing delimiter");
    check_all_modes(LIT("a"), "one byte");
    check_all_modes(LIT("a\0b c\0\0 \0"), "NUL bytes");
    check_all_modes(LIT("\x80\xff \xc3\xa9t\xc3\xa9 \xe2\x94\x80\xe2\x94\x80"), "high bytes");
    /* not whitespace: 0x1c-0x1f, 0x85, 0xa0, 0x00, 0x08, 0x0e, 0x7f */
    static const unsigned char nonws[] = {0x1c, 0x1d, 0x1e, 0x1f, 0x85,
                                          0xa0, 0x00, 0x08, 0x0e, 0x7f};
    for (size_t i = 0; i < sizeof nonws; i++) {
        unsigned char b[8] = {'a', nonws[i], 'b', ' ', nonws[i], ' ', nonws[i], nonws[i]};
        check_all_modes(b, sizeof b, "non-whitespace control byte");
        counter c;
        counter_init(&c);
        mrc_job j = job_for(&modes[0]);
        mrc_err err = {0};
        assert_int_equal(mrc_job_count_buffer(&j, &c.ctx, b, sizeof b, &err), 0);
        assert_int_equal(c.ctx.records, 3);
        assert_int_equal(count_of(&c.table, b, 3), 1);
        counter_free(&c);
    }
    /* every single byte value alone, and between two letters, in every mode */
    for (int v = 0; v < 256; v++) {
        unsigned char b[3] = {'q', (unsigned char)v, 'Q'};
        check_all_modes(b + 1, 1, "single byte");
        check_all_modes(b, 3, "byte between letters");
    }
    /* alnum delimiters: '_', '-', high bytes, letters around the case gap */
    check_all_modes(LIT("snake_case kebab-case @x[y]`z{w} 0123456789 O'Neil"), "alnum delimiters");
}

static const unsigned char ws_bytes[6] = {' ', '\t', '\n', '\v', '\f', '\r'};

/* A token byte for mode m (never a delimiter), often near a class edge. */
static unsigned char token_byte(const mode *m)
{
    static const unsigned char edgy[] = {0x00, 0x08, 0x0e, 0x1c, 0x1f, 0x21, 0x7f, 0x80, 0x85,
                                         0xa0, 0xc0, 0xde, 0xff, '@',  'A',  'Z',  '[',  '`',
                                         'a',  'z',  '{',  '/',  '0',  '9',  ':',  '\''};
    for (;;) {
        unsigned char b = rng_below(2) ? edgy[rng_below(sizeof edgy)] : (unsigned char)rng_next();
        if (!oracle_delim(m, b)) return b;
    }
}

static unsigned char delim_byte(const mode *m)
{
    if (m->tokens == MRC_TOKENS_WHITESPACE || rng_below(2)) return ws_bytes[rng_below(6)];
    for (;;) {
        unsigned char b = (unsigned char)rng_next();
        if (oracle_delim(m, b)) return b;
    }
}

static void test_token_lengths_and_offsets(void **state)
{
    (void)state;
    /* 16-byte steps and 64-byte blocks: lengths and offsets on both sides of each edge */
    static const size_t lens[] = {1,  2,  15, 16, 17, 31,  32,  33, 47,
                                  48, 49, 63, 64, 65, 127, 128, 129};
    enum { NLENS = sizeof lens / sizeof lens[0] };
    static const size_t offs[] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,  11,  12,  13,
                                  14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,  25,  26,  27,
                                  28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38,  39,  40,  47,
                                  48, 49, 62, 63, 64, 65, 66, 95, 96, 97, 126, 127, 128, 129};
    unsigned char b[400];
    rng_seed(16);
    for (int k = 0; k < 4; k++) {
        const mode *m = &modes[k];
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            for (size_t oi = 0; oi < sizeof offs / sizeof offs[0]; oi++) {
                size_t off = offs[oi];
                for (int tail = 0; tail < 4; tail++) {
                    size_t n = 0;
                    for (size_t i = 0; i < off; i++)
                        b[n++] = delim_byte(m);
                    size_t tok = n;
                    for (size_t i = 0; i < lens[li]; i++)
                        b[n++] = token_byte(m);
                    if (tail >= 1) b[n++] = delim_byte(m);
                    if (tail >= 2) /* a second token right after */
                        for (size_t i = 0; i < lens[(li + 3) % NLENS]; i++)
                            b[n++] = token_byte(m);
                    if (tail == 3)
                        for (size_t i = 0; i < 17; i++)
                            b[n++] = delim_byte(m);
                    unsigned char *x = exact_copy(b, n);
                    check_buffer(m, x, n, "token at an offset");
                    /* the first token, by hand: its count, as the oracle sees its key */
                    mrc_job j = job_for(m);
                    counter c;
                    counter_init(&c);
                    mrc_err err = {0};
                    assert_int_equal(mrc_job_count_buffer(&j, &c.ctx, x, n, &err), 0);
                    unsigned char *keys = oracle_keys_of(m, x, n);
                    assert_true(count_of(&c.table, keys + tok, (uint32_t)lens[li]) >= 1);
                    assert_int_equal(c.ctx.records, tail >= 2 ? 2 : 1);
                    free(keys);
                    counter_free(&c);
                    free(x);
                }
            }
        }
    }
}

static void test_one_megabyte_token(void **state)
{
    (void)state;
    rng_seed(1 << 20);
    size_t tl = (size_t)1 << 20;
    for (int k = 0; k < 4; k++) {
        const mode *m = &modes[k];
        for (int shape = 0; shape < 3; shape++) {
            size_t n = tl + (shape >= 1 ? 5 : 0) + (shape == 2 ? 3 : 0);
            unsigned char *b = malloc(n);
            assert_non_null(b);
            size_t w = 0;
            if (shape >= 1)
                for (int i = 0; i < 5; i++)
                    b[w++] = delim_byte(m);
            size_t tok = w;
            for (size_t i = 0; i < tl; i++)
                b[w++] = token_byte(m);
            if (shape == 2)
                for (int i = 0; i < 3; i++)
                    b[w++] = delim_byte(m);
            assert_int_equal(w, n);
            mrc_job j = job_for(m);
            counter c;
            counter_init(&c);
            mrc_err err = {0};
            assert_int_equal(mrc_job_count_buffer(&j, &c.ctx, b, n, &err), 0);
            assert_int_equal(c.ctx.records, 1);
            assert_int_equal(c.table.used, 1);
            unsigned char *keys = oracle_keys_of(m, b, n);
            assert_int_equal(count_of(&c.table, keys + tok, (uint32_t)tl), 1);
            free(keys);
            counter_free(&c);
            free(b);
        }
    }
}

/* A whitespace-heavy random byte, with alnum class edges and repeats. */
static unsigned char random_text_byte(void)
{
    static const unsigned char small[] = {'a', 'A', 'b', 'B', '\'', 'z', 'Z', '0'};
    static const unsigned char edgy[] = {0x00, 0xff, 0x80, 0x85, 0xa0, 0x1c, 0x1f, 0x08,
                                         0x0e, '_',  '-',  0xc0, 0xde, '@',  '[',  '`',
                                         '{',  '/',  ':',  '9',  0x7f, 0x20, 0x0d, 0x0b};
    size_t r = rng_below(100);
    if (r < 35) return ws_bytes[rng_below(6)];
    if (r < 65) return small[rng_below(sizeof small)];
    if (r < 75) return edgy[rng_below(sizeof edgy)];
    return (unsigned char)rng_next();
}

static unsigned char *random_text(size_t n)
{
    unsigned char *b = malloc(n ? n : 1);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = random_text_byte();
    return b;
}

static void test_random_buffers(void **state)
{
    (void)state;
    rng_seed(2024);
    for (int it = 0; it < 3000; it++) {
        size_t n = rng_below(it % 10 == 0 ? 2000 : 200);
        if (it % 5 == 0) n = 64 * rng_below(5) + rng_below(3);
        unsigned char *b = random_text(n);
        check_buffer(&modes[it % 4], b, n, "random buffer");
        free(b);
    }
}

/* ---- the consumer contract with final == false ---- */

static void test_consume_not_final(void **state)
{
    (void)state;
    rng_seed(77);
    for (int it = 0; it < 3000; it++) {
        const mode *m = &modes[it % 4];
        size_t n = rng_below(it % 7 == 0 ? 1500 : 120);
        if (it % 3 == 0) /* whole 64-byte blocks, so a token may run to the last block's end */
            n = 64 * (1 + rng_below(4)) - (it % 9 == 0);
        unsigned char *b = random_text(n);
        if (it % 5 == 0 && n > 0) /* a long unfinished token at the end */
            for (size_t i = n > 40 ? n - 40 : 0; i < n; i++)
                b[i] = 'x';
        size_t want = n;
        if (n > 0 && !oracle_delim(m, b[n - 1]))
            while (want > 0 && !oracle_delim(m, b[want - 1]))
                want--;
        mrc_job j = job_for(m);
        counter c;
        counter_init(&c);
        mrc_err err = {0};
        long long got = j.consume(&c.ctx, b, n, SIZE_MAX, false, &err);
        if (got != (long long)want)
            fail_msg("%s, %zu bytes: consumed %lld, want %zu", m->name, n, got, want);
        /* what was counted so far is exactly the complete tokens before `want` */
        unsigned char *keys = oracle_keys_of(m, b, n);
        okvec o = {0};
        oracle_tokens(m, b, keys, want, &o);
        uint64_t first = o.tokens;
        okvec_aggregate(&o);
        check_table(&c.table, &o, "before the final call");
        assert_int_equal(c.ctx.records, first);
        okvec_free(&o);
        /* the rest, final */
        unsigned char *rest = exact_copy(b + want, n - want);
        got = j.consume(&c.ctx, rest, n - want, SIZE_MAX, true, &err);
        assert_int_equal(got, (long long)(n - want));
        oracle_tokens(m, b, keys, n, &o);
        uint64_t all = o.tokens;
        okvec_aggregate(&o);
        check_table(&c.table, &o, "after the final call");
        assert_int_equal(c.ctx.records, all);
        okvec_free(&o);
        free(rest);
        free(keys);
        counter_free(&c);
        free(b);
    }
}

/* ---- split boundaries through the streaming reader ---- */

static char *write_temp(const unsigned char *data, size_t n)
{
    return write_temp_as("/tmp/mrc-test-words-XXXXXX", data, n);
}

/* Random text with some long tokens (longer than ranges and reader buffers). */
static unsigned char *text_with_long_tokens(size_t n)
{
    unsigned char *b = random_text(n);
    for (int t = 0; t < 4 && n > 4000; t++) {
        size_t at = rng_below(n - 3000), len = 200 + rng_below(2500);
        for (size_t i = 0; i < len; i++)
            b[at + i] = (unsigned char)("aB'9"[rng_below(4)]);
    }
    return b;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void read_range(mrc_reader *rd, const char *path, uint64_t off, uint64_t len,
                       const mrc_job *j, mrc_map_ctx *ctx)
{
    mrc_err err = {0};
    int rc = mrc_reader_run(rd, path, off, len, &j->rules, j->consume, ctx, NULL, &err);
    if (rc != 0)
        fail_msg("mrc_reader_run(%llu, %llu): %s", (unsigned long long)off, (unsigned long long)len,
                 err.msg);
}

/* Count `path` cut at cuts[0..ncuts) (sorted, within [0, size]) with one table and with one
 * table per range; both must equal the whole-file oracle. */
static void check_cuts(const mode *m, const char *path, uint64_t size, const uint64_t *cuts,
                       size_t ncuts, size_t bufsize, const okvec *want, const unsigned char *ser,
                       size_t serlen)
{
    mrc_job j = job_for(m);
    mrc_err err = {0};
    mrc_reader rd;
    assert_int_equal(mrc_reader_init(&rd, bufsize, &err), 0);
    size_t nr = ncuts + 1;
    counter one;
    counter_init(&one);
    counter *per = calloc(nr, sizeof *per);
    mrc_table **tabs = calloc(nr, sizeof *tabs);
    assert_true(per && tabs);
    for (size_t r = 0; r < nr; r++) {
        uint64_t a = r == 0 ? 0 : cuts[r - 1], b = r == ncuts ? size : cuts[r];
        read_range(&rd, path, a, b - a, &j, &one.ctx);
        counter_init(&per[r]);
        tabs[r] = &per[r].table;
        read_range(&rd, path, a, b - a, &j, &per[r].ctx);
    }
    char label[128];
    snprintf(label, sizeof label, "%s, %zu ranges, buffer %zu", m->name, nr, bufsize);
    check_table(&one.table, want, label);
    void *out;
    size_t outlen;
    assert_int_equal(mrc_table_serialize(tabs, nr, &out, &outlen, &err), 0);
    assert_bytes_equal(out, outlen, ser, serlen);
    free(out);
    for (size_t r = 0; r < nr; r++)
        counter_free(&per[r]);
    free(per);
    free(tabs);
    counter_free(&one);
    mrc_reader_free(&rd);
}

static void test_split_boundaries(void **state)
{
    (void)state;
    rng_seed(31);
    static const size_t bufsizes[] = {8, 13, 64, 0};
    for (int f = 0; f < 2; f++) {
        size_t size = f == 0 ? 12000 : 300;
        unsigned char *data = text_with_long_tokens(size);
        char *path = write_temp(data, size);
        for (int k = 0; k < 4; k++) {
            const mode *m = &modes[k];
            unsigned char *keys = oracle_keys_of(m, data, size);
            okvec want = {0};
            oracle_tokens(m, data, keys, size, &want);
            okvec_aggregate(&want);
            size_t serlen;
            unsigned char *ser = oracle_serialize(&want, okvec_total(&want), 0, &serlen);
            uint64_t cuts[400];
            for (size_t bi = 0; bi < sizeof bufsizes / sizeof bufsizes[0]; bi++) {
                /* no cut: the whole file as one split */
                check_cuts(m, path, size, cuts, 0, bufsizes[bi], &want, ser, serlen);
                for (int it = 0; it < (f == 0 ? 6 : 3); it++) {
                    size_t nc = 1 + rng_below(f == 0 ? 40 : 12);
                    for (size_t i = 0; i < nc; i++)
                        cuts[i] = rng_below(size + 1);
                    if (it == 0 && nc > 1) /* an empty range */
                        cuts[1] = cuts[0];
                    qsort(cuts, nc, sizeof cuts[0], cmp_u64);
                    check_cuts(m, path, size, cuts, nc, bufsizes[bi], &want, ser, serlen);
                }
            }
            if (f == 1) { /* every byte its own range */
                for (size_t i = 0; i + 1 < size; i++)
                    cuts[i] = i + 1;
                check_cuts(m, path, size, cuts, size - 1, 8, &want, ser, serlen);
            }
            free(ser);
            okvec_free(&want);
            free(keys);
        }
        unlink(path);
        free(path);
        free(data);
    }
}

/* ---- the map driver, end to end without MPI ---- */

typedef struct corpus {
    char *paths[4];
    unsigned char *data[4];
    size_t size[4];
    size_t n;
} corpus;

static void corpus_make(corpus *c)
{
    static const size_t sizes[] = {5000, 0, 3333, 7000};
    c->n = 4;
    for (size_t i = 0; i < c->n; i++) {
        c->size[i] = sizes[i];
        c->data[i] = text_with_long_tokens(sizes[i]);
        c->paths[i] = write_temp(c->data[i], sizes[i]);
    }
}

static void corpus_free(corpus *c)
{
    for (size_t i = 0; i < c->n; i++) {
        unlink(c->paths[i]);
        free(c->paths[i]);
        free(c->data[i]);
    }
}

static void corpus_oracle(const corpus *c, const mode *m, unsigned char **keys, okvec *o)
{
    for (size_t i = 0; i < c->n; i++) {
        keys[i] = oracle_keys_of(m, c->data[i], c->size[i]);
        oracle_tokens(m, c->data[i], keys[i], c->size[i], o);
    }
}

static void run_map(const mode *m, const mrc_file_list *files, const mrc_split *splits,
                    size_t nsplits, uint64_t piece, size_t nthreads, const unsigned char *want,
                    size_t wantlen, uint64_t tokens, uint64_t distinct)
{
    mrc_err err = {0};
    mrc_topo *topo = mrc_topo_open(NULL, &err);
    if (topo == NULL) fail_msg("mrc_topo_open: %s", err.msg);
    mrc_placement pl;
    if (mrc_placement_plan(topo, NULL, 0, 1, nthreads, &pl, &err) != 0)
        fail_msg("mrc_placement_plan: %s", err.msg);
    assert_int_equal(pl.nthreads, nthreads);
    mrc_job j = job_for(m);
    mrc_map_run *run = mrc_map_start(&j, files, splits, nsplits,
                                     &(mrc_map_opts){.piece_size = piece}, topo, &pl, &err);
    if (run == NULL) fail_msg("mrc_map_start: %s", err.msg);
    bool done = false;
    uint64_t bytes = 0;
    for (int polls = 0; !done; polls++) {
        assert_int_equal(mrc_map_poll(run, 50, &bytes, &done), 0);
        assert_true(polls < 2000);
    }
    void *out = NULL;
    size_t outlen = 0;
    mrc_map_stats st;
    int rc = mrc_map_finish(run, &out, &outlen, &st, &err);
    if (rc != 0) fail_msg("mrc_map_finish: %s", err.msg);
    char label[64];
    snprintf(label, sizeof label, "%s T=%zu piece=%llu", m->name, nthreads,
             (unsigned long long)piece);
    if (outlen != wantlen || memcmp(out, want, wantlen) != 0)
        fail_msg("%s: map output differs from the oracle (%zu vs %zu bytes)", label, outlen,
                 wantlen);
    assert_int_equal(st.records, tokens);
    assert_int_equal(st.distinct, distinct);
    assert_int_equal(st.nthreads, nthreads);
    mrc_map_stats_free(&st);
    free(out);
    mrc_placement_free(&pl);
    mrc_topo_close(topo);
}

static void test_map_driver(void **state)
{
    (void)state;
    rng_seed(4096);
    corpus c;
    corpus_make(&c);
    mrc_file_list files = {0};
    mrc_err err = {0};
    const char *args[4] = {c.paths[0], c.paths[1], c.paths[2], c.paths[3]};
    assert_int_equal(mrc_input_discover(args, 4, &files, NULL, NULL, &err), 0);
    assert_int_equal(files.n, 4);
    mrc_split_plan plan;
    assert_int_equal(mrc_split_plan_make(&files, 1000, 1, &plan, &err), 0);

    /* hand-made splits: each file cut at random points, plus an empty split */
    mrc_split hand[64];
    size_t nh = 0;
    for (uint32_t f = 0; f < 4; f++) {
        uint64_t at = 0;
        while (at < c.size[f]) {
            uint64_t len = 300 + rng_below(2200);
            if (len > c.size[f] - at) len = c.size[f] - at;
            hand[nh++] = (mrc_split){f, 0, at, len};
            at += len;
        }
    }
    hand[nh++] = (mrc_split){2, 0, 100, 0};

    for (int k = 0; k < 4; k++) {
        const mode *m = &modes[k];
        unsigned char *keys[4];
        okvec o = {0};
        corpus_oracle(&c, m, keys, &o);
        uint64_t tokens = o.tokens;
        okvec_aggregate(&o);
        size_t wlen;
        unsigned char *want = oracle_serialize(&o, okvec_total(&o), 0, &wlen);
        static const uint64_t pieces[] = {0, 1, 77, 1000};
        for (size_t t = 1; t <= 3; t++) {
            for (size_t p = 0; p < 4; p++) {
                if (k != 0 && p != 2 && p != 0) continue; /* other modes: fewer piece sizes */
                run_map(m, &files, plan.splits, plan.n, pieces[p], t, want, wlen, tokens, o.n);
            }
            run_map(m, &files, hand, nh, 333, t, want, wlen, tokens, o.n);
        }
        free(want);
        okvec_free(&o);
        for (int i = 0; i < 4; i++)
            free(keys[i]);
    }
    mrc_split_plan_free(&plan);
    mrc_file_list_free(&files);
    corpus_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_checked),
        cmocka_unit_test(test_edge_buffers),
        cmocka_unit_test(test_token_lengths_and_offsets),
        cmocka_unit_test(test_one_megabyte_token),
        cmocka_unit_test(test_random_buffers),
        cmocka_unit_test(test_consume_not_final),
        cmocka_unit_test(test_split_boundaries),
        cmocka_unit_test(test_map_driver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
