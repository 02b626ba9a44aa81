/* opt.h - option definitions, part of the common floor: what one option of the command line
 * and of an INI file is (its name, INI section, type, where its value is stored, its help and
 * its metrics key), and the generic parsing, help and JSON of such definitions. The CLI owns
 * the run's options and each job (map/) owns its own; the CLI walks both lists. */
#ifndef MRCOUNT_OPT_H
#define MRCOUNT_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mrcount/common.h"

enum mrc_opt_type {
    MRC_OPT_FLAG,   /* bool: --name sets it (false with `negate`); an INI value is a boolean */
    MRC_OPT_CHOICE, /* int: the index of the value in `choices` */
    MRC_OPT_UINT,   /* uint64_t: a decimal number within [min, max] */
    MRC_OPT_INT,    /* int: a decimal number within [min, max] */
    MRC_OPT_SIZE,   /* uint64_t: a size with an optional k/M/G/T suffix, within [min, max] */
    MRC_OPT_STRING, /* char *: a non-empty string, malloc'd (the owner frees it) */
    MRC_OPT_CUSTOM, /* parsed by `parse` into the field, shown by `show` */
};

/* The longest cause an option's parser writes (the caller adds the option's name). */
#define MRC_OPT_CAUSE_MAX (MRC_ERR_MSG_MAX / 2)

typedef struct mrc_opt_def {
    const char *name;    /* the long option (--name) and the INI key; NULL ends a list */
    const char *section; /* the INI section: "input", "job", "run" or "output"; NULL: only
                            on the command line */
    char short_name;     /* -x, or 0 */
    enum mrc_opt_type type;
    size_t offset;              /* where the value lives in the settings it is applied to */
    const char *const *choices; /* CHOICE: the names, NULL-terminated */
    int64_t min, max;           /* UINT, INT, SIZE: the range (both 0: any value) */
    const char *unit;           /* what the number counts, for range errors ("bytes") */
    const char *arg;            /* the argument in --help ("N", "SIZE"); CHOICE: the choices */
    const char *help;           /* --help text ('\n' starts a line of its own); NULL: not listed */
    bool negate;                /* FLAG: the option stores false (--no-fold-case) */
    const char *metric;         /* the metrics' config key of the value; NULL: not reported */
    /* CUSTOM: parse value into field (cause filled on error) and write the value as JSON */
    int (*parse)(void *field, const char *value, char *cause, size_t causelen);
    void (*show)(const void *field, FILE *f);
} mrc_opt_def;

/** mrc_opt_takes_value() : whether the option takes an argument on the command line. */
bool mrc_opt_takes_value(const mrc_opt_def *d);

/** mrc_opt_apply() : parse `value` into the option's field of `base` (the settings struct its
 *  offset is relative to). value NULL: a command-line flag given without a value. A STRING
 *  value replaces (and frees) the previous one.
 *  @return 0, or MRC_EINVAL / MRC_ENOMEM with `cause` saying why (without the option's name). */
int mrc_opt_apply(const mrc_opt_def *d, void *base, const char *value, char *cause,
                  size_t causelen);

/** mrc_opt_parse_bool() : true/false, yes/no, on/off, 1/0 (any case). @return 0, or -1. */
int mrc_opt_parse_bool(const char *s, bool *out);

/** mrc_opt_choice_name() : the name of choice index `i` of d ("?" when out of range). */
const char *mrc_opt_choice_name(const mrc_opt_def *d, int i);

/** mrc_opt_write_json() : `, "KEY": VALUE` for every option of defs (ended by a NULL name)
 *  that has a metrics key, from the settings at base. */
void mrc_opt_write_json(const mrc_opt_def *defs, const void *base, FILE *f);

/** mrc_opt_write_help() : the --help lines of defs (ended by a NULL name), in the layout of
 *  the usage text: "  -x, --name ARG" then the help from column 26 (on the next line when the
 *  option is wider). */
void mrc_opt_write_help(const mrc_opt_def *defs, FILE *f);

/** mrc_opt_write_roff() : text as roff running text (no line break of its own): '\\' as \\e,
 *  '-' as \\- (a minus: what users type), a '.' or '\'' that starts it guarded by \\& (a control
 *  line otherwise), each control character ('\\n' of --help) as a space, and every character
 *  outside ASCII as \\[uXXXX] (a byte that is not part of valid UTF-8: \\[uFFFD]), since
 *  groff reads its input as Latin-1. */
void mrc_opt_write_roff(FILE *f, const char *text);

/** mrc_opt_write_man() : the man page entries of defs (ended by a NULL name), as .TP
 *  paragraphs: "-x, --name ARG" (choices in bold, ARG in italics), the help joined into one
 *  paragraph, then the INI key and its section ("INI: [run] threads = N"), or "Command line
 *  only.". Options without help are left out, except a negation (--no-fold-case), which names
 *  the option of the same field that it turns off. */
void mrc_opt_write_man(const mrc_opt_def *defs, FILE *f);

/** mrc_opt_free_strings() : free every STRING field of defs in base (and set it to NULL). */
void mrc_opt_free_strings(const mrc_opt_def *defs, void *base);

/** mrc_json_string() : s as a JSON string literal. Valid UTF-8 is written as it is, with only
 *  what JSON requires escaped (", \\ and the controls below 0x20); each byte that is not part
 *  of valid UTF-8 (paths are bytes) is written as \\udcXX, the lone surrogate U+DC80 + byte:
 *  Python's "surrogateescape", so `name.encode('utf-8', 'surrogateescape')` of the decoded
 *  string gives back the original bytes. */
void mrc_json_string(FILE *f, const char *s);

/** mrc_json_bytes() : the same for n bytes that may hold NUL. */
void mrc_json_bytes(FILE *f, const unsigned char *s, size_t n);

#endif
