/* metrics.c - JSON helpers for the metrics file: string escaping and the atomic write of the
 * file (temporary, then rename), so a scaling script never reads half a metrics file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mrcount/metrics.h"

const char *const mrc_phase_names[MRC_PHASE_COUNT] = {
    "discover", "distribute", "map", "local_merge", "combine", "output",
};

void mrc_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c < 0x20 || c >= 0x80)
            fprintf(f, "\\u%04x", c); /* paths are bytes: keep them ASCII and lossless */
        else
            fputc(c, f);
    }
    fputc('"', f);
}

int mrc_metrics_write_file(const char *path, void (*fn)(FILE *f, void *arg), void *arg,
                           mrc_err *err)
{
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (tmp == NULL) return mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wx");
    if (f == NULL) {
        int e = errno;
        free(tmp);
        return mrc_err_errno(err, e, "%s", path);
    }
    fn(f, arg);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        int e = errno ? errno : EIO;
        unlink(tmp);
        free(tmp);
        return mrc_err_errno(err, e, "%s", path);
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return mrc_err_errno(err, e, "%s", path);
    }
    free(tmp);
    return 0;
}
