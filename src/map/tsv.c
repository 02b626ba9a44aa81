/* tsv.c - the tsv job: lines of delimited text, a numeric column summed (or the lines counted)
 * under a key made of one or more columns joined by TAB. A line with too few fields or a value
 * that is not an unsigned 64-bit number is a bad record: counted, located and reported (fatal
 * with --strict) through the same log as the ngram job; a blank line is skipped. Fields may be
 * quoted as in CSV (--quote): read as Python's csv module reads one line, a quoted field that
 * does not close on its line being a bad record. The fields are found with memchr (glibc's is
 * vectorised); nothing here depends on options per byte. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addq.h"
#include "mrcount/map.h"
#include "tsv.h"

static unsigned char delim_newline[256] = {['\n'] = 1};

/* Whether field [p, e) is quoted: it starts with the quote byte (0: none). */
static inline bool quoted(const unsigned char *p, const unsigned char *e, unsigned char quote)
{
    return quote != 0 && p < e && *p == quote;
}

/* Field `col` (1-based) of line [p, e) split on delim: its bytes [*fs, *fe). With a quote byte
 * (0: none), a field that starts with it is quoted: it runs to the next lone quote ("" inside
 * is one quote), and what follows up to the delimiter is the field's too, as Python's csv
 * module reads it. @return 1, 0 if the line has fewer fields, or -1 if a quoted field up to
 * col does not close on the line (fields with line breaks are not read). */
static inline int field_at(const unsigned char *p, const unsigned char *e, unsigned char delim,
                           unsigned char quote, uint32_t col, const unsigned char **fs,
                           const unsigned char **fe)
{
    for (uint32_t c = 1;; c++) {
        const unsigned char *q = p; /* where the delimiter may be */
        if (quoted(p, e, quote))
            for (q = p + 1;;) {
                const unsigned char *x = memchr(q, quote, (size_t)(e - q));
                if (x == NULL) return -1;
                q = x + 1;
                if (q == e || *q != quote) break;
                q++;
            }
        const unsigned char *d = memchr(q, delim, (size_t)(e - q));
        if (c == col) {
            *fs = p;
            *fe = d != NULL ? d : e;
            return 1;
        }
        if (d == NULL) return 0;
        p = d + 1;
    }
}

/* The text of field [p, e) as field_at() found it, into dst: a quoted field's quotes taken
 * off and its "" made one. @return its length (at most e - p). */
static size_t field_text(unsigned char *dst, const unsigned char *p, const unsigned char *e,
                         unsigned char quote)
{
    size_t n = 0;
    if (quoted(p, e, quote))
        for (p++;;) { /* field_at() saw the closing quote */
            const unsigned char *x = memchr(p, quote, (size_t)(e - p));
            memcpy(dst + n, p, (size_t)(x - p));
            n += (size_t)(x - p);
            p = x + 1;
            if (p == e || *p != quote) break;
            dst[n++] = quote;
            p++;
        }
    memcpy(dst + n, p, (size_t)(e - p));
    return n + (size_t)(e - p);
}

/* The unsigned decimal value of [p, e): @return 0, or the bad-record cause. */
static int parse_value(const unsigned char *p, const unsigned char *e, uint64_t *out)
{
    if (p < e && *p == '-') {
        const unsigned char *q = p + 1;
        while (q < e && (unsigned)(*q - '0') <= 9)
            q++;
        return q > p + 1 && q == e ? MRC_BAD_VALUE_NEGATIVE : MRC_BAD_VALUE;
    }
    if (p == e) return MRC_BAD_VALUE;
    uint64_t v = 0;
    bool over = false;
    for (; p < e; p++) {
        unsigned d = (unsigned)*p - '0';
        if (d > 9) return MRC_BAD_VALUE;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, d, &v)) over = true;
    }
    if (over) return MRC_BAD_VALUE_RANGE;
    *out = v;
    return 0;
}

/* One line [p, e) (no LF, a final CR already dropped): its key into ctx->scratch and its value.
 * @return 0, a bad-record cause, or -1 on an error (err filled). */
static int line_key(mrc_map_ctx *ctx, const mrc_tsv_opts *o, const unsigned char *p,
                    const unsigned char *e, size_t *key_len, uint64_t *value, mrc_err *err)
{
    unsigned char delim = (unsigned char)o->delimiter, quote = (unsigned char)o->quote;
    size_t n = 0;
    for (uint32_t k = 0; k < o->keys.n; k++) {
        const unsigned char *fs, *fe;
        int found = field_at(p, e, delim, quote, o->keys.col[k], &fs, &fe);
        if (found <= 0) return found < 0 ? MRC_BAD_QUOTE : MRC_BAD_COLUMNS;
        /* the key's parts so far, a TAB, this field: a column may be named twice */
        size_t need = n + 1 + (size_t)(fe - fs);
        if (need > ctx->scratch_cap && mrc_map_ctx_grow_scratch(ctx, need, err) != 0) return -1;
        if (k > 0) ctx->scratch[n++] = '\t';
        n += field_text(ctx->scratch + n, fs, fe, quote);
    }
    *value = 1;
    if (o->value_column > 0) {
        const unsigned char *fs, *fe;
        int found = field_at(p, e, delim, quote, (uint32_t)o->value_column, &fs, &fe);
        if (found <= 0) return found < 0 ? MRC_BAD_QUOTE : MRC_BAD_COLUMNS;
        if (quoted(fs, fe, quote)) { /* its text, after the key's */
            size_t need = n + (size_t)(fe - fs);
            if (need > ctx->scratch_cap && mrc_map_ctx_grow_scratch(ctx, need, err) != 0) return -1;
            unsigned char *v = ctx->scratch + n;
            fe = v + field_text(v, fs, fe, quote);
            fs = v;
        }
        int cause = parse_value(fs, fe, value);
        if (cause != 0) return cause;
    }
    *key_len = n;
    return 0;
}

static long long consume_lines(mrc_map_ctx *ctx, addq *aq, const unsigned char *buf, size_t len,
                               bool final, mrc_err *err)
{
    const mrc_tsv_opts *o = ctx->settings;
    const unsigned char *p = buf, *end = buf + len;
    while (p < end) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL && !final) break;
        const unsigned char *e = nl ? nl : end, *next = nl ? nl + 1 : end;
        if (e > p && e[-1] == '\r') e--;
        bool header = o->header && ctx->piece_offset == 0 && ctx->piece_line == 0;
        if (!header && e > p) {
            size_t key_len = 0;
            uint64_t value = 0;
            int cause = line_key(ctx, o, p, e, &key_len, &value, err);
            if (cause < 0) return -1;
            if (cause > 0) {
                if (mrc_map_bad_record(ctx, cause, o->strict, err) != 0) return -1;
            } else {
                if (key_len > UINT32_MAX)
                    return mrc_err_set(err, MRC_EINVAL,
                                       "%s: a key of %zu bytes exceeds the 4 GiB key limit",
                                       ctx->path, key_len),
                           -1;
                if (addq_push(ctx->table, aq, ctx->scratch, key_len, value, err) != 0)
                    return addq_name_failure(ctx, err);
            }
        }
        if (!header) ctx->records++; /* lines read, malformed and blank ones too (as ngram's) */
        ctx->piece_line++;
        p = next;
    }
    return final ? (long long)len : (long long)(p - buf);
}

/* The consumer: the lines' keys go through the add queue, emptied before it returns (addq.h). */
static long long consume_tsv(void *c, const unsigned char *buf, size_t len, size_t owned,
                             bool final, mrc_err *err)
{
    (void)owned; /* no lookahead: all of buf is the range's */
    mrc_map_ctx *ctx = c;
    addq *aq = addq_of(ctx, err);
    if (aq == NULL) return -1;
    return addq_finish(ctx, aq, consume_lines(ctx, aq, buf, len, final, err), err);
}

static int tsv_check(const void *settings, mrc_err *err)
{
    const mrc_tsv_opts *o = settings;
    if (o->quote == o->delimiter) {
        char c[8];
        snprintf(c, sizeof c, o->quote > ' ' && o->quote < 127 ? "'%c'" : "byte %d", o->quote);
        return mrc_err_set(err, MRC_EINVAL, "--quote: %s is the --delimiter too", c);
    }
    return 0;
}

static int tsv_select(mrc_job *job, const mrc_job_env *env, mrc_err *err)
{
    (void)env;
    mrc_tsv_opts *o = (void *)job->settings;
    if (o->quote == MRC_TSV_QUOTE_AUTO)
        o->quote = o->delimiter == '\t' || o->delimiter == '"' ? 0 : '"';
    int rc = tsv_check(o, err);
    if (rc != 0) return rc;
    job->rules.delim = delim_newline;
    job->consume = consume_tsv;
    return 0;
}

/* --key-columns 1,3: 1-based column numbers separated by commas. */
static int parse_columns(void *field, const char *value, char *cause, size_t causelen)
{
    mrc_tsv_columns c = {.n = 0};
    const char *p = value;
    for (;;) {
        char *end;
        if (*p < '0' || *p > '9') break;
        unsigned long v = strtoul(p, &end, 10);
        if (v == 0 || v > MRC_TSV_MAX_COLUMN || c.n == MRC_TSV_MAX_KEYS) break;
        c.col[c.n++] = (uint32_t)v;
        if (*end == '\0') {
            *(mrc_tsv_columns *)field = c;
            return 0;
        }
        if (*end != ',') break;
        p = end + 1;
    }
    snprintf(cause, causelen,
             "'%s' is not a list of 1 to %d column numbers (1-%d) separated by commas", value,
             MRC_TSV_MAX_KEYS, MRC_TSV_MAX_COLUMN);
    return MRC_EINVAL;
}

static void show_columns(const void *field, FILE *f)
{
    const mrc_tsv_columns *c = field;
    fputc('[', f);
    for (uint32_t i = 0; i < c->n; i++)
        fprintf(f, "%s%u", i ? ", " : "", c->col[i]);
    fputc(']', f);
}

/* --delimiter C: one byte, or one of the names tab, space, comma, semicolon, pipe (any case),
 * or \t. */
static int parse_delimiter(void *field, const char *value, char *cause, size_t causelen)
{
    static const struct {
        const char *name;
        char c;
    } names[] = {{"tab", '\t'},  {"\\t", '\t'},      {"space", ' '},
                 {"comma", ','}, {"semicolon", ';'}, {"pipe", '|'}};
    int c = -1;
    if (value[0] != '\0' && value[1] == '\0') c = (unsigned char)value[0];
    for (size_t i = 0; c < 0 && i < sizeof names / sizeof *names; i++)
        if (strcasecmp(value, names[i].name) == 0) c = (unsigned char)names[i].c;
    if (value[0] == '\0') { /* what an INI file's "delimiter = ;" leaves: the ';' began a comment */
        snprintf(cause, causelen,
                 "empty (in a config file a ';' after a space starts a comment: write "
                 "'semicolon')");
        return MRC_EINVAL;
    }
    if (c < 0 || c == '\n' || c == '\r') {
        snprintf(cause, causelen,
                 "'%s' is not one byte other than CR and LF (or tab, space, comma, semicolon, "
                 "pipe)",
                 value);
        return MRC_EINVAL;
    }
    *(int *)field = c;
    return 0;
}

static void show_delimiter(const void *field, FILE *f)
{
    char s[2] = {(char)*(const int *)field, '\0'};
    mrc_json_string(f, s);
}

/* --quote C: one byte other than CR and LF, or none, or auto. */
static int parse_quote(void *field, const char *value, char *cause, size_t causelen)
{
    int c = -2;
    if (strcmp(value, "none") == 0) c = 0;
    if (strcmp(value, "auto") == 0) c = MRC_TSV_QUOTE_AUTO;
    if (value[0] != '\0' && value[1] == '\0' && value[0] != '\n' && value[0] != '\r')
        c = (unsigned char)value[0];
    if (c == -2) {
        snprintf(cause, causelen, "'%s' is not one byte other than CR and LF, none or auto", value);
        return MRC_EINVAL;
    }
    *(int *)field = c;
    return 0;
}

static void show_quote(const void *field, FILE *f)
{
    int c = *(const int *)field;
    char s[2] = {(char)c, '\0'};
    mrc_json_string(f, c == 0 ? "none" : c == MRC_TSV_QUOTE_AUTO ? "auto" : s);
}

static const mrc_opt_def tsv_opts[] = {
    {.name = "key-columns",
     .section = "job",
     .type = MRC_OPT_CUSTOM,
     .offset = offsetof(mrc_tsv_opts, keys),
     .arg = "1,3",
     .help = "the key: these columns (1-based) joined by TAB,\n"
             "in this order (default: 1)",
     .metric = "key_columns",
     .parse = parse_columns,
     .show = show_columns},
    {.name = "value-column",
     .section = "job",
     .type = MRC_OPT_INT,
     .offset = offsetof(mrc_tsv_opts, value_column),
     .max = MRC_TSV_MAX_COLUMN,
     .arg = "N",
     .help = "sum this column (an unsigned 64-bit number) per key\n"
             "(default: 0 = count the lines)",
     .metric = "value_column"},
    {.name = "delimiter",
     .section = "job",
     .type = MRC_OPT_CUSTOM,
     .offset = offsetof(mrc_tsv_opts, delimiter),
     .arg = "C",
     .help = "the field delimiter, one byte (default: TAB)",
     .metric = "delimiter",
     .parse = parse_delimiter,
     .show = show_delimiter},
    {.name = "quote",
     .section = "job",
     .type = MRC_OPT_CUSTOM,
     .offset = offsetof(mrc_tsv_opts, quote),
     .arg = "C|none|auto",
     .help = "a field that starts with C runs to the next lone C\n"
             "(CC inside is one C), delimiters and all, as in\n"
             "CSV (default: auto = '\"', none when the delimiter\n"
             "is TAB or '\"')",
     .metric = "quote",
     .parse = parse_quote,
     .show = show_quote},
    {.name = "header",
     .section = "job",
     .type = MRC_OPT_FLAG,
     .offset = offsetof(mrc_tsv_opts, header),
     .help = "skip each file's first line",
     .metric = "header"},
    {.name = "no-header",
     .type = MRC_OPT_FLAG,
     .offset = offsetof(mrc_tsv_opts, header),
     .negate = true},
    {.name = "strict",
     .section = "job",
     .type = MRC_OPT_FLAG,
     .offset = offsetof(mrc_tsv_opts, strict),
     .help = "a malformed line is an error (default: skipped,\ncounted and reported)",
     .metric = "strict"},
    {.name = "no-strict",
     .type = MRC_OPT_FLAG,
     .offset = offsetof(mrc_tsv_opts, strict),
     .negate = true},
    {0},
};

static const mrc_tsv_opts tsv_defaults = {
    .keys = {.col = {1}, .n = 1}, .delimiter = '\t', .quote = MRC_TSV_QUOTE_AUTO};

const mrc_job_desc mrc_job_tsv = {
    .name = "tsv",
    .summary = "a column of delimited text summed by key columns",
    .records = "lines",
    .unit = MRC_UNIT_LINE,
    .bad_records = true,
    .opts = tsv_opts,
    .settings_size = sizeof(mrc_tsv_opts),
    .defaults = &tsv_defaults,
    .check = tsv_check,
    .select = tsv_select,
};
