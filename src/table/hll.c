/* hll.c - a HyperLogLog sketch of a table's distinct keys, from the XXH3 hashes the tables
 * already use. Sketches of different ranks merge by register-wise max (an MPI_Allreduce MAX on
 * the register bytes), so the union vocabulary of the run is estimated before the combine picks
 * its strategy; and a priority sample of the keys by their bytes, for the union's bytes.
 * Estimates only: nothing exact depends on them. */
#include <math.h>
#include <stdbool.h>
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

/* ---- the priority sample ---- */

void mrc_psample_init(mrc_psample *s)
{
    memset(s, 0, sizeof *s);
}

/* a before b in the sample's order: higher priority, then lower hash */
static bool ps_before(double pa, uint64_t ha, double pb, uint64_t hb)
{
    return pa > pb || (pa == pb && ha < hb);
}

void mrc_psample_add(mrc_psample *s, uint64_t hash, uint64_t bytes)
{
    /* u in (0, 1]: the hash's top 53 bits, plus one, over 2^53 */
    double u = (double)((hash >> 11) + 1) * 0x1p-53;
    size_t i = MRC_PSAMPLE;
    if ((double)bytes < s->e[i].prio * u) return; /* below the last kept, no division: most keys */
    double prio = (double)bytes / u;
    if (!ps_before(prio, hash, s->e[i].prio, s->e[i].hash)) return;
    for (; i > 0 && ps_before(prio, hash, s->e[i - 1].prio, s->e[i - 1].hash); i--)
        s->e[i] = s->e[i - 1];
    s->e[i].prio = prio;
    s->e[i].hash = hash;
    s->e[i].bytes = bytes;
}

void mrc_psample_merge(mrc_psample *into, const mrc_psample *from)
{
    mrc_psample m;
    size_t a = 0, b = 0, n = 0;
    const size_t k = MRC_PSAMPLE + 1;
    while (n < k && (a < k || b < k)) {
        bool take_a = b == k || (a < k && !ps_before(from->e[b].prio, from->e[b].hash,
                                                     into->e[a].prio, into->e[a].hash));
        if (take_a) {
            /* one key in both samples: the same priority and hash; once */
            if (b < k && from->e[b].prio == into->e[a].prio && from->e[b].hash == into->e[a].hash)
                b++;
            m.e[n++] = into->e[a++];
        } else {
            m.e[n++] = from->e[b++];
        }
    }
    *into = m;
}

double mrc_psample_estimate(const mrc_psample *s)
{
    double tau = s->e[MRC_PSAMPLE].prio, sum = 0; /* 0 when it holds every key: exact */
    for (size_t i = 0; i < MRC_PSAMPLE && s->e[i].prio > 0; i++)
        sum += (double)s->e[i].bytes > tau ? (double)s->e[i].bytes : tau;
    return sum;
}

int mrc_hll_add_ser(mrc_hll *h, mrc_psample *s, const void *table, mrc_err *err)
{
    mrc_ser_header hd;
    mrc_ser_read_header(table, &hd);
    const unsigned char *pl = (const unsigned char *)table + MRC_SER_HEADER;
    size_t pos = 0;
    mrc_ser_rec r;
    int rc;
    while ((rc = mrc_ser_next(pl, (size_t)hd.payload, &pos, &r)) == 1) {
        uint64_t hash = mrc_hash(r.key, r.len);
        mrc_hll_add(h, hash);
        if (s != NULL) mrc_psample_add(s, hash, MRC_REC_HEAD + (uint64_t)r.len);
    }
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
