/* memory.c: CPU "device" memory is host memory; copies are memcpy. Also the per-thread settings. */
#include "cpu_kernels.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Per calling thread, like OpenMP's own thread-count setting: two contexts used from two threads never see each
 * other's count, so a workspace sized from it always matches the loop that uses it. */
static _Thread_local int cpu_threads = 1;

int mg_cpu_threads(void) { return cpu_threads; }

static void *cpu_alloc(size_t bytes) {
  void *p = NULL;
  return posix_memalign(&p, 64, bytes ? bytes : 64) == 0 ? p : NULL;
}
static void cpu_free(void *p) { free(p); }
static void cpu_copy(void *dst, const void *src, size_t bytes) { memcpy(dst, src, bytes); }
static void cpu_fill_zero(void *dst, size_t bytes) { memset(dst, 0, bytes); }

static void cpu_fill(int64_t n, mg_real value, mg_real *y) {
  for (int64_t i = 0; i < n; i++) y[i] = value;
}

static void cpu_set_threads(int threads) {
  cpu_threads = threads > 0 ? threads : 1;
#ifdef _OPENMP
  omp_set_num_threads(cpu_threads);
#endif
  /* OpenBLAS stays single-threaded: its threaded gemm rounds differently for each thread count. Kernels
   * parallelize with OpenMP over pieces of work fixed by the shape instead (gemm.c). */
  openblas_set_num_threads(1);
}

/* CPU kernels run to completion when called and cannot fail; the arithmetic is always full float. */
static void cpu_set_math_mode(mg_math_mode mode) { (void)mode; }
static int cpu_take_error(char *msg, size_t msg_size) {
  if (msg && msg_size) msg[0] = '\0';
  return 0;
}

void mg_cpu_register_memory(mg_kernels *k) {
  k->alloc = cpu_alloc;
  k->free = cpu_free;
  k->upload = cpu_copy;
  k->download = cpu_copy;
  k->copy = cpu_copy;
  k->fill_zero = cpu_fill_zero;
  k->fill = cpu_fill;
  k->set_threads = cpu_set_threads;
  k->set_math_mode = cpu_set_math_mode;
  k->take_error = cpu_take_error;
}
