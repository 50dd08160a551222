/* ms_ssim.c: multi-scale structural similarity of two square images, in double, as mg_eval.h states the rules. */
#include "eval_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define WINDOW 7
#define MAX_SCALES 5
#define MAX_SIZE 16384

static const double scale_weights[MAX_SCALES] = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};

/* out[(n-6) x (n-6)] = the 7x7 Gaussian window (sigma 1.5, summing to 1) over in[n x n], valid positions only: a
 * row pass into tmp[n x (n-6)], then a column pass. */
static void gaussian_filter(const double *in, int n, double *tmp, double *out) {
  double g[WINDOW], total = 0;
  for (int i = 0; i < WINDOW; i++) total += g[i] = exp(-(i - 3) * (i - 3) / (2 * 1.5 * 1.5));
  for (int i = 0; i < WINDOW; i++) g[i] /= total;
  const int m = n - WINDOW + 1;
  for (int r = 0; r < n; r++)
    for (int c = 0; c < m; c++) {
      double acc = 0;
      for (int i = 0; i < WINDOW; i++) acc += g[i] * in[(int64_t)r * n + c + i];
      tmp[(int64_t)r * m + c] = acc;
    }
  for (int r = 0; r < m; r++)
    for (int c = 0; c < m; c++) {
      double acc = 0;
      for (int i = 0; i < WINDOW; i++) acc += g[i] * tmp[(int64_t)(r + i) * m + c];
      out[(int64_t)r * m + c] = acc;
    }
}

/* The means of the contrast-structure map and of the full SSIM map of x and y (n x n) at one scale. buf: 7 n^2
 * doubles of scratch. */
static void ssim_terms(const double *x, const double *y, int n, double c1, double c2, double *buf, double *cs,
                       double *ssim) {
  const int64_t nn = (int64_t)n * n;
  double *prod = buf, *tmp = buf + nn, *mx = tmp + nn, *my = mx + nn, *sxx = my + nn, *syy = sxx + nn,
         *sxy = syy + nn;
  gaussian_filter(x, n, tmp, mx);
  gaussian_filter(y, n, tmp, my);
  for (int64_t i = 0; i < nn; i++) prod[i] = x[i] * x[i];
  gaussian_filter(prod, n, tmp, sxx);
  for (int64_t i = 0; i < nn; i++) prod[i] = y[i] * y[i];
  gaussian_filter(prod, n, tmp, syy);
  for (int64_t i = 0; i < nn; i++) prod[i] = x[i] * y[i];
  gaussian_filter(prod, n, tmp, sxy);
  const int64_t m = (int64_t)(n - WINDOW + 1) * (n - WINDOW + 1);
  double cs_sum = 0, ssim_sum = 0;
  for (int64_t i = 0; i < m; i++) {
    double vx = sxx[i] - mx[i] * mx[i], vy = syy[i] - my[i] * my[i], cxy = sxy[i] - mx[i] * my[i];
    double cs_i = (2 * cxy + c2) / (vx + vy + c2);
    double l_i = (2 * mx[i] * my[i] + c1) / (mx[i] * mx[i] + my[i] * my[i] + c1);
    cs_sum += cs_i;
    ssim_sum += l_i * cs_i;
  }
  *cs = cs_sum / m;
  *ssim = ssim_sum / m;
}

/* out[(n/2) x (n/2)] = the means of 2x2 blocks of in[n x n] (an odd last row and column are dropped). */
static void average_pool(const double *in, int n, double *out) {
  const int h = n / 2;
  for (int r = 0; r < h; r++)
    for (int c = 0; c < h; c++)
      out[(int64_t)r * h + c] = 0.25 * (in[(int64_t)(2 * r) * n + 2 * c] + in[(int64_t)(2 * r) * n + 2 * c + 1] +
                                        in[(int64_t)(2 * r + 1) * n + 2 * c] +
                                        in[(int64_t)(2 * r + 1) * n + 2 * c + 1]);
}

mg_status mg_eval_ms_ssim(const float *x, const float *y, int size, double data_range, double *out, char *err,
                          size_t err_size) {
  if (!x || !y) return eval_refuse(err, err_size, "mg_eval_ms_ssim: %s is NULL", x ? "y" : "x");
  if (size < WINDOW || size > MAX_SIZE)
    return eval_refuse(err, err_size, "mg_eval_ms_ssim: size is %d, must be %d to %d", size, WINDOW, MAX_SIZE);
  if (!(data_range > 0) || !isfinite(data_range))
    return eval_refuse(err, err_size, "mg_eval_ms_ssim: data_range is %g, must be positive", data_range);
  if (!out) return eval_refuse(err, err_size, "mg_eval_ms_ssim: out is NULL");
  int scales = 1;
  for (int n = size; scales < MAX_SCALES && n / 2 >= WINDOW; n /= 2) scales++;
  const int64_t nn = (int64_t)size * size;
  double *xs = malloc((size_t)nn * sizeof(double)), *ys = malloc((size_t)nn * sizeof(double));
  double *pooled = malloc((size_t)nn * sizeof(double)), *buf = malloc((size_t)nn * 7 * sizeof(double));
  if (!xs || !ys || !pooled || !buf) {
    free(xs);
    free(ys);
    free(pooled);
    free(buf);
    if (err && err_size) snprintf(err, err_size, "mg_eval_ms_ssim: out of memory for %d x %d images", size, size);
    return MG_ERR_OUT_OF_MEMORY;
  }
  for (int64_t i = 0; i < nn; i++) {
    xs[i] = x[i];
    ys[i] = y[i];
  }
  const double c1 = (0.01 * data_range) * (0.01 * data_range), c2 = (0.03 * data_range) * (0.03 * data_range);
  double weight_total = 0;
  for (int j = 0; j < scales; j++) weight_total += scale_weights[j];
  double result = 1;
  for (int j = 0, n = size; j < scales; j++, n /= 2) {
    double cs, ssim;
    ssim_terms(xs, ys, n, c1, c2, buf, &cs, &ssim);
    if (!isfinite(cs) || !isfinite(ssim)) { /* NaN would otherwise count as a negative term, 0 */
      result = NAN;
      break;
    }
    /* the coarsest scale contributes the full SSIM (luminance too), the others contrast-structure only */
    double term = j == scales - 1 ? ssim : cs;
    result *= pow(term > 0 ? term : 0, scale_weights[j] / weight_total);
    if (j < scales - 1) {
      average_pool(xs, n, pooled);
      average_pool(ys, n, xs); /* xs is free again once pooled holds its next scale */
      double *t = ys;
      ys = xs;
      xs = pooled;
      pooled = t;
    }
  }
  free(xs);
  free(ys);
  free(pooled);
  free(buf);
  if (isnan(result)) {
    if (err && err_size) snprintf(err, err_size, "mg_eval_ms_ssim: x or y holds NaN or Inf");
    return MG_ERR_NUMERIC;
  }
  *out = result;
  return MG_OK;
}
