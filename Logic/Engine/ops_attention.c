/* ops_attention.c: softmax over the last dim, and multi-head self-attention over the spatial positions of
 * feature maps (the attention block of diffusion U-Nets). */
#include "mg_internal.h"

/* ---- softmax: the backward reads the output (node->out), nothing else is saved ---- */
static mg_status softmax_backward(mg_ctx *ctx, mg_node *node) {
  const mg_tensor *y = node->out;
  int cols = y->shape[y->ndim - 1], rows = (int)(y->numel / cols);
  mg_real *dx = mg_input_grad(ctx, node, 0);
  if (dx) ctx->k->softmax_backward(rows, cols, MG_CDATA(y), y->grad, dx);
  return ctx->status;
}

mg_tensor *mg_softmax(mg_ctx *ctx, mg_tensor *x) {
  if (!MG_INPUTS_OK(ctx, x)) return NULL;
  MG_REQUIRE_KERNEL(ctx, softmax_forward, "softmax");
  if (x->dtype != MG_REAL) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "softmax: x must be a real tensor");
    return NULL;
  }
  int cols = x->shape[x->ndim - 1];
  int64_t rows = x->numel / cols;
  if (rows > INT32_MAX) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "softmax: %lld rows is too many", (long long)rows);
    return NULL;
  }
  mg_tensor *y = mg_op_output_like(ctx, x);
  if (!y) return NULL;
  ctx->k->softmax_forward((int)rows, cols, MG_CDATA(x), MG_DATA(y));
  mg_record(ctx, MG_OP_SOFTMAX, y, 1, &x, softmax_backward);
  return y;
}

/* ---- attention: in = {q, k, v}; saved[0] = probs [n, heads, len, len]; iarg[0] = heads ---- */
static mg_status attention_backward(mg_ctx *ctx, mg_node *node) {
  const mg_tensor *q = node->in[0];
  int n = q->shape[0], heads = node->iarg[0], head_dim = q->shape[1] / heads, len = q->shape[2] * q->shape[3];
  mg_real *dq = mg_input_grad(ctx, node, 0), *dk = mg_input_grad(ctx, node, 1), *dv = mg_input_grad(ctx, node, 2);
  void *ws = mg_scratch(ctx, ctx->k->attention_workspace(n, heads, head_dim, len));
  if (!mg_ok(ctx)) return ctx->status;
  ctx->k->attention_backward(n, heads, head_dim, len, MG_CDATA(q), MG_CDATA(node->in[1]), MG_CDATA(node->in[2]),
                             MG_CDATA(node->saved[0]), node->out->grad, dq, dk, dv, ws);
  return ctx->status;
}

mg_tensor *mg_attention(mg_ctx *ctx, mg_tensor *q, mg_tensor *k, mg_tensor *v, int heads) {
  if (!MG_INPUTS_OK(ctx, q, k, v)) return NULL;
  MG_REQUIRE_KERNEL(ctx, attention_forward, "attention");
  char sq[64], sk[64], sv[64];
  if (q->dtype != MG_REAL || q->ndim != 4 || !mg_same_shape(q, k) || !mg_same_shape(q, v) ||
      k->dtype != MG_REAL || v->dtype != MG_REAL) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "attention: q, k, v must be real [n,c,h,w] of one shape, not %s, %s, %s",
            mg_shape_str(q, sq, sizeof sq), mg_shape_str(k, sk, sizeof sk), mg_shape_str(v, sv, sizeof sv));
    return NULL;
  }
  int n = q->shape[0], c = q->shape[1];
  if (heads <= 0 || c % heads != 0) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "attention: %d channels cannot be split into %d heads", c, heads);
    return NULL;
  }
  int head_dim = c / heads;
  int64_t len = (int64_t)q->shape[2] * q->shape[3];
  /* probs holds n*heads*len^2 values (computed in double: the product can overflow int64) */
  if ((double)n * heads * (double)len * (double)len > (double)((int64_t)1 << 40)) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "attention: %lld positions is too many for full attention",
            (long long)len);
    return NULL;
  }
  mg_tensor *out = mg_op_output_like(ctx, q);
  mg_tensor *probs = mg_op_output(ctx, MG_REAL, 4, (int[]){n, heads, (int)len, (int)len});
  void *ws = probs ? mg_scratch(ctx, ctx->k->attention_workspace(n, heads, head_dim, (int)len)) : NULL;
  if (!out || !probs || !ws) return NULL;
  ctx->k->attention_forward(n, heads, head_dim, (int)len, MG_CDATA(q), MG_CDATA(k), MG_CDATA(v), MG_DATA(out),
                            MG_DATA(probs), ws);
  mg_node *node = mg_record(ctx, MG_OP_ATTENTION, out, 3, (mg_tensor *[]){q, k, v}, attention_backward);
  if (node) {
    node->saved[0] = probs;
    node->iarg[0] = heads;
  }
  return out;
}
