/* bench_spill.c - the figures behind the spill's choices (not a test: run by hand, on an idle
 * machine if there is one): record sets of typical keys (key12345678x, and the words and word
 * 2-grams of a text file given as argument) as hash-ordered runs, then
 *   1. codecs: raw vs zlib 1 vs ISA-L igzip 0 / 1 (when built with it), 1 MiB blocks through a
 *      spill file in DIR (default $TMPDIR or /tmp) and back, page cache or (--sync) fdatasync
 *      and dropped cache before the read;
 *   2. run files: mrc_run_writer_put + finish, and a whole-file mrc_run_file_source;
 *   3. mrc_source_merge of k in-memory streams (the set dealt out with repeats) into a sink
 *      that only sums.
 * Usage: bench_spill [--sync] [TEXT_FILE]. Medians of 5 runs; MB/s of record bytes. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#ifdef MRC_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include "mrcount/table.h"
#include "mrcount/tmpfile.h"

#define REPS 5
#define BLK ((size_t)1 << 20)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double median(double *v)
{
    for (int i = 0; i < REPS; i++)
        for (int j = i + 1; j < REPS; j++)
            if (v[j] < v[i]) {
                double t = v[i];
                v[i] = v[j];
                v[j] = t;
            }
    return v[REPS / 2];
}

static uint64_t rs = 88172645463325252ull;
static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static void die(const char *what, const mrc_err *err)
{
    fprintf(stderr, "bench_spill: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* A hash-ordered payload (no header) of the keys of one kind: 0 key12345678x, 1 the words of
 * text, 2 its word 2-grams; real counts. */
static unsigned char *make_set(int kind, const char *text, size_t tlen, size_t *len)
{
    mrc_table t;
    mrc_err err = {0};
    if (mrc_table_init(&t, 0, &err) != 0) die("table", &err);
    char k[1024];
    if (kind == 0) {
        for (int i = 0; i < 3000000; i++) {
            snprintf(k, sizeof k, "key%08ux", (unsigned)(rnd() % 100000000));
            if (mrc_table_add(&t, k, 12, mrc_hash(k, 12), 1, &err) != 0) die("add", &err);
        }
    } else {
        const char *prev = NULL;
        size_t pl = 0;
        for (size_t i = 0; i < tlen;) {
            while (i < tlen && is_space(text[i]))
                i++;
            size_t s = i;
            while (i < tlen && !is_space(text[i]))
                i++;
            if (i == s) break;
            const char *key = text + s;
            size_t kl = i - s;
            if (kind == 2) {
                if (prev == NULL || pl + 1 + kl > sizeof k) {
                    prev = text + s, pl = i - s;
                    continue;
                }
                memcpy(k, prev, pl);
                k[pl] = ' ';
                memcpy(k + pl + 1, text + s, kl);
                key = k;
                kl += pl + 1;
                prev = text + s, pl = i - s;
            }
            if (mrc_table_add(&t, key, (uint32_t)kl, mrc_hash(key, kl), 1, &err) != 0)
                die("add", &err);
        }
    }
    mrc_table *tp = &t;
    void *out;
    size_t olen;
    if (mrc_table_serialize(&tp, 1, &out, &olen, &err) != 0) die("serialize", &err);
    mrc_table_free(&t);
    *len = olen - MRC_SER_HEADER;
    memmove(out, (unsigned char *)out + MRC_SER_HEADER, *len);
    return out;
}

static size_t count_records(const unsigned char *p, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; n++)
        i += MRC_REC_HEAD + mrc_rec_len(p + i);
    return n;
}

/* Sum the counts of the whole records in p[0, n). */
static uint64_t parse(const unsigned char *p, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; n - i >= MRC_REC_HEAD && n - i - MRC_REC_HEAD >= mrc_rec_len(p + i);
         i += MRC_REC_HEAD + mrc_rec_len(p + i))
        s += mrc_rec_count(p + i);
    return s;
}

/* ---- 1. codecs ---- */

enum { RAW, ZLIB1, IGZIP0, IGZIP1, NCODEC };
static const char *codec_name[NCODEC] = {"raw", "zlib 1", "igzip 0", "igzip 1"};

static size_t compress_block(int codec, const unsigned char *in, size_t n, unsigned char *out,
                             size_t cap, unsigned char *lvl)
{
    (void)lvl;
    if (codec == ZLIB1) {
        z_stream z;
        memset(&z, 0, sizeof z);
        if (deflateInit2(&z, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) die("zlib", 0);
        z.next_in = (unsigned char *)in;
        z.avail_in = (uInt)n;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        if (deflate(&z, Z_FINISH) != Z_STREAM_END) die("deflate", 0);
        deflateEnd(&z);
        return cap - z.avail_out;
    }
#ifdef MRC_HAVE_ISAL
    struct isal_zstream s;
    isal_deflate_stateless_init(&s);
    s.level = codec == IGZIP0 ? 0 : 1;
    s.level_buf = codec == IGZIP0 ? NULL : lvl;
    s.level_buf_size = codec == IGZIP0 ? 0 : ISAL_DEF_LVL1_DEFAULT;
    s.next_in = (unsigned char *)in;
    s.avail_in = (uint32_t)n;
    s.next_out = out;
    s.avail_out = (uint32_t)cap;
    s.end_of_stream = 1;
    s.flush = NO_FLUSH;
    if (isal_deflate_stateless(&s) != COMP_OK) die("isal_deflate", 0);
    return s.total_out;
#else
    (void)in, (void)n, (void)out, (void)cap;
    return 0;
#endif
}

static void inflate_block(int codec, const unsigned char *in, size_t n, unsigned char *out,
                          size_t cap)
{
    if (codec == ZLIB1) {
        z_stream z;
        memset(&z, 0, sizeof z);
        if (inflateInit2(&z, -15) != Z_OK) die("zlib", 0);
        z.next_in = (unsigned char *)in;
        z.avail_in = (uInt)n;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        if (inflate(&z, Z_FINISH) != Z_STREAM_END) die("inflate", 0);
        inflateEnd(&z);
        return;
    }
#ifdef MRC_HAVE_ISAL
    struct inflate_state st;
    isal_inflate_init(&st);
    st.next_in = (unsigned char *)in;
    st.avail_in = (uint32_t)n;
    st.next_out = out;
    st.avail_out = (uint32_t)cap;
    if (isal_inflate_stateless(&st) != ISAL_DECOMP_OK) die("isal_inflate", 0);
#else
    (void)in, (void)n, (void)out, (void)cap;
#endif
}

static void bench_codecs(const unsigned char *p, size_t len, const char *dir, int sync)
{
#ifdef MRC_HAVE_ISAL
    int ncodec = NCODEC;
    unsigned char *lvl = malloc(ISAL_DEF_LVL1_DEFAULT);
#else
    int ncodec = IGZIP0;
    unsigned char *lvl = NULL;
#endif
    size_t ccap = 2 * BLK + 65536, nb = (len + BLK - 1) / BLK;
    unsigned char *cb = malloc(ccap), *db = malloc(BLK);
    size_t *bl = malloc((nb ? nb : 1) * sizeof *bl);
    if (!cb || !db || !bl) die("out of memory", 0);
    for (int c = 0; c < ncodec; c++) {
        double tw[REPS], tr[REPS];
        size_t fb = 0;
        for (int rep = 0; rep < REPS; rep++) {
            int fd;
            mrc_err err = {0};
            if (mrc_tmpfile_open(dir, &fd, &err) != 0) die("tmpfile", &err);
            double t0 = now();
            fb = 0;
            for (size_t b = 0; b < nb; b++) {
                size_t n = len - b * BLK < BLK ? len - b * BLK : BLK;
                const unsigned char *src = p + b * BLK;
                size_t w = n;
                if (c != RAW) {
                    w = compress_block(c, src, n, cb, ccap, lvl);
                    src = cb;
                }
                bl[b] = w;
                if (mrc_write_full(fd, src, w, dir, &err) != 0) die("write", &err);
                fb += w;
            }
            if (sync) fdatasync(fd);
            double t1 = now();
            if (sync) posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            double t2 = now();
            uint64_t sum = 0, off = 0;
            for (size_t b = 0; b < nb; b++) {
                size_t n = len - b * BLK < BLK ? len - b * BLK : BLK;
                if (mrc_pread_full(fd, c != RAW ? cb : db, bl[b], off, dir, &err) != 0)
                    die("read", &err);
                off += bl[b];
                if (c != RAW) inflate_block(c, cb, bl[b], db, BLK);
                sum += parse(db, n);
            }
            tr[rep] = now() - t2;
            tw[rep] = t1 - t0;
            close(fd);
            if (sum == 0) die("nothing read", 0);
        }
        double w = median(tw), r = median(tr);
        printf("    %-8s x%.2f  write %6.0f  read %6.0f  write+read %6.0f MB/s\n", codec_name[c],
               (double)len / (double)fb, len / w / 1e6, len / r / 1e6, len / (w + r) / 1e6);
    }
    free(lvl);
    free(cb);
    free(db);
    free(bl);
}

/* ---- 2. run files ---- */

static int sum_sink(void *arg, const mrc_rec_view *r, mrc_err *err)
{
    (void)err;
    *(uint64_t *)arg += r->count;
    return 0;
}

static void bench_runfile(const unsigned char *p, size_t len, const char *dir)
{
    double tw[REPS], tr[REPS];
    size_t nrec = count_records(p, len);
    for (int rep = 0; rep < REPS; rep++) {
        mrc_err err = {0};
        double t0 = now();
        mrc_run_writer *w = mrc_run_writer_open(dir, MRC_ORDER_HASH, 0, &err);
        if (w == NULL) die("writer", &err);
        for (size_t i = 0; i < len;) {
            mrc_rec_view v = {0, mrc_rec_count(p + i), mrc_rec_key(p + i), mrc_rec_len(p + i)};
            v.hash = mrc_hash(v.key, v.len);
            if (mrc_run_writer_put(w, &v, &err) != 0) die("put", &err);
            i += MRC_REC_HEAD + v.len;
        }
        mrc_run_file f;
        if (mrc_run_writer_finish(w, &f, &err) != 0) die("finish", &err);
        double t1 = now();
        mrc_source *s = mrc_run_file_source(&f, 0, UINT64_MAX, 0, &err);
        if (s == NULL) die("source", &err);
        mrc_rec_view v;
        uint64_t sum = 0;
        int rc;
        while ((rc = s->next(s, &v, &err)) > 0)
            sum += v.count;
        if (rc < 0 || sum == 0) die("read", &err);
        s->close(s);
        tr[rep] = now() - t1;
        tw[rep] = t1 - t0;
        mrc_run_file_close(&f);
    }
    double w = median(tw), r = median(tr);
    printf("    write %6.0f MB/s %5.1f Mrec/s (hashing each key)   read %6.0f MB/s %5.1f Mrec/s "
           "(hashing each key)\n",
           len / w / 1e6, nrec / w / 1e6, len / r / 1e6, nrec / r / 1e6);
}

/* ---- 3. the merge ---- */

static void bench_merge(const unsigned char *p, size_t len, size_t k)
{
    /* Deal the records out to k streams, each record to one stream and every 4th to a second
     * one too (equal keys to sum). */
    unsigned char **pl = calloc(k, sizeof *pl);
    size_t *pn = calloc(k, sizeof *pn), *cap = calloc(k, sizeof *cap);
    mrc_source **src = calloc(k, sizeof *src);
    if (!pl || !pn || !cap || !src) die("out of memory", 0);
    size_t in = 0, nin = 0;
    for (size_t i = 0, r = 0; i < len; r++) {
        size_t n = MRC_REC_HEAD + mrc_rec_len(p + i);
        size_t first = (size_t)(rnd() % k);
        for (int copy = 0; copy < (r % 4 == 0 && k > 1 ? 2 : 1); copy++) {
            size_t s = (first + (size_t)copy) % k;
            if (pn[s] + n > cap[s]) {
                cap[s] = (pn[s] + n) * 2;
                pl[s] = realloc(pl[s], cap[s]);
                if (!pl[s]) die("out of memory", 0);
            }
            memcpy(pl[s] + pn[s], p + i, n);
            pn[s] += n;
            in += n;
            nin++;
        }
        i += n;
    }
    double t[REPS];
    for (int rep = 0; rep < REPS; rep++) {
        mrc_err err = {0};
        for (size_t s = 0; s < k; s++)
            if ((src[s] = mrc_ser_source_open(pl[s], pn[s], MRC_ORDER_HASH, &err)) == NULL)
                die("source", &err);
        uint64_t sum = 0;
        double t0 = now();
        if (mrc_source_merge(src, k, MRC_ORDER_HASH, sum_sink, &sum, &err) != 0) die("merge", &err);
        t[rep] = now() - t0;
        for (size_t s = 0; s < k; s++)
            src[s]->close(src[s]);
    }
    double m = median(t);
    printf("    k = %4zu: %6.0f MB/s in, %5.1f Mrec/s in (hashing each key)\n", k, in / m / 1e6,
           nin / m / 1e6);
    for (size_t s = 0; s < k; s++)
        free(pl[s]);
    free(pl);
    free(pn);
    free(cap);
    free(src);
}

int main(int argc, char **argv)
{
    int sync = 0;
    const char *text_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sync") == 0)
            sync = 1;
        else
            text_path = argv[i];
    }
    const char *dir = mrc_tmp_dir_default();
    char *text = NULL;
    size_t tlen = 0;
    if (text_path != NULL) {
        int fd = open(text_path, O_RDONLY);
        if (fd < 0) die(text_path, 0);
        tlen = 64u << 20;
        text = malloc(tlen);
        ssize_t n = read(fd, text, tlen);
        close(fd);
        if (n <= 0) die(text_path, 0);
        tlen = (size_t)n;
    }
    static const char *kind_name[] = {"key12345678x", "words", "word 2-grams"};
    for (int kind = 0; kind < (text ? 3 : 1); kind++) {
        size_t len;
        unsigned char *p = make_set(kind, text, tlen, &len);
        size_t n = count_records(p, len);
        printf("%s: %zu records, %.1f MB, %.1f B/record (spill dir %s%s)\n", kind_name[kind], n,
               len / 1e6, (double)len / (double)n, dir, sync ? ", synced" : "");
        printf("  codecs through a spill file:\n");
        bench_codecs(p, len, dir, sync);
        printf("  run file:\n");
        bench_runfile(p, len, dir);
        printf("  merge of k streams in memory:\n");
        static const size_t ks[] = {1, 2, 4, 16, 256, 1000};
        for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
            bench_merge(p, len, ks[i]);
        free(p);
    }
    free(text);
    return 0;
}
