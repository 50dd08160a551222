/* test_grad_norm.c: group norm and batch norm (train and eval mode) against finite differences (double build),
 * their forward against plain double loops, and their argument checks. */
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EPS 1e-5

typedef struct {
  int groups;
  bool affine;
} gn_case;

static mg_tensor *group_norm_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  const gn_case *c = user;
  return mg_group_norm(ctx, in[0], c->groups, c->affine ? in[1] : NULL, c->affine ? in[2] : NULL, EPS);
}

typedef struct {
  bool training;
  mg_tensor *running_mean, *running_var;
} bn_case;

static mg_tensor *batch_norm_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  const bn_case *c = user;
  return mg_batch_norm(ctx, in[0], in[1], in[2], c->running_mean, c->running_var, c->training, 0.1, EPS);
}

static mg_real *download(mg_ctx *ctx, const mg_tensor *t) {
  mg_real *h = malloc((size_t)t->numel * sizeof *h);
  mg_tensor_download_real(ctx, t, h, t->numel);
  return h;
}

/* y = (x - mean) / sqrt(var + eps) * gamma + beta over the elements of each group, straight from the definition. */
static void group_norm_reference(const mg_real *x, const mg_real *gamma, const mg_real *beta, int n, int c, int hw,
                                 int groups, double *y) {
  int cpg = c / groups;
  for (int s = 0; s < n; s++)
    for (int g = 0; g < groups; g++) {
      double sum = 0, sq = 0;
      for (int ch = g * cpg; ch < (g + 1) * cpg; ch++)
        for (int i = 0; i < hw; i++) sum += x[((size_t)s * c + ch) * hw + i];
      double mean = sum / (cpg * hw);
      for (int ch = g * cpg; ch < (g + 1) * cpg; ch++)
        for (int i = 0; i < hw; i++) sq += pow(x[((size_t)s * c + ch) * hw + i] - mean, 2);
      double var = sq / (cpg * hw);
      for (int ch = g * cpg; ch < (g + 1) * cpg; ch++)
        for (int i = 0; i < hw; i++) {
          size_t o = ((size_t)s * c + ch) * hw + i;
          y[o] = (x[o] - mean) / sqrt(var + EPS) * gamma[ch] + beta[ch];
        }
    }
}

static void check_group_norm_forward(mg_ctx *ctx, mg_tensor *x, mg_tensor *gamma, mg_tensor *beta, int groups) {
  mg_step_begin(ctx);
  mg_tensor *y = mg_group_norm(ctx, x, groups, gamma, beta, EPS);
  if (!tu_check(y != NULL, "group_norm forward: %s", mg_context_error(ctx))) return;
  int n = x->shape[0], c = x->shape[1], hw = (int)(x->numel / ((int64_t)n * c));
  mg_real *xh = download(ctx, x), *gh = download(ctx, gamma), *bh = download(ctx, beta), *yh = download(ctx, y);
  double *ref = malloc((size_t)x->numel * sizeof *ref);
  group_norm_reference(xh, gh, bh, n, c, hw, groups, ref);
  mg_real *refr = malloc((size_t)x->numel * sizeof *refr);
  for (int64_t i = 0; i < x->numel; i++) refr[i] = (mg_real)ref[i];
  tu_check(tu_compare(yh, refr, x->numel, 1e-12, 1e-10, NULL) <= 1, "group_norm forward (groups %d) vs loops", groups);
  free(xh), free(gh), free(bh), free(yh), free(ref), free(refr);
}

static void test_group_norm(mg_ctx *ctx) {
  /* several group counts, including one channel per group and all channels in one group */
  const int cases[][5] = {{2, 6, 3, 5, 1}, {2, 6, 3, 5, 2}, {1, 6, 4, 3, 3}, {3, 4, 2, 3, 4}, {2, 8, 5, 2, 2}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const int *s = cases[i];
    mg_tensor *in[3] = {tu_random(ctx, 4, s, -2, 3, true), tu_random(ctx, 1, &s[1], 0.5, 1.5, true),
                        tu_random(ctx, 1, &s[1], -1, 1, true)};
    gn_case gc = {s[4], true};
    char name[64];
    snprintf(name, sizeof name, "group_norm [%d,%d,%d,%d] groups %d", s[0], s[1], s[2], s[3], s[4]);
    tu_gradcheck(ctx, name, group_norm_fn, &gc, in, 3, 1e-6, 1e-8, 1e-6, 200);
    check_group_norm_forward(ctx, in[0], in[1], in[2], s[4]);
  }
  /* [n, c] input: the statistics run over the channels of each group only */
  {
    int shape[2] = {3, 8}, c = 8;
    mg_tensor *in[3] = {tu_random(ctx, 2, shape, -2, 2, true), tu_random(ctx, 1, &c, 0.5, 1.5, true),
                        tu_random(ctx, 1, &c, -1, 1, true)};
    gn_case gc = {2, true};
    tu_gradcheck(ctx, "group_norm [3,8] groups 2", group_norm_fn, &gc, in, 3, 1e-6, 1e-8, 1e-6, 200);
    check_group_norm_forward(ctx, in[0], in[1], in[2], 2);
  }
  /* without gamma and beta */
  {
    mg_tensor *x = tu_random(ctx, 4, (int[]){2, 4, 3, 3}, -1, 2, true);
    gn_case gc = {2, false};
    tu_gradcheck(ctx, "group_norm no affine", group_norm_fn, &gc, &x, 1, 1e-6, 1e-8, 1e-6, 200);
  }
}

/* Independent forward reference for batch norm: per channel over the batch and positions. */
static void check_batch_norm_forward(mg_ctx *ctx, mg_tensor *x, mg_tensor *gamma, mg_tensor *beta, bn_case *bc) {
  mg_step_begin(ctx);
  mg_tensor *y = batch_norm_fn(ctx, (mg_tensor *[]){x, gamma, beta}, bc);
  if (!tu_check(y != NULL, "batch_norm forward: %s", mg_context_error(ctx))) return;
  int n = x->shape[0], c = x->shape[1], hw = (int)(x->numel / ((int64_t)n * c));
  mg_real *xh = download(ctx, x), *gh = download(ctx, gamma), *bh = download(ctx, beta), *yh = download(ctx, y);
  mg_real *rm = download(ctx, bc->running_mean), *rv = download(ctx, bc->running_var);
  mg_real *ref = malloc((size_t)x->numel * sizeof *ref);
  for (int ch = 0; ch < c; ch++) {
    double mean = rm[ch], var = rv[ch];
    if (bc->training) { /* batch statistics, biased variance */
      double sum = 0, sq = 0;
      for (int s = 0; s < n; s++)
        for (int i = 0; i < hw; i++) sum += xh[((size_t)s * c + ch) * hw + i];
      mean = sum / ((double)n * hw);
      for (int s = 0; s < n; s++)
        for (int i = 0; i < hw; i++) sq += pow(xh[((size_t)s * c + ch) * hw + i] - mean, 2);
      var = sq / ((double)n * hw);
    }
    for (int s = 0; s < n; s++)
      for (int i = 0; i < hw; i++) {
        size_t o = ((size_t)s * c + ch) * hw + i;
        ref[o] = (mg_real)((xh[o] - mean) / sqrt(var + EPS) * gh[ch] + bh[ch]);
      }
  }
  tu_check(tu_compare(yh, ref, x->numel, 1e-12, 1e-10, NULL) <= 1, "batch_norm forward (%s) vs loops",
           bc->training ? "train" : "eval");
  free(xh), free(gh), free(bh), free(yh), free(rm), free(rv), free(ref);
}

static void test_batch_norm(mg_ctx *ctx) {
  const int shapes[][4] = {{3, 4, 3, 5}, {2, 3, 4, 4}, {5, 6, 1, 1}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    for (int training = 1; training >= 0; training--) {
      const int *s = shapes[i];
      /* [n,c,1,1] is also run as the rank-2 [n,c] of BatchNorm1d */
      int ndim = s[2] * s[3] == 1 ? 2 : 4;
      mg_tensor *in[3] = {tu_random(ctx, ndim, s, -2, 3, true), tu_random(ctx, 1, &s[1], 0.5, 1.5, true),
                          tu_random(ctx, 1, &s[1], -1, 1, true)};
      bn_case bc = {training, tu_random(ctx, 1, &s[1], -0.5, 0.5, false), tu_random(ctx, 1, &s[1], 0.5, 2, false)};
      char name[80];
      snprintf(name, sizeof name, "batch_norm %s rank %d [%d,%d,%d,%d]", training ? "train" : "eval", ndim, s[0], s[1],
               s[2], s[3]);
      tu_gradcheck(ctx, name, batch_norm_fn, &bc, in, 3, 1e-6, 1e-8, 1e-6, 200);
      check_batch_norm_forward(ctx, in[0], in[1], in[2], &bc);
      tu_check(bc.running_mean->grad == NULL && bc.running_var->grad == NULL,
               "%s: running statistics must not get gradients", name);
    }
}

static void test_errors(mg_ctx *ctx) {
  mg_step_begin(ctx);
  int c = 6;
  mg_tensor *x = tu_random(ctx, 4, (int[]){2, 6, 3, 3}, -1, 1, false), *g = tu_random(ctx, 1, &c, 1, 2, false);
  mg_tensor *g5 = tu_random(ctx, 1, (int[]){5}, 1, 2, false);
  tu_check(mg_group_norm(ctx, x, 4, g, g, EPS) == NULL && !mg_ok(ctx), "6 channels in 4 groups must fail");
  tu_check(strstr(mg_context_error(ctx), "groups") != NULL, "the group error names the groups: %s",
           mg_context_error(ctx));
  mg_clear_error(ctx);
  tu_check(mg_group_norm(ctx, x, 0, NULL, NULL, EPS) == NULL, "0 groups must fail");
  mg_clear_error(ctx);
  tu_check(mg_group_norm(ctx, x, 2, g5, NULL, EPS) == NULL, "gamma of the wrong size must fail");
  mg_clear_error(ctx);
  tu_check(mg_batch_norm(ctx, x, g, g, NULL, NULL, false, 0.1, EPS) == NULL, "eval without running stats must fail");
  mg_clear_error(ctx);
  tu_check(mg_batch_norm(ctx, x, g, g, g, NULL, true, 0.1, EPS) == NULL, "one running stat alone must fail");
  mg_clear_error(ctx);
  tu_check(mg_batch_norm(ctx, x, g, g, g, g5, true, 0.1, EPS) == NULL, "running_var of the wrong size must fail");
  mg_clear_error(ctx);
  mg_tensor *one = tu_random(ctx, 4, (int[]){1, 6, 1, 1}, -1, 1, false);
  tu_check(mg_batch_norm(ctx, one, g, g, NULL, NULL, true, 0.1, EPS) == NULL,
           "training on one value per channel must fail");
  mg_clear_error(ctx);
  tu_check(mg_batch_norm(ctx, one, g, g, g, g, false, 0.1, EPS) != NULL, "eval on one value per channel works: %s",
           mg_context_error(ctx));
  mg_clear_error(ctx);
  tu_check(mg_batch_norm(ctx, x, g, g, NULL, NULL, true, 0.1, EPS) != NULL, "training without running stats works: %s",
           mg_context_error(ctx));
  mg_clear_error(ctx);
}

int main(void) {
  mg_ctx *ctx = tu_ctx(2);
  tu_seed(23);
  test_group_norm(ctx);
  test_batch_norm(ctx);
  test_errors(ctx);
  mg_context_free(ctx);
  return tu_finish();
}
