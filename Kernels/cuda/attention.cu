/* attention.cu: softmax over the last dim, and multi-head scaled dot-product attention over spatial positions.
 *
 * The layout and formulas are the CPU's (../cpu/attention.c): q, k, v, out are [b, heads*head_dim, len], so head
 * h of sample b is a [head_dim, len] matrix at offset (b*heads + h) * head_dim*len, and with s = 1/sqrt(head_dim):
 *   scores = s * Q^T K   [len, len]  (row i: query position i, column j: key position j)
 *   P = softmax over keys (rows of scores),  O = V P^T  [head_dim, len]
 * and the backward, with dS = P * (dP - rowsum(dP * P)):
 *   dP = dO^T V,  dV += dO P,  dQ += s K dS^T,  dK += s Q dS
 * Every product runs over all b*heads matrices in one strided batched cuBLAS call. The forward writes the scores
 * straight into probs and softmaxes them in place. Softmax is one block per row; rows sum in double.
 */
#include "cuda_kernels.h"
#include "mg_elementwise.h"

#include <math.h>

/* Max of v over the block's threads, returned to every thread. Same comparison as the CPU's (a NaN is kept only
 * when it is the row's first value). Every thread of the block must call it. */
__device__ inline mg_real block_max(mg_real v) {
  __shared__ mg_real warp_max[32];
  __shared__ mg_real total;
  for (int o = 16; o > 0; o >>= 1) {
    mg_real other = __shfl_down_sync(0xffffffffu, v, o);
    v = other > v ? other : v;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_max[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < (int)(blockDim.x >> 5) ? warp_max[lane] : warp_max[0]; /* lanes past the warps repeat a real value */
    for (int o = 16; o > 0; o >>= 1) {
      mg_real other = __shfl_down_sync(0xffffffffu, v, o);
      v = other > v ? other : v;
    }
    if (lane == 0) total = v;
  }
  __syncthreads();
  v = total;
  __syncthreads(); /* warp_max and total are free again for the next call */
  return v;
}

/* One block per row (blocks step over the rows), numerically stable: the max is subtracted before exp, so exp
 * never overflows. x and y may alias: each element is read and written by the same thread, and the max is known
 * to all before any is written. */
static __global__ void softmax_forward_kernel(int64_t rows, int cols, const mg_real *x, mg_real *y) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const mg_real *xr = x + r * cols;
    mg_real *yr = y + r * cols;
    mg_real mx = xr[0];
    for (int j = threadIdx.x; j < cols; j += blockDim.x) mx = xr[j] > mx ? xr[j] : mx;
    mx = block_max(mx);
    double sum = 0;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
      mg_real e = mg_exp_nonpositive(xr[j] - mx);
      yr[j] = e;
      sum += e;
    }
    const mg_real inv = (mg_real)(1.0 / mg_cuda_block_sum(sum));
    for (int j = threadIdx.x; j < cols; j += blockDim.x) yr[j] *= inv;
  }
}

/* dx = y * (dy - sum(dy * y)) per row; accumulate adds to dx, otherwise dx is overwritten (dx may alias dy then:
 * the row's dot product is complete before any element is written). */
static __global__ void softmax_backward_kernel(int64_t rows, int cols, const mg_real *y, const mg_real *dy, mg_real *dx,
                                        int accumulate) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t o = r * cols;
    double dot = 0;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) dot += (double)dy[o + j] * y[o + j];
    dot = mg_cuda_block_sum(dot);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
      const mg_real g = (mg_real)(y[o + j] * (dy[o + j] - dot));
      dx[o + j] = accumulate ? dx[o + j] + g : g;
    }
  }
}

static unsigned row_blocks(int64_t rows) { return (unsigned)(rows < MG_CUDA_MAX_BLOCKS ? rows : MG_CUDA_MAX_BLOCKS); }

static void softmax_rows(int64_t rows, int cols, const mg_real *x, mg_real *y) {
  if (rows <= 0 || cols <= 0) return;
  softmax_forward_kernel<<<row_blocks(rows), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(rows, cols, x, y);
  MG_CUDA_LAUNCHED("softmax_forward");
}

static void softmax_rows_backward(int64_t rows, int cols, const mg_real *y, const mg_real *dy, mg_real *dx,
                                  int accumulate) {
  if (rows <= 0 || cols <= 0) return;
  softmax_backward_kernel<<<row_blocks(rows), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(rows, cols, y, dy, dx,
                                                                                       accumulate);
  MG_CUDA_LAUNCHED("softmax_backward");
}

static void softmax_forward(int rows, int cols, const mg_real *x, mg_real *y) { softmax_rows(rows, cols, x, y); }

static void softmax_backward(int rows, int cols, const mg_real *y, const mg_real *dy, mg_real *dx) {
  softmax_rows_backward(rows, cols, y, dy, dx, 1);
}

/* The backward holds dP (then dS, in place) for a group of heads at once: all b*heads of them when that is at
 * most ATTENTION_DS_ELEMS values (128 MB), else as many as fit, but at least one. Bounded because the engine's
 * scratch is sized by the largest workspace asked for, forward included, and probs already holds as much again.
 * Depends on the shape alone. */
#define ATTENTION_DS_ELEMS ((int64_t)1 << 25)

static int heads_per_group(int b, int heads, int len) {
  const int64_t all = (int64_t)b * heads, fit = ATTENTION_DS_ELEMS / ((int64_t)len * len);
  return (int)(fit < 1 ? 1 : fit < all ? fit : all);
}

static size_t attention_workspace(int b, int heads, int head_dim, int len) {
  (void)head_dim;
  if (b <= 0 || heads <= 0 || len <= 0) return 0;
  return (size_t)heads_per_group(b, heads, len) * (size_t)len * (size_t)len * sizeof(mg_real);
}

static void attention_forward(int b, int heads, int head_dim, int len, const mg_real *q, const mg_real *k,
                              const mg_real *v, mg_real *out, mg_real *probs, void *ws) {
  /* q, k, v, out are (b, heads*head_dim, len); probs is (b, heads, len, len); the forward needs no workspace */
  (void)ws;
  const int bh = b * heads;
  if (bh <= 0 || len <= 0) return;
  const mg_real scale = (mg_real)(1.0 / sqrt((double)head_dim));
  const long long head_size = (long long)head_dim * len, probs_size = (long long)len * len;
  /* P = s Q^T K */
  mg_cuda_gemm_batched(1, 0, len, len, head_dim, scale, q, len, head_size, k, len, head_size, 0, probs, len,
                       probs_size, bh);
  softmax_rows((int64_t)bh * len, len, probs, probs);
  /* O = V P^T */
  mg_cuda_gemm_batched(0, 1, head_dim, len, len, 1, v, len, head_size, probs, len, probs_size, 0, out, len, head_size,
                       bh);
}

static void attention_backward(int b, int heads, int head_dim, int len, const mg_real *q, const mg_real *k,
                               const mg_real *v, const mg_real *probs, const mg_real *dout, mg_real *dq,
                               mg_real *dk, mg_real *dv, void *ws) {
  /* q, k, v, dout, dq, dk, dv are (b, heads*head_dim, len); probs is (b, heads, len, len); ws: workspace bytes */
  const int bh = b * heads;
  if ((!dq && !dk && !dv) || bh <= 0 || len <= 0) return;
  const mg_real scale = (mg_real)(1.0 / sqrt((double)head_dim));
  const long long head_size = (long long)head_dim * len, probs_size = (long long)len * len;
  const int group = heads_per_group(b, heads, len);
  mg_real *ds = (mg_real *)ws; /* [group, len, len] */
  for (int h0 = 0; h0 < bh; h0 += group) { /* heads [h0, h0+count) */
    const int count = bh - h0 < group ? bh - h0 : group;
    const int64_t o = (int64_t)h0 * head_size;
    const mg_real *p = probs + (int64_t)h0 * probs_size;
    if (dv) /* dV += dO P */
      mg_cuda_gemm_batched(0, 0, head_dim, len, len, 1, dout + o, len, head_size, p, len, probs_size, 1, dv + o, len,
                           head_size, count);
    if (!dq && !dk) continue;
    /* dP = dO^T V, then dS over the scores, in place */
    mg_cuda_gemm_batched(1, 0, len, len, head_dim, 1, dout + o, len, head_size, v + o, len, head_size, 0, ds, len,
                         probs_size, count);
    softmax_rows_backward((int64_t)count * len, len, p, ds, ds, 0);
    if (dq) /* dQ += s K dS^T */
      mg_cuda_gemm_batched(0, 1, head_dim, len, len, scale, k + o, len, head_size, ds, len, probs_size, 1, dq + o,
                           len, head_size, count);
    if (dk) /* dK += s Q dS */
      mg_cuda_gemm_batched(0, 0, head_dim, len, len, scale, q + o, len, head_size, ds, len, probs_size, 1, dk + o,
                           len, head_size, count);
  }
}

void mg_cuda_register_attention(mg_kernels *k) {
  k->softmax_forward = softmax_forward;
  k->softmax_backward = softmax_backward;
  k->attention_workspace = attention_workspace;
  k->attention_forward = attention_forward;
  k->attention_backward = attention_backward;
}
