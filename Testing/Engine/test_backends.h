/* test_backends.h: the backends the parity tests compare with the CPU reference.
 *
 * - "cuda": the CUDA backend, when this build has it and the machine a usable GPU.
 * - "strict": a test double, always present: the CPU kernels behind disguised device pointers. Every pointer it
 *   hands out (alloc) is the real one XOR 2^47, a non-canonical address on x86-64, and every entry translates its
 *   pointer arguments back before calling the CPU kernel. So host code that reads or writes device memory
 *   directly, or passes a host pointer to a kernel, crashes here as it would be wrong on a GPU, and the parity
 *   tests' own plumbing (uploads, downloads, workspaces) is exercised without one.
 */
#ifndef MG_TEST_BACKENDS_H
#define MG_TEST_BACKENDS_H

#include "medgen.h"
#include "mg_kernels.h"

#include <stddef.h>

typedef struct test_backend {
  const char *name;     /* "cuda", "strict" */
  const mg_kernels *k;
  mg_device device;     /* recorded in the context: MG_DEVICE_CUDA for cuda, MG_DEVICE_CPU for strict */
  double tolerance;     /* max |a-b| / (1 + |b|) allowed against the CPU in fp32 (1e-4 for cuda; 0 for strict) */
} test_backend;

/* The strict double's kernel table. */
const mg_kernels *test_strict_kernels(void);

/* Fills out[] with the available backends other than the CPU (strict always, cuda when usable) and returns how
 * many. When cuda is not usable, its reason is printed once as "cuda: skipped: <why>". */
int test_backends(test_backend *out, int max);

/* A context on backend b (mg_context_create_on), 1 thread. Aborts the test with a message on failure. */
mg_ctx *test_backend_context(const test_backend *b);

#endif
