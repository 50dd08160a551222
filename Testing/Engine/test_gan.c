/* test_gan.c: the public GAN API end to end on a tiny class-conditional GAN (32x32, width 4, latent 8):
 * - training runs with finite losses and changes both networks;
 * - resume equals uninterrupted: a run cancelled at step 3 (mid ADA window) and resumed in a fresh context with
 *   another thread count ends with bit-identical tensors, streams and ADA state; writing a checkpoint every step
 *   changes nothing either (the EMA's batch-norm statistics are measured without disturbing training);
 * - the EMA's batch-norm statistics are those of its weights, checked against a direct computation of the first
 *   block's statistics;
 * - same seed, same samples on any thread count; the batch changes them by rounding only; default classes cycle;
 * - truncation keeps every latent component in range, redraws only those out of range, and 0 is the plain draw;
 * - ADA raises p when the discriminator overfits (4 images) and leaves it alone when off; steady-state steps make
 *   no heap allocation;
 * - a diverging run (a blown-up discriminator) stops with MG_ERR_NUMERIC naming the step and leaves the last
 *   checkpoint byte-identical;
 * - errors: a DDPM checkpoint, bad options and configs (named), classes out of range, a sampling-only model asked
 *   to train; mg_checkpoint_model_type;
 * - mg_params_set_trainable, which the generator step uses to freeze the discriminator. */
#include "mg_diffusion.h"
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { S = 32, L = 8, COUNT = 12, CLASSES = 2, STEPS = 8, CUT = 3 };
/* gan.c's standing statistics: 8 batches of 64 latents of this seed (mg_gan_latents' streams, image k*64 + i) */
#define STANDING_SEED 0x57a7d1ull
enum { STANDING_BATCHES = 8, STANDING_BATCH = 64 };

static float images[COUNT * S * S];
static int32_t labels[COUNT];

static mg_gan_config tiny_config(int classes) {
  mg_gan_config c = {S, 1, L, 4, classes};
  return c;
}

static mg_gan_train_options tiny_options(const char *ckpt, int64_t every) {
  mg_gan_train_options o = mg_gan_default_train_options();
  o.batch = 4;
  o.steps = STEPS;
  o.lr_g = o.lr_d = 2e-3;
  o.ema_decay = 0.9;
  o.augment_p = 0.3;
  o.ada_kimg = 0.1; /* p moves by 16 / 100 per 4 steps: the ADA state changes within the run */
  o.flip_horizontal = 1;
  o.seed = 5;
  o.checkpoint_every = every;
  o.checkpoint_path = ckpt;
  return o;
}

static mg_dataset tiny_data(void) {
  static const char *names[CLASSES] = {"disk", "bar"};
  mg_dataset d = {COUNT, 1, S, images, labels, CLASSES, names, 100.0, 50.0};
  return d;
}

static char dir[] = "/tmp/medgen-test-gan-XXXXXX";

static const char *path_of(const char *name) {
  static char paths[8][512];
  static int next;
  char *p = paths[next++ % 8];
  snprintf(p, 512, "%s/%s", dir, name);
  return p;
}

/* progress: losses finite at every step; cancels at user's step (0: never); with ctx, the heap allocations of the
 * context's arenas after step 6 and after the last */
typedef struct watch {
  int64_t cancel_at;
  int non_finite;
  mg_ctx *ctx;
  int64_t heap_at_6, heap_at_end;
} watch;

static int watch_progress(void *user, const mg_progress *p) {
  watch *w = user;
  w->non_finite += !isfinite(p->loss);
  if (w->ctx && p->step == 6) w->heap_at_6 = mg_memory(w->ctx).heap_allocations;
  if (w->ctx && p->step == p->total) w->heap_at_end = mg_memory(w->ctx).heap_allocations;
  return w->cancel_at && p->step == w->cancel_at;
}

/* Every tensor of two checkpoints bit-identical, and the training state's metadata equal. */
static void same_checkpoints(const char *a_path, const char *b_path, const char *what) {
  static const char *const keys[] = {"step", "sampler.state", "rng.seed", "rng.offset", "optim_g.steps",
                                     "optim_d.steps", "ada.state", "data.fingerprint"};
  tu_same_checkpoints(a_path, b_path, what, keys, sizeof keys / sizeof *keys);
}

/* A model trained from scratch to the end in a context of the given threads. */
static void train_run(const char *path, int64_t every, int threads, int64_t cancel_at) {
  mg_ctx *ctx = tu_ctx(threads);
  mg_gan_config cfg = tiny_config(CLASSES);
  mg_gan_train_options o = tiny_options(path, every);
  mg_dataset data = tiny_data();
  mg_gan *m = NULL;
  watch w = {cancel_at, 0, NULL, 0, 0};
  tu_check(mg_gan_create(ctx, &cfg, &o, &m) == MG_OK, "create: %s", mg_context_error(ctx));
  mg_status s = mg_gan_train(m, &data, watch_progress, &w);
  if (cancel_at)
    tu_check(s == MG_ERR_CANCELLED && mg_gan_step(m) == cancel_at && strstr(mg_context_error(ctx), "cancelled"),
             "cancel at step %lld: status %d, step %lld: %s", (long long)cancel_at, (int)s, (long long)mg_gan_step(m),
             mg_context_error(ctx));
  else
    tu_check(s == MG_OK && mg_gan_step(m) == STEPS, "training: %s", mg_context_error(ctx));
  tu_check(w.non_finite == 0, "%d steps reported a non-finite loss", w.non_finite);
  mg_gan_training_state st = mg_gan_training_state_of(m);
  tu_check(isfinite(st.d_loss) && isfinite(st.g_loss), "last losses %g %g", st.d_loss, st.g_loss);
  mg_gan_free(m);
  mg_context_free(ctx);
}

static void test_training_and_resume(void) {
  /* the untrained model, to see that training changes both networks */
  mg_ctx *ctx = tu_ctx(2);
  mg_gan_config cfg = tiny_config(CLASSES);
  mg_gan_train_options o = tiny_options(NULL, 0);
  mg_gan *m = NULL;
  char err[512];
  tu_check(mg_gan_create(ctx, &cfg, &o, &m) == MG_OK, "create: %s", mg_context_error(ctx));
  tu_check(mg_gan_save(m, path_of("init.safetensors"), err, sizeof err) == MG_OK, "save: %s", err);
  tu_check(mg_gan_generator_parameter_count(m) > 0 && mg_gan_discriminator_parameter_count(m) > 0,
           "parameter counts %lld %lld", (long long)mg_gan_generator_parameter_count(m),
           (long long)mg_gan_discriminator_parameter_count(m));
  mg_gan_free(m);
  mg_context_free(ctx);

  train_run(path_of("full.safetensors"), 0, 2, 0);
  train_run(path_of("every.safetensors"), 1, 2, 0);
  same_checkpoints(path_of("full.safetensors"), path_of("every.safetensors"), "checkpoint every step vs only at the end");
  train_run(path_of("part.safetensors"), 0, 2, CUT);

  /* resume in a fresh context with one thread */
  ctx = tu_ctx(1);
  mg_checkpoint *ck = tu_load_checkpoint(path_of("part.safetensors"));
  m = NULL;
  tu_check(ck && mg_gan_load(ctx, ck, MG_WEIGHTS_TRAINING, &m) == MG_OK, "load for training: %s", mg_context_error(ctx));
  tu_check(m && mg_gan_step(m) == CUT, "resumed at step %lld", m ? (long long)mg_gan_step(m) : -1LL);
  if (m) {
    mg_dataset data = tiny_data(), other = data;
    other.count = COUNT - 1;
    tu_check(mg_gan_train(m, &other, NULL, NULL) == MG_ERR_INVALID_ARGUMENT &&
                 strstr(mg_context_error(ctx), "not the images"),
             "resume on other data: %s", mg_context_error(ctx));
    mg_gan_train_options ro = mg_gan_train_options_of(m);
    ro.checkpoint_path = path_of("part.safetensors");
    tu_check(mg_gan_set_train_options(m, &ro) == MG_OK, "set options: %s", mg_context_error(ctx));
    tu_check(mg_gan_train(m, &data, NULL, NULL) == MG_OK, "resumed run: %s", mg_context_error(ctx));
  }
  mg_gan_free(m);
  mg_checkpoint_free(ck);
  mg_context_free(ctx);
  same_checkpoints(path_of("full.safetensors"), path_of("part.safetensors"), "resumed vs uninterrupted");

  /* training moved every network, and ADA moved p from its start */
  mg_checkpoint *a = tu_load_checkpoint(path_of("init.safetensors")), *b = tu_load_checkpoint(path_of("full.safetensors"));
  const char *names[] = {"generator.blocks.0.conv.weight", "generator.output.weight",
                         "discriminator.blocks.0.conv.weight_orig", "discriminator.output.weight_orig",
                         "discriminator.embed.weight"};
  for (size_t k = 0; a && b && k < sizeof names / sizeof *names; k++) {
    mg_checkpoint_tensor ta, tb;
    bool found = mg_checkpoint_find(a, names[k], &ta) == MG_OK && mg_checkpoint_find(b, names[k], &tb) == MG_OK;
    tu_check(found && memcmp(ta.data, tb.data, (size_t)ta.numel * 4), "training left %s %s", names[k],
             found ? "unchanged" : "missing");
  }
  const char *ada = b ? mg_checkpoint_metadata(b, "ada.state") : NULL;
  tu_check(ada && !strstr(ada, "\"p\":0.3,"), "ADA state after two windows: %s", ada ? ada : "(absent)");
  const char *type = b ? mg_checkpoint_model_type(b) : NULL;
  tu_check(type && !strcmp(type, "gan"), "model type: %s", type ? type : "(none)");
  mg_checkpoint_free(a);
  mg_checkpoint_free(b);
}

/* The EMA's batch-norm statistics in the checkpoint are those of the EMA weights: block 0's input is z itself, so
 * its pre-norm activation h[n,c,y,x] = sum_l z[n,l] W[l,c,y,x] (a transposed conv from 1x1) is computed here in
 * double, per batch of the documented latents; the mean and unbiased variance per channel, averaged over the
 * batches, must match. */
static void test_standing_statistics(void) {
  mg_checkpoint *ck = tu_load_checkpoint(path_of("full.safetensors"));
  if (!ck) return;
  mg_checkpoint_tensor w, mean, var, raw_mean, raw_w;
  bool found = mg_checkpoint_find(ck, "ema.blocks.0.conv.weight", &w) == MG_OK &&
               mg_checkpoint_find(ck, "ema.blocks.0.norm.running_mean", &mean) == MG_OK &&
               mg_checkpoint_find(ck, "ema.blocks.0.norm.running_var", &var) == MG_OK &&
               mg_checkpoint_find(ck, "generator.blocks.0.norm.running_mean", &raw_mean) == MG_OK &&
               mg_checkpoint_find(ck, "generator.blocks.0.conv.weight", &raw_w) == MG_OK;
  if (!tu_check(found && w.ndim == 4 && w.shape[0] == L && w.shape[2] == 4, "block 0 tensors missing or misshapen")) {
    mg_checkpoint_free(ck);
    return;
  }
  tu_check(memcmp(w.data, raw_w.data, (size_t)w.numel * 4) != 0, "the EMA equals the raw weights: nothing to test");
  const int C = (int)w.shape[1];
  double *want_mean = calloc((size_t)C, sizeof(double)), *want_var = calloc((size_t)C, sizeof(double));
  float *z = malloc(STANDING_BATCH * L * sizeof *z);
  double *h = malloc((size_t)STANDING_BATCH * C * 16 * sizeof *h);
  mg_ctx *ctx = tu_ctx(1);
  for (int k = 0; k < STANDING_BATCHES; k++) {
    tu_check(mg_diffusion_noise(ctx, STANDING_SEED, (int64_t)k * STANDING_BATCH, STANDING_BATCH, L, 0, z) == MG_OK,
             "noise: %s", mg_context_error(ctx));
    for (int n = 0; n < STANDING_BATCH; n++)
      for (int c = 0; c < C; c++)
        for (int p = 0; p < 16; p++) {
          double acc = 0;
          for (int l = 0; l < L; l++) acc += (double)z[n * L + l] * w.data[((size_t)l * C + c) * 16 + p];
          h[((size_t)n * C + c) * 16 + p] = acc;
        }
    for (int c = 0; c < C; c++) {
      double s = 0, ss = 0;
      for (int n = 0; n < STANDING_BATCH; n++)
        for (int p = 0; p < 16; p++) s += h[((size_t)n * C + c) * 16 + p];
      double mu = s / (STANDING_BATCH * 16);
      for (int n = 0; n < STANDING_BATCH; n++)
        for (int p = 0; p < 16; p++) ss += pow(h[((size_t)n * C + c) * 16 + p] - mu, 2);
      want_mean[c] += mu / STANDING_BATCHES;
      want_var[c] += ss / (STANDING_BATCH * 16 - 1) / STANDING_BATCHES;
    }
  }
  double worst = 0;
  for (int c = 0; c < C; c++) {
    worst = tu_worse(worst, fabs(mean.data[c] - want_mean[c]) / (1e-5 + 1e-4 * sqrt(want_var[c])));
    worst = tu_worse(worst, fabs(var.data[c] - want_var[c]) / (1e-6 + 1e-4 * want_var[c]));
  }
  tu_check(worst <= 1, "EMA batch-norm statistics of block 0: %g times the tolerance from the direct computation",
           worst);
  tu_check(memcmp(mean.data, raw_mean.data, (size_t)C * 4) != 0, "the EMA's statistics are the generator's own");
  free(want_mean), free(want_var), free(z), free(h);
  mg_context_free(ctx);
  mg_checkpoint_free(ck);
}

static bool differ(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof *a) != 0; }

static void test_sampling(void) {
  enum { N = 5 };
  mg_checkpoint *ck = tu_load_checkpoint(path_of("full.safetensors"));
  if (!ck) return;
  static float a[N * S * S], b[N * S * S], c[N * S * S];
  int32_t want[N] = {0, 1, 0, 1, 0};
  mg_ctx *c1 = tu_ctx(1), *c2 = tu_ctx(2);
  mg_gan *m1 = NULL, *m2 = NULL;
  tu_check(mg_gan_load(c1, ck, MG_WEIGHTS_EMA, &m1) == MG_OK, "load EMA: %s", mg_context_error(c1));
  tu_check(mg_gan_load(c2, ck, MG_WEIGHTS_EMA, &m2) == MG_OK, "load EMA: %s", mg_context_error(c2));
  if (!m1 || !m2) goto done;
  tu_check(mg_gan_discriminator_parameter_count(m1) == 0 && mg_gan_step(m1) == STEPS &&
               mg_gan_class_index(m1, "bar") == 1 && !strcmp(mg_gan_class_name(m1, 0), "disk"),
           "what a loaded model says about itself");
  mg_gan_sample_options so = mg_gan_default_sample_options();
  so.seed = 7;
  so.batch = N;
  mg_rng_seed(c1, 1234);
  mg_rng_set_offset(c1, 99);
  tu_check(mg_gan_sample(m1, &so, N, want, a, NULL, NULL) == MG_OK, "sample: %s", mg_context_error(c1));
  tu_check(mg_rng_seed_value(c1) == 1234 && mg_rng_offset(c1) == 99, "sampling moved the context's stream");
  tu_check(mg_gan_sample(m2, &so, N, want, b, NULL, NULL) == MG_OK, "sample: %s", mg_context_error(c2));
  tu_check(!differ(a, b, N * S * S), "same seed, other thread count: different images");
  /* default classes cycle i % classes; sampling is latents + generate */
  float z[N * L];
  tu_check(mg_gan_latents(m2, 7, 0, N, 0, z) == MG_OK, "latents: %s", mg_context_error(c2));
  tu_check(mg_gan_generate(m2, N, z, NULL, N, c) == MG_OK, "generate: %s", mg_context_error(c2));
  tu_check(!differ(a, c, N * S * S), "labels NULL must give classes 0, 1, 0, ... as sample's explicit ones");
  so.batch = 2;
  tu_check(mg_gan_sample(m2, &so, N, want, b, NULL, NULL) == MG_OK, "sample: %s", mg_context_error(c2));
  double worst = 0;
  for (int i = 0; i < N * S * S; i++) worst = tu_worse(worst, fabs(a[i] - b[i]) / 50.0); /* in the model's scale */
  tu_check(worst <= 1e-5, "batch 5 vs batch 2: largest difference %g", worst);
  so.seed = 8;
  tu_check(mg_gan_sample(m2, &so, N, want, c, NULL, NULL) == MG_OK, "sample: %s", mg_context_error(c2));
  tu_check(differ(a, c, S * S), "seeds 7 and 8 gave the same first image");
  float lo = a[0], hi = a[0];
  for (int i = 0; i < N * S * S; i++) lo = fminf(lo, a[i]), hi = fmaxf(hi, a[i]);
  tu_check(lo >= 50 && hi <= 150 && hi > lo, "values span [%g, %g], expected inside [50, 150]", lo, hi);
  /* the class reaches the output */
  int32_t ones[N] = {1, 1, 1, 1, 1};
  so.seed = 7;
  so.batch = N;
  tu_check(mg_gan_sample(m2, &so, N, ones, c, NULL, NULL) == MG_OK, "sample: %s", mg_context_error(c2));
  tu_check(differ(a, c, S * S), "classes 0 and 1 gave the same image");
  /* the raw generator is another */
  mg_gan *raw = NULL;
  tu_check(mg_gan_load(c2, ck, MG_WEIGHTS_RAW, &raw) == MG_OK, "load raw: %s", mg_context_error(c2));
  if (raw) {
    tu_check(mg_gan_sample(raw, &so, N, want, c, NULL, NULL) == MG_OK, "sample: %s", mg_context_error(c2));
    tu_check(differ(a, c, N * S * S), "EMA and raw weights gave the same images");
    mg_gan_free(raw);
  }
  /* bad requests name the problem */
  int32_t bad[2] = {0, CLASSES};
  tu_check(mg_gan_generate(m2, 2, z, bad, 2, c) == MG_ERR_INVALID_ARGUMENT && strstr(mg_context_error(c2), "class 2"),
           "out-of-range class: %s", mg_context_error(c2));
  bad[1] = -1;
  tu_check(mg_gan_sample(m2, &so, 2, bad, c, NULL, NULL) == MG_ERR_INVALID_ARGUMENT &&
               strstr(mg_context_error(c2), "class -1"),
           "negative class: %s", mg_context_error(c2));
  tu_check(mg_gan_generate(m2, 2, z, NULL, 0, c) == MG_ERR_INVALID_ARGUMENT && strstr(mg_context_error(c2), "batch"),
           "batch 0: %s", mg_context_error(c2));
  mg_dataset data = tiny_data();
  tu_check(mg_gan_train(m2, &data, NULL, NULL) == MG_ERR_INVALID_ARGUMENT && strstr(mg_context_error(c2), "sampling only"),
           "training a sampling-only model: %s", mg_context_error(c2));
  char err[512];
  tu_check(mg_gan_save(m2, path_of("x.safetensors"), err, sizeof err) == MG_ERR_INVALID_ARGUMENT, "saving a "
           "sampling-only model: %s", err);
done:
  mg_gan_free(m1);
  mg_gan_free(m2);
  mg_context_free(c1);
  mg_context_free(c2);
  mg_checkpoint_free(ck);
}

static void test_truncation(void) {
  enum { N = 6 };
  mg_ctx *ctx = tu_ctx(2);
  mg_gan_config cfg = tiny_config(0);
  mg_gan *m = NULL;
  tu_check(mg_gan_create(ctx, &cfg, NULL, &m) == MG_OK, "create: %s", mg_context_error(ctx));
  if (!m) return;
  float plain[N * L], direct[N * L], cut[N * L], part[2 * L];
  tu_check(mg_gan_latents(m, 3, 0, N, 0, plain) == MG_OK, "latents: %s", mg_context_error(ctx));
  tu_check(mg_diffusion_noise(ctx, 3, 0, N, L, 0, direct) == MG_OK, "noise: %s", mg_context_error(ctx));
  tu_check(!differ(plain, direct, N * L), "truncation 0 must be the plain standard normal draw");
  const double t = 0.5;
  tu_check(mg_gan_latents(m, 3, 0, N, t, cut) == MG_OK, "latents: %s", mg_context_error(ctx));
  int outside = 0, changed_inside = 0, redrawn = 0;
  for (int i = 0; i < N * L; i++) {
    outside += !(fabs(cut[i]) <= t);
    changed_inside += fabs(plain[i]) <= t && cut[i] != plain[i];
    redrawn += fabs(plain[i]) > t && cut[i] != plain[i];
  }
  tu_check(outside == 0, "%d components beyond the truncation %g", outside, t);
  tu_check(changed_inside == 0 && redrawn > 0, "%d in-range components changed, %d redrawn", changed_inside, redrawn);
  /* image i's latent depends only on (seed, i) */
  tu_check(mg_gan_latents(m, 3, 4, 2, t, part) == MG_OK, "latents: %s", mg_context_error(ctx));
  tu_check(!differ(part, cut + 4 * L, 2 * L), "images 4 and 5 drawn alone differ from the same in a batch of 6");
  tu_check(mg_gan_latents(m, 3, 0, N, -1, cut) == MG_ERR_INVALID_ARGUMENT && strstr(mg_context_error(ctx), "truncation"),
           "negative truncation: %s", mg_context_error(ctx));
  /* an unconditional model takes no class */
  int32_t zero[1] = {0};
  static float out[S * S];
  tu_check(mg_gan_generate(m, 1, plain, zero, 1, out) == MG_ERR_INVALID_ARGUMENT &&
               strstr(mg_context_error(ctx), "unconditional"),
           "labels for an unconditional model: %s", mg_context_error(ctx));
  mg_gan_free(m);
  mg_context_free(ctx);
}

/* ADA: on 4 images the discriminator soon scores every real image positive (r_t > target), so p rises from 0;
 * with ada off p stays where it started. */
static void test_ada(void) {
  mg_dataset data = {4, 1, S, images, NULL, 0, NULL, 0.0, 1.0};
  for (int ada = 1; ada >= 0; ada--) {
    mg_ctx *ctx = tu_ctx(2);
    mg_gan_config cfg = tiny_config(0);
    mg_gan_train_options o = mg_gan_default_train_options();
    o.batch = 8;
    o.steps = 16;
    o.lr_g = o.lr_d = 2e-3;
    o.ada = ada;
    o.ada_kimg = 0.32; /* 32 images per window: p moves by 0.1 */
    o.loss = ada ? MG_GAN_HINGE : MG_GAN_BCE;
    o.seed = 2;
    mg_gan *m = NULL;
    watch w = {0, 0, ctx, 0, 0};
    tu_check(mg_gan_create(ctx, &cfg, &o, &m) == MG_OK, "create: %s", mg_context_error(ctx));
    tu_check(m && mg_gan_train(m, &data, watch_progress, &w) == MG_OK, "train: %s", mg_context_error(ctx));
    mg_gan_training_state st = mg_gan_training_state_of(m);
    printf("  ada %d (%s): p %g, r_t %g, losses %g %g\n", ada, mg_gan_loss_name(o.loss), st.augment_p, st.real_sign,
           st.d_loss, st.g_loss);
    tu_check(w.non_finite == 0 && isfinite(st.d_loss) && isfinite(st.g_loss), "non-finite losses");
    /* p > 0 (augmentation on) from step 5: steady state from there */
    tu_check(w.heap_at_end == w.heap_at_6, "steps 7 to 16 made %lld heap allocations",
             (long long)(w.heap_at_end - w.heap_at_6));
    tu_check(st.real_sign >= -1 && st.real_sign <= 1, "r_t %g", st.real_sign);
    if (ada) tu_check(st.augment_p > 0 && st.real_sign > o.ada_target, "ADA: p %g, r_t %g", st.augment_p, st.real_sign);
    else tu_check(st.augment_p == 0, "ADA off moved p to %g", st.augment_p);
    mg_gan_free(m);
    mg_context_free(ctx);
  }
}

static float times_1e30(float value) { return value * 1e30f; }

/* A discriminator blown up (its projection embedding, which spectral norm does not bound, 1e30 times larger, as a
 * run gone wrong would leave it) makes the gradients overflow: training stops with MG_ERR_NUMERIC naming the step,
 * and the last checkpoint stays byte for byte. */
static void test_divergence(void) {
  const char *path = path_of("diverging.safetensors");
  if (!tu_copy_checkpoint(path_of("full.safetensors"), path, "discriminator.embed.weight", times_1e30)) return;
  static char before[1 << 20], after[1 << 20];
  size_t n_before = tu_read_file(path, before, sizeof before);
  mg_ctx *ctx = tu_ctx(2);
  mg_gan *m = NULL;
  mg_checkpoint *ck = tu_load_checkpoint(path);
  tu_check(ck && mg_gan_load(ctx, ck, MG_WEIGHTS_TRAINING, &m) == MG_OK, "load: %s", mg_context_error(ctx));
  if (m) {
    mg_gan_train_options o = mg_gan_train_options_of(m);
    o.steps = STEPS + 2;
    o.checkpoint_every = 1;
    o.checkpoint_path = path;
    mg_gan_set_train_options(m, &o);
    mg_dataset data = tiny_data();
    mg_status s = mg_gan_train(m, &data, NULL, NULL);
    const char *msg = mg_context_error(ctx);
    printf("  %s\n", msg);
    tu_check(s == MG_ERR_NUMERIC && strstr(msg, "diverged at step 9") && strstr(msg, "last checkpoint is kept"),
             "divergence: status %d, message: %s", (int)s, msg);
  }
  size_t n_after = tu_read_file(path, after, sizeof after);
  tu_check(n_before > 0 && n_before < sizeof before && n_before == n_after && !memcmp(before, after, n_before),
           "the checkpoint changed after the divergence");
  mg_gan_free(m);
  mg_checkpoint_free(ck);
  mg_context_free(ctx);
}

/* mg_params_set_trainable: a frozen network passes gradients through to its input but computes none for its
 * weights; buffers are never trainable. */
static void test_set_trainable(void) {
  mg_ctx *ctx = tu_ctx(1);
  mg_params *p = mg_params_new(ctx);
  mg_tensor *w = mg_param(p, "w", 2, (int[]){3, 2}), *stat = mg_buffer(p, "stat", 1, (int[]){3});
  mg_tensor *x = tu_random(ctx, 2, (int[]){4, 2}, -1, 1, true);
  mg_fill(ctx, w, 0.5);
  mg_params_set_trainable(p, false);
  tu_check(!w->requires_grad && !stat->requires_grad, "frozen: w %d, buffer %d", w->requires_grad,
           stat->requires_grad);
  mg_step_begin(ctx);
  mg_backward(ctx, mg_sum(ctx, mg_linear(ctx, x, w, NULL)));
  tu_check(tu_ctx_ok(ctx, "backward through a frozen layer") && x->grad && !w->grad,
           "frozen layer: input gradient %s, weight gradient %s", x->grad ? "computed" : "missing",
           w->grad ? "computed" : "none");
  mg_params_set_trainable(p, true);
  tu_check(w->requires_grad && !stat->requires_grad, "thawed: w %d, buffer %d", w->requires_grad, stat->requires_grad);
  mg_context_free(ctx);
}

static void test_errors(void) {
  mg_ctx *ctx = tu_ctx(1);
  mg_gan *m = NULL;
  /* a diffusion model's checkpoint, and what mg_checkpoint_model_type says of others */
  const char *ddpm = path_of("ddpm.safetensors"), *classifier = path_of("classifier.safetensors");
  const char *none = path_of("none.safetensors");
  tu_write_metadata_only(ddpm, (const char *[]){"model.type", "ddpm", "model.config", "{}", NULL});
  tu_write_metadata_only(classifier,
                         (const char *[]){"model.config", "{\"model\":\"classifier\",\"image_size\":32}", NULL});
  tu_write_metadata_only(none, (const char *[]){NULL});
  mg_checkpoint *ck = tu_load_checkpoint(ddpm), *cc = tu_load_checkpoint(classifier), *cn = tu_load_checkpoint(none);
  tu_check(ck && mg_gan_load(ctx, ck, MG_WEIGHTS_EMA, &m) == MG_ERR_FORMAT && !m &&
               strstr(mg_context_error(ctx), ddpm) && strstr(mg_context_error(ctx), "not a GAN"),
           "DDPM checkpoint loaded as a GAN: %s", mg_context_error(ctx));
  const char *t1 = mg_checkpoint_model_type(ck), *t2 = mg_checkpoint_model_type(cc), *t3 = mg_checkpoint_model_type(cn);
  tu_check(t1 && !strcmp(t1, "ddpm") && t2 && !strcmp(t2, "classifier") && !t3, "model types: %s %s %s",
           t1 ? t1 : "NULL", t2 ? t2 : "NULL", t3 ? t3 : "NULL");
  mg_checkpoint_free(ck);
  mg_checkpoint_free(cc);
  mg_checkpoint_free(cn);

  /* bad options and configurations are named */
  mg_gan_config cfg = tiny_config(CLASSES);
  struct {
    const char *field;
    mg_gan_train_options o;
  } bad[7];
  for (int i = 0; i < 7; i++) bad[i].o = tiny_options(NULL, 0);
  bad[0].field = "batch", bad[0].o.batch = 0;
  bad[1].field = "lr_d", bad[1].o.lr_d = 0;
  bad[2].field = "beta2", bad[2].o.beta2 = 1;
  bad[3].field = "augment_p", bad[3].o.augment_p = 1;
  bad[4].field = "ada_kimg", bad[4].o.ada_kimg = 0;
  bad[5].field = "loss", bad[5].o.loss = (mg_gan_loss)7;
  bad[6].field = "ema_decay", bad[6].o.ema_decay = NAN;
  for (int i = 0; i < 7; i++)
    tu_check(mg_gan_create(ctx, &cfg, &bad[i].o, &m) == MG_ERR_INVALID_ARGUMENT && !m &&
                 strstr(mg_context_error(ctx), bad[i].field),
             "bad %s: %s", bad[i].field, mg_context_error(ctx));
  cfg.width = 3;
  tu_check(mg_gan_create(ctx, &cfg, NULL, &m) == MG_ERR_INVALID_ARGUMENT && strstr(mg_context_error(ctx), "width"),
           "bad width: %s", mg_context_error(ctx));
  cfg = tiny_config(CLASSES);
  mg_gan_train_options o = tiny_options(NULL, 0);
  tu_check(mg_gan_create(ctx, &cfg, &o, &m) == MG_OK, "create: %s", mg_context_error(ctx));
  if (m) {
    mg_gan_train_options changed = o;
    changed.lr_g = 1e-4;
    tu_check(mg_gan_set_train_options(m, &changed) == MG_ERR_INVALID_ARGUMENT && strstr(mg_context_error(ctx), "fixed"),
             "changing a fixed option: %s", mg_context_error(ctx));
    tu_check(mg_gan_set_note(m, "origin", "x") == MG_ERR_INVALID_ARGUMENT && mg_gan_set_note(m, "run.origin", "x") == MG_OK &&
                 !strcmp(mg_gan_note(m, "run.origin"), "x"),
             "notes");
    /* unconditional data for a conditional model */
    mg_dataset data = tiny_data();
    data.labels = NULL;
    tu_check(mg_gan_train(m, &data, NULL, NULL) == MG_ERR_INVALID_ARGUMENT && strstr(mg_context_error(ctx), "classes"),
             "unlabelled data: %s", mg_context_error(ctx));
    mg_gan_free(m);
  }
  tu_check(mg_gan_loss_from_name("bce") == MG_GAN_BCE && !strcmp(mg_gan_loss_name(MG_GAN_HINGE), "hinge") &&
               mg_gan_loss_from_name("wgan") == -1,
           "loss names");
  mg_context_free(ctx);
}

int main(void) {
  /* two recognisable classes with per-image variation, in [-1, 1] */
  tu_seed(17);
  for (int i = 0; i < COUNT; i++) {
    labels[i] = i % CLASSES;
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++) {
        double v = labels[i] == 0 ? ((x - 15.5) * (x - 15.5) + (y - 15.5) * (y - 15.5) < 40 + 8 * (i % 4) ? 0.8 : -0.8)
                                  : (y / 8 == i % 4 ? 0.8 : -0.8);
        v += tu_uniform(-0.15, 0.15);
        images[i * S * S + y * S + x] = (float)(v > 1 ? 1 : v < -1 ? -1 : v);
      }
  }
  if (!mkdtemp(dir)) return tu_skip("cannot create a temporary folder");
  test_training_and_resume();
  test_standing_statistics();
  test_sampling();
  test_truncation();
  test_ada();
  test_divergence();
  test_errors();
  test_set_trainable();
  const char *files[] = {"init", "full", "every", "part", "diverging", "ddpm", "classifier", "none", "x"};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s.safetensors", dir, files[i]);
    remove(p);
  }
  rmdir(dir);
  return tu_finish();
}
