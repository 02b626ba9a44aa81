/* jobs.c - the job registry (one line per job) and what every job shares: finding one by name,
 * making, setting and copying its settings, and selecting its hot path. The CLI and the tests
 * reach jobs only through here and the descriptors; nothing here knows any job's options. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mrcount/map.h"

extern const mrc_job_desc mrc_job_words;
extern const mrc_job_desc mrc_job_ngram;
extern const mrc_job_desc mrc_job_tsv;

/* In --help order; the first is the default job. */
static const mrc_job_desc *const registry[] = {
    &mrc_job_words,
    &mrc_job_ngram,
    &mrc_job_tsv,
    NULL,
};

const mrc_job_desc *const *mrc_job_registry(void)
{
    return registry;
}

const mrc_job_desc *mrc_job_find(const char *name)
{
    for (size_t i = 0; name != NULL && registry[i] != NULL; i++)
        if (strcmp(registry[i]->name, name) == 0) return registry[i];
    return NULL;
}

void *mrc_job_settings_new(const mrc_job_desc *d)
{
    void *s = malloc(d->settings_size ? d->settings_size : 1);
    if (s != NULL && d->settings_size) memcpy(s, d->defaults, d->settings_size);
    return s;
}

void mrc_job_settings_free(const mrc_job_desc *d, void *settings)
{
    if (settings == NULL) return;
    mrc_opt_free_strings(d->opts, settings);
    free(settings);
}

int mrc_job_set(const mrc_job_desc *d, void *settings, const char *name, const char *value,
                mrc_err *err)
{
    for (const mrc_opt_def *o = d->opts; o->name != NULL; o++) {
        if (strcmp(o->name, name) != 0) continue;
        char cause[MRC_OPT_CAUSE_MAX];
        int rc = mrc_opt_apply(o, settings, value, cause, sizeof cause);
        return rc != 0 ? mrc_err_set(err, rc, "--%s: %s", name, cause) : 0;
    }
    return mrc_err_set(err, MRC_EINVAL, "--%s: not an option of job %s", name, d->name);
}

int mrc_job_select(mrc_job *job, const mrc_job_desc *d, const void *settings,
                   const mrc_job_env *env, mrc_err *err)
{
    static const mrc_job_env none = {0};
    memset(job, 0, sizeof *job);
    if (d->check != NULL) {
        int rc = d->check(settings, err);
        if (rc != 0) return rc;
    }
    /* Settings hold no pointers the job keeps (strings are read at selection), so a byte copy
     * is the job's own. */
    if (d->settings_size > sizeof job->settings)
        return mrc_err_set(err, MRC_EINVAL, "job %s: settings of %zu bytes (at most %zu)", d->name,
                           d->settings_size, sizeof job->settings);
    memcpy(job->settings, settings, d->settings_size);
    job->desc = d;
    int rc = d->select(job, env != NULL ? env : &none, err);
    if (rc != 0) memset(job, 0, sizeof *job);
    return rc;
}

int mrc_job_count_buffer(const mrc_job *job, mrc_map_ctx *ctx, const void *buf, size_t len,
                         mrc_err *err)
{
    if (ctx->settings == NULL) ctx->settings = job->settings;
    ctx->pieces++;
    long long n = job->consume(ctx, buf, len, SIZE_MAX, true, err);
    return n < 0 ? (err->code ? err->code : MRC_EINVAL) : 0;
}
