/* discover.c - rank 0's first step: expand INPUT arguments (files, directories, globs, @lists)
 * into the list of regular files the run will read, in a deterministic bytewise order.
 * It only stats, lists directories and reads @list files (regular files only): it opens an
 * input only when it is a regular file of size 0 (to tell a /proc pseudo-file, never a FIFO,
 * which would block the whole run), never reads standard input, never prints. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mrcount/input.h"

/* The (dev, inode) pairs of the directories entered during one argument's walk. */
typedef struct dir_set {
    struct dir_key {
        dev_t dev;
        ino_t ino;
    } * slots;
    unsigned char *used;
    size_t cap, n;
} dir_set;

/* What a walk skips with a warning. The first DISCOVER_WARN_SHOWN of each cause are printed one
 * by one, the rest counted in one line at the end (a tree like /usr/share/doc holds dozens of
 * links to directories already entered: their warnings buried the summary). */
#define DISCOVER_WARN_SHOWN 5
enum skip_cause {
    SKIP_LOOP,
    SKIP_DANGLING,
    SKIP_VANISHED,
    SKIP_SPECIAL,
    SKIP_ENTERED,
    SKIP_CAUSES
};
static const char *const skip_what[SKIP_CAUSES] = {
    "symbolic link loops, not followed", "dangling symbolic links, skipped",
    "paths that vanished during discovery, skipped",
    "FIFOs, sockets or devices, skipped (never opened)",
    "directories already entered (symbolic link loops or second links), skipped"};

typedef struct discover_ctx {
    mrc_file_list *out;
    size_t skipped[SKIP_CAUSES];
    mrc_warn_fn warn;
    void *warn_arg;
    mrc_err *err;
    const mrc_stop *stop; /* nonzero ends the walk (a signal); may be NULL */
    const char *const *exclude;
    size_t nexclude;
    bool own; /* own_dev/own_ino: the run's own directory, never entered */
    dev_t own_dev;
    ino_t own_ino;
    dir_set dirs;
} discover_ctx;

/* Whether an exclude pattern matches the path, trailing slashes aside (*out; counted when one
 * does): a pattern with a '/' is matched against the whole path as spelled here, '*' crossing
 * '/'; one without, against the last component ("." and ".." are no names: never matched).
 * @return MRC_OK, or MRC_ENOMEM with err. */
static int excluded(discover_ctx *c, const char *path, bool *out)
{
    *out = false;
    if (c->nexclude == 0) return MRC_OK;
    size_t len = strlen(path), n = len;
    while (n > 1 && path[n - 1] == '/')
        n--;
    char *trimmed = NULL;
    const char *p = path;
    if (n < len) {
        if ((trimmed = strndup(path, n)) == NULL) return mrc_err_errno(c->err, ENOMEM, "%s", path);
        p = trimmed;
    }
    size_t b = n;
    while (b > 0 && p[b - 1] != '/')
        b--;
    const char *last = p + b;
    bool name = *last != '\0' && strcmp(last, ".") != 0 && strcmp(last, "..") != 0;
    for (size_t i = 0; i < c->nexclude && !*out; i++) {
        const char *pat = c->exclude[i];
        *out =
            strchr(pat, '/') != NULL ? fnmatch(pat, p, 0) == 0 : name && fnmatch(pat, last, 0) == 0;
    }
    if (*out) c->out->excluded++;
    free(trimmed);
    return MRC_OK;
}

/* A tree of millions of entries takes minutes to walk: a signal must end it, not wait for it. */
static int check_stop(const discover_ctx *c, const char *path)
{
    if (!mrc_stopped(c->stop)) return MRC_OK;
    return mrc_err_set(c->err, MRC_EINTR, "%s: discovery interrupted", path);
}

static size_t dir_slot_hash(dev_t dev, ino_t ino, size_t mask)
{
    uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)dev * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 29;
    return (size_t)h & mask;
}

static void dir_set_clear(dir_set *s)
{
    free(s->slots);
    free(s->used);
    memset(s, 0, sizeof *s);
}

/** dir_set_insert() : @return 1 when (dev, ino) was new, 0 when already present, -1 on ENOMEM. */
static int dir_set_insert(dir_set *s, dev_t dev, ino_t ino)
{
    if (2 * (s->n + 1) > s->cap) {
        size_t ncap = s->cap ? 2 * s->cap : 64;
        struct dir_key *slots = calloc(ncap, sizeof *slots);
        unsigned char *used = calloc(ncap, 1);
        if (slots == NULL || used == NULL) {
            free(slots);
            free(used);
            return -1;
        }
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->used[i]) continue;
            size_t j = dir_slot_hash(s->slots[i].dev, s->slots[i].ino, ncap - 1);
            while (used[j])
                j = (j + 1) & (ncap - 1);
            slots[j] = s->slots[i];
            used[j] = 1;
        }
        free(s->slots);
        free(s->used);
        s->slots = slots;
        s->used = used;
        s->cap = ncap;
    }
    size_t j = dir_slot_hash(dev, ino, s->cap - 1);
    while (s->used[j]) {
        if (s->slots[j].dev == dev && s->slots[j].ino == ino) return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[j].dev = dev;
    s->slots[j].ino = ino;
    s->used[j] = 1;
    s->n++;
    return 1;
}

static void warnf(discover_ctx *c, enum skip_cause k, const char *path, const char *cause)
{
    if (++c->skipped[k] > DISCOVER_WARN_SHOWN || c->warn == NULL) return;
    char msg[MRC_ERR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s: %s", path, cause);
    c->warn(msg, c->warn_arg);
}

/* The paths skipped, counted into the list, and one line a cause for the warnings past the
 * first DISCOVER_WARN_SHOWN. */
static void end_skips(const discover_ctx *c)
{
    for (size_t k = 0; k < SKIP_CAUSES; k++) {
        c->out->skipped += c->skipped[k];
        if (c->skipped[k] <= DISCOVER_WARN_SHOWN || c->warn == NULL) continue;
        char msg[MRC_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%zu more %s (not listed)", c->skipped[k] - DISCOVER_WARN_SHOWN,
                 skip_what[k]);
        c->warn(msg, c->warn_arg);
    }
}

static const char *file_kind(mode_t mode)
{
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    return "not a regular file";
}

/* Whether a file of size 0 has data all the same: a pseudo-file (/proc) is read to its end but
 * stats as empty, and splits by size would count nothing of it. One that reads data and then
 * has a size is a file that grew since its stat (a log, an NFS attribute cache): not one. */
static bool empty_but_reads(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return false; /* the map's open names the cause */
    char byte;
    ssize_t n;
    do
        n = read(fd, &byte, 1);
    while (n < 0 && errno == EINTR);
    struct stat now;
    bool pseudo = n > 0 && fstat(fd, &now) == 0 && now.st_size == 0;
    close(fd);
    return pseudo;
}

/* A regular file at `path`, which is `name` relative to the directory dfd (AT_FDCWD: path): the
 * lookups of a directory's entries start from the open directory, not from the root again. */
static int add_file(discover_ctx *c, int dfd, const char *name, const char *path,
                    const struct stat *st, int access_errno)
{
    if (access_errno < 0) access_errno = faccessat(dfd, name, R_OK, 0) != 0 ? errno : 0;
    if (access_errno != 0) return mrc_err_errno(c->err, access_errno, "%s", path);
    if (st->st_size == 0 && empty_but_reads(dfd, name))
        return mrc_err_set(c->err, MRC_EINVAL,
                           "%s: its size is 0 but it reads data (a pseudo-file as in /proc, "
                           "whose size is not its contents): copy it to a regular file first",
                           path);
    mrc_file_list *l = c->out;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? 2 * l->cap : 16;
        mrc_file *f = realloc(l->files, ncap * sizeof *f);
        if (f == NULL) return mrc_err_errno(c->err, ENOMEM, "%s", path);
        l->files = f;
        l->cap = ncap;
    }
    char *copy = strdup(path);
    if (copy == NULL) return mrc_err_errno(c->err, ENOMEM, "%s", path);
    uint64_t size = st->st_size > 0 ? (uint64_t)st->st_size : 0;
    int64_t mtime = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    l->files[l->n++] = (mrc_file){.path = copy,
                                  .size = size,
                                  .mtime_ns = mtime,
                                  .dev = (uint64_t)st->st_dev,
                                  .ino = (uint64_t)st->st_ino,
                                  .codec = (uint8_t)mrc_codec_of_path(path)};
    l->total_bytes += size;
    return MRC_OK;
}

static char *join_path(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    bool slash = dl > 0 && dir[dl - 1] != '/';
    char *p = malloc(dl + slash + nl + 1);
    if (p == NULL) return NULL;
    memcpy(p, dir, dl);
    if (slash) p[dl] = '/';
    memcpy(p + dl + slash, name, nl + 1);
    return p;
}

static int cmp_str_bytewise(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/** list_dir() : the visible entry names of the directory dfd (`path`), sorted bytewise. */
static int list_dir(discover_ctx *c, int dfd, const char *path, char ***names_out, size_t *n_out)
{
    int own = dup(dfd); /* closedir() closes it; dfd stays open for the entries' lookups */
    DIR *d = own >= 0 ? fdopendir(own) : NULL;
    if (d == NULL) {
        int e = errno;
        if (own >= 0) close(own);
        return mrc_err_errno(c->err, e, "%s", path);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = MRC_OK;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (e == NULL) {
            if (errno != 0) rc = mrc_err_errno(c->err, errno, "%s", path);
            break;
        }
        if (e->d_name[0] == '.') continue; /* hidden entries, and "." and ".." */
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 32;
            char **v = realloc(names, ncap * sizeof *v);
            if (v == NULL) {
                rc = mrc_err_errno(c->err, ENOMEM, "%s", path);
                break;
            }
            names = v;
            cap = ncap;
        }
        if ((names[n] = strdup(e->d_name)) == NULL) {
            rc = mrc_err_errno(c->err, ENOMEM, "%s", path);
            break;
        }
        n++;
    }
    closedir(d);
    if (rc != MRC_OK) {
        free_strings(names, n);
        return rc;
    }
    if (n > 1) qsort(names, n, sizeof *names, cmp_str_bytewise);
    *names_out = names;
    *n_out = n;
    return MRC_OK;
}

static int walk_dir(discover_ctx *c, const char *path, const struct stat *st);

/* An entry's lookups, made ahead for a large directory (see look_ahead()). */
typedef struct look {
    struct stat st;
    int stat_errno;   /* fstatat()'s errno; 0: st holds what the path names; -1: not looked */
    int access_errno; /* a regular file: faccessat(R_OK)'s errno; -1: not looked */
} look;

/* The lookups of `name` (relative to dfd) into *l. */
static void look_one(int dfd, const char *name, look *l)
{
    l->access_errno = -1;
    l->stat_errno = fstatat(dfd, name, &l->st, 0) != 0 ? errno : 0;
    if (l->stat_errno == 0 && S_ISREG(l->st.st_mode))
        l->access_errno = faccessat(dfd, name, R_OK, 0) != 0 ? errno : 0;
}

/** take_looked() : an entry whose lookup (fstatat) is done. Things that may legitimately sit
 *  next to data (pipes, sockets, dangling links, a link back up the tree) are skipped with a
 *  warning; what would make the table silently short (an unreadable file) is an error. */
static int take_looked(discover_ctx *c, int dfd, const char *name, const char *path,
                       const look *l)
{
    if (l->stat_errno != 0) {
        int e = l->stat_errno;
        struct stat lst;
        if (e == ELOOP) {
            warnf(c, SKIP_LOOP, path, "symbolic link loop, not followed");
            return MRC_OK;
        }
        if (e == ENOENT && fstatat(dfd, name, &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(lst.st_mode)) {
            warnf(c, SKIP_DANGLING, path, "dangling symbolic link, skipped");
            return MRC_OK;
        }
        if (e == ENOENT) {
            warnf(c, SKIP_VANISHED, path, "vanished during discovery, skipped");
            return MRC_OK;
        }
        return mrc_err_errno(c->err, e, "%s", path);
    }
    if (S_ISREG(l->st.st_mode)) return add_file(c, dfd, name, path, &l->st, l->access_errno);
    if (S_ISDIR(l->st.st_mode)) return walk_dir(c, path, &l->st);
    char cause[96];
    snprintf(cause, sizeof cause, "%s, skipped (never opened)", file_kind(l->st.st_mode));
    warnf(c, SKIP_SPECIAL, path, cause);
    return MRC_OK;
}

/** take_entry() : one path found by a glob: excluded, or looked up and taken. */
static int take_entry(discover_ctx *c, const char *path)
{
    bool ex = false;
    int rc = check_stop(c, path);
    if (rc != MRC_OK || (rc = excluded(c, path, &ex)) != MRC_OK || ex) return rc;
    look l;
    look_one(AT_FDCWD, path, &l);
    return take_looked(c, AT_FDCWD, path, path, &l);
}

/* ---- a large directory's entries looked up on several threads ---- */

/* A directory of many entries is looked up (fstatat, and faccessat for a file) on up to
 * LOOK_THREADS threads, LOOK_MIN_PER_THREAD entries or more each, before its entries are taken
 * in order on the calling thread: the walk's order, warnings and errors are unchanged, and a
 * file system whose lookups wait on a server (NFS, Lustre, GPFS) has several in flight. The
 * threads are the CPUs the process may use (its binding), at most LOOK_THREADS. 50,000 files of
 * 0.5-5 KB in 20 directories, page cache, a rank with 2 cores: discover 0.272 -> 0.208 s. */
#define LOOK_THREADS 8
#define LOOK_MIN_PER_THREAD 32
#define LOOK_BATCH 4096 /* entries looked up ahead at a time: a directory of millions holds no
                           more than this many stat buffers */

typedef struct look_job {
    int dfd;
    char *const *names;
    const bool *skip; /* excluded: never looked up (a stale mount is often why) */
    look *out;
    size_t n, nthreads;
    const mrc_stop *stop;
} look_job;

typedef struct look_worker {
    const look_job *j;
    size_t t;
    pthread_t tid;
} look_worker;

static void look_some(const look_job *j, size_t t)
{
    for (size_t i = t; i < j->n; i += j->nthreads) {
        /* excluded, or a stop (the walk ends at its next check): not looked up */
        if (!j->skip[i] && !mrc_stopped(j->stop)) look_one(j->dfd, j->names[i], &j->out[i]);
    }
}

static void *look_main(void *arg)
{
    look_worker *w = arg;
    look_some(w->j, w->t);
    return NULL;
}

/* The threads a lookup pass may use: the CPUs this process may run on, at most LOOK_THREADS. */
static size_t look_threads(void)
{
    cpu_set_t set;
    size_t cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? (size_t)CPU_COUNT(&set) : 1;
    return cpus < 1 ? 1 : cpus > LOOK_THREADS ? LOOK_THREADS : cpus;
}

/** look_ahead() : the lookups of names[i] (skip[i] false) into out[i], on several threads when
 *  there are enough of them; otherwise (too few, one CPU, no thread started) none, and out[i]
 *  stays "not looked up" for the caller to look up itself. */
static void look_ahead(int dfd, char *const *names, const bool *skip, size_t n, look *out,
                       const mrc_stop *stop)
{
    size_t k = look_threads();
    if (k > n / LOOK_MIN_PER_THREAD) k = n / LOOK_MIN_PER_THREAD;
    if (k < 2) return;
    look_worker w[LOOK_THREADS];
    look_job j = {dfd, names, skip, out, n, k, stop};
    size_t started = 1;
    for (; started < k; started++) {
        w[started] = (look_worker){&j, started, 0};
        if (pthread_create(&w[started].tid, NULL, look_main, &w[started]) != 0) break;
    }
    if (started == k) look_some(&j, 0); /* else the entries of the threads not started too */
    for (size_t t = 1; t < started; t++)
        pthread_join(w[t].tid, NULL);
}

static int walk_dir(discover_ctx *c, const char *path, const struct stat *st)
{
    if (c->own && st->st_dev == c->own_dev && st->st_ino == c->own_ino) {
        c->out->excluded++; /* the checkpoint's runs and manifests are not input */
        return MRC_OK;
    }
    int fresh = dir_set_insert(&c->dirs, st->st_dev, st->st_ino);
    if (fresh < 0) return mrc_err_errno(c->err, ENOMEM, "%s", path);
    if (fresh == 0) {
        warnf(c, SKIP_ENTERED, path,
              "directory already entered (symbolic link loop or second link), skipped");
        return MRC_OK;
    }
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return mrc_err_errno(c->err, errno, "%s", path);
    char **names = NULL;
    size_t n = 0;
    int rc = list_dir(c, dfd, path, &names, &n);
    /* A batch at a time: its exclusions (in order, as counted), its lookups (ahead, on threads,
     * when it is large), then its entries taken in order. */
    size_t cap = n < LOOK_BATCH ? n : LOOK_BATCH;
    bool *skip = rc == MRC_OK && cap > 0 ? malloc(cap * sizeof *skip) : NULL;
    look *looks = skip != NULL ? malloc(cap * sizeof *looks) : NULL;
    if (rc == MRC_OK && cap > 0 && looks == NULL) rc = mrc_err_errno(c->err, ENOMEM, "%s", path);
    for (size_t at = 0; rc == MRC_OK && at < n; at += cap) {
        size_t m = n - at < cap ? n - at : cap;
        for (size_t i = 0; rc == MRC_OK && i < m; i++) {
            char *child = join_path(path, names[at + i]);
            if (child == NULL) {
                rc = mrc_err_errno(c->err, ENOMEM, "%s", path);
                break;
            }
            rc = excluded(c, child, &skip[i]);
            looks[i].stat_errno = -1; /* not looked up */
            free(child);
        }
        if (rc == MRC_OK) look_ahead(dfd, names + at, skip, m, looks, c->stop);
        for (size_t i = 0; rc == MRC_OK && i < m; i++) {
            if (skip[i]) continue;
            char *child = join_path(path, names[at + i]);
            if (child == NULL) {
                rc = mrc_err_errno(c->err, ENOMEM, "%s", path);
                break;
            }
            if ((rc = check_stop(c, child)) == MRC_OK) {
                if (looks[i].stat_errno < 0) look_one(dfd, names[at + i], &looks[i]);
                rc = take_looked(c, dfd, names[at + i], child, &looks[i]);
            }
            free(child);
        }
    }
    free(looks);
    free(skip);
    free_strings(names, n);
    close(dfd);
    return rc;
}

static bool has_glob_chars(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

/* Whether a component of `path` is "." or ".." where the same component of the `pattern` it
 * matched holds a wildcard: glob(3) matches them with ".*", the shells (bash's globskipdots,
 * zsh) and Python's glob do not, and 'dir/.*' taking ".." would count the parent's tree. */
static bool dots_from_wildcard(const char *pattern, const char *path)
{
    for (const char *p = pattern, *q = path;;) {
        p += strspn(p, "/");
        q += strspn(q, "/");
        if (*p == '\0' || *q == '\0') return false;
        size_t pl = strcspn(p, "/"), ql = strcspn(q, "/");
        bool wild = strcspn(p, "*?[") < pl;
        if (wild && q[0] == '.' && (ql == 1 || (ql == 2 && q[1] == '.'))) return true;
        p += pl;
        q += ql;
    }
}

static int expand_glob(discover_ctx *c, const char *pattern)
{
    glob_t g;
    int grc = glob(pattern, GLOB_NOSORT, NULL, &g);
    if (grc == GLOB_NOSPACE) {
        globfree(&g);
        return mrc_err_errno(c->err, ENOMEM, "%s", pattern);
    }
    if (grc != 0 && grc != GLOB_NOMATCH) {
        globfree(&g);
        return mrc_err_set(c->err, MRC_EIO, "%s: cannot expand this pattern (read error)", pattern);
    }
    /* glob(3) sorts by the locale's collation; the run must not depend on LC_COLLATE. */
    if (g.gl_pathc > 1) qsort(g.gl_pathv, g.gl_pathc, sizeof *g.gl_pathv, cmp_str_bytewise);
    int rc = MRC_OK;
    size_t taken = 0;
    for (size_t i = 0; i < g.gl_pathc && rc == MRC_OK; i++) {
        if (dots_from_wildcard(pattern, g.gl_pathv[i])) continue;
        dir_set_clear(&c->dirs);
        rc = take_entry(c, g.gl_pathv[i]);
        taken++;
    }
    globfree(&g);
    if (rc == MRC_OK && taken == 0) /* no match, or only . and .. */
        return mrc_err_set(c->err, MRC_EIO, "%s: no file matches this pattern", pattern);
    return rc;
}

/** take_named() : a path the user named (an argument or an @list line): it must exist and be
 *  readable; a FIFO or device named directly is an error, not a silent skip. */
static int take_named(discover_ctx *c, const char *arg)
{
    if (strcmp(arg, "-") == 0)
        return mrc_err_set(c->err, MRC_EUSAGE, /* as no INPUT at all: exit 2 */
                           "-: standard input is not supported; name the files");
    if (arg[0] == '\0') return mrc_err_set(c->err, MRC_EINVAL, "empty input path");
    /* A pattern's own text is not a path: its matches are tested as they are taken. Unless a
     * name is spelled so (lstat: the name itself, never what a link names): then it is tested
     * as a name, before anything it names is looked at (a link loop so named and excluded is
     * no error). */
    bool glob = has_glob_chars(arg), ex = false;
    int rc = check_stop(c, arg);
    struct stat st;
    if (rc == MRC_OK && glob && lstat(arg, &st) != 0)
        return errno == ENOENT ? expand_glob(c, arg) : mrc_err_errno(c->err, errno, "%s", arg);
    if (rc != MRC_OK || (rc = excluded(c, arg, &ex)) != MRC_OK || ex) return rc;
    if (stat(arg, &st) != 0) {
        int e = errno;
        if (e == ENOENT && glob) return expand_glob(c, arg); /* a dangling link so named */
        if (e == ENOENT && lstat(arg, &st) == 0 && S_ISLNK(st.st_mode))
            return mrc_err_set(c->err, MRC_EIO,
                               "%s: dangling symbolic link (what it names does not exist)", arg);
        return mrc_err_errno(c->err, e, "%s", arg);
    }
    dir_set_clear(&c->dirs);
    if (S_ISREG(st.st_mode)) return add_file(c, AT_FDCWD, arg, arg, &st, -1);
    if (S_ISDIR(st.st_mode)) return walk_dir(c, arg, &st);
    return mrc_err_set(c->err, MRC_EINVAL, "%s: is %s, not a regular file or directory", arg,
                       file_kind(st.st_mode));
}

static bool is_blank(const char *s)
{
    for (; *s != '\0'; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n' && *s != '\v' && *s != '\f')
            return false;
    return true;
}

static int not_a_list(discover_ctx *c, const char *list_path, mode_t mode)
{
    return mrc_err_set(c->err, MRC_EINVAL, "%s: is %s, not a list of paths", list_path,
                       S_ISDIR(mode) ? "a directory" : file_kind(mode));
}

/** take_list() : "@list.txt": one path a line, relative paths relative to the working
 *  directory (like tar -T). Each line is a named path; '@' has no special meaning there. */
static int take_list(discover_ctx *c, const char *list_path)
{
    /* A list is read, so it must be a regular file: fopen() of a FIFO waits for a writer, and
     * @/dev/stdin would read standard input. Opened without blocking, then checked by fstat
     * (the path may change between a stat and the open). */
    struct stat st;
    if (stat(list_path, &st) != 0) return mrc_err_errno(c->err, errno, "%s", list_path);
    if (!S_ISREG(st.st_mode)) return not_a_list(c, list_path, st.st_mode);
    int fd;
    mode_t mode;
    int e = mrc_open_regular(list_path, &fd, &mode, NULL);
    if (e > 0) return mrc_err_errno(c->err, e, "%s", list_path);
    if (e < 0) return not_a_list(c, list_path, mode); /* replaced since the stat */
    int rc = MRC_OK;
    FILE *f = fdopen(fd, "r");
    if (f == NULL) {
        e = errno;
        close(fd);
        return mrc_err_errno(c->err, e, "%s", list_path);
    }
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    while (rc == MRC_OK && (len = getline(&line, &line_cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (line[0] == '#' || is_blank(line)) continue;
        if (strlen(line) != (size_t)len) {
            rc = mrc_err_set(c->err, MRC_EINVAL, "%s: a line holds a NUL byte", list_path);
            break;
        }
        rc = take_named(c, line);
    }
    if (rc == MRC_OK && ferror(f)) rc = mrc_err_errno(c->err, errno ? errno : EIO, "%s", list_path);
    free(line);
    fclose(f);
    return rc;
}

int mrc_input_discover(const char *const *args, size_t nargs, mrc_file_list *out, mrc_warn_fn warn,
                       void *warn_arg, mrc_err *err)
{
    return mrc_input_discover_until(args, nargs, out, warn, warn_arg, NULL, err);
}

int mrc_input_discover_until(const char *const *args, size_t nargs, mrc_file_list *out,
                             mrc_warn_fn warn, void *warn_arg, const mrc_stop *stop, mrc_err *err)
{
    mrc_discover_opts o = {.warn = warn, .warn_arg = warn_arg, .stop = stop};
    return mrc_input_discover_with(args, nargs, &o, out, err);
}

int mrc_input_discover_with(const char *const *args, size_t nargs, const mrc_discover_opts *o,
                            mrc_file_list *out, mrc_err *err)
{
    memset(out, 0, sizeof *out);
    discover_ctx c = {.out = out,
                      .warn = o->warn,
                      .warn_arg = o->warn_arg,
                      .err = err,
                      .stop = o->stop,
                      .exclude = o->exclude,
                      .nexclude = o->nexclude};
    struct stat own;
    if (o->own_dir != NULL && stat(o->own_dir, &own) == 0 && S_ISDIR(own.st_mode)) {
        c.own = true;
        c.own_dev = own.st_dev;
        c.own_ino = own.st_ino;
    }
    int rc = MRC_OK;
    if (nargs == 0)
        rc = mrc_err_set(err, MRC_EINVAL, "no input: name files, directories, globs or @list");
    for (size_t i = 0; i < nargs && rc == MRC_OK; i++) {
        const char *a = args[i];
        if (a == NULL)
            rc = mrc_err_set(err, MRC_EINVAL, "null input argument");
        else if (a[0] == '@' && a[1] != '\0')
            rc = take_list(&c, a + 1);
        else
            rc = take_named(&c, a);
    }
    dir_set_clear(&c.dirs);
    if (rc == MRC_OK) end_skips(&c);
    if (rc != MRC_OK) mrc_file_list_free(out);
    return rc;
}

void mrc_file_list_free(mrc_file_list *l)
{
    if (l == NULL) return;
    for (size_t i = 0; i < l->n; i++)
        free(l->files[i].path);
    free(l->files);
    memset(l, 0, sizeof *l);
}
