/* compare_params A B TOL: compares two raw float32 parameter dumps
 * (deepfried train --dump-params). Prints the norm-wise relative difference
 * ||a - b|| / ||a|| and exits 0 when it is <= TOL, 1 when larger, 2 when the
 * files cannot be compared. With --differ, exits 0 only when they differ by
 * more than TOL (0: differ at all). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *read_floats(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "compare_params: %s: cannot open\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    rewind(f);
    if (bytes <= 0 || bytes % 4 != 0) {
        fprintf(stderr, "compare_params: %s: %ld bytes is no float32 dump\n", path, bytes);
        fclose(f);
        return NULL;
    }
    *n = (size_t)bytes / 4;
    float *v = malloc((size_t)bytes);
    if (!v || fread(v, 4, *n, f) != *n) {
        fprintf(stderr, "compare_params: %s: read failed\n", path);
        free(v);
        v = NULL;
    }
    fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    int differ = argc == 5 && !strcmp(argv[4], "--differ");
    if (argc != 4 && !differ) {
        fprintf(stderr, "usage: compare_params A B TOL [--differ]\n");
        return 2;
    }
    size_t na = 0, nb = 0;
    float *a = read_floats(argv[1], &na), *b = read_floats(argv[2], &nb);
    if (!a || !b || na != nb) {
        if (a && b)
            fprintf(stderr, "compare_params: %zu vs %zu floats\n", na, nb);
        free(a);
        free(b);
        return 2;
    }
    double diff2 = 0, a2 = 0, worst = 0;
    for (size_t i = 0; i < na; i++) {
        double d = (double)a[i] - b[i];
        diff2 += d * d;
        a2 += (double)a[i] * a[i];
        if (fabs(d) > worst)
            worst = fabs(d);
    }
    double rel = a2 > 0 ? sqrt(diff2 / a2) : sqrt(diff2);
    double tol = atof(argv[3]);
    printf("%zu parameters: relative difference %.3g (max abs %.3g), tolerance %g\n",
           na, rel, worst, tol);
    free(a);
    free(b);
    if (differ)
        return rel > tol ? 0 : 1;
    return rel <= tol ? 0 : 1;
}
