/* test_unet_parity.c: the UNet (Logic/Engine/unet.c) against the PyTorch reference (Testing/Python/
 * unet_reference.py) on fixtures the unet_fixture_* CTest setup tests write, one per configuration.
 *
 * For each fixture: the configuration is parsed from its metadata (mg_unet_config_from_json), the UNet built and
 * every parameter loaded by name ("model." + name: the restore fails on a missing, extra or misshapen tensor, so
 * the two models' parameter lists are the same). The forward (training = false) is compared with torch's, the
 * backward is seeded with torch's upstream gradient, and the gradient of the input and of every parameter is
 * compared; a conditional model's output for labels NULL is compared with torch's for "no class". Finally each
 * preset's parameter count is compared with torch's count for the same preset (fixture metadata).
 *
 * Tolerance, per compared tensor, as in test_torch_parity.c: |engine - torch| <= atol + rtol*|torch| with
 * rtol = 1e-4 and atol = 1e-5 * max|torch| over that tensor; for the attention key biases, whose gradient is 0 in
 * exact arithmetic, the fixture's "scale.grad.<name>" (the size of the cancelling terms) replaces max|torch|.
 *
 * Usage: test_unet_parity FIXTURE.safetensors... */
#include "mg_unet.h"
#include "test_util.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PARITY_RTOL 1e-4
#define PARITY_ATOL_SCALE 1e-5

typedef struct fixture {
  const char *path;
  mg_checkpoint *ckpt;
  double worst; /* largest error / tolerance over every compared tensor */
  int compared;
} fixture;

/* Compares n engine values with the fixture tensor `key`; one check per tensor. */
static void compare(fixture *f, const char *key, const mg_real *got, int64_t n) {
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

static void compare_tensor(mg_ctx *ctx, fixture *f, const char *key, const mg_tensor *t) {
  mg_real *host = malloc((size_t)t->numel * sizeof *host);
  if (mg_tensor_download_real(ctx, t, host, t->numel) == MG_OK) compare(f, key, host, t->numel);
  free(host);
}

static void compare_grad(mg_ctx *ctx, fixture *f, const char *key, const mg_tensor *t) {
  if (!tu_check(t->grad != NULL, "%s: %s: the engine computed no gradient", f->path, key)) return;
  mg_real *host = malloc((size_t)t->numel * sizeof *host);
  mg_backend(ctx)->download(host, t->grad, (size_t)t->numel * sizeof *host);
  compare(f, key, host, t->numel);
  free(host);
}

/* A fixture tensor as a step tensor; labels (stored as floats) as int32. NULL when absent. */
static mg_tensor *load(mg_ctx *ctx, const fixture *f, const char *key, bool as_labels) {
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

static void run_fixture(fixture *f) {
  char err[512];
  const char *json = mg_checkpoint_metadata(f->ckpt, "config");
  mg_unet_config config;
  if (!tu_check(json && mg_unet_config_from_json(json, &config, err, sizeof err) == MG_OK,
                "%s: metadata \"config\": %s", f->path, json ? err : "missing"))
    return;
  mg_ctx *ctx = tu_ctx(2);
  mg_unet *u = mg_unet_new(ctx, &config);
  mg_params *params = mg_unet_params(u);
  if (!tu_ctx_ok(ctx, "mg_unet_new") || mg_checkpoint_restore_params(ctx, f->ckpt, "model.", params) != MG_OK) {
    tu_ctx_ok(ctx, f->path);
    mg_unet_free(u);
    mg_context_free(ctx);
    return;
  }

  mg_step_begin(ctx);
  mg_tensor *x = load(ctx, f, "x", false), *t = load(ctx, f, "t", false), *dy = load(ctx, f, "dy", false);
  mg_tensor *labels = config.num_classes ? load(ctx, f, "labels", true) : NULL;
  tu_check(x && t && dy && (labels || !config.num_classes), "%s: inputs x, t, dy or labels missing", f->path);
  if (x) x->requires_grad = true;
  mg_tensor *y = mg_unet_forward(ctx, u, x, t, labels, false);
  mg_zero_grad(ctx, params);
  if (y && dy && mg_backward_from(ctx, y, dy) == MG_OK) {
    compare_tensor(ctx, f, "y", y);
    compare_grad(ctx, f, "grad.x", x);
    for (int i = 0; i < mg_params_count(params); i++) {
      char key[160];
      mg_tensor *p = mg_params_at(params, i);
      snprintf(key, sizeof key, "grad.%s", p->name);
      compare_grad(ctx, f, key, p);
    }
  }
  tu_ctx_ok(ctx, f->path);

  if (config.num_classes) { /* labels NULL: every image "no class" */
    mg_step_begin(ctx);
    bool grad = mg_set_grad_enabled(ctx, false);
    x = load(ctx, f, "x", false);
    t = load(ctx, f, "t", false);
    y = mg_unet_forward(ctx, u, x, t, NULL, false);
    if (tu_ctx_ok(ctx, "forward without labels")) compare_tensor(ctx, f, "y_no_label", y);
    mg_set_grad_enabled(ctx, grad);
  }
  printf("%s: %d tensors compared, %lld parameters, worst error %.3g x the tolerance\n", f->path, f->compared,
         (long long)mg_params_numel(params), f->worst);
  mg_unet_free(u);
  mg_context_free(ctx);
}

/* The presets' parameter counts against torch's (fixture metadata "params.<preset>"), and unet-s's 4.6 M of
 * medgen.h. */
static void check_preset_counts(const fixture *f) {
  const char *presets[] = {"unet-s", "unet-monai"};
  for (int i = 0; i < 2; i++) {
    char key[64], err[256];
    snprintf(key, sizeof key, "params.%s", presets[i]);
    const char *torch_count = mg_checkpoint_metadata(f->ckpt, key);
    mg_unet_config config;
    if (!tu_check(torch_count != NULL, "%s: metadata %s missing", f->path, key) ||
        !tu_check(mg_unet_preset(presets[i], &config, err, sizeof err) == MG_OK, "preset %s: %s", presets[i], err))
      continue;
    mg_ctx *ctx = tu_ctx(2);
    mg_unet *u = mg_unet_new(ctx, &config);
    if (tu_ctx_ok(ctx, presets[i])) {
      long long count = (long long)mg_params_numel(mg_unet_params(u));
      tu_check(count == atoll(torch_count), "preset %s: %lld parameters, torch's model has %s", presets[i], count,
               torch_count);
      if (i == 0) tu_check(llabs(count - 4600000) < 50000, "unet-s: %lld parameters, medgen.h says 4.6 M", count);
      printf("preset %s: %lld parameters (torch: %s)\n", presets[i], count, torch_count);
    }
    mg_unet_free(u);
    mg_context_free(ctx);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_unet_parity FIXTURE.safetensors...\n");
    return 2;
  }
  for (int a = 1; a < argc; a++) {
    char err[512];
    fixture f = {argv[a], NULL, 0, 0};
    if (!tu_check(mg_checkpoint_load(f.path, &f.ckpt, err, sizeof err) == MG_OK, "%s", err)) continue;
    run_fixture(&f);
    if (a == 1) check_preset_counts(&f);
    mg_checkpoint_free(f.ckpt);
  }
  return tu_finish();
}
