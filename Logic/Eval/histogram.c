/* histogram.c: normalized histograms of pixel values and the earth mover's distance between two of them. */
#include "eval_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

mg_status mg_eval_histogram(const float *values, int64_t n, double lo, double hi, int bins, double *out, char *err,
                            size_t err_size) {
  if (!values) return eval_refuse(err, err_size, "mg_eval_histogram: values is NULL");
  if (n < 1) return eval_refuse(err, err_size, "mg_eval_histogram: n is %lld, must be at least 1", (long long)n);
  if (!isfinite(lo) || !isfinite(hi) || !(lo < hi))
    return eval_refuse(err, err_size, "mg_eval_histogram: the range [lo, hi) is [%g, %g), must be finite with lo < hi",
                       lo, hi);
  if (bins < 1) return eval_refuse(err, err_size, "mg_eval_histogram: bins is %d, must be at least 1", bins);
  if (!out) return eval_refuse(err, err_size, "mg_eval_histogram: out is NULL");
  int64_t *counts = calloc((size_t)bins, sizeof(int64_t));
  if (!counts) {
    if (err && err_size) snprintf(err, err_size, "mg_eval_histogram: out of memory for %d bins", bins);
    return MG_ERR_OUT_OF_MEMORY;
  }
  const double scale = bins / (hi - lo);
  for (int64_t i = 0; i < n; i++) {
    if (isnan(values[i])) {
      free(counts);
      return eval_refuse(err, err_size, "mg_eval_histogram: values[%lld] is NaN", (long long)i);
    }
    double pos = (values[i] - lo) * scale; /* compared before the cast: an int cannot hold every float */
    int bin = pos < 0 ? 0 : pos >= bins ? bins - 1 : (int)pos;
    counts[bin]++;
  }
  for (int b = 0; b < bins; b++) out[b] = (double)counts[b] / n;
  free(counts);
  return MG_OK;
}

/* W1 on the bin centres: the sum of |CDF_p - CDF_q| over the gaps between neighbouring bins, divided by the
 * (bins - 1) gaps, so mass moved from the first bin to the last costs exactly 1. */
double mg_eval_histogram_distance(const double *p, const double *q, int bins) {
  if (!p || !q || bins < 2) return 0;
  double cdf_gap = 0, total = 0;
  for (int b = 0; b < bins - 1; b++) {
    cdf_gap += p[b] - q[b];
    total += fabs(cdf_gap);
  }
  return total / (bins - 1);
}
