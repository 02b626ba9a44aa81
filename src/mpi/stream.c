/* stream.c - the owners' shares reach rank 0 as streams of blocks, asked for one at a time:
 * rank 0 asks an owner for its next block only when it has received the last (the owner fills
 * the next while rank 0 uses this one), so it holds one block per owner and never the whole
 * result. Records (rank 0 merges one stream per owner: --top, spilled results) or bytes (an
 * owner's range of the output order, already lines: rank 0 appends them). An owner serves until
 * rank 0 has it all or asks no more (--top, a failure). Every wait polls the run's stop flag; an
 * owner that fails or is signalled sends its error as a block, so rank 0 never waits for data
 * that will not come. */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpi_internal.h"
#include "mrcount/mpi.h"

#define TAG_ASK 21   /* rank 0 -> owner: int 1 (the next block) or 0 (no more) */
#define TAG_BLOCK 22 /* owner -> rank 0: records (empty: the end) */
#define TAG_ERROR 23 /* owner -> rank 0: the owner's error (code, message) instead of a block */

/* Wait for a request to complete, napping, and give up when the stop flag is raised (the
 * request is cancelled). @return 0, MRC_EINTR, or an MPI failure. */
static int wait_polling(MPI_Request *req, MPI_Status *st, const mrc_stop *stop, const char *what,
                        mrc_err *err)
{
    struct timespec nap = {0, 20000};
    for (int spins = 0;; spins++) {
        int done = 0;
        int rc = MPI_Test(req, &done, st);
        if (rc != MPI_SUCCESS) return mrc_mpi_mpi_error(err, what, rc);
        if (done) return 0;
        if (mrc_stopped(stop)) {
            MPI_Cancel(req);
            MPI_Request_free(req);
            return mrc_err_set(err, MRC_EINTR, "%s: stopped", what);
        }
        if (spins > 100) nanosleep(&nap, NULL);
    }
}

/* ---- rank 0: a stream per owner ---- */

typedef struct stream_source {
    mrc_source base;
    const mrc_mpi *d;
    int owner;
    const mrc_stop *stop;
    unsigned char *buf;
    size_t cap, len, pos;
    bool ended; /* the owner sent its last (empty) block, or an error */
    bool asked; /* a request for the next block is outstanding */
    uint64_t received;
} stream_source;

static int ask(stream_source *s, int more, mrc_err *err)
{
    int rc = MPI_Send(&more, 1, MPI_INT, s->owner, TAG_ASK, MPI_COMM_WORLD);
    return rc != MPI_SUCCESS ? mrc_mpi_mpi_error(err, "MPI_Send(stream request)", rc) : 0;
}

/* The owner's next message: a block (or the empty end) into s->buf, or its error; with
 * prefetch, the next block is asked for at once. */
static int receive_block(stream_source *s, bool prefetch, mrc_err *err)
{
    MPI_Status st;
    int flag = 0;
    struct timespec nap = {0, 20000};
    for (int spins = 0; !flag; spins++) { /* probe either tag, polling the stop flag */
        int rc = MPI_Iprobe(s->owner, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
        if (rc != MPI_SUCCESS) return mrc_mpi_mpi_error(err, "MPI_Iprobe(stream)", rc);
        if (flag && st.MPI_TAG != TAG_BLOCK && st.MPI_TAG != TAG_ERROR) flag = 0;
        if (!flag && mrc_stopped(s->stop))
            return mrc_err_set(err, MRC_EINTR, "rank %d's stream: stopped", s->owner);
        if (!flag && spins > 100) nanosleep(&nap, NULL);
    }
    int n = 0;
    MPI_Get_count(&st, MPI_BYTE, &n);
    if ((size_t)n > s->cap) {
        unsigned char *b = realloc(s->buf, (size_t)n);
        if (b == NULL) return mrc_err_set(err, MRC_ENOMEM, "stream: out of memory (%d bytes)", n);
        s->buf = b;
        s->cap = (size_t)n;
    }
    int rc = MPI_Recv(s->buf, n, MPI_BYTE, s->owner, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return mrc_mpi_mpi_error(err, "MPI_Recv(stream block)", rc);
    s->asked = false;
    if (st.MPI_TAG == TAG_ERROR) { /* int code, then the message */
        s->ended = true;
        int code = MRC_EIO;
        if (n >= (int)sizeof code) memcpy(&code, s->buf, sizeof code);
        int len = n - (int)sizeof code;
        if (err->code != 0) return err->code; /* an error of its own came first */
        mrc_err_set(err, code != 0 ? code : MRC_EIO, "rank %d: %.*s", s->owner,
                    len < 0     ? 0
                    : len > 400 ? 400
                                : len,
                    (const char *)s->buf + sizeof code);
        err->relayed = true; /* a signal that stopped the owner stops the run as one (EINTR) */
        return err->code;
    }
    s->len = (size_t)n;
    s->pos = 0;
    s->received += (uint64_t)n;
    if (n == 0) {
        s->ended = true;
        return 0;
    }
    if (!prefetch) return 0;
    /* ask for the next block at once: the owner fills it while this one is merged */
    if (ask(s, 1, err) != 0) return -1;
    s->asked = true;
    return 0;
}

static int stream_next(mrc_source *src, mrc_rec_view *r, mrc_err *err)
{
    stream_source *s = (stream_source *)(void *)src;
    while (s->pos >= s->len) {
        if (s->ended) return 0;
        if (!s->asked) {
            int rc = ask(s, 1, err);
            if (rc != 0) return -1;
            s->asked = true;
        }
        if (receive_block(s, true, err) != 0) return -1;
    }
    if (s->len - s->pos < MRC_REC_HEAD ||
        s->len - s->pos - MRC_REC_HEAD < mrc_rec_len(s->buf + s->pos)) {
        mrc_err_set(err, MRC_EINVAL, "rank %d's stream: a block ends inside a record", s->owner);
        return -1;
    }
    const unsigned char *rec = s->buf + s->pos;
    r->hash = 0;
    r->count = mrc_rec_count(rec);
    r->len = mrc_rec_len(rec);
    r->key = mrc_rec_key(rec);
    s->pos += MRC_REC_HEAD + r->len;
    return 1;
}

static void stream_close(mrc_source *src)
{
    stream_source *s = (stream_source *)(void *)src;
    mrc_err e = {0};
    /* An owner still serving waits for a request: tell it there is no more (a block it is
     * sending now is received and dropped first). */
    if (!s->ended && s->asked) receive_block(s, false, &e);
    if (!s->ended) ask(s, 0, &e);
    free(s->buf);
    free(s);
}

void mrc_mpi_stream_decline(int owner)
{
    int more = 0;
    (void)MPI_Send(&more, 1, MPI_INT, owner, TAG_ASK, MPI_COMM_WORLD);
}

int mrc_mpi_stream_block(mrc_source *src, const unsigned char **p, size_t *n, mrc_err *err)
{
    stream_source *s = (stream_source *)(void *)src;
    *p = NULL;
    *n = 0;
    if (s->ended) return 0;
    if (!s->asked) {
        if (ask(s, 1, err) != 0) return -1;
        s->asked = true;
    }
    if (receive_block(s, true, err) != 0) return -1;
    if (s->ended) return 0;
    *p = s->buf;
    *n = s->len;
    s->pos = s->len;
    return 1;
}

mrc_source *mrc_mpi_stream_source(const mrc_mpi *d, int owner, const mrc_stop *stop, mrc_err *err)
{
    stream_source *s = calloc(1, sizeof *s);
    if (s == NULL) {
        mrc_err_set(err, MRC_ENOMEM, "stream: out of memory");
        return NULL;
    }
    s->base.next = stream_next;
    s->base.close = stream_close;
    s->d = d;
    s->owner = owner;
    s->stop = stop;
    return &s->base;
}

/* ---- an owner ---- */

/* Tell rank 0 why this owner's stream ends early: the error's code, then its message. */
static void send_error(const mrc_err *e)
{
    const char *msg = e->msg[0] ? e->msg : "the stream failed";
    unsigned char buf[sizeof(int) + MRC_ERR_MSG_MAX];
    int code = e->code != 0 ? e->code : MRC_EIO;
    size_t len = strnlen(msg, MRC_ERR_MSG_MAX);
    memcpy(buf, &code, sizeof code);
    memcpy(buf + sizeof code, msg, len);
    MPI_Send(buf, (int)(sizeof code + len), MPI_BYTE, 0, TAG_ERROR, MPI_COMM_WORLD);
}

/* What an owner serves: the next block's bytes at *p (*n 0: the end). @return 0, or nonzero
 * with err filled. */
typedef int (*fill_fn)(void *arg, const unsigned char **p, size_t *n, mrc_err *err);

/* Answer rank 0's requests with blocks from fill until the end is sent or rank 0 asks no more. */
static int serve(const mrc_stop *stop, fill_fn fill, void *arg, uint64_t *sent, mrc_err *err)
{
    int rc = 0;
    while (rc == 0) {
        int more = 0;
        MPI_Request req;
        MPI_Status st;
        if (mrc_stopped(stop)) { /* signalled: stop serving now, rank 0 learns why */
            rc = mrc_err_set(err, MRC_EINTR, "the stream to rank 0: stopped");
            break;
        }
        rc = MPI_Irecv(&more, 1, MPI_INT, 0, TAG_ASK, MPI_COMM_WORLD, &req);
        if (rc != MPI_SUCCESS) {
            rc = mrc_mpi_mpi_error(err, "MPI_Irecv(stream request)", rc);
            break;
        }
        rc = wait_polling(&req, &st, stop, "the stream to rank 0", err);
        if (rc != 0) break;
        if (!more) break; /* rank 0 has what it needs */
        const unsigned char *p = NULL;
        size_t len = 0;
        if ((rc = fill(arg, &p, &len, err)) != 0) break;
        if (len > (size_t)0x7fffffff) {
            rc = mrc_err_set(err, MRC_EOVERFLOW, "stream: a record of over 2 GiB");
            break;
        }
        rc = MPI_Send(p, (int)len, MPI_BYTE, 0, TAG_BLOCK, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) {
            rc = mrc_mpi_mpi_error(err, "MPI_Send(stream block)", rc);
            break;
        }
        *sent += len;
        if (len == 0) break; /* the end was sent */
    }
    if (rc != 0 && rc != MRC_EMPI) send_error(err);
    return rc;
}

/* Records packed into blocks of about `cap` bytes (a larger record alone). */
typedef struct rec_fill {
    mrc_source *src;
    unsigned char *buf;
    size_t cap;
    mrc_rec_view r;
    bool have; /* r holds a record that did not fit the last block */
    bool end;
} rec_fill;

static int fill_records(void *arg, const unsigned char **p, size_t *n, mrc_err *err)
{
    rec_fill *f = arg;
    size_t len = 0;
    while (!f->end) {
        if (!f->have) {
            int got = f->src->next(f->src, &f->r, err);
            if (got < 0) return err->code ? err->code : MRC_EIO;
            if (got == 0) {
                f->end = true;
                break;
            }
            f->have = true;
        }
        size_t need = MRC_REC_HEAD + (size_t)f->r.len;
        if (f->cap - len < need) {
            if (len > 0) break;                       /* the next block starts with it */
            unsigned char *b = realloc(f->buf, need); /* a record bigger than a block */
            if (b == NULL)
                return mrc_err_set(err, MRC_ENOMEM, "stream: out of memory (%zu bytes)", need);
            f->buf = b;
            f->cap = need;
        }
        len += mrc_rec_put(f->buf + len, f->r.count, f->r.key, f->r.len);
        f->have = false;
    }
    *p = f->buf;
    *n = len;
    return 0;
}

int mrc_mpi_stream_serve(const mrc_mpi *d, mrc_source *src, size_t block, const mrc_stop *stop,
                         uint64_t *sent, mrc_err *err)
{
    (void)d;
    *sent = 0;
    if (src == NULL) { /* this owner has nothing to serve but its error */
        send_error(err);
        return err->code ? err->code : MRC_EIO;
    }
    rec_fill f = {.src = src, .buf = malloc(block), .cap = block};
    if (f.buf == NULL) {
        mrc_err_set(err, MRC_ENOMEM, "stream: out of memory (%zu bytes)", block);
        send_error(err);
        return MRC_ENOMEM;
    }
    int rc = serve(stop, fill_records, &f, sent, err);
    free(f.buf);
    return rc;
}

/* A buffer's bytes in slices of `block`, sent from where they are. */
typedef struct bytes_fill {
    const unsigned char *buf;
    size_t len, pos, block;
} bytes_fill;

static int fill_bytes(void *arg, const unsigned char **p, size_t *n, mrc_err *err)
{
    (void)err;
    bytes_fill *f = arg;
    size_t left = f->len - f->pos;
    *p = f->buf + f->pos;
    *n = left < f->block ? left : f->block;
    f->pos += *n;
    return 0;
}

int mrc_mpi_stream_serve_bytes(const mrc_mpi *d, const unsigned char *buf, size_t len, size_t block,
                               const mrc_stop *stop, uint64_t *sent, mrc_err *err)
{
    (void)d;
    *sent = 0;
    if (buf == NULL) { /* nothing to serve but the error */
        send_error(err);
        return err->code ? err->code : MRC_EIO;
    }
    bytes_fill f = {buf, len, 0, block ? block : 1};
    return serve(stop, fill_bytes, &f, sent, err);
}

int mrc_mpi_stream_serve_fill(const mrc_mpi *d, fill_fn fill, void *arg, const mrc_stop *stop,
                              uint64_t *sent, mrc_err *err)
{
    (void)d;
    *sent = 0;
    return serve(stop, fill, arg, sent, err);
}
