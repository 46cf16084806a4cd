/* FWHT: the reference equals the explicit Hadamard matrix; every path this
 * CPU runs (avx512, avx2, portable, and df_fwht_rows's own choice) equals
 * the reference for every size the layer uses, any row count, aligned or
 * not; DEEPFRIED_FWHT picks the path. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deepfried/fwht.h"
#include "gradcheck.h"

static int hadamard_entry(size_t i, size_t j)
{
    return (__builtin_popcountll(i & j) & 1) ? -1 : 1;
}

static void reference_equals_explicit_hadamard_matrix(void **state)
{
    (void)state;
    for (size_t d = 1; d <= 512; d *= 2) {
        float *x = malloc(d * sizeof *x);
        double *want = malloc(d * sizeof *want);
        fill_uniform(x, d, -1.0f, 1.0f, 100 + d);
        for (size_t i = 0; i < d; i++) {
            want[i] = 0;
            for (size_t j = 0; j < d; j++)
                want[i] += hadamard_entry(i, j) * (double)x[j];
        }
        df_fwht_reference(x, d);
        for (size_t i = 0; i < d; i++)
            assert_true(fabs(x[i] - want[i]) <= 1e-5 * (1 + sqrt((double)d)));
        free(x);
        free(want);
    }
}

/* rows vectors of length d through `rows_fn`, starting `offset` floats
 * into the buffer (offset 1: not 16-byte aligned), against the reference. */
static void check_rows_against_reference(df_fwht_rows_fn rows_fn, size_t d,
                                         size_t rows, size_t offset)
{
    const size_t n = rows * d;
    float *buf = malloc((n + offset) * sizeof *buf);
    float *ref = malloc(n * sizeof *ref);
    float *x = buf + offset;
    fill_uniform(x, n, -1.0f, 1.0f, 7 + d + 1000 * rows);
    memcpy(ref, x, n * sizeof *ref);
    for (size_t r = 0; r < rows; r++)
        df_fwht_reference(ref + r * d, d);
    rows_fn(x, rows, d);
    /* Different summation order: allow float rounding that grows
     * with log2 d levels of values of size up to sqrt(d). */
    double tol = 1e-6 * sqrt((double)d) * (1 + log2((double)d));
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(x[i] - ref[i]);
        worst = e > worst ? e : worst;
    }
    if (worst > tol)
        fail_msg("d = %zu, rows = %zu, offset %zu: error %g > %g", d, rows,
                 offset, worst, tol);
    free(buf);
    free(ref);
}

static void check_path_up_to_2_16(df_fwht_rows_fn rows_fn)
{
    for (size_t d = 1; d <= (1u << 16); d *= 2) {
        check_rows_against_reference(rows_fn, d, 1, 0);
        check_rows_against_reference(rows_fn, d, 3, 1);
        check_rows_against_reference(rows_fn, d, d <= 4096 ? 64 : 2, 0);
    }
}

static void fast_path_equals_reference_up_to_2_16(void **state)
{
    (void)state;
    check_path_up_to_2_16(df_fwht_rows);
}

static void every_available_path_equals_reference_up_to_2_16(void **state)
{
    (void)state;
    const char *const *paths = df_fwht_paths_available();
    for (size_t i = 0; paths[i]; i++) {
        df_fwht_rows_fn fn = df_fwht_rows_for(paths[i]);
        assert_non_null(fn);
        check_path_up_to_2_16(fn);
    }
}

static int is_available(const char *name)
{
    const char *const *paths = df_fwht_paths_available();
    for (size_t i = 0; paths[i]; i++)
        if (strcmp(paths[i], name) == 0)
            return 1;
    return 0;
}

static void paths_list_portable_and_reference_last(void **state)
{
    (void)state;
    const char *const *paths = df_fwht_paths_available();
    size_t n = 0;
    while (paths[n])
        n++;
    assert_true(n >= 2);
    assert_string_equal(paths[n - 2], "portable");
    assert_string_equal(paths[n - 1], "reference");
    assert_true(is_available(df_fwht_path_name()));
    assert_null(df_fwht_rows_for("no-such-path"));
    if (!getenv("DEEPFRIED_FWHT"))   /* automatic: the fastest available */
        assert_string_equal(df_fwht_path_name(), paths[0]);
    assert_non_null(strstr(df_fwht_path(), df_fwht_path_name()));
}

/* The choice is made once per process, so ask a fresh one: this program
 * run again with DEEPFRIED_FWHT=value and --print-path (see main). True if
 * it runs `expect` and df_fwht_path() there contains `note`. */
static int fresh_process_chooses(const char *value, const char *expect,
                                 const char *note)
{
    /* the binary's own path: under valgrind /proc/self/exe names valgrind */
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        return 0;
    self[len] = '\0';
    int fd[2];
    if (pipe(fd) != 0)
        return 0;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        setenv("DEEPFRIED_FWHT", value, 1);
        execl(self, "test_fwht", "--print-path", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char out[512] = {0};
    size_t got = 0;
    ssize_t r;
    while (got < sizeof out - 1 && (r = read(fd[0], out + got, sizeof out - 1 - got)) > 0)
        got += (size_t)r;
    close(fd[0]);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return 0;
    /* out: "<name>\n<description>\n" */
    char *nl = strchr(out, '\n');
    if (!nl)
        return 0;
    *nl = '\0';
    return strcmp(out, expect) == 0 && strstr(nl + 1, note) != NULL;
}

static void env_variable_picks_the_path_or_falls_back(void **state)
{
    (void)state;
    const char *const *paths = df_fwht_paths_available();
    for (size_t i = 0; paths[i]; i++)
        assert_true(fresh_process_chooses(paths[i], paths[i], "set by DEEPFRIED_FWHT"));
    assert_true(fresh_process_chooses("bogus", paths[0], "not a path"));
    const char *const all[] = {"avx512", "avx2"};
    for (size_t i = 0; i < 2; i++)
        if (!is_available(all[i]))   /* compiled out or not on this CPU */
            assert_true(fresh_process_chooses(all[i], paths[0], "DEEPFRIED_FWHT="));
}

static void transform_twice_is_d_times_identity(void **state)
{
    (void)state;
    const size_t d = 4096;
    float *x = malloc(d * sizeof *x), *y = malloc(d * sizeof *y);
    fill_uniform(x, d, -1.0f, 1.0f, 3);
    memcpy(y, x, d * sizeof *y);
    df_fwht_rows(y, 1, d);
    df_fwht_rows(y, 1, d);
    for (size_t i = 0; i < d; i++)
        assert_true(fabs(y[i] / (double)d - x[i]) < 1e-5);
    free(x);
    free(y);
}

static void power_of_two_helpers(void **state)
{
    (void)state;
    assert_true(df_is_pow2(1) && df_is_pow2(1024));
    assert_false(df_is_pow2(0) || df_is_pow2(800));
    assert_int_equal(df_next_pow2(800), 1024);
    assert_int_equal(df_next_pow2(1024), 1024);
    assert_int_equal(df_next_pow2(1), 1);
    assert_int_equal(df_next_pow2(9216), 16384);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--print-path") == 0) {
        printf("%s\n%s\n", df_fwht_path_name(), df_fwht_path());
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reference_equals_explicit_hadamard_matrix),
        cmocka_unit_test(fast_path_equals_reference_up_to_2_16),
        cmocka_unit_test(every_available_path_equals_reference_up_to_2_16),
        cmocka_unit_test(paths_list_portable_and_reference_last),
        cmocka_unit_test(env_variable_picks_the_path_or_falls_back),
        cmocka_unit_test(transform_twice_is_d_times_identity),
        cmocka_unit_test(power_of_two_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
