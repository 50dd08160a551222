/* tensor.c: tensor headers in the host arenas, their data in the device arenas, and host <-> device copies. */
#include "mg_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t dtype_size(mg_dtype dtype) { return dtype == MG_INT32 ? sizeof(int32_t) : sizeof(mg_real); }

static mg_tensor *tensor_in(mg_ctx *ctx, bool persistent, mg_dtype dtype, int ndim, const int *shape, bool zero) {
  if (!mg_ok(ctx)) return NULL;
  if (ndim < 1 || ndim > MG_MAX_DIMS) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "a tensor has 1 to %d dims, not %d", MG_MAX_DIMS, ndim);
    return NULL;
  }
  int64_t numel = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] <= 0) {
      mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "tensor dim %d is %d; dims must be positive", i, shape[i]);
      return NULL;
    }
    numel *= shape[i];
    if (numel > INT32_MAX) { /* kernels take dims and planes as int */
      mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "a tensor of more than %d elements is too large", INT32_MAX);
      return NULL;
    }
  }
  mg_arena *host = persistent ? &ctx->persist_host : &ctx->step_host;
  mg_arena *dev = persistent ? &ctx->persist_dev : &ctx->step_dev;
  mg_tensor *t = mg_arena_alloc(host, sizeof *t);
  size_t bytes = (size_t)numel * dtype_size(dtype);
  void *data = t ? mg_arena_alloc(dev, bytes) : NULL;
  if (!data) {
    if (mg_device_ok(ctx)) /* else a kept device fault is the cause, reported as such */
      mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory allocating a tensor of %lld elements", (long long)numel);
    return NULL;
  }
  memset(t, 0, sizeof *t);
  t->ndim = ndim;
  for (int i = 0; i < MG_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 1;
  t->numel = numel;
  t->dtype = dtype;
  t->device = ctx->device;
  t->data = data;
  t->persistent = persistent;
  if (zero) ctx->k->fill_zero(data, bytes);
  return t;
}

mg_tensor *mg_tensor_new(mg_ctx *ctx, mg_dtype dtype, int ndim, const int *shape) {
  return tensor_in(ctx, false, dtype, ndim, shape, true);
}
mg_tensor *mg_tensor_new_persistent(mg_ctx *ctx, mg_dtype dtype, int ndim, const int *shape) {
  return tensor_in(ctx, true, dtype, ndim, shape, true);
}
mg_tensor *mg_op_output(mg_ctx *ctx, mg_dtype dtype, int ndim, const int *shape) {
  return tensor_in(ctx, false, dtype, ndim, shape, false);
}
mg_tensor *mg_op_output_like(mg_ctx *ctx, const mg_tensor *x) {
  return tensor_in(ctx, false, x->dtype, x->ndim, x->shape, false);
}
mg_tensor *mg_tensor_4d(mg_ctx *ctx, int n, int c, int h, int w) {
  return mg_tensor_new(ctx, MG_REAL, 4, (int[]){n, c, h, w});
}
mg_tensor *mg_tensor_2d(mg_ctx *ctx, int rows, int cols) {
  return mg_tensor_new(ctx, MG_REAL, 2, (int[]){rows, cols});
}

static mg_status check_count(mg_ctx *ctx, const mg_tensor *t, int64_t count, const char *what) {
  if (!t) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: tensor is NULL", what);
  if (count != t->numel)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: %lld values for a tensor of %lld", what, (long long)count,
                   (long long)t->numel);
  return MG_OK;
}

mg_status mg_tensor_upload_real(mg_ctx *ctx, mg_tensor *t, const mg_real *host, int64_t count) {
  mg_status s = check_count(ctx, t, count, "upload");
  if (s == MG_OK) ctx->k->upload(t->data, host, (size_t)count * dtype_size(t->dtype));
  return s;
}

mg_status mg_tensor_download_real(mg_ctx *ctx, const mg_tensor *t, mg_real *host, int64_t count) {
  mg_status s = check_count(ctx, t, count, "download");
  if (s == MG_OK) ctx->k->download(host, t->data, (size_t)count * dtype_size(t->dtype));
  return s == MG_OK && !mg_device_ok(ctx) ? MG_ERR_DEVICE : s;
}

/* Host data is float (or int32); with mg_real == float this is a plain copy. In the double test build it goes
 * through a temporary buffer; that build is for tests only, so the allocation is acceptable there. */
mg_status mg_tensor_upload(mg_ctx *ctx, mg_tensor *t, const void *host, int64_t count) {
  mg_status s = check_count(ctx, t, count, "upload");
  if (s != MG_OK) return s;
  if (t->dtype == MG_INT32 || sizeof(mg_real) == sizeof(float)) {
    ctx->k->upload(t->data, host, (size_t)count * dtype_size(t->dtype));
    return MG_OK;
  }
  mg_real *tmp = malloc((size_t)count * sizeof *tmp);
  if (!tmp) return mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory converting an upload");
  for (int64_t i = 0; i < count; i++) tmp[i] = ((const float *)host)[i];
  ctx->k->upload(t->data, tmp, (size_t)count * sizeof *tmp);
  free(tmp);
  return MG_OK;
}

mg_status mg_tensor_download(mg_ctx *ctx, const mg_tensor *t, void *host, int64_t count) {
  mg_status s = check_count(ctx, t, count, "download");
  if (s != MG_OK) return s;
  if (t->dtype == MG_INT32 || sizeof(mg_real) == sizeof(float)) {
    ctx->k->download(host, t->data, (size_t)count * dtype_size(t->dtype));
    return mg_device_ok(ctx) ? MG_OK : MG_ERR_DEVICE;
  }
  mg_real *tmp = malloc((size_t)count * sizeof *tmp);
  if (!tmp) return mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory converting a download");
  ctx->k->download(tmp, t->data, (size_t)count * sizeof *tmp);
  for (int64_t i = 0; i < count; i++) ((float *)host)[i] = (float)tmp[i];
  free(tmp);
  return mg_device_ok(ctx) ? MG_OK : MG_ERR_DEVICE;
}

double mg_tensor_item(mg_ctx *ctx, const mg_tensor *t) {
  mg_real v;
  if (!t || t->dtype != MG_REAL || t->numel != 1) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "mg_tensor_item needs a scalar tensor");
    return NAN;
  }
  ctx->k->download(&v, t->data, sizeof v);
  return mg_device_ok(ctx) ? (double)v : NAN;
}

bool mg_same_shape(const mg_tensor *a, const mg_tensor *b) {
  if (a->ndim != b->ndim) return false;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return false;
  return true;
}

const char *mg_shape_str(const mg_tensor *t, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < t->ndim && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%d", i ? "," : "[", t->shape[i]);
  if (used < size) snprintf(buf + used, size - used, "]");
  return buf;
}

mg_real *mg_grad(mg_ctx *ctx, mg_tensor *t) {
  if (t->grad) return t->grad;
  size_t bytes = (size_t)t->numel * sizeof(mg_real);
  t->grad = mg_arena_alloc(t->persistent ? &ctx->persist_dev : &ctx->step_dev, bytes);
  if (!t->grad) {
    if (mg_device_ok(ctx)) /* else a kept device fault is the cause, reported as such */
      mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory allocating a gradient of %lld elements", (long long)t->numel);
    return NULL;
  }
  ctx->k->fill_zero(t->grad, bytes);
  return t->grad;
}
