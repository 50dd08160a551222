/* test_gan_parity.c: the GAN's generator and discriminator (Logic/Engine/gan_model.c) against the PyTorch
 * reference (Testing/Python/gan_reference.py) on fixtures the gan_fixtures CTest setup test writes, one per
 * configuration.
 *
 * For each fixture: the configuration is parsed from its metadata (mg_gan_config_from_json), both networks built
 * and every parameter and buffer loaded by name ("generator." and "discriminator." + name: the restore fails on a
 * missing, extra or misshapen tensor, so the two sides' parameter lists are the same). Each network then runs as
 * in training: forward in training mode (batch statistics; one power iteration), compared with torch's output;
 * backward seeded with torch's upstream gradient, comparing the input's gradient and every parameter's; the
 * running statistics and the power iteration's u and v after the forward. Then forward in evaluation mode
 * (running statistics; no power iteration, so u and v must not move), compared with torch's.
 *
 * Tolerance, per compared tensor: test_fixture.h's.
 *
 * Usage: test_gan_parity FIXTURE.safetensors... */
#include "mg_gan_model.h"
#include "test_fixture.h"

/* One network: which it is, and its forward. */
typedef struct network {
  const char *name;  /* "generator", "discriminator": the fixture's prefix */
  const char *tag;   /* "g", "d": the prefix of its outputs */
  const char *input; /* "z", "x" */
  void *model;
  mg_params *params;
  mg_tensor *(*forward)(mg_ctx *ctx, void *model, mg_tensor *in, mg_tensor *labels, bool training);
} network;

static mg_tensor *generator_forward(mg_ctx *ctx, void *model, mg_tensor *in, mg_tensor *labels, bool training) {
  return mg_generator_forward(ctx, model, in, labels, training);
}

static mg_tensor *discriminator_forward(mg_ctx *ctx, void *model, mg_tensor *in, mg_tensor *labels, bool training) {
  return mg_discriminator_forward(ctx, model, in, labels, training);
}

/* Every buffer (running statistics, u and v) against the fixture's after.<network>.<name>. */
static void compare_buffers(mg_ctx *ctx, tu_fixture *f, const network *net) {
  for (int i = 0; i < mg_params_count(net->params); i++) {
    if (!mg_params_is_buffer(net->params, i)) continue;
    char key[160];
    mg_tensor *b = mg_params_at(net->params, i);
    snprintf(key, sizeof key, "after.%s.%s", net->name, b->name);
    tu_fixture_compare_tensor(ctx, f, key, b);
  }
}

static void check_network(mg_ctx *ctx, tu_fixture *f, const network *net, bool conditional) {
  char key[160];
  mg_step_begin(ctx);
  snprintf(key, sizeof key, "%s.dy", net->tag);
  mg_tensor *in = tu_fixture_load(ctx, f, net->input, false), *dy = tu_fixture_load(ctx, f, key, false);
  mg_tensor *labels = conditional ? tu_fixture_load(ctx, f, "labels", true) : NULL;
  if (!tu_check(in && dy && (labels || !conditional), "%s: inputs %s, %s or labels missing", f->path, net->input,
                key))
    return;
  in->requires_grad = true;
  mg_tensor *y = net->forward(ctx, net->model, in, labels, true);
  mg_zero_grad(ctx, net->params);
  if (y && mg_backward_from(ctx, y, dy) == MG_OK) {
    snprintf(key, sizeof key, "%s.y", net->tag);
    tu_fixture_compare_tensor(ctx, f, key, y);
    snprintf(key, sizeof key, "grad.%s", net->input);
    tu_fixture_compare_grad(ctx, f, key, in);
    for (int i = 0; i < mg_params_count(net->params); i++) {
      if (mg_params_is_buffer(net->params, i)) continue;
      mg_tensor *p = mg_params_at(net->params, i);
      snprintf(key, sizeof key, "grad.%s.%s", net->name, p->name);
      tu_fixture_compare_grad(ctx, f, key, p);
    }
    compare_buffers(ctx, f, net);
  }
  tu_ctx_ok(ctx, f->path);

  /* evaluation: running statistics, no power iteration (so the buffers stay as the training forward left them) */
  mg_step_begin(ctx);
  bool grad = mg_set_grad_enabled(ctx, false);
  in = tu_fixture_load(ctx, f, net->input, false);
  labels = conditional ? tu_fixture_load(ctx, f, "labels", true) : NULL;
  y = net->forward(ctx, net->model, in, labels, false);
  if (tu_ctx_ok(ctx, "evaluation forward")) {
    snprintf(key, sizeof key, "%s.y_eval", net->tag);
    tu_fixture_compare_tensor(ctx, f, key, y);
    compare_buffers(ctx, f, net);
  }
  mg_set_grad_enabled(ctx, grad);
}

static void run_fixture(tu_fixture *f, int index) {
  (void)index;
  char err[512];
  const char *json = mg_checkpoint_metadata(f->ckpt, "config");
  mg_gan_config config;
  if (!tu_check(json && mg_gan_config_from_json(json, &config, err, sizeof err) == MG_OK,
                "%s: metadata \"config\": %s", f->path, json ? err : "missing"))
    return;
  mg_ctx *ctx = tu_ctx(2);
  mg_generator *g = mg_generator_new(ctx, &config);
  mg_discriminator *d = mg_discriminator_new(ctx, &config);
  network nets[2] = {{"generator", "g", "z", g, mg_generator_params(g), generator_forward},
                     {"discriminator", "d", "x", d, mg_discriminator_params(d), discriminator_forward}};
  bool loaded = tu_ctx_ok(ctx, "creating the networks");
  for (int i = 0; i < 2 && loaded; i++) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%s.", nets[i].name);
    loaded = mg_checkpoint_restore_params(ctx, f->ckpt, prefix, nets[i].params) == MG_OK;
    tu_ctx_ok(ctx, f->path);
  }
  for (int i = 0; i < 2 && loaded; i++) check_network(ctx, f, &nets[i], config.num_classes > 0);
  if (loaded)
    printf("%s: %d tensors compared, %lld + %lld parameters, worst error %.3g x the tolerance\n", f->path,
           f->compared, (long long)mg_params_numel(nets[0].params), (long long)mg_params_numel(nets[1].params),
           f->worst);
  mg_generator_free(g);
  mg_discriminator_free(d);
  mg_context_free(ctx);
}

int main(int argc, char **argv) { return tu_fixture_main(argc, argv, "test_gan_parity", run_fixture); }
