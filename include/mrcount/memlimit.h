/* memlimit.h - how much memory this rank may use: the --memory-limit budget, or by default the
 * smallest of what the machine and the batch system really allow (cgroup, Slurm, MemAvailable),
 * less a headroom. Everything the detection reads comes in through mrc_memlimit_env, so a test
 * fakes /proc, /sys and the Slurm variables with a root directory and two strings. */
#ifndef MRCOUNT_MEMLIMIT_H
#define MRCOUNT_MEMLIMIT_H

#include <stdint.h>

#include "mrcount/common.h"

/* "No limit": no source was found (the budget then only bounds nothing). */
#define MRC_MEMLIMIT_UNLIMITED UINT64_MAX

/* Headroom: the bytes kept back from the detected source for what the budget does not count.
 * A rank's resident set outside its tables is measured here at ~14 MiB (binary, libc, hwloc's
 * topology, Open MPI ob1 on one node), plus 256 KiB read buffers per thread and gzip's buffers;
 * on a cluster fabric (UCX, verbs) MPI registers tens of MiB more. Hence a fixed 64 MiB at least.
 * It grows with the budget at 10%, for what scales with the tables: malloc's per-thread arenas
 * and their fragmentation, a table's growth step caught in flight, the combine's transients.
 * An explicit --memory-limit gets none: the user's number is the budget. */
#define MRC_MEMLIMIT_HEADROOM_MIN ((uint64_t)64 << 20)
#define MRC_MEMLIMIT_HEADROOM_PERCENT 10
/* The budget is never below this: a rank squeezed that far still runs, it just spills often
 * (a smaller budget would mean a spill for every few thousand keys and nothing gained). */
#define MRC_MEMLIMIT_FLOOR ((uint64_t)32 << 20)

/* Address space a thread reserves without using it, which RLIMIT_AS counts: glibc's malloc
 * arena (64 MiB reserved at a time on 64-bit) and a stack (8 MiB by default). */
#define MRC_MEMLIMIT_AS_PER_THREAD ((uint64_t)72 << 20)
/* What is left of RLIMIT_AS is divided by this: the limit counts address space, and a table
 * maps ahead of what it holds (its arena doubles its mapping, and a growth maps the new size
 * before it lets the old one go: up to 3x the bytes the budget counts). */
#define MRC_MEMLIMIT_AS_SHARE 3

/* Everything the detection reads. The strings are borrowed, not copied. */
typedef struct mrc_memlimit_env {
    const char *root;               /* prefix of /proc and /sys; NULL or "" = the real root */
    const char *slurm_mem_per_node; /* SLURM_MEM_PER_NODE's value, or NULL */
    const char *slurm_mem_per_cpu;  /* SLURM_MEM_PER_CPU's value, or NULL */
    unsigned ranks_on_node;         /* ranks sharing this node's memory (0 counts as 1) */
    unsigned cpus;                  /* CPUs of this rank (0 counts as 1) */
    uint64_t as_limit;              /* the process's RLIMIT_AS (ulimit -v) in bytes; 0: none */
    unsigned threads; /* threads of the process, the main one included (0 counts as 1) */
} mrc_memlimit_env;

#define MRC_MEMLIMIT_SOURCE_MAX 512

/* The budget and where it came from (what the metrics report). */
typedef struct mrc_memlimit {
    uint64_t limit;        /* bytes this rank may use; MRC_MEMLIMIT_UNLIMITED when no source */
    uint64_t source_bytes; /* the smallest source for this rank (after the division among the
                            * ranks of the node), before the headroom; UNLIMITED when none */
    uint64_t headroom;     /* source_bytes - limit when positive, else 0 */
    char source[MRC_MEMLIMIT_SOURCE_MAX]; /* e.g. "cgroup v2 /sys/fs/cgroup/a/memory.max / 2
                                           * ranks", "SLURM_MEM_PER_CPU=2048 x 4 CPUs",
                                           * "MemAvailable", "--memory-limit", "none" */
    char ignored[MRC_MEMLIMIT_SOURCE_MAX]; /* a Slurm variable set but not a size of memory,
                                            * as "SLURM_MEM_PER_NODE=abc" (0, all of the node's
                                            * memory, is one); "" when none */
} mrc_memlimit;

/** mrc_memlimit_env_from_process() : fill *env for this process: the real root, the values
 *  of SLURM_MEM_PER_NODE and SLURM_MEM_PER_CPU from the environment (the only environment read
 *  of this module; the pointers stay valid while the environment is not changed), and the soft
 *  RLIMIT_AS. */
void mrc_memlimit_env_from_process(mrc_memlimit_env *env, unsigned ranks_on_node, unsigned cpus,
                                   unsigned threads);

/** mrc_memlimit_detect() : the budget of this rank from the smallest of these sources, each
 *  for this rank:
 *  - the cgroup limit of the process (v2 memory.max; v1 memory/.../memory.limit_in_bytes, for
 *    the cgroup of /proc/self/cgroup and each of its ancestors up to the mount root, which is
 *    read alone when the cgroup's path does not exist under the mount) / ranks_on_node;
 *  - SLURM_MEM_PER_NODE / ranks_on_node; SLURM_MEM_PER_CPU x cpus (Slurm's values are MiB;
 *    a K, M, G or T suffix is accepted; 0, which Slurm uses for "all of the node", is no limit);
 *  - MemAvailable of /proc/meminfo / ranks_on_node;
 *  - RLIMIT_AS (a per-process limit, so not divided among ranks) less the address space the
 *    process has mapped already (VmSize of /proc/self/status) and MRC_MEMLIMIT_AS_PER_THREAD
 *    per thread (what a thread reserves beyond what it uses: its stack, malloc's arena),
 *    divided by MRC_MEMLIMIT_AS_SHARE.
 *  A missing file, an unreadable or malformed value, "max", or a v1 value of 2^62 or more (the
 *  kernel's "no limit") is no source, never an error. The budget is the source less the
 *  headroom (mrc_memlimit_headroom()), never below MRC_MEMLIMIT_FLOOR. No source at all:
 *  limit and source_bytes MRC_MEMLIMIT_UNLIMITED, source "none". Never fails. */
void mrc_memlimit_detect(const mrc_memlimit_env *env, mrc_memlimit *out);

/** mrc_memlimit_explicit() : record a budget the user gave (--memory-limit SIZE, INI
 *  [run] memory-limit): limit = source_bytes = bytes, no headroom, source "--memory-limit". */
void mrc_memlimit_explicit(uint64_t bytes, mrc_memlimit *out);

/** mrc_memlimit_headroom() : the bytes kept back from a detected source of source_bytes:
 *  max(10% of it, 64 MiB) (see MRC_MEMLIMIT_HEADROOM_MIN). @return that, 0 for UNLIMITED. */
uint64_t mrc_memlimit_headroom(uint64_t source_bytes);

#endif
