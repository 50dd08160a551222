/* frechet.c: the Fréchet distance between Gaussians fitted to two sets of feature vectors. Everything after
 * reading the floats is double: means, covariances, and a cyclic Jacobi eigen-decomposition, which is slow for
 * large dims (O(dim^3) per sweep) but simple and accurate to the last bits on the small matrices of features. */
#include "eval_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_ROWS 256 /* rows centred at a time while accumulating a covariance */

/* mean[dim] and the upper triangle of cov[dim x dim] (divisor n - 1) of n rows, mirrored to the lower one. centred:
 * CHUNK_ROWS x dim doubles of scratch. Each output element is summed over the rows in order by one thread. */
static void mean_and_covariance(const float *x, int n, int dim, double *mean, double *cov, double *centred) {
  for (int d = 0; d < dim; d++) mean[d] = 0;
  for (int r = 0; r < n; r++)
    for (int d = 0; d < dim; d++) mean[d] += x[(int64_t)r * dim + d];
  for (int d = 0; d < dim; d++) mean[d] /= n;
  memset(cov, 0, (size_t)dim * dim * sizeof(double));
  for (int r0 = 0; r0 < n; r0 += CHUNK_ROWS) {
    const int rows = n - r0 < CHUNK_ROWS ? n - r0 : CHUNK_ROWS;
    for (int r = 0; r < rows; r++)
      for (int d = 0; d < dim; d++) centred[(int64_t)r * dim + d] = x[(int64_t)(r0 + r) * dim + d] - mean[d];
#pragma omp parallel for schedule(dynamic, 8) if ((int64_t)dim * dim * rows >= (1 << 18))
    for (int i = 0; i < dim; i++) {
      double *out = cov + (int64_t)i * dim;
      for (int r = 0; r < rows; r++) {
        const double *row = centred + (int64_t)r * dim, xi = row[i];
        for (int j = i; j < dim; j++) out[j] += xi * row[j];
      }
    }
  }
  for (int i = 0; i < dim; i++)
    for (int j = i; j < dim; j++) {
      cov[(int64_t)i * dim + j] /= n - 1;
      cov[(int64_t)j * dim + i] = cov[(int64_t)i * dim + j];
    }
}

/* Eigenvalues w[n] of the symmetric n x n matrix a (overwritten) and, when vt is not NULL, its eigenvectors as the
 * rows of vt: cyclic Jacobi rotations, each zeroing one off-diagonal pair, until the off-diagonal part is below
 * 1e-15 of the matrix's norm. A rotation changes rows and columns p and q; by symmetry the new columns equal the
 * new rows, so the rows are computed (contiguous in memory) and copied into the columns. */
static void jacobi_eigen(double *a, int n, double *w, double *vt) {
  if (vt) {
    memset(vt, 0, (size_t)n * n * sizeof(double));
    for (int i = 0; i < n; i++) vt[(int64_t)i * n + i] = 1;
  }
  double norm2 = 0;
  for (int64_t i = 0; i < (int64_t)n * n; i++) norm2 += a[i] * a[i];
  for (int sweep = 0; sweep < 100; sweep++) {
    double off2 = 0;
    for (int p = 0; p < n; p++)
      for (int q = p + 1; q < n; q++) off2 += 2 * a[(int64_t)p * n + q] * a[(int64_t)p * n + q];
    if (off2 <= 1e-30 * norm2) break;
    for (int p = 0; p < n; p++)
      for (int q = p + 1; q < n; q++) {
        double *row_p = a + (int64_t)p * n, *row_q = a + (int64_t)q * n;
        const double apq = row_p[q], app = row_p[p], aqq = row_q[q];
        if (apq == 0) continue;
        /* tan(phi) = t zeroing a[p][q]: the smaller root of t^2 + 2 theta t - 1 = 0, for stability */
        const double theta = (aqq - app) / (2 * apq);
        double t = fabs(theta) > 1e150 ? 0.5 / theta : 1 / (fabs(theta) + sqrt(theta * theta + 1));
        if (theta < 0 && fabs(theta) <= 1e150) t = -t;
        const double c = 1 / sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < n; k++) {
          double apk = row_p[k], aqk = row_q[k];
          row_p[k] = c * apk - s * aqk;
          row_q[k] = s * apk + c * aqk;
        }
        row_p[p] = app - t * apq;
        row_q[q] = aqq + t * apq;
        row_p[q] = row_q[p] = 0;
        for (int k = 0; k < n; k++) {
          if (k == p || k == q) continue;
          a[(int64_t)k * n + p] = row_p[k];
          a[(int64_t)k * n + q] = row_q[k];
        }
        if (vt) {
          double *vp = vt + (int64_t)p * n, *vq = vt + (int64_t)q * n;
          for (int k = 0; k < n; k++) {
            double x = vp[k], y = vq[k];
            vp[k] = c * x - s * y;
            vq[k] = s * x + c * y;
          }
        }
      }
  }
  for (int i = 0; i < n; i++) w[i] = a[(int64_t)i * n + i];
}

/* c = a b^T for n x n matrices: each element a dot product of two rows, summed in order by one thread. */
static void matmul_abt(const double *a, const double *b, double *c, int n) {
#pragma omp parallel for schedule(static) if (n >= 64)
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      const double *ai = a + (int64_t)i * n, *bj = b + (int64_t)j * n;
      double acc = 0;
      for (int k = 0; k < n; k++) acc += ai[k] * bj[k];
      c[(int64_t)i * n + j] = acc;
    }
}

/* tr((S_a^1/2 S_b S_a^1/2)^1/2). S_a = V L V^T, so S_a^1/2 S_b S_a^1/2 is similar to L^1/2 (V^T S_b V) L^1/2,
 * whose eigenvalues give the trace of its square root. Overwrites cov_a; w [dim], vt and tmp [dim x dim] scratch. */
static double trace_sqrt_product(double *cov_a, const double *cov_b, int dim, double *w, double *vt, double *tmp) {
  jacobi_eigen(cov_a, dim, w, vt);
  for (int d = 0; d < dim; d++) w[d] = w[d] > 0 ? sqrt(w[d]) : 0;
  matmul_abt(vt, cov_b, tmp, dim); /* V^T S_b (S_b is symmetric) */
  matmul_abt(tmp, vt, cov_a, dim); /* (V^T S_b) V */
  for (int i = 0; i < dim; i++)
    for (int j = 0; j < dim; j++) {
      /* symmetric up to rounding: the mean of both halves, so Jacobi sees an exactly symmetric matrix */
      double sym = 0.5 * (cov_a[(int64_t)i * dim + j] + cov_a[(int64_t)j * dim + i]);
      tmp[(int64_t)i * dim + j] = w[i] * sym * w[j];
    }
  jacobi_eigen(tmp, dim, w, NULL);
  double trace = 0;
  for (int d = 0; d < dim; d++) trace += w[d] > 0 ? sqrt(w[d]) : 0;
  return trace;
}

mg_status mg_eval_frechet_distance(const float *a, int na, const float *b, int nb, int dim, double *out, char *err,
                                   size_t err_size) {
  mg_status s = eval_check_set("mg_eval_frechet_distance", "a", a, na, 2, dim, err, err_size);
  if (s == MG_OK) s = eval_check_set("mg_eval_frechet_distance", "b", b, nb, 2, dim, err, err_size);
  if (s != MG_OK) return s;
  if (!out) return eval_refuse(err, err_size, "mg_eval_frechet_distance: out is NULL");
  const size_t mat = (size_t)dim * dim;
  double *mean_a = malloc(dim * sizeof(double)), *mean_b = malloc(dim * sizeof(double));
  double *w = malloc(dim * sizeof(double)), *centred = malloc((size_t)CHUNK_ROWS * dim * sizeof(double));
  double *cov_a = malloc(mat * sizeof(double)), *cov_b = malloc(mat * sizeof(double));
  double *v = malloc(mat * sizeof(double)), *tmp = malloc(mat * sizeof(double));
  if (mean_a && mean_b && w && centred && cov_a && cov_b && v && tmp) {
    mean_and_covariance(a, na, dim, mean_a, cov_a, centred);
    mean_and_covariance(b, nb, dim, mean_b, cov_b, centred);
    double fd = 0;
    for (int d = 0; d < dim; d++)
      fd += (mean_a[d] - mean_b[d]) * (mean_a[d] - mean_b[d]) + cov_a[(int64_t)d * dim + d] +
            cov_b[(int64_t)d * dim + d];
    if (!isfinite(fd)) { /* a NaN or Inf reaches a mean or a variance: stop before the eigen-decompositions */
      s = MG_ERR_NUMERIC;
      if (err && err_size) snprintf(err, err_size, "mg_eval_frechet_distance: a or b holds NaN or Inf");
    } else {
      fd -= 2 * trace_sqrt_product(cov_a, cov_b, dim, w, v, tmp);
      *out = fd > 0 ? fd : 0; /* a squared distance: rounding can take equal sets a hair below 0 */
    }
  } else {
    s = MG_ERR_OUT_OF_MEMORY;
    if (err && err_size) snprintf(err, err_size, "mg_eval_frechet_distance: out of memory for dim %d", dim);
  }
  free(mean_a);
  free(mean_b);
  free(w);
  free(centred);
  free(cov_a);
  free(cov_b);
  free(v);
  free(tmp);
  return s;
}
