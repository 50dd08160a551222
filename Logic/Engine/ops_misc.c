/* ops_misc.c: resampling (nearest 2x upsample, 2x2 average pool), channel concatenation, dropout, and the
 * timestep and label embeddings; plus the label check that the embedding and cross-entropy share. */
#include "mg_internal.h"

#include <stdio.h>

bool mg_check_labels(mg_ctx *ctx, const mg_tensor *labels, int expected_n, int limit, const char *opname) {
  char buf[64];
  if (labels->dtype != MG_INT32 || labels->ndim != 1 || (expected_n >= 0 && labels->shape[0] != expected_n)) {
    char want[32] = "[n]";
    if (expected_n >= 0) snprintf(want, sizeof want, "[%d]", expected_n);
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: labels must be int32 %s, got %s %s", opname, want,
            labels->dtype == MG_INT32 ? "int32" : "real", mg_shape_str(labels, buf, sizeof buf));
    return false;
  }
  /* Host copy in the step arena: labels may live on a GPU, and a bad label must be an error, not a wild read. */
  int n = labels->shape[0];
  int32_t *host = mg_arena_alloc(&ctx->step_host, (size_t)n * sizeof *host);
  if (!host) {
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "%s: out of memory checking labels", opname);
    return false;
  }
  ctx->k->download(host, labels->data, (size_t)n * sizeof *host);
  if (!mg_device_ok(ctx)) return false;
  for (int i = 0; i < n; i++)
    if (host[i] < 0 || host[i] >= limit) {
      mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: label %d at position %d is outside [0, %d)", opname, (int)host[i],
              i, limit);
      return false;
    }
  return true;
}

/* Fails unless x is a real 4D [n,c,h,w] tensor. */
static bool require_4d(mg_ctx *ctx, const mg_tensor *x, const char *opname) {
  if (!mg_require_real(ctx, x, opname)) return false;
  if (x->ndim == 4) return true;
  char buf[64];
  mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s needs a 4D [n,c,h,w] tensor, got %s", opname,
          mg_shape_str(x, buf, sizeof buf));
  return false;
}

/* ---- nearest 2x upsampling: x [n,c,h,w] -> [n,c,2h,2w] ---- */
static mg_status upsample_backward(mg_ctx *ctx, mg_node *node) {
  const mg_tensor *x = node->in[0];
  mg_real *dx = mg_input_grad(ctx, node, 0);
  if (dx)
    ctx->k->upsample_nearest2x_backward(x->shape[0] * x->shape[1], x->shape[2], x->shape[3], node->out->grad, dx);
  return ctx->status;
}

mg_tensor *mg_upsample_nearest2x(mg_ctx *ctx, mg_tensor *x) {
  if (!MG_INPUTS_OK(ctx, x) || !require_4d(ctx, x, "upsample_nearest2x")) return NULL;
  mg_tensor *y = mg_op_output(ctx, MG_REAL, 4, (int[]){x->shape[0], x->shape[1], 2 * x->shape[2], 2 * x->shape[3]});
  if (!y) return NULL;
  ctx->k->upsample_nearest2x_forward(x->shape[0] * x->shape[1], x->shape[2], x->shape[3], MG_CDATA(x), MG_DATA(y));
  mg_record(ctx, MG_OP_UPSAMPLE_NEAREST2X, y, 1, &x, upsample_backward);
  return y;
}

/* ---- 2x2 average pooling: x [n,c,h,w] (h, w even) -> [n,c,h/2,w/2] ---- */
static mg_status avg_pool_backward(mg_ctx *ctx, mg_node *node) {
  const mg_tensor *x = node->in[0];
  mg_real *dx = mg_input_grad(ctx, node, 0);
  if (dx) ctx->k->avg_pool2x_backward(x->shape[0] * x->shape[1], x->shape[2], x->shape[3], node->out->grad, dx);
  return ctx->status;
}

mg_tensor *mg_avg_pool2x(mg_ctx *ctx, mg_tensor *x) {
  if (!MG_INPUTS_OK(ctx, x) || !require_4d(ctx, x, "avg_pool2x")) return NULL;
  if (x->shape[2] % 2 || x->shape[3] % 2) {
    char buf[64];
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "avg_pool2x needs even height and width, got %s",
            mg_shape_str(x, buf, sizeof buf));
    return NULL;
  }
  mg_tensor *y = mg_op_output(ctx, MG_REAL, 4, (int[]){x->shape[0], x->shape[1], x->shape[2] / 2, x->shape[3] / 2});
  if (!y) return NULL;
  ctx->k->avg_pool2x_forward(x->shape[0] * x->shape[1], x->shape[2], x->shape[3], MG_CDATA(x), MG_DATA(y));
  mg_record(ctx, MG_OP_AVG_POOL2X, y, 1, &x, avg_pool_backward);
  return y;
}

/* ---- concat along channels: a [n,ca,...], b [n,cb,...] with equal trailing dims -> [n,ca+cb,...] ---- */
static mg_status concat_backward(mg_ctx *ctx, mg_node *node) {
  const mg_tensor *a = node->in[0], *b = node->in[1];
  int n = a->shape[0];
  int hw = (int)(a->numel / ((int64_t)n * a->shape[1]));
  mg_real *da = mg_input_grad(ctx, node, 0), *db = mg_input_grad(ctx, node, 1);
  ctx->k->concat_backward(n, a->shape[1], b->shape[1], hw, node->out->grad, da, db);
  return ctx->status;
}

mg_tensor *mg_concat(mg_ctx *ctx, mg_tensor *a, mg_tensor *b) {
  if (!MG_INPUTS_OK(ctx, a, b) || !mg_require_real(ctx, a, "concat") || !mg_require_real(ctx, b, "concat"))
    return NULL;
  bool match = a->ndim == b->ndim && a->ndim >= 2;
  for (int i = 0; match && i < a->ndim; i++) match = i == 1 || a->shape[i] == b->shape[i];
  if (!match) {
    char sa[64], sb[64];
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "concat: %s and %s must agree in every dim except channels (dim 1)",
            mg_shape_str(a, sa, sizeof sa), mg_shape_str(b, sb, sizeof sb));
    return NULL;
  }
  int shape[MG_MAX_DIMS];
  for (int i = 0; i < a->ndim; i++) shape[i] = a->shape[i];
  shape[1] = a->shape[1] + b->shape[1];
  mg_tensor *y = mg_op_output(ctx, MG_REAL, a->ndim, shape);
  if (!y) return NULL;
  int n = a->shape[0];
  int hw = (int)(a->numel / ((int64_t)n * a->shape[1]));
  ctx->k->concat_forward(n, a->shape[1], b->shape[1], hw, MG_CDATA(a), MG_CDATA(b), MG_DATA(y));
  mg_record(ctx, MG_OP_CONCAT, y, 2, (mg_tensor *[]){a, b}, concat_backward);
  return y;
}

/* ---- inverted dropout: saved[0] = mask (x's shape), 0 where dropped and 1/(1-p) where kept ---- */
/* x's shape as a broadcast descriptor of two same-shaped operands: elementwise products via the binary kernels */
static mg_bcast_desc same_shape_desc(const mg_tensor *x) {
  mg_bcast_desc d;
  int64_t stride = 1;
  for (int i = 3; i >= 0; i--) {
    int j = i - (4 - x->ndim);
    d.shape[i] = j >= 0 ? x->shape[j] : 1;
    d.a_stride[i] = d.b_stride[i] = d.shape[i] == 1 ? 0 : stride;
    stride *= d.shape[i];
  }
  return d;
}

static mg_status dropout_backward(mg_ctx *ctx, mg_node *node) {
  mg_real *dx = mg_input_grad(ctx, node, 0);
  if (dx) {
    mg_bcast_desc d = same_shape_desc(node->in[0]);
    ctx->k->binary_backward(MG_BINARY_MUL, &d, MG_CDATA(node->in[0]), MG_CDATA(node->saved[0]), node->out->grad,
                            dx, NULL);
  }
  return ctx->status;
}

mg_tensor *mg_dropout(mg_ctx *ctx, mg_tensor *x, double p) {
  if (!MG_INPUTS_OK(ctx, x) || !mg_require_real(ctx, x, "dropout")) return NULL;
  if (!(p >= 0 && p < 1)) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "dropout: probability %g is outside [0, 1)", p);
    return NULL;
  }
  if (p == 0) return x;
  mg_tensor *u = mg_op_output_like(ctx, x);
  mg_tensor *mask = mg_tensor_new(ctx, MG_REAL, x->ndim, x->shape); /* zeroed: the kernel below accumulates */
  mg_tensor *y = mg_op_output_like(ctx, x);
  if (!u || !mask || !y || mg_fill_uniform(ctx, u, -p, 1 - p) != MG_OK) return NULL;
  /* Keep where u > 0, probability 1-p for u ~ U[-p, 1-p). ReLU's derivative is that step, so its backward kernel
   * (dx += dy * step(x)) with dy = 1/(1-p), held in y for the moment, writes the mask: no dropout kernel needed. */
  ctx->k->fill(x->numel, (mg_real)(1 / (1 - p)), MG_DATA(y));
  ctx->k->unary_backward(MG_UNARY_RELU, 0, x->numel, MG_CDATA(u), MG_CDATA(u), MG_CDATA(y), MG_DATA(mask));
  mg_bcast_desc d = same_shape_desc(x);
  ctx->k->binary_forward(MG_BINARY_MUL, &d, MG_CDATA(x), MG_CDATA(mask), MG_DATA(y));
  mg_node *node = mg_record(ctx, MG_OP_DROPOUT, y, 1, &x, dropout_backward);
  if (node) node->saved[0] = mask;
  return y;
}

/* ---- sinusoidal timestep embedding: t [n] -> [n,dim]; rarg[0] = max_period ---- */
static mg_status timestep_embedding_backward(mg_ctx *ctx, mg_node *node) {
  mg_real *dt = mg_input_grad(ctx, node, 0);
  if (dt)
    ctx->k->timestep_embedding_backward(node->out->shape[0], node->out->shape[1], node->rarg[0],
                                        MG_CDATA(node->in[0]), node->out->grad, dt);
  return ctx->status;
}

mg_tensor *mg_timestep_embedding(mg_ctx *ctx, mg_tensor *t, int dim, double max_period) {
  if (!MG_INPUTS_OK(ctx, t) || !mg_require_real(ctx, t, "timestep_embedding")) return NULL;
  char buf[64];
  if (t->ndim != 1) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "timestep_embedding needs timesteps of shape [n], got %s",
            mg_shape_str(t, buf, sizeof buf));
    return NULL;
  }
  if (dim <= 0 || dim % 2) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "timestep_embedding: dim must be positive and even, got %d", dim);
    return NULL;
  }
  if (!(max_period > 0)) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "timestep_embedding: max_period must be positive, got %g", max_period);
    return NULL;
  }
  mg_tensor *y = mg_op_output(ctx, MG_REAL, 2, (int[]){t->shape[0], dim});
  if (!y) return NULL;
  ctx->k->timestep_embedding_forward(t->shape[0], dim, (mg_real)max_period, MG_CDATA(t), MG_DATA(y));
  mg_node *node = mg_record(ctx, MG_OP_TIMESTEP_EMBEDDING, y, 1, &t, timestep_embedding_backward);
  if (node) node->rarg[0] = (mg_real)max_period;
  return y;
}

/* ---- label embedding: labels [n] int32, table [rows,dim] -> [n,dim]; in[0] = labels, in[1] = table ---- */
static mg_status embedding_backward(mg_ctx *ctx, mg_node *node) {
  const mg_tensor *labels = node->in[0], *table = node->in[1];
  mg_real *dtable = mg_input_grad(ctx, node, 1);
  if (dtable)
    ctx->k->embedding_backward(labels->shape[0], table->shape[1], table->shape[0], (const int32_t *)labels->data,
                               node->out->grad, dtable);
  return ctx->status;
}

mg_tensor *mg_embedding(mg_ctx *ctx, mg_tensor *labels, mg_tensor *table) {
  if (!MG_INPUTS_OK(ctx, labels, table) || !mg_require_real(ctx, table, "embedding")) return NULL;
  if (table->ndim != 2) {
    char buf[64];
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "embedding needs a table of shape [rows,dim], got %s",
            mg_shape_str(table, buf, sizeof buf));
    return NULL;
  }
  if (!mg_check_labels(ctx, labels, -1, table->shape[0], "embedding")) return NULL;
  mg_tensor *y = mg_op_output(ctx, MG_REAL, 2, (int[]){labels->shape[0], table->shape[1]});
  if (!y) return NULL;
  ctx->k->embedding_forward(labels->shape[0], table->shape[1], (const int32_t *)labels->data, MG_CDATA(table),
                            MG_DATA(y));
  mg_record(ctx, MG_OP_EMBEDDING, y, 2, (mg_tensor *[]){labels, table}, embedding_backward);
  return y;
}
