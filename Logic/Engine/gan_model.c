/* gan_model.c: the GAN's generator and discriminator (mg_gan_model.h; architecture in medgen.h), as forward code
 * over mg_engine.h ops, and the GAN configuration: presets, checks, JSON. Parameter names follow the PyTorch
 * reference (Testing/Python/gan_reference.py). */
#include "mg_gan_model.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  MIN_IMAGE = 32,
  MAX_IMAGE = 256,
  MAX_CHANNELS = 4,
  MAX_LATENT = 1024,
  MIN_WIDTH = 4,
  MAX_WIDTH = 512,
  MAX_BLOCKS = 6, /* log2(MAX_IMAGE) - 2 */
  MAX_MULT = 8,   /* layer widths stop doubling at 8 * width */
  PREFIX_SIZE = 32, /* "blocks.5.norm" */
  NAME_SIZE = 64,   /* prefix + "." + "running_mean" */
};
#define INIT_STD 0.02 /* DCGAN's */

/* ---- configuration ---- */
/* "GAN config: " + the message */
#define config_error(err, err_size, ...) \
  mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, "GAN config", __VA_ARGS__)

mg_status mg_gan_config_check(const mg_gan_config *c, char *err, size_t err_size) {
  if (err && err_size) err[0] = '\0';
  if (!c) return config_error(err, err_size, "config is NULL");
  if (c->image_size < MIN_IMAGE || c->image_size > MAX_IMAGE || (c->image_size & (c->image_size - 1)))
    return config_error(err, err_size, "image_size = %d: must be a power of two from %d to %d", c->image_size,
                        MIN_IMAGE, MAX_IMAGE);
  if (c->channels < 1 || c->channels > MAX_CHANNELS)
    return config_error(err, err_size, "channels = %d: must be from 1 to %d", c->channels, MAX_CHANNELS);
  if (c->latent_dim < 1 || c->latent_dim > MAX_LATENT)
    return config_error(err, err_size, "latent_dim = %d: must be from 1 to %d", c->latent_dim, MAX_LATENT);
  if (c->width < MIN_WIDTH || c->width > MAX_WIDTH)
    return config_error(err, err_size, "width = %d: must be from %d to %d", c->width, MIN_WIDTH, MAX_WIDTH);
  if (c->num_classes < 0 || c->num_classes > MG_MAX_CLASSES)
    return config_error(err, err_size, "num_classes = %d: must be from 0 (unconditional) to %d", c->num_classes,
                        MG_MAX_CLASSES);
  return MG_OK;
}

mg_status mg_gan_preset(const char *name, mg_gan_config *out, char *err, size_t err_size) {
  if (err && err_size) err[0] = '\0';
  if (!out) return config_error(err, err_size, "mg_gan_preset: out is NULL");
  if (!name || strcmp(name, "dcgan-64") != 0) {
    if (err && err_size) snprintf(err, err_size, "unknown GAN preset '%s': the presets are dcgan-64", name ? name : "");
    return MG_ERR_INVALID_ARGUMENT;
  }
  *out = (mg_gan_config){.image_size = 64, .channels = 1, .latent_dim = 128, .width = 64, .num_classes = 0};
  return MG_OK;
}

int mg_gan_config_to_json(const mg_gan_config *c, char *buf, size_t size) {
  return snprintf(buf, size, "{\"image_size\":%d,\"channels\":%d,\"latent_dim\":%d,\"width\":%d,\"num_classes\":%d}",
                  c->image_size, c->channels, c->latent_dim, c->width, c->num_classes);
}

mg_status mg_gan_config_from_json(const char *json, mg_gan_config *out, char *err, size_t err_size) {
  if (err && err_size) err[0] = '\0';
  if (!json || !out) return config_error(err, err_size, "mg_gan_config_from_json: %s is NULL", json ? "out" : "json");
  cJSON *root = cJSON_Parse(json);
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return config_error(err, err_size, "not a JSON object: %.60s", json);
  }
  mg_gan_config c;
  /* the fields, in mg_gan_config_to_json's order: exactly these, each once, all integers */
  const struct {
    const char *name;
    int *value;
  } fields[] = {{"image_size", &c.image_size}, {"channels", &c.channels}, {"latent_dim", &c.latent_dim},
                {"width", &c.width}, {"num_classes", &c.num_classes}};
  enum { N_FIELDS = sizeof fields / sizeof fields[0] };
  const cJSON *item[N_FIELDS] = {0};
  mg_status s = MG_OK;
  for (const cJSON *e = root->child; e && s == MG_OK; e = e->next) {
    int f = 0;
    while (f < N_FIELDS && strcmp(e->string, fields[f].name) != 0) f++;
    if (f == N_FIELDS) s = config_error(err, err_size, "unknown field \"%s\"", e->string);
    else if (item[f]) s = config_error(err, err_size, "field \"%s\" appears twice", e->string);
    else item[f] = e;
  }
  for (int f = 0; f < N_FIELDS && s == MG_OK; f++) {
    const cJSON *v = item[f];
    if (!v) {
      s = config_error(err, err_size, "missing field \"%s\"", fields[f].name);
    } else if (!cJSON_IsNumber(v) || !(fabs(v->valuedouble) <= 1e9) || v->valuedouble != floor(v->valuedouble)) {
      s = config_error(err, err_size, "field \"%s\" must be an integer", fields[f].name);
    } else {
      *fields[f].value = (int)v->valuedouble;
    }
  }
  cJSON_Delete(root);
  if (s == MG_OK) s = mg_gan_config_check(&c, err, err_size);
  if (s == MG_OK) *out = c;
  return s;
}

/* ---- the networks ---- */
/* Blocks between 4x4 and the image: log2(image_size) - 2. */
static int block_count(const mg_gan_config *c) {
  int blocks = 0;
  for (int s = c->image_size; s > 4; s /= 2) blocks++;
  return blocks;
}

static int min_int(int a, int b) { return a < b ? a : b; }

typedef struct gen_block {
  mg_tensor *conv;                       /* [cin, cout, 4, 4], no bias: the norm's shift plays that role */
  mg_tensor *gamma, *beta;               /* [c] (unconditional) */
  mg_tensor *gain, *shift;               /* [num_classes, c] (conditional) */
  mg_tensor *running_mean, *running_var; /* [c] buffers */
} gen_block;

struct mg_generator {
  mg_ctx *ctx;
  mg_gan_config config;
  mg_params *params;
  int blocks;
  gen_block block[MAX_BLOCKS];
  mg_tensor *out_weight, *out_bias; /* [width, channels, 4, 4], [channels] */
  double bn_momentum;               /* MG_GAN_BN_MOMENTUM unless mg_generator_set_bn_momentum changed it */
};

/* A spectrally normalized conv: the raw weight, its power-iteration vectors (buffers) and a bias. */
typedef struct sn_conv {
  mg_tensor *weight, *u, *v, *bias;
} sn_conv;

struct mg_discriminator {
  mg_ctx *ctx;
  mg_gan_config config;
  mg_params *params;
  int blocks;
  sn_conv block[MAX_BLOCKS];
  sn_conv output;
  mg_tensor *embed; /* [num_classes, channels of the last block]; NULL when unconditional */
};

/* name.part into buf */
static const char *join(char *buf, const char *name, const char *part) {
  snprintf(buf, NAME_SIZE, "%s.%s", name, part);
  return buf;
}

static void build_generator(mg_generator *g) {
  mg_ctx *ctx = g->ctx;
  const mg_gan_config *c = &g->config;
  const int classes = c->num_classes;
  char name[PREFIX_SIZE], buf[NAME_SIZE];
  int cin = c->latent_dim;
  for (int i = 0; i < g->blocks && mg_ok(ctx); i++) {
    int cout = c->width * min_int(MAX_MULT, 1 << (g->blocks - 1 - i));
    gen_block *b = &g->block[i];
    snprintf(buf, sizeof buf, "blocks.%d.conv.weight", i);
    b->conv = mg_param(g->params, buf, 4, (int[]){cin, cout, 4, 4});
    snprintf(name, sizeof name, "blocks.%d.norm", i);
    if (classes) { /* PyTorch's state_dict order: the norm's own buffers, then its embeddings */
      b->running_mean = mg_buffer(g->params, join(buf, name, "running_mean"), 1, &cout);
      b->running_var = mg_buffer(g->params, join(buf, name, "running_var"), 1, &cout);
      b->gain = mg_param(g->params, join(buf, name, "gain.weight"), 2, (int[]){classes, cout});
      b->shift = mg_param(g->params, join(buf, name, "shift.weight"), 2, (int[]){classes, cout});
    } else {
      b->gamma = mg_param(g->params, join(buf, name, "weight"), 1, &cout);
      b->beta = mg_param(g->params, join(buf, name, "bias"), 1, &cout);
      b->running_mean = mg_buffer(g->params, join(buf, name, "running_mean"), 1, &cout);
      b->running_var = mg_buffer(g->params, join(buf, name, "running_var"), 1, &cout);
    }
    if (!mg_ok(ctx)) return;
    mg_fill_normal(ctx, b->conv, 0.0, INIT_STD);
    mg_fill_normal(ctx, classes ? b->gain : b->gamma, 1.0, INIT_STD); /* shifts stay 0 */
    mg_fill(ctx, b->running_var, 1.0);
    cin = cout;
  }
  g->out_weight = mg_param(g->params, "output.weight", 4, (int[]){cin, c->channels, 4, 4});
  g->out_bias = mg_param(g->params, "output.bias", 1, &c->channels);
  if (g->out_weight) mg_fill_normal(ctx, g->out_weight, 0.0, INIT_STD);
}

/* PyTorch's normalize(): a / max(|a|, eps), on a host copy (construction only, not a step). */
static void fill_unit_normal(mg_ctx *ctx, mg_tensor *t) {
  if (mg_fill_normal(ctx, t, 0.0, 1.0) != MG_OK) return;
  mg_real *h = malloc((size_t)t->numel * sizeof *h);
  if (!h) {
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "mg_discriminator_new: out of memory");
    return;
  }
  if (mg_tensor_download_real(ctx, t, h, t->numel) == MG_OK) {
    double sq = 0;
    for (int64_t i = 0; i < t->numel; i++) sq += (double)h[i] * h[i];
    double scale = 1 / fmax(sqrt(sq), MG_GAN_SN_EPS);
    for (int64_t i = 0; i < t->numel; i++) h[i] = (mg_real)(h[i] * scale);
    mg_tensor_upload_real(ctx, t, h, t->numel);
  }
  free(h);
}

static sn_conv new_sn_conv(mg_discriminator *d, const char *name, int cin, int cout) {
  char buf[NAME_SIZE];
  sn_conv s = {mg_param(d->params, join(buf, name, "weight_orig"), 4, (int[]){cout, cin, 4, 4}),
               mg_buffer(d->params, join(buf, name, "weight_u"), 1, &cout),
               mg_buffer(d->params, join(buf, name, "weight_v"), 1, (int[]){cin * 16}),
               mg_param(d->params, join(buf, name, "bias"), 1, &cout)};
  if (mg_ok(d->ctx)) {
    mg_fill_normal(d->ctx, s.weight, 0.0, INIT_STD);
    fill_unit_normal(d->ctx, s.u);
    fill_unit_normal(d->ctx, s.v);
  }
  return s;
}

static void build_discriminator(mg_discriminator *d) {
  const mg_gan_config *c = &d->config;
  char name[PREFIX_SIZE];
  int cin = c->channels;
  for (int i = 0; i < d->blocks && mg_ok(d->ctx); i++) {
    int cout = c->width * min_int(MAX_MULT, 1 << i);
    snprintf(name, sizeof name, "blocks.%d.conv", i);
    d->block[i] = new_sn_conv(d, name, cin, cout);
    cin = cout;
  }
  d->output = new_sn_conv(d, "output", cin, 1);
  if (c->num_classes) {
    d->embed = mg_param(d->params, "embed.weight", 2, (int[]){c->num_classes, cin});
    if (d->embed) mg_fill_normal(d->ctx, d->embed, 0.0, INIT_STD);
  }
}

/* The config check of mg_generator_new and mg_discriminator_new: false, with the message in ctx, for a bad one. */
static bool config_ok(mg_ctx *ctx, const mg_gan_config *config, const char *fn) {
  char why[256];
  if (mg_gan_config_check(config, why, sizeof why) == MG_OK) return true;
  mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: %s", fn, why);
  return false;
}

mg_generator *mg_generator_new(mg_ctx *ctx, const mg_gan_config *config) {
  if (!ctx || !mg_ok(ctx) || !config_ok(ctx, config, "mg_generator_new")) return NULL;
  mg_generator *g = calloc(1, sizeof *g);
  if (!g) {
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "mg_generator_new: out of memory");
    return NULL;
  }
  g->ctx = ctx;
  g->config = *config;
  g->bn_momentum = MG_GAN_BN_MOMENTUM;
  g->blocks = block_count(config);
  g->params = mg_params_new(ctx);
  if (g->params) build_generator(g);
  if (!mg_ok(ctx)) {
    free(g);
    return NULL;
  }
  return g;
}

void mg_generator_free(mg_generator *g) { free(g); }
mg_params *mg_generator_params(const mg_generator *g) { return g ? g->params : NULL; }
void mg_generator_set_bn_momentum(mg_generator *g, double momentum) { g->bn_momentum = momentum; }

mg_discriminator *mg_discriminator_new(mg_ctx *ctx, const mg_gan_config *config) {
  if (!ctx || !mg_ok(ctx) || !config_ok(ctx, config, "mg_discriminator_new")) return NULL;
  mg_discriminator *d = calloc(1, sizeof *d);
  if (!d) {
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "mg_discriminator_new: out of memory");
    return NULL;
  }
  d->ctx = ctx;
  d->config = *config;
  d->blocks = block_count(config);
  d->params = mg_params_new(ctx);
  if (d->params) build_discriminator(d);
  if (!mg_ok(ctx)) {
    free(d);
    return NULL;
  }
  return d;
}

void mg_discriminator_free(mg_discriminator *d) { free(d); }
mg_params *mg_discriminator_params(const mg_discriminator *d) { return d ? d->params : NULL; }

/* ---- forward ---- */
/* The checks both networks share: the model is this context's, the input real with the expected shape after the
 * batch dim (what: "z [n,128]"-style description), labels present exactly for a conditional model with one int32
 * per sample. Label values are checked by the first embedding, which each forward runs before any state changes. */
static mg_status check_inputs(mg_ctx *ctx, const char *fn, const mg_ctx *owner, const mg_gan_config *c,
                              const mg_tensor *x, const char *x_name, int ndim, const int *shape,
                              const mg_tensor *labels) {
  char got[64], want[64] = "[n";
  if (owner != ctx) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: the network belongs to another context", fn);
  if (!x) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, x_name);
  bool same = x->dtype == MG_REAL && x->ndim == ndim;
  for (int i = 1; i < ndim; i++) {
    same = same && x->shape[i] == shape[i];
    snprintf(want + strlen(want), sizeof want - strlen(want), ",%d", shape[i]);
  }
  if (!same)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: %s is %s%s, expected real %s]", fn, x_name,
                   x->dtype == MG_REAL ? "" : "int32 ", mg_shape_str(x, got, sizeof got), want);
  if (labels && !c->num_classes)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: labels given to an unconditional model", fn);
  if (!labels && c->num_classes)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: the model is class-conditional (%d classes): labels are "
                   "required", fn, c->num_classes);
  if (labels && (labels->dtype != MG_INT32 || labels->ndim != 1 || labels->shape[0] != x->shape[0]))
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: labels are %s%s, expected int32 [%d] (one per sample)", fn,
                   labels->dtype == MG_INT32 ? "" : "real ", mg_shape_str(labels, got, sizeof got), x->shape[0]);
  return MG_OK;
}

/* rows [n, c] (a per-sample vector) as [n, c, 1, 1], to broadcast over positions */
static mg_tensor *per_channel(mg_ctx *ctx, mg_tensor *rows) {
  return rows ? mg_reshape(ctx, rows, 4, (int[]){rows->shape[0], rows->shape[1], 1, 1}) : NULL;
}

/* Records the failure of a forward with the function's name and returns NULL. */
static mg_tensor *forward_failed(mg_ctx *ctx, const char *fn) {
  char head[64];
  snprintf(head, sizeof head, "%s: ", fn);
  mg_rewrap_error(ctx, head, "");
  return NULL;
}

mg_tensor *mg_generator_forward(mg_ctx *ctx, mg_generator *g, mg_tensor *z, mg_tensor *labels, bool training) {
  const char *fn = "mg_generator_forward";
  if (!ctx || !mg_ok(ctx)) return NULL;
  if (!g) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: the generator is NULL", fn);
    return NULL;
  }
  const mg_gan_config *c = &g->config;
  if (check_inputs(ctx, fn, g->ctx, c, z, "z", 2, (int[]){0, c->latent_dim}, labels) != MG_OK) return NULL;
  const int n = z->shape[0];
  /* the class rows first: a bad label fails here, before batch norm touches the running statistics */
  mg_tensor *gain[MAX_BLOCKS] = {0}, *shift[MAX_BLOCKS] = {0};
  for (int i = 0; i < g->blocks && c->num_classes; i++) {
    gain[i] = per_channel(ctx, mg_embedding(ctx, labels, g->block[i].gain));
    shift[i] = per_channel(ctx, mg_embedding(ctx, labels, g->block[i].shift));
  }
  if (!mg_ok(ctx)) return forward_failed(ctx, fn);

  mg_tensor *h = mg_reshape(ctx, z, 4, (int[]){n, c->latent_dim, 1, 1});
  for (int i = 0; i < g->blocks; i++) {
    const gen_block *b = &g->block[i];
    h = i ? mg_conv_transpose2d(ctx, h, b->conv, NULL, 2, 1) : mg_conv_transpose2d(ctx, h, b->conv, NULL, 1, 0);
    h = mg_batch_norm(ctx, h, b->gamma, b->beta, b->running_mean, b->running_var, training, g->bn_momentum,
                      MG_GAN_BN_EPS);
    if (c->num_classes) h = mg_add(ctx, mg_mul(ctx, h, gain[i]), shift[i]); /* conditional batch norm */
    h = mg_relu(ctx, h);
  }
  mg_tensor *y = mg_tanh(ctx, mg_conv_transpose2d(ctx, h, g->out_weight, g->out_bias, 2, 1));
  return y ? y : forward_failed(ctx, fn);
}

/* The conv with its weight divided by the weight's largest singular value; training refines the estimate first. */
static mg_tensor *sn_conv_forward(mg_ctx *ctx, const sn_conv *s, mg_tensor *x, int stride, int pad, bool training) {
  mg_tensor *w = mg_spectral_norm(ctx, s->weight, s->u, s->v, training ? 1 : 0, MG_GAN_SN_EPS);
  return mg_conv2d(ctx, x, w, s->bias, stride, pad);
}

mg_tensor *mg_discriminator_forward(mg_ctx *ctx, mg_discriminator *d, mg_tensor *x, mg_tensor *labels,
                                    bool training) {
  const char *fn = "mg_discriminator_forward";
  if (!ctx || !mg_ok(ctx)) return NULL;
  if (!d) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: the discriminator is NULL", fn);
    return NULL;
  }
  const mg_gan_config *c = &d->config;
  const int shape[4] = {0, c->channels, c->image_size, c->image_size};
  if (check_inputs(ctx, fn, d->ctx, c, x, "x", 4, shape, labels) != MG_OK) return NULL;
  const int n = x->shape[0];
  /* the class rows first: a bad label fails here, before the power iterations update u and v */
  mg_tensor *embed = c->num_classes ? per_channel(ctx, mg_embedding(ctx, labels, d->embed)) : NULL;
  if (!mg_ok(ctx)) return forward_failed(ctx, fn);

  mg_tensor *h = x;
  for (int i = 0; i < d->blocks; i++)
    h = mg_leaky_relu(ctx, sn_conv_forward(ctx, &d->block[i], h, 2, 1, training), MG_GAN_LEAKY_SLOPE);
  mg_tensor *score = mg_reshape(ctx, sn_conv_forward(ctx, &d->output, h, 1, 0, training), 2, (int[]){n, 1});
  if (embed) score = mg_add(ctx, score, mg_sum_rows(ctx, mg_mul(ctx, h, embed))); /* the projection term */
  return score ? score : forward_failed(ctx, fn);
}
