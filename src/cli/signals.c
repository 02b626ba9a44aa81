/* signals.c - SIGTERM/SIGINT handling for the run: the handler records the first signal in the
 * run's stop flag and removes the files this rank may be writing (PATH.tmp.PID) or has finished
 * (the result, metrics, a part): mpirun sends SIGKILL 1 s after the SIGTERM it forwards, Slurm
 * after KillWait, so nothing that waits for the main thread is sure to run. A writer whose
 * temporary vanished fails its rename, and the run stops at the next agreement. Once the run
 * succeeded on every rank, the main thread disarms the removal (a race decided by one
 * compare-and-swap: whichever comes first wins). The handler must only do async-signal-safe work.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signals.h"

#define MAX_WATCHED 8
enum { WATCH_ARMED, WATCH_REMOVED, WATCH_KEPT };

mrc_stop mrc_signal_flag;
static atomic_int watch_state; /* WATCH_ARMED until the handler or the run's success */
static char *watched[MAX_WATCHED];
static atomic_int nwatched;

void mrc_signals_remove_watched(void)
{
    int n = atomic_load_explicit(&nwatched, memory_order_acquire);
    for (int i = 0; i < n; i++)
        unlink(watched[i]);
}

static void on_signal(int sig)
{
    int saved = errno, none = 0, armed = WATCH_ARMED;
    atomic_compare_exchange_strong(&mrc_signal_flag, &none, sig);
    if (atomic_compare_exchange_strong(&watch_state, &armed, WATCH_REMOVED))
        mrc_signals_remove_watched();
    errno = saved;
}

void mrc_signals_catch(bool once)
{
    static const int sigs[] = {SIGTERM, SIGINT};
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART | (once ? SA_RESETHAND : 0);
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(sigs[i], &sa, NULL);
    /* A file past RLIMIT_FSIZE (`ulimit -f`, some batch systems) would kill the rank with
     * SIGXFSZ and leave its temporaries; ignored, the write fails with EFBIG and the run ends
     * with an error naming the file, like a full disk. */
    signal(SIGXFSZ, SIG_IGN);
}

int mrc_signals_error(mrc_err *err)
{
    memset(err, 0, sizeof *err);
    return mrc_err_set(err, MRC_EINTR, "stopped by %s",
                       mrc_signals_name(atomic_load(&mrc_signal_flag)));
}

const char *mrc_signals_name(int sig)
{
    return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "a signal";
}

void mrc_signals_watch(char *path)
{
    int n = atomic_load(&nwatched);
    if (path == NULL || n == MAX_WATCHED) {
        free(path);
        return;
    }
    watched[n] = path;
    atomic_store_explicit(&nwatched, n + 1, memory_order_release);
}

void mrc_signals_watch_made(const char *path)
{
    /* written through a descriptor (/dev/stdout, /dev/fd/N): the file behind it is the shell's
     * or the batch system's, never ours to remove */
    if (mrc_output_fd(path) >= 0) return;
    char *target = mrc_link_target(path); /* a link was written through: its target is made */
    const char *made = target != NULL ? target : path;
    struct stat st;
    if (lstat(made, &st) == 0 && S_ISREG(st.st_mode)) mrc_signals_watch(strdup(made));
    free(target);
}

bool mrc_signals_keep(void)
{
    int armed = WATCH_ARMED;
    return atomic_compare_exchange_strong(&watch_state, &armed, WATCH_KEPT);
}

int mrc_signals_exit(int sig)
{
    if (atomic_load(&mrc_signal_flag) == sig) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sigemptyset(&sa.sa_mask);
        sigaction(sig, &sa, NULL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        raise(sig);
    }
    return 128 + sig;
}
