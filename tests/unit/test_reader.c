/* test_reader.c - the streaming reader against an oracle: for any placement of range
 * boundaries, reading the ranges one by one yields exactly the records of the whole file
 * (first-byte ownership), with tiny and large buffers; plus gzip members, truncation,
 * corruption, shrunk files, stop requests and error messages. It must never depend on timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bzlib.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <cmocka.h>

#include "test_util.h"

#include "mrcount/input.h"

/* ---- record rules ---- */

static unsigned char words_delim[256];
static unsigned char lines_delim[256];

static void init_rules(void)
{
    memset(words_delim, 0, sizeof words_delim);
    const char *ws = " \t\n\v\f\r";
    for (const char *p = ws; *p; p++)
        words_delim[(unsigned char)*p] = 1;
    memset(lines_delim, 0, sizeof lines_delim);
    lines_delim['\n'] = 1;
}

/* ---- a token-collecting consumer ---- */

typedef struct tokvec {
    unsigned char **s;
    size_t *len;
    size_t n, cap;
} tokvec;

static void tokvec_push(tokvec *v, const unsigned char *p, size_t n)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 64;
        v->s = realloc(v->s, v->cap * sizeof *v->s);
        v->len = realloc(v->len, v->cap * sizeof *v->len);
        assert_non_null(v->s);
        assert_non_null(v->len);
    }
    v->s[v->n] = malloc(n ? n : 1);
    assert_non_null(v->s[v->n]);
    memcpy(v->s[v->n], p, n);
    v->len[v->n++] = n;
}

static void tokvec_free(tokvec *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->s[i]);
    free(v->s);
    free(v->len);
    memset(v, 0, sizeof *v);
}

typedef struct collect_ctx {
    tokvec *out;
    const unsigned char *delim;
    int finals;      /* calls with final=true: must be exactly one per run */
    int after_final; /* calls after the final one: must be none */
    int fail;        /* return -1 on the first call */
} collect_ctx;

static long long collect_consume(void *vctx, const unsigned char *buf, size_t len, size_t owned,
                                 bool final, mrc_err *err)
{
    collect_ctx *c = vctx;
    if (owned != SIZE_MAX) fail_msg("owned %zu given to a consumer without lookahead", owned);
    if (c->finals > 0) c->after_final++;
    if (c->fail) {
        mrc_err_set(err, MRC_EINVAL, "test consumer refused");
        return -1;
    }
    size_t i = 0;
    while (i < len) {
        while (i < len && c->delim[buf[i]])
            i++;
        if (i == len) break;
        size_t start = i;
        while (i < len && !c->delim[buf[i]])
            i++;
        if (i == len && !final) return (long long)start; /* unfinished record: left to the reader */
        tokvec_push(c->out, buf + start, i - start);
    }
    if (final) c->finals++;
    return (long long)len;
}

static void oracle_tokens(const unsigned char *data, size_t n, const unsigned char *delim,
                          tokvec *out)
{
    collect_ctx c = {.out = out, .delim = delim};
    mrc_err err = {0};
    assert_int_equal(collect_consume(&c, data, n, SIZE_MAX, true, &err), (long long)n);
}

static int cmp_tok(const void *a, const void *b, const tokvec *v)
{
    size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
    size_t la = v->len[ia], lb = v->len[ib];
    int c = memcmp(v->s[ia], v->s[ib], la < lb ? la : lb);
    if (c != 0) return c;
    return la < lb ? -1 : la > lb;
}

static const tokvec *sort_vec;

static int cmp_tok_qsort(const void *a, const void *b)
{
    return cmp_tok(a, b, sort_vec);
}

/* The same tokens in the same order. */
static void assert_same_tokens(const tokvec *got, const tokvec *want)
{
    assert_int_equal(got->n, want->n);
    for (size_t i = 0; i < want->n; i++) {
        assert_int_equal(got->len[i], want->len[i]);
        assert_memory_equal(got->s[i], want->s[i], want->len[i]);
    }
}

/* Multiset equality: sort index arrays of both and compare element-wise. */
static void assert_same_multiset(const tokvec *a, const tokvec *b)
{
    assert_int_equal(a->n, b->n);
    size_t *ia = malloc((a->n + 1) * sizeof *ia), *ib = malloc((b->n + 1) * sizeof *ib);
    assert_non_null(ia);
    assert_non_null(ib);
    for (size_t i = 0; i < a->n; i++)
        ia[i] = ib[i] = i;
    sort_vec = a;
    qsort(ia, a->n, sizeof *ia, cmp_tok_qsort);
    sort_vec = b;
    qsort(ib, b->n, sizeof *ib, cmp_tok_qsort);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->len[ia[i]], b->len[ib[i]]);
        assert_memory_equal(a->s[ia[i]], b->s[ib[i]], a->len[ia[i]] ? a->len[ia[i]] : 1);
    }
    free(ia);
    free(ib);
}

/* ---- temp files ---- */

static char tmpdir[64];

static int group_setup(void **state)
{
    (void)state;
    init_rules();
    return tmpdir_make(tmpdir, sizeof tmpdir, "/tmp/mrc_test_reader_XXXXXX");
}

static int group_teardown(void **state)
{
    (void)state;
    return rm_tree(tmpdir);
}

static void tmp_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n > 0) assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Random words with random whitespace runs; max_tok bounds the token length, long_every adds
 * an occasional token of up to long_len bytes (longer than tiny buffers and ranges). */
static unsigned char *make_text(size_t n, size_t max_tok, size_t long_every, size_t long_len)
{
    static const char ws[] = " \t\n\v\f\r";
    unsigned char *d = malloc(n ? n : 1);
    assert_non_null(d);
    size_t i = 0;
    if (n > 0 && rng_below(2)) d[i++] = ' ';
    while (i < n) {
        size_t tl = 1 + rng_below(max_tok);
        if (long_every && rng_below(long_every) == 0)
            tl = long_len / 2 + rng_below(long_len / 2 + 1);
        for (size_t k = 0; k < tl && i < n; k++) {
            unsigned char b;
            switch (rng_below(8)) {
            case 0:
                b = (unsigned char)(0x80 + rng_below(0x80));
                break; /* UTF-8-ish bytes */
            case 1:
                b = (unsigned char)(0x21 + rng_below(0x5e));
                break;
            case 2:
                b = rng_below(16) == 0 ? 0 : 'x';
                break; /* NUL is a byte */
            default:
                b = (unsigned char)('a' + rng_below(26));
                break;
            }
            d[i++] = b;
        }
        size_t wl = 1 + (rng_below(4) == 0 ? rng_below(4) : 0);
        for (size_t k = 0; k < wl && i < n; k++)
            d[i++] = (unsigned char)ws[rng_below(6)];
    }
    return d;
}

typedef struct range {
    uint64_t off, len;
} range;

/* Reads the file range by range with a buffer of buf_size and checks the union of the
 * records against the oracle. */
static void check_ranges(const char *path, const tokvec *expect, const range *rs, size_t nr,
                         size_t buf_size, const unsigned char *delim)
{
    tokvec got = {0};
    mrc_reader r;
    mrc_err err = {0};
    assert_int_equal(mrc_reader_init(&r, buf_size, &err), 0);
    mrc_record_rules rules = {.delim = delim};
    for (size_t i = 0; i < nr; i++) {
        collect_ctx c = {.out = &got, .delim = delim};
        int rc =
            mrc_reader_run(&r, path, rs[i].off, rs[i].len, &rules, collect_consume, &c, NULL, &err);
        if (rc != 0)
            fail_msg("range [%llu,+%llu) buf %zu: %s", (unsigned long long)rs[i].off,
                     (unsigned long long)rs[i].len, buf_size, err.msg);
        assert_int_equal(c.finals, 1);
        assert_int_equal(c.after_final, 0);
    }
    if (got.n != expect->n) {
        fprintf(stderr, "buf %zu, %zu ranges:", buf_size, nr);
        for (size_t i = 0; i < nr; i++)
            fprintf(stderr, " [%llu,+%llu)", (unsigned long long)rs[i].off,
                    (unsigned long long)rs[i].len);
        fprintf(stderr, "\n");
    }
    assert_same_multiset(expect, &got);
    mrc_reader_free(&r);
    tokvec_free(&got);
}

static const size_t buf_sizes[] = {1, 7, 64, 0 /* default 1 MiB */};
#define NBUF (sizeof buf_sizes / sizeof buf_sizes[0])

static void test_every_single_cut(void **state)
{
    (void)state;
    char path[128];
    tmp_path(path, sizeof path, "single.txt");
    size_t n = 240;
    unsigned char *d = make_text(n, 6, 8, 40);
    write_file(path, d, n);
    tokvec expect = {0};
    oracle_tokens(d, n, words_delim, &expect);
    for (size_t b = 0; b < NBUF; b++)
        for (size_t c = 0; c <= n; c++) {
            range rs[2] = {{0, c}, {c, n - c}};
            check_ranges(path, &expect, rs, 2, buf_sizes[b], words_delim);
        }
    tokvec_free(&expect);
    free(d);
}

static void test_every_pair_of_cuts(void **state)
{
    (void)state;
    char path[128];
    tmp_path(path, sizeof path, "pairs.txt");
    size_t n = 72;
    unsigned char *d = make_text(n, 5, 6, 20);
    write_file(path, d, n);
    tokvec expect = {0};
    oracle_tokens(d, n, words_delim, &expect);
    for (size_t a = 0; a <= n; a++)
        for (size_t b = a; b <= n; b++) {
            range rs[3] = {{0, a}, {a, b - a}, {b, n - b}};
            check_ranges(path, &expect, rs, 3, 7, words_delim);
            check_ranges(path, &expect, rs, 3, 2, words_delim);
        }
    tokvec_free(&expect);
    free(d);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Random cut points into consecutive ranges covering the file exactly (a range past the end of
 * the file means it shrank: test_shrunk_file_is_an_error). */
static void random_cuts_on(const char *path, const unsigned char *d, size_t n,
                           const unsigned char *delim, int trials)
{
    tokvec expect = {0};
    oracle_tokens(d, n, delim, &expect);
    uint64_t cuts[130];
    range rs[130];
    for (int t = 0; t < trials; t++) {
        size_t k = rng_below(t % 3 == 0 ? 128 : 12);
        for (size_t i = 0; i < k; i++)
            cuts[i] = rng_below(n + 1);
        qsort(cuts, k, sizeof *cuts, cmp_u64);
        uint64_t prev = 0;
        for (size_t i = 0; i < k; i++) {
            rs[i] = (range){prev, cuts[i] - prev};
            prev = cuts[i];
        }
        rs[k] = (range){prev, n - prev};
        for (size_t b = 0; b < NBUF; b++)
            check_ranges(path, &expect, rs, k + 1, buf_sizes[b], delim);
    }
    tokvec_free(&expect);
}

static void test_random_cuts_words(void **state)
{
    (void)state;
    char path[128];
    tmp_path(path, sizeof path, "random.txt");
    for (int round = 0; round < 4; round++) {
        size_t n = 3000 + rng_below(20000);
        unsigned char *d = make_text(n, 12, 40, 3000);
        write_file(path, d, n);
        random_cuts_on(path, d, n, words_delim, 60);
        free(d);
    }
}

static void test_random_cuts_lines(void **state)
{
    (void)state;
    char path[128];
    tmp_path(path, sizeof path, "lines.txt");
    size_t n = 8000;
    unsigned char *d = make_text(n, 12, 30, 500);
    write_file(path, d, n);
    random_cuts_on(path, d, n, lines_delim, 80);
    free(d);
}

static void test_no_trailing_delimiter_and_edges(void **state)
{
    (void)state;
    char path[128];
    tmp_path(path, sizeof path, "edge.txt");
    const char *cases[] = {"", "a", "   ", "abc", "abc def", " abc", "abc ", "a b c d e f g"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t n = strlen(cases[i]);
        write_file(path, cases[i], n);
        tokvec expect = {0};
        oracle_tokens((const unsigned char *)cases[i], n, words_delim, &expect);
        for (size_t c = 0; c <= n; c++) {
            range rs[2] = {{0, c}, {c, n - c}};
            check_ranges(path, &expect, rs, 2, 1, words_delim);
            check_ranges(path, &expect, rs, 2, 0, words_delim);
        }
        tokvec_free(&expect);
    }
}

static void test_buffer_grows_only_for_long_records(void **state)
{
    (void)state;
    char path[128];
    tmp_path(path, sizeof path, "short.txt");
    const char *text = "ab cd ef gh ij kl mn op qr st uv wx yz ab cd ef gh";
    write_file(path, text, strlen(text));
    mrc_reader r;
    mrc_err err = {0};
    assert_int_equal(mrc_reader_init(&r, 7, &err), 0);
    tokvec got = {0};
    collect_ctx c = {.out = &got, .delim = words_delim};
    mrc_record_rules rules = {.delim = words_delim};
    assert_int_equal(
        mrc_reader_run(&r, path, 0, strlen(text), &rules, collect_consume, &c, NULL, &err), 0);
    assert_int_equal(r.cap, 7);
    assert_int_equal(got.n, 17);
    assert_int_equal(r.bytes_read, strlen(text));
    tokvec_free(&got);

    const char *longtok = "x abcdefghijklmnopqrstuvwxyz y";
    write_file(path, longtok, strlen(longtok));
    c = (collect_ctx){.out = &got, .delim = words_delim};
    assert_int_equal(
        mrc_reader_run(&r, path, 0, strlen(longtok), &rules, collect_consume, &c, NULL, &err), 0);
    assert_true(r.cap >= 26);
    assert_int_equal(got.n, 3);
    assert_int_equal(got.len[1], 26);
    tokvec_free(&got);
    mrc_reader_free(&r);
}

/* The range ends inside a record: only that record is finished, nothing after it is passed. */
static void test_tail_stops_at_first_delimiter(void **state)
{
    (void)state;
    char path[128];
    tmp_path(path, sizeof path, "tail.txt");
    const char *text = "alpha beta gamma delta";
    write_file(path, text, strlen(text));
    mrc_reader r;
    mrc_err err = {0};
    assert_int_equal(mrc_reader_init(&r, 0, &err), 0);
    mrc_record_rules rules = {.delim = words_delim};
    tokvec got = {0};
    collect_ctx c = {.out = &got, .delim = words_delim};
    /* [3, 8): "ha be" -> skips the tail of alpha, owns beta only */
    assert_int_equal(mrc_reader_run(&r, path, 3, 5, &rules, collect_consume, &c, NULL, &err), 0);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.len[0], 4);
    assert_memory_equal(got.s[0], "beta", 4);
    tokvec_free(&got);
    /* [7, 9): inside beta, no record starts here */
    c = (collect_ctx){.out = &got, .delim = words_delim};
    assert_int_equal(mrc_reader_run(&r, path, 7, 2, &rules, collect_consume, &c, NULL, &err), 0);
    assert_int_equal(got.n, 0);
    assert_int_equal(c.finals, 1);
    tokvec_free(&got);
    mrc_reader_free(&r);
}

/* Reads [off, off+len) of path with a buffer of buf_size; @return the status, err filled. */
static int read_range_status(const char *path, uint64_t off, uint64_t len, size_t buf_size,
                             size_t *ntok, mrc_err *err)
{
    mrc_reader r;
    assert_int_equal(mrc_reader_init(&r, buf_size, err), 0);
    mrc_record_rules rules = {.delim = words_delim};
    tokvec got = {0};
    collect_ctx c = {.out = &got, .delim = words_delim};
    int rc = mrc_reader_run(&r, path, off, len, &rules, collect_consume, &c, NULL, err);
    *ntok = got.n;
    tokvec_free(&got);
    mrc_reader_free(&r);
    return rc;
}

/* A split lies within the file's size at discovery: a file that ends before the split does
 * shrank since, and counting what is left would be a silently short table. Each way of meeting
 * the early end (the byte before the range, the skip of a partial record, the main read) is an
 * error naming the file and both sizes; ranges within the file still read normally. */
static void test_shrunk_file_is_an_error(void **state)
{
    (void)state;
    char path[128];
    tmp_path(path, sizeof path, "shrunk.txt");
    write_file(path, "one two three", 13); /* planned for a 1000-byte file */
    static const struct {
        uint64_t off, len;
    } cases[] = {{0, 1000}, {4, 996}, {9, 991} /* inside "three" */, {500, 500}, {13, 987}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (size_t b = 0; b < NBUF; b++) {
            mrc_err err = {0};
            size_t ntok;
            int rc = read_range_status(path, cases[i].off, cases[i].len, buf_sizes[b], &ntok, &err);
            if (rc != MRC_EIO)
                fail_msg("[%llu,+%llu) buf %zu: status %d (%s), expected an error",
                         (unsigned long long)cases[i].off, (unsigned long long)cases[i].len,
                         buf_sizes[b], rc, err.msg);
            char want[256];
            snprintf(want, sizeof want,
                     "%s: file shrank while being read (expected at least 1000 bytes, found 13)",
                     path);
            assert_string_equal(err.msg, want);
        }
    /* ranges that end at or before the end of the file are not an error */
    mrc_err err = {0};
    size_t ntok;
    assert_int_equal(read_range_status(path, 0, 13, 4, &ntok, &err), 0);
    assert_int_equal(ntok, 3);
    assert_int_equal(read_range_status(path, 4, 9, 4, &ntok, &err), 0);
    assert_int_equal(ntok, 2);
    assert_int_equal(read_range_status(path, 13, 0, 4, &ntok, &err), 0);
    assert_int_equal(ntok, 0);
    assert_int_equal(err.code, 0);
}

/* A path that was a regular file at discovery and is now a FIFO, a socket or a directory is an
 * error for every reader, never a wait for a writer: alarm() turns a hang into a failure. */
static void test_no_longer_a_regular_file_is_an_error(void **state)
{
    (void)state;
    alarm(20);
    char fifo[128], dir[128];
    tmp_path(fifo, sizeof fifo, "now-a-fifo.txt");
    tmp_path(dir, sizeof dir, "now-a-dir.txt");
    assert_int_equal(mkfifo(fifo, 0644), 0);
    assert_int_equal(mkdir(dir, 0755), 0);
    const char *paths[] = {fifo, dir};
    mrc_reader r;
    mrc_err err = {0};
    assert_int_equal(mrc_reader_init(&r, 0, &err), 0);
    mrc_record_rules rules = {.delim = words_delim};
    for (size_t i = 0; i < 2; i++) {
        char want[256];
        snprintf(want, sizeof want, "%s: no longer a regular file (replaced since discovery)",
                 paths[i]);
        tokvec got = {0};
        collect_ctx c = {.out = &got, .delim = words_delim};
        memset(&err, 0, sizeof err);
        assert_int_not_equal(
            mrc_reader_run(&r, paths[i], 0, 10, &rules, collect_consume, &c, NULL, &err), 0);
        assert_string_equal(err.msg, want);
        memset(&err, 0, sizeof err);
        assert_int_not_equal(
            mrc_reader_run_gz(&r, paths[i], 0, &rules, collect_consume, &c, NULL, &err), 0);
        assert_string_equal(err.msg, want);
        memset(&err, 0, sizeof err);
        uint64_t lines;
        assert_int_not_equal(mrc_input_count_newlines(paths[i], 10, UINT64_MAX, &lines, &err), 0);
        assert_string_equal(err.msg, want);
        assert_int_equal(got.n, 0);
        assert_int_equal(c.finals, 0);
    }
    mrc_reader_free(&r);
    unlink(fifo);
    rmdir(dir);
    alarm(0);
}

static void test_errors_name_the_file(void **state)
{
    (void)state;
    char path[128];
    tmp_path(path, sizeof path, "does-not-exist.txt");
    mrc_reader r;
    mrc_err err = {0};
    assert_int_equal(mrc_reader_init(&r, 0, &err), 0);
    mrc_record_rules rules = {.delim = words_delim};
    tokvec got = {0};
    collect_ctx c = {.out = &got, .delim = words_delim};
    assert_int_equal(mrc_reader_run(&r, path, 0, 10, &rules, collect_consume, &c, NULL, &err),
                     MRC_EIO);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "No such file"));

    memset(&err, 0, sizeof err);
    assert_int_not_equal(mrc_reader_run_gz(&r, path, 0, &rules, collect_consume, &c, NULL, &err),
                         0);
    assert_non_null(strstr(err.msg, path));

    /* a consumer failure comes back as the consumer's own message */
    tmp_path(path, sizeof path, "ok.txt");
    write_file(path, "a b c\n", 6);
    memset(&err, 0, sizeof err);
    c = (collect_ctx){.out = &got, .delim = words_delim, .fail = 1};
    assert_int_not_equal(mrc_reader_run(&r, path, 0, 6, &rules, collect_consume, &c, NULL, &err),
                         0);
    assert_string_equal(err.msg, "test consumer refused");

    /* a stop request ends the read with MRC_EINTR */
    mrc_stop stop = 1;
    memset(&err, 0, sizeof err);
    c = (collect_ctx){.out = &got, .delim = words_delim};
    assert_int_equal(mrc_reader_run(&r, path, 0, 6, &rules, collect_consume, &c, &stop, &err),
                     MRC_EINTR);
    assert_non_null(strstr(err.msg, path));
    memset(&err, 0, sizeof err);
    assert_int_equal(mrc_reader_run_gz(&r, path, 0, &rules, collect_consume, &c, &stop, &err),
                     MRC_EINTR);
    tokvec_free(&got);
    mrc_reader_free(&r);
}

/* A plain file that starts with a compressed format's signature is refused by every piece of
 * it (the one at its start and any other: whichever a rank maps first, a resumed run's too),
 * naming the file and the format; text that starts with a signature's first bytes only, and
 * the signatures further in, are data. */
static void test_compressed_data_is_an_error(void **state)
{
    (void)state;
    static const struct {
        const char *said;
        size_t n;
        const char *bytes;
    } sigs[] = {
        {"bzip2-compressed", 10, "BZh91AY&SY"},
        {"bzip2-compressed", 10, "BZh1\x17\x72\x45\x38\x50\x90"},
        {"xz-compressed", 6, "\xfd\x37zXZ\0"}, /* \x37: '7' */
        {"zstd-compressed", 4, "\x28\xb5\x2f\xfd"},
        {"zstd/lz4-compressed", 4, "\x5e\x2a\x4d\x18"}, /* a skippable frame */
        /* pzstd's: a skippable frame of 4 bytes, then a zstd frame */
        {"zstd-compressed data in a file whose name does not end in .zst", 16,
         "\x50\x2a\x4d\x18\x04\0\0\0\x69\x56\0\0\x28\xb5\x2f\xfd"},
        {"lz4-compressed", 4, "\x04\x22\x4d\x18"},
        {"lz4-compressed", 4, "\x02\x21\x4c\x18"}, /* lz4 -l */
        {"a zip archive", 4, "PK\x03\x04"},
        {"a 7z archive", 6, "7z\xbc\xaf\x27\x1c"},
        {"does not end in .gz", 4, "\x1f\x8b\x08\x00"},
        {"UTF-32 text", 4, "\xff\xfe\0\0"},
        {"UTF-32 text", 4, "\0\0\xfe\xff"},
        {"UTF-16 text", 4, "\xff\xfeh\0"},
        {"UTF-16 text", 4, "\xfe\xff\0h"},
    };
    char path[128];
    tmp_path(path, sizeof path, "packed.dat");
    unsigned char buf[64];
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        memcpy(buf, sigs[i].bytes, sigs[i].n);
        memcpy(buf + sigs[i].n, " tail words\n", 12);
        size_t n = sigs[i].n + 12;
        write_file(path, buf, n);
        /* the piece at the start, one shorter than the signature, one further in */
        static const uint64_t at[][2] = {{0, 64}, {0, 2}, {3, 64}, {12, 64}};
        for (size_t k = 0; k < sizeof at / sizeof *at; k++) {
            mrc_err err = {0};
            size_t ntok;
            uint64_t len = at[k][1] < n - at[k][0] ? at[k][1] : n - at[k][0];
            assert_int_equal(read_range_status(path, at[k][0], len, 0, &ntok, &err), MRC_EINVAL);
            if (strstr(err.msg, path) == NULL || strstr(err.msg, sigs[i].said) == NULL)
                fail_msg("signature %zu, piece %zu: message '%s' lacks the file or '%s'", i, k,
                         err.msg, sigs[i].said);
            assert_int_equal(ntok, 0);
        }
    }
    /* A file longer than the head (512 bytes): the piece at its start sees the signature in
     * its first read (the whole piece, or one of 1 KiB), or, ending inside the head, reads
     * the head on its own; a piece further in reads it too. */
    static unsigned char longer[1500];
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        memcpy(longer, sigs[i].bytes, sigs[i].n);
        for (size_t j = sigs[i].n; j < sizeof longer; j++)
            longer[j] = j % 7 == 6 ? ' ' : (unsigned char)('a' + j % 26);
        write_file(path, longer, sizeof longer);
        static const uint64_t at[][2] = {{0, 1500}, {0, 1024}, {0, 300}, {700, 800}};
        for (size_t k = 0; k < sizeof at / sizeof *at; k++) {
            mrc_err err = {0};
            size_t ntok;
            assert_int_equal(read_range_status(path, at[k][0], at[k][1], 0, &ntok, &err),
                             MRC_EINVAL);
            if (strstr(err.msg, path) == NULL || strstr(err.msg, sigs[i].said) == NULL)
                fail_msg("signature %zu, long file, piece %zu: message '%s' lacks the file or '%s'",
                         i, k, err.msg, sigs[i].said);
            assert_int_equal(ntok, 0);
        }
        /* a reader buffer smaller than the head: the first read holds part of it */
        mrc_err err = {0};
        size_t ntok;
        assert_int_equal(read_range_status(path, 0, sizeof longer, 256, &ntok, &err), MRC_EINVAL);
        assert_non_null(strstr(err.msg, sigs[i].said));
        assert_int_equal(ntok, 0);
    }
    /* near misses and signatures further in: counted like any bytes */
    static const struct {
        size_t n, tokens;
        const char *bytes;
    } text[] = {
        {15, 4, "BZh9 is a word\n"},
        {10, 1, "BZh01AY&SY"},          /* no bzip2 level 0 */
        {3, 1, "PK\x03"},               /* shorter than the signature */
        {8, 2, "\x1f\x8b\x07\x00 abc"}, /* not deflate */
        {8, 2, "\x1f\x8b\x08\xe0 abc"}, /* a reserved gzip flag */
        {8, 2, "\x60\x2a\x4d\x18 abc"}, /* past the skippable frames */
        {16, 2, "words BZh91AY&SY"},
        {10, 2, "a PK\x03\x04rest"},
        {4, 1, "\376\376ab"},    /* not a byte-order mark */
        {6, 2, "a \377\376b\n"}, /* one further in */
    };
    for (size_t i = 0; i < sizeof text / sizeof *text; i++) {
        write_file(path, text[i].bytes, text[i].n);
        mrc_err err = {0};
        size_t ntok;
        if (read_range_status(path, 0, text[i].n, 0, &ntok, &err) != 0)
            fail_msg("text %zu refused: %s", i, err.msg);
        assert_int_equal(ntok, text[i].tokens);
    }
}

/* ---- gzip ---- */

static void write_gz_members(const char *path, const unsigned char *d, size_t n, size_t cut)
{
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, d, (unsigned)cut), (int)cut);
    assert_int_equal(gzclose(g), Z_OK);
    g = gzopen(path, "ab");
    assert_non_null(g);
    if (n > cut) assert_int_equal(gzwrite(g, d + cut, (unsigned)(n - cut)), (int)(n - cut));
    assert_int_equal(gzclose(g), Z_OK);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc((size_t)sz + 1);
    assert_non_null(d);
    assert_int_equal(fread(d, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return d;
}

/* Reads path (expected to be at least `size` bytes: the size at discovery, 0 for any) with
 * mrc_reader_run_gz and a buffer of buf_size; got collects the tokens. */
static int run_gz(const char *path, uint64_t size, size_t buf_size, tokvec *got, mrc_err *err,
                  uint64_t *bytes_read)
{
    mrc_reader r;
    assert_int_equal(mrc_reader_init(&r, buf_size, err), 0);
    mrc_record_rules rules = {.delim = words_delim};
    collect_ctx c = {.out = got, .delim = words_delim};
    int rc = mrc_reader_run_gz(&r, path, size, &rules, collect_consume, &c, NULL, err);
    if (rc == 0) {
        assert_int_equal(c.finals, 1);
        assert_int_equal(c.after_final, 0);
    }
    if (bytes_read) *bytes_read = r.bytes_read;
    mrc_reader_free(&r);
    return rc;
}

/* Writes h's checksum field as fmt (a printf format of an int, at most 8 bytes with its NUL)
 * over the sum of h's bytes with the field as spaces, signed bytes when is_signed. */
static void tar_checksum(unsigned char h[512], const char *fmt, bool is_signed)
{
    memset(h + 148, ' ', 8);
    int sum = 0;
    for (size_t i = 0; i < 512; i++)
        sum += is_signed ? (signed char)h[i] : h[i];
    char field[9];
    snprintf(field, sizeof field, fmt, sum);
    memcpy(h + 148, field, strlen(field) < 8 ? strlen(field) + 1 : 8);
}

/* A ustar header (GNU when gnu) for a member `name` of size bytes, its checksum as tar(1)
 * writes it: six octal digits, NUL, space, over the header with that field as spaces. */
static void tar_header(unsigned char h[512], const char *name, size_t size, bool gnu)
{
    memset(h, 0, 512);
    snprintf((char *)h, 100, "%s", name);
    memcpy(h + 100, "0000644", 8);
    memcpy(h + 108, "0001750", 8);
    memcpy(h + 116, "0001750", 8);
    snprintf((char *)h + 124, 12, "%011zo", size);
    memcpy(h + 136, "14723306740", 12);
    h[156] = '0';
    if (gnu)
        memcpy(h + 257, "ustar  ", 8);
    else
        memcpy(h + 257, "ustar\00000", 8);
    tar_checksum(h, "%06o", false);
    h[155] = ' ';
}

/* Whether path, read whole as one plain range, is refused as a tar archive (else counted:
 * *ntok tokens). */
static bool refused_as_tar(const char *path, size_t n, size_t *ntok)
{
    mrc_err err = {0};
    int rc = read_range_status(path, 0, n, 0, ntok, &err);
    if (rc != 0 && strstr(err.msg, "a tar archive") == NULL) fail_msg("'%s'", err.msg);
    return rc != 0;
}

/* A tar archive (POSIX or GNU header) is refused by every piece of a plain file, and as the
 * inflated stream of a .gz; the same bytes with a wrong checksum, or cut before the header's
 * end, are text. A UTF-16 .gz is refused too, and a short .gz of text is counted. */
static void test_tar_and_utf16_are_errors(void **state)
{
    (void)state;
    char path[128], gz[128];
    tmp_path(path, sizeof path, "archive.tar");
    tmp_path(gz, sizeof gz, "archive.tar.gz");
    unsigned char buf[3 * 512 + 1024];
    static const char body[] = "words in a member\n";
    for (int gnu = 0; gnu < 2; gnu++) {
        memset(buf, 0, sizeof buf);
        tar_header(buf, "a.txt", sizeof body - 1, gnu);
        memcpy(buf + 512, body, sizeof body - 1);
        write_file(path, buf, sizeof buf);
        static const uint64_t at[][2] = {{0, 2048}, {0, 3}, {700, 100}};
        for (size_t k = 0; k < sizeof at / sizeof *at; k++) {
            mrc_err err = {0};
            size_t ntok;
            assert_int_equal(read_range_status(path, at[k][0], at[k][1], 0, &ntok, &err),
                             MRC_EINVAL);
            if (strstr(err.msg, path) == NULL || strstr(err.msg, "a tar archive") == NULL)
                fail_msg("tar (gnu %d), piece %zu: '%s'", gnu, k, err.msg);
            assert_int_equal(ntok, 0);
        }
        write_gz_members(gz, buf, sizeof buf, 100); /* the header across two members */
        tokvec got = {0};
        mrc_err err = {0};
        assert_int_equal(run_gz(gz, 0, 64, &got, &err, NULL), MRC_EINVAL);
        if (strstr(err.msg, gz) == NULL || strstr(err.msg, "tar archive compressed") == NULL)
            fail_msg("tar.gz (gnu %d): '%s'", gnu, err.msg);
        assert_int_equal(got.n, 0);
        tokvec_free(&got);
    }
    /* checksums as other tars write them: signed bytes (a name byte >= 0x80), leading spaces */
    size_t ntok;
    tar_header(buf, "caf\xe9.txt", 10, false);
    tar_checksum(buf, "%06o", true);
    write_file(path, buf, 512);
    assert_true(refused_as_tar(path, 512, &ntok));
    tar_header(buf, "a.txt", 10, false);
    tar_checksum(buf, "  %05o", false);
    write_file(path, buf, 512);
    assert_true(refused_as_tar(path, 512, &ntok));
    /* not a header: a stray byte after the digits; the right checksum without "ustar" */
    tar_header(buf, "a.txt", 10, false);
    tar_checksum(buf, "%06oX", false);
    write_file(path, buf, 512);
    assert_false(refused_as_tar(path, 512, &ntok));
    assert_true(ntok > 0);
    tar_header(buf, "a.txt", 10, false);
    buf[261] = 'R'; /* "ustaR" */
    tar_checksum(buf, "%06o", false);
    write_file(path, buf, 512);
    assert_false(refused_as_tar(path, 512, &ntok));
    assert_true(ntok > 0);
    /* a wrong checksum, and a header cut short: text (the tokens of its name and fields) */
    tar_header(buf, "a.txt", 10, false);
    buf[0] = 'b';
    write_file(path, buf, 512);
    mrc_err err = {0};
    assert_int_equal(read_range_status(path, 0, 512, 0, &ntok, &err), 0);
    assert_true(ntok > 0);
    buf[0] = 'a';
    write_file(path, buf, 511);
    assert_int_equal(read_range_status(path, 0, 511, 0, &ntok, &err), 0);
    assert_true(ntok > 0);
    /* UTF-16 in a .gz; then text shorter than the head that is held back, in two members */
    static const unsigned char utf16[] = "\xff\xfeh\0i\0 \0";
    write_gz_members(gz, utf16, sizeof utf16 - 1, 1);
    tokvec got = {0};
    memset(&err, 0, sizeof err);
    assert_int_equal(run_gz(gz, 0, 0, &got, &err, NULL), MRC_EINVAL);
    assert_non_null(strstr(err.msg, "UTF-16 text compressed with gzip"));
    assert_int_equal(got.n, 0);
    /* only the stream's head is checked: a byte-order mark or a tar header further in is data */
    unsigned char later[2048];
    memset(later, 'w', sizeof later);
    for (size_t i = 1; i < sizeof later; i += 2)
        later[i] = i % 16 == 15 ? '\n' : ' ';
    later[600] = 0xff;
    later[601] = 0xfe;
    tar_header(later + 1024, "a.txt", 10, false);
    write_gz_members(gz, later, sizeof later, 700);
    size_t want = 0;
    for (size_t i = 0; i < sizeof later; i++)
        want += later[i] != ' ' && later[i] != '\n' &&
                (i == 0 || later[i - 1] == ' ' || later[i - 1] == '\n');
    memset(&err, 0, sizeof err);
    assert_int_equal(run_gz(gz, 0, 64, &got, &err, NULL), 0);
    assert_int_equal(got.n, want);
    tokvec_free(&got);
    static const unsigned char small[] = "one two\nthree";
    write_gz_members(gz, small, sizeof small - 1, 5);
    memset(&err, 0, sizeof err);
    assert_int_equal(run_gz(gz, 0, 4, &got, &err, NULL), 0);
    assert_int_equal(got.n, 3);
    tokvec_free(&got);
}

/* A .gz cut exactly between two members since discovery inflates cleanly: only the size the
 * split plan saw tells it from a whole file, and the short count must be an error. */
static void test_gz_cut_between_members_is_shrank(void **state)
{
    (void)state;
    char path[128], first[128];
    tmp_path(path, sizeof path, "cut.gz");
    tmp_path(first, sizeof first, "cut-first.gz");
    const unsigned char d[] = "alpha beta\ngamma delta\n";
    size_t n = sizeof d - 1, cut = 11; /* after "alpha beta\n" */
    write_gz_members(path, d, n, cut);
    gzFile g = gzopen(first, "wb"); /* the first member alone */
    assert_non_null(g);
    assert_int_equal(gzwrite(g, d, (unsigned)cut), (int)cut);
    assert_int_equal(gzclose(g), Z_OK);
    size_t whole, part;
    free(slurp(path, &whole));
    unsigned char *head = slurp(first, &part);
    assert_true(part < whole);

    tokvec got = {0};
    mrc_err err = {0};
    /* whole, with its size: counted */
    assert_int_equal(run_gz(path, whole, 0, &got, &err, NULL), 0);
    assert_int_equal(got.n, 4);
    /* rewritten as its first member only, still expected at the discovered size: an error */
    write_file(path, (const char *)head, part);
    tokvec_free(&got);
    assert_int_not_equal(run_gz(path, whole, 0, &got, &err, NULL), 0);
    char want[256];
    snprintf(want, sizeof want,
             "%s: file shrank while being read (expected at least %zu bytes, found %zu)", path,
             whole, part);
    assert_string_equal(err.msg, want);
    tokvec_free(&got);
    free(head);
    unlink(path);
    unlink(first);
}

static void test_gz_two_members(void **state)
{
    (void)state;
    char path[128];
    tmp_path(path, sizeof path, "two.gz");
    size_t n = 50000;
    unsigned char *d = make_text(n, 10, 50, 2000);
    /* the cut lands inside a token: the members join like zcat would join them */
    size_t cut = n / 3;
    while (words_delim[d[cut]] || words_delim[d[cut - 1]])
        cut++;
    write_gz_members(path, d, n, cut);
    size_t gz_len;
    free(slurp(path, &gz_len));
    tokvec expect = {0};
    oracle_tokens(d, n, words_delim, &expect);
    for (size_t b = 0; b < NBUF; b++) {
        tokvec got = {0};
        mrc_err err = {0};
        uint64_t br = 0;
        int rc = run_gz(path, 0, buf_sizes[b], &got, &err, &br);
        if (rc != 0) fail_msg("%s", err.msg);
        assert_int_equal(br, gz_len);
        assert_same_multiset(&expect, &got);
        tokvec_free(&got);
    }
    tokvec_free(&expect);
    free(d);
}

/* Zero bytes after a member are padding, as gzip -d and Python's gzip module take them: at the
 * end (a few, or more than one input buffer), and between two members; a byte after them that
 * starts no member is corrupt data, named where it is. */
static void test_gz_zero_padding(void **state)
{
    (void)state;
    char one[128], path[128];
    tmp_path(one, sizeof one, "member.gz");
    tmp_path(path, sizeof path, "padded.gz");
    size_t n = 30000;
    unsigned char *d = make_text(n, 8, 0, 0);
    write_gz_members(one, d, n, n); /* one member */
    size_t ml;
    unsigned char *m = slurp(one, &ml);
    tokvec once = {0}, twice = {0};
    oracle_tokens(d, n, words_delim, &once);
    oracle_tokens(d, n, words_delim, &twice);
    oracle_tokens(d, n, words_delim, &twice);
    size_t pads[] = {1, 7, (size_t)300 << 10}; /* the last over a 256 KiB input buffer */
    unsigned char *buf = malloc(2 * ml + 2 * pads[2] + 1);
    assert_non_null(buf);
    for (size_t i = 0; i < sizeof pads / sizeof *pads; i++)
        for (int between = 0; between < 2; between++) {
            size_t len = 0;
            memcpy(buf, m, ml);
            len = ml;
            memset(buf + len, 0, pads[i]);
            len += pads[i];
            if (between) {
                memcpy(buf + len, m, ml);
                len += ml;
                memset(buf + len, 0, 3);
                len += 3;
            }
            write_file(path, buf, len);
            tokvec got = {0};
            mrc_err err = {0};
            uint64_t br = 0;
            if (run_gz(path, 0, 0, &got, &err, &br) != 0)
                fail_msg("%zu zero bytes%s: %s", pads[i], between ? " between members" : "",
                         err.msg);
            assert_int_equal(br, len);
            assert_same_multiset(between ? &twice : &once, &got);
            tokvec_free(&got);
        }
    /* zeros, then bytes that start no member */
    memcpy(buf, m, ml);
    memset(buf + ml, 0, 5);
    memcpy(buf + ml + 5, "xy", 2);
    write_file(path, buf, ml + 7);
    tokvec got = {0};
    mrc_err err = {0};
    assert_int_equal(run_gz(path, 0, 0, &got, &err, NULL), MRC_EINVAL);
    char want[256];
    snprintf(want, sizeof want, "%s: corrupt gzip data at compressed byte offset", path);
    if (strncmp(err.msg, want, strlen(want)) != 0) fail_msg("'%s', want '%s'", err.msg, want);
    tokvec_free(&got);
    tokvec_free(&once);
    tokvec_free(&twice);
    free(buf);
    free(m);
    free(d);
}

static void test_gz_truncated_corrupt_and_not_gzip(void **state)
{
    (void)state;
    char good[128], bad[128];
    tmp_path(good, sizeof good, "good.gz");
    size_t n = 20000;
    unsigned char *d = make_text(n, 8, 0, 0);
    write_gz_members(good, d, n, n / 2);
    size_t gl;
    unsigned char *g = slurp(good, &gl);

    /* truncated: every length short of the whole file fails, naming the file */
    tmp_path(bad, sizeof bad, "truncated.gz");
    size_t cuts[] = {2, 10, gl / 4, gl / 2, gl - 9, gl - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        write_file(bad, g, cuts[i]);
        tokvec got = {0};
        mrc_err err = {0};
        assert_int_not_equal(run_gz(bad, 0, 7, &got, &err, NULL), 0);
        assert_non_null(strstr(err.msg, bad));
        assert_true(strstr(err.msg, "truncated") || strstr(err.msg, "corrupt"));
        tokvec_free(&got);
    }
    {
        write_file(bad, g, gl / 2);
        tokvec got = {0};
        mrc_err err = {0};
        assert_int_not_equal(run_gz(bad, 0, 0, &got, &err, NULL), 0);
        assert_non_null(strstr(err.msg, "truncated gzip stream at compressed byte offset"));
        tokvec_free(&got);
    }

    /* a reserved header flag (RFC 1952: must be refused; ISA-L read past it: fuzz_packed's
     * regress-gzip-reserved-flags), with either backend */
    for (unsigned bit = 0x20; bit <= 0x80; bit <<= 1) {
        tmp_path(bad, sizeof bad, "flags.gz");
        g[3] = (unsigned char)(g[3] | bit);
        write_file(bad, g, gl);
        g[3] = (unsigned char)(g[3] & ~bit);
        tokvec got = {0};
        mrc_err err = {0};
        assert_int_not_equal(run_gz(bad, 0, 0, &got, &err, NULL), 0);
        if (strstr(err.msg, bad) == NULL || strstr(err.msg, "corrupt gzip data") == NULL)
            fail_msg("reserved flag 0x%x: '%s'", bit, err.msg);
        tokvec_free(&got);
    }

    /* corrupt: a damaged byte in the deflate data (or the CRC) is caught */
    tmp_path(bad, sizeof bad, "corrupt.gz");
    g[gl / 4] ^= 0x55;
    g[gl / 4 + 1] ^= 0xaa;
    write_file(bad, g, gl);
    {
        tokvec got = {0};
        mrc_err err = {0};
        assert_int_not_equal(run_gz(bad, 0, 0, &got, &err, NULL), 0);
        assert_non_null(strstr(err.msg, bad));
        assert_non_null(strstr(err.msg, "gzip"));
        tokvec_free(&got);
    }

    /* not gzip at all, and empty */
    tmp_path(bad, sizeof bad, "plain.gz");
    write_file(bad, d, 100);
    const char *expect_suffix = ": not a gzip file; to skip it: --exclude GLOB";
    for (int k = 0; k < 2; k++) {
        if (k == 1) write_file(bad, "", 0);
        tokvec got = {0};
        mrc_err err = {0};
        assert_int_equal(run_gz(bad, 0, 0, &got, &err, NULL), MRC_EINVAL);
        char want[256];
        snprintf(want, sizeof want, "%s%s", bad, expect_suffix);
        assert_string_equal(err.msg, want);
        assert_int_equal(got.n, 0);
        tokvec_free(&got);
    }
    /* another format named .gz: the message says which */
    static const struct {
        size_t n;
        const char *bytes, *said;
    } other[] = {
        {15, "BZh91AY&SY rest", "not a gzip file (it holds bzip2-compressed data)"},
        {9, "PK\003\004 rest", "not a gzip file (it holds a zip archive)"},
        {6, "\377\376h\000i\000", "not a gzip file (it holds UTF-16 text)"},
    };
    for (size_t k = 0; k < sizeof other / sizeof *other; k++) {
        write_file(bad, other[k].bytes, other[k].n);
        tokvec got = {0};
        mrc_err err = {0};
        assert_int_equal(run_gz(bad, 0, 0, &got, &err, NULL), MRC_EINVAL);
        if (strstr(err.msg, bad) == NULL || strstr(err.msg, other[k].said) == NULL)
            fail_msg("'%s' lacks the file or '%s'", err.msg, other[k].said);
        tokvec_free(&got);
    }
    free(g);
    free(d);
}

/* ---- gzip: members built by hand (levels, strategies, header fields, empty members) ---- */

typedef struct bytebuf {
    unsigned char *p;
    size_t n, cap;
} bytebuf;

static void bytebuf_add(bytebuf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        while (b->n + n > b->cap)
            b->cap = b->cap ? 2 * b->cap : 4096;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (n > 0) memcpy(b->p + b->n, d, n);
    b->n += n;
}

/* Header fields for one member: a gz_header, or none for zlib's default 10-byte header. */
typedef struct member_opts {
    int level, strategy;
    const gz_header *hdr;
} member_opts;

/* Appends one complete gzip member holding d[0..n) to out. */
static void gz_member(bytebuf *out, const unsigned char *d, size_t n, member_opts o)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, o.level, Z_DEFLATED, 15 + 16, 8, o.strategy), Z_OK);
    if (o.hdr) assert_int_equal(deflateSetHeader(&zs, (gz_headerp)o.hdr), Z_OK);
    size_t bound = deflateBound(&zs, (uLong)n) + 256 + (o.hdr ? o.hdr->extra_len : 0);
    if (o.hdr && o.hdr->name) bound += strlen((const char *)o.hdr->name);
    if (o.hdr && o.hdr->comment) bound += strlen((const char *)o.hdr->comment);
    unsigned char *z = malloc(bound);
    assert_non_null(z);
    zs.next_in = (Bytef *)d;
    zs.avail_in = (uInt)n;
    zs.next_out = z;
    zs.avail_out = (uInt)bound;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    bytebuf_add(out, z, bound - zs.avail_out);
    assert_int_equal(deflateEnd(&zs), Z_OK);
    free(z);
}

/* A consumer that keeps every byte (records or not): the exact inflated stream. */
typedef struct bytes_ctx {
    bytebuf out;
    int finals;
    mrc_stop *stop_after_first; /* set on the first call when non-NULL */
} bytes_ctx;

static long long bytes_consume(void *vctx, const unsigned char *buf, size_t len, size_t owned,
                               bool final, mrc_err *err)
{
    (void)err;
    if (owned != SIZE_MAX) fail_msg("owned %zu given for a .gz file", owned);
    bytes_ctx *c = vctx;
    bytebuf_add(&c->out, buf, len);
    if (final) c->finals++;
    if (c->stop_after_first) *c->stop_after_first = 1;
    return (long long)len;
}

/* Reads path with mrc_reader_run_gz and a buffer of buf_size; c collects the bytes. */
static int run_gz_bytes(const char *path, size_t buf_size, bytes_ctx *c, const mrc_stop *stop,
                        mrc_err *err)
{
    mrc_reader r;
    assert_int_equal(mrc_reader_init(&r, buf_size, err), 0);
    mrc_record_rules rules = {.delim = words_delim};
    int rc = mrc_reader_run_gz(&r, path, 0, &rules, bytes_consume, c, stop, err);
    mrc_reader_free(&r);
    return rc;
}

static void assert_gz_inflates_to(const char *path, const unsigned char *plain, size_t n,
                                  size_t buf_size)
{
    bytes_ctx c = {0};
    mrc_err err = {0};
    if (run_gz_bytes(path, buf_size, &c, NULL, &err) != 0)
        fail_msg("%s (buf %zu, backend %s)", err.msg, buf_size, mrc_reader_gz_backend());
    assert_int_equal(c.finals, 1);
    assert_int_equal(c.out.n, n);
    if (n > 0) assert_memory_equal(c.out.p, plain, n);
    free(c.out.p);
}

static const unsigned char member_extra[6] = {'M', 'R', 2, 0, 0xff, 0x01};

static void test_gz_backend_is_named(void **state)
{
    (void)state;
    const char *b = mrc_reader_gz_backend();
    assert_non_null(b);
    assert_true(strcmp(b, "isa-l") == 0 || strcmp(b, "zlib") == 0);
    print_message("gz backend: %s\n", b);
}

/* Over 1 MiB of random lines cut at random points into members of every kind (stored, fixed,
 * Huffman-only, RLE, levels 1-9, empty members, optional header fields), so records and
 * headers straddle member and input-chunk boundaries; the stream must equal the plain bytes. */
static void test_gz_many_members_exact_bytes(void **state)
{
    (void)state;
    char path[128];
    tmp_path(path, sizeof path, "many.gz");
    size_t n = (size_t)1300 << 10;
    unsigned char *d = make_text(n, 14, 200, 300);
    for (size_t i = 0; i < n; i++) /* lines, like most real inputs */
        if (d[i] == '\v' || d[i] == '\f') d[i] = '\n';
    static const int strategies[] = {Z_DEFAULT_STRATEGY, Z_FILTERED, Z_HUFFMAN_ONLY, Z_RLE,
                                     Z_FIXED};
    gz_header hdr = {.extra = (Bytef *)member_extra,
                     .extra_len = sizeof member_extra,
                     .name = (Bytef *)"part.txt",
                     .comment = (Bytef *)"a comment",
                     .hcrc = 1};
    gz_header name_only = {.name = (Bytef *)"x"};
    bytebuf gz = {0};
    size_t at = 0, members = 0;
    while (at < n) {
        size_t len = rng_below(8) == 0 ? 0 : 1 + rng_below(rng_below(4) == 0 ? 200000 : 3000);
        if (len > n - at) len = n - at;
        member_opts o = {.level = (int)rng_below(10), .strategy = strategies[rng_below(5)]};
        size_t h = rng_below(4);
        o.hdr = h == 0 ? &hdr : h == 1 ? &name_only : NULL;
        gz_member(&gz, d + at, len, o);
        at += len;
        members++;
    }
    gz_member(&gz, d, 0, (member_opts){.level = 6}); /* an empty member last */
    write_file(path, gz.p, gz.n);
    print_message("%zu members, %zu compressed bytes\n", members + 1, gz.n);
    for (size_t b = 0; b < NBUF; b++)
        assert_gz_inflates_to(path, d, n, buf_sizes[b]);

    /* the record view agrees too */
    tokvec expect = {0}, got = {0};
    oracle_tokens(d, n, words_delim, &expect);
    mrc_err err = {0};
    if (run_gz(path, 0, 64, &got, &err, NULL) != 0) fail_msg("%s", err.msg);
    assert_same_multiset(&expect, &got);
    tokvec_free(&expect);
    tokvec_free(&got);
    free(gz.p);
    free(d);
}

/* The reader takes compressed input in chunks of 256 KiB (GZ_IN_BUF in reader.c). Empty
 * members whose extra field is sized to measure (fillers) push a small probe member so that
 * a chunk boundary falls before each of its bytes in turn: inside the header fields, the
 * deflate data and the CRC/length trailer. Holds as a multi-member test for any chunk size. */
static void test_gz_member_straddles_every_chunk_offset(void **state)
{
    (void)state;
    const size_t chunk = (size_t)256 << 10;
    char path[128];
    tmp_path(path, sizeof path, "straddle.gz");
    static unsigned char filler_extra[65535];
    memset(filler_extra, 'F', sizeof filler_extra);
    gz_header fh = {.extra = filler_extra};
    bytebuf one = {0};
    gz_member(&one, NULL, 0, (member_opts){.level = 6, .hdr = &fh}); /* extra_len 0 */
    const size_t filler_min = one.n;
    free(one.p);

    gz_header full = {.extra = (Bytef *)member_extra,
                      .extra_len = sizeof member_extra,
                      .name = (Bytef *)"probe.txt",
                      .comment = (Bytef *)"c",
                      .hcrc = 1};
    const gz_header *kinds[] = {&full, NULL};
    bytebuf gz = {0}, plain = {0};
    size_t probes = 0;
    for (size_t kind = 0; kind < 2; kind++) {
        char text[64];
        snprintf(text, sizeof text, "probe%zu alpha beta gamma\n", kind);
        bytebuf probe = {0};
        gz_member(&probe, (const unsigned char *)text, strlen(text),
                  (member_opts){.level = 9, .hdr = kinds[kind]});
        for (size_t k = 0; k <= probe.n; k++) {
            /* fillers up to the next boundary minus k that leaves room for at least one */
            size_t target = (gz.n / chunk + 1) * chunk - k;
            if (target < gz.n + filler_min) target += chunk;
            while (gz.n < target) {
                size_t rem = target - gz.n, x = rem - filler_min;
                if (x > sizeof filler_extra) x = rem - 2 * filler_min;
                if (x > sizeof filler_extra) x = sizeof filler_extra;
                fh.extra_len = (uInt)x;
                gz_member(&gz, NULL, 0, (member_opts){.level = 6, .hdr = &fh});
            }
            assert_int_equal(gz.n, target);
            bytebuf_add(&gz, probe.p, probe.n);
            bytebuf_add(&plain, text, strlen(text));
            probes++;
        }
        free(probe.p);
    }
    write_file(path, gz.p, gz.n);
    print_message("%zu probes, %zu compressed bytes\n", probes, gz.n);
    assert_gz_inflates_to(path, plain.p, plain.n, 0);
    assert_gz_inflates_to(path, plain.p, plain.n, 7);
    free(gz.p);
    free(plain.p);
}

/* Members with nothing in them, trailing bytes that cannot start a member, a damaged CRC or
 * length trailer, a second member cut inside its header, and a stop request mid-file. */
static void test_gz_empty_members_trailers_and_garbage(void **state)
{
    (void)state;
    char path[128];
    tmp_path(path, sizeof path, "edge.gz");
    const char *a = "one two three\n", *b = "four five\n";
    bytebuf m1 = {0}, m2 = {0}, empty = {0};
    gz_member(&m1, (const unsigned char *)a, strlen(a), (member_opts){.level = 6});
    gz_member(&m2, (const unsigned char *)b, strlen(b), (member_opts){.level = 1});
    gz_member(&empty, NULL, 0, (member_opts){.level = 6});

    /* only an empty member: no bytes, one final call */
    write_file(path, empty.p, empty.n);
    assert_gz_inflates_to(path, NULL, 0, 0);

    /* empty members before, between and after */
    bytebuf f = {0};
    bytebuf_add(&f, empty.p, empty.n);
    bytebuf_add(&f, m1.p, m1.n);
    bytebuf_add(&f, empty.p, empty.n);
    bytebuf_add(&f, empty.p, empty.n);
    bytebuf_add(&f, m2.p, m2.n);
    bytebuf_add(&f, empty.p, empty.n);
    write_file(path, f.p, f.n);
    char both[64];
    snprintf(both, sizeof both, "%s%s", a, b);
    assert_gz_inflates_to(path, (const unsigned char *)both, strlen(both), 0);
    assert_gz_inflates_to(path, (const unsigned char *)both, strlen(both), 1);

    /* bytes after the last member that cannot start one: corrupt, like zlib's path (zero
     * bytes are padding: test_gz_zero_padding) */
    struct {
        const char *bytes;
        size_t n;
        const char *want;
    } tails[] = {
        {"garbage!!\n", 10, "corrupt gzip data at compressed byte offset"},
        {"\0\0\0\0\0\0\0\x1f", 8, "truncated gzip stream at compressed byte offset"},
        {"xy", 2, "corrupt gzip data at compressed byte offset"},
        {"\x1f", 1, "truncated gzip stream at compressed byte offset"},
        {"\x1f\x8b\x08\0\0", 5, "truncated gzip stream at compressed byte offset"},
    };
    for (size_t i = 0; i < sizeof tails / sizeof *tails; i++) {
        bytebuf t = {0};
        bytebuf_add(&t, m1.p, m1.n);
        bytebuf_add(&t, tails[i].bytes, tails[i].n);
        write_file(path, t.p, t.n);
        bytes_ctx c = {0};
        mrc_err err = {0};
        assert_int_equal(run_gz_bytes(path, 0, &c, NULL, &err), MRC_EINVAL);
        if (strstr(err.msg, tails[i].want) == NULL)
            fail_msg("tail %zu: got \"%s\", want \"%s\"", i, err.msg, tails[i].want);
        assert_non_null(strstr(err.msg, path));
        free(c.out.p);
        free(t.p);
    }

    /* a header CRC (FHCRC) that does not match its header */
    {
        gz_header hh = {.name = (Bytef *)"named.txt", .hcrc = 1};
        bytebuf t = {0};
        gz_member(&t, (const unsigned char *)a, strlen(a), (member_opts){.level = 6, .hdr = &hh});
        write_file(path, t.p, t.n);
        assert_gz_inflates_to(path, (const unsigned char *)a, strlen(a), 0);
        t.p[12] ^= 0x01; /* inside the name */
        write_file(path, t.p, t.n);
        bytes_ctx c = {0};
        mrc_err err = {0};
        assert_int_equal(run_gz_bytes(path, 0, &c, NULL, &err), MRC_EINVAL);
        if (strstr(err.msg, "corrupt gzip data at compressed byte offset") == NULL)
            fail_msg("header crc: got \"%s\"", err.msg);
        assert_int_equal(c.out.n, 0);
        free(c.out.p);
        free(t.p);
    }

    /* a damaged CRC, then a damaged length, in the trailer of the second member */
    static const size_t from_end[] = {8, 4};
    for (size_t i = 0; i < 2; i++) {
        bytebuf t = {0};
        bytebuf_add(&t, m1.p, m1.n);
        bytebuf_add(&t, m2.p, m2.n);
        t.p[t.n - from_end[i]] ^= 0x01;
        write_file(path, t.p, t.n);
        bytes_ctx c = {0};
        mrc_err err = {0};
        assert_int_equal(run_gz_bytes(path, 0, &c, NULL, &err), MRC_EINVAL);
        if (strstr(err.msg, "corrupt gzip data at compressed byte offset") == NULL)
            fail_msg("trailer byte -%zu: got \"%s\"", from_end[i], err.msg);
        free(c.out.p);
        free(t.p);
    }

    /* a stop request between blocks ends the read with MRC_EINTR */
    size_t n = (size_t)600 << 10;
    unsigned char *d = make_text(n, 10, 0, 0);
    bytebuf big = {0};
    gz_member(&big, d, n, (member_opts){.level = 1});
    write_file(path, big.p, big.n);
    mrc_stop stop = 0;
    bytes_ctx c = {.stop_after_first = &stop};
    mrc_err err = {0};
    assert_int_equal(run_gz_bytes(path, 4096, &c, &stop, &err), MRC_EINTR);
    assert_int_equal(c.finals, 0);
    assert_true(c.out.n < n);
    free(c.out.p);

    free(big.p);
    free(d);
    free(f.p);
    free(m1.p);
    free(m2.p);
    free(empty.p);
}

/* ---- zstd, xz and bzip2 (mrc_reader_run_packed), compressed here by their libraries ---- */

/* data[0, n) compressed by codec c as parts frames or streams cut at random byte offsets (in
 * the middle of tokens), zstd with a skippable frame and an empty frame among them, appended to
 * out (cap bytes); ends[] gets where each frame or stream ends (up to 2 * parts + 1). @return
 * its length. */
static size_t pack_parts(enum mrc_codec c, const unsigned char *data, size_t n, size_t parts,
                         unsigned char *out, size_t cap, size_t *ends)
{
    size_t len = 0, from = 0;
    for (size_t p = 0; p < parts; p++) {
        size_t to = p + 1 == parts ? n : from + rng_below(n - from + 1);
        if (c == MRC_CODEC_ZSTD) {
            if (p == 1) { /* a skippable frame: magic 0x184D2A5?, size, payload */
                static const unsigned char skip[12] = {0x53, 0x2a, 0x4d, 0x18, 4,   0,
                                                       0,    0,    'J',  'U',  'N', 'K'};
                memcpy(out + len, skip, sizeof skip);
                len += sizeof skip;
                *ends++ = len;
                size_t z = ZSTD_compress(out + len, cap - len, data, 0, 3); /* an empty frame */
                assert_false(ZSTD_isError(z));
                len += z;
                *ends++ = len;
            }
            size_t z = ZSTD_compress(out + len, cap - len, data + from, to - from, 1 + (int)p % 5);
            assert_false(ZSTD_isError(z));
            len += z;
        } else if (c == MRC_CODEC_XZ) {
            size_t pos = len;
            assert_int_equal(lzma_easy_buffer_encode((uint32_t)p % 4, LZMA_CHECK_CRC64, NULL,
                                                     data + from, to - from, out, &pos, cap),
                             LZMA_OK);
            len = pos;
        } else {
            unsigned int dl = (unsigned int)(cap - len);
            assert_int_equal(BZ2_bzBuffToBuffCompress((char *)out + len, &dl, (char *)data + from,
                                                      (unsigned int)(to - from), 1 + (int)p % 9, 0,
                                                      0),
                             BZ_OK);
            len += dl;
        }
        from = to;
        *ends++ = len;
    }
    return len;
}

/* The tokens of a compressed file, its xz decoder bounded by decoder_limit (0: none). */
static int run_packed_limited(const char *path, enum mrc_codec c, uint64_t size, size_t buf_size,
                              uint64_t decoder_limit, tokvec *got, mrc_err *err)
{
    mrc_reader r;
    assert_int_equal(mrc_reader_init(&r, buf_size, err), 0);
    r.decoder_limit = decoder_limit;
    collect_ctx cc = {.out = got, .delim = words_delim};
    int rc = mrc_reader_run_packed(&r, path, c, size, collect_consume, &cc, NULL, err);
    if (rc == 0) {
        assert_int_equal(cc.finals, 1);
        assert_int_equal(cc.after_final, 0);
    }
    mrc_reader_free(&r);
    return rc;
}

static int run_packed(const char *path, enum mrc_codec c, uint64_t size, size_t buf_size,
                      tokvec *got, mrc_err *err)
{
    return run_packed_limited(path, c, size, buf_size, 0, got, err);
}

/* The reader's decoder_limit bounds an xz decoder: a file made with preset 6 (an 8 MiB
 * dictionary) under a 4 MiB limit is an error saying what it needs (liblzma's own figure for
 * the preset, rounded up to MiB) and the limit; under the preset's need, or no limit, it reads. */
static void test_xz_decoder_limit(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "limit.xz");
    size_t n = 100000;
    unsigned char *text = make_text(n, 12, 4000, 20000);
    text[0] = 'a';
    size_t cap = n + 65536, len = 0;
    unsigned char *packed = malloc(cap);
    assert_non_null(packed);
    assert_int_equal(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, NULL, text, n, packed, &len, cap),
                     LZMA_OK);
    write_file(path, packed, len);
    uint64_t need = lzma_easy_decoder_memusage(6);
    const uint64_t limits[] = {4 << 20, need, 0};
    for (size_t i = 0; i < 3; i++) {
        mrc_err err = {0};
        tokvec got = {0};
        int rc = run_packed_limited(path, MRC_CODEC_XZ, len, 0, limits[i], &got, &err);
        if (i == 0) {
            char want[128];
            snprintf(want, sizeof want, ": its xz data needs %llu MiB to decompress",
                     (unsigned long long)((need + (1u << 20) - 1) >> 20));
            if (rc != MRC_ENOMEM || strstr(err.msg, path) == NULL ||
                strstr(err.msg, want) == NULL ||
                strstr(err.msg, "may take under the memory limit (4 MiB)") == NULL)
                fail_msg("limit 4 MiB: status %d, '%s' (want '%s')", rc, err.msg, want);
        } else if (rc != 0) {
            fail_msg("limit %llu: %s", (unsigned long long)limits[i], err.msg);
        } else {
            assert_true(got.n > 0);
        }
        tokvec_free(&got);
    }
    free(packed);
    free(text);
}

/* A zstd frame of windowLog lg in `out`, streamed with no pledged size, so that its header
 * keeps the whole window (zstd --long=lg reading a pipe); a skippable frame first when skip. */
static size_t zstd_long_frame(const unsigned char *text, size_t n, int lg, bool skip,
                              unsigned char *out, size_t cap)
{
    size_t len = 0;
    if (skip) { /* magic 0x184D2A53, 3 bytes of payload */
        static const unsigned char sk[11] = {0x53, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 'a', 'b', 'c'};
        memcpy(out, sk, sizeof sk);
        len = sizeof sk;
    }
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    assert_non_null(cc);
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, lg)));
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_enableLongDistanceMatching, 1)));
    ZSTD_inBuffer in = {text, n, 0};
    ZSTD_outBuffer ob = {out + len, cap - len, 0};
    /* fed first, ended after: at ZSTD_e_end on the first call the size would be known */
    while (in.pos < in.size)
        assert_false(ZSTD_isError(ZSTD_compressStream2(cc, &ob, &in, ZSTD_e_continue)));
    size_t left;
    do {
        left = ZSTD_compressStream2(cc, &ob, &in, ZSTD_e_end);
        assert_false(ZSTD_isError(left));
    } while (left != 0);
    ZSTD_freeCCtx(cc);
    return len + ob.pos;
}

/* The reader's decoder_limit bounds a zstd window: a 256 MiB window (--long=28) decodes under
 * 256 MiB, and under 200 MiB is an error naming the window it needs and the largest allowed
 * (128 MiB, never less: what zstd -d reads by default), as it is with no limit (zstd's default
 * bound: a frame header alone must not allocate 2 GiB); a skippable frame before it does not
 * hide the need. The result equals the text's tokens. */
static void test_zstd_window_limit(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "long.zst");
    size_t n = 100000;
    unsigned char *text = make_text(n, 12, 4000, 20000);
    text[0] = 'a';
    tokvec want = {0};
    oracle_tokens(text, n, words_delim, &want);
    size_t cap = n + 65536;
    unsigned char *packed = malloc(cap);
    assert_non_null(packed);
    for (int skip = 0; skip < 2; skip++) {
        size_t len = zstd_long_frame(text, n, 28, skip, packed, cap);
        write_file(path, packed, len);
        const uint64_t limits[] = {(uint64_t)200 << 20, (uint64_t)256 << 20, 0};
        for (size_t i = 0; i < 3; i++) {
            mrc_err err = {0};
            tokvec got = {0};
            int rc = run_packed_limited(path, MRC_CODEC_ZSTD, len, 0, limits[i], &got, &err);
            if (i != 1) {
                const char *why = i == 0 ? "under the memory limit (windows up to 128 MiB)"
                                         : "without a memory limit (windows up to 128 MiB)";
                if (rc != MRC_ENOMEM || strstr(err.msg, path) == NULL ||
                    strstr(err.msg, ": a zstd frame that needs a 256 MiB window") == NULL ||
                    strstr(err.msg, why) == NULL)
                    fail_msg("skip %d, limit %llu: status %d, '%s'", skip,
                             (unsigned long long)limits[i], rc, err.msg);
            } else {
                if (rc != 0)
                    fail_msg("skip %d, limit %llu: %s", skip, (unsigned long long)limits[i],
                             err.msg);
                assert_same_tokens(&got, &want);
            }
            tokvec_free(&got);
        }
    }
    tokvec_free(&want);
    free(packed);
    free(text);
}

/* xz's stream padding (null bytes, a multiple of 4) after the first of the streams
 * packed[0, len) (ends[0]: where it ends) and after the last: read as nothing, also when it
 * spans the reader's 256 KiB input buffers; a padding of 4k+1..3 bytes is corrupt, named where
 * it starts; junk after a padding, where the junk starts. */
static void xz_padding(const char *path, const unsigned char *packed, size_t len,
                       const size_t *ends, const tokvec *want)
{
    size_t buf_in = (size_t)256 << 10;
    size_t pads[] = {4, 8, (buf_in > ends[0] ? (buf_in - ends[0]) & ~(size_t)3 : 0) + 8};
    unsigned char *f = malloc(len + pads[2] + 64);
    assert_non_null(f);
    for (size_t i = 0; i < 3; i++)
        for (size_t odd = 0; odd < 4; odd++) {
            size_t p = pads[i] - odd, at = ends[0];
            memcpy(f, packed, at);
            memset(f + at, 0, p);
            memcpy(f + at + p, packed + at, len - at);
            size_t flen = len + p;
            memset(f + flen, 0, 4); /* and after the last stream */
            flen += 4;
            if (odd == 0 && i == 0) { /* junk after the last padding */
                memcpy(f + flen, "JUNKJUNKJUNKJUNK", 16);
                flen += 16;
            }
            write_file(path, f, flen);
            tokvec got = {0};
            mrc_err err = {0};
            int rc = run_packed(path, MRC_CODEC_XZ, flen, 4096, &got, &err);
            char at_msg[96];
            if (odd == 0 && i == 0)
                snprintf(at_msg, sizeof at_msg, "offset %zu (not an xz stream)", flen - 16);
            else if (odd != 0)
                snprintf(at_msg, sizeof at_msg, "offset %zu (stream padding not a multiple of 4",
                         at);
            if (odd == 0 && i != 0) {
                if (rc != 0) fail_msg("xz padding of %zu bytes at %zu: '%s'", p, at, err.msg);
                assert_same_tokens(&got, want);
            } else if (rc != MRC_EINVAL || strstr(err.msg, at_msg) == NULL) {
                fail_msg("xz padding of %zu bytes at %zu%s: status %d, '%s' (want '%s')", p, at,
                         odd == 0 ? ", junk after" : "", rc, err.msg, at_msg);
            }
            tokvec_free(&got);
        }
    free(f);
}

/* Each codec: the tokens of 1-5 frames or streams cut anywhere equal the text's, with small
 * buffers (grown for a long token) and large; every cut of the file short of its end is an
 * error naming it; text in a file named for the codec is "not a ... file". */
static void test_packed_codecs(void **state)
{
    (void)state;
    static const enum mrc_codec cs[] = {MRC_CODEC_ZSTD, MRC_CODEC_XZ, MRC_CODEC_BZIP2};
    static const char *const names[] = {"t.zst", "t.xz", "t.bz2"};
    size_t n = 200000;
    unsigned char *text = make_text(n, 12, 4000, 20000);
    text[0] = 'a'; /* no byte-order mark by chance */
    tokvec want = {0};
    oracle_tokens(text, n, words_delim, &want);
    size_t cap = n + n / 2 + 65536;
    unsigned char *packed = malloc(cap);
    assert_non_null(packed);
    for (size_t k = 0; k < 3; k++) {
        char path[512];
        tmp_path(path, sizeof path, names[k]);
        assert_int_equal(mrc_codec_of_path(path), cs[k]);
        for (size_t parts = 1; parts <= 5; parts += 2) {
            size_t ends[16];
            size_t len = pack_parts(cs[k], text, n, parts, packed, cap, ends);
            write_file(path, packed, len);
            for (size_t b = 0; b < 2; b++) {
                tokvec got = {0};
                mrc_err err = {0};
                if (run_packed(path, cs[k], len, b ? 1 << 20 : 4096, &got, &err) != 0)
                    fail_msg("%s, %zu parts: %s", names[k], parts, err.msg);
                assert_same_tokens(&got, &want);
                tokvec_free(&got);
            }
            /* cut short: inside a frame or stream, truncated or corrupt whatever the size at
             * discovery (given as the cut file's own), inside the magic too (a file cut there is
             * not one of another kind); between two frames or streams, a whole shorter file:
             * only the size at discovery tells ("file shrank") */
            for (size_t cut = 0; parts == 3 && cut < 13; cut++) {
                size_t at = cut < 10    ? 1 + rng_below(len - 1)
                            : cut == 10 ? len - 1
                            : cut == 11 ? 3
                                        : ends[0];
                bool boundary = false;
                for (size_t e = 0; e + 1 < parts + (cs[k] == MRC_CODEC_ZSTD ? 2 : 0); e++)
                    boundary = boundary || ends[e] == at;
                write_file(path, packed, at);
                tokvec got = {0};
                mrc_err err = {0};
                int rc = run_packed(path, cs[k], boundary ? len : at, 4096, &got, &err);
                const char *want_msg = boundary                     ? "file shrank"
                                       : strstr(err.msg, "corrupt") ? "corrupt"
                                                                    : "truncated";
                if (rc == 0 || strstr(err.msg, path) == NULL || strstr(err.msg, want_msg) == NULL)
                    fail_msg("%s cut at %zu of %zu: status %d, '%s' (want '%s')", names[k], at, len,
                             rc, err.msg, want_msg);
                tokvec_free(&got);
            }
            /* bytes after the last frame or stream that cannot start one: corrupt, named
             * where they start, however few (1-4 after a zstd frame were named where the file
             * ends, 1-11 after an xz stream called a truncated stream) */
            for (size_t junk = 1; parts == 3 && junk <= 16; junk += junk < 4 ? 1 : 4) {
                memcpy(packed + len, "JUNKJUNKJUNKJUNK", 16);
                write_file(path, packed, len + junk);
                tokvec got = {0};
                mrc_err err = {0};
                assert_int_equal(run_packed(path, cs[k], len + junk, 4096, &got, &err), MRC_EINVAL);
                char at[64];
                snprintf(at, sizeof at, "data at compressed byte offset %zu (not a", len);
                if (strstr(err.msg, "corrupt") == NULL || strstr(err.msg, at) == NULL)
                    fail_msg("%s with %zu bytes of junk at %zu: '%s'", names[k], junk, len,
                             err.msg);
                tokvec_free(&got);
            }
            if (parts == 3 && cs[k] == MRC_CODEC_XZ) xz_padding(path, packed, len, ends, &want);
        }
        write_file(path, text, 1000);
        tokvec got = {0};
        mrc_err err = {0};
        assert_int_equal(run_packed(path, cs[k], 1000, 4096, &got, &err), MRC_EINVAL);
        char said[64];
        snprintf(said, sizeof said, ": not %s %s file", cs[k] == MRC_CODEC_XZ ? "an" : "a",
                 mrc_codec_name(cs[k]));
        if (strstr(err.msg, said) == NULL) fail_msg("'%s' lacks '%s'", err.msg, said);
        tokvec_free(&got);
    }
    tokvec_free(&want);
    free(packed);
    free(text);
}

int main(void)
{
    rng_seed(0x2545F4914F6CDD1Dull); /* this test's sequence starts here */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_single_cut),
        cmocka_unit_test(test_every_pair_of_cuts),
        cmocka_unit_test(test_random_cuts_words),
        cmocka_unit_test(test_random_cuts_lines),
        cmocka_unit_test(test_no_trailing_delimiter_and_edges),
        cmocka_unit_test(test_buffer_grows_only_for_long_records),
        cmocka_unit_test(test_tail_stops_at_first_delimiter),
        cmocka_unit_test(test_shrunk_file_is_an_error),
        cmocka_unit_test(test_no_longer_a_regular_file_is_an_error),
        cmocka_unit_test(test_errors_name_the_file),
        cmocka_unit_test(test_compressed_data_is_an_error),
        cmocka_unit_test(test_tar_and_utf16_are_errors),
        cmocka_unit_test(test_gz_two_members),
        cmocka_unit_test(test_gz_cut_between_members_is_shrank),
        cmocka_unit_test(test_gz_zero_padding),
        cmocka_unit_test(test_gz_truncated_corrupt_and_not_gzip),
        cmocka_unit_test(test_gz_backend_is_named),
        cmocka_unit_test(test_gz_many_members_exact_bytes),
        cmocka_unit_test(test_gz_member_straddles_every_chunk_offset),
        cmocka_unit_test(test_gz_empty_members_trailers_and_garbage),
        cmocka_unit_test(test_packed_codecs),
        cmocka_unit_test(test_xz_decoder_limit),
        cmocka_unit_test(test_zstd_window_limit),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
