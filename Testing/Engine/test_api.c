/* test_api.c: the public C API (medgen.h) on its own: this file includes nothing else from MedGen, to prove a
 * program can train a diffusion model, cancel, denoise and save through it. Small synthetic images (smooth random
 * blobs, 16x16), a tiny UNet and a handful of steps keep it to a few seconds.
 * - train: the progress callback runs once per step, steps 1..total in order, finite losses;
 * - a callback returning non-zero at step 3 cancels: MG_ERR_CANCELLED with a message, 3 steps done;
 * - bad inputs (NULL images, count 0, a size mismatch, NaN or out-of-range pixels, bad options or configs) are
 *   refused by mg_ddpm_create, mg_ddpm_train and mg_ddpm_denoise with MG_ERR_INVALID_ARGUMENT and a message;
 * - mg_ddpm_denoise: noisy = clean + noise of std sqrt((1 - abar) / abar) (abar from an independent computation of
 *   the linear schedule); the x0 estimate of an untrained network (zero output, eps = 0 or v = 0) matches the
 *   closed forms; bit-identical with 1 and 2 threads (two contexts); image i's result the same alone or in a
 *   batch; a training model uses its current weights; and denoising between training calls leaves the run as it
 *   would have been;
 * - save writes a file mg_checkpoint_load accepts with model./ema./optim. tensors and the metadata; a save into a
 *   missing folder fails with a message and leaves no temporary file.
 * Its test helpers come from test_check.h, which has no engine dependency. */
#include "medgen.h"
#include "test_check.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { N = 20, TRAIN_N = 8, S = 16, PER = S * S, STEPS = 6 };

/* N images of S x S: each a Gaussian blob of random centre, width and brightness on a dark background, in [-1,1].
 * Host random numbers (splitmix64), independent of the engine. */
static void make_blobs(float *img) {
  for (int n = 0; n < N; n++) {
    double cx = 4 + 8 * tu_uniform(0, 1), cy = 4 + 8 * tu_uniform(0, 1), r = 2 + 3 * tu_uniform(0, 1);
    double peak = 0.5 + 0.5 * tu_uniform(0, 1);
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++) {
        double d2 = ((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (r * r);
        img[(n * S + y) * S + x] = (float)(-1.0 + 2.0 * peak * exp(-0.5 * d2));
      }
  }
}

/* A tiny UNet: 8 and 16 channels at 16 and 8 pixels, attention at 8x8 and in the middle. */
static mg_ddpm_config tiny_config(void) {
  mg_ddpm_config c;
  char err[256];
  if (mg_ddpm_default_config("unet-s", &c, err, sizeof err) != MG_OK) {
    printf("FAIL: mg_ddpm_default_config: %s\n", err);
    exit(1);
  }
  c.unet = (mg_unet_config){.image_size = S, .in_channels = 1, .base_channels = 8, .levels = 2,
                            .channel_mult = {1, 2}, .res_blocks = 1, .attention = {0, 1}, .mid_attention = 1,
                            .head_channels = 8, .groups = 4, .temb_channels = 16};
  return c;
}

static mg_ddpm_train_options small_options(void) {
  mg_ddpm_train_options o = mg_ddpm_default_train_options();
  o.batch = 4;
  o.steps = STEPS;
  o.learning_rate = 1e-3;
  o.warmup_steps = 2;
  o.checkpoint_every = 0;
  o.seed = 7;
  return o;
}

static mg_dataset dataset(const float *images) {
  return (mg_dataset){.count = TRAIN_N, .channels = 1, .size = S, .images = images, .norm_scale = 1};
}

static mg_ddpm *new_model(mg_ctx *ctx, const mg_ddpm_config *c, const mg_ddpm_train_options *o) {
  mg_ddpm *m = NULL;
  mg_status s = mg_ddpm_create(ctx, c, o, &m);
  tu_check(s == MG_OK && m, "mg_ddpm_create: %s", mg_context_error(ctx));
  return m;
}

/* linear schedule (1e-4 to 0.02 over T = 1000, as torch.linspace): abar(t) = prod_{s <= t} (1 - beta_s) */
static double alpha_bar(int t) {
  double a = 1;
  for (int s = 0; s <= t; s++) a *= 1 - (1e-4 + (0.02 - 1e-4) * s / 999.0);
  return a;
}

/* ---- progress callbacks ---- */
typedef struct progress_log {
  int calls, cancel_at;
  bool in_order, finite, stage_ok, total_ok;
  double last_elapsed;
} progress_log;

static int record(void *user, const mg_progress *p) {
  progress_log *log = user;
  log->calls++;
  log->in_order = log->in_order && p->step == log->calls && p->elapsed_s >= log->last_elapsed;
  log->finite = log->finite && isfinite(p->loss) && p->loss > 0;
  log->stage_ok = log->stage_ok && p->stage && !strcmp(p->stage, "train");
  log->total_ok = log->total_ok && p->total == STEPS;
  log->last_elapsed = p->elapsed_s;
  return log->cancel_at > 0 && p->step >= log->cancel_at;
}

static progress_log new_log(int cancel_at) { return (progress_log){0, cancel_at, true, true, true, true, 0}; }

/* ---- the tests ---- */
static mg_ddpm *test_train(mg_ctx *ctx, const float *images) {
  mg_ddpm_config c = tiny_config();
  mg_ddpm_train_options o = small_options();
  mg_ddpm *m = new_model(ctx, &c, &o);
  if (!m) return NULL;
  mg_ddpm_set_note(m, "run.origin", "test_api");
  progress_log log = new_log(0);
  mg_dataset d = dataset(images);
  mg_status s = mg_ddpm_train(m, &d, record, &log);
  tu_check(s == MG_OK, "train: status %s: %s", mg_status_string(s), mg_context_error(ctx));
  tu_check(log.calls == STEPS, "train: %d progress calls for %d steps", log.calls, STEPS);
  tu_check(log.in_order, "train: progress steps must run 1..%d in order with non-decreasing elapsed time", STEPS);
  tu_check(log.finite, "train: every reported loss must be finite and positive");
  tu_check(log.stage_ok && log.total_ok, "train: stage must be \"train\" and total %d", STEPS);
  tu_check(mg_ddpm_step(m) == STEPS, "train: %lld steps done, expected %d", (long long)mg_ddpm_step(m), STEPS);
  tu_check(mg_ddpm_parameter_count(m) > 1000, "parameter count %lld", (long long)mg_ddpm_parameter_count(m));
  return m;
}

static void test_cancel(mg_ctx *ctx, const float *images) {
  mg_ddpm_config c = tiny_config();
  mg_ddpm_train_options o = small_options();
  mg_ddpm *m = new_model(ctx, &c, &o);
  if (!m) return;
  progress_log log = new_log(3);
  mg_dataset d = dataset(images);
  mg_status s = mg_ddpm_train(m, &d, record, &log);
  tu_check(s == MG_ERR_CANCELLED, "cancel: status %s, expected cancelled", mg_status_string(s));
  tu_check(log.calls == 3 && mg_ddpm_step(m) == 3, "cancel: %d progress calls and %lld steps, expected 3",
           log.calls, (long long)mg_ddpm_step(m));
  tu_check(strstr(mg_context_error(ctx), "cancel") != NULL, "cancel: message '%s'", mg_context_error(ctx));
  mg_ddpm_free(m);
}

/* A refused call: MG_ERR_INVALID_ARGUMENT and a message containing `says`. */
static void expect_refused(mg_ctx *ctx, mg_status s, const char *what, const char *says) {
  const char *msg = mg_context_error(ctx);
  tu_check(s == MG_ERR_INVALID_ARGUMENT, "%s: status %s, expected invalid argument", what, mg_status_string(s));
  tu_check(strstr(msg, says) != NULL, "%s: message '%s' should mention '%s'", what, msg, says);
}

static void expect_create_refused(mg_ctx *ctx, const char *what, const mg_ddpm_config *c,
                                  const mg_ddpm_train_options *o, const char *says) {
  mg_ddpm *m = (mg_ddpm *)&what;
  expect_refused(ctx, mg_ddpm_create(ctx, c, o, &m), what, says);
  tu_check(m == NULL, "%s: *out must be NULL", what);
}

static void test_bad_inputs(mg_ctx *ctx, const float *images) {
  mg_ddpm_config c = tiny_config(), bad_c = c;
  mg_ddpm_train_options o = small_options(), bad_o = o;
  bad_o.learning_rate = NAN;
  expect_create_refused(ctx, "NaN learning rate", &c, &bad_o, "learning rate");
  bad_o = o;
  bad_o.steps = 0;
  expect_create_refused(ctx, "0 steps", &c, &bad_o, "steps");
  bad_o = o;
  bad_o.batch = 0;
  expect_create_refused(ctx, "batch 0", &c, &bad_o, "batch");
  bad_c.unet.groups = 3;
  expect_create_refused(ctx, "3 groups", &bad_c, &o, "groups");
  bad_c = c;
  bad_c.unet.image_size = 31;
  expect_create_refused(ctx, "size 31", &bad_c, &o, "image_size");
  bad_c = c;
  bad_c.timesteps = 5;
  expect_create_refused(ctx, "5 timesteps", &bad_c, &o, "T = 5");
  expect_create_refused(ctx, "no config", NULL, &o, "config");

  mg_ddpm *m = new_model(ctx, &c, &o);
  if (!m) return;
  mg_dataset d = dataset(NULL);
  expect_refused(ctx, mg_ddpm_train(m, &d, NULL, NULL), "NULL images", "no training images");
  d = dataset(images);
  d.count = 0;
  expect_refused(ctx, mg_ddpm_train(m, &d, NULL, NULL), "count 0", "at least one");
  d = dataset(images);
  d.size = 8;
  expect_refused(ctx, mg_ddpm_train(m, &d, NULL, NULL), "8x8 images for a 16x16 model", "16x16");
  float *bad = malloc(sizeof(float) * N * PER);
  memcpy(bad, images, sizeof(float) * N * PER);
  bad[2 * PER + 5 * S + 3] = NAN;
  d = dataset(bad);
  expect_refused(ctx, mg_ddpm_train(m, &d, NULL, NULL), "NaN pixel", "image 2 ");
  bad[2 * PER + 5 * S + 3] = 0;
  bad[7 * PER] = 255; /* an 8-bit value, not scaled */
  expect_refused(ctx, mg_ddpm_train(m, &d, NULL, NULL), "pixel 255", "[-1, 1]");
  tu_check(mg_ddpm_step(m) == 0, "refused training calls must not train");

  const int t[N] = {0};
  float *out = malloc(sizeof(float) * N * PER);
  expect_refused(ctx, mg_ddpm_denoise(m, NULL, 1, t, NULL, 1, NULL, out), "denoise NULL images", "images is NULL");
  expect_refused(ctx, mg_ddpm_denoise(m, images, 1, NULL, NULL, 1, NULL, out), "denoise NULL timesteps",
                 "timesteps is NULL");
  expect_refused(ctx, mg_ddpm_denoise(m, images, 1, t, NULL, 1, NULL, NULL), "denoise NULL denoised",
                 "denoised is NULL");
  expect_refused(ctx, mg_ddpm_denoise(m, images, 0, t, NULL, 1, NULL, out), "denoise count 0", "at least one");
  expect_refused(ctx, mg_ddpm_denoise(m, bad, N, t, NULL, 1, NULL, out), "denoise pixel 255", "image 7 ");
  const int late[2] = {0, 1000}, early[2] = {-1, 0};
  expect_refused(ctx, mg_ddpm_denoise(m, images, 2, late, NULL, 1, NULL, out), "denoise timestep 1000",
                 "timesteps[1] = 1000");
  expect_refused(ctx, mg_ddpm_denoise(m, images, 2, early, NULL, 1, NULL, out), "denoise timestep -1",
                 "timesteps[0] = -1");
  const int32_t labels[1] = {0};
  expect_refused(ctx, mg_ddpm_denoise(m, images, 1, t, labels, 1, NULL, out), "denoise a class", "unconditional");
  free(out);
  free(bad);
  mg_ddpm_free(m);
}

/* An untrained network predicts exactly 0 (its output conv starts at zero), so the x0 estimate is the closed form
 * of x_t alone: x_t / sqrt(abar) for epsilon, sqrt(abar) x_t = abar * noisy for v. And noisy - clean is the added
 * noise on the clean image's scale: standard deviation sqrt((1 - abar) / abar). */
static void test_denoise_formulas(const float *images) {
  const int ts[8] = {0, 50, 100, 200, 400, 600, 800, 999};
  float noisy[8 * PER], denoised[8 * PER];
  for (int p = 0; p < 2; p++) {
    mg_ctx *ctx = tu_ctx(2);
    mg_ddpm_config c = tiny_config();
    c.prediction = p ? MG_PREDICT_V : MG_PREDICT_EPSILON;
    mg_ddpm_train_options o = small_options();
    mg_ddpm *m = new_model(ctx, &c, &o);
    mg_status s = m ? mg_ddpm_denoise(m, images, 8, ts, NULL, 5, noisy, denoised) : MG_ERR_INTERNAL;
    if (tu_check(s == MG_OK, "denoise (untrained, %s): %s", p ? "v" : "epsilon", mg_context_error(ctx))) {
      double worst = 0;
      for (int i = 0; i < 8; i++) {
        double ab = alpha_bar(ts[i]), sigma = sqrt((1 - ab) / ab), ss = 0;
        for (int j = i * PER; j < (i + 1) * PER; j++) {
          double z = (noisy[j] - images[j]) / sigma, want = p ? ab * noisy[j] : noisy[j];
          want = want < -1 ? -1 : want > 1 ? 1 : want;
          ss += z * z;
          worst = fmax(worst, fabs(denoised[j] - want));
        }
        double sd = sqrt(ss / PER); /* 256 standard normals: std within 1 +- 0.2 (4.5 sigma) */
        tu_check(sd > 0.8 && sd < 1.2, "timestep %d: the noise has std %.3f of sqrt((1-abar)/abar), expected 1",
                 ts[i], sd);
      }
      tu_check(worst < 1e-5, "%s prediction 0: the x0 estimate is off its closed form by %g", p ? "v" : "epsilon",
               worst);
    }
    mg_ddpm_free(m);
    mg_context_free(ctx);
  }
}

/* Trains the small model in a new context with `threads` threads; *ctx receives the context. */
static mg_ddpm *trained_model(int threads, const float *images, mg_ctx **ctx) {
  *ctx = tu_ctx(threads);
  mg_ddpm_config c = tiny_config();
  mg_ddpm_train_options o = small_options();
  mg_ddpm *m = new_model(*ctx, &c, &o);
  mg_dataset d = dataset(images);
  mg_status s = m ? mg_ddpm_train(m, &d, NULL, NULL) : MG_ERR_INTERNAL;
  tu_check(s == MG_OK, "train with %d threads: %s", threads, mg_context_error(*ctx));
  return m;
}

static bool same(const float *a, const float *b, size_t n) { return !memcmp(a, b, n * sizeof(float)); }

static float max_diff(const float *a, const float *b, size_t n) {
  float d = 0;
  for (size_t i = 0; i < n; i++) d = fmaxf(d, fabsf(a[i] - b[i]));
  return d;
}

static void test_denoise(const float *images, const char *dir) {
  int ts[N];
  for (int i = 0; i < N; i++) ts[i] = 37 * i % 1000;
  const size_t n = (size_t)N * PER;
  float *noisy[2], *clean[2];
  mg_ctx *ctxs[2];
  mg_ddpm *ms[2];
  for (int k = 0; k < 2; k++) {
    ms[k] = trained_model(k + 1, images, &ctxs[k]);
    noisy[k] = malloc(n * sizeof(float));
    clean[k] = malloc(n * sizeof(float));
    mg_status s = ms[k] ? mg_ddpm_denoise(ms[k], images, N, ts, NULL, 42, noisy[k], clean[k]) : MG_ERR_INTERNAL;
    tu_check(s == MG_OK, "denoise with %d threads: %s", k + 1, mg_context_error(ctxs[k]));
  }
  if (!ms[0] || !ms[1]) return;
  tu_check(same(noisy[0], noisy[1], n), "noisy images differ between 1 and 2 threads");
  tu_check(same(clean[0], clean[1], n), "denoised images differ between 1 and 2 threads");
  bool in_range = true;
  for (size_t i = 0; i < n; i++) in_range = in_range && clean[0][i] >= -1.0f && clean[0][i] <= 1.0f;
  tu_check(in_range, "denoised pixels must lie in [-1, 1]");

  mg_ddpm *m = ms[0];
  float *noisy2 = malloc(n * sizeof(float)), *clean2 = malloc(n * sizeof(float));
  /* the same call again: the same bits */
  mg_ddpm_denoise(m, images, N, ts, NULL, 42, noisy2, clean2);
  tu_check(same(noisy2, noisy[0], n) && same(clean2, clean[0], n), "denoising twice must give the same bits");
  /* another seed: other noise */
  mg_ddpm_denoise(m, images, N, ts, NULL, 43, noisy2, clean2);
  tu_check(!same(noisy2, noisy[0], PER), "another seed must give other noise");
  /* Image i's result does not depend on how many images come along: 17 images put image 16 alone in the second
   * batch of 16, 1 image puts image 0 alone in the first. The noise is exactly the same. The network sees batches
   * of another size, which its kernels may sum in another order, so the estimates may differ by float rounding. */
  const int counts[2] = {17, 1};
  for (int k = 0; k < 2; k++) {
    int i = counts[k] - 1;
    mg_status s = mg_ddpm_denoise(m, images, counts[k], ts, NULL, 42, noisy2, clean2);
    tu_check(s == MG_OK && same(noisy2 + (size_t)i * PER, noisy[0] + (size_t)i * PER, PER),
             "the noise of image %d must not depend on the number of images (%d)", i, counts[k]);
    float d = max_diff(clean2 + (size_t)i * PER, clean[0] + (size_t)i * PER, PER);
    tu_check(d < 1e-5f, "image %d alone in its batch: denoised differs by %g from the batch of %d", i, d, N);
  }
  /* copies of one image at one timestep: every copy gets its own noise */
  float *copies = malloc(n * sizeof(float));
  int t_same[N];
  for (int i = 0; i < N; i++) {
    memcpy(copies + (size_t)i * PER, images, PER * sizeof(float));
    t_same[i] = 300;
  }
  mg_status s = mg_ddpm_denoise(m, copies, N, t_same, NULL, 42, noisy2, clean2);
  bool distinct = s == MG_OK;
  for (int i = 1; i < N; i++) distinct = distinct && !same(noisy2, noisy2 + (size_t)i * PER, PER);
  tu_check(distinct, "copies of one image must each get their own noise");
  free(copies);

  /* a training model denoises with its current weights: those it saves under "model." */
  char err[512], path[1024];
  snprintf(path, sizeof path, "%s/denoise.safetensors", dir);
  mg_checkpoint *ck = NULL;
  mg_ddpm *raw = NULL;
  s = mg_ddpm_save(m, path, err, sizeof err);
  if (tu_check(s == MG_OK && mg_checkpoint_load(path, &ck, err, sizeof err) == MG_OK, "save/load: %s", err) &&
      tu_check(mg_ddpm_load(ctxs[0], ck, MG_WEIGHTS_RAW, &raw) == MG_OK, "load raw: %s", mg_context_error(ctxs[0]))) {
    s = mg_ddpm_denoise(raw, images, N, ts, NULL, 42, noisy2, clean2);
    tu_check(s == MG_OK && same(clean2, clean[0], n), "the trained model must denoise with its current weights");
  }
  mg_ddpm_free(raw);
  mg_checkpoint_free(ck);
  remove(path);

  free(noisy2);
  free(clean2);
  for (int k = 0; k < 2; k++) {
    free(noisy[k]);
    free(clean[k]);
    mg_ddpm_free(ms[k]);
    mg_context_free(ctxs[k]);
  }
}

/* Denoising in the middle of a run (cancelled at step 3, then continued) leaves the run as an uninterrupted one:
 * the same weights, so the same denoised bits. */
static void test_denoise_keeps_training(const float *images) {
  mg_ctx *ctx = NULL;
  mg_ddpm *whole = trained_model(1, images, &ctx);
  mg_ddpm_config c = tiny_config();
  mg_ddpm_train_options o = small_options();
  mg_ddpm *split = new_model(ctx, &c, &o);
  mg_dataset d = dataset(images);
  const int ts[4] = {10, 200, 500, 900};
  float a[4 * PER], b[4 * PER];
  progress_log log = new_log(3);
  bool ok = whole && split && mg_ddpm_train(split, &d, record, &log) == MG_ERR_CANCELLED &&
            mg_ddpm_denoise(split, images, 4, ts, NULL, 9, NULL, a) == MG_OK &&
            mg_ddpm_train(split, &d, NULL, NULL) == MG_OK;
  if (tu_check(ok, "train 3 steps, denoise, train 3 more: %s", mg_context_error(ctx))) {
    ok = mg_ddpm_denoise(whole, images, 4, ts, NULL, 9, NULL, a) == MG_OK &&
         mg_ddpm_denoise(split, images, 4, ts, NULL, 9, NULL, b) == MG_OK;
    tu_check(ok && same(a, b, 4 * PER), "denoising between training calls must not change the run");
  }
  mg_ddpm_free(split);
  mg_ddpm_free(whole);
  mg_context_free(ctx);
}

static bool has_temp_file(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return false;
  bool found = false;
  for (struct dirent *e; (e = readdir(d));) found = found || strstr(e->d_name, "tmp") != NULL;
  closedir(d);
  return found;
}

static int count_prefix(const mg_checkpoint *ck, const char *prefix) {
  int n = 0;
  mg_checkpoint_tensor t;
  for (int i = 0; i < mg_checkpoint_tensor_count(ck); i++)
    n += mg_checkpoint_tensor_at(ck, i, &t) == MG_OK && !strncmp(t.name, prefix, strlen(prefix));
  return n;
}

static void test_save(mg_ddpm *m, const char *dir) {
  char path[1024], missing[1024], err[1024];
  snprintf(path, sizeof path, "%s/ddpm.safetensors", dir);
  remove(path);
  mg_status s = mg_ddpm_save(m, path, err, sizeof err);
  tu_check(s == MG_OK, "save: %s", err);
  mg_checkpoint *ck = NULL;
  s = mg_checkpoint_load(path, &ck, err, sizeof err);
  if (tu_check(s == MG_OK, "load of the saved model: %s", err)) {
    mg_checkpoint_tensor t;
    s = mg_checkpoint_find(ck, "model.conv_in.weight", &t);
    tu_check(s == MG_OK && t.ndim == 4 && t.shape[0] == 8 && t.shape[1] == 1 && t.shape[2] == 3 && t.shape[3] == 3,
             "model.conv_in.weight must be [8,1,3,3]");
    int params = count_prefix(ck, "model."), ema = count_prefix(ck, "ema.");
    int moments_m = count_prefix(ck, "optim.m."), moments_v = count_prefix(ck, "optim.v.");
    tu_check(params > 10 && ema == params && moments_m == params && moments_v == params,
             "model./ema./optim.m./optim.v. tensors: %d/%d/%d/%d, expected one of each per parameter", params, ema,
             moments_m, moments_v);
    const char *keys[] = {"medgen.version", "model.type", "model.config", "diffusion.config", "train.config", "step",
                          "rng.seed", "rng.offset", "sampler.state", "data.count", "data.fingerprint",
                          "data.classes", "data.normalization"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
      tu_check(mg_checkpoint_metadata(ck, keys[i]) != NULL, "metadata '%s' is missing", keys[i]);
    const char *type = mg_checkpoint_metadata(ck, "model.type"), *config = mg_checkpoint_metadata(ck, "model.config");
    const char *step = mg_checkpoint_metadata(ck, "step"), *count = mg_checkpoint_metadata(ck, "data.count");
    tu_check(type && !strcmp(type, "ddpm"), "model.type: %s", type ? type : "(absent)");
    tu_check(config && strstr(config, "\"image_size\":16") && strstr(config, "\"base_channels\":8"),
             "model.config: %s", config ? config : "(absent)");
    tu_check(step && !strcmp(step, "6"), "step: %s", step ? step : "(absent)");
    tu_check(count && !strcmp(count, "8"), "data.count: %s", count ? count : "(absent)");
    const char *origin = mg_checkpoint_metadata(ck, "run.origin");
    tu_check(origin && !strcmp(origin, "test_api"), "the run's note must be saved");
    tu_check(!mg_checkpoint_metadata(ck, "medgen.synthetic"), "weights are not synthetic images");
    mg_checkpoint_free(ck);
  }
  tu_check(!has_temp_file(dir), "save left a temporary file in %s", dir);

  snprintf(missing, sizeof missing, "%s/no-such-folder/ddpm.safetensors", dir);
  err[0] = '\0';
  s = mg_ddpm_save(m, missing, err, sizeof err);
  tu_check(s == MG_ERR_IO && strstr(err, "no-such-folder"), "save into a missing folder: %s (%s)",
           mg_status_string(s), err);
  tu_check(!has_temp_file(dir), "a failed save left a temporary file in %s", dir);
  remove(path);
}

int main(int argc, char **argv) {
  tu_seed(12345);
  const char *dir = argc > 1 ? argv[1] : ".";
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
    printf("FAIL: cannot create %s\n", dir);
    return 1;
  }
  float *images = malloc(sizeof(float) * N * PER);
  make_blobs(images);
  mg_ctx *ctx = tu_ctx(2);
  mg_ddpm *m = test_train(ctx, images);
  test_cancel(ctx, images);
  test_bad_inputs(ctx, images);
  if (m) test_save(m, dir);
  mg_ddpm_free(m);
  mg_context_free(ctx);
  test_denoise_formulas(images);
  test_denoise(images, dir);
  test_denoise_keeps_training(images);
  free(images);
  return tu_finish();
}
