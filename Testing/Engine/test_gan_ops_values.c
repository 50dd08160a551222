/* test_gan_ops_values.c: forward values of the GAN ops (float build) against plain loops written here:
 * augmentation as its four stages one after another (the translation scattering source pixels, where the engine
 * gathers), per-sample sums, and spectral norm's power iteration in double; rejection of bad arguments with
 * messages naming the op; bit-identical results for 1 and 2 threads, forward and backward. */
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- augmentation ---- */

/* Image i's parameters: a fixed set covering each case, then random ones reaching past the image. */
static void augment_params(int i, int h, int w, float *p) {
  static const float fixed[][MG_AUGMENT_PARAMS] = {
      {0, 1, 0, 0, 0, 0, 0, 0},         /* the identity */
      {0.3f, 1.7f, 2, -1, 1, 1, 3, 4},  /* a cutout inside */
      {-0.5f, 0.4f, -3, 2, -2, 3, 2, 9}, /* a cutout partly outside */
      {0.2f, 0.8f, 40, 0, 0, 0, 0, 0},  /* shifted past the edge */
      {0, 1.3f, 0, -7, 4, 4, 2, 6},     /* a reversed (empty) cutout */
      {0.1f, 0, 1, 1, 0, 0, 100, 1},    /* contrast 0 */
  };
  if (i < (int)(sizeof fixed / sizeof fixed[0])) {
    memcpy(p, fixed[i], sizeof fixed[i]);
    return;
  }
  p[MG_AUGMENT_BRIGHTNESS] = (float)tu_uniform(-0.5, 0.5);
  p[MG_AUGMENT_CONTRAST] = (float)tu_uniform(0.3, 1.7);
  p[MG_AUGMENT_SHIFT_X] = (float)floor(tu_uniform(-w - 2, w + 3));
  p[MG_AUGMENT_SHIFT_Y] = (float)floor(tu_uniform(-h - 2, h + 3));
  p[MG_AUGMENT_CUT_X0] = (float)floor(tu_uniform(-3, w + 2));
  p[MG_AUGMENT_CUT_Y0] = (float)floor(tu_uniform(-3, h + 2));
  p[MG_AUGMENT_CUT_X1] = (float)floor(tu_uniform(-1, w + 4));
  p[MG_AUGMENT_CUT_Y1] = (float)floor(tu_uniform(-1, h + 4));
}

/* One image [c,h,w] through brightness, contrast, translation and cutout in turn, in double. */
static void augment_reference(int c, int h, int w, const float *p, const float *x, double *out) {
  int size = c * h * w;
  double *v = malloc((size_t)size * sizeof *v), mean = 0;
  for (int i = 0; i < size; i++) mean += v[i] = x[i] + (double)p[MG_AUGMENT_BRIGHTNESS];
  mean /= size;
  for (int i = 0; i < size; i++) v[i] = (v[i] - mean) * p[MG_AUGMENT_CONTRAST] + mean;
  int sx = (int)p[MG_AUGMENT_SHIFT_X], sy = (int)p[MG_AUGMENT_SHIFT_Y];
  for (int i = 0; i < size; i++) out[i] = 0;
  for (int ch = 0; ch < c; ch++) /* each source pixel moves to (row + sy, col + sx) when that is inside */
    for (int row = 0; row < h; row++)
      for (int col = 0; col < w; col++)
        if (row + sy >= 0 && row + sy < h && col + sx >= 0 && col + sx < w)
          out[(ch * h + row + sy) * w + col + sx] = v[(ch * h + row) * w + col];
  int x0 = (int)p[MG_AUGMENT_CUT_X0], x1 = (int)p[MG_AUGMENT_CUT_X1];
  int y0 = (int)p[MG_AUGMENT_CUT_Y0], y1 = (int)p[MG_AUGMENT_CUT_Y1];
  for (int ch = 0; ch < c; ch++)
    for (int row = y0 < 0 ? 0 : y0; row < y1 && row < h; row++)
      for (int col = x0 < 0 ? 0 : x0; col < x1 && col < w; col++) out[(ch * h + row) * w + col] = 0;
  free(v);
}

static void test_augment(mg_ctx *ctx) {
  mg_step_begin(ctx);
  int n = 16, c = 3, h = 7, w = 9, image = c * h * w;
  float *xv = tu_random_floats(n * image, -1, 2), *pv = malloc((size_t)n * MG_AUGMENT_PARAMS * sizeof *pv);
  for (int i = 0; i < n; i++) augment_params(i, h, w, pv + i * MG_AUGMENT_PARAMS);
  mg_tensor *x = tu_tensor(ctx, 4, (int[]){n, c, h, w}, xv, false);
  mg_tensor *params = tu_tensor(ctx, 2, (int[]){n, MG_AUGMENT_PARAMS}, pv, false);
  mg_tensor *y = mg_augment(ctx, x, params);
  if (tu_check(y && mg_same_shape(y, x), "augment: %s", mg_context_error(ctx))) {
    float *yv = tu_values(ctx, y);
    double *want = malloc((size_t)image * sizeof *want);
    int bad = 0;
    for (int s = 0; s < n; s++) {
      augment_reference(c, h, w, pv + s * MG_AUGMENT_PARAMS, xv + s * image, want);
      for (int i = 0; i < image; i++) bad += !tu_close(yv[s * image + i], want[i], 1e-5, 1e-5);
    }
    tu_check(bad == 0, "augment values: %d of %d differ from the staged reference", bad, n * image);
    free(yv), free(want);
  }
  tu_ctx_ok(ctx, "augment");

  /* bad arguments */
  tu_expect_error(ctx, mg_augment(ctx, mg_reshape(ctx, x, 2, (int[]){n, image}), params), "augment of a 2D tensor",
               "4D");
  mg_tensor *short_params = tu_tensor(ctx, 2, (int[]){n - 1, MG_AUGMENT_PARAMS}, pv, false);
  tu_expect_error(ctx, mg_augment(ctx, x, short_params), "augment with params for n-1 images", "params must be [16,8]");
  pv[3 * MG_AUGMENT_PARAMS + MG_AUGMENT_SHIFT_Y] = 1.5f;
  mg_tensor *half_shift = tu_tensor(ctx, 2, (int[]){n, MG_AUGMENT_PARAMS}, pv, false);
  tu_expect_error(ctx, mg_augment(ctx, x, half_shift), "augment with a shift of 1.5", "image 3: shift_y is 1.5");
  pv[3 * MG_AUGMENT_PARAMS + MG_AUGMENT_SHIFT_Y] = 0;
  pv[5 * MG_AUGMENT_PARAMS + MG_AUGMENT_BRIGHTNESS] = NAN;
  mg_tensor *nan_params = tu_tensor(ctx, 2, (int[]){n, MG_AUGMENT_PARAMS}, pv, false);
  tu_expect_error(ctx, mg_augment(ctx, x, nan_params), "augment with a NaN brightness", "image 5: brightness");
  params->requires_grad = true;
  tu_expect_error(ctx, mg_augment(ctx, x, params), "augment with params requiring a gradient", "params takes no gradient");
  free(xv), free(pv);
}

/* ---- per-sample sums ---- */

static void test_sum_rows(mg_ctx *ctx) {
  mg_step_begin(ctx);
  const int shapes[3][4] = {{9}, {4, 13}, {3, 2, 70, 50}}; /* the last: rows longer than a reduction chunk */
  const int ranks[3] = {1, 2, 4};
  for (int k = 0; k < 3; k++) {
    int64_t numel = 1;
    for (int d = 0; d < ranks[k]; d++) numel *= shapes[k][d];
    float *xv = tu_random_floats(numel, -2, 2);
    mg_tensor *x = tu_tensor(ctx, ranks[k], shapes[k], xv, false);
    mg_tensor *y = mg_sum_rows(ctx, x);
    int rows = shapes[k][0], cols = (int)(numel / rows), bad = 0;
    if (!tu_check(y && y->ndim == 2 && y->shape[0] == rows && y->shape[1] == 1, "sum_rows: result shape")) {
      free(xv);
      continue;
    }
    float *yv = tu_values(ctx, y);
    for (int r = 0; r < rows; r++) {
      double sum = 0;
      for (int j = 0; j < cols; j++) sum += xv[r * cols + j];
      bad += !tu_close(yv[r], sum, 1e-5 * sqrt(cols), 1e-6);
    }
    tu_check(bad == 0, "sum_rows rank %d: %d of %d rows wrong", ranks[k], bad, rows);
    free(xv), free(yv);
  }
  tu_ctx_ok(ctx, "sum_rows");
}

/* ---- spectral norm ---- */

static double normalize(double *a, int n, double eps) {
  double sq = 0;
  for (int i = 0; i < n; i++) sq += a[i] * a[i];
  double norm = fmax(sqrt(sq), eps);
  for (int i = 0; i < n; i++) a[i] /= norm;
  return norm;
}

static void test_spectral_norm(mg_ctx *ctx) {
  mg_step_begin(ctx);
  const int iterations = 3, rows = 24, cols = 2 * 20 * 5 * 5; /* a conv weight [24,40,5,5] */
  float *wv = tu_random_floats(rows * cols, -1, 1), *uv = tu_random_floats(rows, -1, 1), *vv = tu_random_floats(cols, -1, 1);
  mg_tensor *w = tu_tensor(ctx, 4, (int[]){rows, 40, 5, 5}, wv, false);
  mg_tensor *u = tu_tensor(ctx, 1, &rows, uv, false), *v = tu_tensor(ctx, 1, &cols, vv, false);
  mg_tensor *y = mg_spectral_norm(ctx, w, u, v, iterations, 1e-12);
  if (!tu_check(y && mg_same_shape(y, w), "spectral_norm: %s", mg_context_error(ctx))) return;

  double *ur = malloc(rows * sizeof *ur), *vr = malloc(cols * sizeof *vr), sigma = 0;
  for (int i = 0; i < rows; i++) ur[i] = uv[i];
  for (int it = 0; it < iterations; it++) {
    for (int j = 0; j < cols; j++) {
      vr[j] = 0;
      for (int i = 0; i < rows; i++) vr[j] += wv[i * cols + j] * ur[i];
    }
    normalize(vr, cols, 1e-12);
    for (int i = 0; i < rows; i++) {
      ur[i] = 0;
      for (int j = 0; j < cols; j++) ur[i] += wv[i * cols + j] * vr[j];
    }
    normalize(ur, rows, 1e-12);
  }
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++) sigma += ur[i] * wv[i * cols + j] * vr[j];
  float *yv = tu_values(ctx, y), *ug = tu_values(ctx, u), *vg = tu_values(ctx, v);
  int bad_y = 0, bad_u = 0, bad_v = 0;
  for (int i = 0; i < rows * cols; i++) bad_y += !tu_close(yv[i], wv[i] / sigma, 1e-6, 1e-5);
  for (int i = 0; i < rows; i++) bad_u += !tu_close(ug[i], ur[i], 1e-6, 1e-5);
  for (int j = 0; j < cols; j++) bad_v += !tu_close(vg[j], vr[j], 1e-6, 1e-5);
  tu_check(bad_y + bad_u + bad_v == 0, "spectral_norm: %d of y, %d of u, %d of v differ from the double loops",
           bad_y, bad_u, bad_v);
  tu_ctx_ok(ctx, "spectral_norm");

  /* bad arguments */
  mg_tensor *short_u = tu_tensor(ctx, 1, (int[]){rows - 1}, uv, false);
  tu_expect_error(ctx, mg_spectral_norm(ctx, w, short_u, v, 1, 1e-12), "spectral_norm with a short u",
               "u must have 24 values");
  tu_expect_error(ctx, mg_spectral_norm(ctx, w, u, short_u, 1, 1e-12), "spectral_norm with a wrong v",
               "v must have 1000 values");
  tu_expect_error(ctx, mg_spectral_norm(ctx, w, u, v, -1, 1e-12), "spectral_norm with -1 iterations",
               "power_iterations");
  tu_expect_error(ctx, mg_spectral_norm(ctx, w, u, v, 1, 0), "spectral_norm with eps 0", "eps");
  u->requires_grad = true;
  tu_expect_error(ctx, mg_spectral_norm(ctx, w, u, v, 1, 1e-12), "spectral_norm with u requiring a gradient",
               "u takes no gradient");
  free(wv), free(uv), free(vv), free(ur), free(vr), free(yv), free(ug), free(vg);
}

/* ---- 1 vs 2 threads: outputs, updated buffers and gradients bit-identical, on inputs large enough to run in
 * parallel ---- */
enum { SPECTRAL_NORM, AUGMENT, SUM_ROWS, N_KINDS };
static const char *const kind_names[N_KINDS] = {"spectral_norm", "augment", "sum_rows"};

static void test_threads(mg_ctx *ctx) {
  int rows = 64, cols = 600, n = 8, c = 3, h = 32, w = 32;
  float *wv = tu_random_floats(rows * cols, -1, 1), *uv = tu_random_floats(rows, -1, 1), *vv = tu_random_floats(cols, -1, 1);
  float *xv = tu_random_floats(n * c * h * w, -1, 1), *pv = malloc((size_t)n * MG_AUGMENT_PARAMS * sizeof *pv);
  for (int i = 0; i < n; i++) augment_params(i + 1, h, w, pv + i * MG_AUGMENT_PARAMS); /* skip the identity */
  float *dv = tu_random_floats(n * c * h * w > rows * cols ? n * c * h * w : rows * cols, -1, 1); /* upstream grads */
  for (int kind = 0; kind < N_KINDS; kind++) {
    float *out[2], *grad[2], *after_u[2] = {NULL, NULL};
    int64_t numel = 0;
    for (int t = 0; t < 2; t++) {
      mg_context_set_threads(ctx, t + 1);
      mg_step_begin(ctx);
      mg_tensor *x, *y, *u = NULL;
      if (kind == SPECTRAL_NORM) {
        x = tu_tensor(ctx, 2, (int[]){rows, cols}, wv, true);
        u = tu_tensor(ctx, 1, &rows, uv, false);
        y = mg_spectral_norm(ctx, x, u, tu_tensor(ctx, 1, &cols, vv, false), 2, 1e-12);
      } else {
        x = tu_tensor(ctx, 4, (int[]){n, c, h, w}, xv, true);
        y = kind == AUGMENT ? mg_augment(ctx, x, tu_tensor(ctx, 2, (int[]){n, MG_AUGMENT_PARAMS}, pv, false))
                            : mg_sum_rows(ctx, x);
      }
      if (!tu_check(y != NULL, "%s threads: %s", kind_names[kind], mg_context_error(ctx))) return;
      mg_tensor *dy = tu_tensor(ctx, y->ndim, y->shape, dv, false);
      tu_check(mg_backward_from(ctx, y, dy) == MG_OK, "%s backward: %s", kind_names[kind], mg_context_error(ctx));
      numel = x->numel;
      out[t] = tu_values(ctx, y);
      grad[t] = malloc((size_t)numel * sizeof(mg_real));
      mg_backend(ctx)->download(grad[t], x->grad, (size_t)numel * sizeof(mg_real));
      if (u) after_u[t] = tu_values(ctx, u);
    }
    int64_t out_numel = kind == SUM_ROWS ? n : numel;
    tu_check(memcmp(out[0], out[1], (size_t)out_numel * sizeof(float)) == 0, "%s: output differs for 1 and 2 threads",
             kind_names[kind]);
    tu_check(memcmp(grad[0], grad[1], (size_t)numel * sizeof(mg_real)) == 0,
             "%s: gradient differs for 1 and 2 threads", kind_names[kind]);
    if (after_u[0])
      tu_check(memcmp(after_u[0], after_u[1], (size_t)rows * sizeof(float)) == 0,
               "spectral_norm: u differs for 1 and 2 threads");
    for (int t = 0; t < 2; t++) free(out[t]), free(grad[t]), free(after_u[t]);
  }
  mg_context_set_threads(ctx, 2);
  tu_ctx_ok(ctx, "threads");
  free(wv), free(uv), free(vv), free(xv), free(pv), free(dv);
}

int main(void) {
  mg_ctx *ctx = tu_ctx(2);
  tu_seed(59);
  test_augment(ctx);
  test_sum_rows(ctx);
  test_spectral_norm(ctx);
  test_threads(ctx);
  mg_context_free(ctx);
  return tu_finish();
}
