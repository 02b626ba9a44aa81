/* jobs.h - how mrc_job_select() reaches each job's own selector. Private to map/. */
#ifndef MRCOUNT_MAP_JOBS_H
#define MRCOUNT_MAP_JOBS_H

#include "mrcount/map.h"

/** mrc_ngram_select() : fill out (name, record rules, consumer) for the ngram job.
 *  @return 0, or MRC_EINVAL with err filled (a year range outside 0..9999). */
int mrc_ngram_select(const mrc_job_opts *o, mrc_job *out, mrc_err *err);

/** mrc_map_ctx_grow_scratch() : make ctx->scratch hold at least `need` bytes.
 *  @return 0 or MRC_ENOMEM (err filled). */
int mrc_map_ctx_grow_scratch(mrc_map_ctx *ctx, size_t need, mrc_err *err);

#endif
