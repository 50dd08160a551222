/* test_grad_attention.c: softmax and multi-head spatial attention against finite differences (double build),
 * their forward against plain double loops, softmax's stability on large inputs, and argument checks. */
#include "test_util.h"

#include <math.h>
#include <stdlib.h>

static mg_tensor *softmax_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  (void)user;
  return mg_softmax(ctx, in[0]);
}

static mg_tensor *attention_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  return mg_attention(ctx, in[0], in[1], in[2], *(int *)user);
}

/* q = k = v = in[0]: the three gradients land in one buffer */
static mg_tensor *self_attention_fn(mg_ctx *ctx, mg_tensor **in, void *user) {
  return mg_attention(ctx, in[0], in[0], in[0], *(int *)user);
}

static mg_real *download(mg_ctx *ctx, const mg_tensor *t) {
  mg_real *h = malloc((size_t)t->numel * sizeof *h);
  mg_tensor_download_real(ctx, t, h, t->numel);
  return h;
}

static void test_softmax(mg_ctx *ctx) {
  const int shapes[][4] = {{5, 7, 1, 1}, {2, 3, 4, 9}, {3, 1, 1, 1}, {2, 3, 6, 1}};
  const int ndims[] = {2, 4, 2, 3};
  for (size_t i = 0; i < sizeof ndims / sizeof ndims[0]; i++) {
    mg_tensor *x = tu_random(ctx, ndims[i], shapes[i], -4, 4, true);
    char name[64];
    snprintf(name, sizeof name, "softmax rank %d [%d,%d,%d,%d]", ndims[i], shapes[i][0], shapes[i][1], shapes[i][2],
             shapes[i][3]);
    tu_gradcheck(ctx, name, softmax_fn, NULL, &x, 1, 1e-6, 1e-8, 1e-6, 200);
  }
  /* large inputs: exp(1000) overflows unless the row max is subtracted first */
  mg_step_begin(ctx);
  mg_tensor *x = mg_tensor_new(ctx, MG_REAL, 2, (int[]){2, 3});
  const mg_real xv[6] = {1000, 1001, 999, -1000, -1002, -1001};
  mg_tensor_upload_real(ctx, x, xv, 6);
  mg_tensor *y = mg_softmax(ctx, x);
  if (tu_check(y != NULL, "softmax of large values: %s", mg_context_error(ctx))) {
    mg_real *yh = download(ctx, y);
    for (int r = 0; r < 2; r++) {
      double sum = 0;
      for (int j = 0; j < 3; j++) sum += exp(xv[r * 3 + j] - xv[r * 3]); /* exact ratios relative to column 0 */
      for (int j = 0; j < 3; j++) {
        double want = exp(xv[r * 3 + j] - xv[r * 3]) / sum;
        tu_check(fabs(yh[r * 3 + j] - want) < 1e-12, "softmax[%d][%d] = %g, expected %g", r, j, yh[r * 3 + j], want);
      }
    }
    free(yh);
  }
}

/* out[b, h*D+d, i] = sum_j softmax_j(sum_e q[b,h*D+e,i] k[b,h*D+e,j] / sqrt(D)) v[b,h*D+d,j], from the definition. */
static void attention_reference(const mg_real *q, const mg_real *k, const mg_real *v, int n, int heads, int dim,
                                int len, mg_real *out) {
  double *p = malloc((size_t)len * sizeof *p);
  for (int b = 0; b < n; b++)
    for (int h = 0; h < heads; h++) {
      size_t base = ((size_t)b * heads + h) * dim * len;
      for (int i = 0; i < len; i++) {
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < len; j++) {
          double s = 0;
          for (int e = 0; e < dim; e++) s += q[base + (size_t)e * len + i] * k[base + (size_t)e * len + j];
          p[j] = s / sqrt(dim);
          mx = fmax(mx, p[j]);
        }
        for (int j = 0; j < len; j++) sum += (p[j] = exp(p[j] - mx));
        for (int d = 0; d < dim; d++) {
          double o = 0;
          for (int j = 0; j < len; j++) o += p[j] / sum * v[base + (size_t)d * len + j];
          out[base + (size_t)d * len + i] = (mg_real)o;
        }
      }
    }
  free(p);
}

static void test_attention(mg_ctx *ctx) {
  /* n, heads, head_dim, h, w: 1, 2 and 4 heads, non-square spatial sizes; 420 positions span several query
   * blocks of the CPU kernel */
  const int cases[][5] = {{2, 1, 3, 3, 5}, {1, 2, 2, 2, 7}, {2, 4, 2, 4, 3}, {1, 2, 3, 1, 6}, {1, 2, 2, 21, 20}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const int *s = cases[i];
    int heads = s[1], shape[4] = {s[0], s[1] * s[2], s[3], s[4]};
    mg_tensor *in[3] = {tu_random(ctx, 4, shape, -1.5, 1.5, true), tu_random(ctx, 4, shape, -1.5, 1.5, true),
                        tu_random(ctx, 4, shape, -1, 1, true)};
    char name[80];
    snprintf(name, sizeof name, "attention heads %d [%d,%d,%d,%d]", heads, shape[0], shape[1], shape[2], shape[3]);
    tu_gradcheck(ctx, name, attention_fn, &heads, in, 3, 1e-6, 1e-8, 1e-6, 200);

    mg_step_begin(ctx);
    mg_tensor *y = mg_attention(ctx, in[0], in[1], in[2], heads);
    if (tu_check(y != NULL, "%s forward: %s", name, mg_context_error(ctx))) {
      mg_real *qh = download(ctx, in[0]), *kh = download(ctx, in[1]), *vh = download(ctx, in[2]);
      mg_real *yh = download(ctx, y), *ref = malloc((size_t)y->numel * sizeof *ref);
      attention_reference(qh, kh, vh, s[0], heads, s[2], s[3] * s[4], ref);
      tu_check(tu_compare(yh, ref, y->numel, 1e-12, 1e-10, NULL) <= 1, "%s forward vs loops", name);
      free(qh), free(kh), free(vh), free(yh), free(ref);
    }
  }
  /* one tensor as q, k and v: the backward must add the three contributions into one gradient */
  int heads = 2;
  mg_tensor *x = tu_random(ctx, 4, (int[]){2, 4, 3, 2}, -1.5, 1.5, true);
  tu_gradcheck(ctx, "self attention q = k = v", self_attention_fn, &heads, &x, 1, 1e-6, 1e-8, 1e-6, 200);
}

static void test_errors(mg_ctx *ctx) {
  mg_step_begin(ctx);
  mg_tensor *a = tu_random(ctx, 4, (int[]){1, 6, 2, 2}, -1, 1, false);
  mg_tensor *b = tu_random(ctx, 4, (int[]){1, 6, 2, 3}, -1, 1, false);
  tu_check(mg_attention(ctx, a, a, a, 4) == NULL && !mg_ok(ctx), "6 channels in 4 heads must fail");
  mg_clear_error(ctx);
  tu_check(mg_attention(ctx, a, b, a, 2) == NULL && !mg_ok(ctx), "q and k of different shapes must fail");
  mg_clear_error(ctx);
  mg_tensor *flat = tu_random(ctx, 2, (int[]){2, 6}, -1, 1, false);
  tu_check(mg_attention(ctx, flat, flat, flat, 2) == NULL && !mg_ok(ctx), "rank-2 attention input must fail");
  mg_clear_error(ctx);
}

int main(void) {
  mg_ctx *ctx = tu_ctx(2);
  tu_seed(31);
  test_softmax(ctx);
  test_attention(ctx);
  test_errors(ctx);
  mg_context_free(ctx);
  return tu_finish();
}
