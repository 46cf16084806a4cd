#include "make_dirs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "deepfried/config.h"

static int fail_dir(df_error *err, const char *path, const char *what, int errnum)
{
    return df_fail(err, DF_ESYS, "%s: cannot create the %s: %s", path, what, strerror(errnum));
}

int df_make_dirs(const char *dir, const char *what, df_error *err)
{
    char buf[DF_PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return df_fail(err, DF_EINPUT, "%s: %s path too long", dir, what);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        struct stat st;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return fail_dir(err, buf, what, errno);
        if (stat(buf, &st) != 0)
            return fail_dir(err, buf, what, errno);
        if (!S_ISDIR(st.st_mode))
            return fail_dir(err, buf, what, ENOTDIR);
        *p = c;
        if (c == '\0')
            return DF_OK;
    }
}
