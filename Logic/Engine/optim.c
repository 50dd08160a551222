/* optim.c: Adam/AdamW, global gradient-norm clipping, the parameter EMA, and the learning-rate schedule.
 * Optimizer state (moments, EMA copies) is persistent: created once, so a training step allocates nothing. */
#include "mg_internal.h"

#include <math.h>
#include <string.h>

/* An array of count tensor pointers in the persistent host arena, zeroed. NULL + error when out of memory. */
static mg_tensor **tensor_array(mg_ctx *ctx, int count, const char *what) {
  mg_tensor **a = mg_arena_alloc(&ctx->persist_host, (size_t)(count > 0 ? count : 1) * sizeof *a);
  if (!a) {
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory creating %s", what);
    return NULL;
  }
  memset(a, 0, (size_t)(count > 0 ? count : 1) * sizeof *a);
  return a;
}

/* ---- Adam / AdamW ---- */

struct mg_adam {
  mg_ctx *ctx;
  mg_params *params;
  mg_adam_config config;
  int count;         /* parameters and buffers when the optimizer was made */
  mg_tensor **m, **v; /* [count]; NULL for buffers */
  int64_t steps;     /* updates done: bias corrections use steps after the increment */
};

/* Creates zeroed moments for every trainable parameter of params. Create it after the model has defined all its
 * parameters; mg_adam_step refuses a parameter list that has grown since. config.lr is the base rate the caller
 * feeds to mg_lr_schedule; each step gets its own lr. */
mg_adam *mg_adam_new(mg_ctx *ctx, mg_params *params, mg_adam_config config) {
  if (!mg_ok(ctx)) return NULL;
  if (!params) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "mg_adam_new: no parameters");
    return NULL;
  }
  mg_adam_config c = config;
  if (!(c.lr >= 0 && isfinite(c.lr)) || !(c.beta1 >= 0 && c.beta1 < 1) || !(c.beta2 >= 0 && c.beta2 < 1) ||
      !(c.eps >= 0 && isfinite(c.eps)) || !(c.weight_decay >= 0 && isfinite(c.weight_decay))) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT,
            "Adam settings out of range (lr %g, betas %g %g, eps %g, weight decay %g): need lr, eps, weight decay "
            ">= 0 and betas in [0,1)",
            c.lr, c.beta1, c.beta2, c.eps, c.weight_decay);
    return NULL;
  }
  mg_adam *opt = mg_arena_alloc(&ctx->persist_host, sizeof *opt);
  if (!opt) {
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory creating an optimizer");
    return NULL;
  }
  memset(opt, 0, sizeof *opt);
  opt->ctx = ctx;
  opt->params = params;
  opt->config = c;
  opt->count = mg_params_count(params);
  opt->m = tensor_array(ctx, opt->count, "optimizer state");
  opt->v = tensor_array(ctx, opt->count, "optimizer state");
  if (!opt->m || !opt->v) return NULL;
  for (int i = 0; i < opt->count; i++) {
    if (mg_params_is_buffer(params, i)) continue;
    const mg_tensor *p = mg_params_at(params, i);
    opt->m[i] = mg_tensor_new_persistent(ctx, MG_REAL, p->ndim, p->shape);
    opt->v[i] = mg_tensor_new_persistent(ctx, MG_REAL, p->ndim, p->shape);
    if (!opt->m[i] || !opt->v[i]) return NULL;
  }
  return opt;
}

/* Parameters that have no gradient buffer yet (never reached by a backward pass) are left alone, moments
 * included, as torch.optim does for a parameter whose .grad is None. */
mg_status mg_adam_step(mg_adam *opt, double lr, double grad_scale) {
  if (!opt) return MG_ERR_INVALID_ARGUMENT;
  mg_ctx *ctx = opt->ctx;
  if (!mg_ok(ctx)) return ctx->status;
  if (mg_params_count(opt->params) != opt->count)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT,
                   "the model has %d parameters and buffers but the optimizer was made for %d; create it after "
                   "defining all parameters",
                   mg_params_count(opt->params), opt->count);
  if (!(lr >= 0 && isfinite(lr)) || !isfinite(grad_scale))
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "Adam step: lr %g and grad scale %g must be finite, lr >= 0", lr,
                   grad_scale);
  opt->steps++;
  const mg_adam_config *c = &opt->config;
  double bc1 = 1 - pow(c->beta1, (double)opt->steps), bc2 = 1 - pow(c->beta2, (double)opt->steps);
  for (int i = 0; i < opt->count; i++) {
    mg_tensor *p = mg_params_at(opt->params, i);
    if (!opt->m[i] || !p->grad) continue;
    ctx->k->adam_update(p->numel, MG_DATA(p), p->grad, MG_DATA(opt->m[i]), MG_DATA(opt->v[i]), (mg_real)lr,
                        c->beta1, c->beta2, (mg_real)c->eps, (mg_real)c->weight_decay,
                        c->decoupled, (mg_real)bc1, (mg_real)bc2, (mg_real)grad_scale);
  }
  return MG_OK;
}

int64_t mg_adam_steps(const mg_adam *opt) { return opt ? opt->steps : 0; }

/* For resuming from a checkpoint: the next mg_adam_step uses steps + 1 in its bias corrections. */
void mg_adam_set_steps(mg_adam *opt, int64_t steps) {
  if (!opt) return;
  if (steps < 0) {
    mg_fail(opt->ctx, MG_ERR_INVALID_ARGUMENT, "Adam step count %lld is negative", (long long)steps);
    return;
  }
  opt->steps = steps;
}

mg_tensor *mg_adam_moment(const mg_adam *opt, int param_index, int which) {
  if (!opt || param_index < 0 || param_index >= opt->count || (which != 0 && which != 1)) return NULL;
  return which == 0 ? opt->m[param_index] : opt->v[param_index];
}

/* ---- gradient clipping ---- */

/* torch.nn.utils.clip_grad_norm_'s rule: factor = min(1, max_norm / (norm + 1e-6)). Per-tensor sums of squares
 * are computed on the device, downloaded together and added in parameter order in double, so the norm is the
 * same for every thread count. Parameters without a gradient buffer contribute 0. */
double mg_clip_factor(mg_ctx *ctx, mg_params *params, double max_norm, double *norm_out) {
  if (norm_out) *norm_out = NAN;
  if (!mg_ok(ctx)) return NAN;
  if (!params) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "mg_clip_factor: no parameters");
    return NAN;
  }
  int count = mg_params_count(params);
  size_t bytes = (size_t)(count > 0 ? count : 1) * sizeof(mg_real);
  mg_real *dev = mg_scratch(ctx, bytes);
  mg_real *host = dev ? mg_arena_alloc(&ctx->step_host, bytes) : NULL;
  if (!host) {
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory computing the gradient norm");
    return NAN;
  }
  ctx->k->fill_zero(dev, bytes);
  for (int i = 0; i < count; i++) {
    mg_tensor *p = mg_params_at(params, i);
    if (!mg_params_is_buffer(params, i) && p->grad) ctx->k->sum_squares(p->numel, p->grad, dev + i);
  }
  ctx->k->download(host, dev, bytes);
  if (!mg_device_ok(ctx)) return NAN;
  double total = 0;
  for (int i = 0; i < count; i++) total += (double)host[i];
  double norm = sqrt(total);
  if (norm_out) *norm_out = norm;
  if (!isfinite(norm)) {
    int bad = 0;
    while (bad < count - 1 && isfinite((double)host[bad])) bad++;
    mg_tensor *p = mg_params_at(params, bad);
    mg_fail(ctx, MG_ERR_NUMERIC, "the gradient norm is not finite (%g); first offending parameter '%s'", norm,
            p && p->name ? p->name : "?");
    return NAN;
  }
  if (max_norm <= 0) return 1;
  double factor = max_norm / (norm + 1e-6);
  return factor < 1 ? factor : 1;
}

/* ---- exponential moving average of the parameters ---- */

struct mg_ema {
  mg_ctx *ctx;
  mg_params *params;
  int count;
  mg_tensor **avg; /* [count]; NULL for buffers */
};

mg_ema *mg_ema_new(mg_ctx *ctx, mg_params *params) {
  if (!mg_ok(ctx)) return NULL;
  if (!params) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "mg_ema_new: no parameters");
    return NULL;
  }
  mg_ema *ema = mg_arena_alloc(&ctx->persist_host, sizeof *ema);
  if (!ema) {
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory creating an EMA");
    return NULL;
  }
  memset(ema, 0, sizeof *ema);
  ema->ctx = ctx;
  ema->params = params;
  ema->count = mg_params_count(params);
  ema->avg = tensor_array(ctx, ema->count, "the EMA");
  if (!ema->avg) return NULL;
  for (int i = 0; i < ema->count; i++) {
    if (mg_params_is_buffer(params, i)) continue;
    const mg_tensor *p = mg_params_at(params, i);
    mg_tensor *t = mg_tensor_new_persistent(ctx, MG_REAL, p->ndim, p->shape);
    if (!t) return NULL;
    ctx->k->copy(t->data, p->data, (size_t)p->numel * sizeof(mg_real));
    t->name = p->name; /* the parameter's key: checkpoints store EMA weights under the same names */
    ema->avg[i] = t;
  }
  return ema;
}

mg_status mg_ema_update(mg_ema *ema, double decay) {
  if (!ema) return MG_ERR_INVALID_ARGUMENT;
  mg_ctx *ctx = ema->ctx;
  if (!mg_ok(ctx)) return ctx->status;
  if (!(decay >= 0 && decay <= 1)) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "EMA decay %g is not in [0,1]", decay);
  if (mg_params_count(ema->params) != ema->count)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "the model gained parameters after its EMA was created");
  for (int i = 0; i < ema->count; i++) {
    if (!ema->avg[i]) continue;
    const mg_tensor *p = mg_params_at(ema->params, i);
    ctx->k->ema_update(p->numel, (mg_real)decay, MG_CDATA(p), MG_DATA(ema->avg[i]));
  }
  return MG_OK;
}

mg_tensor *mg_ema_tensor(const mg_ema *ema, int param_index) {
  if (!ema || param_index < 0 || param_index >= ema->count) return NULL;
  return ema->avg[param_index];
}

/* diffusers' EMAModel warm-up (use_ema_warmup): step is the number of optimizer steps the EMA has seen. Step 0
 * (or less) gives 0: the average starts by tracking the parameters. inv_gamma <= 0 is meaningless and also
 * gives 0. */
double mg_ema_decay(int64_t step, double max_decay, double inv_gamma, double power) {
  if (step <= 0 || !(inv_gamma > 0)) return 0;
  double decay = 1 - pow(1 + (double)step / inv_gamma, -power);
  if (decay > max_decay) decay = max_decay;
  return decay > 0 ? decay : 0;
}

/* ---- learning-rate schedule ---- */

/* The rate for the update numbered step (from 0), as diffusers' cosine schedule with warm-up plus a floor:
 *   step < warmup:  base_lr * step / warmup                         (0 at step 0)
 *   after:          min_lr + (base_lr - min_lr) * (1 + cos(pi * p)) / 2,  p = (step - warmup) / (total - warmup)
 * p is clamped to [0,1], so steps past total stay at min_lr; total <= warmup jumps to min_lr after warm-up. */
double mg_lr_schedule(int64_t step, int64_t warmup, int64_t total, double base_lr, double min_lr) {
  if (step < 0) step = 0;
  if (step < warmup) return base_lr * (double)step / (double)warmup;
  double span = total - warmup > 0 ? (double)(total - warmup) : 0;
  double p = span > 0 ? (double)(step - warmup) / span : 1;
  if (p > 1) p = 1;
  return min_lr + (base_lr - min_lr) * 0.5 * (1 + cos(3.14159265358979323846 * p));
}
