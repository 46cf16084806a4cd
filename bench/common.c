/* See common.h. */
#include "common.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deepfried/fwht.h"

static clockid_t bench_clock = CLOCK_MONOTONIC;

void bench_use_cpu_time(int on)
{
    bench_clock = on ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
}

double bench_now_ns(void)
{
    struct timespec t;
    clock_gettime(bench_clock, &t);
    return 1e9 * (double)t.tv_sec + (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static volatile double sink;

void bench_sink(double v)
{
    sink += v;
}

/* First line of /proc/cpuinfo starting with key, value copied to out. */
static void cpuinfo_value(const char *key, char *out, size_t size)
{
    snprintf(out, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, key, strlen(key)) == 0 && colon) {
            colon += 1 + (colon[1] == ' ');
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(out, size, "%s", colon);
            break;
        }
    }
    fclose(f);
}

static const char *env_or_unset(const char *name)
{
    const char *v = getenv(name);
    return v ? v : "(unset)";
}

void bench_print_header(const char *program)
{
    char model[256], family[32], cpu_model[32], load[128] = "unknown";
    cpuinfo_value("model name", model, sizeof model);
    cpuinfo_value("cpu family", family, sizeof family);
    cpuinfo_value("model\t", cpu_model, sizeof cpu_model);
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fgets(load, sizeof load, f))
            load[strcspn(load, "\n")] = '\0';
        fclose(f);
    }
    char date[64];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", localtime(&now));

    printf("# %s, %s\n", program, date);
    printf("# CPU: %s (family %s, model %s); load average at start: %s\n", model,
           family, cpu_model, load);
    printf("# FWHT path: %s\n", df_fwht_path());
    printf("# OpenBLAS: core %s, %d thread(s); OPENBLAS_CORETYPE=%s "
           "OPENBLAS_NUM_THREADS=%s OMP_NUM_THREADS=%s\n",
           openblas_get_corename(), openblas_get_num_threads(),
           env_or_unset("OPENBLAS_CORETYPE"), env_or_unset("OPENBLAS_NUM_THREADS"),
           env_or_unset("OMP_NUM_THREADS"));
    printf("# compiler: %s; clock: %s\n", __VERSION__,
           bench_clock == CLOCK_MONOTONIC ? "wall (CLOCK_MONOTONIC)"
                                          : "this thread's CPU time (CLOCK_THREAD_CPUTIME_ID)");
}
