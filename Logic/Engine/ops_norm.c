/* ops_norm.c: group norm and batch norm ops. Both accept x [n,c,...] (any rank 2 to 4; the trailing dims are
 * flattened into hw) and optional gamma, beta [c] (NULL: no affine transform). */
#include "mg_internal.h"

#include <math.h>

/* The [n, c, hw] view of x, or false (with an error naming op) when x is not a real tensor of rank 2 to 4. */
static bool norm_dims(mg_ctx *ctx, const char *op, const mg_tensor *x, int *n, int *c, int *hw) {
  char buf[64];
  if (x->dtype != MG_REAL || x->ndim < 2) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: x must be a real tensor [n,c] or [n,c,h,w], not %s", op,
            mg_shape_str(x, buf, sizeof buf));
    return false;
  }
  *n = x->shape[0];
  *c = x->shape[1];
  *hw = (int)(x->numel / ((int64_t)*n * *c));
  return true;
}

/* gamma, beta, running stats: NULL or a real tensor of c elements. */
static bool per_channel(mg_ctx *ctx, const char *op, const char *what, const mg_tensor *t, int c) {
  if (!t || (t->dtype == MG_REAL && t->numel == c)) return true;
  char buf[64];
  mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: %s must have %d elements (one per channel), not %s", op, what, c,
          mg_shape_str(t, buf, sizeof buf));
  return false;
}

static bool valid_eps(mg_ctx *ctx, const char *op, double eps) {
  if (eps >= 0 && isfinite(eps)) return true;
  mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: eps must be finite and >= 0, not %g", op, eps);
  return false;
}

/* ---- group norm: in = {x, gamma, beta}; saved = {mean, rstd} [n*groups]; iarg[0] = groups ---- */
static mg_status group_norm_backward(mg_ctx *ctx, mg_node *node) {
  const mg_tensor *x = node->in[0], *gamma = node->in[1];
  int n = x->shape[0], c = x->shape[1], hw = (int)(x->numel / ((int64_t)n * c));
  mg_real *dx = mg_input_grad(ctx, node, 0), *dgamma = mg_input_grad(ctx, node, 1);
  mg_real *dbeta = mg_input_grad(ctx, node, 2);
  if (!mg_ok(ctx)) return ctx->status;
  ctx->k->group_norm_backward(n, c, hw, node->iarg[0], MG_CDATA(x), gamma ? MG_CDATA(gamma) : NULL,
                              MG_CDATA(node->saved[0]), MG_CDATA(node->saved[1]), node->out->grad, dx, dgamma,
                              dbeta);
  return ctx->status;
}

mg_tensor *mg_group_norm(mg_ctx *ctx, mg_tensor *x, int groups, mg_tensor *gamma, mg_tensor *beta, double eps) {
  if (!MG_INPUTS_OK(ctx, x)) return NULL;
  int n, c, hw;
  if (!norm_dims(ctx, "group_norm", x, &n, &c, &hw)) return NULL;
  if (groups <= 0 || c % groups != 0) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "group_norm: %d channels cannot be split into %d groups", c, groups);
    return NULL;
  }
  if (!per_channel(ctx, "group_norm", "gamma", gamma, c) || !per_channel(ctx, "group_norm", "beta", beta, c) ||
      !valid_eps(ctx, "group_norm", eps))
    return NULL;
  mg_tensor *y = mg_op_output_like(ctx, x);
  mg_tensor *mean = mg_op_output(ctx, MG_REAL, 1, (int[]){n * groups});
  mg_tensor *rstd = mg_op_output(ctx, MG_REAL, 1, (int[]){n * groups});
  if (!y || !mean || !rstd) return NULL;
  ctx->k->group_norm_forward(n, c, hw, groups, (mg_real)eps, MG_CDATA(x), gamma ? MG_CDATA(gamma) : NULL,
                             beta ? MG_CDATA(beta) : NULL, MG_DATA(y), MG_DATA(mean), MG_DATA(rstd));
  mg_node *node = mg_record(ctx, MG_OP_GROUP_NORM, y, 3, (mg_tensor *[]){x, gamma, beta}, group_norm_backward);
  if (node) {
    node->saved[0] = mean;
    node->saved[1] = rstd;
    node->iarg[0] = groups;
  }
  return y;
}

/* ---- batch norm: in = {x, gamma, beta}; saved = {mean, rstd} [c] (in eval mode a copy of the running mean, so a
 * later update of the buffer cannot change this step's gradient); iarg[0] = training. The running statistics
 * are buffers: never inputs of the node, so they never receive gradients. ---- */
static mg_status batch_norm_backward(mg_ctx *ctx, mg_node *node) {
  const mg_tensor *x = node->in[0], *gamma = node->in[1];
  int n = x->shape[0], c = x->shape[1], hw = (int)(x->numel / ((int64_t)n * c));
  mg_real *dx = mg_input_grad(ctx, node, 0), *dgamma = mg_input_grad(ctx, node, 1);
  mg_real *dbeta = mg_input_grad(ctx, node, 2);
  if (!mg_ok(ctx)) return ctx->status;
  ctx->k->batch_norm_backward(n, c, hw, node->iarg[0], MG_CDATA(x), gamma ? MG_CDATA(gamma) : NULL,
                              MG_CDATA(node->saved[0]), MG_CDATA(node->saved[1]), node->out->grad, dx, dgamma,
                              dbeta);
  return ctx->status;
}

mg_tensor *mg_batch_norm(mg_ctx *ctx, mg_tensor *x, mg_tensor *gamma, mg_tensor *beta, mg_tensor *running_mean,
                         mg_tensor *running_var, bool training, double momentum, double eps) {
  if (!MG_INPUTS_OK(ctx, x)) return NULL;
  int n, c, hw;
  if (!norm_dims(ctx, "batch_norm", x, &n, &c, &hw)) return NULL;
  if (!per_channel(ctx, "batch_norm", "gamma", gamma, c) || !per_channel(ctx, "batch_norm", "beta", beta, c) ||
      !per_channel(ctx, "batch_norm", "running_mean", running_mean, c) ||
      !per_channel(ctx, "batch_norm", "running_var", running_var, c) || !valid_eps(ctx, "batch_norm", eps))
    return NULL;
  /* Training may run without running statistics (nothing tracked); eval mode needs them. */
  if (!running_mean != !running_var || (!training && !running_mean)) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "batch_norm: %s", training ? "give both running statistics or neither"
                                                                      : "eval mode needs running_mean and running_var");
    return NULL;
  }
  if (training && (int64_t)n * hw < 2) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "batch_norm: training needs more than one value per channel (n*h*w = %lld)",
            (long long)n * hw);
    return NULL;
  }
  if (training && !(momentum >= 0 && momentum <= 1)) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "batch_norm: momentum must be in [0, 1], not %g", momentum);
    return NULL;
  }
  mg_tensor *y = mg_op_output_like(ctx, x);
  mg_tensor *mean = mg_op_output(ctx, MG_REAL, 1, &c), *rstd = mg_op_output(ctx, MG_REAL, 1, &c);
  if (!y || !mean || !rstd) return NULL;
  const mg_real *g = gamma ? MG_CDATA(gamma) : NULL, *b = beta ? MG_CDATA(beta) : NULL;
  if (training) {
    ctx->k->batch_norm_forward_train(n, c, hw, (mg_real)eps, (mg_real)momentum, MG_CDATA(x), g, b, MG_DATA(y),
                                     MG_DATA(mean), MG_DATA(rstd), running_mean ? MG_DATA(running_mean) : NULL,
                                     running_var ? MG_DATA(running_var) : NULL);
  } else {
    ctx->k->copy(mean->data, running_mean->data, (size_t)c * sizeof(mg_real));
    ctx->k->batch_norm_forward_eval(n, c, hw, (mg_real)eps, MG_CDATA(x), g, b, MG_CDATA(running_mean),
                                    MG_CDATA(running_var), MG_DATA(y), MG_DATA(rstd));
  }
  mg_node *node = mg_record(ctx, MG_OP_BATCH_NORM, y, 3, (mg_tensor *[]){x, gamma, beta}, batch_norm_backward);
  if (node) {
    node->saved[0] = mean;
    node->saved[1] = rstd;
    node->iarg[0] = training ? 1 : 0;
  }
  return y;
}
