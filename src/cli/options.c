/* options.c - turns the command line and an optional INI file (--config) into mrc_options:
 * defaults, then the INI file, then the command line, each option checked once, here.
 * It must never print, exit or touch MPI: every problem becomes an mrc_err that names the option
 * (or "<file>:<line>: [section] key") for cli/ to report once. */
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
#include "options.h"

#define MRC_THREADS_MAX 65536u
#define MRC_CHUNK_MIN 4096u

/* What an option does to mrc_options; one entry per long option / INI key. */
enum opt_kind {
    K_INPUTS,
    K_JOB,
    K_TOKENS,
    K_FOLD_CASE,
    K_NO_FOLD_CASE,
    K_FORMAT,
    K_VALUE,
    K_POS,
    K_YEAR_MIN,
    K_YEAR_MAX,
    K_STRICT,
    K_THREADS,
    K_SCHEDULE,
    K_CHUNK_SIZE,
    K_REDUCE,
    K_PROGRESS,
    K_OUTPUT,
    K_OUTPUT_PER_RANK,
    K_SORT,
    K_TOP,
    K_METRICS,
    K_QUIET,
    K_CONFIG,
    K_HELP,
    K_VERSION,
};

typedef struct opt_def {
    const char *name;    /* long option and INI key */
    const char *section; /* INI section, NULL: command line only */
    int has_arg;         /* getopt_long's no_argument / required_argument; -1: INI only */
    char short_name;     /* 0: none */
    enum opt_kind kind;
} opt_def;

static const opt_def opt_defs[] = {
    {"inputs", "input", -1, 0, K_INPUTS},
    {"job", "job", required_argument, 0, K_JOB},
    {"tokens", "job", required_argument, 0, K_TOKENS},
    {"fold-case", "job", no_argument, 0, K_FOLD_CASE},
    {"no-fold-case", NULL, no_argument, 0, K_NO_FOLD_CASE},
    {"format", "job", required_argument, 0, K_FORMAT},
    {"value", "job", required_argument, 0, K_VALUE},
    {"pos", "job", required_argument, 0, K_POS},
    {"year-min", "job", required_argument, 0, K_YEAR_MIN},
    {"year-max", "job", required_argument, 0, K_YEAR_MAX},
    {"strict", "job", no_argument, 0, K_STRICT},
    {"threads", "run", required_argument, 't', K_THREADS},
    {"schedule", "run", required_argument, 0, K_SCHEDULE},
    {"chunk-size", "run", required_argument, 0, K_CHUNK_SIZE},
    {"reduce", "run", required_argument, 0, K_REDUCE},
    {"progress", "run", required_argument, 0, K_PROGRESS},
    {"output", "output", required_argument, 'o', K_OUTPUT},
    {"output-per-rank", "output", required_argument, 0, K_OUTPUT_PER_RANK},
    {"sort", "output", required_argument, 0, K_SORT},
    {"top", "output", required_argument, 'k', K_TOP},
    {"metrics", "output", required_argument, 'm', K_METRICS},
    {"quiet", "output", no_argument, 'q', K_QUIET},
    {"config", NULL, required_argument, 'c', K_CONFIG},
    {"help", NULL, no_argument, 'h', K_HELP},
    {"version", NULL, no_argument, 'V', K_VERSION},
};
#define NOPTS (sizeof opt_defs / sizeof opt_defs[0])
#define LONG_ONLY_BASE 256 /* getopt_long's val for entry i without a short name: base + i */

static const char short_opts[] = ":t:o:k:m:qc:hV";

static const char usage_text[] =
    "Usage: mrcount [OPTION]... INPUT...\n"
    "Count the words (or Google Books ngrams) of INPUTs on every MPI rank and\n"
    "core; write 'key TAB count' lines. INPUT: files, directories (recursed),\n"
    "globs, or @list.txt (one path a line).\n"
    "\n"
    "  -c, --config FILE.ini  read options from FILE.ini: sections [input] [job]\n"
    "                         [run] [output], keys named as the long options;\n"
    "                         the command line wins ([input] inputs = INPUTs,\n"
    "                         replaced by any INPUT given on the command line)\n"
    "Job:\n"
    "      --job words|ngram  what to count (default: words)\n"
    "      --tokens whitespace|alnum\n"
    "                         a word is a run of non-space bytes, or of\n"
    "                         [A-Za-z0-9'] (default: whitespace)\n"
    "      --fold-case        lower-case ASCII letters (--no-fold-case: don't)\n"
    "Ngram job (Google Books Ngram exports, plain or .gz):\n"
    "      --format v1|v2|v3  2009: ngram year match pages volumes; 2012: ngram\n"
    "                         year match volumes; 2020: ngram year,match,volumes...\n"
    "                         (TAB-separated; default: v2)\n"
    "      --value match|volumes  which count to sum (default: match)\n"
    "      --year-min Y, --year-max Y  only these years, inclusive (0-9999)\n"
    "      --pos keep|untagged|tagged|strip\n"
    "                         POS-tagged forms (word_NOUN, _NOUN_): keep as written\n"
    "                         (default), only ngrams without tags, only with tags,\n"
    "                         or strip tags and sum (double counts in v3 data)\n"
    "      --strict           a malformed line is an error (default: skipped,\n"
    "                         counted and reported)\n"
    "Run:\n"
    "  -t, --threads N        threads per rank (default: the cores this rank was\n"
    "                         given, shared among ranks bound to the same cores)\n"
    "      --schedule static|dynamic\n"
    "                         splits dealt out up front, or pulled from rank 0\n"
    "                         as ranks finish (default: static)\n"
    "      --chunk-size SIZE  split size, suffix k/M/G, at least 4096 (default:\n"
    "                         input / (16 x ranks), within 1M..64M)\n"
    "      --reduce auto|reduce|shuffle\n"
    "                         combine the ranks' tables with MPI_Reduce or an\n"
    "                         all-to-all hash shuffle (default: auto)\n"
    "      --progress auto|always|never\n"
    "                         progress bar on stderr (auto: when a terminal)\n"
    "Output:\n"
    "  -o, --output PATH|-    result file (default: - = standard output); written\n"
    "                         under a temporary name, renamed when complete\n"
    "      --output-per-rank DIR  with the shuffle: each rank writes its hash range\n"
    "                         to DIR/part-NNNNN.tsv, rank 0 adds DIR/manifest.json\n"
    "                         (DIR is created; it must hold no parts already)\n"
    "      --sort count|key   count descending, then key (default); or key\n"
    "  -k, --top K            only the first K lines (default: 0 = all)\n"
    "  -m, --metrics FILE.json  timings, sizes and placement of the run as JSON\n"
    "  -q, --quiet            no summary line on stderr\n"
    "  -h, --help             print this help and exit\n"
    "  -V, --version          print the version and exit\n"
    "\n"
    "In FILE.ini, booleans are true/false, yes/no, on/off or 1/0.\n"
    "Exit status: 0 success, 2 bad usage or configuration, 1 a runtime failure\n"
    "on any rank.\n"
    "\n"
    "Example: 2 ranks with 2 cores each\n"
    "  mpirun -np 2 --map-by slot:PE=2 mrcount --threads 2 corpus/\n";

const char *mrc_options_usage(void)
{
    return usage_text;
}

/* ---- values ---- */

/* A copy of a non-empty value in *dst; the previous string (ours) is freed. */
static int set_string(const char **dst, const char *value, char *cause, size_t causelen)
{
    if (*value == '\0') {
        snprintf(cause, causelen, "empty value");
        return MRC_EINVAL;
    }
    char *s = strdup(value);
    if (s == NULL) {
        snprintf(cause, causelen, "out of memory");
        return MRC_ENOMEM;
    }
    free((char *)*dst);
    *dst = s;
    return 0;
}

static int set_owned(char **dst, const char *value, char *cause, size_t causelen)
{
    const char *s = *dst;
    int rc = set_string(&s, value, cause, causelen);
    *dst = (char *)s;
    return rc;
}

/* `value` as one of `names` (NULL-terminated); *out = its index. */
static int set_choice(int *out, const char *value, const char *const *names, char *cause,
                      size_t causelen)
{
    for (int i = 0; names[i] != NULL; i++)
        if (strcmp(value, names[i]) == 0) {
            *out = i;
            return 0;
        }
    int n = snprintf(cause, causelen, "'%s' is not one of ", value);
    for (int i = 0; names[i] != NULL && n >= 0 && (size_t)n < causelen; i++)
        n += snprintf(cause + n, causelen - (size_t)n, "%s%s", i ? ", " : "", names[i]);
    return MRC_EINVAL;
}

/* A decimal number without sign, spaces or suffix. */
static int parse_u64(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9') return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static void free_inputs(mrc_options *o)
{
    for (size_t i = 0; i < o->ninputs; i++)
        free(o->inputs[i]);
    free(o->inputs);
    o->inputs = NULL;
    o->ninputs = 0;
}

static int add_input(mrc_options *o, const char *s, size_t len)
{
    char **grown = realloc(o->inputs, (o->ninputs + 1) * sizeof *grown);
    if (grown == NULL) return MRC_ENOMEM;
    o->inputs = grown;
    char *dup = strndup(s, len);
    if (dup == NULL) return MRC_ENOMEM;
    o->inputs[o->ninputs++] = dup;
    return 0;
}

/* The INI `inputs` value: whitespace-separated, appended (continuation lines add more). */
static int add_input_list(mrc_options *o, const char *value, char *cause, size_t causelen)
{
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

/* Apply one option. value is NULL for a command-line flag (no argument); from an INI file every
 * value is a string, and flags take a boolean. On error, cause says why (without the name). */
static int apply(mrc_options *o, const opt_def *d, const char *value, char *cause, size_t causelen)
{
    static const char *const jobs[] = {"words", "ngram", NULL};
    static const char *const tokens[] = {"whitespace", "alnum", NULL};
    static const char *const schedules[] = {"static", "dynamic", NULL};
    static const char *const reduces[] = {"auto", "reduce", "shuffle", NULL};
    static const char *const progresses[] = {"auto", "always", "never", NULL};
    static const char *const sorts[] = {"count", "key", NULL};
    static const char *const formats[] = {"v1", "v2", "v3", NULL};
    static const char *const values[] = {"match", "volumes", NULL};
    static const char *const poses[] = {"keep", "untagged", "tagged", "strip", NULL};
    int choice, rc;
    uint64_t n;
    bool flag = true;

    if (d->has_arg == no_argument && value != NULL && parse_bool(value, &flag) != 0) {
        snprintf(cause, causelen, "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)", value);
        return MRC_EINVAL;
    }
    switch (d->kind) {
    case K_INPUTS:
        return add_input_list(o, value, cause, causelen);
    case K_JOB:
        if ((rc = set_choice(&choice, value, jobs, cause, causelen)) != 0) return rc;
        return set_string(&o->job.job, value, cause, causelen);
    case K_TOKENS:
        if ((rc = set_choice(&choice, value, tokens, cause, causelen)) != 0) return rc;
        o->job.tokens = choice == 0 ? MRC_TOKENS_WHITESPACE : MRC_TOKENS_ALNUM;
        return 0;
    case K_FOLD_CASE:
        o->job.fold_case = flag;
        return 0;
    case K_NO_FOLD_CASE:
        o->job.fold_case = !flag;
        return 0;
    case K_FORMAT:
        if ((rc = set_choice(&choice, value, formats, cause, causelen)) != 0) return rc;
        o->job.format = (enum mrc_ngram_format)choice;
        return 0;
    case K_VALUE:
        if ((rc = set_choice(&choice, value, values, cause, causelen)) != 0) return rc;
        o->job.value = (enum mrc_ngram_value)choice;
        return 0;
    case K_POS:
        if ((rc = set_choice(&choice, value, poses, cause, causelen)) != 0) return rc;
        o->job.pos = (enum mrc_pos)choice;
        return 0;
    case K_YEAR_MIN:
    case K_YEAR_MAX:
        if (parse_u64(value, &n) != 0 || n > MRC_YEAR_MAX) {
            snprintf(cause, causelen, "'%s' is not a year in 0-%d", value, MRC_YEAR_MAX);
            return MRC_EINVAL;
        }
        *(d->kind == K_YEAR_MIN ? &o->job.year_min : &o->job.year_max) = (int)n;
        return 0;
    case K_STRICT:
        o->job.strict = flag;
        return 0;
    case K_THREADS:
        if (parse_u64(value, &n) != 0 || n == 0) {
            snprintf(cause, causelen, "'%s' is not a positive integer", value);
            return MRC_EINVAL;
        }
        if (n > MRC_THREADS_MAX) {
            snprintf(cause, causelen, "'%s' is more than %u threads", value, MRC_THREADS_MAX);
            return MRC_EINVAL;
        }
        o->threads = (size_t)n;
        return 0;
    case K_SCHEDULE:
        if ((rc = set_choice(&choice, value, schedules, cause, causelen)) != 0) return rc;
        o->schedule = choice == 0 ? MRC_SCHEDULE_STATIC : MRC_SCHEDULE_DYNAMIC;
        return 0;
    case K_CHUNK_SIZE:
        if (mrc_parse_size(value, &n) != 0) {
            snprintf(cause, causelen, "'%s' is not a size (a number with k, M or G)", value);
            return MRC_EINVAL;
        }
        if (n < MRC_CHUNK_MIN) {
            snprintf(cause, causelen, "'%s' is less than the minimum of %u bytes", value,
                     MRC_CHUNK_MIN);
            return MRC_EINVAL;
        }
        o->chunk_size = n;
        return 0;
    case K_REDUCE:
        if ((rc = set_choice(&choice, value, reduces, cause, causelen)) != 0) return rc;
        o->reduce = choice == 0   ? MRC_REDUCE_AUTO
                    : choice == 1 ? MRC_REDUCE_REDUCE
                                  : MRC_REDUCE_SHUFFLE;
        return 0;
    case K_PROGRESS:
        if ((rc = set_choice(&choice, value, progresses, cause, causelen)) != 0) return rc;
        o->progress = choice == 0   ? MRC_PROGRESS_AUTO
                      : choice == 1 ? MRC_PROGRESS_ALWAYS
                                    : MRC_PROGRESS_NEVER;
        return 0;
    case K_OUTPUT:
        return set_string(&o->out.path, value, cause, causelen);
    case K_SORT:
        if ((rc = set_choice(&choice, value, sorts, cause, causelen)) != 0) return rc;
        o->out.sort = choice == 0 ? MRC_SORT_COUNT : MRC_SORT_KEY;
        return 0;
    case K_TOP:
        if (parse_u64(value, &n) != 0) {
            snprintf(cause, causelen, "'%s' is not a non-negative integer", value);
            return MRC_EINVAL;
        }
        o->out.top = n;
        return 0;
    case K_OUTPUT_PER_RANK:
        return set_owned(&o->output_per_rank, value, cause, causelen);
    case K_METRICS:
        return set_owned(&o->metrics, value, cause, causelen);
    case K_QUIET:
        o->quiet = flag;
        return 0;
    case K_CONFIG:
        return set_owned(&o->config, value, cause, causelen);
    case K_HELP:
        o->help = flag;
        return 0;
    case K_VERSION:
        o->version = flag;
        return 0;
    }
    return 0;
}

/* ---- the INI file ---- */

typedef struct ini_ctx {
    mrc_options *o;
    FILE *f;
    int line; /* the line the reader returned last (what the handler is looking at) */
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

static const opt_def *find_key(const char *name)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (opt_defs[i].section != NULL && strcmp(opt_defs[i].name, name) == 0) return &opt_defs[i];
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
    if (first > str && *first != '\0' && *first != ';' && *first != '#')
        for (char *p = first + 1; *p != '\0'; p++)
            if (*p == ';' && isspace((unsigned char)p[-1])) {
                *p = '\0';
                break;
            }
    if (str[0] == '[') {
        const char *end = strchr(str, ']');
        if (end != NULL && !known_section(str + 1, (size_t)(end - str - 1)))
            ini_fail(c, MRC_EINVAL, "[%.*s]: unknown section (known: [input] [job] [run] [output])",
                     (int)(end - str - 1), str + 1);
    }
    return str;
}

static int ini_on_value(void *user, const char *section, const char *name, const char *value)
{
    ini_ctx *c = user;
    if (c->err_line != 0) return 1; /* the first error is the one reported */
    const opt_def *d = find_key(name);
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
    char cause[MRC_ERR_MSG_MAX / 2];
    int rc = apply(c->o, d, value, cause, sizeof cause);
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
    int e = mrc_open_regular(file, &fd, &mode);
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

static const opt_def *def_of_val(int val)
{
    if (val >= LONG_ONLY_BASE && (size_t)(val - LONG_ONLY_BASE) < NOPTS)
        return &opt_defs[val - LONG_ONLY_BASE];
    for (size_t i = 0; i < NOPTS; i++)
        if (val != 0 && opt_defs[i].short_name == val) return &opt_defs[i];
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
    const opt_def *d = def_of_val(optopt);
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
    for (size_t i = 0; i < NOPTS && len > 0; i++)
        if (opt_defs[i].has_arg >= 0 && strncmp(opt_defs[i].name, text + 2, len) == 0) matches++;
    if (matches > 1) return mrc_err_set(err, MRC_EINVAL, "ambiguous option '%s'", text);
    return mrc_err_set(err, MRC_EINVAL, "unknown option '%s'", text);
}

static int set_defaults(mrc_options *o, mrc_err *err)
{
    memset(o, 0, sizeof *o);
    o->job.tokens = MRC_TOKENS_WHITESPACE;
    o->job.format = MRC_NGRAM_V2;
    o->job.value = MRC_VALUE_MATCH;
    o->job.pos = MRC_POS_KEEP;
    o->job.year_min = 0;
    o->job.year_max = MRC_YEAR_MAX;
    o->schedule = MRC_SCHEDULE_STATIC;
    o->reduce = MRC_REDUCE_AUTO;
    o->progress = MRC_PROGRESS_AUTO;
    o->out.sort = MRC_SORT_COUNT;
    o->job.job = strdup("words");
    o->out.path = strdup("-");
    if (o->job.job == NULL || o->out.path == NULL)
        return mrc_err_set(err, MRC_ENOMEM, "out of memory");
    return 0;
}

typedef struct cli_opt {
    const opt_def *def;
    const char *value;
} cli_opt;

int mrc_options_parse(int argc, char **argv, mrc_options *o, mrc_err *err)
{
    struct option longopts[NOPTS + 1];
    size_t nlong = 0;
    for (size_t i = 0; i < NOPTS; i++) {
        if (opt_defs[i].has_arg < 0) continue;
        longopts[nlong++] = (struct option){opt_defs[i].name, opt_defs[i].has_arg, NULL,
                                            opt_defs[i].short_name ? opt_defs[i].short_name
                                                                   : LONG_ONLY_BASE + (int)i};
    }
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
        const opt_def *d = c == '?' || c == ':' ? NULL : def_of_val(c);
        if (d == NULL) {
            rc = getopt_error(c, argv, err);
            free(given);
            goto fail;
        }
        if (d->kind == K_CONFIG) config = optarg;
        given[ngiven++] = (cli_opt){d, optarg};
    }

    for (size_t i = 0; i < ngiven; i++) {
        if (given[i].def->kind == K_HELP) o->help = true;
        if (given[i].def->kind == K_VERSION) o->version = true;
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
        char cause[MRC_ERR_MSG_MAX / 2];
        rc = apply(o, given[i].def, given[i].value, cause, sizeof cause);
        if (rc != 0) {
            mrc_err_set(err, rc, "--%s: %s", given[i].def->name, cause);
            free(given);
            goto fail;
        }
    }
    free(given);

    if (o->output_per_rank != NULL) {
        const char *clash = o->out.top > 0                   ? "--top"
                            : o->reduce == MRC_REDUCE_REDUCE ? "--reduce reduce"
                            : strcmp(o->out.path, "-") != 0  ? "--output"
                                                             : NULL;
        if (clash != NULL) {
            rc = mrc_err_set(err, MRC_EINVAL,
                             "--output-per-rank writes every rank's part: it excludes %s", clash);
            goto fail;
        }
    }
    if (o->job.year_min > o->job.year_max) {
        rc = mrc_err_set(err, MRC_EINVAL, "--year-min %d is after --year-max %d", o->job.year_min,
                         o->job.year_max);
        goto fail;
    }
    if (optind < argc) {
        free_inputs(o);
        for (int i = optind; i < argc; i++)
            if (add_input(o, argv[i], strlen(argv[i])) != 0) {
                rc = mrc_err_set(err, MRC_ENOMEM, "out of memory");
                goto fail;
            }
    }
    return 0;

fail:
    mrc_options_free(o);
    return rc;
}

void mrc_options_free(mrc_options *o)
{
    if (o == NULL) return;
    free_inputs(o);
    free((char *)o->job.job);
    free((char *)o->out.path);
    free(o->metrics);
    free(o->output_per_rank);
    free(o->config);
    o->job.job = NULL;
    o->out.path = NULL;
    o->metrics = NULL;
    o->output_per_rank = NULL;
    o->config = NULL;
}
