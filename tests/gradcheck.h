/* Finite-difference gradient checks (the kann habit: every operator's
 * backward is checked against central differences of its forward). */
#ifndef TESTS_GRADCHECK_H
#define TESTS_GRADCHECK_H

#include <stddef.h>
#include <stdint.h>

/* Recomputes the scalar loss from the current contents of the tensors. */
typedef double (*gradcheck_loss_fn)(void *ctx);

/* For up to max_checks entries of x (all if n <= max_checks, else a
 * deterministic spread), compares the analytic grad[i] with
 * (loss(x_i + eps) - loss(x_i - eps)) / (2 eps). Restores x. Returns the
 * largest error |a - f| / max(|a| + |f|, floor). */
double gradcheck(gradcheck_loss_fn loss, void *ctx, float *x,
                 const float *grad, size_t n, size_t max_checks, float eps,
                 double floor);

/* The same comparison over the whole checked set at once:
 * ||a - f|| / (||a|| + ||f||). Robust to the odd entry whose step crosses
 * a ReLU or max-pool kink; a wrong gradient still gives order one. */
double gradcheck_norm(gradcheck_loss_fn loss, void *ctx, float *x,
                      const float *grad, size_t n, size_t max_checks, float eps);

/* Deterministic test data: uniform in [lo, hi) from a counter-based key. */
void fill_uniform(float *x, size_t n, float lo, float hi, uint64_t key);

/* sum_i a[i] * b[i] in double: the projection loss L = <out, R> whose
 * gradient with respect to out is R. */
double dot_double(const float *a, const float *b, size_t n);

#endif
