/* test_api.c: the public C API (medgen.h) on its own: this file includes nothing else from MedGen, to prove a
 * program can train, cancel, denoise and save through it. Small synthetic images (smooth random blobs, 16x16)
 * and a handful of steps keep it well under a few seconds.
 * - train: the progress callback runs once per step, steps 1..total in order, finite losses;
 * - a callback returning non-zero at step 3 cancels: MG_ERR_CANCELLED, *out NULL, a message;
 * - bad inputs (NULL images, count 0, unsupported sizes, NaN or out-of-range pixels, bad options) are refused
 *   with MG_ERR_INVALID_ARGUMENT and a message, *out NULL;
 * - denoising with the same seed is bit-identical with 1 and 2 threads (two contexts), leaves the training stream
 *   alone (a repeat gives the same bits), and the noise of image i does not depend on how many images come along;
 * - save writes a file mg_checkpoint_load accepts with the expected tensors and metadata; a save into a missing
 *   folder fails with a message and leaves no temporary file.
 * Its test helpers come from test_check.h, which has no engine dependency. */
#include "medgen.h"
#include "test_check.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { N = 8, S = 16, STEPS = 6 };

static mg_ctx *make_ctx(int threads) {
  mg_context_options o = {MG_DEVICE_CPU, threads};
  mg_ctx *ctx = NULL;
  char err[256];
  if (mg_context_create(&o, &ctx, err, sizeof err) != MG_OK) {
    printf("FAIL: cannot create a context: %s\n", err);
    exit(1);
  }
  return ctx;
}

/* N images of S x S: each a Gaussian blob of random centre, width and brightness on a dark background, in [-1,1].
 * Host random numbers (splitmix64), independent of the engine. */
static void make_blobs(float *img) {
  for (int n = 0; n < N; n++) {
    double cx = 4 + 8 * tu_uniform(0, 1), cy = 4 + 8 * tu_uniform(0, 1), r = 2 + 3 * tu_uniform(0, 1), peak = 0.5 + 0.5 * tu_uniform(0, 1);
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++) {
        double d2 = ((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (r * r);
        img[(n * S + y) * S + x] = (float)(-1.0 + 2.0 * peak * exp(-0.5 * d2));
      }
  }
}

static mg_denoiser_options small_options(void) {
  mg_denoiser_options o = mg_denoiser_default_options();
  o.channels = 8;
  o.batch = 4;
  o.steps = STEPS;
  o.seed = 7;
  return o;
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
static mg_denoiser *test_train(mg_ctx *ctx, const float *images) {
  mg_denoiser_options o = small_options();
  progress_log log = new_log(0);
  mg_denoiser *d = NULL;
  mg_status s = mg_denoiser_train(ctx, images, N, S, &o, record, &log, &d);
  tu_check(s == MG_OK && d, "train: status %s: %s", mg_status_string(s), mg_context_error(ctx));
  tu_check(log.calls == STEPS, "train: %d progress calls for %d steps", log.calls, STEPS);
  tu_check(log.in_order, "train: progress steps must run 1..%d in order with non-decreasing elapsed time", STEPS);
  tu_check(log.finite, "train: every reported loss must be finite and positive");
  tu_check(log.stage_ok && log.total_ok, "train: stage must be \"train\" and total %d", STEPS);
  tu_check(mg_denoiser_image_size(d) == S, "image size %d, expected %d", mg_denoiser_image_size(d), S);
  tu_check(mg_denoiser_parameter_count(d) > 1000, "parameter count %lld", (long long)mg_denoiser_parameter_count(d));
  return d;
}

static void test_cancel(mg_ctx *ctx, const float *images) {
  mg_denoiser_options o = small_options();
  progress_log log = new_log(3);
  mg_denoiser *d = (mg_denoiser *)&log; /* must be overwritten with NULL */
  mg_status s = mg_denoiser_train(ctx, images, N, S, &o, record, &log, &d);
  tu_check(s == MG_ERR_CANCELLED, "cancel: status %s, expected cancelled", mg_status_string(s));
  tu_check(d == NULL, "cancel: *out must be NULL");
  tu_check(log.calls == 3, "cancel: %d progress calls, expected 3 (no step after the cancel)", log.calls);
  tu_check(strstr(mg_context_error(ctx), "cancel") != NULL, "cancel: message '%s'", mg_context_error(ctx));
}

/* Each bad call must give MG_ERR_INVALID_ARGUMENT, *out NULL, and a message containing `says`. */
static void expect_refused(mg_ctx *ctx, const char *what, const float *images, int count, int size,
                           const mg_denoiser_options *o, const char *says) {
  mg_denoiser *d = (mg_denoiser *)&count;
  mg_status s = mg_denoiser_train(ctx, images, count, size, o, NULL, NULL, &d);
  const char *msg = mg_context_error(ctx);
  tu_check(s == MG_ERR_INVALID_ARGUMENT, "%s: status %s, expected invalid argument", what, mg_status_string(s));
  tu_check(d == NULL, "%s: *out must be NULL", what);
  tu_check(strstr(msg, says) != NULL, "%s: message '%s' should mention '%s'", what, msg, says);
}

static void test_bad_inputs(mg_ctx *ctx, const float *images) {
  mg_denoiser_options o = small_options();
  expect_refused(ctx, "NULL images", NULL, N, S, &o, "images is NULL");
  expect_refused(ctx, "count 0", images, 0, S, &o, "at least one");
  expect_refused(ctx, "size 30", images, 1, 30, &o, "image size 30");
  expect_refused(ctx, "size 4", images, 1, 4, &o, "image size 4");
  float *bad = malloc(sizeof(float) * N * S * S);
  memcpy(bad, images, sizeof(float) * N * S * S);
  bad[(2 * S + 5) * S + 3] = NAN; /* image 2, pixel (3,5) */
  expect_refused(ctx, "NaN pixel", bad, N, S, &o, "image 2, pixel (3,5)");
  bad[(2 * S + 5) * S + 3] = 0;
  bad[(7 * S) * S] = 255; /* image 7, pixel (0,0): an 8-bit value, not scaled */
  expect_refused(ctx, "pixel 255", bad, N, S, &o, "[-1, 1]");
  free(bad);
  mg_denoiser_options odd = o;
  odd.channels = 12;
  expect_refused(ctx, "12 channels", images, N, S, &odd, "channels");
  odd = o;
  odd.learning_rate = NAN;
  expect_refused(ctx, "NaN learning rate", images, N, S, &odd, "learning rate");
  odd = o;
  odd.steps = 0;
  expect_refused(ctx, "0 steps", images, N, S, &odd, "steps");
  mg_status s = mg_denoiser_train(ctx, images, N, S, &o, NULL, NULL, NULL);
  tu_check(s == MG_ERR_INVALID_ARGUMENT && strstr(mg_context_error(ctx), "out"), "NULL out: %s",
        mg_context_error(ctx));
}

static void test_denoise(const float *images) {
  const float levels[N] = {0.0f, 0.1f, 0.2f, 0.3f, 0.45f, 0.6f, 0.8f, 1.0f};
  const size_t n = (size_t)N * S * S;
  float *noisy[2], *clean[2];
  mg_ctx *ctxs[2];
  mg_denoiser *ds[2];
  for (int k = 0; k < 2; k++) {
    ctxs[k] = make_ctx(k + 1);
    mg_denoiser_options o = small_options();
    ds[k] = NULL;
    mg_status s = mg_denoiser_train(ctxs[k], images, N, S, &o, NULL, NULL, &ds[k]);
    tu_check(s == MG_OK, "train with %d threads: %s", k + 1, mg_context_error(ctxs[k]));
    noisy[k] = malloc(n * sizeof(float));
    clean[k] = malloc(n * sizeof(float));
  }
  if (!ds[0] || !ds[1]) return;
  for (int k = 0; k < 2; k++) {
    mg_status s = mg_denoiser_denoise(ctxs[k], ds[k], images, N, levels, 42, noisy[k], clean[k]);
    tu_check(s == MG_OK, "denoise with %d threads: %s", k + 1, mg_context_error(ctxs[k]));
  }
  tu_check(!memcmp(noisy[0], noisy[1], n * sizeof(float)), "noisy images differ between 1 and 2 threads");
  tu_check(!memcmp(clean[0], clean[1], n * sizeof(float)), "denoised images differ between 1 and 2 threads");

  bool in_range = true, level0_clean = true, noise_added = false;
  for (size_t i = 0; i < n; i++) {
    in_range = in_range && clean[0][i] >= -1.0f && clean[0][i] <= 1.0f;
    if (i < (size_t)S * S) level0_clean = level0_clean && fabsf(noisy[0][i] - images[i]) < 0.05f; /* level 0 */
    if (i >= 7 * (size_t)S * S) noise_added = noise_added || fabsf(noisy[0][i] - images[i]) > 0.5f;
  }
  tu_check(in_range, "denoised pixels must lie in [-1, 1]");
  tu_check(level0_clean, "at noise level 0 the noisy image must be (almost) the clean one");
  tu_check(noise_added, "at noise level 1 the noisy image must be far from the clean one");

  /* the same call again: same bits (the denoiser's stream does not leak between calls) */
  float *again = malloc(n * sizeof(float));
  mg_denoiser_denoise(ctxs[0], ds[0], images, N, levels, 42, NULL, again);
  tu_check(!memcmp(again, clean[0], n * sizeof(float)), "denoising twice with one seed must give the same bits");
  /* another seed: other noise */
  mg_denoiser_denoise(ctxs[0], ds[0], images, N, levels, 43, again, clean[1]);
  tu_check(memcmp(again, noisy[0], n * sizeof(float)) != 0, "another seed must give other noise");
  /* image i's noise depends on its position, not on how many images come along (3 < batch 4 < 8) */
  mg_status s = mg_denoiser_denoise(ctxs[0], ds[0], images, 3, levels, 42, again, clean[1]);
  tu_check(s == MG_OK && !memcmp(again, noisy[0], 3 * (size_t)S * S * sizeof(float)),
        "the noise of the first 3 images must not depend on the number of images");

  /* N copies of one image at one level: every copy gets its own noise (batches of 4 must not repeat it) */
  float *same = malloc(n * sizeof(float)), same_levels[N];
  for (int i = 0; i < N; i++) {
    memcpy(same + (size_t)i * S * S, images, (size_t)S * S * sizeof(float));
    same_levels[i] = 0.5f;
  }
  s = mg_denoiser_denoise(ctxs[0], ds[0], same, N, same_levels, 42, again, clean[1]);
  bool distinct = s == MG_OK;
  for (int i = 1; i < N; i++) distinct = distinct && memcmp(again, again + (size_t)i * S * S, (size_t)S * S * sizeof(float)) != 0;
  tu_check(distinct, "copies of one image must each get their own noise");
  free(same);

  /* refusals */
  float bad_levels[N];
  memcpy(bad_levels, levels, sizeof bad_levels);
  bad_levels[5] = 1.5f;
  s = mg_denoiser_denoise(ctxs[0], ds[0], images, N, bad_levels, 42, NULL, again);
  tu_check(s == MG_ERR_INVALID_ARGUMENT && strstr(mg_context_error(ctxs[0]), "level"), "level 1.5: %s",
        mg_context_error(ctxs[0]));
  s = mg_denoiser_denoise(ctxs[0], ds[1], images, N, levels, 42, NULL, again);
  tu_check(s == MG_ERR_INVALID_ARGUMENT && strstr(mg_context_error(ctxs[0]), "context"), "another context: %s",
        mg_context_error(ctxs[0]));

  free(again);
  for (int k = 0; k < 2; k++) {
    free(noisy[k]);
    free(clean[k]);
    mg_denoiser_free(ds[k]);
    mg_context_free(ctxs[k]);
  }
}

static bool has_temp_file(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return false;
  bool found = false;
  for (struct dirent *e; (e = readdir(d));) found = found || strstr(e->d_name, "tmp") != NULL;
  closedir(d);
  return found;
}

static void test_save(mg_denoiser *d, const char *dir) {
  char path[1024], missing[1024], err[1024];
  snprintf(path, sizeof path, "%s/denoiser.safetensors", dir);
  remove(path);
  const char *meta[] = {"origin", "test_api", NULL};
  mg_status s = mg_denoiser_save(d, path, meta, err, sizeof err);
  tu_check(s == MG_OK, "save: %s", err);
  mg_checkpoint *ck = NULL;
  s = mg_checkpoint_load(path, &ck, err, sizeof err);
  if (tu_check(s == MG_OK, "load of the saved denoiser: %s", err)) {
    mg_checkpoint_tensor t;
    s = mg_checkpoint_find(ck, "model.conv_in.weight", &t);
    tu_check(s == MG_OK && t.ndim == 4 && t.shape[0] == 8 && t.shape[1] == 1 && t.shape[2] == 3 && t.shape[3] == 3,
          "model.conv_in.weight must be [8,1,3,3]");
    tu_check(mg_checkpoint_find(ck, "ema.out.conv.weight", &t) == MG_OK, "the EMA weights must be saved");
    tu_check(mg_checkpoint_find(ck, "optim.m.out.conv.weight", &t) == MG_OK, "the optimizer moments must be saved");
    const char *config = mg_checkpoint_metadata(ck, "model.config"), *step = mg_checkpoint_metadata(ck, "step");
    tu_check(config && strstr(config, "\"image_size\":16") && strstr(config, "\"channels\":8"), "model.config: %s",
          config ? config : "(absent)");
    tu_check(step && !strcmp(step, "6"), "step: %s", step ? step : "(absent)");
    tu_check(mg_checkpoint_metadata(ck, "rng.offset") && mg_checkpoint_metadata(ck, "sampler.state"),
          "the random streams must be saved");
    const char *origin = mg_checkpoint_metadata(ck, "origin");
    tu_check(origin && !strcmp(origin, "test_api"), "the caller's metadata must be saved");
    tu_check(!mg_checkpoint_metadata(ck, "medgen.synthetic"), "weights are not synthetic images");
    mg_checkpoint_free(ck);
  }
  tu_check(!has_temp_file(dir), "save left a temporary file in %s", dir);

  snprintf(missing, sizeof missing, "%s/no-such-folder/denoiser.safetensors", dir);
  err[0] = '\0';
  s = mg_denoiser_save(d, missing, NULL, err, sizeof err);
  tu_check(s == MG_ERR_IO && strstr(err, "no-such-folder"), "save into a missing folder: %s (%s)",
        mg_status_string(s), err);
  tu_check(!has_temp_file(dir), "a failed save left a temporary file in %s", dir);

  remove(path);
  const char *dup[] = {"step", "99", NULL};
  s = mg_denoiser_save(d, path, dup, err, sizeof err);
  tu_check(s != MG_OK && strstr(err, "step"), "a metadata key MedGen uses must be refused: %s", err);
  struct stat st;
  tu_check(stat(path, &st) != 0, "a refused save must not write %s", path);
}

int main(int argc, char **argv) {
  tu_seed(12345);
  const char *dir = argc > 1 ? argv[1] : ".";
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
    printf("FAIL: cannot create %s\n", dir);
    return 1;
  }
  float *images = malloc(sizeof(float) * N * S * S);
  make_blobs(images);
  mg_ctx *ctx = make_ctx(2);
  mg_denoiser *d = test_train(ctx, images);
  test_cancel(ctx, images);
  test_bad_inputs(ctx, images);
  if (d) test_save(d, dir);
  mg_denoiser_free(d);
  mg_context_free(ctx);
  test_denoise(images);
  free(images);
  return tu_finish();
}
