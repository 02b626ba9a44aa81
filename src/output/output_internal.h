/* output_internal.h - what the output files share and nobody else sees: the record order of
 * the result, a line's text, and the destinations (temporary + rename, or in place). */
#ifndef MRCOUNT_OUTPUT_INTERNAL_H
#define MRCOUNT_OUTPUT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "mrcount/output.h"
#include "mrcount/table.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the output reads little-endian record heads and builds big-endian windows with bswap"
#endif

#define OUT_BLOCK_DEFAULT (1u << 20) /* bytes per write */
#define OUT_LINE_EXTRA 22            /* TAB, up to 20 digits, LF */

/* Bytes per write block: OUT_BLOCK_DEFAULT, or what a test set. */
size_t mrc_out_block_size(void);

/* The order of the result: count descending then key (by_count), or key alone.
 * @return <0, 0, >0. */
static inline int mrc_out_rec_cmp(const unsigned char *a, const unsigned char *b, bool by_count)
{
    if (by_count) {
        uint64_t ca = mrc_rec_count(a), cb = mrc_rec_count(b);
        if (ca != cb) return ca > cb ? -1 : 1;
    }
    return mrc_key_cmp(mrc_rec_key(a), mrc_rec_len(a), mrc_rec_key(b), mrc_rec_len(b));
}

/* Decimal digits of v (1 for 0). */
static inline unsigned mrc_out_digits(uint64_t v)
{
    static const uint64_t pow10[20] = {1ull,
                                       10ull,
                                       100ull,
                                       1000ull,
                                       10000ull,
                                       100000ull,
                                       1000000ull,
                                       10000000ull,
                                       100000000ull,
                                       1000000000ull,
                                       10000000000ull,
                                       100000000000ull,
                                       1000000000000ull,
                                       10000000000000ull,
                                       100000000000000ull,
                                       1000000000000000ull,
                                       10000000000000000ull,
                                       100000000000000000ull,
                                       1000000000000000000ull,
                                       10000000000000000000ull};
    /* floor(log10) from the bit length: 1233/4096 ~ log10(2) */
    uint64_t w = v | 1; /* same digits as v (10^k - 1 is odd), and no clz(0) */
    unsigned bits = 64 - (unsigned)__builtin_clzll(w);
    unsigned t = (bits * 1233) >> 12;
    return t + 1 - (w < pow10[t]);
}

/* The output sort's error when the run's stop is raised (sort.c, extsort.c). */
static inline int mrc_out_sort_stopped(mrc_err *err)
{
    return mrc_err_set(err, MRC_EINTR, "output sort: stopped");
}

/* The text of a line, key TAB count LF, in bytes. */
static inline size_t mrc_out_line_len(const unsigned char *rec)
{
    return (size_t)mrc_rec_len(rec) + mrc_out_digits(mrc_rec_count(rec)) + 2;
}

/* Writes the decimal digits of v ending just before `end`. @return the first digit. */
char *mrc_out_decimal(uint64_t v, char *end);

/* ---- destinations ---- */

typedef struct mrc_out_dest {
    const char *path;  /* as given ("-": standard output), or what a symbolic link names */
    const char *label; /* for messages: the path as given, or "standard output" */
    char *resolved;    /* the link's target (path points at it), NULL when path is no link */
    char *tmp;         /* the temporary of a regular file; NULL when written in place */
    int fd;
    bool regular;  /* a new regular file (the temporary) */
    bool borrowed; /* standard output or another descriptor of ours: not closed */
    bool keep_mode; /* the temporary replaces a regular file: gets its mode at the close */
    mode_t mode;
    /* Write-behind of a regular file (mrc_out_dest_put()): bytes written, and the start of
     * those still in the page cache (the ones before it written back and dropped). */
    uint64_t written, retired;
    /* A destination in memory (mrc_output_format_sorted()): the bytes, grown as needed. */
    bool in_memory;
    unsigned char *mem;
    size_t mem_len, mem_cap;
    /* Written at known offsets (mrc_output_write_sorted_at()): the next byte's offset; the
     * bytes in [body_from, body_to) are written, those before and after it kept in edges
     * (its head first, edges[0, body_from - at)), everything past end refused. */
    bool placed;
    uint64_t at, pos, body_from, body_to, end;
    unsigned char *edges;
} mrc_out_dest;

/* The bytes of a regular file kept in the page cache behind the writer (see
 * mrc_out_dest_put()). */
#define OUT_WRITE_BEHIND ((uint64_t)16 << 20)

/* Write p[0, n) at the destination's end. With mrc_output_set_sync() on, a regular file's new
 * bytes start going to disk at once, and once more than 2 x OUT_WRITE_BEHIND are in the page cache
 * the oldest OUT_WRITE_BEHIND are waited for and dropped from it, so that a result of any size
 * holds at most about 32 MiB of page cache (charged to the job's cgroup) and its pages are reused,
 * and the closing fsync finds little left to do. Measured (30 M lines, 400 MB, the 2-core VM, 3
 * interleaved rounds each): the output phase at 1 x 1 2.31-2.40 s -> 2.12-2.24 (window 4 MiB) and
 * 2.13-2.20 (16 MiB); with this code 2.30-2.35 -> 2.05-2.14 at 1 x 1 and 3.23-3.39 -> 2.99-3.05 at
 * 2 x 1 (rank 0's merge): the write-behind is what a durable result costs least with. Off, the
 * bytes go to the page cache, whose dirty part the kernel bounds and writes back (per cgroup), as
 * for any writer. @return 0 or an errno value. */
int mrc_out_dest_put(mrc_out_dest *d, const unsigned char *p, size_t n);

/* Refuse a directory, then open the destination: a temporary beside a regular file (or a new
 * name), a device or FIFO in place, or standard output and any other descriptor of ours that
 * the path names (/dev/stdout, /dev/fd/N: mrc_path_fd(); written through, never closed); a
 * symbolic link is written through (its target replaced, the link kept). @return 0, or nonzero
 * with err. */
int mrc_out_dest_open(mrc_out_dest *d, const char *path, mrc_err *err);

/* After the last write: errnum 0 makes the result visible (close, rename; with
 * mrc_output_set_sync() on, durable too: fsync before, the directory synced after); otherwise
 * (or if that fails) the temporary is removed and err filled "<label>: <strerror>".
 * @return 0 or the error code. */
int mrc_out_dest_close(mrc_out_dest *d, int errnum, mrc_err *err);

/* Benchmark knob (tests/bench/bench_output; the run uses mrc_output_set_sync(), which sets
 * both): fsync before the rename, and the write-behind of mrc_out_dest_put() (both off by
 * default). */
void mrc_out_set_durability(bool fsync, bool write_behind);

/* Write all of p at the descriptor's position (over short writes and EINTR). @return 0 or an
 * errno value. */
int mrc_out_write_all(int fd, const unsigned char *p, size_t n);

#endif
