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
 * Tolerance, per compared tensor, as in test_unet_parity.c: |engine - torch| <= atol + rtol*|torch| with
 * rtol = 1e-4 and atol = 1e-5 * max|torch| over that tensor.
 *
 * Usage: test_gan_parity FIXTURE.safetensors... */
#include "mg_gan_model.h"
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
  mg_checkpoint_tensor want;
  if (!tu_check(mg_checkpoint_find(f->ckpt, key, &want) == MG_OK && want.numel == n,
                "%s: tensor %s missing, or not %lld values", f->path, key, (long long)n))
    return;
  double magnitude = 0;
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
  if (!tu_check(t != NULL, "%s: %s: the engine produced nothing", f->path, key)) return;
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
static void compare_buffers(mg_ctx *ctx, fixture *f, const network *net) {
  for (int i = 0; i < mg_params_count(net->params); i++) {
    if (!mg_params_is_buffer(net->params, i)) continue;
    char key[160];
    mg_tensor *b = mg_params_at(net->params, i);
    snprintf(key, sizeof key, "after.%s.%s", net->name, b->name);
    compare_tensor(ctx, f, key, b);
  }
}

static void check_network(mg_ctx *ctx, fixture *f, const network *net, bool conditional) {
  char key[160];
  mg_step_begin(ctx);
  snprintf(key, sizeof key, "%s.dy", net->tag);
  mg_tensor *in = load(ctx, f, net->input, false), *dy = load(ctx, f, key, false);
  mg_tensor *labels = conditional ? load(ctx, f, "labels", true) : NULL;
  if (!tu_check(in && dy && (labels || !conditional), "%s: inputs %s, %s or labels missing", f->path, net->input,
                key))
    return;
  in->requires_grad = true;
  mg_tensor *y = net->forward(ctx, net->model, in, labels, true);
  mg_zero_grad(ctx, net->params);
  if (y && mg_backward_from(ctx, y, dy) == MG_OK) {
    snprintf(key, sizeof key, "%s.y", net->tag);
    compare_tensor(ctx, f, key, y);
    snprintf(key, sizeof key, "grad.%s", net->input);
    compare_grad(ctx, f, key, in);
    for (int i = 0; i < mg_params_count(net->params); i++) {
      if (mg_params_is_buffer(net->params, i)) continue;
      mg_tensor *p = mg_params_at(net->params, i);
      snprintf(key, sizeof key, "grad.%s.%s", net->name, p->name);
      compare_grad(ctx, f, key, p);
    }
    compare_buffers(ctx, f, net);
  }
  tu_ctx_ok(ctx, f->path);

  /* evaluation: running statistics, no power iteration (so the buffers stay as the training forward left them) */
  mg_step_begin(ctx);
  bool grad = mg_set_grad_enabled(ctx, false);
  in = load(ctx, f, net->input, false);
  labels = conditional ? load(ctx, f, "labels", true) : NULL;
  y = net->forward(ctx, net->model, in, labels, false);
  if (tu_ctx_ok(ctx, "evaluation forward")) {
    snprintf(key, sizeof key, "%s.y_eval", net->tag);
    compare_tensor(ctx, f, key, y);
    compare_buffers(ctx, f, net);
  }
  mg_set_grad_enabled(ctx, grad);
}

static void run_fixture(fixture *f) {
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

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_gan_parity FIXTURE.safetensors...\n");
    return 2;
  }
  for (int a = 1; a < argc; a++) {
    char err[512];
    fixture f = {argv[a], NULL, 0, 0};
    if (!tu_check(mg_checkpoint_load(f.path, &f.ckpt, err, sizeof err) == MG_OK, "%s", err)) continue;
    run_fixture(&f);
    mg_checkpoint_free(f.ckpt);
  }
  return tu_finish();
}
