/* resample.c: nearest 2x upsampling, 2x2 average pooling and channel concatenation on the CPU.
 * Every output element (or input element in the backward) is written by one iteration, so no reduction crosses
 * threads. */
#include "cpu_kernels.h"

#include <string.h>

/* x [planes,h,w] -> y [planes,2h,2w], y[p,i,j] = x[p,i/2,j/2] */
static void upsample_nearest2x_forward(int planes, int h, int w, const mg_real *x, mg_real *y) {
  int64_t rows = (int64_t)planes * 2 * h;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    int64_t p = r / (2 * h), i = r % (2 * h);
    const mg_real *xrow = x + (p * h + i / 2) * w;
    mg_real *yrow = y + r * 2 * w;
    for (int j = 0; j < 2 * w; j++) yrow[j] = xrow[j / 2];
  }
}

/* dy [planes,2h,2w] -> dx [planes,h,w] += the sum of each 2x2 block */
static void upsample_nearest2x_backward(int planes, int h, int w, const mg_real *dy, mg_real *dx) {
  int64_t rows = (int64_t)planes * h;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const mg_real *top = dy + 2 * r * 2 * w, *bottom = top + 2 * w;
    mg_real *dxrow = dx + r * w;
    for (int j = 0; j < w; j++) dxrow[j] += (top[2 * j] + top[2 * j + 1]) + (bottom[2 * j] + bottom[2 * j + 1]);
  }
}

/* x [planes,h,w] (h, w even) -> y [planes,h/2,w/2], the mean of each 2x2 block. Summed pairwise, so pooling a
 * nearest-upsampled image gives back exactly the original values. */
static void avg_pool2x_forward(int planes, int h, int w, const mg_real *x, mg_real *y) {
  int ho = h / 2, wo = w / 2;
  int64_t rows = (int64_t)planes * ho;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const mg_real *top = x + 2 * r * w, *bottom = top + w;
    mg_real *yrow = y + r * wo;
    for (int j = 0; j < wo; j++)
      yrow[j] = ((top[2 * j] + top[2 * j + 1]) + (bottom[2 * j] + bottom[2 * j + 1])) * (mg_real)0.25;
  }
}

/* dy [planes,h/2,w/2] -> dx [planes,h,w] += dy/4 spread over each 2x2 block */
static void avg_pool2x_backward(int planes, int h, int w, const mg_real *dy, mg_real *dx) {
  int wo = w / 2;
  int64_t rows = (int64_t)planes * h;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    int64_t p = r / h, i = r % h;
    const mg_real *dyrow = dy + (p * (h / 2) + i / 2) * wo;
    mg_real *dxrow = dx + r * w;
    for (int j = 0; j < w; j++) dxrow[j] += dyrow[j / 2] * (mg_real)0.25;
  }
}

/* a [n,ca,hw], b [n,cb,hw] -> y [n,ca+cb,hw]; one channel plane per iteration */
static void concat_forward(int n, int ca, int cb, int hw, const mg_real *a, const mg_real *b, mg_real *y) {
  int c = ca + cb;
  int64_t planes = (int64_t)n * c;
#pragma omp parallel for schedule(static)
  for (int64_t pl = 0; pl < planes; pl++) {
    int64_t s = pl / c, ch = pl % c;
    const mg_real *src = ch < ca ? a + (s * ca + ch) * hw : b + (s * cb + (ch - ca)) * hw;
    memcpy(y + pl * hw, src, (size_t)hw * sizeof *y);
  }
}

/* dy [n,ca+cb,hw] -> da [n,ca,hw] += first ca channels, db [n,cb,hw] += the rest (either may be NULL) */
static void concat_backward(int n, int ca, int cb, int hw, const mg_real *dy, mg_real *da, mg_real *db) {
  int c = ca + cb;
  int64_t planes = (int64_t)n * c;
#pragma omp parallel for schedule(static)
  for (int64_t pl = 0; pl < planes; pl++) {
    int64_t s = pl / c, ch = pl % c;
    mg_real *dst = ch < ca ? (da ? da + (s * ca + ch) * hw : NULL) : (db ? db + (s * cb + (ch - ca)) * hw : NULL);
    if (!dst) continue;
    const mg_real *src = dy + pl * hw;
    for (int i = 0; i < hw; i++) dst[i] += src[i];
  }
}

void mg_cpu_register_resample(mg_kernels *k) {
  k->upsample_nearest2x_forward = upsample_nearest2x_forward;
  k->upsample_nearest2x_backward = upsample_nearest2x_backward;
  k->avg_pool2x_forward = avg_pool2x_forward;
  k->avg_pool2x_backward = avg_pool2x_backward;
  k->concat_forward = concat_forward;
  k->concat_backward = concat_backward;
}
