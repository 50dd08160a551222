/* test_backend_models.c: whole models on every backend of test_backends() (strict always, cuda when usable) against
 * a 1-thread CPU context, through the public API: the diffusion preset unet-s (at 16x16) and the GAN preset dcgan-64
 * (at 32x32, its smallest size), each:
 * - initialization: mg_*_create with the same seed on both, the saved checkpoints compared tensor by tensor;
 * - forward: the CPU's initial checkpoint (the UNet's zero-initialized layers woken, see wake_zero_weights) loaded
 *   on both for training; mg_ddpm_denoise / mg_gan_latents and mg_gan_generate on the same inputs;
 * - training: 3 steps on both; the losses of every step (the progress callback's, and the GAN's generator loss from
 *   mg_gan_training_state_of) and everything the saved checkpoints hold (weights, EMA, Adam moments, buffers);
 * - sampling: the CPU's trained checkpoint loaded (EMA) on both, mg_ddpm_sample (DDIM, 4 steps, eta 0.5, so every
 *   step draws noise) / mg_gan_sample with the same seed;
 * - the backend's trained checkpoint loaded on the CPU gives the samples it gives on the backend.
 *
 * Bounds. strict runs the CPU kernels themselves (behind disguised pointers), so everything must be equal. cuda
 * computes the same formulas in another order (cuBLAS/cuDNN reductions, fused multiply-adds, its own expf/logf in
 * the Philox normals and Box-Muller), so values differ by float ulps that the layers and steps amplify:
 * - outputs: |cuda - cpu| <= 1e-3 (max|cpu| + |cpu|), max over the compared images; losses (order 1):
 *   1e-3 (1 + |cpu|). Ulps grown through ~40 layers stay near 1e-5 relative; 1e-3 leaves room for the attention
 *   softmax and batch norm over 4 images without hiding a wrong kernel (those give errors of order 1);
 * - sampled images: |cuda - cpu| <= 1e-3 max|cpu| (1e-3 absolute for images reaching -1 or 1): each DDIM step
 *   feeds its result, and its noise draw, into the next, so the forward pass's error grows with the steps;
 * - checkpoint tensors: |cuda - cpu| <= 1e-3 max|cpu| over the tensor, plus, for weights and their EMA after
 *   training, 2 lr per step: Adam divides each gradient element by its own size, so an element whose gradient is
 *   rounding noise (a conv bias before a normalization: 0 in exact arithmetic) moves by a full +-lr per step on
 *   either side, whichever sign its noise has. Adam's moments after training are compared as whole tensors, with
 *   bounds measured per model (DDPM_MOMENT_L2, GAN_MOMENT_L2).
 * The cuda bounds were calibrated without a GPU, on strict with every activation (unary_forward's output) scaled
 * by 1 + e: e = 1e-7, 1e-6 and 1e-5 pass them, 1e-4 fails the samples and the GAN's checkpoint, 1e-2 nearly every
 * comparison. */
#include "test_backends.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { STEPS = 3, COUNT = 8, DDPM_SIZE = 16, GAN_SIZE = 32, N = 4 };

/* How close a backend's values must be to the CPU's; every bound scales with the values compared (scale: max|want|
 * over the compared array or checkpoint tensor), since an untrained generator's images are ~1e-3 and Adam's second
 * moments ~1e-8. */
typedef struct bounds {
  double out;      /* outputs: |got - want| <= out (scale + |want|); losses (order 1): out (1 + |want|) */
  double sample;   /* sampled images: |got - want| <= sample scale (1e-3 absolute for images that reach -1 or 1) */
  double state;    /* checkpoint tensors: |got - want| <= state scale + lr_slack lr steps, the slack for weights */
  double lr_slack;
} bounds;

static const bounds exact = {0, 0, 0, 0}, cuda_bounds = {1e-3, 1e-3, 1e-3, 2};

/* Adam moments after training, off the exact mode: ||got - want|| / ||want|| per tensor (see compare_checkpoints).
 * Measured with the strict backend made inexact (every activation scaled by 1 + e, see the calibration above): the
 * UNet's moments move by ~17 e; the GAN's by 2% at e = 1e-6, 7% at 1e-5, 18% at 1e-4, far out of proportion, most
 * likely because Adam's first step moves every weight by +-lr whatever its gradient's size (a weight whose gradient
 * is near 0 can go either way) and the GAN's two networks feed such differences to each other. A wrong gradient
 * kernel moves them by order 1. */
#define DDPM_MOMENT_L2 1e-2
#define GAN_MOMENT_L2 0.25

static char dir[] = "/tmp/medgen-test-backend-models-XXXXXX";

/* The path of checkpoint name in the test's folder (a ring of buffers: a few paths stay valid together). */
static const char *path_of(const char *name) {
  static char paths[16][600];
  static int next;
  char *p = paths[next++ % 16];
  snprintf(p, sizeof paths[0], "%s/%s.safetensors", dir, name);
  return p;
}

static double max_abs(const float *v, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)v[i]));
  return m;
}

/* Checks got against want value by value (NaN fails) and prints the worst difference; what names the comparison. */
static bool compare(const char *what, const float *got, const float *want, int64_t n, double atol, double rtol) {
  double worst_ratio = 0, worst_abs = 0;
  int64_t at = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - (double)want[i]), bound = atol + rtol * fabs((double)want[i]);
    double ratio = d == 0 ? 0 : bound > 0 ? d / bound : INFINITY;
    if (!(ratio < worst_ratio || (ratio == worst_ratio && d <= worst_abs))) worst_ratio = ratio, worst_abs = d, at = i;
  }
  bool ok = n > 0 && worst_ratio <= 1;
  printf("  %-44s worst |diff| %.3g at %lld (%.9g vs %.9g; max %.3g), bound %.3g\n", what, worst_abs,
         (long long)at, n ? (double)got[at] : 0.0, n ? (double)want[at] : 0.0, max_abs(want, n),
         atol + rtol * (n ? fabs((double)want[at]) : 0.0));
  return tu_check(ok, "%s: %lld values, worst |diff| %.9g at %lld (%.9g vs %.9g)", what, (long long)n, worst_abs,
                  (long long)at, n ? (double)got[at] : 0.0, n ? (double)want[at] : 0.0);
}

static void compare_outputs(const char *what, const float *got, const float *want, int64_t n, const bounds *b) {
  compare(what, got, want, n, b->out * max_abs(want, n), b->out);
}

static void compare_losses(const char *what, const float *got, const float *want, int64_t n, const bounds *b) {
  compare(what, got, want, n, b->out, b->out);
}

static void compare_samples(const char *what, const float *got, const float *want, int64_t n, const bounds *b) {
  compare(what, got, want, n, b->sample * max_abs(want, n), 0);
}

/* What a checkpoint tensor holds: Adam's first or second moments ("optim.m.x", "optim_g.v.x") or anything else
 * (weights, EMA, buffers). */
enum { WEIGHTS, MOMENT_M, MOMENT_V };
static int kind_of(const char *name) {
  const char *dot = strchr(name, '.');
  if (strncmp(name, "optim", 5) != 0 || !dot) return WEIGHTS;
  return dot[1] == 'm' ? MOMENT_M : MOMENT_V;
}

static double norm2(const float *v, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (double)v[i] * v[i];
  return sqrt(s);
}

/* Every tensor of the checkpoint at got_path against want_path's: same names and shapes, and values within the
 * bounds. Weights, EMA and buffers value by value: |got - want| <= state max|want| + lr_slack lr_moved, lr_moved
 * being how far Adam can have moved a weight (lr times steps, 0 before training). Adam's moments: exactly in the
 * exact mode; otherwise as whole tensors, ||got - want|| <= moment_l2 (||want|| + floor), floor being 1e-6 of the
 * largest moment tensor of its kind: a moment whose gradient is rounding noise in exact arithmetic (an attention
 * key's bias, which the softmax ignores) holds noise on both sides. */
static void compare_checkpoints(const char *what, const char *got_path, const char *want_path, const bounds *b,
                                double lr_moved, double moment_l2) {
  mg_checkpoint *got = tu_load_checkpoint(got_path), *want = tu_load_checkpoint(want_path);
  if (!got || !want) {
    mg_checkpoint_free(got);
    mg_checkpoint_free(want);
    return;
  }
  int n = mg_checkpoint_tensor_count(want), bad = 0;
  tu_check(mg_checkpoint_tensor_count(got) == n, "%s: %d tensors, want %d", what, mg_checkpoint_tensor_count(got), n);
  double largest[3] = {0, 0, 0};
  for (int i = 0; i < n; i++) {
    mg_checkpoint_tensor w;
    mg_checkpoint_tensor_at(want, i, &w);
    largest[kind_of(w.name)] = fmax(largest[kind_of(w.name)], norm2(w.data, w.numel));
  }
  double worst_ratio = 0, worst_abs = 0, worst_moment = 0;
  const char *worst_name = "-", *worst_moment_name = "-";
  for (int i = 0; i < n; i++) {
    mg_checkpoint_tensor w, g;
    mg_checkpoint_tensor_at(want, i, &w);
    if (!tu_check(mg_checkpoint_find(got, w.name, &g) == MG_OK && g.numel == w.numel && g.ndim == w.ndim,
                  "%s: tensor %s missing or misshapen", what, w.name))
      continue;
    int kind = kind_of(w.name);
    if (kind != WEIGHTS && b->state > 0) {
      double diff = 0;
      for (int64_t j = 0; j < w.numel; j++) diff += ((double)g.data[j] - w.data[j]) * ((double)g.data[j] - w.data[j]);
      double rel = diff == 0 ? 0 : sqrt(diff) / (norm2(w.data, w.numel) + 1e-6 * largest[kind]);
      if (!(rel <= worst_moment)) worst_moment = rel, worst_moment_name = w.name;
      if (!(rel <= moment_l2) && bad++ < 3)
        tu_check(false, "%s: %s differs by %.3g of its norm, bound %.3g", what, w.name, rel, moment_l2);
      continue;
    }
    double atol = b->state * max_abs(w.data, w.numel) + (kind == WEIGHTS ? b->lr_slack * lr_moved : 0);
    for (int64_t j = 0; j < w.numel; j++) {
      double d = fabs((double)g.data[j] - (double)w.data[j]);
      double ratio = d == 0 ? 0 : atol > 0 ? d / atol : INFINITY;
      if (!(ratio < worst_ratio || (ratio == worst_ratio && d <= worst_abs)))
        worst_ratio = ratio, worst_abs = d, worst_name = w.name;
      if (!(ratio <= 1) && bad++ < 3)
        tu_check(false, "%s: %s[%lld] = %.9g, want %.9g (bound %.3g)", what, w.name, (long long)j, (double)g.data[j],
                 (double)w.data[j], atol);
    }
  }
  printf("  %-44s worst |diff| %.3g in %s", what, worst_abs, worst_name);
  if (b->state > 0) printf(", moments %.3g of the norm in %s", worst_moment, worst_moment_name);
  printf(" (%d tensors, %d values out of bounds)\n", n, bad);
  tu_check(bad == 0, "%s: %d values out of bounds", what, bad);
  mg_checkpoint_free(got);
  mg_checkpoint_free(want);
}

/* Smooth random images in [-1, 1] (sums of a few waves), so the networks see structure rather than white noise. */
static float *make_images(int count, int size) {
  float *img = malloc((size_t)count * size * size * sizeof *img);
  for (int i = 0; i < count; i++) {
    double fx = tu_uniform(0.5, 3), fy = tu_uniform(0.5, 3), ph = tu_uniform(0, 6.28), amp = tu_uniform(0.3, 0.9);
    for (int y = 0; y < size; y++)
      for (int x = 0; x < size; x++)
        img[((size_t)i * size + y) * size + x] =
            (float)(amp * sin(fx * 6.28 * x / size + ph) * cos(fy * 6.28 * y / size) + tu_uniform(-0.1, 0.1));
  }
  return img;
}

static bool all_zero(const mg_checkpoint_tensor *t) {
  for (int64_t j = 0; j < t->numel; j++)
    if (t->data[j] != 0) return false;
  return true;
}

/* unet-s starts with the last conv of every residual branch, every attention output and the output conv at zero
 * (MONAI's zero_module): the created model predicts 0 whatever its other layers compute, so comparing its forward or
 * its first step would check nothing. The runs start instead from a copy of the created checkpoint whose all-zero
 * weights (model and EMA alike) are drawn as PyTorch's default init draws them, U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
static void wake_zero(const mg_checkpoint_tensor *t, float *values, void *user) {
  (void)user;
  const char *param = strchr(t->name, '.'); /* "model.x.weight" and "ema.x.weight" get the same values */
  if (strncmp(t->name, "optim", 5) == 0 || !tu_ends_with(t->name, ".weight") || t->ndim < 2 || !all_zero(t) || !param)
    return;
  uint64_t h = 1469598103934665603ull;
  for (const char *c = param; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
  tu_seed(h);
  double bound = 1 / sqrt((double)(t->numel / t->shape[0]));
  for (int64_t j = 0; j < t->numel; j++) values[j] = (float)tu_uniform(-bound, bound);
}

static bool wake_zero_weights(const char *from, const char *to) {
  return tu_rewrite_checkpoint(from, to, wake_zero, NULL);
}

/* ---- per-step losses through the progress callback ---- */
typedef struct losses {
  float d[STEPS], g[STEPS]; /* g: the GAN's generator loss (NaN for DDPM) */
  int n;
  const mg_gan *gan;
} losses;

static int record_loss(void *user, const mg_progress *p) {
  losses *l = user;
  if (l->n < STEPS) {
    l->d[l->n] = (float)p->loss;
    l->g[l->n] = l->gan ? (float)mg_gan_training_state_of(l->gan).g_loss : NAN;
    l->n++;
  }
  return 0;
}

/* ---- diffusion ---- */
typedef struct side {
  mg_ctx *ctx;
  const char *name; /* "cpu" or the backend's */
} side;

static mg_ddpm_config ddpm_config(void) {
  mg_ddpm_config c;
  char err[256];
  tu_check(mg_ddpm_default_config("unet-s", &c, err, sizeof err) == MG_OK, "unet-s: %s", err);
  c.unet.image_size = DDPM_SIZE;
  return c;
}

static mg_ddpm_train_options ddpm_options(void) {
  mg_ddpm_train_options o = mg_ddpm_default_train_options();
  o.batch = 2;
  o.steps = STEPS;
  o.learning_rate = 1e-4;
  o.warmup_steps = 1;
  o.seed = 21;
  o.checkpoint_every = 0;
  o.checkpoint_path = NULL;
  return o;
}

/* mg_ddpm_create on s, saved to path. */
static void ddpm_create_save(side s, const char *path) {
  mg_ddpm_config cfg = ddpm_config();
  mg_ddpm_train_options o = ddpm_options();
  mg_ddpm *m = NULL;
  char err[512];
  if (tu_check(mg_ddpm_create(s.ctx, &cfg, &o, &m) == MG_OK, "%s: ddpm create: %s", s.name, mg_context_error(s.ctx)))
    tu_check(mg_ddpm_save(m, path, err, sizeof err) == MG_OK, "%s: ddpm save: %s", s.name, err);
  mg_ddpm_free(m);
}

static mg_ddpm *ddpm_load(side s, const char *path, mg_weights weights) {
  mg_checkpoint *ck = tu_load_checkpoint(path);
  mg_ddpm *m = NULL;
  if (ck)
    tu_check(mg_ddpm_load(s.ctx, ck, weights, &m) == MG_OK, "%s: ddpm load %s: %s", s.name, path,
             mg_context_error(s.ctx));
  mg_checkpoint_free(ck);
  return m;
}

/* Denoise, train and save on one side: fills noisy/denoised (N images) and the losses. */
static void ddpm_run(side s, const char *init, const char *trained, const float *images, float *noisy,
                     float *denoised, losses *l) {
  mg_ddpm *m = ddpm_load(s, init, MG_WEIGHTS_TRAINING);
  if (!m) return;
  /* moderate timesteps: x0 = (x - sqrt(1 - abar) eps) / sqrt(abar) amplifies the noise estimate's error by
   * 1 / sqrt(abar), ~50 near T */
  const int timesteps[N] = {0, 100, 300, 500};
  tu_check(mg_ddpm_denoise(m, images, N, timesteps, NULL, 5, noisy, denoised) == MG_OK, "%s: denoise: %s", s.name,
           mg_context_error(s.ctx));
  mg_dataset data = {COUNT, 1, DDPM_SIZE, images, NULL, 0, NULL, 0.0, 1.0};
  tu_check(mg_ddpm_train(m, &data, record_loss, l) == MG_OK && l->n == STEPS, "%s: ddpm train (%d steps): %s",
           s.name, l->n, mg_context_error(s.ctx));
  char err[512];
  tu_check(mg_ddpm_save(m, trained, err, sizeof err) == MG_OK, "%s: ddpm save: %s", s.name, err);
  mg_ddpm_free(m);
}

static void ddpm_sample(side s, const char *path, float *out) {
  mg_ddpm *m = ddpm_load(s, path, MG_WEIGHTS_EMA);
  if (!m) return;
  mg_ddpm_sample_options o = mg_ddpm_default_sample_options();
  o.sampler = MG_SAMPLER_DDIM;
  o.steps = 4;
  o.eta = 0.5;
  o.batch = N;
  o.seed = 17;
  tu_check(mg_ddpm_sample(m, &o, N, NULL, out, NULL, NULL) == MG_OK, "%s: ddpm sample: %s", s.name,
           mg_context_error(s.ctx));
  mg_ddpm_free(m);
}

static void ddpm_parity(side cpu, side dev, const bounds *b) {
  printf("unet-s %dx%d, %s vs cpu:\n", DDPM_SIZE, DDPM_SIZE, dev.name);
  const int per = DDPM_SIZE * DDPM_SIZE;
  const char *cpu_init = path_of("ddpm_cpu_init"), *dev_init = path_of("ddpm_dev_init");
  ddpm_create_save(cpu, cpu_init);
  ddpm_create_save(dev, dev_init);
  compare_checkpoints("ddpm create: checkpoint", dev_init, cpu_init, b, 0, 0);

  const char *start = path_of("ddpm_start");
  wake_zero_weights(cpu_init, start);

  tu_seed(3);
  float *images = make_images(COUNT, DDPM_SIZE);
  float noisy[2][N * DDPM_SIZE * DDPM_SIZE] = {{0}}, denoised[2][N * DDPM_SIZE * DDPM_SIZE] = {{0}};
  losses l[2] = {{.n = 0}, {.n = 0}};
  const char *trained[2] = {path_of("ddpm_cpu_trained"), path_of("ddpm_dev_trained")};
  ddpm_run(cpu, start, trained[0], images, noisy[0], denoised[0], &l[0]);
  ddpm_run(dev, start, trained[1], images, noisy[1], denoised[1], &l[1]);
  compare_outputs("ddpm denoise: noisy", noisy[1], noisy[0], N * per, b);
  compare_outputs("ddpm denoise: denoised", denoised[1], denoised[0], N * per, b);
  compare_losses("ddpm train: loss per step", l[1].d, l[0].d, STEPS, b);
  compare_checkpoints("ddpm train: checkpoint", trained[1], trained[0], b, ddpm_options().learning_rate * STEPS,
                      DDPM_MOMENT_L2);

  float samples[2][N * DDPM_SIZE * DDPM_SIZE] = {{0}};
  ddpm_sample(cpu, trained[0], samples[0]);
  ddpm_sample(dev, trained[0], samples[1]);
  compare_samples("ddpm sample (DDIM 4 steps, eta 0.5)", samples[1], samples[0], N * per, b);
  /* a model trained 3 steps predicts wild clean images, many clamped to -1 or 1: enough must be left to compare */
  int inside = 0;
  for (int i = 0; i < N * per; i++) inside += samples[0][i] > -1 && samples[0][i] < 1;
  tu_check(inside >= N * per / 8, "ddpm sample: only %d of %d values inside (-1, 1)", inside, N * per);
  ddpm_sample(cpu, trained[1], samples[0]); /* the backend's checkpoint on the CPU */
  ddpm_sample(dev, trained[1], samples[1]);
  compare_samples("ddpm sample: backend's checkpoint on cpu", samples[0], samples[1], N * per, b);
  free(images);
}

/* ---- GAN ---- */
static mg_gan_config gan_config(void) {
  mg_gan_config c;
  char err[256];
  tu_check(mg_gan_preset("dcgan-64", &c, err, sizeof err) == MG_OK, "dcgan-64: %s", err);
  c.image_size = GAN_SIZE;
  return c;
}

static mg_gan_train_options gan_options(void) {
  mg_gan_train_options o = mg_gan_default_train_options();
  o.batch = 2;
  o.steps = STEPS;
  o.augment_p = 0.5; /* the augmentation kernels run; ADA off: 3 steps do not reach its first update anyway */
  o.ada = 0;
  o.seed = 23;
  o.checkpoint_every = 0;
  o.checkpoint_path = NULL;
  return o;
}

static void gan_create_save(side s, const char *path) {
  mg_gan_config cfg = gan_config();
  mg_gan_train_options o = gan_options();
  mg_gan *m = NULL;
  char err[512];
  if (tu_check(mg_gan_create(s.ctx, &cfg, &o, &m) == MG_OK, "%s: gan create: %s", s.name, mg_context_error(s.ctx)))
    tu_check(mg_gan_save(m, path, err, sizeof err) == MG_OK, "%s: gan save: %s", s.name, err);
  mg_gan_free(m);
}

static mg_gan *gan_load(side s, const char *path, mg_weights weights) {
  mg_checkpoint *ck = tu_load_checkpoint(path);
  mg_gan *m = NULL;
  if (ck)
    tu_check(mg_gan_load(s.ctx, ck, weights, &m) == MG_OK, "%s: gan load %s: %s", s.name, path,
             mg_context_error(s.ctx));
  mg_checkpoint_free(ck);
  return m;
}

/* Latents and generated images, then training and save, on one side. */
static void gan_run(side s, const char *init, const char *trained, const float *images, float *z, float *generated,
                    losses *l) {
  mg_gan *m = gan_load(s, init, MG_WEIGHTS_TRAINING);
  if (!m) return;
  tu_check(mg_gan_latents(m, 5, 0, N, 0, z) == MG_OK, "%s: latents: %s", s.name, mg_context_error(s.ctx));
  tu_check(mg_gan_generate(m, N, z, NULL, N, generated) == MG_OK, "%s: generate: %s", s.name,
           mg_context_error(s.ctx));
  mg_dataset data = {COUNT, 1, GAN_SIZE, images, NULL, 0, NULL, 0.0, 1.0};
  l->gan = m;
  tu_check(mg_gan_train(m, &data, record_loss, l) == MG_OK && l->n == STEPS, "%s: gan train (%d steps): %s", s.name,
           l->n, mg_context_error(s.ctx));
  char err[512];
  tu_check(mg_gan_save(m, trained, err, sizeof err) == MG_OK, "%s: gan save: %s", s.name, err);
  mg_gan_free(m);
}

static void gan_sample(side s, const char *path, float *out) {
  mg_gan *m = gan_load(s, path, MG_WEIGHTS_EMA);
  if (!m) return;
  mg_gan_sample_options o = mg_gan_default_sample_options();
  o.batch = N;
  o.seed = 19;
  tu_check(mg_gan_sample(m, &o, N, NULL, out, NULL, NULL) == MG_OK, "%s: gan sample: %s", s.name,
           mg_context_error(s.ctx));
  mg_gan_free(m);
}

static void gan_parity(side cpu, side dev, const bounds *b) {
  printf("dcgan-64 at %dx%d, %s vs cpu:\n", GAN_SIZE, GAN_SIZE, dev.name);
  const int per = GAN_SIZE * GAN_SIZE;
  const mg_gan_config cfg = gan_config();
  const char *cpu_init = path_of("gan_cpu_init"), *dev_init = path_of("gan_dev_init");
  gan_create_save(cpu, cpu_init);
  gan_create_save(dev, dev_init);
  compare_checkpoints("gan create: checkpoint", dev_init, cpu_init, b, 0, 0);

  tu_seed(4);
  float *images = make_images(COUNT, GAN_SIZE);
  float *z[2], generated[2][N * GAN_SIZE * GAN_SIZE] = {{0}};
  losses l[2] = {{.n = 0}, {.n = 0}};
  const char *trained[2] = {path_of("gan_cpu_trained"), path_of("gan_dev_trained")};
  for (int i = 0; i < 2; i++) z[i] = calloc((size_t)N * cfg.latent_dim, sizeof *z[i]);
  gan_run(cpu, cpu_init, trained[0], images, z[0], generated[0], &l[0]);
  gan_run(dev, cpu_init, trained[1], images, z[1], generated[1], &l[1]);
  compare_outputs("gan latents", z[1], z[0], (int64_t)N * cfg.latent_dim, b);
  compare_outputs("gan generate", generated[1], generated[0], N * per, b);
  compare_losses("gan train: discriminator loss per step", l[1].d, l[0].d, STEPS, b);
  compare_losses("gan train: generator loss per step", l[1].g, l[0].g, STEPS, b);
  mg_gan_train_options o = gan_options();
  compare_checkpoints("gan train: checkpoint", trained[1], trained[0], b, fmax(o.lr_g, o.lr_d) * STEPS,
                      GAN_MOMENT_L2);

  float samples[2][N * GAN_SIZE * GAN_SIZE] = {{0}};
  gan_sample(cpu, trained[0], samples[0]);
  gan_sample(dev, trained[0], samples[1]);
  compare_samples("gan sample", samples[1], samples[0], N * per, b);
  gan_sample(cpu, trained[1], samples[0]);
  gan_sample(dev, trained[1], samples[1]);
  compare_samples("gan sample: backend's checkpoint on cpu", samples[0], samples[1], N * per, b);
  for (int i = 0; i < 2; i++) free(z[i]);
  free(images);
}

int main(void) {
  if (!mkdtemp(dir)) return tu_skip("cannot create a temporary folder");
  test_backend backends[4];
  int n = test_backends(backends, 4);
  for (int i = 0; i < n; i++) {
    const bounds *b = backends[i].tolerance == 0 ? &exact : &cuda_bounds;
    side cpu = {tu_ctx(1), "cpu"}, dev = {test_backend_context(&backends[i]), backends[i].name};
    ddpm_parity(cpu, dev, b);
    gan_parity(cpu, dev, b);
    mg_context_free(cpu.ctx);
    mg_context_free(dev.ctx);
  }
  const char *names[] = {"ddpm_cpu_init", "ddpm_dev_init", "ddpm_start",      "ddpm_cpu_trained",
                         "ddpm_dev_trained", "gan_cpu_init", "gan_dev_init", "gan_cpu_trained", "gan_dev_trained"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) remove(path_of(names[i]));
  rmdir(dir);
  return tu_finish();
}
