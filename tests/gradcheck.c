#include "gradcheck.h"

#include <math.h>

#include "deepfried/rng.h"

/* Central difference of the loss in x[i]; restores x[i]. */
static double central_difference(gradcheck_loss_fn loss, void *ctx, float *x,
                                 size_t i, float eps)
{
    float saved = x[i];
    x[i] = saved + eps;
    double up = loss(ctx);
    x[i] = saved - eps;
    double down = loss(ctx);
    x[i] = saved;
    /* use the step actually taken in float arithmetic */
    double h = (double)(saved + eps) - (double)(saved - eps);
    return (up - down) / h;
}

double gradcheck(gradcheck_loss_fn loss, void *ctx, float *x,
                 const float *grad, size_t n, size_t max_checks, float eps,
                 double floor)
{
    double worst = 0.0;
    size_t stride = n <= max_checks ? 1 : n / max_checks;
    for (size_t i = 0; i < n; i += stride) {
        double numeric = central_difference(loss, ctx, x, i, eps);
        double analytic = grad[i];
        double scale = fabs(analytic) + fabs(numeric);
        double err = fabs(analytic - numeric) / (scale > floor ? scale : floor);
        if (err > worst)
            worst = err;
    }
    return worst;
}

double gradcheck_norm(gradcheck_loss_fn loss, void *ctx, float *x,
                      const float *grad, size_t n, size_t max_checks, float eps)
{
    double diff2 = 0.0, a2 = 0.0, f2 = 0.0;
    size_t stride = n <= max_checks ? 1 : n / max_checks;
    for (size_t i = 0; i < n; i += stride) {
        double numeric = central_difference(loss, ctx, x, i, eps), analytic = grad[i];
        diff2 += (analytic - numeric) * (analytic - numeric);
        a2 += analytic * analytic;
        f2 += numeric * numeric;
    }
    double denom = sqrt(a2) + sqrt(f2);
    return denom > 0 ? sqrt(diff2) / denom : 0.0;
}

void fill_uniform(float *x, size_t n, float lo, float hi, uint64_t key)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * df_rng_uniform(key, i);
}

double dot_double(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}
