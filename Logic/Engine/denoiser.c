/* denoiser.c: the public denoiser (medgen.h): a small noise-predicting UNet, the building block of a diffusion
 * model. Training draws clean images x0, a noise level t in [0,1) and Gaussian noise eps, forms
 * x_t = sqrt(abar(t))*x0 + sqrt(1-abar(t))*eps (the cosine schedule of improved DDPM, in continuous time) and
 * teaches the net, told t, to predict eps (MSE), with AdamW, warm-up + cosine learning rate, gradient clipping
 * and an EMA of the weights. Denoising runs the EMA weights and inverts the same formula for x0. Checkpoints go
 * through checkpoint_engine.c. The model is forward code over mg_engine.h ops only. */
#include "mg_engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
  GROUPS = 8,      /* GroupNorm groups: channel counts must be multiples of this */
  TEMB = 64,       /* timestep embedding width */
  MIN_SIZE = 8,    /* two stride-2 levels: 8 -> 4 -> 2 */
  MAX_SIZE = 512,
  MAX_BATCH = 1024,
  MAX_CHANNELS = 256,
};
/* Fixed training settings: what worked for the demo's slices; options expose what a user would tune. */
#define WEIGHT_DECAY 1e-4
#define CLIP_NORM 1.0
#define MIN_LR_RATIO 0.05 /* the cosine schedule ends at 5% of the peak rate */
#define EMA_INV_GAMMA 1.0 /* diffusers' EMA warm-up: decay = min(max, 1 - (1 + step)^-0.75) */
#define EMA_POWER 0.75

/* ---- the network: a two-level conv UNet predicting the noise, conditioned on t ----
 * Parameters are referred to by index so that the same forward code runs with the trained weights or with
 * their exponential moving average (the EMA weights, which give cleaner estimates). */
typedef struct conv_ix { int w, b; } conv_ix;
typedef struct norm_ix { int gamma, beta; } norm_ix;
typedef struct block_ix { norm_ix norm; conv_ix conv; conv_ix temb; } block_ix; /* GN, SiLU, conv, + t bias */

typedef struct unet {
  mg_params *params;
  int ch;                /* channels at full resolution */
  conv_ix temb1, temb2;  /* timestep embedding MLP */
  conv_ix conv_in;
  block_ix b1;           /* CH @S (residual) */
  norm_ix down1_norm;
  conv_ix down1;         /* CH -> 2CH, stride 2 -> @S/2 */
  block_ix b2;           /* 2CH @S/2 (residual) */
  norm_ix down2_norm;
  conv_ix down2;         /* 2CH -> 2CH, stride 2 -> @S/4 */
  block_ix b3;           /* 2CH @S/4 (residual) */
  conv_ix up2;           /* upsample, 2CH -> 2CH @S/2 */
  block_ix b4;           /* concat with b2: 4CH -> 2CH @S/2 */
  conv_ix up1;           /* upsample, 2CH -> CH @S */
  block_ix b5;           /* concat with b1: 2CH -> CH @S */
  norm_ix out_norm;
  conv_ix conv_out;      /* CH -> 1 */
} unet;

struct mg_denoiser {
  mg_ctx *ctx;
  mg_denoiser_options opt; /* as validated, warmup_steps resolved */
  int size;                /* images are size x size */
  unet net;
  mg_adam *adam;
  mg_ema *ema;
  int64_t step;            /* training steps done */
  uint64_t rng_offset;     /* the context's stream (seeded with opt.seed) where training left it */
  uint64_t sampler;        /* host stream (splitmix64) for batch picks, flips and noise levels */
  /* host staging for one batch, allocated once so a training step makes no heap allocation */
  float *x0, *out;         /* batch * size * size each */
  float *t, *a, *s;        /* batch each: noise level, sqrt(abar), sqrt(1-abar) */
};

static mg_tensor *W(const unet *m, const mg_ema *ema, int index) {
  return ema ? mg_ema_tensor(ema, index) : mg_params_at(m->params, index);
}

static int new_param(unet *m, const char *name, int ndim, const int *shape) {
  int index = mg_params_count(m->params);
  mg_param(m->params, name, ndim, shape); /* records any failure in the context */
  return index;
}

static conv_ix new_conv(mg_ctx *ctx, unet *m, const char *name, int cin, int cout, int k) {
  char wn[96], bn[96];
  snprintf(wn, sizeof wn, "%s.weight", name);
  snprintf(bn, sizeof bn, "%s.bias", name);
  conv_ix c = {new_param(m, wn, 4, (int[]){cout, cin, k, k}), new_param(m, bn, 1, (int[]){cout})};
  if (mg_ok(ctx)) mg_init_default(ctx, mg_params_at(m->params, c.w), mg_params_at(m->params, c.b), cin * k * k);
  return c;
}

static conv_ix new_linear(mg_ctx *ctx, unet *m, const char *name, int in, int out) {
  char wn[96], bn[96];
  snprintf(wn, sizeof wn, "%s.weight", name);
  snprintf(bn, sizeof bn, "%s.bias", name);
  conv_ix c = {new_param(m, wn, 2, (int[]){out, in}), new_param(m, bn, 1, (int[]){out})};
  if (mg_ok(ctx)) mg_init_default(ctx, mg_params_at(m->params, c.w), mg_params_at(m->params, c.b), in);
  return c;
}

static norm_ix new_norm(mg_ctx *ctx, unet *m, const char *name, int channels) {
  char gn[96], bn[96];
  snprintf(gn, sizeof gn, "%s.weight", name);
  snprintf(bn, sizeof bn, "%s.bias", name);
  norm_ix n = {new_param(m, gn, 1, (int[]){channels}), new_param(m, bn, 1, (int[]){channels})};
  if (mg_ok(ctx)) mg_fill(ctx, mg_params_at(m->params, n.gamma), 1.0);
  return n;
}

static block_ix new_block(mg_ctx *ctx, unet *m, const char *name, int cin, int cout) {
  char nn[64], cn[64], tn[64];
  snprintf(nn, sizeof nn, "%s.norm", name);
  snprintf(cn, sizeof cn, "%s.conv", name);
  snprintf(tn, sizeof tn, "%s.temb", name);
  block_ix b = {new_norm(ctx, m, nn, cin), new_conv(ctx, m, cn, cin, cout, 3), new_linear(ctx, m, tn, TEMB, cout)};
  return b;
}

/* Creates and initializes the parameters (drawing from the context's random stream); failures land in ctx. */
static void unet_init(mg_ctx *ctx, unet *m, int ch) {
  memset(m, 0, sizeof *m);
  m->ch = ch;
  m->params = mg_params_new(ctx);
  if (!m->params) return;
  m->temb1 = new_linear(ctx, m, "temb.0", TEMB, TEMB);
  m->temb2 = new_linear(ctx, m, "temb.1", TEMB, TEMB);
  m->conv_in = new_conv(ctx, m, "conv_in", 1, ch, 3);
  m->b1 = new_block(ctx, m, "down.0.block", ch, ch);
  m->down1_norm = new_norm(ctx, m, "down.0.norm", ch);
  m->down1 = new_conv(ctx, m, "down.0.downsample", ch, 2 * ch, 3);
  m->b2 = new_block(ctx, m, "down.1.block", 2 * ch, 2 * ch);
  m->down2_norm = new_norm(ctx, m, "down.1.norm", 2 * ch);
  m->down2 = new_conv(ctx, m, "down.1.downsample", 2 * ch, 2 * ch, 3);
  m->b3 = new_block(ctx, m, "mid.block", 2 * ch, 2 * ch);
  m->up2 = new_conv(ctx, m, "up.1.upsample", 2 * ch, 2 * ch, 3);
  m->b4 = new_block(ctx, m, "up.1.block", 4 * ch, 2 * ch);
  m->up1 = new_conv(ctx, m, "up.0.upsample", 2 * ch, ch, 3);
  m->b5 = new_block(ctx, m, "up.0.block", 2 * ch, ch);
  m->out_norm = new_norm(ctx, m, "out.norm", ch);
  m->conv_out = new_conv(ctx, m, "out.conv", ch, 1, 3);
}

static mg_tensor *conv(mg_ctx *ctx, const unet *m, const mg_ema *ema, conv_ix c, mg_tensor *x, int stride) {
  return mg_conv2d(ctx, x, W(m, ema, c.w), W(m, ema, c.b), stride, 1);
}

static mg_tensor *norm_silu(mg_ctx *ctx, const unet *m, const mg_ema *ema, norm_ix n, mg_tensor *x) {
  return mg_silu(ctx, mg_group_norm(ctx, x, GROUPS, W(m, ema, n.gamma), W(m, ema, n.beta), 1e-5));
}

/* x [B,cin,h,w], temb [B,TEMB] -> conv(silu(gn(x))) + a per-channel bias computed from t: [B,cout,h,w] */
static mg_tensor *block(mg_ctx *ctx, const unet *m, const mg_ema *ema, block_ix b, mg_tensor *x, mg_tensor *temb) {
  mg_tensor *h = conv(ctx, m, ema, b.conv, norm_silu(ctx, m, ema, b.norm, x), 1);
  mg_tensor *bias = mg_linear(ctx, temb, W(m, ema, b.temb.w), W(m, ema, b.temb.b));
  if (!h || !bias) return NULL;
  return mg_add(ctx, h, mg_reshape(ctx, bias, 4, (int[]){h->shape[0], h->shape[1], 1, 1}));
}

/* xt [B,1,S,S], t [B] in [0,1) -> predicted noise [B,1,S,S]. ema non-NULL: run with the EMA weights. */
static mg_tensor *unet_forward(mg_ctx *ctx, const unet *m, const mg_ema *ema, mg_tensor *xt, mg_tensor *t) {
  mg_tensor *temb = mg_timestep_embedding(ctx, mg_scale(ctx, t, 1000.0), TEMB, 10000.0);
  temb = mg_silu(ctx, mg_linear(ctx, temb, W(m, ema, m->temb1.w), W(m, ema, m->temb1.b)));
  temb = mg_linear(ctx, temb, W(m, ema, m->temb2.w), W(m, ema, m->temb2.b));

  mg_tensor *h0 = conv(ctx, m, ema, m->conv_in, xt, 1);
  mg_tensor *h1 = mg_add(ctx, h0, block(ctx, m, ema, m->b1, h0, temb));                      /* [B,CH,S,S] */
  mg_tensor *d1 = conv(ctx, m, ema, m->down1, norm_silu(ctx, m, ema, m->down1_norm, h1), 2); /* [B,2CH,S/2,S/2] */
  mg_tensor *h2 = mg_add(ctx, d1, block(ctx, m, ema, m->b2, d1, temb));
  mg_tensor *d2 = conv(ctx, m, ema, m->down2, norm_silu(ctx, m, ema, m->down2_norm, h2), 2); /* [B,2CH,S/4,S/4] */
  mg_tensor *h3 = mg_add(ctx, d2, block(ctx, m, ema, m->b3, d2, temb));
  mg_tensor *u2 = conv(ctx, m, ema, m->up2, mg_upsample_nearest2x(ctx, h3), 1);             /* [B,2CH,S/2,S/2] */
  mg_tensor *h4 = block(ctx, m, ema, m->b4, mg_concat(ctx, u2, h2), temb);
  mg_tensor *u1 = conv(ctx, m, ema, m->up1, mg_upsample_nearest2x(ctx, h4), 1);             /* [B,CH,S,S] */
  mg_tensor *h5 = block(ctx, m, ema, m->b5, mg_concat(ctx, u1, h1), temb);
  return conv(ctx, m, ema, m->conv_out, norm_silu(ctx, m, ema, m->out_norm, h5), 1);        /* [B,1,S,S] */
}

/* ---- noise schedule: the cosine schedule of improved DDPM, in continuous time t in [0, 1] ---- */
static double alpha_bar(double t) {
  const double s = 0.008;
  double c = cos((t + s) / (1 + s) * 1.5707963267948966); /* pi/2 */
  double a = c * c;
  return a < 1e-4 ? 1e-4 : a;
}

/* One noisy batch on the step arena: x0 [n,1,S,S] from d->x0, noise levels from d->t, eps drawn from the
 * context's stream. Returns xt = sqrt(abar)*x0 + sqrt(1-abar)*eps (NULL on failure, recorded in ctx). */
static mg_tensor *make_noisy(mg_denoiser *d, int n, mg_tensor **t_out, mg_tensor **eps_out) {
  mg_ctx *ctx = d->ctx;
  for (int i = 0; i < n; i++) {
    double ab = alpha_bar(d->t[i]);
    d->a[i] = (float)sqrt(ab);
    d->s[i] = (float)sqrt(1 - ab);
  }
  mg_tensor *x0 = mg_tensor_4d(ctx, n, 1, d->size, d->size), *eps = mg_tensor_4d(ctx, n, 1, d->size, d->size);
  mg_tensor *t = mg_tensor_new(ctx, MG_REAL, 1, (int[]){n});
  mg_tensor *ta = mg_tensor_4d(ctx, n, 1, 1, 1), *ts = mg_tensor_4d(ctx, n, 1, 1, 1);
  if (!x0 || !eps || !t || !ta || !ts) return NULL;
  mg_tensor_upload(ctx, x0, d->x0, x0->numel);
  mg_tensor_upload(ctx, t, d->t, n);
  mg_tensor_upload(ctx, ta, d->a, n);
  mg_tensor_upload(ctx, ts, d->s, n);
  mg_fill_normal(ctx, eps, 0.0, 1.0);
  *t_out = t;
  *eps_out = eps;
  return mg_add(ctx, mg_mul(ctx, x0, ta), mg_mul(ctx, eps, ts));
}

/* ---- helpers ---- */
/* Images must be finite and in [-1, 1]; the message names the first bad pixel. */
static mg_status check_images(mg_ctx *ctx, const char *fn, const float *images, int count, int size) {
  int64_t per = (int64_t)size * size;
  for (int64_t i = 0; i < (int64_t)count * per; i++) {
    float v = images[i];
    if (!isfinite(v))
      return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: image %lld, pixel (%lld,%lld) is %g; pixels must be finite",
                     fn, (long long)(i / per), (long long)(i % per % size), (long long)(i % per / size), v);
    if (v < -1.0f || v > 1.0f)
      return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT,
                     "%s: image %lld, pixel (%lld,%lld) is %g; scale images to [-1, 1] first", fn,
                     (long long)(i / per), (long long)(i % per % size), (long long)(i % per / size), v);
  }
  return MG_OK;
}

mg_denoiser_options mg_denoiser_default_options(void) {
  mg_denoiser_options o;
  memset(&o, 0, sizeof o);
  o.channels = 16;
  o.batch = 16;
  o.steps = 300;
  o.learning_rate = 4e-3;
  o.warmup_steps = -1;
  o.ema_decay = 0.999;
  o.flip_horizontal = 0;
  o.seed = 1;
  return o;
}

static mg_status check_options(mg_ctx *ctx, const mg_denoiser_options *o, int size) {
  const char *fn = "mg_denoiser_train";
  if (size < MIN_SIZE || size > MAX_SIZE || size % 4 != 0)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT,
                   "%s: image size %d is not supported: it must be a multiple of 4 from %d to %d (the network "
                   "halves it twice)", fn, size, MIN_SIZE, MAX_SIZE);
  if (o->channels < GROUPS || o->channels > MAX_CHANNELS || o->channels % GROUPS != 0)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: channels = %d: must be a multiple of %d from %d to %d", fn,
                   o->channels, GROUPS, GROUPS, MAX_CHANNELS);
  if (o->batch < 1 || o->batch > MAX_BATCH)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: batch = %d: must be from 1 to %d", fn, o->batch, MAX_BATCH);
  if (o->steps < 1) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: steps = %d: must be at least 1", fn, o->steps);
  if (!(o->learning_rate > 0 && o->learning_rate <= 1))
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: learning rate %g: must be in (0, 1]", fn, o->learning_rate);
  if (o->warmup_steps < -1 || o->warmup_steps > o->steps)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: warmup steps = %d: must be -1 (automatic) or from 0 to steps "
                   "(%d)", fn, o->warmup_steps, o->steps);
  if (!(o->ema_decay >= 0 && o->ema_decay < 1))
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: EMA decay %g: must be in [0, 1)", fn, o->ema_decay);
  return MG_OK;
}

/* Allocates the handle and its host staging buffers (not the network). NULL + ctx error when out of memory. */
static mg_denoiser *denoiser_new(mg_ctx *ctx, const mg_denoiser_options *o, int size) {
  mg_denoiser *d = calloc(1, sizeof *d);
  size_t images = (size_t)o->batch * size * size;
  if (d) {
    d->x0 = malloc(images * sizeof *d->x0);
    d->out = malloc(images * sizeof *d->out);
    d->t = malloc((size_t)o->batch * sizeof *d->t);
    d->a = malloc((size_t)o->batch * sizeof *d->a);
    d->s = malloc((size_t)o->batch * sizeof *d->s);
  }
  if (!d || !d->x0 || !d->out || !d->t || !d->a || !d->s) {
    mg_denoiser_free(d);
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "mg_denoiser_train: out of memory for a batch of %d images", o->batch);
    return NULL;
  }
  d->ctx = ctx;
  d->opt = *o;
  d->size = size;
  return d;
}

void mg_denoiser_free(mg_denoiser *d) {
  if (!d) return;
  free(d->x0);
  free(d->out);
  free(d->t);
  free(d->a);
  free(d->s);
  free(d);
}

/* One training step on a random batch; returns the loss (NaN on failure, recorded in ctx). */
static double train_step(mg_denoiser *d, const float *images, int count) {
  mg_ctx *ctx = d->ctx;
  const int S = d->size, B = d->opt.batch;
  mg_step_begin(ctx);
  for (int i = 0; i < B; i++) {
    int k = (int)(mg_host_uniform(&d->sampler) * count);
    /* the coin is drawn either way, so the picks and noise levels do not depend on the flip option */
    bool flip = mg_host_uniform(&d->sampler) < 0.5 && d->opt.flip_horizontal;
    const float *src = images + (size_t)k * S * S;
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++) d->x0[((size_t)i * S + y) * S + x] = src[y * S + (flip ? S - 1 - x : x)];
    d->t[i] = (float)mg_host_uniform(&d->sampler);
  }
  mg_tensor *t = NULL, *eps = NULL;
  mg_tensor *xt = make_noisy(d, B, &t, &eps);
  mg_tensor *loss = mg_mse_loss(ctx, unet_forward(ctx, &d->net, NULL, xt, t), eps);
  double value = mg_tensor_item(ctx, loss);
  if (!mg_ok(ctx)) return NAN;
  if (!isfinite(value)) {
    mg_fail(ctx, MG_ERR_NUMERIC, "the loss is %g", value);
    return value;
  }
  mg_zero_grad(ctx, d->net.params);
  mg_backward(ctx, loss);
  double clip = mg_clip_factor(ctx, d->net.params, CLIP_NORM, NULL);
  int64_t step = d->step + 1;
  const mg_denoiser_options *o = &d->opt;
  mg_adam_step(d->adam, mg_lr_schedule(step - 1, o->warmup_steps, o->steps, o->learning_rate,
                                       o->learning_rate * MIN_LR_RATIO), clip);
  mg_ema_update(d->ema, mg_ema_decay(step - 1, o->ema_decay, EMA_INV_GAMMA, EMA_POWER)); /* 0 first: a copy */
  return mg_ok(ctx) ? value : NAN;
}

mg_status mg_denoiser_train(mg_ctx *ctx, const float *images, int count, int size, const mg_denoiser_options *options,
                            mg_progress_fn progress, void *user, mg_denoiser **out) {
  const char *fn = "mg_denoiser_train";
  if (out) *out = NULL;
  if (!ctx) return MG_ERR_INVALID_ARGUMENT;
  mg_clear_error(ctx);
  if (!out) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  if (!images) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: images is NULL", fn);
  if (count < 1) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: %d images: need at least one", fn, count);
  mg_denoiser_options o = options ? *options : mg_denoiser_default_options();
  if (check_options(ctx, &o, size) != MG_OK || check_images(ctx, fn, images, count, size) != MG_OK)
    return mg_ctx_status(ctx);
  if (o.warmup_steps < 0) o.warmup_steps = o.steps / 10 < 50 ? o.steps / 10 : 50;

  mg_denoiser *d = denoiser_new(ctx, &o, size);
  if (!d) return mg_ctx_status(ctx);
  mg_rng_seed(ctx, o.seed);
  d->sampler = o.seed * 0x2545f4914f6cdd1dull + 1;
  unet_init(ctx, &d->net, o.channels);
  mg_adam_config acfg = {o.learning_rate, 0.9, 0.999, 1e-8, WEIGHT_DECAY, true};
  if (mg_ok(ctx)) d->adam = mg_adam_new(ctx, d->net.params, acfg);
  if (mg_ok(ctx)) d->ema = mg_ema_new(ctx, d->net.params);
  if (!mg_ok(ctx)) {
    mg_denoiser_free(d);
    return mg_ctx_status(ctx);
  }

  double t_start = mg_seconds();
  for (int step = 1; step <= o.steps; step++) {
    double loss = train_step(d, images, count);
    if (!mg_ok(ctx)) {
      char head[160];
      bool diverged = mg_ctx_status(ctx) == MG_ERR_NUMERIC;
      snprintf(head, sizeof head, "%s: %s at step %d of %d (", fn, diverged ? "training diverged" : "failed", step,
               o.steps);
      mg_denoiser_free(d);
      return mg_rewrap_error(ctx, head, diverged ? "); try a lower learning rate or another seed" : ")");
    }
    d->step = step;
    if (progress) {
      mg_progress p = {"train", step, o.steps, loss, mg_seconds() - t_start};
      if (progress(user, &p)) {
        mg_denoiser_free(d);
        return mg_fail(ctx, MG_ERR_CANCELLED, "%s: cancelled after step %d of %d", fn, step, o.steps);
      }
    }
  }
  d->rng_offset = mg_rng_offset(ctx);
  *out = d;
  return MG_OK;
}

int mg_denoiser_image_size(const mg_denoiser *d) { return d ? d->size : 0; }

int64_t mg_denoiser_parameter_count(const mg_denoiser *d) { return d ? mg_params_numel(d->net.params) : 0; }

mg_status mg_denoiser_denoise(mg_ctx *ctx, mg_denoiser *d, const float *images, int count, const float *levels,
                              uint64_t seed, float *noisy, float *denoised) {
  const char *fn = "mg_denoiser_denoise";
  if (!ctx) return MG_ERR_INVALID_ARGUMENT;
  mg_clear_error(ctx);
  if (!d || d->ctx != ctx)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: %s", fn,
                   d ? "the denoiser belongs to another context" : "no denoiser");
  if (!images || !levels || !denoised)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: images, levels and denoised must not be NULL", fn);
  if (count < 1) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: %d images: need at least one", fn, count);
  for (int i = 0; i < count; i++)
    if (!(levels[i] >= 0 && levels[i] <= 1))
      return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: noise level %g of image %d: must be in [0, 1]", fn,
                     levels[i], i);
  if (check_images(ctx, fn, images, count, d->size) != MG_OK) return mg_ctx_status(ctx);

  /* The noise comes from (seed, position): image i always gets the same noise, whatever the batching. */
  bool grad = mg_set_grad_enabled(ctx, false);
  const int S = d->size;
  const size_t per = (size_t)S * S;
  for (int i0 = 0; i0 < count && mg_ok(ctx); i0 += d->opt.batch) {
    int n = count - i0 < d->opt.batch ? count - i0 : d->opt.batch;
    mg_step_begin(ctx);
    mg_rng_seed(ctx, seed);
    mg_rng_set_offset(ctx, (uint64_t)i0 * per / 4); /* a normal fill takes one Philox block per 4 values */
    memcpy(d->x0, images + i0 * per, n * per * sizeof(float));
    memcpy(d->t, levels + i0, (size_t)n * sizeof(float));
    mg_tensor *t = NULL, *eps = NULL;
    mg_tensor *xt = make_noisy(d, n, &t, &eps);
    mg_tensor *eps_hat = unet_forward(ctx, &d->net, d->ema, xt, t);
    mg_tensor_download(ctx, xt, d->x0, (int64_t)(n * per));
    mg_tensor_download(ctx, eps_hat, d->out, (int64_t)(n * per));
    if (!mg_ok(ctx)) break;
    for (int i = 0; i < n; i++) {
      /* x0 = (xt - sqrt(1-abar) eps) / sqrt(abar); noisy is xt on the same scale, xt / sqrt(abar) */
      double a = d->a[i], sd = d->s[i];
      for (size_t j = i * per; j < (i + 1) * per; j++) {
        float est = (float)((d->x0[j] - sd * d->out[j]) / a);
        denoised[i0 * per + j] = est < -1.0f ? -1.0f : est > 1.0f ? 1.0f : est;
        if (noisy) noisy[i0 * per + j] = (float)(d->x0[j] / a);
      }
    }
  }
  mg_set_grad_enabled(ctx, grad);
  return mg_ok(ctx) ? MG_OK : mg_rewrap_error(ctx, "mg_denoiser_denoise: ", "");
}

static mg_status save_fail(mg_ctx *ctx, const char *path, char *err, size_t err_size) {
  if (err && err_size) snprintf(err, err_size, "%s: %s", path, mg_context_error(ctx));
  return mg_ctx_status(ctx);
}

mg_status mg_denoiser_save(mg_denoiser *d, const char *path, const char *const *metadata, char *err,
                           size_t err_size) {
  if (err && err_size) err[0] = '\0';
  if (!d || !path) {
    if (err && err_size) snprintf(err, err_size, "mg_denoiser_save: %s is NULL", d ? "path" : "the denoiser");
    return MG_ERR_INVALID_ARGUMENT;
  }
  mg_ctx *ctx = d->ctx;
  mg_clear_error(ctx);
  mg_checkpoint_writer *w = mg_checkpoint_writer_new();
  if (!w) {
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory");
    return save_fail(ctx, path, err, err_size);
  }
  const mg_denoiser_options *o = &d->opt;
  char model[320], train[320], step[32], seed[32], sampler[32];
  snprintf(model, sizeof model,
           "{\"model\":\"denoiser\",\"image_size\":%d,\"channels\":%d,\"groups\":%d,\"temb\":%d,"
           "\"prediction\":\"epsilon\",\"schedule\":\"cosine\"}",
           d->size, d->net.ch, GROUPS, TEMB);
  snprintf(train, sizeof train,
           "{\"batch\":%d,\"steps\":%d,\"learning_rate\":%.9g,\"warmup_steps\":%d,\"ema_decay\":%.9g,"
           "\"weight_decay\":%g,\"clip_norm\":%g,\"flip_horizontal\":%s}",
           o->batch, o->steps, o->learning_rate, o->warmup_steps, o->ema_decay, WEIGHT_DECAY, CLIP_NORM,
           o->flip_horizontal ? "true" : "false");
  snprintf(step, sizeof step, "%lld", (long long)d->step);
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
  snprintf(sampler, sizeof sampler, "%llu", (unsigned long long)d->sampler);
  mg_checkpoint_add_params(ctx, w, "model.", d->net.params);
  mg_checkpoint_add_ema(ctx, w, "ema.", d->net.params, d->ema);
  mg_checkpoint_add_adam(ctx, w, "optim.", d->net.params, d->adam);
  /* the stream as training left it: the context's may have moved on since (denoising, other training) */
  uint64_t ctx_seed = mg_rng_seed_value(ctx), ctx_offset = mg_rng_offset(ctx);
  mg_rng_seed(ctx, d->opt.seed);
  mg_rng_set_offset(ctx, d->rng_offset);
  mg_checkpoint_add_rng(ctx, w);
  mg_rng_seed(ctx, ctx_seed);
  mg_rng_set_offset(ctx, ctx_offset);
  mg_checkpoint_writer_add_metadata(w, "medgen.version", MEDGEN_VERSION_STRING);
  mg_checkpoint_writer_add_metadata(w, "model.config", model);
  mg_checkpoint_writer_add_metadata(w, "train.config", train);
  mg_checkpoint_writer_add_metadata(w, "step", step);
  mg_checkpoint_writer_add_metadata(w, "seed", seed);
  mg_checkpoint_writer_add_metadata(w, "sampler.state", sampler);
  for (int i = 0; metadata && metadata[i]; i += 2)
    mg_checkpoint_writer_add_metadata(w, metadata[i], metadata[i + 1]); /* a NULL value fails the save */
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
