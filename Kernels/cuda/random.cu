/* random.cu: normal and uniform fills from the Philox stream (../mg_philox.h), the same code as the CPU's: one
 * thread per stream block, up to 4 elements each. The bits of the uniforms match the CPU exactly (the _rn
 * intrinsics keep nvcc from fusing the multiply and add into one rounding, which the CPU build never does);
 * normals match to the last ulp or two of logf/sinf/cosf, which differ between the C library and CUDA's. */
#include "cuda_kernels.h"
#include "mg_philox.h"

static __global__ void rand_normal_kernel(int64_t n, uint64_t seed, uint64_t offset, mg_real mean, mg_real std, mg_real *y) {
  MG_CUDA_FOR(b, (n + 3) / 4) {
    uint32_t w[4];
    mg_philox_block(seed, offset + (uint64_t)b, w);
    for (int lane = 0; lane < 4 && 4 * b + lane < n; lane++)
      y[4 * b + lane] = __fadd_rn(mean, __fmul_rn(std, mg_philox_normal_lane(w, lane)));
  }
}

static __global__ void rand_uniform_kernel(int64_t n, uint64_t seed, uint64_t offset, mg_real lo, mg_real hi, mg_real *y) {
  const mg_real width = hi - lo;
  MG_CUDA_FOR(b, (n + 3) / 4) {
    uint32_t w[4];
    mg_philox_block(seed, offset + (uint64_t)b, w);
    for (int lane = 0; lane < 4 && 4 * b + lane < n; lane++)
      y[4 * b + lane] = __fadd_rn(lo, __fmul_rn(width, mg_philox_uniform_open1(w[lane])));
  }
}

static void rand_normal(int64_t n, uint64_t seed, uint64_t offset, mg_real mean, mg_real std, mg_real *y) {
  if (n <= 0) return;
  rand_normal_kernel<<<mg_cuda_blocks((n + 3) / 4), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(n, seed, offset, mean,
                                                                                             std, y);
  MG_CUDA_LAUNCHED("rand_normal");
}

static void rand_uniform(int64_t n, uint64_t seed, uint64_t offset, mg_real lo, mg_real hi, mg_real *y) {
  if (n <= 0) return;
  rand_uniform_kernel<<<mg_cuda_blocks((n + 3) / 4), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(n, seed, offset, lo,
                                                                                              hi, y);
  MG_CUDA_LAUNCHED("rand_uniform");
}

void mg_cuda_register_random(mg_kernels *k) {
  k->rand_normal = rand_normal;
  k->rand_uniform = rand_uniform;
}
