/* test_fixture.h: what the model parity tests (test_unet_parity.c, test_gan_parity.c) share: PyTorch fixtures
 * (safetensors files written by Testing/Python/unet_reference.py and gan_reference.py), their tensors as step
 * tensors, and comparisons of the engine's values with them.
 *
 * Tolerance, per compared tensor: |engine - torch| <= atol + rtol*|torch| with rtol = 1e-4 and atol = 1e-5 * scale,
 * where scale is max|torch| over the tensor, or the fixture's "scale.<key>" when that is larger (for values that
 * are 0 in exact arithmetic: the size of the cancelling terms). */
#ifndef MG_TEST_FIXTURE_H
#define MG_TEST_FIXTURE_H

#include "test_util.h"

typedef struct tu_fixture {
  const char *path;
  mg_checkpoint *ckpt;
  double worst; /* largest error / tolerance over every compared tensor */
  int compared;
} tu_fixture;

/* Compares n engine values with the fixture tensor key; one check per tensor. */
void tu_fixture_compare(tu_fixture *f, const char *key, const mg_real *got, int64_t n);
/* The values of t (NULL: a failed check), or its gradient, against the fixture tensor key. */
void tu_fixture_compare_tensor(mg_ctx *ctx, tu_fixture *f, const char *key, const mg_tensor *t);
void tu_fixture_compare_grad(mg_ctx *ctx, tu_fixture *f, const char *key, const mg_tensor *t);
/* A fixture tensor as a step tensor; labels (stored as floats) as int32. NULL when absent. */
mg_tensor *tu_fixture_load(mg_ctx *ctx, const tu_fixture *f, const char *key, bool as_labels);

/* A parity test's main: run(f, index) for each fixture path of the command line (index from 0), then the summary;
 * name is the program's, for its usage line. */
int tu_fixture_main(int argc, char **argv, const char *name, void (*run)(tu_fixture *f, int index));

#endif
