/* test_gan_config.c: the GAN's configuration and networks (gan_model.c) apart from their arithmetic: the preset as
 * medgen.h describes it, its parameter counts against PyTorch's (from a gan_reference.py fixture's metadata), JSON
 * round trips, every bad field rejected with its name in the message, the initialization of mg_gan_model.h,
 * input checks (labels exactly for conditional models, in range, refused before any buffer changes), and which
 * forwards update the buffers. Parity with PyTorch is test_gan_parity.
 *
 * Usage: test_gan_config FIXTURE.safetensors (any gan_reference.py fixture) */
#include "mg_gan_model.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static mg_gan_config small_config(void) {
  mg_gan_config c = {.image_size = 32, .channels = 2, .latent_dim = 10, .width = 6, .num_classes = 3};
  return c;
}

static bool same_config(const mg_gan_config *a, const mg_gan_config *b) {
  return a->image_size == b->image_size && a->channels == b->channels && a->latent_dim == b->latent_dim &&
         a->width == b->width && a->num_classes == b->num_classes;
}

static void check_preset(void) {
  char err[256];
  mg_gan_config c;
  tu_check(mg_gan_preset("dcgan-64", &c, err, sizeof err) == MG_OK, "dcgan-64: %s", err);
  tu_check(mg_gan_config_check(&c, err, sizeof err) == MG_OK, "dcgan-64 fails its check: %s", err);
  tu_check(c.image_size == 64 && c.channels == 1 && c.latent_dim == 128 && c.width == 64 && c.num_classes == 0,
           "dcgan-64 differs from medgen.h's description (64x64, 1 channel, latent 128, width 64, unconditional)");
  tu_check(mg_gan_preset("dcgan-128", &c, err, sizeof err) == MG_ERR_INVALID_ARGUMENT && strstr(err, "dcgan-128") &&
               strstr(err, "dcgan-64"),
           "an unknown preset must fail naming it and the presets: '%s'", err);
  tu_check(mg_gan_preset(NULL, &c, err, sizeof err) == MG_ERR_INVALID_ARGUMENT, "a NULL preset name must fail");
}

/* dcgan-64's parameter counts: torch's (fixture metadata) and medgen.h's 3.8 M + 2.8 M. */
static void check_preset_counts(const char *fixture_path) {
  char err[512];
  mg_checkpoint *ckpt;
  if (!tu_check(mg_checkpoint_load(fixture_path, &ckpt, err, sizeof err) == MG_OK, "%s", err)) return;
  const char *torch_g = mg_checkpoint_metadata(ckpt, "params.generator.dcgan-64");
  const char *torch_d = mg_checkpoint_metadata(ckpt, "params.discriminator.dcgan-64");
  mg_gan_config c;
  mg_gan_preset("dcgan-64", &c, err, sizeof err);
  mg_ctx *ctx = tu_ctx(2);
  mg_generator *g = mg_generator_new(ctx, &c);
  mg_discriminator *d = mg_discriminator_new(ctx, &c);
  if (tu_ctx_ok(ctx, "dcgan-64") &&
      tu_check(torch_g && torch_d, "%s: metadata params.generator.dcgan-64 or params.discriminator.dcgan-64 missing",
               fixture_path)) {
    long long ng = (long long)mg_params_numel(mg_generator_params(g));
    long long nd = (long long)mg_params_numel(mg_discriminator_params(d));
    tu_check(ng == atoll(torch_g), "dcgan-64 generator: %lld parameters, torch's has %s", ng, torch_g);
    tu_check(nd == atoll(torch_d), "dcgan-64 discriminator: %lld parameters, torch's has %s", nd, torch_d);
    tu_check(llabs(ng - 3800000) < 50000 && llabs(nd - 2800000) < 50000,
             "dcgan-64: %lld + %lld parameters, medgen.h says 3.8 M + 2.8 M", ng, nd);
    printf("dcgan-64: generator %lld, discriminator %lld parameters (torch: %s, %s)\n", ng, nd, torch_g, torch_d);
  }
  mg_generator_free(g);
  mg_discriminator_free(d);
  mg_context_free(ctx);
  mg_checkpoint_free(ckpt);
}

static void check_round_trips(void) {
  mg_gan_config configs[3] = {small_config(), small_config(), small_config()};
  char err[256], a[512], b[512];
  mg_gan_preset("dcgan-64", &configs[0], err, sizeof err);
  configs[2] = (mg_gan_config){.image_size = 256, .channels = 4, .latent_dim = 1024, .width = 512,
                               .num_classes = MG_MAX_CLASSES};
  for (int i = 0; i < 3; i++) {
    tu_check(mg_gan_config_check(&configs[i], err, sizeof err) == MG_OK, "round trip %d: invalid: %s", i, err);
    int len = mg_gan_config_to_json(&configs[i], a, sizeof a);
    mg_gan_config back;
    tu_check(len > 0 && len < (int)sizeof a && mg_gan_config_from_json(a, &back, err, sizeof err) == MG_OK,
             "round trip %d: %s does not parse back: %s", i, a, err);
    mg_gan_config_to_json(&back, b, sizeof b);
    tu_check(same_config(&configs[i], &back) && strcmp(a, b) == 0, "round trip %d: %s came back as %s", i, a, b);
    char tiny[8];
    tu_check(mg_gan_config_to_json(&configs[i], tiny, sizeof tiny) == len && strlen(tiny) == sizeof tiny - 1,
             "to_json into a small buffer must truncate and return the full length, like snprintf");
  }
}

static void expect_rejected(const mg_gan_config *c, const char *field, const char *edit) {
  char err[256] = "";
  tu_check_refused(mg_gan_config_check(c, err, sizeof err), err, field, edit);
}

/* Each bad value, set on a valid config, must fail the check with the field named in the message. */
#define REJECT(field, edit)            \
  do {                                 \
    mg_gan_config c = small_config();  \
    edit;                              \
    expect_rejected(&c, field, #edit); \
  } while (0)

static void check_rejections(void) {
  REJECT("image_size", c.image_size = 16);
  REJECT("image_size", c.image_size = 512);
  REJECT("image_size", c.image_size = 48); /* not a power of two */
  REJECT("image_size", c.image_size = -64);
  REJECT("channels", c.channels = 0);
  REJECT("channels", c.channels = 5);
  REJECT("latent_dim", c.latent_dim = 0);
  REJECT("latent_dim", c.latent_dim = 1025);
  REJECT("width", c.width = 3);
  REJECT("width", c.width = 513);
  REJECT("num_classes", c.num_classes = -1);
  REJECT("num_classes", c.num_classes = MG_MAX_CLASSES + 1);
  char err[256];
  tu_check(mg_gan_config_check(NULL, err, sizeof err) == MG_ERR_INVALID_ARGUMENT, "a NULL config must fail");
  mg_ctx *ctx = tu_ctx(1);
  mg_gan_config c = small_config();
  c.width = 2;
  tu_check(!mg_generator_new(ctx, &c) && strstr(mg_context_error(ctx), "width"), "mg_generator_new with a bad "
           "config: '%s'", mg_context_error(ctx));
  mg_clear_error(ctx);
  c = small_config();
  c.channels = 9;
  tu_check(!mg_discriminator_new(ctx, &c) && strstr(mg_context_error(ctx), "channels"), "mg_discriminator_new with "
           "a bad config: '%s'", mg_context_error(ctx));
  mg_context_free(ctx);
}

/* mg_gan_config_from_json as tu_check_bad_json calls it */
static mg_status parse(const char *json, char *err, size_t err_size) {
  mg_gan_config out = small_config();
  return mg_gan_config_from_json(json, &out, err, err_size);
}

/* JSON that is not a valid config must fail naming the field (or the problem). */
static void check_bad_json(void) {
  char good[512];
  mg_gan_config c = small_config();
  mg_gan_config_to_json(&c, good, sizeof good);
  const tu_json_edit edits[] = {
      {"\"width\":6,", "", "missing field \"width\""},
      {"\"width\":6", "\"width\":6,\"depth\":4", "unknown field \"depth\""},
      {"\"width\":6", "\"width\":6,\"width\":6", "\"width\" appears twice"},
      {"\"latent_dim\":10", "\"latent_dim\":10.5", "\"latent_dim\" must be an integer"},
      {"\"latent_dim\":10", "\"latent_dim\":\"10\"", "\"latent_dim\" must be an integer"},
      {"\"channels\":2", "\"channels\":null", "\"channels\" must be an integer"},
      {"\"image_size\":32", "\"image_size\":1e12", "\"image_size\" must be an integer"},
      {"\"image_size\":32", "\"image_size\":40", "image_size = 40"},
      {"\"num_classes\":3", "\"num_classes\":300", "num_classes = 300"},
      {"{", "[", "not a JSON object"},
  };
  tu_check_bad_json(good, edits, sizeof edits / sizeof *edits, parse);
  char err[256];
  tu_check(mg_gan_config_from_json("{\"width\":", &c, err, sizeof err) == MG_ERR_INVALID_ARGUMENT,
           "truncated JSON must fail");
}

/* A tensor's values on the host (malloc'd; the caller frees). */
static mg_real *values(mg_ctx *ctx, const mg_tensor *t) {
  mg_real *h = malloc((size_t)t->numel * sizeof *h);
  mg_tensor_download_real(ctx, t, h, t->numel);
  return h;
}

typedef struct moments {
  double mean, std, max_dev; /* max_dev: largest |value - mean| */
} moments;

static moments moments_of(mg_ctx *ctx, const mg_tensor *t, double center) {
  mg_real *h = values(ctx, t);
  double sum = 0, sq = 0, dev = 0;
  for (int64_t i = 0; i < t->numel; i++) {
    sum += h[i];
    sq += ((double)h[i] - center) * ((double)h[i] - center);
    dev = fmax(dev, fabs((double)h[i] - center));
  }
  free(h);
  moments m = {sum / (double)t->numel, sqrt(sq / (double)t->numel), dev};
  return m;
}

/* mg_gan_model.h's initialization, tensor by tensor, from its name: N(center, 0.02) draws, constants, unit u, v. */
static void check_init_of(mg_ctx *ctx, const char *what, mg_params *p) {
  int drawn = 0, units = 0, constants = 0;
  for (int i = 0; i < mg_params_count(p); i++) {
    const mg_tensor *t = mg_params_at(p, i);
    const char *name = t->name;
    if (tu_ends_with(name, "weight_u") || tu_ends_with(name, "weight_v")) {
      moments m = moments_of(ctx, t, 0);
      double norm = m.std * sqrt((double)t->numel);
      tu_check(fabs(norm - 1) < 1e-5 && (t->numel == 1 || m.max_dev < 1), "%s %s: |.| = %g, want a unit vector "
               "drawn at random", what, name, norm);
      units++;
    } else if (tu_ends_with(name, ".bias") || tu_ends_with(name, "shift.weight") || tu_ends_with(name, "running_mean") ||
               tu_ends_with(name, "running_var")) {
      double want = tu_ends_with(name, "running_var") ? 1 : 0;
      moments m = moments_of(ctx, t, want);
      tu_check(m.max_dev == 0, "%s %s must start at %g", what, name, want);
      constants++;
    } else { /* weights, gains, the projection embedding: N(0 or 1, 0.02) */
      double center = tu_ends_with(name, "norm.weight") || tu_ends_with(name, "gain.weight") ? 1 : 0;
      moments m = moments_of(ctx, t, center);
      double tol = 0.02 * 5 / sqrt((double)t->numel); /* the sample mean's spread, 5 sigma */
      tu_check(fabs(m.mean - center) < tol && m.std > 0.02 * (t->numel >= 100 ? 0.8 : 0.3) &&
                   m.std < 0.02 * (t->numel >= 100 ? 1.2 : 2) && m.max_dev < 0.02 * 6,
               "%s %s: mean %g, std %g, max |w - %g| %g: want N(%g, 0.02)", what, name, m.mean, m.std, center,
               m.max_dev, center);
      drawn++;
    }
  }
  printf("%s: %d drawn, %d unit, %d constant tensors\n", what, drawn, units, constants);
}

static bool same_values(mg_ctx *a_ctx, mg_params *a, mg_ctx *b_ctx, mg_params *b) {
  if (mg_params_count(a) != mg_params_count(b)) return false;
  bool same = true;
  for (int i = 0; i < mg_params_count(a) && same; i++) {
    const mg_tensor *x = mg_params_at(a, i), *y = mg_params_at(b, i);
    if (x->numel != y->numel || strcmp(x->name, y->name) != 0) return false;
    mg_real *hx = values(a_ctx, x), *hy = values(b_ctx, y);
    same = memcmp(hx, hy, (size_t)x->numel * sizeof *hx) == 0;
    free(hx);
    free(hy);
  }
  return same;
}

/* Conditional and unconditional: every kind of tensor; the same seed on 1 and 2 threads: the same weights. */
static void check_init(void) {
  for (int classes = 0; classes <= 3; classes += 3) {
    mg_gan_config c = small_config();
    c.num_classes = classes;
    mg_ctx *ctx[2] = {tu_ctx(2), tu_ctx(1)};
    mg_generator *g[2];
    mg_discriminator *d[2];
    for (int i = 0; i < 2; i++) {
      mg_rng_seed(ctx[i], 5);
      g[i] = mg_generator_new(ctx[i], &c);
      d[i] = mg_discriminator_new(ctx[i], &c);
    }
    if (tu_ctx_ok(ctx[0], "creating the networks") && tu_ctx_ok(ctx[1], "creating the networks")) {
      check_init_of(ctx[0], classes ? "conditional generator" : "generator", mg_generator_params(g[0]));
      check_init_of(ctx[0], classes ? "conditional discriminator" : "discriminator", mg_discriminator_params(d[0]));
      tu_check(same_values(ctx[0], mg_generator_params(g[0]), ctx[1], mg_generator_params(g[1])) &&
                   same_values(ctx[0], mg_discriminator_params(d[0]), ctx[1], mg_discriminator_params(d[1])),
               "the same seed must give the same weights on 1 and 2 threads");
    }
    for (int i = 0; i < 2; i++) {
      mg_generator_free(g[i]);
      mg_discriminator_free(d[i]);
      mg_context_free(ctx[i]);
    }
  }
}

/* The buffers (running statistics, u and v) of p, one host array for all. */
static mg_real *buffers_of(mg_ctx *ctx, mg_params *p, int64_t *count) {
  int64_t n = 0;
  for (int i = 0; i < mg_params_count(p); i++)
    if (mg_params_is_buffer(p, i)) n += mg_params_at(p, i)->numel;
  mg_real *all = malloc((size_t)n * sizeof *all);
  n = 0;
  for (int i = 0; i < mg_params_count(p); i++) {
    const mg_tensor *t = mg_params_at(p, i);
    if (!mg_params_is_buffer(p, i)) continue;
    mg_tensor_download_real(ctx, t, all + n, t->numel);
    n += t->numel;
  }
  *count = n;
  return all;
}

static bool buffers_changed(mg_ctx *ctx, mg_params *p, const mg_real *before) {
  int64_t n;
  mg_real *now = buffers_of(ctx, p, &n);
  bool changed = memcmp(now, before, (size_t)n * sizeof *now) != 0;
  free(now);
  return changed;
}

static mg_tensor *random_step(mg_ctx *ctx, int ndim, const int *shape) {
  mg_tensor *t = mg_tensor_new(ctx, MG_REAL, ndim, shape);
  if (t) mg_fill_uniform(ctx, t, -1, 1);
  return t;
}

static mg_tensor *labels_of(mg_ctx *ctx, int n, const int32_t *values) {
  mg_tensor *t = mg_tensor_new(ctx, MG_INT32, 1, &n);
  if (t) mg_tensor_upload(ctx, t, values, n);
  return t;
}

typedef mg_tensor *(*forward_fn)(mg_ctx *ctx, void *model, mg_tensor *in, mg_tensor *labels, bool training);

static mg_tensor *generator_forward(mg_ctx *ctx, void *model, mg_tensor *in, mg_tensor *labels, bool training) {
  return mg_generator_forward(ctx, model, in, labels, training);
}

static mg_tensor *discriminator_forward(mg_ctx *ctx, void *model, mg_tensor *in, mg_tensor *labels, bool training) {
  return mg_discriminator_forward(ctx, model, in, labels, training);
}

/* One network's input checks and buffer updates: good is a valid input; bad inputs fail with their message and
 * leave the buffers alone; evaluation leaves them alone; training moves them. */
static void check_network_inputs(mg_ctx *ctx, const char *what, void *model, mg_params *p, forward_fn forward,
                                 mg_tensor *good, mg_tensor *wrong_shape, const char *shape_message, int n,
                                 const int *out_shape) {
  const int32_t ok[3] = {0, 2, 1}, out_of_range[3] = {0, 3, 1}, negative[3] = {-1, 0, 0};
  int64_t count;
  mg_real *before = buffers_of(ctx, p, &count);
  struct {
    mg_tensor *in, *labels;
    const char *expect;
  } bad[] = {
      {good, NULL, "labels are required"},
      {good, labels_of(ctx, n, out_of_range), "label 3 at position 1 is outside [0, 3)"},
      {good, labels_of(ctx, n, negative), "label -1 at position 0"},
      {good, labels_of(ctx, n - 1, ok), "expected int32 [3]"},
      {good, random_step(ctx, 1, &n), "expected int32 [3]"},
      {wrong_shape, labels_of(ctx, n, ok), shape_message},
      {NULL, labels_of(ctx, n, ok), "is NULL"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    for (int training = 0; training < 2; training++) {
      mg_tensor *y = forward(ctx, model, bad[i].in, bad[i].labels, training);
      const char *msg = mg_context_error(ctx);
      tu_check(!y && strstr(msg, what) && strstr(msg, bad[i].expect), "%s bad input %zu: got '%s', want '%s'", what,
               i, msg, bad[i].expect);
      mg_clear_error(ctx);
    }
  }
  tu_check(!buffers_changed(ctx, p, before), "%s: a refused forward changed the buffers", what);

  mg_tensor *y = forward(ctx, model, good, labels_of(ctx, n, ok), false);
  if (tu_ctx_ok(ctx, what)) {
    tu_check(y->ndim == out_shape[0] && y->shape[0] == n && y->shape[1] == out_shape[1] &&
                 (y->ndim == 2 || (y->shape[2] == out_shape[2] && y->shape[3] == out_shape[2])),
             "%s: output of the wrong shape", what);
    tu_check(!buffers_changed(ctx, p, before), "%s: an evaluation forward changed the buffers", what);
  }
  forward(ctx, model, good, labels_of(ctx, n, ok), true);
  tu_check(tu_ctx_ok(ctx, what) && buffers_changed(ctx, p, before), "%s: a training forward left the buffers alone "
           "(running statistics, power iteration)", what);
  free(before);
}

static void check_forward(void) {
  mg_ctx *ctx = tu_ctx(2), *other = tu_ctx(1);
  mg_gan_config c = small_config();
  mg_generator *g = mg_generator_new(ctx, &c);
  mg_discriminator *d = mg_discriminator_new(ctx, &c);
  if (!tu_ctx_ok(ctx, "creating the networks")) return;
  enum { N = 3 };
  bool grad = mg_set_grad_enabled(ctx, false);
  mg_step_begin(ctx);
  mg_tensor *z = random_step(ctx, 2, (int[]){N, c.latent_dim}), *z_bad = random_step(ctx, 2, (int[]){N, 11});
  mg_tensor *x = random_step(ctx, 4, (int[]){N, 2, 32, 32}), *x_bad = random_step(ctx, 4, (int[]){N, 1, 32, 32});
  check_network_inputs(ctx, "mg_generator_forward", g, mg_generator_params(g), generator_forward, z, z_bad,
                       "expected real [n,10]", N, (int[]){4, c.channels, c.image_size});
  check_network_inputs(ctx, "mg_discriminator_forward", d, mg_discriminator_params(d), discriminator_forward, x,
                       x_bad, "expected real [n,2,32,32]", N, (int[]){2, 1});
  /* tanh output */
  mg_tensor *y = mg_generator_forward(ctx, g, z, labels_of(ctx, N, (int32_t[]){1, 1, 1}), false);
  if (tu_ctx_ok(ctx, "generator")) {
    moments m = moments_of(ctx, y, 0);
    tu_check(m.max_dev < 1, "generator output outside (-1, 1): %g", m.max_dev);
  }
  mg_step_begin(other);
  tu_check(!mg_generator_forward(other, g, random_step(other, 2, (int[]){N, c.latent_dim}), NULL, false) &&
               strstr(mg_context_error(other), "another context"),
           "a generator used from another context: '%s'", mg_context_error(other));
  mg_clear_error(other);
  mg_generator_free(g);
  mg_discriminator_free(d);

  /* an unconditional model refuses labels and runs without */
  c.num_classes = 0;
  g = mg_generator_new(ctx, &c);
  d = mg_discriminator_new(ctx, &c);
  mg_tensor *labels = labels_of(ctx, N, (int32_t[]){0, 0, 0});
  tu_check(!mg_generator_forward(ctx, g, z, labels, false) && strstr(mg_context_error(ctx), "unconditional"),
           "labels for an unconditional generator: '%s'", mg_context_error(ctx));
  mg_clear_error(ctx);
  tu_check(!mg_discriminator_forward(ctx, d, x, labels, false) && strstr(mg_context_error(ctx), "unconditional"),
           "labels for an unconditional discriminator: '%s'", mg_context_error(ctx));
  mg_clear_error(ctx);
  tu_check(mg_generator_forward(ctx, g, z, NULL, true) && mg_discriminator_forward(ctx, d, x, NULL, true),
           "unconditional forwards without labels: '%s'", mg_context_error(ctx));
  mg_set_grad_enabled(ctx, grad);
  mg_generator_free(g);
  mg_discriminator_free(d);
  mg_context_free(other);
  mg_context_free(ctx);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_gan_config FIXTURE.safetensors (from gan_reference.py fixture)\n");
    return 2;
  }
  tu_seed(13);
  check_preset();
  check_preset_counts(argv[1]);
  check_round_trips();
  check_rejections();
  check_bad_json();
  check_init();
  check_forward();
  return tu_finish();
}
