/* neighbours.c: nearest neighbours and improved precision/recall. Distances come in blocks of query rows from the
 * kernels' GEMM (|q|^2 + |r|^2 - 2 q.r), so memory stays bounded whatever the set sizes; a float GEMM's rounding
 * can swap close distances, so every comparison that falls within its error bound is settled by the exact distance
 * in double. Each row is handled by one thread in a fixed order: the same results for any thread count. */
#include "eval_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef _OPENMP
#include <omp.h>
#endif

mg_status mg_eval_nearest(const float *queries, int nq, const float *ref, int nr, int dim, int *index,
                          double *distance, char *err, size_t err_size) {
  mg_status s = eval_check_set("mg_eval_nearest", "queries", queries, nq, 1, dim, err, err_size);
  if (s == MG_OK) s = eval_check_set("mg_eval_nearest", "ref", ref, nr, 1, dim, err, err_size);
  if (s != MG_OK) return s;
  if (!distance) return eval_refuse(err, err_size, "mg_eval_nearest: distance is NULL");
  const int block = eval_block_rows(nr);
  double *ref_norms = malloc((size_t)nr * sizeof(double)), *query_norms = malloc((size_t)nq * sizeof(double));
  float *dots = malloc((size_t)block * nr * sizeof(float));
  if (!ref_norms || !query_norms || !dots) {
    s = MG_ERR_OUT_OF_MEMORY;
    if (err && err_size) snprintf(err, err_size, "mg_eval_nearest: out of memory for %d reference rows", nr);
  } else {
    eval_sq_norms(ref, nr, dim, ref_norms);
    eval_sq_norms(queries, nq, dim, query_norms);
    if (!eval_all_finite(ref_norms, nr) || !eval_all_finite(query_norms, nq)) {
      s = MG_ERR_NUMERIC;
      if (err && err_size) snprintf(err, err_size, "mg_eval_nearest: queries or ref holds NaN or Inf");
    }
  }
  for (int i0 = 0; s == MG_OK && i0 < nq; i0 += block) {
    const int rows = nq - i0 < block ? nq - i0 : block;
    eval_dots(queries + (int64_t)i0 * dim, rows, ref, nr, dim, dots);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
      const float *q = queries + (int64_t)(i0 + r) * dim, *g = dots + (int64_t)r * nr;
      const double qn = query_norms[i0 + r];
      /* the nearest is at most the smallest upper bound; only rows whose lower bound reaches it can be it */
      double upper = INFINITY;
      for (int j = 0; j < nr; j++) {
        double approx = qn + ref_norms[j] - 2.0 * g[j], bound = approx + eval_sq_distance_margin(dim, qn, ref_norms[j]);
        if (bound < upper) upper = bound;
      }
      double best = INFINITY;
      int best_j = 0;
      for (int j = 0; j < nr; j++) {
        double approx = qn + ref_norms[j] - 2.0 * g[j];
        if (approx - eval_sq_distance_margin(dim, qn, ref_norms[j]) > upper) continue;
        double d2 = eval_sq_distance(q, ref + (int64_t)j * dim, dim);
        if (d2 < best) { /* strict: ties keep the lower index */
          best = d2;
          best_j = j;
        }
      }
      if (index) index[i0 + r] = best_j;
      distance[i0 + r] = sqrt(best);
    }
  }
  free(ref_norms);
  free(query_norms);
  free(dots);
  return s;
}

/* The k-th smallest (0-based) of v[0..n), reordering v: quickselect with the middle element as pivot. */
static double select_kth(double *v, int n, int k) {
  int lo = 0, hi = n - 1;
  while (lo < hi) {
    double pivot = v[lo + (hi - lo) / 2];
    int i = lo, j = hi;
    while (i <= j) {
      while (v[i] < pivot) i++;
      while (v[j] > pivot) j--;
      if (i <= j) {
        double t = v[i];
        v[i] = v[j];
        v[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return v[k];
  }
  return v[k];
}

/* radius2[i] = squared distance from row i of x to its k-th nearest other row of x. scratch: 2 n doubles per
 * thread. */
static void kth_neighbour_radii(const float *x, int n, int dim, int k, const double *norms, float *dots,
                                double *scratch, double *radius2) {
  const int block = eval_block_rows(n);
  for (int i0 = 0; i0 < n; i0 += block) {
    const int rows = n - i0 < block ? n - i0 : block;
    eval_dots(x + (int64_t)i0 * dim, rows, x, n, dim, dots);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
      int t = 0;
#ifdef _OPENMP
      t = omp_get_thread_num();
#endif
      double *bounds = scratch + (int64_t)t * 2 * n, *exact = bounds + n;
      const int i = i0 + r;
      const float *g = dots + (int64_t)r * n;
      /* the k-th distance is at most the k-th smallest upper bound; rows whose lower bound exceeds that cannot be
       * among the k nearest, the others are measured exactly */
      int m = 0;
      for (int j = 0; j < n; j++)
        if (j != i)
          bounds[m++] = norms[i] + norms[j] - 2.0 * g[j] + eval_sq_distance_margin(dim, norms[i], norms[j]);
      double limit = select_kth(bounds, m, k - 1);
      int c = 0;
      for (int j = 0; j < n; j++) {
        if (j == i) continue;
        double approx = norms[i] + norms[j] - 2.0 * g[j];
        if (approx - eval_sq_distance_margin(dim, norms[i], norms[j]) <= limit)
          exact[c++] = eval_sq_distance(x + (int64_t)i * dim, x + (int64_t)j * dim, dim);
      }
      radius2[i] = select_kth(exact, c, k - 1);
    }
  }
}

/* How many rows of pts lie within radius of some row of set (|p - s_j|^2 <= radius2[j]). */
static int64_t count_inside(const float *pts, int np, const double *pts_norms, const float *set, int nset,
                            const double *set_norms, const double *radius2, int dim, float *dots) {
  const int block = eval_block_rows(nset);
  int64_t inside = 0;
  for (int i0 = 0; i0 < np; i0 += block) {
    const int rows = np - i0 < block ? np - i0 : block;
    eval_dots(pts + (int64_t)i0 * dim, rows, set, nset, dim, dots);
#pragma omp parallel for schedule(static) reduction(+ : inside)
    for (int r = 0; r < rows; r++) {
      const int i = i0 + r;
      const float *g = dots + (int64_t)r * nset;
      for (int j = 0; j < nset; j++) {
        double approx = pts_norms[i] + set_norms[j] - 2.0 * g[j];
        double margin = eval_sq_distance_margin(dim, pts_norms[i], set_norms[j]);
        if (approx - margin > radius2[j]) continue;
        if (approx + margin <= radius2[j] ||
            eval_sq_distance(pts + (int64_t)i * dim, set + (int64_t)j * dim, dim) <= radius2[j]) {
          inside++;
          break;
        }
      }
    }
  }
  return inside;
}

mg_status mg_eval_precision_recall(const float *real, int nr, const float *synthetic, int ns, int dim, int k,
                                   double *precision, double *recall, char *err, size_t err_size) {
  mg_status s = eval_check_set("mg_eval_precision_recall", "real", real, nr, 2, dim, err, err_size);
  if (s == MG_OK) s = eval_check_set("mg_eval_precision_recall", "synthetic", synthetic, ns, 2, dim, err, err_size);
  if (s != MG_OK) return s;
  if (k < 1 || k >= nr || k >= ns)
    return eval_refuse(err, err_size, "mg_eval_precision_recall: k is %d, must be 1 to %d (below both set sizes)",
                       k, (nr < ns ? nr : ns) - 1);
  if (!precision || !recall)
    return eval_refuse(err, err_size, "mg_eval_precision_recall: %s is NULL", precision ? "recall" : "precision");
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  const int n_max = nr > ns ? nr : ns;
  const int64_t block_r = (int64_t)eval_block_rows(nr) * nr, block_s = (int64_t)eval_block_rows(ns) * ns;
  double *norms_r = malloc((size_t)nr * sizeof(double)), *norms_s = malloc((size_t)ns * sizeof(double));
  double *radius2_r = malloc((size_t)nr * sizeof(double)), *radius2_s = malloc((size_t)ns * sizeof(double));
  double *scratch = malloc((size_t)threads * 2 * n_max * sizeof(double));
  float *dots = malloc((size_t)(block_r > block_s ? block_r : block_s) * sizeof(float));
  if (!norms_r || !norms_s || !radius2_r || !radius2_s || !scratch || !dots) {
    s = MG_ERR_OUT_OF_MEMORY;
    if (err && err_size) snprintf(err, err_size, "mg_eval_precision_recall: out of memory for %d x %d rows", nr, ns);
  } else {
    eval_sq_norms(real, nr, dim, norms_r);
    eval_sq_norms(synthetic, ns, dim, norms_s);
    if (!eval_all_finite(norms_r, nr) || !eval_all_finite(norms_s, ns)) {
      s = MG_ERR_NUMERIC; /* NaN distances would leave too few candidates for the k-th neighbour */
      if (err && err_size) snprintf(err, err_size, "mg_eval_precision_recall: real or synthetic holds NaN or Inf");
    }
  }
  if (s == MG_OK) {
    kth_neighbour_radii(real, nr, dim, k, norms_r, dots, scratch, radius2_r);
    kth_neighbour_radii(synthetic, ns, dim, k, norms_s, dots, scratch, radius2_s);
    *precision = (double)count_inside(synthetic, ns, norms_s, real, nr, norms_r, radius2_r, dim, dots) / ns;
    *recall = (double)count_inside(real, nr, norms_r, synthetic, ns, norms_s, radius2_s, dim, dots) / nr;
  }
  free(norms_r);
  free(norms_s);
  free(radius2_r);
  free(radius2_s);
  free(scratch);
  free(dots);
  return s;
}
