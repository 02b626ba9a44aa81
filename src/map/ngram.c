/* ngram.c - the ngram job: Google Books Ngram export lines (v1, v2, v3) are validated, filtered
 * by year and part-of-speech tags, and their match (or volume) counts summed per ngram.
 * A malformed line is never guessed at: it is skipped and logged with its place (or fatal with
 * --strict); a line of another export format among a file's first lines ends the run.
 * Rows of one ngram are adjacent in real exports, so a run of equal keys costs one table add
 * (queued: addq.h). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "addq.h"
#include "mrcount/map.h"
#include "ngram.h"

#define FORMAT_CHECK_LINES 4 /* a file's first lines that must not belong to another format */

static const char *const format_names[] = {"v1", "v2", "v3", NULL};

static unsigned char delim_newline[256] = {['\n'] = 1};

/* ---- fields ---- */

/* Parses an unsigned decimal field starting at *pp and ending at `term` or at `end`; *pp is left
 * on the terminator. @return 0, or the cause (count causes; the year maps them). */
static int parse_count_checked(const unsigned char **pp, const unsigned char *end,
                               unsigned char term, uint64_t *out)
{
    const unsigned char *p = *pp;
    uint64_t v = 0;
    int cause = 0;
    if (p < end && *p == '-') {
        cause = MRC_BAD_NEGATIVE;
        p++;
    }
    const unsigned char *digits = p;
    for (; p < end; p++) {
        unsigned d = (unsigned)*p - '0';
        if (d > 9) break;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, d, &v))
            if (cause == 0) cause = MRC_BAD_COUNT_RANGE;
    }
    *pp = p;
    if (p == digits || (p < end && *p != term)) return MRC_BAD_COUNT;
    *out = v;
    return cause;
}

/* The common case inline: 1 to 19 digits (no overflow possible) then the terminator. */
static inline int parse_count(const unsigned char **pp, const unsigned char *end,
                              unsigned char term, uint64_t *out)
{
    const unsigned char *p = *pp, *start = p;
    uint64_t v = 0;
    for (unsigned d; p < end && (d = (unsigned)*p - '0') <= 9; p++)
        v = v * 10 + d;
    if (__builtin_expect(p != start && p - start <= 19 && (p == end || *p == term), 1)) {
        *pp = p;
        *out = v;
        return 0;
    }
    return parse_count_checked(pp, end, term, out);
}

static inline int parse_year(const unsigned char **pp, const unsigned char *end, unsigned char term,
                             int *year)
{
    uint64_t v = 0;
    int cause = parse_count(pp, end, term, &v);
    if (cause == MRC_BAD_COUNT) return MRC_BAD_YEAR;
    if (cause != 0 || v > MRC_YEAR_MAX) return MRC_BAD_YEAR_RANGE;
    *year = (int)v;
    return 0;
}

/* What one line adds: the length of its key (which starts the line) and the sum of its selected
 * counts within the years (meaningful when `counted`). */
typedef struct line_value {
    size_t key_len;
    int year; /* v1/v2: the line's year */
    uint64_t value;
    bool counted; /* at least one year inside the range */
    bool value_overflow;
} line_value;

static inline bool in_years(const mrc_ngram_opts *o, int year)
{
    return year >= o->year_min && year <= o->year_max;
}

/* The columns after the key of a v1/v2 line: year, then ncounts counts. */
static int parse_rows(const mrc_ngram_opts *o, const unsigned char *p, const unsigned char *end,
                      int ncounts, int value_col, line_value *lv)
{
    int year = 0, cause;
    p++; /* the TAB after the key */
    if (p == end) return MRC_BAD_COLUMNS;
    if ((cause = parse_year(&p, end, '\t', &year)) != 0) return cause;
    uint64_t value = 0;
    for (int c = 0; c < ncounts; c++) {
        if (p == end) return MRC_BAD_COLUMNS;
        p++;
        uint64_t v;
        if ((cause = parse_count(&p, end, '\t', &v)) != 0) return cause;
        if (c == value_col) value = v;
    }
    if (p != end) return MRC_BAD_EXTRA;
    lv->counted = in_years(o, year);
    lv->year = year;
    lv->value = value;
    return 0;
}

/* The entries after the key of a v3 line: TAB year,match,volumes, one or more. */
static int parse_entries(const mrc_ngram_opts *o, const unsigned char *p, const unsigned char *end,
                         int value_col, line_value *lv)
{
    uint64_t sum = 0;
    bool counted = false, overflow = false;
    while (p < end) {
        p++; /* the TAB before the entry */
        int year = 0, cause;
        uint64_t v[2];
        if (p == end || *p == '\t') return MRC_BAD_ENTRY;
        if ((cause = parse_year(&p, end, ',', &year)) != 0)
            return cause == MRC_BAD_YEAR && (p == end || *p == '\t') ? MRC_BAD_ENTRY : cause;
        if (p == end) return MRC_BAD_ENTRY;
        p++;
        if ((cause = parse_count(&p, end, ',', &v[0])) != 0)
            return cause == MRC_BAD_COUNT && (p == end || *p == '\t') ? MRC_BAD_ENTRY : cause;
        if (p == end) return MRC_BAD_ENTRY;
        p++;
        if ((cause = parse_count(&p, end, '\t', &v[1])) != 0)
            return cause == MRC_BAD_COUNT && p < end && *p == ',' ? MRC_BAD_ENTRY : cause;
        if (in_years(o, year)) {
            counted = true;
            if (__builtin_add_overflow(sum, v[value_col], &sum)) overflow = true;
        }
    }
    lv->counted = counted;
    lv->value = sum;
    lv->value_overflow = overflow;
    return 0;
}

/* Validates one line (no LF; a final CR already dropped) as `fmt`. @return 0 or the cause.
 * Inlined into one consumer per format, where fmt is a constant. */
static inline __attribute__((always_inline)) int
parse_line(const mrc_ngram_opts *o, enum mrc_ngram_format fmt, const unsigned char *line,
           size_t len, const unsigned char *key_end, line_value *lv)
{
    const unsigned char *end = line + len;
    if (key_end == NULL) key_end = memchr(line, '\t', len);
    if (key_end == NULL) return MRC_BAD_COLUMNS;
    if (key_end == line) return MRC_BAD_EMPTY_NGRAM;
    lv->key_len = (size_t)(key_end - line);
    lv->value_overflow = false;
    switch (fmt) {
    case MRC_NGRAM_V1:
        return parse_rows(o, key_end, end, 3, o->value == MRC_VALUE_MATCH ? 0 : 2, lv);
    case MRC_NGRAM_V2:
        return parse_rows(o, key_end, end, 2, o->value == MRC_VALUE_MATCH ? 0 : 1, lv);
    default:
        return parse_entries(o, key_end, end, o->value == MRC_VALUE_MATCH ? 0 : 1, lv);
    }
}

/* ---- part-of-speech tags ---- */

static bool is_tag(const unsigned char *t, size_t n)
{
    static const char *const tags[] = {"NOUN", "VERB", "ADJ",  "ADV", "PRON", "DET",
                                       "ADP",  "NUM",  "CONJ", "PRT", "X",    "."};
    for (size_t i = 0; i < sizeof tags / sizeof *tags; i++)
        if (strlen(tags[i]) == n && memcmp(tags[i], t, n) == 0) return true;
    return false;
}

/* A token's tag: 0 if untagged; else the length of its "_TAG" suffix (word_NOUN), or the
 * whole token for a tag standing alone (_NOUN_), with *alone set. */
static size_t token_tag(const unsigned char *t, size_t n, bool *alone)
{
    *alone = false;
    if (n >= 3 && t[0] == '_' && t[n - 1] == '_' && is_tag(t + 1, n - 2)) {
        *alone = true;
        return n;
    }
    for (size_t i = n; i-- > 1;)
        if (t[i] == '_') return is_tag(t + i + 1, n - i - 1) ? n - i : 0;
    return 0;
}

/* The key a raw ngram counts under, after --pos and --fold-case (tags keep their case).
 * @return 1 with *out and *out_len set, 0 when --pos drops the ngram, -1 on error. */
static int key_of(mrc_map_ctx *ctx, const unsigned char *key, size_t len, const unsigned char **out,
                  size_t *out_len, mrc_err *err)
{
    const mrc_ngram_opts *o = ctx->settings;
    if (o->pos == MRC_POS_KEEP && !o->fold_case) {
        *out = key;
        *out_len = len;
        return 1;
    }
    bool rewrite = o->fold_case || o->pos == MRC_POS_STRIP;
    if (rewrite && len > ctx->scratch_cap && mrc_map_ctx_grow_scratch(ctx, len, err) != 0)
        return -1;
    unsigned char *w = ctx->scratch;
    size_t n = 0;
    bool any_tag = false;
    for (size_t s = 0; s <= len;) {
        const unsigned char *sp = memchr(key + s, ' ', len - s);
        size_t e = sp ? (size_t)(sp - key) : len;
        bool alone;
        size_t tag = token_tag(key + s, e - s, &alone);
        any_tag |= tag != 0;
        if (rewrite) {
            size_t word = e - s - (alone ? 0 : tag);
            for (size_t i = 0; i < word; i++) {
                unsigned char c = key[s + i];
                w[n++] = o->fold_case && (unsigned)(c - 'A') < 26u ? (unsigned char)(c + 32) : c;
            }
            if (tag != 0 && !alone && o->pos != MRC_POS_STRIP) {
                memcpy(w + n, key + e - tag, tag);
                n += tag;
            } else if (alone) {
                memcpy(w + n - word, key + s, word); /* a tag alone keeps its case */
            }
            if (sp != NULL) w[n++] = ' ';
        }
        if (sp == NULL) break;
        s = e + 1;
    }
    if ((o->pos == MRC_POS_UNTAGGED && any_tag) || (o->pos == MRC_POS_TAGGED && !any_tag)) return 0;
    *out = rewrite ? w : key;
    *out_len = rewrite ? n : len;
    return 1;
}

/* ---- bad records ---- */

static int log_bad(mrc_map_ctx *ctx, int cause, mrc_err *err)
{
    const mrc_ngram_opts *o = ctx->settings;
    return mrc_map_bad_record(ctx, cause, o->strict, err);
}

/* A bad line among a file's first FORMAT_CHECK_LINES that parses as another format is a wrong
 * --format, whatever the split or piece it falls in (long lines put the second one past a
 * split's end): such a line in a piece past offset 0 counts the LFs before its piece, a few at
 * most, to know the line's number. @return 0, or -1 (err filled: the wrong format, or the
 * file's read error). */
static int check_format(mrc_map_ctx *ctx, const unsigned char *line, size_t len, mrc_err *err)
{
    const mrc_ngram_opts *o = ctx->settings;
    if (ctx->piece_line >= FORMAT_CHECK_LINES) return 0;
    for (int f = MRC_NGRAM_V1; f <= MRC_NGRAM_V3; f++) {
        line_value lv;
        if (f == (int)o->format || parse_line(o, (enum mrc_ngram_format)f, line, len, NULL, &lv))
            continue;
        /* the line's number in its file: a piece's first line follows the first LF at or past
         * its offset - 1 (mrc_bad_locate()) */
        uint64_t at = ctx->piece_line + 1;
        if (ctx->piece_offset > 0) {
            uint64_t lf = 0;
            if (mrc_input_count_newlines(ctx->path, ctx->piece_offset - 1, FORMAT_CHECK_LINES, &lf,
                                         err) != 0)
                return -1;
            at += lf + 1;
            if (at > FORMAT_CHECK_LINES) return 0;
        }
        mrc_err_set(err, MRC_EINVAL, "%s:%llu: looks like an ngram %s export, not %s (--format %s)",
                    ctx->path, (unsigned long long)at, format_names[f], format_names[o->format],
                    format_names[f]);
        return -1;
    }
    return 0;
}

/* ---- the consumer ---- */

/* Queues a run's sum for the table under its key. */
static int flush_run(mrc_map_ctx *ctx, addq *aq, const unsigned char *key, size_t len, uint64_t sum,
                     mrc_err *err)
{
    const unsigned char *k;
    size_t n;
    int keep = key_of(ctx, key, len, &k, &n, err);
    if (keep <= 0) return keep;
    if (n > UINT32_MAX)
        return mrc_err_set(err, MRC_EINVAL, "%s: an ngram of %zu bytes exceeds the 4 GiB key limit",
                           ctx->path, n),
               -1;
    return addq_push(ctx->table, aq, k, n, sum, err) != 0 ? addq_name_failure(ctx, err) : 0;
}

static int sum_overflow(mrc_map_ctx *ctx, const unsigned char *key, size_t len, mrc_err *err)
{
    char shown[MRC_KEY_SHOWN_BUF];
    mrc_err_set(err, MRC_EOVERFLOW, "%s: the count of ngram '%s' exceeds 2^64-1", ctx->path,
                mrc_key_shown(key, len, shown));
    return -1;
}

/* A sum past 2^64-1 is an error only when it is counted: an ngram --pos drops is no error,
 * whichever of its rows are adjacent in a piece. @return -1 (err filled), or 0: dropped. */
static int sum_overflow_unless_dropped(mrc_map_ctx *ctx, const unsigned char *key, size_t len,
                                       mrc_err *err)
{
    const unsigned char *k;
    size_t n;
    int keep = key_of(ctx, key, len, &k, &n, err);
    return keep == 0 ? 0 : keep < 0 ? -1 : sum_overflow(ctx, key, len, err);
}

/* The usual v1/v2 row, parsed in one pass with no length checks: lines before `limit` end with
 * LF, and every scan stops at a byte that is not a digit (or at TAB/LF for the key). Accepts only
 * what parse_line() accepts with the same value; anything unusual (a sign, 20 digits, a 5-digit
 * year, a missing column) returns NULL and the line takes the careful path.
 * @return the start of the next line, or NULL. */
static inline __attribute__((always_inline)) const unsigned char *
fast_row(const unsigned char *p, const unsigned char *key_end, int ncounts, int value_col,
         size_t *key_len, int *year, uint64_t *value)
{
    const unsigned char *q = key_end;
    if (q == NULL) {
        q = p;
        while (*q != '\t' && *q != '\n')
            q++;
        if (*q != '\t' || q == p) return NULL;
    }
    *key_len = (size_t)(q - p);
    const unsigned char *s = ++q;
    unsigned y = 0;
    for (unsigned d; (d = (unsigned)*q - '0') <= 9; q++)
        y = y * 10 + d;
    if (*q != '\t' || q == s || q - s > 4) return NULL;
    *year = (int)y;
    for (int c = 0; c < ncounts; c++) {
        s = ++q;
        uint64_t v = 0;
        for (unsigned d; (d = (unsigned)*q - '0') <= 9; q++)
            v = v * 10 + d;
        if (q == s || q - s > 19) return NULL;
        if (c == value_col) *value = v;
        if (c + 1 < ncounts) {
            if (*q != '\t') return NULL;
        } else if (*q == '\r') {
            if (*++q != '\n') return NULL;
        } else if (*q != '\n') {
            return NULL;
        }
    }
    return q + 1;
}

static inline __attribute__((always_inline)) long long
consume_lines(mrc_map_ctx *ctx, addq *aq, const unsigned char *buf, size_t len, bool final,
              mrc_err *err, enum mrc_ngram_format format)
{
    const mrc_ngram_opts *o = ctx->settings;
    const unsigned char *run_key = NULL, *p = buf, *end = buf + len;
    size_t run_len = 0;
    uint64_t run_sum = 0;
    bool run_counted = false;
    const int ncounts = format == MRC_NGRAM_V1 ? 3 : 2;
    const int value_col = o->value == MRC_VALUE_MATCH ? 0 : ncounts - 1;
    const unsigned char *last_nl = len ? memrchr(buf, '\n', len) : NULL;
    const unsigned char *limit = last_nl ? last_nl + 1 : buf; /* lines before it are whole */
    while (p < end) {
        const unsigned char *key_end = NULL, *next = NULL;
        line_value lv;
        int cause = 0;
        if (run_key != NULL && run_len < (size_t)(limit - p) && p[run_len] == '\t' &&
            mrc_key_eq(p, run_key, run_len))
            key_end = p + run_len;
        if (format != MRC_NGRAM_V3 && p < limit) {
            int year = 0;
            next = fast_row(p, key_end, ncounts, value_col, &lv.key_len, &year, &lv.value);
            lv.counted = in_years(o, year);
            lv.value_overflow = false;
        }
        if (next == NULL) { /* the careful path: find the line, then validate it */
            const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
            if (nl == NULL && !final) break;
            size_t n = (size_t)((nl ? nl : end) - p);
            if (n > 0 && p[n - 1] == '\r') n--;
            if (key_end != NULL && (size_t)(key_end - p) >= n) key_end = NULL;
            next = nl ? nl + 1 : end;
            cause = parse_line(o, format, p, n, key_end, &lv);
            if (cause != 0 && check_format(ctx, p, n, err) != 0) return -1;
        }
        if (cause != 0) {
            if (log_bad(ctx, cause, err) != 0) return -1;
        } else {
            if (lv.value_overflow && sum_overflow_unless_dropped(ctx, p, lv.key_len, err) != 0)
                return -1;
            if (key_end == NULL) { /* a new key: the previous run is complete */
                if (run_counted && flush_run(ctx, aq, run_key, run_len, run_sum, err) != 0)
                    return -1;
                run_key = p;
                run_len = lv.key_len;
                run_sum = 0;
                run_counted = false;
            }
            if (lv.counted) {
                if (__builtin_add_overflow(run_sum, lv.value, &run_sum) &&
                    sum_overflow_unless_dropped(ctx, run_key, run_len, err) != 0)
                    return -1;
                run_counted = true;
            }
        }
        ctx->records++;
        ctx->piece_line++;
        p = next;
    }
    if (run_counted && flush_run(ctx, aq, run_key, run_len, run_sum, err) != 0) return -1;
    return final ? (long long)len : (long long)(p - buf);
}

/* ---- --per-year: one key per (ngram, year) ---- */

/* Queue value under "<ngram key> TAB <year, 4 digits>": the year's fixed width makes bytewise
 * key order the order of years. @return 0, or -1 (err filled). */
static int add_year(mrc_map_ctx *ctx, addq *aq, const unsigned char *ngram, size_t len, int year,
                    uint64_t value, mrc_err *err)
{
    const unsigned char *k;
    size_t n;
    int keep = key_of(ctx, ngram, len, &k, &n, err);
    if (keep <= 0) return keep;
    if (n + 5 > ctx->scratch_cap || k != ctx->scratch) {
        size_t at = k == ctx->scratch ? 0 : SIZE_MAX; /* the rewritten key is in scratch */
        if (n + 5 > ctx->scratch_cap && mrc_map_ctx_grow_scratch(ctx, n + 5, err) != 0) return -1;
        if (at == SIZE_MAX) memmove(ctx->scratch, k, n); /* k points into the input */
    }
    unsigned char *w = ctx->scratch;
    w[n] = '\t';
    w[n + 1] = (unsigned char)('0' + year / 1000);
    w[n + 2] = (unsigned char)('0' + year / 100 % 10);
    w[n + 3] = (unsigned char)('0' + year / 10 % 10);
    w[n + 4] = (unsigned char)('0' + year % 10);
    n += 5;
    if (n > UINT32_MAX)
        return mrc_err_set(err, MRC_EINVAL, "%s: an ngram of %zu bytes exceeds the 4 GiB key limit",
                           ctx->path, n),
               -1;
    return addq_push(ctx->table, aq, w, n, value, err) != 0 ? addq_name_failure(ctx, err) : 0;
}

/* The careful path for every line: validate it, then one add per year in range (v3: per
 * entry). */
static inline __attribute__((always_inline)) long long
consume_years(mrc_map_ctx *ctx, addq *aq, const unsigned char *buf, size_t len, bool final,
              mrc_err *err, enum mrc_ngram_format format)
{
    const mrc_ngram_opts *o = ctx->settings;
    const unsigned char *p = buf, *end = buf + len;
    while (p < end) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL && !final) break;
        size_t n = (size_t)((nl ? nl : end) - p);
        if (n > 0 && p[n - 1] == '\r') n--;
        const unsigned char *next = nl ? nl + 1 : end;
        line_value lv;
        int cause = parse_line(o, format, p, n, NULL, &lv);
        if (cause != 0 && check_format(ctx, p, n, err) != 0) return -1;
        if (cause != 0) {
            if (log_bad(ctx, cause, err) != 0) return -1;
        } else if (format != MRC_NGRAM_V3) {
            if (lv.counted && add_year(ctx, aq, p, lv.key_len, lv.year, lv.value, err) != 0)
                return -1;
        } else { /* the entries are valid: "TAB year,match,volumes" each */
            const unsigned char *q = p + lv.key_len, *e = p + n;
            while (q < e) {
                q++;
                int year = 0;
                uint64_t v[2];
                parse_year(&q, e, ',', &year);
                q++;
                parse_count(&q, e, ',', &v[0]);
                q++;
                parse_count(&q, e, '\t', &v[1]);
                if (in_years(o, year) && add_year(ctx, aq, p, lv.key_len, year,
                                                  v[o->value == MRC_VALUE_MATCH ? 0 : 1], err) != 0)
                    return -1;
            }
        }
        ctx->records++;
        ctx->piece_line++;
        p = next;
    }
    return final ? (long long)len : (long long)(p - buf);
}

/* A consumer call, its queue emptied into the table before it returns (addq.h). Inlined into
 * each consumer below with its format a constant. */
static inline __attribute__((always_inline)) long long
consume_queued(void *c, const unsigned char *b, size_t n, bool f, mrc_err *e,
               enum mrc_ngram_format format, bool per_year)
{
    mrc_map_ctx *ctx = c;
    addq *aq = addq_of(ctx, e);
    if (aq == NULL) return -1;
    long long r = per_year ? consume_years(ctx, aq, b, n, f, e, format)
                           : consume_lines(ctx, aq, b, n, f, e, format);
    return addq_finish(ctx, aq, r, e);
}

static long long consume_v1(void *c, const unsigned char *b, size_t n, size_t o, bool f, mrc_err *e)
{
    (void)o; /* no lookahead: all of b is the range's */
    return consume_queued(c, b, n, f, e, MRC_NGRAM_V1, false);
}
static long long consume_v2(void *c, const unsigned char *b, size_t n, size_t o, bool f, mrc_err *e)
{
    (void)o; /* no lookahead: all of b is the range's */
    return consume_queued(c, b, n, f, e, MRC_NGRAM_V2, false);
}
static long long consume_v3(void *c, const unsigned char *b, size_t n, size_t o, bool f, mrc_err *e)
{
    (void)o; /* no lookahead: all of b is the range's */
    return consume_queued(c, b, n, f, e, MRC_NGRAM_V3, false);
}
static long long consume_v1_years(void *c, const unsigned char *b, size_t n, size_t o, bool f,
                                  mrc_err *e)
{
    (void)o; /* no lookahead: all of b is the range's */
    return consume_queued(c, b, n, f, e, MRC_NGRAM_V1, true);
}
static long long consume_v2_years(void *c, const unsigned char *b, size_t n, size_t o, bool f,
                                  mrc_err *e)
{
    (void)o; /* no lookahead: all of b is the range's */
    return consume_queued(c, b, n, f, e, MRC_NGRAM_V2, true);
}
static long long consume_v3_years(void *c, const unsigned char *b, size_t n, size_t o, bool f,
                                  mrc_err *e)
{
    (void)o; /* no lookahead: all of b is the range's */
    return consume_queued(c, b, n, f, e, MRC_NGRAM_V3, true);
}

static int ngram_check(const void *settings, mrc_err *err)
{
    const mrc_ngram_opts *o = settings;
    if (o->year_min < 0 || o->year_max > MRC_YEAR_MAX || o->year_min > o->year_max)
        return mrc_err_set(err, MRC_EINVAL, "--year-min %d --year-max %d: not a range within 0-%d",
                           o->year_min, o->year_max, MRC_YEAR_MAX);
    return 0;
}

static int ngram_select(mrc_job *job, const mrc_job_env *env, mrc_err *err)
{
    (void)env;
    const mrc_ngram_opts *o = (const void *)job->settings;
    int rc = ngram_check(o, err);
    if (rc != 0) return rc;
    job->rules.delim = delim_newline;
    if (o->per_year)
        job->consume = o->format == MRC_NGRAM_V1   ? consume_v1_years
                       : o->format == MRC_NGRAM_V2 ? consume_v2_years
                                                   : consume_v3_years;
    else
        job->consume = o->format == MRC_NGRAM_V1   ? consume_v1
                       : o->format == MRC_NGRAM_V2 ? consume_v2
                                                   : consume_v3;
    return 0;
}

static void ngram_metrics(const mrc_job *job, FILE *f)
{
    (void)job;
    fprintf(f, ", \"gz_backend\": \"%s\"", mrc_reader_gz_backend());
}

static const char *const value_names[] = {"match", "volumes", NULL};
static const char *const pos_names[] = {"keep", "untagged", "tagged", "strip", NULL};

static const mrc_opt_def ngram_opts[] = {
    {.name = "format",
     .section = "job",
     .type = MRC_OPT_CHOICE,
     .offset = offsetof(mrc_ngram_opts, format),
     .choices = format_names,
     .help = "2009: ngram year match pages volumes; 2012: ngram\n"
             "year match volumes; 2020: ngram year,match,volumes...\n"
             "(TAB-separated; default: v2)",
     .metric = "format"},
    {.name = "value",
     .section = "job",
     .type = MRC_OPT_CHOICE,
     .offset = offsetof(mrc_ngram_opts, value),
     .choices = value_names,
     .help = "which count to sum (default: match)",
     .metric = "value"},
    {.name = "year-min",
     .section = "job",
     .type = MRC_OPT_INT,
     .offset = offsetof(mrc_ngram_opts, year_min),
     .max = MRC_YEAR_MAX,
     .arg = "Y",
     .help = "only years from Y on, inclusive (0-9999)",
     .metric = "year_min"},
    {.name = "year-max",
     .section = "job",
     .type = MRC_OPT_INT,
     .offset = offsetof(mrc_ngram_opts, year_max),
     .max = MRC_YEAR_MAX,
     .arg = "Y",
     .help = "only years up to Y, inclusive (0-9999)",
     .metric = "year_max"},
    {.name = "pos",
     .section = "job",
     .type = MRC_OPT_CHOICE,
     .offset = offsetof(mrc_ngram_opts, pos),
     .choices = pos_names,
     .help = "POS-tagged forms (word_NOUN, _NOUN_): keep as written\n"
             "(default), only ngrams without tags, only with tags,\n"
             "or strip tags and sum (double counts in v3 data)",
     .metric = "pos"},
    {.name = "fold-case",
     .section = "job",
     .type = MRC_OPT_FLAG,
     .offset = offsetof(mrc_ngram_opts, fold_case),
     .help = "lower-case ASCII letters of the ngram (tags keep\ntheir case; --no-fold-case: don't)",
     .metric = "fold_case"},
    {.name = "no-fold-case",
     .type = MRC_OPT_FLAG,
     .offset = offsetof(mrc_ngram_opts, fold_case),
     .negate = true},
    {.name = "per-year",
     .section = "job",
     .type = MRC_OPT_FLAG,
     .offset = offsetof(mrc_ngram_opts, per_year),
     .help = "one key per (ngram, year): 'ngram TAB year TAB count'\n"
             "lines (years as 4 digits); --sort key gives a time\n"
             "series per ngram",
     .metric = "per_year"},
    {.name = "no-per-year",
     .type = MRC_OPT_FLAG,
     .offset = offsetof(mrc_ngram_opts, per_year),
     .negate = true},
    {.name = "strict",
     .section = "job",
     .type = MRC_OPT_FLAG,
     .offset = offsetof(mrc_ngram_opts, strict),
     .help = "a malformed line is an error (default: skipped,\ncounted and reported)",
     .metric = "strict"},
    {.name = "no-strict",
     .type = MRC_OPT_FLAG,
     .offset = offsetof(mrc_ngram_opts, strict),
     .negate = true},
    {0},
};

static const mrc_ngram_opts ngram_defaults = {.format = MRC_NGRAM_V2,
                                              .value = MRC_VALUE_MATCH,
                                              .pos = MRC_POS_KEEP,
                                              .year_min = 0,
                                              .year_max = MRC_YEAR_MAX};

const mrc_job_desc mrc_job_ngram = {
    .name = "ngram",
    .summary = "Google Books Ngram exports, plain or compressed",
    .records = "lines",
    .unit = MRC_UNIT_LINE,
    .bad_records = true,
    .opts = ngram_opts,
    .settings_size = sizeof(mrc_ngram_opts),
    .defaults = &ngram_defaults,
    .check = ngram_check,
    .select = ngram_select,
    .metrics = ngram_metrics,
};
