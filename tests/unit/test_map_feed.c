/* test_map_feed.c - the map driver fed while it runs (the dynamic schedule's path, no MPI):
 * splits fed one at a time, with workers left waiting in between, give the same serialized
 * table as the same splits given at the start; a stop or the end of the feed releases waiting
 * workers; feeding past the bound is an error. Run under TSan in CI: the feed publishes pieces
 * to workers that are already reading the array. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "test_util.h"

#include "mrcount/input.h"
#include "mrcount/map.h"
#include "mrcount/runtime.h"

#define NFILES 4

typedef struct fixture {
    char *paths[NFILES];
    mrc_file_list files;
    mrc_split_plan plan; /* one rank: every split, in (file, offset) order */
    mrc_job job;
    mrc_topo *topo;
} fixture;

/* Lines of words drawn from a small vocabulary, so that the table has repeated keys. */
static unsigned char *random_words(size_t n)
{
    unsigned char *b = malloc(n);
    assert_non_null(b);
    size_t i = 0;
    while (i < n) {
        int len = snprintf((char *)b + i, n - i, "w%zu%c", rng_below(500),
                           rng_below(8) == 0 ? '\n' : ' ');
        if (len < 0 || (size_t)len >= n - i) break;
        i += (size_t)len;
    }
    memset(b + i, ' ', n - i);
    return b;
}

static char *write_gz(const unsigned char *data, size_t n)
{
    char *path = strdup("/tmp/mrc-test-feed-XXXXXX.gz");
    assert_non_null(path);
    int fd = mkstemps(path, 3);
    assert_true(fd >= 0);
    gzFile gz = gzdopen(fd, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(gz), Z_OK);
    return path;
}

static int setup(void **state)
{
    static fixture fx;
    static const size_t sizes[NFILES] = {40000, 0, 25000, 30000};
    rng_seed(77);
    for (int i = 0; i < NFILES; i++) {
        unsigned char *data = random_words(sizes[i]);
        fx.paths[i] = i == 2 ? write_gz(data, sizes[i])
                             : write_temp_as("/tmp/mrc-test-feed-XXXXXX", data, sizes[i]);
        free(data);
    }
    mrc_err err = {0};
    const char *args[NFILES] = {fx.paths[0], fx.paths[1], fx.paths[2], fx.paths[3]};
    assert_int_equal(mrc_input_discover(args, NFILES, &fx.files, NULL, NULL, &err), 0);
    assert_int_equal(fx.files.files[2].codec, MRC_CODEC_GZIP);
    assert_int_equal(mrc_split_plan_make(&fx.files, 3000, 1, &fx.plan, &err), 0);
    void *o = mrc_job_settings_new(mrc_job_find("words"));
    assert_non_null(o);
    assert_int_equal(mrc_job_select(&fx.job, mrc_job_find("words"), o, NULL, &err), 0);
    mrc_job_settings_free(mrc_job_find("words"), o);
    fx.topo = mrc_topo_open(NULL, &err);
    assert_non_null(fx.topo);
    *state = &fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    for (int i = 0; i < NFILES; i++) {
        unlink(fx->paths[i]);
        free(fx->paths[i]);
    }
    mrc_split_plan_free(&fx->plan);
    mrc_file_list_free(&fx->files);
    mrc_topo_close(fx->topo);
    return 0;
}

static void plan_threads(fixture *fx, size_t nthreads, mrc_placement *pl)
{
    mrc_err err = {0};
    if (mrc_placement_plan(fx->topo, NULL, 0, 1, nthreads, pl, &err) != 0)
        fail_msg("mrc_placement_plan: %s", err.msg);
}

/* Poll until every worker returned (bounded: a lost wake-up fails instead of hanging). */
static void wait_done(mrc_map_run *run)
{
    bool done = false;
    uint64_t bytes = 0;
    for (int polls = 0; !done; polls++) {
        mrc_map_poll(run, 20, &bytes, &done);
        assert_true(polls < 1500);
    }
}

static void sleep_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

static unsigned char *finish_ok(mrc_map_run *run, size_t *len, mrc_map_stats *st)
{
    void *out = NULL;
    mrc_err err = {0};
    if (mrc_map_finish(run, &out, len, st, &err) != 0) fail_msg("mrc_map_finish: %s", err.msg);
    return out;
}

/* The table of all splits given at the start: what every feed must reproduce. */
static unsigned char *static_table(fixture *fx, size_t nthreads, uint64_t piece, size_t *len)
{
    mrc_placement pl;
    plan_threads(fx, nthreads, &pl);
    mrc_err err = {0};
    mrc_map_run *run = mrc_map_start(&fx->job, &fx->files, fx->plan.splits, fx->plan.n,
                                     &(mrc_map_opts){.piece_size = piece}, fx->topo, &pl, &err);
    assert_non_null(run);
    wait_done(run);
    mrc_map_stats st;
    unsigned char *out = finish_ok(run, len, &st);
    assert_int_equal(st.splits, fx->plan.n);
    mrc_map_stats_free(&st);
    mrc_placement_free(&pl);
    return out;
}

static void test_feed_equals_static(void **state)
{
    fixture *fx = *state;
    static const uint64_t pieces[] = {0, 700, 3000};
    for (size_t t = 1; t <= 3; t++) {
        for (size_t p = 0; p < 3; p++) {
            size_t want_len = 0;
            unsigned char *want = static_table(fx, t, pieces[p], &want_len);
            mrc_placement pl;
            plan_threads(fx, t, &pl);
            mrc_err err = {0};
            mrc_map_run *run =
                mrc_map_start_fed(&fx->job, &fx->files, fx->plan.splits, fx->plan.n,
                                  &(mrc_map_opts){.piece_size = pieces[p]}, fx->topo, &pl, &err);
            assert_non_null(run);
            assert_true(mrc_map_wants(run));
            for (size_t i = 0; i < fx->plan.n; i++) {
                /* Sometimes let the workers run dry and wait, sometimes feed ahead. */
                if (rng_below(3) == 0) sleep_us((long)rng_below(2000));
                if (rng_below(2) == 0 && !mrc_map_wants(run)) sleep_us(500);
                assert_int_equal(mrc_map_feed(run, &fx->plan.splits[i], 1, &err), 0);
            }
            mrc_map_feed_end(run);
            assert_false(mrc_map_wants(run));
            wait_done(run);
            size_t len = 0;
            mrc_map_stats st;
            unsigned char *got = finish_ok(run, &len, &st);
            if (len != want_len || memcmp(got, want, len) != 0)
                fail_msg("T=%zu piece=%llu: the fed table differs from the static one", t,
                         (unsigned long long)pieces[p]);
            assert_int_equal(st.splits, fx->plan.n);
            mrc_map_stats_free(&st);
            free(got);
            free(want);
            mrc_placement_free(&pl);
        }
    }
}

/* A stop, or the end of the feed inside finish, releases workers waiting for a piece. */
static void test_waiting_workers_released(void **state)
{
    fixture *fx = *state;
    mrc_placement pl;
    plan_threads(fx, 3, &pl);
    mrc_err err = {0};
    mrc_map_run *run = mrc_map_start_fed(&fx->job, &fx->files, fx->plan.splits, fx->plan.n,
                                         &(mrc_map_opts){.piece_size = 0}, fx->topo, &pl, &err);
    assert_non_null(run);
    sleep_us(20000); /* every worker is now waiting for the feed */
    mrc_map_stop(run);
    wait_done(run);
    void *out = NULL;
    size_t len = 0;
    mrc_map_stats st;
    assert_int_equal(mrc_map_finish(run, &out, &len, &st, &err), MRC_EINTR);
    mrc_map_stats_free(&st);
    free(out);

    run = mrc_map_start_fed(&fx->job, &fx->files, fx->plan.splits, fx->plan.n,
                            &(mrc_map_opts){.piece_size = 0}, fx->topo, &pl, &err);
    assert_non_null(run);
    assert_int_equal(mrc_map_feed(run, fx->plan.splits, 1, &err), 0);
    sleep_us(20000);
    out = finish_ok(run, &len, &st); /* no feed_end: finish ends the feed itself */
    assert_int_equal(st.splits, 1);
    assert_true(st.records > 0);
    mrc_map_stats_free(&st);
    free(out);
    mrc_placement_free(&pl);
}

static void test_feed_past_bound(void **state)
{
    fixture *fx = *state;
    mrc_placement pl;
    plan_threads(fx, 2, &pl);
    mrc_err err = {0};
    /* Bound: the first split only; a second one does not fit the piece array. */
    mrc_map_run *run = mrc_map_start_fed(&fx->job, &fx->files, fx->plan.splits, 1,
                                         &(mrc_map_opts){.piece_size = 0}, fx->topo, &pl, &err);
    assert_non_null(run);
    assert_int_equal(mrc_map_feed(run, fx->plan.splits, 1, &err), 0);
    assert_int_equal(mrc_map_feed(run, fx->plan.splits + 1, 1, &err), MRC_EINVAL);
    mrc_map_feed_end(run);
    assert_int_equal(mrc_map_feed(run, fx->plan.splits, 0, &err), MRC_EINVAL);
    wait_done(run);
    size_t len = 0;
    mrc_map_stats st;
    free(finish_ok(run, &len, &st));
    assert_int_equal(st.splits, 1);
    mrc_map_stats_free(&st);
    mrc_placement_free(&pl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feed_equals_static),
        cmocka_unit_test(test_waiting_workers_released),
        cmocka_unit_test(test_feed_past_bound),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
