/* test_grad_elementwise.c: activations, broadcast arithmetic and scale against finite differences (double build). */
#include "test_util.h"

typedef struct {
  int which;
  double param;
} unary_case;

static mg_tensor *unary_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  const unary_case *c = user;
  switch (c->which) {
    case MG_UNARY_RELU: return mg_relu(ctx, in[0]);
    case MG_UNARY_LEAKY_RELU: return mg_leaky_relu(ctx, in[0], c->param);
    case MG_UNARY_SILU: return mg_silu(ctx, in[0]);
    case MG_UNARY_TANH: return mg_tanh(ctx, in[0]);
    default: return mg_sigmoid(ctx, in[0]);
  }
}

static mg_tensor *binary_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  switch (*(int *)user) {
    case MG_BINARY_ADD: return mg_add(ctx, in[0], in[1]);
    case MG_BINARY_SUB: return mg_sub(ctx, in[0], in[1]);
    default: return mg_mul(ctx, in[0], in[1]);
  }
}

static mg_tensor *scale_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  (void)user;
  return mg_scale(ctx, in[0], -1.7);
}

static mg_tensor *reshape_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  (void)user; /* the reshape must pass gradients through unchanged; tanh makes the check non-trivial */
  return mg_tanh(ctx, mg_reshape(ctx, in[0], 2, (int[]){in[0]->shape[0], (int)(in[0]->numel / in[0]->shape[0])}));
}

int main(void) {
  mg_ctx *ctx = tu_ctx(2);
  tu_seed(11);
  const char *unary_names[] = {"relu", "leaky_relu", "silu", "tanh", "sigmoid"};
  for (int op = 0; op < MG_UNARY_COUNT; op++) {
    for (int rep = 0; rep < 3; rep++) {
      int shape[4] = {1 + (int)tu_uniform(0, 3), 1 + (int)tu_uniform(0, 5), 1 + (int)tu_uniform(0, 6),
                      1 + (int)tu_uniform(0, 6)};
      mg_tensor *x = tu_random(ctx, 4, shape, -3, 3, true);
      unary_case c = {op, 0.2};
      tu_gradcheck(ctx, unary_names[op], unary_fn, &c, &x, 1, 1e-6, 1e-8, 1e-6, 200);
    }
  }
  /* broadcast pairs: same shape, per-channel, per-sample, scalar, both sides broadcasting, lower rank */
  const int shapes[][2][4] = {
      {{2, 3, 4, 5}, {2, 3, 4, 5}}, {{2, 3, 4, 5}, {1, 3, 1, 1}}, {{2, 3, 4, 5}, {2, 3, 1, 1}},
      {{1, 1, 1, 1}, {2, 3, 4, 5}}, {{2, 1, 4, 1}, {1, 3, 1, 5}},
  };
  const char *binary_names[] = {"add", "sub", "mul"};
  for (int op = 0; op < MG_BINARY_COUNT; op++)
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
      mg_tensor *in[2] = {tu_random(ctx, 4, shapes[s][0], -2, 2, true), tu_random(ctx, 4, shapes[s][1], -2, 2, true)};
      tu_gradcheck(ctx, binary_names[op], binary_fn, &op, in, 2, 1e-6, 1e-8, 1e-6, 200);
    }
  {
    int op = MG_BINARY_MUL; /* rank-2 [n, c] times rank-1 [c] */
    mg_tensor *in[2] = {tu_random(ctx, 2, (int[]){4, 6}, -2, 2, true), tu_random(ctx, 1, (int[]){6}, -2, 2, true)};
    tu_gradcheck(ctx, "mul rank 2 x rank 1", binary_fn, &op, in, 2, 1e-6, 1e-8, 1e-6, 200);
  }
  mg_tensor *x = tu_random(ctx, 4, (int[]){2, 3, 4, 4}, -2, 2, true);
  tu_gradcheck(ctx, "scale", scale_fn, NULL, &x, 1, 1e-6, 1e-8, 1e-6, 200);
  tu_gradcheck(ctx, "reshape", reshape_fn, NULL, &x, 1, 1e-6, 1e-8, 1e-6, 200);

  /* shapes that cannot broadcast are an error, not a crash */
  mg_step_begin(ctx);
  mg_tensor *a = tu_random(ctx, 4, (int[]){2, 3, 4, 5}, -1, 1, false), *b = tu_random(ctx, 4, (int[]){2, 4, 4, 5}, -1, 1, false);
  tu_check(mg_add(ctx, a, b) == NULL && !mg_ok(ctx), "mismatched add must fail");
  tu_check(mg_relu(ctx, a) == NULL, "ops after a failure return NULL");
  mg_clear_error(ctx);
  mg_context_free(ctx);
  return tu_finish();
}
