/* ddpm.c: diffusion models end to end (medgen.h, mg_ddpm_*): a UNet (unet.c) trained to predict the noise (or v)
 * of images noised by a schedule (diffusion.c), and sampled by running the reverse process.
 *
 * Training step: draw a batch (images with replacement, a timestep each, class dropout and flips from a host
 * stream; the noise from the context's Philox stream), form x_t, regress the prediction target with MSE, clip the
 * gradient norm, take an AdamW step with warm-up + cosine learning rate, and update the EMA weights. Both streams
 * are saved in checkpoints, so a resumed run repeats exactly the draws the uninterrupted run would have made.
 *
 * Sampling runs with the EMA weights (or the raw ones) loaded as the network's parameters; classifier-free
 * guidance mixes a conditional and a "no class" prediction: out = uncond + w (cond - uncond). Denoising noises
 * given images and turns one prediction into the estimate of the clean image: what the network has learned,
 * without a sampling loop. */
#include "mg_diffusion.h"
#include "mg_model_run.h"
#include "mg_unet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ADAM_BETA1 0.9
#define ADAM_BETA2 0.999
#define ADAM_EPS 1e-8
#define EMA_INV_GAMMA 1.0 /* diffusers' EMA warm-up: decay = min(max, 1 - (1 + step)^-2/3) */
#define EMA_POWER (2.0 / 3.0)
#define MAX_BATCH 1024

struct mg_ddpm {
  mg_ctx *ctx;
  mg_ddpm_config cfg;
  mg_ddpm_train_options opt; /* opt.checkpoint_path points at run.checkpoint_path */
  mg_schedule sched;
  mg_unet *unet;
  mg_adam *adam;            /* NULL unless made for training */
  mg_ema *ema;              /* NULL unless made for training */
  mg_run run;               /* step, streams (the host one: batch picks, timesteps, class dropout, flips), data,
                             * notes */
};

/* ---- configuration and options ---- */

mg_status mg_ddpm_default_config(const char *preset, mg_ddpm_config *out, char *err, size_t err_size) {
  if (!out) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, "mg_ddpm_default_config", "out is NULL");
  memset(out, 0, sizeof *out);
  mg_status s = mg_unet_preset(preset, &out->unet, err, err_size);
  if (s != MG_OK) return s;
  out->schedule = MG_SCHEDULE_LINEAR;
  out->timesteps = 1000;
  out->beta_start = 1e-4;
  out->beta_end = 0.02;
  out->prediction = MG_PREDICT_EPSILON;
  return MG_OK;
}

mg_ddpm_train_options mg_ddpm_default_train_options(void) {
  mg_ddpm_train_options o;
  memset(&o, 0, sizeof o);
  o.batch = 16;
  o.steps = 10000;
  o.learning_rate = 1e-4;
  o.warmup_steps = 500;
  o.min_lr_ratio = 0.1;
  o.weight_decay = 0;
  o.ema_decay = 0.9999;
  o.clip_norm = 1;
  o.class_dropout = 0.1;
  o.flip_horizontal = 0;
  o.seed = 1;
  o.checkpoint_every = 1000;
  o.checkpoint_path = NULL;
  return o;
}

mg_ddpm_sample_options mg_ddpm_default_sample_options(void) {
  mg_ddpm_sample_options o;
  memset(&o, 0, sizeof o);
  o.sampler = MG_SAMPLER_DDIM;
  o.steps = 50;
  o.eta = 0;
  o.guidance = 1;
  o.clip_x0 = 1;
  o.batch = 16;
  o.seed = 1;
  return o;
}

static mg_status check_config(mg_ctx *ctx, const mg_ddpm_config *c) {
  char why[512];
  if (mg_unet_config_check(&c->unet, why, sizeof why) != MG_OK)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s", why);
  if ((unsigned)c->schedule > MG_SCHEDULE_COSINE)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "noise schedule %d: must be linear or cosine", (int)c->schedule);
  if ((unsigned)c->prediction > MG_PREDICT_V)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "prediction %d: must be epsilon or v", (int)c->prediction);
  return MG_OK;
}

static mg_status check_train_options(mg_ctx *ctx, const mg_ddpm_train_options *o) {
#define BAD(...) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, __VA_ARGS__)
  if (o->batch < 1 || o->batch > MAX_BATCH) BAD("batch %d: must be from 1 to %d", o->batch, MAX_BATCH);
  if (o->steps < 1) BAD("steps %lld: must be at least 1", (long long)o->steps);
  if (!(o->learning_rate > 0 && o->learning_rate <= 1)) BAD("learning rate %g: must be in (0, 1]", o->learning_rate);
  if (o->warmup_steps < 0) BAD("warm-up steps %lld: must be >= 0", (long long)o->warmup_steps);
  if (!(o->min_lr_ratio >= 0 && o->min_lr_ratio <= 1)) BAD("minimum learning-rate ratio %g: must be in [0, 1]",
                                                          o->min_lr_ratio);
  if (!(o->weight_decay >= 0 && o->weight_decay < 1)) BAD("weight decay %g: must be in [0, 1)", o->weight_decay);
  if (!(o->ema_decay >= 0 && o->ema_decay < 1)) BAD("EMA decay %g: must be in [0, 1)", o->ema_decay);
  if (!(o->clip_norm >= 0 && isfinite(o->clip_norm))) BAD("gradient clip norm %g: must be >= 0", o->clip_norm);
  if (!(o->class_dropout >= 0 && o->class_dropout < 1)) BAD("class dropout %g: must be in [0, 1)", o->class_dropout);
  if (o->checkpoint_every < 0) BAD("checkpoint interval %lld: must be >= 0", (long long)o->checkpoint_every);
  return MG_OK;
#undef BAD
}

/* ---- creation and teardown ---- */

void mg_ddpm_free(mg_ddpm *m) {
  if (!m) return;
  mg_unet_free(m->unet);
  mg_schedule_free(&m->sched);
  mg_run_free(&m->run);
  free(m);
}

static mg_status set_options(mg_ddpm *m, const mg_ddpm_train_options *o) {
  if (mg_run_set_checkpoint_path(&m->run, o->checkpoint_path) != MG_OK) return mg_ctx_status(m->ctx);
  m->opt = *o;
  m->opt.checkpoint_path = m->run.checkpoint_path;
  return MG_OK;
}

/* The model without training state; weights initialized from seed. */
static mg_ddpm *ddpm_new(mg_ctx *ctx, const mg_ddpm_config *config, const mg_ddpm_train_options *o) {
  if (check_config(ctx, config) != MG_OK || check_train_options(ctx, o) != MG_OK) return NULL;
  mg_ddpm *m = calloc(1, sizeof *m);
  if (!m) {
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory");
    return NULL;
  }
  m->ctx = ctx;
  m->cfg = *config;
  mg_run_init(&m->run, ctx, o->seed, config->unet.in_channels, config->unet.image_size, config->unet.num_classes);
  char why[512];
  if (mg_schedule_init(&m->sched, config->schedule, config->timesteps, config->beta_start, config->beta_end, why,
                       sizeof why) != MG_OK)
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s", why);
  if (mg_ok(ctx)) set_options(m, o);
  mg_rng_state kept = mg_run_begin_init(&m->run);
  if (mg_ok(ctx)) m->unet = mg_unet_new(ctx, &config->unet);
  mg_run_end_init(&m->run, kept);
  if (!mg_ok(ctx)) {
    mg_ddpm_free(m);
    return NULL;
  }
  return m;
}

static mg_status add_training_state(mg_ddpm *m) {
  const mg_ddpm_train_options *o = &m->opt;
  mg_adam_config acfg = {o->learning_rate, ADAM_BETA1, ADAM_BETA2, ADAM_EPS, o->weight_decay, true};
  mg_params *p = mg_unet_params(m->unet);
  m->adam = mg_adam_new(m->ctx, p, acfg);
  if (mg_ok(m->ctx)) m->ema = mg_ema_new(m->ctx, p);
  return mg_ctx_status(m->ctx);
}

mg_status mg_ddpm_create(mg_ctx *ctx, const mg_ddpm_config *config, const mg_ddpm_train_options *options,
                         mg_ddpm **out) {
  if (out) *out = NULL;
  if (!ctx) return MG_ERR_INVALID_ARGUMENT;
  mg_clear_error(ctx);
  if (!config || !out) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "mg_ddpm_create: config and out are required");
  mg_ddpm_train_options o = options ? *options : mg_ddpm_default_train_options();
  mg_ddpm *m = ddpm_new(ctx, config, &o);
  if (!m || add_training_state(m) != MG_OK) {
    mg_ddpm_free(m);
    return mg_rewrap_error(ctx, "mg_ddpm_create: ", "");
  }
  *out = m;
  return MG_OK;
}

mg_ddpm_train_options mg_ddpm_train_options_of(const mg_ddpm *m) {
  return m ? m->opt : mg_ddpm_default_train_options();
}

mg_status mg_ddpm_set_train_options(mg_ddpm *m, const mg_ddpm_train_options *options) {
  if (!m) return MG_ERR_INVALID_ARGUMENT;
  mg_clear_error(m->ctx);
  if (!options) return mg_fail(m->ctx, MG_ERR_INVALID_ARGUMENT, "mg_ddpm_set_train_options: options is NULL");
  if (check_train_options(m->ctx, options) != MG_OK) return mg_rewrap_error(m->ctx, "mg_ddpm_set_train_options: ", "");
  const mg_ddpm_train_options *o = options, *now = &m->opt;
  if (o->steps < m->run.step)
    return mg_fail(m->ctx, MG_ERR_INVALID_ARGUMENT, "mg_ddpm_set_train_options: %lld steps, but %lld are already done",
                   (long long)o->steps, (long long)m->run.step);
  /* the optimizer and the streams were made from these: changing them would not take effect consistently */
  if (o->batch != now->batch || o->seed != now->seed || o->weight_decay != now->weight_decay ||
      o->learning_rate != now->learning_rate)
    return mg_fail(m->ctx, MG_ERR_INVALID_ARGUMENT, "mg_ddpm_set_train_options: batch, seed, learning rate and weight "
                   "decay are fixed when the model is made; start a new run to change them");
  return set_options(m, options);
}

mg_status mg_ddpm_set_note(mg_ddpm *m, const char *key, const char *value) {
  if (!m) return MG_ERR_INVALID_ARGUMENT;
  mg_clear_error(m->ctx);
  return mg_run_set_note(&m->run, "mg_ddpm_set_note", key, value);
}

const char *mg_ddpm_note(const mg_ddpm *m, const char *key) { return m ? mg_run_note(&m->run, key) : NULL; }

/* ---- accessors ---- */

const mg_ddpm_config *mg_ddpm_get_config(const mg_ddpm *m) { return m ? &m->cfg : NULL; }
int64_t mg_ddpm_parameter_count(const mg_ddpm *m) { return m ? mg_params_numel(mg_unet_params(m->unet)) : 0; }
int64_t mg_ddpm_step(const mg_ddpm *m) { return m ? m->run.step : 0; }
int mg_ddpm_num_classes(const mg_ddpm *m) { return m ? m->cfg.unet.num_classes : 0; }
const char *mg_ddpm_class_name(const mg_ddpm *m, int index) { return m ? mg_run_class_name(&m->run, index) : NULL; }
int mg_ddpm_class_index(const mg_ddpm *m, const char *name) { return m ? mg_run_class_index(&m->run, name) : -1; }

void mg_ddpm_normalization(const mg_ddpm *m, double *offset, double *scale) {
  mg_run_normalization(m ? &m->run : NULL, offset, scale);
}

/* ---- training ---- */

/* Host staging for one batch, allocated once per mg_ddpm_train so that steps make no heap allocation. */
typedef struct batch_buffers {
  float *x0, *a, *b, *t;
  int32_t *labels;
} batch_buffers;

static void batch_free(batch_buffers *bb) {
  free(bb->x0);
  free(bb->a);
  free(bb->b);
  free(bb->t);
  free(bb->labels);
}

static mg_status batch_alloc(mg_ctx *ctx, batch_buffers *bb, int batch, int64_t per) {
  bb->x0 = malloc((size_t)batch * per * sizeof *bb->x0);
  bb->a = malloc((size_t)batch * sizeof *bb->a);
  bb->b = malloc((size_t)batch * sizeof *bb->b);
  bb->t = malloc((size_t)batch * sizeof *bb->t);
  bb->labels = malloc((size_t)batch * sizeof *bb->labels);
  if (bb->x0 && bb->a && bb->b && bb->t && bb->labels) return MG_OK;
  return mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory for a batch of %d images", batch);
}

/* Fills the host batch from the host stream: image picks, timesteps, class dropout and flips. Every draw is made
 * whether or not it is used, so the stream does not depend on the options. */
static void draw_batch(mg_ddpm *m, const mg_dataset *d, batch_buffers *bb) {
  const int B = m->opt.batch, S = d->size, C = d->channels, T = m->sched.T;
  const int null_class = m->cfg.unet.num_classes;
  for (int i = 0; i < B; i++) {
    int k = (int)(mg_host_uniform(&m->run.host_stream) * d->count);
    int t = (int)(mg_host_uniform(&m->run.host_stream) * T);
    bool drop = mg_host_uniform(&m->run.host_stream) < m->opt.class_dropout;
    bool flip = mg_host_uniform(&m->run.host_stream) < 0.5 && m->opt.flip_horizontal;
    mg_run_copy_image(d, k, flip, bb->x0 + (size_t)i * C * S * S);
    bb->t[i] = (float)t;
    bb->a[i] = (float)sqrt(m->sched.alpha_bar[t]);
    bb->b[i] = (float)sqrt(1 - m->sched.alpha_bar[t]);
    bb->labels[i] = null_class > 0 && !drop ? d->labels[k] : null_class;
  }
}

/* What one mg_ddpm_train call steps with. */
typedef struct train_job {
  mg_ddpm *m;
  const mg_dataset *data;
  batch_buffers bb;
} train_job;

/* One step (mg_run_loop's); returns the loss (NaN on failure, recorded in ctx). */
static double train_step(void *job) {
  mg_ddpm *m = ((train_job *)job)->m;
  const mg_dataset *d = ((train_job *)job)->data;
  batch_buffers *bb = &((train_job *)job)->bb;
  mg_ctx *ctx = m->ctx;
  const int B = m->opt.batch, C = d->channels, S = d->size;
  mg_step_begin(ctx);
  draw_batch(m, d, bb);
  mg_tensor *x0 = mg_tensor_4d(ctx, B, C, S, S), *eps = mg_tensor_4d(ctx, B, C, S, S);
  mg_tensor *a = mg_tensor_4d(ctx, B, 1, 1, 1), *b = mg_tensor_4d(ctx, B, 1, 1, 1);
  mg_tensor *t = mg_tensor_new(ctx, MG_REAL, 1, (int[]){B});
  mg_tensor *labels = m->cfg.unet.num_classes > 0 ? mg_tensor_new(ctx, MG_INT32, 1, (int[]){B}) : NULL;
  if (!x0 || !eps || !a || !b || !t || (m->cfg.unet.num_classes > 0 && !labels)) return NAN;
  mg_tensor_upload(ctx, x0, bb->x0, x0->numel);
  mg_tensor_upload(ctx, a, bb->a, B);
  mg_tensor_upload(ctx, b, bb->b, B);
  mg_tensor_upload(ctx, t, bb->t, B);
  if (labels) mg_tensor_upload(ctx, labels, bb->labels, B);
  mg_fill_normal(ctx, eps, 0.0, 1.0);
  mg_tensor *xt = mg_add(ctx, mg_mul(ctx, x0, a), mg_mul(ctx, eps, b));
  /* v = sqrt(abar) eps - sqrt(1 - abar) x0 */
  mg_tensor *target = m->cfg.prediction == MG_PREDICT_V ? mg_sub(ctx, mg_mul(ctx, eps, a), mg_mul(ctx, x0, b)) : eps;
  mg_tensor *loss = mg_mse_loss(ctx, mg_unet_forward(ctx, m->unet, xt, t, labels, true), target);
  double value = mg_tensor_item(ctx, loss);
  if (!mg_ok(ctx)) return NAN;
  if (!isfinite(value)) {
    mg_fail(ctx, MG_ERR_NUMERIC, "the loss is %g", value);
    return value;
  }
  mg_params *p = mg_unet_params(m->unet);
  mg_zero_grad(ctx, p);
  mg_backward(ctx, loss);
  double clip = mg_clip_factor(ctx, p, m->opt.clip_norm, NULL);
  const mg_ddpm_train_options *o = &m->opt;
  double lr = mg_lr_schedule(m->run.step, o->warmup_steps, o->steps, o->learning_rate, o->learning_rate * o->min_lr_ratio);
  mg_adam_step(m->adam, lr, clip);
  /* both count updates from 0, as diffusers: the first update has lr 0 (warm-up) and EMA decay 0 (a copy) */
  mg_ema_update(m->ema, mg_ema_decay(m->run.step, o->ema_decay, EMA_INV_GAMMA, EMA_POWER));
  return mg_ok(ctx) ? value : NAN;
}

static mg_status save_job(void *job, const char *path, char *err, size_t err_size) {
  return mg_ddpm_save(((train_job *)job)->m, path, err, err_size);
}

mg_status mg_ddpm_train(mg_ddpm *m, const mg_dataset *data, mg_progress_fn progress, void *user) {
  if (!m) return MG_ERR_INVALID_ARGUMENT;
  mg_ctx *ctx = m->ctx;
  mg_clear_error(ctx);
  if (mg_run_train_check(&m->run, m->adam != NULL, "mg_ddpm_train", data) != MG_OK) return mg_ctx_status(ctx);
  train_job job = {m, data, {0}};
  mg_status status = batch_alloc(ctx, &job.bb, m->opt.batch, (int64_t)data->channels * data->size * data->size);
  if (status == MG_OK) {
    mg_run_loop loop = {"mg_ddpm_train", m->opt.steps, m->opt.checkpoint_every, train_step, save_job, &job};
    status = mg_run_train(&m->run, &loop, progress, user);
  } else {
    status = mg_rewrap_error(ctx, "mg_ddpm_train: ", "");
  }
  batch_free(&job.bb);
  return status;
}

/* ---- checkpoints ---- */

static char *diffusion_json(const mg_ddpm_config *c) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "schedule", mg_noise_schedule_name(c->schedule));
  cJSON_AddNumberToObject(o, "timesteps", c->timesteps);
  cJSON_AddNumberToObject(o, "beta_start", c->beta_start);
  cJSON_AddNumberToObject(o, "beta_end", c->beta_end);
  cJSON_AddStringToObject(o, "prediction", mg_prediction_name(c->prediction));
  return mg_json_print(o);
}

static char *train_json(const mg_ddpm_train_options *t) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "batch", t->batch);
  cJSON_AddNumberToObject(o, "steps", (double)t->steps);
  cJSON_AddNumberToObject(o, "learning_rate", t->learning_rate);
  cJSON_AddNumberToObject(o, "warmup_steps", (double)t->warmup_steps);
  cJSON_AddNumberToObject(o, "min_lr_ratio", t->min_lr_ratio);
  cJSON_AddNumberToObject(o, "weight_decay", t->weight_decay);
  cJSON_AddNumberToObject(o, "ema_decay", t->ema_decay);
  cJSON_AddNumberToObject(o, "clip_norm", t->clip_norm);
  cJSON_AddNumberToObject(o, "class_dropout", t->class_dropout);
  cJSON_AddBoolToObject(o, "flip_horizontal", t->flip_horizontal != 0);
  mg_json_add_u64_text(o, "seed", t->seed);
  cJSON_AddNumberToObject(o, "checkpoint_every", (double)t->checkpoint_every);
  return mg_json_print(o);
}

mg_status mg_ddpm_save(mg_ddpm *m, const char *path, char *err, size_t err_size) {
  mg_status s = mg_run_save_check(m ? &m->run : NULL, m && m->adam, "mg_ddpm_save", path, err, err_size);
  if (s != MG_OK) return s;
  mg_ctx *ctx = m->ctx;
  char model[2048];
  int model_len = mg_unet_config_to_json(&m->cfg.unet, model, sizeof model);
  char *texts[2] = {diffusion_json(&m->cfg), train_json(&m->opt)};
  mg_checkpoint_writer *w = mg_checkpoint_writer_new();
  if (w && model_len > 0 && (size_t)model_len < sizeof model && texts[0] && texts[1]) {
    mg_params *p = mg_unet_params(m->unet);
    mg_checkpoint_add_params(ctx, w, "model.", p);
    mg_checkpoint_add_ema(ctx, w, "ema.", p, m->ema);
    mg_checkpoint_add_adam(ctx, w, "optim.", p, m->adam);
    const char *pairs[] = {"model.config", model, "diffusion.config", texts[0], "train.config", texts[1], NULL};
    s = mg_run_save(&m->run, w, "ddpm", pairs, path, err, err_size);
  } else {
    s = mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory");
  }
  mg_checkpoint_writer_free(w);
  for (int i = 0; i < 2; i++) free(texts[i]);
  return s;
}

static bool read_config(mg_json_reader *r, const mg_checkpoint *ckpt, mg_ddpm_config *c) {
  memset(c, 0, sizeof *c);
  if (!mg_json_model_type(r, ckpt, "ddpm", "diffusion-model")) return false;
  char why[512];
  const char *unet = mg_checkpoint_metadata(ckpt, "model.config");
  if (!unet || mg_unet_config_from_json(unet, &c->unet, why, sizeof why) != MG_OK) {
    mg_fail(r->ctx, MG_ERR_FORMAT, "%s: metadata 'model.config': %s", r->path, unet ? why : "missing");
    return false;
  }
  cJSON *d = mg_json_parse(r, ckpt, "diffusion.config", cJSON_Object);
  double T = 0;
  int schedule = 0, prediction = 0;
  bool ok = d && mg_json_name(r, d, "schedule", mg_noise_schedule_from_name, &schedule) &&
            mg_json_number(r, d, "timesteps", 10, 10000, &T) && mg_json_number(r, d, "beta_start", 0, 1, &c->beta_start) &&
            mg_json_number(r, d, "beta_end", 0, 1, &c->beta_end) &&
            mg_json_name(r, d, "prediction", mg_prediction_from_name, &prediction);
  cJSON_Delete(d);
  c->timesteps = (int)T;
  c->schedule = (mg_noise_schedule)schedule;
  c->prediction = (mg_prediction)prediction;
  return ok;
}

static bool read_train_options(mg_json_reader *r, const mg_checkpoint *ckpt, mg_ddpm_train_options *o) {
  *o = mg_ddpm_default_train_options();
  cJSON *j = mg_json_parse(r, ckpt, "train.config", cJSON_Object);
  if (!j) return false;
  int64_t batch = 0;
  bool ok = mg_json_int64(r, j, "batch", 1, MAX_BATCH, &batch) && mg_json_int64(r, j, "steps", 1, 9e15, &o->steps) &&
            mg_json_number(r, j, "learning_rate", 0, 1, &o->learning_rate) &&
            mg_json_int64(r, j, "warmup_steps", 0, 9e15, &o->warmup_steps) &&
            mg_json_number(r, j, "min_lr_ratio", 0, 1, &o->min_lr_ratio) &&
            mg_json_number(r, j, "weight_decay", 0, 1, &o->weight_decay) &&
            mg_json_number(r, j, "ema_decay", 0, 1, &o->ema_decay) &&
            mg_json_number(r, j, "clip_norm", 0, 1e30, &o->clip_norm) &&
            mg_json_number(r, j, "class_dropout", 0, 1, &o->class_dropout) &&
            mg_json_int64(r, j, "checkpoint_every", 0, 9e15, &o->checkpoint_every) &&
            mg_json_bool(r, j, "flip_horizontal", &o->flip_horizontal) && mg_json_u64_text(r, j, "seed", &o->seed);
  o->batch = (int)batch;
  cJSON_Delete(j);
  return ok;
}

static bool read_training_state(const mg_checkpoint *ckpt, mg_ddpm *m) {
  mg_ctx *ctx = m->ctx;
  mg_params *p = mg_unet_params(m->unet);
  return add_training_state(m) == MG_OK && mg_checkpoint_restore_params(ctx, ckpt, "model.", p) == MG_OK &&
         mg_checkpoint_restore_ema(ctx, ckpt, "ema.", p, m->ema) == MG_OK &&
         mg_checkpoint_restore_adam(ctx, ckpt, "optim.", p, m->adam) == MG_OK;
}

mg_status mg_ddpm_load(mg_ctx *ctx, const mg_checkpoint *ckpt, mg_weights weights, mg_ddpm **out) {
  if (out) *out = NULL;
  if (!ctx) return MG_ERR_INVALID_ARGUMENT;
  if (mg_run_load_check(ctx, "mg_ddpm_load", ckpt, out != NULL, weights) != MG_OK) return mg_ctx_status(ctx);
  mg_json_reader r = mg_json_reader_of(ctx, ckpt);
  mg_ddpm_config cfg;
  mg_ddpm_train_options opt;
  if (!read_config(&r, ckpt, &cfg) || !read_train_options(&r, ckpt, &opt)) return mg_ctx_status(ctx);
  mg_ddpm *m = ddpm_new(ctx, &cfg, &opt);
  if (!m) return mg_json_rewrap_error(&r);
  bool ok = mg_run_read(&r, ckpt, &m->run, m->opt.steps, weights == MG_WEIGHTS_TRAINING);
  if (ok && weights == MG_WEIGHTS_TRAINING) ok = read_training_state(ckpt, m);
  if (ok && weights != MG_WEIGHTS_TRAINING)
    ok = mg_checkpoint_restore_params(ctx, ckpt, weights == MG_WEIGHTS_EMA ? "ema." : "model.",
                                      mg_unet_params(m->unet)) == MG_OK;
  if (!ok) {
    mg_ddpm_free(m);
    return mg_ctx_status(ctx);
  }
  *out = m;
  return MG_OK;
}

/* ---- sampling ---- */

/* The model callback of mg_diffusion_sample (and mg_ddpm_denoise's one prediction) for one batch: the UNet's
 * prediction, guided. With guidance, the conditional and "no class" halves run as one batch of 2n (bigger GEMMs,
 * one pass over the weights). */
typedef struct guided_model {
  mg_ddpm *m;
  const int32_t *labels; /* n labels of this batch (null class for -1), or NULL */
  const int *timesteps;  /* n timesteps of this batch (mg_ddpm_denoise), or NULL: all at the sampler's t */
  double guidance;
  int32_t *label_buf;    /* 2 * batch */
  float *t_buf;          /* 2 * batch */
  float *out_buf;        /* 2 * batch * per */
} guided_model;

static mg_status guided_alloc(mg_ddpm *m, guided_model *g, int batch, double guidance, const char *fn) {
  const mg_unet_config *u = &m->cfg.unet;
  const size_t per = (size_t)u->in_channels * u->image_size * u->image_size;
  *g = (guided_model){m, NULL, NULL, guidance, malloc(2 * (size_t)batch * sizeof(int32_t)),
                      malloc(2 * (size_t)batch * sizeof(float)), malloc(2 * (size_t)batch * per * sizeof(float))};
  if (g->label_buf && g->t_buf && g->out_buf) return MG_OK;
  return mg_fail(m->ctx, MG_ERR_OUT_OF_MEMORY, "%s: out of memory for a batch of %d images", fn, batch);
}

static void guided_free(guided_model *g) {
  free(g->label_buf);
  free(g->t_buf);
  free(g->out_buf);
}

static mg_status guided_predict(void *user, const float *x, int n, int t, float *out) {
  guided_model *g = user;
  mg_ddpm *m = g->m;
  mg_ctx *ctx = m->ctx;
  const mg_unet_config *u = &m->cfg.unet;
  const int64_t per = (int64_t)u->in_channels * u->image_size * u->image_size;
  const int null_class = u->num_classes;
  /* halves: cond (labels), uncond (null class); guidance 1 needs only cond, 0 only uncond */
  bool conditional = false; /* some image of the batch asks for a class */
  for (int i = 0; u->num_classes > 0 && g->labels && i < n; i++) conditional |= g->labels[i] >= 0;
  bool cond = conditional && g->guidance != 0, uncond = u->num_classes > 0 && (!conditional || g->guidance != 1);
  int halves = (cond ? 1 : 0) + (uncond ? 1 : 0), rows = n * (halves ? halves : 1);
  mg_step_begin(ctx);
  mg_tensor *xt = mg_tensor_4d(ctx, rows, u->in_channels, u->image_size, u->image_size);
  mg_tensor *tt = mg_tensor_new(ctx, MG_REAL, 1, (int[]){rows});
  mg_tensor *lt = u->num_classes > 0 ? mg_tensor_new(ctx, MG_INT32, 1, (int[]){rows}) : NULL;
  if (!xt || !tt || (u->num_classes > 0 && !lt)) return mg_ctx_status(ctx);
  for (int h = 0; h < (halves ? halves : 1); h++) {
    memcpy(g->out_buf + h * n * per, x, (size_t)n * per * sizeof *x);
    for (int i = 0; i < n; i++) {
      g->t_buf[h * n + i] = (float)(g->timesteps ? g->timesteps[i] : t);
      bool use_label = cond && h == 0 && g->labels[i] >= 0;
      g->label_buf[h * n + i] = use_label ? g->labels[i] : null_class;
    }
  }
  mg_tensor_upload(ctx, xt, g->out_buf, xt->numel);
  mg_tensor_upload(ctx, tt, g->t_buf, rows);
  if (lt) mg_tensor_upload(ctx, lt, g->label_buf, rows);
  mg_tensor *pred = mg_unet_forward(ctx, m->unet, xt, tt, lt, false);
  mg_tensor_download(ctx, pred, g->out_buf, pred ? pred->numel : 0);
  if (!mg_ok(ctx)) return mg_ctx_status(ctx);
  if (halves < 2) {
    memcpy(out, g->out_buf, (size_t)n * per * sizeof *out);
    return MG_OK;
  }
  const float *c = g->out_buf, *un = g->out_buf + n * per;
  for (int64_t i = 0; i < n * per; i++) out[i] = (float)(un[i] + g->guidance * ((double)c[i] - un[i]));
  return MG_OK;
}

/* Progress across batches: the sampler reports steps within one batch. */
typedef struct batch_progress {
  mg_progress_fn fn;
  void *user;
  int64_t done, total;
  double t_start;
} batch_progress;

static int forward_progress(void *user, const mg_progress *p) {
  batch_progress *b = user;
  mg_progress q = {"sample", b->done + p->step, b->total, NAN, mg_seconds() - b->t_start};
  return b->fn(b->user, &q);
}

/* n images: at least one; labels (may be NULL) -1 ("no class") or a class of a conditional model. */
static mg_status check_images_and_labels(mg_ddpm *m, int n, const int32_t *labels) {
#define BAD(...) return mg_fail(m->ctx, MG_ERR_INVALID_ARGUMENT, __VA_ARGS__)
  if (n < 1) BAD("%d images: need at least one", n);
  if (labels && m->cfg.unet.num_classes == 0) BAD("the model is unconditional: it takes no class");
  for (int i = 0; labels && i < n; i++)
    if (labels[i] < -1 || labels[i] >= m->cfg.unet.num_classes)
      BAD("class %d of image %d: the model has classes 0 to %d (-1: no class)", labels[i], i,
          m->cfg.unet.num_classes - 1);
  return MG_OK;
#undef BAD
}

static mg_status check_sample_options(mg_ddpm *m, const mg_ddpm_sample_options *o, int n, const int32_t *labels) {
  mg_ctx *ctx = m->ctx;
#define BAD(...) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, __VA_ARGS__)
  if (check_images_and_labels(m, n, labels) != MG_OK) return mg_ctx_status(ctx);
  if ((unsigned)o->sampler > MG_SAMPLER_DPMPP_2M) BAD("unknown sampler %d", (int)o->sampler);
  if (o->sampler != MG_SAMPLER_DDPM && (o->steps < 1 || o->steps > m->sched.T))
    BAD("%d steps: the %s sampler takes 1 to %d", o->steps, mg_sampler_name(o->sampler), m->sched.T);
  if (!(o->eta >= 0 && o->eta <= 10)) BAD("eta %g: must be in [0, 10]", o->eta);
  if (!(o->guidance >= 0 && o->guidance <= 100)) BAD("guidance %g: must be in [0, 100]", o->guidance);
  if (o->batch < 1 || o->batch > MAX_BATCH) BAD("batch %d: must be from 1 to %d", o->batch, MAX_BATCH);
  return MG_OK;
#undef BAD
}

mg_status mg_ddpm_sample(mg_ddpm *m, const mg_ddpm_sample_options *options, int n, const int32_t *labels, float *out,
                         mg_progress_fn progress, void *user) {
  if (!m) return MG_ERR_INVALID_ARGUMENT;
  mg_ctx *ctx = m->ctx;
  mg_clear_error(ctx);
  if (!out) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "mg_ddpm_sample: out is NULL");
  mg_ddpm_sample_options o = options ? *options : mg_ddpm_default_sample_options();
  if (check_sample_options(m, &o, n, labels) != MG_OK) return mg_rewrap_error(ctx, "mg_ddpm_sample: ", "");
  const mg_unet_config *u = &m->cfg.unet;
  const int64_t per = (int64_t)u->in_channels * u->image_size * u->image_size;
  const int B = o.batch < n ? o.batch : n;
  guided_model g;
  if (guided_alloc(m, &g, B, o.guidance, "mg_ddpm_sample") != MG_OK) {
    guided_free(&g);
    return mg_ctx_status(ctx);
  }
  int steps_per_batch = o.sampler == MG_SAMPLER_DDPM ? m->sched.T : o.steps;
  batch_progress bp = {progress, user, 0, (int64_t)((n + B - 1) / B) * steps_per_batch, mg_seconds()};
  bool grad = mg_set_grad_enabled(ctx, false);
  mg_rng_state kept = mg_rng_get(ctx); /* training's stream */
  mg_status s = MG_OK;
  for (int i0 = 0; i0 < n && s == MG_OK; i0 += B) {
    int nb = n - i0 < B ? n - i0 : B;
    g.labels = labels ? labels + i0 : NULL;
    mg_sampling so = {o.sampler, o.steps, o.eta, o.clip_x0 != 0, o.seed, i0};
    float *x = out + (size_t)i0 * per;
    s = mg_diffusion_sample(ctx, &m->sched, m->cfg.prediction, &so, nb, (int)per, guided_predict, &g, x,
                            progress ? forward_progress : NULL, &bp);
    bp.done += steps_per_batch;
  }
  mg_rng_set(ctx, kept);
  mg_set_grad_enabled(ctx, grad);
  guided_free(&g);
  if (s != MG_OK) return mg_ok(ctx) ? mg_fail(ctx, s, "mg_ddpm_sample failed") : mg_rewrap_error(ctx, "mg_ddpm_sample: ", "");
  /* back to the data's units; the model's range is [-1, 1] */
  for (int64_t i = 0; i < (int64_t)n * per; i++) {
    double v = out[i] < -1.0f ? -1.0 : out[i] > 1.0f ? 1.0 : out[i];
    out[i] = (float)(v * m->run.norm_scale + m->run.norm_offset);
  }
  return MG_OK;
}

mg_status mg_ddpm_denoise(mg_ddpm *m, const float *images, int count, const int *timesteps, const int32_t *labels,
                          uint64_t seed, float *noisy, float *denoised) {
  enum { DENOISE_BATCH = 16 };
  if (!m) return MG_ERR_INVALID_ARGUMENT;
  mg_ctx *ctx = m->ctx;
  mg_clear_error(ctx);
  const char *fn = "mg_ddpm_denoise";
  if (!images || !timesteps || !denoised)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                   !images ? "images" : !timesteps ? "timesteps" : "denoised");
  const mg_unet_config *u = &m->cfg.unet;
  const int64_t per = (int64_t)u->in_channels * u->image_size * u->image_size;
  if (check_images_and_labels(m, count, labels) != MG_OK || mg_run_check_pixels(ctx, images, count, per) != MG_OK)
    return mg_rewrap_error(ctx, "mg_ddpm_denoise: ", "");
  for (int i = 0; i < count; i++)
    if (timesteps[i] < 0 || timesteps[i] >= m->sched.T)
      return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: timesteps[%d] = %d: must be from 0 to %d", fn, i,
                     timesteps[i], m->sched.T - 1);
  const int B = count < DENOISE_BATCH ? count : DENOISE_BATCH;
  guided_model g;
  float *xt = malloc((size_t)B * per * sizeof *xt), *pred = malloc((size_t)B * per * sizeof *pred);
  if (guided_alloc(m, &g, B, 1, fn) != MG_OK || !xt || !pred) {
    guided_free(&g), free(xt), free(pred);
    return mg_ok(ctx) ? mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "%s: out of memory", fn) : mg_ctx_status(ctx);
  }
  bool grad = mg_set_grad_enabled(ctx, false);
  mg_rng_state kept = mg_rng_get(ctx); /* training's stream */
  mg_status s = MG_OK;
  for (int i0 = 0; i0 < count && s == MG_OK; i0 += B) {
    int nb = count - i0 < B ? count - i0 : B;
    g.labels = labels ? labels + i0 : NULL;
    g.timesteps = timesteps + i0;
    /* the starting noise of a sampler (draw 0) for image i: it depends only on (seed, i) */
    s = mg_diffusion_noise(ctx, seed, i0, nb, (int)per, 0, xt);
    for (int i = 0; s == MG_OK && i < nb; i++) {
      double a = sqrt(m->sched.alpha_bar[timesteps[i0 + i]]), b = sqrt(1 - m->sched.alpha_bar[timesteps[i0 + i]]);
      float *x = xt + i * per;
      const float *x0 = images + (i0 + i) * per;
      for (int64_t j = 0; j < per; j++) x[j] = (float)(a * x0[j] + b * x[j]);
    }
    if (s == MG_OK) s = guided_predict(&g, xt, nb, 0, pred);
    for (int i = 0; s == MG_OK && i < nb; i++) {
      double a = sqrt(m->sched.alpha_bar[timesteps[i0 + i]]), b = sqrt(1 - m->sched.alpha_bar[timesteps[i0 + i]]);
      for (int64_t j = i * per; j < (i + 1) * per; j++) {
        /* x_t = a x0 + b eps and v = a eps - b x0 give x0 = (x_t - b eps) / a = a x_t - b v */
        double x0 = m->cfg.prediction == MG_PREDICT_V ? a * xt[j] - b * pred[j] : (xt[j] - b * pred[j]) / a;
        denoised[i0 * per + j] = (float)(x0 < -1 ? -1 : x0 > 1 ? 1 : x0);
        if (noisy) noisy[i0 * per + j] = (float)(xt[j] / a);
      }
    }
  }
  mg_rng_set(ctx, kept);
  mg_set_grad_enabled(ctx, grad);
  guided_free(&g), free(xt), free(pred);
  return s == MG_OK ? MG_OK : mg_rewrap_error(ctx, "mg_ddpm_denoise: ", "");
}
