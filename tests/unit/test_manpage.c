/* test_manpage.c - the man page's generated parts: mrc_opt_write_roff()'s escaping (what would
 * start a control line, backslashes, minus signs, line breaks, UTF-8 and bytes that are not) and
 * mrc_options_man(), which must list every option of the run and of every job of the registry
 * with its INI key. Renders nothing: tests/integration/install.sh runs groff on the page. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mrcount/map.h"
#include "mrcount/opt.h"
#include "options.h"

/* What fn writes to a stream, as a malloc'd string. */
static char *captured(void (*fn)(FILE *, const void *), const void *arg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    fn(f, arg);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void write_roff(FILE *f, const void *text)
{
    mrc_opt_write_roff(f, text);
}

static void write_man(FILE *f, const void *unused)
{
    (void)unused;
    mrc_options_man(f);
}

#define EXPECT_ROFF(in, out)                                                                       \
    do {                                                                                           \
        char *got = captured(write_roff, in);                                                      \
        assert_string_equal(got, out);                                                             \
        free(got);                                                                                 \
    } while (0)

static void test_roff_escaping(void **state)
{
    (void)state;
    EXPECT_ROFF("plain text", "plain text");
    EXPECT_ROFF("", "");
    EXPECT_ROFF(".gz files", "\\&.gz files"); /* a request line otherwise */
    EXPECT_ROFF("'quoted'", "\\&'quoted'");   /* the other control character */
    EXPECT_ROFF("a.b 'c'", "a.b 'c'");        /* only at the start */
    EXPECT_ROFF("--no-fold-case", "\\-\\-no\\-fold\\-case");
    EXPECT_ROFF("C:\\dir\\n", "C:\\edir\\en"); /* a backslash is \e, never an escape */
    EXPECT_ROFF("two\nlines\there", "two lines here");
    EXPECT_ROFF("caf\xc3\xa9", "caf\\[u00E9]");
    EXPECT_ROFF("\xe2\x82\xac 5", "\\[u20AC] 5");
    EXPECT_ROFF("\xf0\x9d\x84\x9e", "\\[u1D11E]");
    EXPECT_ROFF("bad \xff byte", "bad \\[uFFFD] byte");
    EXPECT_ROFF("cut \xe2\x82", "cut \\[uFFFD]\\[uFFFD]");
    EXPECT_ROFF("\xc0\xaf", "\\[uFFFD]\\[uFFFD]"); /* overlong */
}

/* s with every '-' written as roff's minus, \- . */
static void minus_escaped(const char *s, char *out, size_t outlen)
{
    size_t n = 0;
    for (; *s != '\0' && n + 3 < outlen; s++) {
        if (*s == '-') out[n++] = '\\';
        out[n++] = *s;
    }
    out[n] = '\0';
}

/* Every option of defs that --help lists (and every negation) is an entry of the page, with its
 * INI key when it has one. */
static void expect_listed(const char *page, const mrc_opt_def *defs)
{
    for (const mrc_opt_def *d = defs; d->name != NULL; d++) {
        if (d->help == NULL && !d->negate) continue;
        char name[80], want[160];
        minus_escaped(d->name, name, sizeof name);
        snprintf(want, sizeof want, "\\fB\\-\\-%s\\fR", name);
        if (strstr(page, want) == NULL) fail_msg("the man page has no entry %s", want);
        if (d->section == NULL) continue;
        snprintf(want, sizeof want, "INI: \\fB[%s] %s =\\fR", d->section, name);
        if (strstr(page, want) == NULL) fail_msg("the man page has no '%s'", want);
    }
}

static void test_man_options(void **state)
{
    (void)state;
    char *page = captured(write_man, NULL);
    assert_true(strncmp(page, ".SH OPTIONS\n", 12) == 0);
    const mrc_job_desc *const *jobs = mrc_job_registry();
    for (size_t i = 0; jobs[i] != NULL; i++) {
        char title[96];
        snprintf(title, sizeof title, "job (\\-\\-job %s)\"\n", jobs[i]->name);
        if (strstr(page, title) == NULL) fail_msg("no section for job %s", jobs[i]->name);
        expect_listed(page, jobs[i]->opts);
    }
    static const char *const run_entries[] = {
        "\\fIINPUT\\fR...",
        "INI: \\fB[input] inputs =\\fR",
        "\\fB\\-c\\fR, \\fB\\-\\-config\\fR",
        "\\fB\\-\\-job\\fR",
        "INI: \\fB[job] job =\\fR",
        "\\fB\\-t\\fR, \\fB\\-\\-threads\\fR \\fIN\\fR",
        "INI: \\fB[run] threads =\\fR \\fIN\\fR",
        "\\fB\\-\\-schedule\\fR \\fBstatic\\fR|\\fBdynamic\\fR",
        "INI: \\fB[output] quiet =\\fR \\fBtrue\\fR|\\fBfalse\\fR",
        "\\fB\\-h\\fR, \\fB\\-\\-help\\fR",
        "\\fB\\-V\\fR, \\fB\\-\\-version\\fR"};
    for (size_t i = 0; i < sizeof run_entries / sizeof run_entries[0]; i++)
        if (strstr(page, run_entries[i]) == NULL) fail_msg("the man page lacks %s", run_entries[i]);
    /* No line of the page starts a request by accident: every line is a macro we wrote or text
     * whose first character is not a control character. */
    for (const char *line = page; line != NULL && *line != '\0';) {
        if (*line == '.')
            assert_true(strncmp(line, ".SH ", 4) == 0 || strncmp(line, ".SS ", 4) == 0 ||
                        strncmp(line, ".TP\n", 4) == 0 || strncmp(line, ".br\n", 4) == 0);
        assert_true(*line != '\'');
        line = strchr(line, '\n');
        if (line != NULL) line++;
    }
    free(page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roff_escaping),
        cmocka_unit_test(test_man_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
