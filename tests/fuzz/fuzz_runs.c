/* fuzz_runs.c - libFuzzer harness for the run files of the output orders (src/table/runfile.c):
 * front-coded records, written by the external sort and read back once. Arbitrary bytes read as
 * such a run must give exactly the records a decoder written here gives, then end, or fail
 * exactly where it fails and as it fails ("ended early" or "is corrupt", naming the dir), never
 * reading past the file; records written by the run writer must be the bytes this encoder
 * writes and read back as they went in, whatever the writer's and the reader's buffer sizes.
 * Input: byte 0 bit 0 = mode (raw bytes, or key/count entries built into a run), bit 1 = the
 * order (count, key), bits 2-3 = the reader's buffer, bits 4-5 = the writer's; the rest is the
 * data. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "mrcount/table.h"

#define DIR_NAME "fuzzdir"

static const size_t bufs[4] = {20, 64, 4096, 0};

/* ---- the reference: the rule as runfile.c documents it, no code shared with it ---- */

typedef struct ref_rec {
    uint64_t count;
    unsigned char *key;
    uint32_t len;
} ref_rec;

typedef struct ref_run {
    ref_rec *v;
    size_t n, cap;
    const char *error; /* NULL, "ended early" or "is corrupt" */
} ref_run;

static void ref_push(ref_run *r, uint64_t count, const unsigned char *key, uint32_t len)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
        CHECK(r->v != NULL, "out of memory");
    }
    r->v[r->n++] = (ref_rec){count, exact_copy(key, len), len};
}

static void ref_free(ref_run *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].key);
    free(r->v);
}

/* An LEB128 varint at p[*at, n): 1, 0 when the bytes end first, -1 when it is longer than 64
 * bits allow. */
static int ref_varint(const unsigned char *p, size_t n, size_t *at, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned i = 0;; i++) {
        if (*at >= n) return 0;
        unsigned b = p[(*at)++];
        if (i == 9 && b > 1) return -1;
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) break;
    }
    *v = x;
    return 1;
}

static void ref_decode(const unsigned char *p, size_t n, ref_run *r)
{
    unsigned char *key = NULL;
    uint64_t key_len = 0;
    size_t at = 0;
    while (at < n) {
        uint64_t f[3];
        for (int i = 0; i < 3; i++) {
            int rc = ref_varint(p, n, &at, &f[i]);
            if (rc <= 0) {
                r->error = rc == 0 ? "ended early" : "is corrupt";
                free(key);
                return;
            }
        }
        if (f[0] > key_len || f[1] > UINT32_MAX - f[0]) {
            r->error = "is corrupt";
            break;
        }
        if (f[1] > n - at) {
            r->error = "ended early";
            break;
        }
        key = realloc(key, (size_t)(f[0] + f[1]) + 1);
        CHECK(key != NULL, "out of memory");
        memcpy(key + f[0], p + at, (size_t)f[1]);
        at += (size_t)f[1];
        key_len = f[0] + f[1];
        ref_push(r, f[2], key, (uint32_t)key_len);
    }
    free(key);
}

static size_t ref_put_varint(unsigned char *d, uint64_t v)
{
    size_t n = 0;
    do {
        d[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
    return n;
}

static unsigned char *ref_encode(const ref_run *r, size_t *len)
{
    size_t cap = 1;
    for (size_t i = 0; i < r->n; i++)
        cap += 20 + r->v[i].len;
    unsigned char *b = xmalloc(cap);
    size_t w = 0;
    for (size_t i = 0; i < r->n; i++) {
        uint32_t s = 0;
        while (i > 0 && s < r->v[i].len && s < r->v[i - 1].len &&
               r->v[i].key[s] == r->v[i - 1].key[s])
            s++;
        w += ref_put_varint(b + w, s);
        w += ref_put_varint(b + w, r->v[i].len - s);
        w += ref_put_varint(b + w, r->v[i].count);
        memcpy(b + w, r->v[i].key + s, r->v[i].len - s);
        w += r->v[i].len - s;
    }
    *len = w;
    return b;
}

/* ---- the code under test ---- */

static int memfd_with(const unsigned char *p, size_t n)
{
    int fd = memfd_create("run", 0);
    CHECK(fd >= 0, "memfd_create");
    CHECK(n == 0 || pwrite(fd, p, n, 0) == (ssize_t)n, "pwrite");
    return fd;
}

/* Read f back with a reader buffer of rbuf bytes and hold it against the reference. */
static void check_read(const mrc_run_file *f, size_t rbuf, const ref_run *want)
{
    mrc_err err = {0};
    mrc_source *s = mrc_run_file_source(f, 0, UINT64_MAX, rbuf, &err);
    CHECK(s != NULL, "no source: %s", err.msg);
    mrc_rec_view v;
    size_t i = 0;
    int rc;
    while ((rc = s->next(s, &v, &err)) == 1) {
        CHECK(i < want->n, "record %zu past the reference's %zu", i, want->n);
        const ref_rec *w = &want->v[i++];
        CHECK(v.count == w->count && v.len == w->len &&
                  (v.len == 0 || memcmp(v.key, w->key, v.len) == 0),
              "record %zu differs", i - 1);
        CHECK(v.key != NULL, "record %zu: a NULL key", i - 1);
    }
    CHECK(i == want->n, "%zu records, the reference has %zu", i, want->n);
    if (want->error == NULL) {
        CHECK(rc == 0, "an error where the reference ends: %s", err.msg);
    } else {
        CHECK(rc < 0 && err.code == MRC_EIO, "no error where the reference says it %s",
              want->error);
        char msg[128];
        snprintf(msg, sizeof msg, "%s: a spill file %s", DIR_NAME, want->error);
        CHECK(strncmp(err.msg, msg, strlen(msg)) == 0, "'%s', the reference says '%s'", err.msg,
              msg);
    }
    s->close(s);
}

static void fuzz_raw(const unsigned char *p, size_t n, enum mrc_order order, size_t rbuf)
{
    ref_run want = {0};
    ref_decode(p, n, &want);
    mrc_err err = {0};
    mrc_run_file f;
    CHECK(mrc_run_file_adopt(memfd_with(p, n), DIR_NAME, order, n, want.n, 0, NULL, &f, &err) == 0,
          "adopt: %s", err.msg);
    check_read(&f, rbuf, &want);
    mrc_run_file_close(&f);
    ref_free(&want);
}

static int count_order(const void *pa, const void *pb)
{
    const ref_rec *a = pa, *b = pb;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    size_t m = a->len < b->len ? a->len : b->len;
    int c = m ? memcmp(a->key, b->key, m) : 0;
    return c != 0 ? c : (a->len > b->len) - (a->len < b->len);
}

static int key_order(const void *pa, const void *pb)
{
    const ref_rec *a = pa, *b = pb;
    size_t m = a->len < b->len ? a->len : b->len;
    int c = m ? memcmp(a->key, b->key, m) : 0;
    return c != 0 ? c : (a->len > b->len) - (a->len < b->len);
}

/* Entries: a length byte (mod 40), the key, a count byte (0xff: eight more bytes, any count);
 * repeated keys dropped, sorted in the order, written, read back. */
static void fuzz_built(const unsigned char *p, size_t n, enum mrc_order order, size_t wbuf,
                       size_t rbuf)
{
    ref_run r = {0};
    size_t at = 0;
    while (at < n) {
        size_t len = p[at++] % 40;
        if (len > n - at) len = n - at;
        const unsigned char *key = p + at;
        at += len;
        uint64_t count = at < n ? p[at++] : 1;
        if (count == 0xff && n - at >= 8) {
            memcpy(&count, p + at, 8);
            at += 8;
        }
        ref_push(&r, count, key, (uint32_t)len);
    }
    if (r.n > 1) qsort(r.v, r.n, sizeof *r.v, key_order);
    size_t u = 0;
    for (size_t i = 0; i < r.n; i++)
        if (u > 0 && key_order(&r.v[u - 1], &r.v[i]) == 0)
            free(r.v[i].key);
        else
            r.v[u++] = r.v[i];
    r.n = u;
    if (order == MRC_ORDER_COUNT && r.n > 1) qsort(r.v, r.n, sizeof *r.v, count_order);
    mrc_err err = {0};
    mrc_run_writer *w = mrc_run_writer_open_fd(memfd_with(NULL, 0), DIR_NAME, order, wbuf, &err);
    CHECK(w != NULL, "writer: %s", err.msg);
    for (size_t i = 0; i < r.n; i++) {
        mrc_rec_view v = {0, r.v[i].count, r.v[i].key, r.v[i].len};
        CHECK(mrc_run_writer_put(w, &v, &err) == 0, "put %zu: %s", i, err.msg);
    }
    mrc_run_file f;
    CHECK(mrc_run_writer_finish(w, &f, &err) == 0, "finish: %s", err.msg);
    size_t elen;
    unsigned char *enc = ref_encode(&r, &elen);
    CHECK(f.bytes == elen && f.records == r.n, "%llu bytes, %llu records; the reference: %zu, %zu",
          (unsigned long long)f.bytes, (unsigned long long)f.records, elen, r.n);
    unsigned char *got = xmalloc(elen);
    CHECK(elen == 0 || pread(f.fd, got, elen, 0) == (ssize_t)elen, "pread");
    CHECK(elen == 0 || memcmp(got, enc, elen) == 0, "the file is not the reference's bytes");
    free(got);
    free(enc);
    check_read(&f, rbuf, &r);
    mrc_run_file_close(&f);
    ref_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t mode = data[0];
    enum mrc_order order = mode & 2 ? MRC_ORDER_KEY : MRC_ORDER_COUNT;
    size_t rbuf = bufs[mode >> 2 & 3], wbuf = bufs[mode >> 4 & 3];
    unsigned char *rest = exact_copy(data + 1, size - 1);
    if (mode & 1)
        fuzz_built(rest, size - 1, order, wbuf, rbuf);
    else
        fuzz_raw(rest, size - 1, order, rbuf);
    free(rest);
    return 0;
}
