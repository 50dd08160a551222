/* test_checkpoint_engine.c: saving and restoring training state (checkpoint_engine.c): parameters, buffers, EMA
 * weights, Adam moments and step count, and the random stream come back bit-exact in a fresh context, and training
 * resumed from the checkpoint continues exactly as the original run does. A checkpoint that does not fit the model
 * (a wrong shape, a missing or an extra tensor, bad metadata) is refused with a message naming the file and the
 * tensor, and leaves the model untouched. Float build: the file stores float32. */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char work_dir[256];

/* A small model: a conv, a buffer, a linear layer. variant 1: conv.weight [4,1,3,3]; 2: no lin.bias; 3: one more
 * parameter. */
static mg_params *make_model(mg_ctx *ctx, int variant) {
  mg_params *p = mg_params_new(ctx);
  mg_param(p, "conv.weight", 4, (int[]){4, variant == 1 ? 1 : 3, 3, 3});
  mg_param(p, "conv.bias", 1, (int[]){4});
  mg_buffer(p, "norm.running_mean", 1, (int[]){4});
  mg_param(p, "lin.weight", 2, (int[]){5, 6});
  if (variant != 2) mg_param(p, "lin.bias", 1, (int[]){5});
  if (variant == 3) mg_param(p, "extra.weight", 2, (int[]){2, 2});
  return p;
}

static void randomize(mg_ctx *ctx, mg_params *p) {
  for (int i = 0; i < mg_params_count(p); i++) {
    mg_tensor *t = mg_params_at(p, i);
    float *v = malloc((size_t)t->numel * sizeof *v);
    for (int64_t j = 0; j < t->numel; j++) v[j] = (float)tu_uniform(-1, 1);
    mg_tensor_upload(ctx, t, v, t->numel);
    free(v);
  }
}

/* Steps of Adam on L = sum over parameters of sum(p * p), each followed by an EMA update. */
static void train(mg_ctx *ctx, mg_params *p, mg_adam *adam, mg_ema *ema, int steps) {
  for (int s = 0; s < steps; s++) {
    mg_step_begin(ctx);
    mg_tensor *loss = NULL;
    for (int i = 0; i < mg_params_count(p); i++) {
      if (mg_params_is_buffer(p, i)) continue;
      mg_tensor *t = mg_params_at(p, i);
      mg_tensor *term = mg_sum(ctx, mg_mul(ctx, t, t));
      loss = loss ? mg_add(ctx, loss, term) : term;
    }
    mg_zero_grad(ctx, p);
    mg_backward(ctx, loss);
    mg_adam_step(adam, 1e-2, 1.0);
    mg_ema_update(ema, 0.9);
  }
  tu_ctx_ok(ctx, "training steps");
}

/* Every value of the training state, downloaded: parameters and buffers, EMA, Adam m and v. */
static float *snapshot(mg_ctx *ctx, mg_params *p, mg_adam *adam, mg_ema *ema, int64_t *count) {
  mg_tensor *all[64];
  int n = 0;
  for (int i = 0; i < mg_params_count(p); i++) {
    all[n++] = mg_params_at(p, i);
    mg_tensor *extra[3] = {ema ? mg_ema_tensor(ema, i) : NULL, adam ? mg_adam_moment(adam, i, 0) : NULL,
                           adam ? mg_adam_moment(adam, i, 1) : NULL};
    for (int k = 0; k < 3; k++)
      if (extra[k]) all[n++] = extra[k];
  }
  int64_t total = 0;
  for (int i = 0; i < n; i++) total += all[i]->numel;
  float *v = malloc((size_t)total * sizeof *v), *q = v;
  for (int i = 0; i < n; i++) {
    mg_tensor_download(ctx, all[i], q, all[i]->numel);
    q += all[i]->numel;
  }
  *count = total;
  return v;
}

static bool same_values(const float *a, const float *b, int64_t n) { return memcmp(a, b, (size_t)n * sizeof *a) == 0; }

static const mg_adam_config adam_config = {1e-2, 0.9, 0.999, 1e-8, 0.01, true};

/* Saves model + EMA + Adam + RNG (and a config) to path. */
static bool save_all(mg_ctx *ctx, const char *path, mg_params *p, mg_adam *adam, mg_ema *ema) {
  mg_checkpoint_writer *w = mg_checkpoint_writer_new();
  mg_checkpoint_add_params(ctx, w, "model.", p);
  if (ema) mg_checkpoint_add_ema(ctx, w, "ema.", p, ema);
  if (adam) mg_checkpoint_add_adam(ctx, w, "optim.", p, adam);
  mg_checkpoint_add_rng(ctx, w);
  mg_checkpoint_writer_add_metadata(w, "config", "{\"model\": \"test\"}");
  char err[512];
  mg_status s = mg_checkpoint_writer_save(w, path, err, sizeof err);
  mg_checkpoint_writer_free(w);
  return tu_ctx_ok(ctx, "adding the training state") && tu_check(s == MG_OK, "save %s: %s", path, err);
}

static mg_checkpoint *load(const char *path) {
  mg_checkpoint *c = NULL;
  char err[512];
  tu_check(mg_checkpoint_load(path, &c, err, sizeof err) == MG_OK, "load %s: %s", path, err);
  return c;
}

/* Expects a failed restore with MG_ERR_FORMAT and a message containing the path and each needle; clears it. */
static void expect_refused(mg_ctx *ctx, mg_status s, const char *what, const char *path, const char *needle1,
                           const char *needle2) {
  const char *msg = mg_context_error(ctx);
  tu_check(s == MG_ERR_FORMAT && strstr(msg, path) && strstr(msg, needle1) && (!needle2 || strstr(msg, needle2)),
           "%s: expected a format error naming '%s' and '%s', got '%s' (%s)", what, needle1, needle2 ? needle2 : "",
           msg, mg_status_string(s));
  mg_clear_error(ctx);
}

static void test_round_trip(const char *path) {
  mg_ctx *a = tu_ctx(1);
  tu_seed(5);
  mg_params *pa = make_model(a, 0);
  randomize(a, pa);
  mg_adam *adam_a = mg_adam_new(a, pa, adam_config);
  mg_ema *ema_a = mg_ema_new(a, pa);
  train(a, pa, adam_a, ema_a, 3);
  mg_rng_seed(a, 1234567890123ull);
  mg_rng_set_offset(a, 987654321ull);
  if (!save_all(a, path, pa, adam_a, ema_a)) return;

  /* A fresh context and model (zeros) restored from the file. */
  mg_ctx *b = tu_ctx(2);
  mg_params *pb = make_model(b, 0);
  mg_adam *adam_b = mg_adam_new(b, pb, adam_config);
  mg_ema *ema_b = mg_ema_new(b, pb);
  mg_checkpoint *c = load(path);
  if (!c) return;
  tu_check(mg_checkpoint_restore_params(b, c, "model.", pb) == MG_OK, "restore params: %s", mg_context_error(b));
  tu_check(mg_checkpoint_restore_ema(b, c, "ema.", pb, ema_b) == MG_OK, "restore EMA: %s", mg_context_error(b));
  tu_check(mg_checkpoint_restore_adam(b, c, "optim.", pb, adam_b) == MG_OK, "restore Adam: %s", mg_context_error(b));
  tu_check(mg_checkpoint_restore_rng(b, c) == MG_OK, "restore RNG: %s", mg_context_error(b));
  tu_check(strcmp(mg_checkpoint_metadata(c, "config"), "{\"model\": \"test\"}") == 0, "caller metadata kept");
  tu_check(mg_checkpoint_metadata(c, "optim.steps") && strcmp(mg_checkpoint_metadata(c, "optim.steps"), "3") == 0,
           "Adam steps stored as optim.steps");
  /* names: parameters and buffers under model., trainable ones under ema. and optim.m./optim.v. */
  mg_checkpoint_tensor t;
  tu_check(mg_checkpoint_find(c, "model.norm.running_mean", &t) == MG_OK, "buffer saved under model.");
  tu_check(mg_checkpoint_find(c, "ema.norm.running_mean", &t) != MG_OK, "no EMA for a buffer");
  tu_check(mg_checkpoint_find(c, "optim.m.conv.weight", &t) == MG_OK && t.ndim == 4,
           "first moment saved as optim.m.<name>");
  tu_check(mg_checkpoint_find(c, "optim.v.lin.bias", &t) == MG_OK, "second moment saved as optim.v.<name>");
  tu_check(mg_checkpoint_tensor_count(c) == 5 + 4 + 8, "17 tensors (got %d)", mg_checkpoint_tensor_count(c));
  mg_checkpoint_free(c);

  int64_t na = 0, nb = 0;
  float *sa = snapshot(a, pa, adam_a, ema_a, &na), *sb = snapshot(b, pb, adam_b, ema_b, &nb);
  tu_check(na == nb && same_values(sa, sb, na), "restored state bit-exact (%lld values)", (long long)na);
  tu_check(mg_adam_steps(adam_b) == 3, "Adam steps restored (%lld)", (long long)mg_adam_steps(adam_b));
  tu_check(mg_rng_seed_value(b) == 1234567890123ull && mg_rng_offset(b) == 987654321ull,
           "RNG seed and offset restored");
  free(sa), free(sb);

  /* Resumed training continues exactly like the original (bias corrections need the step count, too). */
  train(a, pa, adam_a, ema_a, 2);
  train(b, pb, adam_b, ema_b, 2);
  sa = snapshot(a, pa, adam_a, ema_a, &na), sb = snapshot(b, pb, adam_b, ema_b, &nb);
  tu_check(na == nb && same_values(sa, sb, na), "training resumed from the checkpoint matches the original run");
  free(sa), free(sb);
  mg_context_free(a);
  mg_context_free(b);
}

static void test_mismatches(void) {
  char other[512];
  snprintf(other, sizeof other, "%s/other.safetensors", work_dir);
  mg_ctx *ctx = tu_ctx(1);
  tu_seed(9);
  mg_params *p = make_model(ctx, 0);
  randomize(ctx, p);
  mg_adam *adam = mg_adam_new(ctx, p, adam_config);
  mg_ema *ema = mg_ema_new(ctx, p);
  int64_t n0 = 0, n1 = 0;
  float *before = snapshot(ctx, p, adam, ema, &n0);
  mg_checkpoint *c = NULL;

  /* A checkpoint of a model whose conv.weight is [4,1,3,3]. */
  mg_ctx *oc = tu_ctx(1);
  mg_params *op = make_model(oc, 1);
  if (save_all(oc, other, op, mg_adam_new(oc, op, adam_config), mg_ema_new(oc, op)) && (c = load(other))) {
    expect_refused(ctx, mg_checkpoint_restore_params(ctx, c, "model.", p), "wrong shape", other,
                   "tensor 'model.conv.weight' has shape [4,1,3,3], expected [4,3,3,3]", NULL);
    expect_refused(ctx, mg_checkpoint_restore_ema(ctx, c, "ema.", p, ema), "wrong EMA shape", other,
                   "'ema.conv.weight'", "[4,1,3,3]");
    expect_refused(ctx, mg_checkpoint_restore_adam(ctx, c, "optim.", p, adam), "wrong moment shape", other,
                   "'optim.m.conv.weight'", "[4,1,3,3]");
    mg_checkpoint_free(c);
  }
  mg_context_free(oc);

  /* A model without lin.bias: the tensor is missing. */
  oc = tu_ctx(1);
  op = make_model(oc, 2);
  if (save_all(oc, other, op, mg_adam_new(oc, op, adam_config), mg_ema_new(oc, op)) && (c = load(other))) {
    expect_refused(ctx, mg_checkpoint_restore_params(ctx, c, "model.", p), "missing tensor", other,
                   "tensor 'model.lin.bias' is missing", NULL);
    expect_refused(ctx, mg_checkpoint_restore_adam(ctx, c, "optim.", p, adam), "missing moment", other,
                   "'optim.m.lin.bias' is missing", NULL);
    mg_checkpoint_free(c);
  }
  mg_context_free(oc);

  /* A model with one more parameter: an unexpected tensor. */
  oc = tu_ctx(1);
  op = make_model(oc, 3);
  if (save_all(oc, other, op, mg_adam_new(oc, op, adam_config), mg_ema_new(oc, op)) && (c = load(other))) {
    expect_refused(ctx, mg_checkpoint_restore_params(ctx, c, "model.", p), "extra tensor", other,
                   "unexpected tensor 'model.extra.weight'", NULL);
    expect_refused(ctx, mg_checkpoint_restore_ema(ctx, c, "ema.", p, ema), "extra EMA tensor", other,
                   "unexpected tensor 'ema.extra.weight'", NULL);
    mg_checkpoint_free(c);
  }
  mg_context_free(oc);

  /* Nothing was changed by any refused restore. */
  float *after = snapshot(ctx, p, adam, ema, &n1);
  tu_check(n0 == n1 && same_values(before, after, n0), "refused restores leave the model untouched");
  free(before), free(after);

  /* A checkpoint with only parameters: no Adam state, no RNG. */
  mg_checkpoint_writer *w = mg_checkpoint_writer_new();
  mg_checkpoint_add_params(ctx, w, "model.", p);
  mg_checkpoint_writer_add_metadata(w, "step", "12x");
  mg_checkpoint_writer_add_metadata(w, "big", "18446744073709551615");
  mg_checkpoint_writer_add_metadata(w, "too big", "18446744073709551616");
  mg_checkpoint_writer_add_metadata(w, "negative", "-1");
  mg_checkpoint_writer_add_metadata(w, "empty", "");
  char err[512];
  tu_check(mg_checkpoint_writer_save(w, other, err, sizeof err) == MG_OK, "params-only save: %s", err);
  mg_checkpoint_writer_free(w);
  if ((c = load(other))) {
    expect_refused(ctx, mg_checkpoint_restore_adam(ctx, c, "optim.", p, adam), "no Adam state", other,
                   "'optim.m.conv.weight' is missing", NULL);
    expect_refused(ctx, mg_checkpoint_restore_rng(ctx, c), "no RNG state", other, "metadata 'rng.seed' is missing",
                   NULL);
    uint64_t v = 0;
    expect_refused(ctx, mg_checkpoint_metadata_u64(ctx, c, "step", &v), "malformed integer", other, "'step'",
                   "not a non-negative integer");
    expect_refused(ctx, mg_checkpoint_metadata_u64(ctx, c, "too big", &v), "overflowing integer", other, "'too big'",
                   NULL);
    expect_refused(ctx, mg_checkpoint_metadata_u64(ctx, c, "negative", &v), "negative integer", other, "'negative'",
                   NULL);
    expect_refused(ctx, mg_checkpoint_metadata_u64(ctx, c, "empty", &v), "empty integer", other, "'empty'", NULL);
    tu_check(mg_checkpoint_metadata_u64(ctx, c, "big", &v) == MG_OK && v == UINT64_MAX, "2^64-1 parses");
    /* an EMA restore with nothing under "ema." is a missing tensor too */
    expect_refused(ctx, mg_checkpoint_restore_ema(ctx, c, "ema.", p, ema), "no EMA", other, "'ema.conv.weight'",
                   "missing");
    mg_checkpoint_free(c);
  }

  /* Adding the same state twice fails (duplicate names), through ctx and at save. */
  w = mg_checkpoint_writer_new();
  mg_checkpoint_add_params(ctx, w, "model.", p);
  tu_check(mg_checkpoint_add_params(ctx, w, "model.", p) == MG_ERR_INVALID_ARGUMENT &&
               strstr(mg_context_error(ctx), "'model.conv.weight' added twice"),
           "duplicate names reported through ctx: '%s'", mg_context_error(ctx));
  mg_clear_error(ctx);
  tu_check(mg_checkpoint_writer_save(w, other, err, sizeof err) != MG_OK, "save refuses after a failed add");
  mg_checkpoint_writer_free(w);
  unlink(other);
  mg_context_free(ctx);
}

int main(void) {
  snprintf(work_dir, sizeof work_dir, "/tmp/medgen_ckpt_engine_XXXXXX");
  if (!mkdtemp(work_dir)) return tu_skip("cannot create a temporary folder");
  char path[512];
  snprintf(path, sizeof path, "%s/train.safetensors", work_dir);
  test_round_trip(path);
  test_mismatches();
  unlink(path);
  rmdir(work_dir);
  return tu_finish();
}
