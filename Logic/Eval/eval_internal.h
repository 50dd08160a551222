/* eval_internal.h: what the metric files share: argument refusals, and squared distances between rows from the
 * kernels' GEMM with a bound on their rounding error, so callers can settle close calls exactly in double. */
#ifndef MG_EVAL_INTERNAL_H
#define MG_EVAL_INTERNAL_H

#include "mg_eval.h"

#include <stdbool.h>
#include <stddef.h>

/* Writes the message (printf-style) to err and returns MG_ERR_INVALID_ARGUMENT. */
mg_status eval_refuse(char *err, size_t err_size, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Checks one set of feature vectors: rows non-NULL (named `name` in the message, within function `fn`), n >= min_n,
 * dim in 1..MG_EVAL_MAX_DIM. */
#define MG_EVAL_MAX_DIM 4096
mg_status eval_check_set(const char *fn, const char *name, const float *rows, int n, int min_n, int dim, char *err,
                         size_t err_size);

/* Squared Euclidean norm of each of n rows, in double. */
void eval_sq_norms(const float *x, int n, int dim, double *out);
/* Whether all n values are finite (a NaN or Inf in a row makes its squared norm so). */
bool eval_all_finite(const double *v, int n);
/* Squared distance between two rows, in double: the exact value the approximate ones are settled against. */
double eval_sq_distance(const float *a, const float *b, int dim);
/* Rows of queries per block, so one block of distances to n_ref rows stays near 32 MiB. Depends on n_ref only. */
int eval_block_rows(int n_ref);
/* dots[i * n_ref + j] = q_i . ref_j for bm query rows (row-major, dim columns), through the CPU kernels' GEMM,
 * which is bit-identical for any thread count. */
void eval_dots(const float *q, int bm, const float *ref, int n_ref, int dim, float *dots);
/* A bound on |(qn + rn - 2 dot) - |q - r|^2| when dot comes from a float GEMM: (dim + 1) float roundings of
 * |q||r| <= (qn + rn) / 2, doubled, with room for the double rounding of the sum. */
static inline double eval_sq_distance_margin(int dim, double qn, double rn) {
  return (dim + 2) * 0x1p-24 * (qn + rn);
}

#endif
