#include "core/make_dirs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* path: the component that failed; dir: the directory asked for, named
 * too when it is not the same (a plain file on the way). */
static int fail_dir(df_error *err, const char *path, const char *dir, const char *what,
                    int errnum)
{
    int same = strcmp(path, dir) == 0;
    return df_fail(err, DF_ESYS, "%s: cannot create the %s%s%s: %s", path, what,
                   same ? "" : " ", same ? "" : dir, strerror(errnum));
}

/* The path is copied whole (callers' paths are bounded by the config's
 * DF_PATH_MAX, which core does not know). */
int df_make_dirs(const char *dir, const char *what, df_error *err)
{
    char *buf = strdup(dir);
    if (!buf)
        return df_fail(err, DF_ENOMEM, "%s: out of memory creating the %s", dir, what);
    int rc = DF_OK;
    for (char *p = buf + 1; rc == DF_OK; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        struct stat st;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            rc = fail_dir(err, buf, dir, what, errno);
        else if (stat(buf, &st) != 0)
            rc = fail_dir(err, buf, dir, what, errno);
        else if (!S_ISDIR(st.st_mode))
            rc = fail_dir(err, buf, dir, what, ENOTDIR);
        *p = c;
        if (c == '\0')
            break;
    }
    free(buf);
    return rc;
}
