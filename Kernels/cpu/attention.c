/* attention.c: softmax over the last dim, and multi-head scaled dot-product attention over spatial positions.
 *
 * Attention keeps the engine's channel-major layout: q, k, v, out are [b, heads*head_dim, len] (NCHW with
 * len = h*w), so head h of sample b is a [head_dim, len] matrix with one column per position. With
 * s = 1/sqrt(head_dim):
 *   scores = s * Q^T K   [len, len]  (row i: query position i, column j: key position j)
 *   P = softmax over keys (rows of scores),  O = V P^T  [head_dim, len]
 * and the backward, with dS = P * (dP - rowsum(dP * P)):
 *   dP = dO^T V,  dV += dO P,  dQ += s * K dS^T,  dK += s * Q dS
 * Threading: OpenMP threads take whole pieces of work and run single-threaded OpenBLAS products on them (gemm.c
 * says why OpenBLAS may not thread). A forward piece is a block of query rows of one (sample, head): its scores,
 * their softmax and its output columns, all written by that piece alone. A backward piece is a whole (sample,
 * head), because dK and dV sum over all queries: it runs its query blocks in order. The blocks depend on len only,
 * so every value comes from the same operations whatever the thread count. (A head's products, 256 x 256 at
 * 16x16, are too small to split over threads well: calling the tiled parallel gemm per head ran at half the speed.)
 * Softmax rows sum in double.
 */
#include "cpu_kernels.h"
#include "mg_elementwise.h"

#include <math.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif


/* One row, numerically stable: the max is subtracted before exp, so exp never overflows. x and y may alias.
 * The simd sum's lanes are fixed when compiling, so it does not depend on the thread count. */
static void softmax_row(int cols, const mg_real *x, mg_real *y) {
  /* the max in 8 running lanes held in registers (an omp simd max reduction kept its lanes in memory, a third of
   * the softmax's time) */
  enum { LANES = 8 };
  mg_real lane[LANES], mx = x[0];
  for (int l = 0; l < LANES; l++) lane[l] = x[0];
  int i = 0;
  for (; i + LANES <= cols; i += LANES)
    for (int l = 0; l < LANES; l++) lane[l] = x[i + l] > lane[l] ? x[i + l] : lane[l];
  for (; i < cols; i++) mx = x[i] > mx ? x[i] : mx;
  for (int l = 0; l < LANES; l++) mx = lane[l] > mx ? lane[l] : mx;
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int j = 0; j < cols; j++) {
    mg_real e = mg_exp_nonpositive(x[j] - mx);
    y[j] = e;
    sum += e;
  }
  const mg_real inv = (mg_real)(1.0 / sum); /* in mg_real: a quarter of the work of a double product */
#pragma omp simd
  for (int j = 0; j < cols; j++) y[j] *= inv;
}

/* dx = y * (dy - sum(dy * y)); accumulate adds to dx, otherwise dx is overwritten (dx may alias dy then). */
static void softmax_row_backward(int cols, const mg_real *y, const mg_real *dy, mg_real *dx, int accumulate) {
  double dot = 0;
#pragma omp simd reduction(+ : dot)
  for (int j = 0; j < cols; j++) dot += (double)dy[j] * y[j];
  if (accumulate) {
#pragma omp simd
    for (int j = 0; j < cols; j++) dx[j] += (mg_real)(y[j] * (dy[j] - dot));
  } else {
#pragma omp simd
    for (int j = 0; j < cols; j++) dx[j] = (mg_real)(y[j] * (dy[j] - dot));
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

/* Target size of a query block's probabilities in values (512 KB in float, a core's L2 here): small enough to
 * stay in cache between the product that writes them, their softmax and the product that reads them (at len
 * 1024, 64K values and the whole [len, len] were a few percent slower, 128K and 256K equal). It decides which
 * products run, so it depends on len only, never on the thread count. */
#define QBLOCK_ELEMS (128 * 1024)

/* Query rows per block: len split into the fewest blocks of at most about QBLOCK_ELEMS values, rows shared out
 * evenly. */
static int query_block_rows(int len) {
  int64_t blocks = ((int64_t)len * len + QBLOCK_ELEMS - 1) / QBLOCK_ELEMS;
  if (blocks < 1) blocks = 1;
  if (blocks > len) blocks = len;
  return (int)((len + blocks - 1) / blocks);
}

/* The backward needs dP (then dS, in place) for one query block per thread: [rows, len] each, so the workspace
 * grows with the thread count (query it after set_threads). The forward needs none. */
static size_t attention_workspace(int b, int heads, int head_dim, int len) {
  (void)b, (void)heads, (void)head_dim;
  return (size_t)mg_cpu_threads() * (size_t)query_block_rows(len) * (size_t)len * sizeof(mg_real);
}

static void attention_forward(int b, int heads, int head_dim, int len, const mg_real *q, const mg_real *k,
                              const mg_real *v, mg_real *out, mg_real *probs, void *ws) {
  /* q, k, v, out are (b, heads*head_dim, len); probs is (b, heads, len, len) */
  (void)ws;
  const mg_real scale = (mg_real)(1.0 / sqrt((double)head_dim));
  const int64_t head_size = (int64_t)head_dim * len, probs_size = (int64_t)len * len;
  const int rows = query_block_rows(len), blocks = (len + rows - 1) / rows;
  const int64_t pieces = (int64_t)b * heads * blocks, macs = 2 * b * heads * probs_size * head_dim;
#pragma omp parallel for num_threads(mg_cpu_threads()) schedule(dynamic, 1) if (macs >= MG_CPU_PARALLEL_MIN_MACS)
  for (int64_t t = 0; t < pieces; t++) { /* piece t: query rows [i0, i0+n) of head bh */
    const int64_t bh = t / blocks, o = bh * head_size;
    const int i0 = (int)(t % blocks) * rows, n = len - i0 < rows ? len - i0 : rows;
    mg_real *p = probs + bh * probs_size + (int64_t)i0 * len; /* [n, len] */
    mg_cpu_gemm_serial(1, 0, n, len, head_dim, scale, q + o + i0, len, k + o, len, 0, p, len); /* s Q_blk^T K */
    for (int i = 0; i < n; i++) softmax_row(len, p + (int64_t)i * len, p + (int64_t)i * len);
    mg_cpu_gemm_serial(0, 1, head_dim, n, len, 1, v + o, len, p, len, 0, out + o + i0, len); /* V P_blk^T */
  }
}

static void attention_backward(int b, int heads, int head_dim, int len, const mg_real *q, const mg_real *k,
                               const mg_real *v, const mg_real *probs, const mg_real *dout, mg_real *dq,
                               mg_real *dk, mg_real *dv, void *ws) {
  /* q, k, v, dout, dq, dk, dv are (b, heads*head_dim, len); probs is (b, heads, len, len); ws: workspace bytes */
  if (!dq && !dk && !dv) return;
  const mg_real scale = (mg_real)(1.0 / sqrt((double)head_dim));
  const int64_t head_size = (int64_t)head_dim * len, probs_size = (int64_t)len * len;
  const int rows = query_block_rows(len);
  const int64_t pieces = (int64_t)b * heads, macs = 4 * pieces * probs_size * head_dim;
#pragma omp parallel num_threads(mg_cpu_threads()) if (macs >= MG_CPU_PARALLEL_MIN_MACS)
  {
    mg_real *ds = (mg_real *)ws + (int64_t)mg_cpu_thread_id() * rows * len; /* [rows, len] */
#pragma omp for schedule(dynamic, 1)
    for (int64_t bh = 0; bh < pieces; bh++) {
      const int64_t o = bh * head_size;
      for (int i0 = 0; i0 < len; i0 += rows) { /* query rows [i0, i0+n); dK and dV add up over them in order */
        const int n = len - i0 < rows ? len - i0 : rows;
        const mg_real *p = probs + bh * probs_size + (int64_t)i0 * len; /* [n, len] */
        const mg_real *dout_blk = dout + o + i0;                          /* columns i0.. of dO */
        if (dv) mg_cpu_gemm_serial(0, 0, head_dim, len, n, 1, dout_blk, len, p, len, 1, dv + o, len); /* dO P */
        if (!dq && !dk) continue;
        mg_cpu_gemm_serial(1, 0, n, len, head_dim, 1, dout_blk, len, v + o, len, 0, ds, len); /* dP = dO^T V */
        for (int i = 0; i < n; i++) {
          const int64_t r = (int64_t)i * len;
          softmax_row_backward(len, p + r, ds + r, ds + r, 0); /* dS over the scores, in place */
        }
        if (dq) /* dQ_blk += s K dS^T */
          mg_cpu_gemm_serial(0, 1, head_dim, n, len, scale, k + o, len, ds, len, 1, dq + o + i0, len);
        if (dk) /* dK += s Q_blk dS */
          mg_cpu_gemm_serial(0, 0, head_dim, len, n, scale, q + o + i0, len, ds, len, 1, dk + o, len);
      }
    }
  }
}

void mg_cpu_register_attention(mg_kernels *k) {
  k->softmax_forward = softmax_forward;
  k->softmax_backward = softmax_backward;
  k->attention_workspace = attention_workspace;
  k->attention_forward = attention_forward;
  k->attention_backward = attention_backward;
}
