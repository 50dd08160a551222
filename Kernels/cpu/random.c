/* random.c: normal and uniform fills from the Philox stream (mg_philox.h) on the CPU. The loop runs over
 * stream blocks: each block is computed once by one thread and gives up to 4 elements, and no element depends
 * on how the blocks are split between threads. */
#include "cpu_kernels.h"
#include "mg_philox.h"

/* y [n] ~ N(mean, std^2); element i from block offset + i/4, lane i%4 */
static void rand_normal(int64_t n, uint64_t seed, uint64_t offset, mg_real mean, mg_real std, mg_real *y) {
  int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; b++) {
    uint32_t w[4];
    mg_philox_block(seed, offset + (uint64_t)b, w);
    for (int lane = 0; lane < 4 && 4 * b + lane < n; lane++)
      y[4 * b + lane] = mean + std * (mg_real)mg_philox_normal_lane(w, lane);
  }
}

/* y [n] ~ U[lo, hi): lo + (hi - lo) * u with u in [0,1) (rounding may give hi itself for some lo, hi) */
static void rand_uniform(int64_t n, uint64_t seed, uint64_t offset, mg_real lo, mg_real hi, mg_real *y) {
  int64_t blocks = (n + 3) / 4;
  mg_real width = hi - lo;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; b++) {
    uint32_t w[4];
    mg_philox_block(seed, offset + (uint64_t)b, w);
    for (int lane = 0; lane < 4 && 4 * b + lane < n; lane++)
      y[4 * b + lane] = lo + width * (mg_real)mg_philox_uniform_open1(w[lane]);
  }
}

void mg_cpu_register_random(mg_kernels *k) {
  k->rand_normal = rand_normal;
  k->rand_uniform = rand_uniform;
}
