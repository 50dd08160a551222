/* test_unet_config.c: the UNet's configuration and construction (unet.c) without PyTorch: the presets as medgen.h
 * describes them, JSON round trips, every bad field rejected with its name in the message, the initialization
 * policy (PyTorch's default bounds, zero-initialized residual branches, unit norms, N(0,1) class table), input
 * checks, and dropout: on only while training, drawn from the context's stream. Parity with PyTorch is
 * test_unet_parity. */
#include "mg_unet.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static mg_unet_config small_config(void) {
  mg_unet_config c = {.image_size = 16, .in_channels = 2, .base_channels = 16, .levels = 2, .channel_mult = {1, 2},
                      .res_blocks = 2, .attention = {0, 1}, .mid_attention = 1, .head_channels = 16, .groups = 4,
                      .temb_channels = 32, .dropout = 0.25, .num_classes = 3};
  return c;
}

/* Field-by-field equality over the used levels (the JSON holds nothing for unused ones). */
static bool same_config(const mg_unet_config *a, const mg_unet_config *b) {
  bool same = a->image_size == b->image_size && a->in_channels == b->in_channels &&
              a->base_channels == b->base_channels && a->levels == b->levels && a->res_blocks == b->res_blocks &&
              !a->mid_attention == !b->mid_attention && a->head_channels == b->head_channels &&
              a->groups == b->groups && a->temb_channels == b->temb_channels && a->dropout == b->dropout &&
              a->num_classes == b->num_classes;
  for (int i = 0; same && i < a->levels; i++)
    same = a->channel_mult[i] == b->channel_mult[i] && !a->attention[i] == !b->attention[i];
  return same;
}

static void check_presets(void) {
  char err[256];
  mg_unet_config s, m;
  tu_check(mg_unet_preset("unet-s", &s, err, sizeof err) == MG_OK, "unet-s: %s", err);
  tu_check(mg_unet_config_check(&s, err, sizeof err) == MG_OK, "unet-s fails its check: %s", err);
  tu_check(s.image_size == 64 && s.in_channels == 1 && s.num_classes == 0 && s.base_channels == 64 &&
               s.levels == 3 && s.channel_mult[0] == 1 && s.channel_mult[1] == 2 && s.channel_mult[2] == 2 &&
               s.res_blocks == 1 && !s.attention[0] && s.attention[1] && s.attention[2] && s.mid_attention &&
               s.head_channels == 64 && s.groups == 32 && s.temb_channels == 256,
           "unet-s differs from medgen.h's description");
  tu_check(mg_unet_preset("unet-monai", &m, err, sizeof err) == MG_OK, "unet-monai: %s", err);
  tu_check(mg_unet_config_check(&m, err, sizeof err) == MG_OK, "unet-monai fails its check: %s", err);
  tu_check(m.base_channels == 128 && m.channel_mult[1] == 2 && m.channel_mult[2] == 2 && m.head_channels == 256 &&
               m.groups == 32 && m.temb_channels == 512 && !m.attention[0] && m.attention[1] && m.attention[2] &&
               m.mid_attention,
           "unet-monai differs from medgen.h's description (MONAI's 128,256,256 tutorial network)");
  tu_check(mg_unet_preset("unet-xl", &m, err, sizeof err) == MG_ERR_INVALID_ARGUMENT && strstr(err, "unet-xl") &&
               strstr(err, "unet-s") && strstr(err, "unet-monai"),
           "an unknown preset must fail naming it and the presets: '%s'", err);
}

static void check_round_trips(void) {
  mg_unet_config configs[3];
  char err[256], a[1024], b[1024];
  mg_unet_preset("unet-s", &configs[0], err, sizeof err);
  configs[1] = small_config();
  configs[2] = small_config();
  configs[2].levels = 5;
  configs[2].image_size = 256;
  configs[2].dropout = 0.1; /* not exact in binary: the JSON must still restore it bit for bit */
  for (int i = 0; i < 5; i++) {
    configs[2].channel_mult[i] = 1 + i;
    configs[2].attention[i] = i % 2;
  }
  configs[2].groups = 8;
  configs[2].head_channels = 8;
  configs[2].base_channels = 24;
  for (int i = 0; i < 3; i++) {
    tu_check(mg_unet_config_check(&configs[i], err, sizeof err) == MG_OK, "round trip %d: invalid: %s", i, err);
    int len = mg_unet_config_to_json(&configs[i], a, sizeof a);
    mg_unet_config back;
    tu_check(len > 0 && len < (int)sizeof a && mg_unet_config_from_json(a, &back, err, sizeof err) == MG_OK,
             "round trip %d: %s does not parse back: %s", i, a, err);
    mg_unet_config_to_json(&back, b, sizeof b);
    tu_check(same_config(&configs[i], &back) && strcmp(a, b) == 0, "round trip %d: %s came back as %s", i, a, b);
    char tiny[8];
    tu_check(mg_unet_config_to_json(&configs[i], tiny, sizeof tiny) == len && strlen(tiny) == sizeof tiny - 1,
             "to_json into a small buffer must truncate and return the full length, like snprintf");
  }
}

static void expect_rejected(const mg_unet_config *c, const char *field, const char *edit) {
  char err[256] = "";
  tu_check_refused(mg_unet_config_check(c, err, sizeof err), err, field, edit);
}

/* Each bad value, set on a valid config, must fail the check with the field named in the message. */
#define REJECT(field, edit)                \
  do {                                     \
    mg_unet_config c = small_config();     \
    edit;                                  \
    expect_rejected(&c, field, #edit);     \
  } while (0)

static void check_rejections(void) {
  REJECT("levels", c.levels = 0);
  REJECT("levels", c.levels = MG_UNET_MAX_LEVELS + 1);
  REJECT("image_size", c.image_size = 4);
  REJECT("image_size", c.image_size = 512);
  REJECT("image_size", c.image_size = 17); /* two levels halve once: must be even */
  REJECT("in_channels", c.in_channels = 0);
  REJECT("in_channels", c.in_channels = 5);
  REJECT("base_channels", c.base_channels = 0);
  REJECT("base_channels", (c.base_channels = 15, c.groups = 1, c.head_channels = 15)); /* odd embedding width */
  REJECT("channel_mult[1]", c.channel_mult[1] = 0);
  REJECT("channel_mult[0]", c.channel_mult[0] = 17);
  REJECT("res_blocks", c.res_blocks = 0);
  REJECT("res_blocks", c.res_blocks = 5);
  REJECT("groups", c.groups = 0);
  REJECT("groups", c.groups = 3); /* 16 and 32 channels */
  REJECT("head_channels", c.head_channels = 0);
  REJECT("head_channels", c.head_channels = 12);                       /* 32 channels at level 1 */
  REJECT("head_channels", (c.attention[1] = 0, c.head_channels = 64)); /* the middle still has attention */
  REJECT("temb_channels", c.temb_channels = 0);
  REJECT("dropout", c.dropout = -0.1);
  REJECT("dropout", c.dropout = 1.0);
  REJECT("dropout", c.dropout = NAN);
  REJECT("num_classes", c.num_classes = -1);
  REJECT("num_classes", c.num_classes = MG_MAX_CLASSES + 1);
  /* head_channels only has to divide the levels that have attention */
  mg_unet_config ok = small_config();
  ok.head_channels = 32;
  char err[256];
  tu_check(mg_unet_config_check(&ok, err, sizeof err) == MG_OK, "head_channels 32 with attention at 32 channels: %s",
           err);
  tu_check(mg_unet_config_check(NULL, err, sizeof err) == MG_ERR_INVALID_ARGUMENT, "a NULL config must fail");
}

/* mg_unet_config_from_json as tu_check_bad_json calls it */
static mg_status parse(const char *json, char *err, size_t err_size) {
  mg_unet_config out = small_config();
  return mg_unet_config_from_json(json, &out, err, err_size);
}

/* JSON that is not a valid config must fail naming the field (or the problem). */
static void check_bad_json(void) {
  char good[1024];
  mg_unet_config c = small_config();
  mg_unet_config_to_json(&c, good, sizeof good);
  const tu_json_edit edits[] = {
      {"\"levels\":2,", "", "missing field \"levels\""},
      {"\"groups\":4", "\"groups\":4,\"group\":4", "unknown field \"group\""},
      {"\"groups\":4", "\"groups\":4,\"groups\":4", "\"groups\" appears twice"},
      {"\"res_blocks\":2", "\"res_blocks\":2.5", "\"res_blocks\" must be an integer"},
      {"\"res_blocks\":2", "\"res_blocks\":\"2\"", "\"res_blocks\" must be an integer"},
      {"\"channel_mult\":[1,2]", "\"channel_mult\":[1,2,2]", "channel_mult"},
      {"\"channel_mult\":[1,2]", "\"channel_mult\":[1,true]", "channel_mult[1]"},
      {"\"attention\":[false,true]", "\"attention\":[0,1]", "attention[0]"},
      {"\"mid_attention\":true", "\"mid_attention\":1", "mid_attention"},
      {"\"dropout\":0.25", "\"dropout\":null", "dropout"},
      {"\"num_classes\":3", "\"num_classes\":300", "num_classes"},
      {"\"image_size\":16", "\"image_size\":1e12", "image_size"},
      {"{", "[", "not a JSON object"},
  };
  tu_check_bad_json(good, edits, sizeof edits / sizeof *edits, parse);
  char err[256];
  tu_check(mg_unet_config_from_json("{\"levels\":", &c, err, sizeof err) == MG_ERR_INVALID_ARGUMENT,
           "truncated JSON must fail");
}

/* max |value| of a tensor; *mean_sq receives the mean of the squares */
static double max_abs(mg_ctx *ctx, const mg_tensor *t, double *mean_sq) {
  mg_real *h = malloc((size_t)t->numel * sizeof *h);
  mg_tensor_download_real(ctx, t, h, t->numel);
  double m = 0, sq = 0;
  for (int64_t i = 0; i < t->numel; i++) {
    m = fmax(m, fabs((double)h[i]));
    sq += (double)h[i] * h[i];
  }
  free(h);
  if (mean_sq) *mean_sq = sq / (double)t->numel;
  return m;
}

/* The initialization policy of mg_unet.h, parameter by parameter, from its name and shape. */
static void check_init(void) {
  mg_ctx *ctx = tu_ctx(2);
  mg_rng_seed(ctx, 7);
  mg_unet_config c = small_config();
  mg_unet *u = mg_unet_new(ctx, &c);
  if (!tu_ctx_ok(ctx, "mg_unet_new")) return;
  mg_params *p = mg_unet_params(u);
  int zeroed = 0;
  for (int i = 0; i < mg_params_count(p); i++) {
    const mg_tensor *t = mg_params_at(p, i);
    const char *name = t->name;
    double mean_sq, m = max_abs(ctx, t, &mean_sq);
    bool zero = strstr(name, ".conv2.") || strstr(name, ".proj_out.") || strncmp(name, "out.conv.", 9) == 0;
    bool norm = strstr(name, "norm") != NULL;
    if (zero) {
      zeroed++;
      tu_check(m == 0, "%s must start at zero (MONAI's zero_module), max |w| = %g", name, m);
    } else if (strcmp(name, "class_embed.weight") == 0) {
      tu_check(t->shape[0] == c.num_classes + 1 && fabs(mean_sq - 1) < 0.3, "%s: shape [%d,..], mean square %g, "
               "want num_classes + 1 rows of N(0, 1)", name, t->shape[0], mean_sq);
    } else if (norm) {
      bool gamma = tu_ends_with(name, ".weight");
      tu_check(gamma ? m == 1 && mean_sq == 1 : m == 0, "%s must start at %s", name, gamma ? "1" : "0");
    } else {
      /* PyTorch's default U(+-1/sqrt(fan_in)) for the weight and the bias; fan_in from the weight's shape */
      const mg_tensor *w = tu_ends_with(name, ".bias") ? mg_params_at(p, i - 1) : t;
      double bound = 1 / sqrt((double)(w->numel / w->shape[0]));
      bool spread = t == w ? mean_sq > bound * bound / 6 : true; /* U(+-b): b^2/3; biases are too few to tell */
      tu_check(m <= bound && m > 0.5 * bound && spread, "%s: max |w| %g, mean square %g, want U(+-%g)", name, m,
               mean_sq, bound);
    }
  }
  /* weight and bias of: conv2 of 2 levels x (2 down + 3 up) + 2 middle residual blocks; proj_out of level 1's
   * 2 + 3 attention blocks and the middle's; out.conv */
  tu_check(zeroed == 2 * (12 + 6 + 1), "%d zero-initialized tensors, expected %d", zeroed, 2 * (12 + 6 + 1));
  mg_unet_free(u);
  mg_context_free(ctx);
}

/* Sets every parameter to U(-0.3, 0.3) so that every block (the zero-initialized ones too) affects the output. */
static void randomize(mg_ctx *ctx, mg_params *p) {
  for (int i = 0; i < mg_params_count(p); i++) mg_fill_uniform(ctx, mg_params_at(p, i), -0.3, 0.3);
}

static mg_tensor *random_step(mg_ctx *ctx, int ndim, const int *shape, double lo, double hi) {
  mg_tensor *t = mg_tensor_new(ctx, MG_REAL, ndim, shape);
  if (t) mg_fill_uniform(ctx, t, lo, hi);
  return t;
}

static mg_tensor *labels_of(mg_ctx *ctx, int n, int32_t value) {
  mg_tensor *t = mg_tensor_new(ctx, MG_INT32, 1, &n);
  int32_t host[8];
  for (int i = 0; i < n; i++) host[i] = value;
  if (t) mg_tensor_upload(ctx, t, host, n);
  return t;
}

static void download(mg_ctx *ctx, const mg_tensor *t, float *out) {
  if (t) mg_tensor_download(ctx, t, out, t->numel);
}

/* Inputs are checked with clear messages; dropout is on only while training and only then draws numbers. */
static void check_forward(void) {
  mg_ctx *ctx = tu_ctx(2);
  mg_unet_config c = small_config();
  mg_unet *u = mg_unet_new(ctx, &c);
  if (!tu_ctx_ok(ctx, "mg_unet_new")) return;
  randomize(ctx, mg_unet_params(u));
  enum { N = 2, PER = 2 * 16 * 16 };
  float eval1[N * PER], eval2[N * PER], train[N * PER];
  bool grad = mg_set_grad_enabled(ctx, false);

  mg_step_begin(ctx);
  mg_tensor *x = random_step(ctx, 4, (int[]){N, 2, 16, 16}, -1, 1), *t = random_step(ctx, 1, (int[]){N}, 0, 999);
  uint64_t offset = mg_rng_offset(ctx);
  download(ctx, mg_unet_forward(ctx, u, x, t, NULL, false), eval1);
  download(ctx, mg_unet_forward(ctx, u, x, t, NULL, false), eval2);
  tu_check(mg_rng_offset(ctx) == offset, "inference drew random numbers");
  download(ctx, mg_unet_forward(ctx, u, x, t, NULL, true), train);
  tu_ctx_ok(ctx, "forward");
  tu_check(mg_rng_offset(ctx) > offset, "training with dropout drew no random numbers");
  tu_check(memcmp(eval1, eval2, sizeof eval1) == 0, "inference is not repeatable");
  tu_check(memcmp(eval1, train, sizeof eval1) != 0, "dropout 0.25 changed nothing while training");

  /* bad inputs: the message says what is wrong */
  struct {
    mg_tensor *x, *t, *labels;
    const char *expect;
  } bad[] = {
      {random_step(ctx, 4, (int[]){N, 1, 16, 16}, -1, 1), t, NULL, "[n,2,16,16]"},
      {random_step(ctx, 4, (int[]){N, 2, 8, 8}, -1, 1), t, NULL, "[n,2,16,16]"},
      {x, random_step(ctx, 1, (int[]){N + 1}, 0, 9), NULL, "timesteps"},
      {x, t, labels_of(ctx, N, c.num_classes + 1), "label 4"},
      {x, NULL, NULL, "t is NULL"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    mg_tensor *y = mg_unet_forward(ctx, u, bad[i].x, bad[i].t, bad[i].labels, false);
    tu_check(!y && strstr(mg_context_error(ctx), bad[i].expect), "bad input %zu: got '%s', want '%s'", i,
             mg_context_error(ctx), bad[i].expect);
    mg_clear_error(ctx);
  }
  mg_set_grad_enabled(ctx, grad);
  mg_unet_free(u);

  c.num_classes = 0;
  u = mg_unet_new(ctx, &c);
  mg_step_begin(ctx);
  x = random_step(ctx, 4, (int[]){N, 2, 16, 16}, -1, 1);
  t = random_step(ctx, 1, (int[]){N}, 0, 999);
  tu_check(!mg_unet_forward(ctx, u, x, t, labels_of(ctx, N, 0), false) && strstr(mg_context_error(ctx),
           "unconditional"), "labels for an unconditional UNet: '%s'", mg_context_error(ctx));
  mg_clear_error(ctx);
  mg_unet_free(u);

  c.groups = 3;
  tu_check(!mg_unet_new(ctx, &c) && strstr(mg_context_error(ctx), "groups"), "mg_unet_new with a bad config: '%s'",
           mg_context_error(ctx));
  mg_context_free(ctx);
}

int main(void) {
  tu_seed(11);
  check_presets();
  check_round_trips();
  check_rejections();
  check_bad_json();
  check_init();
  check_forward();
  return tu_finish();
}
