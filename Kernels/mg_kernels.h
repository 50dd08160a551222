/* mg_kernels.h: the compute-backend interface. The engine calls kernels only through this table.
 *
 * A backend (CPU now, CUDA later) fills one `mg_kernels` table of function pointers, every entry of it (see
 * MG_KERNEL_ENTRIES). Kernels see raw device pointers and dimension ints, never engine tensors, so this folder
 * depends on nothing in Logic/.
 *
 * Rules every kernel follows (the CPU reference states them once here):
 * - Layout is NCHW, row-major, contiguous. Weights use PyTorch's layouts (conv [Cout,Cin,kh,kw], transposed conv
 *   [Cin,Cout,kh,kw], linear [out,in]) so checkpoints and parity tests map one to one.
 * - Backward kernels ACCUMULATE: dx += ..., dw += ... . A NULL gradient pointer means "not needed": skip it.
 *   Zeroing gradients is the engine's job (one fill_zero).
 * - Kernels never allocate. Those needing scratch memory expose *_workspace(...) returning bytes; the engine
 *   passes a buffer of at least that size.
 * - Determinism: each output element is computed by one thread in a fixed order, and reductions use chunk
 *   boundaries that do not depend on the thread count, so results are bit-identical for any thread count.
 * - Scalars that live on the device (loss values, upstream loss gradients) are passed as pointers.
 * - Kernels return nothing: a backend whose calls can fail later (CUDA runs them asynchronously) keeps the first
 *   failure and hands it over at the next take_error, which the engine calls at every download.
 */
#ifndef MG_KERNELS_H
#define MG_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The engine's element type. Production builds use float32; the finite-difference test build compiles the same
 * engine and kernels with MG_REAL_F64 so gradients can be checked in double precision. */
#ifdef MG_REAL_F64
typedef double mg_real;
#else
typedef float mg_real;
#endif

/* Per-element math shared by CPU and CUDA code: empty on the C compiler, __host__ __device__ under nvcc. */
#ifdef __CUDACC__
#define MG_HD __host__ __device__
#else
#define MG_HD
#endif

/* Arithmetic for GEMM and convolution. FP32: full float. TF32: tensor cores with 10-bit mantissas for products
 * (relative error about 1e-3), several times faster on Ampere and newer GPUs; the CPU ignores it. */
typedef enum mg_math_mode { MG_MATH_FP32 = 0, MG_MATH_TF32 = 1 } mg_math_mode;

typedef enum mg_unary_op {
  MG_UNARY_RELU,
  MG_UNARY_LEAKY_RELU, /* param: negative slope */
  MG_UNARY_SILU,
  MG_UNARY_TANH,
  MG_UNARY_SIGMOID,
  MG_UNARY_COUNT
} mg_unary_op;

typedef enum mg_binary_op { MG_BINARY_ADD, MG_BINARY_SUB, MG_BINARY_MUL, MG_BINARY_COUNT } mg_binary_op;

/* Broadcasting over up to 4 dims: out has shape[]; a and b are read at offsets sum(i_d * stride_d), where a
 * stride is 0 along a broadcast (size-1) dim. */
typedef struct mg_bcast_desc {
  int shape[4];
  int64_t a_stride[4];
  int64_t b_stride[4];
} mg_bcast_desc;

/* Convolution geometry. For conv2d: x [n,c_in,h_in,w_in] -> y [n,c_out,h_out,w_out].
 * For transposed conv2d the same fields describe x [n,c_in,h_in,w_in] -> y [n,c_out,h_out,w_out] with
 * h_out = (h_in-1)*stride - 2*pad + k. */
typedef struct mg_conv_desc {
  int n, c_in, h_in, w_in;
  int c_out, h_out, w_out;
  int k; /* square kernel size */
  int stride, pad;
} mg_conv_desc;

/* Per-image parameters of augment_forward/backward: MG_AUGMENT_PARAMS reals per image, in this order. Shifts and
 * rectangle corners are whole numbers stored as reals. */
typedef enum mg_augment_param {
  MG_AUGMENT_BRIGHTNESS, /* added to every value */
  MG_AUGMENT_CONTRAST,   /* factor around the image's mean */
  MG_AUGMENT_SHIFT_X,    /* y(row, col) = x(row - shift_y, col - shift_x) */
  MG_AUGMENT_SHIFT_Y,
  MG_AUGMENT_CUT_X0,     /* cutout rectangle, half-open */
  MG_AUGMENT_CUT_Y0,
  MG_AUGMENT_CUT_X1,
  MG_AUGMENT_CUT_Y1,
  MG_AUGMENT_PARAMS
} mg_augment_param;

typedef struct mg_kernels {
  const char *name; /* "cpu", "cuda" */

  /* ---- memory (device pointers) ---- */
  void *(*alloc)(size_t bytes);  /* NULL on failure; 64-byte aligned */
  void (*free)(void *p);
  void (*upload)(void *dst_device, const void *src_host, size_t bytes);
  void (*download)(void *dst_host, const void *src_device, size_t bytes);
  void (*copy)(void *dst_device, const void *src_device, size_t bytes);
  void (*fill_zero)(void *dst_device, size_t bytes);
  void (*fill)(int64_t n, mg_real value, mg_real *y);
  void (*set_threads)(int threads); /* CPU: kernel threads for the calling thread; other backends may ignore */
  void (*set_math_mode)(mg_math_mode mode); /* for the calling thread; backends without tensor cores ignore it */
  /* 0 when every call on this thread since the last take_error succeeded; otherwise non-zero, with the first
   * failure's message in msg, and the record cleared. Waits for queued work first. */
  int (*take_error)(char *msg, size_t msg_size);

  /* ---- random numbers: Philox4x32-10 keyed by seed; element i uses block (offset + i/4), lane i%4, so a fill
   * of n elements consumes ceil(n/4) blocks and the values never depend on the thread count (mg_philox.h). ---- */
  void (*rand_normal)(int64_t n, uint64_t seed, uint64_t offset, mg_real mean, mg_real std, mg_real *y);
  void (*rand_uniform)(int64_t n, uint64_t seed, uint64_t offset, mg_real lo, mg_real hi, mg_real *y);

  /* ---- dense linear algebra, row-major: C = alpha * op(A) @ op(B) + beta * C ---- */
  void (*gemm)(int trans_a, int trans_b, int m, int n, int k, mg_real alpha, const mg_real *a, int lda,
               const mg_real *b, int ldb, mg_real beta, mg_real *c, int ldc);

  /* linear: x [n,in], w [out,in], b [out] or NULL -> y [n,out] */
  void (*linear_forward)(int n, int in, int out, const mg_real *x, const mg_real *w, const mg_real *b, mg_real *y);
  void (*linear_backward)(int n, int in, int out, const mg_real *x, const mg_real *w, const mg_real *dy,
                          mg_real *dx, mg_real *dw, mg_real *db);

  /* ---- convolutions (b may be NULL) ---- */
  size_t (*conv2d_workspace)(const mg_conv_desc *d);
  void (*conv2d_forward)(const mg_conv_desc *d, const mg_real *x, const mg_real *w, const mg_real *b, mg_real *y,
                         void *ws);
  void (*conv2d_backward)(const mg_conv_desc *d, const mg_real *x, const mg_real *w, const mg_real *dy,
                          mg_real *dx, mg_real *dw, mg_real *db, void *ws);
  size_t (*conv_transpose2d_workspace)(const mg_conv_desc *d);
  void (*conv_transpose2d_forward)(const mg_conv_desc *d, const mg_real *x, const mg_real *w, const mg_real *b,
                                   mg_real *y, void *ws);
  void (*conv_transpose2d_backward)(const mg_conv_desc *d, const mg_real *x, const mg_real *w, const mg_real *dy,
                                    mg_real *dx, mg_real *dw, mg_real *db, void *ws);

  /* ---- normalization. x [n,c,hw]; mean/rstd saved per (n,group) for group norm, per channel for batch norm ---- */
  void (*group_norm_forward)(int n, int c, int hw, int groups, mg_real eps, const mg_real *x, const mg_real *gamma,
                             const mg_real *beta, mg_real *y, mg_real *mean, mg_real *rstd);
  void (*group_norm_backward)(int n, int c, int hw, int groups, const mg_real *x, const mg_real *gamma,
                              const mg_real *mean, const mg_real *rstd, const mg_real *dy, mg_real *dx,
                              mg_real *dgamma, mg_real *dbeta);
  /* Training mode: batch statistics (biased variance for normalizing), running stats updated in place with
   * PyTorch's rule (unbiased variance, running = (1-momentum)*running + momentum*batch). */
  void (*batch_norm_forward_train)(int n, int c, int hw, mg_real eps, mg_real momentum, const mg_real *x,
                                   const mg_real *gamma, const mg_real *beta, mg_real *y, mg_real *mean,
                                   mg_real *rstd, mg_real *running_mean, mg_real *running_var);
  /* Eval mode: running statistics; also fills rstd [c] for the backward. */
  void (*batch_norm_forward_eval)(int n, int c, int hw, mg_real eps, const mg_real *x, const mg_real *gamma,
                                  const mg_real *beta, const mg_real *running_mean, const mg_real *running_var,
                                  mg_real *y, mg_real *rstd);
  /* training != 0: gradient through the batch statistics; otherwise mean/rstd are constants. */
  void (*batch_norm_backward)(int n, int c, int hw, int training, const mg_real *x, const mg_real *gamma,
                              const mg_real *mean, const mg_real *rstd, const mg_real *dy, mg_real *dx,
                              mg_real *dgamma, mg_real *dbeta);

  /* ---- elementwise ---- */
  void (*unary_forward)(mg_unary_op op, mg_real param, int64_t n, const mg_real *x, mg_real *y);
  void (*unary_backward)(mg_unary_op op, mg_real param, int64_t n, const mg_real *x, const mg_real *y,
                         const mg_real *dy, mg_real *dx);
  void (*binary_forward)(mg_binary_op op, const mg_bcast_desc *d, const mg_real *a, const mg_real *b, mg_real *y);
  /* da/db have a's and b's own (possibly broadcast) shapes: gradients are summed over broadcast dims. */
  void (*binary_backward)(mg_binary_op op, const mg_bcast_desc *d, const mg_real *a, const mg_real *b,
                          const mg_real *dy, mg_real *da, mg_real *db);
  void (*scale_forward)(int64_t n, mg_real alpha, const mg_real *x, mg_real *y);  /* y = alpha * x */
  void (*axpy)(int64_t n, mg_real alpha, const mg_real *x, mg_real *y);           /* y += alpha * x */

  /* softmax over the last dim of [rows, cols] */
  void (*softmax_forward)(int rows, int cols, const mg_real *x, mg_real *y);
  void (*softmax_backward)(int rows, int cols, const mg_real *y, const mg_real *dy, mg_real *dx);

  /* ---- attention over spatial positions. q,k,v,out: [b, heads*head_dim, len] (NCHW with len = h*w).
   * probs [b, heads, len, len] is saved by the forward for the backward. ---- */
  size_t (*attention_workspace)(int b, int heads, int head_dim, int len);
  void (*attention_forward)(int b, int heads, int head_dim, int len, const mg_real *q, const mg_real *k,
                            const mg_real *v, mg_real *out, mg_real *probs, void *ws);
  void (*attention_backward)(int b, int heads, int head_dim, int len, const mg_real *q, const mg_real *k,
                             const mg_real *v, const mg_real *probs, const mg_real *dout, mg_real *dq,
                             mg_real *dk, mg_real *dv, void *ws);

  /* ---- resampling and layout; x [n*c, h, w] planes ---- */
  void (*upsample_nearest2x_forward)(int planes, int h, int w, const mg_real *x, mg_real *y);
  void (*upsample_nearest2x_backward)(int planes, int h, int w, const mg_real *dy, mg_real *dx);
  void (*avg_pool2x_forward)(int planes, int h, int w, const mg_real *x, mg_real *y); /* h, w even */
  void (*avg_pool2x_backward)(int planes, int h, int w, const mg_real *dy, mg_real *dx);
  /* concat along channels: a [n,ca,hw], b [n,cb,hw] -> y [n,ca+cb,hw] */
  void (*concat_forward)(int n, int ca, int cb, int hw, const mg_real *a, const mg_real *b, mg_real *y);
  void (*concat_backward)(int n, int ca, int cb, int hw, const mg_real *dy, mg_real *da, mg_real *db);

  /* ---- embeddings ---- */
  /* Sinusoidal timestep embedding, [cos(t*f_j), sin(t*f_j)] with f_j = exp(-ln(max_period)*j/(dim/2)),
   * j < dim/2 (the diffusers/MONAI layout with flip_sin_to_cos and shift 0); dim even. t [n] -> y [n,dim]. */
  void (*timestep_embedding_forward)(int n, int dim, mg_real max_period, const mg_real *t, mg_real *y);
  void (*timestep_embedding_backward)(int n, int dim, mg_real max_period, const mg_real *t, const mg_real *dy,
                                      mg_real *dt);
  /* labels [n] int32 in [0, rows) -> y [n,dim] = table[label] */
  void (*embedding_forward)(int n, int dim, const int32_t *labels, const mg_real *table, mg_real *y);
  void (*embedding_backward)(int n, int dim, int rows, const int32_t *labels, const mg_real *dy, mg_real *dtable);

  /* ---- GAN pieces ---- */
  /* Spectral normalization of w viewed as [rows, cols] (rows = its first dim), as torch.nn.utils.spectral_norm:
   * first `iterations` power iterations update u [rows] and v [cols] in place (v = normalize(w^T u), then
   * u = normalize(w v), normalize(a) = a / max(|a|, eps)); then sigma[0] = u . (w v) and y = w / sigma[0]. */
  void (*spectral_norm_forward)(int rows, int cols, int iterations, mg_real eps, const mg_real *w, mg_real *u,
                                mg_real *v, mg_real *sigma, mg_real *y);
  /* u, v and sigma are constants: dw += dy / sigma - (sum(dy * w) / sigma^2) u v^T */
  void (*spectral_norm_backward)(int rows, int cols, const mg_real *w, const mg_real *u, const mg_real *v,
                                 const mg_real *sigma, const mg_real *dy, mg_real *dw);
  /* Differentiable augmentation of x [n,c,h,w] with per-image parameters params [n, MG_AUGMENT_PARAMS]
   * (mg_augment_param): y = cutout(translate(contrast(brightness(x)))). brightness adds b; contrast maps
   * v -> (v - m) k + m with m the image's mean (over c, h, w) after brightness; translate moves the image by
   * (dx, dy) whole pixels, filling with 0; cutout sets the rectangle [x0, x1) x [y0, y1) to 0 (empty when
   * x1 <= x0 or y1 <= y0). The identity is b 0, k 1, shifts 0, an empty rectangle. */
  void (*augment_forward)(int n, int c, int h, int w, const mg_real *params, const mg_real *x, mg_real *y);
  void (*augment_backward)(int n, int c, int h, int w, const mg_real *params, const mg_real *dy, mg_real *dx);
  /* y[r] = sum of row r of x [rows, cols]; backward: dx[r, :] += dy[r] */
  void (*row_sum_forward)(int rows, int cols, const mg_real *x, mg_real *y);
  void (*row_sum_backward)(int rows, int cols, const mg_real *dy, mg_real *dx);

  /* ---- reductions and losses: out is a device scalar; dout is the upstream gradient (device scalar) ---- */
  void (*sum_forward)(int64_t n, const mg_real *x, mg_real *out);
  void (*sum_backward)(int64_t n, const mg_real *dout, mg_real *dx); /* dx += dout */
  void (*mse_forward)(int64_t n, const mg_real *a, const mg_real *b, mg_real *out); /* mean((a-b)^2) */
  void (*mse_backward)(int64_t n, const mg_real *a, const mg_real *b, const mg_real *dout, mg_real *da,
                       mg_real *db);
  /* mean(max(x,0) - x*t + log(1+exp(-|x|))) */
  void (*bce_logits_forward)(int64_t n, const mg_real *x, const mg_real *t, mg_real *out);
  void (*bce_logits_backward)(int64_t n, const mg_real *x, const mg_real *t, const mg_real *dout, mg_real *dx,
                              mg_real *dt);
  /* mean(relu(1 - sign*x)); sign is +1 (real) or -1 (fake) */
  void (*hinge_forward)(int64_t n, mg_real sign, const mg_real *x, mg_real *out);
  void (*hinge_backward)(int64_t n, mg_real sign, const mg_real *x, const mg_real *dout, mg_real *dx);
  /* logits [rows,classes], labels [rows] -> mean(-log softmax[label]); probs [rows,classes] saved */
  void (*cross_entropy_forward)(int rows, int classes, const mg_real *logits, const int32_t *labels,
                                mg_real *out, mg_real *probs);
  void (*cross_entropy_backward)(int rows, int classes, const mg_real *probs, const int32_t *labels,
                                 const mg_real *dout, mg_real *dlogits);

  /* ---- optimizer support ---- */
  /* out = sum(x^2), deterministic (used for the global gradient norm) */
  void (*sum_squares)(int64_t n, const mg_real *x, mg_real *out);
  /* AdamW: m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; p -= lr*(m/bc1 / (sqrt(v/bc2)+eps) + wd*p).
   * Adam is wd_decoupled=0: g += wd*p before the moments. grad_scale multiplies g first (clipping).
   * The betas are double so 1-beta is formed before rounding (0.999f alone makes 1-beta2 off by 1.3e-5). */
  void (*adam_update)(int64_t n, mg_real *param, const mg_real *grad, mg_real *m, mg_real *v, mg_real lr,
                      double beta1, double beta2, mg_real eps, mg_real weight_decay, int wd_decoupled,
                      mg_real bias_correction1, mg_real bias_correction2, mg_real grad_scale);
  /* ema = decay*ema + (1-decay)*param */
  void (*ema_update)(int64_t n, mg_real decay, const mg_real *param, mg_real *ema);
} mg_kernels;

/* Every entry of mg_kernels, in order. A backend fills all of them: mg_context_create refuses a table with a
 * missing entry, naming it, and context.c checks at compile time that this list and the struct agree. */
#define MG_KERNEL_ENTRIES(X) \
  X(alloc) X(free) X(upload) X(download) X(copy) X(fill_zero) X(fill) X(set_threads) X(set_math_mode) X(take_error) \
  X(rand_normal) X(rand_uniform) \
  X(gemm) X(linear_forward) X(linear_backward) X(conv2d_workspace) X(conv2d_forward) X(conv2d_backward) \
  X(conv_transpose2d_workspace) X(conv_transpose2d_forward) X(conv_transpose2d_backward) X(group_norm_forward) \
  X(group_norm_backward) X(batch_norm_forward_train) X(batch_norm_forward_eval) X(batch_norm_backward) \
  X(unary_forward) X(unary_backward) X(binary_forward) X(binary_backward) X(scale_forward) X(axpy) \
  X(softmax_forward) X(softmax_backward) X(attention_workspace) X(attention_forward) X(attention_backward) \
  X(upsample_nearest2x_forward) X(upsample_nearest2x_backward) X(avg_pool2x_forward) X(avg_pool2x_backward) \
  X(concat_forward) X(concat_backward) X(timestep_embedding_forward) X(timestep_embedding_backward) \
  X(embedding_forward) X(embedding_backward) X(spectral_norm_forward) X(spectral_norm_backward) \
  X(augment_forward) X(augment_backward) X(row_sum_forward) X(row_sum_backward) X(sum_forward) X(sum_backward) X(mse_forward) X(mse_backward) \
  X(bce_logits_forward) X(bce_logits_backward) X(hinge_forward) X(hinge_backward) X(cross_entropy_forward) \
  X(cross_entropy_backward) X(sum_squares) X(adam_update) X(ema_update)

/* The CPU backend: always present. */
const mg_kernels *mg_cpu_kernels(void);

#ifdef MG_HAVE_CUDA
/* The CUDA backend (Kernels/cuda), on the current CUDA device. NULL when no usable GPU is present, with the reason
 * in why ("no CUDA-capable device is detected", a driver too old, a GPU older than compute capability 8.0). */
const mg_kernels *mg_cuda_kernels(char *why, size_t why_size);
#endif

#ifdef __cplusplus
}
#endif
#endif
