/* gan.c: GANs end to end (medgen.h, mg_gan_*): a generator and a discriminator (gan_model.c) trained against each
 * other, then sampled in one forward pass per image.
 *
 * Training step:
 *  1. Host draws (mg_host_uniform; the stream is in checkpoints): B real images (with replacement) and their
 *     flips, B labels for the generated images (each the label of another uniformly drawn image, so the classes
 *     follow the data), and augmentation parameters for 3B images (2B for the discriminator step, B for the
 *     generator's). Everything is drawn whatever the options, so the stream never depends on them.
 *  2. Discriminator step: z ~ N(0, 1) from the context's Philox stream; fake = G(z, y) without gradients (in
 *     training mode, as PyTorch loops do: its batch-norm statistics update in both steps); one
 *     discriminator pass over the 2B images, real and fake interleaved (real_0, fake_0, real_1, ...), each
 *     augmented; hinge loss mean relu(1 - D(real)) + mean relu(1 + D(fake)) or BCE with targets 1 and 0; Adam.
 *  3. Generator step with the discriminator frozen (no weight gradients): new z; loss -mean D(augment(G(z, y)))
 *     (hinge) or BCE(D(...), 1); Adam; EMA of the generator's weights.
 *  4. ADA (StyleGAN2-ADA): every 4 steps r_t = mean sign(D(real)) over them moves the augmentation probability p
 *     by sign(r_t - target) * (images seen) / (ada_kimg * 1000), within [0, 1).
 *
 * The EMA generator has no batch-norm statistics of its own: each save measures them for the EMA weights
 * ("standing statistics", below), so sampling with the EMA uses statistics that fit its weights. */
#include "mg_diffusion.h"
#include "mg_gan_model.h"
#include "mg_model_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADAM_EPS 1e-8
#define EMA_INV_GAMMA 1.0 /* the DDPM's warm-up: decay = min(max, 1 - (1 + step)^-2/3) */
#define EMA_POWER (2.0 / 3.0)
#define MAX_BATCH 1024
#define ADA_INTERVAL 4        /* steps between updates of p */
#define STANDING_BATCHES 8    /* standing statistics: batches of STANDING_BATCH latents from STANDING_SEED */
#define STANDING_BATCH 64
#define STANDING_SEED 0x57a7d1ull
#define MAX_REDRAWS 64        /* truncation: components still out of range after this many redraws are clamped */

struct mg_gan {
  mg_ctx *ctx;
  mg_gan_config cfg;
  mg_gan_train_options opt; /* opt.checkpoint_path points at run.checkpoint_path */
  mg_generator *g;
  mg_discriminator *d;      /* NULL unless made for training */
  mg_adam *adam_g, *adam_d; /* NULL unless made for training */
  mg_ema *ema;              /* the generator's EMA; NULL unless made for training */
  mg_tensor **g_kept;       /* one per generator tensor: its value while the EMA's statistics are measured */
  /* ADA: the probability now, and the sum of sign(D(real)) over the images of the current 4-step window */
  double augment_p;
  int64_t sign_sum, sign_count;
  double real_sign;         /* r_t of the last complete window */
  double d_loss, g_loss;    /* the last step's */
  mg_run run;               /* step, streams, data, notes */
};

/* ---- names, defaults, checks ---- */

const char *mg_gan_loss_name(mg_gan_loss loss) {
  switch (loss) {
  case MG_GAN_HINGE: return "hinge";
  case MG_GAN_BCE: return "bce";
  }
  return "unknown";
}

int mg_gan_loss_from_name(const char *name) {
  if (name && !strcmp(name, "hinge")) return MG_GAN_HINGE;
  if (name && !strcmp(name, "bce")) return MG_GAN_BCE;
  return -1;
}

mg_gan_train_options mg_gan_default_train_options(void) {
  mg_gan_train_options o;
  memset(&o, 0, sizeof o);
  o.batch = 32;
  o.steps = 10000;
  o.lr_g = 2e-4;
  o.lr_d = 2e-4;
  o.beta1 = 0.5;
  o.beta2 = 0.999;
  o.loss = MG_GAN_HINGE;
  o.ema_decay = 0.999;
  o.augment_p = 0;
  o.ada = 1;
  o.ada_target = 0.6;
  o.ada_kimg = 100;
  o.flip_horizontal = 0;
  o.seed = 1;
  o.checkpoint_every = 1000;
  o.checkpoint_path = NULL;
  return o;
}

mg_gan_sample_options mg_gan_default_sample_options(void) {
  mg_gan_sample_options o = {.truncation = 0, .batch = 16, .seed = 1};
  return o;
}

static mg_status check_config(mg_ctx *ctx, const mg_gan_config *c) {
  char why[512];
  if (mg_gan_config_check(c, why, sizeof why) != MG_OK) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s", why);
  return MG_OK;
}

/* Messages name the field as mg_gan_train_options spells it. */
static mg_status check_train_options(mg_ctx *ctx, const mg_gan_train_options *o) {
#define BAD(...) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, __VA_ARGS__)
  if (o->batch < 1 || o->batch > MAX_BATCH) BAD("batch = %d: must be from 1 to %d", o->batch, MAX_BATCH);
  if (o->steps < 1) BAD("steps = %lld: must be at least 1", (long long)o->steps);
  if (!(o->lr_g > 0 && o->lr_g <= 1)) BAD("lr_g = %g: must be in (0, 1]", o->lr_g);
  if (!(o->lr_d > 0 && o->lr_d <= 1)) BAD("lr_d = %g: must be in (0, 1]", o->lr_d);
  if (!(o->beta1 >= 0 && o->beta1 < 1)) BAD("beta1 = %g: must be in [0, 1)", o->beta1);
  if (!(o->beta2 >= 0 && o->beta2 < 1)) BAD("beta2 = %g: must be in [0, 1)", o->beta2);
  if ((unsigned)o->loss > MG_GAN_BCE) BAD("loss = %d: must be hinge or bce", (int)o->loss);
  if (!(o->ema_decay >= 0 && o->ema_decay < 1)) BAD("ema_decay = %g: must be in [0, 1)", o->ema_decay);
  if (!(o->augment_p >= 0 && o->augment_p < 1)) BAD("augment_p = %g: must be in [0, 1)", o->augment_p);
  if (!(o->ada_target >= 0 && o->ada_target < 1)) BAD("ada_target = %g: must be in [0, 1)", o->ada_target);
  if (!(o->ada_kimg > 0 && o->ada_kimg <= 1e9)) BAD("ada_kimg = %g: must be in (0, 1e9]", o->ada_kimg);
  if (o->checkpoint_every < 0) BAD("checkpoint_every = %lld: must be >= 0", (long long)o->checkpoint_every);
  return MG_OK;
#undef BAD
}

/* ---- creation and teardown ---- */

void mg_gan_free(mg_gan *m) {
  if (!m) return;
  mg_generator_free(m->g);
  mg_discriminator_free(m->d);
  free(m->g_kept);
  mg_run_free(&m->run);
  free(m);
}

static mg_status set_options(mg_gan *m, const mg_gan_train_options *o) {
  if (mg_run_set_checkpoint_path(&m->run, o->checkpoint_path) != MG_OK) return mg_ctx_status(m->ctx);
  m->opt = *o;
  m->opt.checkpoint_path = m->run.checkpoint_path;
  return MG_OK;
}

/* The networks (the discriminator only for training), initialized from options->seed, without training state. */
static mg_gan *gan_new(mg_ctx *ctx, const mg_gan_config *config, const mg_gan_train_options *o, bool training) {
  if (check_config(ctx, config) != MG_OK || check_train_options(ctx, o) != MG_OK) return NULL;
  mg_gan *m = calloc(1, sizeof *m);
  if (!m) {
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory");
    return NULL;
  }
  m->ctx = ctx;
  m->cfg = *config;
  m->augment_p = o->augment_p;
  m->d_loss = m->g_loss = m->real_sign = NAN;
  mg_run_init(&m->run, ctx, o->seed, config->channels, config->image_size, config->num_classes);
  set_options(m, o);
  mg_rng_state kept = mg_run_begin_init(&m->run);
  if (mg_ok(ctx)) {
    m->g = mg_generator_new(ctx, config);
    if (training) m->d = mg_discriminator_new(ctx, config);
  }
  mg_run_end_init(&m->run, kept);
  if (!mg_ok(ctx)) {
    mg_gan_free(m);
    return NULL;
  }
  return m;
}

static mg_status add_training_state(mg_gan *m) {
  mg_ctx *ctx = m->ctx;
  const mg_gan_train_options *o = &m->opt;
  mg_params *gp = mg_generator_params(m->g), *dp = mg_discriminator_params(m->d);
  m->adam_g = mg_adam_new(ctx, gp, (mg_adam_config){o->lr_g, o->beta1, o->beta2, ADAM_EPS, 0, false});
  m->adam_d = mg_adam_new(ctx, dp, (mg_adam_config){o->lr_d, o->beta1, o->beta2, ADAM_EPS, 0, false});
  m->ema = mg_ema_new(ctx, gp);
  int n = mg_params_count(gp);
  if (mg_ok(ctx) && !(m->g_kept = calloc((size_t)n, sizeof *m->g_kept)))
    return mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory");
  for (int i = 0; i < n && mg_ok(ctx); i++) {
    const mg_tensor *t = mg_params_at(gp, i);
    m->g_kept[i] = mg_tensor_new_persistent(ctx, MG_REAL, t->ndim, t->shape);
  }
  return mg_ctx_status(ctx);
}

mg_status mg_gan_create(mg_ctx *ctx, const mg_gan_config *config, const mg_gan_train_options *options,
                        mg_gan **out) {
  if (out) *out = NULL;
  if (!ctx) return MG_ERR_INVALID_ARGUMENT;
  mg_clear_error(ctx);
  if (!config || !out) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "mg_gan_create: config and out are required");
  mg_gan_train_options o = options ? *options : mg_gan_default_train_options();
  mg_gan *m = gan_new(ctx, config, &o, true);
  if (!m || add_training_state(m) != MG_OK) {
    mg_gan_free(m);
    return mg_rewrap_error(ctx, "mg_gan_create: ", "");
  }
  *out = m;
  return MG_OK;
}

mg_gan_train_options mg_gan_train_options_of(const mg_gan *m) { return m ? m->opt : mg_gan_default_train_options(); }

mg_status mg_gan_set_train_options(mg_gan *m, const mg_gan_train_options *options) {
  if (!m) return MG_ERR_INVALID_ARGUMENT;
  mg_clear_error(m->ctx);
  const char *fn = "mg_gan_set_train_options";
  if (!options) return mg_fail(m->ctx, MG_ERR_INVALID_ARGUMENT, "%s: options is NULL", fn);
  if (check_train_options(m->ctx, options) != MG_OK) return mg_rewrap_error(m->ctx, "mg_gan_set_train_options: ", "");
  const mg_gan_train_options *o = options, *now = &m->opt;
  if (o->steps < m->run.step)
    return mg_fail(m->ctx, MG_ERR_INVALID_ARGUMENT, "%s: %lld steps, but %lld are already done", fn,
                   (long long)o->steps, (long long)m->run.step);
  /* the optimizers and the streams were made from these: changing them would not take effect consistently */
  if (o->batch != now->batch || o->seed != now->seed || o->lr_g != now->lr_g || o->lr_d != now->lr_d ||
      o->beta1 != now->beta1 || o->beta2 != now->beta2 || o->loss != now->loss)
    return mg_fail(m->ctx, MG_ERR_INVALID_ARGUMENT, "%s: batch, seed, the learning rates, betas and loss are fixed "
                   "when the model is made; start a new run to change them", fn);
  /* a new augment_p is the caller's new probability; otherwise ADA's current one goes on */
  if (o->augment_p != now->augment_p) m->augment_p = o->augment_p;
  return set_options(m, options);
}

mg_status mg_gan_set_note(mg_gan *m, const char *key, const char *value) {
  if (!m) return MG_ERR_INVALID_ARGUMENT;
  mg_clear_error(m->ctx);
  return mg_run_set_note(&m->run, "mg_gan_set_note", key, value);
}

const char *mg_gan_note(const mg_gan *m, const char *key) { return m ? mg_run_note(&m->run, key) : NULL; }

/* ---- accessors ---- */

const mg_gan_config *mg_gan_get_config(const mg_gan *m) { return m ? &m->cfg : NULL; }
int64_t mg_gan_generator_parameter_count(const mg_gan *m) {
  return m ? mg_params_numel(mg_generator_params(m->g)) : 0;
}
int64_t mg_gan_discriminator_parameter_count(const mg_gan *m) {
  return m && m->d ? mg_params_numel(mg_discriminator_params(m->d)) : 0;
}
int64_t mg_gan_step(const mg_gan *m) { return m ? m->run.step : 0; }
int mg_gan_num_classes(const mg_gan *m) { return m ? m->cfg.num_classes : 0; }
const char *mg_gan_class_name(const mg_gan *m, int index) { return m ? mg_run_class_name(&m->run, index) : NULL; }
int mg_gan_class_index(const mg_gan *m, const char *name) { return m ? mg_run_class_index(&m->run, name) : -1; }

void mg_gan_normalization(const mg_gan *m, double *offset, double *scale) {
  mg_run_normalization(m ? &m->run : NULL, offset, scale);
}

mg_gan_training_state mg_gan_training_state_of(const mg_gan *m) {
  mg_gan_training_state s = {NAN, NAN, NAN, 0};
  if (m) s = (mg_gan_training_state){m->d_loss, m->g_loss, m->real_sign, m->augment_p};
  return s;
}

/* ---- training ---- */

/* Host staging for one step, allocated once per mg_gan_train so that steps make no heap allocation. */
typedef struct batch_buffers {
  float *real;           /* B images */
  int32_t *fake_labels;  /* B: the generated images' classes */
  int32_t *d_labels;     /* 2B: the discriminator step's images, real_0, fake_0, real_1, ... */
  float *augment;        /* 3B rows of MG_AUGMENT_PARAMS: the discriminator step's 2B images, then the generator's */
  float *signs;          /* 2B: +1 for real, -1 for fake (hinge) */
  float *targets;        /* 2B: 1 for real, 0 for fake (BCE) */
  float *scores;         /* 2B: the discriminator's scores, downloaded */
} batch_buffers;

static void batch_free(batch_buffers *bb) {
  free(bb->real);
  free(bb->fake_labels);
  free(bb->d_labels);
  free(bb->augment);
  free(bb->signs);
  free(bb->targets);
  free(bb->scores);
}

static mg_status batch_alloc(mg_ctx *ctx, batch_buffers *bb, int batch, int64_t per) {
  bb->real = malloc((size_t)batch * per * sizeof *bb->real);
  bb->fake_labels = malloc((size_t)batch * sizeof *bb->fake_labels);
  bb->d_labels = malloc(2 * (size_t)batch * sizeof *bb->d_labels);
  bb->augment = malloc(3 * (size_t)batch * MG_AUGMENT_PARAMS * sizeof *bb->augment);
  bb->signs = malloc(2 * (size_t)batch * sizeof *bb->signs);
  bb->targets = malloc(2 * (size_t)batch * sizeof *bb->targets);
  bb->scores = malloc(2 * (size_t)batch * sizeof *bb->scores);
  if (!bb->real || !bb->fake_labels || !bb->d_labels || !bb->augment || !bb->signs || !bb->targets || !bb->scores)
    return mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory for a batch of %d images", batch);
  for (int i = 0; i < 2 * batch; i++) {
    bb->signs[i] = i % 2 ? -1.0f : 1.0f;
    bb->targets[i] = i % 2 ? 0.0f : 1.0f;
  }
  return MG_OK;
}

/* One image's augmentation (mg_augment_param): each of brightness b ~ U(-0.5, 0.5), contrast k ~ U(0.5, 1.5),
 * a translation by whole pixels in [-S/8, S/8] per axis and an S/2 x S/2 cutout at a uniform centre (clipped to
 * the image) applies with probability p, else its identity. All 10 numbers are drawn whatever p is. */
static void draw_augment(uint64_t *stream, double p, int S, float *out) {
  double use_b = mg_host_uniform(stream), b = mg_host_uniform(stream) - 0.5;
  double use_k = mg_host_uniform(stream), k = mg_host_uniform(stream) + 0.5;
  double use_t = mg_host_uniform(stream);
  int reach = S / 8, dx = (int)(mg_host_uniform(stream) * (2 * reach + 1)) - reach;
  int dy = (int)(mg_host_uniform(stream) * (2 * reach + 1)) - reach;
  double use_c = mg_host_uniform(stream);
  int cx = (int)(mg_host_uniform(stream) * S);
  int cy = (int)(mg_host_uniform(stream) * S);
  bool cut = use_c < p;
  out[MG_AUGMENT_BRIGHTNESS] = use_b < p ? (float)b : 0.0f;
  out[MG_AUGMENT_CONTRAST] = use_k < p ? (float)k : 1.0f;
  out[MG_AUGMENT_SHIFT_X] = use_t < p ? (float)dx : 0.0f;
  out[MG_AUGMENT_SHIFT_Y] = use_t < p ? (float)dy : 0.0f;
  out[MG_AUGMENT_CUT_X0] = cut ? (float)(cx - S / 4 > 0 ? cx - S / 4 : 0) : 0.0f;
  out[MG_AUGMENT_CUT_Y0] = cut ? (float)(cy - S / 4 > 0 ? cy - S / 4 : 0) : 0.0f;
  out[MG_AUGMENT_CUT_X1] = cut ? (float)(cx + S / 4 < S ? cx + S / 4 : S) : 0.0f;
  out[MG_AUGMENT_CUT_Y1] = cut ? (float)(cy + S / 4 < S ? cy + S / 4 : S) : 0.0f;
}

/* The host draws of one step (item 1 of the file's comment). */
static void draw_batch(mg_gan *m, const mg_dataset *d, batch_buffers *bb) {
  const int B = m->opt.batch, S = d->size, C = d->channels;
  uint64_t *stream = &m->run.host_stream;
  for (int i = 0; i < B; i++) {
    int k = (int)(mg_host_uniform(stream) * d->count);
    bool flip = mg_host_uniform(stream) < 0.5 && m->opt.flip_horizontal;
    mg_run_copy_image(d, k, flip, bb->real + (size_t)i * C * S * S);
    bb->d_labels[2 * i] = d->labels ? d->labels[k] : 0;
  }
  for (int i = 0; i < B; i++) {
    int k = (int)(mg_host_uniform(stream) * d->count);
    bb->fake_labels[i] = bb->d_labels[2 * i + 1] = d->labels ? d->labels[k] : 0;
  }
  for (int i = 0; i < 3 * B; i++) draw_augment(stream, m->augment_p, S, bb->augment + (size_t)i * MG_AUGMENT_PARAMS);
}

/* x augmented with the given rows of parameters (host), or x itself when p is 0. */
static mg_tensor *augment(mg_gan *m, mg_tensor *x, const float *params) {
  if (m->augment_p == 0 || !x) return x;
  mg_tensor *t = mg_tensor_2d(m->ctx, x->shape[0], MG_AUGMENT_PARAMS);
  if (t) mg_tensor_upload(m->ctx, t, params, t->numel);
  return mg_augment(m->ctx, x, t);
}

/* Labels for a batch of a conditional model (NULL for an unconditional one). */
static mg_tensor *label_tensor(mg_gan *m, int n, const int32_t *labels) {
  if (m->cfg.num_classes == 0) return NULL;
  mg_tensor *t = mg_tensor_new(m->ctx, MG_INT32, 1, (int[]){n});
  if (t) mg_tensor_upload(m->ctx, t, labels, n);
  return t;
}

/* Backward from loss and one Adam step of net's parameters; a non-finite loss or gradient is MG_ERR_NUMERIC. */
static double update(mg_gan *m, mg_tensor *loss, mg_params *net, mg_adam *adam, double lr, const char *which) {
  mg_ctx *ctx = m->ctx;
  double value = mg_tensor_item(ctx, loss);
  if (!mg_ok(ctx)) return NAN;
  if (!isfinite(value)) {
    mg_fail(ctx, MG_ERR_NUMERIC, "the %s's loss is %g", which, value);
    return value;
  }
  mg_zero_grad(ctx, net);
  mg_backward(ctx, loss);
  mg_clip_factor(ctx, net, 0, NULL); /* no clipping: the norm only checks that the gradient is finite */
  if (!mg_ok(ctx)) {
    char head[64];
    snprintf(head, sizeof head, "the %s: ", which);
    mg_rewrap_error(ctx, head, "");
    return NAN;
  }
  mg_adam_step(adam, lr, 1);
  return value;
}

/* The discriminator step (item 2); returns its loss. */
static double discriminator_step(mg_gan *m, batch_buffers *bb) {
  mg_ctx *ctx = m->ctx;
  const int B = m->opt.batch, C = m->cfg.channels, S = m->cfg.image_size;
  mg_step_begin(ctx);
  mg_tensor *z = mg_tensor_2d(ctx, B, m->cfg.latent_dim), *real = mg_tensor_4d(ctx, B, C, S, S);
  mg_tensor *rows = mg_tensor_2d(ctx, 2 * B, 1); /* per-row signs (hinge) or targets (BCE) */
  if (!z || !real || !rows) return NAN;
  mg_fill_normal(ctx, z, 0, 1);
  mg_tensor_upload(ctx, real, bb->real, real->numel);
  bool grad = mg_set_grad_enabled(ctx, false);
  mg_tensor *fake = mg_generator_forward(ctx, m->g, z, label_tensor(m, B, bb->fake_labels), true);
  mg_set_grad_enabled(ctx, grad);
  /* [B,2C,S,S] viewed as [2B,C,S,S] interleaves real_i and fake_i */
  mg_tensor *x = fake ? mg_reshape(ctx, mg_concat(ctx, real, fake), 4, (int[]){2 * B, C, S, S}) : NULL;
  mg_tensor *scores = mg_discriminator_forward(ctx, m->d, augment(m, x, bb->augment), label_tensor(m, 2 * B,
                                               bb->d_labels), true);
  mg_tensor *loss;
  if (m->opt.loss == MG_GAN_HINGE) {
    mg_tensor_upload(ctx, rows, bb->signs, 2 * B);
    loss = mg_scale(ctx, mg_hinge_loss(ctx, mg_mul(ctx, scores, rows), 1), 2);
  } else {
    mg_tensor_upload(ctx, rows, bb->targets, 2 * B);
    loss = mg_scale(ctx, mg_bce_logits_loss(ctx, scores, rows), 2);
  }
  double value = update(m, loss, mg_discriminator_params(m->d), m->adam_d, m->opt.lr_d, "discriminator");
  if (!mg_ok(ctx) || mg_tensor_download(ctx, scores, bb->scores, 2 * B) != MG_OK) return value;
  for (int i = 0; i < B; i++) m->sign_sum += (bb->scores[2 * i] > 0) - (bb->scores[2 * i] < 0);
  m->sign_count += B;
  return value;
}

/* The generator step (item 3), with the discriminator frozen; returns its loss. */
static double generator_step(mg_gan *m, batch_buffers *bb) {
  mg_ctx *ctx = m->ctx;
  const int B = m->opt.batch;
  mg_step_begin(ctx);
  mg_tensor *z = mg_tensor_2d(ctx, B, m->cfg.latent_dim);
  if (!z) return NAN;
  mg_fill_normal(ctx, z, 0, 1);
  mg_tensor *labels = label_tensor(m, B, bb->fake_labels);
  mg_tensor *fake = mg_generator_forward(ctx, m->g, z, labels, true);
  mg_tensor *scores = mg_discriminator_forward(ctx, m->d, augment(m, fake, bb->augment + 2 * (size_t)B *
                                               MG_AUGMENT_PARAMS), labels, true);
  mg_tensor *loss;
  if (m->opt.loss == MG_GAN_HINGE) {
    loss = mg_scale(ctx, mg_mean(ctx, scores), -1);
  } else {
    mg_tensor *ones = mg_tensor_2d(ctx, B, 1);
    mg_fill(ctx, ones, 1);
    loss = mg_bce_logits_loss(ctx, scores, ones);
  }
  double value = update(m, loss, mg_generator_params(m->g), m->adam_g, m->opt.lr_g, "generator");
  /* counted from 0 as the DDPM's: the first update copies the weights */
  if (mg_ok(ctx)) mg_ema_update(m->ema, mg_ema_decay(m->run.step, m->opt.ema_decay, EMA_INV_GAMMA, EMA_POWER));
  return value;
}

/* What one mg_gan_train call steps with. */
typedef struct train_job {
  mg_gan *m;
  const mg_dataset *data;
  batch_buffers bb;
} train_job;

/* One step (mg_run_loop's); returns the discriminator's loss. */
static double train_step(void *job) {
  mg_gan *m = ((train_job *)job)->m;
  batch_buffers *bb = &((train_job *)job)->bb;
  draw_batch(m, ((train_job *)job)->data, bb);
  m->d_loss = discriminator_step(m, bb);
  if (!mg_ok(m->ctx)) return NAN;
  mg_params *dp = mg_discriminator_params(m->d);
  mg_params_set_trainable(dp, false);
  m->g_loss = generator_step(m, bb);
  mg_params_set_trainable(dp, true);
  if (!mg_ok(m->ctx)) return NAN;
  if ((m->run.step + 1) % ADA_INTERVAL == 0) {
    m->real_sign = (double)m->sign_sum / (double)m->sign_count;
    if (m->opt.ada) {
      double diff = m->real_sign - m->opt.ada_target;
      double p = m->augment_p + ((diff > 0) - (diff < 0)) * (double)m->sign_count / (m->opt.ada_kimg * 1000);
      m->augment_p = p < 0 ? 0 : p < 1 ? p : nextafter(1.0, 0.0);
    }
    m->sign_sum = m->sign_count = 0;
  }
  return m->d_loss;
}

static mg_status save_job(void *job, const char *path, char *err, size_t err_size) {
  return mg_gan_save(((train_job *)job)->m, path, err, err_size);
}

mg_status mg_gan_train(mg_gan *m, const mg_dataset *data, mg_progress_fn progress, void *user) {
  if (!m) return MG_ERR_INVALID_ARGUMENT;
  mg_ctx *ctx = m->ctx;
  mg_clear_error(ctx);
  if (mg_run_train_check(&m->run, m->adam_g != NULL, "mg_gan_train", data) != MG_OK) return mg_ctx_status(ctx);
  train_job job = {m, data, {0}};
  mg_status status = batch_alloc(ctx, &job.bb, m->opt.batch, (int64_t)data->channels * data->size * data->size);
  if (status == MG_OK) {
    mg_run_loop loop = {"mg_gan_train", m->opt.steps, m->opt.checkpoint_every, train_step, save_job, &job};
    status = mg_run_train(&m->run, &loop, progress, user);
  } else {
    status = mg_rewrap_error(ctx, "mg_gan_train: ", "");
  }
  batch_free(&job.bb);
  return status;
}

/* ---- standing statistics ---- */

static void copy_tensor(mg_ctx *ctx, mg_tensor *dst, const mg_tensor *src) {
  mg_backend(ctx)->copy(dst->data, src->data, (size_t)src->numel * sizeof(mg_real));
}

/* Batch-norm statistics for the EMA weights: with them in the generator, STANDING_BATCHES batches of
 * STANDING_BATCH latents (mg_gan_latents of STANDING_SEED: not the training stream) run through it in training
 * mode without gradients, from zeroed statistics with momentum 1/(k+1) for batch k, so each buffer (running mean
 * or variance) ends as the average of the batches' statistics. classes cycle i % num_classes. stats receives the
 * buffers' values in parameter order. The generator's own weights, statistics and momentum, the context's stream
 * and the gradient mode are restored exactly. */
static mg_status standing_statistics(mg_gan *m, float *stats) {
  mg_ctx *ctx = m->ctx;
  mg_params *gp = mg_generator_params(m->g);
  const int n = mg_params_count(gp), L = m->cfg.latent_dim;
  float *z = malloc((size_t)STANDING_BATCH * L * sizeof *z);
  int32_t labels[STANDING_BATCH];
  if (!z) return mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory measuring batch-norm statistics");
  mg_rng_state kept = mg_rng_get(ctx);
  bool grad = mg_set_grad_enabled(ctx, false);
  for (int i = 0; i < n; i++) {
    mg_tensor *t = mg_params_at(gp, i);
    copy_tensor(ctx, m->g_kept[i], t);
    if (mg_params_is_buffer(gp, i)) mg_fill(ctx, t, 0);
    else copy_tensor(ctx, t, mg_ema_tensor(m->ema, i));
  }
  for (int k = 0; k < STANDING_BATCHES && mg_ok(ctx); k++) {
    mg_diffusion_noise(ctx, STANDING_SEED, (int64_t)k * STANDING_BATCH, STANDING_BATCH, L, 0, z);
    for (int i = 0; i < STANDING_BATCH; i++)
      labels[i] = m->cfg.num_classes ? (k * STANDING_BATCH + i) % m->cfg.num_classes : 0;
    mg_step_begin(ctx);
    mg_tensor *zt = mg_tensor_2d(ctx, STANDING_BATCH, L);
    if (zt) mg_tensor_upload(ctx, zt, z, zt->numel);
    mg_generator_set_bn_momentum(m->g, 1.0 / (k + 1));
    mg_generator_forward(ctx, m->g, zt, label_tensor(m, STANDING_BATCH, labels), true);
  }
  mg_generator_set_bn_momentum(m->g, MG_GAN_BN_MOMENTUM);
  int64_t at = 0;
  for (int i = 0; i < n && mg_ok(ctx); i++) {
    if (!mg_params_is_buffer(gp, i)) continue;
    const mg_tensor *t = mg_params_at(gp, i);
    mg_tensor_download(ctx, t, stats + at, t->numel);
    at += t->numel;
  }
  for (int i = 0; i < n; i++) copy_tensor(ctx, mg_params_at(gp, i), m->g_kept[i]);
  mg_set_grad_enabled(ctx, grad);
  mg_rng_set(ctx, kept);
  free(z);
  return mg_ctx_status(ctx);
}

/* The EMA generator: its weights, and its batch-norm statistics (standing_statistics) under the buffers' names. */
static mg_status add_ema(mg_gan *m, mg_checkpoint_writer *w) {
  mg_ctx *ctx = m->ctx;
  mg_params *gp = mg_generator_params(m->g);
  if (mg_checkpoint_add_ema(ctx, w, "ema.", gp, m->ema) != MG_OK) return mg_ctx_status(ctx);
  int64_t values = 0;
  for (int i = 0; i < mg_params_count(gp); i++) values += mg_params_is_buffer(gp, i) ? mg_params_at(gp, i)->numel : 0;
  float *stats = malloc((size_t)(values ? values : 1) * sizeof *stats);
  if (!stats) return mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory");
  if (standing_statistics(m, stats) == MG_OK) {
    int64_t at = 0;
    for (int i = 0; i < mg_params_count(gp); i++) {
      const mg_tensor *t = mg_params_at(gp, i);
      if (!mg_params_is_buffer(gp, i)) continue;
      char name[256];
      int64_t shape[MG_MAX_DIMS];
      for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
      snprintf(name, sizeof name, "ema.%s", t->name);
      mg_checkpoint_writer_add_tensor(w, name, t->ndim, shape, stats + at);
      at += t->numel;
    }
  }
  free(stats);
  return mg_ctx_status(ctx);
}

/* ---- checkpoints ---- */

static char *train_json(const mg_gan_train_options *t) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "batch", t->batch);
  cJSON_AddNumberToObject(o, "steps", (double)t->steps);
  cJSON_AddNumberToObject(o, "lr_g", t->lr_g);
  cJSON_AddNumberToObject(o, "lr_d", t->lr_d);
  cJSON_AddNumberToObject(o, "beta1", t->beta1);
  cJSON_AddNumberToObject(o, "beta2", t->beta2);
  cJSON_AddStringToObject(o, "loss", mg_gan_loss_name(t->loss));
  cJSON_AddNumberToObject(o, "ema_decay", t->ema_decay);
  cJSON_AddNumberToObject(o, "augment_p", t->augment_p);
  cJSON_AddBoolToObject(o, "ada", t->ada != 0);
  cJSON_AddNumberToObject(o, "ada_target", t->ada_target);
  cJSON_AddNumberToObject(o, "ada_kimg", t->ada_kimg);
  cJSON_AddBoolToObject(o, "flip_horizontal", t->flip_horizontal != 0);
  mg_json_add_u64_text(o, "seed", t->seed);
  cJSON_AddNumberToObject(o, "checkpoint_every", (double)t->checkpoint_every);
  return mg_json_print(o);
}

static char *ada_json(const mg_gan *m) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "p", m->augment_p);
  cJSON_AddNumberToObject(o, "sign_sum", (double)m->sign_sum);
  cJSON_AddNumberToObject(o, "sign_count", (double)m->sign_count);
  if (isfinite(m->real_sign)) cJSON_AddNumberToObject(o, "real_sign", m->real_sign);
  return mg_json_print(o);
}

mg_status mg_gan_save(mg_gan *m, const char *path, char *err, size_t err_size) {
  mg_status s = mg_run_save_check(m ? &m->run : NULL, m && m->adam_g, "mg_gan_save", path, err, err_size);
  if (s != MG_OK) return s;
  mg_ctx *ctx = m->ctx;
  char model[256];
  int model_len = mg_gan_config_to_json(&m->cfg, model, sizeof model);
  char *train = train_json(&m->opt), *ada = ada_json(m);
  mg_checkpoint_writer *w = mg_checkpoint_writer_new();
  if (w && model_len > 0 && (size_t)model_len < sizeof model && train && ada) {
    mg_params *gp = mg_generator_params(m->g), *dp = mg_discriminator_params(m->d);
    mg_checkpoint_add_params(ctx, w, "generator.", gp);
    mg_checkpoint_add_params(ctx, w, "discriminator.", dp);
    add_ema(m, w);
    mg_checkpoint_add_adam(ctx, w, "optim_g.", gp, m->adam_g);
    mg_checkpoint_add_adam(ctx, w, "optim_d.", dp, m->adam_d);
    const char *pairs[] = {"model.config", model, "train.config", train, "ada.state", ada, NULL};
    s = mg_run_save(&m->run, w, "gan", pairs, path, err, err_size);
  } else {
    s = mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory");
  }
  mg_checkpoint_writer_free(w);
  free(train);
  free(ada);
  return s;
}

static bool read_config(mg_json_reader *r, const mg_checkpoint *ckpt, mg_gan_config *c) {
  memset(c, 0, sizeof *c);
  if (!mg_json_model_type(r, ckpt, "gan", "GAN")) return false;
  char why[512];
  const char *text = mg_checkpoint_metadata(ckpt, "model.config");
  if (!text || mg_gan_config_from_json(text, c, why, sizeof why) != MG_OK) {
    mg_fail(r->ctx, MG_ERR_FORMAT, "%s: metadata 'model.config': %s", r->path, text ? why : "missing");
    return false;
  }
  return true;
}

static bool read_train_options(mg_json_reader *r, const mg_checkpoint *ckpt, mg_gan_train_options *o) {
  *o = mg_gan_default_train_options();
  cJSON *j = mg_json_parse(r, ckpt, "train.config", cJSON_Object);
  if (!j) return false;
  int64_t batch = 0;
  int loss = 0;
  bool ok = mg_json_int64(r, j, "batch", 1, MAX_BATCH, &batch) && mg_json_int64(r, j, "steps", 1, 9e15, &o->steps) &&
            mg_json_number(r, j, "lr_g", 0, 1, &o->lr_g) && mg_json_number(r, j, "lr_d", 0, 1, &o->lr_d) &&
            mg_json_number(r, j, "beta1", 0, 1, &o->beta1) && mg_json_number(r, j, "beta2", 0, 1, &o->beta2) &&
            mg_json_name(r, j, "loss", mg_gan_loss_from_name, &loss) &&
            mg_json_number(r, j, "ema_decay", 0, 1, &o->ema_decay) &&
            mg_json_number(r, j, "augment_p", 0, 1, &o->augment_p) && mg_json_bool(r, j, "ada", &o->ada) &&
            mg_json_number(r, j, "ada_target", 0, 1, &o->ada_target) &&
            mg_json_number(r, j, "ada_kimg", 0, 1e9, &o->ada_kimg) &&
            mg_json_bool(r, j, "flip_horizontal", &o->flip_horizontal) && mg_json_u64_text(r, j, "seed", &o->seed) &&
            mg_json_int64(r, j, "checkpoint_every", 0, 9e15, &o->checkpoint_every);
  o->batch = (int)batch;
  o->loss = (mg_gan_loss)loss;
  cJSON_Delete(j);
  return ok;
}

static bool read_ada(mg_json_reader *r, const mg_checkpoint *ckpt, mg_gan *m) {
  cJSON *j = mg_json_parse(r, ckpt, "ada.state", cJSON_Object);
  const cJSON *real_sign = cJSON_GetObjectItemCaseSensitive(j, "real_sign");
  bool ok = j && mg_json_number(r, j, "p", 0, nextafter(1.0, 0.0), &m->augment_p) &&
            mg_json_int64(r, j, "sign_count", 0, (double)ADA_INTERVAL * MAX_BATCH, &m->sign_count) &&
            mg_json_int64(r, j, "sign_sum", -(double)m->sign_count, (double)m->sign_count, &m->sign_sum) &&
            (!real_sign || mg_json_number(r, j, "real_sign", -1, 1, &m->real_sign));
  cJSON_Delete(j);
  return ok;
}

/* Everything needed to resume. The file's EMA carries batch-norm statistics too, which mg_ema does not hold: the
 * EMA goes through the generator (all of "ema." checked and loaded there, the weights copied out), and then the
 * generator's own values are loaded. */
static bool read_training_state(mg_json_reader *r, const mg_checkpoint *ckpt, mg_gan *m) {
  mg_ctx *ctx = m->ctx;
  mg_params *gp = mg_generator_params(m->g), *dp = mg_discriminator_params(m->d);
  if (add_training_state(m) != MG_OK || mg_checkpoint_restore_params(ctx, ckpt, "ema.", gp) != MG_OK) return false;
  for (int i = 0; i < mg_params_count(gp); i++)
    if (!mg_params_is_buffer(gp, i)) copy_tensor(ctx, mg_ema_tensor(m->ema, i), mg_params_at(gp, i));
  return mg_checkpoint_restore_params(ctx, ckpt, "generator.", gp) == MG_OK &&
         mg_checkpoint_restore_params(ctx, ckpt, "discriminator.", dp) == MG_OK &&
         mg_checkpoint_restore_adam(ctx, ckpt, "optim_g.", gp, m->adam_g) == MG_OK &&
         mg_checkpoint_restore_adam(ctx, ckpt, "optim_d.", dp, m->adam_d) == MG_OK && read_ada(r, ckpt, m);
}

mg_status mg_gan_load(mg_ctx *ctx, const mg_checkpoint *ckpt, mg_weights weights, mg_gan **out) {
  if (out) *out = NULL;
  if (!ctx) return MG_ERR_INVALID_ARGUMENT;
  if (mg_run_load_check(ctx, "mg_gan_load", ckpt, out != NULL, weights) != MG_OK) return mg_ctx_status(ctx);
  mg_json_reader r = mg_json_reader_of(ctx, ckpt);
  mg_gan_config cfg;
  mg_gan_train_options opt;
  if (!read_config(&r, ckpt, &cfg) || !read_train_options(&r, ckpt, &opt)) return mg_ctx_status(ctx);
  const bool training = weights == MG_WEIGHTS_TRAINING;
  mg_gan *m = gan_new(ctx, &cfg, &opt, training);
  if (!m) return mg_json_rewrap_error(&r);
  bool ok = mg_run_read(&r, ckpt, &m->run, m->opt.steps, training);
  if (ok && training) ok = read_training_state(&r, ckpt, m);
  if (ok && !training)
    ok = mg_checkpoint_restore_params(ctx, ckpt, weights == MG_WEIGHTS_EMA ? "ema." : "generator.",
                                      mg_generator_params(m->g)) == MG_OK;
  if (!ok) {
    mg_gan_free(m);
    return mg_ctx_status(ctx);
  }
  *out = m;
  return MG_OK;
}

/* ---- sampling ---- */

mg_status mg_gan_latents(const mg_gan *m, uint64_t seed, int first, int n, double truncation, float *z) {
  if (!m) return MG_ERR_INVALID_ARGUMENT;
  mg_ctx *ctx = m->ctx;
  mg_clear_error(ctx);
#define BAD(...) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "mg_gan_latents: " __VA_ARGS__)
  if (!z) BAD("z is NULL");
  if (n < 1) BAD("%d latents: need at least one", n);
  if (first < 0) BAD("first = %d: must be >= 0", first);
  if (!(truncation >= 0 && isfinite(truncation))) BAD("truncation %g: must be >= 0 (0: none)", truncation);
#undef BAD
  const int L = m->cfg.latent_dim;
  const size_t count = (size_t)n * L;
  float *redraw = truncation > 0 ? malloc(count * sizeof *redraw) : NULL;
  if (truncation > 0 && !redraw) return mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "mg_gan_latents: out of memory");
  mg_rng_state kept = mg_rng_get(ctx);
  /* image i's draws depend only on (seed, i): a component is replaced only while it is out of range, so what
   * other images need does not change it */
  mg_status s = mg_diffusion_noise(ctx, seed, first, n, L, 0, z);
  bool outside = truncation > 0;
  for (int draw = 1; s == MG_OK && outside && draw <= MAX_REDRAWS; draw++) {
    s = mg_diffusion_noise(ctx, seed, first, n, L, draw, redraw);
    outside = false;
    for (size_t i = 0; s == MG_OK && i < count; i++) {
      if (fabs(z[i]) > truncation) z[i] = redraw[i];
      outside |= fabs(z[i]) > truncation;
    }
  }
  for (size_t i = 0; s == MG_OK && outside && i < count; i++)
    z[i] = (float)fmax(-truncation, fmin(truncation, z[i]));
  mg_rng_set(ctx, kept);
  free(redraw);
  return s == MG_OK ? MG_OK : mg_rewrap_error(ctx, "mg_gan_latents: ", "");
}

/* n latents of the model's size, finite; labels (may be NULL) classes of a conditional model. */
static mg_status check_generate(mg_gan *m, int n, const float *z, const int32_t *labels, int batch) {
#define BAD(...) return mg_fail(m->ctx, MG_ERR_INVALID_ARGUMENT, __VA_ARGS__)
  if (n < 1) BAD("%d images: need at least one", n);
  if (batch < 1 || batch > MAX_BATCH) BAD("batch %d: must be from 1 to %d", batch, MAX_BATCH);
  if (labels && m->cfg.num_classes == 0) BAD("the model is unconditional: it takes no class");
  for (int i = 0; labels && i < n; i++)
    if (labels[i] < 0 || labels[i] >= m->cfg.num_classes)
      BAD("class %d of image %d: the model has classes 0 to %d", labels[i], i, m->cfg.num_classes - 1);
  for (int64_t i = 0; z && i < (int64_t)n * m->cfg.latent_dim; i++)
    if (!isfinite(z[i])) BAD("latent %lld of image %lld is %g: must be finite", (long long)(i % m->cfg.latent_dim),
                             (long long)(i / m->cfg.latent_dim), z[i]);
  return MG_OK;
#undef BAD
}

/* Images first .. first+n-1 of a request (z and labels point at image first's), in batches, in the data's units.
 * labels NULL: class (first + i) % num_classes. */
static mg_status generate(mg_gan *m, int first, int n, const float *z, const int32_t *labels, int batch,
                          float *out) {
  mg_ctx *ctx = m->ctx;
  const int L = m->cfg.latent_dim, classes = m->cfg.num_classes;
  const int64_t per = (int64_t)m->cfg.channels * m->cfg.image_size * m->cfg.image_size;
  int32_t *batch_labels = classes ? malloc((size_t)batch * sizeof *batch_labels) : NULL;
  if (classes && !batch_labels) return mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory");
  bool grad = mg_set_grad_enabled(ctx, false);
  for (int i0 = 0; i0 < n && mg_ok(ctx); i0 += batch) {
    int nb = n - i0 < batch ? n - i0 : batch;
    for (int i = 0; classes && i < nb; i++) batch_labels[i] = labels ? labels[i0 + i] : (first + i0 + i) % classes;
    mg_step_begin(ctx);
    mg_tensor *zt = mg_tensor_2d(ctx, nb, L);
    if (zt) mg_tensor_upload(ctx, zt, z + (size_t)i0 * L, zt->numel);
    mg_tensor *y = mg_generator_forward(ctx, m->g, zt, label_tensor(m, nb, batch_labels), false);
    float *dst = out + (size_t)i0 * per;
    if (y) mg_tensor_download(ctx, y, dst, y->numel);
    for (int64_t i = 0; mg_ok(ctx) && i < nb * per; i++)
      dst[i] = (float)(dst[i] * m->run.norm_scale + m->run.norm_offset);
  }
  mg_set_grad_enabled(ctx, grad);
  free(batch_labels);
  return mg_ctx_status(ctx);
}

mg_status mg_gan_generate(mg_gan *m, int n, const float *z, const int32_t *labels, int batch, float *out) {
  if (!m) return MG_ERR_INVALID_ARGUMENT;
  mg_ctx *ctx = m->ctx;
  mg_clear_error(ctx);
  if (!z || !out) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "mg_gan_generate: %s is NULL", z ? "out" : "z");
  if (check_generate(m, n, z, labels, batch) != MG_OK || generate(m, 0, n, z, labels, batch, out) != MG_OK)
    return mg_rewrap_error(ctx, "mg_gan_generate: ", "");
  return MG_OK;
}

mg_status mg_gan_sample(mg_gan *m, const mg_gan_sample_options *options, int n, const int32_t *labels, float *out,
                        mg_progress_fn progress, void *user) {
  if (!m) return MG_ERR_INVALID_ARGUMENT;
  mg_ctx *ctx = m->ctx;
  mg_clear_error(ctx);
  if (!out) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "mg_gan_sample: out is NULL");
  mg_gan_sample_options o = options ? *options : mg_gan_default_sample_options();
  if (check_generate(m, n, NULL, labels, o.batch) != MG_OK) return mg_rewrap_error(ctx, "mg_gan_sample: ", "");
  const int L = m->cfg.latent_dim;
  const int64_t per = (int64_t)m->cfg.channels * m->cfg.image_size * m->cfg.image_size;
  float *z = malloc((size_t)n * L * sizeof *z);
  if (!z) return mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "mg_gan_sample: out of memory for %d latents", n);
  mg_status s = mg_gan_latents(m, o.seed, 0, n, o.truncation, z);
  const double t_start = mg_seconds();
  for (int i0 = 0; i0 < n && s == MG_OK; i0 += o.batch) {
    int nb = n - i0 < o.batch ? n - i0 : o.batch;
    s = generate(m, i0, nb, z + (size_t)i0 * L, labels ? labels + i0 : NULL, o.batch, out + (size_t)i0 * per);
    if (s != MG_OK) s = mg_rewrap_error(ctx, "mg_gan_sample: ", "");
    mg_progress p = {"sample", i0 + nb, n, NAN, mg_seconds() - t_start};
    if (s == MG_OK && progress && progress(user, &p) && i0 + nb < n)
      s = mg_fail(ctx, MG_ERR_CANCELLED, "mg_gan_sample: cancelled after %d of %d images", i0 + nb, n);
  }
  free(z);
  return s;
}
