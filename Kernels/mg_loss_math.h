/* mg_loss_math.h: per-element math of the embeddings and losses, shared by the CPU and CUDA kernels (MG_HD) so
 * both backends compute the same formulas. Loss terms are returned in double because they feed double
 * accumulators; gradients are returned in mg_real. */
#ifndef MG_LOSS_MATH_H
#define MG_LOSS_MATH_H

#include "mg_elementwise.h"
#include "mg_kernels.h"

#include <math.h>

/* Frequency j of the sinusoidal timestep embedding: exp(-ln(max_period) * j / half), half = dim/2. Computed in
 * double: with t up to ~1000 the argument t*f loses ~1e-4 in float before sin/cos are even taken. */
static inline MG_HD double mg_timestep_frequency(int j, int half, double max_period) {
  return exp(-log(max_period) * (double)j / (double)half);
}

/* Binary cross-entropy with logits, the stable form max(x,0) - x*t + log(1 + exp(-|x|)): exp never overflows,
 * and log1p keeps the tail accurate for large |x|. */
static inline MG_HD double mg_bce_logits_term(double x, double t) {
  return (x > 0 ? x : 0) - x * t + log1p(exp(-fabs(x)));
}
/* d/dx of the term above: sigmoid(x) - t. (d/dt is -x.) */
static inline MG_HD mg_real mg_bce_logits_dx(mg_real x, mg_real t) { return mg_sigmoid_value(x) - t; }

/* Hinge term relu(1 - sign*x), sign = +1 or -1. */
static inline MG_HD double mg_hinge_term(double sign, double x) {
  double m = 1 - sign * x;
  return m > 0 ? m : 0;
}
/* d/dx of the term above: -sign where the margin is active; 0 at and beyond the kink (PyTorch's relu'(0) = 0). */
static inline MG_HD mg_real mg_hinge_dx(mg_real sign, mg_real x) { return 1 - sign * x > 0 ? -sign : 0; }

#endif
