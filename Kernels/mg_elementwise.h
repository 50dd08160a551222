/* mg_elementwise.h: per-element math shared by the CPU and CUDA kernels (MG_HD), so CPU tests check the same
 * arithmetic the GPU runs. */
#ifndef MG_ELEMENTWISE_H
#define MG_ELEMENTWISE_H

#include "mg_kernels.h"

#include <math.h>

static inline MG_HD mg_real mg_sigmoid_value(mg_real x) {
  /* split by sign so exp never overflows */
  if (x >= 0) return (mg_real)1 / ((mg_real)1 + exp(-x));
  mg_real e = exp(x);
  return e / ((mg_real)1 + e);
}

static inline MG_HD mg_real mg_unary_value(mg_unary_op op, mg_real param, mg_real x) {
  switch (op) {
    case MG_UNARY_RELU: return x > 0 ? x : 0;
    case MG_UNARY_LEAKY_RELU: return x > 0 ? x : param * x;
    case MG_UNARY_SILU: return x * mg_sigmoid_value(x);
    case MG_UNARY_TANH: return tanh(x);
    case MG_UNARY_SIGMOID: return mg_sigmoid_value(x);
    default: return x;
  }
}

/* d y / d x, given x and y = f(x) (whichever is cheaper) */
static inline MG_HD mg_real mg_unary_derivative(mg_unary_op op, mg_real param, mg_real x, mg_real y) {
  switch (op) {
    case MG_UNARY_RELU: return x > 0 ? 1 : 0;
    case MG_UNARY_LEAKY_RELU: return x > 0 ? 1 : param;
    case MG_UNARY_SILU: {
      mg_real s = mg_sigmoid_value(x);
      return s * (1 + x * (1 - s));
    }
    case MG_UNARY_TANH: return 1 - y * y;
    case MG_UNARY_SIGMOID: return y * (1 - y);
    default: return 1;
  }
}

static inline MG_HD mg_real mg_binary_value(mg_binary_op op, mg_real a, mg_real b) {
  switch (op) {
    case MG_BINARY_ADD: return a + b;
    case MG_BINARY_SUB: return a - b;
    case MG_BINARY_MUL: return a * b;
    default: return 0;
  }
}

/* d(a op b)/da (which = 0) or d/db (which = 1) */
static inline MG_HD mg_real mg_binary_partial(mg_binary_op op, int which, mg_real a, mg_real b) {
  switch (op) {
    case MG_BINARY_ADD: return 1;
    case MG_BINARY_SUB: return which ? -1 : 1;
    case MG_BINARY_MUL: return which ? a : b;
    default: return 0;
  }
}

#endif
