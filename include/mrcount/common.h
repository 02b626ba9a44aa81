/* common.h - the floor every stage stands on: the error value every stage returns, the one stop
 * flag, time, RSS, sizes and temporary names.
 * Library code never prints or exits: it fills an mrc_err and returns nonzero; cli/ decides,
 * once and on all ranks together, whether the run stops. */
#ifndef MRCOUNT_COMMON_H
#define MRCOUNT_COMMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MRC_ERR_MSG_MAX 512

/* Status codes: 0 is success. */
enum mrc_status {
    MRC_OK = 0,
    MRC_EIO = 1,       /* open/read/stat failure of an input */
    MRC_ENOMEM = 2,    /* allocation failure */
    MRC_EOVERFLOW = 3, /* a 64-bit count or a buffer would overflow */
    MRC_EINVAL = 4,    /* bad usage, bad configuration, malformed data */
    MRC_EMPI = 5,      /* an MPI call failed */
    MRC_EINTR = 6,     /* stopped by a signal */
    MRC_EUSAGE = 7,    /* the command must change (a checkpoint of another run): exit 2 */
};

typedef struct mrc_err {
    int code;                  /* enum mrc_status; 0 when no error was recorded */
    char msg[MRC_ERR_MSG_MAX]; /* "<file>: <cause>", without the "mrcount: " prefix */
    bool relayed; /* another rank's error passed on (a stream's owner failed): an agreement
                     reports a rank's own error before it */
} mrc_err;

/** mrc_msg_printable() : control characters of msg other than TAB (a newline or an escape
 *  sequence in a file name or a key: C0 bytes, DEL, C1 bytes 0x80-0x9F alone and C1 characters
 *  U+0080-U+009F written in UTF-8) become one '?' each, so that a message stays one line and
 *  prints nothing the terminal would act on; other UTF-8 and other bytes stay as they are. */
void mrc_msg_printable(char *msg);

#define MRC_KEY_SHOWN 200                     /* key bytes a message quotes at most */
#define MRC_KEY_SHOWN_BUF (MRC_KEY_SHOWN + 4) /* and "...", NUL */

/** mrc_key_shown() : a key (any bytes) as a message quotes it, into buf (MRC_KEY_SHOWN_BUF
 *  bytes): its first MRC_KEY_SHOWN bytes, cut before a UTF-8 character rather than inside one,
 *  then "..." if cut; a NUL byte becomes '?' as the message's other control bytes do (a "%.*s"
 *  of the raw key would end at it and name another key). @return buf. */
const char *mrc_key_shown(const void *key, size_t len, char *buf);

/** mrc_err_set() : record an error (printf-style message) unless one is already recorded,
 *  so the first cause wins; its control bytes made printable (mrc_msg_printable()).
 *  @return code, so callers can `return mrc_err_set(...)`. */
int mrc_err_set(mrc_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** mrc_err_errno() : like mrc_err_set() with ": strerror(errnum)" appended; code MRC_EIO
 *  (or MRC_ENOMEM when errnum is ENOMEM). */
int mrc_err_errno(mrc_err *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the stop flag ----
 * One flag a run raises to stop early (a signal, or another rank's failure) and every stage
 * polls between bounded pieces of work (a read, a directory entry, a written block). */
typedef atomic_int mrc_stop;

/** mrc_stopped() : whether `stop` (may be NULL: never) was raised. */
static inline bool mrc_stopped(const mrc_stop *stop)
{
    return stop != NULL && atomic_load_explicit(stop, memory_order_relaxed) != 0;
}

/** mrc_stop_raise() : raise the flag (from any thread, or a signal handler). */
static inline void mrc_stop_raise(mrc_stop *stop)
{
    atomic_store_explicit(stop, 1, memory_order_relaxed);
}

/** mrc_plural() : "s" unless n is 1, for the counts a message writes ("1 file", "2 files"). */
static inline const char *mrc_plural(unsigned long long n)
{
    return n == 1 ? "" : "s";
}

/** mrc_add_u64() : *sum = a + b; true when it passes 2^64-1 (*sum then holds it wrapped).
 *  Use it, not __builtin_add_overflow(x, y, &z), wherever z is memory that x or y may be read
 *  from: GCC 12 stores the sum into z and then reads the operands again to find the carry, so an
 *  operand read through another pointer to z sees the new value and the carry is lost (a spilled
 *  run's merge added 2^64 - 616 and 1000 into 384, unnoticed). The sum goes through a local. */
static inline bool mrc_add_u64(uint64_t a, uint64_t b, uint64_t *sum)
{
    uint64_t s;
    bool carry = __builtin_add_overflow(a, b, &s);
    *sum = s;
    return carry;
}

/* Per-thread data written in hot loops gets cache lines of its own (false sharing otherwise). */
#define MRC_CACHE_LINE 64

/** mrc_calloc_lines() : n zeroed elements of `size` bytes starting on a cache line, the block
 *  rounded up to whole lines so no other allocation shares its last one; free() it.
 *  @return NULL when out of memory. */
void *mrc_calloc_lines(size_t n, size_t size);

/** mrc_advise_huge() : ask for transparent huge pages on the whole 2 MiB pages of p[0, len)
 *  (a hint; nothing fails without it). For large buffers read in random order: the records a
 *  sorted output or a merge reaches one by one. With 4 KiB pages each such access also misses
 *  the TLB, and in a VM a TLB miss walks two page tables (measured in this 2-core VM, 30 M
 *  distinct keys at 2 ranks: the output phase took 29-82 s with the merged ranges on 4 KiB pages,
 *  4-5 s on huge pages). Advise before the pages are touched: pages already there stay small. */
void mrc_advise_huge(void *p, size_t len);

/** mrc_tcp_nodelay_all() : sets TCP_NODELAY on every TCP socket (IPv4 or IPv6, listening or
 *  connected) the process holds; other descriptors are left alone. For the sockets a library
 *  opened on our behalf without it: Open MPI's PMIx client reaches mpirun over a loopback TCP
 *  socket, and without the option its small messages at MPI_Finalize wait out the server's
 *  delayed ACK (Nagle's algorithm), about 40 ms of every run. Only latency changes: nothing is
 *  sent that would not be. @return how many sockets got it (0 when /proc/self/fd is absent). */
size_t mrc_tcp_nodelay_all(void);

/** mrc_now() : monotonic seconds, for phase timings. */
double mrc_now(void);

/** mrc_peak_rss_bytes() : this process's peak resident set size. */
uint64_t mrc_peak_rss_bytes(void);

/** mrc_rss_now() : this process's resident set size now (VmRSS; 0 when unknown). */
uint64_t mrc_rss_now(void);

/** mrc_rss_window_start() / mrc_rss_window_peak() : the peak resident set of a stretch of the
 *  run: start resets the kernel's high-water mark (/proc/self/clear_refs) and returns the
 *  resident set at that moment (VmRSS), peak reads the mark back (VmHWM). getrusage's peak may
 *  drop after a reset: callers keep the earlier value. Both return 0 where /proc is missing. */
uint64_t mrc_rss_window_start(void);
uint64_t mrc_rss_window_peak(void);

/** mrc_mem_available_bytes() : MemAvailable of /proc/meminfo (0 when unknown). */
uint64_t mrc_mem_available_bytes(void);

/** mrc_parse_size() : parse "64M", "1G", "4096", "512k" (powers of 1024) into *out.
 *  @return 0, -1 on a malformed value, or -2 on a well-formed one past 2^64-1 bytes. */
int mrc_parse_size(const char *s, uint64_t *out);

/** mrc_temp_path() : the temporary name a file PATH is written under before it is renamed into
 *  place: "PATH.tmp.PID" (nobody else writes that name; a signal handler that knows PATH can
 *  remove it); the last name cut short to keep it within NAME_MAX bytes when PATH's own is
 *  near it. @return a malloc'd string, or NULL when out of memory. */
char *mrc_temp_path(const char *path);

/** mrc_link_target() : when path is a symbolic link, the file it names, as an absolute path
 *  (its directory resolved; the file itself may not exist yet, as for a link made ahead of the
 *  result: a dangling chain is followed to its last name), so that a result written through a
 *  temporary and a rename replaces the target and keeps the link. @return a malloc'd path;
 *  NULL with errno 0: not a link (the caller writes at path); NULL with errno set: a link that
 *  names nothing one could make (e.g. ENOENT: its directory does not exist, ELOOP: a loop,
 *  ENOMEM), which the caller must refuse rather than replace the link. */
char *mrc_link_target(const char *path);

/** mrc_path_fd() : the descriptor of this process that path names, if it names one:
 *  /dev/stdout, /dev/stderr, /dev/stdin, /dev/fd/N or /proc/{self,PID}/fd/N, however spelled
 *  (., .., relative) and through symbolic links. Such a path is written through the
 *  descriptor, never replaced by a rename: behind /dev/stdout may be a shell's redirection or a
 *  batch job's log, which a new file renamed over it would take from the shell (what else it
 *  writes would be lost).
 *  @return the descriptor (not checked to be open), or -1. */
int mrc_path_fd(const char *path);

/** mrc_output_fd() : mrc_path_fd() of an output path, where "-" is standard output. */
int mrc_output_fd(const char *path);

/** mrc_note_given_fds() : remember which descriptors below 1024 are open, as the process starts
 *  (before MPI_Init opens its own): mrc_fd_given() tells a descriptor the caller gave us (a
 *  shell's 3>file) from one a library opened, which a path such as /dev/fd/9 must not reach. */
void mrc_note_given_fds(void);

/** mrc_fd_given() : fd is open and was given to the process (open when it was noted, and below
 *  1024; any open one when nothing was noted). */
bool mrc_fd_given(int fd);

/* ---- the version ----
 * Set in one place, project(mrcount VERSION x.y.z) of CMakeLists.txt; the build adds what git
 * says of a checkout (src/common/version.cmake generates the definitions at every build). */

/** mrc_common_version() : this build's version: "0.1.0" from a source tarball, or with the
 *  checkout's `git describe --tags --always` and "-dirty" for uncommitted changes to tracked
 *  files: "0.1.0 (7e2ce30-dirty)". For --version, the metrics and the man page. A static string. */
const char *mrc_common_version(void);

/** mrc_common_version_date() : the date of the commit built, "YYYY-MM-DD", or "" when not built
 *  from a git checkout. A static string. */
const char *mrc_common_version_date(void);

/* What --version and the reports print (kept as a name for the code that uses it). */
#define MRC_VERSION (mrc_common_version())

#endif
