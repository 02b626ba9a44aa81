/* test_tsv.c - the tsv job's field parser and consumer against hand-checked expectations:
 * key columns in any order, delimiters, empty fields, CRLF, blank lines, missing fields,
 * non-numeric, negative and too large values, the sum's overflow, --header, --strict, and the
 * same table whatever the buffer boundaries. Options are set through the job's own option
 * definitions, as the CLI sets them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mrcount/map.h"
#include "mrcount/table.h"
#include "test_util.h"
#include "tsv.h"

#define PATH "data/t.tsv"

typedef struct counter {
    mrc_job job;
    mrc_table table;
    mrc_map_ctx ctx;
    mrc_err err;
} counter;

/* A tsv job with the given options ("name", "value", ... NULL; a NULL value: a flag). */
static int counter_init(counter *c, const char *const *opts)
{
    memset(c, 0, sizeof *c);
    const mrc_job_desc *d = mrc_job_find("tsv");
    assert_non_null(d);
    void *s = mrc_job_settings_new(d);
    assert_non_null(s);
    int rc = 0;
    for (size_t i = 0; rc == 0 && opts != NULL && opts[i] != NULL; i += 2)
        rc = mrc_job_set(d, s, opts[i], opts[i + 1], &c->err);
    if (rc == 0) rc = mrc_job_select(&c->job, d, s, NULL, &c->err);
    mrc_job_settings_free(d, s);
    if (rc != 0) return rc;
    mrc_err err = {0};
    assert_int_equal(mrc_table_init(&c->table, 0, &err), 0);
    c->ctx.table = &c->table;
    c->ctx.settings = c->job.settings;
    mrc_map_ctx_piece(&c->ctx, PATH, 0, 0);
    return 0;
}

static void counter_free(counter *c)
{
    mrc_map_ctx_free(&c->ctx);
    mrc_table_free(&c->table);
}

/* The count of key (0 when absent), from a scan of the arena. */
static uint64_t count_of(const counter *c, const char *key, size_t len)
{
    for (size_t pos = 0; pos < c->table.arena_len;) {
        const mrc_rec *r = (const mrc_rec *)(const void *)(c->table.arena + pos);
        if (r->len == len && memcmp(r->key, key, len) == 0) return r->count;
        pos += mrc_rec_size(r->len);
    }
    return 0;
}

#define COUNT(c, lit) count_of((c), (lit), sizeof(lit) - 1)

/* Feed text in pieces of `step` bytes the way the reader does (unconsumed bytes come again). */
static int feed(counter *c, const char *text, size_t step)
{
    size_t len = strlen(text), done = 0;
    while (done < len) {
        size_t have = len - done;
        bool final = false;
        size_t n = step;
        for (;;) {
            if (n >= have) {
                n = have;
                final = true;
            }
            char *b = malloc(n ? n : 1); /* exact size: ASan sees a read past the end */
            memcpy(b, text + done, n);
            long long used =
                c->job.consume(&c->ctx, (const unsigned char *)b, n, SIZE_MAX, final, &c->err);
            free(b);
            if (used < 0) return c->err.code ? c->err.code : -1;
            if (final || used > 0) {
                done += (size_t)used;
                break;
            }
            n *= 2; /* no whole line in the buffer: the reader grows it */
        }
    }
    return 0;
}

static void test_counts_lines_by_first_column(void **state)
{
    (void)state;
    counter c;
    assert_int_equal(counter_init(&c, NULL), 0);
    assert_int_equal(feed(&c, "a\tx\nb\ty\na\tz\n\nb\n", 1 << 20), 0);
    assert_int_equal(COUNT(&c, "a"), 2);
    assert_int_equal(COUNT(&c, "b"), 2);
    assert_int_equal(c.table.used, 2); /* the blank line is skipped, not a key */
    assert_int_equal(c.ctx.records, 5); /* lines read, the blank one too (as the ngram job) */
    assert_int_equal(c.ctx.bad.total, 0);
    counter_free(&c);
}

static void test_key_columns_in_order_and_sum(void **state)
{
    (void)state;
    counter c;
    const char *const o[] = {"key-columns", "3,1", "value-column", "2", NULL};
    assert_int_equal(counter_init(&c, o), 0);
    assert_int_equal(feed(&c,
                          "a\t5\tx\n"
                          "a\t7\tx\n"
                          "b\t1\tx\n"
                          "a\t18446744073709551614\ty\n",
                          1 << 20),
                     0);
    assert_int_equal(COUNT(&c, "x\ta"), 12);
    assert_int_equal(COUNT(&c, "x\tb"), 1);
    assert_int_equal(COUNT(&c, "y\ta"), 18446744073709551614ull);
    assert_int_equal(c.table.used, 3);
    counter_free(&c);
}

static void test_empty_fields_and_crlf(void **state)
{
    (void)state;
    counter c;
    const char *const o[] = {"key-columns", "1,2", "value-column", "3", NULL};
    assert_int_equal(counter_init(&c, o), 0);
    assert_int_equal(feed(&c, "\t\t4\r\na\t\t5\r\n\tb\t6\n\r\n", 1 << 20), 0);
    assert_int_equal(COUNT(&c, "\t"), 4);  /* two empty fields */
    assert_int_equal(COUNT(&c, "a\t"), 5); /* the CR is not part of the value */
    assert_int_equal(COUNT(&c, "\tb"), 6);
    assert_int_equal(c.table.used, 3);
    assert_int_equal(c.ctx.bad.total, 0); /* "\r\n" alone is a blank line */
    counter_free(&c);
}

static void test_other_delimiters(void **state)
{
    (void)state;
    static const struct {
        const char *opt, *text;
    } cases[] = {{",", "k,3\nk,4\nj,1\n"},      {"comma", "k,3\nk,4\nj,1\n"},
                 {"space", "k 3\nk 4\nj 1\n"},  {";", "k;3\nk;4\nj;1\n"},
                 {"pipe", "k|3\nk|4\nj|1\n"},   {"\\t", "k\t3\nk\t4\nj\t1\n"},
                 {"tab", "k\t3\nk\t4\nj\t1\n"}, {"TAB", "k\t3\nk\t4\nj\t1\n"},
                 {"Comma", "k,3\nk,4\nj,1\n"},  {"SEMICOLON", "k;3\nk;4\nj;1\n"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        counter c;
        const char *const o[] = {"delimiter", cases[i].opt, "value-column", "2", NULL};
        assert_int_equal(counter_init(&c, o), 0);
        assert_int_equal(feed(&c, cases[i].text, 1 << 20), 0);
        assert_int_equal(COUNT(&c, "k"), 7);
        assert_int_equal(COUNT(&c, "j"), 1);
        counter_free(&c);
    }
    /* with a comma, a TAB is data */
    counter c;
    const char *const o[] = {"delimiter", ",", NULL};
    assert_int_equal(counter_init(&c, o), 0);
    assert_int_equal(feed(&c, "a\tb,c\n", 1 << 20), 0);
    assert_int_equal(COUNT(&c, "a\tb"), 1);
    counter_free(&c);
}

/* CSV quoting (--quote, '"' by default with a delimiter other than TAB), as Python's csv module
 * reads a line: a delimiter inside quotes is data, "" is one quote, text after the closing quote
 * is the field's, a quote inside an unquoted field is data; a quoted value is a number; a quoted
 * field not closed on its line is a bad record (quote), as is a value that is not a number once
 * unquoted. Any buffer size gives the same table. */
static void test_quoted_fields(void **state)
{
    (void)state;
    static const char text[] = "\"a,b\",2\n"            /* a,b */
                               "\"a\"\"b\",3\n"         /* a"b */
                               "\"ab\"c,4\n"            /* abc */
                               "ab\"c,5\n"              /* ab"c */
                               "\"\",6\n"               /* the empty key */
                               "x,\"7\"\n"              /* a quoted value */
                               "\"x\",8\r\n"            /* x again */
                               "\"open,9\n"             /* not closed: bad */
                               "y,\"1\"\"0\"\n"         /* 1"0: bad value */
                               "\"q\"\"\",\"1\"\"\"\n"; /* q" and 1": bad value */
    for (size_t step = 1; step <= 64; step *= 4) {
        counter c;
        const char *const o[] = {"delimiter", ",", "value-column", "2", NULL};
        assert_int_equal(counter_init(&c, o), 0);
        assert_int_equal(feed(&c, text, step), 0);
        assert_int_equal(COUNT(&c, "a,b"), 2);
        assert_int_equal(COUNT(&c, "a\"b"), 3);
        assert_int_equal(COUNT(&c, "abc"), 4);
        assert_int_equal(COUNT(&c, "ab\"c"), 5);
        assert_int_equal(COUNT(&c, ""), 6);
        assert_int_equal(COUNT(&c, "x"), 15);
        assert_int_equal(c.table.used, 6);
        assert_int_equal(c.ctx.bad.total, 3);
        assert_int_equal(c.ctx.bad.nsamples, 3); /* in file order: lines 8, 9, 10 */
        assert_int_equal(c.ctx.bad.samples[0].cause, MRC_BAD_QUOTE);
        assert_int_equal(c.ctx.bad.samples[1].cause, MRC_BAD_VALUE);
        assert_int_equal(c.ctx.bad.samples[2].cause, MRC_BAD_VALUE);
        counter_free(&c);
    }
    /* TAB: quotes are data unless asked for; --quote none with a comma */
    counter c;
    assert_int_equal(counter_init(&c, NULL), 0);
    assert_int_equal(feed(&c, "\"a\"\t1\n\"a\n", 1 << 20), 0);
    assert_int_equal(COUNT(&c, "\"a\""), 1);
    assert_int_equal(COUNT(&c, "\"a"), 1);
    counter_free(&c);
    const char *const tq[] = {"quote", "\"", "key-columns", "1,2", NULL};
    assert_int_equal(counter_init(&c, tq), 0);
    assert_int_equal(feed(&c, "\"a\tb\"\tc\n", 1 << 20), 0);
    assert_int_equal(COUNT(&c, "a\tb\tc"), 1);
    counter_free(&c);
    const char *const none[] = {"delimiter", ",", "quote", "none", NULL};
    assert_int_equal(counter_init(&c, none), 0);
    assert_int_equal(feed(&c, "\"a,b\"\n\"open\n", 1 << 20), 0);
    assert_int_equal(COUNT(&c, "\"a"), 1);
    assert_int_equal(COUNT(&c, "\"open"), 1);
    assert_int_equal(c.ctx.bad.total, 0);
    counter_free(&c);
    const char *const dq[] = {"delimiter", "\"", "value-column", "2", NULL}; /* auto: none */
    assert_int_equal(counter_init(&c, dq), 0);
    assert_int_equal(feed(&c, "a\"1\n\"a\"2\n", 1 << 20), 0);
    assert_int_equal(COUNT(&c, "a"), 1);
    assert_int_equal(COUNT(&c, ""), 0); /* "a"2: the empty first field, then a: bad value */
    assert_int_equal(c.ctx.bad.total, 1);
    counter_free(&c);
    const char *const single[] = {"delimiter", ";", "quote", "'", NULL};
    assert_int_equal(counter_init(&c, single), 0);
    assert_int_equal(feed(&c, "'a;''b'\n\"a\n", 1 << 20), 0);
    assert_int_equal(COUNT(&c, "a;'b"), 1);
    assert_int_equal(COUNT(&c, "\"a"), 1);
    counter_free(&c);
}

/* A column named several times in the key, on a line longer than any scratch buffer before it:
 * the key is as long as its parts (the scratch grows to it). */
static void test_repeated_key_column_on_a_long_line(void **state)
{
    (void)state;
    size_t n = 300000;
    char *line = malloc(n + 2);
    assert_non_null(line);
    for (size_t i = 0; i < n; i++)
        line[i] = (char)('a' + i % 26);
    line[n] = '\n';
    line[n + 1] = '\0';
    char *key = malloc(3 * n + 2);
    assert_non_null(key);
    for (size_t k = 0; k < 3; k++) {
        memcpy(key + k * (n + 1), line, n);
        if (k < 2) key[k * (n + 1) + n] = '\t';
    }
    counter c;
    const char *const o[] = {"key-columns", "1,1,1", NULL};
    assert_int_equal(counter_init(&c, o), 0);
    assert_int_equal(feed(&c, line, 1 << 20), 0);
    assert_int_equal(count_of(&c, key, 3 * n + 2), 1);
    counter_free(&c);
    free(key);
    free(line);
}

static void test_bad_records_are_located(void **state)
{
    (void)state;
    counter c;
    const char *const o[] = {"key-columns", "1", "value-column", "3", NULL};
    assert_int_equal(counter_init(&c, o), 0);
    assert_int_equal(feed(&c,
                          "a\tx\t1\n"                    /* line 1: fine */
                          "a\tx\n"                       /* 2: missing columns */
                          "a\tx\tfive\n"                 /* 3: not a number */
                          "a\tx\t-3\n"                   /* 4: negative */
                          "a\tx\t18446744073709551616\n" /* 5: over 2^64-1 */
                          "a\tx\t\n"                     /* 6: empty value */
                          "a\tx\t 7\n"                   /* 7: a space is not a digit */
                          "a\tx\t2\textra\n",            /* 8: fine (more columns are ok) */
                          1 << 20),
                     0);
    assert_int_equal(COUNT(&c, "a"), 3);
    assert_int_equal(c.ctx.records, 8); /* lines read, the malformed ones too */
    assert_int_equal(c.ctx.bad.total, 6);
    assert_int_equal(c.ctx.bad.nsamples, MRC_BAD_SAMPLES);
    static const int causes[] = {MRC_BAD_COLUMNS, MRC_BAD_VALUE, MRC_BAD_VALUE_NEGATIVE,
                                 MRC_BAD_VALUE_RANGE, MRC_BAD_VALUE};
    for (size_t i = 0; i < MRC_BAD_SAMPLES; i++) {
        assert_int_equal(c.ctx.bad.samples[i].cause, causes[i]);
        assert_int_equal(c.ctx.bad.samples[i].piece_line, i + 1); /* lines 2.. */
    }
    counter_free(&c);
}

static void test_strict_names_file_and_line(void **state)
{
    (void)state;
    counter c;
    const char *const o[] = {"value-column", "2", "strict", NULL, NULL};
    assert_int_equal(counter_init(&c, o), 0);
    assert_int_equal(feed(&c, "a\t1\nb\t2\nc\n", 1 << 20), MRC_EINVAL);
    assert_string_equal(c.err.msg, PATH ":3: missing columns");
    counter_free(&c);
    /* a bad value is named as the tsv job's value (the ngram job's is its match count) */
    const char *const bad[][2] = {{"c\tfive\n", "value is not a number"},
                                  {"c\t-5\n", "negative value"},
                                  {"c\t18446744073709551616\n", "value over 2^64-1"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[64], want[128];
        assert_int_equal(counter_init(&c, o), 0);
        snprintf(text, sizeof text, "a\t1\n%s", bad[i][0]);
        snprintf(want, sizeof want, PATH ":2: %s", bad[i][1]);
        assert_int_equal(feed(&c, text, 1 << 20), MRC_EINVAL);
        assert_string_equal(c.err.msg, want);
        counter_free(&c);
    }
}

static void test_sum_overflow_is_an_error(void **state)
{
    (void)state;
    counter c;
    const char *const o[] = {"value-column", "2", NULL};
    assert_int_equal(counter_init(&c, o), 0);
    assert_int_equal(feed(&c, "big\t18446744073709551615\nbig\t1\n", 1 << 20), MRC_EOVERFLOW);
    assert_non_null(strstr(c.err.msg, PATH));
    assert_non_null(strstr(c.err.msg, "'big'"));
    counter_free(&c);
}

/* Keys of every length from 1 byte to past the add queue's copy limit (4096) and their bytes
 * past its buffer (64 KiB), many more keys than it holds: key i (its number, then filler) on
 * i % 3 + 1 lines of value i % 5, so its sum is (i % 3 + 1) * (i % 5), whatever the buffer
 * size (a sum of 0 is still a key). */
static void test_keys_of_any_length_through_the_queue(void **state)
{
    (void)state;
    enum { KEYS = 700, MAXLEN = 6000 };
    size_t cap = (size_t)KEYS * 3 * (MAXLEN + 16), len = 0;
    char *text = malloc(cap), *key = malloc(MAXLEN + 1);
    assert_non_null(text);
    assert_non_null(key);
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < KEYS; i++) {
            if (i % 3 < pass) continue;
            size_t kl = (size_t)(i * 389 % MAXLEN) + 6;
            int n = snprintf(key, 7, "%06d", i);
            assert_int_equal(n, 6);
            for (size_t j = 6; j < kl; j++)
                key[j] = (char)('a' + (i + j) % 26);
            memcpy(text + len, key, kl);
            len += kl;
            len += (size_t)snprintf(text + len, cap - len, "\t%d\n", i % 5);
        }
    text[len] = '\0';
    const size_t steps[] = {1 << 20, 4096};
    for (size_t s = 0; s < 2; s++) {
        counter c;
        const char *const o[] = {"value-column", "2", NULL};
        assert_int_equal(counter_init(&c, o), 0);
        assert_int_equal(feed(&c, text, steps[s]), 0);
        assert_int_equal(c.table.used, KEYS);
        for (int i = 0; i < KEYS; i++) {
            size_t kl = (size_t)(i * 389 % MAXLEN) + 6;
            snprintf(key, 7, "%06d", i);
            for (size_t j = 6; j < kl; j++)
                key[j] = (char)('a' + (i + j) % 26);
            uint64_t want = (uint64_t)(i % 3 + 1) * (uint64_t)(i % 5);
            if (count_of(&c, key, kl) != want)
                fail_msg("key %d (%zu bytes): %llu, want %llu", i, kl,
                         (unsigned long long)count_of(&c, key, kl), (unsigned long long)want);
        }
        counter_free(&c);
    }
    /* a call that is not the last returns with its whole lines in the table (the queue is
     * emptied before it returns: a spill or a checkpoint between calls sees every count) */
    counter c;
    const char *const o2[] = {"value-column", "2", NULL};
    assert_int_equal(counter_init(&c, o2), 0);
    size_t cut = (size_t)(strrchr(text, '\n') - text) - 3; /* inside the last line */
    long long used =
        c.job.consume(&c.ctx, (const unsigned char *)text, cut, SIZE_MAX, false, &c.err);
    assert_true(used > 0 && (size_t)used < cut);
    assert_int_equal(c.table.used, KEYS); /* every key has a whole line before the cut */
    counter_free(&c);
    free(key);
    free(text);
}

static void test_header_skips_first_line_of_file_only(void **state)
{
    (void)state;
    counter c;
    const char *const o[] = {"header", NULL, "value-column", "2", NULL};
    assert_int_equal(counter_init(&c, o), 0);
    assert_int_equal(feed(&c, "name\tcount\nk\t3\n", 1 << 20), 0);
    assert_int_equal(COUNT(&c, "k"), 3);
    assert_int_equal(COUNT(&c, "name"), 0);
    assert_int_equal(c.ctx.bad.total, 0);
    /* a piece that does not start the file has no header */
    mrc_map_ctx_piece(&c.ctx, PATH, 0, 4096);
    assert_int_equal(feed(&c, "k\t4\n", 1 << 20), 0);
    assert_int_equal(COUNT(&c, "k"), 7);
    counter_free(&c);
}

static void test_same_table_for_any_buffer_size(void **state)
{
    (void)state;
    rng_seed(7);
    char *text = malloc(200000);
    size_t n = 0;
    while (n < 190000) {
        n += (size_t)snprintf(text + n, 200000 - n, "k%zu\t%zu\t%s\r\n", rng_below(50),
                              rng_below(1000), rng_below(10) ? "x" : "");
        if (rng_below(20) == 0) text[n++] = '\n';
    }
    text[n] = '\0';
    const char *const o[] = {"value-column", "2", NULL};
    counter whole;
    assert_int_equal(counter_init(&whole, o), 0);
    assert_int_equal(feed(&whole, text, n), 0);
    static const size_t steps[] = {1, 3, 7, 64, 4096};
    for (size_t s = 0; s < sizeof steps / sizeof *steps; s++) {
        counter c;
        assert_int_equal(counter_init(&c, o), 0);
        assert_int_equal(feed(&c, text, steps[s]), 0);
        assert_int_equal(c.table.used, whole.table.used);
        for (int k = 0; k < 50; k++) {
            char key[16];
            int len = snprintf(key, sizeof key, "k%d", k);
            assert_int_equal(count_of(&c, key, (size_t)len), count_of(&whole, key, (size_t)len));
        }
        counter_free(&c);
    }
    counter_free(&whole);
    free(text);
}

static void test_option_values(void **state)
{
    (void)state;
    counter c;
    static const char *const bad[][2] = {
        {"key-columns", "0"},   {"key-columns", "1,,2"}, {"key-columns", "a"},
        {"key-columns", ""},    {"key-columns", "1,"},   {"key-columns", "65536"},
        {"delimiter", "ab"},    {"delimiter", "\n"},     {"delimiter", ""},
        {"value-column", "-1"}, {"value-column", "x"},   {"value-column", "65536"},
        {"quote", "ab"},        {"quote", "\n"},         {"quote", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *const o[] = {bad[i][0], bad[i][1], NULL};
        assert_int_equal(counter_init(&c, o), MRC_EINVAL);
        assert_non_null(strstr(c.err.msg, bad[i][0]));
    }
    /* "delimiter = ;" in an INI file reaches the option empty (inih took the ';' for a
     * comment): the message says so */
    const char *const empty[] = {"delimiter", "", NULL};
    assert_int_equal(counter_init(&c, empty), MRC_EINVAL);
    assert_non_null(strstr(c.err.msg, "a ';' after a space starts a comment: write 'semicolon'"));
    const char *const same[] = {"delimiter", ";", "quote", ";", NULL};
    assert_int_equal(counter_init(&c, same), MRC_EINVAL);
    assert_non_null(strstr(c.err.msg, "--quote: ';' is the --delimiter too"));
    const char *const tabs[] = {"quote", "\t", NULL};
    assert_int_equal(counter_init(&c, tabs), MRC_EINVAL);
    assert_non_null(strstr(c.err.msg, "--quote: byte 9 is the --delimiter too"));
    const char *const many[] = {"key-columns",
                                "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,"
                                "20,21,22,23,24,25,26,27,28,29,30,31,32,33",
                                NULL};
    assert_int_equal(counter_init(&c, many), MRC_EINVAL);
    const char *const dup[] = {"key-columns", "2,2", NULL};
    assert_int_equal(counter_init(&c, dup), 0);
    assert_int_equal(feed(&c, "a\tb\n", 1 << 20), 0);
    assert_int_equal(COUNT(&c, "b\tb"), 1);
    counter_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_lines_by_first_column),
        cmocka_unit_test(test_key_columns_in_order_and_sum),
        cmocka_unit_test(test_empty_fields_and_crlf),
        cmocka_unit_test(test_other_delimiters),
        cmocka_unit_test(test_quoted_fields),
        cmocka_unit_test(test_repeated_key_column_on_a_long_line),
        cmocka_unit_test(test_bad_records_are_located),
        cmocka_unit_test(test_strict_names_file_and_line),
        cmocka_unit_test(test_sum_overflow_is_an_error),
        cmocka_unit_test(test_keys_of_any_length_through_the_queue),
        cmocka_unit_test(test_header_skips_first_line_of_file_only),
        cmocka_unit_test(test_same_table_for_any_buffer_size),
        cmocka_unit_test(test_option_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
