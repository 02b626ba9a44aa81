/* test_split.c - the split plan on synthetic file lists (sizes only, no files): splits tile
 * each file exactly, respect chunk_size, keep .gz files whole, balance ranks within one chunk,
 * group and order each rank's splits, and come out identical for identical inputs; the plan of
 * what a checkpoint left covers every byte it did not once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#include "mrcount/input.h"

static void make_files(mrc_file_list *l, size_t n, uint64_t max_size, int gz_every)
{
    memset(l, 0, sizeof *l);
    l->files = calloc(n ? n : 1, sizeof *l->files);
    assert_non_null(l->files);
    l->n = l->cap = n;
    for (size_t i = 0; i < n; i++) {
        uint64_t sz = rng_next() % (max_size + 1);
        if (rng_next() % 7 == 0) sz = 0;
        l->files[i].path = "synthetic";
        l->files[i].size = sz;
        l->files[i].codec = gz_every && rng_next() % (uint64_t)gz_every == 0
                                ? (enum mrc_codec)(MRC_CODEC_GZIP + rng_next() % 4)
                                : MRC_CODEC_NONE;
        l->total_bytes += sz;
    }
}

/* Every invariant the plan promises; the rank spread is bounded by the largest split. */
static void check_plan(const mrc_file_list *l, uint64_t chunk, size_t nranks,
                       const mrc_split_plan *p)
{
    assert_int_equal(p->nranks, nranks);
    assert_int_equal(p->first[0], 0);
    assert_int_equal(p->first[nranks], p->n);

    uint64_t *covered = calloc(l->n ? l->n : 1, sizeof *covered);
    assert_non_null(covered);
    uint64_t biggest = 0, sum_ranks = 0;
    for (size_t r = 0; r < nranks; r++) {
        assert_true(p->first[r] <= p->first[r + 1]);
        uint64_t bytes = 0, work = 0;
        for (size_t i = p->first[r]; i < p->first[r + 1]; i++) {
            const mrc_split *s = &p->splits[i];
            assert_int_equal(s->rank, r);
            assert_true(s->file < l->n);
            const mrc_file *f = &l->files[s->file];
            assert_true(s->length > 0); /* empty files are dropped */
            if (f->codec != MRC_CODEC_NONE) {
                assert_int_equal(s->offset, 0);
                assert_int_equal(s->length, f->size);
            } else {
                assert_true(s->length <= chunk);
            }
            /* a split's work: its bytes, times the codec's cost (the rule, restated) */
            static const uint64_t cost[] = {1, 4, 4, 18, 45};
            uint64_t w = s->length * cost[f->codec];
            assert_int_equal(mrc_split_work(l, s), w);
            if (w > biggest) biggest = w;
            bytes += s->length;
            work += w;
            if (i > p->first[r]) { /* sorted by (file, offset) within the rank */
                const mrc_split *q = &p->splits[i - 1];
                assert_true(q->file < s->file || (q->file == s->file && q->offset < s->offset));
            }
        }
        assert_int_equal(bytes, p->rank_bytes[r]);
        assert_int_equal(work, p->rank_work[r]);
        sum_ranks += bytes;
    }
    assert_int_equal(sum_ranks, l->total_bytes);

    /* splits of a file tile [0, size) exactly: collect them in (file, offset) order */
    mrc_split *all = malloc((p->n ? p->n : 1) * sizeof *all);
    assert_non_null(all);
    memcpy(all, p->splits, p->n * sizeof *all);
    for (size_t i = 0; i < p->n; i++) /* insertion by (file, offset); n is small */
        for (size_t j = i; j > 0; j--) {
            mrc_split *a = &all[j - 1], *b = &all[j];
            if (a->file < b->file || (a->file == b->file && a->offset < b->offset)) break;
            mrc_split t = *a;
            *a = *b;
            *b = t;
        }
    for (size_t i = 0; i < p->n; i++) {
        assert_int_equal(all[i].offset, covered[all[i].file]);
        covered[all[i].file] += all[i].length;
    }
    for (size_t f = 0; f < l->n; f++)
        assert_int_equal(covered[f], l->files[f].size);

    /* LPT: the spread of work between ranks is at most the largest split's */
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t r = 0; r < nranks; r++) {
        if (p->rank_work[r] < lo) lo = p->rank_work[r];
        if (p->rank_work[r] > hi) hi = p->rank_work[r];
    }
    assert_true(hi - lo <= biggest);
    free(all);
    free(covered);
}

static void test_random_plans(void **state)
{
    (void)state;
    for (int t = 0; t < 300; t++) {
        mrc_file_list l;
        size_t nfiles = (size_t)(rng_next() % 40);
        uint64_t chunk = 1 + rng_next() % 5000;
        make_files(&l, nfiles, 1 + rng_next() % 30000, t % 2 ? 5 : 0);
        size_t nranks = 1 + (size_t)(rng_next() % 17);
        mrc_split_plan p, q;
        mrc_err err = {0};
        assert_int_equal(mrc_split_plan_make(&l, chunk, nranks, &p, &err), 0);
        check_plan(&l, chunk, nranks, &p);
        /* plain files only: the spread is bounded by the chunk size */
        if (t % 2 == 0) {
            uint64_t lo = UINT64_MAX, hi = 0;
            for (size_t r = 0; r < nranks; r++) {
                lo = p.rank_bytes[r] < lo ? p.rank_bytes[r] : lo;
                hi = p.rank_bytes[r] > hi ? p.rank_bytes[r] : hi;
            }
            assert_true(hi - lo <= chunk);
        }
        /* deterministic */
        assert_int_equal(mrc_split_plan_make(&l, chunk, nranks, &q, &err), 0);
        assert_int_equal(p.n, q.n);
        if (p.n > 0) assert_memory_equal(p.splits, q.splits, p.n * sizeof *p.splits);
        assert_memory_equal(p.first, q.first, (nranks + 1) * sizeof *p.first);
        mrc_split_plan_free(&p);
        mrc_split_plan_free(&q);
        free(l.files);
    }
}

static void test_exact_cuts_and_gz(void **state)
{
    (void)state;
    mrc_file files[] = {
        {.path = "a.txt", .size = 100}, {.path = "b.gz", .size = 1000, .codec = MRC_CODEC_GZIP},
        {.path = "empty", .size = 0},   {.path = "c.txt", .size = 10},
        {.path = "d.txt", .size = 101},
    };
    mrc_file_list l = {.files = files, .n = 5, .cap = 5, .total_bytes = 1211};
    mrc_split_plan p;
    mrc_err err = {0};
    assert_int_equal(mrc_split_plan_make(&l, 50, 3, &p, &err), 0);
    check_plan(&l, 50, 3, &p);
    /* a: 2 x 50, b: 1, c: 1, d: 3 x ~34, empty dropped */
    assert_int_equal(p.n, 7);
    /* the gz split is the largest, so it goes first to rank 0, which then takes nothing
     * else until the others catch up */
    assert_int_equal(p.first[1] - p.first[0], 1);
    assert_int_equal(p.splits[0].file, 1);
    assert_int_equal(p.rank_bytes[0], 1000);
    mrc_split_plan_free(&p);

    /* one rank: everything in (file, offset) order */
    assert_int_equal(mrc_split_plan_make(&l, 50, 1, &p, &err), 0);
    check_plan(&l, 50, 1, &p);
    assert_int_equal(p.splits[0].file, 0);
    assert_int_equal(p.splits[1].file, 0);
    assert_int_equal(p.splits[1].offset, 50);
    mrc_split_plan_free(&p);

    /* more ranks than splits: some ranks are empty, still well-formed */
    assert_int_equal(mrc_split_plan_make(&l, 5000, 8, &p, &err), 0);
    check_plan(&l, 5000, 8, &p);
    assert_int_equal(p.n, 4);
    mrc_split_plan_free(&p);
}

/* Work, not bytes: 100 bytes of .bz2 weigh 4500, more than 1000 of text in 10 splits, so one
 * of two ranks maps the .bz2 file alone (by bytes it would also take half the text); an .xz
 * file of 300 bytes (5400) outweighs it and goes first. */
static void test_compressed_weigh_their_work(void **state)
{
    (void)state;
    mrc_file files[] = {{.path = "a.txt", .size = 1000},
                        {.path = "b.bz2", .size = 100, .codec = MRC_CODEC_BZIP2}};
    mrc_file_list l = {.files = files, .n = 2, .cap = 2, .total_bytes = 1100};
    mrc_split_plan p;
    mrc_err err = {0};
    assert_int_equal(mrc_split_plan_make(&l, 100, 2, &p, &err), 0);
    check_plan(&l, 100, 2, &p);
    assert_int_equal(p.n, 11);
    assert_int_equal(p.first[1] - p.first[0], 1); /* rank 0: the .bz2 file alone */
    assert_int_equal(p.splits[0].file, 1);
    assert_int_equal(p.rank_bytes[1], 1000);
    assert_int_equal(p.rank_work[0], 4500);
    assert_int_equal(p.rank_work[1], 1000);
    mrc_split_plan_free(&p);

    mrc_file three[] = {{.path = "a.txt", .size = 1000},
                        {.path = "b.bz2", .size = 100, .codec = MRC_CODEC_BZIP2},
                        {.path = "c.xz", .size = 300, .codec = MRC_CODEC_XZ}};
    mrc_file_list l3 = {.files = three, .n = 3, .cap = 3, .total_bytes = 1400};
    assert_int_equal(mrc_split_plan_make(&l3, 100, 3, &p, &err), 0);
    check_plan(&l3, 100, 3, &p);
    assert_int_equal(p.first[1] - p.first[0], 1); /* rank 0: the .xz file (5400) */
    assert_int_equal(p.splits[p.first[0]].file, 2);
    assert_int_equal(p.first[2] - p.first[1], 1); /* rank 1: the .bz2 file (4500) */
    assert_int_equal(p.splits[p.first[1]].file, 1);
    assert_int_equal(p.rank_bytes[2], 1000); /* rank 2: all the text */
    mrc_split_plan_free(&p);
}

static void test_ties_go_to_lowest_rank(void **state)
{
    (void)state;
    mrc_file files[] = {{.path = "x", .size = 40}};
    mrc_file_list l = {.files = files, .n = 1, .cap = 1, .total_bytes = 40};
    mrc_split_plan p;
    mrc_err err = {0};
    assert_int_equal(mrc_split_plan_make(&l, 10, 3, &p, &err), 0);
    check_plan(&l, 10, 3, &p);
    /* four equal splits over three ranks: ranks 0,1,2 get one each, rank 0 the fourth */
    assert_int_equal(p.rank_bytes[0], 20);
    assert_int_equal(p.rank_bytes[1], 10);
    assert_int_equal(p.rank_bytes[2], 10);
    assert_int_equal(p.splits[0].offset, 0);
    assert_int_equal(p.splits[1].offset, 30);
    assert_int_equal(p.splits[2].offset, 10);
    assert_int_equal(p.splits[3].offset, 20);
    mrc_split_plan_free(&p);
}

/* A resumed checkpoint's plan: random done ranges (overlapping, touching, out of order, some
 * over .gz files) taken out; the splits and the done ranges together cover every byte of every
 * file exactly once (a byte map of small files is the oracle), a .gz file with any range done is
 * left out whole, and the splits stay within chunk_size. */
static void test_plan_of_the_rest(void **state)
{
    (void)state;
    for (int round = 0; round < 200; round++) {
        mrc_file_list l;
        make_files(&l, 1 + rng_next() % 6, 3000, 4);
        size_t ndone = rng_next() % 8;
        mrc_split done[8];
        unsigned char *seen[8] = {0};
        bool gz_done[8] = {0};
        for (size_t i = 0; i < l.n; i++) {
            seen[i] = calloc(l.files[i].size + 1, 1);
            assert_non_null(seen[i]);
        }
        for (size_t d = 0; d < ndone; d++) {
            uint32_t f = (uint32_t)(rng_next() % l.n);
            uint64_t size = l.files[f].size;
            uint64_t off = size ? rng_next() % size : 0;
            uint64_t len = size ? rng_next() % (size - off + 1) : 0;
            if (l.files[f].codec != MRC_CODEC_NONE) off = 0, len = size;
            done[d] = (mrc_split){.file = f, .offset = off, .length = len};
            if (l.files[f].codec != MRC_CODEC_NONE && size > 0) gz_done[f] = true;
            for (uint64_t b = off; b < off + len; b++)
                seen[f][b] = 1; /* done: counted by the checkpoint */
        }
        uint64_t chunk = 1 + rng_next() % 700;
        size_t nranks = 1 + rng_next() % 4;
        mrc_split_plan p;
        mrc_err err = {0};
        assert_int_equal(mrc_split_plan_make_rest(&l, chunk, nranks, done, ndone, &p, &err), 0);
        for (size_t i = 0; i < p.n; i++) {
            const mrc_split *s = &p.splits[i];
            const mrc_file *f = &l.files[s->file];
            assert_true(s->length > 0);
            if (f->codec != MRC_CODEC_NONE) {
                assert_false(gz_done[s->file]);
                assert_int_equal(s->offset, 0);
                assert_int_equal(s->length, f->size);
            } else {
                assert_true(s->length <= chunk);
            }
            for (uint64_t b = s->offset; b < s->offset + s->length; b++) {
                if (f->codec == MRC_CODEC_NONE)
                    assert_int_equal(seen[s->file][b], 0); /* never mapped twice */
                seen[s->file][b] = 2;
            }
        }
        for (size_t i = 0; i < l.n; i++) {
            for (uint64_t b = 0; b < l.files[i].size; b++)
                if (!(l.files[i].codec != MRC_CODEC_NONE && gz_done[i]))
                    assert_int_not_equal(seen[i][b], 0);
            free(seen[i]);
        }
        mrc_split_plan_free(&p);
        free(l.files);
    }
}

static void test_empty_list_and_bad_arguments(void **state)
{
    (void)state;
    mrc_file_list l = {0};
    mrc_split_plan p;
    mrc_err err = {0};
    assert_int_equal(mrc_split_plan_make(&l, 64, 4, &p, &err), 0);
    assert_int_equal(p.n, 0);
    for (size_t r = 0; r <= 4; r++)
        assert_int_equal(p.first[r], 0);
    for (size_t r = 0; r < 4; r++)
        assert_int_equal(p.rank_bytes[r], 0);
    mrc_split_plan_free(&p);

    assert_int_equal(mrc_split_plan_make(&l, 0, 4, &p, &err), MRC_EINVAL);
    assert_non_null(strstr(err.msg, "chunk"));
    memset(&err, 0, sizeof err);
    assert_int_equal(mrc_split_plan_make(&l, 64, 0, &p, &err), MRC_EINVAL);
    mrc_split_plan_free(&p); /* safe on a failed plan */
}

int main(void)
{
    rng_seed(0x9E3779B97F4A7C15ull); /* this test's sequence starts here */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_plans),
        cmocka_unit_test(test_exact_cuts_and_gz),
        cmocka_unit_test(test_compressed_weigh_their_work),
        cmocka_unit_test(test_ties_go_to_lowest_rank),
        cmocka_unit_test(test_plan_of_the_rest),
        cmocka_unit_test(test_empty_list_and_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
