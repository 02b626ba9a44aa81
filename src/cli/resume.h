/* resume.h - --checkpoint DIR for the run (resume.c). Private to cli/. */
#ifndef MRCOUNT_CLI_RESUME_H
#define MRCOUNT_CLI_RESUME_H

#include "run.h"

/** mrc_run_ckpt_plan() : rank 0, after discovery: DIR made or checked against this run's
 *  fingerprint (another run's: MRC_EUSAGE, exit status 2, unless --checkpoint-reset), the
 *  earlier attempts' whole manifests taken and what they do not name removed, and r->plan made
 *  of the ranges they do not cover. @return 0, or nonzero with r->err filled. */
int mrc_run_ckpt_plan(run *r);

/** mrc_run_ckpt_share() : every rank learns this attempt's generation and reopens its share of
 *  the earlier runs (manifest i goes to rank i % ranks), with their figures. Collective.
 *  @return 0, or nonzero with r->err filled (a run gone or torn names its file). */
int mrc_run_ckpt_share(run *r);

/** mrc_run_ckpt_adopt() : after the map: the earlier runs join this rank's own, and their bad
 *  records its own. @return 0 or MRC_ENOMEM. */
int mrc_run_ckpt_adopt(run *r);

/** mrc_run_ckpt_finish() : after a successful run: rank 0 removes DIR unless
 *  --keep-checkpoint. @return 0, or nonzero naming what could not be removed. */
int mrc_run_ckpt_finish(run *r);

void mrc_run_ckpt_free(run *r);

#endif
