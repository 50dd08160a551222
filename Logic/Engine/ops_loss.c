/* ops_loss.c: reductions to a scalar (sum, mean) and the training losses (MSE, BCE with logits, hinge,
 * cross-entropy). Every output is a scalar tensor of shape [1]; the losses are means over all elements (rows for
 * cross-entropy), matching PyTorch's reduction='mean'. */
#include "mg_internal.h"

static mg_tensor *scalar_output(mg_ctx *ctx) { return mg_op_output(ctx, MG_REAL, 1, (int[]){1}); }

/* Fails unless a and b are real tensors of the same shape. */
static bool require_same_shape(mg_ctx *ctx, const mg_tensor *a, const mg_tensor *b, const char *opname) {
  if (!mg_require_real(ctx, a, opname) || !mg_require_real(ctx, b, opname)) return false;
  if (mg_same_shape(a, b)) return true;
  char sa[64], sb[64];
  mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: inputs must have the same shape, got %s and %s", opname,
          mg_shape_str(a, sa, sizeof sa), mg_shape_str(b, sb, sizeof sb));
  return false;
}

/* ---- sum: x [any] -> [1] ---- */
static mg_status sum_backward(mg_ctx *ctx, mg_node *node) {
  mg_real *dx = mg_input_grad(ctx, node, 0);
  if (dx) ctx->k->sum_backward(node->in[0]->numel, node->out->grad, dx);
  return ctx->status;
}

mg_tensor *mg_sum(mg_ctx *ctx, mg_tensor *x) {
  if (!MG_INPUTS_OK(ctx, x) || !mg_require_real(ctx, x, "sum")) return NULL;
  mg_tensor *y = scalar_output(ctx);
  if (!y) return NULL;
  ctx->k->sum_forward(x->numel, MG_CDATA(x), MG_DATA(y));
  mg_record(ctx, MG_OP_SUM, y, 1, &x, sum_backward);
  return y;
}

/* ---- mean: x [any] -> [1], the sum scaled by 1/numel; the backward spreads dout/numel ---- */
static mg_status mean_backward(mg_ctx *ctx, mg_node *node) {
  mg_real *dx = mg_input_grad(ctx, node, 0);
  if (!dx) return ctx->status;
  int64_t n = node->in[0]->numel;
  mg_real *scaled = mg_scratch(ctx, sizeof(mg_real)); /* dout/n, kept on the device */
  if (!scaled) return ctx->status;
  ctx->k->scale_forward(1, (mg_real)(1.0 / (double)n), node->out->grad, scaled);
  ctx->k->sum_backward(n, scaled, dx);
  return ctx->status;
}

mg_tensor *mg_mean(mg_ctx *ctx, mg_tensor *x) {
  if (!MG_INPUTS_OK(ctx, x) || !mg_require_real(ctx, x, "mean")) return NULL;
  mg_tensor *y = scalar_output(ctx);
  if (!y) return NULL;
  ctx->k->sum_forward(x->numel, MG_CDATA(x), MG_DATA(y));
  ctx->k->scale_forward(1, (mg_real)(1.0 / (double)x->numel), MG_CDATA(y), MG_DATA(y));
  mg_record(ctx, MG_OP_MEAN, y, 1, &x, mean_backward);
  return y;
}

/* ---- mse: pred, target [same shape] -> [1] = mean((pred-target)^2); both may take gradients ---- */
static mg_status mse_backward(mg_ctx *ctx, mg_node *node) {
  mg_real *da = mg_input_grad(ctx, node, 0), *db = mg_input_grad(ctx, node, 1);
  ctx->k->mse_backward(node->in[0]->numel, MG_CDATA(node->in[0]), MG_CDATA(node->in[1]), node->out->grad, da, db);
  return ctx->status;
}

mg_tensor *mg_mse_loss(mg_ctx *ctx, mg_tensor *pred, mg_tensor *target) {
  if (!MG_INPUTS_OK(ctx, pred, target) || !require_same_shape(ctx, pred, target, "mse_loss")) return NULL;
  mg_tensor *y = scalar_output(ctx);
  if (!y) return NULL;
  ctx->k->mse_forward(pred->numel, MG_CDATA(pred), MG_CDATA(target), MG_DATA(y));
  mg_record(ctx, MG_OP_MSE, y, 2, (mg_tensor *[]){pred, target}, mse_backward);
  return y;
}

/* ---- bce with logits: logits, target [same shape] -> [1]; both may take gradients ---- */
static mg_status bce_logits_backward(mg_ctx *ctx, mg_node *node) {
  mg_real *dx = mg_input_grad(ctx, node, 0), *dt = mg_input_grad(ctx, node, 1);
  ctx->k->bce_logits_backward(node->in[0]->numel, MG_CDATA(node->in[0]), MG_CDATA(node->in[1]), node->out->grad,
                              dx, dt);
  return ctx->status;
}

mg_tensor *mg_bce_logits_loss(mg_ctx *ctx, mg_tensor *logits, mg_tensor *target) {
  if (!MG_INPUTS_OK(ctx, logits, target) || !require_same_shape(ctx, logits, target, "bce_logits_loss"))
    return NULL;
  mg_tensor *y = scalar_output(ctx);
  if (!y) return NULL;
  ctx->k->bce_logits_forward(logits->numel, MG_CDATA(logits), MG_CDATA(target), MG_DATA(y));
  mg_record(ctx, MG_OP_BCE_LOGITS, y, 2, (mg_tensor *[]){logits, target}, bce_logits_backward);
  return y;
}

/* ---- hinge: scores [any] -> [1] = mean(relu(1 - sign*scores)); rarg[0] = sign ---- */
static mg_status hinge_backward(mg_ctx *ctx, mg_node *node) {
  mg_real *dx = mg_input_grad(ctx, node, 0);
  if (dx) ctx->k->hinge_backward(node->in[0]->numel, node->rarg[0], MG_CDATA(node->in[0]), node->out->grad, dx);
  return ctx->status;
}

mg_tensor *mg_hinge_loss(mg_ctx *ctx, mg_tensor *scores, double sign) {
  if (!MG_INPUTS_OK(ctx, scores) || !mg_require_real(ctx, scores, "hinge_loss")) return NULL;
  if (sign != 1.0 && sign != -1.0) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "hinge_loss: sign must be +1 (real) or -1 (fake), got %g", sign);
    return NULL;
  }
  mg_tensor *y = scalar_output(ctx);
  if (!y) return NULL;
  ctx->k->hinge_forward(scores->numel, (mg_real)sign, MG_CDATA(scores), MG_DATA(y));
  mg_node *node = mg_record(ctx, MG_OP_HINGE, y, 1, &scores, hinge_backward);
  if (node) node->rarg[0] = (mg_real)sign;
  return y;
}

/* ---- cross-entropy: logits [n,classes], labels [n] int32 -> [1]; saved[0] = softmax probs [n,classes] ---- */
static mg_status cross_entropy_backward(mg_ctx *ctx, mg_node *node) {
  const mg_tensor *logits = node->in[0];
  mg_real *dx = mg_input_grad(ctx, node, 0);
  if (dx)
    ctx->k->cross_entropy_backward(logits->shape[0], logits->shape[1], MG_CDATA(node->saved[0]),
                                   (const int32_t *)node->in[1]->data, node->out->grad, dx);
  return ctx->status;
}

mg_tensor *mg_cross_entropy_loss(mg_ctx *ctx, mg_tensor *logits, mg_tensor *labels) {
  if (!MG_INPUTS_OK(ctx, logits, labels) || !mg_require_real(ctx, logits, "cross_entropy_loss")) return NULL;
  if (logits->ndim != 2) {
    char buf[64];
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "cross_entropy_loss needs logits of shape [n,classes], got %s",
            mg_shape_str(logits, buf, sizeof buf));
    return NULL;
  }
  if (!mg_check_labels(ctx, labels, logits->shape[0], logits->shape[1], "cross_entropy_loss")) return NULL;
  mg_tensor *y = scalar_output(ctx);
  mg_tensor *probs = y ? mg_op_output_like(ctx, logits) : NULL;
  if (!probs) return NULL;
  ctx->k->cross_entropy_forward(logits->shape[0], logits->shape[1], MG_CDATA(logits), (const int32_t *)labels->data,
                                MG_DATA(y), MG_DATA(probs));
  mg_node *node = mg_record(ctx, MG_OP_CROSS_ENTROPY, y, 2, (mg_tensor *[]){logits, labels}, cross_entropy_backward);
  if (node) node->saved[0] = probs;
  return y;
}
