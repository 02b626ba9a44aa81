/* output.h - the final table as the user sees it: `key TAB count` lines, sorted by count
 * descending then key bytewise (or by key), optionally the top K, written to a temporary file
 * in the destination directory and renamed into place (or to standard output for "-").
 * Runs on one rank with a complete serialized table; no MPI. */
#ifndef MRCOUNT_OUTPUT_H
#define MRCOUNT_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mrcount/common.h"

enum mrc_sort { MRC_SORT_COUNT, MRC_SORT_KEY };

typedef struct mrc_output_opts {
    const char *path; /* file path, or "-" for standard output */
    enum mrc_sort sort;
    uint64_t top; /* 0: all */
    /* Polled between the sort and the write and at every block written: nonzero (a signal)
     * ends the write with EINTR ("<path>: Interrupted system call"), its temporary removed,
     * instead of finishing a result nobody will keep. May be NULL. */
    const mrc_stop *stop;
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

/* ---- the progress bar (progress.c) ---- */

/** mrc_progress_draw() : one frame of the bar on f ("\r[####....] 42.0% ... ETA"): done of total
 *  bytes after `seconds`, `mapping` ranks still mapping; final ends the line. */
void mrc_progress_draw(FILE *f, uint64_t done, uint64_t total, uint64_t mapping, double seconds,
                       bool final);

/** mrc_progress_terminal() : whether this process's stderr reaches a terminal (under mpirun:
 *  the launcher's stderr, when this rank runs on its node). */
bool mrc_progress_terminal(void);

#endif
