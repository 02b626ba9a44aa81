/* memlimit.c - the default memory budget of a rank, from the cgroup limit, Slurm's variables and
 * MemAvailable, read once at start-up before the map sizes its tables and spill threshold.
 * It reads only what mrc_memlimit_env names (files under env->root); it must never fail the run
 * over an odd file: whatever cannot be read or parsed is no source. No MPI, no printing. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>

#include "mrcount/memlimit.h"

/* cgroup v1 writes PAGE_COUNTER_MAX x page size (9223372036854771712 with 4 KiB pages) for "no
 * limit"; the exact number depends on the page size, so anything from 4 EiB up means none. */
#define CGROUP_V1_UNLIMITED ((uint64_t)1 << 62)

/* The best source so far: bytes for this rank and its description. */
typedef struct best {
    uint64_t bytes;
    char what[MRC_MEMLIMIT_SOURCE_MAX];
} best;

static void offer(best *b, uint64_t bytes, const char *what)
{
    if (bytes >= b->bytes) return;
    b->bytes = bytes;
    snprintf(b->what, sizeof b->what, "%s", what);
}

static unsigned at_least_1(unsigned v)
{
    return v ? v : 1;
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
    if (a != 0 && b > UINT64_MAX / a) return UINT64_MAX;
    return a * b;
}

/* " / 2 ranks" for a node-wide source, nothing for one rank. */
static void per_rank_suffix(char *s, size_t cap, unsigned ranks)
{
    if (ranks > 1)
        snprintf(s, cap, " / %u ranks", ranks);
    else
        s[0] = '\0';
}

/* Whole-file read of a small file (proc and cgroup files report size 0, so read to the end).
 * @return a malloc'd NUL-terminated string, or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) return NULL;
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    while (s != NULL) {
        len += fread(s + len, 1, cap - 1 - len, f);
        if (len < cap - 1) break;
        char *t = cap <= ((size_t)1 << 20) ? realloc(s, cap * 2) : NULL;
        if (t == NULL) {
            free(s);
            s = NULL;
            break;
        }
        s = t;
        cap *= 2;
    }
    if (s != NULL && ferror(f)) {
        free(s);
        s = NULL;
    }
    fclose(f);
    if (s != NULL) s[len] = '\0';
    return s;
}

/* A decimal u64 of the whole string, trailing whitespace allowed. @return 0, or -1. */
static int parse_u64(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9') return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0) return -1;
    while (*end == ' ' || *end == '\t' || *end == '\n')
        end++;
    if (*end != '\0') return -1;
    *out = (uint64_t)v;
    return 0;
}

/* A cgroup limit file: its value in bytes. @return 0, or -1 for "max", a v1 "unlimited", a
 * missing, empty or malformed file. */
static int read_limit_file(const char *path, uint64_t *out)
{
    char *s = slurp(path);
    if (s == NULL) return -1;
    uint64_t v;
    int rc = parse_u64(s, &v);
    free(s);
    if (rc != 0 || v >= CGROUP_V1_UNLIMITED) return -1;
    *out = v;
    return 0;
}

/* Offer the smallest limit of a cgroup and its ancestors: <mount><rel>/<file> for rel, its
 * parent, ..., down to the mount root. A relative path with ".." (a cgroup outside our cgroup
 * namespace) would leave the mount: only the mount root is read then. */
static void offer_cgroup(best *b, const char *mount, const char *cg_path, const char *file,
                         const char *version, unsigned ranks)
{
    char rel[PATH_MAX];
    size_t n = strlen(cg_path);
    if (n >= sizeof rel || cg_path[0] != '/' || strstr(cg_path, "/..") != NULL) n = 0;
    memcpy(rel, cg_path, n);
    rel[n] = '\0';
    char suffix[32];
    per_rank_suffix(suffix, sizeof suffix, ranks);
    for (;;) {
        while (n > 0 && rel[n - 1] == '/')
            rel[--n] = '\0';
        char path[PATH_MAX + 64];
        uint64_t v;
        int len = snprintf(path, sizeof path, "%s%s/%s", mount, rel, file);
        if (len > 0 && (size_t)len < sizeof path && read_limit_file(path, &v) == 0) {
            char what[MRC_MEMLIMIT_SOURCE_MAX];
            snprintf(what, sizeof what, "cgroup %s %.*s%s", version, 400, path, suffix);
            offer(b, v / ranks, what);
        }
        if (n == 0) break;
        char *slash = strrchr(rel, '/');
        n = (size_t)(slash - rel);
        rel[n] = '\0';
    }
}

/* Is `name` one of the comma-separated controllers of `list` (of length len)? */
static int has_controller(const char *list, size_t len, const char *name)
{
    size_t nl = strlen(name);
    const char *p = list, *end = list + len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        if ((size_t)(stop - p) == nl && memcmp(p, name, nl) == 0) return 1;
        p = stop + 1;
    }
    return 0;
}

/* The cgroup sources: each line "id:controllers:path" of /proc/self/cgroup; "0::path" is the v2
 * hierarchy, a line whose controllers include "memory" the v1 memory hierarchy (both can be
 * present on a hybrid system: the smallest wins). */
static void offer_cgroups(best *b, const char *root, unsigned ranks)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/proc/self/cgroup", root);
    char *text = slurp(path);
    if (text == NULL) return;
    char v2_mount[PATH_MAX], v1_mount[PATH_MAX];
    snprintf(v2_mount, sizeof v2_mount, "%s/sys/fs/cgroup", root);
    snprintf(v1_mount, sizeof v1_mount, "%s/sys/fs/cgroup/memory", root);
    for (char *line = text, *next; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL) *next++ = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL) continue;
        const char *controllers = c1 + 1, *cg = c2 + 1;
        size_t clen = (size_t)(c2 - controllers);
        if (clen == 0 && c1 - line == 1 && line[0] == '0')
            offer_cgroup(b, v2_mount, cg, "memory.max", "v2", ranks);
        else if (has_controller(controllers, clen, "memory"))
            offer_cgroup(b, v1_mount, cg, "memory.limit_in_bytes", "v1", ranks);
    }
    free(text);
}

/* A Slurm memory value: MiB, or a number with a K, M, G or T suffix. 0 (Slurm: all of the
 * node's memory) counts as malformed: no limit from it. @return 0, or -1. */
static int parse_slurm_mib(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9') return -1;
    size_t n = strlen(s);
    uint64_t v;
    if (s[n - 1] >= '0' && s[n - 1] <= '9') {
        if (parse_u64(s, &v) != 0 || v > (UINT64_MAX >> 20)) return -1;
        v <<= 20;
    } else if (mrc_parse_size(s, &v) != 0) {
        return -1;
    }
    if (v == 0) return -1;
    *out = v;
    return 0;
}

/* Slurm variable `name`'s value s parsed into *v. @return 0; or -1 when unset, 0 (all of the
 * node's memory) or malformed, and then, for malformed, ignored (MRC_MEMLIMIT_SOURCE_MAX bytes)
 * names it unless it names another already. */
static int slurm_value(const char *name, const char *s, uint64_t *v, char *ignored)
{
    if (parse_slurm_mib(s, v) == 0) return 0;
    if (s != NULL && *s != '\0' && strcmp(s, "0") != 0 && ignored[0] == '\0')
        snprintf(ignored, MRC_MEMLIMIT_SOURCE_MAX, "%s=%.64s", name, s);
    return -1;
}

static void offer_slurm(best *b, const mrc_memlimit_env *env, unsigned ranks, unsigned cpus,
                        char *ignored)
{
    char what[MRC_MEMLIMIT_SOURCE_MAX], suffix[32];
    uint64_t v;
    if (slurm_value("SLURM_MEM_PER_NODE", env->slurm_mem_per_node, &v, ignored) == 0) {
        per_rank_suffix(suffix, sizeof suffix, ranks);
        snprintf(what, sizeof what, "SLURM_MEM_PER_NODE=%.64s%s", env->slurm_mem_per_node, suffix);
        offer(b, v / ranks, what);
    }
    if (slurm_value("SLURM_MEM_PER_CPU", env->slurm_mem_per_cpu, &v, ignored) == 0) {
        snprintf(what, sizeof what, "SLURM_MEM_PER_CPU=%.64s x %u CPU%s", env->slurm_mem_per_cpu,
                 cpus, cpus > 1 ? "s" : "");
        offer(b, mul_sat(v, cpus), what);
    }
}

/* The bytes of a "Key:  123 kB" line of <root>/<rel> (/proc/meminfo, /proc/self/status).
 * @return 0, or -1 when the file, the line or its number is missing or malformed. */
static int read_kib_line(const char *root, const char *rel, const char *key, uint64_t *bytes)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    char *text = slurp(path);
    if (text == NULL) return -1;
    size_t kl = strlen(key);
    int rc = -1;
    for (char *line = text; line != NULL; line = strchr(line, '\n')) {
        if (*line == '\n') line++;
        if (strncmp(line, key, kl) != 0) continue;
        char *p = line + kl, *end;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p < '0' || *p > '9') break;
        errno = 0;
        unsigned long long kib = strtoull(p, &end, 10);
        if (errno != 0 || strncmp(end, " kB", 3) != 0) break;
        *bytes = mul_sat(kib, 1024);
        rc = 0;
        break;
    }
    free(text);
    return rc;
}

/* MemAvailable of <root>/proc/meminfo; absent before Linux 3.14. */
static void offer_meminfo(best *b, const char *root, unsigned ranks)
{
    uint64_t avail;
    if (read_kib_line(root, "proc/meminfo", "MemAvailable:", &avail) != 0) return;
    char what[64], suffix[32];
    per_rank_suffix(suffix, sizeof suffix, ranks);
    snprintf(what, sizeof what, "MemAvailable%s", suffix);
    offer(b, avail / ranks, what);
}

/* RLIMIT_AS less what is mapped already (VmSize of <root>/proc/self/status) and what each
 * thread reserves. Without a readable VmSize the limit is not offered: what is left of it is
 * unknown, and an Open MPI rank maps hundreds of MiB of libraries and segments. */
static void offer_address_space(best *b, const char *root, uint64_t as_limit, unsigned threads)
{
    uint64_t used;
    if (as_limit == 0 || as_limit == MRC_MEMLIMIT_UNLIMITED ||
        read_kib_line(root, "proc/self/status", "VmSize:", &used) != 0)
        return;
    uint64_t reserved = mul_sat(threads, MRC_MEMLIMIT_AS_PER_THREAD);
    uint64_t left = as_limit > used ? as_limit - used : 0;
    char what[128];
    snprintf(what, sizeof what, "RLIMIT_AS less %llu MiB mapped and %llu MiB for %u thread%s, / %d",
             (unsigned long long)(used >> 20), (unsigned long long)(reserved >> 20), threads,
             threads > 1 ? "s" : "", MRC_MEMLIMIT_AS_SHARE);
    offer(b, (left > reserved ? left - reserved : 0) / MRC_MEMLIMIT_AS_SHARE, what);
}

uint64_t mrc_memlimit_headroom(uint64_t source_bytes)
{
    if (source_bytes == MRC_MEMLIMIT_UNLIMITED) return 0;
    uint64_t pct = source_bytes / 100 * MRC_MEMLIMIT_HEADROOM_PERCENT;
    return pct > MRC_MEMLIMIT_HEADROOM_MIN ? pct : MRC_MEMLIMIT_HEADROOM_MIN;
}

void mrc_memlimit_detect(const mrc_memlimit_env *env, mrc_memlimit *out)
{
    const char *root = env->root != NULL ? env->root : "";
    unsigned ranks = at_least_1(env->ranks_on_node), cpus = at_least_1(env->cpus);
    best b = {MRC_MEMLIMIT_UNLIMITED, "none"};
    out->ignored[0] = '\0';
    offer_cgroups(&b, root, ranks);
    offer_slurm(&b, env, ranks, cpus, out->ignored);
    offer_meminfo(&b, root, ranks);
    offer_address_space(&b, root, env->as_limit, at_least_1(env->threads));

    out->source_bytes = b.bytes;
    snprintf(out->source, sizeof out->source, "%s", b.what);
    if (b.bytes == MRC_MEMLIMIT_UNLIMITED) {
        out->limit = MRC_MEMLIMIT_UNLIMITED;
        out->headroom = 0;
        return;
    }
    uint64_t h = mrc_memlimit_headroom(b.bytes);
    uint64_t limit = b.bytes > h ? b.bytes - h : 0;
    out->limit = limit > MRC_MEMLIMIT_FLOOR ? limit : MRC_MEMLIMIT_FLOOR;
    out->headroom = b.bytes > out->limit ? b.bytes - out->limit : 0;
}

void mrc_memlimit_explicit(uint64_t bytes, mrc_memlimit *out)
{
    out->limit = bytes;
    out->source_bytes = bytes;
    out->headroom = 0;
    snprintf(out->source, sizeof out->source, "--memory-limit");
    out->ignored[0] = '\0';
}

void mrc_memlimit_env_from_process(mrc_memlimit_env *env, unsigned ranks_on_node, unsigned cpus,
                                   unsigned threads)
{
    env->root = NULL;
    env->slurm_mem_per_node = getenv("SLURM_MEM_PER_NODE");
    env->slurm_mem_per_cpu = getenv("SLURM_MEM_PER_CPU");
    env->ranks_on_node = ranks_on_node;
    env->cpus = cpus;
    env->threads = threads;
    struct rlimit rl;
    env->as_limit =
        getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (uint64_t)rl.rlim_cur : 0;
}
