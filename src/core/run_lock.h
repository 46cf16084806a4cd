/* One trainer per run directory: an advisory lock (flock) on a file in
 * it, held while the run lasts and released by the kernel when the
 * process ends, however it ends (kill -9 leaves no stale lock). */
#ifndef DEEPFRIED_RUN_LOCK_H
#define DEEPFRIED_RUN_LOCK_H

#include "deepfried/error.h"

#define DF_RUN_LOCK_NAME "deepfried.lock"

/* Takes dir/deepfried.lock without waiting and writes who holds it (pid,
 * host, time) into it; *fd keeps it. Held by another process: DF_EINPUT
 * with a message naming the holder and what to do, and nothing in dir is
 * changed. */
int df_run_lock(const char *dir, int *fd, df_error *err);
/* Releases it (fd < 0: nothing). */
void df_run_unlock(int fd);

#endif
