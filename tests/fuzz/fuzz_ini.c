/* fuzz_ini.c - libFuzzer harness for the INI loader of the command line (--config FILE.ini:
 * inih's ini_parse_stream with options.c's line reader and key handler). The input is the file,
 * handed to mrc_options_parse() through a memfd, so options.c runs unchanged and nothing touches
 * the disk. A rejected file must say why (and name a line that exists); an accepted one must
 * hold options within their ranges and survive a round trip: written back as INI and parsed
 * again, the same options. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <ini.h>

#include "fuzz_util.h"
#include "ngram.h"
#include "options.h"
#include "tsv.h"
#include "words.h"

/* Each job's settings as parsed: every job option applies to each job that owns it. */
#define WORDS(o) ((const mrc_words_opts *)(o)->job_settings[0])
#define NGRAM(o) ((const mrc_ngram_opts *)(o)->job_settings[1])
#define TSV(o) ((const mrc_tsv_opts *)(o)->job_settings[2])

static fuzz_file ini_file = FUZZ_FILE_INIT;

static int parse_file(mrc_options *o, mrc_err *err)
{
    char *argv[] = {(char *)"mrcount", (char *)"--config", ini_file.path, NULL};
    memset(err, 0, sizeof *err);
    return mrc_options_parse(3, argv, o, err);
}

/* ---- the round trip ---- */

static const char *const tokens[] = {"whitespace", "alnum", "unicode"};
static const char *const normalizes[] = {"none", "nfc", "nfkc"};
static const char *const breaks[] = {"line", "paragraph", "none"};
static const char *const formats[] = {"v1", "v2", "v3"};
static const char *const values[] = {"match", "volumes"};
static const char *const poses[] = {"keep", "untagged", "tagged", "strip"};
static const char *const schedules[] = {"static", "dynamic"};
static const char *const reduces[] = {"auto", "reduce", "shuffle"};
static const char *const progresses[] = {"auto", "always", "never"};
static const char *const sorts[] = {"count", "key"};

#define IN_RANGE(v, names) ((unsigned)(v) < sizeof(names) / sizeof(names)[0])

/* "key=value"; *fits cleared when it is longer than an INI line (inih's buffer less CR LF NUL). */
static void put_key(FILE *f, const char *key, const char *value, bool *fits)
{
    if (strlen(key) + 1 + strlen(value) > (size_t)ini_max_line - 3) *fits = false;
    fprintf(f, "%s=%s\n", key, value);
}

static void put_num(FILE *f, const char *key, unsigned long long v, bool *fits)
{
    char s[32];
    snprintf(s, sizeof s, "%llu", v);
    put_key(f, key, s, fits);
}

/* The options as an INI file; *fits false when a value is too long to write back on one line. */
static char *write_back(const mrc_options *o, size_t *len, bool *fits)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    CHECK(f != NULL, "open_memstream");
    *fits = true;
    fputs("[input]\n", f);
    for (size_t i = 0; i < o->ninputs; i++)
        put_key(f, "inputs", o->inputs[i], fits);
    fputs("[job]\n", f);
    put_key(f, "job", o->job->name, fits);
    put_key(f, "tokens", tokens[WORDS(o)->tokens], fits);
    /* fold-case and strict belong to two jobs each: one key sets both, so they agree */
    CHECK(WORDS(o)->fold_case == NGRAM(o)->fold_case, "fold-case differs between jobs");
    CHECK(NGRAM(o)->strict == TSV(o)->strict, "strict differs between jobs");
    put_key(f, "fold-case", WORDS(o)->fold_case ? "true" : "false", fits);
    put_key(f, "normalize", normalizes[WORDS(o)->normalize], fits);
    put_num(f, "ngrams", (unsigned long long)WORDS(o)->ngrams, fits);
    put_key(f, "ngram-break", breaks[WORDS(o)->ngram_break], fits);
    put_key(f, "format", formats[NGRAM(o)->format], fits);
    put_key(f, "value", values[NGRAM(o)->value], fits);
    put_key(f, "pos", poses[NGRAM(o)->pos], fits);
    put_num(f, "year-min", (unsigned long long)NGRAM(o)->year_min, fits);
    put_num(f, "year-max", (unsigned long long)NGRAM(o)->year_max, fits);
    put_key(f, "strict", NGRAM(o)->strict ? "yes" : "no", fits);
    char cols[MRC_TSV_MAX_KEYS * 8] = "";
    for (uint32_t i = 0; i < TSV(o)->keys.n; i++)
        snprintf(cols + strlen(cols), sizeof cols - strlen(cols), "%s%u", i ? "," : "",
                 TSV(o)->keys.col[i]);
    put_key(f, "key-columns", cols, fits);
    put_num(f, "value-column", (unsigned long long)TSV(o)->value_column, fits);
    /* a delimiter inih would trim or take for a comment is written by its name */
    char delim[2] = {(char)TSV(o)->delimiter, '\0'};
    put_key(f, "delimiter",
            TSV(o)->delimiter == '\t'  ? "tab"
            : TSV(o)->delimiter == ' ' ? "space"
            : TSV(o)->delimiter == ';' ? "semicolon"
                                       : delim,
            fits);
    if (strchr("\v\f", TSV(o)->delimiter) != NULL) *fits = false; /* trimmed by inih */
    char quote[2] = {(char)TSV(o)->quote, '\0'};
    put_key(f, "quote",
            TSV(o)->quote == 0                    ? "none"
            : TSV(o)->quote == MRC_TSV_QUOTE_AUTO ? "auto"
                                                  : quote,
            fits);
    if (TSV(o)->quote > 0 && strchr(" \t\v\f;#", TSV(o)->quote) != NULL)
        *fits = false; /* trimmed by inih, or a comment */
    put_key(f, "header", TSV(o)->header ? "yes" : "no", fits);
    fputs("[run]\n", f);
    if (o->threads != 0) put_num(f, "threads", o->threads, fits);
    put_key(f, "schedule", schedules[o->schedule], fits);
    if (o->chunk_size != 0) put_num(f, "chunk-size", o->chunk_size, fits);
    put_key(f, "reduce", reduces[o->reduce], fits);
    put_key(f, "progress", progresses[o->progress], fits);
    fputs("[output]\n", f);
    if (o->output_given) put_key(f, "output", o->out.path, fits); /* excluded by per-rank */
    if (o->output_per_rank != NULL) put_key(f, "output-per-rank", o->output_per_rank, fits);
    put_key(f, "sort", sorts[o->out.sort], fits);
    put_num(f, "top", o->out.top, fits);
    if (o->metrics != NULL) put_key(f, "metrics", o->metrics, fits);
    put_key(f, "quiet", o->quiet ? "on" : "off", fits);
    CHECK(fclose(f) == 0, "open_memstream");
    return text;
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

#define SAME_NUM(field)                                                                            \
    CHECK(a->field == b->field, "round trip: " #field " %llu became %llu",                         \
          (unsigned long long)a->field, (unsigned long long)b->field)
#define SAME_STR(field)                                                                            \
    CHECK(same_str(a->field, b->field), "round trip: " #field " '%s' became '%s'",                 \
          a->field ? a->field : "(none)", b->field ? b->field : "(none)")

static void expect_same(const mrc_options *a, const mrc_options *b)
{
    SAME_NUM(ninputs);
    for (size_t i = 0; i < a->ninputs; i++)
        SAME_STR(inputs[i]);
    CHECK(a->job == b->job, "round trip: job %s became %s", a->job->name, b->job->name);
    CHECK(memcmp(WORDS(a), WORDS(b), sizeof(mrc_words_opts)) == 0, "round trip: words options");
    CHECK(memcmp(NGRAM(a), NGRAM(b), sizeof(mrc_ngram_opts)) == 0, "round trip: ngram options");
    CHECK(memcmp(TSV(a), TSV(b), sizeof(mrc_tsv_opts)) == 0, "round trip: tsv options");
    SAME_NUM(threads);
    SAME_NUM(schedule);
    SAME_NUM(chunk_size);
    SAME_NUM(reduce);
    SAME_NUM(progress);
    SAME_STR(out.path);
    SAME_NUM(out.sort);
    SAME_NUM(out.top);
    SAME_STR(output_per_rank);
    SAME_STR(metrics);
    SAME_NUM(quiet);
}

/* ---- the checks ---- */

static void expect_in_range(const mrc_options *o)
{
    CHECK(o->job == mrc_job_find(o->job->name), "job '%s'", o->job->name);
    CHECK(IN_RANGE(WORDS(o)->tokens, tokens) && IN_RANGE(WORDS(o)->normalize, normalizes) &&
              IN_RANGE(WORDS(o)->ngram_break, breaks) && IN_RANGE(NGRAM(o)->format, formats) &&
              IN_RANGE(NGRAM(o)->value, values) && IN_RANGE(NGRAM(o)->pos, poses) &&
              IN_RANGE(o->schedule, schedules) && IN_RANGE(o->reduce, reduces) &&
              IN_RANGE(o->progress, progresses) && IN_RANGE(o->out.sort, sorts),
          "an option outside its choices");
    CHECK(WORDS(o)->ngrams >= 1 && WORDS(o)->ngrams <= MRC_NGRAMS_MAX, "ngrams %d",
          WORDS(o)->ngrams);
    const mrc_ngram_opts *n = NGRAM(o);
    CHECK(n->year_min >= 0 && n->year_min <= MRC_YEAR_MAX && n->year_max >= 0 &&
              n->year_max <= MRC_YEAR_MAX,
          "years %d-%d", n->year_min, n->year_max);
    /* the job's own check refuses a range out of order, and only that */
    mrc_job job;
    mrc_err err = {0};
    int rc = mrc_job_select(&job, mrc_job_find("ngram"), n, NULL, &err);
    CHECK((rc == 0) == (n->year_min <= n->year_max), "ngram select %d for years %d-%d", rc,
          n->year_min, n->year_max);
    const mrc_tsv_opts *t = TSV(o);
    CHECK(t->keys.n >= 1 && t->keys.n <= MRC_TSV_MAX_KEYS && t->value_column >= 0 &&
              t->value_column <= MRC_TSV_MAX_COLUMN && t->delimiter != '\n' && t->delimiter != '\r',
          "tsv options out of range");
    for (uint32_t i = 0; i < t->keys.n; i++)
        CHECK(t->keys.col[i] >= 1 && t->keys.col[i] <= MRC_TSV_MAX_COLUMN, "key column %u",
              t->keys.col[i]);
    CHECK(o->threads <= 65536 && (o->chunk_size == 0 || o->chunk_size >= 4096),
          "threads %llu, chunk size %llu", (unsigned long long)o->threads,
          (unsigned long long)o->chunk_size);
    CHECK(o->out.path != NULL && o->out.path[0] != '\0', "an empty output path");
    for (size_t i = 0; i < o->ninputs; i++)
        CHECK(o->inputs[i][0] != '\0' && strpbrk(o->inputs[i], " \t\r\n\v\f") == NULL,
              "input %zu is empty or holds whitespace", i);
    CHECK(!o->help && !o->version, "--help or --version from a file");
    CHECK(same_str(o->config, ini_file.path), "config '%s'", o->config);
}

/* A rejection says why; "<file>:<line>: ..." names a line the file has. */
static void expect_reasoned(int rc, const mrc_err *err, const uint8_t *data, size_t size)
{
    CHECK(rc == MRC_EINVAL || rc == MRC_ENOMEM, "mrc_options_parse returned %d", rc);
    CHECK(err->code == rc && err->msg[0] != '\0', "a rejection without a message");
    size_t plen = strlen(ini_file.path);
    if (strncmp(err->msg, ini_file.path, plen) != 0 || err->msg[plen] != ':') return;
    const char *p = err->msg + plen + 1;
    if (*p < '0' || *p > '9') return;
    unsigned long long line = strtoull(p, NULL, 10), lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    CHECK(line >= 1 && line <= lines, "error at line %llu of a %llu-line file: %s", line, lines,
          err->msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file_put(&ini_file, "fuzz.ini", data, size);
    mrc_options o;
    mrc_err err;
    int rc = parse_file(&o, &err);
    if (rc != 0) {
        expect_reasoned(rc, &err, data, size);
        return 0;
    }
    expect_in_range(&o);

    size_t len;
    bool fits;
    char *text = write_back(&o, &len, &fits);
    if (fits) {
        fuzz_file_put(&ini_file, "fuzz.ini", text, len);
        mrc_options again;
        rc = parse_file(&again, &err);
        CHECK(rc == 0, "the options written back do not parse: %s\n%s", err.msg, text);
        expect_same(&o, &again);
        mrc_options_free(&again);
    }
    free(text);
    mrc_options_free(&o);
    return 0;
}
