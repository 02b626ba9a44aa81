/* hll.c - a HyperLogLog sketch of a table's distinct keys, from the XXH3 hashes the tables
 * already use. Sketches of different ranks merge by register-wise max (an MPI_Allreduce MAX on
 * the register bytes), so the union vocabulary of the run is estimated before the combine picks
 * its strategy. Estimates only: nothing exact depends on it. */
#include <math.h>
#include <string.h>

#include "mrcount/table.h"

void mrc_hll_init(mrc_hll *h)
{
    memset(h->reg, 0, sizeof h->reg);
}

void mrc_hll_add(mrc_hll *h, uint64_t hash)
{
    /* The low bits pick the register: tables and hash ranges use the high bits, so a rank's
     * share of a range-cut table still spreads over every register. */
    uint32_t j = (uint32_t)(hash & (MRC_HLL_REGISTERS - 1));
    uint64_t rest = hash >> MRC_HLL_BITS;
    uint8_t rank =
        rest == 0 ? (uint8_t)(64 - MRC_HLL_BITS + 1) : (uint8_t)(__builtin_ctzll(rest) + 1);
    if (rank > h->reg[j]) h->reg[j] = rank;
}

int mrc_hll_add_ser(mrc_hll *h, const void *table, mrc_err *err)
{
    mrc_ser_header hd;
    mrc_ser_read_header(table, &hd);
    const unsigned char *pl = (const unsigned char *)table + MRC_SER_HEADER;
    size_t pos = 0;
    mrc_ser_rec r;
    int rc;
    while ((rc = mrc_ser_next(pl, (size_t)hd.payload, &pos, &r)) == 1)
        mrc_hll_add(h, mrc_hash(r.key, r.len));
    if (rc < 0) return mrc_err_set(err, MRC_EINVAL, "sketch: truncated serialized table");
    return 0;
}

void mrc_hll_merge(mrc_hll *into, const mrc_hll *from)
{
    for (size_t j = 0; j < MRC_HLL_REGISTERS; j++)
        if (from->reg[j] > into->reg[j]) into->reg[j] = from->reg[j];
}

double mrc_hll_estimate(const mrc_hll *h)
{
    const double m = MRC_HLL_REGISTERS;
    double sum = 0;
    size_t zeros = 0;
    for (size_t j = 0; j < MRC_HLL_REGISTERS; j++) {
        sum += ldexp(1.0, -(int)h->reg[j]);
        zeros += h->reg[j] == 0;
    }
    double e = 0.7213 / (1.0 + 1.079 / m) * m * m / sum;
    /* Few keys: most registers still empty, and linear counting is the better estimate. */
    if (e <= 2.5 * m && zeros > 0) e = m * log(m / (double)zeros);
    return e;
}
