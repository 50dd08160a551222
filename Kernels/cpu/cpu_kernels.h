/* cpu_kernels.h: how the CPU backend's files contribute to its kernel table. Each file owns one concern and
 * fills its entries in a register function; cpu_backend.c calls them all once. */
#ifndef MG_CPU_KERNELS_H
#define MG_CPU_KERNELS_H

#include "mg_kernels.h"

#ifdef _OPENMP
#include <omp.h>
#endif

void mg_cpu_register_memory(mg_kernels *k);     /* memory.c: alloc, copies, fills, threads */
void mg_cpu_register_random(mg_kernels *k);     /* random.c: Philox normal and uniform fills */
void mg_cpu_register_gemm(mg_kernels *k);       /* gemm.c: gemm (OpenBLAS) and linear */
void mg_cpu_register_conv(mg_kernels *k);       /* conv.c: conv2d and transposed conv2d */
void mg_cpu_register_norm(mg_kernels *k);       /* norm.c: group norm, batch norm */
void mg_cpu_register_elementwise(mg_kernels *k); /* elementwise.c: unary, broadcast binary, scale, axpy */
void mg_cpu_register_attention(mg_kernels *k);  /* attention.c: softmax and spatial attention */
void mg_cpu_register_resample(mg_kernels *k);   /* resample.c: upsample, pool, concat */
void mg_cpu_register_embedding(mg_kernels *k);  /* embedding.c: timestep and label embeddings */
void mg_cpu_register_loss(mg_kernels *k);       /* loss.c: sum and the losses */
void mg_cpu_register_optim(mg_kernels *k);      /* optim.c: sum of squares, Adam, EMA */
void mg_cpu_register_gan(mg_kernels *k);        /* gan.c: spectral norm, augmentation, row sums */

/* Deterministic reductions: sums over fixed-size chunks (independent of the thread count), then the chunk
 * partials summed in order. Accumulates in double. */
#define MG_CPU_REDUCE_CHUNK 4096

/* Threads in use (set by set_threads); for kernels that size their own parallel loops. */
int mg_cpu_threads(void);

/* Inside a parallel region: this thread's index, for per-thread workspace slots. */
static inline int mg_cpu_thread_id(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/* Below this many multiply-adds a parallel region costs more than it saves. Whether pieces of work run in
 * parallel never changes a result; only how they are cut may, and that depends on shapes alone. */
#define MG_CPU_PARALLEL_MIN_MACS ((int64_t)1 << 20)

/* Row-major C = alpha * op(A) @ op(B) + beta * C through OpenBLAS (gemm.c). mg_cpu_gemm is the table's gemm: it
 * splits C into tiles fixed by the shape and runs them on the OpenMP threads. mg_cpu_gemm_serial is one OpenBLAS
 * call on the calling thread, for kernels that run their own parallel loop over fixed pieces of work. */
void mg_cpu_gemm(int trans_a, int trans_b, int m, int n, int k, mg_real alpha, const mg_real *a, int lda,
                 const mg_real *b, int ldb, mg_real beta, mg_real *c, int ldc);
void mg_cpu_gemm_serial(int trans_a, int trans_b, int m, int n, int k, mg_real alpha, const mg_real *a, int lda,
                        const mg_real *b, int ldb, mg_real beta, mg_real *c, int ldc);

#endif
