/* test_eval_arguments.c: every metric of mg_eval.h refuses bad arguments (NULL pointers, too few rows, k too large,
 * images under 7 pixels, ...) with MG_ERR_INVALID_ARGUMENT and a message naming the argument, and never crashes;
 * err may be NULL. NaN or Inf in the data is MG_ERR_NUMERIC (never a crash or a silent number). */
#include "mg_eval.h"
#include "test_check.h"

#include <math.h>
#include <string.h>

static void refused(mg_status s, const char *err, const char *expect, const char *what) {
  tu_check(s == MG_ERR_INVALID_ARGUMENT && strstr(err, expect) != NULL, "%s: status %d, message '%s' (want '%s')",
           what, (int)s, err, expect);
}

int main(void) {
  float set[10 * 4];
  for (int i = 0; i < 40; i++) set[i] = (float)(i % 7) * 0.25f;
  double v, w;
  int index[10];
  char err[256];
#define REFUSED(call, expect)          \
  do {                                 \
    strcpy(err, "");                   \
    refused((call), err, expect, #call); \
  } while (0)

  REFUSED(mg_eval_frechet_distance(NULL, 10, set, 10, 4, &v, err, sizeof err), "a is NULL");
  REFUSED(mg_eval_frechet_distance(set, 10, NULL, 10, 4, &v, err, sizeof err), "b is NULL");
  REFUSED(mg_eval_frechet_distance(set, 1, set, 10, 4, &v, err, sizeof err), "a has 1 rows");
  REFUSED(mg_eval_frechet_distance(set, 10, set, 0, 4, &v, err, sizeof err), "b has 0 rows");
  REFUSED(mg_eval_frechet_distance(set, 10, set, 10, 0, &v, err, sizeof err), "dim is 0");
  REFUSED(mg_eval_frechet_distance(set, 10, set, 10, 5000, &v, err, sizeof err), "dim is 5000");
  REFUSED(mg_eval_frechet_distance(set, 10, set, 10, 4, NULL, err, sizeof err), "out is NULL");
  float with_inf[10 * 4];
  memcpy(with_inf, set, sizeof set);
  with_inf[13] = INFINITY;
  tu_check(mg_eval_frechet_distance(set, 10, with_inf, 10, 4, &v, err, sizeof err) == MG_ERR_NUMERIC &&
               strstr(err, "NaN or Inf"),
           "FD of a set holding Inf: '%s'", err);
  with_inf[13] = NAN;
  double p, r;
  tu_check(mg_eval_precision_recall(set, 10, with_inf, 10, 4, 3, &p, &r, err, sizeof err) == MG_ERR_NUMERIC &&
               mg_eval_nearest(with_inf, 10, set, 10, 4, index, &v, err, sizeof err) == MG_ERR_NUMERIC &&
               mg_eval_kid(set, 10, with_inf, 10, 4, 2, 10, 1, &v, &w, err, sizeof err) == MG_ERR_NUMERIC,
           "precision/recall, nearest or KID of a set holding NaN: '%s'", err);

  REFUSED(mg_eval_kid(NULL, 10, set, 10, 4, 5, 5, 1, &v, &w, err, sizeof err), "a is NULL");
  REFUSED(mg_eval_kid(set, 10, set, 1, 4, 5, 5, 1, &v, &w, err, sizeof err), "b has 1 rows");
  REFUSED(mg_eval_kid(set, 10, set, 10, 4, 0, 5, 1, &v, &w, err, sizeof err), "subsets is 0");
  REFUSED(mg_eval_kid(set, 10, set, 10, 4, 5, 1, 1, &v, &w, err, sizeof err), "subset_size is 1");
  REFUSED(mg_eval_kid(set, 10, set, 10, 4, 5, 5, 1, NULL, &w, err, sizeof err), "mean is NULL");
  REFUSED(mg_eval_kid(set, 10, set, 10, 4, 5, 5, 1, &v, NULL, err, sizeof err), "std is NULL");

  REFUSED(mg_eval_precision_recall(NULL, 10, set, 10, 4, 3, &v, &w, err, sizeof err), "real is NULL");
  REFUSED(mg_eval_precision_recall(set, 10, NULL, 10, 4, 3, &v, &w, err, sizeof err), "synthetic is NULL");
  REFUSED(mg_eval_precision_recall(set, 1, set, 10, 4, 3, &v, &w, err, sizeof err), "real has 1 rows");
  REFUSED(mg_eval_precision_recall(set, 10, set, 6, 4, 6, &v, &w, err, sizeof err), "k is 6");
  REFUSED(mg_eval_precision_recall(set, 10, set, 10, 4, 0, &v, &w, err, sizeof err), "k is 0");
  REFUSED(mg_eval_precision_recall(set, 10, set, 10, 4, 3, NULL, &w, err, sizeof err), "precision is NULL");
  REFUSED(mg_eval_precision_recall(set, 10, set, 10, 4, 3, &v, NULL, err, sizeof err), "recall is NULL");

  REFUSED(mg_eval_nearest(NULL, 10, set, 10, 4, index, &v, err, sizeof err), "queries is NULL");
  REFUSED(mg_eval_nearest(set, 10, NULL, 10, 4, index, &v, err, sizeof err), "ref is NULL");
  REFUSED(mg_eval_nearest(set, 0, set, 10, 4, index, &v, err, sizeof err), "queries has 0 rows");
  REFUSED(mg_eval_nearest(set, 10, set, 0, 4, index, &v, err, sizeof err), "ref has 0 rows");
  REFUSED(mg_eval_nearest(set, 10, set, 10, -1, index, &v, err, sizeof err), "dim is -1");
  REFUSED(mg_eval_nearest(set, 10, set, 10, 4, index, NULL, err, sizeof err), "distance is NULL");

  REFUSED(mg_eval_ms_ssim(NULL, set, 6, 1, &v, err, sizeof err), "x is NULL");
  REFUSED(mg_eval_ms_ssim(set, NULL, 6, 1, &v, err, sizeof err), "y is NULL");
  REFUSED(mg_eval_ms_ssim(set, set, 6, 1, &v, err, sizeof err), "size is 6");
  REFUSED(mg_eval_ms_ssim(set, set, 6, 0, &v, err, sizeof err), "size is 6");
  REFUSED(mg_eval_ms_ssim(set, set, 100000, 1, &v, err, sizeof err), "size is 100000");
  float image[7 * 7] = {0};
  REFUSED(mg_eval_ms_ssim(image, image, 7, 0, &v, err, sizeof err), "data_range is 0");
  REFUSED(mg_eval_ms_ssim(image, image, 7, NAN, &v, err, sizeof err), "data_range is nan");
  REFUSED(mg_eval_ms_ssim(image, image, 7, 1, NULL, err, sizeof err), "out is NULL");
  float nan_image[7 * 7] = {0};
  nan_image[24] = NAN;
  tu_check(mg_eval_ms_ssim(image, nan_image, 7, 1, &v, err, sizeof err) == MG_ERR_NUMERIC, "MS-SSIM of NaN: '%s'", err);

  double hist[8];
  REFUSED(mg_eval_histogram(NULL, 10, 0, 1, 8, hist, err, sizeof err), "values is NULL");
  REFUSED(mg_eval_histogram(set, 0, 0, 1, 8, hist, err, sizeof err), "n is 0");
  REFUSED(mg_eval_histogram(set, 10, 1, 1, 8, hist, err, sizeof err), "lo < hi");
  REFUSED(mg_eval_histogram(set, 10, 0, INFINITY, 8, hist, err, sizeof err), "must be finite");
  REFUSED(mg_eval_histogram(set, 10, 0, 1, 0, hist, err, sizeof err), "bins is 0");
  REFUSED(mg_eval_histogram(set, 10, 0, 1, 8, NULL, err, sizeof err), "out is NULL");
  float with_nan[3] = {0.5f, NAN, 0.25f};
  REFUSED(mg_eval_histogram(with_nan, 3, 0, 1, 8, hist, err, sizeof err), "values[1] is NaN");
  tu_check(mg_eval_histogram_distance(NULL, hist, 8) == 0 && mg_eval_histogram_distance(hist, hist, 1) == 0,
           "histogram distance of NULL or 1 bin is 0");

  const double nn[3] = {1, 2, 3}, with_nan_nn[3] = {1, NAN, 3};
  mg_eval_memorization m;
  REFUSED(mg_eval_memorization_audit(NULL, 3, nn, 3, 1, &m, err, sizeof err), "sample_nn is NULL");
  REFUSED(mg_eval_memorization_audit(nn, 3, NULL, 3, 1, &m, err, sizeof err), "heldout_nn is NULL");
  REFUSED(mg_eval_memorization_audit(nn, 0, nn, 3, 1, &m, err, sizeof err), "ns is 0");
  REFUSED(mg_eval_memorization_audit(nn, 3, nn, 0, 1, &m, err, sizeof err), "nh is 0");
  REFUSED(mg_eval_memorization_audit(nn, 3, nn, 3, 101, &m, err, sizeof err), "percentile is 101");
  REFUSED(mg_eval_memorization_audit(nn, 3, nn, 3, NAN, &m, err, sizeof err), "percentile is nan");
  REFUSED(mg_eval_memorization_audit(nn, 3, nn, 3, 1, NULL, err, sizeof err), "out is NULL");
  REFUSED(mg_eval_memorization_audit(nn, 3, with_nan_nn, 3, 1, &m, err, sizeof err), "heldout_nn[1] is NaN");

  /* err may be NULL */
  tu_check(mg_eval_frechet_distance(NULL, 10, set, 10, 4, &v, NULL, 0) == MG_ERR_INVALID_ARGUMENT &&
               mg_eval_nearest(set, 10, set, 10, 4, index, NULL, NULL, 0) == MG_ERR_INVALID_ARGUMENT,
           "a refusal with err NULL");
  return tu_finish();
}
