/* ranges.c - the result cut into ranges of the output order, one per rank, so that every rank
 * sorts and formats its own lines and rank 0 only appends theirs: a sample sort across ranks.
 * Each rank holds its hash range (the shuffle's); it samples its records, every rank gathers
 * all samples and picks the same P-1 splitters (weighted by how many records each sample
 * stands for), each record goes to the rank of its range of the output order, and the ranges
 * travel with one Alltoallv (in rounds past MPI's int limits). Allocation failures are agreed
 * on before data moves, as in the shuffle: a failing rank keeps its message, the others return
 * 0 with nothing and the caller's agreement stops the run. The passes that count and copy each
 * range's records run on the rank's threads, a slice of the table each. */
#include <limits.h>
#include <mpi.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_internal.h"
#include "mrcount/mpi.h"
#include "mrcount/table.h"

#define SAMPLE_MAX 1024  /* samples a rank draws at most */
#define SAMPLE_ALL 65536 /* samples of all ranks together, at most (but 16 a rank) */
#define SAMPLE_KEY 512   /* key bytes a sample keeps: a prefix is a point of the order too */

typedef struct sample {
    mrc_rec_view v;
    double weight; /* the records it stands for */
    size_t at;     /* its place among all samples, the same on every rank */
} sample;

/* A total order: samples alike in the order (keys cut alike, or equal) keep their places, so
 * every rank sorts them the same whatever its qsort() does with ties. */
static int by_place(int c, const sample *a, const sample *b)
{
    return c != 0 ? c : a->at < b->at ? -1 : a->at > b->at;
}

static int by_count(const void *a, const void *b)
{
    const sample *x = a, *y = b;
    return by_place(mrc_rec_cmp(MRC_ORDER_COUNT, &x->v, &y->v), x, y);
}

static int by_key(const void *a, const void *b)
{
    const sample *x = a, *y = b;
    return by_place(mrc_rec_cmp(MRC_ORDER_KEY, &x->v, &y->v), x, y);
}

/* The cut of the output order every rank agreed on: split[k] opens range k+1 (past[k]: it lies
 * past the end of the order, no record reaches it); records below min_count are left out. */
typedef struct cut {
    const mrc_rec_view *split;
    const bool *past;
    int nsplit;
    enum mrc_order order;
    uint64_t min_count;
} cut;

/* The rank whose range holds v: how many splitters are at or before it. */
static int range_of(const cut *c, const mrc_rec_view *v)
{
    int lo = 0, hi = c->nsplit;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (!c->past[mid] && mrc_rec_cmp(c->order, &c->split[mid], v) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The next kept record of payload[*pos, len): where it starts (*at), its bytes and its range.
 * @return 1, or 0 at the end. */
static int next_kept(const cut *c, const unsigned char *payload, size_t len, size_t *pos,
                     size_t *at, size_t *bytes, int *range)
{
    mrc_ser_rec s;
    for (size_t start = *pos; mrc_ser_next(payload, len, pos, &s) == 1; start = *pos) {
        if (s.count < c->min_count) continue;
        mrc_rec_view v = {0, s.count, s.key, s.len};
        *at = start;
        *bytes = *pos - start;
        *range = range_of(c, &v);
        return 1;
    }
    return 0;
}

/* The first record of slice k of n records cut in `slices`: n * k / slices without overflow. */
static uint64_t slice_first(uint64_t n, size_t slices, size_t k)
{
    return n / slices * k + n % slices * k / slices;
}

/* Pass one: count the records kept and left out, check every record lies in the payload, draw
 * about `want` samples spread over the payload (keys cut to SAMPLE_KEY bytes) into buf, and
 * note where each of `slices` slices of the records starts (start[slices] = len). */
static int draw_samples(const unsigned char *payload, size_t len, uint64_t records,
                        uint64_t min_count, size_t want, unsigned char *buf, size_t *buf_len,
                        uint64_t *nsamples, uint64_t *kept, uint64_t *dropped, size_t *start,
                        size_t slices, mrc_err *err)
{
    uint64_t stride = records / (want ? want : 1) + 1, i = 0;
    size_t pos = 0, w = 0, k = 0;
    bool pending = false; /* a sample is due: the next kept record */
    mrc_ser_rec s;
    int got;
    *nsamples = *kept = *dropped = 0;
    for (;;) {
        for (; k < slices && slice_first(records, slices, k) == i; k++)
            start[k] = pos;
        if ((got = mrc_ser_next(payload, len, &pos, &s)) != 1) break;
        if (i++ % stride == 0) pending = true;
        if (s.count < min_count) {
            (*dropped)++;
            continue;
        }
        (*kept)++;
        if (!pending || *nsamples >= want) continue;
        w += mrc_rec_put(buf + w, s.count, s.key, s.len < SAMPLE_KEY ? s.len : SAMPLE_KEY);
        (*nsamples)++;
        pending = false;
    }
    *buf_len = w;
    for (; k <= slices; k++)
        start[k] = len;
    if (got < 0 || i != records)
        return mrc_err_set(err, MRC_EINVAL, "result: malformed count table (record %llu of %llu)",
                           (unsigned long long)i + 1, (unsigned long long)records);
    return 0;
}

/* Where each rank's samples go in the gathered buffer (info: per rank its bytes, samples and
 * weight, as gathered), their total bytes and count. @return 0, 1 when a rank failed
 * (UINT64_MAX bytes), 2 when they pass MPI's int counts: every rank alike. */
static int sample_layout(const uint64_t *info, int P, int *bytes, int *displ, size_t *all_len,
                         size_t *nall)
{
    *all_len = *nall = 0;
    for (int r = 0; r < P; r++) {
        uint64_t b = info[3 * (size_t)r];
        if (b == UINT64_MAX) return 1;
        if (*all_len + b > INT_MAX) return 2;
        bytes[r] = (int)b;
        displ[r] = (int)*all_len;
        *all_len += b;
        *nall += (size_t)info[3 * (size_t)r + 1];
    }
    return 0;
}

/* Every rank picks the same splitters from the gathered samples: split[k] opens range k+1 of
 * `parts`, at the first sample with (k+1)/parts of the total weight before it. */
static void pick_splitters(const unsigned char *all, const int *bytes, const int *displ,
                           const uint64_t *info, int P, size_t parts, enum mrc_order order,
                           sample *smp, mrc_rec_view *split, bool *past)
{
    size_t n = 0;
    double total = 0;
    for (int r = 0; r < P; r++) {
        uint64_t ns = info[3 * (size_t)r + 1], kept = info[3 * (size_t)r + 2];
        double w = ns ? (double)kept / (double)ns : 0;
        size_t pos = 0;
        mrc_ser_rec s;
        while (mrc_ser_next(all + displ[r], (size_t)bytes[r], &pos, &s) == 1) {
            smp[n].v = (mrc_rec_view){0, s.count, s.key, s.len};
            smp[n].at = n;
            smp[n++].weight = w;
            total += w;
        }
    }
    if (n > 1) qsort(smp, n, sizeof *smp, order == MRC_ORDER_KEY ? by_key : by_count);
    size_t k = 0;
    double before = 0;
    for (size_t i = 0; i < n && k + 1 < parts; i++) {
        while (k + 1 < parts && before >= total * (double)(k + 1) / (double)parts) {
            split[k] = smp[i].v;
            past[k++] = false;
        }
        before += smp[i].weight;
    }
    for (; k + 1 < parts; k++)
        past[k] = true;
}

/* ---- the counting and copying passes, a slice of the table on each thread ---- */

#define SLICE_MIN ((uint64_t)1 << 16) /* records a slice gets at least: a pool start costs */

typedef struct slices {
    const cut *c;
    unsigned char *buf; /* the table: its own records end at its front */
    const unsigned char *payload;
    unsigned char *send;
    const size_t *start; /* n + 1: where each slice's records start in the payload */
    size_t n, row;       /* slices; entries a row of the tables below (whole cache lines) */
    int me;
    size_t *bytes;  /* n rows: bytes of slice s's records for rank r (the own ones included) */
    uint64_t *recs; /* n rows: how many */
    size_t *cur;    /* n rows: where slice s's next record for rank r goes in send */
} slices;

static int count_task(size_t s, void *arg, atomic_int *failed, mrc_err *err)
{
    (void)failed;
    (void)err;
    slices *sl = arg;
    if (s >= sl->n) return 0; /* more threads than slices */
    size_t *b = sl->bytes + s * sl->row, pos = sl->start[s], at, rl;
    uint64_t *nr = sl->recs + s * sl->row;
    int to;
    while (next_kept(sl->c, sl->payload, sl->start[s + 1], &pos, &at, &rl, &to)) {
        b[to] += rl;
        nr[to]++;
    }
    return 0;
}

/* Slice s's records into send; its own ones packed where its slice starts (slice 0's at the
 * table's front): a record is read before anything is written over it, as the packed ones end
 * before it. */
static int copy_task(size_t s, void *arg, atomic_int *failed, mrc_err *err)
{
    (void)failed;
    (void)err;
    slices *sl = arg;
    if (s >= sl->n) return 0;
    size_t *cur = sl->cur + s * sl->row, pos = sl->start[s], at, rl, w = 0;
    unsigned char *own = s == 0 ? sl->buf : sl->buf + MRC_SER_HEADER + sl->start[s];
    int to;
    while (next_kept(sl->c, sl->payload, sl->start[s + 1], &pos, &at, &rl, &to)) {
        if (to == sl->me) {
            memmove(own + w, sl->payload + at, rl);
            w += rl;
        } else {
            memcpy(sl->send + cur[to], sl->payload + at, rl);
            cur[to] += rl;
        }
    }
    return 0;
}

/* fn on every slice: on the placement's threads, one slice each, or one after another here
 * when there is one slice or the threads do not start (the passes cannot fail, and a pool that
 * does not start runs none of them: a pass that ran in part would count twice, and copy over a
 * table it had packed). */
static void run_slices(const mrc_ranges_opts *o, slices *sl, mrc_task_fn fn)
{
    mrc_err ignored = {0};
    if (sl->n > 1 && mrc_run_tasks(o->topo, o->pl, fn, sl, &ignored) == 0) return;
    atomic_int failed = 0;
    for (size_t s = 0; s < sl->n; s++)
        fn(s, sl, &failed, &ignored);
}

/* Whether every rank made its allocations (*all); a rank that did not reports it.
 * @return 0, or nonzero with err filled (this rank's failure, or MPI's). */
static int agree_allocated(int ok, int *all, mrc_err *err)
{
    int mrc = MPI_Allreduce(&ok, all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    if (mrc != MPI_SUCCESS) return mrc_mpi_mpi_error(err, "MPI_Allreduce(output ranges)", mrc);
    return ok ? 0 : mrc_err_set(err, MRC_ENOMEM, "output ranges: out of memory");
}

int mrc_mpi_agree_splitters(const mrc_mpi *d, const unsigned char *mine, size_t len,
                            uint64_t nsamples, bool failed, enum mrc_order order, size_t parts,
                            mrc_splitters *out, mrc_err *err)
{
    *out = (mrc_splitters){.declined = true};
    int P = d->size, all_ok = 0, mrc;
    uint64_t *info = calloc((size_t)P * 3, sizeof *info); /* per rank: bytes, samples, weight */
    int *bytes = calloc((size_t)P * 2, sizeof *bytes), *displ = bytes ? bytes + P : NULL;
    unsigned char *all = NULL;
    sample *smp = NULL;
    bool *past = NULL;
    size_t all_len = 0, nall = 0;
    int rc = agree_allocated(info && bytes, &all_ok, err);
    if (rc != 0 || !all_ok) goto out;
    /* a failure, or a payload past MPI's int counts, as UINT64_MAX: every rank declines */
    uint64_t triple[3] = {failed || len > INT_MAX / 2 ? UINT64_MAX : len, nsamples, nsamples};
    mrc = MPI_Allgather(triple, 3, MPI_UINT64_T, info, 3, MPI_UINT64_T, MPI_COMM_WORLD);
    if (mrc != MPI_SUCCESS) {
        rc = mrc_mpi_mpi_error(err, "MPI_Allgather(sample sizes)", mrc);
        goto out;
    }
    if (sample_layout(info, P, bytes, displ, &all_len, &nall) != 0) goto out; /* declined */
    all = malloc(all_len + 1);
    smp = malloc((nall + 1) * sizeof *smp);
    out->split = malloc(parts * sizeof *out->split);
    past = malloc(parts * sizeof *past);
    rc = agree_allocated(all && smp && out->split && past, &all_ok, err);
    if (rc != 0 || !all_ok) goto out;
    mrc = MPI_Allgatherv(mine, (int)len, MPI_BYTE, all, bytes, displ, MPI_BYTE, MPI_COMM_WORLD);
    if (mrc != MPI_SUCCESS) {
        rc = mrc_mpi_mpi_error(err, "MPI_Allgatherv(samples)", mrc);
        goto out;
    }
    pick_splitters(all, bytes, displ, info, P, parts, order, smp, out->split, past);
    while (out->nsplit + 1 < parts && !past[out->nsplit]) /* those past the order come last */
        out->nsplit++;
    out->keys = all;
    all = NULL;
    out->declined = out->nsplit == 0;
out:
    if (out->declined) {
        free(out->split);
        free(out->keys);
        *out = (mrc_splitters){.declined = true};
    }
    free(info);
    free(bytes);
    free(all);
    free(smp);
    free(past);
    return rc;
}

void mrc_splitters_free(mrc_splitters *s)
{
    free(s->split);
    free(s->keys);
    *s = (mrc_splitters){0};
}

void mrc_ranges_free(mrc_ranges *r)
{
    free(r->recs);
    free(r->recv);
    free(r->lines);
    *r = (mrc_ranges){0};
}

int mrc_mpi_output_ranges(const mrc_mpi *d, void **table, const mrc_ranges_opts *o, mrc_ranges *out,
                          mrc_err *err)
{
    *out = (mrc_ranges){0};
    const unsigned char *payload = NULL;
    size_t len = 0;
    uint64_t records = 0;
    if (*table != NULL) {
        mrc_ser_header h;
        mrc_ser_read_header(*table, &h);
        payload = (const unsigned char *)*table + MRC_SER_HEADER;
        len = (size_t)h.payload;
        records = h.records;
    }
    int P = d->size, rc = 0, mrc;
    size_t want = SAMPLE_ALL / (size_t)P;
    want = want < 16 ? 16 : want > SAMPLE_MAX ? SAMPLE_MAX : want;
    enum mrc_order order = o->order == MRC_ORDER_KEY ? MRC_ORDER_KEY : MRC_ORDER_COUNT;
    unsigned char *mine = malloc(want * (MRC_REC_HEAD + SAMPLE_KEY));
    uint64_t *info = calloc((size_t)P * 3, sizeof *info); /* per rank: bytes, samples, kept */
    int *bytes = calloc((size_t)P * 2, sizeof *bytes), *displ = bytes ? bytes + P : NULL;
    size_t *cnt = calloc((size_t)P * 4, sizeof *cnt); /* scount, sdispl, rcount, rdispl */
    uint64_t *lines = calloc((size_t)P * 2, sizeof *lines), *nrec = lines ? lines + P : NULL;
    uint64_t *sc64 = calloc((size_t)P * 2, sizeof *sc64); /* bytes to send, to receive */
    int *ints = calloc((size_t)P * 4, sizeof *ints);
    unsigned char *all = NULL, *send = NULL, *recv = NULL;
    sample *smp = NULL;
    mrc_rec_view *split = NULL;
    bool *past = NULL;
    uint64_t ns = 0, kept = 0, dropped = 0;
    size_t mine_len = 0;
    int all_ok = 0;
    /* a slice of the table a thread, each of SLICE_MIN records at least */
    uint64_t smin = o->test_slice_min ? o->test_slice_min : SLICE_MIN;
    size_t nsl = o->topo != NULL && o->pl != NULL && o->pl->nthreads > 0 ? o->pl->nthreads : 1;
    if (nsl > records / smin) nsl = records / smin > 0 ? (size_t)(records / smin) : 1;
    slices sl = {.n = nsl, .row = ((size_t)P + 15) / 16 * 16, .me = d->rank};
    size_t row_bytes = nsl * sl.row * sizeof(uint64_t);
    _Static_assert(sizeof(size_t) <= sizeof(uint64_t), "rows of size_t fit");
    size_t *start = malloc((nsl + 1) * sizeof *start);
    sl.bytes = aligned_alloc(64, row_bytes);
    sl.recs = aligned_alloc(64, row_bytes);
    sl.cur = aligned_alloc(64, row_bytes);
    rc = agree_allocated(mine && info && bytes && cnt && lines && sc64 && ints && start &&
                             sl.bytes && sl.recs && sl.cur,
                         &all_ok, err);
    if (rc != 0 || !all_ok) goto out;
    memset(sl.bytes, 0, row_bytes);
    memset(sl.recs, 0, row_bytes);
    rc = draw_samples(payload, len, records, o->min_count, want, mine, &mine_len, &ns, &kept,
                      &dropped, start, nsl, err);
    /* the samples' sizes, a failure as UINT64_MAX: every rank learns of it here */
    uint64_t triple[3] = {rc != 0 ? UINT64_MAX : mine_len, ns, kept};
    mrc = MPI_Allgather(triple, 3, MPI_UINT64_T, info, 3, MPI_UINT64_T, MPI_COMM_WORLD);
    if (mrc != MPI_SUCCESS) {
        rc = mrc_mpi_mpi_error(err, "MPI_Allgather(sample sizes)", mrc);
        goto out;
    }
    if (rc != 0) goto out;
    size_t all_len = 0, nall = 0;
    int layout = sample_layout(info, P, bytes, displ, &all_len, &nall);
    if (layout == 1) goto out; /* that rank reports */
    if (layout == 2) {         /* never at SAMPLE_ALL samples of SAMPLE_KEY bytes */
        rc = mrc_err_set(err, MRC_EOVERFLOW, "output ranges: samples past MPI's int counts");
        goto out;
    }
    all = malloc(all_len + 1);
    smp = malloc((nall + 1) * sizeof *smp);
    split = malloc((size_t)P * sizeof *split);
    past = malloc((size_t)P * sizeof *past);
    rc = agree_allocated(all && smp && split && past, &all_ok, err);
    if (rc != 0 || !all_ok) goto out;
    mrc =
        MPI_Allgatherv(mine, (int)mine_len, MPI_BYTE, all, bytes, displ, MPI_BYTE, MPI_COMM_WORLD);
    if (mrc != MPI_SUCCESS) {
        rc = mrc_mpi_mpi_error(err, "MPI_Allgatherv(samples)", mrc);
        goto out;
    }
    pick_splitters(all, bytes, displ, info, P, (size_t)P, order, smp, split, past);

    /* Pass two: the bytes and records of each range; pass three (below) copies them. */
    size_t *scount = cnt, *sdispl = cnt + P, *rcount = cnt + 2 * (size_t)P,
           *rdispl = cnt + 3 * (size_t)P;
    cut c = {split, past, P - 1, order, o->min_count};
    sl.c = &c;
    sl.payload = payload;
    sl.start = start;
    run_slices(o, &sl, count_task);
    for (size_t k = 0; k < nsl; k++)
        for (int r = 0; r < P; r++) {
            scount[r] += sl.bytes[k * sl.row + (size_t)r];
            nrec[r] += sl.recs[k * sl.row + (size_t)r];
        }
    int me = d->rank;
    size_t own = scount[me]; /* this rank's own records stay, moved to the buffer's front */
    scount[me] = 0;
    uint64_t *rc64 = sc64 + P;
    for (int r = 0; r < P; r++)
        sc64[r] = scount[r];
    mrc = MPI_Alltoall(sc64, 1, MPI_UINT64_T, rc64, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    if (mrc == MPI_SUCCESS)
        mrc = MPI_Allreduce(nrec, lines, P, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (mrc != MPI_SUCCESS) {
        rc = mrc_mpi_mpi_error(err, "MPI_Alltoall(range sizes)", mrc);
        goto out;
    }
    uint64_t send_total = 0, recv_total = 0, pair_max = 0;
    for (int r = 0; r < P; r++) {
        rcount[r] = (size_t)rc64[r];
        sdispl[r] = (size_t)send_total;
        rdispl[r] = (size_t)recv_total;
        send_total += sc64[r];
        recv_total += rc64[r];
        pair_max = sc64[r] > pair_max ? sc64[r] : pair_max;
    }
    /* What this rank would hold at its peak here and in the output: the records sent and
     * received, beside its table, then refs and lines. Past the budget on any rank (ranges
     * that came out uneven: keys alike beyond the samples' prefixes), the ranks decline. */
    uint64_t n_new = lines[me], volume = send_total > recv_total ? send_total : recv_total;
    mrc = MPI_Allreduce(MPI_IN_PLACE, &volume, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    if (mrc != MPI_SUCCESS) {
        rc = mrc_mpi_mpi_error(err, "MPI_Allreduce(output ranges)", mrc);
        goto out;
    }
    uint64_t need = mrc_rss_now() + send_total + 2 * recv_total + own + 26 * n_new;
    if (volume > (uint64_t)INT_MAX) need += 2 * (uint64_t)INT_MAX; /* the rounds' staging */
    bool decline = o->budget != 0 && need > o->budget;
    if (!decline) {
        send = malloc((size_t)send_total + 1);
        recv = malloc((size_t)recv_total + 1);
        /* Both are new pages: on huge pages they come 10x faster in this VM (400 MB written:
         * 1.07 s on 4 KiB pages, 0.10 s on 2 MiB ones), and the sort reads recv in random
         * order. (Growing the table with realloc() instead moves huge pages: 1.26 s for
         * 345 MB.) */
        mrc_advise_huge(send, (size_t)send_total + 1);
        mrc_advise_huge(recv, (size_t)recv_total + 1);
        if (send == NULL || recv == NULL)
            rc = mrc_err_set(err, MRC_ENOMEM, "output ranges: cannot allocate %llu bytes",
                             (unsigned long long)(send_total + recv_total));
    }
    uint64_t agree[4] = {rc != 0, volume, pair_max, decline};
    mrc = MPI_Allreduce(MPI_IN_PLACE, agree, 4, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    if (mrc != MPI_SUCCESS) {
        rc = mrc_mpi_mpi_error(err, "MPI_Allreduce(output ranges)", mrc);
        goto out;
    }
    out->declined = agree[0] == 0 && agree[3] != 0; /* the table is as it was */
    if (agree[0] != 0 || agree[3] != 0) goto out;
    /* Pass three: the others' records into send, this rank's moved to the front of the table:
     * each slice packs its own where it starts (slice 0's at the front), then they move down
     * in order, each to where the last ended (before its slice: nothing of a later one is
     * overwritten). */
    for (int r = 0; r < P; r++)
        for (size_t k = 0, at = sdispl[r]; k < nsl; k++) {
            sl.cur[k * sl.row + (size_t)r] = at;
            at += sl.bytes[k * sl.row + (size_t)r];
        }
    unsigned char *buf = *table; /* NULL: no records, nothing moves */
    sl.buf = buf;
    sl.send = send;
    run_slices(o, &sl, copy_task);
    size_t front = sl.bytes[me];
    for (size_t k = 1; k < nsl; k++) {
        size_t b = sl.bytes[k * sl.row + (size_t)me];
        if (b != 0) memmove(buf + front, buf + MRC_SER_HEADER + start[k], b);
        front += b;
    }
    mrc_mpi_release_outside(buf, 0, own, MRC_SER_HEADER + len); /* what was sent */
    int aborted = 0;
    rc = mrc_mpi_exchange_bytes(P, send, scount, sdispl, recv, rcount, rdispl, agree[1], agree[2],
                                o->test_round, ints, &aborted, err);
    if (rc != 0 || aborted) goto out;
    out->recs = buf;
    out->len = own;
    out->recv = recv;
    out->recv_len = (size_t)recv_total;
    out->n = lines[me];
    out->lines = lines;
    out->kept = kept;
    out->dropped = dropped;
    *table = NULL;
    recv = NULL;
    lines = NULL;
out:
    free(start);
    free(sl.bytes);
    free(sl.recs);
    free(sl.cur);
    free(mine);
    free(sc64);
    free(info);
    free(bytes);
    free(cnt);
    free(lines);
    free(ints);
    free(all);
    free(smp);
    free(split);
    free(past);
    free(send);
    free(recv);
    return rc;
}
