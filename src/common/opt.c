/* opt.c - the generic side of option definitions (opt.h): parsing a value into its field,
 * writing the values of a list as metrics JSON and the options of a list as --help lines, and
 * the JSON string escaping every report uses. It must never print to a stream it was not given,
 * exit, or know any particular option. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mrcount/opt.h"

bool mrc_opt_takes_value(const mrc_opt_def *d)
{
    return d->type != MRC_OPT_FLAG;
}

int mrc_opt_parse_bool(const char *s, bool *out)
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

const char *mrc_opt_choice_name(const mrc_opt_def *d, int i)
{
    for (int k = 0; d->choices != NULL && d->choices[k] != NULL; k++)
        if (k == i) return d->choices[k];
    return "?";
}

/* A decimal number without sign, spaces or suffix: @return 0, -1 (not a number) or -2 (a number
 * past 2^64-1). */
static int parse_u64(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9') return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || (errno != 0 && errno != ERANGE)) return -1;
    if (errno == ERANGE) return -2;
    *out = v;
    return 0;
}

static int parse_choice(const mrc_opt_def *d, const char *value, int *out, char *cause,
                        size_t causelen)
{
    for (int i = 0; d->choices[i] != NULL; i++)
        if (strcmp(value, d->choices[i]) == 0) {
            *out = i;
            return 0;
        }
    int n = snprintf(cause, causelen, "'%s' is not one of ", value);
    for (int i = 0; d->choices[i] != NULL && n >= 0 && (size_t)n < causelen; i++)
        n += snprintf(cause + n, causelen - (size_t)n, "%s%s", i ? ", " : "", d->choices[i]);
    return MRC_EINVAL;
}

/* The range check of a number: the cause names the bound it passed. */
static int in_range(const mrc_opt_def *d, const char *value, uint64_t v, char *cause,
                    size_t causelen)
{
    const char *sp = d->unit != NULL ? " " : "", *unit = d->unit != NULL ? d->unit : "";
    if (d->min == 0 && d->max == 0) return 0;
    if (d->min == 1 && v == 0 && d->type != MRC_OPT_SIZE) {
        snprintf(cause, causelen, "'%s' is not a positive integer", value);
        return MRC_EINVAL;
    }
    if (d->min > 0 && v < (uint64_t)d->min) {
        snprintf(cause, causelen, "'%s' is less than the minimum of %lld%s%s", value,
                 (long long)d->min, sp, unit);
        return MRC_EINVAL;
    }
    if (v > (uint64_t)d->max) {
        if (d->unit != NULL)
            snprintf(cause, causelen, "'%s' is more than %lld %s", value, (long long)d->max,
                     d->unit);
        else
            snprintf(cause, causelen, "'%s' is more than the maximum of %lld", value,
                     (long long)d->max);
        return MRC_EINVAL;
    }
    return 0;
}

/* The cause for a number too large for 64 bits: past the option's maximum when it has one. */
static int too_large(const mrc_opt_def *d, const char *value, char *cause, size_t causelen)
{
    if (d->max != 0) return in_range(d, value, UINT64_MAX, cause, causelen);
    snprintf(cause, causelen, "'%s' is more than the maximum of %llu", value,
             (unsigned long long)UINT64_MAX);
    return MRC_EINVAL;
}

int mrc_opt_apply(const mrc_opt_def *d, void *base, const char *value, char *cause, size_t causelen)
{
    void *field = (unsigned char *)base + d->offset;
    bool flag = true;
    uint64_t n;
    int rc;
    switch (d->type) {
    case MRC_OPT_FLAG:
        if (value != NULL && mrc_opt_parse_bool(value, &flag) != 0) {
            snprintf(cause, causelen, "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)",
                     value);
            return MRC_EINVAL;
        }
        *(bool *)field = d->negate ? !flag : flag;
        return 0;
    case MRC_OPT_CHOICE:
        return parse_choice(d, value, (int *)field, cause, causelen);
    case MRC_OPT_UINT:
    case MRC_OPT_INT:
        if ((rc = parse_u64(value, &n)) == -2) return too_large(d, value, cause, causelen);
        if (rc != 0) {
            snprintf(cause, causelen, "'%s' is not a %s integer", value,
                     d->min > 0 ? "positive" : "non-negative");
            return MRC_EINVAL;
        }
        if ((rc = in_range(d, value, n, cause, causelen)) != 0) return rc;
        if (d->type == MRC_OPT_INT)
            *(int *)field = (int)n;
        else
            *(uint64_t *)field = n;
        return 0;
    case MRC_OPT_SIZE:
        if ((rc = mrc_parse_size(value, &n)) == -2) return too_large(d, value, cause, causelen);
        if (rc != 0) {
            snprintf(cause, causelen, "'%s' is not a size (a number with k, M, G or T)", value);
            return MRC_EINVAL;
        }
        if ((rc = in_range(d, value, n, cause, causelen)) != 0) return rc;
        *(uint64_t *)field = n;
        return 0;
    case MRC_OPT_STRING: {
        if (*value == '\0') {
            snprintf(cause, causelen, "empty value");
            return MRC_EINVAL;
        }
        char *s = strdup(value);
        if (s == NULL) {
            snprintf(cause, causelen, "out of memory");
            return MRC_ENOMEM;
        }
        free(*(char **)field);
        *(char **)field = s;
        return 0;
    }
    case MRC_OPT_CUSTOM:
        return d->parse(field, value, cause, causelen);
    }
    return 0;
}

void mrc_opt_write_json(const mrc_opt_def *defs, const void *base, FILE *f)
{
    for (const mrc_opt_def *d = defs; d->name != NULL; d++) {
        if (d->metric == NULL) continue;
        const void *field = (const unsigned char *)base + d->offset;
        fprintf(f, ", \"%s\": ", d->metric);
        switch (d->type) {
        case MRC_OPT_FLAG:
            fputs(*(const bool *)field ? "true" : "false", f);
            break;
        case MRC_OPT_CHOICE:
            mrc_json_string(f, mrc_opt_choice_name(d, *(const int *)field));
            break;
        case MRC_OPT_UINT:
        case MRC_OPT_SIZE:
            fprintf(f, "%llu", (unsigned long long)*(const uint64_t *)field);
            break;
        case MRC_OPT_INT:
            fprintf(f, "%d", *(const int *)field);
            break;
        case MRC_OPT_STRING: {
            const char *s = *(char *const *)field;
            if (s != NULL)
                mrc_json_string(f, s);
            else
                fputs("null", f);
            break;
        }
        case MRC_OPT_CUSTOM:
            d->show(field, f);
            break;
        }
    }
}

#define HELP_COLUMN 25 /* where help text starts */

void mrc_opt_write_help(const mrc_opt_def *defs, FILE *f)
{
    for (const mrc_opt_def *d = defs; d->name != NULL; d++) {
        if (d->help == NULL) continue;
        int n = d->short_name ? fprintf(f, "  -%c, --%s", d->short_name, d->name)
                              : fprintf(f, "      --%s", d->name);
        if (d->type == MRC_OPT_CHOICE && d->arg == NULL) {
            for (int i = 0; d->choices[i] != NULL; i++)
                n += fprintf(f, "%c%s", i ? '|' : ' ', d->choices[i]);
        } else if (d->arg != NULL) {
            n += fprintf(f, " %s", d->arg);
        }
        if (n + 2 > HELP_COLUMN) {
            fputc('\n', f);
            n = 0;
        }
        for (const char *line = d->help; *line != '\0';) {
            size_t len = strcspn(line, "\n");
            fprintf(f, "%*s%.*s\n", HELP_COLUMN - n, "", (int)len, line);
            n = 0;
            line += len;
            if (*line == '\n') line++;
        }
    }
}

void mrc_opt_free_strings(const mrc_opt_def *defs, void *base)
{
    for (const mrc_opt_def *d = defs; d->name != NULL; d++)
        if (d->type == MRC_OPT_STRING) {
            char **s = (char **)(void *)((unsigned char *)base + d->offset);
            free(*s);
            *s = NULL;
        }
}

/* ---- JSON strings ---- */

/* The length of the valid UTF-8 sequence at s[0..n) (1-4), or 0 if s[0] does not start one:
 * no overlong forms, no surrogates, nothing past U+10FFFF (RFC 3629). */
static size_t utf8_valid_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return len;
}

void mrc_json_bytes(FILE *f, const unsigned char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            fprintf(f, "\\%c", c);
            i++;
        } else if (c == '\n') {
            fputs("\\n", f);
            i++;
        } else if (c == '\t') {
            fputs("\\t", f);
            i++;
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            fputc(c, f);
            i++;
        } else {
            size_t len = utf8_valid_len(s + i, n - i);
            if (len == 0) {
                fprintf(f, "\\udc%02x", c); /* surrogateescape: lossless for any byte */
                i++;
            } else {
                fwrite(s + i, 1, len, f);
                i += len;
            }
        }
    }
    fputc('"', f);
}

void mrc_json_string(FILE *f, const char *s)
{
    mrc_json_bytes(f, (const unsigned char *)s, strlen(s));
}

/* ---- man pages (roff) ---- */

/* The code point of the valid UTF-8 sequence of len bytes at s. */
static unsigned long utf8_decode(const unsigned char *s, size_t len)
{
    static const unsigned char lead_mask[] = {0, 0x7f, 0x1f, 0x0f, 0x07};
    unsigned long cp = s[0] & lead_mask[len];
    for (size_t i = 1; i < len; i++)
        cp = cp << 6 | (s[i] & 0x3fu);
    return cp;
}

void mrc_opt_write_roff(FILE *f, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text);
    if (s[0] == '.' || s[0] == '\'') fputs("\\&", f); /* a control line otherwise */
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t len = 1;
        if (c == '\\') {
            fputs("\\e", f);
        } else if (c == '-') {
            fputs("\\-", f); /* a minus (what is typed), not a hyphen */
        } else if (c < 0x20 || c == 0x7f) {
            fputc(' ', f); /* line breaks of --help (and any control) fill as spaces */
        } else if (c < 0x80) {
            fputc(c, f);
        } else if ((len = utf8_valid_len(s + i, n - i)) == 0) {
            fputs("\\[uFFFD]", f);
            len = 1;
        } else {
            fprintf(f, "\\[u%04lX]", utf8_decode(s + i, len)); /* groff reads input as Latin-1 */
        }
        i += len;
    }
}

/* " ARG" of an option in a man page: the choices in bold, else its argument in italics. */
static void write_man_arg(const mrc_opt_def *d, FILE *f)
{
    if (d->type == MRC_OPT_FLAG) return;
    if (d->type == MRC_OPT_CHOICE && d->arg == NULL) {
        for (int i = 0; d->choices[i] != NULL; i++) {
            fputs(i ? "|\\fB" : " \\fB", f);
            mrc_opt_write_roff(f, d->choices[i]);
            fputs("\\fR", f);
        }
        return;
    }
    fputs(" \\fI", f);
    mrc_opt_write_roff(f, d->arg != NULL ? d->arg : "VALUE");
    fputs("\\fR", f);
}

void mrc_opt_write_man(const mrc_opt_def *defs, FILE *f)
{
    for (const mrc_opt_def *d = defs; d->name != NULL; d++) {
        if (d->help == NULL && !d->negate) continue;
        fputs(".TP\n", f);
        if (d->short_name) fprintf(f, "\\fB\\-%c\\fR, ", d->short_name);
        fputs("\\fB\\-\\-", f);
        mrc_opt_write_roff(f, d->name);
        fputs("\\fR", f);
        write_man_arg(d, f);
        fputc('\n', f);
        if (d->help != NULL) {
            mrc_opt_write_roff(f, d->help);
            fputc('\n', f);
        } else { /* a negation without help of its own: name what it undoes */
            const mrc_opt_def *pos = defs;
            while (pos->name != NULL && (pos->offset != d->offset || pos->negate))
                pos++;
            if (pos->name != NULL) {
                fputs("Turns \\fB\\-\\-", f);
                mrc_opt_write_roff(f, pos->name);
                fputs("\\fR off again (after a \\fB\\-\\-config\\fR file that sets it).\n", f);
            }
        }
        if (d->section == NULL) {
            fputs(".br\nCommand line only.\n", f);
            continue;
        }
        fputs(".br\nINI: \\fB[", f);
        mrc_opt_write_roff(f, d->section);
        fputs("] ", f);
        mrc_opt_write_roff(f, d->name);
        fputs(" =\\fR", f);
        if (d->type == MRC_OPT_FLAG)
            fputs(" \\fBtrue\\fR|\\fBfalse\\fR", f);
        else
            write_man_arg(d, f);
        fputc('\n', f);
    }
}
