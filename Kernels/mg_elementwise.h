/* mg_elementwise.h: per-element math shared by the CPU and CUDA kernels (MG_HD), so CPU tests check the same
 * arithmetic the GPU runs. */
#ifndef MG_ELEMENTWISE_H
#define MG_ELEMENTWISE_H

#include "mg_kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* exp(x) for x <= 0, written so that a loop over it vectorizes: libm's exp is a scalar call, and with it the
 * attention softmax took three times as long as attention's products (head_dim 64). x = n*ln2 + r with |r| <= ln2/2, exp(r)
 * from its Taylor series (evaluated in pairs to keep the dependency chain short), then scaled by 2^n built in the
 * exponent bits. Accurate to about 2 ulp of mg_real; where exp(x) is below the smallest normal number it returns
 * 0; a NaN stays NaN. */
#ifdef MG_REAL_F64
static inline MG_HD double mg_exp_nonpositive(double x) {
  const double shift = 0x1.8p52; /* adding it rounds x*log2(e) to an integer n held in the low mantissa bits */
  double t = x * 0x1.71547652b82fep0 + shift, n = t - shift;
  uint64_t bits;
  memcpy(&bits, &t, sizeof bits);
  bits = (bits + 1023) << 52; /* 2^n; the bits of shift itself fall off the top */
  double scale;
  memcpy(&scale, &bits, sizeof scale);
  double r = x - n * 0x1.62e42fee00000p-1 - n * 0x1.a39ef35793c76p-33; /* ln2 in two parts: n*hi is exact */
  double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4; /* terms up to r^13/13!, below 1e-17 on |r| <= ln2/2 */
  double p01 = 1 + r, p23 = 1.0 / 2 + r * (1.0 / 6), p45 = 1.0 / 24 + r * (1.0 / 120);
  double p67 = 1.0 / 720 + r * (1.0 / 5040), p89 = 1.0 / 40320 + r * (1.0 / 362880);
  double p1011 = 1.0 / 3628800 + r * (1.0 / 39916800), p1213 = 1.0 / 479001600 + r * (1.0 / 6227020800);
  double p = (p01 + r2 * p23 + r4 * (p45 + r2 * p67)) + r8 * (p89 + r2 * p1011 + r4 * p1213);
  double e = p * scale;
  uint64_t e_bits;
  memcpy(&e_bits, &e, sizeof e_bits);
  e_bits &= (uint64_t)0 - (uint64_t)!(x < -708.0); /* a mask, not a branch: underflow to 0 (NaN is kept) */
  memcpy(&e, &e_bits, sizeof e);
  return e;
}
#else
static inline MG_HD float mg_exp_nonpositive(float x) {
  const float shift = 0x1.8p23f;
  float t = x * 0x1.715476p0f + shift, n = t - shift;
  uint32_t bits;
  memcpy(&bits, &t, sizeof bits);
  bits = (bits + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  float r = x - n * 0x1.62e4p-1f - n * 0x1.7f7d1cp-20f;
  float r2 = r * r, r4 = r2 * r2; /* terms up to r^7/7!, below 1e-8 on |r| <= ln2/2 */
  float p01 = 1 + r, p23 = 1.0f / 2 + r * (1.0f / 6), p45 = 1.0f / 24 + r * (1.0f / 120);
  float p67 = 1.0f / 720 + r * (1.0f / 5040);
  float p = (p01 + r2 * p23) + r4 * (p45 + r2 * p67);
  float e = p * scale;
  uint32_t e_bits;
  memcpy(&e_bits, &e, sizeof e_bits);
  e_bits &= (uint32_t)0 - (uint32_t)!(x < -87.0f);
  memcpy(&e, &e_bits, sizeof e);
  return e;
}
#endif

static inline MG_HD mg_real mg_sigmoid_value(mg_real x) {
  /* exp of -|x| only, so it never overflows; in mg_real precision, not libm's double exp */
  mg_real e = mg_exp_nonpositive(x >= 0 ? -x : x);
  mg_real s = (mg_real)1 / ((mg_real)1 + e);
  return x >= 0 ? s : e * s;
}

static inline MG_HD mg_real mg_unary_value(mg_unary_op op, mg_real param, mg_real x) {
  switch (op) {
    case MG_UNARY_RELU: return x > 0 ? x : 0;
    case MG_UNARY_LEAKY_RELU: return x > 0 ? x : param * x;
    case MG_UNARY_SILU: return x * mg_sigmoid_value(x);
    case MG_UNARY_TANH: return (mg_real)tanh((double)x); /* double on both devices (C++ has a float overload) */
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

/* A dim an operand's broadcast gradient is summed over: broadcast (stride 0) in an output dim longer than 1. */
static inline MG_HD int mg_bcast_reduced(const mg_bcast_desc *d, const int64_t *stride, int dim) {
  return stride[dim] == 0 && d->shape[dim] > 1;
}

/* Element ki (in the order of the operand's kept dims) of the gradient of operand `which` (0: a, 1: b) of a
 * broadcast binary op: the sum, in double and in output order, of dy times the partial over every output position
 * that maps onto it. Its offset in the operand goes to *offset. Shared so both backends add in the same order. */
static inline MG_HD mg_real mg_bcast_grad_element(mg_binary_op op, int which, const mg_bcast_desc *d, int64_t ki,
                                                  const mg_real *a, const mg_real *b, const mg_real *dy,
                                                  int64_t *offset) {
  const int *s = d->shape;
  const int64_t *st = which ? d->b_stride : d->a_stride, *sa = d->a_stride, *sb = d->b_stride;
  const int64_t os[4] = {(int64_t)s[1] * s[2] * s[3], (int64_t)s[2] * s[3], s[3], 1};
  int lo[4], hi[4]; /* the kept dims take their index from ki; the reduced dims run over their whole range */
  int64_t rem = ki, off = 0;
  for (int dim = 3; dim >= 0; dim--) {
    if (mg_bcast_reduced(d, st, dim)) {
      lo[dim] = 0;
      hi[dim] = s[dim];
      continue;
    }
    lo[dim] = (int)(rem % s[dim]);
    hi[dim] = lo[dim] + 1;
    rem /= s[dim];
    off += lo[dim] * st[dim];
  }
  double acc = 0;
  for (int i0 = lo[0]; i0 < hi[0]; i0++)
    for (int i1 = lo[1]; i1 < hi[1]; i1++)
      for (int i2 = lo[2]; i2 < hi[2]; i2++) {
        const int64_t o = i0 * os[0] + i1 * os[1] + i2 * os[2];
        const int64_t oa = i0 * sa[0] + i1 * sa[1] + i2 * sa[2], ob = i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
        for (int i3 = lo[3]; i3 < hi[3]; i3++)
          acc += (double)dy[o + i3] * mg_binary_partial(op, which, a[oa + i3 * sa[3]], b[ob + i3 * sb[3]]);
      }
  *offset = off;
  return (mg_real)acc;
}

#endif
