/* SVD through LAPACK's sgesdd (divide and conquer), called as the Fortran
 * routine: Debian's OpenBLAS exports it, and it has no LAPACKE. Fortran is
 * column-major; see df_svd for how the row-major matrices map onto it. */
#include "deepfried/svd.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK: A (m,n) column-major = U diag(S) VT. The trailing size_t is the
 * hidden length of the jobz string that gfortran-built LAPACK expects (what
 * LAPACKE passes as LAPACK_FORTRAN_STRLEN_END). */
extern void sgesdd_(const char *jobz, const int *m, const int *n, float *a,
                    const int *lda, float *s, float *u, const int *ldu,
                    float *vt, const int *ldvt, float *work, const int *lwork,
                    int *iwork, int *info, size_t jobz_len);

static int all_finite(const float *a, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!isfinite(a[i]))
            return 0;
    return 1;
}

/* Row-major a (m,n) is column-major a^T (n,m). LAPACK factors
 * a^T = U' S V'^T, so a = V' S U'^T: our u (m,r) row-major is V' (m,r),
 * which is exactly LAPACK's VT' (r,m) column-major with ldvt = r, and our
 * vt (r,n) row-major is U'^T, exactly LAPACK's U' (n,r) column-major with
 * ldu = n. So LAPACK writes straight into the caller's buffers. */
int df_svd(const float *a, int m, int n, float *u, float *s, float *vt,
           df_error *err)
{
    if (m < 1 || n < 1)
        return df_fail(err, DF_EINPUT, "SVD of a %dx%d matrix: dimensions must be >= 1", m, n);
    size_t count;
    if (df_mul_size((size_t)m, (size_t)n, &count) != 0 || count > (size_t)INT_MAX)
        return df_fail(err, DF_EINPUT, "SVD of a %dx%d matrix: too large for LAPACK", m, n);
    if (!all_finite(a, count))
        return df_fail(err, DF_ENUMERIC, "SVD of a %dx%d matrix: it holds NaN or Inf", m, n);
    int r = m < n ? m : n;
    int fm = n, fn = m, lda = n, ldu = n, ldvt = r, lwork = -1, info = 0;
    float query = 0;
    int *iwork = df_calloc(8 * (size_t)r, sizeof(int), err);
    float *work_a = df_calloc(count, sizeof(float), err);  /* sgesdd destroys A */
    if (!iwork || !work_a) {
        free(iwork);
        free(work_a);
        return df_fail(err, DF_ENOMEM, "SVD of a %dx%d matrix: out of memory", m, n);
    }
    memcpy(work_a, a, count * sizeof(float));
    /* workspace query first: lwork = -1 returns the optimal size in work[0] */
    sgesdd_("S", &fm, &fn, work_a, &lda, s, vt, &ldu, u, &ldvt, &query, &lwork,
            iwork, &info, 1);
    float *work = NULL;
    if (info == 0) {
        /* the size comes back as a float: round up, with a little margin
         * for sizes a float cannot hold exactly */
        double want = ceil((double)query * (1.0 + 1e-6)) + 1.0;
        lwork = want > (double)INT_MAX ? INT_MAX : (int)want;
        work = df_calloc((size_t)lwork, sizeof(float), err);
        if (!work)
            info = INT_MIN;
    }
    if (work)
        sgesdd_("S", &fm, &fn, work_a, &lda, s, vt, &ldu, u, &ldvt, work, &lwork,
                iwork, &info, 1);
    free(work);
    free(work_a);
    free(iwork);
    if (info == INT_MIN)
        return df_fail(err, DF_ENOMEM, "SVD of a %dx%d matrix: out of memory for the workspace",
                       m, n);
    if (info > 0)
        return df_fail(err, DF_ENUMERIC, "SVD of a %dx%d matrix: LAPACK sgesdd did not converge "
                       "(info %d)", m, n, info);
    if (info < 0)   /* an argument we passed is wrong: a bug here */
        return df_fail(err, DF_ENUMERIC, "SVD of a %dx%d matrix: LAPACK sgesdd rejected "
                       "argument %d", m, n, -info);
    return DF_OK;
}

/* ||w - left right||_F / ||w||_F, the product in float (SGEMM), the norms
 * in double. */
static int measure_error(const float *w, const float *left, const float *right,
                         int m, int n, int k, double *rel, df_error *err)
{
    float *approx = df_calloc((size_t)m * (size_t)n, sizeof(float), err);
    if (!approx)
        return df_fail(err, DF_ENOMEM, "out of memory measuring the approximation error");
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, left, k,
                right, n, 0.0f, approx, n);
    double diff = 0, norm = 0;
    for (size_t i = 0; i < (size_t)m * n; i++) {
        double d = (double)w[i] - (double)approx[i];
        diff += d * d;
        norm += (double)w[i] * w[i];
    }
    free(approx);
    *rel = norm > 0 ? sqrt(diff / norm) : 0.0;
    return DF_OK;
}

int df_svd_low_rank(const float *w, int m, int n, int k, float *left,
                    float *right, df_svd_report *report, df_error *err)
{
    int r = m < n ? m : n;
    if (m < 1 || n < 1 || k < 1 || k > r)
        return df_fail(err, DF_EINPUT, "rank %d for a %dx%d matrix: must be between 1 and %d",
                       k, m, n, r > 0 ? r : 0);
    float *u = df_calloc((size_t)m * r, sizeof(float), err);
    float *s = df_calloc((size_t)r, sizeof(float), err);
    float *vt = df_calloc((size_t)r * n, sizeof(float), err);
    int rc = u && s && vt ? df_svd(w, m, n, u, s, vt, err)
                          : df_fail(err, DF_ENOMEM, "SVD of a %dx%d matrix: out of memory", m, n);
    if (rc == DF_OK) {
        /* sqrt(S) into each factor: the two layers then have weights of
         * the same scale. That is where weight decay, which fine-tuning
         * applies to both, would drive any other split (for a fixed
         * product, |L|^2 + |R|^2 is smallest when balanced), and it gives
         * both factors gradients of comparable size under one learning
         * rate; putting all of S on one side would make the other side's
         * gradient scale with S. */
        for (int j = 0; j < k; j++) {
            float root = sqrtf(s[j]);
            for (int i = 0; i < m; i++)
                left[(size_t)i * k + j] = u[(size_t)i * r + j] * root;
            for (int c = 0; c < n; c++)
                right[(size_t)j * n + c] = root * vt[(size_t)j * n + c];
        }
    }
    if (rc == DF_OK && report) {
        /* the discarded energy summed on its own, not as total - kept,
         * which would lose it to cancellation when k is near r */
        double kept = 0, dropped = 0;
        for (int i = 0; i < r; i++)
            *(i < k ? &kept : &dropped) += (double)s[i] * s[i];
        double total = kept + dropped;
        report->m = m;
        report->n = n;
        report->k = k;
        report->sigma_first = s[0];
        report->sigma_k = s[k - 1];
        report->sigma_next = k < r ? s[k] : 0.0;
        report->energy_kept = total > 0 ? kept / total : 1.0;
        report->rel_error_sv = total > 0 ? sqrt(dropped / total) : 0.0;
        rc = measure_error(w, left, right, m, n, k, &report->rel_error, err);
    }
    free(u);
    free(s);
    free(vt);
    return rc;
}
