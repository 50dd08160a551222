/* gemm.c: dense matrix products on the CPU (OpenBLAS) and the linear layer built on them.
 *
 * Determinism: OpenBLAS 0.3.21's threaded sgemm does not give the same bits as its single-threaded one (about a
 * fifth of the elements of a 64x4096x576 product round differently), and even a single-threaded call
 * rounds an element differently depending on the extent of the block it sits in. So OpenBLAS always runs
 * single-threaded (memory.c), and mg_cpu_gemm splits C into tiles whose size depends only on the shape, handing
 * them to OpenMP threads (dynamically: a thread slowed by another process takes fewer): every element comes from
 * the same OpenBLAS call whatever the thread count or the order the tiles run in. Using one thread pool
 * (OpenMP's) also keeps OpenBLAS's spinning workers from fighting OpenMP's for the cores. */
#include "cpu_kernels.h"

#include <cblas.h>

void mg_cpu_gemm_serial(int trans_a, int trans_b, int m, int n, int k, mg_real alpha, const mg_real *a, int lda,
                        const mg_real *b, int ldb, mg_real beta, mg_real *c, int ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) { /* an empty inner dimension: C = beta*C is the whole answer (BLAS would reject lda = 0) */
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) c[(int64_t)i * ldc + j] = beta == 0 ? 0 : beta * c[(int64_t)i * ldc + j];
    return;
  }
  enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
#ifdef MG_REAL_F64
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

/* Tiles of C: 256 x 256 (large enough for OpenBLAS to run near full speed on one core), halved down to 128 x 128
 * until there are 4 of them, so mid-sized products (e.g. 256 x 256) still spread over the threads; smaller
 * tiles measured slower on 2 cores. Depends on m and n only. */
static void gemm_tiles(int m, int n, int *tile_m, int *tile_n) {
  int tm = 256, tn = 256;
  while ((int64_t)((m + tm - 1) / tm) * ((n + tn - 1) / tn) < 4 && (tm > 128 || tn > 128)) {
    if (tm >= tn && tm > 128) tm /= 2;
    else tn /= 2;
  }
  *tile_m = tm;
  *tile_n = tn;
}

/* Row-major C = alpha * op(A) @ op(B) + beta * C, op(A) [m,k], op(B) [k,n]: tiles of C in parallel. */
void mg_cpu_gemm(int trans_a, int trans_b, int m, int n, int k, mg_real alpha, const mg_real *a, int lda,
                 const mg_real *b, int ldb, mg_real beta, mg_real *c, int ldc) {
  if (m <= 0 || n <= 0) return;
  int tm, tn;
  gemm_tiles(m, n, &tm, &tn);
  const int tiles_n = (n + tn - 1) / tn, tiles = ((m + tm - 1) / tm) * tiles_n;
  /* below about a million multiply-adds a parallel region costs more than it saves; the tiles stay the same */
#pragma omp parallel for schedule(dynamic, 1) if (tiles > 1 && (int64_t)m * n * k >= MG_CPU_PARALLEL_MIN_MACS)
  for (int t = 0; t < tiles; t++) {
    int i0 = (t / tiles_n) * tm, j0 = (t % tiles_n) * tn;
    int mm = m - i0 < tm ? m - i0 : tm, nn = n - j0 < tn ? n - j0 : tn;
    const mg_real *at = trans_a ? a + i0 : a + (int64_t)i0 * lda; /* rows i0.. of op(A) */
    const mg_real *bt = trans_b ? b + (int64_t)j0 * ldb : b + j0; /* columns j0.. of op(B) */
    mg_cpu_gemm_serial(trans_a, trans_b, mm, nn, k, alpha, at, lda, bt, ldb, beta, c + (int64_t)i0 * ldc + j0, ldc);
  }
}

/* x [n,in], w [out,in], b [out] or NULL -> y [n,out] = x @ w^T + b */
static void linear_forward(int n, int in, int out, const mg_real *x, const mg_real *w, const mg_real *b,
                           mg_real *y) {
  if (b) {
    for (int i = 0; i < n; i++)
      for (int o = 0; o < out; o++) y[(int64_t)i * out + o] = b[o];
  }
  mg_cpu_gemm(0, 1, n, out, in, 1, x, in, w, in, b ? 1 : 0, y, out);
}

/* dy [n,out] -> dx [n,in] += dy @ w, dw [out,in] += dy^T @ x, db [out] += sum over rows of dy */
static void linear_backward(int n, int in, int out, const mg_real *x, const mg_real *w, const mg_real *dy,
                            mg_real *dx, mg_real *dw, mg_real *db) {
  if (dx) mg_cpu_gemm(0, 0, n, in, out, 1, dy, out, w, in, 1, dx, in);
  if (dw) mg_cpu_gemm(1, 0, out, in, n, 1, dy, out, x, in, 1, dw, in);
  if (db) {
    /* one output per iteration, rows summed in order: the same sum for any thread count */
#pragma omp parallel for schedule(static) if ((int64_t)n * out >= (1 << 15))
    for (int o = 0; o < out; o++) {
      double acc = 0;
      for (int i = 0; i < n; i++) acc += (double)dy[(int64_t)i * out + o];
      db[o] += (mg_real)acc;
    }
  }
}

void mg_cpu_register_gemm(mg_kernels *k) {
  k->gemm = mg_cpu_gemm;
  k->linear_forward = linear_forward;
  k->linear_backward = linear_backward;
}
