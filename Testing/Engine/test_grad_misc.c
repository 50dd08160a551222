/* test_grad_misc.c: upsample, average pool, concat, timestep embedding (d/dt) and label embedding (table
 * gradients, repeated labels included) against finite differences (double build). */
#include "test_util.h"

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
