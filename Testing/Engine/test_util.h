/* test_util.h: small helpers for the engine tests: checks that count failures, tensors from host values and seeded
 * random ones, the finite-difference gradient checker, and checkpoint files (compare, copy with one tensor edited).
 * Tests print "N passed, N failed" and exit non-zero on any failure. */
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

/* A persistent real tensor holding values (floats, converted in the double build). */
mg_tensor *tu_tensor(mg_ctx *ctx, int ndim, const int *shape, const float *values, bool requires_grad);
/* A host copy of t's values as floats, or NULL for a NULL tensor. The caller frees. */
float *tu_values(mg_ctx *ctx, const mg_tensor *t);
/* n floats from U(lo, hi) (tu_uniform). The caller frees. */
float *tu_random_floats(int64_t n, double lo, double hi);
/* |got - want| <= atol + rtol*|want| */
bool tu_close(double got, double want, double atol, double rtol);
/* Checks that an op refused its inputs (what names the case): a NULL result and an error whose message contains
 * expect; clears the error. */
void tu_expect_error(mg_ctx *ctx, const mg_tensor *result, const char *what, const char *expect);

/* Checks a refusal: status MG_ERR_INVALID_ARGUMENT and a message err containing expect; what names the case. */
bool tu_check_refused(mg_status s, const char *err, const char *expect, const char *what);
/* Bad JSON for a parser: each edit replaces the first `from` in the valid text good by `to`, and parse must refuse
 * the result (tu_check_refused) with a message containing expect. */
typedef struct tu_json_edit {
  const char *from, *to, *expect;
} tu_json_edit;
void tu_check_bad_json(const char *good, const tu_json_edit *edits, int n_edits,
                       mg_status (*parse)(const char *json, char *err, size_t err_size));

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

/* ---- files and checkpoints ---- */
/* Reads up to size bytes of a file; returns how many (0 when it cannot be read). */
size_t tu_read_file(const char *path, char *buf, size_t size);
bool tu_ends_with(const char *s, const char *tail);
/* A checkpoint loaded, or NULL after a failed check. */
mg_checkpoint *tu_load_checkpoint(const char *path);
/* Every tensor of two checkpoints bit-identical (names in the same order), and the metadata of keys (n_keys) equal;
 * what names the comparison in messages. */
void tu_same_checkpoints(const char *a_path, const char *b_path, const char *what, const char *const *keys,
                         int n_keys);
/* Copies the checkpoint at from to to, every value of tensor `name` replaced by edit(value), metadata unchanged.
 * False after a failed check. */
bool tu_copy_checkpoint(const char *from, const char *to, const char *name, float (*edit)(float value));
/* Copies checkpoint from to to, metadata included, after edit(t, values, user) had each tensor's values (a copy of
 * t->data) to change in place. */
bool tu_rewrite_checkpoint(const char *from, const char *to,
                           void (*edit)(const mg_checkpoint_tensor *t, float *values, void *user), void *user);
/* A checkpoint with one tensor ("model.x") and the metadata pairs (key, value, ..., NULL). */
void tu_write_metadata_only(const char *path, const char *const *pairs);

#endif
