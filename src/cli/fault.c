/* fault.c - MRC_FAULT, the test-only fault injection of fault.h: parsing, and the faults
 * themselves at the end of a phase on the main thread or, for the map, in a wrapper of the job's
 * consumer. It must never be reached unless MRC_FAULT names this rank.
 * Rank RANK ("*": every rank) fails at the end of PHASE's own work, just before the ranks agree
 * on it, the way a real failure there would (map: in the first worker thread that consumes a
 * buffer). KIND: fail (default) returns "injected fault (MRC_FAULT) in PHASE"; oom returns an
 * allocation failure's "out of memory"; sleep:SECONDS (hang: no end) holds the rank there, which
 * a signal ends, and in the map also the map's stop when another rank failed; abort kills the
 * process with SIGKILL, a crashed rank. Each point costs one predictable branch; the map's is a
 * wrapper of the job's consumer, installed only on the rank it names. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"

static const char *const fault_phase_names[MRC_FP_COUNT] = {
    "discover", "distribute", "place",   "map",    "local_merge",
    "combine",  "output",     "metrics", "stream", "sort"};
enum fault_kind { FAULT_FAIL, FAULT_OOM, FAULT_SLEEP, FAULT_ABORT };

typedef struct fault {
    enum fault_kind kind;
    double seconds; /* FAULT_SLEEP; negative: until stopped (hang) */
} fault;

static fault faults[MRC_FP_COUNT];
unsigned mrc_fault_phases;
static const mrc_stop *fault_signalled; /* the run's signal flag: it ends a hold */
static int fault_rank;
static mrc_consume_fn fault_real_consume;
static atomic_int fault_map_fired, fault_map_stop;

static int fault_usage(mrc_err *err, const char *entry)
{
    return mrc_err_set(err, MRC_EINVAL,
                       "MRC_FAULT: '%s': expected RANK:PHASE[:KIND] (RANK a number or *, PHASE "
                       "discover, distribute, place, map, local_merge, combine, output, "
                       "metrics, stream or sort, KIND fail, oom, hang, sleep:SECONDS or abort)",
                       entry);
}

/* One entry of MRC_FAULT (e, modified), for rank `rank` of `size`. */
static int fault_parse_entry(char *e, int rank, int size, mrc_err *err)
{
    char text[96];
    snprintf(text, sizeof text, "%s", e);
    char *phase = strchr(e, ':');
    if (phase == NULL) return fault_usage(err, text);
    *phase++ = '\0';
    char *kind = strchr(phase, ':');
    if (kind != NULL) *kind++ = '\0';
    long who = -1;
    if (strcmp(e, "*") != 0) {
        char *end;
        errno = 0;
        who = strtol(e, &end, 10);
        if (end == e || *end != '\0' || errno != 0 || who < 0 || who > INT_MAX)
            return fault_usage(err, text);
        if (who >= size)
            return mrc_err_set(err, MRC_EINVAL, "MRC_FAULT: '%s': no rank %ld in a run of %d", text,
                               who, size);
    }
    int p = 0;
    while (p < MRC_FP_COUNT && strcmp(phase, fault_phase_names[p]) != 0)
        p++;
    if (p == MRC_FP_COUNT) return fault_usage(err, text);
    fault f = {FAULT_FAIL, 0};
    if (kind == NULL || strcmp(kind, "fail") == 0) {
        f.kind = FAULT_FAIL;
    } else if (strcmp(kind, "oom") == 0) {
        f.kind = FAULT_OOM;
    } else if (strcmp(kind, "abort") == 0) {
        f.kind = FAULT_ABORT;
    } else if (strcmp(kind, "hang") == 0) {
        f = (fault){FAULT_SLEEP, -1};
    } else if (strncmp(kind, "sleep:", 6) == 0) {
        char *end;
        f = (fault){FAULT_SLEEP, strtod(kind + 6, &end)};
        if (end == kind + 6 || *end != '\0' || !(f.seconds >= 0 && f.seconds <= 1e6))
            return fault_usage(err, text);
    } else {
        return fault_usage(err, text);
    }
    if (who < 0 || who == rank) {
        faults[p] = f;
        mrc_fault_phases |= 1u << p;
    }
    return 0;
}

/* A test hook's value: a positive number, or 0 when unset or not one. */
static uint64_t knob(const char *name)
{
    const char *s = getenv(name);
    if (s == NULL) return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' ? (uint64_t)v : 0;
}

void mrc_fault_at_start(void)
{
    for (uint64_t n = knob("MRC_TEST_SIGNAL_AT_START"); n > 0; n--)
        raise(SIGTERM);
}

int mrc_fault_parse(int rank, int size, const mrc_stop *signalled, mrc_fault_knobs *knobs,
                    mrc_err *err)
{
    fault_rank = rank;
    fault_signalled = signalled;
    knobs->reduce_cap = knob("MRC_TEST_REDUCE_CAP");
    knobs->reduce_block = (size_t)knob("MRC_TEST_REDUCE_BLOCK");
    knobs->shuffle_round = (size_t)knob("MRC_TEST_SHUFFLE_ROUND");
    knobs->piece_pause_us = knob("MRC_TEST_PIECE_PAUSE_US");
    knobs->ckpt_hold = knob("MRC_TEST_CKPT_HOLD");
    knobs->fan_in = (size_t)knob("MRC_TEST_FAN_IN");
    knobs->step_each = knob("MRC_TEST_STEP_EACH");
    knobs->rss_window = knob("MRC_TEST_RSS_WINDOW");
    knobs->output_merge = knob("MRC_TEST_OUTPUT_MERGE");
    knobs->output_unshared = knob("MRC_TEST_OUTPUT_UNSHARED");
    knobs->exchange_full = knob("MRC_TEST_EXCHANGE_FULL");
    knobs->slice_min = knob("MRC_TEST_SLICE_MIN");
    const char *spec = getenv("MRC_FAULT");
    if (spec == NULL || *spec == '\0') return 0;
    char *copy = strdup(spec), *save = NULL;
    if (copy == NULL) return mrc_err_set(err, MRC_ENOMEM, "MRC_FAULT: out of memory");
    int rc = 0;
    for (char *e = strtok_r(copy, ",", &save); rc == 0 && e != NULL; e = strtok_r(NULL, ",", &save))
        rc = fault_parse_entry(e, rank, size, err);
    free(copy);
    return rc;
}

/* Hold the rank (a test that signals a run inside a phase waits for this line). */
static void fault_sleep(enum mrc_fault_phase p, const mrc_stop *stop)
{
    const fault *f = &faults[p];
    char how[48] = "until stopped";
    if (f->seconds >= 0) snprintf(how, sizeof how, "for %g s", f->seconds);
    fprintf(stderr, "mrcount: warning: rank %d (pid %ld): MRC_FAULT holds %s %s\n", fault_rank,
            (long)getpid(), fault_phase_names[p], how);
    double end = mrc_now() + f->seconds;
    const struct timespec nap = {0, 10 * 1000000L};
    while (!atomic_load(fault_signalled) && !(stop != NULL && atomic_load(stop)) &&
           (f->seconds < 0 || mrc_now() < end))
        nanosleep(&nap, NULL);
}

static _Noreturn void fault_crash(void)
{
    kill(getpid(), SIGKILL);
    _exit(128 + SIGKILL);
}

/* The fault of this rank at phase p, on the main thread, given the phase's status so far (kept
 * when it already failed). */
int mrc_fault_at(mrc_err *err, enum mrc_fault_phase p, int rc)
{
    if (rc != 0) return rc;
    switch (faults[p].kind) {
    case FAULT_FAIL:
        return mrc_err_set(err, MRC_EIO, "injected fault (MRC_FAULT) in %s", fault_phase_names[p]);
    case FAULT_OOM:
        return mrc_err_set(err, MRC_ENOMEM, "%s: out of memory (MRC_FAULT)", fault_phase_names[p]);
    case FAULT_SLEEP:
        fault_sleep(p, NULL);
        return 0; /* a signal that ended the hold is the agreement's to report */
    case FAULT_ABORT:
        fault_crash();
    }
    return 0;
}

/* The map's fault: the job's consumer, wrapped, fires once in the first worker to call it. */
static long long fault_consume(void *ctx, const unsigned char *buf, size_t len, size_t owned,
                               bool final, mrc_err *err)
{
    if (atomic_load_explicit(&fault_map_fired, memory_order_relaxed) ||
        atomic_exchange(&fault_map_fired, 1))
        return fault_real_consume(ctx, buf, len, owned, final, err);
    const char *path = ((const mrc_map_ctx *)ctx)->path;
    switch (faults[MRC_FP_MAP].kind) {
    case FAULT_FAIL:
        mrc_err_set(err, MRC_EIO, "%s: injected fault (MRC_FAULT) in map", path);
        return -1;
    case FAULT_OOM:
        mrc_err_set(err, MRC_ENOMEM, "%s: count table: out of memory (MRC_FAULT)", path);
        return -1;
    case FAULT_SLEEP:
        fault_sleep(MRC_FP_MAP, &fault_map_stop);
        if (atomic_load(fault_signalled) || atomic_load(&fault_map_stop)) {
            mrc_err_set(err, MRC_EINTR, "%s: map stopped", path); /* a stop, not a failure */
            return -1;
        }
        break;
    case FAULT_ABORT:
        fault_crash();
    }
    return fault_real_consume(ctx, buf, len, owned, final, err);
}

void mrc_fault_wrap_map(mrc_job *job)
{
    fault_real_consume = job->consume;
    job->consume = fault_consume;
}

void mrc_fault_map_stop(void)
{
    atomic_store(&fault_map_stop, 1);
}

bool mrc_fault_map_pending(void)
{
    return MRC_FAULT_AT(MRC_FP_MAP) && !atomic_load(&fault_map_fired) &&
           !atomic_load(&fault_map_stop);
}
