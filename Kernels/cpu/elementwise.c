/* elementwise.c: activations, broadcast add/sub/mul, scale and axpy on the CPU. */
#include "cpu_kernels.h"
#include "mg_elementwise.h"

#include <stdbool.h>

/* One loop per op, with the op a constant inside it, so the per-element switch folds away. */
#define FOR_EACH_UNARY_OP(op, LOOP)                            \
  switch (op) {                                                \
    case MG_UNARY_RELU: LOOP(MG_UNARY_RELU); break;            \
    case MG_UNARY_LEAKY_RELU: LOOP(MG_UNARY_LEAKY_RELU); break; \
    case MG_UNARY_SILU: LOOP(MG_UNARY_SILU); break;            \
    case MG_UNARY_TANH: LOOP(MG_UNARY_TANH); break;            \
    case MG_UNARY_SIGMOID: LOOP(MG_UNARY_SIGMOID); break;      \
    default: break; /* the engine passes only the ops above */ \
  }

static void unary_forward(mg_unary_op op, mg_real param, int64_t n, const mg_real *x, mg_real *y) {
#define FORWARD(OP)                                 \
  _Pragma("omp parallel for schedule(static)")      \
  for (int64_t i = 0; i < n; i++) y[i] = mg_unary_value(OP, param, x[i])
  FOR_EACH_UNARY_OP(op, FORWARD)
#undef FORWARD
}

static void unary_backward(mg_unary_op op, mg_real param, int64_t n, const mg_real *x, const mg_real *y,
                           const mg_real *dy, mg_real *dx) {
#define BACKWARD(OP)                                \
  _Pragma("omp parallel for schedule(static)")      \
  for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * mg_unary_derivative(OP, param, x[i], y[i])
  FOR_EACH_UNARY_OP(op, BACKWARD)
#undef BACKWARD
}

static void binary_forward(mg_binary_op op, const mg_bcast_desc *d, const mg_real *a, const mg_real *b, mg_real *y) {
  const int *s = d->shape;
#pragma omp parallel for collapse(2) schedule(static)
  for (int i0 = 0; i0 < s[0]; i0++)
    for (int i1 = 0; i1 < s[1]; i1++) {
      mg_real *yrow = y + ((int64_t)i0 * s[1] + i1) * s[2] * s[3];
      for (int i2 = 0; i2 < s[2]; i2++)
        for (int i3 = 0; i3 < s[3]; i3++) {
          int64_t oa = i0 * d->a_stride[0] + i1 * d->a_stride[1] + i2 * d->a_stride[2] + i3 * d->a_stride[3];
          int64_t ob = i0 * d->b_stride[0] + i1 * d->b_stride[1] + i2 * d->b_stride[2] + i3 * d->b_stride[3];
          yrow[(int64_t)i2 * s[3] + i3] = mg_binary_value(op, a[oa], b[ob]);
        }
    }
}

/* Gradient for one operand (which = 0 for a, 1 for b), summed over that operand's broadcast dims. Each operand
 * element is owned by one iteration of the parallel loop and summed in output order: deterministic. */
static void binary_grad(mg_binary_op op, int which, const mg_bcast_desc *d, const mg_real *a, const mg_real *b,
                        const mg_real *dy, mg_real *dst) {
  const int *s = d->shape;
  const int64_t *st = which ? d->b_stride : d->a_stride, *sa = d->a_stride, *sb = d->b_stride;
  const int64_t os[4] = {(int64_t)s[1] * s[2] * s[3], (int64_t)s[2] * s[3], s[3], 1};
  bool any_reduced = false;
  int64_t kept_total = 1;
  for (int i = 0; i < 4; i++) {
    const bool reduced = mg_bcast_reduced(d, st, i);
    any_reduced |= reduced;
    if (!reduced) kept_total *= s[i];
  }
  if (!any_reduced) {
    /* the operand has the output's shape (residual adds, x * scale): one output element per operand element, so
     * walk the output in order instead of decoding every index */
#pragma omp parallel for collapse(2) schedule(static)
    for (int i0 = 0; i0 < s[0]; i0++)
      for (int i1 = 0; i1 < s[1]; i1++)
        for (int i2 = 0; i2 < s[2]; i2++) {
          int64_t o = i0 * os[0] + i1 * os[1] + i2 * os[2], od = i0 * st[0] + i1 * st[1] + i2 * st[2];
          int64_t oa = i0 * sa[0] + i1 * sa[1] + i2 * sa[2], ob = i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
          for (int i3 = 0; i3 < s[3]; i3++)
            dst[od + i3 * st[3]] += dy[o + i3] * mg_binary_partial(op, which, a[oa + i3 * sa[3]], b[ob + i3 * sb[3]]);
        }
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t ki = 0; ki < kept_total; ki++) { /* the operand's elements, each summed in output order */
    int64_t off;
    const mg_real g = mg_bcast_grad_element(op, which, d, ki, a, b, dy, &off);
    dst[off] += g;
  }
}

static void binary_backward(mg_binary_op op, const mg_bcast_desc *d, const mg_real *a, const mg_real *b,
                            const mg_real *dy, mg_real *da, mg_real *db) {
  if (da) binary_grad(op, 0, d, a, b, dy, da);
  if (db) binary_grad(op, 1, d, a, b, dy, db);
}

static void scale_forward(int64_t n, mg_real alpha, const mg_real *x, mg_real *y) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] = alpha * x[i];
}

static void axpy(int64_t n, mg_real alpha, const mg_real *x, mg_real *y) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

void mg_cpu_register_elementwise(mg_kernels *k) {
  k->unary_forward = unary_forward;
  k->unary_backward = unary_backward;
  k->binary_forward = binary_forward;
  k->binary_backward = binary_backward;
  k->scale_forward = scale_forward;
  k->axpy = axpy;
}
