/* test_output_sort.c - the parallel output: mrc_output_sort() and its iterator, the
 * threaded writers (a regular file, standard output, a FIFO) and the k-way stream writer, all
 * against an independent oracle (qsort with a plain comparator over the same records, text by
 * snprintf), on every thread count 1..5, with keys sharing long prefixes, keys that are
 * prefixes of others, NUL bytes, the empty key, equal and 64-bit counts, --top at every edge.
 * It must never write outside its own temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "mrcount/output.h"
#include "mrcount/runtime.h"
#include "mrcount/table.h"
#include "test_util.h"

#define MAX_THREADS 5

static char tmpdir[64];
static mrc_topo *topo;
static mrc_placement pls[MAX_THREADS + 1]; /* pls[t]: t threads */

/* ---- records, packed back to back and unaligned as in a serialized table ---- */

typedef struct recset {
    unsigned char *buf;
    size_t len, cap, n;
    size_t *off; /* where record i starts */
    size_t off_cap;
} recset;

static void rs_add(recset *r, const void *key, uint32_t len, uint64_t count)
{
    if (r->len + 12 + len + 1 > r->cap) {
        r->cap = (r->cap + 12 + len + 1) * 2;
        r->buf = realloc(r->buf, r->cap);
        assert_non_null(r->buf);
    }
    if (r->n == r->off_cap) {
        r->off_cap = r->off_cap ? r->off_cap * 2 : 64;
        r->off = realloc(r->off, r->off_cap * sizeof *r->off);
        assert_non_null(r->off);
    }
    if (r->len == 0) r->buf[r->len++] = 0xee; /* the first record starts unaligned */
    r->off[r->n++] = r->len;
    put_le(r->buf + r->len, count, 8);
    put_le(r->buf + r->len + 8, len, 4);
    if (len > 0) memcpy(r->buf + r->len + 12, key, len);
    r->len += 12 + len;
}

static const unsigned char *rs_rec(const recset *r, size_t i)
{
    return r->buf + r->off[i];
}

static void rs_free(recset *r)
{
    free(r->buf);
    free(r->off);
    memset(r, 0, sizeof *r);
}

/* ---- the oracle ---- */

static uint64_t o_count(const unsigned char *rec)
{
    return get_le(rec, 8);
}

static uint32_t o_len(const unsigned char *rec)
{
    return (uint32_t)get_le(rec + 8, 4);
}

static int o_key_cmp(const unsigned char *a, const unsigned char *b)
{
    return bytes_cmp(a + 12, o_len(a), b + 12, o_len(b));
}

static int o_by_count(const void *pa, const void *pb)
{
    const unsigned char *a = *(const unsigned char *const *)pa,
                        *b = *(const unsigned char *const *)pb;
    uint64_t ca = o_count(a), cb = o_count(b);
    if (ca != cb) return ca > cb ? -1 : 1;
    return o_key_cmp(a, b);
}

static int o_by_key(const void *pa, const void *pb)
{
    return o_key_cmp(*(const unsigned char *const *)pa, *(const unsigned char *const *)pb);
}

/* The records in order: a malloc'd array of record heads. */
static const unsigned char **oracle_order(const recset *r, enum mrc_sort sort)
{
    const unsigned char **o = malloc((r->n + 1) * sizeof *o);
    assert_non_null(o);
    for (size_t i = 0; i < r->n; i++)
        o[i] = rs_rec(r, i);
    qsort(o, r->n, sizeof *o, sort == MRC_SORT_KEY ? o_by_key : o_by_count);
    return o;
}

static unsigned char *oracle_text(const unsigned char **ord, size_t n, uint64_t top, size_t *len)
{
    size_t keep = top != 0 && top < n ? (size_t)top : n, cap = 1;
    for (size_t i = 0; i < keep; i++)
        cap += o_len(ord[i]) + 23;
    unsigned char *out = malloc(cap);
    assert_non_null(out);
    size_t w = 0;
    for (size_t i = 0; i < keep; i++) {
        memcpy(out + w, ord[i] + 12, o_len(ord[i]));
        w += o_len(ord[i]);
        w += (size_t)snprintf((char *)out + w, cap - w, "\t%llu\n",
                              (unsigned long long)o_count(ord[i]));
    }
    *len = w;
    return out;
}

/* Keep the first of every run of equal keys (records of one table have distinct keys). */
static void rs_dedupe(recset *r)
{
    const unsigned char **o = oracle_order(r, MRC_SORT_KEY);
    recset u = {0};
    for (size_t i = 0; i < r->n; i++)
        if (i == 0 || o_key_cmp(o[i - 1], o[i]) != 0)
            rs_add(&u, o[i] + 12, o_len(o[i]), o_count(o[i]));
    free(o);
    rs_free(r);
    /* shuffle, so that no input arrives sorted */
    for (size_t i = u.n; i > 1; i--) {
        size_t j = rng_below(i), t = u.off[i - 1];
        u.off[i - 1] = u.off[j];
        u.off[j] = t;
    }
    *r = u;
}

/* ---- data sets ---- */

enum counts { C_ONE, C_FEW, C_WIDE, C_ZIPF };

static uint64_t pick_count(enum counts c, size_t i, size_t n)
{
    switch (c) {
    case C_ONE:
        return 1;
    case C_FEW:
        return 1 + rng_below(3);
    case C_ZIPF:
        return 4 * (uint64_t)n / (i + 1);
    default:
        switch (rng_below(6)) {
        case 0:
            return UINT64_MAX - rng_below(2);
        case 1:
            return 0;
        case 2:
            return (uint64_t)1 << rng_below(64);
        default:
            return rng_next();
        }
    }
}

/* key1x ... keyNx (the issue's vocabulary) */
static recset ds_keyn(size_t n, enum counts c)
{
    recset r = {0};
    char k[32];
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(k, sizeof k, "key%zux", i + 1);
        rs_add(&r, k, (uint32_t)len, pick_count(c, i, n));
    }
    rs_dedupe(&r);
    return r;
}

/* Keys over {a, b, NUL} up to 6 bytes: the empty key, prefixes of one another, NULs inside and
 * at the end ("a" < "a\0" < "a\0\0" < "a\0a"). */
static recset ds_prefixes(enum counts c)
{
    recset r = {0};
    static const unsigned char alpha[3] = {'a', 'b', 0};
    unsigned char k[8];
    size_t total = 0;
    for (unsigned len = 0; len <= 6; len++) {
        size_t combos = 1;
        for (unsigned i = 0; i < len; i++)
            combos *= 3;
        for (size_t x = 0; x < combos; x++) {
            size_t y = x;
            for (unsigned i = 0; i < len; i++, y /= 3)
                k[i] = alpha[y % 3];
            rs_add(&r, k, len, pick_count(c, total++, 1093));
        }
    }
    rs_dedupe(&r);
    return r;
}

/* Long shared stems ("of the ", 20 and 90 bytes), random tails of any bytes, some keys cut
 * short at every length around the 8-byte windows. */
static recset ds_stems(size_t n, enum counts c)
{
    static const char *stems[] = {
        "of the ", "in the middle of the ",
        ("0123456789012345678901234567890123456789012345678901234567890123"
         "45678901234567890123456789"),
        ""};
    recset r = {0};
    unsigned char k[160];
    for (size_t i = 0; i < n; i++) {
        const char *stem = stems[rng_below(4)];
        size_t sl = strlen(stem), tl = rng_below(14);
        memcpy(k, stem, sl);
        for (size_t j = 0; j < tl; j++) {
            unsigned v = (unsigned)rng_below(8);
            k[sl + j] = v == 0 ? 0 : v == 1 ? 0xff : (unsigned char)('a' + rng_below(4));
        }
        size_t len = sl + tl;
        if (rng_below(5) == 0) len = rng_below(len + 1); /* a prefix of something */
        rs_add(&r, k, (uint32_t)len, pick_count(c, i, n));
    }
    rs_dedupe(&r);
    return r;
}

/* Random binary keys of 0..24 bytes. */
static recset ds_random(size_t n, enum counts c)
{
    recset r = {0};
    unsigned char k[24];
    for (size_t i = 0; i < n; i++) {
        size_t len = rng_below(25);
        for (size_t j = 0; j < len; j++)
            k[j] = (unsigned char)rng_next();
        rs_add(&r, k, (uint32_t)len, pick_count(c, i, n));
    }
    rs_dedupe(&r);
    return r;
}

/* Keys over the first `values` bytes of alpha, 1..24 bytes long, behind a shared stem of
 * stem_len bytes: bytes that take few values, so the sort reads two at a time (a pair of
 * digits, of hex or DNA letters, but not 17 letters: 289 pairs), long and short keys mixed so
 * that some end inside a pair. */
static recset ds_alphabet(size_t n, unsigned values, size_t stem_len, enum counts c)
{
    static const unsigned char alpha[] = "0123456789abcdefghijklmnopq\0";
    recset r = {0};
    unsigned char k[48];
    memset(k, '/', stem_len);
    for (size_t i = 0; i < n; i++) {
        size_t len = 1 + rng_below(24);
        for (size_t j = 0; j < len; j++)
            k[stem_len + j] = alpha[rng_below(values)];
        rs_add(&r, k, (uint32_t)(stem_len + len), pick_count(c, i, n));
    }
    rs_dedupe(&r);
    return r;
}

/* ---- fixtures ---- */

static int setup(void **state)
{
    (void)state;
    unsetenv("OMP_NUM_THREADS");
    unsetenv("SLURM_CPUS_PER_TASK");
    mrc_err err = {0};
    topo = mrc_topo_open(NULL, &err);
    if (topo == NULL) return -1;
    for (size_t t = 1; t <= MAX_THREADS; t++)
        if (mrc_placement_plan(topo, NULL, 0, 1, t, &pls[t], &err) != 0) return -1;
    return tmpdir_make(tmpdir, sizeof tmpdir, "/tmp/mrc_test_osort.XXXXXX");
}

static int teardown(void **state)
{
    (void)state;
    for (size_t t = 1; t <= MAX_THREADS; t++)
        mrc_placement_free(&pls[t]);
    mrc_topo_close(topo);
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
    size_t cap = 1 << 16, n = 0, got;
    unsigned char *p = malloc(cap);
    assert_non_null(p);
    while ((got = fread(p + n, 1, cap - n, f)) > 0)
        if ((n += got) == cap) {
            p = realloc(p, cap *= 2);
            assert_non_null(p);
        }
    fclose(f);
    *len = n;
    return p;
}

static mrc_out_ref *refs_of(const recset *r)
{
    mrc_out_ref *refs = malloc((r->n + 1) * sizeof *refs);
    assert_non_null(refs);
    for (size_t i = 0; i < r->n; i++)
        refs[i] = (mrc_out_ref){0xdeadbeef, rs_rec(r, i)};
    return refs;
}

static void assert_same_rec(const unsigned char *got, const unsigned char *want, size_t i)
{
    if (got == NULL || o_count(got) != o_count(want) || o_len(got) != o_len(want) ||
        memcmp(got + 12, want + 12, o_len(want)) != 0)
        fail_msg("record %zu differs from the oracle's", i);
}

/* Sort r on t threads (limit: as mrc_output_sort) and check the merged order, from `first`. */
static void check_sort_refs(const recset *r, mrc_out_ref *refs, enum mrc_sort sort, size_t t,
                            uint64_t limit, const unsigned char **ord);

static void check_sort(const recset *r, enum mrc_sort sort, size_t t, uint64_t limit,
                       const unsigned char **ord)
{
    mrc_out_ref *refs = refs_of(r);
    check_sort_refs(r, refs, sort, t, limit, ord);
    free(refs);
}

/* Sort refs (r's records in any order) as check_sort does, and check them. */
static void check_sort_refs(const recset *r, mrc_out_ref *refs, enum mrc_sort sort, size_t t,
                            uint64_t limit, const unsigned char **ord)
{
    mrc_out_sorted s;
    mrc_err err = {0};
    enum mrc_order order = sort == MRC_SORT_KEY ? MRC_ORDER_KEY : MRC_ORDER_COUNT;
    assert_int_equal(mrc_output_sort(refs, r->n, order, limit, topo, &pls[t], NULL, &s, &err), 0);
    uint64_t want = limit != 0 && limit < r->n ? limit : r->n;
    assert_int_equal(s.records, want);
    uint64_t firsts[] = {0, 1, want / 3, want > 0 ? want - 1 : 0, want, want + 1};
    for (size_t f = 0; f < sizeof firsts / sizeof firsts[0]; f++) {
        if (f > 0 && want > 5000) break; /* the suffixes of big sets: once is enough */
        mrc_out_iter *it = mrc_output_iter_open(&s, firsts[f], &err);
        assert_non_null(it);
        for (uint64_t i = firsts[f]; i < want; i++)
            assert_same_rec(mrc_output_iter_next(it), ord[i], (size_t)i);
        assert_null(mrc_output_iter_next(it));
        mrc_output_iter_close(it);
    }
}

static void check_all_sorts(const recset *r, size_t max_t)
{
    for (int so = 0; so < 2; so++) {
        enum mrc_sort sort = so ? MRC_SORT_KEY : MRC_SORT_COUNT;
        const unsigned char **ord = oracle_order(r, sort);
        for (size_t t = 1; t <= max_t; t++) {
            check_sort(r, sort, t, 0, ord);
            if (r->n > 2) check_sort(r, sort, t, r->n / 2, ord);
        }
        free(ord);
    }
}

/* ---- the sort ---- */

static void test_sort_small_sets(void **state)
{
    (void)state;
    rng_seed(11);
    for (size_t n = 0; n <= 40; n++) {
        recset r = ds_random(n, (enum counts)(n % 4));
        check_all_sorts(&r, MAX_THREADS);
        rs_free(&r);
    }
}

static void test_sort_prefixes_and_nuls(void **state)
{
    (void)state;
    rng_seed(12);
    for (int c = 0; c < 4; c++) {
        recset r = ds_prefixes((enum counts)c);
        check_all_sorts(&r, MAX_THREADS);
        rs_free(&r);
    }
}

static void test_sort_shared_stems(void **state)
{
    (void)state;
    rng_seed(13);
    for (int c = 0; c < 4; c++) {
        recset r = ds_stems(20000, (enum counts)c);
        check_all_sorts(&r, MAX_THREADS);
        rs_free(&r);
    }
}

static void test_sort_issue_vocabulary(void **state)
{
    (void)state;
    rng_seed(14);
    recset r = ds_keyn(100000, C_ONE);
    check_all_sorts(&r, MAX_THREADS);
    rs_free(&r);
    r = ds_keyn(100000, C_ZIPF);
    check_all_sorts(&r, MAX_THREADS);
    rs_free(&r);
}

/* Small alphabets (2, 4, 10, 16, 17 and 28 values, NUL the last), behind stems of 0, 3 and 13
 * bytes: on one thread the sets are past the size where pairs of bytes are counted at once
 * (2^18), on three each part is below it. */
static void test_sort_small_alphabets(void **state)
{
    (void)state;
    rng_seed(18);
    static const unsigned values[] = {2, 4, 10, 16, 17, 28};
    static const size_t stems[] = {0, 3, 13};
    for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
        recset r = ds_alphabet(300000, values[v], stems[v % 3], (enum counts)(v % 4));
        for (int so = 0; so < 2; so++) {
            enum mrc_sort sort = so ? MRC_SORT_KEY : MRC_SORT_COUNT;
            const unsigned char **ord = oracle_order(&r, sort);
            check_sort(&r, sort, 1, 0, ord);
            check_sort(&r, sort, 3, r.n / 3, ord);
            free(ord);
        }
        rs_free(&r);
    }
}

static void test_sort_wide_counts(void **state)
{
    (void)state;
    rng_seed(15);
    recset r = ds_random(50000, C_WIDE);
    check_all_sorts(&r, MAX_THREADS);
    rs_free(&r);
}

/* Sets whose sampled strings all share a prefix: the sort takes its first windows past it and
 * checks every record on the way; a few records that do not share it (or share only part of
 * it: shorter keys) take the slow path back or go first. */
static void test_sort_guessed_prefix(void **state)
{
    (void)state;
    rng_seed(17);
    static const char stem[] = "in the middle of the "; /* 21 bytes: windows from byte 21 */
    for (int variant = 0; variant < 4; variant++) {
        recset r = {0};
        unsigned char k[40];
        for (size_t i = 0; i < 50000; i++) {
            size_t tl = 1 + rng_below(10);
            memcpy(k, stem, 21);
            for (size_t j = 0; j < tl; j++)
                k[21 + j] = (unsigned char)('a' + rng_below(26));
            rs_add(&r, k, (uint32_t)(21 + tl), 7);
        }
        rs_add(&r, stem, 6, 7);  /* "in the": a prefix of the shared bytes */
        rs_add(&r, stem, 15, 7); /* "in the middle o" */
        rs_add(&r, stem, 16, 7); /* exactly the shared bytes */
        rs_add(&r, "", 0, 7);
        if (variant == 1) rs_add(&r, "in the muddle", 13, 7); /* differs inside them */
        if (variant == 2) rs_add(&r, stem, 21, 8);            /* another count */
        if (variant == 3) rs_add(&r, "zz", 2, 7);             /* differs at once */
        rs_dedupe(&r);
        check_all_sorts(&r, MAX_THREADS);
        rs_free(&r);
    }
}

/* 10^6 records on 1, 2 and 5 threads. */
static void test_sort_million(void **state)
{
    (void)state;
    rng_seed(16);
    recset r = ds_stems(1000000, C_ZIPF);
    for (int so = 0; so < 2; so++) {
        enum mrc_sort sort = so ? MRC_SORT_KEY : MRC_SORT_COUNT;
        const unsigned char **ord = oracle_order(&r, sort);
        check_sort(&r, sort, 1, 0, ord);
        check_sort(&r, sort, 2, 0, ord);
        check_sort(&r, sort, 5, 0, ord);
        free(ord);
    }
    rs_free(&r);
}

/* The refs in layouts that the threads' strips of the parts do not fit (already sorted, reversed,
 * rotated, each slice of the order reversed in place, interleaved from both ends, random, and
 * each part's refs in one thread's strips: a round on the threads places a third at most), on
 * 2-5 threads: enough refs for rounds on the threads, then the rest on one; and the refs of
 * key<n>x in the order of n. */
static void test_sort_part_layouts(void **state)
{
    (void)state;
    rng_seed(23);
    recset r = ds_stems(150000, C_ZIPF);
    size_t n = r.n;
    mrc_out_ref *refs = malloc(n * sizeof *refs);
    assert_non_null(refs);
    for (int so = 0; so < 2; so++) {
        enum mrc_sort sort = so ? MRC_SORT_KEY : MRC_SORT_COUNT;
        const unsigned char **ord = oracle_order(&r, sort);
        for (int layout = 0; layout < 7; layout++)
            for (size_t t = 2; t <= MAX_THREADS; t++) {
                for (size_t i = 0; i < n; i++) {
                    size_t src;
                    switch (layout) {
                    case 0:
                        src = i;
                        break;
                    case 1:
                        src = n - 1 - i;
                        break;
                    case 2:
                        src = (i + n / 3) % n;
                        break;
                    case 3: { /* slice k of t, reversed within */
                        size_t k = i * t / n, lo = (k * n + t - 1) / t;
                        size_t hi = ((k + 1) * n + t - 1) / t;
                        src = lo + hi - 1 - i;
                        break;
                    }
                    case 4:
                        src = i % 2 ? n - 1 - i / 2 : i / 2;
                        break;
                    default:
                        src = i;
                        break; /* shuffled below */
                    }
                    refs[i] = (mrc_out_ref){0, ord[src]};
                }
                if (layout == 6) { /* part k's refs in the strips of thread k - 1 (see sort.c) */
                    size_t at = 0, first = n / t; /* part 0's refs go last */
                    for (size_t i = 0; i < t; i++)
                        for (size_t c = 0; c < t; c++) {
                            size_t b0 = c * n / t, sz = (c + 1) * n / t - b0;
                            size_t q0 = sz / t * i + sz % t * i / t;
                            size_t q1 = sz / t * (i + 1) + sz % t * (i + 1) / t;
                            for (size_t q = q0; q < q1; q++, at++)
                                refs[b0 + q] = (mrc_out_ref){0, ord[(first + at) % n]};
                        }
                }
                for (size_t i = 0; layout == 5 && i + 1 < n; i++) { /* Fisher-Yates */
                    size_t k = i + rng_below(n - i);
                    mrc_out_ref tmp = refs[i];
                    refs[i] = refs[k];
                    refs[k] = tmp;
                }
                check_sort_refs(&r, refs, sort, t, 0, ord);
            }
        free(ord);
    }
    free(refs);
    rs_free(&r);
    /* keys key1x key2x ... in a table's order (a map that met them so): a tenth of the refs
     * have no room in their thread's strips, and a second round on the threads places them */
    recset k = {0};
    char key[32];
    for (size_t i = 0; i < 300000; i++) {
        int len = snprintf(key, sizeof key, "key%zux", i + 1);
        rs_add(&k, key, (uint32_t)len, 1);
    }
    check_all_sorts(&k, MAX_THREADS);
    rs_free(&k);
}

/* Records that repeat (not a table's, but refs may point anywhere): still sorted, no loop. */
static void test_sort_repeated_records(void **state)
{
    (void)state;
    recset r = {0};
    rs_add(&r, "same-long-key!", 14, 3);
    rs_add(&r, "a", 1, 3);
    rs_add(&r, "", 0, 3);
    mrc_out_ref *refs = malloc(3000 * sizeof *refs);
    assert_non_null(refs);
    for (size_t i = 0; i < 3000; i++)
        refs[i] = (mrc_out_ref){0, rs_rec(&r, i % 3)};
    for (size_t t = 1; t <= 3; t++) {
        mrc_out_sorted s;
        mrc_err err = {0};
        assert_int_equal(
            mrc_output_sort(refs, 3000, MRC_ORDER_KEY, 0, topo, &pls[t], NULL, &s, &err), 0);
        mrc_out_iter *it = mrc_output_iter_open(&s, 0, &err);
        for (size_t i = 0; i < 3000; i++)
            assert_ptr_equal(mrc_output_iter_next(it), rs_rec(&r, i < 1000 ? 2 : i < 2000 ? 1 : 0));
        mrc_output_iter_close(it);
    }
    free(refs);
    rs_free(&r);
}

/* A stop raised before the sort: MRC_EINTR at once. Raised while it runs (by another thread,
 * 0-121 ms in): MRC_EINTR, or 0 with the order right when the sort ended first; either way every
 * ref is still there once (a pass cut short must not move refs by stale windows). */
typedef struct raiser {
    mrc_stop *stop;
    unsigned us;
} raiser;

static void *raise_after(void *arg)
{
    const raiser *r = arg;
    if (r->us > 0) usleep(r->us);
    mrc_stop_raise(r->stop);
    return NULL;
}

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (const unsigned char *const *)a,
              y = (uintptr_t) * (const unsigned char *const *)b;
    return (x > y) - (x < y);
}

/* Sort r on 1..MAX_THREADS threads in both orders against the oracle; `windows` says, per
 * order (count, key), whether the parts of 2 or more threads must be ranges of the first
 * windows (1) or must not be (0). */
static void check_windows(const recset *r, const int windows[2])
{
    for (int so = 0; so < 2; so++) {
        enum mrc_sort sort = so ? MRC_SORT_KEY : MRC_SORT_COUNT;
        const unsigned char **ord = oracle_order(r, sort);
        for (size_t t = 1; t <= MAX_THREADS; t++)
            for (int lim = 0; lim < 2; lim++) {
                mrc_out_ref *refs = refs_of(r);
                mrc_out_sorted s;
                mrc_err err = {0};
                uint64_t limit = lim ? r->n / 3 : 0, want = lim ? r->n / 3 : r->n;
                assert_int_equal(mrc_output_sort(refs, r->n, so ? MRC_ORDER_KEY : MRC_ORDER_COUNT,
                                                 limit, topo, &pls[t], NULL, &s, &err),
                                 0);
                if (s.by_windows != (t > 1 && windows[so] == 1))
                    fail_msg("%zu threads, %s order: by_windows %d", t, so ? "key" : "count",
                             (int)s.by_windows);
                for (size_t i = 0; i < want; i++)
                    assert_same_rec(refs[i].rec, ord[i], i);
                free(refs);
            }
        free(ord);
    }
}

/* The threads' parts as ranges of two bytes of the first windows, and the splitters' way when
 * a record no sample saw breaks what the sample promised. v 0, 5 (5 k records: one thread's
 * permutation): every key shares "pfx" (some end there or hold NULs after it), all counts 1, so
 * both orders' windows are key bytes past it; v 1: no prefix, counts spread over 1..50000, so
 * the count order's digit is the counts' low two bytes (the window ~count, its first 6 bytes
 * shared: bytes 6-7); v 2: counts mostly 1, too skewed for the count order; v 3: as v 0, but a
 * few records where no sample of sort.c looks lack the prefix; v 4: as v 1, but a few such
 * records have counts past 65535 (their window's bytes before the digit differ). */
static void test_sort_first_windows(void **state)
{
    (void)state;
    rng_seed(29);
    static const int expect[6][2] = {{1, 1}, {1, 1}, {0, 1}, {0, 0}, {0, 1}, {1, 1}};
    for (int v = 0; v < 6; v++) {
        size_t n = v == 5 ? 5000 : 70000; /* from 65536: the threads permute */
        bool prefixed = v == 0 || v == 3 || v == 5, spread = v == 1 || v == 4;
        recset r = {0};
        unsigned char key[64];
        static const char *const ends[] = {"pfx", "pfx\0", "pfx\0\0\0\0\0\0\0\0", "pfxa"};
        static const uint32_t end_len[] = {3, 4, 11, 4};
        for (size_t e = 0; prefixed && e < 4; e++)
            rs_add(&r, ends[e], end_len[e], 1);
        for (size_t i = r.n; i < n; i++) {
            uint32_t len = prefixed ? 3 : 0;
            memcpy(key, "pfx", 3);
            key[len++] = (unsigned char)('a' + rng_below(26));
            for (size_t b = 0, extra = rng_below(10); b < extra; b++)
                key[len++] = rng_below(5) == 0 ? 0 : (unsigned char)('a' + rng_below(26));
            for (size_t x = i; x > 0; x >>= 8) /* unique */
                key[len++] = (unsigned char)x;
            uint64_t count = spread   ? 1 + rng_below(50000)
                             : v == 2 ? 1 + (rng_below(3) == 0 ? rng_below(5) : 0)
                                      : 1;
            rs_add(&r, key, len, count);
        }
        if (v == 3 || v == 4) { /* in this order, records where no sample looks (white box) */
            bool *seen = calloc(n, sizeof *seen);
            assert_non_null(seen);
            for (size_t i = 0; i < 64; i++) /* shared_depth(): SORT_GUESS_SAMPLE, n / 64 apart */
                seen[n / 64 * i] = true;
            for (size_t t = 2; t <= MAX_THREADS; t++) /* fuse_plan(): SORT_SAMPLE a part */
                for (size_t i = 0; i < t * 1024; i++)
                    seen[n / (t * 1024) * i + n % (t * 1024) * i / (t * 1024)] = true;
            for (size_t k = 1, i; k < 8; k++) {
                for (i = k * n / 8; seen[i]; i++)
                    ;
                unsigned char *rec = r.buf + r.off[i];
                if (v == 3)
                    rec[12 + 2] = k % 2 ? 'w' : 'y'; /* "pfw...", "pfy...": no prefix */
                else
                    put_le(rec, 65536 + k * 1000, 8);
            }
            free(seen);
        }
        for (size_t i = r.n - 1; v != 3 && v != 4 && i > 0; i--) { /* a random table order */
            size_t k = rng_below(i + 1), t = r.off[i];
            r.off[i] = r.off[k];
            r.off[k] = t;
        }
        check_windows(&r, expect[v]);
        rs_free(&r);
    }
}

/* A count order with one common count (sort.c's split by it), against the oracle on 1..
 * MAX_THREADS threads with top limits that end in each of its three ranges. v 0: three
 * quarters count 1, a few 0 (below it: a tsv key's total may be 0), keys "pfx..." (of count 1:
 * "pfx" itself, keys with NULs after it; of 0: "pf"); v 1: most counts 7, a
 * third below it; v 2: as v 0, but in table order with a few count-1 keys where no sample looks
 * that lack the prefix, the last one all of it (a third pass, with none); v 3: as v 0 with an empty
 * key of count 1 (the prefix shrinks to none); v 4: counts spread over 1..50 (no count
 * common enough); v 5: in table order, keys "a-long-prefix/..." (14 bytes), 90% of counts
 * 2^64-1 (nothing above it), the others 0, 5 and 2^32 + 5 (thousands of each: windows that tie
 * whole, counts that differ in their high bytes), a few of 2^64-1 where no sample looks differ
 * at byte 9; v 6: 99% count 1, in table order with the others where no sample looks (the
 * sample's shared prefix fails, the split follows). `expect[v]`: by_common at one thread, at two
 * (whose first part holds the counts above the common one and as many of it); with more, parts of
 * one count take the shared prefix's way.
 */
static void test_sort_common_count(void **state)
{
    (void)state;
    rng_seed(31);
    static const int expect[7][2] = {{1, 1}, {1, 1},  {1, 1}, {1, 1},
                                     {0, 0}, {1, -1}, {1, -1}}; /* -1: either */
    for (int v = 0; v < 7; v++) {
        size_t n = 70000;
        recset r = {0};
        unsigned char key[64];
        static const char *const ends[] = {"pfx", "pfx\0", "pf", "pfx\0\0\0\0\0\0\0\0"};
        static const uint32_t end_len[] = {3, 4, 2, 11};
        for (size_t e = 0; v != 1 && v < 4 && e < 4; e++)
            rs_add(&r, ends[e], end_len[e], e == 2 ? 0 : 1);
        if (v == 3) rs_add(&r, "", 0, 1);
        for (size_t i = r.n; i < n; i++) {
            uint32_t len = 3;
            memcpy(key, "pfx", 3);
            for (size_t b = 0, extra = rng_below(8); b < extra; b++)
                key[len++] = rng_below(5) == 0 ? 0 : (unsigned char)('a' + rng_below(26));
            if (v == 5) {
                memcpy(key, "a-long-prefix/", 14);
                len = 14;
            }
            for (size_t x = i; x > 0; x >>= 8) /* unique */
                key[len++] = (unsigned char)x;
            static const uint64_t odd[3] = {0, 5, ((uint64_t)1 << 32) + 5};
            uint64_t count = v == 5   ? (rng_below(10) != 0 ? UINT64_MAX : odd[rng_below(3)])
                             : v == 6 ? (i % 100 == 50 && i % (n / 64) != 0 ? 2 + rng_below(9) : 1)
                             : v == 4 ? 1 + rng_below(50)
                             : v == 1 ? (rng_below(3) == 0   ? 1 + rng_below(6)
                                         : rng_below(4) == 0 ? 8 + rng_below(100)
                                                             : 7)
                             : rng_below(4) != 0 ? 1
                             : rng_below(8) == 0 ? 0
                                                 : 2 + rng_below(1000);
            rs_add(&r, key, len, count);
        }
        if (v == 2) { /* count 1, no prefix, where sort_slice()'s sample (n / 64 apart) is not */
            for (size_t k = 1, i; k < 8; k++) {
                for (i = k * n / 8 + 1; o_count(rs_rec(&r, i)) != 1; i++)
                    ;
                unsigned char *rec = r.buf + r.off[i];
                rec[12 + 1] = k % 2 ? 'a' : 'z'; /* "pax...", "pzx...": the prefix "p" */
                if (k == 7) rec[12] = 'q';       /* and none: a third pass */
            }
        }
        for (size_t k = 1, i; v == 5 && k < 8; k++) { /* as above: byte 9 of the prefix */
            for (i = k * n / 8 + 1; o_count(rs_rec(&r, i)) != UINT64_MAX; i++)
                ;
            r.buf[r.off[i] + 12 + 9] = (unsigned char)(k % 2 ? 'A' : 'z');
        }
        for (size_t i = r.n - 1; v < 5 && v != 2 && i > 0; i--) { /* a random table order */
            size_t k = rng_below(i + 1), t = r.off[i];
            r.off[i] = r.off[k];
            r.off[k] = t;
        }
        const unsigned char **ord = oracle_order(&r, MRC_SORT_COUNT);
        size_t above = 0;
        while (above < n && o_count(ord[above]) > (v == 1 ? 7 : v == 5 ? UINT64_MAX : 1))
            above++;
        const size_t limits[] = {0, above / 2, above + 100, n - 3};
        for (size_t t = 1; t <= MAX_THREADS; t++)
            for (size_t l = 0; l < 4; l++) {
                mrc_out_ref *refs = refs_of(&r);
                mrc_out_sorted s;
                mrc_err err = {0};
                assert_int_equal(mrc_output_sort(refs, r.n, MRC_ORDER_COUNT, limits[l], topo,
                                                 &pls[t], NULL, &s, &err),
                                 0);
                if (t <= 2 && expect[v][t - 1] >= 0 && s.by_common != (expect[v][t - 1] == 1))
                    fail_msg("v %d, %zu threads: by_common %d", v, t, (int)s.by_common);
                for (size_t i = 0; i < (limits[l] ? limits[l] : n); i++)
                    assert_same_rec(refs[i].rec, ord[i], i);
                free(refs);
            }
        free(ord);
        rs_free(&r);
    }
}

static void test_sort_stopped(void **state)
{
    (void)state;
    rng_seed(77);
    recset r = ds_keyn(400000, C_FEW);
    const unsigned char **all = malloc(r.n * sizeof *all), **seen = malloc(r.n * sizeof *seen);
    assert_true(all != NULL && seen != NULL);
    for (size_t i = 0; i < r.n; i++)
        all[i] = rs_rec(&r, i);
    qsort(all, r.n, sizeof *all, by_address);
    unsigned stopped = 0, finished = 0;
    for (int sort = 0; sort <= 1; sort++) {
        enum mrc_sort so = sort ? MRC_SORT_KEY : MRC_SORT_COUNT;
        enum mrc_order order = sort ? MRC_ORDER_KEY : MRC_ORDER_COUNT;
        const unsigned char **ord = oracle_order(&r, so);
        for (size_t t = 1; t <= 3; t++)
            for (unsigned trial = 0; trial <= 12; trial++) {
                mrc_stop stop;
                atomic_init(&stop, trial == 0); /* trial 0: raised before */
                raiser ra = {&stop, (trial - 1) * (trial - 1) * 1000};
                pthread_t th;
                if (trial > 0) assert_int_equal(pthread_create(&th, NULL, raise_after, &ra), 0);
                mrc_out_ref *refs = refs_of(&r);
                mrc_out_sorted s;
                mrc_err err = {0};
                int rc = mrc_output_sort(refs, r.n, order, 0, topo, &pls[t], &stop, &s, &err);
                if (trial > 0) pthread_join(th, NULL);
                if (rc == 0) {
                    assert_true(trial > 0);
                    for (size_t i = 0; i < r.n; i++)
                        assert_same_rec(refs[i].rec, ord[i], i);
                    finished++;
                } else {
                    assert_int_equal(rc, MRC_EINTR);
                    assert_string_equal(err.msg, "output sort: stopped");
                    stopped++;
                }
                for (size_t i = 0; i < r.n; i++)
                    seen[i] = refs[i].rec;
                qsort(seen, r.n, sizeof *seen, by_address);
                assert_memory_equal(seen, all, r.n * sizeof *seen);
                free(refs);
            }
        free(ord);
    }
    assert_true(stopped >= 6); /* at least the stops raised before */
    print_message("sort stopped %u times, finished %u times\n", stopped, finished);
    free(all);
    free(seen);
    rs_free(&r);
}

static void test_sort_bad_order(void **state)
{
    (void)state;
    mrc_out_sorted s;
    mrc_err err = {0};
    assert_int_equal(mrc_output_sort(NULL, 0, MRC_ORDER_HASH, 0, NULL, NULL, NULL, &s, &err),
                     MRC_EINVAL);
    assert_string_equal(err.msg, "output: cannot sort the result in order 0");
}

/* ---- the writers ---- */

/* Write r sorted (refs: fresh) to path on t threads; compare with the oracle. */
static void check_write(const recset *r, const unsigned char **ord, enum mrc_sort sort,
                        uint64_t top, size_t t, const char *path)
{
    mrc_out_ref *refs = refs_of(r);
    mrc_output_opts o = {.path = path, .sort = sort, .top = top, .stop = NULL};
    mrc_err err = {0};
    int rc = mrc_output_write_records(refs, r->n, &o, topo, &pls[t], &err);
    if (rc != 0) fail_msg("write (%zu threads, top %llu): %s", t, (unsigned long long)top, err.msg);
    free(refs);
    size_t got_len, want_len;
    unsigned char *got = slurp(path, &got_len), *want = oracle_text(ord, r->n, top, &want_len);
    if (got_len != want_len || memcmp(got, want, want_len) != 0)
        fail_msg("%s: %zu threads, top %llu: %zu bytes, the oracle %zu", path, t,
                 (unsigned long long)top, got_len, want_len);
    free(got);
    free(want);
}

/* Pages of `path` in the page cache among its first `bytes` (mincore of a mapping). */
static size_t resident_pages(const char *path, size_t bytes)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), np = bytes / pg, n = 0;
    void *m = np ? mmap(NULL, np * pg, PROT_READ, MAP_SHARED, fd, 0) : NULL;
    assert_true(np == 0 || m != MAP_FAILED);
    unsigned char *vec = malloc(np + 1);
    assert_non_null(vec);
    if (np) assert_int_equal(mincore(m, np * pg, vec), 0);
    for (size_t i = 0; i < np; i++)
        n += vec[i] & 1;
    free(vec);
    if (np) munmap(m, np * pg);
    close(fd);
    return n;
}

static void check_merged(const unsigned char **ord, size_t n, size_t k, enum mrc_sort sort,
                         uint64_t top);

/* r's records written to path on t threads; *old gets the file's bytes before its last two
 * 4 KiB windows (whole pages). @return how many of those pages are in the page cache. */
static size_t write_cached(const recset *r, enum mrc_sort sort, size_t t, const char *path,
                           size_t *old)
{
    mrc_out_ref *refs = refs_of(r);
    mrc_output_opts o = {.path = path, .sort = sort, .top = 0, .stop = NULL};
    mrc_err err = {0};
    if (mrc_output_write_records(refs, r->n, &o, topo, &pls[t], &err) != 0)
        fail_msg("%zu threads: %s", t, err.msg);
    free(refs);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 8 * 4096);
    *old = ((size_t)st.st_size - 2 * 4096) & ~(size_t)4095;
    return resident_pages(path, *old);
}

/* Write-behind (mrc_output_set_sync(), --sync) with a 4 KiB window: what the threads write in
 * turns, and the merge, is still the oracle's text, and once written the pages before the last two
 * windows are gone from the page cache (written back and dropped as the writer went on; not on
 * tmpfs, whose pages are the file). A few may stay: POSIX_FADV_DONTNEED skips a page still in
 * another CPU's LRU batch (CI under TSan kept 2 of 37), so a quarter is allowed; without the
 * write-behind all stay: the default (sync off) is checked to keep them, so the test sees the
 * switch. */
static void test_write_behind(void **state)
{
    (void)state;
    rng_seed(23);
    recset r = ds_stems(6000, C_FEW);
    mrc_output_set_write_behind(4096);
    mrc_output_set_block_size(700);
    mrc_output_set_sync(true);
    struct statfs sf;
    assert_int_equal(statfs(tmpdir, &sf), 0);
    bool drops = sf.f_type != TMPFS_MAGIC && sf.f_type != RAMFS_MAGIC;
    for (int so = 0; so < 2; so++) {
        enum mrc_sort sort = so ? MRC_SORT_KEY : MRC_SORT_COUNT;
        const unsigned char **ord = oracle_order(&r, sort);
        for (size_t t = 1; t <= MAX_THREADS; t++) {
            const char *path = tmp_path("behind.tsv");
            size_t old, cached = write_cached(&r, sort, t, path, &old);
            if (drops && cached > old / 4096 / 4)
                fail_msg("%zu threads: %zu of the first %zu pages still cached", t, cached,
                         old / 4096);
            check_write(&r, ord, sort, 0, t, path);
        }
        check_merged(ord, r.n, 3, sort, 0);
        free(ord);
    }
    mrc_output_set_sync(false); /* the default: the page cache keeps what was written */
    size_t old, cached = write_cached(&r, MRC_SORT_COUNT, 1, tmp_path("behind.tsv"), &old);
    if (drops && cached < old / 4096 / 2)
        fail_msg("sync off: %zu of the first %zu pages cached (written back and dropped?)", cached,
                 old / 4096);
    mrc_output_set_write_behind(0);
    mrc_output_set_block_size(0);
    rs_free(&r);
}

static void test_write_files_every_thread_count(void **state)
{
    (void)state;
    rng_seed(21);
    recset r = ds_stems(3000, C_FEW);
    static const size_t blocks[] = {64, 300, 0};
    for (int so = 0; so < 2; so++) {
        enum mrc_sort sort = so ? MRC_SORT_KEY : MRC_SORT_COUNT;
        const unsigned char **ord = oracle_order(&r, sort);
        uint64_t tops[] = {0, 1, 2, 7, r.n - 1, r.n, r.n + 1};
        for (size_t b = 0; b < 3; b++) {
            mrc_output_set_block_size(blocks[b]);
            for (size_t t = 1; t <= MAX_THREADS; t++)
                for (size_t k = 0; k < sizeof tops / sizeof tops[0]; k++)
                    check_write(&r, ord, sort, tops[k], t, tmp_path("out.tsv"));
        }
        free(ord);
    }
    mrc_output_set_block_size(0);
    rs_free(&r);
}

/* Standard output redirected to a file, written in order (chunks taking turns). */
static void test_write_stdout_in_order(void **state)
{
    (void)state;
    rng_seed(22);
    recset r = ds_keyn(5000, C_ZIPF);
    const char *path = tmp_path("stdout.tsv");
    static const size_t blocks[] = {64, 1000, 0};
    for (int so = 0; so < 2; so++) {
        enum mrc_sort sort = so ? MRC_SORT_KEY : MRC_SORT_COUNT;
        const unsigned char **ord = oracle_order(&r, sort);
        uint64_t tops[] = {0, 1, 100, r.n - 1, r.n + 5};
        for (size_t b = 0; b < 3; b++) {
            mrc_output_set_block_size(blocks[b]);
            for (size_t t = 1; t <= MAX_THREADS; t++)
                for (size_t k = 0; k < sizeof tops / sizeof tops[0]; k++) {
                    fflush(stdout);
                    int saved = dup(STDOUT_FILENO);
                    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                    assert_true(saved >= 0 && fd >= 0);
                    assert_true(dup2(fd, STDOUT_FILENO) >= 0);
                    close(fd);
                    mrc_out_ref *refs = refs_of(&r);
                    mrc_output_opts o = {.path = "-", .sort = sort, .top = tops[k], .stop = NULL};
                    mrc_err err = {0};
                    int rc = mrc_output_write_records(refs, r.n, &o, topo, &pls[t], &err);
                    assert_true(dup2(saved, STDOUT_FILENO) >= 0);
                    close(saved);
                    free(refs);
                    if (rc != 0) fail_msg("stdout: %s", err.msg);
                    size_t got_len, want_len;
                    unsigned char *got = slurp(path, &got_len);
                    unsigned char *want = oracle_text(ord, r.n, tops[k], &want_len);
                    assert_int_equal(got_len, want_len);
                    assert_memory_equal(got, want, want_len);
                    free(got);
                    free(want);
                }
        }
        free(ord);
    }
    mrc_output_set_block_size(0);
    rs_free(&r);
}

typedef struct fifo_reader {
    const char *path;
    unsigned char *buf;
    size_t len, cap;
    int ok;
} fifo_reader;

static void *read_fifo(void *arg)
{
    fifo_reader *f = arg;
    int fd = open(f->path, O_RDONLY);
    if (fd < 0) return NULL;
    for (;;) {
        if (f->len == f->cap) {
            unsigned char *p = realloc(f->buf, f->cap = f->cap ? 2 * f->cap : 1 << 16);
            if (p == NULL) break;
            f->buf = p;
        }
        ssize_t n = read(fd, f->buf + f->len, f->cap - f->len);
        if (n <= 0) {
            f->ok = n == 0;
            break;
        }
        f->len += (size_t)n;
    }
    close(fd);
    return NULL;
}

/* A named pipe: written in place, in order, while a reader drains it. */
static void test_write_fifo(void **state)
{
    (void)state;
    rng_seed(23);
    recset r = ds_stems(20000, C_WIDE);
    const char *path = tmp_path("fifo");
    assert_int_equal(mkfifo(path, 0600), 0);
    const unsigned char **ord = oracle_order(&r, MRC_SORT_COUNT);
    mrc_output_set_block_size(4096);
    for (size_t t = 1; t <= MAX_THREADS; t++) {
        fifo_reader f = {path, NULL, 0, 0, 0};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, read_fifo, &f), 0);
        mrc_out_ref *refs = refs_of(&r);
        mrc_output_opts o = {.path = path, .sort = MRC_SORT_COUNT, .top = 0, .stop = NULL};
        mrc_err err = {0};
        int rc = mrc_output_write_records(refs, r.n, &o, topo, &pls[t], &err);
        pthread_join(th, NULL);
        free(refs);
        if (rc != 0) fail_msg("fifo: %s", err.msg);
        assert_true(f.ok);
        size_t want_len;
        unsigned char *want = oracle_text(ord, r.n, 0, &want_len);
        assert_int_equal(f.len, want_len);
        assert_memory_equal(f.buf, want, want_len);
        free(want);
        free(f.buf);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISFIFO(st.st_mode)); /* not replaced by a file */
    }
    mrc_output_set_block_size(0);
    free(ord);
    rs_free(&r);
}

/* Keys longer than a block go straight out, between small ones, on every thread count. */
static void test_write_huge_keys(void **state)
{
    (void)state;
    size_t big = 3u << 20;
    char *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, 'h', big);
    recset r = {0};
    rs_add(&r, huge, 300u << 10, 2);
    rs_add(&r, "s", 1, 2);
    rs_add(&r, huge, (uint32_t)big, 3);
    rs_add(&r, "t", 1, 1);
    rs_add(&r, huge, (300u << 10) + 1, 1);
    rs_add(&r, huge, 5, 2);
    for (int so = 0; so < 2; so++) {
        enum mrc_sort sort = so ? MRC_SORT_KEY : MRC_SORT_COUNT;
        const unsigned char **ord = oracle_order(&r, sort);
        for (size_t t = 1; t <= MAX_THREADS; t++)
            check_write(&r, ord, sort, 0, t, tmp_path("huge.tsv"));
        free(ord);
    }
    rs_free(&r);
    free(huge);
}

/* A raised stop flag ends the write on every thread count: an error, the old file kept, no
 * temporary left; /dev/full fails with its cause. */
static void test_write_stop_and_failure(void **state)
{
    (void)state;
    rng_seed(24);
    recset r = ds_keyn(20000, C_ONE);
    const char *path = tmp_path("kept.tsv");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("old content\n", f);
    fclose(f);
    atomic_int stop = 1;
    char msg[300];
    snprintf(msg, sizeof msg, "%s: Interrupted system call", path);
    mrc_output_set_block_size(1000);
    for (size_t t = 1; t <= MAX_THREADS; t++) {
        mrc_out_ref *refs = refs_of(&r);
        mrc_output_opts o = {.path = path, .sort = MRC_SORT_COUNT, .top = 0, .stop = &stop};
        mrc_err err = {0};
        /* raised before: the sort stops; then the writer, the order sorted without it */
        assert_int_equal(mrc_output_write_records(refs, r.n, &o, topo, &pls[t], &err), MRC_EINTR);
        assert_string_equal(err.msg, "output sort: stopped");
        mrc_out_sorted sorted;
        assert_int_equal(
            mrc_output_sort(refs, r.n, MRC_ORDER_COUNT, 0, topo, &pls[t], NULL, &sorted, &err), 0);
        memset(&err, 0, sizeof err);
        assert_int_not_equal(mrc_output_write_sorted(&sorted, &o, topo, &pls[t], &err), 0);
        assert_string_equal(err.msg, msg);
        size_t len;
        unsigned char *text = slurp(path, &len);
        assert_int_equal(len, 12);
        assert_memory_equal(text, "old content\n", 12);
        free(text);
        char *tmp = mrc_temp_path(path);
        assert_int_equal(access(tmp, F_OK), -1);
        free(tmp);

        o.path = "/dev/full";
        o.stop = NULL;
        memset(&err, 0, sizeof err);
        assert_int_not_equal(mrc_output_write_records(refs, r.n, &o, topo, &pls[t], &err), 0);
        assert_string_equal(err.msg, "/dev/full: No space left on device");

        o.path = tmpdir; /* a directory */
        memset(&err, 0, sizeof err);
        assert_int_not_equal(mrc_output_write_records(refs, r.n, &o, topo, &pls[t], &err), 0);
        char dmsg[200];
        snprintf(dmsg, sizeof dmsg, "%s: Is a directory", tmpdir);
        assert_string_equal(err.msg, dmsg);
        free(refs);
    }
    /* the stop also holds for an empty result */
    mrc_output_opts o = {.path = path, .sort = MRC_SORT_COUNT, .top = 0, .stop = &stop};
    mrc_err err = {0};
    mrc_out_sorted none;
    assert_int_equal(mrc_output_sort(NULL, 0, MRC_ORDER_COUNT, 0, NULL, NULL, NULL, &none, &err),
                     0);
    assert_int_not_equal(mrc_output_write_sorted(&none, &o, topo, &pls[3], &err), 0);
    assert_string_equal(err.msg, msg);
    mrc_output_set_block_size(0);
    rs_free(&r);
}

static void test_write_sorted_wrong_order(void **state)
{
    (void)state;
    mrc_out_sorted s;
    mrc_err err = {0};
    assert_int_equal(mrc_output_sort(NULL, 0, MRC_ORDER_KEY, 0, NULL, NULL, NULL, &s, &err), 0);
    mrc_output_opts o = {
        .path = tmp_path("never.tsv"), .sort = MRC_SORT_COUNT, .top = 0, .stop = NULL};
    assert_int_equal(mrc_output_write_sorted(&s, &o, NULL, NULL, &err), MRC_EINVAL);
    assert_int_equal(access(o.path, F_OK), -1);
}

/* ---- streams ---- */

/* A stream over an array of record heads; fails at `fail_at` when set. */
typedef struct arr_stream {
    mrc_source src;
    const unsigned char **recs;
    size_t n, i, fail_at;
} arr_stream;

static int arr_next(mrc_source *s, mrc_rec_view *v, mrc_err *err)
{
    arr_stream *a = (arr_stream *)(void *)s;
    if (a->fail_at != 0 && a->i == a->fail_at)
        return -mrc_err_set(err, MRC_EIO, "stream file: read error");
    if (a->i == a->n) return 0;
    const unsigned char *r = a->recs[a->i++];
    *v = (mrc_rec_view){0, o_count(r), r + 12, o_len(r)};
    return 1;
}

/* Deal the oracle order into k streams at random (each stays in order); merge; compare. */
static void check_merged(const unsigned char **ord, size_t n, size_t k, enum mrc_sort sort,
                         uint64_t top)
{
    arr_stream *st = calloc(k, sizeof *st);
    mrc_source **srcs = calloc(k, sizeof *srcs);
    assert_non_null(st);
    assert_non_null(srcs);
    for (size_t j = 0; j < k; j++) {
        st[j].src = (mrc_source){arr_next, NULL};
        st[j].recs = malloc((n + 1) * sizeof *st[j].recs);
        assert_non_null(st[j].recs);
        srcs[j] = &st[j].src;
    }
    for (size_t i = 0; i < n; i++) {
        arr_stream *a = &st[rng_below(k)];
        a->recs[a->n++] = ord[i];
    }
    const char *path = tmp_path("merged.tsv");
    mrc_output_opts o = {.path = path, .sort = sort, .top = top, .stop = NULL};
    mrc_err err = {0};
    int rc = mrc_output_write_merged(srcs, k, &o, &err);
    if (rc != 0) fail_msg("merged: %s", err.msg);
    size_t got_len, want_len;
    unsigned char *got = slurp(path, &got_len), *want = oracle_text(ord, n, top, &want_len);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, want_len);
    free(got);
    free(want);
    for (size_t j = 0; j < k; j++)
        free(st[j].recs);
    free(srcs);
    free(st);
}

/* Shared stems with few counts, then keys that are prefixes of one another (NULs, the empty
 * key) with counts that differ in any byte: every path of the merge's offset-value codes. */
static void test_write_merged_streams(void **state)
{
    (void)state;
    rng_seed(31);
    recset sets[2] = {ds_stems(20000, C_FEW), ds_prefixes(C_WIDE)};
    mrc_output_set_block_size(500);
    for (size_t d = 0; d < 2; d++) {
        const recset *r = &sets[d];
        for (int so = 0; so < 2; so++) {
            enum mrc_sort sort = so ? MRC_SORT_KEY : MRC_SORT_COUNT;
            const unsigned char **ord = oracle_order(r, sort);
            static const size_t ks[] = {1, 2, 3, 5, 8, 17, 64};
            for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
                check_merged(ord, r->n, ks[i], sort, 0);
                check_merged(ord, r->n, ks[i], sort, 1);
                check_merged(ord, r->n, ks[i], sort, r->n - 1);
                check_merged(ord, r->n, ks[i], sort, r->n + 1);
            }
            check_merged(ord, 0, 3, sort, 0);
            free(ord);
        }
        rs_free(&sets[d]);
    }
    mrc_output_set_block_size(0);
}

/* ---- mrc_output_sort_stream(): bounded memory ---- */

/* r's record heads in a random order (malloc'd). */
static const unsigned char **shuffled(const recset *r)
{
    const unsigned char **fed = malloc((r->n + 1) * sizeof *fed);
    assert_non_null(fed);
    for (size_t i = 0; i < r->n; i++)
        fed[i] = rs_rec(r, i);
    for (size_t i = r->n; i > 1; i--) {
        size_t j = rng_below(i);
        const unsigned char *x = fed[i - 1];
        fed[i - 1] = fed[j];
        fed[j] = x;
    }
    return fed;
}

/* Sort the records of r, fed in a random order, with a budget of `budget` bytes and `fan` runs
 * a merge (0: the default), and compare the result's first records with the oracle's (all of
 * them without top). @return whether the last buffer was kept in memory beside runs, which is
 * checked against the chunking the budget implies: buffers fill until their records and refs
 * take the budget, and the last one stays in memory when it takes at most half of it. */
static bool check_sort_stream(const recset *r, enum mrc_sort sort, uint64_t budget, size_t fan,
                              uint64_t top, size_t t)
{
    const unsigned char **ord = oracle_order(r, sort);
    const unsigned char **fed = shuffled(r);
    uint64_t used = 0, chunks = 0, eff = budget > ((uint64_t)1 << 20) ? budget : (uint64_t)1 << 20;
    for (size_t i = 0; i < r->n; i++) {
        if (used == 0) chunks++;
        used += MRC_REC_HEAD + o_len(fed[i]) + sizeof(mrc_out_ref);
        if (used >= eff && i + 1 < r->n) used = 0;
    }
    bool want_kept = chunks > 1 && used <= eff / 2;
    arr_stream a = {{arr_next, NULL}, fed, r->n, 0, 0};
    mrc_sort_stream_opts so = {.order = sort == MRC_SORT_KEY ? MRC_ORDER_KEY : MRC_ORDER_COUNT,
                               .budget = budget,
                               .tmp_dir = tmpdir,
                               .top = top,
                               .topo = t > 1 ? topo : NULL,
                               .pl = t > 1 ? &pls[t] : NULL,
                               .fan_in = fan};
    mrc_sorted_result res;
    mrc_err err = {0};
    int rc = mrc_output_sort_stream(&a.src, &so, &res, &err);
    if (rc != 0) fail_msg("sort stream: %s", err.msg);
    assert_int_equal(res.in_memory, chunks <= 1);
    assert_int_equal(res.kept, want_kept);
    mrc_source *m = mrc_output_sorted_result_source(&res, &err);
    assert_non_null(m);
    size_t want = top != 0 && top < r->n ? (size_t)top : r->n, i = 0;
    for (mrc_rec_view v; i < r->n; i++) {
        int got = m->next(m, &v, &err);
        if (got < 0) fail_msg("sort stream: %s", err.msg);
        if (got == 0) break;
        if (i >= want) continue; /* with top, each buffer gives its first `top` */
        if (v.count != o_count(ord[i]) || v.len != o_len(ord[i]) ||
            memcmp(v.key, ord[i] + 12, v.len) != 0)
            fail_msg("sort stream (budget %llu, fan %zu, top %llu, %zu threads): record %zu "
                     "differs",
                     (unsigned long long)budget, fan, (unsigned long long)top, t, i);
    }
    assert_true(i >= want);
    if (top == 0) assert_int_equal(i, r->n);
    if (m->close != NULL) m->close(m);
    mrc_output_sorted_result_free(&res);
    free(fed);
    free(ord);
    return want_kept;
}

static void test_sort_stream(void **state)
{
    (void)state;
    rng_seed(37);
    /* key<n>x: about 38 bytes of record and ref each, 27 k to a 1 MiB buffer (the least) */
    static const size_t sizes[] = {20000, 30000, 45000, 60000, 70000, 150000};
    size_t kept = 0, written = 0;
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        recset r = ds_keyn(sizes[z], C_ZIPF);
        for (int so = 0; so < 2; so++) {
            enum mrc_sort sort = so ? MRC_SORT_KEY : MRC_SORT_COUNT;
            bool k = check_sort_stream(&r, sort, 1 << 20, 0, 0, 1);
            kept += k;
            written += !k && sizes[z] > 30000;
            check_sort_stream(&r, sort, 1 << 20, 2, 0, 3); /* runs compacted two by two */
            check_sort_stream(&r, sort, 1 << 20, 0, 1000, 2);
            check_sort_stream(&r, sort, (uint64_t)3 << 20, 0, 0, 1);
        }
        rs_free(&r);
    }
    /* both ends of the last buffer were taken: kept in memory, and written as a run */
    assert_true(kept > 0);
    assert_true(written > 0);
}

/* Progress as the writer tells it: never back, never past the lines. */
typedef struct told {
    uint64_t last, calls, max;
    bool back;
} told;

static void tell_lines(void *arg, uint64_t lines)
{
    told *t = arg;
    if (lines < t->last || lines > t->max) t->back = true;
    t->last = lines;
    t->calls++;
}

static size_t segments_dropped, segments_whole;

/* r fed in a random order to a sort with a 1 MiB budget cut into `segs` segments (fan: runs a
 * merge, 2 forces compaction, which drops them): every segment read alone is its slice of the
 * oracle's order, with the lines and bytes the result says; the result written on t threads to
 * a regular file and through a FIFO is the oracle's text. */
static void check_segments(const recset *r, enum mrc_sort sort, size_t segs, size_t fan, size_t t)
{
    const unsigned char **ord = oracle_order(r, sort);
    const unsigned char **fed = shuffled(r);
    arr_stream a = {{arr_next, NULL}, fed, r->n, 0, 0};
    mrc_sort_stream_opts so = {.order = sort == MRC_SORT_KEY ? MRC_ORDER_KEY : MRC_ORDER_COUNT,
                               .budget = 1 << 20,
                               .tmp_dir = tmpdir,
                               .topo = t > 1 ? topo : NULL,
                               .pl = t > 1 ? &pls[t] : NULL,
                               .fan_in = fan,
                               .segments = segs};
    mrc_sorted_result res;
    mrc_err err = {0};
    if (mrc_output_sort_stream(&a.src, &so, &res, &err) != 0) fail_msg("sort: %s", err.msg);
    assert_false(res.in_memory);
    if (fan != 0 && res.nsegs == 0) { /* more runs than `fan`, compacted: they have none */
        segments_dropped++;
    } else {
        for (size_t i = 0; t > 1 && i < res.nruns; i++) /* past the fan-in: one run for all */
            segments_whole += res.runs[i].segments == res.nsegs;
        assert_int_equal(res.nsegs, segs);
        size_t at = 0;
        for (size_t k = 0; k < res.nsegs; k++) {
            mrc_source *m = mrc_output_sorted_result_segment(&res, k, &err);
            if (m == NULL) fail_msg("segment %zu: %s", k, err.msg);
            uint64_t lines = 0, bytes = 0;
            mrc_rec_view v;
            int got;
            while ((got = m->next(m, &v, &err)) > 0) {
                if (at >= r->n || v.count != o_count(ord[at]) || v.len != o_len(ord[at]) ||
                    memcmp(v.key, ord[at] + 12, v.len) != 0)
                    fail_msg("segment %zu of %zu (%zu threads): record %zu differs", k, segs, t,
                             at);
                char digits[24];
                bytes +=
                    v.len + 2 +
                    (uint64_t)snprintf(digits, sizeof digits, "%llu", (unsigned long long)v.count);
                lines++;
                at++;
            }
            if (got < 0) fail_msg("segment %zu: %s", k, err.msg);
            m->close(m);
            assert_int_equal(lines, res.seg_lines[k]);
            assert_int_equal(bytes, res.seg_bytes[k]);
        }
        assert_int_equal(at, r->n);
        assert_null(mrc_output_sorted_result_segment(&res, res.nsegs, &err));
        /* read whole (an owner's stream to rank 0): the segments one after another */
        mrc_source *m = mrc_output_sorted_result_source(&res, &err);
        if (m == NULL) fail_msg("whole: %s", err.msg);
        at = 0;
        mrc_rec_view v;
        int got;
        while ((got = m->next(m, &v, &err)) > 0) {
            if (at >= r->n || v.count != o_count(ord[at]) || v.len != o_len(ord[at]) ||
                memcmp(v.key, ord[at] + 12, v.len) != 0)
                fail_msg("whole, cut into %zu (%zu threads): record %zu differs", segs, t, at);
            at++;
        }
        if (got < 0) fail_msg("whole: %s", err.msg);
        assert_int_equal(at, r->n);
        m->close(m);
    }
    size_t want_len;
    unsigned char *want = oracle_text(ord, r->n, 0, &want_len);
    const char *path = tmp_path("segments.tsv");
    told tl = {.max = r->n};
    mrc_output_opts o = {.path = path, .sort = sort, .written = tell_lines, .written_arg = &tl};
    if (mrc_output_write_sorted_result(&res, &o, topo, &pls[t], &err) != 0)
        fail_msg("write: %s", err.msg);
    size_t got_len;
    unsigned char *got = slurp(path, &got_len);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, want_len);
    assert_false(tl.back);
    if (r->n >= 65536) assert_true(tl.calls > 0);
    free(got);
    if (res.nsegs > 1) { /* a FIFO: the segments in order */
        const char *fifo = tmp_path("segments.fifo");
        unlink(fifo);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        fifo_reader f = {fifo, NULL, 0, 0, 0};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, read_fifo, &f), 0);
        mrc_output_opts of = {.path = fifo, .sort = sort};
        int rc = mrc_output_write_sorted_result(&res, &of, topo, &pls[t], &err);
        pthread_join(th, NULL);
        if (rc != 0) fail_msg("fifo: %s", err.msg);
        assert_true(f.ok);
        assert_int_equal(f.len, want_len);
        assert_memory_equal(f.buf, want, want_len);
        free(f.buf);
        unlink(fifo);
        /* stopped: the error, and no result left */
        mrc_stop stop = 1;
        const char *gone = tmp_path("segments-stopped.tsv");
        mrc_output_opts os = {.path = gone, .sort = sort, .stop = &stop};
        assert_int_not_equal(mrc_output_write_sorted_result(&res, &os, topo, &pls[t], &err), 0);
        assert_int_equal(access(gone, F_OK), -1);
    }
    free(want);
    mrc_output_sorted_result_free(&res);
    free(fed);
    free(ord);
}

static void test_sort_stream_segments(void **state)
{
    (void)state;
    rng_seed(41);
    for (int d = 0; d < 2; d++) { /* 150 k keys key<n>x: 5 runs; 45 k long stems: 4 */
        recset r = d ? ds_stems(45000, C_WIDE) : ds_keyn(150000, C_ZIPF);
        for (int so = 0; so < 2; so++) {
            enum mrc_sort sort = so ? MRC_SORT_KEY : MRC_SORT_COUNT;
            check_segments(&r, sort, 2, 0, 1);
            check_segments(&r, sort, 5, 0, 2);
            check_segments(&r, sort, 16, 0, 3);
            check_segments(&r, sort, 2, 0, 3); /* a thread without a segment */
            check_segments(&r, sort, 8, 2, 2);
            check_segments(&r, sort, 8, 3, 2); /* a run a thread, then one for all */
        }
        rs_free(&r);
    }
    assert_true(segments_dropped > 0);
    assert_true(segments_whole > 0);
}

/* The oracle's records before a splitter (the first at or past it). */
static size_t oracle_bound(const unsigned char **ord, size_t n, enum mrc_order order,
                           const mrc_rec_view *split)
{
    size_t i = 0;
    for (; i < n; i++) {
        mrc_rec_view v = {0, o_count(ord[i]), ord[i] + 12, o_len(ord[i])};
        if (mrc_rec_cmp(order, &v, split) >= 0) break;
    }
    return i;
}

/* r sorted with `budget` on t threads, cut at nsplit splitters given (records of the oracle's
 * order at random places, some keys cut short, so that a splitter is no record): the result is
 * in memory or spilled as the budget says, and every run of segments read alone (a rank's
 * range) is the oracle's slice between its splitters. */
static void check_given_splitters(const recset *r, enum mrc_sort sort, uint64_t budget,
                                  size_t nsplit, size_t t, bool in_memory)
{
    enum mrc_order order = sort == MRC_SORT_KEY ? MRC_ORDER_KEY : MRC_ORDER_COUNT;
    const unsigned char **ord = oracle_order(r, sort);
    const unsigned char **fed = shuffled(r);
    mrc_rec_view *split = calloc(nsplit, sizeof *split);
    size_t *pos = calloc(nsplit, sizeof *pos), *bound = calloc(nsplit + 2, sizeof *bound);
    assert_true(split != NULL && pos != NULL && bound != NULL);
    for (size_t k = 0; k < nsplit; k++)
        pos[k] = (size_t)(rng_next() % r->n);
    for (size_t i = 1; i < nsplit; i++) /* ascending */
        for (size_t j = i; j > 0 && pos[j] < pos[j - 1]; j--) {
            size_t x = pos[j];
            pos[j] = pos[j - 1];
            pos[j - 1] = x;
        }
    for (size_t k = 0; k < nsplit; k++) {
        uint32_t len = o_len(ord[pos[k]]);
        split[k] = (mrc_rec_view){0, o_count(ord[pos[k]]), ord[pos[k]] + 12, len};
        mrc_rec_view cut = split[k]; /* a prefix: still a point of the order, if ascending */
        cut.len = len / 2;
        if (k % 3 == 1 && (k == 0 || mrc_rec_cmp(order, &split[k - 1], &cut) <= 0)) split[k] = cut;
    }
    bound[0] = 0;
    for (size_t k = 0; k < nsplit; k++)
        bound[k + 1] = oracle_bound(ord, r->n, order, &split[k]);
    bound[nsplit + 1] = r->n;
    arr_stream a = {{arr_next, NULL}, fed, r->n, 0, 0};
    mrc_sort_stream_opts so = {.order = order,
                               .budget = budget,
                               .tmp_dir = tmpdir,
                               .topo = t > 1 ? topo : NULL,
                               .pl = t > 1 ? &pls[t] : NULL,
                               .segments = 3, /* ignored: the splitters given cut */
                               .split = split,
                               .nsplit = nsplit};
    mrc_sorted_result res;
    mrc_err err = {0};
    if (mrc_output_sort_stream(&a.src, &so, &res, &err) != 0) fail_msg("sort: %s", err.msg);
    assert_int_equal(res.in_memory, in_memory);
    assert_int_equal(res.nsegs, nsplit + 1);
    /* ranges of two segments, then of one, then none */
    for (size_t w = 2; w > 0; w--)
        for (size_t k0 = 0; k0 <= res.nsegs; k0 += w) {
            size_t k1 = k0 + w < res.nsegs ? k0 + w : res.nsegs;
            mrc_source *m = mrc_output_sorted_result_segments(&res, k0, k1, &err);
            if (m == NULL) fail_msg("segments %zu-%zu: %s", k0, k1, err.msg);
            size_t at = bound[k0], lines = 0;
            mrc_rec_view v;
            int got;
            while ((got = m->next(m, &v, &err)) > 0) {
                if (at >= bound[k1] || v.count != o_count(ord[at]) || v.len != o_len(ord[at]) ||
                    memcmp(v.key, ord[at] + 12, v.len) != 0)
                    fail_msg("segments %zu-%zu of %zu (%zu threads, in memory %d): record %zu "
                             "differs",
                             k0, k1, res.nsegs, t, (int)in_memory, at);
                at++;
            }
            if (got < 0) fail_msg("segments %zu-%zu: %s", k0, k1, err.msg);
            m->close(m);
            assert_int_equal(at, bound[k1]);
            for (size_t k = k0; k < k1; k++)
                lines += (size_t)res.seg_lines[k];
            assert_int_equal(lines, bound[k1] - bound[k0]);
        }
    assert_null(mrc_output_sorted_result_segments(&res, 1, 0, &err));
    assert_null(mrc_output_sorted_result_segments(&res, 0, res.nsegs + 1, &err));
    mrc_output_sorted_result_free(&res);
    free(split);
    free(pos);
    free(bound);
    free(fed);
    free(ord);
}

static void test_sort_stream_given_splitters(void **state)
{
    (void)state;
    rng_seed(43);
    for (int d = 0; d < 2; d++) {
        recset r = d ? ds_stems(45000, C_WIDE) : ds_keyn(150000, C_ZIPF);
        for (int so = 0; so < 2; so++) {
            enum mrc_sort sort = so ? MRC_SORT_KEY : MRC_SORT_COUNT;
            check_given_splitters(&r, sort, 1 << 20, 5, 1, false);
            check_given_splitters(&r, sort, 1 << 20, 7, 3, false);
            check_given_splitters(&r, sort, 1 << 20, 1, 2, false);
            check_given_splitters(&r, sort, (uint64_t)1 << 30, 5, 1, true);
            check_given_splitters(&r, sort, (uint64_t)1 << 30, 11, 2, true);
        }
        rs_free(&r);
    }
}

/* r dealt by key hash into nin streams (each in random order, no key in two), sorted with
 * `budget` on t threads (cut into segs segments when > 1): the result, read whole or written,
 * is the oracle's; a stream that fails fails the sort with its error. */
static void check_sort_streams(const recset *r, enum mrc_sort sort, uint64_t budget, size_t nin,
                               size_t t, size_t segs, size_t fail)
{
    const unsigned char **ord = oracle_order(r, sort);
    const unsigned char **fed = shuffled(r);
    arr_stream *st = calloc(nin, sizeof *st);
    mrc_source **in = calloc(nin, sizeof *in);
    assert_true(st != NULL && in != NULL);
    /* stream k: the records whose key hashes to k mod nin, back to back in fed */
    size_t at = 0;
    const unsigned char **by = malloc((r->n + 1) * sizeof *by);
    assert_non_null(by);
    for (size_t k = 0; k < nin; k++) {
        size_t from = at;
        for (size_t i = 0; i < r->n; i++)
            if (mrc_hash(fed[i] + 12, o_len(fed[i])) % nin == k) by[at++] = fed[i];
        st[k] = (arr_stream){{arr_next, NULL}, by + from, at - from, 0, 0};
        in[k] = &st[k].src;
    }
    assert_int_equal(at, r->n);
    if (fail) st[nin - 1].fail_at = st[nin - 1].n / 2 + 1;
    mrc_sort_stream_opts so = {.order = sort == MRC_SORT_KEY ? MRC_ORDER_KEY : MRC_ORDER_COUNT,
                               .budget = budget,
                               .tmp_dir = tmpdir,
                               .topo = t > 1 ? topo : NULL,
                               .pl = t > 1 ? &pls[t] : NULL,
                               .segments = segs};
    mrc_sorted_result res;
    mrc_err err = {0};
    int rc = mrc_output_sort_streams(in, nin, &so, &res, &err);
    if (fail) {
        assert_int_equal(rc, MRC_EIO);
        assert_string_equal(err.msg, "stream file: read error");
    } else {
        if (rc != 0) fail_msg("sort streams: %s", err.msg);
        size_t want_len;
        unsigned char *want = oracle_text(ord, r->n, 0, &want_len);
        const char *path = tmp_path("streams.tsv");
        mrc_output_opts o = {.path = path, .sort = sort};
        if (mrc_output_write_sorted_result(&res, &o, topo, &pls[t], &err) != 0)
            fail_msg("write: %s", err.msg);
        size_t got_len;
        unsigned char *got = slurp(path, &got_len);
        if (got_len != want_len || memcmp(got, want, want_len) != 0)
            fail_msg("sort streams (budget %llu, %zu streams, %zu threads, %zu segments): "
                     "the result differs",
                     (unsigned long long)budget, nin, t, segs);
        free(got);
        free(want);
        mrc_output_sorted_result_free(&res);
    }
    free(by);
    free(in);
    free(st);
    free(fed);
    free(ord);
}

static void test_sort_streams(void **state)
{
    (void)state;
    rng_seed(43);
    recset a = ds_keyn(150000, C_ZIPF), b = ds_stems(40000, C_WIDE);
    for (int so = 0; so < 2; so++) {
        enum mrc_sort sort = so ? MRC_SORT_KEY : MRC_SORT_COUNT;
        check_sort_streams(&a, sort, 1 << 20, 2, 2, 8, 0);    /* a thread a stream, runs */
        check_sort_streams(&a, sort, 1 << 20, 3, 3, 0, 0);    /* runs not cut */
        check_sort_streams(&a, sort, 1 << 20, 3, 2, 8, 0);    /* more streams than threads */
        check_sort_streams(&b, sort, 1 << 20, 2, 2, 8, 0);    /* long keys */
        check_sort_streams(&a, sort, UINT64_MAX, 3, 3, 0, 0); /* no bound: one part */
        check_sort_streams(&b, sort, (uint64_t)64 << 20, 2, 2, 0, 0); /* fits: in memory */
        check_sort_streams(&a, sort, 0, 1, 1, 0, 0);                  /* one stream */
        check_sort_streams(&a, sort, 1 << 20, 2, 2, 8, 1);            /* a stream fails */
    }
    rs_free(&a);
    rs_free(&b);
}

/* A rank's own sorted slices as one stream beside received ones. */
static void test_write_merged_with_iterator(void **state)
{
    (void)state;
    rng_seed(32);
    recset r = ds_keyn(30000, C_ZIPF);
    const unsigned char **ord = oracle_order(&r, MRC_SORT_COUNT);
    /* the first third sorted here on 3 threads, the rest dealt into two streams */
    recset mine = {0};
    arr_stream st[2] = {{{arr_next, NULL}, malloc(r.n * sizeof(void *)), 0, 0, 0},
                        {{arr_next, NULL}, malloc(r.n * sizeof(void *)), 0, 0, 0}};
    for (size_t i = 0; i < r.n; i++) {
        size_t d = rng_below(3);
        if (d == 2)
            rs_add(&mine, ord[i] + 12, o_len(ord[i]), o_count(ord[i]));
        else
            st[d].recs[st[d].n++] = ord[i];
    }
    mrc_out_ref *refs = refs_of(&mine);
    mrc_out_sorted s;
    mrc_err err = {0};
    assert_int_equal(
        mrc_output_sort(refs, mine.n, MRC_ORDER_COUNT, 0, topo, &pls[3], NULL, &s, &err), 0);
    mrc_out_iter *it = mrc_output_iter_open(&s, 0, &err);
    mrc_source *srcs[3] = {&st[0].src, mrc_output_iter_source(it), &st[1].src};
    const char *path = tmp_path("mixed.tsv");
    mrc_output_opts o = {.path = path, .sort = MRC_SORT_COUNT, .top = 0, .stop = NULL};
    assert_int_equal(mrc_output_write_merged(srcs, 3, &o, &err), 0);
    srcs[1]->close(srcs[1]); /* closes the iterator */
    size_t got_len, want_len;
    unsigned char *got = slurp(path, &got_len), *want = oracle_text(ord, r.n, 0, &want_len);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, want_len);
    free(got);
    free(want);
    free(refs);
    free(st[0].recs);
    free(st[1].recs);
    rs_free(&mine);
    free(ord);
    rs_free(&r);
}

/* A stream out of order, or one that fails: an error, and no result left behind. */
static void test_write_merged_errors(void **state)
{
    (void)state;
    recset r = {0};
    rs_add(&r, "b", 1, 5);
    rs_add(&r, "a", 1, 5);
    rs_add(&r, "c", 1, 9);
    const unsigned char *backwards[] = {rs_rec(&r, 0), rs_rec(&r, 1)}; /* b, then a */
    const unsigned char *fine[] = {rs_rec(&r, 2)};
    arr_stream st[2] = {{{arr_next, NULL}, fine, 1, 0, 0}, {{arr_next, NULL}, backwards, 2, 0, 0}};
    mrc_source *srcs[2] = {&st[0].src, &st[1].src};
    const char *path = tmp_path("bad.tsv");
    mrc_output_opts o = {.path = path, .sort = MRC_SORT_KEY, .top = 0, .stop = NULL};
    mrc_err err = {0};
    assert_int_equal(mrc_output_write_merged(srcs, 2, &o, &err), MRC_EINVAL);
    char msg[300];
    snprintf(msg, sizeof msg, "%s: stream 1 is not in order", path);
    assert_string_equal(err.msg, msg);
    assert_int_equal(access(path, F_OK), -1);

    st[0].i = 0;
    st[1] = (arr_stream){{arr_next, NULL}, backwards, 2, 0, 1}; /* fails at its second */
    memset(&err, 0, sizeof err);
    assert_int_equal(mrc_output_write_merged(srcs, 2, &o, &err), MRC_EIO);
    assert_string_equal(err.msg, "stream file: read error");
    assert_int_equal(access(path, F_OK), -1);
    char *tmp = mrc_temp_path(path);
    assert_int_equal(access(tmp, F_OK), -1);
    free(tmp);
    rs_free(&r);
}

/* ---- refs from a serialized table ---- */

static void test_refs_from_table(void **state)
{
    (void)state;
    rng_seed(41);
    recset r = ds_stems(5000, C_WIDE);
    size_t len = MRC_SER_HEADER + r.len - 1;
    unsigned char *t = malloc(len);
    assert_non_null(t);
    mrc_ser_header h = {MRC_SER_MAGIC, MRC_SER_VERSION, r.n, r.len - 1, 0, 0};
    mrc_ser_write_header(t, &h);
    memcpy(t + MRC_SER_HEADER, r.buf + 1, r.len - 1);
    mrc_out_ref *refs;
    size_t n;
    mrc_err err = {0};
    assert_int_equal(mrc_output_refs_from_table(t, len, "tbl", &refs, &n, &err), 0);
    assert_int_equal(n, r.n);
    for (size_t i = 0, at = MRC_SER_HEADER; i < n; at += 12 + o_len(refs[i++].rec))
        assert_ptr_equal(refs[i].rec, t + at); /* the table's order */
    free(refs);
    h.flags = MRC_SER_FLAG_COUNT_OVERFLOW;
    mrc_ser_write_header(t, &h);
    assert_int_equal(mrc_output_refs_from_table(t, len, "tbl", &refs, &n, &err), MRC_EOVERFLOW);
    assert_null(refs);
    free(t);
    rs_free(&r);
}

/* A lone rank's tables straight to refs: 2 to 9 tables (9: past the walk's linear scan) sharing
 * keys at random, on 1 to MAX_THREADS threads; every key once, its record holding the sum of its
 * counts over the tables (an oracle array), and each table's refs in arena order. */
static void test_refs_from_tables(void **state)
{
    (void)state;
    enum { NKEYS = 3000 };
    static const size_t ntabs[] = {1, 2, 3, 5, 9};
    for (size_t nt = 0; nt < sizeof ntabs / sizeof ntabs[0]; nt++)
        for (size_t th = 1; th <= MAX_THREADS; th += 2) {
            rng_seed(61 + nt * 10 + th);
            size_t T = ntabs[nt];
            mrc_table tabs[9], *tp[9];
            static uint64_t want[NKEYS];
            static bool present[NKEYS]; /* counts may be 0 (an ngram row's match_count can) */
            memset(want, 0, sizeof want);
            memset(present, 0, sizeof present);
            mrc_err err = {0};
            for (size_t t = 0; t < T; t++) {
                assert_int_equal(mrc_table_init(&tabs[t], 0, &err), 0);
                tp[t] = &tabs[t];
                for (size_t a = 0, na = rng_below(4000); a < na; a++) {
                    char key[16];
                    size_t k = rng_below(NKEYS);
                    uint64_t c = rng_below(9);
                    int kl = snprintf(key, sizeof key, "k%zu", k);
                    assert_int_equal(mrc_table_add(&tabs[t], key, (uint32_t)kl,
                                                   mrc_hash(key, (size_t)kl), c, &err),
                                     0);
                    want[k] += c;
                    present[k] = true;
                }
            }
            size_t distinct = 0;
            for (size_t k = 0; k < NKEYS; k++)
                distinct += present[k];
            mrc_out_ref *refs;
            size_t n;
            bool in_table;
            assert_int_equal(
                mrc_output_refs_from_tables(tp, T, topo, &pls[th], &refs, &n, &in_table, &err), 0);
            /* one table: the refs take its index's memory (grown in place when the table is
             * more than half full: 16 bytes a key against 8 a slot) */
            assert_true(in_table == (T == 1));
            assert_int_equal(n, distinct);
            for (size_t i = 0; i < n; i++) {
                const unsigned char *r = refs[i].rec;
                char key[16];
                uint32_t kl = mrc_rec_len(r);
                assert_true(kl > 1 && kl < sizeof key);
                memcpy(key, mrc_rec_key(r), kl);
                key[kl] = 0;
                size_t k = (size_t)strtoul(key + 1, NULL, 10);
                assert_true(k < NKEYS);
                if (!present[k] || want[k] != mrc_rec_count(r))
                    fail_msg("key %s: count %llu, want %llu (a repeat or a partial sum)", key,
                             (unsigned long long)mrc_rec_count(r), (unsigned long long)want[k]);
                present[k] = false; /* a second ref to the key would now fail */
                if (i > 0) {        /* within one arena, in memory order */
                    uintptr_t a = (uintptr_t)refs[i - 1].rec, b = (uintptr_t)r;
                    for (size_t t = 0; t < T; t++) {
                        uintptr_t lo = (uintptr_t)tabs[t].arena, hi = lo + tabs[t].arena_len;
                        if (a >= lo && a < hi && b >= lo && b < hi) assert_true(a < b);
                    }
                }
            }
            if (!in_table) free(refs);
            for (size_t t = 0; t < T; t++)
                mrc_table_free(&tabs[t]);
        }
}

/* The shuffle's prune: the first K records as a valid serialized table (hash order). */
static void test_top_table(void **state)
{
    (void)state;
    rng_seed(51);
    recset r = ds_stems(3000, C_FEW);
    size_t len = MRC_SER_HEADER + r.len - 1;
    unsigned char *t = malloc(len);
    assert_non_null(t);
    mrc_ser_header h = {MRC_SER_MAGIC, MRC_SER_VERSION, r.n, r.len - 1, 0, 0};
    mrc_ser_write_header(t, &h);
    memcpy(t + MRC_SER_HEADER, r.buf + 1, r.len - 1);
    for (int so = 0; so < 2; so++) {
        enum mrc_sort sort = so ? MRC_SORT_KEY : MRC_SORT_COUNT;
        const unsigned char **ord = oracle_order(&r, sort);
        uint64_t tops[] = {0, 1, 10, r.n - 1, r.n, r.n + 5};
        for (size_t k = 0; k < sizeof tops / sizeof tops[0]; k++) {
            mrc_output_opts o = {.path = NULL, .sort = sort, .top = tops[k], .stop = NULL};
            void *out;
            size_t out_len;
            mrc_err err = {0};
            assert_int_equal(mrc_output_top_table(t, len, &o, &out, &out_len, &err), 0);
            assert_int_equal(mrc_ser_validate(out, out_len, &err), 0);
            mrc_ser_header oh;
            mrc_ser_read_header(out, &oh);
            size_t want = tops[k] != 0 && tops[k] < r.n ? (size_t)tops[k] : r.n;
            assert_int_equal(oh.records, want);
            recset got = {0};
            size_t pos = 0;
            mrc_ser_rec rec;
            while (mrc_ser_next((unsigned char *)out + MRC_SER_HEADER, (size_t)oh.payload, &pos,
                                &rec) == 1)
                rs_add(&got, rec.key, rec.len, rec.count);
            const unsigned char **gord = oracle_order(&got, sort);
            assert_int_equal(got.n, want);
            for (size_t i = 0; i < want; i++)
                assert_same_rec(gord[i], ord[i], i);
            free(gord);
            rs_free(&got);
            free(out);
        }
        free(ord);
    }
    free(t);
    rs_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort_small_sets),
        cmocka_unit_test(test_sort_prefixes_and_nuls),
        cmocka_unit_test(test_sort_shared_stems),
        cmocka_unit_test(test_sort_issue_vocabulary),
        cmocka_unit_test(test_sort_wide_counts),
        cmocka_unit_test(test_sort_small_alphabets),
        cmocka_unit_test(test_sort_guessed_prefix),
        cmocka_unit_test(test_sort_million),
        cmocka_unit_test(test_sort_part_layouts),
        cmocka_unit_test(test_sort_repeated_records),
        cmocka_unit_test(test_sort_bad_order),
        cmocka_unit_test(test_sort_first_windows),
        cmocka_unit_test(test_sort_common_count),
        cmocka_unit_test(test_sort_stopped),
        cmocka_unit_test(test_write_files_every_thread_count),
        cmocka_unit_test(test_write_stdout_in_order),
        cmocka_unit_test(test_write_fifo),
        cmocka_unit_test(test_sort_stream_segments),
        cmocka_unit_test(test_sort_stream_given_splitters),
        cmocka_unit_test(test_sort_streams),
        cmocka_unit_test(test_write_huge_keys),
        cmocka_unit_test(test_write_stop_and_failure),
        cmocka_unit_test(test_write_sorted_wrong_order),
        cmocka_unit_test(test_write_merged_streams),
        cmocka_unit_test(test_write_merged_with_iterator),
        cmocka_unit_test(test_write_merged_errors),
        cmocka_unit_test(test_sort_stream),
        cmocka_unit_test(test_write_behind),
        cmocka_unit_test(test_refs_from_table),
        cmocka_unit_test(test_refs_from_tables),
        cmocka_unit_test(test_top_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
