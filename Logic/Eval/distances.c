/* distances.c: argument checks and the squared distances between rows that neighbours.c and kid.c build on. */
#include "eval_internal.h"

#include "mg_kernels.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#ifdef _OPENMP
#include <omp.h>
#endif

mg_status eval_refuse(char *err, size_t err_size, const char *fmt, ...) {
  if (err && err_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
  }
  return MG_ERR_INVALID_ARGUMENT;
}

mg_status eval_check_set(const char *fn, const char *name, const float *rows, int n, int min_n, int dim, char *err,
                         size_t err_size) {
  if (!rows) return eval_refuse(err, err_size, "%s: %s is NULL", fn, name);
  if (n < min_n) return eval_refuse(err, err_size, "%s: %s has %d rows, needs at least %d", fn, name, n, min_n);
  if (dim < 1 || dim > MG_EVAL_MAX_DIM)
    return eval_refuse(err, err_size, "%s: dim is %d, must be 1 to %d", fn, dim, MG_EVAL_MAX_DIM);
  return MG_OK;
}

void eval_sq_norms(const float *x, int n, int dim, double *out) {
#pragma omp parallel for schedule(static) if ((int64_t)n * dim >= (1 << 16))
  for (int i = 0; i < n; i++) {
    const float *row = x + (int64_t)i * dim;
    double acc = 0;
    for (int d = 0; d < dim; d++) acc += (double)row[d] * row[d];
    out[i] = acc;
  }
}

bool eval_all_finite(const double *v, int n) {
  for (int i = 0; i < n; i++)
    if (!isfinite(v[i])) return false;
  return true;
}

double eval_sq_distance(const float *a, const float *b, int dim) {
  double acc = 0;
  for (int d = 0; d < dim; d++) {
    double diff = (double)a[d] - b[d];
    acc += diff * diff;
  }
  return acc;
}

int eval_block_rows(int n_ref) {
  int rows = (int)((8 << 20) / (n_ref > 0 ? n_ref : 1)); /* 8 Mi floats */
  return rows < 16 ? 16 : rows > 256 ? 256 : rows;
}

void eval_dots(const float *q, int bm, const float *ref, int n_ref, int dim, float *dots) {
  const mg_kernels *k = mg_cpu_kernels();
  /* the caller's OpenMP thread count, and OpenBLAS single-threaded (as a context sets it), so the GEMM's tiles
   * give the same bits whether or not a context was made first */
#ifdef _OPENMP
  k->set_threads(omp_get_max_threads());
#else
  k->set_threads(1);
#endif
  k->gemm(0, 1, bm, n_ref, dim, 1.0f, q, dim, ref, dim, 0.0f, dots, n_ref);
}
