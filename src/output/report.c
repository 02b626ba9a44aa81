/* report.c - renders what a run tells its user besides the result: the metrics JSON from the
 * plain-data report cli/ fills, each rank's part of it, the parts manifest, the bad-record
 * warning, and the atomic write of such a file (temporary, then rename), so a scaling script
 * never reads half a metrics file. It must never decide anything about the run or touch MPI. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mrcount/input.h"
#include "mrcount/report.h"
#include "mrcount/table.h"
#include "output_internal.h"

const char *const mrc_phase_names[MRC_PHASE_COUNT] = {
    "discover", "distribute", "map", "local_merge", "combine", "output",
};

char *mrc_report_rank_json(const mrc_rank_report *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) return NULL;
    fprintf(f, "{\"rank\": %d, \"host\": ", r->rank);
    mrc_json_string(f, r->host);
    fprintf(f,
            ", \"peak_rss_bytes\": %llu, \"peak_rss_before_combine_bytes\": %llu, "
            "\"combine_start_rss_bytes\": %llu, \"combine_peak_rss_bytes\": %llu, \"table_bytes\": "
            "%llu, \"range_bytes\": %llu, \"result_bytes\": %llu, \"bytes\": %llu, \"records\": "
            "%llu, \"local_distinct\": %llu, \"map_seconds\": %.6f, \"splits_mapped\": %zu, "
            "\"threads_source\": \"%s\", \"cores_available\": %zu, ",
            (unsigned long long)r->peak_rss, (unsigned long long)r->rss_before_combine,
            (unsigned long long)r->combine_start_rss, (unsigned long long)r->combine_peak_rss,
            (unsigned long long)r->table_bytes, (unsigned long long)r->range_bytes,
            (unsigned long long)r->result_bytes, (unsigned long long)r->bytes,
            (unsigned long long)r->records, (unsigned long long)r->local_distinct, r->map_seconds,
            r->splits_mapped, r->threads_source, r->cores_available);
    if (r->memory_limit == UINT64_MAX)
        fputs("\"memory_limit_bytes\": null", f);
    else
        fprintf(f, "\"memory_limit_bytes\": %llu", (unsigned long long)r->memory_limit);
    fputs(", \"memory_limit_source\": ", f);
    mrc_json_string(f, r->memory_source ? r->memory_source : "none");
    fprintf(f,
            ", \"spill_bytes\": %llu, \"spill_runs\": %llu, \"spill_written_bytes\": %llu, "
            "\"spill_read_bytes\": %llu, \"checkpoint_bytes\": %llu, "
            "\"checkpoint_seconds\": %.6f, \"hot_front_records\": %llu, "
            "\"output_exchange_seconds\": %.6f, \"output_sort_seconds\": %.6f, "
            "\"output_write_seconds\": %.6f, \"output_range_lines\": %llu, "
            "\"output_range_bytes\": %llu, \"threads\": [",
            (unsigned long long)r->spill_bytes, (unsigned long long)r->spill_runs,
            (unsigned long long)r->spill_written, (unsigned long long)r->spill_read,
            (unsigned long long)r->checkpoint_bytes, r->checkpoint_seconds,
            (unsigned long long)r->hot_records, r->output_exchange_seconds, r->output_sort_seconds,
            r->output_write_seconds, (unsigned long long)r->output_range_lines,
            (unsigned long long)r->output_range_bytes);
    for (size_t i = 0; i < r->nthreads; i++) {
        fprintf(f, "%s{\"thread\": %zu, \"core\": %d, \"cpus\": ", i ? ", " : "", i, r->core_of[i]);
        mrc_json_string(f, r->cpus_of[i] ? r->cpus_of[i] : "");
        fprintf(f, ", \"map_seconds\": %.6f}", r->thread_seconds ? r->thread_seconds[i] : 0.0);
    }
    fputs("]}", f);
    fclose(f);
    return buf;
}

void mrc_report_print_bad(FILE *f, const mrc_bad_report *b)
{
    if (b == NULL || b->total == 0) return;
    fprintf(f, "mrcount: warning: %llu malformed record%s skipped in %zu file%s\n",
            (unsigned long long)b->total, mrc_plural(b->total), b->nfiles, mrc_plural(b->nfiles));
    for (size_t i = 0; i < b->nfiles; i++) {
        const mrc_bad_report_file *bf = &b->files[i];
        if (i == 10) {
            fprintf(f, "mrcount:   ... and %zu more file%s (see --metrics)\n", b->nfiles - i,
                    mrc_plural(b->nfiles - i));
            break;
        }
        char path[MRC_ERR_MSG_MAX]; /* one line whatever the name holds */
        snprintf(path, sizeof path, "%s", bf->path);
        mrc_msg_printable(path);
        fprintf(f, "mrcount:   %s: %llu", path, (unsigned long long)bf->count);
        for (size_t j = bf->first; j < bf->first + bf->n; j++)
            fprintf(f, "%s%s:%llu: %s", j == bf->first ? " (first: " : "; ", path,
                    (unsigned long long)b->lines[j], b->causes[j]);
        fputs(bf->n > 0 ? ")\n" : "\n", f);
    }
}

int mrc_bad_report_make(mrc_bad_report *b, const mrc_bad_file *files, size_t nfiles,
                        const mrc_bad_sample *samples, size_t nsamples, const mrc_file_list *paths,
                        mrc_err *err)
{
    memset(b, 0, sizeof *b);
    b->files = calloc(nfiles + 1, sizeof *b->files);
    b->lines = calloc(nsamples + 1, sizeof *b->lines);
    b->causes = calloc(nsamples + 1, sizeof *b->causes);
    if (b->files == NULL || b->lines == NULL || b->causes == NULL) {
        mrc_bad_report_free(b);
        return mrc_err_set(err, MRC_ENOMEM, "out of memory for the bad-record report");
    }
    for (size_t i = 0; i < nsamples; i++) {
        const mrc_bad_sample *sm = &samples[i];
        mrc_err lerr = {0};
        b->causes[i] = mrc_bad_cause_text((enum mrc_bad_cause)sm->cause);
        /* A sample of the same piece as the one before it: count on from that one's line. */
        if (i > 0 && sm->file == sm[-1].file && sm->piece_offset == sm[-1].piece_offset &&
            sm->piece_offset != 0 && b->lines[i - 1] != 0)
            b->lines[i] = b->lines[i - 1] + (sm->piece_line - sm[-1].piece_line);
        else if (mrc_bad_locate(paths->files[sm->file].path, sm, &b->lines[i], &lerr) != 0)
            b->lines[i] = 0; /* the file went away: report it without a line */
    }
    size_t s = 0; /* both lists are in file order */
    for (size_t i = 0; i < nfiles; i++) {
        uint32_t file = files[i].file;
        while (s < nsamples && samples[s].file < file)
            s++;
        size_t e = s;
        while (e < nsamples && samples[e].file == file)
            e++;
        b->files[i] = (mrc_bad_report_file){paths->files[file].path, files[i].count, s, e - s};
        b->total += files[i].count;
        s = e;
    }
    b->nfiles = nfiles;
    return 0;
}

void mrc_bad_report_free(mrc_bad_report *b)
{
    free(b->files);
    free(b->lines);
    free((void *)b->causes);
    memset(b, 0, sizeof *b);
}

static void bad_json(FILE *f, const mrc_bad_report *b)
{
    fprintf(f, "  \"bad_records\": {\"total\": %llu, \"files\": [", (unsigned long long)b->total);
    for (size_t i = 0; i < b->nfiles; i++) {
        const mrc_bad_report_file *bf = &b->files[i];
        fprintf(f, "%s\n    {\"path\": ", i ? "," : "");
        mrc_json_string(f, bf->path);
        fprintf(f, ", \"count\": %llu, \"first\": [", (unsigned long long)bf->count);
        for (size_t j = bf->first; j < bf->first + bf->n; j++) {
            fprintf(f, "%s{\"line\": %llu, \"cause\": ", j == bf->first ? "" : ", ",
                    (unsigned long long)b->lines[j]);
            mrc_json_string(f, b->causes[j]);
            fputc('}', f);
        }
        fputs("]}", f);
    }
    fputs(b->nfiles ? "\n  ]},\n" : "]},\n", f);
}

void mrc_report_metrics(const mrc_run_report *r, FILE *f)
{
    const mrc_job *job = r->job;
    int n = r->ranks;
    char codecs[160];
    mrc_reader_codec_versions(codecs, sizeof codecs);
    fprintf(f, "{\n  \"mrcount_version\": \"%s\",\n  \"decompressors\": ", MRC_VERSION);
    mrc_json_string(f, codecs);
    fputs(",\n  \"config\": {\"job\": ", f);
    mrc_json_string(f, job->desc->name);
    mrc_opt_write_json(job->desc->opts, job->settings, f);
    if (job->desc->metrics != NULL) job->desc->metrics(job, f);
    if (job->kernel != NULL) {
        fputs(", \"kernel\": ", f);
        mrc_json_string(f, job->kernel);
    }
    fprintf(f, ", \"ranks\": %d", n);
    if (r->run_options != NULL) r->run_options(r->run_options_arg, f);
    fprintf(f,
            ", \"chunk_size\": %llu, \"reduce_used\": \"%s\", \"reduce_fallback\": %s, "
            "\"output_ranges\": %s, \"output_ranges_declined\": %s, \"output_in_place\": %s, "
            "\"union_estimate\": %.0f, "
            "\"combine_model_seconds\": {\"reduce\": %.6f, \"shuffle\": %.6f}, \"mpi_pml\": ",
            (unsigned long long)r->chunk_size, r->reduce_used,
            r->reduce_fallback ? "true" : "false", r->output_ranges ? "true" : "false",
            r->output_ranges_declined ? "true" : "false", r->output_in_place ? "true" : "false",
            r->union_estimate, r->model_seconds[0], r->model_seconds[1]);
    mrc_json_string(f, r->mpi_pml);
    fputs(", \"inputs\": [", f);
    for (size_t i = 0; i < r->ninputs; i++) {
        fputs(i ? ", " : "", f);
        mrc_json_string(f, r->inputs[i]);
    }
    fprintf(f,
            "]},\n  \"files\": %zu,\n  \"paths_excluded\": %zu,\n  \"paths_skipped\": %zu,\n"
            "  \"bytes_read\": %llu,\n  \"records\": %llu,\n  \"%s\": %llu,\n"
            "  \"distinct_keys\": %llu,\n",
            r->files, r->paths_excluded, r->paths_skipped, (unsigned long long)r->bytes,
            (unsigned long long)r->records, job->desc->records, (unsigned long long)r->records,
            (unsigned long long)r->distinct);
    fprintf(f, "  \"min_count_dropped\": %llu,\n", (unsigned long long)r->min_count_dropped);
    for (size_t c = 0; job->desc->counters != NULL && job->desc->counters[c] != NULL; c++)
        fprintf(f, "  \"%s\": %llu,\n", job->desc->counters[c], (unsigned long long)r->counters[c]);
    fprintf(f, "  \"seconds\": %.6f,\n  \"mb_per_s\": %.3f,\n", r->seconds,
            r->seconds > 0 ? (double)r->bytes / 1e6 / r->seconds : 0.0);
    if (r->bad != NULL) bad_json(f, r->bad);
    if (r->checkpoint != NULL) {
        const mrc_ckpt_report *c = r->checkpoint;
        fputs("  \"checkpoint\": {\"dir\": ", f);
        mrc_json_string(f, c->dir);
        fprintf(f,
                ", \"generation\": %d, \"resumed\": {\"manifests\": %llu, "
                "\"pieces_skipped\": %llu, \"bytes_skipped\": %llu, \"runs_reused\": %llu}, "
                "\"checkpoints_written\": %llu, \"bytes_written\": %llu, \"kept\": %s},\n",
                c->generation, (unsigned long long)c->manifests,
                (unsigned long long)c->pieces_skipped, (unsigned long long)c->bytes_skipped,
                (unsigned long long)c->runs_reused, (unsigned long long)c->checkpoints,
                (unsigned long long)c->bytes_written, c->kept ? "true" : "false");
    }
    fputs("  \"phases\": {", f);
    double map_mean = 0, map_max = 0;
    for (int p = 0; p < MRC_PHASE_COUNT; p++) {
        double mn = 1e300, mx = 0, sum = 0;
        for (int k = 0; k < n; k++) {
            double x = r->phases[k * MRC_PHASE_COUNT + p];
            mn = x < mn ? x : mn;
            mx = x > mx ? x : mx;
            sum += x;
        }
        if (p == MRC_PHASE_MAP) {
            map_mean = sum / n;
            map_max = mx;
        }
        fprintf(f, "%s\n    \"%s\": {\"min\": %.6f, \"mean\": %.6f, \"max\": %.6f}", p ? "," : "",
                mrc_phase_names[p], mn, sum / n, mx);
    }
    fprintf(f, "\n  },\n  \"load_imbalance\": %.4f,\n  \"ranks\": [",
            map_mean > 0 ? map_max / map_mean : 1.0);
    for (int k = 0; k < n; k++)
        fprintf(f, "%s\n    %s", k ? "," : "",
                r->rank_json && r->rank_json[k] ? r->rank_json[k] : "{}");
    fputs("\n  ]\n}\n", f);
}

void mrc_report_manifest(const mrc_parts_report *p, FILE *f)
{
    fprintf(f,
            "{\n  \"mrcount_version\": \"%s\",\n  \"sort\": \"%s\",\n  \"ranks\": %d,\n"
            "  \"distinct_keys\": %llu,\n  \"min_count_dropped\": %llu,\n"
            "  \"hash\": \"XXH3-64, seed 0x%016llx\",\n  \"parts\": [",
            MRC_VERSION, p->sort, p->ranks, (unsigned long long)p->distinct,
            (unsigned long long)p->dropped, (unsigned long long)MRC_HASH_SEED);
    for (int k = 0; k < p->ranks; k++) {
        uint64_t lo = mrc_hash_range_start((uint32_t)k, (uint32_t)p->ranks);
        uint64_t hi = k + 1 < p->ranks
                          ? mrc_hash_range_start((uint32_t)k + 1, (uint32_t)p->ranks) - 1
                          : UINT64_MAX;
        fprintf(f,
                "%s\n    {\"path\": \"part-%05d.tsv\", \"rank\": %d, \"keys\": %llu, "
                "\"hash_first\": \"0x%016llx\", \"hash_last\": \"0x%016llx\"}",
                k ? "," : "", k, k, (unsigned long long)p->keys[k], (unsigned long long)lo,
                (unsigned long long)hi);
    }
    fputs("\n  ]\n}\n", f);
}

int mrc_report_write_file(const char *path, void (*fn)(const void *arg, FILE *f), const void *arg,
                          mrc_err *err)
{
    mrc_out_dest d; /* as the result: "-", a device or FIFO in place, a link written through */
    int rc = mrc_out_dest_open(&d, path, err);
    if (rc != 0) return rc;
    int fd = dup(d.fd), e = 0;
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        e = errno != 0 ? errno : EIO;
        if (fd >= 0) close(fd);
    } else {
        fn(arg, f);
        int bad = ferror(f);
        if (fclose(f) != 0 || bad) e = errno != 0 ? errno : EIO;
    }
    if (e != 0) rc = mrc_err_errno(err, e, "%s", d.label);
    return mrc_out_dest_close(&d, rc, err);
}
