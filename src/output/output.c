/* output.c - the last step of a run on rank 0: a complete serialized table becomes sorted
 * `key TAB count` lines, written in large blocks to a temporary file that is renamed into place
 * (or to standard output). It must never leave a partial result under the final name, never
 * print, and never trust the table's header without checking it against the buffer. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mrcount/output.h"
#include "mrcount/table.h"

#define OUT_BLOCK (1u << 20) /* bytes per write() */
#define OUT_LINE_EXTRA 22    /* TAB, up to 20 digits, LF */
#define REC_HEAD 12          /* u64 count + u32 length */

/* A record as the sort sees it: the first 8 key bytes big-endian (zero-padded) decide most
 * comparisons without touching the key, which lives in the table. */
typedef struct out_ref {
    uint64_t count;
    uint64_t prefix;
    const unsigned char *key;
    uint32_t len;
} out_ref;

typedef int (*ref_cmp_fn)(const void *a, const void *b);

static uint64_t key_prefix(const unsigned char *key, uint32_t len)
{
    uint64_t p = 0;
    uint32_t n = len < 8 ? len : 8;
    for (uint32_t i = 0; i < n; i++)
        p |= (uint64_t)key[i] << (56 - 8 * i);
    return p;
}

/* Bytewise, a key that is a prefix of another first. */
static inline int key_cmp(const out_ref *a, const out_ref *b)
{
    if (a->prefix != b->prefix) return a->prefix < b->prefix ? -1 : 1;
    uint32_t n = a->len < b->len ? a->len : b->len;
    uint32_t skip = n < 8 ? n : 8; /* equal prefixes: the first min(n, 8) bytes are equal */
    int c = n > skip ? memcmp(a->key + skip, b->key + skip, n - skip) : 0;
    if (c != 0) return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

static inline int count_cmp(const out_ref *a, const out_ref *b)
{
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return key_cmp(a, b);
}

static int cmp_by_key(const void *a, const void *b)
{
    return key_cmp(a, b);
}

static int cmp_by_count(const void *a, const void *b)
{
    return count_cmp(a, b);
}

/* ---- sorting: a bottom-up merge sort with the comparison inlined (qsort's indirect calls
 * and element copies cost about twice as much on a million records) ---- */

#define SORT_RUN 16

static inline __attribute__((always_inline)) void
merge_sort(out_ref *a, out_ref *tmp, size_t n, int (*cmp)(const out_ref *, const out_ref *))
{
    for (size_t lo = 0; lo < n; lo += SORT_RUN) {
        size_t hi = lo + SORT_RUN < n ? lo + SORT_RUN : n;
        for (size_t i = lo + 1; i < hi; i++) {
            out_ref v = a[i];
            size_t j = i;
            for (; j > lo && cmp(&v, &a[j - 1]) < 0; j--)
                a[j] = a[j - 1];
            a[j] = v;
        }
    }
    out_ref *src = a, *dst = tmp;
    for (size_t width = SORT_RUN; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = mid + width < n ? mid + width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                dst[k++] = cmp(&src[j], &src[i]) < 0 ? src[j++] : src[i++];
            while (i < mid)
                dst[k++] = src[i++];
            while (j < hi)
                dst[k++] = src[j++];
        }
        out_ref *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
}

static void sort_by_count(out_ref *a, out_ref *tmp, size_t n)
{
    merge_sort(a, tmp, n, count_cmp);
}

static void sort_by_key(out_ref *a, out_ref *tmp, size_t n)
{
    merge_sort(a, tmp, n, key_cmp);
}

/* ---- sorting many records: an LSD radix sort on (count descending, first 8 key bytes), 16
 * bits a pass, then the runs that tie on both sorted by the whole key. A pass whose digit is
 * the same in every record is skipped, so small counts cost one or two passes. On 10^7 keys
 * it does a fraction of the merge sort's work, whose comparisons miss the cache. ---- */

#define RADIX_MIN (1u << 16) /* below this, the histograms cost more than they save */
#define RADIX_BITS 16
#define RADIX_BUCKETS (1u << RADIX_BITS)

/* digit d (0: least significant) of the value sorted on: ~count (so that larger counts come
 * first) above the prefix; with_count false: the prefix only */
static inline unsigned radix_digit(const out_ref *r, unsigned d)
{
    uint64_t v = d < 4 ? r->prefix : ~r->count;
    return (unsigned)(v >> (RADIX_BITS * (d & 3))) & (RADIX_BUCKETS - 1);
}

/* @return false when the histograms cannot be allocated (the caller merge sorts instead). */
static bool radix_sort(out_ref *a, out_ref *tmp, size_t n, bool with_count)
{
    unsigned digits = with_count ? 8 : 4;
    size_t *hist = calloc((size_t)digits * RADIX_BUCKETS, sizeof *hist);
    if (hist == NULL) return false;
    for (size_t i = 0; i < n; i++)
        for (unsigned d = 0; d < digits; d++)
            hist[d * RADIX_BUCKETS + radix_digit(&a[i], d)]++;
    out_ref *src = a, *dst = tmp;
    for (unsigned d = 0; d < digits; d++) {
        size_t *h = hist + (size_t)d * RADIX_BUCKETS;
        if (h[radix_digit(&src[0], d)] == n) continue; /* one value: nothing to reorder */
        size_t sum = 0;
        for (unsigned b = 0; b < RADIX_BUCKETS; b++) {
            size_t c = h[b];
            h[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[h[radix_digit(&src[i], d)]++] = src[i];
        out_ref *t = src;
        src = dst;
        dst = t;
    }
    free(hist);
    if (src != a) memcpy(a, src, n * sizeof *a);
    /* ties on (count, prefix): keys that share their first 8 bytes */
    for (size_t lo = 0; lo < n;) {
        size_t hi = lo + 1;
        while (hi < n && a[hi].prefix == a[lo].prefix &&
               (!with_count || a[hi].count == a[lo].count))
            hi++;
        if (hi - lo > 1) sort_by_key(a + lo, tmp, hi - lo);
        lo = hi;
    }
    return true;
}

static void sort_refs(out_ref *refs, size_t n, ref_cmp_fn cmp)
{
    out_ref *tmp = n > SORT_RUN ? malloc(n * sizeof *tmp) : NULL;
    if (tmp == NULL && n > SORT_RUN) { /* no room for the merge buffer: slower, in place */
        qsort(refs, n, sizeof *refs, cmp);
        return;
    }
    bool by_key = cmp == cmp_by_key;
    if (n < RADIX_MIN || !radix_sort(refs, tmp, n, !by_key)) {
        if (by_key)
            sort_by_key(refs, tmp, n);
        else
            sort_by_count(refs, tmp, n);
    }
    free(tmp);
}

/* ---- the K best records of a stream, as a heap whose root is the worst kept ---- */

static void heap_sift_down(out_ref *h, size_t n, size_t i, ref_cmp_fn cmp)
{
    out_ref v = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && cmp(&h[c + 1], &h[c]) > 0) c++;
        if (cmp(&h[c], &v) <= 0) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
}

static void heap_sift_up(out_ref *h, size_t i, ref_cmp_fn cmp)
{
    out_ref v = h[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (cmp(&h[p], &v) >= 0) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

/* Decode the table into refs: all of them, or (keep < records) only the `keep` first in output
 * order. *nrefs gets the number kept. The caller has checked the header against cap. */
static int collect_refs(const unsigned char *payload, size_t payload_len, uint64_t records,
                        uint64_t keep, ref_cmp_fn cmp, out_ref **out, size_t *nrefs,
                        const char *label, mrc_err *err)
{
    size_t want = (size_t)(keep < records ? keep : records);
    out_ref *refs = want ? malloc(want * sizeof *refs) : NULL;
    if (want && refs == NULL) return mrc_err_errno(err, ENOMEM, "%s", label);
    size_t pos = 0, n = 0;
    uint64_t seen = 0;
    mrc_ser_rec r;
    int rc;
    while ((rc = mrc_ser_next(payload, payload_len, &pos, &r)) == 1) {
        if (++seen > records) break;
        if (want == 0) continue;
        out_ref ref = {r.count, key_prefix(r.key, r.len), r.key, r.len};
        if (n < want) {
            refs[n++] = ref;
            if (want < records) heap_sift_up(refs, n - 1, cmp);
        } else if (cmp(&ref, &refs[0]) < 0) {
            refs[0] = ref;
            heap_sift_down(refs, n, 0, cmp);
        }
    }
    if (rc < 0 || seen != records) {
        free(refs);
        if (rc < 0)
            return mrc_err_set(err, MRC_EINVAL,
                               "%s: malformed count table (record %llu of %llu truncated)", label,
                               (unsigned long long)seen + 1, (unsigned long long)records);
        if (seen > records)
            return mrc_err_set(err, MRC_EINVAL,
                               "%s: malformed count table (more records than the header's %llu)",
                               label, (unsigned long long)records);
        return mrc_err_set(err, MRC_EINVAL,
                           "%s: malformed count table (%llu records, header says %llu)", label,
                           (unsigned long long)seen, (unsigned long long)records);
    }
    if (n > 1) sort_refs(refs, n, cmp);
    *out = refs;
    *nrefs = n;
    return 0;
}

/* The header of a serialized table, checked against its buffer before anything trusts it. */
static int read_header_checked(const void *table, size_t cap, const char *label, mrc_ser_header *h,
                               mrc_err *err)
{
    if (table == NULL || cap < MRC_SER_HEADER)
        return mrc_err_set(err, MRC_EINVAL, "%s: malformed count table (%zu bytes)", label, cap);
    mrc_ser_read_header(table, h);
    if (h->magic != MRC_SER_MAGIC || h->version != MRC_SER_VERSION)
        return mrc_err_set(err, MRC_EINVAL, "%s: malformed count table (bad magic or version)",
                           label);
    if (h->payload > cap - MRC_SER_HEADER || h->records > h->payload / REC_HEAD)
        return mrc_err_set(err, MRC_EINVAL, "%s: malformed count table (sizes past the buffer)",
                           label);
    return 0;
}

/* The records that come first in o's order (o->top of them, or all), sorted in that order. */
static int first_refs(const void *table, const mrc_ser_header *h, const mrc_output_opts *o,
                      const char *label, out_ref **refs, size_t *n, mrc_err *err)
{
    ref_cmp_fn cmp = o->sort == MRC_SORT_KEY ? cmp_by_key : cmp_by_count;
    uint64_t keep = o->top != 0 && o->top < h->records ? o->top : h->records;
    return collect_refs((const unsigned char *)table + MRC_SER_HEADER, (size_t)h->payload,
                        h->records, keep, cmp, refs, n, label, err);
}

/* ---- buffered writing ---- */

typedef struct out_sink {
    int fd;
    unsigned char *buf;
    size_t len;
    int errnum;           /* first write error */
    const mrc_stop *stop; /* see mrc_output_opts */
} out_sink;

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (w == 0) return EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static bool sink_stopped(const out_sink *s)
{
    return mrc_stopped(s->stop);
}

static int sink_flush(out_sink *s)
{
    if (s->errnum == 0 && sink_stopped(s)) s->errnum = EINTR;
    if (s->errnum == 0 && s->len > 0) s->errnum = write_all(s->fd, s->buf, s->len);
    s->len = 0;
    return s->errnum;
}

/* Decimal digits of v, written backwards ending just before `end`; @return the first. */
static char *u64_decimal(uint64_t v, char *end)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    char *p = end;
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        *--p = pairs[d + 1];
        *--p = pairs[d];
    }
    if (v >= 10) {
        unsigned d = (unsigned)v * 2;
        *--p = pairs[d + 1];
        *--p = pairs[d];
    } else {
        *--p = (char)('0' + v);
    }
    return p;
}

static int write_lines(out_sink *s, const out_ref *refs, size_t n)
{
    char tmp[20];
    for (size_t i = 0; i < n && s->errnum == 0; i++) {
        const out_ref *r = &refs[i];
        if (OUT_BLOCK - s->len < (size_t)r->len + OUT_LINE_EXTRA) {
            if (sink_flush(s) != 0) break;
            if ((size_t)r->len + OUT_LINE_EXTRA > OUT_BLOCK) { /* a huge key: straight out */
                s->errnum = write_all(s->fd, r->key, r->len);
                if (s->errnum != 0) break;
            } else {
                memcpy(s->buf, r->key, r->len);
                s->len = r->len;
            }
        } else {
            memcpy(s->buf + s->len, r->key, r->len);
            s->len += r->len;
        }
        char *d = u64_decimal(r->count, tmp + sizeof tmp);
        size_t nd = (size_t)(tmp + sizeof tmp - d);
        s->buf[s->len++] = '\t';
        memcpy(s->buf + s->len, d, nd);
        s->len += nd;
        s->buf[s->len++] = '\n';
    }
    return sink_flush(s);
}

/* ---- destinations ---- */

/* Make the rename durable; a file system that cannot fsync a directory loses nothing here. */
static void sync_parent_dir(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(copy);
}

/* A regular file (or a new name): temporary, fsync, rename. */
static int write_replacing(const char *path, out_sink *s, const out_ref *refs, size_t n,
                           mrc_err *err)
{
    char *tmp = mrc_temp_path(path);
    if (tmp == NULL) return mrc_err_errno(err, ENOMEM, "%s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) {
        /* left by a dead process that had our pid; nobody else writes this name */
        if (unlink(tmp) == 0)
            fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        else
            errno = EEXIST;
    }
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return mrc_err_errno(err, e, "%s", path);
    }
    s->fd = fd;
    int e = write_lines(s, refs, n);
    if (e == 0 && fsync(fd) != 0) e = errno;
    if (close(fd) != 0 && e == 0) e = errno;
    if (e == 0 && rename(tmp, path) != 0) e = errno;
    if (e != 0) {
        unlink(tmp);
        free(tmp);
        return mrc_err_errno(err, e, "%s", path);
    }
    free(tmp);
    sync_parent_dir(path);
    return 0;
}

/* A device or a FIFO (/dev/null, /dev/stdout, a named pipe): written in place, since a rename
 * would replace the device node itself. */
static int write_in_place(const char *path, out_sink *s, const out_ref *refs, size_t n,
                          mrc_err *err)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return mrc_err_errno(err, errno, "%s", path);
    s->fd = fd;
    int e = write_lines(s, refs, n);
    if (close(fd) != 0 && e == 0) e = errno;
    return e != 0 ? mrc_err_errno(err, e, "%s", path) : 0;
}

int mrc_output_write(const void *table, size_t cap, const mrc_output_opts *o, mrc_err *err)
{
    const char *path = o->path != NULL ? o->path : "-";
    bool to_stdout = strcmp(path, "-") == 0;
    const char *label = to_stdout ? "standard output" : path;

    mrc_ser_header h;
    int rc = read_header_checked(table, cap, label, &h, err);
    if (rc != 0) return rc;
    if (h.flags & MRC_SER_FLAG_COUNT_OVERFLOW)
        return mrc_err_set(err, MRC_EOVERFLOW,
                           "%s: a count passed 2^64-1; refusing to write a wrong table", label);
    if (h.flags & (MRC_SER_FLAG_OVERFLOW | MRC_SER_FLAG_CORRUPT))
        return mrc_err_set(err, MRC_EINVAL,
                           "%s: the count table is incomplete (%s); refusing to write it", label,
                           h.flags & MRC_SER_FLAG_OVERFLOW ? "a merge overflowed its buffer"
                                                           : "a merge input was corrupt");

    /* Refuse a directory before doing any work; find devices, which are written in place. */
    struct stat st;
    bool in_place = false;
    if (!to_stdout && stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return mrc_err_errno(err, EISDIR, "%s", path);
        in_place = !S_ISREG(st.st_mode);
    }

    out_ref *refs = NULL;
    size_t n = 0;
    rc = first_refs(table, &h, o, label, &refs, &n, err);
    if (rc != 0) return rc;

    out_sink s = {.fd = -1, .buf = malloc(OUT_BLOCK), .stop = o->stop};
    if (s.buf == NULL) {
        free(refs);
        return mrc_err_errno(err, ENOMEM, "%s", label);
    }
    if (to_stdout) {
        fflush(stdout); /* whatever stdio already holds goes first */
        s.fd = STDOUT_FILENO;
        int e = write_lines(&s, refs, n);
        rc = e != 0 ? mrc_err_errno(err, e, "%s", label) : 0;
    } else if (in_place) {
        rc = write_in_place(path, &s, refs, n, err);
    } else {
        rc = write_replacing(path, &s, refs, n, err);
    }
    free(s.buf);
    free(refs);
    return rc;
}

/* ---- the first K records as a smaller table (the shuffle's --top) ---- */

typedef struct hashed_ref {
    uint64_t hash;
    const out_ref *ref;
} hashed_ref;

static int cmp_hashed(const void *a, const void *b)
{
    const hashed_ref *x = a, *y = b;
    return mrc_ser_order(x->hash, x->ref->key, x->ref->len, y->hash, y->ref->key, y->ref->len);
}

int mrc_output_top_table(const void *table, size_t cap, const mrc_output_opts *o, void **out,
                         size_t *out_len, mrc_err *err)
{
    *out = NULL;
    *out_len = 0;
    mrc_ser_header h;
    out_ref *refs = NULL;
    size_t n = 0;
    int rc = read_header_checked(table, cap, "top", &h, err);
    if (rc == 0) rc = first_refs(table, &h, o, "top", &refs, &n, err);
    if (rc != 0) return rc;
    /* Back to the wire order, (hash, key), so the result is a valid serialized table. */
    hashed_ref *hr = malloc((n + 1) * sizeof *hr);
    size_t bytes = MRC_SER_HEADER;
    for (size_t i = 0; hr != NULL && i < n; i++) {
        hr[i] = (hashed_ref){mrc_hash(refs[i].key, refs[i].len), &refs[i]};
        bytes += REC_HEAD + refs[i].len;
    }
    unsigned char *t = hr != NULL ? malloc(bytes) : NULL;
    if (t == NULL) {
        free(hr);
        free(refs);
        return mrc_err_errno(err, ENOMEM, "top");
    }
    if (n > 1) qsort(hr, n, sizeof *hr, cmp_hashed);
    mrc_ser_header th = {MRC_SER_MAGIC, MRC_SER_VERSION, n, bytes - MRC_SER_HEADER, h.flags, 0};
    size_t w = MRC_SER_HEADER;
    for (size_t i = 0; i < n; i++) {
        const out_ref *r = hr[i].ref;
        memcpy(t + w, &r->count, 8);
        memcpy(t + w + 8, &r->len, 4);
        memcpy(t + w + REC_HEAD, r->key, r->len);
        w += REC_HEAD + r->len;
        th.total = th.total + r->count < th.total ? UINT64_MAX : th.total + r->count;
    }
    mrc_ser_write_header(t, &th);
    free(hr);
    free(refs);
    *out = t;
    *out_len = bytes;
    return 0;
}

/* ---- --output-per-rank ---- */

char *mrc_output_part_path(const char *dir, int rank)
{
    char *p = NULL;
    return asprintf(&p, "%s/part-%05d.tsv", dir, rank) < 0 ? NULL : p;
}

int mrc_output_prepare_parts(const char *dir, bool *made, mrc_err *err)
{
    *made = false;
    if (mkdir(dir, 0777) == 0)
        *made = true;
    else if (errno != EEXIST)
        return mrc_err_errno(err, errno, "%s", dir);
    DIR *dh = opendir(dir);
    if (dh == NULL) return mrc_err_errno(err, errno, "%s", dir);
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(dh)) != NULL)
        if (strncmp(e->d_name, "part-", 5) == 0 || strcmp(e->d_name, "manifest.json") == 0)
            rc = mrc_err_set(err, MRC_EIO,
                             "%s: holds %s from another run (remove the parts and manifest.json)",
                             dir, e->d_name);
    closedir(dh);
    return rc;
}
