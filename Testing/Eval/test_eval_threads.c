/* test_eval_threads.c: the metrics that use threads (Fréchet distance, KID, precision/recall, nearest) give
 * bit-identical results with 1 and 2 OpenMP threads, on sets large enough that the GEMM splits into tiles and the
 * row loops run in parallel. */
#include "mg_eval.h"
#include "test_check.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { NA = 700, NB = 600, DIM = 48, NQ = 300 };

typedef struct results {
  double fd, kid_mean, kid_std, precision, recall, distance[NQ];
  int index[NQ];
} results;

static void run_all(const float *a, const float *b, results *r) {
  char err[256] = "";
  memset(r, 0, sizeof *r);
  tu_check(mg_eval_frechet_distance(a, NA, b, NB, DIM, &r->fd, err, sizeof err) == MG_OK, "FD: %s", err);
  tu_check(mg_eval_kid(a, NA, b, NB, DIM, 4, 500, 3, &r->kid_mean, &r->kid_std, err, sizeof err) == MG_OK, "KID: %s",
           err);
  tu_check(mg_eval_precision_recall(a, NA, b, NB, DIM, 3, &r->precision, &r->recall, err, sizeof err) == MG_OK,
           "precision/recall: %s", err);
  tu_check(mg_eval_nearest(b, NQ, a, NA, DIM, r->index, r->distance, err, sizeof err) == MG_OK, "nearest: %s", err);
}

int main(void) {
  tu_seed(77);
  float *a = malloc((size_t)NA * DIM * sizeof(float)), *b = malloc((size_t)NB * DIM * sizeof(float));
  for (int i = 0; i < NA * DIM; i++) a[i] = (float)tu_uniform(0, 1);
  for (int i = 0; i < NB * DIM; i++) b[i] = (float)(tu_uniform(0, 1) * tu_uniform(0.5, 1.2));
  static results one, two;
  omp_set_num_threads(1);
  run_all(a, b, &one);
  omp_set_num_threads(2);
  run_all(a, b, &two);
  tu_check(one.fd == two.fd, "FD %.17g (1 thread) vs %.17g (2)", one.fd, two.fd);
  tu_check(one.kid_mean == two.kid_mean && one.kid_std == two.kid_std, "KID %.17g +- %.17g vs %.17g +- %.17g",
           one.kid_mean, one.kid_std, two.kid_mean, two.kid_std);
  tu_check(one.precision == two.precision && one.recall == two.recall, "precision/recall %g %g vs %g %g",
           one.precision, one.recall, two.precision, two.recall);
  tu_check(memcmp(one.index, two.index, sizeof one.index) == 0 &&
               memcmp(one.distance, two.distance, sizeof one.distance) == 0,
           "nearest differs between 1 and 2 threads");
  free(a);
  free(b);
  return tu_finish();
}
