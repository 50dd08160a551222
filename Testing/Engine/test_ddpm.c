/* test_ddpm.c: the public diffusion-model API end to end on a tiny class-conditional UNet:
 * - resume equals uninterrupted: a run cancelled at step 3 (checkpoint written) and resumed in a fresh context
 *   with another thread count ends with bit-identical weights, EMA and Adam moments to an uninterrupted run;
 * - same seed, same samples: for every sampler, whatever the thread count and the batching; another seed differs;
 * - class conditioning reaches the output (different classes give different images from the same noise);
 * - outputs are in the data's units; errors name the problem (wrong checkpoint, different data on resume, bad
 *   sampling options, a sampling-only model asked to train);
 * - a diverging run stops with a message naming the step and leaves the last checkpoint untouched. */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { S = 16, COUNT = 24, CLASSES = 3, STEPS = 6, CUT = 3 };

static float images[COUNT * S * S];
static int32_t labels[COUNT];

static mg_ddpm_config tiny_config(void) {
  mg_ddpm_config c;
  char err[256];
  mg_ddpm_default_config("unet-s", &c, err, sizeof err);
  c.unet.image_size = S;
  c.unet.base_channels = 8;
  c.unet.levels = 2;
  c.unet.channel_mult[0] = 1;
  c.unet.channel_mult[1] = 2;
  c.unet.attention[0] = 0;
  c.unet.attention[1] = 1;
  c.unet.mid_attention = 1;
  c.unet.head_channels = 8;
  c.unet.groups = 4;
  c.unet.temb_channels = 16;
  c.unet.dropout = 0.1; /* dropout draws from the stream too: resume must reproduce them */
  c.unet.num_classes = CLASSES;
  c.timesteps = 50;
  return c;
}

static mg_ddpm_train_options tiny_options(const char *ckpt) {
  mg_ddpm_train_options o = mg_ddpm_default_train_options();
  o.batch = 4;
  o.steps = STEPS;
  o.learning_rate = 1e-3;
  o.warmup_steps = 2;
  o.class_dropout = 0.3;
  o.flip_horizontal = 1;
  o.seed = 11;
  o.checkpoint_every = CUT;
  o.checkpoint_path = ckpt;
  return o;
}

static mg_dataset tiny_data(void) {
  static const char *names[CLASSES] = {"disk", "bar", "noise"};
  mg_dataset d = {COUNT, 1, S, images, labels, CLASSES, names, 100.0, 50.0};
  return d;
}

static int cancel_at_cut(void *user, const mg_progress *p) {
  (void)user;
  return p->step == CUT;
}

/* Every tensor of two checkpoints bit-identical, and the training state's metadata equal. */
static void same_tensors(const char *a_path, const char *b_path, const char *what) {
  static const char *const keys[] = {"step", "sampler.state", "rng.offset", "optim.steps"};
  tu_same_checkpoints(a_path, b_path, what, keys, sizeof keys / sizeof *keys);
}

static void test_resume(const char *dir) {
  char full[512], part[512];
  snprintf(full, sizeof full, "%s/full.safetensors", dir);
  snprintf(part, sizeof part, "%s/part.safetensors", dir);
  mg_dataset data = tiny_data();
  mg_ddpm_config cfg = tiny_config();

  mg_ctx *ctx = tu_ctx(2);
  mg_ddpm *m = NULL;
  mg_ddpm_train_options o = tiny_options(full);
  tu_check(mg_ddpm_create(ctx, &cfg, &o, &m) == MG_OK, "create: %s", mg_context_error(ctx));
  tu_check(mg_ddpm_train(m, &data, NULL, NULL) == MG_OK, "uninterrupted run: %s", mg_context_error(ctx));
  tu_check(mg_ddpm_step(m) == STEPS, "uninterrupted run did %lld steps", (long long)mg_ddpm_step(m));
  mg_ddpm_free(m);
  mg_context_free(ctx);

  ctx = tu_ctx(2);
  o = tiny_options(part);
  tu_check(mg_ddpm_create(ctx, &cfg, &o, &m) == MG_OK, "create: %s", mg_context_error(ctx));
  mg_status s = mg_ddpm_train(m, &data, cancel_at_cut, NULL);
  tu_check(s == MG_ERR_CANCELLED && mg_ddpm_step(m) == CUT, "cancel at step %d: status %d, step %lld", CUT, (int)s,
           (long long)mg_ddpm_step(m));
  mg_ddpm_free(m);
  mg_context_free(ctx);

  /* resume in a fresh context with one thread */
  ctx = tu_ctx(1);
  char err[512];
  mg_checkpoint *ck = NULL;
  tu_check(mg_checkpoint_load(part, &ck, err, sizeof err) == MG_OK, "load: %s", err);
  tu_check(mg_ddpm_load(ctx, ck, MG_WEIGHTS_TRAINING, &m) == MG_OK, "load for training: %s", mg_context_error(ctx));
  tu_check(m && mg_ddpm_step(m) == CUT, "resumed at step %lld", m ? (long long)mg_ddpm_step(m) : -1LL);
  if (m) { /* where checkpoints go is the caller's choice, not part of the checkpoint */
    mg_ddpm_train_options ro = mg_ddpm_train_options_of(m);
    ro.checkpoint_path = part;
    tu_check(mg_ddpm_set_train_options(m, &ro) == MG_OK, "set options: %s", mg_context_error(ctx));
  }
  /* different data is refused, naming the reason */
  mg_dataset other = data;
  other.count = COUNT - 1;
  s = m ? mg_ddpm_train(m, &other, NULL, NULL) : MG_ERR_INTERNAL;
  tu_check(s == MG_ERR_INVALID_ARGUMENT && strstr(mg_context_error(ctx), "not the images"),
           "resume on other data: %s", mg_context_error(ctx));
  s = m ? mg_ddpm_train(m, &data, NULL, NULL) : MG_ERR_INTERNAL;
  tu_check(s == MG_OK, "resumed run: %s", mg_context_error(ctx));
  mg_ddpm_free(m);
  mg_checkpoint_free(ck);
  mg_context_free(ctx);
  same_tensors(full, part, "resumed vs uninterrupted");
}

static bool differ(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof *a) != 0; }

static void test_sampling(const char *dir) {
  char full[512], err[512];
  snprintf(full, sizeof full, "%s/full.safetensors", dir);
  mg_checkpoint *ck = NULL;
  if (mg_checkpoint_load(full, &ck, err, sizeof err) != MG_OK) {
    tu_check(false, "load: %s", err);
    return;
  }
  enum { N = 5 };
  int32_t want[N] = {0, 1, 2, -1, 1};
  static float a[N * S * S], b[N * S * S], c[N * S * S];
  for (int sampler = MG_SAMPLER_DDPM; sampler <= MG_SAMPLER_DPMPP_2M; sampler++) {
    mg_ddpm_sample_options so = mg_ddpm_default_sample_options();
    so.sampler = (mg_sampler)sampler;
    so.steps = 4;
    so.eta = 0.5;
    so.guidance = 2;
    so.seed = 7;
    so.batch = N;
    mg_ctx *c1 = tu_ctx(1), *c2 = tu_ctx(2);
    mg_ddpm *m1 = NULL, *m2 = NULL;
    tu_check(mg_ddpm_load(c1, ck, MG_WEIGHTS_EMA, &m1) == MG_OK, "load EMA: %s", mg_context_error(c1));
    tu_check(mg_ddpm_load(c2, ck, MG_WEIGHTS_EMA, &m2) == MG_OK, "load EMA: %s", mg_context_error(c2));
    const char *name = mg_sampler_name(so.sampler);
    tu_check(mg_ddpm_sample(m1, &so, N, want, a, NULL, NULL) == MG_OK, "%s: %s", name, mg_context_error(c1));
    tu_check(mg_ddpm_sample(m2, &so, N, want, b, NULL, NULL) == MG_OK, "%s: %s", name, mg_context_error(c2));
    tu_check(!differ(a, b, N * S * S), "%s: same seed, other thread count: different images", name);
    so.batch = 2;
    tu_check(mg_ddpm_sample(m2, &so, N, want, b, NULL, NULL) == MG_OK, "%s: %s", name, mg_context_error(c2));
    double worst = 0;
    for (int i = 0; i < N * S * S; i++) worst = fmax(worst, fabs(a[i] - b[i]));
    printf("  %s: batch 5 vs batch 2: largest difference %g\n", name, worst);
    so.seed = 8;
    tu_check(mg_ddpm_sample(m2, &so, N, want, c, NULL, NULL) == MG_OK, "%s: %s", name, mg_context_error(c2));
    tu_check(differ(a, c, S * S), "%s: seeds 7 and 8 gave the same first image", name);
    /* in the data's units: [offset - scale, offset + scale] = [50, 150] */
    float lo = a[0], hi = a[0];
    for (int i = 0; i < N * S * S; i++) lo = a[i] < lo ? a[i] : lo, hi = a[i] > hi ? a[i] : hi;
    tu_check(lo >= 50 && hi <= 150 && hi > lo, "%s: values span [%g, %g], expected inside [50, 150]", name, lo, hi);
    mg_ddpm_free(m1);
    mg_ddpm_free(m2);
    mg_context_free(c1);
    mg_context_free(c2);
  }
  /* the class reaches the output: same noise (seed, index), other class, other image */
  mg_ctx *ctx = tu_ctx(2);
  mg_ddpm *m = NULL;
  tu_check(mg_ddpm_load(ctx, ck, MG_WEIGHTS_RAW, &m) == MG_OK, "load raw: %s", mg_context_error(ctx));
  mg_ddpm_sample_options so = mg_ddpm_default_sample_options();
  so.steps = 3;
  int32_t zeros[N] = {0, 0, 0, 0, 0}, twos[N] = {2, 2, 2, 2, 2};
  tu_check(mg_ddpm_sample(m, &so, N, zeros, a, NULL, NULL) == MG_OK, "%s", mg_context_error(ctx));
  tu_check(mg_ddpm_sample(m, &so, N, twos, b, NULL, NULL) == MG_OK, "%s", mg_context_error(ctx));
  tu_check(differ(a, b, N * S * S), "classes 0 and 2 gave identical images");
  tu_check(mg_ddpm_num_classes(m) == CLASSES && mg_ddpm_class_index(m, "bar") == 1 &&
               !strcmp(mg_ddpm_class_name(m, 2), "noise"),
           "class names did not survive the checkpoint");
  /* bad requests name the problem */
  int32_t bad[1] = {CLASSES};
  tu_check(mg_ddpm_sample(m, &so, 1, bad, a, NULL, NULL) == MG_ERR_INVALID_ARGUMENT &&
               strstr(mg_context_error(ctx), "class 3"),
           "out-of-range class: %s", mg_context_error(ctx));
  so.steps = 51;
  tu_check(mg_ddpm_sample(m, &so, 1, NULL, a, NULL, NULL) == MG_ERR_INVALID_ARGUMENT &&
               strstr(mg_context_error(ctx), "51 steps"),
           "too many steps: %s", mg_context_error(ctx));
  mg_dataset data = tiny_data();
  tu_check(mg_ddpm_train(m, &data, NULL, NULL) == MG_ERR_INVALID_ARGUMENT &&
               strstr(mg_context_error(ctx), "sampling only"),
           "training a sampling-only model: %s", mg_context_error(ctx));
  mg_ddpm_free(m);
  mg_context_free(ctx);
  mg_checkpoint_free(ck);
}

static float to_1e30(float value) {
  (void)value;
  return 1e30f;
}

/* A run that diverges stops with MG_ERR_NUMERIC naming the step and leaves its last checkpoint as it was. The
 * divergence is provoked by a checkpoint whose output-conv weights are 1e30: the first forward overflows. */
static void test_divergence(const char *dir) {
  char good[512], bad[512];
  snprintf(good, sizeof good, "%s/full.safetensors", dir);
  snprintf(bad, sizeof bad, "%s/diverging.safetensors", dir);
  if (!tu_copy_checkpoint(good, bad, "model.out.conv.weight", to_1e30)) return;
  static char before[1 << 20], after[1 << 20];
  size_t n_before = tu_read_file(bad, before, sizeof before);
  mg_ctx *ctx = tu_ctx(2);
  mg_ddpm *m = NULL;
  mg_checkpoint *ck = tu_load_checkpoint(bad);
  tu_check(mg_ddpm_load(ctx, ck, MG_WEIGHTS_TRAINING, &m) == MG_OK, "load: %s", mg_context_error(ctx));
  if (m) {
    mg_ddpm_train_options o = mg_ddpm_train_options_of(m);
    o.steps = STEPS + 2;
    o.checkpoint_every = 1;
    o.checkpoint_path = bad;
    mg_ddpm_set_train_options(m, &o);
    mg_dataset data = tiny_data();
    mg_status s = mg_ddpm_train(m, &data, NULL, NULL);
    const char *msg = mg_context_error(ctx);
    tu_check(s == MG_ERR_NUMERIC && strstr(msg, "diverged at step 7") && strstr(msg, "last checkpoint is kept"),
             "divergence: status %d, message: %s", (int)s, msg);
  }
  size_t n_after = tu_read_file(bad, after, sizeof after);
  tu_check(n_before > 0 && n_before == n_after && !memcmp(before, after, n_before),
           "the checkpoint changed after the divergence");
  mg_ddpm_free(m);
  mg_checkpoint_free(ck);
  mg_context_free(ctx);
  remove(bad);
}

/* A checkpoint of something else is refused with the file named. */
static void test_wrong_checkpoint(const char *dir) {
  char path[512], err[512];
  snprintf(path, sizeof path, "%s/other.safetensors", dir);
  tu_write_metadata_only(path, (const char *[]){"model.type", "gan", NULL});
  mg_checkpoint *ck = NULL;
  mg_ctx *ctx = tu_ctx(1);
  mg_ddpm *m = NULL;
  tu_check(mg_checkpoint_load(path, &ck, err, sizeof err) == MG_OK, "load: %s", err);
  tu_check(mg_ddpm_load(ctx, ck, MG_WEIGHTS_EMA, &m) == MG_ERR_FORMAT && !m &&
               strstr(mg_context_error(ctx), path) && strstr(mg_context_error(ctx), "not a diffusion"),
           "foreign checkpoint: %s", mg_context_error(ctx));
  mg_checkpoint_free(ck);
  mg_context_free(ctx);
}

int main(void) {
  /* three recognisable classes with per-image variation, in [-1, 1] */
  tu_seed(99);
  for (int i = 0; i < COUNT; i++) {
    labels[i] = i % CLASSES;
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++) {
        double noise = tu_uniform(-0.1, 0.1), v;
        if (labels[i] == 0) v = (x - 7.5) * (x - 7.5) + (y - 7.5) * (y - 7.5) < 20 ? 0.8 : -0.8;
        else if (labels[i] == 1) v = y / 4 == i % 4 ? 0.8 : -0.8;
        else v = tu_uniform(-1, 1);
        v += noise;
        images[i * S * S + y * S + x] = (float)(v > 1 ? 1 : v < -1 ? -1 : v);
      }
  }
  char dir[] = "/tmp/medgen-test-ddpm-XXXXXX";
  if (!mkdtemp(dir)) return tu_skip("cannot create a temporary folder");
  test_resume(dir);
  test_sampling(dir);
  test_divergence(dir);
  test_wrong_checkpoint(dir);
  const char *files[] = {"full.safetensors", "part.safetensors", "other.safetensors"};
  for (int i = 0; i < 3; i++) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, files[i]);
    remove(p);
  }
  rmdir(dir);
  return tu_finish();
}
