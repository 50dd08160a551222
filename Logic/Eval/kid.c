/* kid.c: the Kernel Inception Distance, the unbiased MMD^2 with a cubic polynomial kernel over random subsets. The
 * kernel matrices come in blocks of rows from the kernels' GEMM, summed per row in double and the rows in order. */
#include "eval_internal.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* m of the n rows of x, without replacement, copied to out: the first m entries of a partial Fisher-Yates shuffle of
 * 0..n-1 (position i swapped with i + next % (n - i)). perm: n ints of scratch. */
static void draw_subset(const float *x, int n, int dim, int m, uint64_t *state, int *perm, float *out) {
  for (int i = 0; i < n; i++) perm[i] = i;
  for (int i = 0; i < m; i++) {
    int j = i + (int)(splitmix64(state) % (uint64_t)(n - i)), t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
    memcpy(out + (int64_t)i * dim, x + (int64_t)perm[i] * dim, (size_t)dim * sizeof(float));
  }
}

/* The sum of k(p_i, q_j) = (p_i.q_j / dim + 1)^3 over all pairs, or over i != j when skip_diagonal (p = q). */
static double kernel_sum(const float *p, const float *q, int m, int dim, bool skip_diagonal, float *dots,
                         double *row_sums) {
  const int block = eval_block_rows(m);
  for (int i0 = 0; i0 < m; i0 += block) {
    const int rows = m - i0 < block ? m - i0 : block;
    eval_dots(p + (int64_t)i0 * dim, rows, q, m, dim, dots);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
      const float *g = dots + (int64_t)r * m;
      double acc = 0;
      for (int j = 0; j < m; j++) {
        if (skip_diagonal && j == i0 + r) continue;
        double k = (double)g[j] / dim + 1;
        acc += k * k * k;
      }
      row_sums[i0 + r] = acc;
    }
  }
  double total = 0;
  for (int i = 0; i < m; i++) total += row_sums[i];
  return total;
}

mg_status mg_eval_kid(const float *a, int na, const float *b, int nb, int dim, int subsets, int subset_size,
                      uint64_t seed, double *mean, double *std, char *err, size_t err_size) {
  mg_status s = eval_check_set("mg_eval_kid", "a", a, na, 2, dim, err, err_size);
  if (s == MG_OK) s = eval_check_set("mg_eval_kid", "b", b, nb, 2, dim, err, err_size);
  if (s != MG_OK) return s;
  if (subsets < 1) return eval_refuse(err, err_size, "mg_eval_kid: subsets is %d, must be at least 1", subsets);
  const int m = subset_size < na && subset_size < nb ? subset_size : na < nb ? na : nb;
  if (m < 2) return eval_refuse(err, err_size, "mg_eval_kid: subset_size is %d, must be at least 2", subset_size);
  if (!mean || !std) return eval_refuse(err, err_size, "mg_eval_kid: %s is NULL", mean ? "std" : "mean");
  int *perm = malloc((size_t)(na > nb ? na : nb) * sizeof(int));
  float *x = malloc((size_t)m * dim * sizeof(float)), *y = malloc((size_t)m * dim * sizeof(float));
  float *dots = malloc((size_t)eval_block_rows(m) * m * sizeof(float));
  double *row_sums = malloc((size_t)m * sizeof(double)), *mmd = malloc((size_t)subsets * sizeof(double));
  if (perm && x && y && dots && row_sums && mmd) {
    uint64_t state = seed;
    double sum = 0;
    for (int t = 0; t < subsets; t++) {
      draw_subset(a, na, dim, m, &state, perm, x);
      draw_subset(b, nb, dim, m, &state, perm, y);
      const double pairs = (double)m * (m - 1);
      mmd[t] = kernel_sum(x, x, m, dim, true, dots, row_sums) / pairs +
               kernel_sum(y, y, m, dim, true, dots, row_sums) / pairs -
               2 * kernel_sum(x, y, m, dim, false, dots, row_sums) / ((double)m * m);
      sum += mmd[t];
    }
    *mean = sum / subsets;
    double var = 0;
    for (int t = 0; t < subsets; t++) var += (mmd[t] - *mean) * (mmd[t] - *mean);
    *std = subsets > 1 ? sqrt(var / (subsets - 1)) : 0;
    if (!isfinite(*mean)) {
      s = MG_ERR_NUMERIC;
      if (err && err_size) snprintf(err, err_size, "mg_eval_kid: a or b holds NaN or Inf");
    }
  } else {
    s = MG_ERR_OUT_OF_MEMORY;
    if (err && err_size) snprintf(err, err_size, "mg_eval_kid: out of memory for subsets of %d rows", m);
  }
  free(perm);
  free(x);
  free(y);
  free(dots);
  free(row_sums);
  free(mmd);
  return s;
}
