/* cuda_kernels.h: what the CUDA backend's files share: the calling thread's stream and library handles, error
 * recording, launch shapes, deterministic sums, and each file's register function. CUDA C++, for nvcc only.
 *
 * Rules on top of mg_kernels.h's:
 * - Everything runs on mg_cuda()->stream, in call order; only upload, download, free and take_error wait.
 * - A failure is recorded with the MG_CUDA_* checks below (first one wins) and handed to the engine by take_error.
 * - Sums are deterministic: each thread adds a fixed set of elements in a fixed order, block sums use a fixed tree,
 *   and grids depend on the shape alone. No atomics on floating-point values.
 */
#ifndef MG_CUDA_KERNELS_H
#define MG_CUDA_KERNELS_H

#include "mg_kernels.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

/* Per host thread, like the CPU backend's thread count: contexts used from two threads never share a stream or a
 * handle (cuBLAS and cuDNN handles must not be used by two threads at once). Created on first use. */
struct mg_cuda_state {
  cudaStream_t stream;   /* every kernel, copy and library call of this thread, in order */
  cublasHandle_t cublas; /* bound to stream */
  cudnnHandle_t cudnn;   /* bound to stream */
  mg_math_mode math;     /* set_math_mode: TF32 tensor cores allowed in GEMM and convolution */
  double *partials;      /* MG_CUDA_MAX_PARTIALS doubles: the first pass of mg_cuda_sum */
  char error[512];       /* the first failure since the last take_error; "" when none */
};
mg_cuda_state *mg_cuda(void);

/* Keeps "where: what" as the thread's failure unless one is already kept. */
void mg_cuda_record(const char *where, const char *what);

#define MG_CUDA_CHECK(call)                                                   \
  do {                                                                        \
    cudaError_t mg_e_ = (call);                                               \
    if (mg_e_ != cudaSuccess) mg_cuda_record(#call, cudaGetErrorString(mg_e_)); \
  } while (0)
#define MG_CUBLAS_CHECK(call)                                                        \
  do {                                                                               \
    cublasStatus_t mg_e_ = (call);                                                   \
    if (mg_e_ != CUBLAS_STATUS_SUCCESS) mg_cuda_record(#call, cublasGetStatusString(mg_e_)); \
  } while (0)
#define MG_CUDNN_CHECK(call)                                                       \
  do {                                                                             \
    cudnnStatus_t mg_e_ = (call);                                                  \
    if (mg_e_ != CUDNN_STATUS_SUCCESS) mg_cuda_record(#call, cudnnGetErrorString(mg_e_)); \
  } while (0)
/* After each <<<...>>> launch (name: a string literal): a bad launch configuration shows here, named after the
 * kernel, a fault in the kernel at take_error. */
#define MG_CUDA_LAUNCHED(name)                                                          \
  do {                                                                                  \
    cudaError_t mg_e_ = cudaGetLastError();                                             \
    if (mg_e_ != cudaSuccess) mg_cuda_record("launch of " name, cudaGetErrorString(mg_e_)); \
  } while (0)

/* Launch shapes: MG_CUDA_THREADS per block, grids capped (kernels loop with MG_CUDA_FOR). */
#define MG_CUDA_THREADS 256
#define MG_CUDA_MAX_BLOCKS 65536
static inline unsigned mg_cuda_blocks(int64_t n) {
  int64_t b = (n + MG_CUDA_THREADS - 1) / MG_CUDA_THREADS;
  return (unsigned)(b < 1 ? 1 : b > MG_CUDA_MAX_BLOCKS ? MG_CUDA_MAX_BLOCKS : b);
}
/* Grid-stride loop over [0, n). */
#define MG_CUDA_FOR(i, n) \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

/* Sum of v over the block's threads, returned to every thread. A fixed tree (warp shuffles, then one warp over the
 * warp sums), so the same inputs give the same bits. Every thread of the block must call it; blockDim.x a multiple
 * of 32, at most 1024. */
__device__ inline double mg_cuda_block_sum(double v) {
  __shared__ double warp_sums[32];
  __shared__ double total;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < (int)(blockDim.x >> 5) ? warp_sums[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    if (lane == 0) total = v;
  }
  __syncthreads();
  v = total;
  __syncthreads(); /* warp_sums and total are free again for the next call */
  return v;
}

/* ---- deterministic sum of f(i) over [0, n) into a device scalar ----
 * F is a functor with `__device__ double operator()(int64_t i) const`, declared in an anonymous namespace (two
 * files' functors of the same name would otherwise give one template instance, merged by the linker). Two passes: a grid fixed by n writes one
 * partial per block into mg_cuda()->partials, then one block adds them in order. out = scale * sum, or
 * out += scale * sum when accumulate. */
#define MG_CUDA_MAX_PARTIALS 1024
#define MG_CUDA_SUM_PER_THREAD 16

template <class F>
__global__ void mg_cuda_partial_sums(int64_t n, F f, double *partials) {
  double acc = 0;
  MG_CUDA_FOR(i, n) acc += f(i);
  acc = mg_cuda_block_sum(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

template <class T>
__global__ void mg_cuda_finish_sum(int parts, const double *partials, double scale, int accumulate, T *out) {
  double acc = 0;
  for (int i = threadIdx.x; i < parts; i += blockDim.x) acc += partials[i];
  acc = mg_cuda_block_sum(acc) * scale;
  if (threadIdx.x == 0) *out = (T)(accumulate ? (double)*out + acc : acc);
}

template <class F>
void mg_cuda_sum(int64_t n, F f, double scale, int accumulate, mg_real *out) {
  mg_cuda_state *s = mg_cuda();
  int64_t want = (n + (int64_t)MG_CUDA_THREADS * MG_CUDA_SUM_PER_THREAD - 1) / ((int64_t)MG_CUDA_THREADS * MG_CUDA_SUM_PER_THREAD);
  int parts = (int)(want < 1 ? 1 : want > MG_CUDA_MAX_PARTIALS ? MG_CUDA_MAX_PARTIALS : want);
  mg_cuda_partial_sums<<<parts, MG_CUDA_THREADS, 0, s->stream>>>(n, f, s->partials);
  MG_CUDA_LAUNCHED("partial_sums");
  mg_cuda_finish_sum<<<1, MG_CUDA_THREADS, 0, s->stream>>>(parts, s->partials, scale, accumulate, out);
  MG_CUDA_LAUNCHED("finish_sum");
}

/* Each file fills its entries of the table, as in ../cpu/cpu_kernels.h. */
void mg_cuda_register_memory(mg_kernels *k);      /* memory.cu: cudaMalloc, copies, fills, settings, errors */
void mg_cuda_register_random(mg_kernels *k);      /* random.cu: Philox normal and uniform fills */
void mg_cuda_register_gemm(mg_kernels *k);        /* gemm.cu: gemm and linear through cuBLAS */
void mg_cuda_register_conv(mg_kernels *k);        /* conv.cu: conv2d and transposed conv2d through cuDNN */
void mg_cuda_register_norm(mg_kernels *k);        /* norm.cu: group norm, batch norm */
void mg_cuda_register_elementwise(mg_kernels *k); /* elementwise.cu: unary, broadcast binary, scale, axpy */
void mg_cuda_register_attention(mg_kernels *k);   /* attention.cu: softmax and spatial attention */
void mg_cuda_register_resample(mg_kernels *k);    /* resample.cu: upsample, pool, concat */
void mg_cuda_register_embedding(mg_kernels *k);   /* embedding.cu: timestep and label embeddings */
void mg_cuda_register_loss(mg_kernels *k);        /* loss.cu: sum and the losses */
void mg_cuda_register_optim(mg_kernels *k);       /* optim.cu: sum of squares, Adam, EMA */
void mg_cuda_register_gan(mg_kernels *k);         /* gan.cu: spectral norm, augmentation, row sums */

/* Row-major C = alpha * op(A) @ op(B) + beta * C on the thread's cuBLAS handle (gemm.cu), and the same for
 * `batch` matrices at fixed strides (attention). Math mode from mg_cuda()->math. */
void mg_cuda_gemm(int trans_a, int trans_b, int m, int n, int k, mg_real alpha, const mg_real *a, int lda,
                  const mg_real *b, int ldb, mg_real beta, mg_real *c, int ldc);
void mg_cuda_gemm_batched(int trans_a, int trans_b, int m, int n, int k, mg_real alpha, const mg_real *a, int lda,
                          long long stride_a, const mg_real *b, int ldb, long long stride_b, mg_real beta, mg_real *c,
                          int ldc, long long stride_c, int batch);

#endif
