/* test_eval_known.c: the metrics of mg_eval.h on sets whose answers are known without computing them:
 * - Fréchet distance: 0 for identical sets; |v|^2 for a set and its copy shifted by v (exact floats); the closed
 *   form |m|^2 + sum (sigma_a - sigma_b)^2 for sets built with exactly diagonal covariances.
 * - KID: near 0 for identical sets, far from 0 for shifted ones.
 * - Precision/recall: 1 and 1 for identical sets; a collapsed synthetic set (one real row, or 5) keeps precision 1
 *   and recall at 1/n or 5/n; a far-away one gets 0 and 0.
 * - Nearest: a query equal to a reference row finds it at distance exactly 0, the lower index of duplicates.
 * - MS-SSIM: 1 for identical images, < 0.5 for an image and its negative or noise, symmetric; the number of scales
 *   read from constant images, where every contrast-structure term is 1 and the result is l^(w_last / sum w).
 * - Histogram: sums to 1, distance 0, 1 at opposite ends, |a-b|/(hi-lo) for point masses within a bin.
 * - Memorization audit: copies give fraction 1, independent draws about percentile/100, numpy's percentile rule. */
#include "mg_eval.h"
#include "test_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double gaussian(void) {
  double u = tu_uniform(1e-12, 1), v = tu_uniform(0, 1);
  return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* n rows of dim values: correlated Gaussians (each row mixes its neighbour) plus an offset. */
static float *random_set(int n, int dim, double offset) {
  float *x = malloc((size_t)n * dim * sizeof(float));
  for (int i = 0; i < n; i++) {
    double prev = gaussian();
    for (int d = 0; d < dim; d++) {
      double z = gaussian();
      x[(int64_t)i * dim + d] = (float)(offset + z + 0.5 * prev + 0.1 * d);
      prev = z;
    }
  }
  return x;
}

static double trace_of_covariance(const float *x, int n, int dim) {
  double total = 0;
  for (int d = 0; d < dim; d++) {
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++) mean += x[(int64_t)i * dim + d];
    mean /= n;
    for (int i = 0; i < n; i++) var += (x[(int64_t)i * dim + d] - mean) * (x[(int64_t)i * dim + d] - mean);
    total += var / (n - 1);
  }
  return total;
}

static void check_frechet(void) {
  char err[256] = "";
  const int n = 300, dim = 12;
  float *a = random_set(n, dim, 0);
  double fd = -1, trace = trace_of_covariance(a, n, dim);
  mg_status s = mg_eval_frechet_distance(a, n, a, n, dim, &fd, err, sizeof err);
  tu_check(s == MG_OK && fabs(fd) < 1e-6 * trace, "FD of identical sets %.3g (trace %.3g): %s", fd, trace, err);

  /* multiples of 1/256 shifted by whole numbers: the shifted floats are exact */
  float *b = malloc((size_t)n * dim * sizeof(float));
  double v2 = 0;
  for (int i = 0; i < n * dim; i++) a[i] = (float)floor(tu_uniform(-512, 512)) / 256;
  for (int d = 0; d < dim; d++) v2 += (double)((d % 5) - 2) * ((d % 5) - 2);
  for (int i = 0; i < n; i++)
    for (int d = 0; d < dim; d++) b[i * dim + d] = a[i * dim + d] + (float)((d % 5) - 2);
  trace = trace_of_covariance(a, n, dim);
  s = mg_eval_frechet_distance(a, n, b, n, dim, &fd, err, sizeof err);
  tu_check(s == MG_OK && fabs(fd - v2) < 1e-6 * v2, "FD of a set and its shift by v: %.10g, want |v|^2 = %g (%s)",
           fd, v2, err);
  free(a);
  free(b);

  /* rows +-alpha_d e_d, each pair `reps` times: mean 0 (or m), covariance exactly diag(2 reps alpha_d^2 / (n - 1)) */
  const int dd = 6, reps = 3, rows = 2 * dd * reps;
  float *p = calloc((size_t)rows * dd, sizeof(float)), *q = calloc((size_t)rows * dd, sizeof(float));
  double want = 0;
  for (int d = 0; d < dd; d++) {
    double alpha = 0.5 + d, beta = 2.0 - 0.25 * d, shift = d - 2.5;
    for (int r = 0; r < reps; r++)
      for (int sign = 0; sign < 2; sign++) {
        int row = (d * reps + r) * 2 + sign;
        p[row * dd + d] = (float)(sign ? alpha : -alpha);
        q[row * dd + d] = (float)(sign ? beta : -beta);
      }
    double sa = sqrt(2.0 * reps * alpha * alpha / (rows - 1)), sb = sqrt(2.0 * reps * beta * beta / (rows - 1));
    want += shift * shift + (sa - sb) * (sa - sb);
    for (int row = 0; row < rows; row++) q[row * dd + d] += (float)shift;
  }
  s = mg_eval_frechet_distance(p, rows, q, rows, dd, &fd, err, sizeof err);
  tu_check(s == MG_OK && fabs(fd - want) < 1e-6 * want, "FD of diagonal Gaussians %.10g, want %.10g (%s)", fd, want,
           err);
  free(p);
  free(q);
}

static void check_kid(void) {
  char err[256] = "";
  const int n = 400, dim = 16;
  float *a = random_set(n, dim, 0), *twin = random_set(n, dim, 0), *b = random_set(n, dim, 0.5);
  double same_mean, same_std, twin_mean, twin_std, shift_mean, shift_std;
  mg_status s = mg_eval_kid(a, n, a, n, dim, 20, 100, 11, &same_mean, &same_std, err, sizeof err);
  tu_check(s == MG_OK, "KID: %s", err);
  s = mg_eval_kid(a, n, twin, n, dim, 20, 100, 11, &twin_mean, &twin_std, err, sizeof err);
  tu_check(s == MG_OK, "KID: %s", err);
  s = mg_eval_kid(a, n, b, n, dim, 20, 100, 11, &shift_mean, &shift_std, err, sizeof err);
  tu_check(s == MG_OK, "KID: %s", err);
  printf("KID identical %.3g +- %.3g, same distribution %.3g +- %.3g, shifted %.3g +- %.3g\n", same_mean, same_std,
         twin_mean, twin_std, shift_mean, shift_std);
  /* subsets of one set overlap, and a point paired with itself raises the cross term: slightly below 0 */
  tu_check(fabs(same_mean) < 0.05 * shift_mean && same_std > 0, "KID of identical sets %g (shifted: %g)", same_mean,
           shift_mean);
  /* two draws of one distribution: unbiased, so within 3 standard errors of 0 */
  tu_check(fabs(twin_mean) < 3 * twin_std / sqrt(20), "KID of two draws of one distribution %g +- %g", twin_mean,
           twin_std);
  tu_check(shift_mean > 10 * shift_std / sqrt(20), "KID of shifted sets %g +- %g", shift_mean, shift_std);
  free(a);
  free(twin);
  free(b);
}

static void check_precision_recall(void) {
  char err[256] = "";
  const int n = 500, dim = 8, ns = 100;
  float *real = random_set(n, dim, 0), *syn = malloc((size_t)n * dim * sizeof(float));
  double p = -1, r = -1;
  mg_status s = mg_eval_precision_recall(real, n, real, n, dim, 3, &p, &r, err, sizeof err);
  tu_check(s == MG_OK && p == 1 && r == 1, "identical sets: precision %g recall %g (%s)", p, r, err);
  for (int distinct = 1; distinct <= 5; distinct += 4) { /* every synthetic row a copy of one of `distinct` rows */
    for (int i = 0; i < ns; i++) memcpy(syn + i * dim, real + (i % distinct) * dim, dim * sizeof(float));
    s = mg_eval_precision_recall(real, n, syn, ns, dim, 3, &p, &r, err, sizeof err);
    tu_check(s == MG_OK && p == 1 && fabs(r - (double)distinct / n) < 1e-12,
             "collapsed onto %d rows: precision %g (want 1) recall %g (want %g) (%s)", distinct, p, r,
             (double)distinct / n, err);
  }
  for (int i = 0; i < n * dim; i++) syn[i] = real[i] + 1000;
  s = mg_eval_precision_recall(real, n, syn, n, dim, 3, &p, &r, err, sizeof err);
  tu_check(s == MG_OK && p == 0 && r == 0, "far away: precision %g recall %g (%s)", p, r, err);
  free(real);
  free(syn);
}

static void check_nearest(void) {
  char err[256] = "";
  const int nr = 300, dim = 20, nq = 3;
  float *ref = random_set(nr, dim, 0), *q = random_set(nq, dim, 0);
  memcpy(ref + 250 * dim, ref + 17 * dim, dim * sizeof(float)); /* a duplicate: the lower index wins */
  memcpy(q, ref + 17 * dim, dim * sizeof(float));
  memcpy(q + 2 * dim, ref + 123 * dim, dim * sizeof(float));
  int index[3] = {-1, -1, -1};
  double dist[3] = {-1, -1, -1};
  mg_status s = mg_eval_nearest(q, nq, ref, nr, dim, index, dist, err, sizeof err);
  tu_check(s == MG_OK && index[0] == 17 && dist[0] == 0, "copy of row 17: index %d distance %g (%s)", index[0],
           dist[0], err);
  tu_check(index[2] == 123 && dist[2] == 0, "copy of row 123: index %d distance %g", index[2], dist[2]);
  double best = INFINITY;
  int best_j = -1;
  for (int j = 0; j < nr; j++) {
    double d2 = 0;
    for (int d = 0; d < dim; d++) {
      double diff = (double)q[dim + d] - ref[j * dim + d];
      d2 += diff * diff;
    }
    if (d2 < best) {
      best = d2;
      best_j = j;
    }
  }
  tu_check(index[1] == best_j && fabs(dist[1] - sqrt(best)) < 1e-12 * sqrt(best),
           "random query: index %d distance %.15g, brute force %d %.15g", index[1], dist[1], best_j, sqrt(best));
  free(ref);
  free(q);
}

static double ms_ssim(const float *x, const float *y, int size) {
  char err[256] = "";
  double v = -1;
  mg_status s = mg_eval_ms_ssim(x, y, size, 1.0, &v, err, sizeof err);
  tu_check(s == MG_OK, "MS-SSIM at %d: %s", size, err);
  return v;
}

static void check_ms_ssim(void) {
  const int size = 64;
  float *x = malloc(size * size * sizeof(float)), *y = malloc(size * size * sizeof(float));
  for (int r = 0; r < size; r++)
    for (int c = 0; c < size; c++) /* a smooth pattern with some texture */
      x[r * size + c] = (float)(0.5 + 0.3 * sin(r * 0.2) * cos(c * 0.15) + 0.1 * tu_uniform(-1, 1));
  double same = ms_ssim(x, x, size);
  tu_check(fabs(same - 1) < 1e-12, "MS-SSIM of identical images %.15g", same);
  for (int i = 0; i < size * size; i++) y[i] = 1 - x[i];
  double negative = ms_ssim(x, y, size);
  tu_check(negative < 0.5, "MS-SSIM of an image and its negative %g", negative);
  for (int i = 0; i < size * size; i++) y[i] = (float)tu_uniform(0, 1);
  double noise = ms_ssim(x, y, size), swapped = ms_ssim(y, x, size);
  tu_check(noise < 0.5, "MS-SSIM of an image and noise %g", noise);
  tu_check(noise == swapped, "MS-SSIM not symmetric: %.17g vs %.17g", noise, swapped);
  free(x);
  free(y);

  /* constant images 0.5 and 0.6: contrast-structure is c2/c2 = 1 at every scale, so MS-SSIM = l^(w_last / sum w) */
  static const double weights[5] = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};
  static const int sizes[] = {16, 27, 28, 32, 55, 56, 64, 111, 112, 200};
  static const int want_scales[] = {2, 2, 3, 3, 3, 4, 4, 4, 5, 5};
  const double c1 = 1e-4, l = (2 * 0.5 * 0.6 + c1) / (0.25 + 0.36 + c1);
  for (int t = 0; t < (int)(sizeof sizes / sizeof *sizes); t++) {
    int n = sizes[t];
    float *cx = malloc((size_t)n * n * sizeof(float)), *cy = malloc((size_t)n * n * sizeof(float));
    for (int i = 0; i < n * n; i++) {
      cx[i] = 0.5f;
      cy[i] = 0.6f;
    }
    double v = ms_ssim(cx, cy, n), total = 0;
    int scales = 0;
    for (int m = 1; m <= 5; m++) { /* the scale count whose exponent explains v */
      total += weights[m - 1];
      if (fabs(log(v) / log(l) - weights[m - 1] / total) < 1e-3) scales = m;
    }
    tu_check(scales == want_scales[t], "MS-SSIM at %d px used %d scales, want %d (value %.9g)", n, scales,
             want_scales[t], v);
    free(cx);
    free(cy);
  }
}

static void check_histogram(void) {
  char err[256] = "";
  enum { BINS = 50, N = 1000 };
  float values[N];
  double h[BINS], g[BINS];
  for (int i = 0; i < N; i++) values[i] = (float)tu_uniform(-0.5, 1.5); /* some outside [0, 1) */
  mg_status s = mg_eval_histogram(values, N, 0, 1, BINS, h, err, sizeof err);
  double total = 0;
  for (int b = 0; b < BINS; b++) total += h[b];
  tu_check(s == MG_OK && fabs(total - 1) < 1e-12, "histogram sums to %.15g (%s)", total, err);
  tu_check(h[0] > 0.2 && h[BINS - 1] > 0.2, "values outside the range count in the end bins: %g %g", h[0],
           h[BINS - 1]);
  tu_check(mg_eval_histogram_distance(h, h, BINS) == 0, "distance of equal histograms");
  float low = -3, high = 7;
  mg_eval_histogram(&low, 1, 0, 1, BINS, h, err, sizeof err);
  mg_eval_histogram(&high, 1, 0, 1, BINS, g, err, sizeof err);
  double d = mg_eval_histogram_distance(h, g, BINS);
  tu_check(fabs(d - 1) < 1e-12, "opposite ends: distance %.15g, want 1", d);
  for (int t = 0; t < 20; t++) { /* point masses: within one bin of |a - b| / (hi - lo), in bin-centre units */
    float a = (float)tu_uniform(-2, 3), b = (float)tu_uniform(-2, 3);
    const double lo = -2, hi = 3;
    mg_eval_histogram(&a, 1, lo, hi, BINS, h, err, sizeof err);
    mg_eval_histogram(&b, 1, lo, hi, BINS, g, err, sizeof err);
    d = mg_eval_histogram_distance(h, g, BINS);
    double want = fabs((double)a - b) / (hi - lo);
    tu_check(fabs(d * (BINS - 1) - want * BINS) <= 1 + 1e-9, "point masses at %g and %g: distance %g, want %g", a, b,
             d, want);
  }
}

static void check_memorization(void) {
  char err[256] = "";
  enum { N = 20000 };
  double *samples = malloc(N * sizeof(double)), *heldout = malloc(N * sizeof(double));
  for (int i = 0; i < N; i++) {
    samples[i] = tu_uniform(1, 2);
    heldout[i] = tu_uniform(1, 2);
  }
  mg_eval_memorization m;
  mg_status s = mg_eval_memorization_audit(samples, N, heldout, N, 5, &m, err, sizeof err);
  tu_check(s == MG_OK && fabs(m.fraction_closer - 0.05) < 0.01, "independent draws: fraction %g, want about 0.05 (%s)",
           m.fraction_closer, err);
  for (int i = 0; i < N; i++) samples[i] = 0; /* copies of training images */
  s = mg_eval_memorization_audit(samples, N, heldout, N, 1, &m, err, sizeof err);
  tu_check(s == MG_OK && m.fraction_closer == 1 && m.median_sample == 0, "copies: fraction %g median %g",
           m.fraction_closer, m.median_sample);
  const double five[5] = {5, 1, 4, 2, 3}, four[4] = {4, 1, 3, 2};
  s = mg_eval_memorization_audit(four, 4, five, 5, 10, &m, err, sizeof err);
  /* numpy: percentile([1..5], 10) = 1.4, median([1..5]) = 3, median([1..4]) = 2.5; 1 of 4 samples below 1.4 */
  tu_check(s == MG_OK && fabs(m.threshold - 1.4) < 1e-12 && m.median_heldout == 3 && m.median_sample == 2.5 &&
               m.fraction_closer == 0.25,
           "small sets: threshold %g medians %g %g fraction %g", m.threshold, m.median_heldout, m.median_sample,
           m.fraction_closer);
  free(samples);
  free(heldout);
}

int main(void) {
  tu_seed(20261204);
  check_frechet();
  check_kid();
  check_precision_recall();
  check_nearest();
  check_ms_ssim();
  check_histogram();
  check_memorization();
  return tu_finish();
}
