/* mrcount_man.c - the man page generator, run by the build (it needs no MPI): writes mrcount(1)
 * from the template mrcount.1.in, the prose written in roff by hand, with its OPTIONS made from
 * the definitions --help is made from (cli/options.c and the job registry), so the page cannot
 * miss an option. It is never part of mrcount and never runs in a job.
 * usage: mrcount_man TEMPLATE OUTPUT
 * In the template, a line "@OPTIONS@" becomes the OPTIONS section, a line "@JOBS@" the list of
 * the registry's jobs, and @VERSION@ and @DATE@ anywhere else the build's version and date. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mrcount/map.h"
#include "mrcount/opt.h"
#include "options.h"

/* The jobs of the registry as .TP entries: "words: the words of text". */
static void write_jobs(FILE *f)
{
    const mrc_job_desc *const *jobs = mrc_job_registry();
    for (size_t i = 0; jobs[i] != NULL; i++) {
        fputs(".TP\n\\fB", f);
        mrc_opt_write_roff(f, jobs[i]->name);
        fputs("\\fR\n", f);
        mrc_opt_write_roff(f, jobs[i]->summary);
        fputs(" (see \\fB\\-\\-job ", f);
        mrc_opt_write_roff(f, jobs[i]->name);
        fputs("\\fR under \\fBOPTIONS\\fR).\n", f);
    }
}

/* A template line other than the placeholders: @VERSION@ and @DATE@ replaced. */
static void write_line(FILE *f, const char *line)
{
    static const char version_key[] = "@VERSION@", date_key[] = "@DATE@";
    for (const char *p = line; *p != '\0';) {
        if (strncmp(p, version_key, sizeof version_key - 1) == 0) {
            mrc_opt_write_roff(f, mrc_common_version());
            p += sizeof version_key - 1;
        } else if (strncmp(p, date_key, sizeof date_key - 1) == 0) {
            fputs(mrc_common_version_date(), f); /* YYYY-MM-DD: hyphens, not minus signs */
            p += sizeof date_key - 1;
        } else {
            fputc(*p++, f);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: mrcount_man TEMPLATE OUTPUT\n");
        return 2;
    }
    const char *template_path = argv[1], *out_path = argv[2];
    FILE *in = fopen(template_path, "r");
    if (in == NULL) {
        fprintf(stderr, "mrcount_man: %s: %s\n", template_path, strerror(errno));
        return 1;
    }
    char *tmp = mrc_temp_path(out_path);
    FILE *out = tmp != NULL ? fopen(tmp, "w") : NULL;
    if (out == NULL) {
        fprintf(stderr, "mrcount_man: %s: %s\n", tmp ? tmp : out_path,
                tmp ? strerror(errno) : "out of memory");
        fclose(in);
        free(tmp);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, in) != -1) {
        if (strcmp(line, "@OPTIONS@\n") == 0)
            mrc_options_man(out);
        else if (strcmp(line, "@JOBS@\n") == 0)
            write_jobs(out);
        else
            write_line(out, line);
    }
    const char *failed = ferror(in) ? template_path : NULL;
    int e = errno;
    free(line);
    fclose(in);
    if (fclose(out) != 0 && failed == NULL) {
        failed = tmp;
        e = errno;
    }
    if (failed == NULL && rename(tmp, out_path) != 0) {
        failed = out_path;
        e = errno;
    }
    if (failed != NULL) {
        fprintf(stderr, "mrcount_man: %s: %s\n", failed, strerror(e ? e : EIO));
        remove(tmp);
        free(tmp);
        return 1;
    }
    free(tmp);
    return 0;
}
