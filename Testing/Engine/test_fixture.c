/* test_fixture.c: see test_fixture.h. */
#include "test_fixture.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#define PARITY_RTOL 1e-4
#define PARITY_ATOL_SCALE 1e-5

void tu_fixture_compare(tu_fixture *f, const char *key, const mg_real *got, int64_t n) {
  mg_checkpoint_tensor want, scale;
  if (!tu_check(mg_checkpoint_find(f->ckpt, key, &want) == MG_OK && want.numel == n,
                "%s: tensor %s missing, or not %lld values", f->path, key, (long long)n))
    return;
  char scale_key[256];
  snprintf(scale_key, sizeof scale_key, "scale.%s", key);
  double magnitude = mg_checkpoint_find(f->ckpt, scale_key, &scale) == MG_OK ? fabs((double)scale.data[0]) : 0;
  mg_real *ref = malloc((size_t)n * sizeof *ref);
  for (int64_t i = 0; i < n; i++) {
    ref[i] = (mg_real)want.data[i];
    magnitude = fmax(magnitude, fabs((double)want.data[i]));
  }
  int64_t at;
  double ratio = tu_compare(got, ref, n, PARITY_ATOL_SCALE * magnitude + DBL_MIN, PARITY_RTOL, &at);
  f->worst = tu_worse(f->worst, ratio);
  f->compared++;
  tu_check(ratio <= 1, "%s: %s element %lld of %lld: engine %.9g, torch %.9g (%.3g x the tolerance; scale %.3g)",
           f->path, key, (long long)at, (long long)n, (double)got[at], (double)ref[at], ratio, magnitude);
  free(ref);
}

void tu_fixture_compare_tensor(mg_ctx *ctx, tu_fixture *f, const char *key, const mg_tensor *t) {
  if (!tu_check(t != NULL, "%s: %s: the engine produced nothing", f->path, key)) return;
  mg_real *host = malloc((size_t)t->numel * sizeof *host);
  if (mg_tensor_download_real(ctx, t, host, t->numel) == MG_OK) tu_fixture_compare(f, key, host, t->numel);
  free(host);
}

void tu_fixture_compare_grad(mg_ctx *ctx, tu_fixture *f, const char *key, const mg_tensor *t) {
  if (!tu_check(t->grad != NULL, "%s: %s: the engine computed no gradient", f->path, key)) return;
  mg_real *host = malloc((size_t)t->numel * sizeof *host);
  mg_backend(ctx)->download(host, t->grad, (size_t)t->numel * sizeof *host);
  tu_fixture_compare(f, key, host, t->numel);
  free(host);
}

mg_tensor *tu_fixture_load(mg_ctx *ctx, const tu_fixture *f, const char *key, bool as_labels) {
  mg_checkpoint_tensor src;
  if (mg_checkpoint_find(f->ckpt, key, &src) != MG_OK || src.ndim < 1 || src.ndim > MG_MAX_DIMS) return NULL;
  int shape[MG_MAX_DIMS];
  for (int i = 0; i < src.ndim; i++) shape[i] = (int)src.shape[i];
  mg_tensor *t = mg_tensor_new(ctx, as_labels ? MG_INT32 : MG_REAL, src.ndim, shape);
  if (!t) return NULL;
  if (as_labels) {
    int32_t *host = malloc((size_t)src.numel * sizeof *host);
    for (int64_t i = 0; i < src.numel; i++) host[i] = (int32_t)lrintf(src.data[i]);
    mg_tensor_upload(ctx, t, host, src.numel);
    free(host);
  } else {
    mg_tensor_upload(ctx, t, src.data, src.numel);
  }
  return t;
}

int tu_fixture_main(int argc, char **argv, const char *name, void (*run)(tu_fixture *f, int index)) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s FIXTURE.safetensors...\n", name);
    return 2;
  }
  for (int a = 1; a < argc; a++) {
    char err[512];
    tu_fixture f = {argv[a], NULL, 0, 0};
    if (!tu_check(mg_checkpoint_load(f.path, &f.ckpt, err, sizeof err) == MG_OK, "%s", err)) continue;
    run(&f, a - 1);
    mg_checkpoint_free(f.ckpt);
  }
  return tu_finish();
}
