/* test_checkpoint.c - the --checkpoint DIR files (checkpoint.c) against expectations written
 * here: a manifest written and read back field for field, its text equal to the format written
 * out by hand; every prefix of a manifest (a write cut short) and manifests with a line too many,
 * an unknown line or another magic never taken, alone or among whole ones in a directory (whose
 * highest generation ignores them); the fingerprint: new, equal, different (the first differing
 * line of both named), reset (the checkpoint's files removed, nobody else's); named runs written,
 * sealed, reopened and read back equal to the records written (whole and by hash range through
 * the reopened index), and refused when the manifest's size is wrong or the index is missing or
 * cut; the sweep of what no manifest names and the removal of a checkpoint. One fresh mkdtemp
 * directory per test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "records_util.h"

#include "mrcount/map.h"

static char dir[256];

static int dir_make(void **state)
{
    (void)state;
    return tmpdir_make(dir, sizeof dir, "/tmp/mrc_ckpt_XXXXXX");
}

static int dir_remove(void **state)
{
    (void)state;
    return rm_tree(dir);
}

/* ---- files ---- */

static char *path_in(const char *d, const char *name)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", d, name) > 0);
    return p;
}

static void put_file(const char *d, const char *name, const void *bytes, size_t n)
{
    char *p = path_in(d, name);
    FILE *f = fopen(p, "wb");
    if (f == NULL) fail_msg("%s: %s", p, strerror(errno));
    if (n) assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    free(p);
}

static void put_text(const char *d, const char *name, const char *text)
{
    put_file(d, name, text, strlen(text));
}

/* The whole file (NUL-terminated; *len bytes), or NULL when it cannot be opened. */
static char *get_file(const char *d, const char *name, size_t *len)
{
    char *p = path_in(d, name);
    FILE *f = fopen(p, "rb");
    free(p);
    if (f == NULL) return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    for (size_t k; (k = fread(b + n, 1, cap - n - 1, f)) > 0;) {
        n += k;
        if (cap - n - 1 == 0) {
            cap *= 2;
            b = realloc(b, cap);
            assert_non_null(b);
        }
    }
    fclose(f);
    b[n] = '\0';
    if (len) *len = n;
    return b;
}

static bool exists(const char *d, const char *name)
{
    char *p = path_in(d, name);
    struct stat st;
    bool e = lstat(p, &st) == 0;
    free(p);
    return e;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in d, sorted, one per line ("" for an empty directory): compared as one string, a
 * failure shows the whole listing. */
static char *listing(const char *d)
{
    DIR *dh = opendir(d);
    if (dh == NULL) fail_msg("%s: %s", d, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0, total = 1;
    for (struct dirent *e; (e = readdir(dh)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            names = realloc(names, cap * sizeof *names);
            assert_non_null(names);
        }
        names[n] = strdup(e->d_name);
        assert_non_null(names[n]);
        total += strlen(names[n++]) + 1;
    }
    closedir(dh);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    char *s = malloc(total);
    assert_non_null(s);
    s[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strcat(s, names[i]);
        strcat(s, "\n");
        free(names[i]);
    }
    free(names);
    return s;
}

static void assert_listing(const char *d, const char *want)
{
    char *got = listing(d);
    assert_string_equal(got, want);
    free(got);
}

static int open_fds(void)
{
    DIR *dh = opendir("/proc/self/fd");
    if (dh == NULL) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(dh)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(dh);
    return n;
}

/* ---- manifests ---- */

static mrc_ckpt_run runs_a[] = {
    {"r2-g3-w1-0.run", 123456789012ull, 42, 18446744073709551615ull, 0x0123456789abcdefull, true,
     4294967295u},
    {"r2-g3-w1-1.run", 0, 0, 0, 0, true, 0},
    {"r2-g3-w1-7.run", 4096, 300, 9000000000ull, 0, false, 0}, /* a manifest of before the sums */
};
static mrc_split pieces_a[] = {
    {0, 0, 0, 67108864},
    {0, 0, 67108864, 1234},
    {3, 0, 9223372036854775808ull, 1},
    {4294967295u, 0, 0, 18446744073709551615ull},
};
static mrc_bad_file bad_a[] = {{0, 3}, {7, 18446744073709551615ull}};
static mrc_bad_sample samples_a[] = {
    {0, 1, 0, 5}, {0, 2, 67108864, 99}, {7, 4294967295u, 18446744073709551615ull, 0}};

/* manifest_a() as written, up to its "end" line, which carries the XXH3-64 of all before it */
static const char body_a[] = "mrcount-checkpoint 1\n"
                             "worker 2 3 1\n"
                             "figures 67110098 4242 0 1 18446744073709551615 77\n"
                             "run r2-g3-w1-0.run 123456789012 42 18446744073709551615 "
                             "0123456789abcdef 4294967295\n"
                             "run r2-g3-w1-1.run 0 0 0 0000000000000000 0\n"
                             "run r2-g3-w1-7.run 4096 300 9000000000\n"
                             "piece 0 0 67108864\n"
                             "piece 0 67108864 1234\n"
                             "piece 3 9223372036854775808 1\n"
                             "piece 4294967295 0 18446744073709551615\n"
                             "bad 0 3\n"
                             "bad 7 18446744073709551615\n"
                             "sample 0 1 0 5\n"
                             "sample 0 2 67108864 99\n"
                             "sample 7 4294967295 18446744073709551615 0\n";
static char text_a[sizeof body_a + 21];

static const char *manifest_text_a(void)
{
    snprintf(text_a, sizeof text_a, "%send %016llx\n", body_a,
             (unsigned long long)XXH3_64bits(body_a, strlen(body_a)));
    return text_a;
}

static mrc_ckpt_manifest manifest_a(void)
{
    mrc_ckpt_manifest m = {.rank = 2,
                           .gen = 3,
                           .worker = 1,
                           .runs = runs_a,
                           .nruns = 3,
                           .pieces = pieces_a,
                           .npieces = 4,
                           .bytes = 67110098,
                           .records = 4242,
                           .counters = {0, 1, 18446744073709551615ull, 77},
                           .bad_files = bad_a,
                           .nbad_files = 2,
                           .bad_samples = samples_a,
                           .nbad_samples = 3};
    return m;
}

static mrc_split pieces_of[4] = {{0, 0, 0, 1000}, {0, 0, 1000, 1000}, {1, 0, 0, 5}, {2, 0, 7, 9}};

/* A manifest naming the given runs (pieces: one per run). */
static mrc_ckpt_manifest manifest_of(int rank, int gen, int worker, mrc_ckpt_run *runs,
                                     size_t nruns)
{
    mrc_split *pc = pieces_of;
    assert_true(nruns <= 4);
    mrc_ckpt_manifest m = {.rank = rank,
                           .gen = gen,
                           .worker = worker,
                           .runs = runs,
                           .nruns = nruns,
                           .pieces = pc,
                           .npieces = nruns,
                           .bytes = 1000 * (uint64_t)nruns,
                           .records = 10 * (uint64_t)nruns,
                           .counters = {1, 2, 3, 4}};
    return m;
}

static void assert_manifest_equal(const mrc_ckpt_manifest *got, const mrc_ckpt_manifest *want)
{
    assert_int_equal(got->rank, want->rank);
    assert_int_equal(got->gen, want->gen);
    assert_int_equal(got->worker, want->worker);
    assert_int_equal(got->bytes, want->bytes);
    assert_int_equal(got->records, want->records);
    for (size_t c = 0; c < MRC_JOB_COUNTERS; c++)
        assert_int_equal(got->counters[c], want->counters[c]);
    assert_int_equal(got->nruns, want->nruns);
    for (size_t i = 0; i < want->nruns; i++) {
        assert_string_equal(got->runs[i].name, want->runs[i].name);
        assert_int_equal(got->runs[i].bytes, want->runs[i].bytes);
        assert_int_equal(got->runs[i].records, want->runs[i].records);
        assert_int_equal(got->runs[i].total, want->runs[i].total);
        assert_int_equal(got->runs[i].has_sum, want->runs[i].has_sum);
        if (want->runs[i].has_sum) assert_int_equal(got->runs[i].sum, want->runs[i].sum);
        assert_int_equal(got->runs[i].max_len, want->runs[i].max_len);
    }
    assert_int_equal(got->npieces, want->npieces);
    for (size_t i = 0; i < want->npieces; i++) {
        assert_int_equal(got->pieces[i].file, want->pieces[i].file);
        assert_int_equal(got->pieces[i].offset, want->pieces[i].offset);
        assert_int_equal(got->pieces[i].length, want->pieces[i].length);
    }
    assert_int_equal(got->nbad_files, want->nbad_files);
    for (size_t i = 0; i < want->nbad_files; i++) {
        assert_int_equal(got->bad_files[i].file, want->bad_files[i].file);
        assert_int_equal(got->bad_files[i].count, want->bad_files[i].count);
    }
    assert_int_equal(got->nbad_samples, want->nbad_samples);
    for (size_t i = 0; i < want->nbad_samples; i++) {
        assert_int_equal(got->bad_samples[i].file, want->bad_samples[i].file);
        assert_int_equal(got->bad_samples[i].cause, want->bad_samples[i].cause);
        assert_int_equal(got->bad_samples[i].piece_offset, want->bad_samples[i].piece_offset);
        assert_int_equal(got->bad_samples[i].piece_line, want->bad_samples[i].piece_line);
    }
}

static void write_manifest(const char *d, const mrc_ckpt_manifest *m)
{
    mrc_err err = {0};
    if (mrc_ckpt_write_manifest(d, m, &err) != 0) fail_msg("write manifest: %s", err.msg);
}

/* A rejected manifest leaves *out empty (safe to free, nothing to leak). */
static void assert_rejected(const char *name)
{
    mrc_ckpt_manifest m;
    memset(&m, 0xa5, sizeof m);
    int got = mrc_ckpt_read_manifest(dir, name, &m);
    if (got != 0) {
        char *text = get_file(dir, name, NULL);
        fail_msg("manifest taken (%d):\n%s", got, text ? text : "(none)");
    }
    assert_null(m.runs);
    assert_int_equal(m.nruns, 0);
    assert_null(m.pieces);
    assert_null(m.bad_files);
    assert_null(m.bad_samples);
}

/* The manifest of (rank, gen, worker) among out[0, n). */
static const mrc_ckpt_manifest *find_manifest(const mrc_ckpt_manifest *out, size_t n, int rank,
                                              int gen, int worker)
{
    const mrc_ckpt_manifest *hit = NULL;
    for (size_t i = 0; i < n; i++)
        if (out[i].rank == rank && out[i].gen == gen && out[i].worker == worker) {
            assert_null(hit); /* once */
            hit = &out[i];
        }
    if (hit == NULL) fail_msg("no manifest r%d-g%d-w%d", rank, gen, worker);
    return hit;
}

static void free_manifests(mrc_ckpt_manifest *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mrc_ckpt_manifest_free(&out[i]);
    free(out);
}

static void test_manifest_round_trip(void **state)
{
    (void)state;
    mrc_ckpt_manifest a = manifest_a();
    char name[96];
    mrc_ckpt_manifest_name(&a, name, sizeof name);
    assert_string_equal(name, "r2-g3-w1.manifest");
    write_manifest(dir, &a);

    /* the text, as the format says, and nothing left beside it */
    size_t len;
    char *text = get_file(dir, name, &len);
    assert_non_null(text);
    assert_string_equal(text, manifest_text_a());
    free(text);
    assert_listing(dir, "r2-g3-w1.manifest\n");

    mrc_ckpt_manifest got;
    assert_int_equal(mrc_ckpt_read_manifest(dir, name, &got), 1);
    assert_manifest_equal(&got, &a);
    mrc_ckpt_manifest_free(&got);
    assert_null(got.runs);
    assert_int_equal(got.nruns, 0);

    /* absent */
    assert_int_equal(mrc_ckpt_read_manifest(dir, "r9-g9-w9.manifest", &got), 0);

    /* replaced whole by a later write of the same worker */
    mrc_ckpt_manifest a2 = a;
    a2.nruns = 1;
    a2.npieces = 2;
    a2.nbad_files = 0;
    a2.nbad_samples = 0;
    a2.records = 1;
    write_manifest(dir, &a2);
    assert_int_equal(mrc_ckpt_read_manifest(dir, name, &got), 1);
    assert_manifest_equal(&got, &a2);
    mrc_ckpt_manifest_free(&got);
    write_manifest(dir, &a);

    /* several manifests of several generations; an empty one; a torn one of a higher
     * generation, a whole one under a temporary name and other files, all left out */
    mrc_ckpt_manifest empty = {.rank = 0, .gen = 1, .worker = 0};
    mrc_ckpt_run runs_b[] = {{"r1-g5-w2-0.run", 12, 1, 5, 7, true, 3}};
    mrc_ckpt_manifest b = manifest_of(1, 5, 2, runs_b, 1);
    mrc_ckpt_manifest c = manifest_of(1, 2, 0, runs_b, 1);
    write_manifest(dir, &empty);
    write_manifest(dir, &b);
    write_manifest(dir, &c);
    mrc_ckpt_manifest_name(&b, name, sizeof name);
    assert_string_equal(name, "r1-g5-w2.manifest");
    mrc_ckpt_manifest_name(&empty, name, sizeof name);
    assert_string_equal(name, "r0-g1-w0.manifest");
    put_text(dir, "r0-g9-w0.manifest", "mrcount-checkpoint 1\nworker 0 9 0\nfigures 0 0 0 0 0 0\n");
    put_text(dir, "r0-g7-w0.manifest.tmp", "mrcount-checkpoint 1\nworker 0 7 0\nend\n");
    put_text(dir, "notes.txt", "mrcount-checkpoint 1\nworker 0 8 0\nend\n");
    char *sub = path_in(dir, "r3-g6-w0.manifest"); /* a directory under a manifest's name */
    assert_int_equal(mkdir(sub, 0755), 0);
    free(sub);

    mrc_ckpt_manifest *out = NULL;
    size_t n = 99;
    int max_gen = -1;
    mrc_err err = {0};
    assert_int_equal(mrc_ckpt_read_dir(dir, &out, &n, &max_gen, &err), 0);
    assert_int_equal(n, 4);
    assert_int_equal(max_gen, 5);
    assert_manifest_equal(find_manifest(out, n, 2, 3, 1), &a);
    assert_manifest_equal(find_manifest(out, n, 1, 5, 2), &b);
    assert_manifest_equal(find_manifest(out, n, 1, 2, 0), &c);
    assert_manifest_equal(find_manifest(out, n, 0, 1, 0), &empty);
    free_manifests(out, n);

    /* a missing directory: nothing, no error */
    char *missing = path_in(dir, "missing");
    assert_int_equal(mrc_ckpt_read_dir(missing, &out, &n, &max_gen, &err), 0);
    assert_int_equal(n, 0);
    assert_null(out);
    assert_int_equal(max_gen, 0);
    free(missing);
}

static void test_torn_manifests(void **state)
{
    (void)state;
    mrc_ckpt_manifest a = manifest_a();
    write_manifest(dir, &a);
    size_t len;
    char *whole = get_file(dir, "r2-g3-w1.manifest", &len);
    assert_non_null(whole);
    assert_int_equal(len, strlen(manifest_text_a()));
    assert_true(len > 21 && memcmp(whole + len - 21, "end ", 4) == 0 && whole[len - 1] == '\n');

    /* every write cut short: no prefix without the whole "end" line is taken. The prefix that
     * only lacks the last newline holds every line whole: the code takes it (fgets gives the
     * last line without its newline); if it is taken, it must be the whole manifest. */
    int last_taken = -1;
    for (size_t k = 0; k < len; k++) {
        put_file(dir, "r2-g3-w1.manifest", whole, k);
        mrc_ckpt_manifest m;
        int got = mrc_ckpt_read_manifest(dir, "r2-g3-w1.manifest", &m);
        if (k + 1 < len) {
            if (got != 0) fail_msg("a prefix of %zu of %zu bytes was taken (%d)", k, len, got);
            assert_null(m.runs);
            assert_null(m.pieces);
        } else {
            assert_true(got == 0 || got == 1);
            if (got == 1) {
                assert_manifest_equal(&m, &a);
                mrc_ckpt_manifest_free(&m);
            }
            last_taken = got;
        }
    }
    assert_int_equal(last_taken, 1); /* what the code does today (see above) */

    /* whole but wrong: a line after "end", an unknown line, another magic, no worker line, a
     * short run line, a blank line */
    static const struct {
        const char *what, *text;
    } bad[] = {
        {"a line after end", "mrcount-checkpoint 1\nworker 0 1 0\nend\nrun r0-g1-w0-0.run 1 1 1\n"},
        {"end twice", "mrcount-checkpoint 1\nworker 0 1 0\nend\nend\n"},
        {"a blank line after end", "mrcount-checkpoint 1\nworker 0 1 0\nend\n\n"},
        {"bytes after end", "mrcount-checkpoint 1\nworker 0 1 0\nend\nx"},
        {"an unknown line", "mrcount-checkpoint 1\nworker 0 1 0\ncolour blue\nend\n"},
        {"a blank line", "mrcount-checkpoint 1\nworker 0 1 0\n\nend\n"},
        {"another magic", "mrcount-checkpoint 2\nworker 0 1 0\nend\n"},
        {"a magic with a space", "mrcount-checkpoint 1 \nworker 0 1 0\nend\n"},
        {"no magic", "worker 0 1 0\nend\n"},
        {"no worker", "mrcount-checkpoint 1\nfigures 0 0 0 0 0 0\nend\n"},
        {"a short worker line", "mrcount-checkpoint 1\nworker 0 1\nend\n"},
        {"a short run line", "mrcount-checkpoint 1\nworker 0 1 0\nrun r0-g1-w0-0.run 1 1\nend\n"},
        {"a checksum of 15 digits",
         "mrcount-checkpoint 1\nworker 0 1 0\nrun r0-g1-w0-0.run 1 1 1 123456789abcdef\nend\n"},
        {"a checksum with 0x",
         "mrcount-checkpoint 1\nworker 0 1 0\nrun r0-g1-w0-0.run 1 1 1 0x23456789abcdef0\nend\n"},
        {"a run line with more after it",
         "mrcount-checkpoint 1\nworker 0 1 0\nrun r0-g1-w0-0.run 1 1 1 0123456789abcdef x\nend\n"},
        {"a key length past 32 bits",
         "mrcount-checkpoint 1\nworker 0 1 0\n"
         "run r0-g1-w0-0.run 1 1 1 0123456789abcdef 4294967296\nend\n"},
        {"a key length with a sign",
         "mrcount-checkpoint 1\nworker 0 1 0\nrun r0-g1-w0-0.run 1 1 1 0123456789abcdef +5\nend\n"},
        {"a key length in hex", "mrcount-checkpoint 1\nworker 0 1 0\nrun r0-g1-w0-0.run 1 1 1 "
                                "0123456789abcdef 0x5\nend\n"},
        {"a key length with more after it", "mrcount-checkpoint 1\nworker 0 1 0\nrun "
                                            "r0-g1-w0-0.run 1 1 1 0123456789abcdef 5 6\nend\n"},
        {"a key length after two spaces",
         "mrcount-checkpoint 1\nworker 0 1 0\nrun r0-g1-w0-0.run 1 1 1 0123456789abcdef  5\nend\n"},
        {"a run outside DIR", "mrcount-checkpoint 1\nworker 0 1 0\nrun ../in/f1.txt 1 1 1\nend\n"},
        {"a hidden run", "mrcount-checkpoint 1\nworker 0 1 0\nrun .r0-g1-w0-0.run 1 1 1\nend\n"},
        {"a short piece line", "mrcount-checkpoint 1\nworker 0 1 0\npiece 0 1\nend\n"},
        {"a short bad line", "mrcount-checkpoint 1\nworker 0 1 0\nbad 0\nend\n"},
        {"a short sample line", "mrcount-checkpoint 1\nworker 0 1 0\nsample 0 1 2\nend\n"},
        {"an empty file", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        put_text(dir, "r0-g1-w0.manifest", bad[i].text);
        mrc_ckpt_manifest m;
        if (mrc_ckpt_read_manifest(dir, "r0-g1-w0.manifest", &m) != 0)
            fail_msg("taken: %s", bad[i].what);
        assert_rejected("r0-g1-w0.manifest");
    }
    /* a digit changed on disk under the checksum, or the checksum changed: not taken (its
     * pieces would resume into a wrong count); the same text whole is */
    const char *pieces = strstr(whole, "piece 0 67108864 1234");
    assert_non_null(pieces);
    size_t at = (size_t)(pieces - whole) + strlen("piece 0 67108864 123");
    for (int what = 0; what < 3; what++) {
        char *copy = malloc(len);
        assert_non_null(copy);
        memcpy(copy, whole, len);
        if (what == 0) copy[at] = '5';        /* the piece 1235 bytes long */
        if (what == 1) copy[len - 2] ^= 0x01; /* the checksum's last digit */
        put_file(dir, "r2-g3-w1.manifest", copy, len);
        mrc_ckpt_manifest m;
        int got = mrc_ckpt_read_manifest(dir, "r2-g3-w1.manifest", &m);
        assert_int_equal(got, what == 2 ? 1 : 0);
        if (got == 1) mrc_ckpt_manifest_free(&m);
        free(copy);
    }
    /* the minimal whole manifest is taken, with the plain "end" of a manifest of before the
     * checksum (the cases above fail for their one defect) */
    put_text(dir, "r0-g1-w0.manifest", "mrcount-checkpoint 1\nworker 0 1 0\nend\n");
    mrc_ckpt_manifest m;
    assert_int_equal(mrc_ckpt_read_manifest(dir, "r0-g1-w0.manifest", &m), 1);
    mrc_ckpt_manifest empty = {.rank = 0, .gen = 1, .worker = 0};
    assert_manifest_equal(&m, &empty);
    mrc_ckpt_manifest_free(&m);
    /* a run line of before the key length (5 fields): taken, the length not known (0) */
    put_text(
        dir, "r0-g1-w0.manifest",
        "mrcount-checkpoint 1\nworker 0 1 0\nrun r0-g1-w0-0.run 1 2 3 0123456789abcdef\nend\n");
    assert_int_equal(mrc_ckpt_read_manifest(dir, "r0-g1-w0.manifest", &m), 1);
    assert_int_equal(m.nruns, 1);
    assert_true(m.runs[0].has_sum && m.runs[0].sum == 0x0123456789abcdefull);
    assert_int_equal(m.runs[0].max_len, 0);
    mrc_ckpt_manifest_free(&m);
    put_text(dir, "r0-g1-w0.manifest", "mrcount-checkpoint 1\nworker 0 1 0\nend\n");

    /* a directory of whole and torn ones: the torn ones (of higher generations) are skipped */
    put_file(dir, "r2-g3-w1.manifest", whole, len);      /* whole, gen 3 */
    put_file(dir, "r4-g8-w0.manifest", whole, len / 2);  /* torn mid-way */
    put_file(dir, "r4-g9-w0.manifest", whole, len - 4);  /* in the checksum */
    put_file(dir, "r4-g9-w1.manifest", whole, len - 19); /* "en" */
    put_text(dir, "r5-g20-w0.manifest", "mrcount-checkpoint 1\nworker 5 20 0\nend\nend\n");
    put_text(dir, "r5-g21-w0.manifest", "mrcount-checkpoint 1\nworker 5 21 0\nfoo\nend\n");
    put_text(dir, "r5-g22-w0.manifest", "mrcount-checkpoint 0\nworker 5 22 0\nend\n");
    mrc_ckpt_manifest *out = NULL;
    size_t n = 0;
    int max_gen = -1;
    mrc_err err = {0};
    assert_int_equal(mrc_ckpt_read_dir(dir, &out, &n, &max_gen, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(max_gen, 3);
    assert_manifest_equal(find_manifest(out, n, 2, 3, 1), &a);
    assert_manifest_equal(find_manifest(out, n, 0, 1, 0), &empty);
    free_manifests(out, n);
    free(whole);
}

/* ---- the fingerprint ---- */

static void assert_file_text(const char *d, const char *name, const char *want)
{
    char *got = get_file(d, name, NULL);
    if (got == NULL) fail_msg("%s/%s: missing", d, name);
    assert_string_equal(got, want);
    free(got);
}

static void test_fingerprint(void **state)
{
    (void)state;
    static const char t1[] = "input /data/a.txt 1000 1700000000\n"
                             "job words lower\n"
                             "split 67108864\n";
    mrc_err err = {0};
    bool resumed = true;

    /* a new checkpoint: written, not resumed */
    assert_int_equal(mrc_ckpt_fingerprint(dir, t1, false, &resumed, &err), 0);
    assert_false(resumed);
    assert_file_text(dir, "fingerprint", t1);
    assert_listing(dir, "fingerprint\n");

    /* the same run: resumed, the file untouched */
    resumed = false;
    assert_int_equal(mrc_ckpt_fingerprint(dir, t1, false, &resumed, &err), 0);
    assert_true(resumed);
    assert_int_equal(err.code, 0);
    assert_file_text(dir, "fingerprint", t1);
    /* reset does not apply to the same run (it starts over only a checkpoint of another) */
    put_text(dir, "r0-g1-w0-0.run", "x");
    resumed = false;
    assert_int_equal(mrc_ckpt_fingerprint(dir, t1, true, &resumed, &err), 0);
    assert_true(resumed);
    assert_listing(dir, "fingerprint\nr0-g1-w0-0.run\n");

    /* another run: MRC_EUSAGE naming the first line that differs, of both */
    static const struct {
        const char *text, *old_line, *new_line;
    } other[] = {
        {"input /data/a.txt 1000 1700000001\njob words lower\nsplit 67108864\n",
         "'input /data/a.txt 1000 1700000000'", "'input /data/a.txt 1000 1700000001'"},
        {"input /data/a.txt 1000 1700000000\njob words upper\nsplit 67108864\n",
         "'job words lower'", "'job words upper'"},
        {"input /data/a.txt 1000 1700000000\njob words lower\nsplit 1048576\n", "'split 67108864'",
         "'split 1048576'"},
        {"input /data/a.txt 1000 1700000000\njob words lowercase\nsplit 67108864\n",
         "'job words lower'", "'job words lowercase'"},
        {"input /data/a.txt 1000 1700000000\njob words lower\nsplit 67108864\nmin 2\n", "''",
         "'min 2'"},
    };
    for (size_t i = 0; i < sizeof other / sizeof *other; i++) {
        mrc_err e = {0};
        resumed = true;
        int rc = mrc_ckpt_fingerprint(dir, other[i].text, false, &resumed, &e);
        assert_int_equal(rc, MRC_EUSAGE);
        assert_int_equal(e.code, MRC_EUSAGE);
        assert_false(resumed);
        if (strstr(e.msg, dir) == NULL || strstr(e.msg, other[i].old_line) == NULL ||
            strstr(e.msg, other[i].new_line) == NULL)
            fail_msg("case %zu: message '%s' should name %s and %s", i, e.msg, other[i].old_line,
                     other[i].new_line);
        if (i != 2) assert_null(strstr(e.msg, "split")); /* only the first differing line */
        assert_file_text(dir, "fingerprint", t1);
    }
    assert_listing(dir, "fingerprint\nr0-g1-w0-0.run\n");

    /* reset: the old checkpoint's files go (manifests, runs, indexes, temporaries), nobody
     * else's, and the new fingerprint is written */
    static const char t2[] = "input /data/b.txt 5 1\njob ngram\n";
    mrc_ckpt_run runs[] = {{"r0-g1-w0-0.run", 1, 1, 1, 0, false, 0},
                           {"r0-g1-w0-1.run", 1, 1, 1, 0, false, 0}};
    mrc_ckpt_manifest m = manifest_of(0, 1, 0, runs, 2);
    write_manifest(dir, &m);
    m.gen = 2;
    write_manifest(dir, &m);
    put_text(dir, "r0-g1-w0-0.run.idx", "i");
    put_text(dir, "r0-g1-w0-1.run", "y");
    put_text(dir, "r0-g1-w0-1.run.idx.tmp", "t");
    put_text(dir, "r0-g3-w0.manifest.tmp", "t");
    put_text(dir, "fingerprint.tmp", "t");
    put_text(dir, "notes.txt", "mine\n");
    put_text(dir, "data.csv", "a,b\n");
    assert_int_equal(mrc_ckpt_fingerprint(dir, t2, true, &resumed, &err), 0);
    assert_false(resumed);
    assert_listing(dir, "data.csv\nfingerprint\nnotes.txt\n");
    assert_file_text(dir, "fingerprint", t2);
    assert_file_text(dir, "notes.txt", "mine\n");
    /* and now it is the checkpoint of t2 */
    assert_int_equal(mrc_ckpt_fingerprint(dir, t2, false, &resumed, &err), 0);
    assert_true(resumed);
    assert_int_equal(mrc_ckpt_fingerprint(dir, t1, false, &resumed, &err), MRC_EUSAGE);
}

static void test_prepare_dir(void **state)
{
    (void)state;
    mrc_err err = {0};
    char *sub = path_in(dir, "ck");
    assert_int_equal(mrc_ckpt_prepare_dir(sub, &err), 0);
    struct stat st;
    assert_int_equal(stat(sub, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    put_text(sub, "keep", "k");
    assert_int_equal(mrc_ckpt_prepare_dir(sub, &err), 0); /* an existing one is taken as is */
    assert_true(exists(sub, "keep"));
    free(sub);

    put_text(dir, "file", "f");
    char *file = path_in(dir, "file");
    assert_int_equal(mrc_ckpt_prepare_dir(file, &err), MRC_EUSAGE);
    assert_non_null(strstr(err.msg, file));
    free(file);

    mrc_err e2 = {0};
    char *deep = path_in(dir, "no/such");
    assert_true(mrc_ckpt_prepare_dir(deep, &e2) != 0);
    assert_non_null(strstr(e2.msg, deep));
    free(deep);
}

/* ---- named runs ---- */

#define NKEYS 700

typedef struct recs {
    okvec o; /* in hash order */
    keypool kp;
    uint64_t bytes, total;
} recs;

/* NKEYS distinct keys (one empty, some long, some with NUL and 0xff bytes), counts i + 1, sorted
 * by (hash, key) by the plain comparison of test_util.h. */
static void make_recs(recs *r)
{
    memset(r, 0, sizeof *r);
    unsigned char key[600];
    for (size_t i = 0; i < NKEYS; i++) {
        size_t len;
        if (i == 0)
            len = 0;
        else if (i % 97 == 0)
            len = 300 + i % 300;
        else
            len = (size_t)snprintf((char *)key, sizeof key, "w%zu", i);
        if (i % 97 == 0)
            for (size_t j = 0; j < len; j++)
                key[j] = (unsigned char)(j * 7 + i);
        if (i % 50 == 1) key[0] = 0xff, key[len - 1] = 0;
        unsigned char *k = keypool_add(&r->kp, key, len);
        okvec_push(&r->o, k, (uint32_t)len, i + 1, mrc_hash(k, len));
        r->bytes += 12 + len;
        r->total += i + 1;
    }
    qsort(r->o.v, r->o.n, sizeof *r->o.v, okv_ser_cmp);
    for (size_t i = 1; i < r->o.n; i++) /* distinct */
        assert_true(okv_ser_cmp(&r->o.v[i - 1], &r->o.v[i]) < 0);
}

static void recs_free(recs *r)
{
    okvec_free(&r->o);
    keypool_free(&r->kp);
}

/* Create, write and seal the run `name` of v[0, n); its figures into *out (file closed).
 * writer_sum: the writer checksums as it writes (the map's way), else seal reads the run back. */
static void run_make(const char *name, const okv *v, size_t n, bool writer_sum, mrc_ckpt_run *out)
{
    mrc_err err = {0};
    int fd = -1;
    if (mrc_ckpt_run_create(dir, name, &fd, &err) != 0) fail_msg("create: %s", err.msg);
    assert_true(fd >= 0);
    mrc_run_writer *w = mrc_run_writer_open_fd(fd, dir, MRC_ORDER_HASH, 4096, &err);
    if (w == NULL) fail_msg("writer: %s", err.msg);
    if (writer_sum && mrc_run_writer_sum(w, &err) != 0) fail_msg("sum: %s", err.msg);
    for (size_t i = 0; i < n; i++) {
        mrc_rec_view r = {v[i].hash, v[i].count, v[i].key, v[i].len};
        if (mrc_run_writer_put(w, &r, &err) != 0) fail_msg("put %zu: %s", i, err.msg);
    }
    mrc_run_file f;
    if (mrc_run_writer_finish(w, &f, &err) != 0) fail_msg("finish: %s", err.msg);
    assert_int_equal(f.has_sum, writer_sum);
    uint64_t sum = 0;
    if (mrc_ckpt_run_seal(dir, name, &f, &sum, &err) != 0) fail_msg("seal: %s", err.msg);
    *out = (mrc_ckpt_run){(char *)name, f.bytes, f.records, f.total, sum, true, f.max_len};
    mrc_run_file_close(&f);
}

/* Reopen r and read the records whose hash is in [lo, hi]. */
static void run_read(const mrc_ckpt_run *r, uint64_t lo, uint64_t hi, coll *c)
{
    mrc_err err = {0};
    mrc_run_file f = {.fd = -1};
    if (mrc_ckpt_run_open(dir, r, &f, &err) != 0) fail_msg("open %s: %s", r->name, err.msg);
    assert_int_equal(f.order, MRC_ORDER_HASH);
    assert_int_equal(f.bytes, r->bytes);
    assert_int_equal(f.records, r->records);
    assert_int_equal(f.total, r->total);
    assert_int_equal(f.max_len, r->max_len); /* what compaction weighs (mrc_run_file_hold()) */
    mrc_source *s = mrc_run_file_source(&f, lo, hi, 1000, &err);
    if (s == NULL) fail_msg("source: %s", err.msg);
    memset(c, 0, sizeof *c);
    int rc = coll_drain(c, s, &err);
    if (rc != 0) fail_msg("read %s: %s", r->name, err.msg);
    s->close(s);
    mrc_run_file_close(&f);
}

/* Opening r fails, naming `names` in its message, leaving no descriptor open. */
static void assert_open_fails(const mrc_ckpt_run *r, const char *names)
{
    int fds = open_fds();
    mrc_err err = {0};
    mrc_run_file f = {.fd = -1};
    int rc = mrc_ckpt_run_open(dir, r, &f, &err);
    if (rc == 0) {
        mrc_run_file_close(&f);
        fail_msg("%s (%llu bytes) opened", r->name, (unsigned long long)r->bytes);
    }
    assert_int_equal(err.code, rc);
    char *p = path_in(dir, names);
    if (strstr(err.msg, p) == NULL) fail_msg("message '%s' does not name %s", err.msg, p);
    free(p);
    assert_int_equal(open_fds(), fds);
}

static void test_runs(void **state)
{
    (void)state;
    recs rs;
    make_recs(&rs);
    const okv *v = rs.o.v;
    size_t n = rs.o.n;

    mrc_ckpt_run r, r2;
    run_make("r0-g1-w0-0.run", v, n, true, &r);
    /* the sum made while writing (records across many 4 KiB buffers, some past one) is the
     * one a read of the sealed files makes */
    run_make("r0-g1-w2-0.run", v, n, false, &r2);
    assert_true(r.sum == r2.sum);
    assert_int_equal(r.bytes, r2.bytes);
    mrc_ckpt_run_discard(dir, "r0-g1-w2-0.run");
    {
        /* seal takes the writer's sum as it is (no read back); a sum asked late is refused */
        mrc_err err = {0};
        int fd = -1;
        if (mrc_ckpt_run_create(dir, "r0-g1-w2-1.run", &fd, &err) != 0) fail_msg("%s", err.msg);
        mrc_run_writer *w = mrc_run_writer_open_fd(fd, dir, MRC_ORDER_HASH, 4096, &err);
        assert_non_null(w);
        assert_int_equal(mrc_run_writer_sum(w, &err), 0);
        mrc_rec_view rec = {v[0].hash, v[0].count, v[0].key, v[0].len};
        assert_int_equal(mrc_run_writer_put(w, &rec, &err), 0);
        assert_int_equal(mrc_run_writer_sum(w, &err), MRC_EINVAL);
        mrc_run_file f;
        assert_int_equal(mrc_run_writer_finish(w, &f, &err), 0);
        assert_true(f.has_sum);
        f.sum ^= 0x5a5a;
        uint64_t sum = 0;
        assert_int_equal(mrc_ckpt_run_seal(dir, "r0-g1-w2-1.run", &f, &sum, &err), 0);
        assert_true(sum == f.sum);
        mrc_run_file_close(&f);
        mrc_ckpt_run_discard(dir, "r0-g1-w2-1.run");
    }
    assert_int_equal(r.bytes, rs.bytes);
    assert_int_equal(r.records, n);
    assert_int_equal(r.total, rs.total);
    size_t longest = 0;
    for (size_t i = 0; i < n; i++)
        longest = v[i].len > longest ? v[i].len : longest;
    assert_true(longest > 0);
    assert_int_equal(r.max_len, longest); /* kept in the manifest, given back on open */
    assert_listing(dir, "r0-g1-w0-0.run\nr0-g1-w0-0.run.idx\n");
    struct stat st;
    char *p = path_in(dir, "r0-g1-w0-0.run");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal((uint64_t)st.st_size, rs.bytes);
    free(p);
    p = path_in(dir, "r0-g1-w0-0.run.idx");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal((uint64_t)st.st_size, (MRC_RUN_BUCKETS + 1) * sizeof(uint64_t));
    free(p);

    /* the file is the wire format of the records, in hash order */
    size_t plen;
    unsigned char *want = payload_of(v, n, &plen);
    size_t glen;
    char *got = get_file(dir, "r0-g1-w0-0.run", &glen);
    assert_bytes_equal((const unsigned char *)got, glen, want, plen);
    free(got);
    free(want);

    /* reopened by its manifest entry: every record, then hash ranges through the index */
    coll c;
    run_read(&r, 0, UINT64_MAX, &c);
    assert_recs(&c.o, v, n, 1);
    coll_free(&c);
    const uint64_t cuts[][2] = {
        {0, 0x0fffffffffffffffull},
        {0x4000000000000000ull, 0xbfffffffffffffffull},
        {0xf000000000000000ull, UINT64_MAX},
        {v[n / 3].hash, v[2 * n / 3].hash}, /* bounds on records: both in */
        {v[10].hash + 1, v[11].hash},       /* v[11] alone */
        {v[n - 1].hash, UINT64_MAX},        /* the last alone */
    };
    for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
        okvec sub = {0};
        for (size_t i = 0; i < n; i++)
            if (v[i].hash >= cuts[k][0] && v[i].hash <= cuts[k][1])
                okvec_push(&sub, v[i].key, v[i].len, v[i].count, v[i].hash);
        assert_true(sub.n > 0);
        run_read(&r, cuts[k][0], cuts[k][1], &c);
        assert_recs(&c.o, sub.v, sub.n, 1);
        coll_free(&c);
        okvec_free(&sub);
    }

    /* an empty run */
    mrc_ckpt_run e;
    run_make("r0-g1-w3-0.run", v, 0, false, &r2);
    mrc_ckpt_run_discard(dir, "r0-g1-w3-0.run");
    run_make("r0-g1-w1-0.run", v, 0, true, &e);
    assert_true(e.sum == r2.sum);
    assert_int_equal(e.bytes, 0);
    assert_int_equal(e.records, 0);
    run_read(&e, 0, UINT64_MAX, &c);
    assert_int_equal(c.o.n, 0);
    coll_free(&c);

    /* a manifest that does not match the file */
    mrc_ckpt_run bad = r;
    bad.bytes = r.bytes + 1;
    assert_open_fails(&bad, "r0-g1-w0-0.run");
    bad.bytes = r.bytes - 1;
    assert_open_fails(&bad, "r0-g1-w0-0.run");
    /* the file cut or grown behind the manifest's and the index's back */
    char *rp = path_in(dir, "r0-g1-w0-0.run");
    size_t rlen;
    char *run = get_file(dir, "r0-g1-w0-0.run", &rlen);
    assert_int_equal(rlen, r.bytes);
    assert_int_equal(truncate(rp, (off_t)r.bytes - 1), 0);
    assert_open_fails(&r, "r0-g1-w0-0.run");
    assert_int_equal(truncate(rp, (off_t)r.bytes + 1), 0);
    assert_open_fails(&r, "r0-g1-w0-0.run");
    put_file(dir, "r0-g1-w0-0.run", run, rlen);
    free(run);
    free(rp);
    bad = r;
    bad.name = "r0-g1-w0-9.run";
    assert_open_fails(&bad, "r0-g1-w0-9.run"); /* no such run */

    /* the index missing, cut, or of another file */
    size_t ilen;
    char *idx = get_file(dir, "r0-g1-w0-0.run.idx", &ilen);
    assert_int_equal(ilen, (MRC_RUN_BUCKETS + 1) * sizeof(uint64_t));
    char *ip = path_in(dir, "r0-g1-w0-0.run.idx");
    assert_int_equal(unlink(ip), 0);
    assert_open_fails(&r, "r0-g1-w0-0.run.idx");
    static const size_t cut_at[] = {0, 1, 8, 4096, MRC_RUN_BUCKETS * 8, MRC_RUN_BUCKETS * 8 + 7};
    for (size_t k = 0; k < sizeof cut_at / sizeof *cut_at; k++) {
        put_file(dir, "r0-g1-w0-0.run.idx", idx, cut_at[k]);
        assert_open_fails(&r, "r0-g1-w0-0.run.idx");
    }
    char *other = malloc(ilen);
    assert_non_null(other);
    memcpy(other, idx, ilen);
    put_le((unsigned char *)other + ilen - 8, r.bytes + 12, 8); /* ends elsewhere */
    put_file(dir, "r0-g1-w0-0.run.idx", other, ilen);
    assert_open_fails(&r, "r0-g1-w0-0.run.idx");
    free(other);
    /* put back whole: it opens again (the failures above were for their one defect) */
    put_file(dir, "r0-g1-w0-0.run.idx", idx, ilen);
    run_read(&r, 0, UINT64_MAX, &c);
    assert_recs(&c.o, v, n, 1);
    coll_free(&c);

    /* one byte changed, the sizes kept: in the run (a count, a key length, a key byte) or in
     * the index: the checksum finds it; a manifest of before the sums checks nothing */
    run = get_file(dir, "r0-g1-w0-0.run", &rlen);
    static const size_t flip_at[] = {0, 8, 12, 40};
    for (size_t k = 0; k < sizeof flip_at / sizeof *flip_at && flip_at[k] < rlen; k++) {
        run[flip_at[k]] ^= 0x10;
        put_file(dir, "r0-g1-w0-0.run", run, rlen);
        assert_open_fails(&r, "r0-g1-w0-0.run");
        run[flip_at[k]] ^= 0x10;
    }
    put_file(dir, "r0-g1-w0-0.run", run, rlen);
    free(run);
    idx[16] ^= 1;
    put_file(dir, "r0-g1-w0-0.run.idx", idx, ilen);
    assert_open_fails(&r, "r0-g1-w0-0.run");
    idx[16] ^= 1;
    put_file(dir, "r0-g1-w0-0.run.idx", idx, ilen);
    run_read(&r, 0, UINT64_MAX, &c);
    assert_recs(&c.o, v, n, 1);
    coll_free(&c);
    free(ip);
    free(idx);

    /* a discarded run takes its index with it and nothing else */
    mrc_ckpt_run_discard(dir, "r0-g1-w1-0.run");
    assert_listing(dir, "r0-g1-w0-0.run\nr0-g1-w0-0.run.idx\n");
    recs_free(&rs);
}

/* ---- the sweep and the removal ---- */

static void test_sweep(void **state)
{
    (void)state;
    mrc_ckpt_run ra[] = {{"r0-g1-w0-0.run", 1, 1, 1, 0, false, 0},
                         {"r0-g1-w0-1.run", 1, 1, 1, 0, false, 0}};
    mrc_ckpt_run rb[] = {{"r1-g2-w0-0.run", 1, 1, 1, 0, false, 0}};
    mrc_ckpt_manifest ma = manifest_of(0, 1, 0, ra, 2), mb = manifest_of(1, 2, 0, rb, 1);
    write_manifest(dir, &ma);
    write_manifest(dir, &mb);
    static const char *files[] = {
        "fingerprint",
        /* named: kept, with their indexes */
        "r0-g1-w0-0.run", "r0-g1-w0-0.run.idx", "r0-g1-w0-1.run", "r0-g1-w0-1.run.idx",
        "r1-g2-w0-0.run", "r1-g2-w0-0.run.idx",
        /* written after their worker's last manifest, or of a torn one: removed */
        "r0-g1-w0-2.run", "r0-g1-w0-2.run.idx", "r0-g1-w0-10.run", "r0-g1-w0-10.run.idx",
        "r1-g3-w0-0.run", "r0-g1-w0-0.ru", /* not a run ("ru"): kept */
        /* temporaries: removed */
        "r0-g1-w0-2.run.idx.tmp", "r1-g3-w0.manifest.tmp", "r0-g1-w0-1.run.tmp",
        /* not the checkpoint's: kept */
        "notes.txt", "data.run", "x.tmp", "README"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        put_text(dir, files[i], files[i]);
    put_text(dir, "r1-g3-w0.manifest", "mrcount-checkpoint 1\nworker 1 3 0\nrun r1-g3-w0-0.run");

    mrc_ckpt_manifest *keep = NULL;
    size_t nkeep = 0;
    int max_gen = 0;
    mrc_err err = {0};
    assert_int_equal(mrc_ckpt_read_dir(dir, &keep, &nkeep, &max_gen, &err), 0);
    assert_int_equal(nkeep, 2);
    assert_int_equal(max_gen, 2);
    if (mrc_ckpt_sweep(dir, keep, nkeep, &err) != 0) fail_msg("sweep: %s", err.msg);
    free_manifests(keep, nkeep);
    assert_listing(dir, "README\n"
                        "data.run\n"
                        "fingerprint\n"
                        "notes.txt\n"
                        "r0-g1-w0-0.ru\n"
                        "r0-g1-w0-0.run\n"
                        "r0-g1-w0-0.run.idx\n"
                        "r0-g1-w0-1.run\n"
                        "r0-g1-w0-1.run.idx\n"
                        "r0-g1-w0.manifest\n"
                        "r1-g2-w0-0.run\n"
                        "r1-g2-w0-0.run.idx\n"
                        "r1-g2-w0.manifest\n"
                        "r1-g3-w0.manifest\n"
                        "x.tmp\n");
    /* the kept ones untouched */
    assert_file_text(dir, "r0-g1-w0-1.run.idx", "r0-g1-w0-1.run.idx");

    /* keeping only one manifest (given in memory): the other's runs go */
    if (mrc_ckpt_sweep(dir, &mb, 1, &err) != 0) fail_msg("sweep: %s", err.msg);
    assert_listing(dir, "README\n"
                        "data.run\n"
                        "fingerprint\n"
                        "notes.txt\n"
                        "r0-g1-w0-0.ru\n"
                        "r0-g1-w0.manifest\n"
                        "r1-g2-w0-0.run\n"
                        "r1-g2-w0-0.run.idx\n"
                        "r1-g2-w0.manifest\n"
                        "r1-g3-w0.manifest\n"
                        "x.tmp\n");
    /* keeping none: every run goes */
    if (mrc_ckpt_sweep(dir, NULL, 0, &err) != 0) fail_msg("sweep: %s", err.msg);
    assert_listing(dir, "README\n"
                        "data.run\n"
                        "fingerprint\n"
                        "notes.txt\n"
                        "r0-g1-w0-0.ru\n"
                        "r0-g1-w0.manifest\n"
                        "r1-g2-w0.manifest\n"
                        "r1-g3-w0.manifest\n"
                        "x.tmp\n");
    /* a missing directory: nothing to do */
    char *missing = path_in(dir, "missing");
    assert_int_equal(mrc_ckpt_sweep(missing, NULL, 0, &err), 0);
    free(missing);
    assert_int_equal(err.code, 0);
}

/* A checkpoint's worth of files in d. */
static void fill_checkpoint(const char *d)
{
    mrc_err err = {0};
    bool resumed;
    assert_int_equal(mrc_ckpt_fingerprint(d, "job words\n", false, &resumed, &err), 0);
    mrc_ckpt_run ra[] = {{"r0-g1-w0-0.run", 1, 1, 1, 0, false, 0}};
    mrc_ckpt_manifest ma = manifest_of(0, 1, 0, ra, 1);
    write_manifest(d, &ma);
    ma.gen = 2;
    write_manifest(d, &ma);
    static const char *files[] = {"r0-g1-w0-0.run",        "r0-g1-w0-0.run.idx",
                                  "r0-g2-w0-0.run",        "r0-g2-w0-0.run.idx.tmp",
                                  "r0-g3-w0.manifest.tmp", "fingerprint.tmp"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        put_text(d, files[i], "x");
}

static void test_remove(void **state)
{
    (void)state;
    mrc_err err = {0};
    char *ck = path_in(dir, "ck");
    assert_int_equal(mrc_ckpt_prepare_dir(ck, &err), 0);

    /* only the checkpoint's files: they and the directory go */
    fill_checkpoint(ck);
    assert_int_equal(mrc_ckpt_remove(ck, true, &err), 0);
    assert_false(exists(dir, "ck"));
    assert_listing(dir, "");
    /* a missing directory: nothing to do */
    assert_int_equal(mrc_ckpt_remove(ck, true, &err), 0);
    assert_int_equal(err.code, 0);

    /* with a file of somebody else's: it and the directory stay */
    assert_int_equal(mrc_ckpt_prepare_dir(ck, &err), 0);
    fill_checkpoint(ck);
    put_text(ck, "notes.txt", "mine\n");
    assert_int_equal(mrc_ckpt_remove(ck, true, &err), 0);
    assert_int_equal(err.code, 0);
    assert_listing(ck, "notes.txt\n");
    assert_file_text(ck, "notes.txt", "mine\n");
    char *notes = path_in(ck, "notes.txt");
    assert_int_equal(unlink(notes), 0);
    free(notes);

    /* remove_dir false: the files go, the directory stays */
    fill_checkpoint(ck);
    assert_int_equal(mrc_ckpt_remove(ck, false, &err), 0);
    assert_true(exists(dir, "ck"));
    assert_listing(ck, "");
    free(ck);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, dir_make, dir_remove)
    const struct CMUnitTest tests[] = {
        T(test_manifest_round_trip),
        T(test_torn_manifests),
        T(test_fingerprint),
        T(test_prepare_dir),
        T(test_runs),
        T(test_sweep),
        T(test_remove),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
