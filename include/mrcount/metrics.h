/* metrics.h - the run's metrics as one JSON object (--metrics FILE.json), part of the output
 * stage: rank 0 writes what the ranks measured and sent it. Scaling scripts read only this. */
#ifndef MRCOUNT_METRICS_H
#define MRCOUNT_METRICS_H

#include <stdio.h>

#include "mrcount/common.h"

enum mrc_phase {
    MRC_PHASE_DISCOVER,
    MRC_PHASE_DISTRIBUTE,
    MRC_PHASE_MAP,
    MRC_PHASE_LOCAL_MERGE,
    MRC_PHASE_COMBINE,
    MRC_PHASE_OUTPUT,
    MRC_PHASE_COUNT
};

extern const char *const mrc_phase_names[MRC_PHASE_COUNT];

/** mrc_json_string() : write s as a JSON string literal (quotes, escapes, bytes >= 0x80 as
 *  they are unless invalid, then as \u00XX) to f. */
void mrc_json_string(FILE *f, const char *s);

/** mrc_metrics_write_file() : write the JSON text produced by fn(f, arg) to path through a
 *  temporary file and rename. @return 0 or nonzero with err filled. */
int mrc_metrics_write_file(const char *path, void (*fn)(FILE *f, void *arg), void *arg,
                           mrc_err *err);

#endif
