/* autograd.c: the tape. Ops record nodes in creation order; the reverse of that order is a valid order for the
 * backward pass, so no graph sort is needed. */
#include "mg_internal.h"

#include <string.h>

bool mg_inputs_ok(mg_ctx *ctx, int n, mg_tensor *const *inputs) {
  if (!mg_ok(ctx)) return false;
  for (int i = 0; i < n; i++)
    if (!inputs[i]) {
      mg_fail(ctx, MG_ERR_INTERNAL, "an op received a NULL tensor without an earlier error");
      return false;
    }
  return true;
}

bool mg_require_real(mg_ctx *ctx, const mg_tensor *x, const char *opname) {
  if (x->dtype == MG_REAL) return true;
  mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s needs a real-valued tensor, not int32 labels", opname);
  return false;
}

mg_node *mg_record(mg_ctx *ctx, mg_op op, mg_tensor *out, int n, mg_tensor *const *inputs,
                   mg_status (*backward)(mg_ctx *, mg_node *)) {
  if (!ctx->grad_enabled) return NULL;
  bool needed = false;
  for (int i = 0; i < n; i++) needed |= inputs[i] && inputs[i]->requires_grad;
  if (!needed) return NULL;
  mg_node *node = mg_arena_alloc(&ctx->step_host, sizeof *node);
  if (!node) {
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory recording %s", mg_op_name(op));
    return NULL;
  }
  memset(node, 0, sizeof *node);
  node->op = op;
  node->out = out;
  for (int i = 0; i < n; i++) node->in[i] = inputs[i];
  node->backward = backward;
  node->prev = ctx->tape;
  ctx->tape = node;
  out->node = node;
  out->requires_grad = true;
  return node;
}

mg_real *mg_input_grad(mg_ctx *ctx, mg_node *node, int i) {
  mg_tensor *in = node->in[i];
  if (!in || !in->requires_grad) return NULL;
  return mg_grad(ctx, in);
}

static mg_status run_tape(mg_ctx *ctx) {
  mg_node *node = ctx->tape;
  ctx->tape = NULL; /* consumed, whatever happens below */
  for (; node && mg_ok(ctx); node = node->prev) {
    if (!node->out->grad) continue; /* nothing downstream of this node reached the loss */
    mg_status s = node->backward(ctx, node);
    if (s != MG_OK) return mg_fail(ctx, s, "backward of %s failed", mg_op_name(node->op));
  }
  return ctx->status;
}

mg_status mg_backward(mg_ctx *ctx, mg_tensor *loss) {
  if (!mg_ok(ctx)) return ctx->status;
  if (!loss || loss->numel != 1 || loss->dtype != MG_REAL)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "mg_backward needs a scalar loss");
  if (!loss->requires_grad) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "the loss does not depend on any parameter");
  mg_real *g = mg_grad(ctx, loss);
  if (!g) return ctx->status;
  ctx->k->axpy(1, 1, ctx->one, g);
  return run_tape(ctx);
}

mg_status mg_backward_from(mg_ctx *ctx, mg_tensor *out, const mg_tensor *dout) {
  if (!mg_ok(ctx)) return ctx->status;
  if (!out || !dout || !mg_same_shape(out, dout) || dout->dtype != MG_REAL)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "mg_backward_from needs a gradient shaped like the output");
  if (!out->requires_grad) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "the output does not depend on any parameter");
  mg_real *g = mg_grad(ctx, out);
  if (!g) return ctx->status;
  ctx->k->axpy(out->numel, 1, MG_CDATA(dout), g);
  return run_tape(ctx);
}

/* ---- reshape: a view sharing data; the gradient is added back with the input's shape ---- */
static mg_status reshape_backward(mg_ctx *ctx, mg_node *node) {
  mg_real *dx = mg_input_grad(ctx, node, 0);
  if (dx) ctx->k->axpy(node->out->numel, 1, node->out->grad, dx);
  return MG_OK;
}

mg_tensor *mg_reshape(mg_ctx *ctx, mg_tensor *x, int ndim, const int *shape) {
  if (!MG_INPUTS_OK(ctx, x)) return NULL;
  if (ndim < 1 || ndim > MG_MAX_DIMS) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "reshape: %d dims", ndim);
    return NULL;
  }
  int64_t numel = 1;
  for (int i = 0; i < ndim; i++) numel *= shape[i] > 0 ? shape[i] : 0;
  if (numel != x->numel) {
    char buf[64];
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "reshape: cannot view %s (%lld elements) as %lld elements",
            mg_shape_str(x, buf, sizeof buf), (long long)x->numel, (long long)numel);
    return NULL;
  }
  mg_tensor *y = mg_arena_alloc(&ctx->step_host, sizeof *y);
  if (!y) {
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory in reshape");
    return NULL;
  }
  *y = *x;
  y->ndim = ndim;
  for (int i = 0; i < MG_MAX_DIMS; i++) y->shape[i] = i < ndim ? shape[i] : 1;
  y->grad = NULL;
  y->node = NULL;
  y->requires_grad = false;
  y->persistent = false;
  y->name = NULL;
  mg_record(ctx, MG_OP_RESHAPE, y, 1, &x, reshape_backward);
  return y;
}
