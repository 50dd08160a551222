/* elementwise.c: activations, broadcast add/sub/mul, scale and axpy on the CPU. */
#include "cpu_kernels.h"
#include "mg_elementwise.h"

static void unary_forward(mg_unary_op op, mg_real param, int64_t n, const mg_real *x, mg_real *y) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] = mg_unary_value(op, param, x[i]);
}

static void unary_backward(mg_unary_op op, mg_real param, int64_t n, const mg_real *x, const mg_real *y,
                           const mg_real *dy, mg_real *dx) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * mg_unary_derivative(op, param, x[i], y[i]);
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
 * element is owned by one iteration of the parallel loop and summed in a fixed order: deterministic. */
static void binary_grad(mg_binary_op op, int which, const mg_bcast_desc *d, const mg_real *a, const mg_real *b,
                        const mg_real *dy, mg_real *dst) {
  const int64_t *st = which ? d->b_stride : d->a_stride;
  int64_t ostride[4] = {(int64_t)d->shape[1] * d->shape[2] * d->shape[3], (int64_t)d->shape[2] * d->shape[3],
                        d->shape[3], 1};
  int kept[4], red[4], nk = 0, nr = 0;
  int64_t kept_total = 1, red_total = 1;
  for (int i = 0; i < 4; i++) {
    if (st[i] == 0 && d->shape[i] > 1) {
      red[nr++] = i;
      red_total *= d->shape[i];
    } else {
      kept[nk++] = i;
      kept_total *= d->shape[i];
    }
  }
#pragma omp parallel for schedule(static)
  for (int64_t ki = 0; ki < kept_total; ki++) {
    int64_t rem = ki, out_base = 0, dst_off = 0;
    for (int j = nk - 1; j >= 0; j--) {
      int dim = kept[j], idx = (int)(rem % d->shape[dim]);
      rem /= d->shape[dim];
      out_base += idx * ostride[dim];
      dst_off += idx * st[dim];
    }
    double acc = 0;
    for (int64_t ri = 0; ri < red_total; ri++) {
      int64_t r = ri, o = out_base;
      for (int j = nr - 1; j >= 0; j--) {
        int dim = red[j];
        o += (r % d->shape[dim]) * ostride[dim];
        r /= d->shape[dim];
      }
      int64_t oa = 0, ob = 0, t = o;
      for (int dim = 0; dim < 4; dim++) {
        int64_t idx = t / ostride[dim];
        t -= idx * ostride[dim];
        oa += idx * d->a_stride[dim];
        ob += idx * d->b_stride[dim];
      }
      acc += (double)dy[o] * mg_binary_partial(op, which, a[oa], b[ob]);
    }
    dst[dst_off] += (mg_real)acc;
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
