/* test_util.h: small helpers for the engine tests: checks that count failures, seeded random tensors, and the
 * finite-difference gradient checker. Tests print "N passed, N failed" and exit non-zero on any failure. */
#ifndef MG_TEST_UTIL_H
#define MG_TEST_UTIL_H

#include "mg_engine.h"
#include "test_check.h"

#include <stdio.h>


/* Fails the test with ctx's message if ctx has an error; returns whether ctx was ok. */
bool tu_ctx_ok(mg_ctx *ctx, const char *where);


/* A tensor filled with U(lo, hi) from tu_uniform; persistent so it survives mg_step_begin. */
mg_tensor *tu_random(mg_ctx *ctx, int ndim, const int *shape, double lo, double hi, bool requires_grad);
mg_tensor *tu_labels(mg_ctx *ctx, int n, int classes); /* int32 labels in [0, classes) */

/* The running maximum of errors, where a NaN error wins (fmax would drop it and hide a NaN result). */
double tu_worse(double worst, double err);

/* Largest |a-b| / (atol + rtol*|b|) over n values; <= 1 means within tolerance. */
double tu_compare(const mg_real *a, const mg_real *b, int64_t n, double atol, double rtol, int64_t *worst_index);

/* Builds the op's output from inputs. Called repeatedly; must not create parameters. */
typedef mg_tensor *(*tu_forward_fn)(mg_ctx *ctx, mg_tensor **inputs, void *user);

/* Central finite differences of L = sum(f(inputs) * r) for a fixed random r, against mg_backward_from, for every
 * input with requires_grad (at most max_points elements each, spread over the tensor). Meant for the double
 * build (eps ~1e-6, tolerances ~1e-6). Returns true when all match; reports each mismatch. */
bool tu_gradcheck(mg_ctx *ctx, const char *name, tu_forward_fn f, void *user, mg_tensor **inputs, int n_inputs,
                  double eps, double atol, double rtol, int max_points);

#endif
