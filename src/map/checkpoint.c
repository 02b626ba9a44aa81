/* checkpoint.c - what a run keeps of its map in --checkpoint DIR so that a later run can resume
 * it: named run files (records in hash order, each with its bucket index beside it) and, per
 * map worker and run attempt ("generation"), a manifest of the pieces whose counts are in those
 * runs, with the worker's figures and bad-record log. A manifest is written whole to a temporary
 * name, fsync'd, renamed, and its directory fsync'd, and it ends with an "end" line: one that a
 * crash cut short is never taken. A fingerprint file holds what must not change between runs
 * (inputs, the job and its options, split and piece sizes). It never deletes a file it did not
 * name itself. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "mrcount/map.h"

#define MANIFEST_MAGIC "mrcount-checkpoint 1"

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static char *path_of(const char *dir, const char *name)
{
    char *p = NULL;
    return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

/* Write text to dir/name through name.tmp: written, fsync'd, renamed, the directory fsync'd. */
static int write_atomic(const char *dir, const char *name, const char *text, size_t len,
                        mrc_err *err)
{
    char *path = path_of(dir, name), *tmp = NULL;
    if (path == NULL || asprintf(&tmp, "%s.tmp", path) < 0) {
        free(path);
        return mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", dir);
    }
    int rc = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = mrc_err_errno(err, errno, "%s", tmp);
    } else {
        for (size_t off = 0; off < len && rc == 0;) {
            ssize_t w = write(fd, text + off, len - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0)
                rc = mrc_err_errno(err, w < 0 ? errno : EIO, "%s", tmp);
            else
                off += (size_t)w;
        }
        if (rc == 0 && fsync(fd) != 0) rc = mrc_err_errno(err, errno, "%s", tmp);
        if (close(fd) != 0 && rc == 0) rc = mrc_err_errno(err, errno, "%s", tmp);
        if (rc == 0 && rename(tmp, path) != 0) rc = mrc_err_errno(err, errno, "%s", path);
        if (rc != 0) unlink(tmp);
    }
    if (rc == 0) sync_dir(dir);
    free(tmp);
    free(path);
    return rc;
}

int mrc_ckpt_prepare_dir(const char *dir, mrc_err *err)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) return mrc_err_errno(err, errno, "%s", dir);
    struct stat st;
    if (stat(dir, &st) != 0) return mrc_err_errno(err, errno, "%s", dir);
    if (!S_ISDIR(st.st_mode)) return mrc_err_set(err, MRC_EUSAGE, "%s: not a directory", dir);
    return 0;
}

int mrc_ckpt_lock(const char *dir, int *fd, mrc_err *err)
{
    *fd = -1;
    char *path = path_of(dir, "lock");
    if (path == NULL) return mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", dir);
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644), rc = 0;
    if (f < 0) {
        rc = mrc_err_errno(err, errno, "%s", path);
        free(path);
        return rc;
    }
    /* a POSIX record lock: NFS carries it (flock may not), and it goes with the process */
    struct flock l;
    memset(&l, 0, sizeof l);
    l.l_type = F_WRLCK;
    l.l_whence = SEEK_SET;
    if (fcntl(f, F_SETLK, &l) != 0) {
        int e = errno;
        if (e == EACCES || e == EAGAIN) {
            char who[160];
            ssize_t n = pread(f, who, sizeof who - 1, 0);
            who[n > 0 ? n : 0] = '\0';
            who[strcspn(who, "\n")] = '\0';
            rc = mrc_err_set(err, MRC_EUSAGE,
                             "%s: the checkpoint is in use by another run%s%s%s; two runs cannot "
                             "share one checkpoint directory",
                             dir, who[0] ? " (" : "", who, who[0] ? ")" : "");
        } else if (e != ENOLCK && e != EINVAL && e != ENOSYS && e != EOPNOTSUPP) {
            rc = mrc_err_errno(err, e, "%s", path);
        } /* else: a file system without locks; the run goes on unguarded */
        if (rc != 0) {
            close(f);
            free(path);
            return rc;
        }
    }
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    char who[128];
    int n = snprintf(who, sizeof who, "pid %ld on %s\n", (long)getpid(), host[0] ? host : "?");
    if (ftruncate(f, 0) == 0 && n > 0) (void)!pwrite(f, who, (size_t)n, 0);
    free(path);
    *fd = f;
    return 0;
}

/* ---- the names a checkpoint writes ---- */

/* Digits at *p (at least one), advanced past them. */
static bool digits(const char **p)
{
    const char *s = *p;
    while (**p >= '0' && **p <= '9')
        (*p)++;
    return *p > s;
}

enum name_kind { NAME_NONE, NAME_FINGERPRINT, NAME_MANIFEST, NAME_RUN, NAME_LOCK };

/* What a file of DIR is to the checkpoint: "lock", "fingerprint", "rR-gG-wW.manifest",
 * "rR-gG-wW-S.run" or its ".idx", each also with the ".tmp" of a write in progress (*tmp set);
 * anything else is not the checkpoint's (NAME_NONE) and is never removed. */
static enum name_kind name_kind(const char *n, bool *tmp)
{
    size_t l = strlen(n);
    *tmp = l > 4 && strcmp(n + l - 4, ".tmp") == 0;
    char base[256];
    if (l - (*tmp ? 4 : 0) >= sizeof base) return NAME_NONE;
    memcpy(base, n, l - (*tmp ? 4 : 0));
    base[l - (*tmp ? 4 : 0)] = '\0';
    if (strcmp(base, "fingerprint") == 0) return NAME_FINGERPRINT;
    if (strcmp(base, "lock") == 0) return NAME_LOCK;
    const char *p = base;
    if (*p++ != 'r' || !digits(&p) || strncmp(p, "-g", 2) != 0) return NAME_NONE;
    p += 2;
    if (!digits(&p) || strncmp(p, "-w", 2) != 0) return NAME_NONE;
    p += 2;
    if (!digits(&p)) return NAME_NONE;
    if (strcmp(p, ".manifest") == 0) return NAME_MANIFEST;
    if (*p++ != '-' || !digits(&p)) return NAME_NONE;
    return strcmp(p, ".run") == 0 || strcmp(p, ".run.idx") == 0 ? NAME_RUN : NAME_NONE;
}

/* ---- the fingerprint ---- */

int mrc_ckpt_fingerprint(const char *dir, const char *text, bool reset, bool *resumed, mrc_err *err)
{
    *resumed = false;
    char *path = path_of(dir, "fingerprint");
    if (path == NULL) return mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL && errno != ENOENT) {
        int e = errno;
        free(path);
        return mrc_err_errno(err, e, "%s/fingerprint", dir);
    }
    if (f != NULL) {
        char *old = NULL;
        size_t cap = 0, len = 0;
        char buf[4096];
        for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0; len += n) {
            if (len + n + 1 > cap) {
                cap = (len + n + 1) * 2;
                char *o = realloc(old, cap);
                if (o == NULL) break;
                old = o;
            }
            memcpy(old + len, buf, n);
        }
        fclose(f);
        if (old != NULL) old[len] = '\0';
        bool same = old != NULL && strcmp(old, text) == 0;
        if (!same && !reset) {
            /* name the first line that differs */
            const char *a = old ? old : "", *b = text;
            while (*a && *a == *b) {
                a++;
                b++;
            }
            while (a > (old ? old : "") && a[-1] != '\n')
                a--, b--;
            int la = (int)strcspn(a, "\n"), lb = (int)strcspn(b, "\n");
            int rc = mrc_err_set(err, MRC_EUSAGE,
                                 "%s: the checkpoint is of another run (it has '%.*s', this run "
                                 "'%.*s'); --checkpoint-reset starts over",
                                 dir, la > 160 ? 160 : la, a, lb > 160 ? 160 : lb, b);
            free(old);
            free(path);
            return rc;
        }
        free(old);
        free(path);
        if (same) {
            *resumed = true;
            return 0;
        }
        int rc = mrc_ckpt_remove(dir, false, err); /* --checkpoint-reset: start over */
        if (rc != 0) return rc;
    } else {
        free(path);
        /* no fingerprint: what a remove cut short may have left is not a checkpoint to trust */
        int rc = mrc_ckpt_remove(dir, false, err);
        if (rc != 0) return rc;
    }
    return write_atomic(dir, "fingerprint", text, strlen(text), err);
}

/* ---- manifests ---- */

void mrc_ckpt_manifest_name(const mrc_ckpt_manifest *m, char *buf, size_t size)
{
    snprintf(buf, size, "r%d-g%d-w%d.manifest", m->rank, m->gen, m->worker);
}

int mrc_ckpt_write_manifest(const char *dir, const mrc_ckpt_manifest *m, mrc_err *err)
{
    char *text = NULL, name[96];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL) return mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", dir);
    fprintf(f, "%s\nworker %d %d %d\n", MANIFEST_MAGIC, m->rank, m->gen, m->worker);
    fprintf(f, "figures %" PRIu64 " %" PRIu64, m->bytes, m->records);
    for (size_t c = 0; c < MRC_JOB_COUNTERS; c++)
        fprintf(f, " %" PRIu64, m->counters[c]);
    fprintf(f, "\n");
    for (size_t i = 0; i < m->nruns; i++)
        if (m->runs[i].has_sum)
            fprintf(f, "run %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %016" PRIx64 " %" PRIu32 "\n",
                    m->runs[i].name, m->runs[i].bytes, m->runs[i].records, m->runs[i].total,
                    m->runs[i].sum, m->runs[i].max_len);
        else
            fprintf(f, "run %s %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", m->runs[i].name,
                    m->runs[i].bytes, m->runs[i].records, m->runs[i].total);
    for (size_t i = 0; i < m->npieces; i++)
        fprintf(f, "piece %" PRIu32 " %" PRIu64 " %" PRIu64 "\n", m->pieces[i].file,
                m->pieces[i].offset, m->pieces[i].length);
    for (size_t i = 0; i < m->nbad_files; i++)
        fprintf(f, "bad %" PRIu32 " %" PRIu64 "\n", m->bad_files[i].file, m->bad_files[i].count);
    for (size_t i = 0; i < m->nbad_samples; i++)
        fprintf(f, "sample %" PRIu32 " %" PRIu32 " %" PRIu64 " %" PRIu64 "\n",
                m->bad_samples[i].file, m->bad_samples[i].cause, m->bad_samples[i].piece_offset,
                m->bad_samples[i].piece_line);
    /* the checksum of every line before it: a manifest changed on disk (a flipped digit of a
     * piece) is not trusted, as a torn one is not, rather than resumed into a wrong count */
    if (fflush(f) == 0) fprintf(f, "end %016" PRIx64 "\n", (uint64_t)XXH3_64bits(text, len));
    if (fclose(f) != 0) {
        free(text);
        return mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", dir);
    }
    mrc_ckpt_manifest_name(m, name, sizeof name);
    int rc = write_atomic(dir, name, text, len, err);
    free(text);
    return rc;
}

void mrc_ckpt_manifest_free(mrc_ckpt_manifest *m)
{
    for (size_t i = 0; i < m->nruns; i++)
        free(m->runs[i].name);
    free(m->runs);
    free(m->pieces);
    free(m->bad_files);
    free(m->bad_samples);
    memset(m, 0, sizeof *m);
}

#define GROW(arr, n, cap)                                                                          \
    ((n) < (cap) ? 0                                                                               \
                 : ((cap) = (cap) ? 2 * (cap) : 16,                                                \
                    ((arr) = realloc((arr), (cap) * sizeof *(arr))) == NULL ? -1 : 0))

/* One manifest file; @return 1 taken, 0 not a whole manifest (torn, or its lines do not match
 * the checksum on its "end" line: ignored, its pieces mapped again), -1 ENOMEM. */
static int read_manifest(const char *path, mrc_ckpt_manifest *m)
{
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    XXH3_state_t *st = XXH3_createState();
    if (st == NULL || XXH3_64bits_reset(st) != XXH_OK) {
        XXH3_freeState(st);
        fclose(f);
        return -1;
    }
    char line[4200];
    size_t crun = 0, cpiece = 0, cbad = 0, csample = 0;
    bool magic = false, worker = false, end = false;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        size_t raw = strlen(line);
        bool nl = raw > 0 && line[raw - 1] == '\n';
        bool last = strncmp(line, "end", 3) == 0 && (line[3] == '\n' || line[3] == ' ');
        if (!last) XXH3_64bits_update(st, line, raw);
        line[strcspn(line, "\n")] = '\0';
        char name[4096];
        uint64_t sum = 0;
        int tail = 0;
        if (!magic) {
            magic = strcmp(line, MANIFEST_MAGIC) == 0;
            if (!magic) break;
        } else if (end) {
            end = false; /* nothing may follow "end" */
            break;
        } else if (strcmp(line, "end") == 0 && nl) { /* a manifest of before the checksum */
            end = true; /* (with its newline: a cut after "end" is a torn new one) */
        } else if (last && sscanf(line, "end %16" SCNx64 "%n", &sum, &tail) == 1 && tail == 20 &&
                   line[tail] == '\0') {
            end = sum == XXH3_64bits_digest(st);
            if (!end) break;
        } else if (sscanf(line, "worker %d %d %d", &m->rank, &m->gen, &m->worker) == 3) {
            worker = true;
        } else if (strncmp(line, "figures ", 8) == 0) {
            char *p = line + 8, *e;
            m->bytes = strtoull(p, &e, 10);
            m->records = strtoull(e, &e, 10);
            for (size_t c = 0; c < MRC_JOB_COUNTERS; c++)
                m->counters[c] = strtoull(e, &e, 10);
        } else if (strncmp(line, "run ", 4) == 0) {
            mrc_ckpt_run r = {0};
            /* 4 fields (a manifest of before the checksums), 5 (16 hex digits) or 6 (the
             * longest key's length, decimal; a manifest of before it has 5), nothing after */
            int end4 = 0, end5 = 0;
            int got =
                sscanf(line, "run %4095s %" SCNu64 " %" SCNu64 " %" SCNu64 "%n %16" SCNx64 "%n",
                       name, &r.bytes, &r.records, &r.total, &end4, &r.sum, &end5);
            size_t at = got == 5 ? (size_t)end5 : (size_t)end4;
            if (got == 5 && line[at] == ' ' && line[at + 1] >= '0' && line[at + 1] <= '9') {
                char *e;
                errno = 0;
                unsigned long long len = strtoull(line + at + 1, &e, 10);
                if (errno != 0 || len > UINT32_MAX) break;
                r.max_len = (uint32_t)len;
                at = (size_t)(e - line);
            }
            if (got < 4 || (got == 5 && end5 - end4 != 17) ||
                strspn(line + at, "\r\n") != strlen(line + at) || strchr(name, '/') != NULL ||
                name[0] == '.') /* a run is a file of DIR */
                break;
            r.has_sum = got == 5;
            if (GROW(m->runs, m->nruns, crun) != 0 || (r.name = strdup(name)) == NULL) {
                rc = -1;
                break;
            }
            m->runs[m->nruns++] = r;
        } else if (strncmp(line, "piece ", 6) == 0) {
            mrc_split pc = {0};
            if (sscanf(line, "piece %" SCNu32 " %" SCNu64 " %" SCNu64, &pc.file, &pc.offset,
                       &pc.length) != 3)
                break;
            if (GROW(m->pieces, m->npieces, cpiece) != 0) {
                rc = -1;
                break;
            }
            m->pieces[m->npieces++] = pc;
        } else if (strncmp(line, "bad ", 4) == 0) {
            mrc_bad_file b = {0};
            if (sscanf(line, "bad %" SCNu32 " %" SCNu64, &b.file, &b.count) != 2) break;
            if (GROW(m->bad_files, m->nbad_files, cbad) != 0) {
                rc = -1;
                break;
            }
            m->bad_files[m->nbad_files++] = b;
        } else if (strncmp(line, "sample ", 7) == 0) {
            mrc_bad_sample s = {0};
            if (sscanf(line, "sample %" SCNu32 " %" SCNu32 " %" SCNu64 " %" SCNu64, &s.file,
                       &s.cause, &s.piece_offset, &s.piece_line) != 4)
                break;
            if (GROW(m->bad_samples, m->nbad_samples, csample) != 0) {
                rc = -1;
                break;
            }
            m->bad_samples[m->nbad_samples++] = s;
        } else {
            break; /* a line this version does not know: not a manifest to trust */
        }
    }
    fclose(f);
    XXH3_freeState(st);
    if (rc == 0 && magic && worker && end) return 1;
    mrc_ckpt_manifest_free(m);
    return rc;
}

int mrc_ckpt_read_manifest(const char *dir, const char *name, mrc_ckpt_manifest *out)
{
    char *path = path_of(dir, name);
    if (path == NULL) return -1;
    int got = read_manifest(path, out);
    free(path);
    return got;
}

int mrc_ckpt_read_dir(const char *dir, mrc_ckpt_manifest **out, size_t *n, int *max_gen,
                      mrc_err *err)
{
    *out = NULL;
    *n = 0;
    *max_gen = 0;
    DIR *dh = opendir(dir);
    if (dh == NULL) return errno == ENOENT ? 0 : mrc_err_errno(err, errno, "%s", dir);
    size_t cap = 0;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(dh)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 9 || strcmp(e->d_name + l - 9, ".manifest") != 0) continue;
        char *path = path_of(dir, e->d_name);
        if (path == NULL) {
            rc = mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", dir);
            break;
        }
        mrc_ckpt_manifest m;
        int got = read_manifest(path, &m);
        free(path);
        if (got < 0) rc = mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", dir);
        if (got <= 0) continue;
        if (m.gen > *max_gen) *max_gen = m.gen;
        if (GROW(*out, *n, cap) != 0) {
            mrc_ckpt_manifest_free(&m);
            rc = mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", dir);
            break;
        }
        (*out)[(*n)++] = m;
    }
    closedir(dh);
    if (rc != 0) {
        for (size_t i = 0; i < *n; i++)
            mrc_ckpt_manifest_free(&(*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

/* ---- named runs ---- */

int mrc_ckpt_run_create(const char *dir, const char *name, int *fd, mrc_err *err)
{
    char *path = path_of(dir, name);
    if (path == NULL) return mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", dir);
    *fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = *fd < 0 ? mrc_err_errno(err, errno, "%s", path) : 0;
    free(path);
    return rc;
}

void mrc_ckpt_run_discard(const char *dir, const char *name)
{
    char *path = path_of(dir, name), *idx = NULL;
    if (path != NULL) {
        unlink(path);
        if (asprintf(&idx, "%s.idx", path) >= 0) unlink(idx);
    }
    free(idx);
    free(path);
}

/* XXH3-64 of fd's first `bytes` bytes (read with pread), then of index[0, len). @return 0, or an
 * errno value (a short file: EIO). */
static int run_sum(int fd, uint64_t bytes, const void *index, size_t len, uint64_t *sum)
{
    XXH3_state_t *st = XXH3_createState();
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    int e = st == NULL || buf == NULL ? ENOMEM : 0;
    if (e == 0) XXH3_64bits_reset(st);
    for (uint64_t at = 0; e == 0 && at < bytes;) {
        size_t want = bytes - at < CHUNK ? (size_t)(bytes - at) : CHUNK;
        ssize_t n = pread(fd, buf, want, (off_t)at);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            e = n < 0 ? errno : EIO;
            break;
        }
        XXH3_64bits_update(st, buf, (size_t)n);
        at += (uint64_t)n;
    }
    if (e == 0) {
        if (len > 0) XXH3_64bits_update(st, index, len);
        *sum = XXH3_64bits_digest(st);
    }
    free(buf);
    XXH3_freeState(st);
    return e;
}

int mrc_ckpt_run_seal(const char *dir, const char *name, const mrc_run_file *f, uint64_t *sum,
                      mrc_err *err)
{
    if (fsync(f->fd) != 0) return mrc_err_errno(err, errno, "%s/%s", dir, name);
    char idx[300];
    snprintf(idx, sizeof idx, "%s.idx", name);
    size_t len = f->index != NULL ? (MRC_RUN_BUCKETS + 1) * sizeof *f->index : 0;
    if (f->has_sum) { /* summed as it was written: not read back */
        *sum = f->sum;
    } else {
        int e = run_sum(f->fd, f->bytes, f->index, len, sum);
        if (e != 0) return mrc_err_errno(err, e, "%s/%s", dir, name);
    }
    return write_atomic(dir, idx, (const char *)f->index, len, err);
}

int mrc_ckpt_run_open(const char *dir, const mrc_ckpt_run *r, mrc_run_file *out, mrc_err *err)
{
    char *path = path_of(dir, r->name), *idx = NULL;
    if (path == NULL || asprintf(&idx, "%s.idx", path) < 0) {
        free(path);
        return mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", dir);
    }
    int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
    uint64_t *index = malloc((MRC_RUN_BUCKETS + 1) * sizeof *index);
    struct stat st;
    if (fd < 0) {
        rc = mrc_err_errno(err, errno, "%s (checkpoint run)", path);
    } else if (fstat(fd, &st) != 0) {
        rc = mrc_err_errno(err, errno, "%s", path);
    } else if ((uint64_t)st.st_size != r->bytes) {
        rc = mrc_err_set(err, MRC_EIO, "%s: a checkpoint run of %llu bytes, the manifest says %llu",
                         path, (unsigned long long)st.st_size, (unsigned long long)r->bytes);
    } else if (index == NULL) {
        rc = mrc_err_set(err, MRC_ENOMEM, "%s: out of memory", dir);
    } else {
        int xfd = open(idx, O_RDONLY | O_CLOEXEC);
        size_t want = (MRC_RUN_BUCKETS + 1) * sizeof *index, got = 0;
        while (xfd >= 0 && got < want) {
            ssize_t n = read(xfd, (char *)index + got, want - got);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            got += (size_t)n;
        }
        if (xfd >= 0) close(xfd);
        uint64_t sum = 0;
        int e = 0;
        if (got != want || index[MRC_RUN_BUCKETS] != r->bytes)
            rc = mrc_err_set(err, MRC_EIO, "%s: a missing or torn index", idx);
        else if (r->has_sum && (e = run_sum(fd, r->bytes, index, want, &sum)) != 0)
            rc = mrc_err_errno(err, e, "%s", path);
        else if (r->has_sum && sum != r->sum)
            rc = mrc_err_set(err, MRC_EIO,
                             "%s: a damaged checkpoint run (its bytes or its index differ from "
                             "what was written: checksum %016llx, the manifest says %016llx)",
                             path, (unsigned long long)sum, (unsigned long long)r->sum);
    }
    if (rc == 0) {
        rc = mrc_run_file_adopt(fd, dir, MRC_ORDER_HASH, r->bytes, r->records, r->total, index, out,
                                err);
        if (rc == 0) out->max_len = r->max_len; /* what its readers will hold (compaction) */
    } else {
        if (fd >= 0) close(fd);
        free(index);
    }
    free(path);
    free(idx);
    return rc;
}

/* Whether file (a run or its index) is a run that one of keep names. */
static bool named_by(const char *file, const mrc_ckpt_manifest *keep, size_t nkeep)
{
    for (size_t i = 0; i < nkeep; i++)
        for (size_t r = 0; r < keep[i].nruns; r++) {
            const char *run = keep[i].runs[r].name;
            size_t l = strlen(run);
            if (strncmp(file, run, l) == 0 && (file[l] == '\0' || strcmp(file + l, ".idx") == 0))
                return true;
        }
    return false;
}

/* Remove the files of DIR that `doomed` picks among the checkpoint's (never another name). */
static int remove_where(const char *dir,
                        bool (*doomed)(const char *name, enum name_kind kind, bool tmp,
                                       const void *arg),
                        const void *arg, mrc_err *err)
{
    DIR *dh = opendir(dir);
    if (dh == NULL) return errno == ENOENT ? 0 : mrc_err_errno(err, errno, "%s", dir);
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(dh)) != NULL) {
        bool tmp;
        enum name_kind kind = name_kind(e->d_name, &tmp);
        if (kind == NAME_NONE || !doomed(e->d_name, kind, tmp, arg)) continue;
        char *path = path_of(dir, e->d_name);
        if (path != NULL && unlink(path) != 0 && errno != ENOENT && rc == 0)
            rc = mrc_err_errno(err, errno, "%s", path);
        free(path);
    }
    closedir(dh);
    if (rc == 0) sync_dir(dir);
    return rc;
}

typedef struct sweep_arg {
    const mrc_ckpt_manifest *keep;
    size_t nkeep;
} sweep_arg;

static bool unnamed_run_or_tmp(const char *name, enum name_kind kind, bool tmp, const void *arg)
{
    const sweep_arg *a = arg;
    return tmp || (kind == NAME_RUN && !named_by(name, a->keep, a->nkeep));
}

int mrc_ckpt_sweep(const char *dir, const mrc_ckpt_manifest *keep, size_t nkeep, mrc_err *err)
{
    sweep_arg a = {keep, nkeep};
    return remove_where(dir, unnamed_run_or_tmp, &a, err);
}

static bool all_but_fingerprint(const char *name, enum name_kind kind, bool tmp, const void *arg)
{
    (void)name;
    (void)arg;
    return (kind != NAME_FINGERPRINT && kind != NAME_LOCK) || tmp;
}

static bool lock_only(const char *name, enum name_kind kind, bool tmp, const void *arg)
{
    (void)name;
    (void)arg;
    return kind == NAME_LOCK && !tmp;
}

static bool fingerprint_only(const char *name, enum name_kind kind, bool tmp, const void *arg)
{
    (void)name;
    (void)tmp;
    (void)arg;
    return kind == NAME_FINGERPRINT;
}

int mrc_ckpt_remove(const char *dir, bool remove_dir, mrc_err *err)
{
    /* The fingerprint last: a remove cut short leaves a checkpoint that is still recognised as
     * one (its manifests are then swept or reset), never manifests without it. */
    int rc = remove_where(dir, all_but_fingerprint, NULL, err);
    if (rc == 0) rc = remove_where(dir, fingerprint_only, NULL, err);
    /* the lock only with DIR itself (its holder is the run removing it; a reset keeps it) */
    if (rc == 0 && remove_dir) rc = remove_where(dir, lock_only, NULL, err);
    if (rc == 0 && remove_dir && rmdir(dir) != 0 && errno != ENOENT && errno != ENOTEMPTY &&
        errno != EEXIST)
        rc = mrc_err_errno(err, errno, "%s", dir);
    return rc;
}
