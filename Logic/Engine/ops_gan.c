/* ops_gan.c: the ops GAN training adds: spectral normalization of a weight (with its power iteration), the
 * differentiable augmentation of image batches, and per-sample sums. */
#include "mg_internal.h"

#include <assert.h>
#include <limits.h>
#include <math.h>

/* Fails unless t is a buffer: a tensor the op reads (or updates) but sends no gradient to. */
static bool no_gradient(mg_ctx *ctx, const mg_tensor *t, const char *opname, const char *what) {
  if (!t->requires_grad) return true;
  mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: %s takes no gradient, but it requires one", opname, what);
  return false;
}

/* The [rows, cols] view of x (rows its first dim), or false with an error naming op. */
static bool row_view(mg_ctx *ctx, const mg_tensor *x, const char *opname, int *rows, int *cols) {
  int64_t per_row = x->numel / x->shape[0];
  if (per_row > INT_MAX) {
    char buf[64];
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: %s has more than %d values per row", opname,
            mg_shape_str(x, buf, sizeof buf), INT_MAX);
    return false;
  }
  *rows = x->shape[0];
  *cols = (int)per_row;
  return true;
}

/* ---- spectral norm: in[0] = w; saved = {u, v} as this forward used them (the buffers may be refined again by a
 * later forward before this backward runs), saved[2] = sigma [1] ---- */
static mg_status spectral_norm_backward(mg_ctx *ctx, mg_node *node) {
  const mg_tensor *w = node->in[0];
  int rows = w->shape[0], cols = (int)(w->numel / rows);
  mg_real *dw = mg_input_grad(ctx, node, 0);
  if (dw)
    ctx->k->spectral_norm_backward(rows, cols, MG_CDATA(w), MG_CDATA(node->saved[0]), MG_CDATA(node->saved[1]),
                                   MG_CDATA(node->saved[2]), node->out->grad, dw);
  return ctx->status;
}

mg_tensor *mg_spectral_norm(mg_ctx *ctx, mg_tensor *w, mg_tensor *u, mg_tensor *v, int power_iterations,
                            double eps) {
  const char *op = "spectral_norm";
  if (!MG_INPUTS_OK(ctx, w, u, v) || !mg_require_real(ctx, w, op) || !mg_require_real(ctx, u, op) ||
      !mg_require_real(ctx, v, op))
    return NULL;
  int rows, cols;
  if (!row_view(ctx, w, op, &rows, &cols)) return NULL;
  char sw[64], sb[64];
  if (u->numel != rows || v->numel != cols) {
    bool bad_u = u->numel != rows;
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "spectral_norm: %s must have %d values (the %s of w %s as [%d,%d]), not %s",
            bad_u ? "u" : "v", bad_u ? rows : cols, bad_u ? "rows" : "columns", mg_shape_str(w, sw, sizeof sw), rows,
            cols, mg_shape_str(bad_u ? u : v, sb, sizeof sb));
    return NULL;
  }
  if (!no_gradient(ctx, u, op, "u") || !no_gradient(ctx, v, op, "v")) return NULL;
  if (power_iterations < 0) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "spectral_norm: power_iterations must be >= 0, not %d", power_iterations);
    return NULL;
  }
  if (!(eps > 0 && isfinite(eps))) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "spectral_norm: eps must be finite and > 0, not %g", eps);
    return NULL;
  }
  mg_tensor *y = mg_op_output_like(ctx, w);
  mg_tensor *sigma = mg_op_output(ctx, MG_REAL, 1, (int[]){1});
  if (!y || !sigma) return NULL;
  ctx->k->spectral_norm_forward(rows, cols, power_iterations, (mg_real)eps, MG_CDATA(w), MG_DATA(u), MG_DATA(v),
                                MG_DATA(sigma), MG_DATA(y));
  mg_node *node = mg_record(ctx, MG_OP_SPECTRAL_NORM, y, 1, &w, spectral_norm_backward);
  if (node) {
    mg_tensor *u_used = mg_op_output_like(ctx, u), *v_used = mg_op_output_like(ctx, v);
    if (!u_used || !v_used) return NULL;
    ctx->k->copy(u_used->data, u->data, (size_t)rows * sizeof(mg_real));
    ctx->k->copy(v_used->data, v->data, (size_t)cols * sizeof(mg_real));
    node->saved[0] = u_used;
    node->saved[1] = v_used;
    node->saved[2] = sigma;
  }
  return y;
}

/* ---- augmentation: in[0] = x; saved[0] = params ---- */
static const char *const augment_param_names[] = {"brightness", "contrast", "shift_x", "shift_y",
                                                  "cut_x0",     "cut_y0",   "cut_x1",  "cut_y1"};
static_assert(sizeof augment_param_names / sizeof augment_param_names[0] == MG_AUGMENT_PARAMS,
               "every augment parameter needs a name");

/* Every parameter finite, and shifts and corners whole numbers. params is tiny: checked on a host copy. */
static bool check_augment_params(mg_ctx *ctx, const mg_tensor *params) {
  int64_t count = params->numel;
  mg_real *host = mg_arena_alloc(&ctx->step_host, (size_t)count * sizeof *host);
  if (!host) {
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "augment: out of memory checking params");
    return false;
  }
  ctx->k->download(host, params->data, (size_t)count * sizeof *host);
  if (!mg_device_ok(ctx)) return false;
  for (int64_t i = 0; i < count; i++) {
    int which = (int)(i % MG_AUGMENT_PARAMS);
    double value = host[i];
    bool whole = which != MG_AUGMENT_BRIGHTNESS && which != MG_AUGMENT_CONTRAST;
    if (!isfinite(value) || (whole && value != floor(value))) {
      mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "augment: image %d: %s is %g, %s", (int)(i / MG_AUGMENT_PARAMS),
              augment_param_names[which], value, isfinite(value) ? "not a whole number" : "not finite");
      return false;
    }
  }
  return true;
}

static mg_status augment_backward(mg_ctx *ctx, mg_node *node) {
  const mg_tensor *x = node->in[0];
  mg_real *dx = mg_input_grad(ctx, node, 0);
  if (dx)
    ctx->k->augment_backward(x->shape[0], x->shape[1], x->shape[2], x->shape[3], MG_CDATA(node->saved[0]),
                             node->out->grad, dx);
  return ctx->status;
}

mg_tensor *mg_augment(mg_ctx *ctx, mg_tensor *x, mg_tensor *params) {
  const char *op = "augment";
  if (!MG_INPUTS_OK(ctx, x, params) || !mg_require_real(ctx, x, op) || !mg_require_real(ctx, params, op))
    return NULL;
  char sx[64], sp[64];
  if (x->ndim != 4) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "augment needs a 4D [n,c,h,w] tensor, got %s",
            mg_shape_str(x, sx, sizeof sx));
    return NULL;
  }
  if (params->ndim != 2 || params->shape[0] != x->shape[0] || params->shape[1] != MG_AUGMENT_PARAMS) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "augment: params must be [%d,%d] (one row per image of %s), not %s",
            x->shape[0], MG_AUGMENT_PARAMS, mg_shape_str(x, sx, sizeof sx), mg_shape_str(params, sp, sizeof sp));
    return NULL;
  }
  if (!no_gradient(ctx, params, op, "params") || !check_augment_params(ctx, params)) return NULL;
  mg_tensor *y = mg_op_output_like(ctx, x);
  if (!y) return NULL;
  ctx->k->augment_forward(x->shape[0], x->shape[1], x->shape[2], x->shape[3], MG_CDATA(params), MG_CDATA(x),
                          MG_DATA(y));
  mg_node *node = mg_record(ctx, MG_OP_AUGMENT, y, 1, &x, augment_backward);
  if (node) node->saved[0] = params;
  return y;
}

/* ---- per-sample sums: x [n, ...] -> [n, 1]; in[0] = x ---- */
static mg_status sum_rows_backward(mg_ctx *ctx, mg_node *node) {
  const mg_tensor *x = node->in[0];
  mg_real *dx = mg_input_grad(ctx, node, 0);
  if (dx) ctx->k->row_sum_backward(x->shape[0], (int)(x->numel / x->shape[0]), node->out->grad, dx);
  return ctx->status;
}

mg_tensor *mg_sum_rows(mg_ctx *ctx, mg_tensor *x) {
  if (!MG_INPUTS_OK(ctx, x) || !mg_require_real(ctx, x, "sum_rows")) return NULL;
  int rows, cols;
  if (!row_view(ctx, x, "sum_rows", &rows, &cols)) return NULL;
  mg_tensor *y = mg_op_output(ctx, MG_REAL, 2, (int[]){rows, 1});
  if (!y) return NULL;
  ctx->k->row_sum_forward(rows, cols, MG_CDATA(x), MG_DATA(y));
  mg_record(ctx, MG_OP_SUM_ROWS, y, 1, &x, sum_rows_backward);
  return y;
}
