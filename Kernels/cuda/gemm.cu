/* gemm.cu: dense matrix products through cuBLAS and the linear layer built on them.
 *
 * cuBLAS is column-major. A row-major [r, c] matrix with leading dimension ld is, read column-major, its transpose
 * [c, r] with the same ld, so row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: the same call with
 * the operands swapped and m, n exchanged, and no data moved. The math mode (FP32 or TF32) is the handle's, set by
 * memory.cu's set_math_mode. cuBLAS gives the same bits on every run on one GPU model, one handle per stream. */
#include "cuda_kernels.h"

#include <type_traits>

static_assert(std::is_same<mg_real, float>::value, "the CUDA backend is float32 only (cublasSgemm)");

/* An empty inner dimension: C = beta*C is the whole answer (cuBLAS would reject a leading dimension of 0). beta 0
 * writes zeros without reading C, as BLAS does, so garbage (NaN) in C does not survive. */
static __global__ void scale_matrices_kernel(int rows, int cols, mg_real beta, mg_real *c, int ldc, long long stride_c,
                                      int batch) {
  const int64_t per_matrix = (int64_t)rows * cols;
  MG_CUDA_FOR(i, per_matrix * batch) {
    const int64_t matrix = i / per_matrix, row = i % per_matrix / cols, col = i % cols;
    mg_real *p = c + matrix * stride_c + row * ldc + col;
    *p = beta == 0 ? 0 : beta * *p;
  }
}

static void scale_matrices(int rows, int cols, mg_real beta, mg_real *c, int ldc, long long stride_c, int batch) {
  if (beta == 1) return; /* C stays as it is */
  scale_matrices_kernel<<<mg_cuda_blocks((int64_t)rows * cols * batch), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(
      rows, cols, beta, c, ldc, stride_c, batch);
  MG_CUDA_LAUNCHED("scale_matrices");
}

static cublasOperation_t cublas_op(int trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

/* Row-major C = alpha * op(A) @ op(B) + beta * C, op(A) [m,k], op(B) [k,n]. */
void mg_cuda_gemm(int trans_a, int trans_b, int m, int n, int k, mg_real alpha, const mg_real *a, int lda,
                  const mg_real *b, int ldb, mg_real beta, mg_real *c, int ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    scale_matrices(m, n, beta, c, ldc, 0, 1);
    return;
  }
  MG_CUBLAS_CHECK(cublasSgemm(mg_cuda()->cublas, cublas_op(trans_b), cublas_op(trans_a), n, m, k, &alpha, b, ldb, a,
                              lda, &beta, c, ldc));
}

/* The same for `batch` independent products, matrix i at a + i*stride_a, b + i*stride_b, c + i*stride_c. */
void mg_cuda_gemm_batched(int trans_a, int trans_b, int m, int n, int k, mg_real alpha, const mg_real *a, int lda,
                          long long stride_a, const mg_real *b, int ldb, long long stride_b, mg_real beta, mg_real *c,
                          int ldc, long long stride_c, int batch) {
  if (m <= 0 || n <= 0 || batch <= 0) return;
  if (k <= 0) {
    scale_matrices(m, n, beta, c, ldc, stride_c, batch);
    return;
  }
  MG_CUBLAS_CHECK(cublasSgemmStridedBatched(mg_cuda()->cublas, cublas_op(trans_b), cublas_op(trans_a), n, m, k,
                                            &alpha, b, ldb, stride_b, a, lda, stride_a, &beta, c, ldc, stride_c,
                                            batch));
}

/* y [n,out] = b broadcast over the rows, before the product adds x @ w^T to it (as the CPU does). */
static __global__ void bias_rows_kernel(int n, int out, const mg_real *b, mg_real *y) {
  MG_CUDA_FOR(i, (int64_t)n * out) y[i] = b[i % out];
}

/* db [out] += sum over rows of dy [n,out]: one thread per output, rows added in order in double, as on the CPU
 * (neighbouring threads read neighbouring columns, so every row's read is coalesced). */
static __global__ void bias_grad_kernel(int n, int out, const mg_real *dy, mg_real *db) {
  MG_CUDA_FOR(o, out) {
    double acc = 0;
    for (int i = 0; i < n; i++) acc += (double)dy[(int64_t)i * out + o];
    db[o] += (mg_real)acc;
  }
}

/* x [n,in], w [out,in], b [out] or NULL -> y [n,out] = x @ w^T + b */
static void linear_forward(int n, int in, int out, const mg_real *x, const mg_real *w, const mg_real *b,
                           mg_real *y) {
  if (n <= 0 || out <= 0) return;
  if (b) {
    bias_rows_kernel<<<mg_cuda_blocks((int64_t)n * out), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(n, out, b, y);
    MG_CUDA_LAUNCHED("bias_rows");
  }
  mg_cuda_gemm(0, 1, n, out, in, 1, x, in, w, in, b ? 1 : 0, y, out);
}

/* dy [n,out] -> dx [n,in] += dy @ w, dw [out,in] += dy^T @ x, db [out] += sum over rows of dy */
static void linear_backward(int n, int in, int out, const mg_real *x, const mg_real *w, const mg_real *dy,
                            mg_real *dx, mg_real *dw, mg_real *db) {
  if (dx) mg_cuda_gemm(0, 0, n, in, out, 1, dy, out, w, in, 1, dx, in);
  if (dw) mg_cuda_gemm(1, 0, out, in, n, 1, dy, out, x, in, 1, dw, in);
  if (db && out > 0) {
    bias_grad_kernel<<<mg_cuda_blocks(out), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(n, out, dy, db);
    MG_CUDA_LAUNCHED("bias_grad");
  }
}

void mg_cuda_register_gemm(mg_kernels *k) {
  k->gemm = mg_cuda_gemm;
  k->linear_forward = linear_forward;
  k->linear_backward = linear_backward;
}
