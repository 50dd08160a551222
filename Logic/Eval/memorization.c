/* memorization.c: the memorization audit: are synthetic images closer to their training images than unseen real
 * images are? */
#include "eval_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The q-quantile (0..1) of n sorted values, linear between order statistics (numpy's default). */
static double quantile_sorted(const double *v, int n, double q) {
  double pos = q * (n - 1);
  int i = (int)floor(pos);
  if (i >= n - 1) return v[n - 1];
  return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

/* The values of v[0..n) sorted into a new array, or NULL (out of memory). */
static double *sorted_copy(const double *v, int n) {
  double *s = malloc((size_t)n * sizeof(double));
  if (!s) return NULL;
  memcpy(s, v, (size_t)n * sizeof(double));
  qsort(s, (size_t)n, sizeof(double), compare_doubles);
  return s;
}

mg_status mg_eval_memorization_audit(const double *sample_nn, int ns, const double *heldout_nn, int nh,
                                     double percentile, mg_eval_memorization *out, char *err, size_t err_size) {
  if (!sample_nn || !heldout_nn)
    return eval_refuse(err, err_size, "mg_eval_memorization_audit: %s is NULL", sample_nn ? "heldout_nn" : "sample_nn");
  if (ns < 1 || nh < 1)
    return eval_refuse(err, err_size, "mg_eval_memorization_audit: %s is %d, must be at least 1", ns < 1 ? "ns" : "nh",
                       ns < 1 ? ns : nh);
  if (!(percentile >= 0 && percentile <= 100))
    return eval_refuse(err, err_size, "mg_eval_memorization_audit: percentile is %g, must be 0 to 100", percentile);
  if (!out) return eval_refuse(err, err_size, "mg_eval_memorization_audit: out is NULL");
  for (int i = 0; i < ns; i++)
    if (isnan(sample_nn[i])) return eval_refuse(err, err_size, "mg_eval_memorization_audit: sample_nn[%d] is NaN", i);
  for (int i = 0; i < nh; i++)
    if (isnan(heldout_nn[i]))
      return eval_refuse(err, err_size, "mg_eval_memorization_audit: heldout_nn[%d] is NaN", i);
  double *samples = sorted_copy(sample_nn, ns), *heldout = sorted_copy(heldout_nn, nh);
  if (!samples || !heldout) {
    free(samples);
    free(heldout);
    if (err && err_size) snprintf(err, err_size, "mg_eval_memorization_audit: out of memory");
    return MG_ERR_OUT_OF_MEMORY;
  }
  out->threshold = quantile_sorted(heldout, nh, percentile / 100);
  int closer = 0;
  while (closer < ns && samples[closer] < out->threshold) closer++;
  out->fraction_closer = (double)closer / ns;
  out->median_sample = quantile_sorted(samples, ns, 0.5);
  out->median_heldout = quantile_sorted(heldout, nh, 0.5);
  free(samples);
  free(heldout);
  return MG_OK;
}
