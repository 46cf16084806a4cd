#include "run_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "deepfried/error.h"

/* What the holder wrote, on one line, for the refusal message. */
static void read_holder(int fd, char *buf, size_t cap)
{
    ssize_t n = pread(fd, buf, cap - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
}

static int refuse(const char *dir, const char *path, int fd, df_error *err)
{
    char holder[256];
    read_holder(fd, holder, sizeof holder);
    close(fd);
    return df_fail(err, DF_EINPUT,
                   "run directory %s is in use by another trainer (%s; lock %s): two jobs were "
                   "given the same run.dir, or a launcher deepfried does not recognise started "
                   "independent one-rank trainers (under Slurm use srun --mpi=pmix, not "
                   "--mpi=none; or mpirun). Give this run its own --set run.dir=DIR, or wait "
                   "for the other to end", dir, holder[0] ? holder : "holder unknown", path);
}

int df_run_lock(const char *dir, int *fd_out, df_error *err)
{
    char path[4200];
    *fd_out = -1;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, DF_RUN_LOCK_NAME) >= sizeof path)
        return df_fail(err, DF_EINPUT, "%s: run directory path too long", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return df_fail(err, DF_ESYS, "%s: cannot open the run directory's lock: %s", path,
                       strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            return refuse(dir, path, fd, err);
        int e = errno;
        close(fd);
        return df_fail(err, DF_ESYS, "%s: cannot lock the run directory: %s", path,
                       strerror(e));
    }
    char host[64] = "unknown host", when[32] = "", line[200];
    gethostname(host, sizeof host - 1);
    time_t now = time(NULL);
    struct tm utc;
    if (gmtime_r(&now, &utc))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &utc);
    int len = snprintf(line, sizeof line, "pid %ld on %s since %s\n", (long)getpid(), host,
                       when);
    /* best effort: the lock, not its text, is what excludes */
    if (ftruncate(fd, 0) == 0 && pwrite(fd, line, (size_t)len, 0) < 0)
        (void)0;
    *fd_out = fd;
    return DF_OK;
}

void df_run_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}
