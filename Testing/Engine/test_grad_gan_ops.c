/* test_grad_gan_ops.c: spectral norm (d/dw), augmentation (d/dx) and per-sample sums against finite differences
 * (double build).
 *
 * Spectral norm treats u and v as constants (torch does too), so finite differences agree with its gradient in two
 * settings: with 0 power iterations (u, v fixed), and with u, v reset before each evaluation and iterated to
 * convergence, where sigma is stationary in u and v. Two more checks: the backward of a forward uses the u and v of
 * that forward even when a later forward refined the buffers again, and the buffers are updated the same way with
 * gradients enabled or not. Augmentation covers brightness, contrast, shifts of both signs (beyond the image too),
 * cutouts partly outside the image, empty cutouts and the identity. */
#include "test_util.h"

#include <math.h>
#include <stdlib.h>

/* ---- spectral norm ---- */
typedef struct {
  mg_tensor *u, *v;
  const mg_real *u0, *v0; /* NULL: keep the buffers as they are */
  int iterations;
} spectral_case;

static mg_tensor *spectral_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  spectral_case *c = user;
  if (c->u0) {
    mg_tensor_upload_real(ctx, c->u, c->u0, c->u->numel);
    mg_tensor_upload_real(ctx, c->v, c->v0, c->v->numel);
  }
  return mg_spectral_norm(ctx, in[0], c->u, c->v, c->iterations, 1e-12);
}

static mg_real *download(mg_ctx *ctx, const mg_tensor *t) {
  mg_real *host = malloc((size_t)t->numel * sizeof *host);
  mg_tensor_download_real(ctx, t, host, t->numel);
  return host;
}

static void check_spectral_norm(mg_ctx *ctx, int ndim, const int *shape, const char *name) {
  mg_tensor *w = tu_random(ctx, ndim, shape, -1, 1, true);
  int rows = shape[0], cols = (int)(w->numel / rows);
  mg_tensor *u = tu_random(ctx, 1, &rows, -1, 1, false), *v = tu_random(ctx, 1, &cols, -1, 1, false);
  char label[128];

  /* fixed u, v: a few iterations first so that sigma = u^T w v is far from 0, then none inside the check */
  bool grad_mode = mg_set_grad_enabled(ctx, false);
  mg_step_begin(ctx);
  mg_spectral_norm(ctx, w, u, v, 5, 1e-12);
  mg_set_grad_enabled(ctx, grad_mode);
  spectral_case fixed = {.u = u, .v = v, .iterations = 0};
  snprintf(label, sizeof label, "spectral_norm %s, 0 iterations", name);
  tu_gradcheck(ctx, label, spectral_fn, &fixed, &w, 1, 1e-6, 1e-8, 1e-6, 200);

  /* converged power iteration from the same start at every evaluation: the full derivative equals the op's */
  mg_real *u0 = download(ctx, u), *v0 = download(ctx, v);
  spectral_case converged = {.u = u, .v = v, .u0 = u0, .v0 = v0, .iterations = 300};
  snprintf(label, sizeof label, "spectral_norm %s, converged", name);
  tu_gradcheck(ctx, label, spectral_fn, &converged, &w, 1, 1e-6, 1e-8, 1e-5, 200);

  /* the backward uses the u, v its forward used: run once, refine the buffers with another forward, then
   * backpropagate the first output; it must match a run without the second forward */
  int64_t n = w->numel;
  mg_real *r = malloc((size_t)n * sizeof *r), *grads[2];
  for (int64_t i = 0; i < n; i++) r[i] = (mg_real)tu_uniform(-1, 1);
  for (int twice = 0; twice < 2; twice++) {
    mg_step_begin(ctx);
    mg_tensor_upload_real(ctx, u, u0, rows);
    mg_tensor_upload_real(ctx, v, v0, cols);
    mg_backend(ctx)->fill_zero(mg_grad(ctx, w), (size_t)n * sizeof(mg_real));
    mg_tensor *y = mg_spectral_norm(ctx, w, u, v, 1, 1e-12);
    if (twice) mg_spectral_norm(ctx, w, u, v, 1, 1e-12);
    mg_tensor *dy = mg_tensor_new(ctx, MG_REAL, y ? y->ndim : 1, y ? y->shape : (int[]){1});
    mg_tensor_upload_real(ctx, dy, r, dy->numel);
    tu_check(mg_backward_from(ctx, y, dy) == MG_OK, "spectral_norm %s backward: %s", name, mg_context_error(ctx));
    grads[twice] = malloc((size_t)n * sizeof(mg_real));
    mg_backend(ctx)->download(grads[twice], w->grad, (size_t)n * sizeof(mg_real));
  }
  tu_check(tu_compare(grads[1], grads[0], n, 1e-14, 1e-12, NULL) <= 1,
           "spectral_norm %s: a later forward changed an earlier forward's gradient", name);

  /* buffers: the same update with gradients enabled or not, and a real change from the start */
  mg_real *after[2];
  for (int enabled = 0; enabled < 2; enabled++) {
    grad_mode = mg_set_grad_enabled(ctx, enabled);
    mg_step_begin(ctx);
    mg_tensor_upload_real(ctx, u, u0, rows);
    mg_tensor_upload_real(ctx, v, v0, cols);
    mg_spectral_norm(ctx, w, u, v, 2, 1e-12);
    mg_set_grad_enabled(ctx, grad_mode);
    after[enabled] = download(ctx, u);
  }
  double moved = 0;
  int differ = 0;
  for (int i = 0; i < rows; i++) {
    moved = fmax(moved, fabs((double)after[0][i] - (double)u0[i]));
    differ += after[1][i] != after[0][i];
  }
  tu_check(differ == 0 && moved > 1e-9,
           "spectral_norm %s: u updated differently with and without gradients, or not at all", name);
  tu_ctx_ok(ctx, name);
  free(u0), free(v0), free(r), free(grads[0]), free(grads[1]), free(after[0]), free(after[1]);
}

/* ---- augmentation ---- */
static mg_tensor *augment_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  return mg_augment(ctx, in[0], (mg_tensor *)user);
}

/* A random whole number in [lo, hi]. */
static double rand_whole(int lo, int hi) { return lo + floor(tu_uniform(0, hi - lo + 1 - 1e-9)); }

/* Image i's parameters: the first ones fixed to cover each case, the rest random (shifts and corners reaching past
 * the image on both sides, rectangles sometimes empty). */
static void augment_params(int i, int h, int w, mg_real *p) {
  static const double fixed[][MG_AUGMENT_PARAMS] = {
      {0, 1, 0, 0, 0, 0, 0, 0},       /* the identity */
      {0.3, 1.7, 2, -1, 1, 1, 3, 4},  /* brighter, more contrast, right and up, a cutout inside */
      {-0.5, 0.4, -3, 2, -2, 3, 2, 9}, /* darker, less contrast, left and down, a cutout partly outside */
      {0.2, 0.8, 9, 0, 0, 0, 0, 0},   /* shifted right past the edge: all zero */
      {0, 1.3, 0, -7, 4, 4, 2, 6},    /* shifted up past the edge, an empty (reversed) cutout */
      {0.1, 0, 1, 1, 0, 0, 100, 1},   /* contrast 0 (the mean everywhere), the first row cut */
  };
  const int n_fixed = (int)(sizeof fixed / sizeof fixed[0]);
  if (i < n_fixed) {
    for (int k = 0; k < MG_AUGMENT_PARAMS; k++) p[k] = (mg_real)fixed[i][k];
    return;
  }
  p[MG_AUGMENT_BRIGHTNESS] = (mg_real)tu_uniform(-0.5, 0.5);
  p[MG_AUGMENT_CONTRAST] = (mg_real)tu_uniform(0.5, 1.5);
  p[MG_AUGMENT_SHIFT_X] = (mg_real)rand_whole(-w - 2, w + 2);
  p[MG_AUGMENT_SHIFT_Y] = (mg_real)rand_whole(-h - 2, h + 2);
  p[MG_AUGMENT_CUT_X0] = (mg_real)rand_whole(-3, w + 1);
  p[MG_AUGMENT_CUT_Y0] = (mg_real)rand_whole(-3, h + 1);
  p[MG_AUGMENT_CUT_X1] = (mg_real)rand_whole(-1, w + 3);
  p[MG_AUGMENT_CUT_Y1] = (mg_real)rand_whole(-1, h + 3);
}

static void check_augment(mg_ctx *ctx, int n, int c, int h, int w) {
  mg_tensor *x = tu_random(ctx, 4, (int[]){n, c, h, w}, -2, 2, true);
  mg_tensor *params = mg_tensor_new_persistent(ctx, MG_REAL, 2, (int[]){n, MG_AUGMENT_PARAMS});
  mg_real *host = malloc((size_t)n * MG_AUGMENT_PARAMS * sizeof *host);
  for (int i = 0; i < n; i++) augment_params(i, h, w, host + i * MG_AUGMENT_PARAMS);
  mg_tensor_upload_real(ctx, params, host, params->numel);
  char label[64];
  snprintf(label, sizeof label, "augment [%d,%d,%d,%d]", n, c, h, w);
  tu_gradcheck(ctx, label, augment_fn, params, &x, 1, 1e-6, 1e-8, 1e-6, 400);
  free(host);
}

/* ---- per-sample sums ---- */
static mg_tensor *sum_rows_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  (void)user;
  return mg_sum_rows(ctx, in[0]);
}

int main(void) {
  mg_ctx *ctx = tu_ctx(2);
  tu_seed(41);
  check_spectral_norm(ctx, 4, (int[]){4, 3, 4, 4}, "conv weight [4,3,4,4]");
  check_spectral_norm(ctx, 2, (int[]){5, 7}, "matrix [5,7]");
  check_spectral_norm(ctx, 2, (int[]){6, 2}, "tall matrix [6,2]");

  check_augment(ctx, 10, 2, 5, 6);
  check_augment(ctx, 12, 1, 7, 4);

  mg_tensor *xs[] = {tu_random(ctx, 1, (int[]){7}, -2, 2, true), tu_random(ctx, 2, (int[]){3, 5}, -2, 2, true),
                     tu_random(ctx, 4, (int[]){4, 2, 3, 5}, -2, 2, true)};
  for (int i = 0; i < 3; i++) tu_gradcheck(ctx, "sum_rows", sum_rows_fn, NULL, &xs[i], 1, 1e-6, 1e-8, 1e-6, 200);
  tu_ctx_ok(ctx, "gradchecks");
  mg_context_free(ctx);
  return tu_finish();
}
