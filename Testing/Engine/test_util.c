/* test_util.c: see test_util.h. */
#include "test_util.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

bool tu_ctx_ok(mg_ctx *ctx, const char *where) {
  return tu_check(mg_ok(ctx), "%s: %s", where, mg_context_error(ctx));
}

mg_tensor *tu_random(mg_ctx *ctx, int ndim, const int *shape, double lo, double hi, bool requires_grad) {
  mg_tensor *t = mg_tensor_new_persistent(ctx, MG_REAL, ndim, shape);
  if (!t) return NULL;
  mg_real *host = malloc((size_t)t->numel * sizeof *host);
  for (int64_t i = 0; i < t->numel; i++) host[i] = (mg_real)tu_uniform(lo, hi);
  mg_tensor_upload_real(ctx, t, host, t->numel);
  free(host);
  t->requires_grad = requires_grad;
  return t;
}

mg_tensor *tu_labels(mg_ctx *ctx, int n, int classes) {
  mg_tensor *t = mg_tensor_new_persistent(ctx, MG_INT32, 1, &n);
  if (!t) return NULL;
  int32_t *host = malloc((size_t)n * sizeof *host);
  for (int i = 0; i < n; i++) host[i] = (int32_t)(tu_uniform(0, classes)) % classes;
  mg_tensor_upload(ctx, t, host, n);
  free(host);
  return t;
}

double tu_worse(double worst, double err) { return err > worst || isnan(err) ? err : worst; }

double tu_compare(const mg_real *a, const mg_real *b, int64_t n, double atol, double rtol, int64_t *worst_index) {
  double worst = 0;
  int64_t wi = 0;
  for (int64_t i = 0; i < n; i++) {
    double r = fabs((double)a[i] - (double)b[i]) / (atol + rtol * fabs((double)b[i]));
    if (!(r <= worst)) { /* NaN counts as worst */
      worst = isnan(r) ? INFINITY : r;
      wi = i;
    }
  }
  if (worst_index) *worst_index = wi;
  return worst;
}

static double loss_of(mg_ctx *ctx, tu_forward_fn f, void *user, mg_tensor **inputs, const mg_real *r, int64_t n) {
  mg_step_begin(ctx);
  mg_tensor *y = f(ctx, inputs, user);
  if (!y || y->numel != n) return NAN;
  mg_real *host = malloc((size_t)n * sizeof *host);
  mg_tensor_download_real(ctx, y, host, n);
  double loss = 0;
  for (int64_t i = 0; i < n; i++) loss += (double)host[i] * (double)r[i];
  free(host);
  return loss;
}

bool tu_gradcheck(mg_ctx *ctx, const char *name, tu_forward_fn f, void *user, mg_tensor **inputs, int n_inputs,
                  double eps, double atol, double rtol, int max_points) {
  bool all_ok = true;
  mg_step_begin(ctx);
  mg_tensor *y = f(ctx, inputs, user);
  if (!tu_check(y != NULL, "%s: forward failed: %s", name, mg_context_error(ctx))) return false;
  int64_t n = y->numel;
  mg_real *r = malloc((size_t)n * sizeof *r);
  for (int64_t i = 0; i < n; i++) r[i] = (mg_real)tu_uniform(-1, 1);
  mg_tensor *rt = mg_tensor_new(ctx, MG_REAL, y->ndim, y->shape);
  mg_tensor_upload_real(ctx, rt, r, n);
  for (int i = 0; i < n_inputs; i++)
    if (inputs[i]->requires_grad && inputs[i]->grad)
      mg_backend(ctx)->fill_zero(inputs[i]->grad, (size_t)inputs[i]->numel * sizeof(mg_real));
  if (!tu_check(mg_backward_from(ctx, y, rt) == MG_OK, "%s: backward failed: %s", name, mg_context_error(ctx))) {
    free(r);
    return false;
  }
  bool grad_mode = mg_set_grad_enabled(ctx, false);
  for (int i = 0; i < n_inputs; i++) {
    mg_tensor *x = inputs[i];
    if (!x->requires_grad) continue;
    if (!tu_check(x->grad != NULL, "%s: input %d got no gradient", name, i)) {
      all_ok = false;
      continue;
    }
    mg_real *xv = malloc((size_t)x->numel * sizeof *xv), *g = malloc((size_t)x->numel * sizeof *g);
    mg_tensor_download_real(ctx, x, xv, x->numel);
    mg_backend(ctx)->download(g, x->grad, (size_t)x->numel * sizeof *g);
    int64_t points = x->numel < max_points ? x->numel : max_points;
    int bad = 0;
    for (int64_t p = 0; p < points; p++) {
      int64_t j = points == x->numel ? p : (int64_t)tu_uniform(0, (double)x->numel);
      mg_real saved = xv[j];
      xv[j] = saved + (mg_real)eps;
      mg_tensor_upload_real(ctx, x, xv, x->numel);
      double lp = loss_of(ctx, f, user, inputs, r, n);
      xv[j] = saved - (mg_real)eps;
      mg_tensor_upload_real(ctx, x, xv, x->numel);
      double lm = loss_of(ctx, f, user, inputs, r, n);
      xv[j] = saved;
      mg_tensor_upload_real(ctx, x, xv, x->numel);
      double numeric = (lp - lm) / (2 * eps), analytic = (double)g[j];
      double err = fabs(numeric - analytic), allowed = atol + rtol * fmax(fabs(numeric), fabs(analytic));
      if (!(err <= allowed)) {
        if (bad++ < 5)
          fprintf(stderr, "  %s: input %d element %lld: analytic %.10g numeric %.10g\n", name, i, (long long)j,
                  analytic, numeric);
      }
    }
    all_ok &= tu_check(bad == 0, "%s: input %d: %d of %lld gradient entries differ from finite differences", name,
                       i, bad, (long long)points);
    free(xv);
    free(g);
  }
  mg_set_grad_enabled(ctx, grad_mode);
  free(r);
  return all_ok;
}
