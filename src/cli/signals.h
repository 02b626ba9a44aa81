/* signals.h - SIGTERM and SIGINT for the run of main.c: the one stop flag they raise, and the
 * files of this rank that a stopped or failed run removes. Private to cli/. */
#ifndef MRCOUNT_CLI_SIGNALS_H
#define MRCOUNT_CLI_SIGNALS_H

#include <stdbool.h>

#include "mrcount/common.h"

/* The run's stop flag: the signal number once a signal came (0 before). */
extern mrc_stop mrc_signal_flag;

/** mrc_signals_catch() : catch SIGTERM and SIGINT, unless they are ignored (a script's
 *  background job keeps ignoring SIGINT, as the shell meant). once: only the first signal
 *  is caught and a second one takes its default action (during MPI start-up, which waits on
 *  the launcher and never checks the flag: a second Ctrl-C still ends a start-up that hangs);
 *  called again without it afterwards. */
void mrc_signals_catch(bool once);

/** mrc_signals_error() : err := "stopped by SIGTERM" (MRC_EINTR): a signalled rank's cause is
 *  the signal, whatever the work it cut short reported. @return MRC_EINTR. */
int mrc_signals_error(mrc_err *err);

/** mrc_signals_name() : "SIGTERM", "SIGINT" or "a signal". */
const char *mrc_signals_name(int sig);

/** mrc_signals_watch() : add a file of this rank (owning path; NULL is ignored) to those a
 *  failed or stopped run removes: a temporary it may write (PATH.tmp.PID: nobody else writes
 *  that name), or a file it finished. */
void mrc_signals_watch(char *path);

/** mrc_signals_watch_made() : watch a file this rank put in place, if it is a regular file (a
 *  device or a FIFO stays, and "-" or a descriptor's path such as /dev/stdout names none of
 *  ours; for a symbolic link, the target it was written through). */
void mrc_signals_watch_made(const char *path);

/** mrc_signals_remove_watched() : remove every watched file (async-signal-safe). */
void mrc_signals_remove_watched(void);

/** mrc_signals_keep() : the run succeeded on every rank: keep its files. @return false if a
 *  signal came first and the handler removed them (a race one compare-and-swap decides). */
bool mrc_signals_keep(void);

/** mrc_signals_exit() : the conventional end of a run that signal `sig` stopped: a signalled
 *  process dies of its signal (its parent sees 128 + sig, and a shell running it in a script
 *  stops there too); other ranks return 128 + sig. */
int mrc_signals_exit(int sig);

#endif
