/* options.h - the run's configuration as parsed from the command line and an INI file
 * (--config FILE.ini; the command line wins). The run's own options are defined in options.c;
 * each job's come from its descriptor in the job registry (map.h). Private to cli/. */
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

/* Strings given one by one (a repeatable option). */
typedef struct mrc_str_list {
    char **v;
    size_t n;
} mrc_str_list;

typedef struct mrc_options {
    /* [input] */
    char **inputs; /* INPUT arguments (CLI), or `inputs` key of [input] (whitespace-separated) */
    size_t ninputs;
    mrc_str_list exclude; /* --exclude GLOB, each given (INI lines first, then the CLI's) */
    /* [job] */
    const mrc_job_desc *job; /* --job NAME (default: words) */
    void **job_settings;     /* one per registry job, in registry order: a job option given
                                applies to every job that owns an option of that name */
    /* [run] */
    uint64_t threads;           /* --threads N, 0 = default */
    int schedule;               /* enum mrc_schedule: --schedule static|dynamic */
    uint64_t chunk_size;        /* --chunk-size SIZE (suffixes k/M/G/T), 0 = default */
    int reduce;                 /* enum mrc_reduce: --reduce auto|reduce|shuffle */
    int progress;               /* enum mrc_progress: --progress auto|always|never */
    uint64_t memory_limit;      /* --memory-limit SIZE per rank, 0 = what the rank may really use */
    char *tmp_dir;              /* --tmp-dir DIR for spill files (default: $TMPDIR, else /tmp) */
    bool tmp_dir_given;         /* it was given (CLI or INI), even as the default's value */
    bool output_given;          /* --output was given (CLI or INI), even as "-" */
    char *checkpoint;           /* --checkpoint DIR, NULL = none */
    double checkpoint_interval; /* --checkpoint-interval: seconds of map between checkpoints */
    bool checkpoint_reset;      /* --checkpoint-reset: another run's checkpoint is replaced */
    bool keep_checkpoint;       /* --keep-checkpoint: DIR stays after success */
    /* [output] */
    mrc_output_opts out;   /* --output PATH|- (default "-"), --sort count|key, --top K */
    char *output_per_rank; /* --output-per-rank DIR (shuffle parts), NULL = one result */
    char *metrics;         /* --metrics FILE.json, NULL = none */
    bool quiet;            /* --quiet: no summary line on stderr */
    bool sync;             /* --sync: result, parts and metrics made durable (fsync) */
    uint64_t min_count;    /* --min-count K: keys whose total is below K are not written */
    /* actions */
    bool help, version;
    char *config; /* --config FILE.ini */
} mrc_options;

/** mrc_options_parse() : defaults, then the INI file named by --config (sections [input],
 *  [job], [run], [output]; each key is a long option name without "--"; booleans take
 *  true/false/yes/no/1/0), then the command line. Unknown options or keys, bad values and
 *  unreadable config files are errors: err names the option, or "<file>:<line>: <key>: <cause>".
 *  @return 0, or MRC_EINVAL (usage error, exit status 2). */
int mrc_options_parse(int argc, char **argv, mrc_options *o, mrc_err *err);

void mrc_options_free(mrc_options *o);

/** mrc_options_job_settings() : the settings of the selected job (o->job). */
const void *mrc_options_job_settings(const mrc_options *o);

/** mrc_options_usage() : the --help text (made once from the option definitions). */
const char *mrc_options_usage(void);

/** mrc_options_man() : the OPTIONS section of mrcount(1) in roff (".SH OPTIONS" and on), made
 *  from the same definitions as --help: INPUT, --config, --job and each job's own options under
 *  its name, then the run's [run] and [output] options and --help/--version, each with its INI
 *  key and section. For the man page generator (src/cli/man/); writes only to f. */
void mrc_options_man(FILE *f);

/** mrc_options_check_inputs() : rank 0, after discovery: --output or --metrics naming an
 *  existing file that is one of the inputs (a literal one or one found in a directory, by its
 *  device and inode) would replace it, or count the last run's result: refused; so would one
 *  that is an @list or the --config file. @return 0, or MRC_EINVAL with err filled. */
int mrc_options_check_inputs(const mrc_options *o, const mrc_file_list *files, mrc_err *err);

/** mrc_options_metrics() : the run's options that go into the metrics' config, as
 *  ", \"key\": value" fields (the job's own are the job's to write). */
void mrc_options_metrics(const mrc_options *o, FILE *f);

#endif
