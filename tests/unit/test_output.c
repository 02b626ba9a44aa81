/* test_output.c - mrc_output_write(): both sort orders against an independent oracle, --top,
 * keys with NUL/0xff bytes and shared prefixes, the temporary-then-rename protocol and every
 * failure leaving the destination untouched. Tables are built by hand in the wire format; the
 * test must never write outside its own temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mrcount/output.h"
#include "mrcount/table.h"
#include "test_util.h"

static char tmpdir[64];

/* ---- building tables ---- */

typedef struct key_count {
    const char *key;
    size_t len;
    uint64_t count;
} key_count;

typedef struct ser_buf {
    unsigned char *p;
    size_t len, cap;
    uint64_t records, total;
} ser_buf;

static void buf_put_le(ser_buf *b, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        b->p[b->len++] = (unsigned char)(v >> (8 * i));
}

static void ser_init(ser_buf *b, size_t cap)
{
    b->p = calloc(1, cap + MRC_SER_HEADER);
    assert_non_null(b->p);
    b->cap = cap + MRC_SER_HEADER;
    b->len = MRC_SER_HEADER;
    b->records = b->total = 0;
}

static void ser_add(ser_buf *b, const void *key, size_t len, uint64_t count)
{
    assert_true(b->len + 12 + len <= b->cap);
    buf_put_le(b, count, 8);
    buf_put_le(b, len, 4);
    memcpy(b->p + b->len, key, len);
    b->len += len;
    b->records++;
    b->total += count;
}

/* Writes the header; flags as given. */
static void ser_finish(ser_buf *b, uint64_t flags)
{
    size_t end = b->len;
    b->len = 0;
    buf_put_le(b, MRC_SER_MAGIC, 4);
    buf_put_le(b, MRC_SER_VERSION, 4);
    buf_put_le(b, b->records, 8);
    buf_put_le(b, end - MRC_SER_HEADER, 8);
    buf_put_le(b, flags, 8);
    buf_put_le(b, b->total, 8);
    b->len = end;
}

static ser_buf table_of(const key_count *kc, size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += 12 + kc[i].len;
    ser_buf b;
    ser_init(&b, bytes);
    for (size_t i = 0; i < n; i++)
        ser_add(&b, kc[i].key, kc[i].len, kc[i].count);
    ser_finish(&b, 0);
    return b;
}

#define KC(s, c)                                                                                   \
    {                                                                                              \
        s, sizeof(s) - 1, c                                                                        \
    }

/* ---- files ---- */

static int setup_dir(void **state)
{
    (void)state;
    return tmpdir_make(tmpdir, sizeof tmpdir, "/tmp/mrc_test_output.XXXXXX");
}

static int teardown_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp_path(const char *name)
{
    static char path[4][160];
    static int slot;
    slot = (slot + 1) % 4;
    snprintf(path[slot], sizeof path[slot], "%s/%s", tmpdir, name);
    return path[slot];
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 1 << 16, n = 0;
    unsigned char *p = malloc(cap);
    assert_non_null(p);
    size_t r;
    while ((r = fread(p + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            p = realloc(p, cap);
            assert_non_null(p);
        }
    }
    fclose(f);
    *len = n;
    return p;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* Files in `dir` whose name starts with `prefix`. */
static int count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
    closedir(d);
    return n;
}

/* A write that failed: the file named `name` in tmpdir still holds `text`, and no temporary of
 * it is left beside it. */
static void assert_kept(const char *path, const char *name, const char *text)
{
    size_t len, want = strlen(text);
    unsigned char *t = slurp(path, &len);
    assert_int_equal(len, want);
    assert_memory_equal(t, text, want);
    free(t);
    assert_int_equal(count_entries(tmpdir, name), 1);
}

/* ---- the oracle: full byte compares and printf ---- */

static int oracle_key_cmp(const key_count *a, const key_count *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->key, b->key, n);
    if (c != 0) return c;
    return (a->len > b->len) - (a->len < b->len);
}

static int oracle_by_key(const void *a, const void *b)
{
    return oracle_key_cmp(a, b);
}

static int oracle_by_count(const void *pa, const void *pb)
{
    const key_count *a = pa, *b = pb;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return oracle_key_cmp(a, b);
}

static unsigned char *oracle_text(const key_count *kc, size_t n, enum mrc_sort sort, uint64_t top,
                                  size_t *len)
{
    key_count *s = malloc((n ? n : 1) * sizeof *s);
    assert_non_null(s);
    memcpy(s, kc, n * sizeof *s);
    qsort(s, n, sizeof *s, sort == MRC_SORT_KEY ? oracle_by_key : oracle_by_count);
    size_t keep = top != 0 && top < n ? (size_t)top : n, cap = 1;
    for (size_t i = 0; i < keep; i++)
        cap += s[i].len + 23;
    unsigned char *out = malloc(cap);
    assert_non_null(out);
    size_t o = 0;
    for (size_t i = 0; i < keep; i++) {
        memcpy(out + o, s[i].key, s[i].len);
        o += s[i].len;
        o += (size_t)snprintf((char *)out + o, cap - o, "\t%llu\n", (unsigned long long)s[i].count);
    }
    free(s);
    *len = o;
    return out;
}

/* Writes kc through mrc_output_write to a file and compares with the oracle. */
static void check_against_oracle(const key_count *kc, size_t n, enum mrc_sort sort, uint64_t top)
{
    ser_buf b = table_of(kc, n);
    const char *path = tmp_path("oracle.tsv");
    mrc_output_opts o = {.path = path, .sort = sort, .top = top, .stop = NULL};
    mrc_err e = {0};
    assert_int_equal(mrc_output_write(b.p, b.len, &o, &e), 0);
    size_t got_len, want_len;
    unsigned char *got = slurp(path, &got_len);
    unsigned char *want = oracle_text(kc, n, sort, top, &want_len);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, want_len);
    free(got);
    free(want);
    free(b.p);
}

/* Writes and returns the file's text (NUL-terminated for string asserts). */
static char *write_and_read(const key_count *kc, size_t n, enum mrc_sort sort, uint64_t top)
{
    ser_buf b = table_of(kc, n);
    const char *path = tmp_path("out.tsv");
    mrc_output_opts o = {.path = path, .sort = sort, .top = top, .stop = NULL};
    mrc_err e = {0};
    assert_int_equal(mrc_output_write(b.p, b.len, &o, &e), 0);
    free(b.p);
    size_t len;
    unsigned char *text = slurp(path, &len);
    text = realloc(text, len + 1);
    text[len] = '\0';
    return (char *)text;
}

/* ---- tests ---- */

static void test_sort_by_count_then_key(void **state)
{
    (void)state;
    const key_count kc[] = {KC("b", 5),         KC("abc", 1),     KC("ab", 5), KC("z", 9),
                            KC("a", 5),         KC("zz", 1),      KC("y", 10), KC("abcdefghij", 5),
                            KC("abcdefghi", 5), KC("abcdefgh", 5)};
    size_t n = sizeof kc / sizeof kc[0];
    char *t = write_and_read(kc, n, MRC_SORT_COUNT, 0);
    assert_string_equal(t, "y\t10\nz\t9\na\t5\nab\t5\nabcdefgh\t5\nabcdefghi\t5\n"
                           "abcdefghij\t5\nb\t5\nabc\t1\nzz\t1\n");
    free(t);
    t = write_and_read(kc, n, MRC_SORT_KEY, 0);
    assert_string_equal(t, "a\t5\nab\t5\nabc\t1\nabcdefgh\t5\nabcdefghi\t5\nabcdefghij\t5\n"
                           "b\t5\ny\t10\nz\t9\nzz\t1\n");
    free(t);
}

static void test_top(void **state)
{
    (void)state;
    const key_count kc[] = {KC("c", 3), KC("a", 1), KC("b", 2), KC("d", 3), KC("e", 7)};
    size_t n = sizeof kc / sizeof kc[0];
    char *t = write_and_read(kc, n, MRC_SORT_COUNT, 2);
    assert_string_equal(t, "e\t7\nc\t3\n");
    free(t);
    t = write_and_read(kc, n, MRC_SORT_COUNT, 1);
    assert_string_equal(t, "e\t7\n");
    free(t);
    t = write_and_read(kc, n, MRC_SORT_KEY, 3);
    assert_string_equal(t, "a\t1\nb\t2\nc\t3\n");
    free(t);
    t = write_and_read(kc, n, MRC_SORT_COUNT, 5);
    assert_string_equal(t, "e\t7\nc\t3\nd\t3\nb\t2\na\t1\n");
    free(t);
    t = write_and_read(kc, n, MRC_SORT_COUNT, 1000);
    assert_string_equal(t, "e\t7\nc\t3\nd\t3\nb\t2\na\t1\n");
    free(t);
}

static void test_binary_keys(void **state)
{
    (void)state;
    const key_count kc[] = {
        {"a\0b", 3, 4},
        {"a", 1, 4},
        {"a\xff", 2, 4},
        {"\xff", 1, 4},
        {"\0", 1, 4},
        {"a\0", 2, 4},
        {"", 0, 4},
        {"\xff\xff\xff\xff\xff\xff\xff\xff\x01", 9, 4},
        {"\xff\xff\xff\xff\xff\xff\xff\xff", 8, 4},
        {"\x7f", 1, 4},
        {"\x80", 1, 4},
    };
    size_t n = sizeof kc / sizeof kc[0];
    check_against_oracle(kc, n, MRC_SORT_COUNT, 0);
    check_against_oracle(kc, n, MRC_SORT_KEY, 0);
    check_against_oracle(kc, n, MRC_SORT_KEY, 4);

    ser_buf b = table_of(kc, n);
    const char *path = tmp_path("bin.tsv");
    mrc_output_opts o = {.path = path, .sort = MRC_SORT_KEY, .top = 0, .stop = NULL};
    mrc_err e = {0};
    assert_int_equal(mrc_output_write(b.p, b.len, &o, &e), 0);
    size_t len;
    unsigned char *got = slurp(path, &len);
    static const char want[] = "\t4\n\0\t4\na\t4\na\0\t4\na\0b\t4\na\xff\t4\n\x7f\t4\n\x80\t4\n"
                               "\xff\t4\n\xff\xff\xff\xff\xff\xff\xff\xff\t4\n"
                               "\xff\xff\xff\xff\xff\xff\xff\xff\x01\t4\n";
    assert_int_equal(len, sizeof want - 1);
    assert_memory_equal(got, want, len);
    free(got);
    free(b.p);
}

static void test_counts_format(void **state)
{
    (void)state;
    const key_count kc[] = {KC("max", UINT64_MAX),
                            KC("zero", 0),
                            KC("nine", 9),
                            KC("ten", 10),
                            KC("k99", 99),
                            KC("k100", 100),
                            KC("big", 10000000000000000000ull),
                            KC("odd", 1234567890123ull)};
    char *t = write_and_read(kc, sizeof kc / sizeof kc[0], MRC_SORT_COUNT, 0);
    assert_string_equal(t, "max\t18446744073709551615\nbig\t10000000000000000000\n"
                           "odd\t1234567890123\nk100\t100\nk99\t99\nten\t10\nnine\t9\n"
                           "zero\t0\n");
    free(t);
}

/* Many records with heavy ties and shared prefixes, long keys crossing the 1 MiB buffer,
 * and --top through the bounded heap: all against the oracle. */
/* n unique keys (a shared stem or none, a random byte, then the index; their bytes in *keys)
 * with counts of 1, or up to 1000 for a quarter of them. */
static key_count *random_keys(size_t n, unsigned seed, char **keys)
{
    srand(seed);
    key_count *kc = malloc(n * sizeof *kc);
    *keys = malloc(n * 40);
    assert_non_null(kc);
    assert_non_null(*keys);
    for (size_t i = 0; i < n; i++) {
        char *k = *keys + i * 40;
        int len = snprintf(k, 40, "%s%c%c%zu", i % 3 ? "prefix-" : "", (char)(rand() % 256),
                           (char)('a' + rand() % 3), i);
        kc[i] = (key_count){k, (size_t)len, (uint64_t)(rand() % 4 == 0 ? rand() % 1000 : 1)};
    }
    return kc;
}

static void test_random_tables(void **state)
{
    (void)state;
    size_t n = 60000;
    char *keys;
    key_count *kc = random_keys(n, 12345, &keys);
    check_against_oracle(kc, n, MRC_SORT_COUNT, 0);
    check_against_oracle(kc, n, MRC_SORT_KEY, 0);
    static const uint64_t tops[] = {1, 2, 17, 1000, 59999, 60000, 60001};
    for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++) {
        check_against_oracle(kc, n, MRC_SORT_COUNT, tops[i]);
        check_against_oracle(kc, n, MRC_SORT_KEY, tops[i]);
    }

    /* keys of 300 KiB and 3 MiB (larger than the write buffer) between small ones */
    size_t big = 3u << 20;
    char *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, 'h', big);
    key_count mixed[] = {{huge, 300u << 10, 2},       {"s", 1, 2}, {huge, big, 3}, {"t", 1, 1},
                         {huge, (300u << 10) + 1, 1}, {huge, 5, 2}};
    check_against_oracle(mixed, sizeof mixed / sizeof mixed[0], MRC_SORT_COUNT, 0);
    check_against_oracle(mixed, sizeof mixed / sizeof mixed[0], MRC_SORT_KEY, 0);
    free(huge);
    free(keys);
    free(kc);
}

/* Enough records for the radix sort (>= 2^16): counts from 1 to 2^64-1 (every 16-bit digit
 * varies, so no pass is skipped), and keys that tie on their first 8 bytes in long runs,
 * shorter than 8 bytes, with NUL bytes, or prefixes of one another. */
static void test_radix_sized_tables(void **state)
{
    (void)state;
    srand(777);
    size_t n = 150000;
    key_count *kc = malloc(n * sizeof *kc);
    char *keys = malloc(n * 32);
    assert_non_null(kc);
    assert_non_null(keys);
    for (size_t i = 0; i < n; i++) {
        char *k = keys + i * 32;
        int len;
        switch (i % 4) {
        case 0:
            len = snprintf(k, 32, "stem-of-8%zu", i);
            break; /* 8-byte ties */
        case 1:
            len = snprintf(k, 32, "%zx", i);
            break; /* short keys */
        case 2:
            len = snprintf(k, 32, "ab%c%zu", '\0', i);
            break; /* a NUL inside */
        default:
            len = snprintf(k, 32, "%c%c%zu", rand() % 256, rand() % 256, i);
            break;
        }
        uint64_t c = 1;
        switch (rand() % 5) {
        case 0:
            c = (uint64_t)(rand() % 7) + 1;
            break;
        case 1:
            c = ((uint64_t)rand() << 33) ^ ((uint64_t)rand() << 2) ^ (uint64_t)rand();
            break;
        case 2:
            c = UINT64_MAX - (uint64_t)(rand() % 3);
            break;
        case 3:
            c = (uint64_t)1 << (rand() % 64);
            break;
        default:
            break;
        }
        kc[i] = (key_count){k, (size_t)len, c ? c : 1};
    }
    /* a key and its prefixes, with the same count */
    kc[0] = (key_count){"stem-of-8", 9, 5};
    kc[4] = (key_count){"stem-of", 7, 5};
    kc[8] = (key_count){"stem-of-", 8, 5};
    check_against_oracle(kc, n, MRC_SORT_COUNT, 0);
    check_against_oracle(kc, n, MRC_SORT_KEY, 0);
    check_against_oracle(kc, n, MRC_SORT_COUNT, 100000);
    free(keys);
    free(kc);
}

static void test_empty_table(void **state)
{
    (void)state;
    char *t = write_and_read(NULL, 0, MRC_SORT_COUNT, 0);
    assert_string_equal(t, "");
    free(t);
    t = write_and_read(NULL, 0, MRC_SORT_KEY, 5);
    assert_string_equal(t, "");
    free(t);
}

static void test_rename_replaces_and_leaves_no_temp(void **state)
{
    (void)state;
    const char *path = tmp_path("replace.tsv");
    write_file(path, "old content\n");
    assert_int_equal(chmod(path, 0604), 0);
    const key_count kc[] = {KC("new", 1)};
    ser_buf b = table_of(kc, 1);
    mrc_output_opts o = {.path = path, .sort = MRC_SORT_COUNT, .top = 0, .stop = NULL};
    mrc_err e = {0};
    mode_t old_mask = umask(027);
    assert_int_equal(mrc_output_write(b.p, b.len, &o, &e), 0);
    size_t len;
    unsigned char *t = slurp(path, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(t, "new\t1\n", 6);
    free(t);
    assert_int_equal(count_entries(tmpdir, "replace.tsv"), 1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0604); /* the replaced file's, whatever the umask */
    /* a new file: 0666 less the umask, as a shell's > makes it */
    const char *fresh = tmp_path("fresh.tsv");
    unlink(fresh);
    o.path = fresh;
    assert_int_equal(mrc_output_write(b.p, b.len, &o, &e), 0);
    umask(old_mask);
    assert_int_equal(stat(fresh, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    unlink(fresh);
    o.path = path;

    /* the temporary name is the path, ".tmp.", the pid */
    char *tmp = mrc_temp_path(path);
    char want[256];
    snprintf(want, sizeof want, "%s.tmp.%ld", path, (long)getpid());
    assert_string_equal(tmp, want);

    /* a stale temporary of our pid (a dead process with the same pid) is replaced */
    write_file(tmp, "stale");
    assert_int_equal(mrc_output_write(b.p, b.len, &o, &e), 0);
    assert_int_equal(access(tmp, F_OK), -1);
    free(tmp);
    free(b.p);
}

/* A stop flag (a signal) ends the write (here in the sort before it): an error, the old file
 * kept, no temporary left. */
static void test_stop_ends_the_write(void **state)
{
    (void)state;
    const char *path = tmp_path("stopped.tsv");
    write_file(path, "old content\n");
    const key_count kc[] = {KC("a", 2), KC("b", 1)};
    ser_buf b = table_of(kc, 2);
    atomic_int stop = 1;
    mrc_output_opts o = {.path = path, .sort = MRC_SORT_COUNT, .top = 0, .stop = &stop};
    mrc_err e = {0};
    assert_int_equal(mrc_output_write(b.p, b.len, &o, &e), MRC_EINTR); /* in its sort */
    assert_string_equal(e.msg, "output sort: stopped");
    assert_kept(path, "stopped.tsv", "old content\n");
    /* not raised: written */
    atomic_store(&stop, 0);
    assert_int_equal(mrc_output_write(b.p, b.len, &o, &e), 0);
    size_t len;
    unsigned char *t = slurp(path, &len);
    assert_int_equal(len, 8);
    assert_memory_equal(t, "a\t2\nb\t1\n", 8);
    free(t);
    free(b.p);
}

static void test_unwritable_destinations(void **state)
{
    (void)state;
    const key_count kc[] = {KC("k", 1)};
    ser_buf b = table_of(kc, 1);
    char path[256], msg[300];
    mrc_err e = {0};

    snprintf(path, sizeof path, "%s/no/such/dir/out.tsv", tmpdir);
    mrc_output_opts o = {.path = path, .sort = MRC_SORT_COUNT, .top = 0, .stop = NULL};
    assert_int_not_equal(mrc_output_write(b.p, b.len, &o, &e), 0);
    snprintf(msg, sizeof msg, "%s: No such file or directory", path);
    assert_string_equal(e.msg, msg);
    assert_int_equal(e.code, MRC_EIO);

    /* a directory as the path */
    memset(&e, 0, sizeof e);
    o.path = tmpdir;
    assert_int_not_equal(mrc_output_write(b.p, b.len, &o, &e), 0);
    snprintf(msg, sizeof msg, "%s: Is a directory", tmpdir);
    assert_string_equal(e.msg, msg);

    /* a read-only directory (root ignores modes, so only as an ordinary user) */
    if (geteuid() != 0) {
        const char *ro = tmp_path("readonly");
        assert_int_equal(mkdir(ro, 0555), 0);
        snprintf(path, sizeof path, "%s/out.tsv", ro);
        o.path = path;
        memset(&e, 0, sizeof e);
        assert_int_not_equal(mrc_output_write(b.p, b.len, &o, &e), 0);
        snprintf(msg, sizeof msg, "%s: Permission denied", path);
        assert_string_equal(e.msg, msg);
        assert_int_equal(count_entries(ro, ""), 2); /* . and .. */
        chmod(ro, 0755);
    }

    /* a device is written in place: /dev/null takes it, /dev/full reports ENOSPC */
    o.path = "/dev/null";
    memset(&e, 0, sizeof e);
    assert_int_equal(mrc_output_write(b.p, b.len, &o, &e), 0);
    o.path = "/dev/full";
    assert_int_not_equal(mrc_output_write(b.p, b.len, &o, &e), 0);
    assert_string_equal(e.msg, "/dev/full: No space left on device");
    free(b.p);
}

/* A write that fails half-way (file size limit) removes the temporary and keeps the old file. */
static void test_failed_write_keeps_old_file(void **state)
{
    (void)state;
    size_t n = 20000;
    key_count *kc = malloc(n * sizeof *kc);
    char *keys = malloc(n * 16);
    assert_non_null(kc);
    assert_non_null(keys);
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(keys + i * 16, 16, "key%zu", i);
        kc[i] = (key_count){keys + i * 16, (size_t)len, i};
    }
    ser_buf b = table_of(kc, n);
    const char *path = tmp_path("limited.tsv");
    write_file(path, "previous result\n");

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 4096;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    mrc_output_opts o = {.path = path, .sort = MRC_SORT_COUNT, .top = 0, .stop = NULL};
    mrc_err e = {0};
    int rc = mrc_output_write(b.p, b.len, &o, &e);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);

    assert_int_not_equal(rc, 0);
    char msg[300];
    snprintf(msg, sizeof msg, "%s: File too large", path);
    assert_string_equal(e.msg, msg);
    assert_kept(path, "limited.tsv", "previous result\n");
    free(b.p);
    free(keys);
    free(kc);
}

static void test_malformed_tables(void **state)
{
    (void)state;
    const key_count kc[] = {KC("alpha-alpha-alpha", 2), KC("beta", 1)};
    const char *path = tmp_path("never.tsv");
    char msg[300];
    mrc_output_opts o = {.path = path, .sort = MRC_SORT_COUNT, .top = 0, .stop = NULL};
    mrc_err e;

    ser_buf b = table_of(kc, 2);
    memset(&e, 0, sizeof e);
    assert_int_equal(mrc_output_write(b.p, 10, &o, &e), MRC_EINVAL);
    snprintf(msg, sizeof msg, "%s: malformed count table (10 bytes)", path);
    assert_string_equal(e.msg, msg);

    b.p[0] ^= 1; /* magic */
    memset(&e, 0, sizeof e);
    assert_int_equal(mrc_output_write(b.p, b.len, &o, &e), MRC_EINVAL);
    snprintf(msg, sizeof msg, "%s: malformed count table (bad magic or version)", path);
    assert_string_equal(e.msg, msg);
    b.p[0] ^= 1;

    memset(&e, 0, sizeof e); /* payload longer than the buffer */
    assert_int_equal(mrc_output_write(b.p, b.len - 1, &o, &e), MRC_EINVAL);
    snprintf(msg, sizeof msg, "%s: malformed count table (sizes past the buffer)", path);
    assert_string_equal(e.msg, msg);

    b.p[8] = 4; /* more records than the payload could hold */
    memset(&e, 0, sizeof e);
    assert_int_equal(mrc_output_write(b.p, b.len, &o, &e), MRC_EINVAL);
    snprintf(msg, sizeof msg, "%s: malformed count table (sizes past the buffer)", path);
    assert_string_equal(e.msg, msg);

    b.p[8] = 3; /* three records announced, two present */
    memset(&e, 0, sizeof e);
    assert_int_equal(mrc_output_write(b.p, b.len, &o, &e), MRC_EINVAL);
    snprintf(msg, sizeof msg, "%s: malformed count table (2 records, header says 3)", path);
    assert_string_equal(e.msg, msg);
    b.p[8] = 1; /* one announced, two present */
    memset(&e, 0, sizeof e);
    assert_int_equal(mrc_output_write(b.p, b.len, &o, &e), MRC_EINVAL);
    snprintf(msg, sizeof msg, "%s: malformed count table (more records than the header's 1)", path);
    assert_string_equal(e.msg, msg);
    b.p[8] = 2;

    b.p[MRC_SER_HEADER + 12 + 17 + 8] = 200; /* second key length past the payload */
    memset(&e, 0, sizeof e);
    assert_int_equal(mrc_output_write(b.p, b.len, &o, &e), MRC_EINVAL);
    snprintf(msg, sizeof msg, "%s: malformed count table (record 2 of 2 truncated)", path);
    assert_string_equal(e.msg, msg);
    free(b.p);

    b = table_of(kc, 2);
    ser_finish(&b, MRC_SER_FLAG_OVERFLOW);
    memset(&e, 0, sizeof e);
    assert_int_equal(mrc_output_write(b.p, b.len, &o, &e), MRC_EINVAL);
    snprintf(msg, sizeof msg,
             "%s: the count table is incomplete (a merge overflowed its "
             "buffer); refusing to write it",
             path);
    assert_string_equal(e.msg, msg);
    ser_finish(&b, MRC_SER_FLAG_COUNT_OVERFLOW);
    memset(&e, 0, sizeof e);
    assert_int_equal(mrc_output_write(b.p, b.len, &o, &e), MRC_EOVERFLOW);
    free(b.p);

    assert_int_equal(count_entries(tmpdir, "never.tsv"), 0);
}

/* "-" goes to file descriptor 1: a pipe here. */
static void test_stdout(void **state)
{
    (void)state;
    const key_count kc[] = {KC("two", 2), KC("one", 1), KC("three", 3)};
    ser_buf b = table_of(kc, 3);
    mrc_output_opts o = {.path = "-", .sort = MRC_SORT_COUNT, .top = 0, .stop = NULL};
    mrc_err e = {0};

    fflush(stdout);
    int saved = dup(STDOUT_FILENO), fds[2];
    assert_true(saved >= 0);
    assert_int_equal(pipe(fds), 0);
    assert_true(dup2(fds[1], STDOUT_FILENO) >= 0);
    close(fds[1]);
    int rc = mrc_output_write(b.p, b.len, &o, &e);
    assert_true(dup2(saved, STDOUT_FILENO) >= 0); /* also closes the pipe's write end */
    assert_int_equal(rc, 0);
    char text[128];
    ssize_t n = read(fds[0], text, sizeof text - 1);
    assert_true(n >= 0);
    text[n] = '\0';
    assert_string_equal(text, "three\t3\ntwo\t2\none\t1\n");
    close(fds[0]);

    /* a reader that went away: EPIPE is an error, not a silent success */
    void (*old_handler)(int) = signal(SIGPIPE, SIG_IGN);
    assert_int_equal(pipe(fds), 0);
    close(fds[0]);
    assert_true(dup2(fds[1], STDOUT_FILENO) >= 0);
    close(fds[1]);
    memset(&e, 0, sizeof e);
    rc = mrc_output_write(b.p, b.len, &o, &e);
    assert_true(dup2(saved, STDOUT_FILENO) >= 0);
    close(saved);
    signal(SIGPIPE, old_handler);
    assert_int_not_equal(rc, 0);
    assert_string_equal(e.msg, "standard output: Broken pipe");
    free(b.p);
}

/* mrc_output_edges(): the body between the edges starts and ends on pages; each edge is
 * shorter than a page; no body means no whole page inside. */
static void test_edges(void **state)
{
    (void)state;
    static const uint64_t pages[] = {1, 2, 7, 64, 4096};
    for (size_t p = 0; p < sizeof pages / sizeof pages[0]; p++)
        for (uint64_t at = 0; at < 3 * pages[p] + 3; at++)
            for (uint64_t bytes = 0; bytes < 3 * pages[p] + 3; bytes += 1 + bytes / 5) {
                uint64_t pg = pages[p], head, tail;
                mrc_output_edges(at, bytes, pg, &head, &tail);
                assert_true(head + tail <= bytes);
                uint64_t from = at + head, to = at + bytes - tail;
                if (from < to) {
                    assert_int_equal(from % pg, 0);
                    assert_int_equal(to % pg, 0);
                    assert_true(head < pg && tail < pg);
                } else {
                    assert_int_equal(tail, 0);
                    assert_int_equal(head, bytes);
                    assert_true((at + pg - 1) / pg * pg + pg > at + bytes); /* no whole page */
                }
            }
    uint64_t head = 1, tail = 1;
    mrc_output_edges(5, 100, 0, &head, &tail);
    assert_true(head == 0 && tail == 0);
}

/* Writers of slices of the sorted lines, each at its offset into one file (as the ranks do),
 * their edges written afterwards by one: the file equals the oracle for any page size and
 * writer count; lines that do not add up to their stated length are an error. */
static void test_written_in_place(void **state)
{
    (void)state;
    size_t n = 5000;
    char *keys;
    key_count *kc = random_keys(n, 4242, &keys);
    size_t want_len;
    unsigned char *want = oracle_text(kc, n, MRC_SORT_COUNT, 0, &want_len);
    ser_buf b = table_of(kc, n);
    mrc_err e = {0};
    mrc_out_ref *refs = NULL;
    size_t nrefs = 0;
    assert_int_equal(mrc_output_refs_from_table(b.p, b.len, "t", &refs, &nrefs, &e), 0);
    mrc_out_sorted all;
    assert_int_equal(mrc_output_sort(refs, nrefs, MRC_ORDER_COUNT, 0, NULL, NULL, NULL, &all, &e),
                     0);
    mrc_output_opts o = {.sort = MRC_SORT_COUNT};
    const char *path = tmp_path("placed.tsv");
    static const uint64_t pages[] = {1, 7, 4096, 1 << 20};
    static const size_t writers[] = {1, 2, 3, 7};
    for (size_t p = 0; p < sizeof pages / sizeof pages[0]; p++)
        for (size_t wi = 0; wi < sizeof writers / sizeof writers[0]; wi++) {
            size_t W = writers[wi];
            mrc_out_file *f = NULL;
            assert_int_equal(mrc_output_file_open(path, want_len, &f, &e), 0);
            assert_non_null(f);
            uint64_t at = 0;
            unsigned char *edges[8] = {0};
            uint64_t start[8], len[8];
            for (size_t w = 0; w < W; w++) {
                size_t from = n * w / W, to = n * (w + 1) / W;
                mrc_out_sorted s = {.refs = all.refs + from,
                                    .n = to - from,
                                    .order = MRC_ORDER_COUNT,
                                    .records = to - from};
                uint64_t bytes = 0;
                for (size_t i = from; i < to; i++)
                    bytes +=
                        (uint64_t)snprintf(NULL, 0, "\t%llu\n",
                                           (unsigned long long)mrc_rec_count(all.refs[i].rec)) +
                        mrc_rec_len(all.refs[i].rec);
                mrc_out_at a = {.fd = mrc_output_file_fd(f),
                                .label = path,
                                .at = at,
                                .bytes = bytes,
                                .page = w == 0 ? 0 : pages[p]};
                assert_int_equal(mrc_output_write_sorted_at(&s, &o, NULL, NULL, &a, &e), 0);
                uint64_t head, tail;
                mrc_output_edges(a.at, a.bytes, a.page, &head, &tail);
                assert_int_equal(a.edges_len, head + tail);
                edges[w] = a.edges;
                start[w] = at;
                len[w] = bytes;
                at += bytes;
            }
            assert_int_equal(at, want_len);
            for (size_t w = 1; w < W; w++) { /* the edges, by one writer */
                uint64_t head, tail;
                mrc_output_edges(start[w], len[w], pages[p], &head, &tail);
                if (head) assert_int_equal(mrc_output_file_put(f, edges[w], head, start[w], &e), 0);
                if (tail)
                    assert_int_equal(
                        mrc_output_file_put(f, edges[w] + head, tail, start[w] + len[w] - tail, &e),
                        0);
                free(edges[w]);
            }
            assert_int_equal(mrc_output_file_close(f, want_len, 0, &e), 0);
            size_t got_len;
            unsigned char *got = slurp(path, &got_len);
            assert_int_equal(got_len, want_len);
            assert_memory_equal(got, want, want_len);
            free(got);
        }
    /* a stated length that is not the lines': an error, never a short or overlapping file */
    mrc_out_file *f = NULL;
    assert_int_equal(mrc_output_file_open(path, want_len, &f, &e), 0);
    mrc_out_at a = {.fd = mrc_output_file_fd(f), .label = path, .bytes = want_len - 1, .page = 64};
    assert_int_not_equal(mrc_output_write_sorted_at(&all, &o, NULL, NULL, &a, &e), 0);
    assert_int_equal(strncmp(e.msg, path, strlen(path)), 0);
    a.bytes = want_len + 1;
    e = (mrc_err){0};
    assert_int_not_equal(mrc_output_write_sorted_at(&all, &o, NULL, NULL, &a, &e), 0);
    assert_non_null(strstr(e.msg, " expected"));
    assert_int_not_equal(mrc_output_file_close(f, want_len, MRC_EIO, &e), 0);
    assert_int_equal(count_entries(tmpdir, "placed.tsv.tmp"), 0);
    free(refs);
    free(b.p);
    free(want);
    free(keys);
    free(kc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort_by_count_then_key),
        cmocka_unit_test(test_top),
        cmocka_unit_test(test_binary_keys),
        cmocka_unit_test(test_counts_format),
        cmocka_unit_test(test_random_tables),
        cmocka_unit_test(test_radix_sized_tables),
        cmocka_unit_test(test_empty_table),
        cmocka_unit_test(test_rename_replaces_and_leaves_no_temp),
        cmocka_unit_test(test_stop_ends_the_write),
        cmocka_unit_test(test_unwritable_destinations),
        cmocka_unit_test(test_failed_write_keeps_old_file),
        cmocka_unit_test(test_malformed_tables),
        cmocka_unit_test(test_stdout),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_written_in_place),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
