/* classifier.c: the public image classifier (medgen.h): a small CNN that says which class an image belongs to,
 * used to check that generated images look like their class.
 *
 * Network: blocks of [3x3 conv (no bias), batch norm, ReLU, 3x3 conv, batch norm, ReLU, 2x average pool] with
 * width, 2*width, 4*width, 4*width channels, then a global average pool and a linear layer to the class logits.
 * There are as many blocks (at most 4) as the image can be halved while the map stays even and at least 2x2:
 * 16 -> 3 blocks, 32 and up (powers of two) -> 4, 24 -> 3 (3x3 map), 20 -> 2 (5x5 map). Sizes that cannot be
 * halved twice (not multiples of 4) are refused at training time.
 *
 * Training: cross-entropy, AdamW, linear warm-up then cosine learning rate. Each batch is drawn class-balanced (a
 * class uniformly, then an image of that class) and every image is shifted by up to 2 pixels in x and y, from a
 * host splitmix64 stream seeded by the seed, so the same seed gives the same weights on any thread count.
 * Prediction uses the batch-norm running statistics. Checkpoints hold the weights and running statistics
 * ("model."), the architecture, the class names, the data normalization and the caller's "run." notes: what
 * prediction needs, not the optimizer state (a classifier is trained once, not resumed). */
#include "mg_model_run.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
  MAX_BLOCKS = 4,
  MIN_SIZE = 16,
  MAX_SIZE = 256,
  MAX_CHANNELS = 4,  /* image channels */
  MIN_WIDTH = 4,
  MAX_WIDTH = 256,
  MIN_BATCH = 2,     /* batch norm needs more than one image to have batch statistics */
  MAX_BATCH = 1024,
  MAX_SHIFT = 2,     /* augmentation: random translation by up to this many pixels in x and y */
  PREDICT_PIXELS = 1 << 18, /* prediction batches hold about this many pixels per channel (64 images at 64x64) */
};
/* Fixed training settings; the options expose what a user would tune. */
#define WEIGHT_DECAY 1e-2 /* PyTorch's AdamW default; mild, as batch norm already regularizes */
#define MIN_LR_RATIO 0.01 /* the cosine schedule ends at 1% of the peak rate */
#define MAX_WARMUP 50     /* warm-up: a tenth of the steps, at most this many */
#define BN_MOMENTUM 0.1   /* PyTorch's batch-norm defaults */
#define BN_EPS 1e-5

/* ---- the network ---- */
typedef struct conv_bn {
  mg_tensor *weight;                   /* [cout, cin, 3, 3], no bias: batch norm's beta plays that role */
  mg_tensor *gamma, *beta, *mean, *var; /* batch norm: affine parameters and running statistics (buffers) */
} conv_bn;

struct mg_classifier {
  mg_ctx *ctx;
  int size, channels, width, blocks, num_classes;
  mg_params *params;
  conv_bn conv[MAX_BLOCKS][2];
  mg_tensor *fc_weight, *fc_bias; /* [num_classes, channels of the last block], [num_classes] */
  char **class_names;             /* num_classes names, owned */
  double norm_offset, norm_scale; /* the training data's normalization, kept for the checkpoint */
  char *train_config;             /* the training options as JSON (owned), NULL when unknown */
  mg_run run;                     /* only its "run." notes: a classifier has no resumable run */
};

/* Blocks for an image size: halvings while the map is even and stays at least 2x2, at most MAX_BLOCKS. */
static int blocks_for_size(int size) {
  int blocks = 0;
  while (blocks < MAX_BLOCKS && size % 2 == 0 && size / 2 >= 2) {
    size /= 2;
    blocks++;
  }
  return blocks;
}

static int block_channels(int width, int block) { return width * (block == 0 ? 1 : block == 1 ? 2 : 4); }

static int last_channels(const mg_classifier *c) { return block_channels(c->width, c->blocks - 1); }

/* Creates the parameters; with init, draws the weights from the context's stream (PyTorch's default init) and
 * sets gamma and the running variance to 1. Without init (a load), the checkpoint fills them. Failures land in
 * the context. */
static void net_build(mg_classifier *c, bool init) {
  mg_ctx *ctx = c->ctx;
  c->params = mg_params_new(ctx);
  if (!c->params) return;
  char name[96];
  int cin = c->channels;
  for (int b = 0; b < c->blocks; b++) {
    int cout = block_channels(c->width, b);
    for (int j = 0; j < 2; j++, cin = cout) {
      conv_bn *cb = &c->conv[b][j];
      snprintf(name, sizeof name, "block.%d.conv%d.weight", b, j + 1);
      cb->weight = mg_param(c->params, name, 4, (int[]){cout, cin, 3, 3});
      snprintf(name, sizeof name, "block.%d.bn%d.weight", b, j + 1);
      cb->gamma = mg_param(c->params, name, 1, &cout);
      snprintf(name, sizeof name, "block.%d.bn%d.bias", b, j + 1);
      cb->beta = mg_param(c->params, name, 1, &cout);
      snprintf(name, sizeof name, "block.%d.bn%d.running_mean", b, j + 1);
      cb->mean = mg_buffer(c->params, name, 1, &cout);
      snprintf(name, sizeof name, "block.%d.bn%d.running_var", b, j + 1);
      cb->var = mg_buffer(c->params, name, 1, &cout);
      if (init && mg_ok(ctx)) {
        mg_init_default(ctx, cb->weight, NULL, cin * 9);
        mg_fill(ctx, cb->gamma, 1.0);
        mg_fill(ctx, cb->var, 1.0);
      }
    }
  }
  int features = last_channels(c);
  c->fc_weight = mg_param(c->params, "fc.weight", 2, (int[]){c->num_classes, features});
  c->fc_bias = mg_param(c->params, "fc.bias", 1, &c->num_classes);
  if (init && mg_ok(ctx)) mg_init_default(ctx, c->fc_weight, c->fc_bias, features);
}

static mg_tensor *conv_bn_relu(mg_ctx *ctx, const conv_bn *cb, mg_tensor *x, bool training) {
  mg_tensor *h = mg_conv2d(ctx, x, cb->weight, NULL, 1, 1);
  return mg_relu(ctx, mg_batch_norm(ctx, h, cb->gamma, cb->beta, cb->mean, cb->var, training, BN_MOMENTUM, BN_EPS));
}

/* x [n, channels, size, size] -> features [n, last block's channels]: the global average of the last block.
 * training: batch statistics (and running-stat updates). */
static mg_tensor *net_features(mg_classifier *c, mg_tensor *x, bool training) {
  mg_ctx *ctx = c->ctx;
  mg_tensor *h = x;
  for (int b = 0; b < c->blocks; b++) {
    h = conv_bn_relu(ctx, &c->conv[b][0], h, training);
    h = conv_bn_relu(ctx, &c->conv[b][1], h, training);
    h = mg_avg_pool2x(ctx, h);
  }
  if (!h) return NULL;
  /* Global average pool as a product with a constant row of 1/(h*w): [n*ch, hw] x [1, hw]^T -> [n*ch, 1]. */
  int n = h->shape[0], ch = h->shape[1], hw = h->shape[2] * h->shape[3];
  mg_tensor *mean_row = mg_tensor_2d(ctx, 1, hw);
  if (mean_row) mg_fill(ctx, mean_row, 1.0 / hw);
  mg_tensor *pooled = mg_linear(ctx, mg_reshape(ctx, h, 2, (int[]){n * ch, hw}), mean_row, NULL);
  return mg_reshape(ctx, pooled, 2, (int[]){n, ch});
}

/* x -> logits [n, num_classes]: the linear layer on the features. */
static mg_tensor *net_forward(mg_classifier *c, mg_tensor *x, bool training) {
  return mg_linear(c->ctx, net_features(c, x, training), c->fc_weight, c->fc_bias);
}

/* ---- helpers ---- */
/* Pixels must be finite; the message names the first bad one. */
static mg_status check_pixels(mg_ctx *ctx, const char *fn, const float *images, int count, int channels, int size) {
  const int64_t plane = (int64_t)size * size, per = channels * plane;
  for (int64_t i = 0; i < (int64_t)count * per; i++)
    if (!isfinite(images[i])) {
      int64_t in = i % per;
      return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT,
                     "%s: image %lld, channel %lld, pixel (%lld,%lld) is %g; pixels must be finite", fn,
                     (long long)(i / per), (long long)(in / plane), (long long)(in % plane % size),
                     (long long)(in % plane / size), images[i]);
    }
  return MG_OK;
}

/* A handle with its architecture and class names but no network yet. NULL + ctx error when out of memory. */
static mg_classifier *classifier_new(mg_ctx *ctx, int size, int channels, int width, int num_classes) {
  mg_classifier *c = calloc(1, sizeof *c);
  if (c) c->class_names = calloc((size_t)num_classes, sizeof *c->class_names);
  if (!c || !c->class_names) {
    free(c);
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory creating a classifier");
    return NULL;
  }
  c->ctx = ctx;
  c->size = size;
  c->channels = channels;
  c->width = width;
  c->blocks = blocks_for_size(size);
  c->num_classes = num_classes;
  c->norm_scale = 1;
  mg_run_init(&c->run, ctx, 0, channels, size, num_classes);
  return c;
}

/* Names class i: name, or "class<i>" when name is NULL. */
static bool set_class_name(mg_classifier *c, int i, const char *name) {
  char fallback[32];
  snprintf(fallback, sizeof fallback, "class%d", i);
  c->class_names[i] = strdup(name ? name : fallback);
  return c->class_names[i] != NULL;
}

void mg_classifier_free(mg_classifier *c) {
  if (!c) return;
  for (int i = 0; i < c->num_classes; i++) free(c->class_names[i]);
  free(c->class_names);
  free(c->train_config);
  mg_run_free(&c->run);
  free(c);
}

int mg_classifier_num_classes(const mg_classifier *c) { return c ? c->num_classes : 0; }

const char *mg_classifier_class_name(const mg_classifier *c, int index) {
  return c && index >= 0 && index < c->num_classes ? c->class_names[index] : NULL;
}

int mg_classifier_image_size(const mg_classifier *c) { return c ? c->size : 0; }

int mg_classifier_channels(const mg_classifier *c) { return c ? c->channels : 0; }

int mg_classifier_feature_dim(const mg_classifier *c) { return c ? last_channels(c) : 0; }

mg_status mg_classifier_set_note(mg_classifier *c, const char *key, const char *value) {
  if (!c) return MG_ERR_INVALID_ARGUMENT;
  mg_clear_error(c->ctx);
  return mg_run_set_note(&c->run, "mg_classifier_set_note", key, value);
}

const char *mg_classifier_note(const mg_classifier *c, const char *key) { return c ? mg_run_note(&c->run, key) : NULL; }

/* ---- training ---- */
mg_classifier_options mg_classifier_default_options(void) {
  mg_classifier_options o;
  memset(&o, 0, sizeof o);
  o.width = 32;
  o.batch = 64;
  o.steps = 1000;
  o.learning_rate = 2e-3;
  o.seed = 1;
  return o;
}

static mg_status check_options(mg_ctx *ctx, const mg_classifier_options *o) {
  const char *fn = "mg_classifier_train";
  if (o->width < MIN_WIDTH || o->width > MAX_WIDTH)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: width = %d: must be from %d to %d", fn, o->width, MIN_WIDTH,
                   MAX_WIDTH);
  if (o->batch < MIN_BATCH || o->batch > MAX_BATCH)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: batch = %d: must be from %d to %d (batch norm needs at least "
                   "two images)", fn, o->batch, MIN_BATCH, MAX_BATCH);
  if (o->steps < 1) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: steps = %d: must be at least 1", fn, o->steps);
  if (!(o->learning_rate > 0 && o->learning_rate <= 1))
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: learning rate %g: must be in (0, 1]", fn, o->learning_rate);
  return MG_OK;
}

/* Everything about the dataset except its pixels; fills per_class with the number of images of each class. */
static mg_status check_dataset(mg_ctx *ctx, const mg_dataset *d, int *per_class) {
  const char *fn = "mg_classifier_train";
  if (!d->images) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: the dataset's images are NULL", fn);
  if (d->count < 1) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: %d images: need at least one", fn, d->count);
  if (d->channels < 1 || d->channels > MAX_CHANNELS)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: %d image channels: must be from 1 to %d", fn, d->channels,
                   MAX_CHANNELS);
  if (d->size < MIN_SIZE || d->size > MAX_SIZE || d->size % 4 != 0)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: image size %d is not supported: it must be a multiple of 4 "
                   "from %d to %d (the network halves it at least twice)", fn, d->size, MIN_SIZE, MAX_SIZE);
  if (!d->labels)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: the dataset has no labels; a classifier needs labelled images",
                   fn);
  if (d->num_classes < 2 || d->num_classes > MG_MAX_CLASSES)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: %d classes: must be from 2 to %d", fn, d->num_classes,
                   MG_MAX_CLASSES);
  if (!(isfinite(d->norm_offset) && isfinite(d->norm_scale) && d->norm_scale > 0))
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: normalization offset %g, scale %g: must be finite with scale "
                   "> 0", fn, d->norm_offset, d->norm_scale);
  memset(per_class, 0, (size_t)d->num_classes * sizeof *per_class);
  for (int i = 0; i < d->count; i++) {
    if (d->labels[i] < 0 || d->labels[i] >= d->num_classes)
      return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: label %d of image %d is outside [0, %d)", fn,
                     (int)d->labels[i], i, d->num_classes);
    per_class[d->labels[i]]++;
  }
  for (int k = 0; k < d->num_classes; k++)
    if (per_class[k] == 0)
      return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: class %d (%s) has no images", fn, k,
                     d->class_names && d->class_names[k] ? d->class_names[k] : "unnamed");
  return MG_OK;
}

/* Host state of one training run: images grouped by class, the batch stream and staging for one batch. */
typedef struct trainer {
  const mg_dataset *data;
  int *by_class;  /* image indices sorted by class */
  int *start;     /* class k's images are by_class[start[k] .. start[k+1]) */
  uint64_t stream; /* splitmix64: class, image and shift picks */
  float *x;       /* batch * channels * size * size */
  int32_t *y;     /* batch */
} trainer;

static void trainer_free(trainer *t) {
  free(t->by_class);
  free(t->start);
  free(t->x);
  free(t->y);
}

static bool trainer_init(trainer *t, const mg_dataset *d, const int *per_class, int batch, uint64_t seed) {
  memset(t, 0, sizeof *t);
  t->data = d;
  t->stream = seed * 0x2545f4914f6cdd1dull + 1;
  t->by_class = malloc((size_t)d->count * sizeof *t->by_class);
  t->start = malloc(((size_t)d->num_classes + 1) * sizeof *t->start);
  t->x = malloc((size_t)batch * d->channels * d->size * d->size * sizeof *t->x);
  t->y = malloc((size_t)batch * sizeof *t->y);
  if (!t->by_class || !t->start || !t->x || !t->y) return false;
  t->start[0] = 0;
  for (int k = 0; k < d->num_classes; k++) t->start[k + 1] = t->start[k] + per_class[k];
  int *fill = calloc((size_t)d->num_classes, sizeof *fill);
  if (!fill) return false;
  for (int i = 0; i < d->count; i++) t->by_class[t->start[d->labels[i]] + fill[d->labels[i]]++] = i;
  free(fill);
  return true;
}

static int pick(uint64_t *stream, int n) {
  int i = (int)(mg_host_uniform(stream) * n);
  return i < n ? i : n - 1;
}

/* Draws a class-balanced batch into t->x, t->y: a class uniformly, an image of it, a shift of up to MAX_SHIFT
 * pixels each way. Pixels shifted in from outside repeat the nearest edge, so no border of another intensity
 * appears whatever the background. */
static void draw_batch(trainer *t, int batch) {
  const mg_dataset *d = t->data;
  const int S = d->size;
  const size_t per = (size_t)d->channels * S * S;
  for (int i = 0; i < batch; i++) {
    int k = pick(&t->stream, d->num_classes);
    int img = t->by_class[t->start[k] + pick(&t->stream, t->start[k + 1] - t->start[k])];
    int dx = pick(&t->stream, 2 * MAX_SHIFT + 1) - MAX_SHIFT, dy = pick(&t->stream, 2 * MAX_SHIFT + 1) - MAX_SHIFT;
    const float *src = d->images + (size_t)img * per;
    float *dst = t->x + (size_t)i * per;
    for (int ch = 0; ch < d->channels; ch++)
      for (int y = 0; y < S; y++) {
        int sy = y - dy < 0 ? 0 : y - dy >= S ? S - 1 : y - dy;
        for (int x = 0; x < S; x++) {
          int sx = x - dx < 0 ? 0 : x - dx >= S ? S - 1 : x - dx;
          dst[((size_t)ch * S + y) * S + x] = src[((size_t)ch * S + sy) * S + sx];
        }
      }
    t->y[i] = k;
  }
}

/* One step on a fresh batch; returns the loss (NaN on failure, recorded in ctx). */
static double train_step(mg_classifier *c, mg_adam *adam, trainer *t, const mg_classifier_options *o, int step,
                         int warmup) {
  mg_ctx *ctx = c->ctx;
  const int B = o->batch, S = c->size;
  mg_step_begin(ctx);
  draw_batch(t, B);
  mg_tensor *x = mg_tensor_4d(ctx, B, c->channels, S, S);
  mg_tensor *y = mg_tensor_new(ctx, MG_INT32, 1, &B);
  if (!x || !y) return NAN;
  mg_tensor_upload(ctx, x, t->x, x->numel);
  mg_tensor_upload(ctx, y, t->y, B);
  mg_tensor *loss = mg_cross_entropy_loss(ctx, net_forward(c, x, true), y);
  double value = mg_tensor_item(ctx, loss);
  if (!mg_ok(ctx)) return NAN;
  if (!isfinite(value)) {
    mg_fail(ctx, MG_ERR_NUMERIC, "the loss is %g", value);
    return value;
  }
  mg_zero_grad(ctx, c->params);
  mg_backward(ctx, loss);
  mg_adam_step(adam, mg_lr_schedule(step - 1, warmup, o->steps, o->learning_rate, o->learning_rate * MIN_LR_RATIO), 1.0);
  return mg_ok(ctx) ? value : NAN;
}

mg_status mg_classifier_train(mg_ctx *ctx, const mg_dataset *data, const mg_classifier_options *options,
                              mg_progress_fn progress, void *user, mg_classifier **out) {
  const char *fn = "mg_classifier_train";
  if (out) *out = NULL;
  if (!ctx) return MG_ERR_INVALID_ARGUMENT;
  mg_clear_error(ctx);
  if (!out) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  if (!data) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: the dataset is NULL", fn);
  mg_classifier_options o = options ? *options : mg_classifier_default_options();
  int per_class[MG_MAX_CLASSES];
  if (check_options(ctx, &o) != MG_OK || check_dataset(ctx, data, per_class) != MG_OK ||
      check_pixels(ctx, fn, data->images, data->count, data->channels, data->size) != MG_OK)
    return mg_ctx_status(ctx);
  int warmup = o.steps / 10 < MAX_WARMUP ? o.steps / 10 : MAX_WARMUP;

  mg_classifier *c = classifier_new(ctx, data->size, data->channels, o.width, data->num_classes);
  if (!c) return mg_ctx_status(ctx);
  trainer t;
  bool host_ok = trainer_init(&t, data, per_class, o.batch, o.seed);
  char config[320];
  snprintf(config, sizeof config,
           "{\"batch\":%d,\"steps\":%d,\"learning_rate\":%.9g,\"warmup_steps\":%d,\"weight_decay\":%g,"
           "\"seed\":%llu,\"balanced\":true,\"max_shift\":%d}",
           o.batch, o.steps, o.learning_rate, warmup, WEIGHT_DECAY, (unsigned long long)o.seed, MAX_SHIFT);
  c->train_config = strdup(config);
  c->norm_offset = data->norm_offset;
  c->norm_scale = data->norm_scale;
  for (int k = 0; k < c->num_classes && host_ok; k++)
    host_ok = set_class_name(c, k, data->class_names ? data->class_names[k] : NULL);
  if (!host_ok || !c->train_config) {
    trainer_free(&t);
    mg_classifier_free(c);
    return mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "%s: out of memory for a batch of %d images and the class lists", fn,
                   o.batch);
  }
  mg_rng_seed(ctx, o.seed);
  net_build(c, true);
  mg_adam *adam = NULL;
  mg_adam_config acfg = {o.learning_rate, 0.9, 0.999, 1e-8, WEIGHT_DECAY, true};
  if (mg_ok(ctx)) adam = mg_adam_new(ctx, c->params, acfg);
  if (!mg_ok(ctx)) {
    trainer_free(&t);
    mg_classifier_free(c);
    return mg_ctx_status(ctx);
  }

  double t_start = mg_seconds();
  for (int step = 1; step <= o.steps; step++) {
    double loss = train_step(c, adam, &t, &o, step, warmup);
    if (!mg_ok(ctx)) {
      char head[160];
      bool diverged = mg_ctx_status(ctx) == MG_ERR_NUMERIC;
      snprintf(head, sizeof head, "%s: %s at step %d of %d (", fn, diverged ? "training diverged" : "failed", step,
               o.steps);
      trainer_free(&t);
      mg_classifier_free(c);
      return mg_rewrap_error(ctx, head, diverged ? "); try a lower learning rate or another seed" : ")");
    }
    if (progress) {
      mg_progress p = {"train", step, o.steps, loss, mg_seconds() - t_start};
      if (progress(user, &p)) {
        trainer_free(&t);
        mg_classifier_free(c);
        return mg_fail(ctx, MG_ERR_CANCELLED, "%s: cancelled after step %d of %d", fn, step, o.steps);
      }
    }
  }
  trainer_free(&t);
  *out = c;
  return MG_OK;
}

/* ---- prediction and features ---- */
/* The checks prediction and features share; fn names the call. */
static mg_status check_images(mg_classifier *c, const char *fn, const float *images, int count) {
  mg_ctx *ctx = c->ctx;
  if (!images) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: images is NULL", fn);
  if (count < 1) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: %d images: need at least one", fn, count);
  return check_pixels(ctx, fn, images, count, c->channels, c->size);
}

/* The network in inference mode over count images, in batches: out receives count rows of the logits (logits
 * true) or of the features. Failures are recorded in ctx. */
static void run_batches(mg_classifier *c, const float *images, int count, bool logits, float *out) {
  mg_ctx *ctx = c->ctx;
  const int S = c->size, dim = logits ? c->num_classes : last_channels(c);
  const size_t per = (size_t)c->channels * S * S;
  const int batch = PREDICT_PIXELS / (S * S) > 1 ? PREDICT_PIXELS / (S * S) : 1;
  bool grad = mg_set_grad_enabled(ctx, false);
  for (int i0 = 0; i0 < count && mg_ok(ctx); i0 += batch) {
    int n = count - i0 < batch ? count - i0 : batch;
    mg_step_begin(ctx);
    mg_tensor *x = mg_tensor_4d(ctx, n, c->channels, S, S);
    if (x) mg_tensor_upload(ctx, x, images + (size_t)i0 * per, x->numel);
    mg_tensor *y = logits ? net_forward(c, x, false) : net_features(c, x, false);
    if (y) mg_tensor_download(ctx, y, out + (size_t)i0 * dim, (int64_t)n * dim);
  }
  mg_set_grad_enabled(ctx, grad);
}

mg_status mg_classifier_predict(mg_classifier *c, const float *images, int count, int32_t *labels, float *probs) {
  const char *fn = "mg_classifier_predict";
  if (!c) return MG_ERR_INVALID_ARGUMENT;
  mg_ctx *ctx = c->ctx;
  mg_clear_error(ctx);
  if (!labels && !probs) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: labels and probs are both NULL", fn);
  if (check_images(c, fn, images, count) != MG_OK) return mg_ctx_status(ctx);

  const int K = c->num_classes;
  float *logits = malloc((size_t)count * K * sizeof *logits);
  if (!logits) return mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  run_batches(c, images, count, true, logits);
  for (int i = 0; i < count && mg_ok(ctx); i++) {
    const float *row = logits + (size_t)i * K;
    int best = 0;
    for (int k = 1; k < K; k++)
      if (row[k] > row[best]) best = k;
    if (labels) labels[i] = best;
    if (!probs) continue;
    /* softmax, stable: exponents relative to the largest logit */
    double sum = 0;
    for (int k = 0; k < K; k++) sum += exp((double)row[k] - row[best]);
    for (int k = 0; k < K; k++) probs[(size_t)i * K + k] = (float)(exp((double)row[k] - row[best]) / sum);
  }
  free(logits);
  return mg_ok(ctx) ? MG_OK : mg_rewrap_error(ctx, "mg_classifier_predict: ", "");
}

mg_status mg_classifier_features(mg_classifier *c, const float *images, int count, float *features) {
  const char *fn = "mg_classifier_features";
  if (!c) return MG_ERR_INVALID_ARGUMENT;
  mg_ctx *ctx = c->ctx;
  mg_clear_error(ctx);
  if (!features) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: features is NULL", fn);
  if (check_images(c, fn, images, count) != MG_OK) return mg_ctx_status(ctx);
  run_batches(c, images, count, false, features);
  return mg_ok(ctx) ? MG_OK : mg_rewrap_error(ctx, "mg_classifier_features: ", "");
}

/* ---- checkpoints ---- */
static mg_status save_fail(mg_ctx *ctx, const char *path, char *err, size_t err_size) {
  if (err && err_size) snprintf(err, err_size, "%s: %s", path, mg_context_error(ctx));
  return mg_ctx_status(ctx);
}

/* The class names as a JSON array (malloc'd), NULL when out of memory. */
static char *class_names_json(const mg_classifier *c) {
  cJSON *array = cJSON_CreateArray();
  bool ok = array != NULL;
  for (int k = 0; k < c->num_classes && ok; k++) {
    cJSON *name = cJSON_CreateString(c->class_names[k]);
    ok = name && cJSON_AddItemToArray(array, name);
  }
  char *text = ok ? cJSON_PrintUnformatted(array) : NULL;
  cJSON_Delete(array);
  return text;
}

mg_status mg_classifier_save(mg_classifier *c, const char *path, char *err, size_t err_size) {
  if (err && err_size) err[0] = '\0';
  if (!c || !path) {
    if (err && err_size) snprintf(err, err_size, "mg_classifier_save: %s is NULL", c ? "path" : "the classifier");
    return MG_ERR_INVALID_ARGUMENT;
  }
  mg_ctx *ctx = c->ctx;
  mg_clear_error(ctx);
  mg_checkpoint_writer *w = mg_checkpoint_writer_new();
  char *classes = class_names_json(c);
  if (!w || !classes) {
    mg_checkpoint_writer_free(w);
    cJSON_free(classes);
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory");
    return save_fail(ctx, path, err, err_size);
  }
  char model[256], norm[96];
  snprintf(model, sizeof model,
           "{\"model\":\"classifier\",\"image_size\":%d,\"channels\":%d,\"width\":%d,\"blocks\":%d,"
           "\"num_classes\":%d}",
           c->size, c->channels, c->width, c->blocks, c->num_classes);
  snprintf(norm, sizeof norm, "{\"offset\":%.17g,\"scale\":%.17g}", c->norm_offset, c->norm_scale);
  mg_checkpoint_add_params(ctx, w, "model.", c->params);
  mg_checkpoint_writer_add_metadata(w, "medgen.version", MEDGEN_VERSION_STRING);
  mg_checkpoint_writer_add_metadata(w, "model.type", "classifier");
  mg_checkpoint_writer_add_metadata(w, "model.config", model);
  mg_checkpoint_writer_add_metadata(w, "data.classes", classes);
  mg_checkpoint_writer_add_metadata(w, "data.normalization", norm);
  if (c->train_config) mg_checkpoint_writer_add_metadata(w, "train.config", c->train_config);
  for (int i = 0; i < c->run.n_notes; i++)
    mg_checkpoint_writer_add_metadata(w, c->run.notes[2 * i], c->run.notes[2 * i + 1]);
  cJSON_free(classes);
  mg_status s;
  if (!mg_ok(ctx)) {
    s = save_fail(ctx, path, err, err_size);
  } else {
    char msg[1024];
    s = mg_checkpoint_writer_save(w, path, msg, sizeof msg);
    if (s != MG_OK) {
      mg_fail(ctx, s, "%s", msg);
      if (err && err_size) snprintf(err, err_size, "%s", msg);
    }
  }
  mg_checkpoint_writer_free(w);
  return s;
}

/* An integer field of a JSON object in [lo, hi]; false when absent, not an integer or out of range. */
static bool json_int(const cJSON *obj, const char *key, int lo, int hi, int *out) {
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!cJSON_IsNumber(item) || item->valuedouble != floor(item->valuedouble) || item->valuedouble < lo ||
      item->valuedouble > hi)
    return false;
  *out = (int)item->valuedouble;
  return true;
}

/* Reads "model.config" into a new handle (names and normalization not yet set). Errors name the file. */
static mg_classifier *load_config(mg_ctx *ctx, const mg_checkpoint *ckpt) {
  const char *path = mg_checkpoint_path(ckpt);
  const char *text = mg_checkpoint_metadata(ckpt, "model.config");
  if (!text) {
    mg_fail(ctx, MG_ERR_FORMAT, "%s: not a classifier checkpoint (no \"model.config\" metadata)", path);
    return NULL;
  }
  cJSON *config = cJSON_Parse(text);
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(config, "model");
  mg_classifier *c = NULL;
  int size, channels, width, blocks, classes;
  if (!cJSON_IsObject(config)) {
    mg_fail(ctx, MG_ERR_FORMAT, "%s: metadata \"model.config\" is not a JSON object", path);
  } else if (!cJSON_IsString(model) || strcmp(model->valuestring, "classifier") != 0) {
    if (cJSON_IsString(model))
      mg_fail(ctx, MG_ERR_FORMAT, "%s: not a classifier checkpoint (its model.config says model \"%.100s\")", path,
              model->valuestring);
    else
      mg_fail(ctx, MG_ERR_FORMAT, "%s: not a classifier checkpoint (its model.config names no model)", path);
  } else if (!json_int(config, "image_size", MIN_SIZE, MAX_SIZE, &size) || size % 4 != 0) {
    mg_fail(ctx, MG_ERR_FORMAT, "%s: model.config: image_size must be a multiple of 4 from %d to %d", path, MIN_SIZE,
            MAX_SIZE);
  } else if (!json_int(config, "channels", 1, MAX_CHANNELS, &channels)) {
    mg_fail(ctx, MG_ERR_FORMAT, "%s: model.config: channels must be an integer from 1 to %d", path, MAX_CHANNELS);
  } else if (!json_int(config, "width", MIN_WIDTH, MAX_WIDTH, &width)) {
    mg_fail(ctx, MG_ERR_FORMAT, "%s: model.config: width must be an integer from %d to %d", path, MIN_WIDTH,
            MAX_WIDTH);
  } else if (!json_int(config, "blocks", 1, MAX_BLOCKS, &blocks) || blocks != blocks_for_size(size)) {
    mg_fail(ctx, MG_ERR_FORMAT, "%s: model.config: blocks must be %d for image size %d", path,
            blocks_for_size(size), size);
  } else if (!json_int(config, "num_classes", 2, MG_MAX_CLASSES, &classes)) {
    mg_fail(ctx, MG_ERR_FORMAT, "%s: model.config: num_classes must be an integer from 2 to %d", path,
            MG_MAX_CLASSES);
  } else {
    c = classifier_new(ctx, size, channels, width, classes);
  }
  cJSON_Delete(config);
  return c;
}

/* Class names from "data.classes" (absent: "class<i>") and the normalization from "data.normalization" (absent:
 * offset 0, scale 1). */
static mg_status load_data_metadata(mg_classifier *c, const mg_checkpoint *ckpt) {
  mg_ctx *ctx = c->ctx;
  const char *path = mg_checkpoint_path(ckpt);
  const char *text = mg_checkpoint_metadata(ckpt, "data.classes");
  cJSON *names = text ? cJSON_Parse(text) : NULL;
  if (text && (!cJSON_IsArray(names) || cJSON_GetArraySize(names) != c->num_classes)) {
    cJSON_Delete(names);
    return mg_fail(ctx, MG_ERR_FORMAT, "%s: metadata \"data.classes\" must be a JSON array of %d names", path,
                   c->num_classes);
  }
  const cJSON *name = names ? names->child : NULL;
  bool ok = true;
  for (int k = 0; k < c->num_classes && ok; k++, name = name ? name->next : NULL)
    ok = set_class_name(c, k, cJSON_IsString(name) ? name->valuestring : NULL);
  cJSON_Delete(names);
  if (!ok) return mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "%s: out of memory for the class names", path);

  text = mg_checkpoint_metadata(ckpt, "data.normalization");
  if (text) {
    cJSON *norm = cJSON_Parse(text);
    const cJSON *offset = cJSON_GetObjectItemCaseSensitive(norm, "offset");
    const cJSON *scale = cJSON_GetObjectItemCaseSensitive(norm, "scale");
    ok = cJSON_IsNumber(offset) && cJSON_IsNumber(scale) && isfinite(offset->valuedouble) &&
         isfinite(scale->valuedouble) && scale->valuedouble > 0;
    if (ok) {
      c->norm_offset = offset->valuedouble;
      c->norm_scale = scale->valuedouble;
    }
    cJSON_Delete(norm);
    if (!ok)
      return mg_fail(ctx, MG_ERR_FORMAT, "%s: metadata \"data.normalization\" must be {\"offset\": a number, "
                     "\"scale\": a number > 0}", path);
  }
  text = mg_checkpoint_metadata(ckpt, "train.config");
  if (text && !(c->train_config = strdup(text)))
    return mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  for (int i = 0; i < mg_checkpoint_metadata_count(ckpt); i++) {
    const char *key, *value;
    mg_checkpoint_metadata_at(ckpt, i, &key, &value);
    if (!strncmp(key, "run.", 4) && mg_run_set_note(&c->run, path, key, value) != MG_OK) return mg_ctx_status(ctx);
  }
  return MG_OK;
}

mg_status mg_classifier_load(mg_ctx *ctx, const mg_checkpoint *ckpt, mg_classifier **out) {
  if (out) *out = NULL;
  if (!ctx) return MG_ERR_INVALID_ARGUMENT;
  mg_clear_error(ctx);
  if (!ckpt || !out)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "mg_classifier_load: %s is NULL", ckpt ? "out" : "the checkpoint");
  mg_classifier *c = load_config(ctx, ckpt);
  if (!c) return mg_ctx_status(ctx);
  if (load_data_metadata(c, ckpt) == MG_OK) net_build(c, false);
  if (mg_ok(ctx)) mg_checkpoint_restore_params(ctx, ckpt, "model.", c->params);
  if (!mg_ok(ctx)) {
    mg_classifier_free(c);
    return mg_ctx_status(ctx);
  }
  *out = c;
  return MG_OK;
}
