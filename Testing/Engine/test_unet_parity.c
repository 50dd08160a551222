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
 * Tolerance, per compared tensor: test_fixture.h's; for the attention key biases, whose gradient is 0 in exact
 * arithmetic, the fixture's "scale.grad.<name>" (the size of the cancelling terms) replaces max|torch|.
 *
 * Usage: test_unet_parity FIXTURE.safetensors... */
#include "mg_unet.h"
#include "test_fixture.h"

#include <stdlib.h>

static void run_fixture(tu_fixture *f) {
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
  mg_tensor *x = tu_fixture_load(ctx, f, "x", false), *t = tu_fixture_load(ctx, f, "t", false), *dy = tu_fixture_load(ctx, f, "dy", false);
  mg_tensor *labels = config.num_classes ? tu_fixture_load(ctx, f, "labels", true) : NULL;
  tu_check(x && t && dy && (labels || !config.num_classes), "%s: inputs x, t, dy or labels missing", f->path);
  if (x) x->requires_grad = true;
  mg_tensor *y = mg_unet_forward(ctx, u, x, t, labels, false);
  mg_zero_grad(ctx, params);
  if (y && dy && mg_backward_from(ctx, y, dy) == MG_OK) {
    tu_fixture_compare_tensor(ctx, f, "y", y);
    tu_fixture_compare_grad(ctx, f, "grad.x", x);
    for (int i = 0; i < mg_params_count(params); i++) {
      char key[160];
      mg_tensor *p = mg_params_at(params, i);
      snprintf(key, sizeof key, "grad.%s", p->name);
      tu_fixture_compare_grad(ctx, f, key, p);
    }
  }
  tu_ctx_ok(ctx, f->path);

  if (config.num_classes) { /* labels NULL: every image "no class" */
    mg_step_begin(ctx);
    bool grad = mg_set_grad_enabled(ctx, false);
    x = tu_fixture_load(ctx, f, "x", false);
    t = tu_fixture_load(ctx, f, "t", false);
    y = mg_unet_forward(ctx, u, x, t, NULL, false);
    if (tu_ctx_ok(ctx, "forward without labels")) tu_fixture_compare_tensor(ctx, f, "y_no_label", y);
    mg_set_grad_enabled(ctx, grad);
  }
  printf("%s: %d tensors compared, %lld parameters, worst error %.3g x the tolerance\n", f->path, f->compared,
         (long long)mg_params_numel(params), f->worst);
  mg_unet_free(u);
  mg_context_free(ctx);
}

/* The presets' parameter counts against torch's (fixture metadata "params.<preset>"), and unet-s's 4.6 M of
 * medgen.h. */
static void check_preset_counts(const tu_fixture *f) {
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

/* Each fixture; the preset counts once, from the first one's metadata. */
static void run(tu_fixture *f, int index) {
  run_fixture(f);
  if (index == 0) check_preset_counts(f);
}

int main(int argc, char **argv) { return tu_fixture_main(argc, argv, "test_unet_parity", run); }
