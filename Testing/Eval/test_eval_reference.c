/* test_eval_reference.c: the metrics of mg_eval.h against Testing/Python/eval_reference.py, an independent numpy/
 * scipy implementation, on random data this test writes (WORK_PREFIX_in.json, answers in WORK_PREFIX_out.json):
 * Fréchet distance (scipy.linalg.sqrtm) within 1e-4 relative; KID on the same subsets (the script replays the
 * splitmix64 draws as the header states them) and on whole sets; precision/recall and nearest indices exactly,
 * including data on a coarse grid full of equal distances and data far from the origin, where the GEMM's distances
 * are mostly rounding; MS-SSIM within 1e-5 at 16 to 112 pixels; the
 * memorization audit against numpy's percentile and median.
 * Arguments: PYTHON eval_reference.py WORK_PREFIX. */
#include "mg_eval.h"
#include "test_check.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double gaussian(void) {
  double u = tu_uniform(1e-12, 1), v = tu_uniform(0, 1);
  return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* n rows of correlated Gaussians: each value mixes `mix` of its left neighbour, scaled by `scale`, plus shift. */
static float *gaussian_set(int n, int dim, double mix, double scale, double shift) {
  float *x = malloc((size_t)n * dim * sizeof(float));
  for (int i = 0; i < n; i++) {
    double prev = 0;
    for (int d = 0; d < dim; d++) {
      double z = gaussian();
      x[(int64_t)i * dim + d] = (float)(scale * (z + mix * prev) + shift * (d % 3));
      prev = z;
    }
  }
  return x;
}

/* n rows of whole numbers 0..levels-1: many equal distances, so the tie rules are tested. */
static float *grid_set(int n, int dim, int levels) {
  float *x = malloc((size_t)n * dim * sizeof(float));
  for (int i = 0; i < n * dim; i++) x[i] = (float)floor(tu_uniform(0, levels));
  return x;
}

/* x with offset added to every value: far from the origin, where a float GEMM's |q|^2 + |r|^2 - 2 q.r loses the
 * distances to rounding and only the exact re-measuring keeps the answers right. */
static float *offset_set(float *x, int64_t n, double offset) {
  for (int64_t i = 0; i < n; i++) x[i] = (float)(x[i] + offset);
  return x;
}

static cJSON *json_floats(const float *v, int64_t n) {
  cJSON *list = cJSON_CreateArray();
  for (int64_t i = 0; i < n; i++) cJSON_AddItemToArray(list, cJSON_CreateNumber(v[i]));
  return list;
}

static cJSON *json_set(const float *x, int rows, int dim) {
  cJSON *s = cJSON_CreateObject();
  cJSON_AddNumberToObject(s, "rows", rows);
  cJSON_AddNumberToObject(s, "dim", dim);
  cJSON_AddItemToObject(s, "values", json_floats(x, (int64_t)rows * dim));
  return s;
}

static cJSON *json_case(cJSON *root, const char *metric) {
  cJSON *list = cJSON_GetObjectItem(root, metric);
  if (!list) list = cJSON_AddArrayToObject(root, metric);
  cJSON *c = cJSON_CreateObject();
  cJSON_AddItemToArray(list, c);
  return c;
}

#define N_FRECHET 2
#define N_KID 2
#define N_PR 4
#define N_NEAREST 3
#define N_SSIM 6
#define N_MEMO 2

/* What the C side computed, case by case. */
static double fd[N_FRECHET], kid[N_KID][2], pr[N_PR][2], ssim[N_SSIM], memo[N_MEMO][4];
static int *nn_index[N_NEAREST], nn_count[N_NEAREST];
static double *nn_distance[N_NEAREST];

static void add_frechet(cJSON *root, int c, int na, int nb, int dim) {
  char err[256] = "";
  float *a = gaussian_set(na, dim, 0.7, 1.0, 0.0), *b = gaussian_set(nb, dim, -0.4, 1.3, 0.2);
  tu_check(mg_eval_frechet_distance(a, na, b, nb, dim, &fd[c], err, sizeof err) == MG_OK, "FD %d: %s", c, err);
  cJSON *j = json_case(root, "frechet");
  cJSON_AddItemToObject(j, "a", json_set(a, na, dim));
  cJSON_AddItemToObject(j, "b", json_set(b, nb, dim));
  free(a);
  free(b);
}

static void add_kid(cJSON *root, int c, int na, int nb, int dim, int subsets, int subset_size, uint64_t seed) {
  char err[256] = "", seed_text[32];
  float *a = gaussian_set(na, dim, 0.5, 1.0, 0.0), *b = gaussian_set(nb, dim, 0.5, 1.1, 0.1);
  tu_check(mg_eval_kid(a, na, b, nb, dim, subsets, subset_size, seed, &kid[c][0], &kid[c][1], err, sizeof err) ==
               MG_OK,
           "KID %d: %s", c, err);
  cJSON *j = json_case(root, "kid");
  cJSON_AddItemToObject(j, "a", json_set(a, na, dim));
  cJSON_AddItemToObject(j, "b", json_set(b, nb, dim));
  cJSON_AddNumberToObject(j, "subsets", subsets);
  cJSON_AddNumberToObject(j, "subset_size", subset_size);
  snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)seed);
  cJSON_AddStringToObject(j, "seed", seed_text);
  free(a);
  free(b);
}

static void add_precision_recall(cJSON *root, int c, float *real, int nr, float *syn, int ns, int dim, int k) {
  char err[256] = "";
  tu_check(mg_eval_precision_recall(real, nr, syn, ns, dim, k, &pr[c][0], &pr[c][1], err, sizeof err) == MG_OK,
           "precision/recall %d: %s", c, err);
  cJSON *j = json_case(root, "precision_recall");
  cJSON_AddItemToObject(j, "real", json_set(real, nr, dim));
  cJSON_AddItemToObject(j, "synthetic", json_set(syn, ns, dim));
  cJSON_AddNumberToObject(j, "k", k);
  free(real);
  free(syn);
}

static void add_nearest(cJSON *root, int c, float *q, int nq, float *ref, int nr, int dim) {
  char err[256] = "";
  nn_count[c] = nq;
  nn_index[c] = malloc(nq * sizeof(int));
  nn_distance[c] = malloc(nq * sizeof(double));
  tu_check(mg_eval_nearest(q, nq, ref, nr, dim, nn_index[c], nn_distance[c], err, sizeof err) == MG_OK,
           "nearest %d: %s", c, err);
  cJSON *j = json_case(root, "nearest");
  cJSON_AddItemToObject(j, "queries", json_set(q, nq, dim));
  cJSON_AddItemToObject(j, "ref", json_set(ref, nr, dim));
  free(q);
  free(ref);
}

static void add_ms_ssim(cJSON *root, int c, int size, double lo, double hi) {
  char err[256] = "";
  float *x = malloc((size_t)size * size * sizeof(float)), *y = malloc((size_t)size * size * sizeof(float));
  const double range = hi - lo, mid = 0.5 * (lo + hi);
  for (int r = 0; r < size; r++)
    for (int col = 0; col < size; col++) { /* a smooth pattern; y: shifted in brightness, noisier */
      double base = mid + 0.3 * range * sin(r * 0.3) * cos(col * 0.2);
      x[r * size + col] = (float)(base + 0.05 * range * tu_uniform(-1, 1));
      y[r * size + col] = (float)(base + 0.03 * range + 0.2 * range * tu_uniform(-1, 1));
    }
  tu_check(mg_eval_ms_ssim(x, y, size, range, &ssim[c], err, sizeof err) == MG_OK, "MS-SSIM %d: %s", c, err);
  cJSON *j = json_case(root, "ms_ssim");
  cJSON_AddItemToObject(j, "x", json_floats(x, (int64_t)size * size));
  cJSON_AddItemToObject(j, "y", json_floats(y, (int64_t)size * size));
  cJSON_AddNumberToObject(j, "size", size);
  cJSON_AddNumberToObject(j, "data_range", range);
  free(x);
  free(y);
}

static void add_memorization(cJSON *root, int c, int ns, int nh, double percentile) {
  char err[256] = "";
  double *s = malloc(ns * sizeof(double)), *h = malloc(nh * sizeof(double));
  for (int i = 0; i < ns; i++) s[i] = tu_uniform(0.5, 2);
  for (int i = 0; i < nh; i++) h[i] = tu_uniform(1, 2);
  mg_eval_memorization m;
  tu_check(mg_eval_memorization_audit(s, ns, h, nh, percentile, &m, err, sizeof err) == MG_OK, "memorization %d: %s",
           c, err);
  memo[c][0] = m.threshold;
  memo[c][1] = m.fraction_closer;
  memo[c][2] = m.median_sample;
  memo[c][3] = m.median_heldout;
  cJSON *j = json_case(root, "memorization");
  cJSON_AddItemToObject(j, "sample_nn", cJSON_CreateDoubleArray(s, ns));
  cJSON_AddItemToObject(j, "heldout_nn", cJSON_CreateDoubleArray(h, nh));
  cJSON_AddNumberToObject(j, "percentile", percentile);
  free(s);
  free(h);
}

/* The request for the script, computing the C answers along the way. */
static cJSON *build_cases(void) {
  cJSON *root = cJSON_CreateObject();
  add_frechet(root, 0, 300, 250, 24);
  add_frechet(root, 1, 70, 90, 40);
  add_kid(root, 0, 300, 250, 16, 3, 100, 12345678901234567890ull);
  add_kid(root, 1, 200, 200, 16, 1, 200, 5);

  add_precision_recall(root, 0, gaussian_set(200, 8, 0.5, 1, 0), 200, gaussian_set(150, 8, 0.5, 1.2, 0.1), 150, 8, 3);
  float *real = gaussian_set(300, 32, 0.3, 1, 0), *syn = gaussian_set(260, 32, 0.3, 0.8, 0);
  for (int i = 0; i < 20; i++) memcpy(syn + i * 32, real + (i * 7) * 32, 32 * sizeof(float)); /* some copies */
  add_precision_recall(root, 1, real, 300, syn, 260, 32, 5);
  add_precision_recall(root, 2, grid_set(150, 4, 3), 150, grid_set(120, 4, 4), 120, 4, 4);
  add_precision_recall(root, 3, offset_set(gaussian_set(120, 8, 0.3, 0.01, 0), 120 * 8, 1000), 120,
                       offset_set(gaussian_set(100, 8, 0.3, 0.012, 0), 100 * 8, 1000), 100, 8, 3);

  float *ref = gaussian_set(400, 16, 0.2, 1, 0), *q = gaussian_set(80, 16, 0.2, 1.1, 0);
  memcpy(ref + 300 * 16, ref + 5 * 16, 16 * sizeof(float));
  for (int i = 0; i < 10; i++) memcpy(q + i * 16, ref + (i * 31) * 16, 16 * sizeof(float));
  add_nearest(root, 0, q, 80, ref, 400, 16);
  add_nearest(root, 1, grid_set(100, 3, 3), 100, grid_set(60, 3, 3), 60, 3);
  add_nearest(root, 2, offset_set(gaussian_set(50, 8, 0.3, 0.01, 0), 50 * 8, 1000), 50,
              offset_set(gaussian_set(200, 8, 0.3, 0.01, 0), 200 * 8, 1000), 200, 8);

  static const int sizes[N_SSIM] = {16, 28, 32, 64, 112, 40};
  for (int c = 0; c < N_SSIM; c++) add_ms_ssim(root, c, sizes[c], c == N_SSIM - 1 ? -1 : 0, 1);
  add_memorization(root, 0, 101, 57, 1);
  add_memorization(root, 1, 40, 300, 37.5);
  return root;
}

static double item(cJSON *list, int i, int j) {
  cJSON *x = cJSON_GetArrayItem(list, i);
  if (j >= 0) x = cJSON_GetArrayItem(x, j);
  return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

static bool close_rel(double got, double want, double atol, double rtol) {
  return fabs(got - want) <= atol + rtol * fabs(want);
}

static void compare(cJSON *out) {
  cJSON *list = cJSON_GetObjectItem(out, "frechet");
  for (int c = 0; c < N_FRECHET; c++)
    tu_check(close_rel(fd[c], item(list, c, -1), 0, 1e-4), "FD %d: %.10g, scipy %.10g", c, fd[c], item(list, c, -1));
  list = cJSON_GetObjectItem(out, "kid");
  for (int c = 0; c < N_KID; c++) /* float GEMM products: 1e-6 of the kernel's size (about 1) absolute */
    tu_check(close_rel(kid[c][0], item(list, c, 0), 1e-6, 1e-5) && close_rel(kid[c][1], item(list, c, 1), 1e-6, 1e-5),
             "KID %d: %.10g +- %.10g, numpy %.10g +- %.10g", c, kid[c][0], kid[c][1], item(list, c, 0),
             item(list, c, 1));
  list = cJSON_GetObjectItem(out, "precision_recall");
  for (int c = 0; c < N_PR; c++)
    tu_check(pr[c][0] == item(list, c, 0) && pr[c][1] == item(list, c, 1),
             "precision/recall %d: %.6f %.6f, numpy %.6f %.6f", c, pr[c][0], pr[c][1], item(list, c, 0),
             item(list, c, 1));
  list = cJSON_GetObjectItem(out, "nearest");
  for (int c = 0; c < N_NEAREST; c++) {
    cJSON *idx = cJSON_GetObjectItem(cJSON_GetArrayItem(list, c), "index");
    cJSON *dist = cJSON_GetObjectItem(cJSON_GetArrayItem(list, c), "distance");
    int wrong = 0, first = -1;
    for (int i = 0; i < nn_count[c]; i++) {
      double want_i = item(idx, i, -1), want_d = item(dist, i, -1);
      if (nn_index[c][i] != want_i || !close_rel(nn_distance[c][i], want_d, 0, 1e-12)) {
        if (first < 0) first = i;
        wrong++;
      }
    }
    tu_check(wrong == 0, "nearest %d: %d of %d queries differ from numpy (first: %d)", c, wrong, nn_count[c], first);
  }
  list = cJSON_GetObjectItem(out, "ms_ssim");
  for (int c = 0; c < N_SSIM; c++)
    tu_check(close_rel(ssim[c], item(list, c, -1), 1e-5, 0), "MS-SSIM %d: %.10g, numpy %.10g", c, ssim[c],
             item(list, c, -1));
  list = cJSON_GetObjectItem(out, "memorization");
  for (int c = 0; c < N_MEMO; c++)
    for (int k = 0; k < 4; k++)
      tu_check(close_rel(memo[c][k], item(list, c, k), 0, 1e-12), "memorization %d field %d: %.15g, numpy %.15g", c, k,
               memo[c][k], item(list, c, k));
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s PYTHON eval_reference.py WORK_PREFIX\n", argv[0]);
    return 2;
  }
  tu_seed(4242);
  cJSON *request = build_cases();
  char in_path[1024], out_path[1024], cmd[4096];
  snprintf(in_path, sizeof in_path, "%s_in.json", argv[3]);
  snprintf(out_path, sizeof out_path, "%s_out.json", argv[3]);
  remove(out_path);
  char *text = cJSON_PrintUnformatted(request);
  FILE *f = fopen(in_path, "wb");
  tu_check(f && fputs(text, f) >= 0 && fclose(f) == 0, "cannot write %s", in_path);
  free(text);
  cJSON_Delete(request);
  snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' '%s'", argv[1], argv[2], in_path, out_path);
  int rc = system(cmd);
  if (tu_check(rc == 0, "numpy reference failed (%d): %s", rc, cmd)) {
    text = tu_read_text(out_path);
    cJSON *out = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (tu_check(out != NULL, "cannot read %s", out_path)) compare(out);
    cJSON_Delete(out);
  }
  for (int c = 0; c < N_NEAREST; c++) {
    free(nn_index[c]);
    free(nn_distance[c]);
  }
  return tu_finish();
}
