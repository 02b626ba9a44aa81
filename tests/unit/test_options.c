/* test_options.c - mrc_options_parse(): defaults, every option on the command line and in an INI
 * file, the command line winning over the file, and the exact error messages for bad usage.
 * It must never depend on the working directory: INI files go to a fresh temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "options.h"
#include "ngram.h"
#include "tsv.h"
#include "words.h"

/* The words job's settings as parsed (every job option applies to each job that owns it). */
#define WORDS(o) ((const mrc_words_opts *)(o)->job_settings[0])

#include "test_util.h"

static char tmpdir[64];
static int ini_serial;

static int setup_dir(void **state)
{
    (void)state;
    return tmpdir_make(tmpdir, sizeof tmpdir, "/tmp/mrc_test_options.XXXXXX");
}

static int teardown_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes `text` to a new INI file; returns its path (static storage, valid until the next call). */
static const char *write_ini(const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/run%d.ini", tmpdir, ini_serial++);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Parses "mrcount" followed by the NULL-terminated arguments. */
static int parse(mrc_options *o, mrc_err *e, ...)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)"mrcount";
    va_list ap;
    va_start(ap, e);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 63)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    memset(e, 0, sizeof *e);
    return mrc_options_parse(argc, argv, o, e);
}

/* Parses, expects failure with exactly `msg`. */
#define EXPECT_ERROR(want, ...)                                                                    \
    do {                                                                                           \
        mrc_options o_;                                                                            \
        mrc_err e_;                                                                                \
        assert_int_equal(parse(&o_, &e_, __VA_ARGS__, (char *)NULL), MRC_EINVAL);                  \
        assert_int_equal(e_.code, MRC_EINVAL);                                                     \
        assert_string_equal(e_.msg, (want));                                                       \
        mrc_options_free(&o_);                                                                     \
    } while (0)

static void test_defaults(void **state)
{
    (void)state;
    mrc_options o;
    mrc_err e;
    assert_int_equal(parse(&o, &e, (char *)NULL), 0);
    assert_int_equal(e.code, 0);
    assert_string_equal(o.job->name, "words");
    assert_int_equal(WORDS(&o)->tokens, MRC_TOKENS_WHITESPACE);
    assert_false(WORDS(&o)->fold_case);
    assert_int_equal(o.threads, 0);
    assert_int_equal(o.schedule, MRC_SCHEDULE_STATIC);
    assert_int_equal(o.chunk_size, 0);
    assert_int_equal(o.reduce, MRC_REDUCE_AUTO);
    assert_int_equal(o.progress, MRC_PROGRESS_AUTO);
    assert_string_equal(o.out.path, "-");
    assert_int_equal(o.out.sort, MRC_SORT_COUNT);
    assert_int_equal(o.out.top, 0);
    assert_null(o.metrics);
    assert_false(o.quiet);
    assert_false(o.sync);
    assert_false(o.help);
    assert_false(o.version);
    assert_null(o.config);
    assert_int_equal(o.ninputs, 0);
    mrc_options_free(&o);
    mrc_options_free(&o); /* twice is harmless */
}

static void test_every_long_option(void **state)
{
    (void)state;
    mrc_options o;
    mrc_err e;
    assert_int_equal(parse(&o, &e, "--job", "words", "--tokens", "alnum", "--fold-case",
                           "--threads", "4", "--schedule", "dynamic", "--chunk-size", "1M",
                           "--reduce", "shuffle", "--progress", "never", "--output", "out.tsv",
                           "--sort", "key", "--top", "10", "--metrics", "m.json", "--quiet",
                           "--sync", "a.txt", "dir/", (char *)NULL),
                     0);
    assert_string_equal(o.job->name, "words");
    assert_int_equal(WORDS(&o)->tokens, MRC_TOKENS_ALNUM);
    assert_true(WORDS(&o)->fold_case);
    assert_int_equal(o.threads, 4);
    assert_int_equal(o.schedule, MRC_SCHEDULE_DYNAMIC);
    assert_int_equal(o.chunk_size, 1u << 20);
    assert_int_equal(o.reduce, MRC_REDUCE_SHUFFLE);
    assert_int_equal(o.progress, MRC_PROGRESS_NEVER);
    assert_string_equal(o.out.path, "out.tsv");
    assert_int_equal(o.out.sort, MRC_SORT_KEY);
    assert_int_equal(o.out.top, 10);
    assert_string_equal(o.metrics, "m.json");
    assert_true(o.quiet);
    assert_true(o.sync);
    assert_int_equal(o.ninputs, 2);
    assert_string_equal(o.inputs[0], "a.txt");
    assert_string_equal(o.inputs[1], "dir/");
    mrc_options_free(&o);

    /* "=" forms and the other enum values */
    assert_int_equal(parse(&o, &e, "--job=words", "--tokens=whitespace", "--threads=2",
                           "--schedule=static", "--chunk-size=4096", "--reduce=reduce",
                           "--progress=always", "--sort=count", "--top=0", "--output=-",
                           (char *)NULL),
                     0);
    assert_string_equal(o.job->name, "words");
    assert_int_equal(WORDS(&o)->tokens, MRC_TOKENS_WHITESPACE);
    assert_int_equal(o.threads, 2);
    assert_int_equal(o.chunk_size, 4096);
    assert_int_equal(o.reduce, MRC_REDUCE_REDUCE);
    assert_int_equal(o.progress, MRC_PROGRESS_ALWAYS);
    assert_int_equal(o.out.sort, MRC_SORT_COUNT);
    assert_string_equal(o.out.path, "-");
    mrc_options_free(&o);

    assert_int_equal(
        parse(&o, &e, "--reduce", "auto", "--progress", "auto", "--chunk-size", "2G", (char *)NULL),
        0);
    assert_int_equal(o.reduce, MRC_REDUCE_AUTO);
    assert_int_equal(o.progress, MRC_PROGRESS_AUTO);
    assert_int_equal(o.chunk_size, 2ull << 30);
    mrc_options_free(&o);

    /* the last occurrence wins; --no-fold-case undoes --fold-case */
    assert_int_equal(parse(&o, &e, "--fold-case", "--threads", "3", "--no-fold-case", "--threads",
                           "5", "-o", "a", "-o", "b", (char *)NULL),
                     0);
    assert_false(WORDS(&o)->fold_case);
    assert_int_equal(o.threads, 5);
    assert_string_equal(o.out.path, "b");
    mrc_options_free(&o);
}

static void test_short_options(void **state)
{
    (void)state;
    mrc_options o;
    mrc_err e;
    assert_int_equal(
        parse(&o, &e, "-o", "r.tsv", "-t", "3", "-k", "7", "-m", "x.json", "-q", (char *)NULL), 0);
    assert_string_equal(o.out.path, "r.tsv");
    assert_int_equal(o.threads, 3);
    assert_int_equal(o.out.top, 7);
    assert_string_equal(o.metrics, "x.json");
    assert_true(o.quiet);
    mrc_options_free(&o);

    assert_int_equal(parse(&o, &e, "-qt8", "-k5", (char *)NULL), 0);
    assert_true(o.quiet);
    assert_int_equal(o.threads, 8);
    assert_int_equal(o.out.top, 5);
    mrc_options_free(&o);
}

static void test_positional_inputs(void **state)
{
    (void)state;
    mrc_options o;
    mrc_err e;
    /* options after inputs still count; "--" ends options; "-" is passed on as an input */
    assert_int_equal(
        parse(&o, &e, "corpus/", "--threads", "2", "@list.txt", "--", "--quiet", "-", (char *)NULL),
        0);
    assert_int_equal(o.threads, 2);
    assert_false(o.quiet);
    assert_int_equal(o.ninputs, 4);
    assert_string_equal(o.inputs[0], "corpus/");
    assert_string_equal(o.inputs[1], "@list.txt");
    assert_string_equal(o.inputs[2], "--quiet");
    assert_string_equal(o.inputs[3], "-");
    mrc_options_free(&o);
}

static void test_help_version(void **state)
{
    (void)state;
    mrc_options o;
    mrc_err e;
    assert_int_equal(parse(&o, &e, "--help", (char *)NULL), 0);
    assert_true(o.help);
    assert_false(o.version);
    mrc_options_free(&o);
    assert_int_equal(parse(&o, &e, "-h", (char *)NULL), 0);
    assert_true(o.help);
    mrc_options_free(&o);
    assert_int_equal(parse(&o, &e, "--version", (char *)NULL), 0);
    assert_true(o.version);
    assert_false(o.help);
    mrc_options_free(&o);
    assert_int_equal(parse(&o, &e, "-V", (char *)NULL), 0);
    assert_true(o.version);
    mrc_options_free(&o);
    /* --help answers even when a value or the config file is bad */
    assert_int_equal(parse(&o, &e, "--threads", "zero", "--config", "/nonexistent/x.ini", "--help",
                           (char *)NULL),
                     0);
    assert_true(o.help);
    mrc_options_free(&o);

    const char *u = mrc_options_usage();
    assert_non_null(strstr(u, "Usage: mrcount"));
    assert_non_null(strstr(u, "mpirun -np 2 --map-by slot:PE=2 mrcount --threads 2 corpus/"));
    assert_non_null(strstr(u, "Exit status"));
    static const char *const names[] = {
        "--config",   "--job",        "--tokens", "--fold-case", "--no-fold-case", "--threads",
        "--schedule", "--chunk-size", "--reduce", "--progress",  "--output",       "--sort",
        "--top",      "--metrics",    "--quiet",  "--help",      "--version"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_non_null(strstr(u, names[i]));
}

static void test_bad_usage(void **state)
{
    (void)state;
    EXPECT_ERROR("unknown option '--foo'", "--foo");
    EXPECT_ERROR("unknown option '--foo'", "--foo=bar");
    EXPECT_ERROR("unknown option '-x'", "-x");
    EXPECT_ERROR("unknown option '-x'", "--quiet", "-qx");
    EXPECT_ERROR("ambiguous option '--t'", "--t", "3");
    EXPECT_ERROR("option '--threads' requires an argument", "--threads");
    EXPECT_ERROR("option '--job' requires an argument", "--job");
    EXPECT_ERROR("option '-t' requires an argument", "-t");
    EXPECT_ERROR("option '--quiet' doesn't allow an argument", "--quiet=yes");
    EXPECT_ERROR("option '--fold-case' doesn't allow an argument", "--fold-case=1");
    /* options the run would ignore: another job's, a checkpoint's without one */
    EXPECT_ERROR("--per-year is not an option of --job words", "--per-year");
    EXPECT_ERROR("--tokens is not an option of --job ngram", "--tokens", "alnum", "--job", "ngram");
    EXPECT_ERROR("--header is not an option of --job ngram", "--job", "ngram", "--header");
    EXPECT_ERROR("--keep-checkpoint needs --checkpoint DIR", "--keep-checkpoint");
    EXPECT_ERROR("--checkpoint-interval needs --checkpoint DIR", "--checkpoint-interval", "5");
    /* paths written over: one for the result and the metrics, or an input's */
    EXPECT_ERROR("--output and --metrics name the same file (r.tsv)", "-o", "r.tsv", "-m", "r.tsv");
    EXPECT_ERROR("--output and --metrics name the same file (./r.tsv)", "-o", "r.tsv", "-m",
                 "./r.tsv");
    EXPECT_ERROR("--output and --metrics name the same file (-)", "-m", "-");
    /* abbreviations that are unambiguous are fine */
    mrc_options o;
    mrc_err e;
    /* an option both jobs have; a config file may hold several jobs' options */
    assert_int_equal(parse(&o, &e, "--job", "ngram", "--fold-case", (char *)NULL), 0);
    mrc_options_free(&o);
    assert_int_equal(parse(&o, &e, "--config", write_ini("[job]\nper-year = true\n"), (char *)NULL),
                     0);
    mrc_options_free(&o);
    assert_int_equal(parse(&o, &e, "--checkpoint", "ck", "--keep-checkpoint", (char *)NULL), 0);
    mrc_options_free(&o);
    if (parse(&o, &e, "-o", "/dev/null", "-m", "/dev/null", (char *)NULL) != 0)
        fail_msg("%s", e.msg);
    mrc_options_free(&o);
    assert_int_equal(parse(&o, &e, "-o", "r.tsv", "-m", "-", (char *)NULL), 0);
    mrc_options_free(&o);
    assert_int_equal(parse(&o, &e, "--thr", "6", (char *)NULL), 0);
    assert_int_equal(o.threads, 6);
    mrc_options_free(&o);
}

/* The result and the metrics through links to files not made yet, and the metrics over
 * --output-per-rank's parts or manifest: refused, as one name for both is. */
static void test_paths_through_links(void **state)
{
    (void)state;
    char sub[80], r[160], m[160], l1[160], l2[160], rel[160], want[400];
    snprintf(sub, sizeof sub, "%s/links", tmpdir);
    assert_int_equal(mkdir(sub, 0777), 0);
    snprintf(r, sizeof r, "%s/result.tsv", sub);
    snprintf(m, sizeof m, "%s/metrics.json", sub);
    snprintf(l1, sizeof l1, "%s/l1", sub);
    snprintf(l2, sizeof l2, "%s/l2", sub);
    assert_int_equal(symlink("result.tsv", m), 0); /* relative, dangling */
    assert_int_equal(symlink("l1", l2), 0);        /* a chain: l2 -> l1 -> the result */
    assert_int_equal(symlink(r, l1), 0);
    snprintf(want, sizeof want, "--output and --metrics name the same file (%s)", m);
    EXPECT_ERROR(want, "-o", r, "-m", m);
    snprintf(want, sizeof want, "--output and --metrics name the same file (%s)", r);
    EXPECT_ERROR(want, "-o", l2, "-m", r);
    mrc_options o;
    mrc_err e;
    snprintf(rel, sizeof rel, "%s/other.json", sub); /* a link's neighbour is not its target */
    assert_int_equal(parse(&o, &e, "-o", l2, "-m", rel, (char *)NULL), 0);
    mrc_options_free(&o);

    snprintf(rel, sizeof rel, "%s/part-00001.tsv", sub);
    snprintf(want, sizeof want,
             "--metrics %s would replace a part or the manifest of --output-per-rank %s/", rel,
             sub);
    char dir[170];
    snprintf(dir, sizeof dir, "%s/", sub);
    EXPECT_ERROR(want, "--output-per-rank", dir, "-m", rel);
    snprintf(rel, sizeof rel, "%s/opr/manifest.json", sub); /* DIR not made yet */
    snprintf(dir, sizeof dir, "%s/opr", sub);
    snprintf(want, sizeof want,
             "--metrics %s would replace a part or the manifest of --output-per-rank %s", rel, dir);
    EXPECT_ERROR(want, "--output-per-rank", dir, "-m", rel);
    snprintf(rel, sizeof rel, "%s/opr/metrics.json", sub);
    assert_int_equal(parse(&o, &e, "--output-per-rank", dir, "-m", rel, (char *)NULL), 0);
    mrc_options_free(&o);
}

static void test_bad_values(void **state)
{
    (void)state;
    EXPECT_ERROR("--threads: 'abc' is not a positive integer", "--threads", "abc");
    EXPECT_ERROR("--threads: '0' is not a positive integer", "--threads", "0");
    EXPECT_ERROR("--threads: '-1' is not a positive integer", "--threads", "-1");
    EXPECT_ERROR("--threads: '+2' is not a positive integer", "--threads", "+2");
    EXPECT_ERROR("--threads: ' 2' is not a positive integer", "--threads", " 2");
    EXPECT_ERROR("--threads: '2x' is not a positive integer", "-t", "2x");
    EXPECT_ERROR("--threads: '' is not a positive integer", "--threads", "");
    /* a duration: seconds above 0, up to 10^9 (past that: too long, not "not a duration") */
    EXPECT_ERROR("--checkpoint-interval: '0' is not a duration (seconds, suffix s/m/h, above 0)",
                 "--checkpoint", "ck", "--checkpoint-interval", "0");
    EXPECT_ERROR("--checkpoint-interval: '5x' is not a duration (seconds, suffix s/m/h, above 0)",
                 "--checkpoint", "ck", "--checkpoint-interval", "5x");
    EXPECT_ERROR("--checkpoint-interval: '1e-310' is not a duration (seconds, suffix s/m/h, above "
                 "0)",
                 "--checkpoint", "ck", "--checkpoint-interval", "1e-310");
    EXPECT_ERROR("--checkpoint-interval: '999999999h' is more than 1000000000 seconds",
                 "--checkpoint", "ck", "--checkpoint-interval", "999999999h");
    EXPECT_ERROR("--checkpoint-interval: '1e400' is more than 1000000000 seconds", "--checkpoint",
                 "ck", "--checkpoint-interval", "1e400");
    EXPECT_ERROR("--threads: '99999999999999999999' is more than 65536 threads", "--threads",
                 "99999999999999999999");
    EXPECT_ERROR("--threads: '100000' is more than 65536 threads", "--threads", "100000");
    EXPECT_ERROR("--top: '-1' is not a non-negative integer", "--top", "-1");
    EXPECT_ERROR("--top: '1e3' is not a non-negative integer", "-k", "1e3");
    EXPECT_ERROR("--chunk-size: '1000' is less than the minimum of 4096 bytes", "--chunk-size",
                 "1000");
    EXPECT_ERROR("--chunk-size: '0' is less than the minimum of 4096 bytes", "--chunk-size", "0");
    EXPECT_ERROR("--chunk-size: '12Q' is not a size (a number with k, M, G or T)", "--chunk-size",
                 "12Q");
    /* well-formed, past 2^64-1: too large, not malformed */
    EXPECT_ERROR("--memory-limit: '99999999999G' is more than 9223372036854775807 bytes",
                 "--memory-limit", "99999999999G");
    EXPECT_ERROR("--memory-limit: '99999999999999999999' is more than 9223372036854775807 bytes",
                 "--memory-limit", "99999999999999999999");
    EXPECT_ERROR("--top: '99999999999999999999' is more than the maximum of 18446744073709551615",
                 "--top", "99999999999999999999");
    EXPECT_ERROR("--job: 'grep' is not one of words, ngram, tsv", "--job", "grep");
    EXPECT_ERROR("--tokens: 'utf8' is not one of whitespace, alnum, unicode", "--tokens", "utf8");
    EXPECT_ERROR("--ngrams: '10' is more than the maximum of 9", "--ngrams", "10");
    EXPECT_ERROR("--ngrams: '0' is not a positive integer", "--ngrams", "0");
    EXPECT_ERROR("--ngram-break: 'page' is not one of line, paragraph, none", "--ngram-break",
                 "page");
    EXPECT_ERROR("--schedule: 'guided' is not one of static, dynamic", "--schedule", "guided");
    EXPECT_ERROR("--reduce: 'tree' is not one of auto, reduce, shuffle", "--reduce", "tree");
    EXPECT_ERROR("--progress: 'yes' is not one of auto, always, never", "--progress", "yes");
    EXPECT_ERROR("--sort: 'value' is not one of count, key", "--sort", "value");
    EXPECT_ERROR("--output: empty value", "--output", "");
    EXPECT_ERROR("--metrics: empty value", "-m", "");
}

static void test_ini_every_key(void **state)
{
    (void)state;
    const char *ini = write_ini("; a run configuration\n"
                                "# comments both ways\n"
                                "[input]\n"
                                "inputs = a.txt  b.txt\n"
                                "  c.txt\t@list.txt\n"
                                "\n"
                                "[job]\n"
                                "job = ngram\n"
                                "tokens = alnum\n"
                                "fold-case = yes\n"
                                "[run]\n"
                                "threads = 3 ; inline comment\n"
                                "schedule = dynamic\n"
                                "chunk-size = 8M\n"
                                "reduce = shuffle\n"
                                "progress = always\n"
                                "[output]\n"
                                "output = result.tsv\n"
                                "sort = key\n"
                                "top = 100\n"
                                "metrics = run.json\n"
                                "quiet = ON\n");
    mrc_options o;
    mrc_err e;
    assert_int_equal(parse(&o, &e, "--config", ini, (char *)NULL), 0);
    assert_string_equal(o.config, ini);
    assert_int_equal(o.ninputs, 4);
    assert_string_equal(o.inputs[0], "a.txt");
    assert_string_equal(o.inputs[1], "b.txt");
    assert_string_equal(o.inputs[2], "c.txt");
    assert_string_equal(o.inputs[3], "@list.txt");
    assert_string_equal(o.job->name, "ngram");
    assert_int_equal(WORDS(&o)->tokens, MRC_TOKENS_ALNUM);
    assert_true(WORDS(&o)->fold_case);
    assert_int_equal(o.threads, 3);
    assert_int_equal(o.schedule, MRC_SCHEDULE_DYNAMIC);
    assert_int_equal(o.chunk_size, 8u << 20);
    assert_int_equal(o.reduce, MRC_REDUCE_SHUFFLE);
    assert_int_equal(o.progress, MRC_PROGRESS_ALWAYS);
    assert_string_equal(o.out.path, "result.tsv");
    assert_int_equal(o.out.sort, MRC_SORT_KEY);
    assert_int_equal(o.out.top, 100);
    assert_string_equal(o.metrics, "run.json");
    assert_true(o.quiet);
    mrc_options_free(&o);

    /* every spelling of a boolean */
    static const char *const truths[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
    static const char *const lies[] = {"false", "no", "off", "0", "False", "NO"};
    for (size_t i = 0; i < sizeof truths / sizeof truths[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "[job]\nfold-case = %s\n[output]\nquiet = %s\n", truths[i],
                 lies[i]);
        assert_int_equal(parse(&o, &e, "-c", write_ini(text), (char *)NULL), 0);
        assert_true(WORDS(&o)->fold_case);
        assert_false(o.quiet);
        mrc_options_free(&o);
    }
}

static void test_cli_beats_ini(void **state)
{
    (void)state;
    const char *ini = write_ini("[input]\ninputs = from-ini.txt\n"
                                "[run]\nthreads = 2\nschedule = dynamic\n"
                                "[job]\nfold-case = true\n"
                                "[output]\noutput = ini.tsv\nquiet = yes\n");
    char cfg[160];
    snprintf(cfg, sizeof cfg, "--config=%s", ini);
    mrc_options o;
    mrc_err e;
    /* the command line wins even when it comes before --config */
    assert_int_equal(
        parse(&o, &e, "--threads", "8", cfg, "--no-fold-case", "-o", "cli.tsv", (char *)NULL), 0);
    assert_int_equal(o.threads, 8);
    assert_int_equal(o.schedule, MRC_SCHEDULE_DYNAMIC); /* from the file */
    assert_false(WORDS(&o)->fold_case);
    assert_string_equal(o.out.path, "cli.tsv");
    assert_true(o.quiet);
    assert_int_equal(o.ninputs, 1);
    assert_string_equal(o.inputs[0], "from-ini.txt");
    mrc_options_free(&o);

    /* positional INPUTs replace the file's list */
    assert_int_equal(parse(&o, &e, "-c", ini, "x", "y", (char *)NULL), 0);
    assert_int_equal(o.ninputs, 2);
    assert_string_equal(o.inputs[0], "x");
    assert_string_equal(o.inputs[1], "y");
    mrc_options_free(&o);

    /* a bad value on the command line is reported even though the file's is fine */
    char msg[256];
    snprintf(msg, sizeof msg, "--threads: 'many' is not a positive integer");
    EXPECT_ERROR(msg, "-c", ini, "--threads", "many");
}

/* Every on/off option a file can turn on, the command line can turn off again (--no-NAME),
 * whichever comes first; and a negation the run would ignore is refused like its option. */
static void test_cli_turns_off_ini_flags(void **state)
{
    (void)state;
    mrc_options o;
    mrc_err e;
    const char *tsv = write_ini("[job]\njob = tsv\nheader = true\nstrict = yes\n"
                                "[output]\nquiet = on\nsync = true\n");
    assert_int_equal(parse(&o, &e, "-c", tsv, (char *)NULL), 0);
    const mrc_tsv_opts *t = mrc_options_job_settings(&o);
    assert_true(t->header);
    assert_true(t->strict);
    assert_true(o.quiet);
    assert_true(o.sync);
    mrc_options_free(&o);
    assert_int_equal(parse(&o, &e, "--no-header", "-c", tsv, "--no-strict", "--no-quiet",
                           "--no-sync", (char *)NULL),
                     0);
    t = mrc_options_job_settings(&o);
    assert_false(t->header);
    assert_false(t->strict);
    assert_false(o.quiet);
    assert_false(o.sync);
    mrc_options_free(&o);

    const char *ngram = write_ini("[job]\njob = ngram\nper-year = 1\nstrict = true\n");
    assert_int_equal(parse(&o, &e, "-c", ngram, "--no-per-year", (char *)NULL), 0);
    const mrc_ngram_opts *g = mrc_options_job_settings(&o);
    assert_false(g->per_year);
    assert_true(g->strict);
    mrc_options_free(&o);
    assert_int_equal(parse(&o, &e, "-c", ngram, "--no-strict", (char *)NULL), 0);
    g = mrc_options_job_settings(&o);
    assert_true(g->per_year);
    assert_false(g->strict);
    mrc_options_free(&o);

    /* the last of a flag and its negation wins */
    assert_int_equal(parse(&o, &e, "--job", "tsv", "--no-header", "--header", (char *)NULL), 0);
    assert_true(((const mrc_tsv_opts *)mrc_options_job_settings(&o))->header);
    mrc_options_free(&o);

    const char *ck = write_ini("[run]\ncheckpoint = ck.d\ncheckpoint-reset = true\n"
                               "keep-checkpoint = true\n");
    assert_int_equal(
        parse(&o, &e, "-c", ck, "--no-checkpoint-reset", "--no-keep-checkpoint", (char *)NULL), 0);
    assert_false(o.checkpoint_reset);
    assert_false(o.keep_checkpoint);
    mrc_options_free(&o);

    EXPECT_ERROR("--no-header is not an option of --job words", "--no-header");
    EXPECT_ERROR("--no-per-year is not an option of --job tsv", "--job", "tsv", "--no-per-year");
    EXPECT_ERROR("--no-keep-checkpoint needs --checkpoint DIR", "--no-keep-checkpoint");
}

static void test_ini_errors(void **state)
{
    (void)state;
    char msg[512];
    const char *ini;

    ini = write_ini("[run]\nthreads = 2\nbogus = 1\n");
    snprintf(msg, sizeof msg, "%s:3: [run] bogus: unknown key", ini);
    EXPECT_ERROR(msg, "--config", ini);

    ini = write_ini("[run]\nthreads = 2\n\n[runn]\nthreads = 2\n");
    snprintf(msg, sizeof msg,
             "%s:4: [runn]: unknown section (known: [input] [job] [run] "
             "[output])",
             ini);
    EXPECT_ERROR(msg, "--config", ini);

    ini = write_ini("[job]\n[extra]\n"); /* a section with no key is still checked */
    snprintf(msg, sizeof msg,
             "%s:2: [extra]: unknown section (known: [input] [job] [run] "
             "[output])",
             ini);
    EXPECT_ERROR(msg, "--config", ini);

    ini = write_ini("[run]\nthreads = 2\n[output] top = 5\n");
    snprintf(msg, sizeof msg,
             "%s:3: [output]: text after the section's name (a comment starts with ;)", ini);
    EXPECT_ERROR(msg, "--config", ini);

    ini = write_ini("[output]\nthreads = 2\n");
    snprintf(msg, sizeof msg, "%s:2: [output] threads: unknown key (it belongs in [run])", ini);
    EXPECT_ERROR(msg, "--config", ini);

    ini = write_ini("threads = 2\n");
    snprintf(msg, sizeof msg, "%s:1: threads: key outside any section (it belongs in [run])", ini);
    EXPECT_ERROR(msg, "--config", ini);

    /* an indented line continues the value above: a key of one value refuses it (a list adds
     * it: test_ini_long_inputs_on_continuation_lines); after a section line it is a key */
    ini = write_ini("[output]\ntop = 5\n  1\n");
    snprintf(msg, sizeof msg,
             "%s:3: [output] top: an indented line continues the value above, and top takes "
             "one value (unindent the line to give a key of its own)",
             ini);
    EXPECT_ERROR(msg, "--config", ini);
    ini = write_ini("[input]\nexclude = *.gz\n  *.zst\n[output]\n  top = 5\n    ; a note\n");
    mrc_options o;
    mrc_err e;
    if (parse(&o, &e, "--config", ini, (char *)NULL) != 0) fail_msg("%s", e.msg);
    assert_int_equal(o.exclude.n, 2);
    assert_int_equal(o.out.top, 5);
    mrc_options_free(&o);

    ini = write_ini("[run]\n; fine\nthreads = abc\n");
    snprintf(msg, sizeof msg, "%s:3: [run] threads: 'abc' is not a positive integer", ini);
    EXPECT_ERROR(msg, "--config", ini);

    ini = write_ini("[run]\nchunk-size = 100\n");
    snprintf(msg, sizeof msg,
             "%s:2: [run] chunk-size: '100' is less than the minimum of 4096 "
             "bytes",
             ini);
    EXPECT_ERROR(msg, "--config", ini);

    ini = write_ini("[output]\nquiet = maybe\n");
    snprintf(msg, sizeof msg,
             "%s:2: [output] quiet: 'maybe' is not a boolean (true/false, "
             "yes/no, on/off, 1/0)",
             ini);
    EXPECT_ERROR(msg, "--config", ini);

    ini = write_ini("[output]\ntop =\n");
    snprintf(msg, sizeof msg, "%s:2: [output] top: '' is not a non-negative integer", ini);
    EXPECT_ERROR(msg, "--config", ini);

    /* command-line-only options are not keys */
    ini = write_ini("[run]\nconfig = other.ini\n");
    snprintf(msg, sizeof msg, "%s:2: [run] config: unknown key", ini);
    EXPECT_ERROR(msg, "--config", ini);

    ini = write_ini("[run]\nthreads 4\n");
    snprintf(msg, sizeof msg, "%s:2: syntax error (expected [section] or key = value)", ini);
    EXPECT_ERROR(msg, "--config", ini);

    /* the first error wins: a syntax error before a bad key, and a bad key before a syntax
     * error */
    ini = write_ini("[run]\nthreads 4\nbogus = 1\n");
    snprintf(msg, sizeof msg, "%s:2: syntax error (expected [section] or key = value)", ini);
    EXPECT_ERROR(msg, "--config", ini);
    ini = write_ini("[run]\nbogus = 1\nthreads 4\n");
    snprintf(msg, sizeof msg, "%s:2: [run] bogus: unknown key", ini);
    EXPECT_ERROR(msg, "--config", ini);

    char longline[600];
    int n = snprintf(longline, sizeof longline, "[input]\ninputs =");
    while (n < 500)
        n += snprintf(longline + n, sizeof longline - (size_t)n, " file%d.txt", n);
    snprintf(longline + n, sizeof longline - (size_t)n, "\n[run]\nbogus = 1\n");
    ini = write_ini(longline);
    snprintf(msg, sizeof msg,
             "%s:2: line longer than 197 bytes (continue a long value on "
             "indented lines)",
             ini);
    EXPECT_ERROR(msg, "--config", ini);

    snprintf(msg, sizeof msg, "%s/missing.ini: No such file or directory", tmpdir);
    char missing[128];
    snprintf(missing, sizeof missing, "%s/missing.ini", tmpdir);
    EXPECT_ERROR(msg, "--config", missing);

    snprintf(msg, sizeof msg, "%s: Is a directory", tmpdir);
    EXPECT_ERROR(msg, "--config", tmpdir);

    /* a FIFO without a writer: refused at once, never waited on */
    char fifo[128];
    snprintf(fifo, sizeof fifo, "%s/config.fifo", tmpdir);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    snprintf(msg, sizeof msg, "%s: not a regular file", fifo);
    alarm(20);
    EXPECT_ERROR(msg, "--config", fifo);
    alarm(0);
    unlink(fifo);
}

static void test_ini_long_inputs_on_continuation_lines(void **state)
{
    (void)state;
    char text[4096];
    int n = snprintf(text, sizeof text, "[input]\ninputs = first.txt\n");
    for (int i = 0; i < 100; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "    part-%03d.txt part-%03d.gz\n", i, i);
    const char *ini = write_ini(text);
    mrc_options o;
    mrc_err e;
    assert_int_equal(parse(&o, &e, "--config", ini, (char *)NULL), 0);
    assert_int_equal(o.ninputs, 201);
    assert_string_equal(o.inputs[0], "first.txt");
    assert_string_equal(o.inputs[200], "part-099.gz");
    mrc_options_free(&o);
}

/* A NUL byte in an INI line hid the rest of the line from the checks of the line reader: a long
 * line's tail was then read as a line of its own (here a key), and a short line's end was
 * dropped unseen. Both are errors naming the line (found by tests/fuzz/fuzz_ini;
 * corpus/fuzz_ini/regress-nul-long-line). */
static void test_ini_nul_bytes(void **state)
{
    (void)state;
    char text[512], msg[512];
    size_t n = (size_t)snprintf(text, sizeof text, "[job]\n");
    text[n++] = '\0';
    memset(text + n, 'x', 198); /* with the NUL, inih's whole 200-byte buffer */
    n += 198;
    n += (size_t)snprintf(text + n, sizeof text - n, "job = ngram\n");
    char path[128];
    snprintf(path, sizeof path, "%s/nul%d.ini", tmpdir, ini_serial++);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    snprintf(msg, sizeof msg, "%s:2: NUL byte in the line", path);
    EXPECT_ERROR(msg, "--config", path);

    static const char shortline[] = "[job]\njob = ngram\0 junk\n";
    snprintf(path, sizeof path, "%s/nul%d.ini", tmpdir, ini_serial++);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(shortline, 1, sizeof shortline - 1, f), sizeof shortline - 1);
    assert_int_equal(fclose(f), 0);
    snprintf(msg, sizeof msg, "%s:2: NUL byte in the line", path);
    EXPECT_ERROR(msg, "--config", path);
}

/* inih r55 (Debian 12) strips an inline comment from a key's own line but not from its
 * continuation lines: the comment's words became more inputs (found by tests/fuzz/fuzz_ini;
 * corpus/fuzz_ini/regress-continuation-comment). */
static void test_ini_continuation_comments(void **state)
{
    (void)state;
    const char *ini =
        write_ini("[input]\ninputs = a.txt ; first\n    b.txt c;d.txt   ; more files\n"
                  "\t; a comment line\n\te.txt\t;tab\n"
                  "exclude = x\n  y;z ; another pattern\n");
    mrc_options o;
    mrc_err e;
    assert_int_equal(parse(&o, &e, "--config", ini, (char *)NULL), 0);
    assert_int_equal(o.ninputs, 4);
    assert_string_equal(o.inputs[0], "a.txt");
    assert_string_equal(o.inputs[1], "b.txt");
    assert_string_equal(o.inputs[2], "c;d.txt");
    assert_string_equal(o.inputs[3], "e.txt");
    assert_int_equal(o.exclude.n, 2);
    assert_string_equal(o.exclude.v[0], "x");
    assert_string_equal(o.exclude.v[1], "y;z");
    mrc_options_free(&o);
}

/* A value each option type accepts that is not its default (custom types: a value their parser
 * takes). */
static const char *some_value(const mrc_opt_def *d)
{
    switch (d->type) {
    case MRC_OPT_FLAG:
        return "yes";
    case MRC_OPT_CHOICE: { /* the last: no default is last */
        size_t i = 0;
        while (d->choices[i + 1] != NULL)
            i++;
        return d->choices[i];
    }
    case MRC_OPT_INT:
    case MRC_OPT_UINT:
        return "2";
    case MRC_OPT_SIZE:
        return "8k";
    case MRC_OPT_STRING:
        return "x";
    case MRC_OPT_CUSTOM:
        return strcmp(d->name, "delimiter") == 0 ? "," : "2";
    }
    return "";
}

/* Every option of every job in the registry is in --help, under its job, and is accepted in
 * the [job] section of an INI file and on the command line, where it changes that job's
 * settings: nothing in cli/ lists a job's options. */
static void test_job_options_come_from_the_registry(void **state)
{
    (void)state;
    const char *u = mrc_options_usage();
    const mrc_job_desc *const *jobs = mrc_job_registry();
    size_t njobs = 0;
    for (; jobs[njobs] != NULL; njobs++) {
        char title[64];
        snprintf(title, sizeof title, "(--job %s)", jobs[njobs]->name);
        const char *section = strstr(u, title);
        if (section == NULL) fail_msg("--help has no section for job %s", jobs[njobs]->name);
        const char *next = strstr(section + 1, "(--job ");
        if (next == NULL) next = strstr(section, "Run:");
        for (const mrc_opt_def *d = jobs[njobs]->opts; d->name != NULL; d++) {
            const void *defaults = jobs[njobs]->defaults;
            char opt[64], ini[256];
            snprintf(opt, sizeof opt, "--%s", d->name);
            if (d->help != NULL) {
                const char *at = strstr(section, opt);
                if (at == NULL || at > next)
                    fail_msg("--help lists %s not under job %s", opt, jobs[njobs]->name);
            }
            mrc_options o;
            mrc_err e;
            if (d->section != NULL) {
                snprintf(ini, sizeof ini, "[job]\njob = %s\n%s = %s\n", jobs[njobs]->name, d->name,
                         some_value(d));
                if (parse(&o, &e, "--config", write_ini(ini), (char *)NULL) != 0)
                    fail_msg("[job] %s = %s: %s", d->name, some_value(d), e.msg);
                assert_ptr_equal(o.job, jobs[njobs]);
                assert_true(memcmp(o.job_settings[njobs], defaults, jobs[njobs]->settings_size) !=
                                0 ||
                            d->negate);
                mrc_options_free(&o);
            }
            int rc =
                mrc_opt_takes_value(d)
                    ? parse(&o, &e, "--job", jobs[njobs]->name, opt, some_value(d), (char *)NULL)
                    : parse(&o, &e, "--job", jobs[njobs]->name, opt, (char *)NULL);
            if (rc != 0) fail_msg("%s: %s", opt, e.msg);
            mrc_options_free(&o);
        }
    }
    assert_true(njobs >= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_long_option),
        cmocka_unit_test(test_short_options),
        cmocka_unit_test(test_positional_inputs),
        cmocka_unit_test(test_help_version),
        cmocka_unit_test(test_bad_usage),
        cmocka_unit_test(test_paths_through_links),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_ini_every_key),
        cmocka_unit_test(test_cli_beats_ini),
        cmocka_unit_test(test_cli_turns_off_ini_flags),
        cmocka_unit_test(test_ini_errors),
        cmocka_unit_test(test_ini_long_inputs_on_continuation_lines),
        cmocka_unit_test(test_ini_nul_bytes),
        cmocka_unit_test(test_ini_continuation_comments),
        cmocka_unit_test(test_job_options_come_from_the_registry),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
