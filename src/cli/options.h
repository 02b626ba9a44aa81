/* options.h - the run's configuration as parsed from the command line and an INI file
 * (--config FILE.ini; the command line wins). Private to cli/. */
#ifndef MRCOUNT_CLI_OPTIONS_H
#define MRCOUNT_CLI_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mrcount/common.h"
#include "mrcount/map.h"
#include "mrcount/output.h"

enum mrc_schedule { MRC_SCHEDULE_STATIC, MRC_SCHEDULE_DYNAMIC };
enum mrc_reduce { MRC_REDUCE_AUTO, MRC_REDUCE_REDUCE, MRC_REDUCE_SHUFFLE };
enum mrc_progress { MRC_PROGRESS_AUTO, MRC_PROGRESS_ALWAYS, MRC_PROGRESS_NEVER };

typedef struct mrc_options {
    /* [input] */
    char **inputs; /* INPUT arguments (CLI), or `inputs` key of [input] (whitespace-separated) */
    size_t ninputs;
    /* [job] */
    mrc_job_opts job;        /* --job words (default), --tokens whitespace|alnum, --fold-case */
    /* [run] */
    size_t threads;          /* --threads N, 0 = default */
    enum mrc_schedule schedule; /* --schedule static|dynamic */
    uint64_t chunk_size;     /* --chunk-size SIZE (suffixes k/M/G), 0 = default (64M) */
    enum mrc_reduce reduce;  /* --reduce auto|reduce|shuffle */
    enum mrc_progress progress; /* --progress auto|always|never */
    /* [output] */
    mrc_output_opts out;     /* --output PATH|- (default "-"), --sort count|key, --top K */
    char *output_per_rank;   /* --output-per-rank DIR (shuffle parts), NULL = one result */
    char *metrics;           /* --metrics FILE.json, NULL = none */
    bool quiet;              /* --quiet: no summary line on stderr */
    /* actions */
    bool help, version;
    char *config;            /* --config FILE.ini */
} mrc_options;

/** mrc_options_parse() : defaults, then the INI file named by --config (sections [input],
 *  [job], [run], [output]; each key is a long option name without "--"; booleans take
 *  true/false/yes/no/1/0), then the command line. Unknown options or keys, bad values and
 *  unreadable config files are errors: err names the option, or "<file>:<line>: <key>: <cause>".
 *  @return 0, or MRC_EINVAL (usage error, exit status 2). */
int mrc_options_parse(int argc, char **argv, mrc_options *o, mrc_err *err);

void mrc_options_free(mrc_options *o);

/** mrc_options_usage() : the --help text. */
const char *mrc_options_usage(void);

#endif
