/* elementwise.cu: activations, broadcast add/sub/mul, scale and axpy on the GPU, with the CPU's per-element math
 * (../mg_elementwise.h). One thread per output element; broadcast gradients are summed by one thread per gradient
 * element over its output positions in the CPU's order, in double, so no atomics are needed. */
#include "cuda_kernels.h"
#include "mg_elementwise.h"

static __global__ void unary_forward_kernel(mg_unary_op op, mg_real param, int64_t n, const mg_real *x, mg_real *y) {
  MG_CUDA_FOR(i, n) y[i] = mg_unary_value(op, param, x[i]);
}

static __global__ void unary_backward_kernel(mg_unary_op op, mg_real param, int64_t n, const mg_real *x,
                                             const mg_real *y, const mg_real *dy, mg_real *dx) {
  MG_CUDA_FOR(i, n) dx[i] += dy[i] * mg_unary_derivative(op, param, x[i], y[i]);
}

static void unary_forward(mg_unary_op op, mg_real param, int64_t n, const mg_real *x, mg_real *y) {
  if (n <= 0) return;
  unary_forward_kernel<<<mg_cuda_blocks(n), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(op, param, n, x, y);
  MG_CUDA_LAUNCHED("unary_forward");
}

static void unary_backward(mg_unary_op op, mg_real param, int64_t n, const mg_real *x, const mg_real *y,
                           const mg_real *dy, mg_real *dx) {
  if (n <= 0) return;
  unary_backward_kernel<<<mg_cuda_blocks(n), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(op, param, n, x, y, dy, dx);
  MG_CUDA_LAUNCHED("unary_backward");
}

/* ---- broadcast binary ops. The descriptor is a host struct: kernels take it by value. ---- */

static int64_t numel(const mg_bcast_desc *d) { return (int64_t)d->shape[0] * d->shape[1] * d->shape[2] * d->shape[3]; }

/* Whether an operand is read at the output's own offsets (same shape, no broadcasting): then a flat loop needs no
 * index decoding. Size-1 dims never move the offset, so their stride does not matter. */
static bool same_as_output(const mg_bcast_desc *d, const int64_t *stride) {
  int64_t contiguous = 1;
  for (int dim = 3; dim >= 0; dim--) {
    if (d->shape[dim] > 1 && stride[dim] != contiguous) return false;
    contiguous *= d->shape[dim];
  }
  return true;
}

static __global__ void binary_forward_flat_kernel(mg_binary_op op, int64_t n, const mg_real *a, const mg_real *b,
                                                  mg_real *y) {
  MG_CUDA_FOR(i, n) y[i] = mg_binary_value(op, a[i], b[i]);
}

static __global__ void binary_forward_kernel(mg_binary_op op, mg_bcast_desc d, int64_t n, const mg_real *a,
                                             const mg_real *b, mg_real *y) {
  MG_CUDA_FOR(o, n) {
    int64_t rem = o, oa = 0, ob = 0;
    for (int dim = 3; dim >= 0; dim--) {
      const int64_t i = rem % d.shape[dim];
      rem /= d.shape[dim];
      oa += i * d.a_stride[dim];
      ob += i * d.b_stride[dim];
    }
    y[o] = mg_binary_value(op, a[oa], b[ob]);
  }
}

static void binary_forward(mg_binary_op op, const mg_bcast_desc *d, const mg_real *a, const mg_real *b, mg_real *y) {
  const int64_t n = numel(d);
  if (n <= 0) return;
  cudaStream_t st = mg_cuda()->stream;
  if (same_as_output(d, d->a_stride) && same_as_output(d, d->b_stride))
    binary_forward_flat_kernel<<<mg_cuda_blocks(n), MG_CUDA_THREADS, 0, st>>>(op, n, a, b, y);
  else
    binary_forward_kernel<<<mg_cuda_blocks(n), MG_CUDA_THREADS, 0, st>>>(op, *d, n, a, b, y);
  MG_CUDA_LAUNCHED("binary_forward");
}

/* Same shapes: the operand's gradient element i gets exactly dy[i] times its partial. */
static __global__ void binary_grad_flat_kernel(mg_binary_op op, int which, int64_t n, const mg_real *a,
                                               const mg_real *b, const mg_real *dy, mg_real *dst) {
  MG_CUDA_FOR(i, n) dst[i] += dy[i] * mg_binary_partial(op, which, a[i], b[i]);
}

/* Gradient for one operand (which = 0 for a, 1 for b): thread ki owns one element of it, the kept dims taking their
 * index from ki, and sums every output position mapping onto it in output order, in double, as the CPU does (each
 * product of two floats is exact in double, so the sum has the CPU's bits). */
static __global__ void binary_grad_kernel(mg_binary_op op, int which, mg_bcast_desc d, int64_t kept_total,
                                          const mg_real *a, const mg_real *b, const mg_real *dy, mg_real *dst) {
  MG_CUDA_FOR(ki, kept_total) {
    int64_t off;
    const mg_real g = mg_bcast_grad_element(op, which, &d, ki, a, b, dy, &off);
    dst[off] += g;
  }
}

static void binary_grad(mg_binary_op op, int which, const mg_bcast_desc *d, const mg_real *a, const mg_real *b,
                        const mg_real *dy, mg_real *dst) {
  const int64_t *st = which ? d->b_stride : d->a_stride;
  int64_t kept_total = 1;
  for (int dim = 0; dim < 4; dim++)
    if (!mg_bcast_reduced(d, st, dim)) kept_total *= d->shape[dim];
  if (kept_total <= 0) return;
  cudaStream_t stream = mg_cuda()->stream;
  if (same_as_output(d, d->a_stride) && same_as_output(d, d->b_stride))
    binary_grad_flat_kernel<<<mg_cuda_blocks(kept_total), MG_CUDA_THREADS, 0, stream>>>(op, which, kept_total, a, b, dy,
                                                                                        dst);
  else
    binary_grad_kernel<<<mg_cuda_blocks(kept_total), MG_CUDA_THREADS, 0, stream>>>(op, which, *d, kept_total, a, b, dy,
                                                                                   dst);
  MG_CUDA_LAUNCHED("binary_backward");
}

static void binary_backward(mg_binary_op op, const mg_bcast_desc *d, const mg_real *a, const mg_real *b,
                            const mg_real *dy, mg_real *da, mg_real *db) {
  if (da) binary_grad(op, 0, d, a, b, dy, da);
  if (db) binary_grad(op, 1, d, a, b, dy, db);
}

/* ---- scale and axpy ---- */

static __global__ void scale_kernel(int64_t n, mg_real alpha, const mg_real *x, mg_real *y) {
  MG_CUDA_FOR(i, n) y[i] = alpha * x[i];
}

static __global__ void axpy_kernel(int64_t n, mg_real alpha, const mg_real *x, mg_real *y) {
  MG_CUDA_FOR(i, n) y[i] += alpha * x[i];
}

static void scale_forward(int64_t n, mg_real alpha, const mg_real *x, mg_real *y) {
  if (n <= 0) return;
  scale_kernel<<<mg_cuda_blocks(n), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(n, alpha, x, y);
  MG_CUDA_LAUNCHED("scale_forward");
}

static void axpy(int64_t n, mg_real alpha, const mg_real *x, mg_real *y) {
  if (n <= 0) return;
  axpy_kernel<<<mg_cuda_blocks(n), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(n, alpha, x, y);
  MG_CUDA_LAUNCHED("axpy");
}

void mg_cuda_register_elementwise(mg_kernels *k) {
  k->unary_forward = unary_forward;
  k->unary_backward = unary_backward;
  k->binary_forward = binary_forward;
  k->binary_backward = binary_backward;
  k->scale_forward = scale_forward;
  k->axpy = axpy;
}
