/* ops.c: the op name table, and the elementwise ops (activations, broadcast arithmetic, scale). */
#include "mg_internal.h"

#include <assert.h>
#include <string.h>

static const char *const op_names[] = {
    "none", "reshape", "conv2d", "conv_transpose2d", "linear", "group_norm", "batch_norm", "unary", "dropout",
    "softmax", "attention", "upsample_nearest2x", "avg_pool2x", "concat", "binary", "scale", "timestep_embedding",
    "embedding", "spectral_norm", "augment", "sum_rows", "sum", "mean", "mse_loss", "bce_logits_loss", "hinge_loss",
    "cross_entropy_loss",
};
static_assert(sizeof op_names / sizeof op_names[0] == MG_OP_COUNT, "every op needs a name");

const char *mg_op_name(mg_op op) { return op >= 0 && op < MG_OP_COUNT ? op_names[op] : "invalid op"; }

/* ---- unary activations: iarg[0] = mg_unary_op, rarg[0] = parameter ---- */
static const char *const unary_names[] = {"relu", "leaky_relu", "silu", "tanh", "sigmoid"};
static_assert(sizeof unary_names / sizeof unary_names[0] == MG_UNARY_COUNT, "every unary op needs a name");

static mg_status unary_backward(mg_ctx *ctx, mg_node *node) {
  mg_real *dx = mg_input_grad(ctx, node, 0);
  if (dx)
    ctx->k->unary_backward((mg_unary_op)node->iarg[0], node->rarg[0], node->out->numel, MG_CDATA(node->in[0]),
                           MG_CDATA(node->out), node->out->grad, dx);
  return ctx->status;
}

static mg_tensor *unary(mg_ctx *ctx, mg_tensor *x, mg_unary_op op, double param) {
  if (!MG_INPUTS_OK(ctx, x) || !mg_require_real(ctx, x, unary_names[op])) return NULL;
  mg_tensor *y = mg_op_output_like(ctx, x);
  if (!y) return NULL;
  ctx->k->unary_forward(op, (mg_real)param, x->numel, MG_CDATA(x), MG_DATA(y));
  mg_node *node = mg_record(ctx, MG_OP_UNARY, y, 1, &x, unary_backward);
  if (node) {
    node->iarg[0] = op;
    node->rarg[0] = (mg_real)param;
  }
  return y;
}

mg_tensor *mg_relu(mg_ctx *ctx, mg_tensor *x) { return unary(ctx, x, MG_UNARY_RELU, 0); }
mg_tensor *mg_leaky_relu(mg_ctx *ctx, mg_tensor *x, double slope) {
  return unary(ctx, x, MG_UNARY_LEAKY_RELU, slope);
}
mg_tensor *mg_silu(mg_ctx *ctx, mg_tensor *x) { return unary(ctx, x, MG_UNARY_SILU, 0); }
mg_tensor *mg_tanh(mg_ctx *ctx, mg_tensor *x) { return unary(ctx, x, MG_UNARY_TANH, 0); }
mg_tensor *mg_sigmoid(mg_ctx *ctx, mg_tensor *x) { return unary(ctx, x, MG_UNARY_SIGMOID, 0); }

/* ---- broadcast binary ops: iarg[0] = mg_binary_op; the descriptor is rebuilt from the shapes in backward ---- */
static const char *const binary_names[] = {"add", "sub", "mul"};
static_assert(sizeof binary_names / sizeof binary_names[0] == MG_BINARY_COUNT, "every binary op needs a name");

/* Aligns shapes at the right (numpy rules) into 4 dims. False if they cannot broadcast. */
static bool broadcast_desc(const mg_tensor *a, const mg_tensor *b, mg_bcast_desc *d, int *ndim) {
  int n = a->ndim > b->ndim ? a->ndim : b->ndim;
  int sa[4], sb[4];
  for (int i = 0; i < 4; i++) {
    int ia = i - (4 - a->ndim), ib = i - (4 - b->ndim);
    sa[i] = ia >= 0 ? a->shape[ia] : 1;
    sb[i] = ib >= 0 ? b->shape[ib] : 1;
    if (sa[i] != sb[i] && sa[i] != 1 && sb[i] != 1) return false;
    d->shape[i] = sa[i] > sb[i] ? sa[i] : sb[i];
  }
  int64_t ca = 1, cb = 1;
  for (int i = 3; i >= 0; i--) {
    d->a_stride[i] = sa[i] == 1 ? 0 : ca;
    d->b_stride[i] = sb[i] == 1 ? 0 : cb;
    ca *= sa[i];
    cb *= sb[i];
  }
  *ndim = n;
  return true;
}

static mg_status binary_backward(mg_ctx *ctx, mg_node *node) {
  mg_bcast_desc d;
  int ndim;
  broadcast_desc(node->in[0], node->in[1], &d, &ndim);
  mg_real *da = mg_input_grad(ctx, node, 0), *db = mg_input_grad(ctx, node, 1);
  ctx->k->binary_backward((mg_binary_op)node->iarg[0], &d, MG_CDATA(node->in[0]), MG_CDATA(node->in[1]),
                          node->out->grad, da, db);
  return ctx->status;
}

static mg_tensor *binary(mg_ctx *ctx, mg_tensor *a, mg_tensor *b, mg_binary_op op) {
  if (!MG_INPUTS_OK(ctx, a, b)) return NULL;
  mg_bcast_desc d;
  int ndim;
  if (a->dtype != MG_REAL || b->dtype != MG_REAL || !broadcast_desc(a, b, &d, &ndim)) {
    char sa[64], sb[64];
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: shapes %s and %s do not broadcast", binary_names[op],
            mg_shape_str(a, sa, sizeof sa), mg_shape_str(b, sb, sizeof sb));
    return NULL;
  }
  mg_tensor *y = mg_op_output(ctx, MG_REAL, ndim, d.shape + (4 - ndim));
  if (!y) return NULL;
  ctx->k->binary_forward(op, &d, MG_CDATA(a), MG_CDATA(b), MG_DATA(y));
  mg_node *node = mg_record(ctx, MG_OP_BINARY, y, 2, (mg_tensor *[]){a, b}, binary_backward);
  if (node) node->iarg[0] = op;
  return y;
}

mg_tensor *mg_add(mg_ctx *ctx, mg_tensor *a, mg_tensor *b) { return binary(ctx, a, b, MG_BINARY_ADD); }
mg_tensor *mg_sub(mg_ctx *ctx, mg_tensor *a, mg_tensor *b) { return binary(ctx, a, b, MG_BINARY_SUB); }
mg_tensor *mg_mul(mg_ctx *ctx, mg_tensor *a, mg_tensor *b) { return binary(ctx, a, b, MG_BINARY_MUL); }

/* ---- scale: rarg[0] = alpha ---- */
static mg_status scale_backward(mg_ctx *ctx, mg_node *node) {
  mg_real *dx = mg_input_grad(ctx, node, 0);
  if (dx) ctx->k->axpy(node->out->numel, node->rarg[0], node->out->grad, dx);
  return ctx->status;
}

mg_tensor *mg_scale(mg_ctx *ctx, mg_tensor *x, double alpha) {
  if (!MG_INPUTS_OK(ctx, x) || !mg_require_real(ctx, x, "scale")) return NULL;
  mg_tensor *y = mg_op_output_like(ctx, x);
  if (!y) return NULL;
  ctx->k->scale_forward(x->numel, (mg_real)alpha, MG_CDATA(x), MG_DATA(y));
  mg_node *node = mg_record(ctx, MG_OP_SCALE, y, 1, &x, scale_backward);
  if (node) node->rarg[0] = (mg_real)alpha;
  return y;
}
