/* test_grad_misc.c: upsample, average pool, concat, dropout (with its mask held fixed), timestep embedding (d/dt)
 * and label embedding (table gradients, repeated labels included) against finite differences (double build);
 * plus dropout's values: the share dropped, the scale of the rest, and p = 0 as the identity drawing nothing. */
#include "test_util.h"

#include <math.h>
#include <stdlib.h>

static mg_tensor *upsample_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  (void)user;
  return mg_upsample_nearest2x(ctx, in[0]);
}

static mg_tensor *pool_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  (void)user;
  return mg_avg_pool2x(ctx, in[0]);
}

static mg_tensor *concat_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  (void)user;
  return mg_concat(ctx, in[0], in[1]);
}

typedef struct {
  double p;
  uint64_t seed;
} dropout_case;

static mg_tensor *dropout_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  const dropout_case *c = user;
  mg_rng_seed(ctx, c->seed); /* the same mask at every evaluation */
  return mg_dropout(ctx, in[0], c->p);
}

/* Dropout's forward against its definition: each value either 0 or x/(1-p), about a share p dropped, one Philox
 * block per 4 values; p = 0 returns x itself without drawing; p outside [0, 1) fails. */
static void check_dropout_values(mg_ctx *ctx) {
  const int shape[4] = {2, 8, 32, 32};
  const double p = 0.3;
  mg_tensor *x = tu_random(ctx, 4, shape, 0.5, 2, false);
  int64_t n = x->numel;
  mg_real *xs = malloc((size_t)n * sizeof *xs), *ys = malloc((size_t)n * sizeof *ys);
  mg_tensor_download_real(ctx, x, xs, n);
  mg_step_begin(ctx);
  mg_rng_seed(ctx, 5);
  mg_tensor *y = mg_dropout(ctx, x, p);
  tu_check(mg_rng_offset(ctx) == (uint64_t)(n + 3) / 4, "dropout: used %llu Philox blocks for %lld values",
           (unsigned long long)mg_rng_offset(ctx), (long long)n);
  mg_tensor_download_real(ctx, y, ys, n);
  int64_t dropped = 0, wrong = 0;
  for (int64_t i = 0; i < n; i++) {
    if (ys[i] == 0) dropped++;
    else if (fabs((double)ys[i] - (double)xs[i] / (1 - p)) > 1e-12 * fabs((double)xs[i])) wrong++;
  }
  double share = (double)dropped / (double)n; /* binomial: sd = sqrt(p(1-p)/n) ~ 0.0036 */
  tu_check(fabs(share - p) < 0.02, "dropout p = %g dropped a share %.4f", p, share);
  tu_check(wrong == 0, "dropout: %lld kept values are not x/(1-p)", (long long)wrong);

  mg_rng_seed(ctx, 5);
  tu_check(mg_dropout(ctx, x, 0.0) == x && mg_rng_offset(ctx) == 0, "dropout p = 0: not the identity or drew numbers");
  tu_ctx_ok(ctx, "dropout values");
  tu_check(mg_dropout(ctx, x, 1.0) == NULL && !mg_ok(ctx), "dropout p = 1 must fail");
  mg_clear_error(ctx);
  tu_check(mg_dropout(ctx, x, -0.1) == NULL && !mg_ok(ctx), "dropout p = -0.1 must fail");
  mg_clear_error(ctx);
  free(xs);
  free(ys);
}

typedef struct {
  int dim;
  double max_period;
} timestep_case;

static mg_tensor *timestep_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  const timestep_case *c = user;
  return mg_timestep_embedding(ctx, in[0], c->dim, c->max_period);
}

static mg_tensor *embedding_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  (void)user;
  return mg_embedding(ctx, in[0], in[1]);
}

/* A random size in [lo, hi]. */
static int rand_dim(int lo, int hi) { return lo + (int)tu_uniform(0, hi - lo + 1 - 1e-9); }

int main(void) {
  mg_ctx *ctx = tu_ctx(2);
  tu_seed(23);
  for (int rep = 0; rep < 3; rep++) {
    int shape[4] = {rand_dim(1, 3), rand_dim(1, 4), rand_dim(1, 6), rand_dim(1, 6)};
    mg_tensor *x = tu_random(ctx, 4, shape, -2, 2, true);
    tu_gradcheck(ctx, "upsample_nearest2x", upsample_fn, NULL, &x, 1, 1e-6, 1e-8, 1e-6, 200);

    int even[4] = {rand_dim(1, 3), rand_dim(1, 4), 2 * rand_dim(1, 4), 2 * rand_dim(1, 4)};
    x = tu_random(ctx, 4, even, -2, 2, true);
    tu_gradcheck(ctx, "avg_pool2x", pool_fn, NULL, &x, 1, 1e-6, 1e-8, 1e-6, 200);

    int n = rand_dim(1, 3), h = rand_dim(1, 5), w = rand_dim(1, 5);
    mg_tensor *ab[2] = {tu_random(ctx, 4, (int[]){n, rand_dim(1, 4), h, w}, -2, 2, true),
                        tu_random(ctx, 4, (int[]){n, rand_dim(1, 4), h, w}, -2, 2, true)};
    tu_gradcheck(ctx, "concat 4d", concat_fn, NULL, ab, 2, 1e-6, 1e-8, 1e-6, 200);
  }
  {
    /* rank 2 ([n, features]) concat, as used to join condition vectors */
    mg_tensor *ab[2] = {tu_random(ctx, 2, (int[]){3, 5}, -2, 2, true), tu_random(ctx, 2, (int[]){3, 2}, -2, 2, true)};
    tu_gradcheck(ctx, "concat 2d", concat_fn, NULL, ab, 2, 1e-6, 1e-8, 1e-6, 200);
    /* only one side needing a gradient must still give it the right one */
    ab[0]->requires_grad = false;
    tu_gradcheck(ctx, "concat, b only", concat_fn, NULL, ab, 2, 1e-6, 1e-8, 1e-6, 200);
  }

  /* dropout: the gradient through a fixed mask, at a typical and a large p */
  const dropout_case drops[] = {{0.1, 3}, {0.7, 4}};
  for (size_t i = 0; i < sizeof drops / sizeof drops[0]; i++) {
    mg_tensor *x = tu_random(ctx, 4, (int[]){2, 3, rand_dim(2, 6), rand_dim(2, 6)}, -2, 2, true);
    tu_gradcheck(ctx, "dropout", dropout_fn, (void *)&drops[i], &x, 1, 1e-6, 1e-8, 1e-6, 200);
  }
  check_dropout_values(ctx);

  /* timestep embedding: d/dt over diffusion-sized timesteps and two periods */
  const timestep_case cases[] = {{2, 10000}, {8, 10000}, {32, 10000}, {10, 100}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mg_tensor *t = tu_random(ctx, 1, (int[]){rand_dim(1, 5)}, 0, 1000, true);
    tu_gradcheck(ctx, "timestep_embedding", timestep_fn, (void *)&cases[i], &t, 1, 1e-6, 1e-8, 1e-6, 200);
  }

  /* label embedding: explicit repeats, then random labels with more samples than rows */
  {
    int32_t labels_host[] = {2, 0, 2, 3, 2, 0, 1};
    int n = 7;
    mg_tensor *labels = mg_tensor_new_persistent(ctx, MG_INT32, 1, &n);
    mg_tensor_upload(ctx, labels, labels_host, n);
    mg_tensor *in[2] = {labels, tu_random(ctx, 2, (int[]){4, 5}, -1, 1, true)};
    tu_gradcheck(ctx, "embedding repeated labels", embedding_fn, NULL, in, 2, 1e-6, 1e-8, 1e-6, 200);
    in[0] = tu_labels(ctx, 40, 6);
    in[1] = tu_random(ctx, 2, (int[]){6, 70}, -1, 1, true); /* dim > one 64-wide block of the backward */
    tu_gradcheck(ctx, "embedding random labels", embedding_fn, NULL, in, 2, 1e-6, 1e-8, 1e-6, 500);
  }
  tu_ctx_ok(ctx, "gradchecks");
  mg_context_free(ctx);
  return tu_finish();
}
