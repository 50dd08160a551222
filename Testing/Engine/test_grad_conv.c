/* test_grad_conv.c: conv2d, transposed conv2d and linear against finite differences (double build), plus the
 * shape errors these ops must report instead of crashing. */
#include "test_util.h"

#include <string.h>

typedef struct {
  int transposed, stride, pad;
} conv_case;

static mg_tensor *conv_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  const conv_case *c = user;
  if (c->transposed) return mg_conv_transpose2d(ctx, in[0], in[1], in[2], c->stride, c->pad);
  return mg_conv2d(ctx, in[0], in[1], in[2], c->stride, c->pad);
}

static mg_tensor *linear_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  (void)user;
  return mg_linear(ctx, in[0], in[1], in[2]);
}

/* One conv case on random small shapes: x [n,cin,h,w], w [cout,cin,k,k] (transposed: [cin,cout,k,k]). */
static void check_conv(mg_ctx *ctx, conv_case c, int k, bool bias) {
  int n = 1 + (int)tu_uniform(0, 2), cin = 1 + (int)tu_uniform(0, 3), cout = 1 + (int)tu_uniform(0, 3);
  int h = k + (int)tu_uniform(1, 5), w = k + (int)tu_uniform(1, 5);
  if (c.transposed) h = 2 + (int)tu_uniform(0, 3), w = 2 + (int)tu_uniform(0, 3);
  int wshape[4] = {c.transposed ? cin : cout, c.transposed ? cout : cin, k, k};
  mg_tensor *in[3] = {tu_random(ctx, 4, (int[]){n, cin, h, w}, -1, 1, true), tu_random(ctx, 4, wshape, -1, 1, true),
                      bias ? tu_random(ctx, 1, &cout, -1, 1, true) : NULL};
  char name[128];
  snprintf(name, sizeof name, "%s k=%d stride=%d pad=%d %s x [%d,%d,%d,%d] cout %d",
           c.transposed ? "conv_transpose2d" : "conv2d", k, c.stride, c.pad, bias ? "bias" : "no bias", n, cin, h,
           w, cout);
  tu_gradcheck(ctx, name, conv_fn, &c, in, bias ? 3 : 2, 1e-6, 1e-8, 1e-6, 150); /* in[2] NULL: no bias */
}

/* An op that must fail: NULL, an error in ctx that names the op; then the error is cleared. */
static void expect_error(mg_ctx *ctx, mg_tensor *y, const char *op, const char *what) {
  const char *msg = mg_context_error(ctx);
  tu_check(y == NULL && !mg_ok(ctx) && strstr(msg, op) != NULL, "%s: expected an error naming %s, got '%s'", what,
           op, msg);
  mg_clear_error(ctx);
}

static void check_errors(mg_ctx *ctx) {
  mg_step_begin(ctx);
  mg_tensor *x = tu_random(ctx, 4, (int[]){2, 3, 8, 8}, -1, 1, false);
  mg_tensor *w3 = tu_random(ctx, 4, (int[]){4, 3, 3, 3}, -1, 1, false);
  mg_tensor *w_bad_cin = tu_random(ctx, 4, (int[]){4, 5, 3, 3}, -1, 1, false);
  mg_tensor *w5 = tu_random(ctx, 4, (int[]){4, 3, 5, 5}, -1, 1, false);
  mg_tensor *w_rect = tu_random(ctx, 4, (int[]){4, 3, 3, 1}, -1, 1, false);
  mg_tensor *b4 = tu_random(ctx, 1, (int[]){4}, -1, 1, false), *b5 = tu_random(ctx, 1, (int[]){5}, -1, 1, false);
  mg_tensor *x2d = tu_random(ctx, 2, (int[]){2, 3}, -1, 1, false);
  mg_tensor *tiny = tu_random(ctx, 4, (int[]){1, 3, 2, 2}, -1, 1, false);
  expect_error(ctx, mg_conv2d(ctx, x, w_bad_cin, NULL, 1, 1), "conv2d", "channel mismatch");
  expect_error(ctx, mg_conv2d(ctx, x, w5, NULL, 1, 1), "conv2d", "5x5 kernel");
  expect_error(ctx, mg_conv2d(ctx, x, w_rect, NULL, 1, 1), "conv2d", "non-square kernel");
  expect_error(ctx, mg_conv2d(ctx, x, w3, b5, 1, 1), "conv2d", "bias of the wrong size");
  expect_error(ctx, mg_conv2d(ctx, x, w3, NULL, 3, 1), "conv2d", "stride 3");
  expect_error(ctx, mg_conv2d(ctx, x, w3, NULL, 1, -1), "conv2d", "negative padding");
  expect_error(ctx, mg_conv2d(ctx, x2d, w3, NULL, 1, 1), "conv2d", "2-D input");
  expect_error(ctx, mg_conv2d(ctx, tiny, w3, NULL, 1, 0), "conv2d", "input smaller than the kernel");
  /* transposed: w is [cin, cout, k, k], so w3 [4,3,3,3] expects 4 input channels */
  expect_error(ctx, mg_conv_transpose2d(ctx, x, w3, NULL, 2, 1), "conv_transpose2d", "transposed channel mismatch");
  mg_tensor *wt = tu_random(ctx, 4, (int[]){3, 4, 4, 4}, -1, 1, false);
  expect_error(ctx, mg_conv_transpose2d(ctx, x, wt, b5, 2, 1), "conv_transpose2d", "transposed bias size");
  expect_error(ctx, mg_conv_transpose2d(ctx, tiny, wt, NULL, 1, 3), "conv_transpose2d", "empty transposed output");
  mg_tensor *lw = tu_random(ctx, 2, (int[]){4, 5}, -1, 1, false);
  expect_error(ctx, mg_linear(ctx, x2d, lw, NULL), "linear", "linear in mismatch");
  expect_error(ctx, mg_linear(ctx, x, lw, NULL), "linear", "linear 4-D input");
  mg_tensor *lw_ok = tu_random(ctx, 2, (int[]){4, 3}, -1, 1, false);
  expect_error(ctx, mg_linear(ctx, x2d, lw_ok, b5), "linear", "linear bias size");
  /* and the valid calls work, with the shapes PyTorch gives */
  mg_tensor *y = mg_conv2d(ctx, x, w3, b4, 2, 1);
  tu_check(y && y->shape[0] == 2 && y->shape[1] == 4 && y->shape[2] == 4 && y->shape[3] == 4,
           "conv2d stride 2 pad 1 on 8x8 must give [2,4,4,4]");
  mg_tensor *yt = mg_conv_transpose2d(ctx, x, wt, b4, 2, 1);
  tu_check(yt && yt->shape[1] == 4 && yt->shape[2] == 16 && yt->shape[3] == 16,
           "conv_transpose2d k4 s2 p1 on 8x8 must give 16x16");
  tu_ctx_ok(ctx, "valid conv calls");
}

int main(void) {
  mg_ctx *ctx = tu_ctx(2);
  tu_seed(7);
  const int ks[] = {1, 3, 4};
  for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++)
    for (int stride = 1; stride <= 2; stride++)
      for (int pad = 0; pad <= 2; pad++)
        check_conv(ctx, (conv_case){0, stride, pad}, ks[ki], (stride + pad + (int)ki) % 2 == 0);
  check_conv(ctx, (conv_case){0, 1, 1}, 3, true); /* both bias settings for the common 3x3 case */
  check_conv(ctx, (conv_case){0, 1, 1}, 3, false);
  for (int stride = 1; stride <= 2; stride++)
    for (int pad = 0; pad <= 2; pad++) check_conv(ctx, (conv_case){1, stride, pad}, 4, pad != 1);
  check_conv(ctx, (conv_case){1, 2, 1}, 4, true);

  int shapes[][3] = {{3, 5, 4}, {1, 7, 2}, {4, 1, 6}}; /* n, in, out */
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int n = shapes[s][0], fin = shapes[s][1], fout = shapes[s][2];
    mg_tensor *in[3] = {tu_random(ctx, 2, (int[]){n, fin}, -1, 1, true),
                        tu_random(ctx, 2, (int[]){fout, fin}, -1, 1, true),
                        s == 1 ? NULL : tu_random(ctx, 1, &fout, -1, 1, true)};
    tu_gradcheck(ctx, "linear", linear_fn, NULL, in, in[2] ? 3 : 2, 1e-6, 1e-8, 1e-6, 200);
  }
  check_errors(ctx);
  mg_context_free(ctx);
  return tu_finish();
}
