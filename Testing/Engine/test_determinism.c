/* test_determinism.c: a small training loop is reproducible and allocation-free.
 * Net: conv2d 3x3 (3->16) -> group norm (4 groups) -> silu -> conv2d 3x3 (16->3), mse against a target; inputs
 * are fresh Philox noise each step, the update is gradient clipping + Adam with a warm-up/cosine schedule + EMA.
 * - 20 steps with 1 thread and with 2 threads: losses, weights, moments and EMA bit-identical (memcmp).
 * - From the 2nd step on, a step makes no heap allocation (mg_memory().heap_allocations constant).
 * - Gradient accumulation: two half-batch backwards (no zero_grad between, each loss scaled by 1/2) equal one
 *   full-batch backward within 1e-5 (the summation order differs).
 * - With gradients disabled a forward records nothing. */
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STEPS 20
#define BATCH 4
#define CIN 3
#define HIDDEN 16
#define SIZE 32 /* big enough that the first step overflows the arenas' first 1 MiB chunks */

typedef struct {
  mg_params *p;
  mg_tensor *w1, *b1, *gamma, *beta, *w2, *b2;
} net;

static net make_net(mg_ctx *ctx) {
  net n;
  n.p = mg_params_new(ctx);
  n.w1 = mg_param(n.p, "conv1.weight", 4, (int[]){HIDDEN, CIN, 3, 3});
  n.b1 = mg_param(n.p, "conv1.bias", 1, (int[]){HIDDEN});
  n.gamma = mg_param(n.p, "norm.weight", 1, (int[]){HIDDEN});
  n.beta = mg_param(n.p, "norm.bias", 1, (int[]){HIDDEN});
  n.w2 = mg_param(n.p, "conv2.weight", 4, (int[]){CIN, HIDDEN, 3, 3});
  n.b2 = mg_param(n.p, "conv2.bias", 1, (int[]){CIN});
  mg_init_default(ctx, n.w1, n.b1, CIN * 9);
  mg_fill(ctx, n.gamma, 1);
  mg_fill_normal(ctx, n.beta, 0, 0.1); /* not zero, so its gradient path is exercised from the start */
  mg_init_default(ctx, n.w2, n.b2, HIDDEN * 9);
  return n;
}

static mg_tensor *forward(mg_ctx *ctx, const net *n, mg_tensor *x) {
  mg_tensor *h = mg_conv2d(ctx, x, n->w1, n->b1, 1, 1);
  h = mg_silu(ctx, mg_group_norm(ctx, h, 4, n->gamma, n->beta, 1e-5));
  return mg_conv2d(ctx, h, n->w2, n->b2, 1, 1);
}

/* Everything a run produced, flattened: losses, then per parameter its value, m, v and EMA. */
typedef struct {
  mg_real *values;
  int64_t count;
  int64_t heap_before, heap_after[STEPS];
} run_result;

static void append(mg_ctx *ctx, run_result *r, const mg_tensor *t) {
  mg_tensor_download_real(ctx, t, r->values + r->count, t->numel);
  r->count += t->numel;
}

static run_result train(int threads) {
  run_result r = {0};
  mg_ctx *ctx = tu_ctx(threads);
  mg_rng_seed(ctx, 77);
  net n = make_net(ctx);
  tu_seed(3);
  mg_tensor *target = tu_random(ctx, 4, (int[]){BATCH, CIN, SIZE, SIZE}, -1, 1, false);
  mg_adam *opt = mg_adam_new(ctx, n.p, (mg_adam_config){1e-2, 0.9, 0.999, 1e-8, 1e-2, true});
  mg_ema *ema = mg_ema_new(ctx, n.p);
  r.heap_before = mg_memory(ctx).heap_allocations;
  r.values = calloc((size_t)(STEPS + 4 * mg_params_numel(n.p)), sizeof(mg_real));
  for (int step = 0; step < STEPS; step++) {
    mg_step_begin(ctx);
    mg_zero_grad(ctx, n.p);
    mg_tensor *x = mg_tensor_4d(ctx, BATCH, CIN, SIZE, SIZE);
    mg_fill_normal(ctx, x, 0, 1);
    mg_tensor *loss = mg_mse_loss(ctx, forward(ctx, &n, x), target);
    if (!tu_ctx_ok(ctx, "forward")) break;
    append(ctx, &r, loss);
    mg_backward(ctx, loss);
    double norm, factor = mg_clip_factor(ctx, n.p, 0.5, &norm);
    mg_adam_step(opt, mg_lr_schedule(step, 5, STEPS, 1e-2, 1e-3), factor);
    mg_ema_update(ema, mg_ema_decay(step, 0.99, 1, 2.0 / 3));
    if (!tu_ctx_ok(ctx, "training step")) break;
    r.heap_after[step] = mg_memory(ctx).heap_allocations;
  }
  for (int i = 0; i < mg_params_count(n.p); i++) {
    append(ctx, &r, mg_params_at(n.p, i));
    append(ctx, &r, mg_adam_moment(opt, i, 0));
    append(ctx, &r, mg_adam_moment(opt, i, 1));
    append(ctx, &r, mg_ema_tensor(ema, i));
  }
  tu_check(r.values[STEPS - 1] < r.values[0], "%d threads: loss went from %g to %g", threads, (double)r.values[0],
           (double)r.values[STEPS - 1]);
  mg_context_free(ctx);
  return r;
}

static void determinism_and_memory(void) {
  run_result one = train(1), two = train(2);
  tu_check(one.count == two.count && one.count > STEPS, "both runs produced %lld values", (long long)one.count);
  tu_check(memcmp(one.values, two.values, STEPS * sizeof(mg_real)) == 0, "losses differ between 1 and 2 threads");
  tu_check(memcmp(one.values, two.values, (size_t)one.count * sizeof(mg_real)) == 0,
           "weights, moments or EMA differ between 1 and 2 threads");
  for (int t = 0; t < 2; t++) {
    const run_result *r = t ? &two : &one;
    tu_check(r->heap_after[0] > r->heap_before, "%d threads: the first step should have grown the arenas", t + 1);
    int64_t first = r->heap_after[1];
    bool steady = true;
    for (int s = 2; s < STEPS; s++) steady &= r->heap_after[s] == first;
    tu_check(steady, "%d threads: heap allocations after step 2: %lld, after step %d: %lld", t + 1, (long long)first,
             STEPS, (long long)r->heap_after[STEPS - 1]);
  }
  free(one.values);
  free(two.values);
}

/* Grad of all parameters, flattened. */
static mg_real *gradients(mg_ctx *ctx, const net *n) {
  mg_real *g = malloc((size_t)mg_params_numel(n->p) * sizeof *g), *at = g;
  for (int i = 0; i < mg_params_count(n->p); i++) {
    const mg_tensor *t = mg_params_at(n->p, i);
    mg_backend(ctx)->download(at, t->grad, (size_t)t->numel * sizeof *at);
    at += t->numel;
  }
  return g;
}

static void accumulation_and_no_grad(void) {
  mg_ctx *ctx = tu_ctx(2);
  mg_rng_seed(ctx, 11);
  net n = make_net(ctx);
  const int half = BATCH / 2, per_sample = CIN * SIZE * SIZE;
  mg_real *xh = malloc((size_t)BATCH * per_sample * sizeof *xh), *th = malloc((size_t)BATCH * per_sample * sizeof *th);
  tu_seed(5);
  for (int i = 0; i < BATCH * per_sample; i++) {
    xh[i] = (mg_real)tu_uniform(-2, 2);
    th[i] = (mg_real)tu_uniform(-1, 1);
  }
  mg_tensor *x = mg_tensor_new_persistent(ctx, MG_REAL, 4, (int[]){BATCH, CIN, SIZE, SIZE});
  mg_tensor *t = mg_tensor_new_persistent(ctx, MG_REAL, 4, (int[]){BATCH, CIN, SIZE, SIZE});
  mg_tensor_upload_real(ctx, x, xh, x->numel);
  mg_tensor_upload_real(ctx, t, th, t->numel);
  mg_tensor *xs[2], *ts[2];
  for (int h = 0; h < 2; h++) {
    xs[h] = mg_tensor_new_persistent(ctx, MG_REAL, 4, (int[]){half, CIN, SIZE, SIZE});
    ts[h] = mg_tensor_new_persistent(ctx, MG_REAL, 4, (int[]){half, CIN, SIZE, SIZE});
    mg_tensor_upload_real(ctx, xs[h], xh + (size_t)h * half * per_sample, xs[h]->numel);
    mg_tensor_upload_real(ctx, ts[h], th + (size_t)h * half * per_sample, ts[h]->numel);
  }

  mg_step_begin(ctx);
  mg_zero_grad(ctx, n.p);
  mg_backward(ctx, mg_mse_loss(ctx, forward(ctx, &n, x), t));
  if (!tu_ctx_ok(ctx, "full batch")) return;
  mg_real *full = gradients(ctx, &n);

  mg_zero_grad(ctx, n.p);
  for (int h = 0; h < 2; h++) { /* the mean over half the batch weighs each sample twice as much: scale by 1/2 */
    mg_step_begin(ctx);
    mg_backward(ctx, mg_scale(ctx, mg_mse_loss(ctx, forward(ctx, &n, xs[h]), ts[h]), 0.5));
  }
  tu_ctx_ok(ctx, "half batches");
  mg_real *acc = gradients(ctx, &n);
  int64_t offset = 0;
  for (int i = 0; i < mg_params_count(n.p); i++) {
    const mg_tensor *p = mg_params_at(n.p, i);
    double scale = 0;
    for (int64_t j = 0; j < p->numel; j++) scale = fmax(scale, fabs((double)full[offset + j]));
    int64_t worst_i;
    double worst = tu_compare(acc + offset, full + offset, p->numel, 1e-5 * scale, 1e-5, &worst_i);
    tu_check(scale > 0 && worst <= 1, "accumulated gradient of %s: %.9g vs full batch %.9g (%.2f x tolerance)",
             p->name, (double)acc[offset + worst_i], (double)full[offset + worst_i], worst);
    offset += p->numel;
  }

  mg_step_begin(ctx);
  bool previous = mg_set_grad_enabled(ctx, false);
  mg_tensor *y = forward(ctx, &n, x);
  tu_check(previous && !mg_grad_enabled(ctx), "mg_set_grad_enabled returns the previous setting");
  tu_check(y && y->node == NULL && !y->requires_grad, "a no-grad forward records no node");
  mg_tensor *loss = mg_mse_loss(ctx, y, t);
  tu_check(loss && mg_backward(ctx, loss) == MG_ERR_INVALID_ARGUMENT, "backward through a no-grad forward fails");
  mg_clear_error(ctx);
  mg_set_grad_enabled(ctx, previous);
  y = forward(ctx, &n, x);
  tu_check(y && y->node != NULL && y->requires_grad, "re-enabled gradients record again");
  tu_ctx_ok(ctx, "no-grad");
  free(full);
  free(acc);
  free(xh);
  free(th);
  mg_context_free(ctx);
}

int main(void) {
  determinism_and_memory();
  accumulation_and_no_grad();
  return tu_finish();
}
