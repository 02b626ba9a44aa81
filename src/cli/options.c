/* options.c - turns the command line and an optional INI file (--config) into mrc_options:
 * defaults, then the INI file, then the command line, each option checked once, here.
 * It must never print, exit or touch MPI: every problem becomes an mrc_err that names the option
 * (or "<file>:<line>: [section] key") for cli/ to report once. It also documents the options it
 * defines: the --help text, and the man page's OPTIONS written to the stream it is given. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mrcount/input.h"
#include "mrcount/tmpfile.h"
#include "options.h"

#define MRC_THREADS_MAX 65536
#define MRC_CHUNK_MIN 4096

/* ---- the run's own options ---- */

static const char *const schedule_names[] = {"static", "dynamic", NULL};
static const char *const reduce_names[] = {"auto", "reduce", "shuffle", NULL};
static const char *const progress_names[] = {"auto", "always", "never", NULL};
static const char *const sort_names[] = {"count", "key", NULL};
static const char *job_names[16]; /* the registry's names, filled by options_init() */

/* Appends a copy of s[0, len) to the strings v[0, *n). @return 0 or MRC_ENOMEM. */
static int strings_add(char ***v, size_t *n, const char *s, size_t len)
{
    char **grown = realloc(*v, (*n + 1) * sizeof *grown);
    if (grown == NULL) return MRC_ENOMEM;
    *v = grown;
    char *dup = strndup(s, len);
    if (dup == NULL) return MRC_ENOMEM;
    grown[(*n)++] = dup;
    return 0;
}

static void strings_free(char ***v, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free((*v)[i]);
    free(*v);
    *v = NULL;
    *n = 0;
}

/* [input] inputs: whitespace-separated, appended (continuation lines add more). */
static int add_input(mrc_options *o, const char *s, size_t len)
{
    return strings_add(&o->inputs, &o->ninputs, s, len);
}

static int parse_inputs(void *field, const char *value, char *cause, size_t causelen)
{
    mrc_options *o =
        (mrc_options *)(void *)((unsigned char *)field - offsetof(mrc_options, inputs));
    const char *p = value;
    for (;;) {
        p += strspn(p, " \t\r\n\v\f");
        if (*p == '\0') return 0;
        size_t n = strcspn(p, " \t\r\n\v\f");
        if (add_input(o, p, n) != 0) {
            snprintf(cause, causelen, "out of memory");
            return MRC_ENOMEM;
        }
        p += n;
    }
}

/* --exclude GLOB (repeatable; in the INI one pattern a line, continuation lines add more, an
 * empty first line allowed): a pattern is taken whole, blanks and all, and appended; the command
 * line's add to the file's. An empty one would match no name: nothing is added. */
static int parse_exclude(void *field, const char *value, char *cause, size_t causelen)
{
    mrc_str_list *l = field;
    if (*value == '\0') return 0;
    if (strings_add(&l->v, &l->n, value, strlen(value)) == 0) return 0;
    snprintf(cause, causelen, "out of memory");
    return MRC_ENOMEM;
}

static void show_exclude(const void *field, FILE *f)
{
    const mrc_str_list *l = field;
    fputc('[', f);
    for (size_t i = 0; i < l->n; i++) {
        if (i) fputs(", ", f);
        mrc_json_string(f, l->v[i]);
    }
    fputc(']', f);
}

/* --job NAME: a job of the registry. */
static int parse_job(void *field, const char *value, char *cause, size_t causelen)
{
    const mrc_job_desc *d = mrc_job_find(value);
    if (d == NULL) {
        int n = snprintf(cause, causelen, "'%s' is not one of ", value);
        for (int i = 0; job_names[i] != NULL && n >= 0 && (size_t)n < causelen; i++)
            n += snprintf(cause + n, causelen - (size_t)n, "%s%s", i ? ", " : "", job_names[i]);
        return MRC_EINVAL;
    }
    *(const mrc_job_desc **)field = d;
    return 0;
}

#define OPT(field) offsetof(mrc_options, field)

/* --checkpoint-interval: seconds, with an optional s/m/h suffix; more than 0. */
static int parse_duration(void *field, const char *value, char *cause, size_t causelen)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(value, &end);
    double unit = 1;
    if (end != NULL && end != value) {
        if (*end == 's')
            end++;
        else if (*end == 'm')
            unit = 60, end++;
        else if (*end == 'h')
            unit = 3600, end++;
    }
    bool huge = errno == ERANGE ? v > 1 : v * unit > 1e9; /* 31 years: past any batch job's */
    if (end == value || *end != '\0' || (errno != 0 && !huge) || !(v > 0)) {
        snprintf(cause, causelen, "'%s' is not a duration (seconds, suffix s/m/h, above 0)", value);
        return MRC_EINVAL;
    }
    if (huge) {
        snprintf(cause, causelen, "'%s' is more than 1000000000 seconds", value);
        return MRC_EINVAL;
    }
    *(double *)field = v * unit;
    return 0;
}

static void show_duration(const void *field, FILE *f)
{
    fprintf(f, "%g", *(const double *)field);
}

static const mrc_opt_def run_opts[] = {
    {.name = "inputs",
     .section = "input",
     .type = MRC_OPT_CUSTOM,
     .offset = OPT(inputs),
     .parse = parse_inputs},
    {.name = "exclude",
     .section = "input",
     .type = MRC_OPT_CUSTOM,
     .offset = OPT(exclude),
     .arg = "GLOB",
     .help = "leave out every file and directory whose name\n"
             "matches GLOB ('*.tar.gz', 'old'), or whose path does\n"
             "if GLOB holds a '/' ('*/old/*'), wherever found;\n"
             "repeatable (in FILE.ini one a line; both add up)",
     .metric = "exclude",
     .parse = parse_exclude,
     .show = show_exclude},
    {.name = "config",
     .short_name = 'c',
     .type = MRC_OPT_STRING,
     .offset = OPT(config),
     .arg = "FILE.ini",
     .help = "read options from FILE.ini: sections [input] [job]\n"
             "[run] [output], keys named as the long options;\n"
             "the command line wins ([input] inputs = INPUTs,\n"
             "replaced by any INPUT given on the command line;\n"
             "exclude patterns of both apply)"},
    {.name = "job",
     .section = "job",
     .type = MRC_OPT_CUSTOM,
     .offset = OPT(job),
     .parse = parse_job},
    {.name = "threads",
     .section = "run",
     .short_name = 't',
     .type = MRC_OPT_UINT,
     .offset = OPT(threads),
     .min = 1,
     .max = MRC_THREADS_MAX,
     .unit = "threads",
     .arg = "N",
     .help = "threads per rank (default: the cores this rank was\n"
             "given, shared among ranks bound to the same cores)",
     .metric = "threads_option"},
    {.name = "schedule",
     .section = "run",
     .type = MRC_OPT_CHOICE,
     .offset = OPT(schedule),
     .choices = schedule_names,
     .help = "splits dealt out up front, or pulled from rank 0\n"
             "as ranks finish (default: static)",
     .metric = "schedule"},
    {.name = "chunk-size",
     .section = "run",
     .type = MRC_OPT_SIZE,
     .offset = OPT(chunk_size),
     .min = MRC_CHUNK_MIN,
     .max = INT64_MAX,
     .unit = "bytes",
     .arg = "SIZE",
     .help = "split size, suffix k/M/G/T, at least 4096 (default:\n"
             "input / (16 x ranks), within 1M..64M)"},
    {.name = "reduce",
     .section = "run",
     .type = MRC_OPT_CHOICE,
     .offset = OPT(reduce),
     .choices = reduce_names,
     .help = "combine the ranks' tables with MPI_Reduce or an\n"
             "all-to-all hash shuffle (default: auto)",
     .metric = "reduce"},
    {.name = "progress",
     .section = "run",
     .type = MRC_OPT_CHOICE,
     .offset = OPT(progress),
     .choices = progress_names,
     .help = "progress bar on stderr, then a line as each\n"
             "step after the map begins (auto: when a\n"
             "terminal; always, into a log: a line every 10 s)",
     .metric = "progress"},
    {.name = "memory-limit",
     .section = "run",
     .type = MRC_OPT_SIZE,
     .offset = OPT(memory_limit),
     .min = (int64_t)16 << 20,
     .max = INT64_MAX,
     .unit = "bytes",
     .arg = "SIZE",
     .help = "memory per rank, suffix k/M/G/T; past it the tables\n"
             "spill to --tmp-dir (default: what the rank may use:\n"
             "cgroup, Slurm or MemAvailable, shared by the node's\n"
             "ranks, less a headroom)",
     .metric = "memory_limit_option"},
    {.name = "tmp-dir",
     .section = "run",
     .type = MRC_OPT_STRING,
     .offset = OPT(tmp_dir),
     .arg = "DIR",
     .help = "where spill files go, on each rank's node (default:\n"
             "$TMPDIR, else /tmp); they have no name and vanish\n"
             "with the run; every rank tries it before the map",
     .metric = "tmp_dir"},
    {.name = "checkpoint",
     .section = "run",
     .type = MRC_OPT_STRING,
     .offset = OPT(checkpoint),
     .arg = "DIR",
     .help = "keep the map's work in DIR (on a file system every\n"
             "rank sees), so that the same command run again after\n"
             "a stop (SIGTERM, a time limit, a lost node) resumes\n"
             "it; DIR is removed after a successful run (all but\n"
             "files of yours in it)",
     .metric = "checkpoint"},
    {.name = "checkpoint-interval",
     .section = "run",
     .type = MRC_OPT_CUSTOM,
     .offset = OPT(checkpoint_interval),
     .arg = "SECONDS",
     .help = "map time between a thread's checkpoints, suffix\n"
             "s/m/h (default: 5m)",
     .parse = parse_duration,
     .show = show_duration,
     .metric = "checkpoint_interval"},
    {.name = "checkpoint-reset",
     .section = "run",
     .type = MRC_OPT_FLAG,
     .offset = OPT(checkpoint_reset),
     .help = "start over when DIR holds the checkpoint of another\n"
             "run (other inputs or options), instead of refusing",
     .metric = "checkpoint_reset"},
    {.name = "no-checkpoint-reset",
     .type = MRC_OPT_FLAG,
     .offset = OPT(checkpoint_reset),
     .help = "turn --checkpoint-reset off again (after a --config file)",
     .negate = true},
    {.name = "keep-checkpoint",
     .section = "run",
     .type = MRC_OPT_FLAG,
     .offset = OPT(keep_checkpoint),
     .help = "keep DIR after a successful run (the next run with\n"
             "it maps nothing)",
     .metric = "keep_checkpoint"},
    {.name = "no-keep-checkpoint",
     .type = MRC_OPT_FLAG,
     .offset = OPT(keep_checkpoint),
     .help = "turn --keep-checkpoint off again (after a --config file)",
     .negate = true},
    {.name = "output",
     .section = "output",
     .short_name = 'o',
     .type = MRC_OPT_STRING,
     .offset = OPT(out.path),
     .arg = "PATH|-",
     .help = "result file (default: - = standard output); written\n"
             "under a temporary name, renamed when complete\n"
             "(/dev/stdout, /dev/fd/N: through the descriptor)",
     .metric = "output"},
    {.name = "output-per-rank",
     .section = "output",
     .type = MRC_OPT_STRING,
     .offset = OPT(output_per_rank),
     .arg = "DIR",
     .help = "with the shuffle: each rank writes its hash range\n"
             "to DIR/part-NNNNN.tsv, rank 0 adds DIR/manifest.json\n"
             "(DIR is created; it must hold no parts already; not\n"
             "with --output, --top or --reduce reduce)",
     .metric = "output_per_rank"},
    {.name = "sort",
     .section = "output",
     .type = MRC_OPT_CHOICE,
     .offset = OPT(out.sort),
     .choices = sort_names,
     .help = "count descending, then key (default); or key",
     .metric = "sort"},
    {.name = "top",
     .section = "output",
     .short_name = 'k',
     .type = MRC_OPT_UINT,
     .offset = OPT(out.top),
     .arg = "K",
     .help = "only the first K lines (default: 0 = all)",
     .metric = "top"},
    {.name = "min-count",
     .section = "output",
     .type = MRC_OPT_UINT,
     .offset = OPT(min_count),
     .arg = "K",
     .help = "leave out keys whose total is below K (decided\nafter the ranks combine: exact)",
     .metric = "min_count"},
    {.name = "metrics",
     .section = "output",
     .short_name = 'm',
     .type = MRC_OPT_STRING,
     .offset = OPT(metrics),
     .arg = "FILE.json",
     .help = "timings, sizes and placement of the run as JSON"},
    {.name = "sync",
     .section = "output",
     .type = MRC_OPT_FLAG,
     .offset = OPT(sync),
     .help = "make the result durable before the run ends: its\n"
             "bytes written back as they go, fsync'd, then renamed\n"
             "(default: left to the kernel's writeback, as sort -o)",
     .metric = "sync"},
    {.name = "no-sync",
     .type = MRC_OPT_FLAG,
     .offset = OPT(sync),
     .help = "turn --sync off again (after a --config file)",
     .negate = true},
    {.name = "quiet",
     .section = "output",
     .short_name = 'q',
     .type = MRC_OPT_FLAG,
     .offset = OPT(quiet),
     .help = "no summary line on stderr",
     .metric = "quiet"},
    {.name = "no-quiet",
     .type = MRC_OPT_FLAG,
     .offset = OPT(quiet),
     .help = "turn --quiet off again (after a --config file)",
     .negate = true},
    {.name = "help",
     .short_name = 'h',
     .type = MRC_OPT_FLAG,
     .offset = OPT(help),
     .help = "print this help and exit"},
    {.name = "version",
     .short_name = 'V',
     .type = MRC_OPT_FLAG,
     .offset = OPT(version),
     .help = "print the version and exit"},
    {0},
};

/* The option that turns D off again (--no-NAME, command line only): listed right after D. */
static const mrc_opt_def *negation_of(const mrc_opt_def *d)
{
    for (const mrc_opt_def *n = run_opts; n->name != NULL && !d->negate; n++)
        if (n->negate && n->section == NULL && n->offset == d->offset) return n;
    return NULL;
}

/* The help's sections: the run's options by INI section, the jobs' after --job. */
static void write_section(FILE *f, const char *title, const char *section, bool cli_only)
{
    if (title != NULL) fprintf(f, "%s\n", title);
    for (const mrc_opt_def *d = run_opts; d->name != NULL; d++) {
        bool here =
            cli_only ? d->section == NULL : d->section != NULL && strcmp(d->section, section) == 0;
        if (!here) continue;
        if (d->offset == OPT(job)) { /* the job's choices come from the registry */
            fputs("      --job ", f);
            for (int i = 0; job_names[i] != NULL; i++)
                fprintf(f, "%s%s", i ? "|" : "", job_names[i]);
            fputs("\n                         what to count (default: words)\n", f);
            continue;
        }
        const mrc_opt_def *off = negation_of(d);
        mrc_opt_def list[3] = {*d, off != NULL ? *off : (mrc_opt_def){0}, {0}};
        mrc_opt_write_help(list, f);
    }
}

static char *usage_text;

static void options_init(void)
{
    const mrc_job_desc *const *jobs = mrc_job_registry();
    for (size_t i = 0; jobs[i] != NULL && i + 1 < sizeof job_names / sizeof *job_names; i++)
        job_names[i] = jobs[i]->name;
}

static char *make_usage(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) return NULL;
    fputs("Usage: mrcount [OPTION]... INPUT...\n"
          "Count the words (or Google Books ngrams, or a column of delimited text) of\n"
          "INPUTs on every MPI rank and core; write 'key TAB count' lines. INPUT: files\n"
          "(plain, or compressed: .gz .zst .xz .bz2), directories (recursed), globs, or\n"
          "@list.txt (one path, directory or glob a line).\n"
          "\n",
          f);
    for (const mrc_opt_def *d = run_opts; d->name != NULL; d++)
        if (d->offset == OPT(config)) {
            mrc_opt_def one[2] = {*d, {0}};
            mrc_opt_write_help(one, f);
        }
    write_section(f, "Input:", "input", false);
    write_section(f, "Job:", "job", false);
    const mrc_job_desc *const *jobs = mrc_job_registry();
    for (size_t i = 0; jobs[i] != NULL; i++) {
        char title[160];
        snprintf(title, sizeof title, "%c%s job (--job %s): %s",
                 toupper((unsigned char)jobs[i]->name[0]), jobs[i]->name + 1, jobs[i]->name,
                 jobs[i]->summary);
        fprintf(f, "%s\n", title);
        mrc_opt_write_help(jobs[i]->opts, f);
    }
    write_section(f, "Run:", "run", false);
    write_section(f, "Output:", "output", false);
    for (const mrc_opt_def *d = run_opts; d->name != NULL; d++)
        if (d->section == NULL && d->offset != OPT(config) && !d->negate) {
            mrc_opt_def one[2] = {*d, {0}};
            mrc_opt_write_help(one, f);
        }
    fputs("\n"
          "In FILE.ini, booleans are true/false, yes/no, on/off or 1/0; on the command\n"
          "line, --no-NAME turns off an on/off option NAME that FILE.ini turned on.\n"
          "Exit status: 0 success, 2 bad usage or configuration, 1 a runtime failure\n"
          "on any rank.\n"
          "\n"
          "Example: 2 ranks with 2 cores each\n"
          "  mpirun -np 2 --map-by slot:PE=2 mrcount --threads 2 corpus/\n",
          f);
    fclose(f);
    return buf;
}

const char *mrc_options_usage(void)
{
    if (usage_text == NULL) {
        options_init();
        usage_text = make_usage();
    }
    return usage_text ? usage_text : "Usage: mrcount [OPTION]... INPUT...\n";
}

/* ---- the man page's OPTIONS, from the same definitions ---- */

/* One section of the run's options, as .TP entries (the CUSTOM ones, which have no help of
 * their own, written here). */
static void man_section(FILE *f, const char *title, const char *section)
{
    fprintf(f, ".SS \"%s\"\n", title);
    for (const mrc_opt_def *d = run_opts; d->name != NULL; d++) {
        bool here = section == NULL ? d->section == NULL && d->offset != OPT(config) && !d->negate
                                    : d->section != NULL && strcmp(d->section, section) == 0;
        if (!here) continue;
        if (d->offset == OPT(inputs)) {
            fputs(
                ".TP\n\\fIINPUT\\fR...\n"
                "What to count: files (plain, or compressed: \\fB.gz\\fR, \\fB.zst\\fR,\n"
                "\\fB.xz\\fR, \\fB.bz2\\fR, read whole), directories (walked recursively,\n"
                "hidden entries\n"
                "skipped), shell globs (quoted: mrcount expands them itself), and\n"
                "\\fB@\\fR\\fIlist.txt\\fR (a regular file: one INPUT a line, \\fB#\\fR comments:\n"
                "a path, a directory or a glob; a path that exists is taken as written).\n"
                "Standard input is never read: \\fB\\-\\fR or no INPUT is an error.\n"
                ".br\nINI: \\fB[input] inputs =\\fR \\fIINPUT\\fR... (separated by blanks;\n"
                "indented lines continue the list; INPUTs on the command line replace it)\n",
                f);
        } else if (d->offset == OPT(job)) {
            fputs(".TP\n\\fB\\-\\-job\\fR", f);
            for (int i = 0; job_names[i] != NULL; i++) {
                fputs(i ? "|\\fB" : " \\fB", f);
                mrc_opt_write_roff(f, job_names[i]);
                fputs("\\fR", f);
            }
            fputs("\nWhat to count (default: words); each job's own options follow.\n"
                  ".br\nINI: \\fB[job] job =\\fR \\fINAME\\fR\n",
                  f);
        } else {
            const mrc_opt_def *off = negation_of(d);
            mrc_opt_def list[3] = {*d, off != NULL ? *off : (mrc_opt_def){0}, {0}};
            mrc_opt_write_man(list, f);
        }
    }
}

void mrc_options_man(FILE *f)
{
    options_init();
    fputs(".SH OPTIONS\n"
          "Every option but \\fB\\-\\-config\\fR, \\fB\\-\\-help\\fR and "
          "\\fB\\-\\-version\\fR is also a key of a\n"
          "configuration file (see \\fBCONFIGURATION\\fR): the long name without \\fB\\-\\-\\fR,\n"
          "in the section shown after \\fBINI:\\fR.\n"
          "A value follows its option as the next argument or after \\fB=\\fR;\n"
          "an unambiguous abbreviation of a long option is accepted.\n"
          "Sizes take a suffix \\fBk\\fR, \\fBM\\fR, \\fBG\\fR or \\fBT\\fR "
          "(powers of 1024, either case; \\fB1M\\fR, \\fB1MB\\fR and \\fB1MiB\\fR are one size).\n",
          f);
    man_section(f, "Input ([input])", "input");
    fputs(".SS \"Configuration file\"\n", f);
    for (const mrc_opt_def *d = run_opts; d->name != NULL; d++)
        if (d->offset == OPT(config)) {
            mrc_opt_def one[2] = {*d, {0}};
            mrc_opt_write_man(one, f);
        }
    man_section(f, "Job ([job])", "job");
    const mrc_job_desc *const *jobs = mrc_job_registry();
    for (size_t i = 0; jobs[i] != NULL; i++) {
        fprintf(f, ".SS \"%c%s job (\\-\\-job %s)\"\nWhat it counts: ",
                toupper((unsigned char)jobs[i]->name[0]), jobs[i]->name + 1, jobs[i]->name);
        mrc_opt_write_roff(f, jobs[i]->summary);
        fputs(".\n", f);
        mrc_opt_write_man(jobs[i]->opts, f);
    }
    man_section(f, "Run ([run])", "run");
    man_section(f, "Output ([output])", "output");
    man_section(f, "Information", NULL);
}

void mrc_options_metrics(const mrc_options *o, FILE *f)
{
    mrc_opt_write_json(run_opts, o, f);
}

/* ---- one option, wherever it comes from ---- */

/* An option name the parser knows: the run's own definition, or the first job option of that
 * name (every job owning the name gets the value). */
typedef struct known {
    const mrc_opt_def *def;
    bool of_jobs;
} known;

#define KNOWN_MAX 128
static known knowns[KNOWN_MAX];
static size_t nknown;

static void collect_known(void)
{
    if (nknown > 0) return;
    options_init();
    for (const mrc_opt_def *d = run_opts; d->name != NULL && nknown < KNOWN_MAX; d++)
        knowns[nknown++] = (known){d, false};
    const mrc_job_desc *const *jobs = mrc_job_registry();
    for (size_t j = 0; jobs[j] != NULL; j++)
        for (const mrc_opt_def *d = jobs[j]->opts; d->name != NULL && nknown < KNOWN_MAX; d++) {
            size_t k = 0;
            while (k < nknown && strcmp(knowns[k].def->name, d->name) != 0)
                k++;
            if (k == nknown) knowns[nknown++] = (known){d, true};
        }
}

/* Apply one option to the run's settings or to every job that owns it. On error, cause says
 * why (without the name). */
static int apply(mrc_options *o, const known *k, const char *value, char *cause, size_t causelen)
{
    if (!k->of_jobs) {
        int rc = mrc_opt_apply(k->def, o, value, cause, causelen);
        if (rc == 0 && k->def->offset == OPT(tmp_dir)) o->tmp_dir_given = true;
        if (rc == 0 && k->def->offset == OPT(out.path)) o->output_given = true;
        return rc;
    }
    const mrc_job_desc *const *jobs = mrc_job_registry();
    for (size_t j = 0; jobs[j] != NULL; j++)
        for (const mrc_opt_def *d = jobs[j]->opts; d->name != NULL; d++)
            if (strcmp(d->name, k->def->name) == 0) {
                int rc = mrc_opt_apply(d, o->job_settings[j], value, cause, causelen);
                if (rc != 0) return rc;
            }
    return 0;
}

/* The name a path is written at: a chain of symbolic links followed to its last name, which
 * need not exist (the result and the metrics are written through a link, a dangling one making
 * the file it names); at most 40 links, as the kernel. False if the name does not fit BUF. */
static bool link_end(const char *path, char *buf, size_t cap)
{
    if ((size_t)snprintf(buf, cap, "%s", path) >= cap) return false;
    for (int hops = 0; hops < 40; hops++) {
        struct stat st;
        char to[4096];
        if (lstat(buf, &st) != 0 || !S_ISLNK(st.st_mode)) return true;
        ssize_t n = readlink(buf, to, sizeof to - 1);
        if (n < 0) return true;
        to[n] = '\0';
        char *slash = strrchr(buf, '/');
        if (to[0] == '/' || slash == NULL) {
            if ((size_t)snprintf(buf, cap, "%s", to) >= cap) return false;
        } else {
            size_t dir = (size_t)(slash - buf) + 1; /* the link's directory, its '/' kept */
            if (dir + (size_t)n >= cap) return false;
            memcpy(buf + dir, to, (size_t)n + 1);
        }
    }
    return true;
}

/* The directory part of PATH ("." for none, its '/' kept otherwise) and its last name. */
static const char *split_dir(const char *path, char *dir, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(dir, cap, "%.*s", base == path ? 1 : (int)(base - path), base == path ? "." : path);
    return base;
}

/* Whether two paths name one regular file: the same inode when both exist (a device such as
 * /dev/null may take both), else the same last name, links followed, in the same directory
 * ("r.tsv", "./r.tsv", a link to r.tsv not yet made). */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (strcmp(a, b) == 0) return stat(a, &sa) != 0 || S_ISREG(sa.st_mode);
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino && S_ISREG(sa.st_mode);
    char la[4096], lb[4096], da[4096], db[4096];
    if (!link_end(a, la, sizeof la) || !link_end(b, lb, sizeof lb)) return false;
    if (strcmp(split_dir(la, da, sizeof da), split_dir(lb, db, sizeof db)) != 0) return false;
    return stat(da, &sa) == 0 && stat(db, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Whether --metrics would be written over a file --output-per-rank DIR writes (a part or the
 * manifest): its last name, links followed, one of those in DIR. */
static bool metrics_in_parts(const char *metrics, const char *dir)
{
    char end[4096], md[4096];
    if (!link_end(metrics, end, sizeof end)) return false;
    const char *base = split_dir(end, md, sizeof md);
    if (strncmp(base, "part-", 5) != 0 && strcmp(base, "manifest.json") != 0) return false;
    struct stat sa, sb;
    if (stat(md, &sa) == 0 && stat(dir, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    /* DIR not made yet: the same name, but for trailing '/' and a leading "./" */
    size_t lm = strlen(md), ld = strlen(dir);
    const char *m = md, *d = dir;
    while (lm > 1 && m[lm - 1] == '/')
        lm--;
    while (ld > 1 && d[ld - 1] == '/')
        ld--;
    if (lm > 2 && strncmp(m, "./", 2) == 0) m += 2, lm -= 2;
    if (ld > 2 && strncmp(d, "./", 2) == 0) d += 2, ld -= 2;
    return lm == ld && memcmp(m, d, lm) == 0;
}

/* The result and the metrics are written over their paths: one path for both would keep only
 * the metrics. Refused here, on every rank alike (a usage error; a few stat calls, only when
 * both are given); an input among them is found by rank 0's discovery, which stats every input
 * anyway (mrc_options_check_inputs()). --output-per-rank writes no single result, but its
 * parts and manifest must not take the metrics' name either. */
static int check_paths(const mrc_options *o, mrc_err *err)
{
    const char *out = o->out.path, *m = o->metrics;
    if (m != NULL && o->output_per_rank != NULL && metrics_in_parts(m, o->output_per_rank))
        return mrc_err_set(
            err, MRC_EINVAL,
            "--metrics %s would replace a part or the manifest of --output-per-rank %s", m,
            o->output_per_rank);
    if (m == NULL || out == NULL || o->output_per_rank != NULL) return 0;
    /* one descriptor under two names (-, /dev/stdout, /dev/fd/1) */
    int fo = mrc_output_fd(out), fm = mrc_output_fd(m);
    bool same = fo >= 0 || fm >= 0 ? fo == fm : same_file(m, out);
    if (same)
        return mrc_err_set(err, MRC_EINVAL, "--output and --metrics name the same file (%s)", m);
    return 0;
}

int mrc_options_check_inputs(const mrc_options *o, const mrc_file_list *files, mrc_err *err)
{
    const char *what[2] = {"--output", "--metrics"};
    const char *path[2] = {o->out.path != NULL && strcmp(o->out.path, "-") != 0 ? o->out.path
                                                                                : NULL,
                           o->metrics != NULL && strcmp(o->metrics, "-") != 0 ? o->metrics : NULL};
    for (int k = 0; k < 2; k++) {
        struct stat st;
        if (path[k] == NULL || stat(path[k], &st) != 0 || !S_ISREG(st.st_mode)) continue;
        for (size_t i = 0; i < files->n; i++)
            if (files->files[i].dev == (uint64_t)st.st_dev &&
                files->files[i].ino == (uint64_t)st.st_ino)
                return mrc_err_set(err, MRC_EINVAL, "%s %s would replace the input %s", what[k],
                                   path[k], files->files[i].path);
        /* the files the run was read from but does not count: an @list, the --config file */
        for (size_t i = 0; i < o->ninputs; i++)
            if (o->inputs[i][0] == '@' && same_file(o->inputs[i] + 1, path[k]))
                return mrc_err_set(err, MRC_EINVAL, "%s %s would replace the input %s", what[k],
                                   path[k], o->inputs[i]);
        if (o->config != NULL && same_file(o->config, path[k]))
            return mrc_err_set(err, MRC_EINVAL, "%s %s would replace the config file %s", what[k],
                               path[k], o->config);
    }
    return 0;
}

static void free_inputs(mrc_options *o)
{
    strings_free(&o->inputs, &o->ninputs);
}

/* ---- the INI file ---- */

typedef struct ini_ctx {
    mrc_options *o;
    FILE *f;
    int line;       /* the line the reader returned last (what the handler is looking at) */
    bool indented;  /* that line is indented: inih takes it as a continuation after a key */
    bool after_key; /* a key was given since the last section line (inih's prev_name) */
    int read_errno;
    int err_line; /* line of the first error found here (0: none), its code and message */
    int err_code;
    char err_msg[MRC_ERR_MSG_MAX];
} ini_ctx;

static void ini_fail(ini_ctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void ini_fail(ini_ctx *c, int code, const char *fmt, ...)
{
    if (c->err_line != 0) return;
    c->err_line = c->line;
    c->err_code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err_msg, sizeof c->err_msg, fmt, ap);
    va_end(ap);
}

static const known *find_key(const char *name)
{
    for (size_t i = 0; i < nknown; i++)
        if (knowns[i].def->section != NULL && strcmp(knowns[i].def->name, name) == 0)
            return &knowns[i];
    return NULL;
}

static bool known_section(const char *s, size_t len)
{
    static const char *const sections[] = {"input", "job", "run", "output"};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        if (strlen(sections[i]) == len && memcmp(sections[i], s, len) == 0) return true;
    return false;
}

/* fgets for inih that counts lines, rejects lines too long for inih's buffer (inih would read
 * their tail as a line of its own) and flags unknown sections even when they hold no key.
 * A NUL byte would hide the rest of its line from inih and from these checks: it is an error,
 * found by the terminator fgets wrote (the last NUL of a buffer filled with LFs beforehand). */
static char *ini_read_line(char *str, int num, void *stream)
{
    ini_ctx *c = stream;
    memset(str, '\n', (size_t)num);
    if (fgets(str, num, c->f) == NULL) {
        if (ferror(c->f)) c->read_errno = errno ? errno : EIO;
        return NULL;
    }
    c->line++;
    size_t len = (size_t)((const char *)memrchr(str, '\0', (size_t)num) - str);
    if (strlen(str) < len) ini_fail(c, MRC_EINVAL, "NUL byte in the line");
    if (len == (size_t)num - 1 && str[len - 1] != '\n') {
        int ch;
        bool more = false;
        while ((ch = getc(c->f)) != EOF && ch != '\n')
            more = true;
        if (more)
            ini_fail(c, MRC_EINVAL,
                     "line longer than %d bytes (continue a long value on indented lines)",
                     num - 3);
    }
    /* An indented line continues the previous key's value. inih r55 (Debian 12) strips an
     * inline comment (" ;...") from a key's own line only, so the words of a comment on a
     * continuation line became values (more inputs): strip it here, as later inih do. */
    char *first = str;
    while (*first != '\0' && isspace((unsigned char)*first))
        first++;
    c->indented = first > str && *first != '\0' && *first != ';' && *first != '#';
    if (*first == '[' && (first == str || !c->after_key)) c->after_key = false; /* a section */
    if (c->indented)
        for (char *p = first + 1; *p != '\0'; p++)
            if (*p == ';' && isspace((unsigned char)p[-1])) {
                *p = '\0';
                break;
            }
    if (str[0] == '[') {
        const char *end = strchr(str, ']'), *rest = end != NULL ? end + 1 : NULL;
        while (rest != NULL && isspace((unsigned char)*rest))
            rest++;
        if (end != NULL && !known_section(str + 1, (size_t)(end - str - 1)))
            ini_fail(c, MRC_EINVAL, "[%.*s]: unknown section (known: [input] [job] [run] [output])",
                     (int)(end - str - 1), str + 1);
        else if (rest != NULL && *rest != '\0' && *rest != ';' && *rest != '#')
            ini_fail(c, MRC_EINVAL,
                     "[%.*s]: text after the section's name (a comment starts with ;)",
                     (int)(end - str - 1), str + 1);
    }
    return str;
}

static int ini_on_value(void *user, const char *section, const char *name, const char *value)
{
    ini_ctx *c = user;
    if (c->err_line != 0) return 1; /* the first error is the one reported */
    const known *k = find_key(name);
    const mrc_opt_def *d = k != NULL ? k->def : NULL;
    if (*section == '\0') {
        if (d != NULL)
            ini_fail(c, MRC_EINVAL, "%s: key outside any section (it belongs in [%s])", name,
                     d->section);
        else
            ini_fail(c, MRC_EINVAL, "%s: key outside any section", name);
        return 0;
    }
    if (!known_section(section, strlen(section))) {
        ini_fail(c, MRC_EINVAL, "[%s] %s: unknown section", section, name);
        return 0;
    }
    if (d == NULL) {
        ini_fail(c, MRC_EINVAL, "[%s] %s: unknown key", section, name);
        return 0;
    }
    if (strcmp(d->section, section) != 0) {
        ini_fail(c, MRC_EINVAL, "[%s] %s: unknown key (it belongs in [%s])", section, name,
                 d->section);
        return 0;
    }
    /* A continuation adds to a list (inputs, exclude); a key of one value would take it alone */
    bool continued = c->indented && c->after_key;
    c->after_key = true;
    if (continued && d->parse != parse_inputs && d->parse != parse_exclude) {
        ini_fail(c, MRC_EINVAL,
                 "[%s] %s: an indented line continues the value above, and %s takes one "
                 "value (unindent the line to give a key of its own)",
                 section, name, name);
        return 0;
    }
    char cause[MRC_OPT_CAUSE_MAX];
    int rc = apply(c->o, k, value, cause, sizeof cause);
    if (rc != 0) {
        ini_fail(c, rc, "[%s] %s: %s", section, name, cause);
        return 0;
    }
    return 1;
}

static int load_config(mrc_options *o, const char *file, mrc_err *err)
{
    ini_ctx c = {.o = o};
    /* Every rank reads the file itself, so it must be a regular file: ranks reading one FIFO
     * would each get part of it, and opening one without a writer would wait forever. */
    int fd;
    mode_t mode;
    int e = mrc_open_regular(file, &fd, &mode, NULL);
    if (e != 0)
        return mrc_err_set(err, MRC_EINVAL, "%s: %s", file,
                           e > 0           ? strerror(e)
                           : S_ISDIR(mode) ? strerror(EISDIR)
                                           : "not a regular file");
    c.f = fdopen(fd, "r");
    if (c.f == NULL) {
        e = errno;
        close(fd);
        return mrc_err_set(err, MRC_EINVAL, "%s: %s", file, strerror(e));
    }
    int line = ini_parse_stream(ini_read_line, &c, ini_on_value, &c);
    fclose(c.f);
    if (c.read_errno != 0)
        return mrc_err_set(err, MRC_EINVAL, "%s: %s", file, strerror(c.read_errno));
    if (line == -2) return mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", file);
    /* inih reports the first bad line, ours or its own (a line that is neither a section,
     * a key = value, a comment nor a continuation). */
    if (line > 0 && (c.err_line == 0 || line < c.err_line))
        return mrc_err_set(err, MRC_EINVAL,
                           "%s:%d: syntax error (expected [section] or "
                           "key = value)",
                           file, line);
    if (c.err_line != 0)
        return mrc_err_set(err, c.err_code, "%s:%d: %s", file, c.err_line, c.err_msg);
    return 0;
}

/* ---- the command line ---- */

#define LONG_ONLY_BASE 256 /* getopt_long's val for known option i without a short name */

static const known *known_of_val(int val)
{
    if (val >= LONG_ONLY_BASE && (size_t)(val - LONG_ONLY_BASE) < nknown)
        return &knowns[val - LONG_ONLY_BASE];
    for (size_t i = 0; i < nknown; i++)
        if (val != 0 && knowns[i].def->short_name == val) return &knowns[i];
    return NULL;
}

/* "--name" of a long option as the user typed it, without "=value". */
static void option_text(const char *arg, char *out, size_t outlen)
{
    size_t n = strcspn(arg, "=");
    snprintf(out, outlen, "%.*s", (int)(n < 200 ? n : 200), arg);
}

/* The error for what getopt_long rejected (it reports nothing itself: opterr = 0). */
static int getopt_error(int c, char **argv, mrc_err *err)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    bool is_long = arg != NULL && strncmp(arg, "--", 2) == 0;
    const known *k = known_of_val(optopt);
    const mrc_opt_def *d = k != NULL ? k->def : NULL;
    char text[256];
    if (c == ':') {
        if (d != NULL && (is_long || d->short_name == 0))
            return mrc_err_set(err, MRC_EINVAL, "option '--%s' requires an argument", d->name);
        return mrc_err_set(err, MRC_EINVAL, "option '-%c' requires an argument", optopt);
    }
    /* A known option rejected with '?' can only be a flag given "--flag=value"; an unknown
     * short option leaves its character in optopt, an unknown long one leaves 0. */
    if (d != NULL)
        return mrc_err_set(err, MRC_EINVAL, "option '--%s' doesn't allow an argument", d->name);
    if (optopt != 0) return mrc_err_set(err, MRC_EINVAL, "unknown option '-%c'", optopt);
    option_text(arg, text, sizeof text);
    size_t len = strlen(text + 2), matches = 0;
    for (size_t i = 0; i < nknown && len > 0; i++)
        if (strcmp(knowns[i].def->name, "inputs") != 0 &&
            strncmp(knowns[i].def->name, text + 2, len) == 0)
            matches++;
    if (matches > 1) return mrc_err_set(err, MRC_EINVAL, "ambiguous option '%s'", text);
    return mrc_err_set(err, MRC_EINVAL, "unknown option '%s'", text);
}

static int set_defaults(mrc_options *o, mrc_err *err)
{
    memset(o, 0, sizeof *o);
    o->schedule = MRC_SCHEDULE_STATIC;
    o->reduce = MRC_REDUCE_AUTO;
    o->progress = MRC_PROGRESS_AUTO;
    o->out.sort = MRC_SORT_COUNT;
    o->job = mrc_job_registry()[0]; /* the default job: the registry's first */
    o->out.path = strdup("-");
    o->tmp_dir = strdup(mrc_tmp_dir_default());
    o->checkpoint_interval = 300;
    const mrc_job_desc *const *jobs = mrc_job_registry();
    size_t n = 0;
    while (jobs[n] != NULL)
        n++;
    o->job_settings = calloc(n + 1, sizeof *o->job_settings);
    for (size_t j = 0; o->job_settings != NULL && j < n; j++)
        if ((o->job_settings[j] = mrc_job_settings_new(jobs[j])) == NULL) {
            mrc_options_free(o);
            return mrc_err_set(err, MRC_ENOMEM, "out of memory");
        }
    if (o->job == NULL || o->out.path == NULL || o->tmp_dir == NULL || o->job_settings == NULL)
        return mrc_err_set(err, MRC_ENOMEM, "out of memory");
    return 0;
}

typedef struct cli_opt {
    const known *k;
    const char *value;
} cli_opt;

/* Options on the command line that the run would ignore are refused, as a misspelt one is: a
 * job's option that the chosen job does not have (--per-year with --job words), a checkpoint
 * option without --checkpoint. (A config file may hold options for several jobs.) */
static int check_given(const mrc_options *o, const cli_opt *given, size_t ngiven, mrc_err *err)
{
    for (size_t i = 0; i < ngiven; i++) {
        const char *name = given[i].k->def->name;
        const char *what = strncmp(name, "no-", 3) == 0 ? name + 3 : name; /* --no-NAME: NAME's */
        if (given[i].k->of_jobs) {
            bool mine = false;
            for (const mrc_opt_def *d = o->job->opts; d->name != NULL && !mine; d++)
                mine = strcmp(d->name, name) == 0;
            if (!mine)
                return mrc_err_set(err, MRC_EINVAL, "--%s is not an option of --job %s", name,
                                   o->job->name);
        } else if (o->checkpoint == NULL && (strncmp(what, "checkpoint-", 11) == 0 ||
                                             strcmp(what, "keep-checkpoint") == 0)) {
            return mrc_err_set(err, MRC_EINVAL, "--%s needs --checkpoint DIR", name);
        }
    }
    return 0;
}

int mrc_options_parse(int argc, char **argv, mrc_options *o, mrc_err *err)
{
    collect_known();
    struct option longopts[KNOWN_MAX + 1];
    size_t nlong = 0;
    char short_opts[2 * KNOWN_MAX + 2] = ":";
    size_t ns = 1;
    for (size_t i = 0; i < nknown; i++) {
        const mrc_opt_def *d = knowns[i].def;
        if (strcmp(d->name, "inputs") == 0) continue; /* [input] inputs: INPUT arguments */
        int has_arg = mrc_opt_takes_value(d) ? required_argument : no_argument;
        longopts[nlong++] = (struct option){
            d->name, has_arg, NULL, d->short_name ? d->short_name : LONG_ONLY_BASE + (int)i};
        if (d->short_name) {
            short_opts[ns++] = d->short_name;
            if (has_arg == required_argument) short_opts[ns++] = ':';
        }
    }
    short_opts[ns] = '\0';
    longopts[nlong] = (struct option){NULL, 0, NULL, 0};

    int rc = set_defaults(o, err);
    if (rc != 0) goto fail;

    /* Pass 1: collect the command line; it is applied after the INI file so that it wins. */
    cli_opt *given = calloc((size_t)(argc > 0 ? argc : 1), sizeof *given);
    if (given == NULL) {
        rc = mrc_err_set(err, MRC_ENOMEM, "out of memory");
        goto fail;
    }
    size_t ngiven = 0;
    const char *config = NULL;
    optind = 0; /* glibc: 0 also resets getopt's internal state between calls */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, short_opts, longopts, NULL)) != -1) {
        const known *k = c == '?' || c == ':' ? NULL : known_of_val(c);
        if (k == NULL) {
            rc = getopt_error(c, argv, err);
            free(given);
            goto fail;
        }
        if (k->def->offset == offsetof(mrc_options, config) && !k->of_jobs) config = optarg;
        if (k->def->offset == offsetof(mrc_options, help) && !k->of_jobs) o->help = true;
        if (k->def->offset == offsetof(mrc_options, version) && !k->of_jobs) o->version = true;
        given[ngiven++] = (cli_opt){k, optarg};
    }

    /* --help and --version answer whatever else is on the line. */
    if (o->help || o->version) {
        free(given);
        return 0;
    }

    if (config != NULL && (rc = load_config(o, config, err)) != 0) {
        free(given);
        goto fail;
    }
    for (size_t i = 0; i < ngiven; i++) {
        char cause[MRC_OPT_CAUSE_MAX];
        rc = apply(o, given[i].k, given[i].value, cause, sizeof cause);
        if (rc != 0) {
            mrc_err_set(err, rc, "--%s: %s", given[i].k->def->name, cause);
            free(given);
            goto fail;
        }
    }
    rc = check_given(o, given, ngiven, err);
    free(given);
    if (rc != 0) goto fail;

    if (o->output_per_rank != NULL) {
        const char *clash = o->out.top > 0                   ? "--top"
                            : o->reduce == MRC_REDUCE_REDUCE ? "--reduce reduce"
                            : o->output_given                ? "--output"
                                                             : NULL;
        if (clash != NULL) {
            rc = mrc_err_set(err, MRC_EINVAL,
                             "--output-per-rank writes every rank's part: it excludes %s", clash);
            goto fail;
        }
    }
    if (optind < argc) {
        free_inputs(o);
        for (int i = optind; i < argc; i++)
            if (add_input(o, argv[i], strlen(argv[i])) != 0) {
                rc = mrc_err_set(err, MRC_ENOMEM, "out of memory");
                goto fail;
            }
    }
    if ((rc = check_paths(o, err)) != 0) goto fail;
    return 0;

fail:
    mrc_options_free(o);
    return rc;
}

const void *mrc_options_job_settings(const mrc_options *o)
{
    const mrc_job_desc *const *jobs = mrc_job_registry();
    for (size_t j = 0; jobs[j] != NULL; j++)
        if (jobs[j] == o->job) return o->job_settings[j];
    return NULL;
}

void mrc_options_free(mrc_options *o)
{
    if (o == NULL) return;
    free_inputs(o);
    strings_free(&o->exclude.v, &o->exclude.n);
    const mrc_job_desc *const *jobs = mrc_job_registry();
    for (size_t j = 0; o->job_settings != NULL && jobs[j] != NULL; j++)
        mrc_job_settings_free(jobs[j], o->job_settings[j]);
    free(o->job_settings);
    o->job_settings = NULL;
    mrc_opt_free_strings(run_opts, o);
}
