/* medgen_bench_kernels_main.c: the kernel benchmark as its own executable (same as `medgen bench kernels`). */
#include "medgen_bench.h"

int main(int argc, char **argv) { return medgen_bench_kernels(argc, argv); }
