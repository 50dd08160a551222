/* mg_optim_math.h: per-element optimizer math shared by the CPU and CUDA kernels (MG_HD), so the CPU tests
 * against torch.optim check the same arithmetic the GPU runs. */
#ifndef MG_OPTIM_MATH_H
#define MG_OPTIM_MATH_H

#include "mg_kernels.h"

#include <math.h>

/* Per-call constants of one Adam update, computed once per tensor rather than per element. */
typedef struct mg_adam_coeffs {
  mg_real beta1, beta2, eps, weight_decay, grad_scale;
  mg_real one_minus_beta1, one_minus_beta2; /* formed in double: 1 - 0.999f would be off by 1.3e-5 */
  mg_real step_size; /* lr / bias_correction1 */
  mg_real bc2_sqrt;  /* sqrt(bias_correction2) */
  mg_real decay;     /* AdamW: 1 - lr*weight_decay, applied to the parameter before the step */
  int decoupled;
} mg_adam_coeffs;

static inline MG_HD mg_adam_coeffs mg_adam_prepare(mg_real lr, double beta1, double beta2, mg_real eps,
                                                   mg_real weight_decay, int wd_decoupled, mg_real bias_correction1,
                                                   mg_real bias_correction2, mg_real grad_scale) {
  mg_adam_coeffs c;
  c.beta1 = (mg_real)beta1;
  c.beta2 = (mg_real)beta2;
  c.one_minus_beta1 = (mg_real)(1 - beta1);
  c.one_minus_beta2 = (mg_real)(1 - beta2);
  c.eps = eps;
  c.weight_decay = weight_decay;
  c.grad_scale = grad_scale;
  c.step_size = lr / bias_correction1;
  c.bc2_sqrt = (mg_real)sqrt((double)bias_correction2);
  c.decay = 1 - lr * weight_decay;
  c.decoupled = wd_decoupled;
  return c;
}

/* One element, in torch.optim.Adam/AdamW's order of operations:
 *   g = grad_scale * grad;  Adam (L2): g += wd * p;  AdamW: p *= 1 - lr*wd
 *   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2
 *   p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps)
 * AdamW's decay step equals the contract's "p -= lr*wd*p" with p taken before the update. */
static inline MG_HD void mg_adam_element(const mg_adam_coeffs *c, mg_real *p, mg_real grad, mg_real *m,
                                         mg_real *v) {
  mg_real g = grad * c->grad_scale;
  mg_real param = *p;
  if (c->decoupled) param *= c->decay;
  else g += c->weight_decay * param;
  mg_real mi = c->beta1 * *m + c->one_minus_beta1 * g;
  mg_real vi = c->beta2 * *v + c->one_minus_beta2 * g * g;
  /* in double on both devices: C++ would otherwise pick the float sqrt overload */
  mg_real denom = (mg_real)(sqrt((double)vi) / c->bc2_sqrt + c->eps);
  *m = mi;
  *v = vi;
  *p = param - c->step_size * mi / denom;
}

/* ema = decay*ema + (1-decay)*param */
static inline MG_HD mg_real mg_ema_element(mg_real decay, mg_real param, mg_real ema) {
  return decay * ema + (1 - decay) * param;
}

#endif
