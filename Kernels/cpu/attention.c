/* attention.c: softmax over the last dim, and multi-head scaled dot-product attention over spatial positions.
 *
 * Attention keeps the engine's channel-major layout: q, k, v, out are [b, heads*head_dim, len] (NCHW with
 * len = h*w), so head h of sample b is a [head_dim, len] matrix with one column per position. With
 * s = 1/sqrt(head_dim):
 *   scores = s * Q^T K   [len, len]  (row i: query position i, column j: key position j)
 *   P = softmax over keys (rows of scores),  O = V P^T  [head_dim, len]
 * and the backward, with dS = P * (dP - rowsum(dP * P)):
 *   dP = dO^T V,  dV += dO P,  dQ += s * K dS^T,  dK += s * Q dS
 * The products go to the shared gemm (gemm.c), which owns their threading and determinism; heads run one after
 * another so gemm is never called inside an OpenMP region. Softmax rows are computed by one thread each, in
 * double.
 */
#include "cpu_kernels.h"

#include <math.h>

/* One row, numerically stable: the max is subtracted before exp, so exp never overflows. x and y may alias. */
static void softmax_row(int cols, const mg_real *x, mg_real *y) {
  mg_real mx = x[0];
  for (int j = 1; j < cols; j++)
    if (x[j] > mx) mx = x[j];
  double sum = 0;
  for (int j = 0; j < cols; j++) {
    double e = exp((double)x[j] - (double)mx);
    y[j] = (mg_real)e;
    sum += e;
  }
  const double inv = 1.0 / sum;
  for (int j = 0; j < cols; j++) y[j] = (mg_real)(y[j] * inv);
}

/* dx = y * (dy - sum(dy * y)); accumulate adds to dx, otherwise dx is overwritten (dx may alias dy then). */
static void softmax_row_backward(int cols, const mg_real *y, const mg_real *dy, mg_real *dx, int accumulate) {
  double dot = 0;
  for (int j = 0; j < cols; j++) dot += (double)dy[j] * y[j];
  for (int j = 0; j < cols; j++) {
    mg_real g = (mg_real)(y[j] * (dy[j] - dot));
    dx[j] = accumulate ? dx[j] + g : g;
  }
}

static void softmax_forward(int rows, int cols, const mg_real *x, mg_real *y) {
  /* x, y are (rows, cols) */
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; r++) softmax_row(cols, x + (int64_t)r * cols, y + (int64_t)r * cols);
}

static void softmax_backward(int rows, int cols, const mg_real *y, const mg_real *dy, mg_real *dx) {
  /* y, dy, dx are (rows, cols) */
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; r++) {
    const int64_t o = (int64_t)r * cols;
    softmax_row_backward(cols, y + o, dy + o, dx + o, 1);
  }
}

/* The backward needs dP (then dS, in place) for one head at a time: [len, len]. */
static size_t attention_workspace(int b, int heads, int head_dim, int len) {
  (void)b, (void)heads, (void)head_dim;
  return (size_t)len * (size_t)len * sizeof(mg_real);
}

static void attention_forward(int b, int heads, int head_dim, int len, const mg_real *q, const mg_real *k,
                              const mg_real *v, mg_real *out, mg_real *probs, void *ws) {
  /* q, k, v, out are (b, heads*head_dim, len); probs is (b, heads, len, len) */
  (void)ws;
  const mg_real scale = (mg_real)(1.0 / sqrt((double)head_dim));
  const int64_t head_size = (int64_t)head_dim * len, probs_size = (int64_t)len * len;
  for (int64_t bh = 0; bh < (int64_t)b * heads; bh++) {
    const mg_real *qh = q + bh * head_size, *kh = k + bh * head_size, *vh = v + bh * head_size;
    mg_real *p = probs + bh * probs_size;
    mg_cpu_gemm(1, 0, len, len, head_dim, scale, qh, len, kh, len, 0, p, len); /* scores = s * Q^T K */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < len; i++) softmax_row(len, p + (int64_t)i * len, p + (int64_t)i * len);
    mg_cpu_gemm(0, 1, head_dim, len, len, 1, vh, len, p, len, 0, out + bh * head_size, len); /* O = V P^T */
  }
}

static void attention_backward(int b, int heads, int head_dim, int len, const mg_real *q, const mg_real *k,
                               const mg_real *v, const mg_real *probs, const mg_real *dout, mg_real *dq,
                               mg_real *dk, mg_real *dv, void *ws) {
  /* q, k, v, dout, dq, dk, dv are (b, heads*head_dim, len); probs is (b, heads, len, len); ws is (len, len) */
  const mg_real scale = (mg_real)(1.0 / sqrt((double)head_dim));
  const int64_t head_size = (int64_t)head_dim * len, probs_size = (int64_t)len * len;
  mg_real *ds = ws;
  for (int64_t bh = 0; bh < (int64_t)b * heads; bh++) {
    const int64_t o = bh * head_size;
    const mg_real *p = probs + bh * probs_size, *dout_h = dout + o;
    if (dv) mg_cpu_gemm(0, 0, head_dim, len, len, 1, dout_h, len, p, len, 1, dv + o, len); /* dV += dO P */
    if (!dq && !dk) continue;
    mg_cpu_gemm(1, 0, len, len, head_dim, 1, dout_h, len, v + o, len, 0, ds, len); /* dP = dO^T V */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < len; i++) {
      const int64_t r = (int64_t)i * len;
      softmax_row_backward(len, p + r, ds + r, ds + r, 0); /* dS over the scores, in place */
    }
    if (dq) mg_cpu_gemm(0, 1, head_dim, len, len, scale, k + o, len, ds, len, 1, dq + o, len); /* dQ += s K dS^T */
    if (dk) mg_cpu_gemm(0, 0, head_dim, len, len, scale, q + o, len, ds, len, 1, dk + o, len); /* dK += s Q dS */
  }
}

void mg_cpu_register_attention(mg_kernels *k) {
  k->softmax_forward = softmax_forward;
  k->softmax_backward = softmax_backward;
  k->attention_workspace = attention_workspace;
  k->attention_forward = attention_forward;
  k->attention_backward = attention_backward;
}
