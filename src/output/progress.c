/* progress.c - rank 0's progress bar on stderr (bytes done of the total, MB/s, ETA, ranks still
 * mapping), and whether stderr reaches a terminal at all, so batch jobs get no bar unless asked
 * (and, asked, lines a log can hold rather than a bar redrawn with carriage returns).
 * It only draws: what to draw and when comes from the caller. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mrcount/output.h"

void mrc_progress_draw(FILE *f, uint64_t done, uint64_t total, uint64_t mapping, double seconds,
                       bool final, bool lines)
{
    double frac = total > 0 ? (double)done / (double)total : 1.0;
    if (frac > 1.0) frac = 1.0;
    double rate = seconds > 0 ? (double)done / seconds / 1e6 : 0.0;
    double eta = rate > 0 ? ((double)total - (double)done) / 1e6 / rate : 0.0;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    char eta_s[32] = "ETA --"; /* nothing done yet: no rate to tell it from */
    if (rate > 0 || done >= total) snprintf(eta_s, sizeof eta_s, "ETA %.0fs", eta < 0 ? 0 : eta);
    fprintf(f, "%s[%s] %5.1f%% %.1f/%.1f MB %.0f MB/s %s ranks mapping %llu%s",
            lines ? "mrcount: " : "\r", bar, frac * 100, (double)done / 1e6, (double)total / 1e6,
            rate, eta_s, (unsigned long long)mapping,
            lines   ? "\n"
            : final ? "  \n"
                    : "  "); /* a bar: over a longer last frame */
    fflush(f);
}

bool mrc_progress_terminal(void)
{
    if (isatty(2)) return true;
    /* Under mpirun stderr is never a terminal itself: Open MPI gives each rank a pipe to mpirun,
     * whatever mpirun's own stderr is. So, launched by Open MPI, ask the launcher's stderr: a
     * rank 0 launched on mpirun's node is its child (a remote rank 0's parent is orted, srun's
     * is slurmstepd: no terminal there, no bar in batch jobs). */
    if (getenv("OMPI_COMM_WORLD_SIZE") == NULL) return false;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd/2", (long)getppid());
    int fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return false;
    bool tty = isatty(fd) == 1;
    close(fd);
    return tty;
}
