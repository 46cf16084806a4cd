/* Singular value decomposition (LAPACK's sgesdd) and the truncated
 * factorisation W ~ L R that `deepfried compress` puts in place of a dense
 * layer (paper Section 7: SVD of a trained layer, then fine-tuning).
 * All matrices are row-major float, as the dense layer stores its weight. */
#ifndef DEEPFRIED_SVD_H
#define DEEPFRIED_SVD_H

#include "deepfried/error.h"

/* Thin SVD a (m,n) = u (m,r) diag(s) vt (r,n), r = min(m, n), singular
 * values s (r) descending and >= 0. a is not modified. Returns DF_ENOMEM,
 * DF_EINPUT for bad dimensions, DF_ENUMERIC when LAPACK does not converge
 * (or a holds NaN/Inf). */
int df_svd(const float *a, int m, int n, float *u, float *s, float *vt,
           df_error *err);

/* How good a rank-k truncation is. */
typedef struct df_svd_report {
    int m, n, k;
    double sigma_first, sigma_k, sigma_next; /* s[0], s[k-1], s[k] (0 if k = r) */
    double rel_error;       /* ||W - L R||_F / ||W||_F, measured in double */
    double rel_error_sv;    /* sqrt(sum_{i>=k} s_i^2 / sum_i s_i^2): the
                               Eckart-Young optimum that rel_error should equal */
    double energy_kept;     /* sum_{i<k} s_i^2 / sum_i s_i^2 */
} df_svd_report;

/* Rank-k factors of w (m,n): left (m,k) = U_k sqrt(S_k) and right (k,n) =
 * sqrt(S_k) V_k^T, so left * right is the best rank-k approximation of w
 * in the Frobenius norm. 1 <= k <= min(m, n). report may be NULL. */
int df_svd_low_rank(const float *w, int m, int n, int k, float *left,
                    float *right, df_svd_report *report, df_error *err);

#endif
