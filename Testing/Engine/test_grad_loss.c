/* test_grad_loss.c: sum, mean and the losses against finite differences (double build): both inputs of MSE and
 * BCE (the target gradient too), hinge with either sign, cross-entropy with mild and wide logits. */
#include "test_util.h"

typedef enum { SUM, MEAN, MSE, BCE, HINGE_REAL, HINGE_FAKE, CROSS_ENTROPY } loss_kind;

static mg_tensor *loss_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  switch (*(const loss_kind *)user) {
    case SUM: return mg_sum(ctx, in[0]);
    case MEAN: return mg_mean(ctx, in[0]);
    case MSE: return mg_mse_loss(ctx, in[0], in[1]);
    case BCE: return mg_bce_logits_loss(ctx, in[0], in[1]);
    case HINGE_REAL: return mg_hinge_loss(ctx, in[0], 1);
    case HINGE_FAKE: return mg_hinge_loss(ctx, in[0], -1);
    default: return mg_cross_entropy_loss(ctx, in[0], in[1]);
  }
}

/* Sum of a non-linear function of x, so the check also covers how the scalar's gradient reaches a producer. */
static mg_tensor *mean_of_tanh_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  (void)user;
  return mg_mean(ctx, mg_tanh(ctx, in[0]));
}

static int rand_dim(int lo, int hi) { return lo + (int)tu_uniform(0, hi - lo + 1 - 1e-9); }

static void check(mg_ctx *ctx, const char *name, loss_kind kind, mg_tensor **in, int n_in) {
  tu_gradcheck(ctx, name, loss_fn, &kind, in, n_in, 1e-6, 1e-8, 1e-6, 200);
}

int main(void) {
  mg_ctx *ctx = tu_ctx(2);
  tu_seed(31);
  for (int rep = 0; rep < 3; rep++) {
    int shape[4] = {rand_dim(1, 3), rand_dim(1, 4), rand_dim(1, 5), rand_dim(1, 5)};
    mg_tensor *x = tu_random(ctx, 4, shape, -3, 3, true);
    check(ctx, "sum", SUM, &x, 1);
    check(ctx, "mean", MEAN, &x, 1);
    check(ctx, "hinge sign +1", HINGE_REAL, &x, 1);
    check(ctx, "hinge sign -1", HINGE_FAKE, &x, 1);
    tu_gradcheck(ctx, "mean of tanh", mean_of_tanh_fn, NULL, &x, 1, 1e-6, 1e-8, 1e-6, 200);

    mg_tensor *pt[2] = {tu_random(ctx, 4, shape, -2, 2, true), tu_random(ctx, 4, shape, -2, 2, true)};
    check(ctx, "mse (pred and target)", MSE, pt, 2);
    mg_tensor *lt[2] = {tu_random(ctx, 4, shape, -5, 5, true), tu_random(ctx, 4, shape, 0, 1, true)};
    check(ctx, "bce_logits (logits and target)", BCE, lt, 2);

    int rows = rand_dim(1, 6), classes = rand_dim(2, 7);
    mg_tensor *ce[2] = {tu_random(ctx, 2, (int[]){rows, classes}, -3, 3, true), tu_labels(ctx, rows, classes)};
    check(ctx, "cross_entropy", CROSS_ENTROPY, ce, 2);
    ce[0] = tu_random(ctx, 2, (int[]){rows, classes}, -40, 40, true); /* near one-hot softmax */
    check(ctx, "cross_entropy wide logits", CROSS_ENTROPY, ce, 2);
  }
  {
    /* a single-class cross-entropy is identically 0: its gradient must be 0, not NaN */
    mg_tensor *ce[2] = {tu_random(ctx, 2, (int[]){3, 1}, -3, 3, true), tu_labels(ctx, 3, 1)};
    check(ctx, "cross_entropy one class", CROSS_ENTROPY, ce, 2);
  }
  tu_ctx_ok(ctx, "gradchecks");
  mg_context_free(ctx);
  return tu_finish();
}
