/* test_overfit.c: the whole training path (conv, GroupNorm, SiLU, stride-2 downsampling, upsampling, MSE,
 * backward, gradient clipping, AdamW) must be able to memorize a small batch of real images: 8 axial slices of
 * the Colin-27 brain MRI, reconstructed through a stride-2 bottleneck. The loss must fall at least 100-fold within
 * a bounded number of steps. Skips (exit 77) where Debian's mricron-data is not installed. */
#include "mg_io.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define COLIN "/usr/share/mricron/templates/ch2.nii.gz"
enum { N = 8, S = 32, C = 16, MAX_STEPS = 600 };
#define LR 6e-3

/* 8 axial slices spread through the middle of the brain, each a 128x128 central crop box-averaged 4x4 to 32x32,
 * scaled to [-1, 1] by the volume's maximum. */
static bool load_slices(float *out, char *err, size_t err_size) {
  mg_volume v;
  if (mg_nifti_read(COLIN, &v, err, err_size) != MG_OK) return false;
  int nx = v.dim[0], ny = v.dim[1], nz = v.dim[2];
  if (nx < 128 || ny < 128 || nz < 100) {
    snprintf(err, err_size, "%s: unexpected size %dx%dx%d", COLIN, nx, ny, nz);
    mg_volume_free(&v);
    return false;
  }
  float vmax = 0;
  for (int64_t i = 0; i < (int64_t)nx * ny * nz; i++) vmax = v.data[i] > vmax ? v.data[i] : vmax;
  for (int n = 0; n < N; n++) {
    int z = nz / 2 - 28 + 8 * n;
    int x0 = nx / 2 - 64, y0 = ny / 2 - 64;
    for (int r = 0; r < S; r++)
      for (int c = 0; c < S; c++) {
        double acc = 0;
        for (int dy = 0; dy < 4; dy++)
          for (int dx = 0; dx < 4; dx++)
            acc += v.data[((int64_t)z * ny + y0 + 4 * r + dy) * nx + x0 + 4 * c + dx];
        out[(n * S + r) * S + c] = (float)(2.0 * acc / 16.0 / vmax - 1.0);
      }
  }
  mg_volume_free(&v);
  return vmax > 0;
}

typedef struct conv_layer { mg_tensor *w, *b; } conv_layer;
typedef struct norm_layer { mg_tensor *g, *b; } norm_layer;

static conv_layer make_conv(mg_ctx *ctx, mg_params *p, const char *name, int cin, int cout) {
  char wn[64], bn[64];
  snprintf(wn, sizeof wn, "%s.weight", name);
  snprintf(bn, sizeof bn, "%s.bias", name);
  conv_layer l = {mg_param(p, wn, 4, (int[]){cout, cin, 3, 3}), mg_param(p, bn, 1, (int[]){cout})};
  mg_init_default(ctx, l.w, l.b, cin * 9);
  return l;
}

static norm_layer make_norm(mg_ctx *ctx, mg_params *p, const char *name, int c) {
  char gn[64], bn[64];
  snprintf(gn, sizeof gn, "%s.weight", name);
  snprintf(bn, sizeof bn, "%s.bias", name);
  norm_layer l = {mg_param(p, gn, 1, (int[]){c}), mg_param(p, bn, 1, (int[]){c})};
  mg_fill(ctx, l.g, 1.0);
  return l;
}

int main(void) {
  struct stat st;
  if (stat(COLIN, &st) != 0) return tu_skip(COLIN " is absent (apt-get install mricron-data)");
  static float images[N * S * S];
  char err[512];
  if (!tu_check(load_slices(images, err, sizeof err), "cannot load the slices: %s", err)) return tu_finish();

  mg_ctx *ctx = tu_ctx(2);
  mg_rng_seed(ctx, 7);
  mg_params *p = mg_params_new(ctx);
  conv_layer c1 = make_conv(ctx, p, "c1", 1, C);
  norm_layer n1 = make_norm(ctx, p, "n1", C);
  conv_layer c2 = make_conv(ctx, p, "c2", C, C); /* stride 2: 32x32 -> 16x16 */
  norm_layer n2 = make_norm(ctx, p, "n2", C);
  conv_layer c3 = make_conv(ctx, p, "c3", C, C); /* after upsampling back to 32x32 */
  conv_layer c4 = make_conv(ctx, p, "c4", C, 1);
  mg_adam *opt = mg_adam_new(ctx, p, (mg_adam_config){LR, 0.9, 0.999, 1e-8, 0.0, true});
  if (!tu_ctx_ok(ctx, "building the network") || !opt) return tu_finish();

  double first = NAN, last = NAN;
  int step = 0;
  for (; step < MAX_STEPS; step++) {
    mg_step_begin(ctx);
    mg_tensor *x = mg_tensor_4d(ctx, N, 1, S, S);
    mg_tensor_upload(ctx, x, images, N * S * S);
    mg_tensor *h = mg_silu(ctx, mg_group_norm(ctx, mg_conv2d(ctx, x, c1.w, c1.b, 1, 1), 4, n1.g, n1.b, 1e-5));
    h = mg_silu(ctx, mg_group_norm(ctx, mg_conv2d(ctx, h, c2.w, c2.b, 2, 1), 4, n2.g, n2.b, 1e-5));
    h = mg_silu(ctx, mg_conv2d(ctx, mg_upsample_nearest2x(ctx, h), c3.w, c3.b, 1, 1));
    mg_tensor *y = mg_conv2d(ctx, h, c4.w, c4.b, 1, 1);
    mg_tensor *loss = mg_mse_loss(ctx, y, x);
    mg_zero_grad(ctx, p);
    mg_backward(ctx, loss);
    double norm;
    double clip = mg_clip_factor(ctx, p, 5.0, &norm);
    mg_adam_step(opt, mg_lr_schedule(step + 1, 20, MAX_STEPS, LR, LR), clip);
    if (!mg_ok(ctx)) break;
    last = mg_tensor_item(ctx, loss);
    if (step == 0) first = last;
    if (!isfinite(last) || last < first / 100) break;
  }
  tu_ctx_ok(ctx, "training");
  tu_check(isfinite(last), "the loss is %g at step %d", last, step + 1);
  printf("loss %.5f -> %.6f (%.0fx) in %d steps\n", first, last, first / last, step + 1);
  tu_check(first > 0.05, "the initial loss %.4f should be far from zero (the untrained net cannot reconstruct)", first);
  tu_check(last < first / 100, "the loss must fall 100x within %d steps: %.5f -> %.6f", MAX_STEPS, first, last);
  mg_context_free(ctx);
  return tu_finish();
}
