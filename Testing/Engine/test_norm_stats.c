/* test_norm_stats.c (float build): batch norm's running statistics after two training steps against double loops
 * written here (PyTorch's rule: unbiased variance in the running update, momentum 0.1), eval mode normalizing
 * with those running statistics, and bit-identical group norm, batch norm and attention (forward and backward)
 * for 1 and 2 threads. */
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EPS 1e-5
#define MOMENTUM 0.1

static mg_real *download(mg_ctx *ctx, const mg_tensor *t) {
  mg_real *h = malloc((size_t)t->numel * sizeof *h);
  mg_tensor_download_real(ctx, t, h, t->numel);
  return h;
}

/* Batch mean and variance of channel ch of x [n,c,hw]; var_biased divides by n*hw, var_unbiased by n*hw-1. */
static void channel_stats(const mg_real *x, int n, int c, int hw, int ch, double *mean, double *var_biased,
                          double *var_unbiased) {
  double sum = 0, sq = 0, m = (double)n * hw;
  for (int s = 0; s < n; s++)
    for (int i = 0; i < hw; i++) sum += x[((size_t)s * c + ch) * hw + i];
  *mean = sum / m;
  for (int s = 0; s < n; s++)
    for (int i = 0; i < hw; i++) {
      double d = x[((size_t)s * c + ch) * hw + i] - *mean;
      sq += d * d;
    }
  *var_biased = sq / m;
  *var_unbiased = sq / (m - 1);
}

static void test_running_stats(mg_ctx *ctx) {
  const int n = 4, c = 3, h = 5, w = 6, hw = h * w;
  mg_params *p = mg_params_new(ctx);
  mg_tensor *gamma = mg_param(p, "bn.weight", 1, &c), *beta = mg_param(p, "bn.bias", 1, &c);
  mg_tensor *rm = mg_buffer(p, "bn.running_mean", 1, &c), *rv = mg_buffer(p, "bn.running_var", 1, &c);
  mg_real gh[3], bh[3], ones[3] = {1, 1, 1};
  for (int ch = 0; ch < c; ch++) {
    gh[ch] = (mg_real)tu_uniform(0.5, 1.5);
    bh[ch] = (mg_real)tu_uniform(-0.5, 0.5);
  }
  mg_tensor_upload_real(ctx, gamma, gh, c);
  mg_tensor_upload_real(ctx, beta, bh, c);
  mg_tensor_upload_real(ctx, rv, ones, c); /* PyTorch's initial running stats: mean 0 (as created), var 1 */
  double want_mean[3] = {0, 0, 0}, want_var[3] = {1, 1, 1};

  for (int step = 0; step < 2; step++) {
    /* channel offsets and scales make the statistics of each channel and step distinct */
    mg_tensor *x = tu_random(ctx, 4, (int[]){n, c, h, w}, -1 + step, 2 + 3 * step, true);
    mg_step_begin(ctx);
    mg_tensor *y = mg_batch_norm(ctx, x, gamma, beta, rm, rv, true, MOMENTUM, EPS);
    mg_tensor *dy = y ? mg_tensor_new(ctx, MG_REAL, 4, y->shape) : NULL;
    if (dy) mg_fill(ctx, dy, 0.5);
    if (!tu_check(dy && mg_backward_from(ctx, y, dy) == MG_OK, "training step %d: %s", step, mg_context_error(ctx)))
      return;
    mg_real *xh = download(ctx, x), *yh = download(ctx, y);
    double worst_y = 0;
    for (int ch = 0; ch < c; ch++) {
      double mean, vb, vu;
      channel_stats(xh, n, c, hw, ch, &mean, &vb, &vu);
      want_mean[ch] = (1 - MOMENTUM) * want_mean[ch] + MOMENTUM * mean;
      want_var[ch] = (1 - MOMENTUM) * want_var[ch] + MOMENTUM * vu;
      for (int s = 0; s < n; s++)
        for (int i = 0; i < hw; i++) {
          size_t o = ((size_t)s * c + ch) * hw + i;
          double want = (xh[o] - mean) / sqrt(vb + EPS) * gh[ch] + bh[ch];
          worst_y = tu_worse(worst_y, fabs(yh[o] - want));
        }
    }
    tu_check(worst_y < 1e-5, "training step %d output differs from batch statistics by %g", step, worst_y);
    free(xh), free(yh);
  }
  mg_real *rmh = download(ctx, rm), *rvh = download(ctx, rv);
  for (int ch = 0; ch < c; ch++) {
    tu_check(fabs(rmh[ch] - want_mean[ch]) < 1e-6 * (1 + fabs(want_mean[ch])), "running_mean[%d] = %.8g, expected %.8g",
             ch, rmh[ch], want_mean[ch]);
    tu_check(fabs(rvh[ch] - want_var[ch]) < 1e-6 * (1 + fabs(want_var[ch])), "running_var[%d] = %.8g, expected %.8g",
             ch, rvh[ch], want_var[ch]);
  }
  tu_check(rm->grad == NULL && rv->grad == NULL, "running statistics must never get gradients");
  tu_check(gamma->grad != NULL && beta->grad != NULL, "gamma and beta get gradients");

  /* eval mode normalizes with the running statistics and leaves them unchanged */
  mg_tensor *x = tu_random(ctx, 4, (int[]){2, c, h, w}, -2, 2, false);
  mg_step_begin(ctx);
  mg_tensor *y = mg_batch_norm(ctx, x, gamma, beta, rm, rv, false, MOMENTUM, EPS);
  if (tu_check(y != NULL, "eval forward: %s", mg_context_error(ctx))) {
    mg_real *xh = download(ctx, x), *yh = download(ctx, y), *rm2 = download(ctx, rm), *rv2 = download(ctx, rv);
    double worst = 0;
    for (int s = 0; s < 2; s++)
      for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < hw; i++) {
          size_t o = ((size_t)s * c + ch) * hw + i;
          double want = (xh[o] - want_mean[ch]) / sqrt(want_var[ch] + EPS) * gh[ch] + bh[ch];
          worst = tu_worse(worst, fabs(yh[o] - want));
        }
    tu_check(worst < 1e-5, "eval output differs from the running-statistics formula by %g", worst);
    tu_check(memcmp(rm2, rmh, c * sizeof *rmh) == 0 && memcmp(rv2, rvh, c * sizeof *rvh) == 0,
             "eval mode must not change the running statistics");
    free(xh), free(yh), free(rm2), free(rv2);
  }
  free(rmh), free(rvh);
}

/* ---- 1 vs 2 threads: forward output and every input gradient must be bit-identical ---- */
enum { GROUP_NORM, BATCH_NORM, ATTENTION, N_OPS };
static const char *const op_names[N_OPS] = {"group_norm", "batch_norm", "attention"};

typedef struct {
  mg_tensor *in[3];
  mg_tensor *running_mean, *running_var;
  mg_real *out, *grads[3]; /* host copies of one run */
} thread_case;

static mg_tensor *run_op(mg_ctx *ctx, int op, thread_case *tc) {
  switch (op) {
    case GROUP_NORM: return mg_group_norm(ctx, tc->in[0], 8, tc->in[1], tc->in[2], EPS);
    case BATCH_NORM:
      return mg_batch_norm(ctx, tc->in[0], tc->in[1], tc->in[2], tc->running_mean, tc->running_var, true, MOMENTUM,
                           EPS);
    default: return mg_attention(ctx, tc->in[0], tc->in[1], tc->in[2], 4);
  }
}

/* One forward and backward (with a fixed upstream gradient); returns host copies of output and gradients. */
static bool run_once(mg_ctx *ctx, int op, thread_case *tc, const mg_real *dout_host, mg_real **out,
                     mg_real *grads[3]) {
  mg_step_begin(ctx);
  for (int i = 0; i < 3; i++)
    if (tc->in[i]->grad) mg_backend(ctx)->fill_zero(tc->in[i]->grad, (size_t)tc->in[i]->numel * sizeof(mg_real));
  mg_tensor *y = run_op(ctx, op, tc);
  mg_tensor *dout = y ? mg_tensor_new(ctx, MG_REAL, y->ndim, y->shape) : NULL;
  if (dout) mg_tensor_upload_real(ctx, dout, dout_host, dout->numel);
  if (!tu_check(dout && mg_backward_from(ctx, y, dout) == MG_OK, "%s: %s", op_names[op], mg_context_error(ctx)))
    return false;
  *out = download(ctx, y);
  for (int i = 0; i < 3; i++) {
    grads[i] = malloc((size_t)tc->in[i]->numel * sizeof(mg_real));
    mg_backend(ctx)->download(grads[i], tc->in[i]->grad, (size_t)tc->in[i]->numel * sizeof(mg_real));
  }
  return true;
}

static void test_threads(mg_ctx *ctx) {
  for (int op = 0; op < N_OPS; op++) {
    thread_case tc = {0};
    int c = 64, shape[4] = {4, c, 16, 12};
    if (op == ATTENTION) { /* 480 positions: several query blocks per head */
      shape[0] = 2, shape[2] = 24, shape[3] = 20;
      for (int i = 0; i < 3; i++) tc.in[i] = tu_random(ctx, 4, shape, -2, 2, true);
    } else {
      tc.in[0] = tu_random(ctx, 4, shape, -2, 3, true);
      tc.in[1] = tu_random(ctx, 1, &c, 0.5, 1.5, true);
      tc.in[2] = tu_random(ctx, 1, &c, -1, 1, true);
      tc.running_mean = tu_random(ctx, 1, &c, 0, 0, false);
      tc.running_var = tu_random(ctx, 1, &c, 1, 1, false);
    }
    int64_t numel = tc.in[0]->numel;
    mg_real *dout = malloc((size_t)numel * sizeof *dout);
    for (int64_t i = 0; i < numel; i++) dout[i] = (mg_real)tu_uniform(-1, 1);
    mg_real *out[2] = {0}, *grads[2][3] = {{0}};
    bool ok = true;
    for (int t = 0; t < 2 && ok; t++) {
      mg_context_set_threads(ctx, t + 1);
      ok = run_once(ctx, op, &tc, dout, &out[t], grads[t]);
    }
    if (ok) {
      tu_check(memcmp(out[0], out[1], (size_t)numel * sizeof(mg_real)) == 0, "%s: output differs for 1 and 2 threads",
               op_names[op]);
      for (int i = 0; i < 3; i++)
        tu_check(memcmp(grads[0][i], grads[1][i], (size_t)tc.in[i]->numel * sizeof(mg_real)) == 0,
                 "%s: gradient of input %d differs for 1 and 2 threads", op_names[op], i);
    }
    for (int t = 0; t < 2; t++) {
      free(out[t]);
      for (int i = 0; i < 3; i++) free(grads[t][i]);
    }
    free(dout);
  }
  mg_context_set_threads(ctx, 2);
}

int main(void) {
  mg_ctx *ctx = tu_ctx(2);
  tu_seed(47);
  test_running_stats(ctx);
  test_threads(ctx);
  mg_context_free(ctx);
  return tu_finish();
}
