/* optim.cu: optimizer support on the GPU: the deterministic sum of squares behind gradient clipping, the Adam /
 * AdamW update and the parameter EMA, with the per-element math of mg_optim_math.h (as ../cpu/optim.c). */
#include "cuda_kernels.h"
#include "mg_optim_math.h"

namespace { /* file-local, as the terms in loss.cu */
struct square_term {
  const mg_real *x;
  __device__ double operator()(int64_t i) const { return (double)x[i] * (double)x[i]; }
};
} // namespace

/* x [n] -> out [1] = sum(x^2), summed in double; out is overwritten, as on the CPU. */
static void sum_squares(int64_t n, const mg_real *x, mg_real *out) { mg_cuda_sum(n, square_term{x}, 1.0, 0, out); }

/* The coefficients are formed once on the host and passed by value. */
static __global__ void adam_update_kernel(int64_t n, mg_adam_coeffs c, mg_real *param, const mg_real *grad, mg_real *m,
                                          mg_real *v) {
  MG_CUDA_FOR(i, n) mg_adam_element(&c, &param[i], grad[i], &m[i], &v[i]);
}

/* param, grad, m, v [n]: one Adam (wd_decoupled = 0) or AdamW step; see mg_adam_element. */
static void adam_update(int64_t n, mg_real *param, const mg_real *grad, mg_real *m, mg_real *v, mg_real lr,
                        double beta1, double beta2, mg_real eps, mg_real weight_decay, int wd_decoupled,
                        mg_real bias_correction1, mg_real bias_correction2, mg_real grad_scale) {
  if (n <= 0) return;
  mg_adam_coeffs c = mg_adam_prepare(lr, beta1, beta2, eps, weight_decay, wd_decoupled, bias_correction1,
                                     bias_correction2, grad_scale);
  adam_update_kernel<<<mg_cuda_blocks(n), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(n, c, param, grad, m, v);
  MG_CUDA_LAUNCHED("adam_update");
}

/* param, ema [n] */
static __global__ void ema_update_kernel(int64_t n, mg_real decay, const mg_real *param, mg_real *ema) {
  MG_CUDA_FOR(i, n) ema[i] = mg_ema_element(decay, param[i], ema[i]);
}

static void ema_update(int64_t n, mg_real decay, const mg_real *param, mg_real *ema) {
  if (n <= 0) return;
  ema_update_kernel<<<mg_cuda_blocks(n), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(n, decay, param, ema);
  MG_CUDA_LAUNCHED("ema_update");
}

void mg_cuda_register_optim(mg_kernels *k) {
  k->sum_squares = sum_squares;
  k->adam_update = adam_update;
  k->ema_update = ema_update;
}
