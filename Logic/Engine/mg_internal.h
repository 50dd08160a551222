/* mg_internal.h: what the engine's own .c files share: the context, arenas, and helpers for writing ops.
 * Not for model code (use mg_engine.h) and never installed. */
#ifndef MG_INTERNAL_H
#define MG_INTERNAL_H

#include "mg_engine.h"

/* A bump allocator over one block of device (or host) memory. When a request does not fit, an overflow chunk is
 * allocated; the next reset folds everything into one block sized to the high-water mark, so from the second
 * step on a training step allocates nothing. */
typedef struct mg_chunk {
  char *base;
  size_t size, used;
} mg_chunk;

typedef struct mg_arena {
  const mg_kernels *k;      /* device memory through k->alloc/free; NULL: host memory via malloc */
  mg_chunk *chunks;         /* chunks[0] is the main block */
  int n_chunks, cap_chunks;
  size_t reserved;          /* bytes in all chunks */
  int64_t *heap_allocations; /* the context's counter */
} mg_arena;

void *mg_arena_alloc(mg_arena *a, size_t bytes); /* 64-byte aligned; NULL when out of memory */
void mg_arena_reset(mg_arena *a);                /* rewinds; folds overflow chunks into one block */
void mg_arena_release(mg_arena *a);              /* frees everything */

struct mg_ctx {
  const mg_kernels *k;
  mg_device device; /* resolved: CPU or CUDA */
  int threads;
  mg_math_mode math;
  mg_status status;
  char error[1024];
  bool grad_enabled;
  mg_node *tape; /* newest first */
  uint64_t rng_seed, rng_offset;
  int64_t heap_allocations;
  mg_arena step_dev, step_host;       /* rewound by mg_step_begin */
  mg_arena persist_dev, persist_host; /* parameters, buffers, optimizer state, their tensor headers */
  mg_real *one;                       /* a persistent device scalar 1.0: the seed gradient of a loss */
  void *scratch;                      /* kernel workspace shared by all ops (mg_scratch) */
  size_t scratch_size;
};

/* A context on a given kernel table: mg_context_create's second half, and the way tests run the engine on a test
 * backend. opt->device is recorded as is. */
mg_status mg_context_create_on(const mg_kernels *k, const mg_context_options *opt, mg_ctx **out, char *err,
                               size_t err_size);

/* Collects a failure the backend kept from earlier asynchronous calls into ctx (MG_ERR_DEVICE) and returns false;
 * true when there was none. Called after each download, where the device has finished the work. */
bool mg_device_ok(mg_ctx *ctx);

/* ---- helpers for op implementations ---- */

/* True when ctx is healthy and every input is non-NULL (a NULL input means an earlier op failed). */
bool mg_inputs_ok(mg_ctx *ctx, int n, mg_tensor *const *inputs);
#define MG_INPUTS_OK(ctx, ...) \
  mg_inputs_ok((ctx), (int)(sizeof((mg_tensor *[]){__VA_ARGS__}) / sizeof(mg_tensor *)), (mg_tensor *[]){__VA_ARGS__})

/* Fails (and returns false) unless x holds real numbers; labels are int32 and only some ops take them. */
bool mg_require_real(mg_ctx *ctx, const mg_tensor *x, const char *opname);

/* Fails (and returns false) unless labels is an int32 [n] tensor with n == expected_n (-1: any n) and every label
 * in [0, limit). The labels are downloaded to check them (they are tiny); the message names the first bad one. */
bool mg_check_labels(mg_ctx *ctx, const mg_tensor *labels, int expected_n, int limit, const char *opname);

/* An uninitialized step tensor for an op's output (ops overwrite it fully). NULL + error when out of memory. */
mg_tensor *mg_op_output(mg_ctx *ctx, mg_dtype dtype, int ndim, const int *shape);
/* Same shape as x. */
mg_tensor *mg_op_output_like(mg_ctx *ctx, const mg_tensor *x);

/* Records a node when gradients are enabled and some input requires a gradient; marks out->requires_grad.
 * Returns the node (to fill saved tensors and args) or NULL when nothing needs recording. Inputs beyond n are
 * ignored; NULL inputs (optional bias) are allowed. */
mg_node *mg_record(mg_ctx *ctx, mg_op op, mg_tensor *out, int n, mg_tensor *const *inputs,
                   mg_status (*backward)(mg_ctx *, mg_node *));

/* In a backward function: the gradient buffer of input i if it needs one, else NULL (so kernels skip it). */
mg_real *mg_input_grad(mg_ctx *ctx, mg_node *node, int i);

/* A kernel entry missing on this backend: records MG_ERR_UNSUPPORTED naming the op. */
#define MG_REQUIRE_KERNEL(ctx, fn, opname)                                                                      \
  do {                                                                                                        \
    if (!mg_backend(ctx)->fn) {                                                                               \
      mg_fail((ctx), MG_ERR_UNSUPPORTED, "%s is not available on the %s backend", (opname),                  \
              mg_backend(ctx)->name);                                                                         \
      return NULL;                                                                                            \
    }                                                                                                         \
  } while (0)

#define MG_DATA(t) ((mg_real *)(t)->data)
#define MG_CDATA(t) ((const mg_real *)(t)->data)

#endif
