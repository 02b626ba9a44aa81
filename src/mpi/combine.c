/* combine.c - the combine as one call: every rank's serialized table becomes the run's result,
 * by MPI_Reduce with a merging operator or by the hash-range shuffle, chosen collectively by a
 * cost model and the memory each rank may use; a reduce whose sketch-sized buffers turn out too
 * small falls back to the shuffle; each rank keeps its share, which rank 0 later merges as
 * streams. The ranks agree after every step one of them can fail alone, so none waits in a
 * collective that another left. */
#include <stdlib.h>

#include "mpi_internal.h"
#include "mrcount/mpi.h"

/* What the cost model assumes: a collective step's latency; bytes per second between ranks;
 * bytes of a union-sized buffer one reduce step copies and merges per second on one thread
 * (the send buffer, MPI's copy into its own, the operator's move and its merge of both); bytes
 * of its share one thread of a shuffle owner merges per second. Fitted at np 2 and 4 on the
 * 2-core VM on 10^2 to 3.7*10^6 keys (jobs/README.md, "Cost model"): rough on purpose, they only
 * have to rank two strategies whose costs differ by factors when it matters. */
#define MODEL_LATENCY_S 3e-4
#define MODEL_NET_BPS 1e9
#define MODEL_REDUCE_BPS 2.3e8
#define MODEL_SHUFFLE_BPS 4e8
#define CAP_MARGIN 1.15 /* sketch-sized reduce buffers: estimate error and key-length spread */

/* Choose the combine. Collective: every input of the decision is reduced over all ranks, so
 * every rank decides the same. With one rank there is nothing to combine: reduce (a copy). */
static int plan(const mrc_mpi *d, const void *local, size_t local_len, uint64_t local_distinct,
                const mrc_combine_opts *o, mrc_combine_result *res, uint64_t *cap_hint,
                mrc_err *err)
{
    *cap_hint = 0;
    res->shuffle = o->strategy == MRC_COMBINE_SHUFFLE || o->need_ranges;
    res->union_est = (double)local_distinct;
    int P = d->size;
    if (P == 1) return 0;
    static mrc_hll h;
    static mrc_psample ps;
    mrc_hll_init(&h);
    mrc_psample_init(&ps);
    int rc = mrc_hll_add_ser(&h, &ps, local, err);
    uint64_t mem = o->mem_share;
    /* sums: payload bytes, records, threads; then the smallest memory share as a max of its
     * complement */
    uint64_t v[4] = {local_len - MRC_SER_HEADER, local_distinct, o->pl->nthreads,
                     UINT64_MAX - (mem ? mem : UINT64_MAX / 2)};
    int rc2 = mrc_mpi_sum_u64(d, v, 3, err);
    if (rc2 == 0) rc2 = mrc_mpi_max_u64(d, &v[3], 1, err);
    if (rc2 == 0) rc2 = mrc_mpi_hll_union(d, &h, err);
    if (rc2 == 0) rc2 = mrc_mpi_psample_union(d, &ps, err);
    if (rc == 0) rc = rc2;
    if (rc != 0) return rc;
    double U = mrc_hll_estimate(&h), S = (double)v[0] + P * MRC_SER_HEADER;
    /* The union's bytes: the distinct keys times the mean of all ranks' records, precise when
     * keys are alike; but a shared key counts there once per rank, so where shared keys are
     * short and the keys of one rank long it fell short (the reduce's buffer overflowed and
     * fell back to the shuffle). The priority sample's estimate is not fooled by that: the
     * larger of the two. */
    double rec_bytes = v[1] ? (double)v[0] / (double)v[1] : 16.0,
           sampled = mrc_psample_estimate(&ps);
    double U_bytes = (U * rec_bytes > sampled ? U * rec_bytes : sampled) + MRC_SER_HEADER;
    double T = (double)v[2] / P, mem_share = (double)(UINT64_MAX - v[3]);
    double cap = U_bytes * CAP_MARGIN + 65536;
    if (cap > S) cap = S;
    int levels = 0;
    while ((1 << levels) < P)
        levels++;
    /* MPI_Reduce: log2 P steps, each moving a buffer of the union's size, and copying and
     * merging it on one thread. Shuffle: three small collectives, an all-to-all and a gather
     * (P messages each), each rank sends and merges its share (on T threads), then streams it
     * to rank 0. */
    res->union_est = U;
    res->predicted[0] = levels * (MODEL_LATENCY_S + cap / MODEL_NET_BPS + cap / MODEL_REDUCE_BPS);
    res->predicted[1] = (3 * levels + 2 * (P - 1)) * MODEL_LATENCY_S + S / P / MODEL_NET_BPS +
                        S / P / (MODEL_SHUFFLE_BPS * T) +
                        (o->need_ranges ? 0 : U_bytes / MODEL_NET_BPS);
    if (o->strategy == MRC_COMBINE_AUTO && !o->need_ranges)
        res->shuffle = res->predicted[1] < res->predicted[0] || 3 * cap > mem_share;
    /* A reduce asked for that could not fit a rank's memory (rank 0 holds its buffers and the
     * union) runs as the shuffle instead: reported as a fall back. */
    if (o->strategy == MRC_COMBINE_REDUCE && 3 * cap > mem_share) {
        res->shuffle = res->fell_back = true;
        res->fell_back_why = "its buffers would not fit the memory limit";
    }
    *cap_hint = (uint64_t)cap;
    if (o->test_reduce_cap > 0) *cap_hint = o->test_reduce_cap; /* tests force a fall back */
    return 0;
}

/* The shuffled ranges: each rank keeps its own; the distinct keys of all of them summed. */
static int after_shuffle(const mrc_mpi *d, void **range, size_t range_len, mrc_combine_result *res,
                         mrc_err *err)
{
    mrc_ser_header h;
    mrc_ser_read_header(*range, &h);
    uint64_t distinct = h.records;
    int rc = mrc_mpi_sum_u64(d, &distinct, 1, err);
    res->distinct = distinct;
    res->range_len = range_len;
    res->table = *range;
    res->table_len = range_len;
    *range = NULL;
    return rc;
}

int mrc_mpi_combine(const mrc_mpi *d, void **local, size_t local_len, uint64_t local_distinct,
                    const mrc_combine_opts *o, mrc_combine_result *res, mrc_err *err)
{
    *res = (mrc_combine_result){0};
    uint64_t cap_hint = 0;
    int rc = plan(d, *local, local_len, local_distinct, o, res, &cap_hint, err);
    if (o->agree(o->agree_arg, rc) != 0) {
        res->agreed_failure = true;
        return MRC_EIO;
    }
    if (!res->shuffle) {
        bool too_small = false;
        rc = mrc_mpi_reduce_tables(d, local, local_len, cap_hint, o->test_reduce_block, &res->table,
                                   &res->table_len, &too_small, err);
        if (rc == 0 && too_small) {
            res->shuffle = res->fell_back = true;
            res->fell_back_why = "a merge outgrew the buffers sized from the sketch";
        }
        if (rc == 0 && !too_small && d->rank == 0) {
            mrc_ser_header h;
            mrc_ser_read_header(res->table, &h);
            res->distinct = h.records;
        }
    }
    if (rc == 0 && res->shuffle) {
        void *range = NULL;
        size_t range_len = 0;
        rc = mrc_mpi_shuffle_tables(d, local, local_len, o->topo, o->pl, o->test_shuffle_round,
                                    &range, &range_len, err);
        if (o->agree(o->agree_arg, rc) != 0) {
            free(range);
            res->agreed_failure = true;
            rc = MRC_EIO;
        } else {
            rc = after_shuffle(d, &range, range_len, res, err);
            free(range);
        }
    }
    free(*local);
    *local = NULL;
    return rc;
}
