/* unet.c: the UNet noise predictor of diffusion models (mg_unet.h; architecture in medgen.h): MONAI's
 * DiffusionModelUNet, i.e. Ho et al.'s DDPM network, as forward code over mg_engine.h ops.
 *
 *   temb = Linear(SiLU(Linear(sinusoid(t)))) [+ class embedding]
 *   conv_in -> per level: res_blocks x (ResBlock [+ Attention]), then a stride-2 conv except at the last level
 *           -> middle: ResBlock, [Attention], ResBlock
 *           -> per level, deepest first: (res_blocks+1) x (concat with a skip, ResBlock [+ Attention]), then
 *              nearest 2x + conv except at level 0
 *           -> GroupNorm, SiLU, conv_out
 * Skips are conv_in's output, every down unit's output and every downsample's output; the up path consumes them
 * last in, first out. Parameter names follow the PyTorch reference (Testing/Python/unet_reference.py). */
#include "mg_unet.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUP_NORM_EPS 1e-6 /* MONAI's */
#define MAX_PERIOD 10000.0
enum {
  MIN_IMAGE = 8,
  MAX_IMAGE = 256,
  MAX_IN_CHANNELS = 4,
  MAX_BASE = 1024,
  MAX_MULT = 16,
  MAX_LEVEL_CHANNELS = 4096,
  MAX_RES_BLOCKS = 4,
  MAX_TEMB = 4096,
  MAX_UNITS = MAX_RES_BLOCKS + 1, /* residual blocks of an up level */
  MAX_SKIPS = 1 + MG_UNET_MAX_LEVELS * (MAX_RES_BLOCKS + 1),
  NAME_SIZE = 96,
};

/* A layer's weight and bias: conv, linear or group norm. */
typedef struct affine {
  mg_tensor *w, *b;
} affine;

typedef struct resblock {
  affine norm1, conv1, time_emb_proj, norm2, conv2;
  affine skip; /* 1x1 conv where channels change; w NULL: identity */
} resblock;

typedef struct attnblock {
  affine norm, to_q, to_k, to_v, proj_out;
  int heads;
} attnblock;

typedef struct level {
  resblock res[MAX_UNITS];
  attnblock attn[MAX_UNITS]; /* used where config.attention[level] */
  affine resample;           /* down: stride-2 conv; up: conv after nearest 2x; w NULL: none */
} level;

struct mg_unet {
  mg_ctx *ctx;
  mg_unet_config config;
  mg_params *params;
  affine time_embed[2];
  mg_tensor *class_embed; /* [num_classes + 1, temb]; NULL when unconditional */
  mg_tensor *no_class;    /* int32 [1] = num_classes: the label used when labels is NULL */
  affine conv_in;
  level down[MG_UNET_MAX_LEVELS], up[MG_UNET_MAX_LEVELS];
  resblock mid_res[2];
  attnblock mid_attn;
  affine out_norm, out_conv;
};

/* ---- configuration ---- */
/* "UNet config: " + the message */
#define config_error(err, err_size, ...) \
  mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, "UNet config", __VA_ARGS__)

static int level_channels(const mg_unet_config *c, int i) { return c->base_channels * c->channel_mult[i]; }

mg_status mg_unet_config_check(const mg_unet_config *c, char *err, size_t err_size) {
  if (err && err_size) err[0] = '\0';
  if (!c) return config_error(err, err_size, "config is NULL");
  if (c->levels < 1 || c->levels > MG_UNET_MAX_LEVELS)
    return config_error(err, err_size, "levels = %d: must be from 1 to %d", c->levels, MG_UNET_MAX_LEVELS);
  int halvings = 1 << (c->levels - 1);
  if (c->image_size < MIN_IMAGE || c->image_size > MAX_IMAGE || c->image_size % halvings)
    return config_error(err, err_size, "image_size = %d: must be from %d to %d and divisible by %d (2^(levels-1))",
                        c->image_size, MIN_IMAGE, MAX_IMAGE, halvings);
  if (c->in_channels < 1 || c->in_channels > MAX_IN_CHANNELS)
    return config_error(err, err_size, "in_channels = %d: must be from 1 to %d", c->in_channels, MAX_IN_CHANNELS);
  if (c->base_channels < 2 || c->base_channels > MAX_BASE || c->base_channels % 2)
    return config_error(err, err_size, "base_channels = %d: must be even and from 2 to %d (it is also the "
                        "sinusoidal time embedding's width)", c->base_channels, MAX_BASE);
  for (int i = 0; i < c->levels; i++) {
    if (c->channel_mult[i] < 1 || c->channel_mult[i] > MAX_MULT)
      return config_error(err, err_size, "channel_mult[%d] = %d: must be from 1 to %d", i, c->channel_mult[i],
                          MAX_MULT);
    if (level_channels(c, i) > MAX_LEVEL_CHANNELS)
      return config_error(err, err_size, "channel_mult[%d] = %d: base_channels * channel_mult = %d channels, at "
                          "most %d", i, c->channel_mult[i], level_channels(c, i), MAX_LEVEL_CHANNELS);
  }
  if (c->res_blocks < 1 || c->res_blocks > MAX_RES_BLOCKS)
    return config_error(err, err_size, "res_blocks = %d: must be from 1 to %d", c->res_blocks, MAX_RES_BLOCKS);
  if (c->groups < 1)
    return config_error(err, err_size, "groups = %d: must be at least 1", c->groups);
  for (int i = 0; i < c->levels; i++)
    if (level_channels(c, i) % c->groups)
      return config_error(err, err_size, "groups = %d does not divide level %d's %d channels (base_channels %d * "
                          "channel_mult[%d] %d)", c->groups, i, level_channels(c, i), c->base_channels, i,
                          c->channel_mult[i]);
  if (c->head_channels < 1)
    return config_error(err, err_size, "head_channels = %d: must be at least 1", c->head_channels);
  for (int i = 0; i <= c->levels; i++) {
    bool mid = i == c->levels;
    int ch = level_channels(c, mid ? c->levels - 1 : i);
    if ((mid ? c->mid_attention : c->attention[i]) && ch % c->head_channels) {
      char where[32];
      snprintf(where, sizeof where, mid ? "the middle" : "level %d", i);
      return config_error(err, err_size, "head_channels = %d does not divide the %d channels of %s, which has "
                          "attention", c->head_channels, ch, where);
    }
  }
  if (c->temb_channels < 1 || c->temb_channels > MAX_TEMB)
    return config_error(err, err_size, "temb_channels = %d: must be from 1 to %d", c->temb_channels, MAX_TEMB);
  if (!(c->dropout >= 0 && c->dropout < 1))
    return config_error(err, err_size, "dropout = %g: must be in [0, 1)", c->dropout);
  if (c->num_classes < 0 || c->num_classes > MG_MAX_CLASSES)
    return config_error(err, err_size, "num_classes = %d: must be from 0 (unconditional) to %d", c->num_classes,
                        MG_MAX_CLASSES);
  return MG_OK;
}

mg_status mg_unet_preset(const char *name, mg_unet_config *out, char *err, size_t err_size) {
  if (err && err_size) err[0] = '\0';
  if (!out) return config_error(err, err_size, "mg_unet_preset: out is NULL");
  /* 64x64, 1 channel, unconditional; both: channel_mult 1,2,2, attention at levels 1, 2 and the middle */
  mg_unet_config c = {.image_size = 64, .in_channels = 1, .levels = 3, .channel_mult = {1, 2, 2}, .res_blocks = 1,
                      .attention = {0, 1, 1}, .mid_attention = 1, .groups = 32, .dropout = 0, .num_classes = 0};
  if (name && strcmp(name, "unet-s") == 0) {
    c.base_channels = 64;
    c.head_channels = 64;
    c.temb_channels = 256;
  } else if (name && strcmp(name, "unet-monai") == 0) { /* MONAI's 2D DDPM tutorial */
    c.base_channels = 128;
    c.head_channels = 256;
    c.temb_channels = 512;
  } else {
    if (err && err_size)
      snprintf(err, err_size, "unknown UNet preset '%s': the presets are unet-s and unet-monai", name ? name : "");
    return MG_ERR_INVALID_ARGUMENT;
  }
  *out = c;
  return MG_OK;
}

int mg_unet_config_to_json(const mg_unet_config *c, char *buf, size_t size) {
  char mult[128] = "", attn[128] = "";
  size_t m = 0, a = 0;
  for (int i = 0; i < c->levels && i < MG_UNET_MAX_LEVELS; i++) {
    m += (size_t)snprintf(mult + m, sizeof mult - m, "%s%d", i ? "," : "", c->channel_mult[i]);
    a += (size_t)snprintf(attn + a, sizeof attn - a, "%s%s", i ? "," : "", c->attention[i] ? "true" : "false");
  }
  return snprintf(buf, size,
                  "{\"image_size\":%d,\"in_channels\":%d,\"base_channels\":%d,\"levels\":%d,\"channel_mult\":[%s],"
                  "\"res_blocks\":%d,\"attention\":[%s],\"mid_attention\":%s,\"head_channels\":%d,\"groups\":%d,"
                  "\"temb_channels\":%d,\"dropout\":%.17g,\"num_classes\":%d}",
                  c->image_size, c->in_channels, c->base_channels, c->levels, mult, c->res_blocks, attn,
                  c->mid_attention ? "true" : "false", c->head_channels, c->groups, c->temb_channels, c->dropout,
                  c->num_classes);
}

/* The JSON fields, in mg_unet_config_to_json's order: exactly these, each once. */
static const char *const json_fields[] = {"image_size", "in_channels", "base_channels", "levels", "channel_mult",
                                          "res_blocks", "attention", "mid_attention", "head_channels", "groups",
                                          "temb_channels", "dropout", "num_classes"};

static bool json_int(const cJSON *item, int *out) {
  if (!cJSON_IsNumber(item) || !(fabs(item->valuedouble) <= 1e9) || item->valuedouble != floor(item->valuedouble))
    return false;
  *out = (int)item->valuedouble;
  return true;
}

mg_status mg_unet_config_from_json(const char *json, mg_unet_config *out, char *err, size_t err_size) {
  if (err && err_size) err[0] = '\0';
  if (!json || !out) return config_error(err, err_size, "mg_unet_config_from_json: %s is NULL", json ? "out" : "json");
  cJSON *root = cJSON_Parse(json);
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return config_error(err, err_size, "not a JSON object: %.60s", json);
  }
  const size_t n_fields = sizeof json_fields / sizeof json_fields[0];
  const cJSON *item[sizeof json_fields / sizeof json_fields[0]] = {0};
  mg_status s = MG_OK;
  for (const cJSON *e = root->child; e && s == MG_OK; e = e->next) {
    size_t f = 0;
    while (f < n_fields && strcmp(e->string, json_fields[f]) != 0) f++;
    if (f == n_fields) s = config_error(err, err_size, "unknown field \"%s\"", e->string);
    else if (item[f]) s = config_error(err, err_size, "field \"%s\" appears twice", e->string);
    else item[f] = e;
  }
  for (size_t f = 0; f < n_fields && s == MG_OK; f++)
    if (!item[f]) s = config_error(err, err_size, "missing field \"%s\"", json_fields[f]);

  mg_unet_config c;
  memset(&c, 0, sizeof c);
  const struct {
    const char *name;
    int *value;
  } ints[] = {{"image_size", &c.image_size}, {"in_channels", &c.in_channels}, {"base_channels", &c.base_channels},
              {"levels", &c.levels}, {"res_blocks", &c.res_blocks}, {"head_channels", &c.head_channels},
              {"groups", &c.groups}, {"temb_channels", &c.temb_channels}, {"num_classes", &c.num_classes}};
  for (size_t f = 0; f < sizeof ints / sizeof ints[0] && s == MG_OK; f++)
    if (!json_int(cJSON_GetObjectItemCaseSensitive(root, ints[f].name), ints[f].value))
      s = config_error(err, err_size, "field \"%s\" must be an integer", ints[f].name);
  if (s == MG_OK && (c.levels < 1 || c.levels > MG_UNET_MAX_LEVELS))
    s = config_error(err, err_size, "levels = %d: must be from 1 to %d", c.levels, MG_UNET_MAX_LEVELS);
  const cJSON *mult = cJSON_GetObjectItemCaseSensitive(root, "channel_mult");
  const cJSON *attn = cJSON_GetObjectItemCaseSensitive(root, "attention");
  const cJSON *mid = cJSON_GetObjectItemCaseSensitive(root, "mid_attention");
  const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(root, "dropout");
  if (s == MG_OK && (!cJSON_IsArray(mult) || cJSON_GetArraySize(mult) != c.levels))
    s = config_error(err, err_size, "field \"channel_mult\" must be an array of levels (%d) integers", c.levels);
  if (s == MG_OK && (!cJSON_IsArray(attn) || cJSON_GetArraySize(attn) != c.levels))
    s = config_error(err, err_size, "field \"attention\" must be an array of levels (%d) booleans", c.levels);
  for (int i = 0; i < c.levels && s == MG_OK; i++) {
    const cJSON *a = cJSON_GetArrayItem(attn, i);
    if (!json_int(cJSON_GetArrayItem(mult, i), &c.channel_mult[i]))
      s = config_error(err, err_size, "channel_mult[%d] must be an integer", i);
    else if (!cJSON_IsBool(a))
      s = config_error(err, err_size, "attention[%d] must be true or false", i);
    else
      c.attention[i] = cJSON_IsTrue(a);
  }
  if (s == MG_OK && !cJSON_IsBool(mid))
    s = config_error(err, err_size, "field \"mid_attention\" must be true or false");
  if (s == MG_OK && !cJSON_IsNumber(dropout)) s = config_error(err, err_size, "field \"dropout\" must be a number");
  if (s == MG_OK) {
    c.mid_attention = cJSON_IsTrue(mid);
    c.dropout = dropout->valuedouble;
    s = mg_unet_config_check(&c, err, err_size);
  }
  cJSON_Delete(root);
  if (s == MG_OK) *out = c;
  return s;
}

/* ---- parameters: created in the PyTorch reference's state_dict order ---- */
/* name.weight with the given shape and name.bias [outputs], zero-filled; failures land in ctx */
static affine new_affine(mg_unet *u, const char *name, int ndim, const int *weight_shape, int outputs) {
  char wn[NAME_SIZE], bn[NAME_SIZE];
  snprintf(wn, sizeof wn, "%s.weight", name);
  snprintf(bn, sizeof bn, "%s.bias", name);
  affine a = {mg_param(u->params, wn, ndim, weight_shape), mg_param(u->params, bn, 1, &outputs)};
  return a;
}

/* zero: left at 0 (MONAI's zero_module); otherwise PyTorch's default init */
static affine new_conv(mg_unet *u, const char *name, int cin, int cout, int k, bool zero) {
  affine c = new_affine(u, name, 4, (int[]){cout, cin, k, k}, cout);
  if (c.w && c.b && !zero) mg_init_default(u->ctx, c.w, c.b, cin * k * k);
  return c;
}

static affine new_linear(mg_unet *u, const char *name, int in, int out) {
  affine l = new_affine(u, name, 2, (int[]){out, in}, out);
  if (l.w && l.b) mg_init_default(u->ctx, l.w, l.b, in);
  return l;
}

static affine new_norm(mg_unet *u, const char *name, int channels) {
  affine n = new_affine(u, name, 1, &channels, channels); /* gamma 1, beta 0 */
  if (n.w) mg_fill(u->ctx, n.w, 1.0);
  return n;
}

/* prefix + "." + part into buf (names are short: NAME_SIZE holds the longest) */
static const char *join(char *buf, const char *prefix, const char *part) {
  snprintf(buf, NAME_SIZE, "%s.%s", prefix, part);
  return buf;
}

static resblock new_resblock(mg_unet *u, const char *name, int cin, int cout) {
  char buf[NAME_SIZE];
  resblock r;
  memset(&r, 0, sizeof r);
  r.norm1 = new_norm(u, join(buf, name, "norm1"), cin);
  r.conv1 = new_conv(u, join(buf, name, "conv1"), cin, cout, 3, false);
  r.time_emb_proj = new_linear(u, join(buf, name, "time_emb_proj"), u->config.temb_channels, cout);
  r.norm2 = new_norm(u, join(buf, name, "norm2"), cout);
  r.conv2 = new_conv(u, join(buf, name, "conv2"), cout, cout, 3, true);
  if (cin != cout) r.skip = new_conv(u, join(buf, name, "skip"), cin, cout, 1, false);
  return r;
}

static attnblock new_attnblock(mg_unet *u, const char *name, int channels) {
  char buf[NAME_SIZE];
  attnblock a;
  a.norm = new_norm(u, join(buf, name, "norm"), channels);
  a.to_q = new_conv(u, join(buf, name, "to_q"), channels, channels, 1, false);
  a.to_k = new_conv(u, join(buf, name, "to_k"), channels, channels, 1, false);
  a.to_v = new_conv(u, join(buf, name, "to_v"), channels, channels, 1, false);
  a.proj_out = new_conv(u, join(buf, name, "proj_out"), channels, channels, 1, true);
  a.heads = channels / u->config.head_channels;
  return a;
}

/* One level's blocks: res_in[j] input channels for unit j, ch output channels. */
static void new_level(mg_unet *u, level *l, const char *path, int i, const int *res_in, int units, int ch,
                      const char *resample) {
  char name[NAME_SIZE];
  for (int j = 0; j < units; j++) {
    snprintf(name, sizeof name, "%s.%d.res.%d", path, i, j);
    l->res[j] = new_resblock(u, name, res_in[j], ch);
  }
  for (int j = 0; j < units && u->config.attention[i]; j++) {
    snprintf(name, sizeof name, "%s.%d.attn.%d", path, i, j);
    l->attn[j] = new_attnblock(u, name, ch);
  }
  if (resample) {
    snprintf(name, sizeof name, "%s.%d.%s", path, i, resample);
    l->resample = new_conv(u, name, ch, ch, 3, false);
  }
}

static void build(mg_unet *u) {
  const mg_unet_config *c = &u->config;
  const int L = c->levels, R = c->res_blocks;
  u->time_embed[0] = new_linear(u, "time_embed.0", c->base_channels, c->temb_channels);
  u->time_embed[1] = new_linear(u, "time_embed.2", c->temb_channels, c->temb_channels);
  if (c->num_classes) {
    u->class_embed = mg_param(u->params, "class_embed.weight", 2, (int[]){c->num_classes + 1, c->temb_channels});
    if (u->class_embed) mg_fill_normal(u->ctx, u->class_embed, 0.0, 1.0); /* nn.Embedding's N(0, 1) */
    u->no_class = mg_tensor_new_persistent(u->ctx, MG_INT32, 1, (int[]){1});
    if (u->no_class) mg_tensor_upload(u->ctx, u->no_class, &(int32_t){c->num_classes}, 1);
  }
  u->conv_in = new_conv(u, "conv_in", c->in_channels, level_channels(c, 0), 3, false);

  /* channels of each skip, pushed as the down path will push them, to size the up path's concatenations */
  int skips[MAX_SKIPS], n_skips = 0, cin = level_channels(c, 0);
  skips[n_skips++] = cin;
  for (int i = 0; i < L; i++) {
    int ch = level_channels(c, i), res_in[MAX_UNITS];
    for (int j = 0; j < R; j++) {
      res_in[j] = j ? ch : cin;
      skips[n_skips++] = ch;
    }
    if (i < L - 1) skips[n_skips++] = ch;
    new_level(u, &u->down[i], "down", i, res_in, R, ch, i < L - 1 ? "downsample" : NULL);
    cin = ch;
  }
  u->mid_res[0] = new_resblock(u, "mid.res.0", cin, cin);
  u->mid_res[1] = new_resblock(u, "mid.res.1", cin, cin);
  if (c->mid_attention) u->mid_attn = new_attnblock(u, "mid.attn", cin);

  /* up levels are named by level index and created in that order (PyTorch's ModuleList), deepest consumed first */
  int up_in[MG_UNET_MAX_LEVELS][MAX_UNITS];
  for (int i = L - 1; i >= 0; i--)
    for (int j = 0; j < R + 1; j++) {
      up_in[i][j] = cin + skips[--n_skips];
      cin = level_channels(c, i);
    }
  for (int i = 0; i < L; i++)
    new_level(u, &u->up[i], "up", i, up_in[i], R + 1, level_channels(c, i), i > 0 ? "upsample" : NULL);
  u->out_norm = new_norm(u, "out.norm", level_channels(c, 0));
  u->out_conv = new_conv(u, "out.conv", level_channels(c, 0), c->in_channels, 3, true);
}

mg_unet *mg_unet_new(mg_ctx *ctx, const mg_unet_config *config) {
  if (!ctx || !mg_ok(ctx)) return NULL;
  char why[256];
  if (mg_unet_config_check(config, why, sizeof why) != MG_OK) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "mg_unet_new: %s", why);
    return NULL;
  }
  mg_unet *u = calloc(1, sizeof *u);
  if (!u) {
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "mg_unet_new: out of memory");
    return NULL;
  }
  u->ctx = ctx;
  u->config = *config;
  u->params = mg_params_new(ctx);
  if (u->params) build(u);
  if (!mg_ok(ctx)) {
    free(u);
    return NULL;
  }
  return u;
}

void mg_unet_free(mg_unet *u) { free(u); }
mg_params *mg_unet_params(const mg_unet *u) { return u ? u->params : NULL; }
const mg_unet_config *mg_unet_config_of(const mg_unet *u) { return u ? &u->config : NULL; }

/* ---- forward ---- */
static mg_tensor *conv(mg_ctx *ctx, affine c, mg_tensor *x, int stride) {
  return mg_conv2d(ctx, x, c.w, c.b, stride, c.w->shape[2] / 2);
}

static mg_tensor *norm(mg_ctx *ctx, const mg_unet *u, affine n, mg_tensor *x) {
  return mg_group_norm(ctx, x, u->config.groups, n.w, n.b, GROUP_NORM_EPS);
}

/* temb_act = SiLU(temb), shared by every block; p: dropout probability (0 at inference) */
static mg_tensor *resblock_forward(mg_ctx *ctx, const mg_unet *u, const resblock *r, mg_tensor *x,
                                   mg_tensor *temb_act, double p) {
  mg_tensor *h = conv(ctx, r->conv1, mg_silu(ctx, norm(ctx, u, r->norm1, x)), 1);
  mg_tensor *t = mg_linear(ctx, temb_act, r->time_emb_proj.w, r->time_emb_proj.b);
  if (!h || !t) return NULL;
  h = mg_add(ctx, h, mg_reshape(ctx, t, 4, (int[]){t->shape[0], t->shape[1], 1, 1}));
  h = conv(ctx, r->conv2, mg_dropout(ctx, mg_silu(ctx, norm(ctx, u, r->norm2, h)), p), 1);
  return mg_add(ctx, r->skip.w ? conv(ctx, r->skip, x, 1) : x, h);
}

static mg_tensor *attn_forward(mg_ctx *ctx, const mg_unet *u, const attnblock *a, mg_tensor *x) {
  mg_tensor *h = norm(ctx, u, a->norm, x);
  mg_tensor *q = conv(ctx, a->to_q, h, 1), *k = conv(ctx, a->to_k, h, 1), *v = conv(ctx, a->to_v, h, 1);
  return mg_add(ctx, x, conv(ctx, a->proj_out, mg_attention(ctx, q, k, v, a->heads), 1));
}

/* Unit j of level i: ResBlock, then attention where the level has it. */
static mg_tensor *unit_forward(mg_ctx *ctx, const mg_unet *u, const level *l, int i, int j, mg_tensor *x,
                               mg_tensor *temb_act, double p) {
  mg_tensor *h = resblock_forward(ctx, u, &l->res[j], x, temb_act, p);
  return u->config.attention[i] ? attn_forward(ctx, u, &l->attn[j], h) : h;
}

static mg_status check_inputs(mg_ctx *ctx, const mg_unet *u, const mg_tensor *x, const mg_tensor *t,
                              const mg_tensor *labels) {
  const char *fn = "mg_unet_forward";
  const mg_unet_config *c = &u->config;
  char sx[64], st[64];
  if (u->ctx != ctx) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: the UNet belongs to another context", fn);
  if (!x || !t) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, x ? "t" : "x");
  if (x->dtype != MG_REAL || x->ndim != 4 || x->shape[1] != c->in_channels || x->shape[2] != c->image_size ||
      x->shape[3] != c->image_size)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: x is %s, the UNet takes real [n,%d,%d,%d]", fn,
                   mg_shape_str(x, sx, sizeof sx), c->in_channels, c->image_size, c->image_size);
  if (t->dtype != MG_REAL || t->ndim != 1 || t->shape[0] != x->shape[0])
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: timesteps t are %s, expected real [%d] (one per image)", fn,
                   mg_shape_str(t, st, sizeof st), x->shape[0]);
  if (labels && !c->num_classes)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: labels given to an unconditional UNet", fn);
  if (labels && (labels->ndim != 1 || labels->shape[0] != x->shape[0]))
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: labels are %s, expected int32 [%d] (one per image)", fn,
                   mg_shape_str(labels, st, sizeof st), x->shape[0]);
  return MG_OK;
}

mg_tensor *mg_unet_forward(mg_ctx *ctx, mg_unet *u, mg_tensor *x, mg_tensor *t, mg_tensor *labels, bool training) {
  if (!ctx || !mg_ok(ctx)) return NULL;
  if (!u) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "mg_unet_forward: the UNet is NULL");
    return NULL;
  }
  if (check_inputs(ctx, u, x, t, labels) != MG_OK) return NULL;
  const mg_unet_config *c = &u->config;
  const int L = c->levels, R = c->res_blocks;
  const double p = training ? c->dropout : 0;

  mg_tensor *temb = mg_timestep_embedding(ctx, t, c->base_channels, MAX_PERIOD);
  temb = mg_silu(ctx, mg_linear(ctx, temb, u->time_embed[0].w, u->time_embed[0].b));
  temb = mg_linear(ctx, temb, u->time_embed[1].w, u->time_embed[1].b);
  if (u->class_embed) /* no labels: the "no class" row, broadcast over the batch */
    temb = mg_add(ctx, temb, mg_embedding(ctx, labels ? labels : u->no_class, u->class_embed));
  mg_tensor *temb_act = mg_silu(ctx, temb);

  mg_tensor *skips[MAX_SKIPS];
  int n_skips = 0;
  mg_tensor *h = conv(ctx, u->conv_in, x, 1);
  skips[n_skips++] = h;
  for (int i = 0; i < L; i++) {
    for (int j = 0; j < R; j++) skips[n_skips++] = h = unit_forward(ctx, u, &u->down[i], i, j, h, temb_act, p);
    if (i < L - 1) skips[n_skips++] = h = conv(ctx, u->down[i].resample, h, 2);
  }
  h = resblock_forward(ctx, u, &u->mid_res[0], h, temb_act, p);
  if (c->mid_attention) h = attn_forward(ctx, u, &u->mid_attn, h);
  h = resblock_forward(ctx, u, &u->mid_res[1], h, temb_act, p);
  for (int i = L - 1; i >= 0; i--) {
    for (int j = 0; j < R + 1; j++)
      h = unit_forward(ctx, u, &u->up[i], i, j, mg_concat(ctx, h, skips[--n_skips]), temb_act, p);
    if (i > 0) h = conv(ctx, u->up[i].resample, mg_upsample_nearest2x(ctx, h), 1);
  }
  return conv(ctx, u->out_conv, mg_silu(ctx, norm(ctx, u, u->out_norm, h)), 1);
}
