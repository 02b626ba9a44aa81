/* errors.c - the common floor's small helpers: the error value (mrc_err), aligned allocation,
 * timing, peak RSS, memory available, size parsing and temporary names. Every stage stands on
 * it and it stands on nothing of ours; it must never print or exit. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mrcount/common.h"

/* The length of the UTF-8 sequence at p (strict: no overlong form, surrogate or code point past
 * U+10FFFF), its code point in *cp; 0 when none starts there. */
static size_t utf8_at(const unsigned char *p, uint32_t *cp)
{
    size_t n = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC0 ? 2 : 0;
    if (n == 0 || p[0] > 0xF4) return 0;
    uint32_t c = p[0] & (0x7Fu >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0; /* the terminating NUL stops it too */
        c = c << 6 | (p[i] & 0x3Fu);
    }
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < least[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return n;
}

void mrc_msg_printable(char *msg)
{
    unsigned char *r = (unsigned char *)msg, *w = r;
    while (*r != '\0') {
        uint32_t cp;
        size_t n = *r >= 0x80 ? utf8_at(r, &cp) : 0;
        if (n > 0) { /* a C1 control written in UTF-8 (U+009B: an escape sequence) as one '?' */
            if (cp <= 0x9F) {
                *w++ = '?';
            } else {
                memmove(w, r, n);
                w += n;
            }
            r += n;
            continue;
        }
        /* a byte alone: C0 controls but TAB, DEL, and raw C1 (0x80-0x9F: an 8-bit terminal's) */
        *w++ = (*r < 0x20 && *r != '\t') || (*r >= 0x7f && *r <= 0x9f) ? '?' : *r;
        r++;
    }
    *w = '\0';
}

const char *mrc_key_shown(const void *key, size_t len, char *buf)
{
    const unsigned char *k = key;
    size_t n = len;
    if (len > MRC_KEY_SHOWN) { /* cut where a character begins: at most 3 bytes back */
        n = MRC_KEY_SHOWN;
        for (size_t back = 0; back < 3 && n > 0 && (k[n] & 0xC0) == 0x80; back++)
            n--;
    }
    for (size_t i = 0; i < n; i++)
        buf[i] = k[i] == '\0' ? '?' : (char)k[i];
    if (n < len) memcpy(buf + n, "...", 3), n += 3;
    buf[n] = '\0';
    return buf;
}

static int err_vset(mrc_err *err, int code, const char *suffix, const char *fmt, va_list ap)
{
    if (err == NULL || err->code != MRC_OK) return code;
    err->code = code;
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    if (suffix != NULL && n >= 0 && (size_t)n < sizeof err->msg)
        snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", suffix);
    mrc_msg_printable(err->msg);
    return code;
}

int mrc_err_set(mrc_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, NULL, fmt, ap);
    va_end(ap);
    return code;
}

int mrc_err_errno(mrc_err *err, int errnum, const char *fmt, ...)
{
    int code = errnum == ENOMEM ? MRC_ENOMEM : MRC_EIO;
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, strerror(errnum), fmt, ap);
    va_end(ap);
    return code;
}

void *mrc_calloc_lines(size_t n, size_t size)
{
    if (size != 0 && n > (SIZE_MAX - MRC_CACHE_LINE) / size) return NULL;
    size_t bytes = (n * size + MRC_CACHE_LINE - 1) / MRC_CACHE_LINE * MRC_CACHE_LINE;
    if (bytes == 0) bytes = MRC_CACHE_LINE;
    void *p = aligned_alloc(MRC_CACHE_LINE, bytes);
    if (p != NULL) memset(p, 0, bytes);
    return p;
}

void mrc_advise_huge(void *p, size_t len)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1), b = ((uintptr_t)p + len) & ~(huge - 1);
    if (p != NULL && b > a) (void)madvise((void *)a, b - a, MADV_HUGEPAGE);
#else
    (void)p;
    (void)len;
#endif
}

size_t mrc_tcp_nodelay_all(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) return 0;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end != '\0' || end == e->d_name || fd < 0 || fd == dirfd(d)) continue;
        int type = 0, one = 1;
        socklen_t len = sizeof type;
        struct sockaddr_storage sa;
        socklen_t sa_len = sizeof sa;
        if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM ||
            getsockname((int)fd, (struct sockaddr *)&sa, &sa_len) != 0 ||
            (sa.ss_family != AF_INET && sa.ss_family != AF_INET6))
            continue;
        if (setsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0) n++;
    }
    closedir(d);
    return n;
}

double mrc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t mrc_peak_rss_bytes(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (uint64_t)ru.ru_maxrss * 1024u;
}

/* A "Key: N kB" line of /proc/self/status or /proc/meminfo, in bytes (0 when absent). */
static uint64_t proc_kib(const char *file, const char *key)
{
    FILE *f = fopen(file, "r");
    if (f == NULL) return 0;
    char line[256];
    size_t klen = strlen(key);
    unsigned long long kib = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, key, klen) == 0 && sscanf(line + klen, " %llu", &kib) == 1) break;
    fclose(f);
    return (uint64_t)kib * 1024u;
}

uint64_t mrc_rss_now(void)
{
    return proc_kib("/proc/self/status", "VmRSS:");
}

uint64_t mrc_rss_window_start(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f != NULL) {
        fputs("5", f);
        fclose(f);
    }
    return mrc_rss_now();
}

uint64_t mrc_rss_window_peak(void)
{
    return proc_kib("/proc/self/status", "VmHWM:");
}

uint64_t mrc_mem_available_bytes(void)
{
    return proc_kib("/proc/meminfo", "MemAvailable:");
}

int mrc_parse_size(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9') return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    bool over = errno == ERANGE;
    if (errno != 0 && !over) return -1;
    unsigned shift = 0;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    case 't':
    case 'T':
        shift = 40;
        end++;
        break;
    default:
        return -1;
    }
    if (shift != 0 && (*end == 'i' || *end == 'I')) end++;
    if (shift != 0 && (*end == 'b' || *end == 'B')) end++;
    if (*end != '\0') return -1;
    if (over || (shift != 0 && v > (UINT64_MAX >> shift))) return -2;
    *out = (uint64_t)v << shift;
    return 0;
}

char *mrc_temp_path(const char *path)
{
    char suffix[48];
    int sl = snprintf(suffix, sizeof suffix, ".tmp.%ld", (long)getpid());
    const char *slash = strrchr(path, '/');
    size_t base = strlen(slash != NULL ? slash + 1 : path), len = strlen(path);
    if (base + (size_t)sl > NAME_MAX) {
        /* The last name's end gives way to the suffix, within NAME_MAX bytes; a hash of the
         * whole path tells apart two names cut alike (-o and -m of one long stem). */
        uint32_t h = 2166136261u; /* FNV-1a */
        for (const char *c = path; *c != '\0'; c++)
            h = (h ^ (unsigned char)*c) * 16777619u;
        sl = snprintf(suffix, sizeof suffix, "~%08x.tmp.%ld", (unsigned)h, (long)getpid());
        size_t cut = base + (size_t)sl - NAME_MAX;
        len -= cut < base ? cut : base;
    }
    char *t = malloc(len + (size_t)sl + 1);
    if (t != NULL) snprintf(t, len + (size_t)sl + 1, "%.*s%s", (int)len, path, suffix);
    return t;
}

/* path with its directory resolved and its last name kept ("fd/1" in /dev: "/dev/fd/1"; the
 * name itself may be a link, or not exist). NULL (errno set) when the directory does not
 * exist, or the path ends in '/'. */
static char *dir_resolved(const char *path)
{
    const char *slash = strrchr(path, '/'), *base = slash != NULL ? slash + 1 : path;
    char *d = slash == NULL ? strdup(".") : strndup(path, (size_t)(slash - path));
    char *dir = d == NULL ? NULL : realpath(*d != '\0' ? d : "/", NULL), *out = NULL;
    if (dir != NULL && *base != '\0' &&
        asprintf(&out, "%s/%s", strcmp(dir, "/") ? dir : "", base) < 0)
        out = NULL;
    free(dir);
    free(d);
    return out;
}

/* One hop of a link that realpath() cannot resolve (it dangles, somewhere along its chain):
 * the name it holds, relative to the link's directory, that directory resolved. NULL (errno
 * set) when that directory does not exist. */
static char *link_hop(const char *path)
{
    char to[4096], *full = NULL;
    ssize_t n = readlink(path, to, sizeof to - 1);
    if (n <= 0) return NULL;
    to[n] = '\0';
    const char *slash = strrchr(path, '/');
    int dl = slash == NULL ? 1 : slash == path ? 1 : (int)(slash - path);
    if (to[0] == '/')
        full = strdup(to);
    else if (asprintf(&full, "%.*s/%s", dl, slash == NULL ? "." : path, to) < 0)
        full = NULL;
    if (full == NULL) return NULL;
    char *out = dir_resolved(full);
    free(full);
    return out;
}

#define LINK_HOPS 40 /* as the kernel's limit: more is a loop (ELOOP) */

/* The descriptor a name stands for, its directory resolved (dir_resolved()): /dev/stdin,
 * /dev/stdout, /dev/stderr, or /proc/PID/fd/N and /proc/PID/task/TID/fd/N with PID this
 * process as /proc names it (/dev/fd, /proc/self/fd and /proc/thread-self/fd resolve to
 * those). -1: none. */
static int fd_of_name(const char *p)
{
    static const char *const std[] = {"/dev/stdin", "/dev/stdout", "/dev/stderr"};
    for (int i = 0; i < 3; i++)
        if (strcmp(p, std[i]) == 0) return i;
    char self[48], pid[24];
    ssize_t k = readlink("/proc/self", pid, sizeof pid - 1);
    if (k <= 0) return -1;
    pid[k] = '\0';
    snprintf(self, sizeof self, "/proc/%s/", pid);
    if (strncmp(p, self, strlen(self)) != 0) return -1;
    const char *rest = p + strlen(self);
    if (strncmp(rest, "task/", 5) == 0) { /* task/TID/fd/N */
        rest += 5;
        if (*rest < '0' || *rest > '9') return -1;
        while (*rest >= '0' && *rest <= '9')
            rest++;
        if (*rest++ != '/') return -1;
    }
    if (strncmp(rest, "fd/", 3) != 0) return -1;
    rest += 3;
    if (*rest == '\0' || strlen(rest) > 9) return -1;
    int fd = 0;
    for (; *rest != '\0'; rest++) {
        if (*rest < '0' || *rest > '9') return -1;
        fd = fd * 10 + (*rest - '0');
    }
    return fd;
}

#define GIVEN_FDS 1024
static uint64_t given_fds[GIVEN_FDS / 64]; /* bit n: descriptor n was open at the start */
static bool given_known;

void mrc_note_given_fds(void)
{
    for (int fd = 0; fd < GIVEN_FDS; fd++)
        if (fcntl(fd, F_GETFD) != -1) given_fds[fd / 64] |= (uint64_t)1 << (fd % 64);
    given_known = true;
}

bool mrc_fd_given(int fd)
{
    if (fd < 0 || fcntl(fd, F_GETFD) == -1) return false;
    if (!given_known) return true;
    return fd < GIVEN_FDS && (given_fds[fd / 64] >> (fd % 64) & 1) != 0;
}

int mrc_output_fd(const char *path)
{
    return strcmp(path, "-") == 0 ? STDOUT_FILENO : mrc_path_fd(path);
}

int mrc_path_fd(const char *path)
{
    char *cur = dir_resolved(path); /* each hop's name is then resolved as link_hop() gives it */
    int fd = -1;
    for (int hop = 0; cur != NULL && hop < LINK_HOPS; hop++) {
        struct stat st;
        if ((fd = fd_of_name(cur)) >= 0 || lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) break;
        char *next = link_hop(cur); /* /dev/stdout -> /proc/PID/fd/1 */
        free(cur);
        cur = next;
    }
    free(cur);
    return fd;
}

char *mrc_link_target(const char *path)
{
    struct stat st;
    errno = 0;
    if (lstat(path, &st) != 0 || !S_ISLNK(st.st_mode)) {
        errno = 0;
        return NULL;
    }
    char *real = realpath(path, NULL);
    if (real != NULL) return real;
    /* dangling: hop by hop, until a name that is not a link (the file to make) */
    char *cur = NULL;
    for (int hop = 0;; hop++) {
        char *next = hop < LINK_HOPS ? link_hop(cur != NULL ? cur : path) : NULL;
        int e = hop < LINK_HOPS ? (errno != 0 ? errno : ENOENT) : ELOOP;
        free(cur);
        if (next == NULL) {
            errno = e;
            return NULL;
        }
        cur = next;
        /* the end: not a link, or a link that resolves after all (/dev/stdout hops to
         * /proc/PID/fd/1, which names a pipe realpath() cannot: the pipe is opened through it) */
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode) || stat(cur, &st) == 0) return cur;
    }
}
