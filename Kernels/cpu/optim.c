/* optim.c: optimizer support on the CPU: the deterministic sum of squares behind gradient clipping, the Adam /
 * AdamW update and the parameter EMA. The per-element math lives in mg_optim_math.h (shared with CUDA). */
#include "cpu_kernels.h"
#include "mg_optim_math.h"

/* Chunk partials are kept on the stack, a group of chunks at a time, because kernels never allocate. */
#define SUMSQ_GROUP 256

/* x [n] -> out [1] = sum(x^2). Fixed chunks of MG_CPU_REDUCE_CHUNK summed in double, then the partials added in
 * chunk order: the result does not depend on the thread count. */
static void sum_squares(int64_t n, const mg_real *x, mg_real *out) {
  int64_t chunks = (n + MG_CPU_REDUCE_CHUNK - 1) / MG_CPU_REDUCE_CHUNK;
  double total = 0;
  for (int64_t g0 = 0; g0 < chunks; g0 += SUMSQ_GROUP) {
    int count = chunks - g0 < SUMSQ_GROUP ? (int)(chunks - g0) : SUMSQ_GROUP;
    double partial[SUMSQ_GROUP];
#pragma omp parallel for schedule(static)
    for (int c = 0; c < count; c++) {
      int64_t begin = (g0 + c) * MG_CPU_REDUCE_CHUNK;
      int64_t end = begin + MG_CPU_REDUCE_CHUNK < n ? begin + MG_CPU_REDUCE_CHUNK : n;
      double acc = 0;
      for (int64_t i = begin; i < end; i++) acc += (double)x[i] * (double)x[i];
      partial[c] = acc;
    }
    for (int c = 0; c < count; c++) total += partial[c];
  }
  *out = (mg_real)total;
}

/* param, grad, m, v [n]: one Adam (wd_decoupled = 0) or AdamW step; see mg_adam_element. */
static void adam_update(int64_t n, mg_real *param, const mg_real *grad, mg_real *m, mg_real *v, mg_real lr,
                        double beta1, double beta2, mg_real eps, mg_real weight_decay, int wd_decoupled,
                        mg_real bias_correction1, mg_real bias_correction2, mg_real grad_scale) {
  mg_adam_coeffs c = mg_adam_prepare(lr, beta1, beta2, eps, weight_decay, wd_decoupled, bias_correction1,
                                     bias_correction2, grad_scale);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) mg_adam_element(&c, &param[i], grad[i], &m[i], &v[i]);
}

/* param, ema [n] */
static void ema_update(int64_t n, mg_real decay, const mg_real *param, mg_real *ema) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) ema[i] = mg_ema_element(decay, param[i], ema[i]);
}

void mg_cpu_register_optim(mg_kernels *k) {
  k->sum_squares = sum_squares;
  k->adam_update = adam_update;
  k->ema_update = ema_update;
}
