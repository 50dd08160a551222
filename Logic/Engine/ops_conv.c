/* ops_conv.c: the layers with weights: conv2d, transposed conv2d and linear (forward + backward).
 *
 * Each op validates its shapes (messages name the op and print the shapes), computes the output with the
 * backend's kernel, and records a node whose backward recomputes what it needs (the im2col columns) in scratch
 * memory instead of keeping it alive from the forward: columns are k*k times the size of the input. */
#include "mg_internal.h"

/* ---- shared by conv2d and conv_transpose2d: in = {x, w, b}; iarg[0] = stride, iarg[1] = pad ---- */

static mg_conv_desc conv_desc(const mg_tensor *x, const mg_tensor *y, int k, int stride, int pad) {
  return (mg_conv_desc){x->shape[0], x->shape[1], x->shape[2], x->shape[3], y->shape[1], y->shape[2], y->shape[3],
                        k, stride, pad};
}

/* The checks both convolutions share: real 4-D x and w, square kernel in {1,3,4}, stride in {1,2}, pad >= 0, and
 * a bias of shape [c_out] when given. w_in_dim says which dim of w must match x's channels (0 or 1). */
static bool conv_args_ok(mg_ctx *ctx, const char *op, const mg_tensor *x, const mg_tensor *w, const mg_tensor *b,
                         int stride, int pad, int w_in_dim) {
  char sx[64], sw[64], sb[64];
  mg_shape_str(x, sx, sizeof sx);
  mg_shape_str(w, sw, sizeof sw);
  if (x->dtype != MG_REAL || w->dtype != MG_REAL || (b && b->dtype != MG_REAL)) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: x, w and b must be real tensors", op);
    return false;
  }
  if (x->ndim != 4 || w->ndim != 4) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: x %s and w %s must both be 4-D", op, sx, sw);
    return false;
  }
  int k = w->shape[2];
  if (w->shape[3] != k || (k != 1 && k != 3 && k != 4)) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: w %s must have a square 1x1, 3x3 or 4x4 kernel", op, sw);
    return false;
  }
  if (w->shape[w_in_dim] != x->shape[1]) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: x %s has %d channels but w %s expects %d (w dim %d)", op, sx,
            x->shape[1], sw, w->shape[w_in_dim], w_in_dim);
    return false;
  }
  if (stride != 1 && stride != 2) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: stride %d is not supported (1 or 2)", op, stride);
    return false;
  }
  if (pad < 0) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: padding %d is negative", op, pad);
    return false;
  }
  int c_out = w->shape[1 - w_in_dim];
  if (b && (b->ndim != 1 || b->shape[0] != c_out)) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: bias %s must be [%d] for w %s", op, mg_shape_str(b, sb, sizeof sb),
            c_out, sw);
    return false;
  }
  return true;
}

static mg_status conv2d_backward(mg_ctx *ctx, mg_node *node) {
  const mg_tensor *x = node->in[0], *w = node->in[1];
  mg_conv_desc d = conv_desc(x, node->out, w->shape[2], node->iarg[0], node->iarg[1]);
  mg_real *dx = mg_input_grad(ctx, node, 0), *dw = mg_input_grad(ctx, node, 1), *db = mg_input_grad(ctx, node, 2);
  void *ws = mg_scratch(ctx, ctx->k->conv2d_workspace(&d));
  if (!mg_ok(ctx)) return ctx->status;
  ctx->k->conv2d_backward(&d, MG_CDATA(x), MG_CDATA(w), node->out->grad, dx, dw, db, ws);
  return ctx->status;
}

mg_tensor *mg_conv2d(mg_ctx *ctx, mg_tensor *x, mg_tensor *w, mg_tensor *b, int stride, int pad) {
  if (!MG_INPUTS_OK(ctx, x, w)) return NULL;
  MG_REQUIRE_KERNEL(ctx, conv2d_forward, "conv2d");
  if (!conv_args_ok(ctx, "conv2d", x, w, b, stride, pad, 1)) return NULL;
  int k = w->shape[2];
  if (x->shape[2] + 2 * pad < k || x->shape[3] + 2 * pad < k) {
    char sx[64], sw[64];
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "conv2d: x %s padded by %d is smaller than the kernel of w %s",
            mg_shape_str(x, sx, sizeof sx), pad, mg_shape_str(w, sw, sizeof sw));
    return NULL;
  }
  int shape[4] = {x->shape[0], w->shape[0], (x->shape[2] + 2 * pad - k) / stride + 1,
                  (x->shape[3] + 2 * pad - k) / stride + 1};
  mg_tensor *y = mg_op_output(ctx, MG_REAL, 4, shape);
  if (!y) return NULL;
  mg_conv_desc d = conv_desc(x, y, k, stride, pad);
  void *ws = mg_scratch(ctx, ctx->k->conv2d_workspace(&d));
  if (!ws) return NULL;
  ctx->k->conv2d_forward(&d, MG_CDATA(x), MG_CDATA(w), b ? MG_CDATA(b) : NULL, MG_DATA(y), ws);
  mg_node *node = mg_record(ctx, MG_OP_CONV2D, y, 3, (mg_tensor *[]){x, w, b}, conv2d_backward);
  if (node) {
    node->iarg[0] = stride;
    node->iarg[1] = pad;
  }
  return y;
}

static mg_status conv_transpose2d_backward(mg_ctx *ctx, mg_node *node) {
  const mg_tensor *x = node->in[0], *w = node->in[1];
  mg_conv_desc d = conv_desc(x, node->out, w->shape[2], node->iarg[0], node->iarg[1]);
  mg_real *dx = mg_input_grad(ctx, node, 0), *dw = mg_input_grad(ctx, node, 1), *db = mg_input_grad(ctx, node, 2);
  void *ws = mg_scratch(ctx, ctx->k->conv_transpose2d_workspace(&d));
  if (!mg_ok(ctx)) return ctx->status;
  ctx->k->conv_transpose2d_backward(&d, MG_CDATA(x), MG_CDATA(w), node->out->grad, dx, dw, db, ws);
  return ctx->status;
}

mg_tensor *mg_conv_transpose2d(mg_ctx *ctx, mg_tensor *x, mg_tensor *w, mg_tensor *b, int stride, int pad) {
  if (!MG_INPUTS_OK(ctx, x, w)) return NULL;
  MG_REQUIRE_KERNEL(ctx, conv_transpose2d_forward, "conv_transpose2d");
  if (!conv_args_ok(ctx, "conv_transpose2d", x, w, b, stride, pad, 0)) return NULL;
  int k = w->shape[2];
  int shape[4] = {x->shape[0], w->shape[1], (x->shape[2] - 1) * stride - 2 * pad + k,
                  (x->shape[3] - 1) * stride - 2 * pad + k};
  if (shape[2] < 1 || shape[3] < 1) {
    char sx[64], sw[64];
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "conv_transpose2d: x %s with w %s, stride %d and padding %d gives an "
            "empty output", mg_shape_str(x, sx, sizeof sx), mg_shape_str(w, sw, sizeof sw), stride, pad);
    return NULL;
  }
  mg_tensor *y = mg_op_output(ctx, MG_REAL, 4, shape);
  if (!y) return NULL;
  mg_conv_desc d = conv_desc(x, y, k, stride, pad);
  void *ws = mg_scratch(ctx, ctx->k->conv_transpose2d_workspace(&d));
  if (!ws) return NULL;
  ctx->k->conv_transpose2d_forward(&d, MG_CDATA(x), MG_CDATA(w), b ? MG_CDATA(b) : NULL, MG_DATA(y), ws);
  mg_node *node = mg_record(ctx, MG_OP_CONV_TRANSPOSE2D, y, 3, (mg_tensor *[]){x, w, b}, conv_transpose2d_backward);
  if (node) {
    node->iarg[0] = stride;
    node->iarg[1] = pad;
  }
  return y;
}

/* ---- linear: in = {x, w, b} ---- */

static mg_status linear_backward(mg_ctx *ctx, mg_node *node) {
  const mg_tensor *x = node->in[0], *w = node->in[1];
  mg_real *dx = mg_input_grad(ctx, node, 0), *dw = mg_input_grad(ctx, node, 1), *db = mg_input_grad(ctx, node, 2);
  if (!mg_ok(ctx)) return ctx->status;
  ctx->k->linear_backward(x->shape[0], x->shape[1], w->shape[0], MG_CDATA(x), MG_CDATA(w), node->out->grad, dx, dw,
                          db);
  return ctx->status;
}

mg_tensor *mg_linear(mg_ctx *ctx, mg_tensor *x, mg_tensor *w, mg_tensor *b) {
  if (!MG_INPUTS_OK(ctx, x, w)) return NULL;
  MG_REQUIRE_KERNEL(ctx, linear_forward, "linear");
  char sx[64], sw[64], sb[64];
  mg_shape_str(x, sx, sizeof sx);
  mg_shape_str(w, sw, sizeof sw);
  if (x->dtype != MG_REAL || w->dtype != MG_REAL || (b && b->dtype != MG_REAL)) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "linear: x, w and b must be real tensors");
    return NULL;
  }
  if (x->ndim != 2 || w->ndim != 2 || w->shape[1] != x->shape[1]) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "linear: x %s must be [n,in] and w %s [out,in] with the same in", sx, sw);
    return NULL;
  }
  if (b && (b->ndim != 1 || b->shape[0] != w->shape[0])) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "linear: bias %s must be [%d] for w %s", mg_shape_str(b, sb, sizeof sb),
            w->shape[0], sw);
    return NULL;
  }
  mg_tensor *y = mg_op_output(ctx, MG_REAL, 2, (int[]){x->shape[0], w->shape[0]});
  if (!y) return NULL;
  ctx->k->linear_forward(x->shape[0], x->shape[1], w->shape[0], MG_CDATA(x), MG_CDATA(w), b ? MG_CDATA(b) : NULL,
                         MG_DATA(y));
  mg_record(ctx, MG_OP_LINEAR, y, 3, (mg_tensor *[]){x, w, b}, linear_backward);
  return y;
}
