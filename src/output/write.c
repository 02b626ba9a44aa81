/* write.c - the result as text: sorted slices (merged on the fly) or streams already in output
 * order become `key TAB count` lines in blocks, formatted on the rank's threads; a regular file
 * is written at known offsets into a temporary renamed into place, anything else in order.
 * It must never leave a partial result under the final name (a descriptor it writes through,
 * standard output or /dev/fd/N, keeps what it got: that cannot be taken back), never print,
 * and never hold more than one block per thread. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mrcount/runtime.h"
#include "output_internal.h"

#define OUT_BLOCK_MIN 64     /* a block always holds a count line */
/* Refs ahead whose records (both lines a short one may span) are fetched while formatting:
 * 15 M lines of a table in random order to /dev/null, one thread, 5 interleaved rounds: the
 * first line 8 ahead 0.50-0.63 s (median 0.52), both 16 ahead 0.30-0.54 (0.33). */
#define OUT_PREFETCH 16
#define OUT_CHUNK_SAMPLES 64 /* records sampled for the average line of an in-order chunk */
#define OUT_PEER_FAILED (-1) /* errnum of a writer stopped because another one failed */

static size_t block_bytes; /* 0: OUT_BLOCK_DEFAULT */
/* Off by default (mrc_output_set_sync()): 30 M lines (420 MB) on the 2-core VM, output phase
 * 1.10 -> 0.97 s at 1 x 1 and 0.84 -> 0.56 s at 1 x 2 without them (4 interleaved rounds), the
 * difference being the disk's write speed: a durable result cannot be written faster. */
static bool durable_fsync = false, write_behind = false;

void mrc_out_set_durability(bool fsync, bool behind)
{
    durable_fsync = fsync;
    write_behind = behind;
}

void mrc_output_set_sync(bool on)
{
    mrc_out_set_durability(on, on);
}

void mrc_output_set_block_size(size_t bytes)
{
    block_bytes = bytes == 0 ? 0 : bytes < OUT_BLOCK_MIN ? OUT_BLOCK_MIN : bytes;
}

size_t mrc_out_block_size(void)
{
    return block_bytes != 0 ? block_bytes : OUT_BLOCK_DEFAULT;
}

char *mrc_out_decimal(uint64_t v, char *end)
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

static const mrc_stop *out_stop; /* mrc_output_set_stop() */
#define OUT_WAIT_MS 100          /* a wait on a reader looks at out_stop this often */

void mrc_output_set_stop(const mrc_stop *stop)
{
    out_stop = stop;
}

int mrc_out_write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR && !mrc_stopped(out_stop)) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                /* non-blocking (a FIFO or pipe of ours, or a parent's descriptor): wait until
                 * it takes more, as a blocking one would, unless the run is stopped */
                struct pollfd pf = {.fd = fd, .events = POLLOUT};
                if (mrc_stopped(out_stop)) return EINTR;
                if (poll(&pf, 1, OUT_WAIT_MS) >= 0 || errno == EINTR) continue;
            }
            return errno;
        }
        if (w == 0) return EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- destinations ---- */

static uint64_t behind_window = OUT_WRITE_BEHIND;

void mrc_output_set_write_behind(uint64_t bytes)
{
    behind_window = bytes != 0 ? bytes : OUT_WRITE_BEHIND;
}

static int pwrite_all(int fd, const unsigned char *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return errno;
        if (w == 0) return EIO;
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static int behind(mrc_out_dest *d, size_t n);

/* A placed destination: p[0, n) at d->pos, in the body written, in the edges kept. */
static int put_placed(mrc_out_dest *d, const unsigned char *p, size_t n)
{
    uint64_t pos = d->pos, end = pos + n;
    if (end > d->end) return ERANGE; /* more lines than their length said: a bug, never a file */
    d->pos = end;
    while (pos < end) {
        uint64_t k;
        int e = 0;
        if (pos < d->body_from) {
            k = (end < d->body_from ? end : d->body_from) - pos;
            memcpy(d->edges + (pos - d->at), p, (size_t)k);
        } else if (pos < d->body_to) { /* written in order from body_from: d->written */
            k = (end < d->body_to ? end : d->body_to) - pos;
            e = pwrite_all(d->fd, p, (size_t)k, pos);
            if (e == 0 && write_behind) e = behind(d, (size_t)k);
        } else {
            k = end - pos;
            memcpy(d->edges + (d->body_from - d->at) + (pos - d->body_to), p, (size_t)k);
        }
        if (e != 0) return e;
        p += k;
        pos += k;
    }
    return 0;
}

int mrc_out_dest_put(mrc_out_dest *d, const unsigned char *p, size_t n)
{
    if (d->placed) return put_placed(d, p, n);
    if (d->in_memory) {
        if (d->mem_cap - d->mem_len < n) {
            size_t cap = d->mem_cap + (d->mem_cap >> 1) + n;
            unsigned char *m = realloc(d->mem, cap);
            if (m == NULL) return ENOMEM;
            d->mem = m;
            d->mem_cap = cap;
        }
        memcpy(d->mem + d->mem_len, p, n);
        d->mem_len += n;
        return 0;
    }
    int e = mrc_out_write_all(d->fd, p, n);
    if (e != 0 || !d->regular || !write_behind) return e;
    return behind(d, n);
}

/* The write-behind of mrc_out_dest_put(): n bytes just written at d->written. */
static int behind(mrc_out_dest *d, size_t n)
{
    /* Hints only: a file system that cannot do them loses nothing but their gain. */
    (void)sync_file_range(d->fd, (off_t)d->written, (off_t)n, SYNC_FILE_RANGE_WRITE);
    d->written += n;
    uint64_t win = behind_window;
    while (d->written - d->retired >= 2 * win) {
        if (sync_file_range(d->fd, (off_t)d->retired, (off_t)win,
                            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                SYNC_FILE_RANGE_WAIT_AFTER) != 0 &&
            errno == EIO)
            return EIO; /* a write the disk refused: fsync would report it too, later */
        (void)posix_fadvise(d->fd, (off_t)d->retired, (off_t)win, POSIX_FADV_DONTNEED);
        d->retired += win;
    }
    return 0;
}

/* A FIFO opened for writing, non-blocking: with no reader yet (ENXIO) waited for, as a
 * blocking open waits, until the run is stopped (EINTR). @return the descriptor, or -1 with
 * errno set. */
static int open_fifo(const char *path)
{
    for (;;) {
        int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd >= 0 || errno != ENXIO) return fd;
        if (mrc_stopped(out_stop)) {
            errno = EINTR;
            return -1;
        }
        (void)poll(NULL, 0, OUT_WAIT_MS);
    }
}

static int dest_open(mrc_out_dest *d, const char *path, mrc_err *err)
{
    *d = (mrc_out_dest){.path = path, .label = path, .fd = -1};
    int own = mrc_output_fd(path);
    if (own >= 0) { /* written through the descriptor: never renamed over */
        d->label = mrc_output_label(path);
        if (own == STDOUT_FILENO) fflush(stdout); /* whatever stdio holds goes first */
        int fl = fcntl(own, F_GETFL);
        if (!mrc_fd_given(own) || fl < 0 || (fl & O_ACCMODE) == O_RDONLY)
            return mrc_err_errno(err, EBADF, "%s", d->label);
        d->fd = own;
        d->borrowed = true;
        struct stat st;
        char proc[32];
        if (fstat(own, &st) == 0 && S_ISFIFO(st.st_mode) &&
            snprintf(proc, sizeof proc, "/proc/self/fd/%d", own) < (int)sizeof proc) {
            /* a pipe: a description of our own, non-blocking, so that a reader that stops
             * reading cannot hold a stopped run (mrc_output_set_stop()); without /proc, or
             * with the reader gone (ENXIO), the given one */
            int fd = open(proc, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
            if (fd >= 0) {
                d->fd = fd;
                d->borrowed = false;
            }
        }
        return 0;
    }
    struct stat st;
    if ((d->resolved = mrc_link_target(path)) != NULL)
        d->path = path = d->resolved; /* a rename over the link would replace the link */
    else if (errno != 0) /* a link to nothing that can be made: never replace the link */
        return mrc_err_errno(err, errno, "%s (a symbolic link)", path);
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return mrc_err_errno(err, EISDIR, "%s", path);
        if (!S_ISREG(st.st_mode)) { /* a device or a FIFO: a rename would replace the node */
            d->fd = S_ISFIFO(st.st_mode) ? open_fifo(path)
                                         : open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
            return d->fd < 0 ? mrc_err_errno(err, errno, "%s", path) : 0;
        }
        d->keep_mode = true; /* set at the close: the other ranks open it for writing first */
        d->mode = st.st_mode & 07777;
    }
    d->tmp = mrc_temp_path(path);
    if (d->tmp == NULL) return mrc_err_errno(err, ENOMEM, "%s", path);
    /* a new file gets what a shell's > gives it (0666 less the umask) */
    d->fd = open(d->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (d->fd < 0 && errno == EEXIST) {
        /* left by a dead process that had our pid; nobody else writes this name */
        if (unlink(d->tmp) == 0)
            d->fd = open(d->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        else
            errno = EEXIST;
    }
    if (d->fd < 0) {
        int e = errno;
        free(d->tmp);
        d->tmp = NULL;
        return mrc_err_errno(err, e, "%s", path);
    }
    d->regular = true;
    return 0;
}

int mrc_out_dest_open(mrc_out_dest *d, const char *path, mrc_err *err)
{
    int rc = dest_open(d, path, err);
    if (rc != 0) {
        free(d->resolved);
        d->resolved = NULL;
    }
    return rc;
}

const char *mrc_output_label(const char *path)
{
    return path == NULL || strcmp(path, "-") == 0 ? "standard output" : path;
}

/* path (through links) is a device or a FIFO: written in place, never made. */
static bool names_a_node(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

int mrc_output_probe(const char *path, mrc_err *err)
{
    if (strcmp(path, "-") == 0) return 0;
    /* a device or FIFO is not opened (a FIFO would wait); a descriptor's path is (given to us,
     * open for writing: dest_open() checks, and nothing is made) */
    if (mrc_path_fd(path) < 0 && names_a_node(path)) return 0;
    mrc_out_dest d;
    int rc = mrc_out_dest_open(&d, path, err); /* a link is resolved and checked there */
    if (rc == 0) (void)mrc_out_dest_close(&d, MRC_EIO, err); /* the temporary removed */
    return rc;
}

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

int mrc_out_dest_close(mrc_out_dest *d, int rc, mrc_err *err)
{
    int e = 0;
    char *resolved = d->resolved; /* d->path may point at it: freed last */
    d->resolved = NULL;
    if (d->tmp != NULL) {
        if (rc == 0 && durable_fsync && fsync(d->fd) != 0) e = errno;
        /* a replaced file keeps its permissions, as one a shell's > truncates does; a bit that
         * cannot be set (set-group-ID, not in the group) or a file system without them loses
         * nothing else */
        if (rc == 0 && e == 0 && d->keep_mode && fchmod(d->fd, d->mode) != 0)
            (void)fchmod(d->fd, d->mode & 0777);
        if (close(d->fd) != 0 && e == 0) e = errno;
        if (rc == 0 && e == 0 && rename(d->tmp, d->path) != 0) e = errno;
        if (rc != 0 || e != 0)
            unlink(d->tmp);
        else if (durable_fsync)
            sync_parent_dir(d->path);
        free(d->tmp);
        d->tmp = NULL;
    } else if (d->fd >= 0 && !d->borrowed) {
        if (close(d->fd) != 0 && e == 0) e = errno;
    } else if (d->fd >= 0 && rc == 0 && durable_fsync) { /* a file behind /dev/stdout: --sync */
        struct stat st;
        if (fstat(d->fd, &st) == 0 && S_ISREG(st.st_mode) && fsync(d->fd) != 0) e = errno;
    }
    d->fd = -1;
    if (rc == 0 && e != 0) rc = mrc_err_errno(err, e, "%s", d->label);
    free(resolved);
    return rc;
}

/* ---- lines into blocks ---- */

typedef struct line_out line_out;
struct line_out {
    unsigned char *buf;
    size_t len, cap;
    /* Writes p[0, n) out at the writer's place. @return 0 or an errno value. */
    int (*put)(line_out *w, const unsigned char *p, size_t n);
    const mrc_stop *stop;
    int errnum; /* the first error: EINTR for a stop, OUT_PEER_FAILED */
    void *arg;  /* the turn, or the destination (put_in_order) */
};

static int line_out_flush(line_out *w)
{
    if (w->errnum == 0 && mrc_stopped(w->stop)) w->errnum = EINTR;
    if (w->errnum == 0 && w->len > 0) w->errnum = w->put(w, w->buf, w->len);
    w->len = 0;
    return w->errnum;
}

/* Append one line. 5 M lines "key<n>x\t1" from sorted refs to /dev/null, one thread: 28-30 ns
 * of CPU a line, 17-24 of them reading the records in sorted order (the same loop summing
 * line lengths instead); 30 M lines: 45-50 ns a line read. @return 0 or the writer's error. */
static inline int line_out_add(line_out *w, const unsigned char *key, size_t len, uint64_t count)
{
    if (w->cap - w->len < len + OUT_LINE_EXTRA) {
        if (line_out_flush(w) != 0) return w->errnum;
        if (len + OUT_LINE_EXTRA > w->cap) { /* a huge key: straight out */
            w->errnum = w->put(w, key, len);
            if (w->errnum != 0) return w->errnum;
            len = 0;
        }
    }
    memcpy(w->buf + w->len, key, len);
    w->len += len;
    unsigned nd = mrc_out_digits(count);
    w->buf[w->len] = '\t';
    mrc_out_decimal(count, (char *)w->buf + w->len + 1 + nd);
    w->buf[w->len + 1 + nd] = '\n';
    w->len += 2 + (size_t)nd;
    return 0;
}

static inline int line_out_rec(line_out *w, const unsigned char *rec)
{
    return line_out_add(w, mrc_rec_key(rec), mrc_rec_len(rec), mrc_rec_count(rec));
}

static int put_in_order(line_out *w, const unsigned char *p, size_t n)
{
    return mrc_out_dest_put(w->arg, p, n);
}

/* A writer's error as the thread reports it: a stop or a failed write names the destination;
 * one that only follows another's failure is a stop, so mrc_run_tasks() reports the cause. */
static int report(const line_out *w, const char *label, mrc_err *err)
{
    if (w->errnum == OUT_PEER_FAILED) return mrc_err_set(err, MRC_EINTR, "%s: stopped", label);
    return mrc_err_errno(err, w->errnum, "%s", label);
}

/* Run fn on t threads of pl (t > 1), or on the calling thread. */
static int run_tasks(mrc_topo *topo, const mrc_placement *pl, size_t t, mrc_task_fn fn, void *arg,
                     mrc_err *err)
{
    if (t > 1) return mrc_run_tasks(topo, pl, fn, arg, err);
    atomic_int failed = 0;
    return fn(0, arg, &failed, err);
}

/* ---- sorted refs as lines: chunks formatted ahead, written in turn ----
 * The lines are cut into chunks of about a block; thread i formats chunks i, i+T, ... and the
 * chunks go out in order, each thread writing its own when its turn comes: while one writes
 * (the kernel copy, which a file's lock serializes anyway), the others format. A first pass
 * summing line lengths would let threads pwrite() shares at known offsets instead, but it
 * reads every record once more: 30 M lines on 2 threads took 4.5-5.2 s of CPU that way, 3.8-5.0
 * in turn (3 runs each, machine shared). */

typedef struct turn_job {
    const mrc_out_sorted *s;
    const mrc_output_opts *o;
    const char *label;
    size_t t;
    uint64_t lines, chunk;
    mrc_out_dest *dest;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t turn; /* the chunk whose bytes go out now */
    bool aborted;  /* a writer failed: nobody waits any more */
} turn_job;

typedef struct turn_state {
    turn_job *job;
    uint64_t chunk;
    bool mine; /* this thread holds the turn */
} turn_state;

static int take_turn(turn_state *ts)
{
    if (ts->mine) return 0;
    turn_job *j = ts->job;
    pthread_mutex_lock(&j->mu);
    while (j->turn != ts->chunk && !j->aborted)
        pthread_cond_wait(&j->cv, &j->mu);
    bool aborted = j->aborted;
    pthread_mutex_unlock(&j->mu);
    if (aborted) return OUT_PEER_FAILED;
    ts->mine = true;
    return 0;
}

static void pass_turn(turn_job *j, uint64_t next, bool abort)
{
    pthread_mutex_lock(&j->mu);
    if (abort)
        j->aborted = true;
    else
        j->turn = next;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static int put_in_turn(line_out *w, const unsigned char *p, size_t n)
{
    turn_state *ts = w->arg;
    int e = take_turn(ts);
    return e != 0 ? e : mrc_out_dest_put(ts->job->dest, p, n); /* the turn's holder only */
}

static int turns_write(size_t ti, void *arg, atomic_int *failed, mrc_err *err)
{
    (void)failed;
    turn_job *j = arg;
    const mrc_out_ref *refs = j->s->refs;
    turn_state ts = {j, 0, false};
    line_out w = {.cap = mrc_out_block_size(), .put = put_in_turn, .stop = j->o->stop, .arg = &ts};
    w.buf = malloc(w.cap);
    if (w.buf == NULL) {
        pass_turn(j, 0, true);
        return mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", j->label);
    }
    uint64_t chunks = (j->lines + j->chunk - 1) / j->chunk;
    for (uint64_t c = ti; c < chunks && w.errnum == 0; c += j->t) {
        size_t i = (size_t)(c * j->chunk), end = (size_t)(c * j->chunk + j->chunk);
        if (end > j->lines) end = (size_t)j->lines;
        for (size_t q = i; q < i + OUT_PREFETCH && q < end; q++)
            mrc_rec_prefetch(refs[q].rec);
        ts.chunk = c;
        ts.mine = false;
        for (; i < end; i++) {
            if (i + OUT_PREFETCH < end) mrc_rec_prefetch(refs[i + OUT_PREFETCH].rec);
            if (line_out_rec(&w, refs[i].rec) != 0) break;
        }
        if (w.errnum == 0) line_out_flush(&w);
        if (w.errnum == 0) w.errnum = take_turn(&ts); /* a chunk whose bytes all went out */
        if (w.errnum == 0 && j->o->written != NULL) j->o->written(j->o->written_arg, end);
        if (w.errnum == 0) pass_turn(j, c + 1, false);
    }
    if (w.errnum != 0 && w.errnum != OUT_PEER_FAILED) pass_turn(j, 0, true);
    free(w.buf);
    return w.errnum != 0 ? report(&w, j->label, err) : 0;
}

/* Lines per chunk: about a block of text, from the average line of a sample of the records. */
static uint64_t chunk_lines(const mrc_out_sorted *s, uint64_t lines)
{
    uint64_t bytes = 0, seen = 0, step = lines / OUT_CHUNK_SAMPLES + 1;
    for (uint64_t i = 0; i < lines; i += step, seen++)
        bytes += mrc_out_line_len(s->refs[i].rec);
    uint64_t avg = seen != 0 ? bytes / seen + 1 : 1, c = mrc_out_block_size() / avg;
    return c < 1 ? 1 : c;
}

/* s's lines (the first o->top) to an open destination, formatted on the threads in turn. */
static int lines_to(const mrc_out_sorted *s, const mrc_output_opts *o, mrc_topo *topo,
                    const mrc_placement *pl, mrc_out_dest *d, const char *label, mrc_err *err)
{
    enum mrc_order want = o->sort == MRC_SORT_KEY ? MRC_ORDER_KEY : MRC_ORDER_COUNT;
    if (s->order != want)
        return mrc_err_set(err, MRC_EINVAL, "%s: the records are sorted in another order", label);
    turn_job j = {.s = s, .o = o, .label = label, .dest = d};
    j.lines = o->top != 0 && o->top < s->records ? o->top : s->records;
    j.chunk = chunk_lines(s, j.lines);
    j.t = topo != NULL && pl != NULL && pl->nthreads > 1 ? pl->nthreads : 1;
    int rc;
    if (pthread_mutex_init(&j.mu, NULL) != 0)
        return mrc_err_set(err, MRC_ENOMEM, "%s: cannot create a mutex", label);
    if (pthread_cond_init(&j.cv, NULL) != 0) {
        rc = mrc_err_set(err, MRC_ENOMEM, "%s: cannot create a condition variable", label);
    } else {
        rc = run_tasks(topo, pl, j.t, turns_write, &j, err);
        pthread_cond_destroy(&j.cv);
    }
    pthread_mutex_destroy(&j.mu);
    /* no lines: nothing was written, but a stop still ends the write */
    if (rc == 0 && j.lines == 0 && mrc_stopped(o->stop))
        rc = mrc_err_errno(err, EINTR, "%s", label);
    return rc;
}

/* o->tail's blocks after the lines, until it ends. */
static int tail_to(const mrc_output_opts *o, mrc_out_dest *d, mrc_err *err)
{
    const unsigned char *p;
    size_t n;
    int got;
    while ((got = o->tail(o->tail_arg, &p, &n, err)) > 0) {
        int e = mrc_stopped(o->stop) ? EINTR : mrc_out_dest_put(d, p, n);
        if (e != 0) return mrc_err_errno(err, e, "%s", d->label);
    }
    return got < 0 ? (err->code != 0 ? err->code : MRC_EIO) : 0;
}

int mrc_output_write_sorted(const mrc_out_sorted *s, const mrc_output_opts *o, mrc_topo *topo,
                            const mrc_placement *pl, mrc_err *err)
{
    const char *path = o->path != NULL ? o->path : "-";
    mrc_out_dest d;
    int rc = mrc_out_dest_open(&d, path, err);
    if (rc != 0) return rc;
    rc = lines_to(s, o, topo, pl, &d, d.label, err);
    if (rc == 0 && o->tail != NULL) rc = tail_to(o, &d, err);
    return mrc_out_dest_close(&d, rc, err);
}

int mrc_output_format_sorted(const mrc_out_sorted *s, const mrc_output_opts *o, mrc_topo *topo,
                             const mrc_placement *pl, size_t hint, unsigned char **buf, size_t *len,
                             mrc_err *err)
{
    *buf = NULL;
    *len = 0;
    mrc_out_dest d = {.label = "output range", .fd = -1, .in_memory = true};
    d.mem_cap = hint ? hint : 1;
    d.mem = malloc(d.mem_cap); /* pages past the lines are never touched: they cost nothing */
    if (d.mem == NULL) return mrc_err_set(err, MRC_ENOMEM, "output range: out of memory");
    mrc_advise_huge(d.mem, d.mem_cap); /* new pages, 10x faster on 2 MiB pages in this VM */
    int rc = lines_to(s, o, topo, pl, &d, d.label, err);
    if (rc != 0) {
        free(d.mem);
        return rc;
    }
    *buf = d.mem;
    *len = d.mem_len;
    return 0;
}

/* ---- one result written at known offsets by several processes ---- */

struct mrc_out_file {
    mrc_out_dest d;
};

int mrc_output_file_open(const char *path, uint64_t size, mrc_out_file **f, mrc_err *err)
{
    *f = NULL; /* a device or FIFO is not even opened here (a FIFO's reader would see its end
                * when it is closed again) */
    if (strcmp(path, "-") == 0 || mrc_output_fd(path) >= 0 || names_a_node(path)) return 0;
    *f = calloc(1, sizeof **f);
    if (*f == NULL) return mrc_err_errno(err, ENOMEM, "%s", path);
    mrc_out_dest *d = &(*f)->d;
    int rc = mrc_out_dest_open(d, path, err);
    if (rc == 0 && !d->regular) { /* written in place, in order: by one process */
        rc = mrc_out_dest_close(d, 0, err);
        free(*f);
        *f = NULL;
        return rc;
    }
    if (rc == 0 && ftruncate(d->fd, (off_t)size) != 0) {
        rc = mrc_err_errno(err, errno, "%s", d->label);
        (void)mrc_out_dest_close(d, rc, err);
    }
    if (rc != 0) {
        free(*f);
        *f = NULL;
    }
    return rc;
}

int mrc_output_file_fd(const mrc_out_file *f)
{
    return f->d.fd;
}

const char *mrc_output_file_tmp(const mrc_out_file *f)
{
    return f->d.tmp;
}

int mrc_output_file_put(mrc_out_file *f, const unsigned char *p, size_t n, uint64_t at,
                        mrc_err *err)
{
    int e = pwrite_all(f->d.fd, p, n, at);
    return e != 0 ? mrc_err_errno(err, e, "%s", f->d.label) : 0;
}

int mrc_output_file_close(mrc_out_file *f, uint64_t size, int rc, mrc_err *err)
{
    if (f == NULL) return rc;
    if (rc == 0 && ftruncate(f->d.fd, (off_t)size) != 0)
        rc = mrc_err_errno(err, errno, "%s", f->d.label);
    rc = mrc_out_dest_close(&f->d, rc, err);
    free(f);
    return rc;
}

void mrc_output_edges(uint64_t at, uint64_t bytes, uint64_t page, uint64_t *head, uint64_t *tail)
{
    *head = *tail = 0;
    if (page == 0 || bytes == 0) return;
    uint64_t end = at + bytes, from = (at + page - 1) / page * page, to = end / page * page;
    if (from < to) {
        *head = from - at;
        *tail = end - to;
    } else { /* no whole page of its own */
        *head = bytes;
    }
}

/* A placed destination: `bytes` of lines at `at` of fd, the first `head` and last `tail` of them
 * kept in edges (the caller allocates them), the rest written. */
static mrc_out_dest placed_dest(const char *label, int fd, uint64_t at, uint64_t bytes,
                                uint64_t head, uint64_t tail)
{
    return (mrc_out_dest){.path = label,
                          .label = label,
                          .fd = fd,
                          .placed = true,
                          .at = at,
                          .pos = at,
                          .body_from = at + head,
                          .body_to = at + bytes - tail,
                          .end = at + bytes,
                          .written = at + head,
                          .retired = at + head};
}

/* w's destination, its edges allocated. @return 0, or nonzero with err filled. */
static int placed_open(mrc_out_at *w, mrc_out_dest *d, mrc_err *err)
{
    uint64_t head, tail;
    mrc_output_edges(w->at, w->bytes, w->page, &head, &tail);
    w->edges = NULL;
    w->edges_len = (size_t)(head + tail);
    *d = placed_dest(w->label, w->fd, w->at, w->bytes, head, tail);
    if (w->edges_len != 0 && (d->edges = malloc(w->edges_len)) == NULL)
        return mrc_err_errno(err, ENOMEM, "%s", w->label);
    return 0;
}

/* The end of w's lines written to d (rc: the writing's): all of them there, durable when
 * asked; the edges kept in w, or freed on a failure. */
static int placed_close(mrc_out_at *w, mrc_out_dest *d, int rc, mrc_err *err)
{
    if (rc == 0 && d->pos != d->end)
        rc = mrc_err_set(err, MRC_EIO, "%s: %llu bytes of lines, %llu expected", w->label,
                         (unsigned long long)(d->pos - d->at), (unsigned long long)w->bytes);
    if (rc == 0 && durable_fsync && fsync(w->fd) != 0)
        rc = mrc_err_errno(err, errno, "%s", w->label);
    if (rc != 0) {
        free(d->edges);
        return rc;
    }
    w->edges = d->edges;
    return 0;
}

int mrc_output_write_sorted_at(const mrc_out_sorted *s, const mrc_output_opts *o, mrc_topo *topo,
                               const mrc_placement *pl, mrc_out_at *w, mrc_err *err)
{
    mrc_out_dest d;
    int rc = placed_open(w, &d, err);
    if (rc == 0) rc = lines_to(s, o, topo, pl, &d, w->label, err);
    return placed_close(w, &d, rc, err);
}

int mrc_output_write_records(mrc_out_ref *refs, size_t n, const mrc_output_opts *o, mrc_topo *topo,
                             const mrc_placement *pl, mrc_err *err)
{
    const char *path = o->path != NULL ? o->path : "-";
    struct stat st; /* refuse a directory before doing any work */
    if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return mrc_err_errno(err, EISDIR, "%s", path);
    mrc_out_sorted s;
    int rc = mrc_output_sort(refs, n, o->sort == MRC_SORT_KEY ? MRC_ORDER_KEY : MRC_ORDER_COUNT,
                             o->top, topo, pl, o->stop, &s, err);
    return rc != 0 ? rc : mrc_output_write_sorted(&s, o, topo, pl, err);
}

/* ---- streams already in order: a k-way merge on the calling thread ---- */

typedef struct stream_merge {
    mrc_source *const *streams;
    size_t n, leaves;
    mrc_rec_view *head; /* per leaf; valid while its code is not MRC_OVC_END */
    uint64_t *code;     /* per leaf: its offset-value code (table.h), MRC_OVC_END once ended */
    size_t *tree; /* tree[0]: the winner; tree[1, leaves): losers */
    enum mrc_order order;
} stream_merge;

/* The match of leaves x and y, coded against one base (the last line, or the empty string while
 * the tree is built): whether x wins; the loser is coded against the winner. Heads of streams in
 * one order share long prefixes: 4 M keys key<n>x dealt to 16-256 streams were merged and
 * formatted (from memory, one core) in 0.84-0.91x the time of comparing keys at every match;
 * 2 streams, the same time. */
static inline bool stream_beats(stream_merge *m, size_t x, size_t y)
{
    return mrc_ovc_first(&m->head[x], &m->code[x], &m->head[y], &m->code[y], x < y, m->order);
}

static size_t stream_build(stream_merge *m, size_t node)
{
    if (node >= m->leaves) return node - m->leaves;
    size_t l = stream_build(m, 2 * node), r = stream_build(m, 2 * node + 1);
    if (stream_beats(m, r, l)) {
        m->tree[node] = l;
        return r;
    }
    m->tree[node] = r;
    return l;
}

/* The next record of stream i into its leaf (coded MRC_OVC_END at its end; its code kept
 * otherwise, for the caller to set). @return 0, or the stream's error. */
static int stream_advance(stream_merge *m, size_t i, mrc_err *err)
{
    int rc = m->streams[i]->next(m->streams[i], &m->head[i], err);
    if (rc < 0) return err->code != 0 ? err->code : mrc_err_set(err, MRC_EIO, "stream %zu", i);
    if (rc == 0) m->code[i] = MRC_OVC_END;
    return 0;
}

static bool stream_live(const stream_merge *m, size_t i)
{
    return m->code[i] != MRC_OVC_END;
}

#define MERGE_TELL_EVERY 65536 /* lines between two calls of o->written */

static int merge_streams(stream_merge *m, line_out *w, const mrc_output_opts *o, uint64_t lines,
                         const char *label, mrc_err *err)
{
    unsigned char *last = NULL; /* the last key written: a stream must not go back past it */
    size_t last_cap = 0, last_len = 0;
    uint64_t last_count = 0;
    int rc = 0;
    for (size_t i = 0; i < m->leaves; i++) /* the leaves past the streams: ended */
        m->code[i] = i < m->n ? 0 : MRC_OVC_END;
    for (size_t i = 0; i < m->n && rc == 0; i++)
        rc = stream_advance(m, i, err);
    if (rc != 0) return rc;
    for (size_t i = 0; i < m->n; i++)
        if (stream_live(m, i)) m->code[i] = mrc_ovc_start(&m->head[i], m->order);
    m->tree[0] = stream_build(m, 1);
    for (uint64_t done = 0; done < lines; done++) {
        size_t x = m->tree[0];
        if (!stream_live(m, x)) break;
        if (o->written != NULL && done % MERGE_TELL_EVERY == 0 && done > 0)
            o->written(o->written_arg, done);
        const mrc_rec_view *v = &m->head[x];
        if (line_out_add(w, v->key, v->len, v->count) != 0) {
            rc = mrc_err_errno(err, w->errnum, "%s", label); /* `last` freed below */
            break;
        }
        if (v->len > last_cap) {
            size_t cap = v->len > 2 * last_cap ? v->len : 2 * last_cap;
            unsigned char *p = realloc(last, cap);
            if (p == NULL) {
                free(last);
                return mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", label);
            }
            last = p;
            last_cap = cap;
        }
        if (v->len > 0) memcpy(last, v->key, v->len);
        last_len = v->len;
        last_count = v->count;
        if ((rc = stream_advance(m, x, err)) != 0) break;
        mrc_rec_view prev = {0, last_count, last, (uint32_t)last_len};
        if (stream_live(m, x)) { /* coded against the line just written (0: equal to it) */
            int c;
            m->code[x] = mrc_ovc_against(&m->head[x], &prev, m->order, &c);
            if (c < 0) {
                rc = mrc_err_set(err, MRC_EINVAL, "%s: stream %zu is not in order", label, x);
                break;
            }
        }
        for (size_t node = (x + m->leaves) >> 1; node > 0; node >>= 1) {
            size_t l = m->tree[node];
            if (stream_beats(m, l, x)) {
                m->tree[node] = x;
                x = l;
            }
        }
        m->tree[0] = x;
    }
    free(last);
    if (rc == 0 && line_out_flush(w) != 0) rc = mrc_err_errno(err, w->errnum, "%s", label);
    return rc;
}

/* The merge of n streams as lines handed to put (arg: its w->arg), up to o->top of them. */
static int merged_put(mrc_source *const *streams, size_t n, const mrc_output_opts *o,
                      int (*put)(line_out *w, const unsigned char *p, size_t n), void *arg,
                      const char *label, mrc_err *err)
{
    stream_merge m = {.streams = streams,
                      .n = n,
                      .leaves = 1,
                      .order = o->sort == MRC_SORT_KEY ? MRC_ORDER_KEY : MRC_ORDER_COUNT};
    while (m.leaves < n)
        m.leaves *= 2;
    m.head = calloc(m.leaves, sizeof *m.head);
    m.code = calloc(m.leaves, sizeof *m.code);
    m.tree = calloc(m.leaves, sizeof *m.tree);
    line_out w = {.cap = mrc_out_block_size(), .put = put, .stop = o->stop, .arg = arg};
    w.buf = malloc(w.cap);
    int rc = 0;
    if (m.head == NULL || m.code == NULL || m.tree == NULL || w.buf == NULL)
        rc = mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", label);
    if (rc == 0) rc = merge_streams(&m, &w, o, o->top != 0 ? o->top : UINT64_MAX, label, err);
    free(w.buf);
    free(m.tree);
    free(m.code);
    free(m.head);
    return rc;
}

/* The merge of n streams as lines into d (open), up to o->top of them. */
static int merged_to(mrc_source *const *streams, size_t n, const mrc_output_opts *o,
                     mrc_out_dest *d, mrc_err *err)
{
    return merged_put(streams, n, o, put_in_order, d, d->label, err);
}

int mrc_output_write_merged(mrc_source *const *streams, size_t n, const mrc_output_opts *o,
                            mrc_err *err)
{
    mrc_out_dest d;
    int rc = mrc_out_dest_open(&d, o->path != NULL ? o->path : "-", err);
    if (rc != 0) return rc;
    rc = merged_to(streams, n, o, &d, err);
    if (rc == 0 && o->tail != NULL) rc = tail_to(o, &d, err);
    return mrc_out_dest_close(&d, rc, err);
}

int mrc_output_write_merged_part_at(mrc_source *const *streams, size_t n, const mrc_output_opts *o,
                                    const mrc_out_at *w, uint64_t at, uint64_t bytes,
                                    unsigned char *edges, mrc_err *err)
{
    if (at < w->at || at - w->at > w->bytes || bytes > w->bytes - (at - w->at))
        return mrc_err_set(err, MRC_EINVAL, "%s: a part past its lines", w->label);
    uint64_t head, tail;
    mrc_output_edges(w->at, w->bytes, w->page, &head, &tail);
    mrc_out_dest d = placed_dest(w->label, w->fd, w->at, w->bytes, head, tail);
    d.edges = edges;
    d.pos = at;
    d.end = at + bytes;
    d.written = d.retired = at > d.body_from ? at : d.body_from; /* its body starts there */
    mrc_output_opts all = *o;
    all.top = 0;
    all.written = NULL; /* several parts at once */
    int rc = merged_to(streams, n, &all, &d, err);
    if (rc == 0 && d.pos != d.end)
        rc = mrc_err_set(err, MRC_EIO, "%s: %llu bytes of lines in a part, %llu expected", w->label,
                         (unsigned long long)(d.pos - at), (unsigned long long)bytes);
    if (rc == 0 && durable_fsync && fsync(w->fd) != 0)
        rc = mrc_err_errno(err, errno, "%s", w->label);
    return rc;
}

/* mrc_output_merge_lines()'s caller's put, as a line writer's. */
typedef struct caller_put {
    int (*put)(void *arg, const unsigned char *p, size_t n);
    void *arg;
} caller_put;

static int put_to_caller(line_out *w, const unsigned char *p, size_t n)
{
    const caller_put *c = w->arg;
    return c->put(c->arg, p, n);
}

int mrc_output_merge_lines(mrc_source *const *streams, size_t n, const mrc_output_opts *o,
                           int (*put)(void *arg, const unsigned char *p, size_t n), void *arg,
                           const char *label, mrc_err *err)
{
    caller_put c = {put, arg};
    mrc_output_opts all = *o;
    all.top = 0;
    return merged_put(streams, n, &all, put_to_caller, &c, label, err);
}

int mrc_output_write_merged_at(mrc_source *const *streams, size_t n, const mrc_output_opts *o,
                               mrc_out_at *w, mrc_err *err)
{
    mrc_out_dest d;
    mrc_output_opts all = *o;
    all.top = 0;
    int rc = placed_open(w, &d, err);
    if (rc == 0) rc = merged_to(streams, n, &all, &d, err);
    return placed_close(w, &d, rc, err);
}

/* ---- a sorted result cut into segments: each written at its offset by one thread ---- */

typedef struct seg_job {
    const mrc_sorted_result *s;
    const mrc_output_opts *o;
    const mrc_out_dest *d;
    const uint64_t *at; /* where each segment's lines start */
    atomic_size_t next; /* the next segment nobody took */
    atomic_uint_fast64_t done;
    pthread_mutex_t tell; /* o->written: one thread at a time */
} seg_job;

/* Lines written by this thread since it last told: added, and told when no other thread is
 * telling (read under the lock, the figure never goes back); none: nothing new to tell. */
static void seg_tell(seg_job *j, uint64_t lines)
{
    if (lines == 0) return;
    atomic_fetch_add(&j->done, lines);
    if (j->o->written == NULL || pthread_mutex_trylock(&j->tell) != 0) return; /* told later */
    j->o->written(j->o->written_arg, atomic_load(&j->done));
    pthread_mutex_unlock(&j->tell);
}

/* Segment k's lines through w into dest, which must take exactly the bytes its count said. */
static int seg_lines_to(seg_job *j, size_t k, line_out *w, mrc_out_dest *dest, mrc_err *err)
{
    mrc_source *src = mrc_output_sorted_result_segment(j->s, k, err);
    if (src == NULL) return err->code ? err->code : MRC_ENOMEM;
    w->arg = dest;
    uint64_t lines = 0;
    mrc_rec_view v;
    int got;
    while ((got = src->next(src, &v, err)) > 0) {
        if (line_out_add(w, v.key, v.len, v.count) != 0) break;
        if (++lines % MERGE_TELL_EVERY == 0) seg_tell(j, MERGE_TELL_EVERY);
    }
    src->close(src);
    if (got < 0) return err->code ? err->code : MRC_EIO;
    if (w->errnum == 0) line_out_flush(w);
    if (w->errnum != 0) return report(w, dest->label, err);
    seg_tell(j, lines % MERGE_TELL_EVERY);
    if (lines != j->s->seg_lines[k] || (dest->placed && dest->pos != dest->end))
        return mrc_err_set(err, MRC_EIO, "%s: segment %zu: %llu lines, %llu expected", dest->label,
                           k, (unsigned long long)lines, (unsigned long long)j->s->seg_lines[k]);
    return 0;
}

static int seg_write(size_t ti, void *arg, atomic_int *failed, mrc_err *err)
{
    (void)ti;
    seg_job *j = arg;
    line_out w = {.cap = mrc_out_block_size(), .put = put_in_order, .stop = j->o->stop};
    if ((w.buf = malloc(w.cap)) == NULL)
        return mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", j->d->label);
    int rc = 0;
    for (size_t k; rc == 0 && (k = atomic_fetch_add(&j->next, 1)) < j->s->nsegs;) {
        if (atomic_load(failed)) { /* another thread's error is the one reported */
            rc = mrc_err_set(err, MRC_EINTR, "%s: stopped", j->d->label);
            break;
        }
        mrc_out_dest seg = placed_dest(j->d->label, j->d->fd, j->at[k], j->s->seg_bytes[k], 0, 0);
        rc = seg_lines_to(j, k, &w, &seg, err);
    }
    free(w.buf);
    return rc;
}

int mrc_output_write_sorted_result(mrc_sorted_result *s, const mrc_output_opts *o, mrc_topo *topo,
                                   const mrc_placement *pl, mrc_err *err)
{
    if (s->in_memory) return mrc_output_write_sorted(&s->sorted, o, topo, pl, err);
    const char *path = o->path != NULL ? o->path : "-";
    if (s->nsegs < 2 || o->top != 0) {
        mrc_source *m = mrc_output_sorted_result_source(s, err);
        if (m == NULL) return err->code ? err->code : MRC_ENOMEM;
        int rc = mrc_output_write_merged(&m, 1, o, err);
        m->close(m);
        return rc;
    }
    enum mrc_order want = o->sort == MRC_SORT_KEY ? MRC_ORDER_KEY : MRC_ORDER_COUNT;
    if (s->order != want)
        return mrc_err_set(err, MRC_EINVAL, "%s: the records are sorted in another order",
                           mrc_output_label(path));
    seg_job j = {.s = s, .o = o};
    uint64_t *at = malloc(s->nsegs * sizeof *at);
    if (at == NULL)
        return mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", mrc_output_label(path));
    for (size_t k = 0, sum = 0; k < s->nsegs; sum += s->seg_bytes[k], k++)
        at[k] = sum;
    j.at = at;
    mrc_out_dest d;
    int rc = mrc_out_dest_open(&d, path, err);
    if (rc != 0) {
        free(at);
        return rc;
    }
    j.d = &d;
    if (pthread_mutex_init(&j.tell, NULL) != 0) {
        rc = mrc_err_set(err, MRC_ENOMEM, "%s: cannot create a mutex", d.label);
    } else if (!d.regular) { /* a pipe, a device, a descriptor: the segments in order, here */
        line_out w = {.cap = mrc_out_block_size(), .put = put_in_order, .stop = o->stop};
        if ((w.buf = malloc(w.cap)) == NULL)
            rc = mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", d.label);
        for (size_t k = 0; rc == 0 && k < s->nsegs; k++)
            rc = seg_lines_to(&j, k, &w, &d, err);
        free(w.buf);
        pthread_mutex_destroy(&j.tell);
    } else {
        size_t t = topo != NULL && pl != NULL && pl->nthreads > 1 ? pl->nthreads : 1;
        rc = run_tasks(topo, pl, t, seg_write, &j, err);
        pthread_mutex_destroy(&j.tell);
        /* the last lines' tell may have met another thread's: the total, once all are in */
        if (rc == 0 && o->written != NULL) o->written(o->written_arg, atomic_load(&j.done));
    }
    free(at);
    return mrc_out_dest_close(&d, rc, err);
}
