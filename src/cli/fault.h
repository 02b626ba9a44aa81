/* fault.h - test-only fault injection for the run of main.c: MRC_FAULT=RANK:PHASE[:KIND][,...],
 * read once at start-up, makes a chosen rank fail, run out of memory, hold or crash at a chosen
 * phase, the way a real failure there would. Never set in production; costs one predictable
 * branch per phase (MRC_FAULT_AT) and nothing per token. */
#ifndef MRCOUNT_CLI_FAULT_H
#define MRCOUNT_CLI_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mrcount/common.h"
#include "mrcount/map.h"

enum mrc_fault_phase {
    MRC_FP_DISCOVER,
    MRC_FP_DISTRIBUTE,
    MRC_FP_PLACE,
    MRC_FP_MAP,
    MRC_FP_LOCAL_MERGE,
    MRC_FP_COMBINE,
    MRC_FP_OUTPUT,
    MRC_FP_METRICS,
    MRC_FP_STREAM, /* an owner, before it serves its share of the result to rank 0 */
    MRC_FP_SORT,   /* several ranks, spilled: a rank, before the ranks cut the output order */
    MRC_FP_COUNT
};
extern unsigned mrc_fault_phases; /* bit p: this rank has a fault at phase p */
#define MRC_FAULT_AT(p) (mrc_fault_phases & (1u << (p)))

/* Test hooks beside the faults: values the tests force into the combine (0: none). */
typedef struct mrc_fault_knobs {
    uint64_t reduce_cap;     /* MRC_TEST_REDUCE_CAP: the reduce's buffer capacity (a fall back) */
    size_t reduce_block;     /* MRC_TEST_REDUCE_BLOCK: the reduce's >2 GiB path on small tables */
    size_t shuffle_round;    /* MRC_TEST_SHUFFLE_ROUND: bytes of one shuffle round */
    uint64_t piece_pause_us; /* MRC_TEST_PIECE_PAUSE_US: each map worker pauses after a piece */
    uint64_t ckpt_hold;      /* MRC_TEST_CKPT_HOLD=N: hold in the N-th checkpoint of a worker */
    size_t fan_in;           /* MRC_TEST_FAN_IN: runs one merge may open (multi-pass merges) */
    uint64_t step_each;      /* MRC_TEST_STEP_EACH=1: --progress lines within a step every time */
    uint64_t rss_window;     /* MRC_TEST_RSS_WINDOW=1: the combine's own peak RSS (see flow.c) */
    uint64_t output_merge;   /* MRC_TEST_OUTPUT_MERGE=1: rank 0 merges every rank's share */
    uint64_t output_unshared; /* MRC_TEST_OUTPUT_UNSHARED=N: rank N cannot see rank 0's result
                               * file (a node-local path): rank 0 writes every range's lines */
    uint64_t exchange_full;   /* MRC_TEST_EXCHANGE_FULL=N: rank N finds --tmp-dir full when what
                               * it receives in the spilled output's exchange spills */
    uint64_t slice_min;       /* MRC_TEST_SLICE_MIN: records a thread's slice of the output ranges'
                               * passes takes at least (small tables on several threads) */
} mrc_fault_knobs;

/** mrc_fault_at_start() : MRC_TEST_SIGNAL_AT_START=N raises SIGTERM N times in this rank
 *  before MPI starts, where a signal used to kill a rank mid-connection. */
void mrc_fault_at_start(void);

/** mrc_fault_parse() : read MRC_FAULT for this rank (unset or empty: no fault) and the test
 *  hooks into knobs: the only place the run reads test variables. signalled is the run's signal
 *  flag, which ends a hold. @return 0, or MRC_EINVAL (a usage error), err filled. */
int mrc_fault_parse(int rank, int size, const mrc_stop *signalled, mrc_fault_knobs *knobs,
                    mrc_err *err);

/** mrc_fault_at() : this rank's fault at phase p (call only when MRC_FAULT_AT(p)), on the main
 *  thread, given the phase's status so far (kept when it already failed). @return the status. */
int mrc_fault_at(mrc_err *err, enum mrc_fault_phase p, int rc);

/** mrc_fault_wrap_map() : install the map's fault in job's consumer: it fires once, in the first
 *  worker that consumes a buffer, so the message names the file. */
void mrc_fault_wrap_map(mrc_job *job);

/** mrc_fault_map_stop() : the map is stopping (a failure or a signal): release a held worker. */
void mrc_fault_map_stop(void);

/** mrc_fault_map_pending() : a map fault is set here and no worker took it (no input reached
 *  this rank), nor was the map stopped. */
bool mrc_fault_map_pending(void);

#endif
