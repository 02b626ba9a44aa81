/* test_runfile.c - run files and the chunk store (runfile.c, chunkstore.c) against oracles
 * written here: the file's bytes equal the wire format written byte by byte, every hash range
 * read back equals the oracle's records filtered by plain comparison, the index equals the
 * first record of each bucket found by a scan; huge keys, empty runs, runs merged back; the
 * failures that must never pass as a short run: a full disk (a 64 KiB tmpfs mounted by the test,
 * skipped where mounting is refused), a missing, read-only or shrunken file; the chunk store cut
 * at every byte, in memory and spilled, equal to the concatenation of what was appended. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "records_util.h"

#include "mrcount/tmpfile.h"

static char dir[256];
static int mounted;

static int dir_make(void **state)
{
    (void)state;
    return tmpdir_make(dir, sizeof dir, "/tmp/mrc_runfile_XXXXXX");
}

static int dir_remove(void **state)
{
    (void)state;
    return rm_tree(dir);
}

static int tmpfs_make(void **state)
{
    if (dir_make(state) != 0) return -1;
    mounted = mount("mrc_runfile", dir, "tmpfs", 0, "size=64k,mode=0700") == 0;
    return 0;
}

static int tmpfs_remove(void **state)
{
    if (mounted && umount2(dir, MNT_DETACH) != 0) return -1;
    mounted = 0;
    return dir_remove(state);
}

static int entries(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static mrc_rec_view view_of(const okv *r, enum mrc_order o)
{
    return (mrc_rec_view){o == MRC_ORDER_HASH ? r->hash : 0, r->count, r->key, r->len};
}

/* Write v[0, n) as a run file (asserting success). */
static mrc_run_file run_write(const okv *v, size_t n, enum mrc_order o, size_t buf)
{
    mrc_err err = {0};
    mrc_run_writer *w = mrc_run_writer_open(dir, o, buf, &err);
    if (w == NULL) fail_msg("writer: %s", err.msg);
    for (size_t i = 0; i < n; i++) {
        mrc_rec_view r = view_of(&v[i], o);
        if (mrc_run_writer_put(w, &r, &err) != 0) fail_msg("put %zu: %s", i, err.msg);
    }
    mrc_run_file f;
    if (mrc_run_writer_finish(w, &f, &err) != 0) fail_msg("finish: %s", err.msg);
    assert_true(f.fd >= 0);
    return f;
}

/* The whole file, read with plain pread. */
static unsigned char *file_bytes(const mrc_run_file *f, size_t *len)
{
    struct stat st;
    assert_int_equal(fstat(f->fd, &st), 0);
    *len = (size_t)st.st_size;
    unsigned char *b = malloc(*len ? *len : 1);
    assert_non_null(b);
    size_t got = 0;
    while (got < *len) {
        ssize_t k = pread(f->fd, b + got, *len - got, (off_t)got);
        assert_true(k > 0);
        got += (size_t)k;
    }
    return b;
}

static void read_range(const mrc_run_file *f, uint64_t lo, uint64_t hi, size_t buf, coll *c)
{
    mrc_err err = {0};
    mrc_source *s = mrc_run_file_source(f, lo, hi, buf, &err);
    if (s == NULL) fail_msg("source: %s", err.msg);
    int rc = coll_drain(c, s, &err);
    if (rc != 0)
        fail_msg("read [%llx, %llx]: %d %s", (unsigned long long)lo, (unsigned long long)hi, rc,
                 err.msg);
    s->close(s);
}

/* The oracle's records whose hash is in [lo, hi]: first index and count. */
static size_t in_range(const okv *v, size_t n, uint64_t lo, uint64_t hi, size_t *first)
{
    size_t i = 0;
    while (i < n && v[i].hash < lo)
        i++;
    *first = i;
    size_t k = 0;
    while (i + k < n && v[i + k].hash <= hi)
        k++;
    return k;
}

/* The bytes of an output-order run, by the rule runfile.c documents (front coding): per record
 * LEB128 varints of the bytes its key shares with the previous key, the rest of its length and
 * its count, then the rest of the key. */
static unsigned char *coded_of(const okv *v, size_t n, size_t *len)
{
    size_t cap = 64;
    for (size_t i = 0; i < n; i++)
        cap += 20 + v[i].len;
    unsigned char *b = malloc(cap);
    assert_non_null(b);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        size_t shared = 0;
        while (i > 0 && shared < v[i].len && shared < v[i - 1].len &&
               v[i].key[shared] == v[i - 1].key[shared])
            shared++;
        uint64_t f[3] = {shared, v[i].len - shared, v[i].count};
        for (int k = 0; k < 3; k++) {
            uint64_t x = f[k];
            do {
                b[w++] = (unsigned char)((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
                x >>= 7;
            } while (x != 0);
        }
        memcpy(b + w, v[i].key + shared, v[i].len - shared);
        w += v[i].len - shared;
    }
    *len = w;
    return b;
}

static void check_run(const okv *v, size_t n, enum mrc_order o, size_t wbuf, size_t rbuf)
{
    mrc_spill_io io0, io1, io2;
    mrc_spill_io_get(&io0);
    mrc_run_file f = run_write(v, n, o, wbuf);
    mrc_spill_io_get(&io1);
    size_t plen;
    unsigned char *want = o == MRC_ORDER_HASH ? payload_of(v, n, &plen) : coded_of(v, n, &plen);
    size_t flen;
    unsigned char *got = file_bytes(&f, &flen);
    assert_bytes_equal(got, flen, want, plen);
    assert_int_equal(f.bytes, plen);
    assert_int_equal(f.records, n);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += v[i].count;
    assert_true(f.total == total);
    assert_int_equal(io1.written - io0.written, plen);
    assert_int_equal(f.order, o);
    assert_string_equal(f.dir, dir);
    if (o == MRC_ORDER_HASH) {
        /* index[b]: the offset of the first record of bucket >= b, found by a scan */
        assert_non_null(f.index);
        size_t at = 0, i = 0;
        for (uint32_t b = 0; b <= MRC_RUN_BUCKETS; b++) {
            while (i < n && (v[i].hash >> 52) < b)
                at += 12 + v[i++].len;
            if (f.index[b] != at)
                fail_msg("index[%u] = %llu, expected %zu", b, (unsigned long long)f.index[b], at);
        }
    } else {
        assert_null(f.index);
    }
    coll c = {0};
    read_range(&f, 0, UINT64_MAX, rbuf, &c);
    assert_recs(&c.o, v, n, o == MRC_ORDER_HASH);
    mrc_spill_io_get(&io2);
    assert_int_equal(io2.read - io1.read, plen);
    coll_free(&c);
    free(want);
    free(got);
    mrc_run_file_close(&f);
    assert_int_equal(f.fd, -1);
    mrc_run_file_close(&f); /* twice is harmless */
}

static void test_run_round_trip(void **state)
{
    (void)state;
    rng_seed(31);
    static const size_t wb[] = {0, 13, 4096}, rb[] = {0, 1, 12, 13, 100, 4096};
    for (int o = MRC_ORDER_HASH; o <= MRC_ORDER_KEY; o++) {
        okvec u = {0};
        keypool kp = {0};
        gen_universe(&u, &kp, 1500, 40, o == MRC_ORDER_COUNT ? 20 : 1000000);
        order_sort(u.v, u.n, (enum mrc_order)o);
        for (size_t i = 0; i < 3; i++)
            for (size_t j = 0; j < 6; j++)
                check_run(u.v, u.n, (enum mrc_order)o, wb[i], rb[j]);
        check_run(u.v, 0, (enum mrc_order)o, 0, 0); /* no record */
        check_run(u.v, 1, (enum mrc_order)o, 5, 3);
        okvec_free(&u);
        keypool_free(&kp);
    }
    assert_int_equal(entries(dir), 0); /* nameless files: nothing in the directory */
}

static void test_run_huge_keys(void **state)
{
    (void)state;
    rng_seed(32);
    okvec u = {0};
    keypool kp = {0};
    gen_universe(&u, &kp, 200, 20, 100);
    size_t big = (size_t)3 << 20; /* 3 MiB: past the default buffer */
    unsigned char *k = malloc(big);
    assert_non_null(k);
    for (int i = 0; i < 3; i++) {
        for (size_t j = 0; j < big; j++)
            k[j] = (unsigned char)rng_next();
        size_t len = big - (size_t)i * 1000003;
        unsigned char *c = keypool_add(&kp, k, len);
        okvec_push(&u, c, (uint32_t)len, 7 + (uint64_t)i, mrc_hash(c, len));
    }
    free(k);
    order_sort(u.v, u.n, MRC_ORDER_HASH);
    check_run(u.v, u.n, MRC_ORDER_HASH, 0, 0);
    check_run(u.v, u.n, MRC_ORDER_HASH, 4096, 4096);
    check_run(u.v, u.n, MRC_ORDER_HASH, 100, 1 << 22);
    okvec_free(&u);
    keypool_free(&kp);
}

/* Every bucket, runs of buckets, and ranges with bounds inside buckets and on records' hashes:
 * exactly the oracle's records in [lo, hi]. */
static void test_run_ranges(void **state)
{
    (void)state;
    rng_seed(33);
    okvec u = {0};
    keypool kp = {0};
    gen_universe(&u, &kp, 20000, 16, 50);
    order_sort(u.v, u.n, MRC_ORDER_HASH);
    mrc_run_file f = run_write(u.v, u.n, MRC_ORDER_HASH, 0);
    size_t seen = 0;
    for (uint64_t b = 0; b < MRC_RUN_BUCKETS; b++) {
        uint64_t lo = b << 52, hi = lo | ((1ULL << 52) - 1);
        coll c = {0};
        read_range(&f, lo, hi, 64, &c);
        size_t first, k = in_range(u.v, u.n, lo, hi, &first);
        assert_recs(&c.o, u.v + first, k, 1);
        seen += k;
        coll_free(&c);
    }
    assert_int_equal(seen, u.n);
    for (int t = 0; t < 400; t++) {
        uint64_t a, b;
        switch (t % 4) {
        case 0: /* random bounds */
            a = rng_next(), b = rng_next();
            break;
        case 1: /* on records' hashes */
            a = u.v[rng_below(u.n)].hash, b = u.v[rng_below(u.n)].hash;
            break;
        case 2: /* one hash, exactly */
            a = b = u.v[rng_below(u.n)].hash;
            break;
        default: /* one past and one before records' hashes, across a few buckets */
            a = u.v[rng_below(u.n)].hash + 1;
            b = a + (rng_next() >> 50) - 2;
            break;
        }
        uint64_t lo = a < b ? a : b, hi = a < b ? b : a;
        coll c = {0};
        read_range(&f, lo, hi, t % 2 ? 0 : 50, &c);
        size_t first, k = in_range(u.v, u.n, lo, hi, &first);
        assert_recs(&c.o, u.v + first, k, 1);
        coll_free(&c);
    }
    /* two readers of one file, interleaved */
    mrc_err err = {0};
    uint64_t mid = 1ULL << 63;
    mrc_source *s1 = mrc_run_file_source(&f, 0, mid - 1, 100, &err);
    mrc_source *s2 = mrc_run_file_source(&f, mid, UINT64_MAX, 100, &err);
    assert_true(s1 && s2);
    coll c1 = {0}, c2 = {0};
    for (int r1 = 1, r2 = 1; r1 > 0 || r2 > 0;) {
        mrc_rec_view v;
        if (r1 > 0 && (r1 = s1->next(s1, &v, &err)) > 0) coll_sink(&c1, &v, &err);
        if (r2 > 0 && (r2 = s2->next(s2, &v, &err)) > 0) coll_sink(&c2, &v, &err);
        assert_true(r1 >= 0 && r2 >= 0);
    }
    size_t first, k = in_range(u.v, u.n, 0, mid - 1, &first);
    assert_recs(&c1.o, u.v, k, 1);
    assert_recs(&c2.o, u.v + k, u.n - k, 1);
    s1->close(s1);
    s2->close(s2);
    coll_free(&c1);
    coll_free(&c2);
    /* bad ranges */
    assert_null(mrc_run_file_source(&f, 5, 4, 0, &err));
    assert_int_equal(err.code, MRC_EINVAL);
    mrc_run_file_close(&f);
    err = (mrc_err){0};
    assert_null(mrc_run_file_source(&f, 0, UINT64_MAX, 0, &err));
    assert_string_equal(err.msg, "(closed): reading a spill file that is closed");
    okvec_free(&u);
    keypool_free(&kp);
}

static void test_run_output_order_whole_file_only(void **state)
{
    (void)state;
    okv v[2] = {{(const unsigned char *)"a", 1, 5, 0}, {(const unsigned char *)"b", 1, 2, 0}};
    mrc_run_file f = run_write(v, 2, MRC_ORDER_COUNT, 0);
    mrc_err err = {0};
    assert_null(mrc_run_file_source(&f, 0, UINT64_MAX - 1, 0, &err));
    assert_int_equal(err.code, MRC_EINVAL);
    char want[512];
    snprintf(want, sizeof want, "%s: spill file: no hash range [0, fffffffffffffffe] in its order",
             dir);
    assert_string_equal(err.msg, want);
    mrc_run_file_close(&f);
}

/* An output-order run cut into segments at cuts[0, ncuts) (record indexes, ascending, repeats
 * making empty segments): the file is the segments' front codings back to back, each coded
 * alone; every segment reads back alone as its slice of v, the whole file as v. */
static void check_segments(const okv *v, size_t n, enum mrc_order o, const size_t *cuts,
                           size_t ncuts, size_t wbuf, size_t rbuf)
{
    mrc_err err = {0};
    mrc_run_writer *w = mrc_run_writer_open(dir, o, wbuf, &err);
    if (w == NULL) fail_msg("writer: %s", err.msg);
    size_t k = 0;
    for (size_t i = 0; i <= n; i++) {
        for (; k < ncuts && cuts[k] == i; k++)
            if (mrc_run_writer_segment(w, &err) != 0) fail_msg("cut %zu: %s", k, err.msg);
        if (i == n) break;
        mrc_rec_view r = view_of(&v[i], o);
        if (mrc_run_writer_put(w, &r, &err) != 0) fail_msg("put %zu: %s", i, err.msg);
    }
    mrc_run_file f;
    if (mrc_run_writer_finish(w, &f, &err) != 0) fail_msg("finish: %s", err.msg);
    assert_int_equal(f.segments, ncuts ? ncuts + 1 : 0);
    size_t flen, at = 0;
    unsigned char *got = file_bytes(&f, &flen);
    assert_int_equal(f.bytes, flen);
    for (size_t s = 0; s <= ncuts; s++) {
        size_t from = s == 0 ? 0 : cuts[s - 1], to = s == ncuts ? n : cuts[s], plen;
        unsigned char *want = coded_of(v + from, to - from, &plen);
        if (ncuts > 0) {
            assert_int_equal(f.index[s], at);
            assert_int_equal(f.index[s + 1], at + plen);
        }
        assert_true(at + plen <= flen);
        assert_bytes_equal(got + at, plen, want, plen);
        at += plen;
        free(want);
        if (ncuts == 0) break;
        mrc_source *src = mrc_run_file_segment_source(&f, s, rbuf, &err);
        if (src == NULL) fail_msg("segment %zu: %s", s, err.msg);
        coll c = {0};
        if (coll_drain(&c, src, &err) != 0) fail_msg("segment %zu: %s", s, err.msg);
        src->close(src);
        assert_recs(&c.o, v + from, to - from, false);
        coll_free(&c);
    }
    assert_int_equal(at, flen);
    coll c = {0};
    read_range(&f, 0, UINT64_MAX, rbuf, &c);
    assert_recs(&c.o, v, n, false);
    coll_free(&c);
    assert_null(mrc_run_file_segment_source(&f, ncuts ? ncuts + 1 : 0, rbuf, &err));
    assert_int_equal(err.code, MRC_EINVAL);
    free(got);
    mrc_run_file_close(&f);
}

static void test_run_segments(void **state)
{
    (void)state;
    rng_seed(34);
    for (int o = MRC_ORDER_COUNT; o <= MRC_ORDER_KEY; o++) {
        okvec u = {0};
        keypool kp = {0};
        gen_universe(&u, &kp, 1200, 40, o == MRC_ORDER_COUNT ? 20 : 1000000);
        order_sort(u.v, u.n, (enum mrc_order)o);
        size_t n = u.n;
        for (int round = 0; round < 12; round++) {
            size_t cuts[40], nc = (size_t)rng_below(40);
            for (size_t i = 0; i < nc; i++) /* 0 and n included, repeats too */
                cuts[i] = (size_t)rng_below(n + 1);
            for (size_t i = 1; i < nc; i++) /* insertion sort */
                for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
                    size_t t = cuts[j];
                    cuts[j] = cuts[j - 1];
                    cuts[j - 1] = t;
                }
            static const size_t wb[] = {0, 13, 4096}, rb[] = {1, 13, 100, 4096};
            check_segments(u.v, n, (enum mrc_order)o, cuts, nc, wb[round % 3], rb[round % 4]);
        }
        size_t all[3] = {0, 0, 0}; /* every record in the last segment, two empty before */
        check_segments(u.v, n, (enum mrc_order)o, all, 3, 0, 0);
        size_t none[2] = {n, n};
        check_segments(u.v, n, (enum mrc_order)o, none, 2, 0, 0);
        check_segments(u.v, 0, (enum mrc_order)o, all, 2, 0, 0); /* no record */
        okvec_free(&u);
        keypool_free(&kp);
    }
    mrc_err err = {0}; /* hash order has its index, no segments */
    mrc_run_writer *w = mrc_run_writer_open(dir, MRC_ORDER_HASH, 0, &err);
    assert_non_null(w);
    assert_int_equal(mrc_run_writer_segment(w, &err), MRC_EINVAL);
    mrc_run_writer_abort(w);
    assert_int_equal(entries(dir), 0);
}

/* Several runs of one stream of records, merged back through range readers: the oracle's sums. */
/* nruns runs in hash order, each with one key in `one_in` of u (random counts), written with
 * a 1000-byte buffer; *all gets their oracle: every record, aggregated, in hash order. */
static void hash_runs(const okvec *u, unsigned one_in, mrc_run_file *f, int nruns, okvec *all)
{
    for (int r = 0; r < nruns; r++) {
        okvec mine = {0};
        for (size_t i = 0; i < u->n; i++)
            if (rng_below(one_in) == 0) {
                okv x = u->v[i];
                x.count = 1 + rng_below(100);
                okvec_push(&mine, x.key, x.len, x.count, x.hash);
                okvec_push(all, x.key, x.len, x.count, x.hash);
            }
        order_sort(mine.v, mine.n, MRC_ORDER_HASH);
        f[r] = run_write(mine.v, mine.n, MRC_ORDER_HASH, 1000);
        okvec_free(&mine);
    }
    okvec_aggregate(all);
    order_sort(all->v, all->n, MRC_ORDER_HASH);
}

static void test_runs_merged_back(void **state)
{
    (void)state;
    rng_seed(34);
    okvec u = {0}, all = {0};
    keypool kp = {0};
    gen_universe(&u, &kp, 4000, 20, 1000);
    enum { NRUNS = 6 };
    mrc_run_file f[NRUNS];
    hash_runs(&u, 3, f, NRUNS, &all);
    /* three owner ranges, each a merge of every run's part */
    coll c = {0};
    for (uint32_t part = 0; part < 3; part++) {
        uint64_t lo = mrc_hash_range_start(part, 3);
        uint64_t hi = part == 2 ? UINT64_MAX : mrc_hash_range_start(part + 1, 3) - 1;
        mrc_source *src[NRUNS];
        mrc_err err = {0};
        for (int r = 0; r < NRUNS; r++)
            src[r] = mrc_run_file_source(&f[r], lo, hi, 256, &err);
        assert_int_equal(mrc_source_merge(src, NRUNS, MRC_ORDER_HASH, coll_sink, &c, &err), 0);
        for (int r = 0; r < NRUNS; r++)
            src[r]->close(src[r]);
    }
    assert_recs(&c.o, all.v, all.n, 1);
    coll_free(&c);
    for (int r = 0; r < NRUNS; r++)
        mrc_run_file_close(&f[r]);
    okvec_free(&u);
    okvec_free(&all);
    keypool_free(&kp);
}

/* The merge of f[0, n) (each read whole, in blocks of 256 bytes) is want's records; the runs are
 * closed. */
static void merge_is(mrc_run_file *f, size_t n, enum mrc_order o, const okvec *want)
{
    mrc_err err = {0};
    mrc_source **src = calloc(n, sizeof *src);
    assert_non_null(src);
    for (size_t r = 0; r < n; r++)
        src[r] = mrc_run_file_source(&f[r], 0, UINT64_MAX, 256, &err);
    coll c = {0};
    assert_int_equal(mrc_source_merge(src, n, o, coll_sink, &c, &err), 0);
    for (size_t r = 0; r < n; r++)
        src[r]->close(src[r]);
    free(src);
    assert_recs(&c.o, want->v, want->n, o == MRC_ORDER_HASH);
    coll_free(&c);
    for (size_t r = 0; r < n; r++)
        mrc_run_file_close(&f[r]);
}

/* Runs past the fan-in merged in groups (compact.c): stopped, it gives up within its first
 * group and leaves every run it was given; then down to two runs whose merge is the oracle's
 * table (keys in several runs summed). */
static void test_runs_compacted(void **state)
{
    (void)state;
    rng_seed(35);
    okvec u = {0}, all = {0};
    keypool kp = {0};
    gen_universe(&u, &kp, 6000, 20, 1000);
    enum { NRUNS = 7 };
    mrc_run_file f[NRUNS];
    hash_runs(&u, 2, f, NRUNS, &all);
    mrc_stop stop = 1;
    size_t n = NRUNS;
    mrc_err err = {0};
    assert_int_equal(mrc_runs_compact(f, &n, 2, 0, dir, 4096, NULL, &stop, &err), MRC_EINTR);
    assert_int_equal(n, NRUNS);
    uint64_t bytes = 0;
    err = (mrc_err){0};
    assert_int_equal(mrc_runs_compact(f, &n, 2, 0, dir, 4096, &bytes, NULL, &err), 0);
    assert_int_equal(n, 2);
    assert_true(bytes > 0);
    merge_is(f, n, MRC_ORDER_HASH, &all);
    okvec_free(&u);
    okvec_free(&all);
    keypool_free(&kp);
}

/* Keys of 64 KiB, one a run among small keys (a run each, as a small limit spills them): within
 * the fan-in, yet their readers would hold more than `hold` bytes of longest records, so they
 * are merged two or three at a time until the rest fit (or two are left); each run knows its
 * longest key, the merge is the oracle's table, in hash and in count order. */
static void test_runs_compacted_by_hold(void **state)
{
    (void)state;
    rng_seed(36);
    for (int ord = 0; ord < 2; ord++) {
        enum mrc_order o = ord ? MRC_ORDER_COUNT : MRC_ORDER_HASH;
        okvec u = {0}, all = {0};
        keypool kp = {0};
        gen_universe(&u, &kp, 3000, 20, 1000);
        enum { NRUNS = 12, BIG = 65536 };
        unsigned char *k = malloc(BIG);
        assert_non_null(k);
        mrc_run_file f[NRUNS];
        for (int r = 0; r < NRUNS; r++) {
            okvec mine = {0};
            memset(k, 'a' + r, BIG);
            size_t len = BIG - (size_t)r; /* distinct keys, distinct lengths */
            unsigned char *c = keypool_add(&kp, k, len);
            okvec_push(&mine, c, (uint32_t)len, 1 + (uint64_t)r,
                       o == MRC_ORDER_HASH ? mrc_hash(c, len) : 0);
            for (size_t i = (size_t)r; i < u.n; i += NRUNS) { /* each small key in one run */
                okv x = u.v[i];
                okvec_push(&mine, x.key, x.len, x.count, o == MRC_ORDER_HASH ? x.hash : 0);
            }
            for (size_t i = 0; i < mine.n; i++)
                okvec_push(&all, mine.v[i].key, mine.v[i].len, mine.v[i].count, mine.v[i].hash);
            order_sort(mine.v, mine.n, o);
            f[r] = run_write(mine.v, mine.n, o, 1000);
            assert_int_equal(f[r].max_len, len);
            okvec_free(&mine);
        }
        free(k);
        order_sort(all.v, all.n, o);
        uint64_t one = mrc_run_file_hold(&f[0]), hold = 3 * one;
        assert_true(one >= 2 * (uint64_t)BIG);
        size_t n = NRUNS;
        mrc_err err = {0};
        uint64_t bytes = 0;
        assert_int_equal(mrc_runs_compact(f, &n, 512, 0, dir, 4096, &bytes, NULL, &err), 0);
        assert_int_equal(n, NRUNS); /* no hold given: the fan-in alone, not reached */
        assert_int_equal(mrc_runs_compact(f, &n, 512, hold, dir, 4096, &bytes, NULL, &err), 0);
        uint64_t held = 0;
        for (size_t r = 0; r < n; r++) {
            held += mrc_run_file_hold(&f[r]);
            assert_true(f[r].max_len > BIG - NRUNS);
        }
        assert_true(n >= 2 && n < NRUNS);
        assert_true(n == 2 || held <= hold);
        assert_true(bytes > 0);
        merge_is(f, n, o, &all);
        okvec_free(&u);
        okvec_free(&all);
        keypool_free(&kp);
    }
}

static void test_run_writer_rejects_disorder(void **state)
{
    (void)state;
    mrc_err err = {0};
    mrc_run_writer *w = mrc_run_writer_open(dir, MRC_ORDER_KEY, 0, &err);
    assert_non_null(w);
    mrc_rec_view a = {0, 1, (const unsigned char *)"b", 1},
                 b = {0, 1, (const unsigned char *)"a", 1};
    assert_int_equal(mrc_run_writer_put(w, &a, &err), 0);
    assert_int_equal(mrc_run_writer_put(w, &b, &err), MRC_EINVAL);
    char want[512];
    snprintf(want, sizeof want, "%s: run writer: records out of order at key 'a'", dir);
    assert_string_equal(err.msg, want);
    assert_int_equal(mrc_run_writer_put(w, &a, &err), MRC_EINVAL); /* failed for good */
    mrc_run_file f;
    assert_int_equal(mrc_run_writer_finish(w, &f, &err), MRC_EINVAL);
    assert_int_equal(f.fd, -1);
    mrc_run_file_close(&f);
    /* abort of a healthy writer */
    w = mrc_run_writer_open(dir, MRC_ORDER_HASH, 0, &err);
    assert_non_null(w);
    mrc_run_writer_abort(w);
    mrc_run_writer_abort(NULL);
}

/* A file shorter than its writer wrote: the reader fails naming the dir, never a short run, in
 * every order (front coded too: cut within a key, a varint, between two varints). */
static void test_run_shrunk_file(void **state)
{
    (void)state;
    rng_seed(35);
    for (int o = MRC_ORDER_HASH; o <= MRC_ORDER_KEY; o++)
        for (off_t cut = 1; cut <= 7; cut++) {
            okvec u = {0};
            keypool kp = {0};
            gen_universe(&u, &kp, 500, 20, o == MRC_ORDER_COUNT ? 9 : 1000000);
            order_sort(u.v, u.n, (enum mrc_order)o);
            mrc_run_file f = run_write(u.v, u.n, (enum mrc_order)o, 0);
            assert_int_equal(ftruncate(f.fd, (off_t)f.bytes - cut), 0);
            mrc_err err = {0};
            mrc_source *s = mrc_run_file_source(&f, 0, UINT64_MAX, 1000, &err);
            coll c = {0};
            assert_true(coll_drain(&c, s, &err) < 0);
            assert_int_equal(err.code, MRC_EIO);
            char want[512];
            snprintf(want, sizeof want, "%s: a spill file ended early", dir);
            assert_memory_equal(err.msg, want, strlen(want));
            assert_true(c.o.n < u.n);
            s->close(s);
            coll_free(&c);
            mrc_run_file_close(&f);
            okvec_free(&u);
            keypool_free(&kp);
        }
}

/* A front-coded run whose record claims more shared bytes than the previous key has, or whose
 * varint never ends: the reader fails naming the dir ("is corrupt"). */
static void test_run_coded_corrupt(void **state)
{
    (void)state;
    static const unsigned char bad[][16] = {
        {3, 1, 1, 'a'},                    /* shares 3 bytes with no key */
        {0, 2, 1, 'a', 'b', 3, 1, 1, 'c'}, /* shares 3 of a 2-byte key */
        {0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 'a'}, /* 11 */
    };
    static const size_t len[] = {4, 9, 14};
    for (size_t i = 0; i < 3; i++) {
        mrc_err err = {0};
        char path[] = "/tmp/mrc-coded-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        unlink(path);
        assert_int_equal(write(fd, bad[i], len[i]), (ssize_t)len[i]);
        mrc_run_file f;
        assert_int_equal(mrc_run_file_adopt(fd, dir, MRC_ORDER_KEY, len[i], 2, 2, NULL, &f, &err),
                         0);
        mrc_source *s = mrc_run_file_source(&f, 0, UINT64_MAX, 0, &err);
        assert_non_null(s);
        coll c = {0};
        assert_true(coll_drain(&c, s, &err) < 0);
        assert_int_equal(err.code, MRC_EIO);
        char want[512];
        snprintf(want, sizeof want, "%s: a spill file is corrupt", dir);
        assert_memory_equal(err.msg, want, strlen(want));
        s->close(s);
        coll_free(&c);
        mrc_run_file_close(&f);
    }
}

static void test_run_bad_dirs(void **state)
{
    (void)state;
    char missing[300], file[300], want[512];
    snprintf(missing, sizeof missing, "%s/missing", dir);
    snprintf(file, sizeof file, "%s/file", dir);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    mrc_err err = {0};
    assert_null(mrc_run_writer_open(missing, MRC_ORDER_HASH, 0, &err));
    snprintf(want, sizeof want, "%s: cannot create a temporary file: No such file or directory",
             missing);
    assert_string_equal(err.msg, want);
    err = (mrc_err){0};
    assert_null(mrc_run_writer_open(file, MRC_ORDER_HASH, 0, &err));
    snprintf(want, sizeof want, "%s: cannot create a temporary file: Not a directory", file);
    assert_string_equal(err.msg, want);
    err = (mrc_err){0};
    mrc_chunk_store *cs = mrc_chunk_store_open(2, 0, missing, &err);
    assert_non_null(cs); /* the file is made at the first spill */
    assert_int_equal(mrc_chunk_store_append(cs, 0, "abc", 3, &err), MRC_EIO);
    snprintf(want, sizeof want, "%s: cannot create a temporary file: No such file or directory",
             missing);
    assert_string_equal(err.msg, want);
    assert_int_equal(mrc_chunk_store_append(cs, 0, "abc", 3, &err), MRC_EIO); /* for good */
    assert_null(mrc_chunk_store_source(cs, 0, MRC_ORDER_HASH, 0, &err));
    mrc_chunk_store_close(cs);
}

/* A 64 KiB file system: the writer fails with the no-space message naming the dir, and no run is
 * handed out; the chunk store too; a read-only file system cannot hold a spill file at all. */
static void test_full_and_read_only_disk(void **state)
{
    (void)state;
    if (!mounted) skip();
    rng_seed(36);
    okvec u = {0};
    keypool kp = {0};
    gen_universe(&u, &kp, 20000, 16, 9); /* ~400 KB of records */
    order_sort(u.v, u.n, MRC_ORDER_HASH);
    char want[512];
    snprintf(want, sizeof want, "%s: no space left (", dir);
    static const size_t bufs[] = {0, 4096};
    for (int i = 0; i < 2; i++) {
        mrc_err err = {0};
        mrc_run_writer *w = mrc_run_writer_open(dir, MRC_ORDER_HASH, bufs[i], &err);
        assert_non_null(w);
        int rc = 0;
        size_t put = 0;
        for (; put < u.n && rc == 0; put++) {
            mrc_rec_view r = view_of(&u.v[put], MRC_ORDER_HASH);
            rc = mrc_run_writer_put(w, &r, &err);
        }
        mrc_run_file f;
        int frc = mrc_run_writer_finish(w, &f, &err);
        assert_int_equal(frc, MRC_EIO);
        assert_int_equal(err.code, MRC_EIO);
        assert_memory_equal(err.msg, want, strlen(want));
        assert_non_null(strstr(err.msg, "No space left on device"));
        assert_int_equal(f.fd, -1); /* no short run */
        assert_int_equal(f.records, 0);
        mrc_run_file_close(&f);
    }
    assert_int_equal(entries(dir), 0); /* and the room is back */
    size_t plen;
    unsigned char *pl = payload_of(u.v, u.n, &plen);
    mrc_err err = {0};
    mrc_chunk_store *cs = mrc_chunk_store_open(2, 1000, dir, &err);
    int rc = 0;
    for (size_t at = 0; at < plen && rc == 0; at += 5000)
        rc = mrc_chunk_store_append(cs, at / 5000 % 2, pl + at, plen - at < 5000 ? plen - at : 5000,
                                    &err);
    if (rc == 0) assert_null(mrc_chunk_store_source(cs, 0, MRC_ORDER_HASH, 0, &err));
    assert_int_equal(err.code, MRC_EIO);
    assert_memory_equal(err.msg, want, strlen(want));
    mrc_chunk_store_close(cs);
    free(pl);

    assert_int_equal(mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0);
    err = (mrc_err){0};
    assert_null(mrc_run_writer_open(dir, MRC_ORDER_HASH, 0, &err));
    snprintf(want, sizeof want, "%s: cannot create a temporary file: Read-only file system", dir);
    assert_string_equal(err.msg, want);
    okvec_free(&u);
    keypool_free(&kp);
}

/* ---- the chunk store ---- */

typedef struct pieces_plan {
    size_t n;
    size_t *cut; /* n + 1 offsets: chunk i = [cut[i], cut[i + 1]) */
} pieces_plan;

/* Append each source's chunks round by round (source s's chunk r in round r) and check every
 * source reads back as its payload's records. */
static void chunk_check(unsigned char *const *pl, const size_t *plen, const okvec *want,
                        const pieces_plan *plan, size_t nsrc, uint64_t budget, size_t rbuf,
                        enum mrc_order o)
{
    mrc_err err = {0};
    mrc_chunk_store *cs = mrc_chunk_store_open(nsrc, budget, dir, &err);
    assert_non_null(cs);
    uint64_t total = 0;
    for (size_t round = 0;; round++) {
        int any = 0;
        for (size_t s = 0; s < nsrc; s++) {
            if (round >= plan[s].n) continue;
            any = 1;
            size_t a = plan[s].cut[round], b = plan[s].cut[round + 1];
            if (mrc_chunk_store_append(cs, s, pl[s] + a, b - a, &err) != 0)
                fail_msg("append: %s", err.msg);
            total += b - a;
        }
        if (!any) break;
    }
    mrc_chunk_stats st;
    mrc_chunk_store_stats(cs, &st);
    assert_int_equal(st.appended, total);
    assert_int_equal(st.on_disk, total > budget);
    if (st.on_disk) {
        assert_true(st.mem < total || total < (1u << 20)); /* the chunks left memory */
        assert_true(st.mem_peak >= (1u << 20));            /* the write buffer */
    } else {
        assert_true(st.mem >= total);
        assert_int_equal(st.spilled, 0);
    }
    for (size_t s = 0; s < nsrc; s++) {
        mrc_source *src = mrc_chunk_store_source(cs, s, o, rbuf, &err);
        if (src == NULL) fail_msg("source: %s", err.msg);
        coll c = {0};
        int rc = coll_drain(&c, src, &err);
        if (rc != 0) fail_msg("source %zu: %s", s, err.msg);
        assert_recs(&c.o, want[s].v, want[s].n, o == MRC_ORDER_HASH);
        /* the records re-serialized: the bytes appended, in order */
        size_t blen;
        unsigned char *back = payload_of(c.o.v, c.o.n, &blen);
        assert_bytes_equal(back, blen, pl[s], plen[s]);
        free(back);
        coll_free(&c);
        src->close(src);
    }
    mrc_chunk_store_stats(cs, &st);
    if (st.on_disk) {
        assert_int_equal(st.spilled, total); /* written out by the first open */
        assert_true(st.mem < (1u << 20));    /* and the write buffer freed */
    }
    assert_int_equal(mrc_chunk_store_append(cs, 0, "x", 1, &err), MRC_EINVAL);
    assert_string_equal(err.msg, "chunk store: an append after reading began");
    mrc_chunk_store_close(cs);
}

static void test_chunk_store_cut_everywhere(void **state)
{
    (void)state;
    rng_seed(41);
    enum { NSRC = 3 };
    okvec want[NSRC] = {{0}};
    keypool kp = {0};
    unsigned char *pl[NSRC];
    size_t plen[NSRC];
    for (int s = 0; s < NSRC; s++) {
        gen_universe(&want[s], &kp, s == 1 ? 0 : 9, 14, 1000); /* source 1 sends nothing */
        order_sort(want[s].v, want[s].n, MRC_ORDER_HASH);
        pl[s] = payload_of(want[s].v, want[s].n, &plen[s]);
    }
    static const uint64_t budgets[] = {1 << 20, 0, 150};
    static const size_t rbufs[] = {0, 1, 7};
    size_t cuts[3][4096];
    pieces_plan plan[NSRC];
    /* source 0 in two chunks cut at every byte; source 2 in 1-byte chunks; source 1 empty */
    for (size_t cut = 0; cut <= plen[0]; cut++) {
        cuts[0][0] = 0, cuts[0][1] = cut, cuts[0][2] = plen[0];
        plan[0] = (pieces_plan){2, cuts[0]};
        plan[1] = (pieces_plan){0, cuts[1]};
        cuts[1][0] = 0;
        for (size_t i = 0; i <= plen[2]; i++)
            cuts[2][i] = i;
        plan[2] = (pieces_plan){plen[2], cuts[2]};
        for (int b = 0; b < 3; b++)
            chunk_check(pl, plen, want, plan, NSRC, budgets[b], rbufs[cut % 3], MRC_ORDER_HASH);
    }
    /* random chunk sizes, an output order (the store does not care) */
    for (int t = 0; t < 30; t++) {
        for (int s = 0; s < NSRC; s++) {
            size_t n = 0, at = 0;
            cuts[s][n++] = 0;
            while (at < plen[s]) {
                at += 1 + rng_below(40);
                cuts[s][n++] = at < plen[s] ? at : plen[s];
                at = cuts[s][n - 1];
            }
            plan[s] = (pieces_plan){n - 1, cuts[s]};
        }
        chunk_check(pl, plen, want, plan, NSRC, budgets[t % 3], rbufs[t % 3], MRC_ORDER_HASH);
    }
    for (int s = 0; s < NSRC; s++) {
        free(pl[s]);
        okvec_free(&want[s]);
    }
    keypool_free(&kp);
    assert_int_equal(entries(dir), 0);
}

/* Big chunks (past the write buffer) from many sources, spilled partway, merged back. */
static void test_chunk_store_spill_and_merge(void **state)
{
    (void)state;
    rng_seed(42);
    enum { NSRC = 5 };
    okvec u = {0}, all = {0}, mine[NSRC] = {{0}};
    keypool kp = {0};
    gen_universe(&u, &kp, 150000, 30, 1000);
    for (size_t i = 0; i < u.n; i++) {
        size_t s = rng_below(NSRC);
        okvec_push(&mine[s], u.v[i].key, u.v[i].len, u.v[i].count, u.v[i].hash);
        okvec_push(&all, u.v[i].key, u.v[i].len, u.v[i].count, u.v[i].hash);
        if (rng_below(4) == 0) { /* the same key from another source */
            size_t t = (s + 1) % NSRC;
            okvec_push(&mine[t], u.v[i].key, u.v[i].len, 3, u.v[i].hash);
            okvec_push(&all, u.v[i].key, u.v[i].len, 3, u.v[i].hash);
        }
    }
    okvec_aggregate(&all);
    order_sort(all.v, all.n, MRC_ORDER_HASH);
    unsigned char *pl[NSRC];
    size_t plen[NSRC];
    for (int s = 0; s < NSRC; s++) {
        order_sort(mine[s].v, mine[s].n, MRC_ORDER_HASH);
        pl[s] = payload_of(mine[s].v, mine[s].n, &plen[s]);
    }
    mrc_spill_io io0, io1;
    mrc_spill_io_get(&io0);
    mrc_err err = {0};
    mrc_chunk_store *cs = mrc_chunk_store_open(NSRC, 2 << 20, dir, &err);
    size_t at[NSRC] = {0};
    for (int more = 1; more;) {
        more = 0;
        for (int s = 0; s < NSRC; s++) {
            size_t n = (size_t)(rng_below(3) == 0 ? 1500000 : 1 + rng_below(300000));
            if (n > plen[s] - at[s]) n = plen[s] - at[s];
            assert_int_equal(mrc_chunk_store_append(cs, (size_t)s, pl[s] + at[s], n, &err), 0);
            at[s] += n;
            more |= at[s] < plen[s];
        }
    }
    mrc_source *src[NSRC];
    for (int s = 0; s < NSRC; s++)
        src[s] = mrc_chunk_store_source(cs, (size_t)s, MRC_ORDER_HASH, 65536, &err);
    coll c = {0};
    assert_int_equal(mrc_source_merge(src, NSRC, MRC_ORDER_HASH, coll_sink, &c, &err), 0);
    assert_recs(&c.o, all.v, all.n, 1);
    mrc_chunk_stats st;
    mrc_chunk_store_stats(cs, &st);
    mrc_spill_io_get(&io1);
    uint64_t total = 0;
    for (int s = 0; s < NSRC; s++)
        total += plen[s];
    assert_true(st.on_disk);
    assert_int_equal(st.appended, total);
    assert_int_equal(st.spilled, total);
    assert_int_equal(io1.written - io0.written, total);
    assert_int_equal(io1.read - io0.read, total);
    assert_true(st.mem_peak <= (2u << 20) + (1u << 20) + 65536); /* budget + write buffer + index */
    for (int s = 0; s < NSRC; s++) {
        src[s]->close(src[s]);
        free(pl[s]);
        okvec_free(&mine[s]);
    }
    mrc_chunk_store_close(cs);
    coll_free(&c);
    okvec_free(&u);
    okvec_free(&all);
    keypool_free(&kp);
}

static void test_chunk_store_errors(void **state)
{
    (void)state;
    mrc_err err = {0};
    assert_null(mrc_chunk_store_open(0, 0, dir, &err));
    assert_int_equal(err.code, MRC_EINVAL);
    for (uint64_t budget = 0; budget <= 100; budget += 100) {
        err = (mrc_err){0};
        mrc_chunk_store *cs = mrc_chunk_store_open(2, budget, dir, &err);
        assert_non_null(cs);
        assert_int_equal(mrc_chunk_store_append(cs, 2, "x", 1, &err), MRC_EINVAL);
        assert_string_equal(err.msg, "chunk store: source 2 of 2");
        /* a record head, then only part of its key: cut by the end */
        unsigned char rec[12 + 3];
        put_le(rec, 5, 8);
        put_le(rec + 8, 10, 4);
        memcpy(rec + 12, "abc", 3);
        err = (mrc_err){0};
        assert_int_equal(mrc_chunk_store_append(cs, 1, rec, 7, &err), 0);
        assert_int_equal(mrc_chunk_store_append(cs, 1, rec + 7, 8, &err), 0);
        mrc_source *s = mrc_chunk_store_source(cs, 1, MRC_ORDER_KEY, 4, &err);
        mrc_rec_view v;
        assert_true(s->next(s, &v, &err) < 0);
        assert_string_equal(err.msg, "chunk store: source 1: a record cut by the end of its bytes "
                                     "(at byte 0 of 15)");
        s->close(s);
        mrc_chunk_store_close(cs);
    }
    mrc_chunk_store_close(NULL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, dir_make, dir_remove)
    const struct CMUnitTest tests[] = {
        T(test_run_round_trip),
        T(test_run_huge_keys),
        T(test_run_ranges),
        T(test_run_output_order_whole_file_only),
        T(test_run_segments),
        T(test_runs_merged_back),
        T(test_runs_compacted),
        T(test_runs_compacted_by_hold),
        T(test_run_writer_rejects_disorder),
        T(test_run_shrunk_file),
        T(test_run_coded_corrupt),
        T(test_run_bad_dirs),
        cmocka_unit_test_setup_teardown(test_full_and_read_only_disk, tmpfs_make, tmpfs_remove),
        T(test_chunk_store_cut_everywhere),
        T(test_chunk_store_spill_and_merge),
        T(test_chunk_store_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
