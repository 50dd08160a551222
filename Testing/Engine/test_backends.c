/* test_backends.c: see test_backends.h. Most of this file is the strict double: one wrapper per kernel entry that
 * turns its disguised device pointers back into the CPU's and calls the CPU kernel. Host structs (mg_conv_desc,
 * mg_bcast_desc) and scalars pass through untouched; device scalars (loss values, dout) are pointers and are
 * translated like any other buffer. */
#include "test_backends.h"

#include "mg_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define STRICT_BIT ((uintptr_t)1 << 47) /* user-space addresses on x86-64 Linux lie below 2^47 */

static const mg_kernels *cpu(void) { return mg_cpu_kernels(); }

static void *disguise(void *p) { return p ? (void *)((uintptr_t)p ^ STRICT_BIT) : NULL; }

/* The CPU address behind a pointer the double handed out. A pointer without the bit is a host pointer given where
 * a device one belongs: stop with the entry's name rather than let the CPU kernel happily use it. */
static void *reveal(const void *p, const char *entry) {
  if (!p) return NULL;
  if (!((uintptr_t)p & STRICT_BIT)) {
    fprintf(stderr, "strict: %s was given the host pointer %p where a device pointer belongs\n", entry, p);
    abort();
  }
  return (void *)((uintptr_t)p ^ STRICT_BIT);
}
#define D(p) reveal((p), __func__)

/* ---- memory ---- */

static void *strict_alloc(size_t bytes) { return disguise(cpu()->alloc(bytes)); }
static void strict_free(void *p) { cpu()->free(D(p)); }
static void strict_upload(void *dst_device, const void *src_host, size_t bytes) {
  cpu()->upload(D(dst_device), src_host, bytes);
}
static void strict_download(void *dst_host, const void *src_device, size_t bytes) {
  cpu()->download(dst_host, D(src_device), bytes);
}
static void strict_copy(void *dst, const void *src, size_t bytes) { cpu()->copy(D(dst), D(src), bytes); }
static void strict_fill_zero(void *dst, size_t bytes) { cpu()->fill_zero(D(dst), bytes); }
static void strict_fill(int64_t n, mg_real value, mg_real *y) { cpu()->fill(n, value, D(y)); }
static void strict_set_threads(int threads) { cpu()->set_threads(threads); }
static void strict_set_math_mode(mg_math_mode mode) { cpu()->set_math_mode(mode); }
static int strict_take_error(char *msg, size_t msg_size) { return cpu()->take_error(msg, msg_size); }

/* ---- random numbers ---- */

static void strict_rand_normal(int64_t n, uint64_t seed, uint64_t offset, mg_real mean, mg_real std, mg_real *y) {
  cpu()->rand_normal(n, seed, offset, mean, std, D(y));
}
static void strict_rand_uniform(int64_t n, uint64_t seed, uint64_t offset, mg_real lo, mg_real hi, mg_real *y) {
  cpu()->rand_uniform(n, seed, offset, lo, hi, D(y));
}

/* ---- dense linear algebra ---- */

static void strict_gemm(int trans_a, int trans_b, int m, int n, int k, mg_real alpha, const mg_real *a, int lda,
                        const mg_real *b, int ldb, mg_real beta, mg_real *c, int ldc) {
  cpu()->gemm(trans_a, trans_b, m, n, k, alpha, D(a), lda, D(b), ldb, beta, D(c), ldc);
}
static void strict_linear_forward(int n, int in, int out, const mg_real *x, const mg_real *w, const mg_real *b,
                                  mg_real *y) {
  cpu()->linear_forward(n, in, out, D(x), D(w), D(b), D(y));
}
static void strict_linear_backward(int n, int in, int out, const mg_real *x, const mg_real *w, const mg_real *dy,
                                   mg_real *dx, mg_real *dw, mg_real *db) {
  cpu()->linear_backward(n, in, out, D(x), D(w), D(dy), D(dx), D(dw), D(db));
}

/* ---- convolutions ---- */

static size_t strict_conv2d_workspace(const mg_conv_desc *d) { return cpu()->conv2d_workspace(d); }
static void strict_conv2d_forward(const mg_conv_desc *d, const mg_real *x, const mg_real *w, const mg_real *b,
                                  mg_real *y, void *ws) {
  cpu()->conv2d_forward(d, D(x), D(w), D(b), D(y), D(ws));
}
static void strict_conv2d_backward(const mg_conv_desc *d, const mg_real *x, const mg_real *w, const mg_real *dy,
                                   mg_real *dx, mg_real *dw, mg_real *db, void *ws) {
  cpu()->conv2d_backward(d, D(x), D(w), D(dy), D(dx), D(dw), D(db), D(ws));
}
static size_t strict_conv_transpose2d_workspace(const mg_conv_desc *d) {
  return cpu()->conv_transpose2d_workspace(d);
}
static void strict_conv_transpose2d_forward(const mg_conv_desc *d, const mg_real *x, const mg_real *w,
                                            const mg_real *b, mg_real *y, void *ws) {
  cpu()->conv_transpose2d_forward(d, D(x), D(w), D(b), D(y), D(ws));
}
static void strict_conv_transpose2d_backward(const mg_conv_desc *d, const mg_real *x, const mg_real *w,
                                             const mg_real *dy, mg_real *dx, mg_real *dw, mg_real *db, void *ws) {
  cpu()->conv_transpose2d_backward(d, D(x), D(w), D(dy), D(dx), D(dw), D(db), D(ws));
}

/* ---- normalization ---- */

static void strict_group_norm_forward(int n, int c, int hw, int groups, mg_real eps, const mg_real *x,
                                      const mg_real *gamma, const mg_real *beta, mg_real *y, mg_real *mean,
                                      mg_real *rstd) {
  cpu()->group_norm_forward(n, c, hw, groups, eps, D(x), D(gamma), D(beta), D(y), D(mean), D(rstd));
}
static void strict_group_norm_backward(int n, int c, int hw, int groups, const mg_real *x, const mg_real *gamma,
                                       const mg_real *mean, const mg_real *rstd, const mg_real *dy, mg_real *dx,
                                       mg_real *dgamma, mg_real *dbeta) {
  cpu()->group_norm_backward(n, c, hw, groups, D(x), D(gamma), D(mean), D(rstd), D(dy), D(dx), D(dgamma),
                             D(dbeta));
}
static void strict_batch_norm_forward_train(int n, int c, int hw, mg_real eps, mg_real momentum, const mg_real *x,
                                            const mg_real *gamma, const mg_real *beta, mg_real *y, mg_real *mean,
                                            mg_real *rstd, mg_real *running_mean, mg_real *running_var) {
  cpu()->batch_norm_forward_train(n, c, hw, eps, momentum, D(x), D(gamma), D(beta), D(y), D(mean), D(rstd),
                                  D(running_mean), D(running_var));
}
static void strict_batch_norm_forward_eval(int n, int c, int hw, mg_real eps, const mg_real *x, const mg_real *gamma,
                                           const mg_real *beta, const mg_real *running_mean,
                                           const mg_real *running_var, mg_real *y, mg_real *rstd) {
  cpu()->batch_norm_forward_eval(n, c, hw, eps, D(x), D(gamma), D(beta), D(running_mean), D(running_var), D(y),
                                 D(rstd));
}
static void strict_batch_norm_backward(int n, int c, int hw, int training, const mg_real *x, const mg_real *gamma,
                                       const mg_real *mean, const mg_real *rstd, const mg_real *dy, mg_real *dx,
                                       mg_real *dgamma, mg_real *dbeta) {
  cpu()->batch_norm_backward(n, c, hw, training, D(x), D(gamma), D(mean), D(rstd), D(dy), D(dx), D(dgamma),
                             D(dbeta));
}

/* ---- elementwise ---- */

static void strict_unary_forward(mg_unary_op op, mg_real param, int64_t n, const mg_real *x, mg_real *y) {
  cpu()->unary_forward(op, param, n, D(x), D(y));
}
static void strict_unary_backward(mg_unary_op op, mg_real param, int64_t n, const mg_real *x, const mg_real *y,
                                  const mg_real *dy, mg_real *dx) {
  cpu()->unary_backward(op, param, n, D(x), D(y), D(dy), D(dx));
}
static void strict_binary_forward(mg_binary_op op, const mg_bcast_desc *d, const mg_real *a, const mg_real *b,
                                  mg_real *y) {
  cpu()->binary_forward(op, d, D(a), D(b), D(y));
}
static void strict_binary_backward(mg_binary_op op, const mg_bcast_desc *d, const mg_real *a, const mg_real *b,
                                   const mg_real *dy, mg_real *da, mg_real *db) {
  cpu()->binary_backward(op, d, D(a), D(b), D(dy), D(da), D(db));
}
static void strict_scale_forward(int64_t n, mg_real alpha, const mg_real *x, mg_real *y) {
  cpu()->scale_forward(n, alpha, D(x), D(y));
}
static void strict_axpy(int64_t n, mg_real alpha, const mg_real *x, mg_real *y) { cpu()->axpy(n, alpha, D(x), D(y)); }
static void strict_softmax_forward(int rows, int cols, const mg_real *x, mg_real *y) {
  cpu()->softmax_forward(rows, cols, D(x), D(y));
}
static void strict_softmax_backward(int rows, int cols, const mg_real *y, const mg_real *dy, mg_real *dx) {
  cpu()->softmax_backward(rows, cols, D(y), D(dy), D(dx));
}

/* ---- attention ---- */

static size_t strict_attention_workspace(int b, int heads, int head_dim, int len) {
  return cpu()->attention_workspace(b, heads, head_dim, len);
}
static void strict_attention_forward(int b, int heads, int head_dim, int len, const mg_real *q, const mg_real *k,
                                     const mg_real *v, mg_real *out, mg_real *probs, void *ws) {
  cpu()->attention_forward(b, heads, head_dim, len, D(q), D(k), D(v), D(out), D(probs), D(ws));
}
static void strict_attention_backward(int b, int heads, int head_dim, int len, const mg_real *q, const mg_real *k,
                                      const mg_real *v, const mg_real *probs, const mg_real *dout, mg_real *dq,
                                      mg_real *dk, mg_real *dv, void *ws) {
  cpu()->attention_backward(b, heads, head_dim, len, D(q), D(k), D(v), D(probs), D(dout), D(dq), D(dk), D(dv),
                            D(ws));
}

/* ---- resampling and layout ---- */

static void strict_upsample_nearest2x_forward(int planes, int h, int w, const mg_real *x, mg_real *y) {
  cpu()->upsample_nearest2x_forward(planes, h, w, D(x), D(y));
}
static void strict_upsample_nearest2x_backward(int planes, int h, int w, const mg_real *dy, mg_real *dx) {
  cpu()->upsample_nearest2x_backward(planes, h, w, D(dy), D(dx));
}
static void strict_avg_pool2x_forward(int planes, int h, int w, const mg_real *x, mg_real *y) {
  cpu()->avg_pool2x_forward(planes, h, w, D(x), D(y));
}
static void strict_avg_pool2x_backward(int planes, int h, int w, const mg_real *dy, mg_real *dx) {
  cpu()->avg_pool2x_backward(planes, h, w, D(dy), D(dx));
}
static void strict_concat_forward(int n, int ca, int cb, int hw, const mg_real *a, const mg_real *b, mg_real *y) {
  cpu()->concat_forward(n, ca, cb, hw, D(a), D(b), D(y));
}
static void strict_concat_backward(int n, int ca, int cb, int hw, const mg_real *dy, mg_real *da, mg_real *db) {
  cpu()->concat_backward(n, ca, cb, hw, D(dy), D(da), D(db));
}

/* ---- embeddings ---- */

static void strict_timestep_embedding_forward(int n, int dim, mg_real max_period, const mg_real *t, mg_real *y) {
  cpu()->timestep_embedding_forward(n, dim, max_period, D(t), D(y));
}
static void strict_timestep_embedding_backward(int n, int dim, mg_real max_period, const mg_real *t,
                                               const mg_real *dy, mg_real *dt) {
  cpu()->timestep_embedding_backward(n, dim, max_period, D(t), D(dy), D(dt));
}
static void strict_embedding_forward(int n, int dim, const int32_t *labels, const mg_real *table, mg_real *y) {
  cpu()->embedding_forward(n, dim, D(labels), D(table), D(y));
}
static void strict_embedding_backward(int n, int dim, int rows, const int32_t *labels, const mg_real *dy,
                                      mg_real *dtable) {
  cpu()->embedding_backward(n, dim, rows, D(labels), D(dy), D(dtable));
}

/* ---- GAN pieces ---- */

static void strict_spectral_norm_forward(int rows, int cols, int iterations, mg_real eps, const mg_real *w,
                                         mg_real *u, mg_real *v, mg_real *sigma, mg_real *y) {
  cpu()->spectral_norm_forward(rows, cols, iterations, eps, D(w), D(u), D(v), D(sigma), D(y));
}
static void strict_spectral_norm_backward(int rows, int cols, const mg_real *w, const mg_real *u, const mg_real *v,
                                          const mg_real *sigma, const mg_real *dy, mg_real *dw) {
  cpu()->spectral_norm_backward(rows, cols, D(w), D(u), D(v), D(sigma), D(dy), D(dw));
}
static void strict_augment_forward(int n, int c, int h, int w, const mg_real *params, const mg_real *x, mg_real *y) {
  cpu()->augment_forward(n, c, h, w, D(params), D(x), D(y));
}
static void strict_augment_backward(int n, int c, int h, int w, const mg_real *params, const mg_real *dy,
                                    mg_real *dx) {
  cpu()->augment_backward(n, c, h, w, D(params), D(dy), D(dx));
}
static void strict_row_sum_forward(int rows, int cols, const mg_real *x, mg_real *y) {
  cpu()->row_sum_forward(rows, cols, D(x), D(y));
}
static void strict_row_sum_backward(int rows, int cols, const mg_real *dy, mg_real *dx) {
  cpu()->row_sum_backward(rows, cols, D(dy), D(dx));
}

/* ---- reductions and losses ---- */

static void strict_sum_forward(int64_t n, const mg_real *x, mg_real *out) { cpu()->sum_forward(n, D(x), D(out)); }
static void strict_sum_backward(int64_t n, const mg_real *dout, mg_real *dx) {
  cpu()->sum_backward(n, D(dout), D(dx));
}
static void strict_mse_forward(int64_t n, const mg_real *a, const mg_real *b, mg_real *out) {
  cpu()->mse_forward(n, D(a), D(b), D(out));
}
static void strict_mse_backward(int64_t n, const mg_real *a, const mg_real *b, const mg_real *dout, mg_real *da,
                                mg_real *db) {
  cpu()->mse_backward(n, D(a), D(b), D(dout), D(da), D(db));
}
static void strict_bce_logits_forward(int64_t n, const mg_real *x, const mg_real *t, mg_real *out) {
  cpu()->bce_logits_forward(n, D(x), D(t), D(out));
}
static void strict_bce_logits_backward(int64_t n, const mg_real *x, const mg_real *t, const mg_real *dout,
                                       mg_real *dx, mg_real *dt) {
  cpu()->bce_logits_backward(n, D(x), D(t), D(dout), D(dx), D(dt));
}
static void strict_hinge_forward(int64_t n, mg_real sign, const mg_real *x, mg_real *out) {
  cpu()->hinge_forward(n, sign, D(x), D(out));
}
static void strict_hinge_backward(int64_t n, mg_real sign, const mg_real *x, const mg_real *dout, mg_real *dx) {
  cpu()->hinge_backward(n, sign, D(x), D(dout), D(dx));
}
static void strict_cross_entropy_forward(int rows, int classes, const mg_real *logits, const int32_t *labels,
                                         mg_real *out, mg_real *probs) {
  cpu()->cross_entropy_forward(rows, classes, D(logits), D(labels), D(out), D(probs));
}
static void strict_cross_entropy_backward(int rows, int classes, const mg_real *probs, const int32_t *labels,
                                          const mg_real *dout, mg_real *dlogits) {
  cpu()->cross_entropy_backward(rows, classes, D(probs), D(labels), D(dout), D(dlogits));
}

/* ---- optimizer support ---- */

static void strict_sum_squares(int64_t n, const mg_real *x, mg_real *out) { cpu()->sum_squares(n, D(x), D(out)); }
static void strict_adam_update(int64_t n, mg_real *param, const mg_real *grad, mg_real *m, mg_real *v, mg_real lr,
                               double beta1, double beta2, mg_real eps, mg_real weight_decay, int wd_decoupled,
                               mg_real bias_correction1, mg_real bias_correction2, mg_real grad_scale) {
  cpu()->adam_update(n, D(param), D(grad), D(m), D(v), lr, beta1, beta2, eps, weight_decay, wd_decoupled,
                     bias_correction1, bias_correction2, grad_scale);
}
static void strict_ema_update(int64_t n, mg_real decay, const mg_real *param, mg_real *ema) {
  cpu()->ema_update(n, decay, D(param), D(ema));
}

/* Every entry is strict_<entry>: the X macro fills the table, so an entry added to mg_kernels.h without a wrapper
 * here fails to compile. */
static const mg_kernels strict_table = {
    .name = "strict",
#define STRICT_ENTRY(e) .e = strict_##e,
    MG_KERNEL_ENTRIES(STRICT_ENTRY)
#undef STRICT_ENTRY
};

const mg_kernels *test_strict_kernels(void) { return &strict_table; }

/* ---- the list of backends ---- */

static void say_cuda_skipped(const char *why) {
  static int said;
  if (!said) printf("cuda: skipped: %s\n", why);
  said = 1;
}

int test_backends(test_backend *out, int max) {
  int n = 0;
  if (n < max) out[n++] = (test_backend){"strict", test_strict_kernels(), MG_DEVICE_CPU, 0.0};
#ifdef MG_HAVE_CUDA
  char why[512];
  const mg_kernels *cuda = mg_cuda_kernels(why, sizeof why);
  if (!cuda) say_cuda_skipped(why);
  else if (n < max) out[n++] = (test_backend){"cuda", cuda, MG_DEVICE_CUDA, 1e-4};
#else
  say_cuda_skipped("this build has no CUDA backend");
#endif
  return n;
}

mg_ctx *test_backend_context(const test_backend *b) {
  mg_context_options opt = {.device = b->device, .threads = 1, .tf32 = 0};
  mg_ctx *ctx = NULL;
  char err[512];
  if (mg_context_create_on(b->k, &opt, &ctx, err, sizeof err) != MG_OK) {
    fprintf(stderr, "FAIL: no context on the %s backend: %s\n", b->name, err);
    exit(EXIT_FAILURE);
  }
  return ctx;
}
