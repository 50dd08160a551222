/* resample.cu: nearest 2x upsampling, 2x2 average pooling and channel concatenation, as ../cpu/resample.c.
 * One thread per element written: per output element in the forward, per element of the gradient in the backward
 * (which adds up the few dy values that reach it itself), so no two threads write one place and the sums are in
 * the CPU's order. */
#include "cuda_kernels.h"

/* x [planes,h,w] -> y [planes,2h,2w], y[p,i,j] = x[p,i/2,j/2] */
static __global__ void upsample_nearest2x_forward_kernel(int64_t total, int h, int w, const mg_real *x, mg_real *y) {
  MG_CUDA_FOR(o, total) {
    const int64_t j = o % (2 * w), row = o / (2 * w), i = row % (2 * h), p = row / (2 * h);
    y[o] = x[(p * h + i / 2) * w + j / 2];
  }
}

/* dy [planes,2h,2w] -> dx [planes,h,w] += the sum of each 2x2 block */
static __global__ void upsample_nearest2x_backward_kernel(int64_t total, int w, const mg_real *dy, mg_real *dx) {
  MG_CUDA_FOR(o, total) {
    const int64_t j = o % w, r = o / w; /* r: row of dx over all planes; its dy rows are 2r and 2r+1 */
    const mg_real *top = dy + 2 * r * 2 * w, *bottom = top + 2 * w;
    dx[o] += (top[2 * j] + top[2 * j + 1]) + (bottom[2 * j] + bottom[2 * j + 1]);
  }
}

/* x [planes,h,w] (h, w even) -> y [planes,h/2,w/2], the mean of each 2x2 block, summed pairwise as on the CPU */
static __global__ void avg_pool2x_forward_kernel(int64_t total, int w, const mg_real *x, mg_real *y) {
  const int wo = w / 2;
  MG_CUDA_FOR(o, total) {
    const int64_t j = o % wo, r = o / wo; /* r: row of y over all planes; its x rows are 2r and 2r+1 */
    const mg_real *top = x + 2 * r * w, *bottom = top + w;
    y[o] = ((top[2 * j] + top[2 * j + 1]) + (bottom[2 * j] + bottom[2 * j + 1])) * (mg_real)0.25;
  }
}

/* dy [planes,h/2,w/2] -> dx [planes,h,w] += dy/4 spread over each 2x2 block */
static __global__ void avg_pool2x_backward_kernel(int64_t total, int h, int w, const mg_real *dy, mg_real *dx) {
  const int wo = w / 2;
  MG_CUDA_FOR(o, total) {
    const int64_t j = o % w, row = o / w, i = row % h, p = row / h;
    dx[o] += dy[(p * (h / 2) + i / 2) * wo + j / 2] * (mg_real)0.25;
  }
}

/* a [n,ca,hw], b [n,cb,hw] -> y [n,ca+cb,hw] */
static __global__ void concat_forward_kernel(int64_t total, int ca, int cb, int64_t hw, const mg_real *a, const mg_real *b,
                                      mg_real *y) {
  const int c = ca + cb;
  MG_CUDA_FOR(o, total) {
    const int64_t e = o % hw, plane = o / hw, ch = plane % c, s = plane / c;
    y[o] = ch < ca ? a[(s * ca + ch) * hw + e] : b[(s * cb + (ch - ca)) * hw + e];
  }
}

/* dst [n,cd,hw] += channels [first, first+cd) of dy [n,c,hw]: one concat input's gradient */
static __global__ void concat_backward_kernel(int64_t total, int c, int first, int cd, int64_t hw, const mg_real *dy,
                                       mg_real *dst) {
  MG_CUDA_FOR(o, total) {
    const int64_t e = o % hw, plane = o / hw, ch = plane % cd, s = plane / cd;
    dst[o] += dy[(s * c + first + ch) * hw + e];
  }
}

static void upsample_nearest2x_forward(int planes, int h, int w, const mg_real *x, mg_real *y) {
  const int64_t total = (int64_t)planes * 2 * h * 2 * w;
  if (total <= 0) return;
  upsample_nearest2x_forward_kernel<<<mg_cuda_blocks(total), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(total, h, w,
                                                                                                       x, y);
  MG_CUDA_LAUNCHED("upsample_nearest2x_forward");
}

static void upsample_nearest2x_backward(int planes, int h, int w, const mg_real *dy, mg_real *dx) {
  const int64_t total = (int64_t)planes * h * w;
  if (total <= 0) return;
  upsample_nearest2x_backward_kernel<<<mg_cuda_blocks(total), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(total, w, dy,
                                                                                                        dx);
  MG_CUDA_LAUNCHED("upsample_nearest2x_backward");
}

static void avg_pool2x_forward(int planes, int h, int w, const mg_real *x, mg_real *y) {
  const int64_t total = (int64_t)planes * (h / 2) * (w / 2);
  if (total <= 0) return;
  avg_pool2x_forward_kernel<<<mg_cuda_blocks(total), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(total, w, x, y);
  MG_CUDA_LAUNCHED("avg_pool2x_forward");
}

static void avg_pool2x_backward(int planes, int h, int w, const mg_real *dy, mg_real *dx) {
  const int64_t total = (int64_t)planes * h * w;
  if (total <= 0) return;
  avg_pool2x_backward_kernel<<<mg_cuda_blocks(total), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(total, h, w, dy, dx);
  MG_CUDA_LAUNCHED("avg_pool2x_backward");
}

static void concat_forward(int n, int ca, int cb, int hw, const mg_real *a, const mg_real *b, mg_real *y) {
  const int64_t total = (int64_t)n * (ca + cb) * hw;
  if (total <= 0) return;
  concat_forward_kernel<<<mg_cuda_blocks(total), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(total, ca, cb, hw, a, b,
                                                                                          y);
  MG_CUDA_LAUNCHED("concat_forward");
}

/* da and db are written by separate launches, each over its own elements only (either may be NULL) */
static void concat_backward(int n, int ca, int cb, int hw, const mg_real *dy, mg_real *da, mg_real *db) {
  const int c = ca + cb;
  const int64_t total_a = (int64_t)n * ca * hw, total_b = (int64_t)n * cb * hw;
  if (da && total_a > 0) {
    concat_backward_kernel<<<mg_cuda_blocks(total_a), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(total_a, c, 0, ca, hw,
                                                                                               dy, da);
    MG_CUDA_LAUNCHED("concat_backward");
  }
  if (db && total_b > 0) {
    concat_backward_kernel<<<mg_cuda_blocks(total_b), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(total_b, c, ca, cb, hw,
                                                                                               dy, db);
    MG_CUDA_LAUNCHED("concat_backward");
  }
}

void mg_cuda_register_resample(mg_kernels *k) {
  k->upsample_nearest2x_forward = upsample_nearest2x_forward;
  k->upsample_nearest2x_backward = upsample_nearest2x_backward;
  k->avg_pool2x_forward = avg_pool2x_forward;
  k->avg_pool2x_backward = avg_pool2x_backward;
  k->concat_forward = concat_forward;
  k->concat_backward = concat_backward;
}
