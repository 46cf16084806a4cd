/* mkdir -p for the run and checkpoint directories. */
#ifndef DEEPFRIED_MAKE_DIRS_H
#define DEEPFRIED_MAKE_DIRS_H

#include "deepfried/error.h"

/* Creates dir and its missing parents. An existing non-directory on the
 * way fails here, before any work, not at the first file written into it.
 * what names the directory in the message ("run directory"). */
int df_make_dirs(const char *dir, const char *what, df_error *err);

#endif
