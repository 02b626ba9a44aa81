/* resume.c - --checkpoint DIR for the run. Rank 0 compares DIR's fingerprint with this run's
 * (the inputs' paths, sizes and mtimes, the job and its options: what the counts depend on),
 * takes the whole manifests that earlier attempts left, removes what none of them names, and
 * plans only the byte ranges they do not cover. The ranges of a manifest are pieces, which the
 * reader's first-byte ownership rule lets any split size and any rank count take up: a
 * checkpoint resumes at any number of ranks, --chunk-size or --schedule. Every rank then
 * reopens its share of the earlier runs, which join its own in the combine, and adds their
 * figures to its own. A successful run ends by removing DIR (unless --keep-checkpoint). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mrcount/input.h"
#include "resume.h"

#define FINGERPRINT_MAGIC "mrcount-checkpoint-fingerprint 1"

/* What must not change for a checkpoint to be resumed. */
static char *fingerprint_text(const run *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL) return NULL;
    fprintf(f, "%s\njob %s ", FINGERPRINT_MAGIC, r->job.desc->name);
    mrc_opt_write_json(r->job.desc->opts, r->job.settings, f);
    fputc('\n', f);
    for (size_t i = 0; i < r->files.n; i++) {
        const mrc_file *file = &r->files.files[i];
        fprintf(f, "input %" PRIu64 " %" PRId64 " ", file->size, file->mtime_ns);
        mrc_json_string(f, file->path);
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static int cmp_range(const void *pa, const void *pb)
{
    const mrc_split *a = pa, *b = pb;
    if (a->file != b->file) return a->file < b->file ? -1 : 1;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

/* Every manifest's ranges, checked: within their files, and no byte counted twice. */
static int collect_done(run *r, const mrc_ckpt_manifest *man, size_t n, mrc_split **out,
                        size_t *nout)
{
    const char *dir = r->o.checkpoint;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += man[i].npieces;
    mrc_split *d = malloc((total + 1) * sizeof *d);
    if (d == NULL) return mrc_err_set(&r->err, MRC_ENOMEM, "%s: out of memory", dir);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t p = 0; p < man[i].npieces; p++) {
            const mrc_split *s = &man[i].pieces[p];
            const mrc_file *f = s->file < r->files.n ? &r->files.files[s->file] : NULL;
            if (f == NULL || s->offset > f->size || s->length > f->size - s->offset) {
                free(d);
                return mrc_err_set(&r->err, MRC_EIO,
                                   "%s: the checkpoint names bytes %" PRIu64 "..%" PRIu64
                                   " of input %" PRIu32 ", which it does not have",
                                   dir, s->offset, s->offset + s->length, s->file);
            }
            d[k++] = *s;
        }
    qsort(d, k, sizeof *d, cmp_range);
    for (size_t i = 1; i < k; i++)
        if (d[i].file == d[i - 1].file && d[i].offset < d[i - 1].offset + d[i - 1].length) {
            int rc = mrc_err_set(&r->err, MRC_EIO,
                                 "%s: the checkpoint counts bytes %" PRIu64 " of %s twice; "
                                 "--checkpoint-reset starts over",
                                 dir, d[i].offset, r->files.files[d[i].file].path);
            free(d);
            return rc;
        }
    for (size_t i = 0; i < k; i++)
        r->ckpt.bytes_skipped += r->files.files[d[i].file].codec != MRC_CODEC_NONE
                                     ? r->files.files[d[i].file].size
                                     : d[i].length;
    *out = d;
    *nout = k;
    return 0;
}

int mrc_run_ckpt_plan(run *r)
{
    const char *dir = r->o.checkpoint;
    char *text = fingerprint_text(r);
    if (text == NULL) return mrc_err_set(&r->err, MRC_ENOMEM, "%s: out of memory", dir);
    bool resumed = false;
    int rc = mrc_ckpt_prepare_dir(dir, &r->err);
    if (rc == 0 && (rc = mrc_ckpt_lock(dir, &r->ckpt.lock_fd, &r->err)) == 0) r->ckpt.locked = true;
    if (rc == 0) rc = mrc_ckpt_fingerprint(dir, text, r->o.checkpoint_reset, &resumed, &r->err);
    free(text);
    mrc_ckpt_manifest *man = NULL;
    size_t nman = 0;
    int max_gen = 0;
    if (rc == 0 && resumed) rc = mrc_ckpt_read_dir(dir, &man, &nman, &max_gen, &r->err);
    /* what an attempt wrote after its workers' last manifests: not counted anywhere */
    if (rc == 0) rc = mrc_ckpt_sweep(dir, man, nman, &r->err);
    mrc_split *done = NULL;
    size_t ndone = 0;
    if (rc == 0) rc = collect_done(r, man, nman, &done, &ndone);
    char *names = NULL;
    size_t len = 0;
    FILE *f = rc == 0 ? open_memstream(&names, &len) : NULL;
    if (rc == 0 && f == NULL) rc = mrc_err_set(&r->err, MRC_ENOMEM, "%s: out of memory", dir);
    if (f != NULL) {
        fprintf(f, "%d\n", max_gen + 1);
        for (size_t i = 0; i < nman; i++) {
            char name[96];
            mrc_ckpt_manifest_name(&man[i], name, sizeof name);
            fprintf(f, "%s\n", name);
            r->ckpt.runs_reused += man[i].nruns;
        }
        if (fclose(f) != 0) rc = mrc_err_set(&r->err, MRC_ENOMEM, "%s: out of memory", dir);
    }
    r->ckpt.names = names;
    r->ckpt.manifests = nman;
    r->ckpt.pieces_skipped = ndone;
    for (size_t i = 0; i < nman; i++)
        mrc_ckpt_manifest_free(&man[i]);
    free(man);
    if (rc == 0) {
        uint64_t left = r->files.total_bytes - r->ckpt.bytes_skipped;
        r->chunk = r->o.chunk_size ? r->o.chunk_size : mrc_split_default_chunk(left, r->d.size);
        rc = mrc_split_plan_make_rest(&r->files, r->chunk, (size_t)r->d.size, done, ndone, &r->plan,
                                      &r->err);
    }
    free(done);
    return rc;
}

/* Append what manifest m says its pieces read and counted to this rank's resumed figures. */
static int add_figures(run *r, const mrc_ckpt_manifest *m)
{
    mrc_map_stats *st = &r->ckpt.figures;
    st->bytes += m->bytes;
    st->records += m->records;
    for (size_t c = 0; c < MRC_JOB_COUNTERS; c++)
        st->counters[c] += m->counters[c];
    if (m->nbad_files == 0 && m->nbad_samples == 0) return 0;
    mrc_bad_file *bf = realloc(st->bad_files, (st->nbad_files + m->nbad_files + 1) * sizeof *bf);
    if (bf != NULL) st->bad_files = bf;
    mrc_bad_sample *bs =
        realloc(st->bad_samples, (st->nbad_samples + m->nbad_samples + 1) * sizeof *bs);
    if (bs != NULL) st->bad_samples = bs;
    if (bf == NULL || bs == NULL)
        return mrc_err_set(&r->err, MRC_ENOMEM, "%s: out of memory", r->o.checkpoint);
    for (size_t i = 0; i < m->nbad_files; i++)
        st->bad_total += m->bad_files[i].count;
    memcpy(bf + st->nbad_files, m->bad_files, m->nbad_files * sizeof *bf);
    st->nbad_files += m->nbad_files;
    memcpy(bs + st->nbad_samples, m->bad_samples, m->nbad_samples * sizeof *bs);
    st->nbad_samples += m->nbad_samples;
    return 0;
}

int mrc_run_ckpt_share(run *r)
{
    const char *dir = r->o.checkpoint;
    int rc = mrc_mpi_bcast_string(&r->d, &r->ckpt.names, &r->err);
    if (rc != 0 || r->ckpt.names == NULL) return rc;
    char *save = NULL, *line = strtok_r(r->ckpt.names, "\n", &save);
    r->ckpt.gen = line != NULL ? atoi(line) : 1;
    size_t i = 0;
    while (rc == 0 && (line = strtok_r(NULL, "\n", &save)) != NULL) {
        if (i++ % (size_t)r->d.size != (size_t)r->d.rank) continue;
        mrc_ckpt_manifest m;
        int got = mrc_ckpt_read_manifest(dir, line, &m);
        if (got <= 0) {
            rc = got < 0 ? mrc_err_set(&r->err, MRC_ENOMEM, "%s: out of memory", dir)
                         : mrc_err_set(&r->err, MRC_EIO,
                                       "%s/%s: the manifest is gone or changed while this run "
                                       "read it (is another run using the checkpoint?)",
                                       dir, line);
            break;
        }
        mrc_run_file *runs =
            realloc(r->ckpt.runs, (r->ckpt.nruns + m.nruns + 1) * sizeof *r->ckpt.runs);
        if (runs == NULL)
            rc = mrc_err_set(&r->err, MRC_ENOMEM, "%s: out of memory", dir);
        else
            r->ckpt.runs = runs;
        for (size_t k = 0; rc == 0 && k < m.nruns; k++) {
            rc = mrc_ckpt_run_open(dir, &m.runs[k], &r->ckpt.runs[r->ckpt.nruns], &r->err);
            if (rc == 0) r->ckpt.nruns++;
        }
        if (rc == 0) rc = add_figures(r, &m);
        mrc_ckpt_manifest_free(&m);
    }
    free(r->ckpt.names);
    r->ckpt.names = NULL;
    if (r->ckpt.gen < 1) r->ckpt.gen = 1;
    return rc;
}

int mrc_run_ckpt_adopt(run *r)
{
    mrc_map_output *o = &r->mapped;
    mrc_map_stats *st = &r->st, *old = &r->ckpt.figures;
    if (r->ckpt.nruns > 0) {
        mrc_run_file *runs = realloc(o->runs, (o->nruns + r->ckpt.nruns + 1) * sizeof *runs);
        if (runs == NULL)
            return mrc_err_set(&r->err, MRC_ENOMEM, "%s: out of memory", r->o.checkpoint);
        o->runs = runs;
        memcpy(o->runs + o->nruns, r->ckpt.runs, r->ckpt.nruns * sizeof *runs);
        o->nruns += r->ckpt.nruns;
        free(r->ckpt.runs);
        r->ckpt.runs = NULL;
        r->ckpt.nruns = 0;
    }
    if (old->nbad_files > 0 || old->nbad_samples > 0) {
        mrc_bad_file *bf =
            realloc(st->bad_files, (st->nbad_files + old->nbad_files + 1) * sizeof *bf);
        if (bf != NULL) st->bad_files = bf;
        mrc_bad_sample *bs =
            realloc(st->bad_samples, (st->nbad_samples + old->nbad_samples + 1) * sizeof *bs);
        if (bs != NULL) st->bad_samples = bs;
        if (bf == NULL || bs == NULL)
            return mrc_err_set(&r->err, MRC_ENOMEM, "%s: out of memory", r->o.checkpoint);
        memcpy(bf + st->nbad_files, old->bad_files, old->nbad_files * sizeof *bf);
        st->nbad_files += old->nbad_files;
        memcpy(bs + st->nbad_samples, old->bad_samples, old->nbad_samples * sizeof *bs);
        st->nbad_samples += old->nbad_samples;
        st->bad_total += old->bad_total;
    }
    return 0;
}

int mrc_run_ckpt_finish(run *r)
{
    if (r->d.rank != 0 || r->o.keep_checkpoint) return 0;
    int rc = mrc_ckpt_remove(r->o.checkpoint, true, &r->err);
    /* the checkpoint's own files went; a file of the user's in DIR stays, and DIR with it */
    if (rc == 0 && access(r->o.checkpoint, F_OK) == 0)
        fprintf(stderr,
                "mrcount: note: %s: the checkpoint is removed, the directory kept: it holds "
                "files that are not the checkpoint's\n",
                r->o.checkpoint);
    return rc;
}

void mrc_run_ckpt_free(run *r)
{
    if (r->ckpt.locked) close(r->ckpt.lock_fd); /* the lock goes with it */
    for (size_t i = 0; i < r->ckpt.nruns; i++)
        mrc_run_file_close(&r->ckpt.runs[i]);
    free(r->ckpt.runs);
    free(r->ckpt.names);
    mrc_map_stats_free(&r->ckpt.figures);
    memset(&r->ckpt, 0, sizeof r->ckpt);
}
