/* cpu_backend.c: assembles the CPU kernel table from each file's entries. */
#include "cpu_kernels.h"

#include <pthread.h>

static mg_kernels table;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build(void) {
  table.name = "cpu";
  mg_cpu_register_memory(&table);
  mg_cpu_register_random(&table);
  mg_cpu_register_gemm(&table);
  mg_cpu_register_conv(&table);
  mg_cpu_register_norm(&table);
  mg_cpu_register_elementwise(&table);
  mg_cpu_register_attention(&table);
  mg_cpu_register_resample(&table);
  mg_cpu_register_embedding(&table);
  mg_cpu_register_loss(&table);
  mg_cpu_register_optim(&table);
  mg_cpu_register_gan(&table);
}

const mg_kernels *mg_cpu_kernels(void) {
  pthread_once(&once, build);
  return &table;
}
