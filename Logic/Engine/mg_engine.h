/* mg_engine.h: the engine's internal API for model code and tests: tensors, parameters, ops with
 * reverse-mode autodiff, optimizers. Outside the engine, include only medgen.h.
 *
 * How it works, in one paragraph: ops run eagerly on the context's backend. When gradients are enabled and an
 * input requires a gradient, the op also records a node on the context's tape (inputs, saved tensors, a backward
 * function). mg_backward(ctx, loss) walks the tape in reverse and accumulates gradients. Outputs, tape nodes and
 * scratch come from the step arena, which mg_step_begin() rewinds: after the first step a training step makes
 * no heap allocation. Parameters, their gradients and optimizer state live in the persistent arena.
 *
 * Errors: an op that fails (bad shape, out of memory, unsupported on this backend) records a message in the
 * context and returns NULL; every op given a NULL input returns NULL at once. Forward code can therefore be
 * written straight through and checked once at the end (mg_ok(ctx)). Nothing exits or aborts.
 *
 * Model code never dereferences tensor memory: data may live on a GPU. Use mg_tensor_upload/download.
 */
#ifndef MG_ENGINE_H
#define MG_ENGINE_H

#include "medgen.h"
#include "mg_kernels.h"

#include <stdarg.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MG_MAX_DIMS 4
#define MG_MAX_INPUTS 4
#define MG_MAX_SAVED 3

typedef enum mg_dtype { MG_REAL, MG_INT32 } mg_dtype;

/* The op table: one enum, one name table (ops.c), checked against MG_OP_COUNT at compile time. */
typedef enum mg_op {
  MG_OP_NONE, /* leaf */
  MG_OP_RESHAPE,
  MG_OP_CONV2D,
  MG_OP_CONV_TRANSPOSE2D,
  MG_OP_LINEAR,
  MG_OP_GROUP_NORM,
  MG_OP_BATCH_NORM,
  MG_OP_UNARY, /* relu, leaky relu, silu, tanh, sigmoid */
  MG_OP_DROPOUT,
  MG_OP_SOFTMAX,
  MG_OP_ATTENTION,
  MG_OP_UPSAMPLE_NEAREST2X,
  MG_OP_AVG_POOL2X,
  MG_OP_CONCAT,
  MG_OP_BINARY, /* broadcast add, sub, mul */
  MG_OP_SCALE,
  MG_OP_TIMESTEP_EMBEDDING,
  MG_OP_EMBEDDING,
  MG_OP_SPECTRAL_NORM,
  MG_OP_AUGMENT,
  MG_OP_SUM_ROWS,
  MG_OP_SUM,
  MG_OP_MEAN,
  MG_OP_MSE,
  MG_OP_BCE_LOGITS,
  MG_OP_HINGE,
  MG_OP_CROSS_ENTROPY,
  MG_OP_COUNT
} mg_op;
const char *mg_op_name(mg_op op);

typedef struct mg_node mg_node;

typedef struct mg_tensor {
  int ndim;
  int shape[MG_MAX_DIMS]; /* NCHW; unused dims are 1 */
  int64_t numel;
  mg_dtype dtype;
  mg_device device;
  void *data;           /* device memory; never dereference outside Kernels/ */
  mg_real *grad;        /* device memory, allocated on first use (zeroed), NULL if none yet */
  bool requires_grad;   /* a leaf the user wants gradients for, or an op output depending on one */
  bool persistent;      /* lives in the persistent arena (parameters, buffers, optimizer state) */
  mg_node *node;        /* the op that produced it, NULL for leaves and under no-grad */
  const char *name;     /* for parameters; NULL otherwise */
} mg_tensor;

/* A recorded op. Parameters are stored in small unions of ints and reals rather than per-op structs to keep
 * the tape flat; each op's backward documents which slots it uses. */
struct mg_node {
  mg_op op;
  mg_tensor *out;
  mg_tensor *in[MG_MAX_INPUTS]; /* unused slots are NULL */
  mg_tensor *saved[MG_MAX_SAVED];
  int iarg[8];
  mg_real rarg[4];
  mg_status (*backward)(mg_ctx *ctx, mg_node *node);
  mg_node *prev; /* tape order, newest first */
};

/* ---- context (the opaque mg_ctx of medgen.h) ---- */
bool mg_ok(const mg_ctx *ctx);
/* Records a failure (first one wins until mg_clear_error) and returns status. printf-style. */
mg_status mg_fail(mg_ctx *ctx, mg_status status, const char *fmt, ...);
mg_status mg_ctx_status(const mg_ctx *ctx);
void mg_clear_error(mg_ctx *ctx);
/* Rewrites the recorded failure as head + its message + tail, keeping its status (to say which call and which step
 * an op's message comes from). Returns the status. */
mg_status mg_rewrap_error(mg_ctx *ctx, const char *head, const char *tail);
/* Seconds on a monotonic clock, for progress reports. */
double mg_seconds(void);
const mg_kernels *mg_backend(const mg_ctx *ctx);
mg_device mg_ctx_device(const mg_ctx *ctx);

/* Gradient recording. mg_set_grad_enabled returns the previous setting so callers can restore it. */
bool mg_set_grad_enabled(mg_ctx *ctx, bool enabled);
bool mg_grad_enabled(const mg_ctx *ctx);

/* Starts a new step: clears the tape and rewinds the step arena. Tensors from the previous step become invalid. */
void mg_step_begin(mg_ctx *ctx);
/* Bytes reserved by the arenas and the number of heap allocations they made so far (to check the
 * no-allocation-in-steady-state rule). */
typedef struct mg_memory_stats {
  size_t step_bytes, persistent_bytes, host_bytes;
  int64_t heap_allocations;
} mg_memory_stats;
mg_memory_stats mg_memory(const mg_ctx *ctx);

/* Device scratch memory for one op's kernels (workspaces): valid until the next mg_scratch call. */
void *mg_scratch(mg_ctx *ctx, size_t bytes);

/* ---- tensors ---- */
/* A step tensor (valid until the next mg_step_begin), zero-filled. */
mg_tensor *mg_tensor_new(mg_ctx *ctx, mg_dtype dtype, int ndim, const int *shape);
mg_tensor *mg_tensor_4d(mg_ctx *ctx, int n, int c, int h, int w);
mg_tensor *mg_tensor_2d(mg_ctx *ctx, int rows, int cols);
/* A persistent tensor (parameters, buffers, optimizer state), zero-filled. */
mg_tensor *mg_tensor_new_persistent(mg_ctx *ctx, mg_dtype dtype, int ndim, const int *shape);
/* Host <-> device copies; count must equal numel. Host data is float for MG_REAL tensors (converted in the
 * double test build) and int32 for MG_INT32. */
mg_status mg_tensor_upload(mg_ctx *ctx, mg_tensor *t, const void *host, int64_t count);
mg_status mg_tensor_download(mg_ctx *ctx, const mg_tensor *t, void *host, int64_t count);
/* Same as above in the engine's own precision (mg_real), without conversion. */
mg_status mg_tensor_upload_real(mg_ctx *ctx, mg_tensor *t, const mg_real *host, int64_t count);
mg_status mg_tensor_download_real(mg_ctx *ctx, const mg_tensor *t, mg_real *host, int64_t count);
/* Reads a scalar (numel 1) tensor; NaN on error. */
double mg_tensor_item(mg_ctx *ctx, const mg_tensor *t);
bool mg_same_shape(const mg_tensor *a, const mg_tensor *b);
/* "[2,3,8,8]" into buf; returns buf. */
const char *mg_shape_str(const mg_tensor *t, char *buf, size_t size);
/* The gradient buffer of t, allocated zeroed on first use (in t's arena). */
mg_real *mg_grad(mg_ctx *ctx, mg_tensor *t);

/* ---- parameters: named persistent tensors of one model ---- */
typedef struct mg_params mg_params;
mg_params *mg_params_new(mg_ctx *ctx);
/* A trainable parameter (requires_grad) or a buffer (e.g. batch-norm running stats: saved, not trained).
 * Names are copied; they are the checkpoint keys, e.g. "down.0.conv1.weight". */
mg_tensor *mg_param(mg_params *p, const char *name, int ndim, const int *shape);
mg_tensor *mg_buffer(mg_params *p, const char *name, int ndim, const int *shape);
int mg_params_count(const mg_params *p);            /* parameters and buffers */
mg_tensor *mg_params_at(const mg_params *p, int i);
bool mg_params_is_buffer(const mg_params *p, int i);
int64_t mg_params_numel(const mg_params *p);        /* trainable elements only */
mg_tensor *mg_params_find(const mg_params *p, const char *name);
void mg_zero_grad(mg_ctx *ctx, mg_params *p);
/* Whether the parameters (not the buffers) require gradients: a GAN's generator step freezes the discriminator,
 * so the backward pass reaches the generator through it without computing its weight gradients. */
void mg_params_set_trainable(mg_params *p, bool trainable);

/* ---- random numbers and initialization (Philox4x32-10; the context owns seed and block counter) ---- */
void mg_rng_seed(mg_ctx *ctx, uint64_t seed);
uint64_t mg_rng_seed_value(const mg_ctx *ctx);
uint64_t mg_rng_offset(const mg_ctx *ctx);          /* saved in checkpoints to resume the stream */
void mg_rng_set_offset(mg_ctx *ctx, uint64_t offset);
mg_status mg_fill_normal(mg_ctx *ctx, mg_tensor *t, double mean, double std);
mg_status mg_fill_uniform(mg_ctx *ctx, mg_tensor *t, double lo, double hi);
mg_status mg_fill(mg_ctx *ctx, mg_tensor *t, double value);
/* A host-side stream (splitmix64) for data-order choices (batch picks, flips, timesteps): its whole state is one
 * integer, which checkpoints store to resume exactly. Returns a uniform double in [0, 1) and advances *state. */
double mg_host_uniform(uint64_t *state);
/* splitmix64's finalizer: a bijection of 64-bit integers that scatters nearby inputs (seeds into stream keys). */
uint64_t mg_mix64(uint64_t z);
/* PyTorch's default init for conv/linear: weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
mg_status mg_init_default(mg_ctx *ctx, mg_tensor *weight, mg_tensor *bias, int fan_in);

/* ---- ops (forward code; each records its backward when needed). Shapes in comments. ---- */
mg_tensor *mg_reshape(mg_ctx *ctx, mg_tensor *x, int ndim, const int *shape); /* shares data */
/* x [n,cin,h,w], w [cout,cin,k,k], b [cout] or NULL; k in {1,3,4}, stride in {1,2} */
mg_tensor *mg_conv2d(mg_ctx *ctx, mg_tensor *x, mg_tensor *w, mg_tensor *b, int stride, int pad);
/* x [n,cin,h,w], w [cin,cout,k,k] (k in {1,3,4}; 4 in the models), b [cout] or NULL; h_out = (h-1)*stride - 2*pad + k */
mg_tensor *mg_conv_transpose2d(mg_ctx *ctx, mg_tensor *x, mg_tensor *w, mg_tensor *b, int stride, int pad);
/* x [n,in], w [out,in], b [out] or NULL -> [n,out] */
mg_tensor *mg_linear(mg_ctx *ctx, mg_tensor *x, mg_tensor *w, mg_tensor *b);
/* x [n,c,h,w] (or [n,c]); gamma, beta [c] */
mg_tensor *mg_group_norm(mg_ctx *ctx, mg_tensor *x, int groups, mg_tensor *gamma, mg_tensor *beta, double eps);
/* training: batch statistics and running stats updated; else running stats used. */
mg_tensor *mg_batch_norm(mg_ctx *ctx, mg_tensor *x, mg_tensor *gamma, mg_tensor *beta, mg_tensor *running_mean,
                         mg_tensor *running_var, bool training, double momentum, double eps);
mg_tensor *mg_relu(mg_ctx *ctx, mg_tensor *x);
mg_tensor *mg_leaky_relu(mg_ctx *ctx, mg_tensor *x, double slope);
mg_tensor *mg_silu(mg_ctx *ctx, mg_tensor *x);
mg_tensor *mg_tanh(mg_ctx *ctx, mg_tensor *x);
mg_tensor *mg_sigmoid(mg_ctx *ctx, mg_tensor *x);
/* Inverted dropout for training: zeroes each element with probability p and scales the others by 1/(1-p), the
 * mask drawn from ctx's random stream (ceil(numel/4) Philox blocks). p in [0, 1); p = 0 returns x itself and draws
 * nothing (inference calls it with p = 0). */
mg_tensor *mg_dropout(mg_ctx *ctx, mg_tensor *x, double p);
mg_tensor *mg_softmax(mg_ctx *ctx, mg_tensor *x); /* over the last dim */
/* q, k, v [n, heads*head_dim, h, w]: softmax(q^T k / sqrt(head_dim)) over the h*w positions, per head */
mg_tensor *mg_attention(mg_ctx *ctx, mg_tensor *q, mg_tensor *k, mg_tensor *v, int heads);
mg_tensor *mg_upsample_nearest2x(mg_ctx *ctx, mg_tensor *x);
mg_tensor *mg_avg_pool2x(mg_ctx *ctx, mg_tensor *x);
mg_tensor *mg_concat(mg_ctx *ctx, mg_tensor *a, mg_tensor *b); /* along channels (dim 1) */
/* numpy-style broadcasting over up to 4 dims (shapes aligned at the right) */
mg_tensor *mg_add(mg_ctx *ctx, mg_tensor *a, mg_tensor *b);
mg_tensor *mg_sub(mg_ctx *ctx, mg_tensor *a, mg_tensor *b);
mg_tensor *mg_mul(mg_ctx *ctx, mg_tensor *a, mg_tensor *b);
mg_tensor *mg_scale(mg_ctx *ctx, mg_tensor *x, double alpha);
/* t [n] (real-valued timesteps) -> [n, dim] */
mg_tensor *mg_timestep_embedding(mg_ctx *ctx, mg_tensor *t, int dim, double max_period);
/* labels [n] int32 -> [n, dim] rows of table [rows, dim] */
mg_tensor *mg_embedding(mg_ctx *ctx, mg_tensor *labels, mg_tensor *table);
/* w [rows, ...] viewed as [rows, cols] -> w / sigma, sigma its largest singular value estimated with u [rows] and
 * v [cols] (buffers: no gradient), which power_iterations (0 or more) iterations refine in place first
 * (torch.nn.utils.spectral_norm: training runs 1, evaluation 0). eps > 0 guards the normalizations. */
mg_tensor *mg_spectral_norm(mg_ctx *ctx, mg_tensor *w, mg_tensor *u, mg_tensor *v, int power_iterations, double eps);
/* x [n,c,h,w], params [n, MG_AUGMENT_PARAMS] (no gradient; see mg_augment_param in mg_kernels.h) -> augmented x */
mg_tensor *mg_augment(mg_ctx *ctx, mg_tensor *x, mg_tensor *params);
/* x [n, ...] -> [n, 1]: each sample's sum */
mg_tensor *mg_sum_rows(mg_ctx *ctx, mg_tensor *x);
mg_tensor *mg_sum(mg_ctx *ctx, mg_tensor *x);  /* scalar */
mg_tensor *mg_mean(mg_ctx *ctx, mg_tensor *x); /* scalar */
mg_tensor *mg_mse_loss(mg_ctx *ctx, mg_tensor *pred, mg_tensor *target);
mg_tensor *mg_bce_logits_loss(mg_ctx *ctx, mg_tensor *logits, mg_tensor *target);
/* mean(relu(1 - sign*x)): sign +1 for real scores, -1 for fake scores (the discriminator's hinge loss) */
mg_tensor *mg_hinge_loss(mg_ctx *ctx, mg_tensor *scores, double sign);
/* logits [n, classes], labels [n] int32 */
mg_tensor *mg_cross_entropy_loss(mg_ctx *ctx, mg_tensor *logits, mg_tensor *labels);

/* Reverse pass from a scalar loss: accumulates d(loss)/d(t) into t->grad for every tensor that requires it.
 * The tape is consumed; call mg_step_begin before the next forward. */
mg_status mg_backward(mg_ctx *ctx, mg_tensor *loss);
/* Same, for any output: seeds out's gradient with dout (same shape) instead of 1. */
mg_status mg_backward_from(mg_ctx *ctx, mg_tensor *out, const mg_tensor *dout);

/* ---- optimizers and training helpers ---- */
typedef struct mg_adam_config {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled; /* true: AdamW; false: Adam with L2 added to the gradient */
} mg_adam_config;
typedef struct mg_adam mg_adam;
mg_adam *mg_adam_new(mg_ctx *ctx, mg_params *params, mg_adam_config config);
/* One update with learning rate lr (use mg_lr_schedule); grad_scale multiplies gradients (clipping). */
mg_status mg_adam_step(mg_adam *opt, double lr, double grad_scale);
int64_t mg_adam_steps(const mg_adam *opt);
void mg_adam_set_steps(mg_adam *opt, int64_t steps);
/* The moment tensors, for checkpoints: first moment m and second moment v of parameter i. */
mg_tensor *mg_adam_moment(const mg_adam *opt, int param_index, int which /* 0 m, 1 v */);

/* Global L2 norm of all gradients; returns the factor (<= 1) that clips it to max_norm (1 if max_norm <= 0).
 * *norm_out receives the norm; a non-finite norm returns MG_ERR_NUMERIC via ctx. */
double mg_clip_factor(mg_ctx *ctx, mg_params *params, double max_norm, double *norm_out);

/* Exponential moving average of the trainable parameters. */
typedef struct mg_ema mg_ema;
mg_ema *mg_ema_new(mg_ctx *ctx, mg_params *params); /* starts as a copy */
mg_status mg_ema_update(mg_ema *ema, double decay);
mg_tensor *mg_ema_tensor(const mg_ema *ema, int param_index); /* NULL for buffers */
/* diffusers' warm-up: min(max_decay, 1 - (1 + step/inv_gamma)^-power) */
double mg_ema_decay(int64_t step, double max_decay, double inv_gamma, double power);

/* Linear warm-up from 0 over warmup steps, then cosine from base_lr down to min_lr at total steps. */
double mg_lr_schedule(int64_t step, int64_t warmup, int64_t total, double base_lr, double min_lr);

/* ---- checkpoints of models and training state ----
 * A training checkpoint is one safetensors file (medgen.h's writer and loader) whose tensor names carry prefixes:
 * "model." + parameter name for parameters and buffers, "ema." + name for EMA weights, "optim.m." and "optim.v." +
 * name for Adam's moments (its step count in metadata "optim.steps"), plus the caller's metadata (model config
 * JSON, step, data normalization) through mg_checkpoint_writer_add_metadata. A GAN uses one prefix per network
 * ("generator.", "optim_g.", ...). Values are stored as float32 whatever mg_real is.
 *
 * The add functions download tensors into w and record any failure in ctx: check mg_ok(ctx) before saving (a
 * failure inside the writer, such as a duplicate name, also makes its save refuse). p must be the parameter list
 * the EMA or Adam was made from. The restore functions check everything before
 * changing anything: every expected tensor present with exactly the expected shape, no unexpected tensor under
 * the prefix. Otherwise nothing is modified and ctx gets MG_ERR_FORMAT with a message naming the file and the
 * tensor, e.g. "run/ckpt.safetensors: tensor 'model.conv.weight' has shape [8,3,3,3], expected [8,1,3,3]". */
mg_status mg_checkpoint_add_params(mg_ctx *ctx, mg_checkpoint_writer *w, const char *prefix, const mg_params *p);
mg_status mg_checkpoint_add_ema(mg_ctx *ctx, mg_checkpoint_writer *w, const char *prefix, const mg_params *p,
                                const mg_ema *ema);
/* Moments as prefix + "m." / "v." + name, steps as metadata prefix + "steps". */
mg_status mg_checkpoint_add_adam(mg_ctx *ctx, mg_checkpoint_writer *w, const char *prefix, const mg_params *p,
                                 const mg_adam *opt);
/* The context's random stream as metadata "rng.seed" and "rng.offset" (decimal). */
mg_status mg_checkpoint_add_rng(mg_ctx *ctx, mg_checkpoint_writer *w);

mg_status mg_checkpoint_restore_params(mg_ctx *ctx, const mg_checkpoint *ckpt, const char *prefix, mg_params *p);
mg_status mg_checkpoint_restore_ema(mg_ctx *ctx, const mg_checkpoint *ckpt, const char *prefix, const mg_params *p,
                                    mg_ema *ema);
mg_status mg_checkpoint_restore_adam(mg_ctx *ctx, const mg_checkpoint *ckpt, const char *prefix, const mg_params *p,
                                     mg_adam *opt);
mg_status mg_checkpoint_restore_rng(mg_ctx *ctx, const mg_checkpoint *ckpt);
/* A metadata value that must be a decimal integer in [0, 2^64) (e.g. "step"): MG_ERR_FORMAT naming the file and
 * the key when it is absent or malformed. */
mg_status mg_checkpoint_metadata_u64(mg_ctx *ctx, const mg_checkpoint *ckpt, const char *key, uint64_t *out);

#ifdef __cplusplus
}
#endif
#endif
