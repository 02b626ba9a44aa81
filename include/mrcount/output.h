/* output.h - the final table as the user sees it: `key TAB count` lines, sorted by count
 * descending then key bytewise (or by key), optionally the top K, written to a temporary file
 * in the destination directory and renamed into place (or to standard output for "-").
 * Runs on one rank: records sorted through refs on that rank's threads, or streams already in
 * order merged (what ranks send); no MPI. */
#ifndef MRCOUNT_OUTPUT_H
#define MRCOUNT_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mrcount/common.h"
#include "mrcount/table.h"

enum mrc_sort { MRC_SORT_COUNT, MRC_SORT_KEY };

typedef struct mrc_output_opts {
    const char *path; /* file path, or "-" for standard output */
    enum mrc_sort sort;
    uint64_t top; /* 0: all */
    /* Polled between the sort and the write and at every block written: nonzero (a signal)
     * ends the write with EINTR ("<path>: Interrupted system call"), its temporary removed,
     * instead of finishing a result nobody will keep. May be NULL. */
    const mrc_stop *stop;
    /* Told how many lines are written so far, every block or so, from one thread at a time
     * (progress: the caller decides what to show and when). May be NULL. */
    void (*written)(void *arg, uint64_t lines);
    void *written_arg;
    /* mrc_output_write_sorted() only: bytes appended after the lines, block by block (other
     * ranks' lines). @return 1 with a block at *p, *n (valid until the next call), 0 at the
     * end, or <0 with err filled (the write fails with it). May be NULL. */
    int (*tail)(void *arg, const unsigned char **p, size_t *n, mrc_err *err);
    void *tail_arg;
} mrc_output_opts;

/** mrc_output_write() : write the serialized table `table` (valid, cap bytes) as text.
 *  Keys are written as they are (bytes, no escaping). Sort: MRC_SORT_COUNT = count descending,
 *  then key bytewise ascending (a key that is a prefix of another first); MRC_SORT_KEY = key
 *  bytewise ascending. With a path, the text goes to "<path>.tmp.<pid>" (same directory), is
 *  flushed and fsync'd, then renamed over path; on any failure the temporary is removed and
 *  path is untouched. @return 0, or nonzero with err filled ("<path>: <cause>"). */
int mrc_output_write(const void *table, size_t cap, const mrc_output_opts *o, mrc_err *err);

/** mrc_output_top_table() : the records that come first in o's order (o->top of them, all when
 *  0) as a new serialized table in wire order (malloc'd *out, *out_len bytes). The top K of a
 *  union of disjoint tables is among the union of their top K: owners of hash ranges prune
 *  before gathering. @return 0, or nonzero with err filled. */
int mrc_output_top_table(const void *table, size_t cap, const mrc_output_opts *o, void **out,
                         size_t *out_len, mrc_err *err);

/** mrc_output_part_path() : "DIR/part-NNNNN.tsv", rank r's part of --output-per-rank DIR
 *  (malloc'd). @return NULL when out of memory. */
char *mrc_output_part_path(const char *dir, int rank);

/** mrc_output_prepare_parts() : make DIR (*made: it was created here) and refuse one that
 *  already holds parts or a manifest: parts of an earlier run with more ranks would silently
 *  join this result. @return 0, or nonzero with err filled. */
int mrc_output_prepare_parts(const char *dir, bool *made, mrc_err *err);

/* ---- sorting and writing on the rank's threads (sort.c, write.c) ----
 * The result's records are sorted in place through refs, 16 bytes each, one per record: `rec`
 * points at a record head (u64 count, u32 key length, key; little-endian, maybe unaligned: the
 * same bytes in the table arena and in a serialized table) and `window` is the sort's scratch.
 * The refs are the only per-record memory the output adds to the records themselves. */

typedef struct mrc_topo mrc_topo;
typedef struct mrc_placement mrc_placement;

typedef struct mrc_out_ref {
    uint64_t window;          /* scratch: 8 bytes of the record's sort string */
    const unsigned char *rec; /* a record head, which must outlive every use of the ref */
} mrc_out_ref;

/* The refs after mrc_output_sort(): refs[0, records) are in order (records: n, or at most
 * limit); the rest, if any, in no particular order. Nothing to release. */
typedef struct mrc_out_sorted {
    mrc_out_ref *refs;
    size_t n;
    enum mrc_order order; /* MRC_ORDER_COUNT or MRC_ORDER_KEY */
    uint64_t limit;       /* 0: every ref is sorted */
    uint64_t records;
    bool by_windows; /* the threads' parts were ranges of the first windows, not splitters' */
    bool by_common;  /* a count order split a slice by one common count (sort.c) */
} mrc_out_sorted;

/** mrc_output_sort() : sort refs[0, n) in place, in `order` (MRC_ORDER_COUNT: count descending
 *  then key bytewise, a key that is a prefix of another first; MRC_ORDER_KEY: key bytewise),
 *  on pl's pinned threads (topo == NULL or pl == NULL: on the calling thread): T-1 splitters
 *  from a sample cut the order into T parts, the refs are put in part order, and each thread
 *  sorts one part with an MSD radix sort. limit > 0: only the first `limit` refs of the order
 *  are wanted (a --top K), the parts past them are left unsorted. Fills every window; reads
 *  the records, never writes them. Allocates O(T^2) bookkeeping and a sample of 1024 refs per
 *  thread, nothing per record. The order (so every output) does not depend on the thread
 *  count. stop (NULL: never) is polled before every group of 65536 refs or more and every
 *  65536 refs of the first pass over a part. @return 0 with *out filled, or MRC_EINVAL (a bad
 * order) / MRC_ENOMEM / a worker pool failure / MRC_EINTR (stop raised) with err filled (the refs
 * then in no particular order). */
int mrc_output_sort(mrc_out_ref *refs, size_t n, enum mrc_order order, uint64_t limit,
                    mrc_topo *topo, const mrc_placement *pl, const mrc_stop *stop,
                    mrc_out_sorted *out, mrc_err *err);

/* The sorted records one at a time (a rank sending its sorted range in blocks, or writing its
 * part). */
typedef struct mrc_out_iter mrc_out_iter;

/** mrc_output_iter_open() : an iterator over s's records in order from line `first` (0: the
 *  beginning; past s->records: empty). s must outlive it.
 *  @return the iterator, or NULL (MRC_ENOMEM, err filled). */
mrc_out_iter *mrc_output_iter_open(const mrc_out_sorted *s, uint64_t first, mrc_err *err);

/** mrc_output_iter_next() : the next record head in order. @return NULL at the end. */
const unsigned char *mrc_output_iter_next(mrc_out_iter *it);

/** mrc_output_iter_source() : the iterator as a record stream in s->order (hash 0), for
 *  mrc_output_write_merged() beside received streams. The stream reads records ahead in
 *  batches: once it is used, mrc_output_iter_next() on the same iterator would skip them (use
 *  one or the other). Its close closes the iterator: call one of the two, once.
 *  @return the stream (never NULL). */
mrc_source *mrc_output_iter_source(mrc_out_iter *it);

/** mrc_output_iter_close() : release the iterator; NULL is ignored. */
void mrc_output_iter_close(mrc_out_iter *it);

/** mrc_output_write_sorted() : write s's records (the first o->top, all when 0, and never past
 *  s->records) as `key TAB count` lines to o->path, formatted on pl's pinned threads (topo or
 *  pl NULL: the calling thread alone) in chunks of about a block, which the threads write in
 *  turn, in order: a regular file into "<path>.tmp.<pid>", fsync'd and renamed over path;
 *  "-", a device or a FIFO in place. o->sort must match s->order. o->stop is polled at every
 *  block: a raised flag ends the write with "<path>: Interrupted system call". On any failure
 *  the temporary is removed and path is untouched. The bytes written do not depend on the
 *  thread count. @return 0, or nonzero with err filled ("<path>: <cause>"). */
int mrc_output_write_sorted(const mrc_out_sorted *s, const mrc_output_opts *o, mrc_topo *topo,
                            const mrc_placement *pl, mrc_err *err);

/** mrc_output_format_sorted() : s's lines as mrc_output_write_sorted() would write them (o's
 *  sort and top; o->path and o->tail unused), formatted on pl's threads into memory: *buf
 *  (malloc'd, *len bytes). hint: the bytes to reserve (an upper bound costs nothing until
 *  written; the buffer grows past it by copies). @return 0, or nonzero with err filled
 *  (MRC_ENOMEM, a stop). */
int mrc_output_format_sorted(const mrc_out_sorted *s, const mrc_output_opts *o, mrc_topo *topo,
                             const mrc_placement *pl, size_t hint, unsigned char **buf, size_t *len,
                             mrc_err *err);

/* ---- one result written at known offsets by several processes (the ranks' ranges of the
 * output order, on a file system they share) ---- */

typedef struct mrc_out_file mrc_out_file;

/** mrc_output_file_open() : the temporary that mrc_output_write_sorted() would write path's
 *  result into, opened and sized to `size` bytes, for writers at known offsets (any process
 *  that opens mrc_output_file_tmp()). @return 0 with *f; 0 with *f NULL when path names no
 *  regular file of ours (standard output, a descriptor, a device, a FIFO: written in order,
 *  by one process); or nonzero with err filled ("<path>: <cause>"). */
int mrc_output_file_open(const char *path, uint64_t size, mrc_out_file **f, mrc_err *err);

/** mrc_output_file_fd(), mrc_output_file_tmp() : its descriptor (open for writing) and path. */
int mrc_output_file_fd(const mrc_out_file *f);
const char *mrc_output_file_tmp(const mrc_out_file *f);

/** mrc_output_file_put() : p[0, n) written at offset `at`. @return 0, or nonzero with err
 *  filled ("<path>: <cause>"). */
int mrc_output_file_put(mrc_out_file *f, const unsigned char *p, size_t n, uint64_t at,
                        mrc_err *err);

/** mrc_output_file_close() : rc 0: the temporary cut to `size` bytes and renamed over the
 *  path (made durable first with mrc_output_set_sync()); else removed, path untouched. f is
 *  freed (NULL: nothing). @return rc, or the truncation's, close's or rename's error. */
int mrc_output_file_close(mrc_out_file *f, uint64_t size, int rc, mrc_err *err);

/** mrc_output_edges() : of the bytes [at, at + bytes) of a file cut in pages of `page` bytes,
 *  *head bytes at the start and *tail at the end lie in pages that other bytes share (all of
 *  them in *head when no whole page is theirs; both 0 when page is 0). */
void mrc_output_edges(uint64_t at, uint64_t bytes, uint64_t page, uint64_t *head, uint64_t *tail);

typedef struct mrc_out_at {
    int fd;               /* the file, open for writing */
    const char *label;    /* the result's path, for messages */
    uint64_t at, bytes;   /* where the lines go, and their length (the sum of their lengths) */
    uint64_t page;        /* 0: every byte written; else the edges kept (mrc_output_edges()) */
    unsigned char *edges; /* out: malloc'd, the head then the tail; NULL when none */
    size_t edges_len;
} mrc_out_at;

/** mrc_output_write_sorted_at() : s's lines (as mrc_output_write_sorted() formats them; o->path
 *  and o->tail unused), formatted on pl's threads and written with pwrite() to w->fd from w->at;
 *  with w->page, the edges go to w->edges instead, for one process to write (so no page of
 *  the file is written by two processes at once: a file system that writes whole pages back,
 *  as NFS may, cannot mix them; rank 0's mark in the first page is durable before any other
 *  rank opens the file). Their length must be w->bytes. With mrc_output_set_sync(), the bytes
 *  go to disk behind the writer (as mrc_output_write_sorted()'s) and w->fd is fsync'd.
 *  @return 0, or nonzero with err filled ("<label>: <cause>"). */
int mrc_output_write_sorted_at(const mrc_out_sorted *s, const mrc_output_opts *o, mrc_topo *topo,
                               const mrc_placement *pl, mrc_out_at *w, mrc_err *err);

/** mrc_output_write_records() : mrc_output_sort() (limited to o->top) then
 *  mrc_output_write_sorted(), in o->sort's order; refs[i].rec must be set, windows need not be.
 *  refs come from mrc_output_refs_from_table() or from any array of record heads.
 *  @return as mrc_output_write_sorted(). */
int mrc_output_write_records(mrc_out_ref *refs, size_t n, const mrc_output_opts *o, mrc_topo *topo,
                             const mrc_placement *pl, mrc_err *err);

/** mrc_output_refs_from_table() : one ref per record of the serialized table `table` (cap
 *  bytes), header and every record checked against the buffer, flags refused as
 *  mrc_output_write() does; label names it in messages. @return 0 with *refs (malloc'd; NULL
 *  when *n is 0) and *n, or MRC_EINVAL / MRC_EOVERFLOW / MRC_ENOMEM with err filled. */
int mrc_output_refs_from_table(const void *table, size_t cap, const char *label, mrc_out_ref **refs,
                               size_t *n, mrc_err *err);

/** mrc_output_check_table() : the header of the serialized table `table` (cap bytes) into *h,
 *  checked against the buffer, its flags refused as mrc_output_write() does (records are not
 *  walked). @return 0, or MRC_EINVAL / MRC_EOVERFLOW with err filled. */
int mrc_output_check_table(const void *table, size_t cap, const char *label, mrc_ser_header *h,
                           mrc_err *err);

/** mrc_output_refs_from_records() : one ref per record of nsegs buffers segs[i][0, lens[i]),
 *  wire records back to back (no header), which must hold exactly `records` of them in all
 *  (each checked to lie in its buffer); *bytes (unless NULL): the length of their lines, read
 *  on the way. @return as mrc_output_refs_from_table(). */
int mrc_output_refs_from_records(const unsigned char *const *segs, const size_t *lens, size_t nsegs,
                                 uint64_t records, const char *label, mrc_out_ref **out, size_t *n,
                                 uint64_t *bytes, mrc_err *err);

/** mrc_output_write_merged() : write the k-way merge of n streams, each already in o->sort's
 *  order (MRC_ORDER_COUNT for MRC_SORT_COUNT, MRC_ORDER_KEY for MRC_SORT_KEY), as lines: the
 *  first o->top (all when 0), then o->tail's blocks, to the same destinations and under the same
 *  rules as mrc_output_write_sorted(), on the calling thread, in bounded memory (a loser tree of n
 *  records, one write block, a copy of the last key written). Streams are read, never closed.
 *  A stream that goes backwards is an error (MRC_EINVAL, "<path>: stream <i> is not in
 *  order"), never a silently misordered result. @return 0, or nonzero with err filled (a
 *  stream's own error as it gave it). */
int mrc_output_write_merged(mrc_source *const *streams, size_t n, const mrc_output_opts *o,
                            mrc_err *err);

/** mrc_output_write_merged_part_at() : a part of w's lines, those at [at, at + bytes) of the
 *  file, as the merge of n streams, written as mrc_output_write_merged_at() writes w's: what
 *  falls in w's edges (mrc_output_edges()) goes to `edges` (head + tail bytes, the caller's),
 *  the rest with pwrite(). Parts of one w may be written at once on several threads.
 *  @return 0, or nonzero with err filled. */
int mrc_output_write_merged_part_at(mrc_source *const *streams, size_t n, const mrc_output_opts *o,
                                    const mrc_out_at *w, uint64_t at, uint64_t bytes,
                                    unsigned char *edges, mrc_err *err);

/** mrc_output_merge_lines() : the k-way merge of n streams as lines (all of them: o->top and
 *  o->path unused) handed to put in blocks of at most mrc_out_block_size() bytes (a longer key's
 *  bytes alone), on the calling thread. put returns 0, or an errno value that ends the merge
 *  (err: "<label>: <its text>"). @return 0, or nonzero with err filled. */
int mrc_output_merge_lines(mrc_source *const *streams, size_t n, const mrc_output_opts *o,
                           int (*put)(void *arg, const unsigned char *p, size_t n), void *arg,
                           const char *label, mrc_err *err);

/** mrc_output_write_merged_at() : mrc_output_write_merged()'s lines (all of them: o->top and
 *  o->path unused) written at w's offset as mrc_output_write_sorted_at() writes them (edges
 *  kept, w->bytes checked), on the calling thread. @return 0, or nonzero with err filled. */
int mrc_output_write_merged_at(mrc_source *const *streams, size_t n, const mrc_output_opts *o,
                               mrc_out_at *w, mrc_err *err);

/** mrc_output_refs_from_tables() : a lone rank's result straight from its thread tables (not
 *  frozen, or frozen): one ref per distinct key, pointing at its record in an arena. One table:
 *  its records as they are; several: frozen and merged by hash sub-range on pl's threads, each
 *  key's total written into the first record that holds it. The tables' indexes are given back
 *  (mrc_table_drop_index()); their arenas must outlive the refs. One table: the refs take its
 *  index's memory when it is large enough (*in_table: they are the table's, freed with it by
 *  mrc_table_free(), never free()d). @return 0 with *refs (malloc'd unless *in_table) and *n,
 *  or nonzero with err filled (a total past 2^64-1 names the key). */
int mrc_output_refs_from_tables(mrc_table *const *tables, size_t ntables, mrc_topo *topo,
                                const mrc_placement *pl, mrc_out_ref **refs, size_t *n,
                                bool *in_table, mrc_err *err);

/* ---- the output order with bounded memory (extsort.c) ---- */

typedef struct mrc_sort_stream_opts {
    enum mrc_order order; /* MRC_ORDER_COUNT or MRC_ORDER_KEY */
    uint64_t budget;      /* bytes of records and refs a sorted buffer may hold */
    const char *tmp_dir;  /* where sorted buffers go when the stream does not fit one */
    uint64_t top;         /* only the first `top` are wanted (0: all) */
    mrc_topo *topo;       /* the threads that sort a buffer (NULL: the calling thread) */
    const mrc_placement *pl;
    size_t fan_in; /* sorted runs one merge may open (0: mrc_runs_fan_in()) */
    /* > 1 (and top 0): when the stream spills, cut the result into about this many segments
     * of the order, each merged alone (mrc_output_sorted_result_segment()), so that several
     * threads write it; 0 or 1: one merge. */
    size_t segments;
    /* nsplit > 0 (and top 0): the segments are cut at these records instead (ascending in
     * `order`, copied): nsplit + 1 of them, also when the result fits one buffer (the ranks'
     * cut of the output order). A compaction of the runs drops them: nsegs is then 0. */
    const mrc_rec_view *split;
    size_t nsplit;
    const mrc_stop *stop; /* raised: stop reading and writing (MRC_EINTR); NULL: never */
    /* Told, after each buffer is sorted, how many records are and how many runs went to
     * tmp_dir so far (progress). May be NULL. */
    void (*sorted)(void *arg, uint64_t records, uint64_t runs);
    void *sorted_arg;
} mrc_sort_stream_opts;

/* A sorted result: in memory (one buffer that held it all) or the merge of sorted runs, and of
 * the last buffer when it was kept in memory. */
typedef struct mrc_sorted_result {
    enum mrc_order order;
    bool in_memory;
    bool kept;            /* not in memory: the last buffer (bufs, refs, sorted) is merged too */
    unsigned char **bufs; /* in memory or kept: the records, in nbufs buffers */
    size_t nbufs;
    mrc_out_ref *refs;  /* in memory or kept: their refs */
    mrc_out_sorted sorted;
    mrc_run_file *runs; /* otherwise: the sorted runs */
    size_t nruns;
    size_t chunks;      /* sorted buffers written as runs (cut into segments: a run per thread) */
    mrc_source *merged; /* their merge, until taken by mrc_output_sorted_result_source() */
    uint64_t spilled_bytes;
    size_t read_buf; /* the read block of each run in one merge of them all */
    /* Cut into segments (o->segments, the runs written): nsegs > 1, segment k + 1 starts at
     * the first record at or past split[k] (copies of records of the first buffer, which is a
     * sample of the stream); each sorted buffer went out as a run per thread, each holding
     * consecutive segments (runs[i] from segment seg_first[i], as many as its
     * mrc_run_file.segments, or one when 0); the kept buffer's share of segment k is
     * kept_seg[k]; seg_lines[k] and seg_bytes[k] are its records and the bytes of their
     * lines. Else nsegs 0. */
    size_t nsegs;
    mrc_rec_view *split;
    unsigned char *split_keys;
    uint64_t *seg_lines, *seg_bytes;
    mrc_out_sorted *kept_seg;
    size_t *seg_first;
    size_t seg_buf; /* the read block of each run in a segment's merge */
} mrc_sorted_result;

/** mrc_output_sort_stream() : the records of `in` (any order; read to its end, not closed)
 *  sorted in o->order: buffers of at most o->budget bytes are sorted on o's threads; when the
 *  stream fills more than one, each goes to o->tmp_dir as a sorted run, merged on reading.
 *  o->stop is polled between records and in each buffer's sort (mrc_output_sort()).
 *  @return 0 with *out (mrc_output_sorted_result_free() it), or nonzero with err filled
 *  (MRC_EINTR when stopped). */
int mrc_output_sort_stream(mrc_source *in, const mrc_sort_stream_opts *o, mrc_sorted_result *out,
                           mrc_err *err);

/** mrc_output_sort_streams() : mrc_output_sort_stream() of the records of nin streams that
 *  share no key (hash ranges of one stream): every buffer takes up to o->budget / nin bytes of
 *  each, each stream read by its own thread when o has as many (else one after another); with
 *  no bound (or none the system lends), streams are read one after another into one buffer. */
int mrc_output_sort_streams(mrc_source *const *in, size_t nin, const mrc_sort_stream_opts *o,
                            mrc_sorted_result *out, mrc_err *err);

/** mrc_output_sorted_result_source() : the sorted result as one stream in its order (the
 *  result must outlive it; call it once). @return the stream, or NULL with err filled. */
mrc_source *mrc_output_sorted_result_source(mrc_sorted_result *s, mrc_err *err);

/** mrc_output_sorted_result_segment() : segment k of a result cut into segments, as one stream
 *  in its order: the merge of every run's segment k and the kept buffer's share; several may be
 *  open at once, on several threads. @return the stream, or NULL with err filled. */
mrc_source *mrc_output_sorted_result_segment(const mrc_sorted_result *s, size_t k, mrc_err *err);

/** mrc_output_sorted_result_segments() : segments [k0, k1) of a result cut into segments, as one
 *  stream in its order: each segment's merge in turn (k0 == k1: an empty stream). @return the
 *  stream, or NULL with err filled. */
mrc_source *mrc_output_sorted_result_segments(const mrc_sorted_result *s, size_t k0, size_t k1,
                                              mrc_err *err);

/** mrc_output_write_sorted_result() : write a sorted result as `key TAB count` lines to
 *  o->path: in memory, as mrc_output_write_sorted(); cut into segments, each segment formatted
 *  on one of pl's threads and written with pwrite() at its offset when o->path is a regular
 *  file (one segment after another, on the calling thread, when it is not); else the merge
 *  of its runs on the calling thread. @return 0, or nonzero with err filled. */
int mrc_output_write_sorted_result(mrc_sorted_result *s, const mrc_output_opts *o, mrc_topo *topo,
                                   const mrc_placement *pl, mrc_err *err);

void mrc_output_sorted_result_free(mrc_sorted_result *s);

/** mrc_output_label() : a result path as messages name it: "standard output" for "-" or NULL
 *  (the default), else the path as given. */
const char *mrc_output_label(const char *path);

/** mrc_output_probe() : whether a result or metrics file could be written at path, checked
 *  before the map so that a typo does not cost the run: the temporary it would be written under
 *  is created and removed ("-", a device or a FIFO pass unopened; a descriptor path such as
 *  /dev/fd/N must name one given to the process and open for writing; a symbolic link is
 *  checked as written: through to its target). @return 0, or nonzero with err naming path and
 *  the cause. */
int mrc_output_probe(const char *path, mrc_err *err);

/** mrc_output_set_sync() : whether result, part, manifest and metrics files are made durable
 *  (default: no). On: a regular file's bytes are written back as they are written and all but
 *  the last two write-behind windows leave the page cache (a result of any size holds ~32 MiB
 *  of it), the file is fsync'd before its rename and its directory after. Off: written to the
 *  page cache and renamed when complete, the kernel writes it back later; a failed run still
 *  never leaves a partial result. Not thread-safe: call it before any write. */
void mrc_output_set_sync(bool on);

/** mrc_output_set_stop() : the flag that ends a wait on a reader (default: none). A result,
 *  part or metrics file that is a FIFO, or standard output when it is a pipe, is written
 *  through a non-blocking descriptor of its own: opening a FIFO that has no reader yet, and
 *  writing to a pipe whose reader does not read, wait as a blocking descriptor would, but look
 *  at the flag every 100 ms and end with EINTR once it is raised (SIGTERM or SIGINT caught with
 *  SA_RESTART would otherwise leave the thread blocked). Not thread-safe: call it before any
 *  write. */
void mrc_output_set_stop(const mrc_stop *stop);

/** mrc_output_set_block_size() : test hook: bytes per write block (0: the default, 1 MiB);
 *  small blocks drive the chunk, turn and huge-line paths with few records. Not thread-safe:
 *  call it between writes. */
void mrc_output_set_block_size(size_t bytes);

/** mrc_output_set_write_behind() : test hook: the write-behind window of a regular result file
 *  in bytes (0: the default, 16 MiB; output_internal.h's mrc_out_dest_put() says what it is).
 *  Not thread-safe: call it between writes. */
void mrc_output_set_write_behind(uint64_t bytes);

/* ---- the progress bar (progress.c) ---- */

/** mrc_progress_draw() : one frame of the bar on f ("\r[####....] 42.0% ... ETA"): done of total
 *  bytes after `seconds`, `mapping` ranks still mapping; final ends the line. With lines (f is
 *  a file or a pipe: a batch job's log) each frame is a line of its own ("mrcount: [###...").
 */
void mrc_progress_draw(FILE *f, uint64_t done, uint64_t total, uint64_t mapping, double seconds,
                       bool final, bool lines);

/** mrc_progress_terminal() : whether this process's stderr reaches a terminal (under mpirun:
 *  the launcher's stderr, when this rank runs on its node). */
bool mrc_progress_terminal(void);

#endif
