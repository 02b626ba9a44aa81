/* test_ngram.c - the ngram job (Google Books exports v1/v2/v3): sums, year filters, POS modes,
 * bad records and their log, --strict, the format check and overflow, checked by hand and
 * against a per-line oracle written here (its own field split and tag rules); the final=false
 * consumer contract, random buffer splits, and mrc_bad_locate() on a real file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "mrcount/map.h"
#include "mrcount/table.h"
#include "ngram.h"

#define PATH "books/part-0.tsv"
#define MAX64 "18446744073709551615"

/* ---- driving the job ---- */

static mrc_ngram_opts opts_for(enum mrc_ngram_format f)
{
    return (mrc_ngram_opts){.format = f,
                            .value = MRC_VALUE_MATCH,
                            .pos = MRC_POS_KEEP,
                            .year_min = 0,
                            .year_max = MRC_YEAR_MAX};
}

/* One job with its table and consumer state; must not move after counter_init(). */
typedef struct counter {
    mrc_job job;
    mrc_table table;
    mrc_map_ctx ctx;
    mrc_err err;
} counter;

static void counter_init(counter *c, const mrc_ngram_opts *o)
{
    memset(c, 0, sizeof *c);
    mrc_err err = {0};
    if (mrc_job_select(&c->job, mrc_job_find("ngram"), o, NULL, &err) != 0)
        fail_msg("mrc_job_select: %s", err.msg);
    assert_non_null(c->job.consume);
    assert_int_equal(mrc_table_init(&c->table, 0, &err), 0);
    c->ctx.table = &c->table;
    c->ctx.settings = c->job.settings;
    mrc_map_ctx_piece(&c->ctx, PATH, 0, 0);
}

static void counter_free(counter *c)
{
    mrc_map_ctx_free(&c->ctx);
    mrc_table_free(&c->table);
}

/* Copy into an allocation of exactly len bytes, so ASan sees any read past the end. */
static char *exact_copy(const char *src, size_t len)
{
    char *b = malloc(len ? len : 1);
    assert_non_null(b);
    if (len) memcpy(b, src, len);
    return b;
}

/* The job's consumer on b[0..n), as the streaming reader calls it. */
static long long consume(counter *c, const char *b, size_t n, bool final)
{
    return c->job.consume(&c->ctx, (const unsigned char *)b, n, SIZE_MAX, final, &c->err);
}

/* mrc_job_count_buffer() on an exact copy of text; the error (if any) stays in c->err. */
static int feed(counter *c, const char *text)
{
    size_t len = strlen(text);
    char *b = exact_copy(text, len);
    int rc = mrc_job_count_buffer(&c->job, &c->ctx, b, len, &c->err);
    free(b);
    return rc;
}

static void feed_ok(counter *c, const char *text)
{
    if (feed(c, text) != 0) fail_msg("counting failed: %s", c->err.msg);
}

/* Counts text with o from a fresh counter, which the caller frees. */
static void count_text(counter *c, const mrc_ngram_opts *o, const char *text)
{
    counter_init(c, o);
    feed_ok(c, text);
}

/* ---- reading a table back ---- */

typedef struct rec_view {
    const unsigned char *key;
    uint32_t len;
    uint64_t count, hash;
} rec_view;

typedef struct rec_list {
    rec_view *v;
    size_t n, cap;
} rec_list;

static void collect_rec(const mrc_rec *r, void *arg)
{
    rec_list *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        assert_non_null(l->v);
    }
    l->v[l->n++] = (rec_view){r->key, r->len, r->count, mrc_hash(r->key, r->len)};
}

/* Whether key is in t, and its count. */
static bool lookup(const mrc_table *t, const char *key, size_t len, uint64_t *count)
{
    rec_list l = {0};
    mrc_table_each(t, collect_rec, &l);
    bool found = false;
    for (size_t i = 0; i < l.n && !found; i++)
        if (l.v[i].len == len && memcmp(l.v[i].key, key, len) == 0) {
            found = true;
            *count = l.v[i].count;
        }
    free(l.v);
    return found;
}

typedef struct kc {
    const char *key;
    uint64_t count;
} kc;

/* The table holds exactly these keys with these counts. */
static void expect_table(const mrc_table *t, const kc *want, size_t n, int line)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t got = 0;
        if (!lookup(t, want[i].key, strlen(want[i].key), &got))
            fail_msg("line %d: key '%s' missing", line, want[i].key);
        if (got != want[i].count)
            fail_msg("line %d: key '%s' counted %llu, want %llu", line, want[i].key,
                     (unsigned long long)got, (unsigned long long)want[i].count);
    }
    if (t->used != n) fail_msg("line %d: %zu distinct keys, want %zu", line, t->used, n);
}

#define EXPECT_TABLE(t, ...)                                                                       \
    do {                                                                                           \
        const kc want_[] = {__VA_ARGS__};                                                          \
        expect_table((t), want_, sizeof want_ / sizeof want_[0], __LINE__);                        \
    } while (0)

static void expect_no_bad(const counter *c)
{
    if (c->ctx.bad.total != 0)
        fail_msg("%llu bad records, want none (first cause %u at line %llu)",
                 (unsigned long long)c->ctx.bad.total, c->ctx.bad.samples[0].cause,
                 (unsigned long long)c->ctx.bad.samples[0].piece_line);
}

/* ---- sums, formats, value columns ---- */

static void check_sums(enum mrc_ngram_format f, enum mrc_ngram_value v, const char *text,
                       uint64_t x, uint64_t y, uint64_t records)
{
    mrc_ngram_opts o = opts_for(f);
    o.value = v;
    counter c;
    count_text(&c, &o, text);
    EXPECT_TABLE(&c.table, {"x y", x}, {"y", y});
    assert_int_equal(c.ctx.records, records);
    expect_no_bad(&c);
    counter_free(&c);
}

static void test_formats_and_values(void **state)
{
    (void)state;
    static const char v1[] = "x y\t2000\t3\t5\t7\n"
                             "x y\t2001\t10\t20\t30\n"
                             "y\t2000\t1\t2\t4\n";
    check_sums(MRC_NGRAM_V1, MRC_VALUE_MATCH, v1, 13, 1, 3);
    check_sums(MRC_NGRAM_V1, MRC_VALUE_VOLUMES, v1, 37, 4, 3); /* column 5, not pages */
    static const char v2[] = "x y\t2000\t3\t7\n"
                             "x y\t2001\t10\t30\n"
                             "y\t2000\t1\t4\n";
    check_sums(MRC_NGRAM_V2, MRC_VALUE_MATCH, v2, 13, 1, 3);
    check_sums(MRC_NGRAM_V2, MRC_VALUE_VOLUMES, v2, 37, 4, 3);
    static const char v3[] = "x y\t2000,3,7\t2001,10,30\n"
                             "y\t2000,1,4\n"
                             "x y\t2002,100,300\n";
    check_sums(MRC_NGRAM_V3, MRC_VALUE_MATCH, v3, 113, 1, 3);
    check_sums(MRC_NGRAM_V3, MRC_VALUE_VOLUMES, v3, 337, 4, 3);
    /* the largest count is accepted as is */
    counter c;
    mrc_ngram_opts o = opts_for(MRC_NGRAM_V2);
    count_text(&c, &o, "big\t2000\t" MAX64 "\t" MAX64 "\n");
    EXPECT_TABLE(&c.table, {"big", UINT64_MAX});
    counter_free(&c);
    o = opts_for(MRC_NGRAM_V3);
    count_text(&c, &o, "big\t2000,18446744073709551614,0\t2001,1," MAX64 "\n");
    EXPECT_TABLE(&c.table, {"big", UINT64_MAX});
    counter_free(&c);
    /* an empty buffer counts nothing */
    count_text(&c, &o, "");
    assert_int_equal(c.table.used, 0);
    assert_int_equal(c.ctx.records, 0);
    counter_free(&c);
}

/* ---- year range ---- */

/* Keys longer than the add queue copies (4096 bytes) go straight to the table, the queue
 * emptied first: their rows beside short ones, adjacent and not, in both jobs' orders
 * (per-year too). */
static void test_long_keys(void **state)
{
    (void)state;
    enum { LONG = 5000 };
    char *big = malloc(LONG + 1), *text = malloc(4 * LONG + 256);
    assert_non_null(big);
    assert_non_null(text);
    for (size_t i = 0; i < LONG; i++)
        big[i] = (char)('a' + i % 26);
    big[LONG] = '\0';
    snprintf(text, 4 * LONG + 256,
             "a\t2000\t1\t1\n%s\t2000\t2\t1\nb\t2000\t3\t1\n%s\t2001\t4\t1\n"
             "a\t2001\t5\t1\n%s\t2001\t6\t1\n",
             big, big, big);
    mrc_ngram_opts o = opts_for(MRC_NGRAM_V2);
    counter c;
    count_text(&c, &o, text);
    EXPECT_TABLE(&c.table, {"a", 6}, {"b", 3}, {big, 12});
    counter_free(&c);
    o.per_year = true;
    count_text(&c, &o, text);
    char y2000[LONG + 8], y2001[LONG + 8];
    snprintf(y2000, sizeof y2000, "%s\t2000", big);
    snprintf(y2001, sizeof y2001, "%s\t2001", big);
    EXPECT_TABLE(&c.table, {"a\t2000", 1}, {"a\t2001", 5}, {"b\t2000", 3}, {y2000, 2}, {y2001, 10});
    counter_free(&c);
    free(big);
    free(text);
}

static void test_year_range(void **state)
{
    (void)state;
    static const char v2[] = "a\t1899\t1\t100\n"
                             "a\t1900\t2\t200\n"
                             "a\t1905\t4\t400\n"
                             "a\t1910\t8\t800\n"
                             "a\t1911\t16\t1600\n"
                             "b\t1850\t5\t5\n"
                             "z\t1800\t7\t7\n"
                             "b\t1950\t5\t5\n"
                             "z\t1905\t0\t0\n"
                             "c\t1911\t-1\t1\n"; /* outside the range, still malformed */
    static const char v3[] = "a\t1899,1,100\t1900,2,200\t1905,4,400\t1910,8,800\t1911,16,1600\n"
                             "b\t1850,5,5\t1950,5,5\n"
                             "z\t1800,7,7\t1910,0,0\n"
                             "c\t1911,-1,1\n";
    for (int f = 0; f < 2; f++) {
        for (int v = 0; v < 2; v++) {
            mrc_ngram_opts o = opts_for(f == 0 ? MRC_NGRAM_V2 : MRC_NGRAM_V3);
            o.value = v == 0 ? MRC_VALUE_MATCH : MRC_VALUE_VOLUMES;
            o.year_min = 1900;
            o.year_max = 1910;
            counter c;
            count_text(&c, &o, f == 0 ? v2 : v3);
            EXPECT_TABLE(&c.table, {"a", v == 0 ? 14 : 1400}, {"z", 0});
            assert_int_equal(c.ctx.bad.total, 1);
            assert_int_equal(c.ctx.bad.samples[0].cause, MRC_BAD_NEGATIVE);
            counter_free(&c);
        }
    }
    /* the extreme years, each as a one-year range */
    static const int years[] = {0, 1, 9998, 9999};
    for (size_t i = 0; i < 4; i++) {
        mrc_ngram_opts o = opts_for(MRC_NGRAM_V2);
        o.year_min = o.year_max = years[i];
        counter c;
        count_text(&c, &o, "y\t0\t1\t1\ny\t1\t2\t1\ny\t9998\t4\t1\ny\t9999\t8\t1\n");
        EXPECT_TABLE(&c.table, {"y", (uint64_t)1 << i});
        expect_no_bad(&c);
        counter_free(&c);
    }
}

static void test_select_rejects_bad_ranges(void **state)
{
    (void)state;
    static const int ranges[][2] = {{2001, 2000}, {-1, 2000}, {0, 10000}, {9999, 0}};
    for (size_t i = 0; i < 4; i++) {
        mrc_ngram_opts o = opts_for(MRC_NGRAM_V2);
        o.year_min = ranges[i][0];
        o.year_max = ranges[i][1];
        mrc_job j;
        mrc_err err = {0};
        assert_int_equal(mrc_job_select(&j, mrc_job_find("ngram"), &o, NULL, &err), MRC_EINVAL);
        assert_int_equal(err.code, MRC_EINVAL);
        assert_true(err.msg[0] != '\0');
    }
    mrc_ngram_opts o = opts_for(MRC_NGRAM_V2);
    o.year_min = o.year_max = 2000;
    mrc_job j;
    mrc_err err = {0};
    assert_int_equal(mrc_job_select(&j, mrc_job_find("ngram"), &o, NULL, &err), 0);
    assert_string_equal(j.desc->name, "ngram");
}

/* ---- part-of-speech tags and --fold-case ---- */

static const char pos_text[] = "the cat_NOUN\t2000\t1\t0\n"
                               "burnt_VERB\t2000\t2\t0\n"
                               "burnt\t2000\t4\t0\n"
                               "_NOUN_\t2000\t8\t0\n"
                               "_START_ The_DET\t2000\t16\t0\n"
                               "foo_bar\t2000\t32\t0\n"
                               "end_.\t2000\t64\t0\n"
                               "_START_ x _END_\t2000\t128\t0\n"
                               "The_DET\t2000\t256\t0\n"
                               "the\t2000\t512\t0\n"
                               "run_X go_PRT\t2000\t1024\t0\n"
                               "Hot_ADJ_NOUN\t2000\t2048\t0\n"
                               "THE_det\t2000\t4096\t0\n";

static void pos_count(counter *c, enum mrc_pos pos, bool fold)
{
    mrc_ngram_opts o = opts_for(MRC_NGRAM_V2);
    o.pos = pos;
    o.fold_case = fold;
    count_text(c, &o, pos_text);
    assert_int_equal(c->ctx.records, 13);
    expect_no_bad(c);
}

static void test_pos_modes(void **state)
{
    (void)state;
    counter c;
    pos_count(&c, MRC_POS_KEEP, false);
    EXPECT_TABLE(&c.table, {"the cat_NOUN", 1}, {"burnt_VERB", 2}, {"burnt", 4}, {"_NOUN_", 8},
                 {"_START_ The_DET", 16}, {"foo_bar", 32}, {"end_.", 64}, {"_START_ x _END_", 128},
                 {"The_DET", 256}, {"the", 512}, {"run_X go_PRT", 1024}, {"Hot_ADJ_NOUN", 2048},
                 {"THE_det", 4096});
    counter_free(&c);
    pos_count(&c, MRC_POS_UNTAGGED, false);
    EXPECT_TABLE(&c.table, {"burnt", 4}, {"foo_bar", 32}, {"_START_ x _END_", 128}, {"the", 512},
                 {"THE_det", 4096});
    counter_free(&c);
    pos_count(&c, MRC_POS_TAGGED, false);
    EXPECT_TABLE(&c.table, {"the cat_NOUN", 1}, {"burnt_VERB", 2}, {"_NOUN_", 8},
                 {"_START_ The_DET", 16}, {"end_.", 64}, {"The_DET", 256}, {"run_X go_PRT", 1024},
                 {"Hot_ADJ_NOUN", 2048});
    counter_free(&c);
    pos_count(&c, MRC_POS_STRIP, false);
    EXPECT_TABLE(&c.table, {"the cat", 1}, {"burnt", 6}, {"_NOUN_", 8}, {"_START_ The", 16},
                 {"foo_bar", 32}, {"end", 64}, {"_START_ x _END_", 128}, {"The", 256}, {"the", 512},
                 {"run go", 1024}, {"Hot_ADJ", 2048}, {"THE_det", 4096});
    counter_free(&c);
    pos_count(&c, MRC_POS_KEEP, true);
    EXPECT_TABLE(&c.table, {"the cat_NOUN", 1}, {"burnt_VERB", 2}, {"burnt", 4}, {"_NOUN_", 8},
                 {"_start_ the_DET", 16}, {"foo_bar", 32}, {"end_.", 64}, {"_start_ x _end_", 128},
                 {"the_DET", 256}, {"the", 512}, {"run_X go_PRT", 1024}, {"hot_adj_NOUN", 2048},
                 {"the_det", 4096});
    counter_free(&c);
    pos_count(&c, MRC_POS_UNTAGGED, true);
    EXPECT_TABLE(&c.table, {"burnt", 4}, {"foo_bar", 32}, {"_start_ x _end_", 128}, {"the", 512},
                 {"the_det", 4096});
    counter_free(&c);
    pos_count(&c, MRC_POS_TAGGED, true);
    EXPECT_TABLE(&c.table, {"the cat_NOUN", 1}, {"burnt_VERB", 2}, {"_NOUN_", 8},
                 {"_start_ the_DET", 16}, {"end_.", 64}, {"the_DET", 256}, {"run_X go_PRT", 1024},
                 {"hot_adj_NOUN", 2048});
    counter_free(&c);
    pos_count(&c, MRC_POS_STRIP, true);
    EXPECT_TABLE(&c.table, {"the cat", 1}, {"burnt", 6}, {"_NOUN_", 8}, {"_start_ the", 16},
                 {"foo_bar", 32}, {"end", 64}, {"_start_ x _end_", 128}, {"the", 768},
                 {"run go", 1024}, {"hot_adj", 2048}, {"the_det", 4096});
    counter_free(&c);
}

/* Every tag, and near misses, as a suffix and standing alone. */
static void test_pos_tag_list(void **state)
{
    (void)state;
    static const char *const tags[] = {"NOUN", "VERB", "ADJ",  "ADV", "PRON", "DET",
                                       "ADP",  "NUM",  "CONJ", "PRT", "X",    "."};
    static const char *const not_tags[] = {"noun",  "NOUNS", "NOU", "XX", "",
                                           "START", "Det",   "..",  "x",  "ADJ."};
    char text[128], key[64];
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        for (int alone = 0; alone < 2; alone++) {
            snprintf(key, sizeof key, alone ? "_%s_" : "Wd_%s", tags[i]);
            snprintf(text, sizeof text, "%s\t2000\t3\t1\n", key);
            mrc_ngram_opts o = opts_for(MRC_NGRAM_V2);
            counter c;
            o.pos = MRC_POS_UNTAGGED;
            count_text(&c, &o, text);
            if (c.table.used != 0) fail_msg("untagged kept '%s'", key);
            counter_free(&c);
            o.pos = MRC_POS_TAGGED;
            count_text(&c, &o, text);
            EXPECT_TABLE(&c.table, {key, 3});
            counter_free(&c);
            o.pos = MRC_POS_STRIP;
            o.fold_case = true;
            count_text(&c, &o, text);
            EXPECT_TABLE(&c.table, {alone ? key : "wd", 3});
            counter_free(&c);
        }
    }
    for (size_t i = 0; i < sizeof not_tags / sizeof not_tags[0]; i++) {
        for (int alone = 0; alone < 2; alone++) {
            snprintf(key, sizeof key, alone ? "_%s_" : "wd_%s", not_tags[i]);
            snprintf(text, sizeof text, "%s\t2000\t3\t1\n", key);
            mrc_ngram_opts o = opts_for(MRC_NGRAM_V2);
            counter c;
            o.pos = MRC_POS_TAGGED;
            count_text(&c, &o, text);
            if (c.table.used != 0) fail_msg("tagged kept '%s'", key);
            counter_free(&c);
            o.pos = MRC_POS_STRIP;
            count_text(&c, &o, text);
            EXPECT_TABLE(&c.table, {key, 3});
            counter_free(&c);
        }
    }
}

/* ---- runs of one ngram, line ends ---- */

static void test_runs(void **state)
{
    (void)state;
    mrc_ngram_opts o = opts_for(MRC_NGRAM_V2);
    counter c;
    count_text(&c, &o,
               "a\t2000\t1\t1\n"
               "a\t2001\t2\t1\n"
               "a\t2002\t4\t1\n"
               "b\t2000\t8\t1\n"
               "a\t2003\t16\t1\n"
               "b\t2001\t32\t1\n"
               "ab\t2000\t64\t1\n"
               "a\t2004\t128\t1\n"
               "a b\t2000\t256\t1\n"
               "a\tnot a row\n" /* a bad line inside a run */
               "a\t2005\t512\t1\n"
               "b\t2002\t1024\t1\n");
    EXPECT_TABLE(&c.table, {"a", 663}, {"b", 1064}, {"ab", 64}, {"a b", 256});
    assert_int_equal(c.ctx.records, 12);
    assert_int_equal(c.ctx.bad.total, 1);
    counter_free(&c);
    /* keys equal only after folding, adjacent and not */
    o.fold_case = true;
    count_text(&c, &o,
               "The\t2000\t1\t1\nthe\t2000\t2\t1\nTHE\t2000\t4\t1\nx\t2000\t8\t1\n"
               "tHe\t2000\t16\t1\n");
    EXPECT_TABLE(&c.table, {"the", 23}, {"x", 8});
    counter_free(&c);
}

static void test_line_ends(void **state)
{
    (void)state;
    static const char *const texts[3] = {
        "a\t2000\t1\t1\t1\r\nb\t2000\t2\t2\t2\r\nc\t2000\t3\t3\t3",
        "a\t2000\t1\t1\r\nb\t2000\t2\t2\nc\t2000\t3\t3\r",
        "a\t2000,1,1\r\nb\t2000,2,2\r\nc\t2000,3,3",
    };
    for (int f = 0; f < 3; f++) {
        mrc_ngram_opts o = opts_for((enum mrc_ngram_format)f);
        counter c;
        count_text(&c, &o, texts[f]);
        EXPECT_TABLE(&c.table, {"a", 1}, {"b", 2}, {"c", 3});
        assert_int_equal(c.ctx.records, 3);
        expect_no_bad(&c);
        counter_free(&c);
    }
}

/* ---- bad records ---- */

static const char *const good_lines[3] = {"good\t2000\t1\t1\t1\n", "good\t2000\t1\t1\n",
                                          "good\t2000,1,1\n"};

/* `line` as the 5th line of a file (past the format check) between good lines: one bad
 * record of cause `want` at piece line 4, adding nothing. */
static void check_bad_line(enum mrc_ngram_format f, const char *line, enum mrc_bad_cause want)
{
    char text[512];
    const char *g = good_lines[f];
    snprintf(text, sizeof text, "%s%s%s%s%s\n%s", g, g, g, g, line, g);
    mrc_ngram_opts o = opts_for(f);
    counter c;
    count_text(&c, &o, text);
    const mrc_bad_log *b = &c.ctx.bad;
    if (b->total != 1 || b->nsamples != 1)
        fail_msg("v%d '%s': %llu bad records, want 1", f + 1, line, (unsigned long long)b->total);
    if (b->samples[0].cause != (uint32_t)want)
        fail_msg("v%d '%s': cause '%s', want '%s'", f + 1, line,
                 mrc_bad_cause_text((enum mrc_bad_cause)b->samples[0].cause),
                 mrc_bad_cause_text(want));
    assert_true(b->nfiles >= 1);
    assert_int_equal(b->per_file[0], 1);
    assert_int_equal(b->samples[0].file, 0);
    assert_int_equal(b->samples[0].piece_offset, 0);
    assert_int_equal(b->samples[0].piece_line, 4);
    assert_int_equal(c.ctx.records, 6);
    EXPECT_TABLE(&c.table, {"good", 5});
    counter_free(&c);
}

static void test_bad_causes(void **state)
{
    (void)state;
    static const struct {
        enum mrc_ngram_format f;
        const char *line;
        enum mrc_bad_cause cause;
    } cases[] = {
        {MRC_NGRAM_V2, "", MRC_BAD_COLUMNS},
        {MRC_NGRAM_V2, "\r", MRC_BAD_COLUMNS},
        {MRC_NGRAM_V2, "no tab at all", MRC_BAD_COLUMNS},
        {MRC_NGRAM_V2, "a\t2000", MRC_BAD_COLUMNS},
        {MRC_NGRAM_V2, "a\t2000\t5", MRC_BAD_COLUMNS},
        {MRC_NGRAM_V1, "a\t2000\t5\t3", MRC_BAD_COLUMNS},
        {MRC_NGRAM_V3, "a", MRC_BAD_COLUMNS},
        {MRC_NGRAM_V2, "a\t2000\t5\t3\t1", MRC_BAD_EXTRA},
        {MRC_NGRAM_V2, "a\t2000\t5\t3\t", MRC_BAD_EXTRA},
        {MRC_NGRAM_V1, "a\t2000\t5\t3\t1\t0", MRC_BAD_EXTRA},
        {MRC_NGRAM_V2, "\t2000\t5\t3", MRC_BAD_EMPTY_NGRAM},
        {MRC_NGRAM_V1, "\t2000\t5\t3\t1", MRC_BAD_EMPTY_NGRAM},
        {MRC_NGRAM_V3, "\t2000,5,3", MRC_BAD_EMPTY_NGRAM},
        {MRC_NGRAM_V2, "a\tyear\t5\t3", MRC_BAD_YEAR},
        {MRC_NGRAM_V2, "a\t20o0\t5\t3", MRC_BAD_YEAR},
        {MRC_NGRAM_V2, "a\t\t5\t3", MRC_BAD_YEAR},
        {MRC_NGRAM_V2, "a\t2000,5,3", MRC_BAD_YEAR},
        {MRC_NGRAM_V3, "a\tx,5,3", MRC_BAD_YEAR},
        {MRC_NGRAM_V2, "a\t10000\t5\t3", MRC_BAD_YEAR_RANGE},
        {MRC_NGRAM_V2, "a\t-1\t5\t3", MRC_BAD_YEAR_RANGE},
        {MRC_NGRAM_V1, "a\t99999999999999999999999\t5\t3\t1", MRC_BAD_YEAR_RANGE},
        {MRC_NGRAM_V3, "a\t10000,5,3", MRC_BAD_YEAR_RANGE},
        {MRC_NGRAM_V3, "a\t2000,5,3\t-1,5,3", MRC_BAD_YEAR_RANGE},
        {MRC_NGRAM_V2, "a\t2000\tfive\t3", MRC_BAD_COUNT},
        {MRC_NGRAM_V2, "a\t2000\t\t3", MRC_BAD_COUNT},
        {MRC_NGRAM_V2, "a\t2000\t5\t", MRC_BAD_COUNT},
        {MRC_NGRAM_V2, "a\t2000\t5 \t3", MRC_BAD_COUNT},
        {MRC_NGRAM_V1, "a\t2000\t5\tx\t3", MRC_BAD_COUNT},
        {MRC_NGRAM_V3, "a\t2000,,3", MRC_BAD_COUNT},
        {MRC_NGRAM_V3, "a\t2000,5,x", MRC_BAD_COUNT},
        {MRC_NGRAM_V2, "a\t2000\t-5\t3", MRC_BAD_NEGATIVE},
        {MRC_NGRAM_V2, "a\t2000\t5\t-3", MRC_BAD_NEGATIVE},
        {MRC_NGRAM_V3, "a\t2000,-5,3", MRC_BAD_NEGATIVE},
        {MRC_NGRAM_V2, "a\t2000\t18446744073709551616\t3", MRC_BAD_COUNT_RANGE},
        {MRC_NGRAM_V2, "a\t2000\t1\t99999999999999999999", MRC_BAD_COUNT_RANGE},
        {MRC_NGRAM_V3, "a\t2000,18446744073709551616,3", MRC_BAD_COUNT_RANGE},
        {MRC_NGRAM_V3, "a\t2000,5", MRC_BAD_ENTRY},
        {MRC_NGRAM_V3, "a\t2000,5,3,1", MRC_BAD_ENTRY},
        {MRC_NGRAM_V3, "a\t2000,5,3\t", MRC_BAD_ENTRY},
        {MRC_NGRAM_V3, "a\t2000,5,3\t\t2001,1,1", MRC_BAD_ENTRY},
        {MRC_NGRAM_V3, "a\t", MRC_BAD_ENTRY},
        {MRC_NGRAM_V3, "a\t2000", MRC_BAD_ENTRY},
        {MRC_NGRAM_V3, "a\t2000\t5\t3", MRC_BAD_ENTRY},
        {MRC_NGRAM_V3, "a\t2000,5\t2001,1,1", MRC_BAD_ENTRY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_bad_line(cases[i].f, cases[i].line, cases[i].cause);
}

static void expect_sample(const mrc_bad_sample *s, uint32_t file, enum mrc_bad_cause cause,
                          uint64_t offset, uint64_t line)
{
    if (s->file != file || s->cause != (uint32_t)cause || s->piece_offset != offset ||
        s->piece_line != line)
        fail_msg("sample {file %u, cause %u, offset %llu, line %llu}, want {%u, %u, %llu, %llu}",
                 s->file, s->cause, (unsigned long long)s->piece_offset,
                 (unsigned long long)s->piece_line, file, (unsigned)cause,
                 (unsigned long long)offset, (unsigned long long)line);
}

/* dir/name holding `times` copies of line (the file a piece past offset 0 is in: a line among
 * a file's first four is found by counting the LFs before its piece). */
static void write_lines(char *path, size_t cap, const char *dir, const char *name, const char *line,
                        int times)
{
    snprintf(path, cap, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < times; i++)
        fputs(line, f);
    assert_int_equal(fclose(f), 0);
}

static void test_bad_log(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_ngram.XXXXXX", third[64];
    assert_non_null(mkdtemp(dir));
    write_lines(third, sizeof third, dir, "third.tsv", "e\t2000\t1\t1\n", 25);
    mrc_ngram_opts o = opts_for(MRC_NGRAM_V2);
    counter c;
    counter_init(&c, &o);
    feed_ok(&c, "g\t2000\t1\t1\n"
                "junk\n"
                "g\t2001\t2\t1\n"
                "\t2000\t1\t1\n"
                "a\tx\t1\t1\n"
                "a\t2000\t-1\t1\n"
                "a\t2000\t1\t1\t1\n"
                "a\t2000\tx\t1\n"
                "a\t20000\t1\t1\n"
                "g\t2002\t4\t1\n");
    const mrc_bad_log *b = &c.ctx.bad;
    assert_int_equal(b->total, 7);
    assert_int_equal(b->per_file[0], 7);
    assert_int_equal(b->nsamples, MRC_BAD_SAMPLES);
    expect_sample(&b->samples[0], 0, MRC_BAD_COLUMNS, 0, 1);
    expect_sample(&b->samples[1], 0, MRC_BAD_EMPTY_NGRAM, 0, 3);
    expect_sample(&b->samples[2], 0, MRC_BAD_YEAR, 0, 4);
    expect_sample(&b->samples[3], 0, MRC_BAD_NEGATIVE, 0, 5);
    expect_sample(&b->samples[4], 0, MRC_BAD_EXTRA, 0, 6);
    /* another file, far in the index: its own count and samples, lines counted from its piece */
    mrc_map_ctx_piece(&c.ctx, "other.tsv", 20, 0);
    feed_ok(&c, "b\t2000\t1\t1\nb\t2000\t1\t1\t9\t9\nb\t-3\t1\t1\n");
    assert_true(b->nfiles >= 21);
    assert_int_equal(b->per_file[20], 2);
    assert_int_equal(b->per_file[0], 7);
    assert_int_equal(b->total, 9);
    assert_int_equal(b->nsamples, 7);
    expect_sample(&b->samples[5], 20, MRC_BAD_EXTRA, 0, 1);
    expect_sample(&b->samples[6], 20, MRC_BAD_YEAR_RANGE, 0, 2);
    /* file 0 again, a later piece: counted, no sample past the first five; a v3-looking line
     * in a piece past its file's 4th line (nine LFs before offset 99: it is line 11) is a bad
     * record, not a format error */
    mrc_map_ctx_piece(&c.ctx, PATH, 0, 4096);
    feed_ok(&c, "c\t2000\tq\t1\n");
    mrc_map_ctx_piece(&c.ctx, third, 3, 100);
    feed_ok(&c, "d\t2000,1,1\n");
    assert_int_equal(b->per_file[0], 8);
    assert_int_equal(b->per_file[3], 1);
    assert_int_equal(b->total, 11);
    assert_int_equal(b->nsamples, 8);
    expect_sample(&b->samples[7], 3, MRC_BAD_YEAR, 100, 0);
    for (size_t f = 0; f < b->nfiles; f++)
        if (f != 0 && f != 3 && f != 20) assert_int_equal(b->per_file[f], 0);
    EXPECT_TABLE(&c.table, {"g", 7}, {"b", 1});
    assert_int_equal(c.ctx.records, 15);
    counter_free(&c);
    unlink(third);
    rmdir(dir);
}

/* ---- --strict ---- */

static void check_strict(enum mrc_ngram_format f, const char *text, const char *want_msg)
{
    mrc_ngram_opts o = opts_for(f);
    o.strict = true;
    counter c;
    counter_init(&c, &o);
    if (feed(&c, text) == 0) fail_msg("--strict accepted a bad record (want \"%s\")", want_msg);
    assert_int_equal(c.err.code, MRC_EINVAL);
    assert_string_equal(c.err.msg, want_msg);
    counter_free(&c);
}

static char *write_temp(const char *data)
{
    return write_temp_as("/tmp/mrc-test-ngram-XXXXXX", data, strlen(data));
}

static void test_strict(void **state)
{
    (void)state;
    check_strict(MRC_NGRAM_V2, "g\t2000\t1\t1\ng\t2001\t1\t1\na\t2000\t-5\t3\ng\t2002\t1\t1\n",
                 PATH ":3: negative count");
    check_strict(MRC_NGRAM_V2,
                 "g\t2000\t1\t1\ng\t2000\t1\t1\ng\t2000\t1\t1\ng\t2000\t1\t1\ng\t2000\t1\t1\n"
                 "g\t2000\t1\t1\na\t10000\t5\t3\n",
                 PATH ":7: year outside 0-9999");
    check_strict(MRC_NGRAM_V3, "a\t2000,5\n", PATH ":1: entry is not year,match,volumes");
    check_strict(MRC_NGRAM_V1, "g\t2000\t1\t1\t1\nno tab", PATH ":2: missing columns");
    check_strict(MRC_NGRAM_V2, "g\t2000\t1\t1\r\n\t2000\t1\t1\r\n", PATH ":2: empty ngram");
    check_strict(MRC_NGRAM_V2, "g\t2000\t1\t1\nx\tq\t1\t1\n", PATH ":2: year is not a number");
    check_strict(MRC_NGRAM_V2, "x\t2000\t1\tq\n", PATH ":1: count is not a number");
    check_strict(MRC_NGRAM_V2, "x\t2000\t1\t1\t1\t1\n", PATH ":1: too many columns");
    check_strict(MRC_NGRAM_V2, "x\t2000\t1\t18446744073709551616\n", PATH ":1: count over 2^64-1");

    /* a piece that starts inside a real file: the line is located by counting the file's LFs */
    static const char file[] = "g\t2000\t1\t1\n" /* 11 bytes a line */
                               "g\t2001\t1\t1\n"
                               "g\t2002\t1\t1\n"
                               "a\t2000\t-5\t3\n"
                               "g\t2003\t1\t1\n";
    char *path = write_temp(file);
    mrc_ngram_opts o = opts_for(MRC_NGRAM_V2);
    o.strict = true;
    counter c;
    counter_init(&c, &o);
    mrc_map_ctx_piece(&c.ctx, path, 0, 22);
    assert_int_not_equal(feed(&c, file + 22), 0);
    char want[256];
    snprintf(want, sizeof want, "%s:4: negative count", path);
    assert_string_equal(c.err.msg, want);
    counter_free(&c);
    unlink(path);
    free(path);
}

/* ---- the format check ---- */

static void check_format_error(enum mrc_ngram_format f, const char *text, const char *want)
{
    mrc_ngram_opts o = opts_for(f);
    counter c;
    counter_init(&c, &o);
    if (feed(&c, text) == 0) fail_msg("accepted a line of another format (want \"%s\")", want);
    assert_int_equal(c.err.code, MRC_EINVAL);
    if (strstr(c.err.msg, want) == NULL) fail_msg("message \"%s\" lacks \"%s\"", c.err.msg, want);
    counter_free(&c);
}

static void test_format_check(void **state)
{
    (void)state;
    check_format_error(MRC_NGRAM_V2, "a\t2000,1,1\t2001,2,2\n",
                       "looks like an ngram v3 export, not v2");
    check_format_error(MRC_NGRAM_V2, "a\t2000\t1\t2\t3\n", "looks like an ngram v1 export, not v2");
    check_format_error(MRC_NGRAM_V1, "a\t2000\t1\t2\n", "looks like an ngram v2 export, not v1");
    check_format_error(MRC_NGRAM_V1, "a\t2000,1,2\n", "looks like an ngram v3 export, not v1");
    check_format_error(MRC_NGRAM_V3, "a\t2000\t1\t2\n", "looks like an ngram v2 export, not v3");
    check_format_error(MRC_NGRAM_V3, "a\t2000\t1\t2\t3\n", "looks like an ngram v1 export, not v3");
    /* the 4th line is still checked, with its line number */
    check_format_error(MRC_NGRAM_V2, "g\t2000\t1\t1\njunk\ng\t2001\t1\t1\nx\t2000,1,1\n",
                       PATH ":4: looks like an ngram v3 export, not v2");

    /* ... also in a piece past offset 0: after one 99-byte line, the piece at offset 100 starts
     * with line 2 (a 1500-byte line before once hid a line 4 in the second split) */
    mrc_ngram_opts o = opts_for(MRC_NGRAM_V2);
    counter c;
    char dir[] = "/tmp/test_ngram.XXXXXX", late[64], want[128];
    assert_non_null(mkdtemp(dir));
    char first[101];
    memset(first, 'x', 99);
    first[99] = '\n';
    first[100] = '\0';
    write_lines(late, sizeof late, dir, "late.tsv", first, 1);
    counter_init(&c, &o);
    mrc_map_ctx_piece(&c.ctx, late, 0, 100);
    assert_int_not_equal(feed(&c, "g\t2001\t1\t1\nx\t2000,1,1\n"), 0);
    snprintf(want, sizeof want, "%s:3: looks like an ngram v3 export, not v2 (--format v3)", late);
    assert_string_equal(c.err.msg, want);
    counter_free(&c);
    unlink(late);
    rmdir(dir);

    /* the 5th and 6th lines are plain bad records; so is a line of no format among the first */
    count_text(&c, &o,
               "g\t2000\t1\t1\nnot\tany\tformat\ng\t2001\t1\t1\ng\t2002\t1\t1\n"
               "x\t2000,1,1\ny\t2000,1,1\t2001,1,1\ng\t2003\t1\t1\n");
    assert_int_equal(c.ctx.bad.total, 3);
    expect_sample(&c.ctx.bad.samples[0], 0, MRC_BAD_YEAR, 0, 1);
    expect_sample(&c.ctx.bad.samples[1], 0, MRC_BAD_YEAR, 0, 4);
    expect_sample(&c.ctx.bad.samples[2], 0, MRC_BAD_YEAR, 0, 5);
    EXPECT_TABLE(&c.table, {"g", 4});
    counter_free(&c);
}

/* ---- sum overflow ---- */

static bool per_year_overflow; /* check_overflow() with --per-year */

static void check_overflow(enum mrc_ngram_format f, enum mrc_ngram_value v, const char *text)
{
    mrc_ngram_opts o = opts_for(f);
    o.value = v;
    o.per_year = per_year_overflow;
    counter c;
    counter_init(&c, &o);
    if (feed(&c, text) == 0) fail_msg("a sum past 2^64-1 was accepted: %s", text);
    assert_int_equal(c.err.code, MRC_EOVERFLOW);
    if (strstr(c.err.msg, "'big key") == NULL)
        fail_msg("overflow message does not name the key: %s", c.err.msg);
    if (strncmp(c.err.msg, PATH ": ", strlen(PATH ": ")) != 0)
        fail_msg("overflow message does not start with the file: %s", c.err.msg);
    counter_free(&c);
}

static void test_sum_overflow(void **state)
{
    (void)state;
    check_overflow(MRC_NGRAM_V2, MRC_VALUE_MATCH,
                   "big key\t2000\t" MAX64 "\t1\nbig key\t2001\t1\t1\n");
    check_overflow(MRC_NGRAM_V2, MRC_VALUE_VOLUMES,
                   "big key\t2000\t1\t" MAX64 "\nbig key\t2001\t1\t1\n");
    check_overflow(MRC_NGRAM_V1, MRC_VALUE_MATCH,
                   "big key\t2000\t" MAX64 "\t1\t1\nbig key\t2001\t1\t1\t1\n");
    check_overflow(MRC_NGRAM_V3, MRC_VALUE_MATCH, "big key\t2000," MAX64 ",1\t2001,1,1\n");
    check_overflow(MRC_NGRAM_V3, MRC_VALUE_VOLUMES, "big key\t2000,1," MAX64 "\t2001,1,1\n");
    check_overflow(MRC_NGRAM_V3, MRC_VALUE_MATCH, "big key\t2000," MAX64 ",1\nbig key\t2001,1,1\n");
    /* repeats that are not adjacent meet in the table */
    check_overflow(MRC_NGRAM_V2, MRC_VALUE_MATCH,
                   "big key\t2000\t" MAX64 "\t1\nother\t2000\t1\t1\nbig key\t2001\t1\t1\n");
    /* --per-year: one key a year, summed in the table only */
    per_year_overflow = true;
    check_overflow(MRC_NGRAM_V2, MRC_VALUE_MATCH,
                   "big key\t2000\t" MAX64 "\t1\nother\t2000\t1\t1\nbig key\t2000\t1\t1\n");
    check_overflow(MRC_NGRAM_V3, MRC_VALUE_MATCH, "big key\t2000," MAX64 ",1\t2000,1,1\n");
    per_year_overflow = false;

    /* just at the limit, or past it only in the other column or outside the years: fine */
    mrc_ngram_opts o = opts_for(MRC_NGRAM_V2);
    counter c;
    count_text(&c, &o, "k\t2000\t18446744073709551614\t" MAX64 "\nk\t2001\t1\t1\n");
    EXPECT_TABLE(&c.table, {"k", UINT64_MAX});
    counter_free(&c);
    o = opts_for(MRC_NGRAM_V3);
    o.year_max = 2000;
    count_text(&c, &o, "k\t2000," MAX64 ",1\t2001,1,1\n");
    EXPECT_TABLE(&c.table, {"k", UINT64_MAX});
    counter_free(&c);
}

/* Only a counted sum overflows: an ngram --pos drops is not summed, so its rows past 2^64-1
 * are no error, whichever rows are adjacent in a buffer (adjacent rows used to fail, the same
 * rows in two pieces did not; found by tests/fuzz/fuzz_ngram,
 * corpus/fuzz_ngram/regress-dropped-ngram-overflow). */
static void test_overflow_of_dropped_ngrams(void **state)
{
    (void)state;
    static const char v2[] = "hot_NOUN\t2000\t" MAX64 "\t1\nhot_NOUN\t2001\t1\t1\n"
                             "cold\t2000\t" MAX64 "\t1\ncold\t2001\t1\t1\nok\t2000\t1\t1\n"
                             "ok_DET\t2000\t2\t1\n";
    mrc_ngram_opts o = opts_for(MRC_NGRAM_V2);
    counter c;
    o.pos = MRC_POS_UNTAGGED; /* drops hot_NOUN; cold overflows */
    counter_init(&c, &o);
    assert_int_not_equal(feed(&c, v2), 0);
    assert_int_equal(c.err.code, MRC_EOVERFLOW);
    assert_non_null(strstr(c.err.msg, "'cold'"));
    counter_free(&c);
    o.pos = MRC_POS_TAGGED; /* drops cold; hot_NOUN overflows */
    counter_init(&c, &o);
    assert_int_not_equal(feed(&c, v2), 0);
    assert_non_null(strstr(c.err.msg, "'hot_NOUN'"));
    counter_free(&c);

    static const char dropped[] = "hot_NOUN\t2000\t" MAX64 "\t1\nhot_NOUN\t2001\t1\t1\n"
                                  "ok\t2000\t1\t1\n";
    o.pos = MRC_POS_UNTAGGED;
    count_text(&c, &o, dropped);
    EXPECT_TABLE(&c.table, {"ok", 1});
    counter_free(&c);
    /* v3: one line holds all of an ngram's years */
    o = opts_for(MRC_NGRAM_V3);
    o.pos = MRC_POS_TAGGED;
    count_text(&c, &o, "cold\t2000," MAX64 ",1\t2001,1,1\nx_NOUN\t2000,2,2\n");
    EXPECT_TABLE(&c.table, {"x_NOUN", 2});
    counter_free(&c);
}

/* ---- mrc_bad_locate ---- */

static uint64_t locate(const char *path, uint64_t offset, uint64_t piece_line)
{
    mrc_bad_sample s = {0, MRC_BAD_COLUMNS, offset, piece_line};
    mrc_err err = {0};
    uint64_t line = 0;
    if (mrc_bad_locate(path, &s, &line, &err) != 0)
        fail_msg("mrc_bad_locate(%llu, %llu): %s", (unsigned long long)offset,
                 (unsigned long long)piece_line, err.msg);
    return line;
}

static void test_bad_locate(void **state)
{
    (void)state;
    /* offset 0 needs no file */
    assert_int_equal(locate("/nonexistent/mrc-ngram", 0, 0), 1);
    assert_int_equal(locate("/nonexistent/mrc-ngram", 0, 41), 42);
    /* bytes: l1 at 0-2, l2 at 3-5, l3 at 6-8, l4 at 9-11, l5 at 12-14 (LFs at 2 5 8 11 14) */
    char *path = write_temp("l1\nl2\nl3\nl4\nl5\n");
    assert_int_equal(locate(path, 1, 0), 2); /* a piece from inside l1 starts at l2 */
    assert_int_equal(locate(path, 1, 2), 4);
    assert_int_equal(locate(path, 3, 0), 2);  /* offset - 1 is l1's LF: starts at l2 */
    assert_int_equal(locate(path, 6, 1), 4);  /* starts at l3 */
    assert_int_equal(locate(path, 7, 0), 4);  /* from inside l3: starts at l4 */
    assert_int_equal(locate(path, 12, 0), 5); /* at l5 */
    mrc_bad_sample s = {0, MRC_BAD_COLUMNS, 5, 0};
    mrc_err err = {0};
    uint64_t line = 0;
    assert_int_not_equal(mrc_bad_locate("/nonexistent/mrc-ngram", &s, &line, &err), 0);
    assert_true(err.msg[0] != '\0');
    unlink(path);
    free(path);
}

/* ---- the oracle: a plain per-line parse with its own field split and tag rules ---- */

typedef struct oentry {
    char *key;
    size_t len;
    uint64_t count;
} oentry;

typedef struct oracle {
    oentry *v;
    size_t n, cap;
    uint64_t lines, bad;
} oracle;

static void oracle_add(oracle *o, const char *key, size_t len, uint64_t count)
{
    for (size_t i = 0; i < o->n; i++)
        if (o->v[i].len == len && memcmp(o->v[i].key, key, len) == 0) {
            o->v[i].count += count;
            return;
        }
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 64;
        o->v = realloc(o->v, o->cap * sizeof *o->v);
        assert_non_null(o->v);
    }
    o->v[o->n++] = (oentry){exact_copy(key, len), len, count};
}

static void oracle_free(oracle *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->v[i].key);
    free(o->v);
    memset(o, 0, sizeof *o);
}

/* A decimal of 1+ digits within 64 bits. */
static bool onum(const char *s, size_t n, uint64_t *v)
{
    *v = 0;
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (*v > (UINT64_MAX - d) / 10) return false;
        *v = *v * 10 + d;
    }
    return true;
}

typedef struct span {
    const char *p;
    size_t n;
} span;

/* Splits s[0..n) at every `sep` into at most max spans. @return the span count (max + 1 if more).
 */
static size_t osplit(const char *s, size_t n, char sep, span *out, size_t max)
{
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != sep) continue;
        if (k == max) return max + 1;
        out[k++] = (span){s + start, i - start};
        start = i + 1;
    }
    return k;
}

static const char *const otags[] = {"NOUN", "VERB", "ADJ",  "ADV", "PRON", "DET",
                                    "ADP",  "NUM",  "CONJ", "PRT", "X",    "."};

/* The length of a token's "_TAG" ending (word before it non-empty), or the whole token when it
 * is "_TAG_" (*alone set), or 0. */
static size_t otag(const char *t, size_t n, bool *alone)
{
    *alone = false;
    for (size_t i = 0; i < sizeof otags / sizeof otags[0]; i++) {
        size_t m = strlen(otags[i]);
        if (n == m + 2 && t[0] == '_' && t[n - 1] == '_' && memcmp(t + 1, otags[i], m) == 0) {
            *alone = true;
            return n;
        }
    }
    for (size_t i = 0; i < sizeof otags / sizeof otags[0]; i++) {
        size_t m = strlen(otags[i]);
        if (n >= m + 2 && t[n - m - 1] == '_' && memcmp(t + n - m, otags[i], m) == 0) return m + 1;
    }
    return 0;
}

/* The key an ngram counts under, written to out; false when --pos drops it. */
static bool okey(const mrc_ngram_opts *o, const char *k, size_t n, char *out, size_t *out_len)
{
    span tok[1024];
    size_t nt = osplit(k, n, ' ', tok, 1024);
    assert_true(nt <= 1024);
    bool any = false;
    size_t w = 0;
    for (size_t i = 0; i < nt; i++) {
        bool alone;
        size_t tag = otag(tok[i].p, tok[i].n, &alone);
        any |= tag != 0;
        if (i > 0) out[w++] = ' ';
        if (alone) {
            memcpy(out + w, tok[i].p, tok[i].n);
            w += tok[i].n;
            continue;
        }
        for (size_t j = 0; j < tok[i].n - tag; j++) {
            char ch = tok[i].p[j];
            out[w++] = o->fold_case && ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
        }
        if (o->pos != MRC_POS_STRIP) {
            memcpy(out + w, tok[i].p + tok[i].n - tag, tag);
            w += tag;
        }
    }
    *out_len = w;
    return !(o->pos == MRC_POS_UNTAGGED && any) && !(o->pos == MRC_POS_TAGGED && !any);
}

/* One line (no LF, no final CR): false if malformed; else *counted and *sum. */
static bool oline(const mrc_ngram_opts *o, const char *s, size_t n, bool *counted, uint64_t *sum)
{
    span f[64];
    size_t nf = osplit(s, n, '\t', f, 64);
    *counted = false;
    *sum = 0;
    if (nf < 2 || nf > 64 || f[0].n == 0) return false;
    uint64_t year, c[3];
    if (o->format != MRC_NGRAM_V3) {
        size_t ncounts = o->format == MRC_NGRAM_V1 ? 3 : 2;
        if (nf != 2 + ncounts || !onum(f[1].p, f[1].n, &year) || year > MRC_YEAR_MAX) return false;
        for (size_t i = 0; i < ncounts; i++)
            if (!onum(f[2 + i].p, f[2 + i].n, &c[i])) return false;
        *counted = (int)year >= o->year_min && (int)year <= o->year_max;
        *sum = !*counted ? 0 : o->value == MRC_VALUE_MATCH ? c[0] : c[ncounts - 1];
        return true;
    }
    for (size_t i = 1; i < nf; i++) {
        span e[3];
        if (osplit(f[i].p, f[i].n, ',', e, 3) != 3 || !onum(e[0].p, e[0].n, &year) ||
            year > MRC_YEAR_MAX || !onum(e[1].p, e[1].n, &c[0]) || !onum(e[2].p, e[2].n, &c[1]))
            return false;
        if ((int)year >= o->year_min && (int)year <= o->year_max) {
            *counted = true;
            *sum += o->value == MRC_VALUE_MATCH ? c[0] : c[1];
        }
    }
    return true;
}

static void oracle_run(oracle *o, const mrc_ngram_opts *opt, const char *buf, size_t len)
{
    char *key = malloc(len + 1);
    assert_non_null(key);
    size_t start = 0;
    while (start < len) {
        size_t e = start;
        while (e < len && buf[e] != '\n')
            e++;
        size_t n = e - start;
        if (n > 0 && buf[start + n - 1] == '\r') n--;
        o->lines++;
        bool counted;
        uint64_t sum;
        size_t klen;
        if (!oline(opt, buf + start, n, &counted, &sum))
            o->bad++;
        else if (counted) {
            size_t k = (size_t)((const char *)memchr(buf + start, '\t', n) - (buf + start));
            if (okey(opt, buf + start, k, key, &klen)) oracle_add(o, key, klen, sum);
        }
        start = e + 1;
    }
    free(key);
}

/* The table equals the oracle: same keys, counts and hashes. */
static void check_oracle(const mrc_table *t, const oracle *o, const char *what)
{
    rec_list l = {0};
    mrc_table_each(t, collect_rec, &l);
    if (l.n != o->n) fail_msg("%s: %zu distinct keys, oracle %zu", what, l.n, o->n);
    for (size_t i = 0; i < o->n; i++) {
        size_t j = 0;
        while (j < l.n &&
               (l.v[j].len != o->v[i].len || memcmp(l.v[j].key, o->v[i].key, l.v[j].len)))
            j++;
        if (j == l.n) fail_msg("%s: key '%.*s' missing", what, (int)o->v[i].len, o->v[i].key);
        if (l.v[j].count != o->v[i].count)
            fail_msg("%s: key '%.*s' counted %llu, oracle %llu", what, (int)o->v[i].len,
                     o->v[i].key, (unsigned long long)l.v[j].count,
                     (unsigned long long)o->v[i].count);
        assert_int_equal(l.v[j].hash, mrc_hash(o->v[i].key, o->v[i].len));
    }
    free(l.v);
}

/* ---- the final=false contract and buffer splits ---- */

/* Bytes up to and including the last LF. */
static size_t complete_lines(const char *b, size_t n)
{
    while (n > 0 && b[n - 1] != '\n')
        n--;
    return n;
}

static void test_consume_not_final(void **state)
{
    (void)state;
    mrc_ngram_opts o = opts_for(MRC_NGRAM_V2);
    static const char start[] = "a\t2000\t1\t1\nb\t2000\t2\t2\nc\t20";
    counter c;
    counter_init(&c, &o);
    /* nothing complete: nothing consumed or counted */
    char *b = exact_copy(start, 10);
    assert_int_equal(consume(&c, b, 10, false), 0);
    free(b);
    assert_int_equal(c.table.used, 0);
    assert_int_equal(c.ctx.records, 0);
    /* two lines and a partial one */
    b = exact_copy(start, sizeof start - 1);
    assert_int_equal(consume(&c, b, sizeof start - 1, false), 22);
    free(b);
    EXPECT_TABLE(&c.table, {"a", 1}, {"b", 2});
    assert_int_equal(c.ctx.records, 2);
    /* the partial line, completed up to its CR but not its LF */
    b = exact_copy("c\t2000\t3\t3\r", 11);
    assert_int_equal(consume(&c, b, 11, false), 0);
    free(b);
    assert_int_equal(c.table.used, 2);
    b = exact_copy("c\t2000\t3\t3\r\nd\t2000\t4\t4", 22);
    assert_int_equal(consume(&c, b, 22, false), 12);
    free(b);
    EXPECT_TABLE(&c.table, {"a", 1}, {"b", 2}, {"c", 3});
    /* the last line, final */
    b = exact_copy("d\t2000\t4\t4", 10);
    assert_int_equal(consume(&c, b, 10, true), 10);
    free(b);
    EXPECT_TABLE(&c.table, {"a", 1}, {"b", 2}, {"c", 3}, {"d", 4});
    assert_int_equal(c.ctx.records, 4);
    expect_no_bad(&c);
    counter_free(&c);
    /* a buffer ending in LF is consumed whole */
    counter_init(&c, &o);
    b = exact_copy("a\t2000\t1\t1\n", 11);
    assert_int_equal(consume(&c, b, 11, false), 11);
    free(b);
    EXPECT_TABLE(&c.table, {"a", 1});
    counter_free(&c);
}

/* Feeds buf to c's consumer cut at ncuts random points (every byte when ncuts is 0), as the
 * streaming reader does: each non-final call must take exactly the complete lines, and what it
 * counted must match the oracle of everything consumed so far. */
static void count_in_pieces(counter *c, const mrc_ngram_opts *o, const char *buf, size_t len,
                            size_t ncuts)
{
    bool every_byte = ncuts == 0;
    if (every_byte) ncuts = len;
    size_t *cuts = malloc((ncuts + 1) * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i < ncuts; i++)
        cuts[i] = every_byte ? i + 1 : rng_below(len + 1);
    cuts[ncuts] = len;
    for (size_t i = 1; i <= ncuts; i++) /* insertion sort */
        for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
            size_t t = cuts[j];
            cuts[j] = cuts[j - 1];
            cuts[j - 1] = t;
        }
    size_t done = 0, at = 0; /* bytes consumed; bytes handed over */
    for (size_t i = 0; i < ncuts; i++) {
        at = cuts[i];
        size_t n = at - done, want = complete_lines(buf + done, n);
        char *p = exact_copy(buf + done, n);
        long long got = consume(c, p, n, false);
        free(p);
        if (got != (long long)want)
            fail_msg("consume(final=false) of %zu bytes took %lld, want %zu", n, got, want);
        done += want;
        oracle so_far = {0};
        oracle_run(&so_far, o, buf, done);
        check_oracle(&c->table, &so_far, "after a final=false call");
        assert_int_equal(c->ctx.records, so_far.lines);
        oracle_free(&so_far);
    }
    char *p = exact_copy(buf + done, len - done);
    long long got = consume(c, p, len - done, true);
    free(p);
    if (got != (long long)(len - done))
        fail_msg("consume(final=true) of %zu bytes: %lld (%s)", len - done, got, c->err.msg);
    free(cuts);
}

/* ---- random exports ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->n + n + 1 > b->cap) {
        b->cap = 2 * (b->n + n + 1);
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, s, n + 1);
    b->n += n;
}

static const char *const vocab[] =
    {
        "the",         "The",      "THE",      "cat",    "cat_NOUN", "Cat_NOUN",
        "burnt_VERB",  "burnt",    "_NOUN_",   "_VERB_", "_X_",      "_START_",
        "_END_",       "foo_bar",  "big_ADJ",  "A_DET",  "of_ADP",   "two_NUM",
        "It_PRON",     "fast_ADV", "and_CONJ", "up_PRT", "xyz_X",    "._.",
        "end_.",       "_._",      "w_noun",   "_NOUN",  "NOUN_",    "Hot_ADJ_NOUN",
        "\303\234ber", /* Über in UTF-8 (octal escapes end after 3 digits) */
        "Q",           "",         "@Z[a]`z{",
};

/* A random ngram: 1-3 vocabulary tokens, now and then a long one (scratch growth). */
static char *random_ngram(void)
{
    sbuf b = {0};
    size_t nt = rng_below(50) == 0 ? 300 + rng_below(300) : 1 + rng_below(3);
    for (size_t i = 0; i < nt; i++) {
        if (i > 0) sb_put(&b, " ");
        sb_put(&b, vocab[rng_below(sizeof vocab / sizeof vocab[0])]);
    }
    if (b.n == 0 || b.p[0] == '\0') { /* never an empty key */
        free(b.p);
        return exact_copy("Solo", 5);
    }
    return b.p;
}

static uint64_t random_count(void)
{
    return rng_below(6) == 0 ? 0 : rng_next() % 1000000000u;
}

static int random_year(void)
{
    size_t r = rng_below(50);
    return r == 0 ? 0 : r == 1 ? MRC_YEAR_MAX : 1990 + (int)rng_below(21);
}

static void put_row(sbuf *b, enum mrc_ngram_format f, const char *key)
{
    char field[96];
    sb_put(b, key);
    if (f == MRC_NGRAM_V3) {
        for (size_t e = 0, ne = 1 + rng_below(4); e < ne; e++) {
            snprintf(field, sizeof field, "\t%d,%llu,%llu", random_year(),
                     (unsigned long long)random_count(), (unsigned long long)random_count());
            sb_put(b, field);
        }
        return;
    }
    snprintf(field, sizeof field, "\t%d\t%llu\t%llu", random_year(),
             (unsigned long long)random_count(), (unsigned long long)random_count());
    sb_put(b, field);
    if (f == MRC_NGRAM_V1) {
        snprintf(field, sizeof field, "\t%llu", (unsigned long long)random_count());
        sb_put(b, field);
    }
}

/* Lines bad in every format (so the format check never fires on them). */
static const char *const bad_rows[] = {
    "",
    "junk",
    "\t2000\t1\t1",
    "k\tyear\t1\t1",
    "k\t2000\t-1\t1",
    "k\t2000,1",
    "k\t2000\t1\t1\t1\t1\t1",
    "k\t2000,1,1,1",
    "k\t",
    "k\t99999\t1\t1\t1",
    "k\t2000,x,1",
};

/* A random export of about nlines lines: runs of one key, repeats of earlier keys, bad lines,
 * CRLF now and then, sometimes no LF at the end. */
static char *random_export(enum mrc_ngram_format f, size_t nlines, size_t *len)
{
    sbuf b = {0};
    char *pool[16] = {0};
    size_t npool = 0, lines = 0;
    while (lines < nlines) {
        if (rng_below(15) == 0) {
            sb_put(&b, bad_rows[rng_below(sizeof bad_rows / sizeof bad_rows[0])]);
            sb_put(&b, rng_below(5) == 0 ? "\r\n" : "\n");
            lines++;
            continue;
        }
        const char *key;
        if (npool > 0 && rng_below(3) == 0) {
            key = pool[rng_below(npool)];
        } else {
            size_t slot = npool < 16 ? npool++ : rng_below(16);
            free(pool[slot]);
            pool[slot] = random_ngram();
            key = pool[slot];
        }
        for (size_t r = 0, nr = 1 + rng_below(3); r < nr; r++, lines++) {
            put_row(&b, f, key);
            sb_put(&b, rng_below(5) == 0 ? "\r\n" : "\n");
        }
    }
    for (size_t i = 0; i < npool; i++)
        free(pool[i]);
    if (rng_below(2) == 0) { /* drop the last line end */
        if (b.n > 0 && b.p[b.n - 1] == '\n') b.n--;
        if (b.n > 0 && b.p[b.n - 1] == '\r' && rng_below(2) == 0) b.n--;
    }
    *len = b.n;
    return b.p ? b.p : exact_copy("", 1);
}

static mrc_ngram_opts random_opts(void)
{
    static const int ranges[][2] = {
        {0, MRC_YEAR_MAX}, {1998, 2002}, {2000, 2000}, {0, 1995}, {2005, MRC_YEAR_MAX}};
    mrc_ngram_opts o = opts_for((enum mrc_ngram_format)rng_below(3));
    o.value = rng_below(2) ? MRC_VALUE_VOLUMES : MRC_VALUE_MATCH;
    o.pos = (enum mrc_pos)rng_below(4);
    o.fold_case = rng_below(2);
    size_t r = rng_below(5);
    o.year_min = ranges[r][0];
    o.year_max = ranges[r][1];
    return o;
}

static void expect_same_bad_log(const mrc_bad_log *a, const mrc_bad_log *b)
{
    assert_int_equal(a->total, b->total);
    assert_int_equal(a->nsamples, b->nsamples);
    for (size_t i = 0; i < a->nsamples; i++)
        expect_sample(&b->samples[i], a->samples[i].file, (enum mrc_bad_cause)a->samples[i].cause,
                      a->samples[i].piece_offset, a->samples[i].piece_line);
    if (a->total > 0) assert_int_equal(a->per_file[0], b->per_file[0]);
}

static void test_random_exports(void **state)
{
    (void)state;
    rng_seed(1957);
    for (int it = 0; it < 300; it++) {
        mrc_ngram_opts o = random_opts();
        size_t len;
        char *text = random_export(o.format, it % 10 == 0 ? 400 : rng_below(60), &len);
        oracle want = {0};
        oracle_run(&want, &o, text, len);
        char what[96];
        snprintf(what, sizeof what, "export %d (v%d, pos %d, fold %d, years %d-%d)", it,
                 (int)o.format + 1, (int)o.pos, (int)o.fold_case, o.year_min, o.year_max);
        counter whole;
        counter_init(&whole, &o);
        char *b = exact_copy(text, len);
        if (mrc_job_count_buffer(&whole.job, &whole.ctx, b, len, &whole.err) != 0)
            fail_msg("%s: %s", what, whole.err.msg);
        free(b);
        check_oracle(&whole.table, &want, what);
        assert_int_equal(whole.ctx.records, want.lines);
        assert_int_equal(whole.ctx.bad.total, want.bad);
        for (int s = 0; s < 3; s++) {
            counter split;
            counter_init(&split, &o);
            size_t ncuts = s == 0 ? (len < 600 ? 0 : 40) : 1 + rng_below(12);
            count_in_pieces(&split, &o, text, len, ncuts);
            check_oracle(&split.table, &want, what);
            assert_int_equal(split.ctx.records, want.lines);
            expect_same_bad_log(&whole.ctx.bad, &split.ctx.bad);
            counter_free(&split);
        }
        counter_free(&whole);
        oracle_free(&want);
        free(text);
    }
}

/* ---- the last byte of a buffer ---- */

/* A v3 line whose last entry ends in an empty field right at the end of the buffer must be
 * judged on the bytes given: the byte after the buffer must not change the outcome. */
static void test_v3_entry_at_buffer_end(void **state)
{
    (void)state;
    mrc_ngram_opts o = opts_for(MRC_NGRAM_V3);
    counter c;
    count_text(&c, &o, "k\t2000,5,\n");
    assert_int_equal(c.ctx.bad.total, 1);
    uint32_t with_lf = c.ctx.bad.samples[0].cause;
    assert_int_equal(with_lf, MRC_BAD_COUNT);
    counter_free(&c);
    static const char after[] = {',', 'x', '\t'};
    for (size_t i = 0; i < sizeof after; i++) {
        char mem[10] = {'k', '\t', '2', '0', '0', '0', ',', '5', ',', after[i]};
        counter_init(&c, &o);
        int rc = mrc_job_count_buffer(&c.job, &c.ctx, mem, 9, &c.err);
        uint64_t bad = c.ctx.bad.total;
        uint32_t cause = bad > 0 ? c.ctx.bad.samples[0].cause : 0;
        counter_free(&c);
        assert_int_equal(rc, 0);
        assert_int_equal(bad, 1);
        if (cause != with_lf)
            fail_msg("'k\\t2000,5,' at the buffer's end followed in memory by '%c': cause '%s', "
                     "with an LF '%s'",
                     after[i], mrc_bad_cause_text((enum mrc_bad_cause)cause),
                     mrc_bad_cause_text((enum mrc_bad_cause)with_lf));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats_and_values),
        cmocka_unit_test(test_long_keys),
        cmocka_unit_test(test_year_range),
        cmocka_unit_test(test_select_rejects_bad_ranges),
        cmocka_unit_test(test_pos_modes),
        cmocka_unit_test(test_pos_tag_list),
        cmocka_unit_test(test_runs),
        cmocka_unit_test(test_line_ends),
        cmocka_unit_test(test_bad_causes),
        cmocka_unit_test(test_bad_log),
        cmocka_unit_test(test_strict),
        cmocka_unit_test(test_format_check),
        cmocka_unit_test(test_sum_overflow),
        cmocka_unit_test(test_overflow_of_dropped_ngrams),
        cmocka_unit_test(test_bad_locate),
        cmocka_unit_test(test_consume_not_final),
        cmocka_unit_test(test_random_exports),
        cmocka_unit_test(test_v3_entry_at_buffer_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
