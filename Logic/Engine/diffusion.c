/* diffusion.c: noise schedules, the per-image noise streams and the DDPM, DDIM and DPM-Solver++(2M) samplers
 * (mg_diffusion.h). The update rules run on host arrays in double precision; x itself stays float between steps
 * because that is what the model reads. */
#include "mg_diffusion.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- names ---- */
static const char *const schedule_names[] = {"linear", "cosine"};
static const char *const prediction_names[] = {"epsilon", "v"};
static const char *const sampler_names[] = {"ddpm", "ddim", "dpm++2m"};

static int index_of(const char *const *names, int count, const char *name) {
  for (int i = 0; name && i < count; i++)
    if (strcmp(names[i], name) == 0) return i;
  return -1;
}

const char *mg_noise_schedule_name(mg_noise_schedule s) {
  return (unsigned)s < 2 ? schedule_names[s] : "unknown";
}
const char *mg_prediction_name(mg_prediction p) { return (unsigned)p < 2 ? prediction_names[p] : "unknown"; }
const char *mg_sampler_name(mg_sampler s) { return (unsigned)s < 3 ? sampler_names[s] : "unknown"; }
int mg_noise_schedule_from_name(const char *name) { return index_of(schedule_names, 2, name); }
int mg_prediction_from_name(const char *name) { return index_of(prediction_names, 2, name); }
int mg_sampler_from_name(const char *name) { return index_of(sampler_names, 3, name); }

/* ---- schedules ---- */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static mg_status schedule_error(char *err, size_t err_size, const char *fmt, ...) {
  if (err && err_size) {
    int used = snprintf(err, err_size, "mg_schedule_init: ");
    va_list ap;
    va_start(ap, fmt);
    if (used >= 0 && (size_t)used < err_size) vsnprintf(err + used, err_size - used, fmt, ap);
    va_end(ap);
  }
  return MG_ERR_INVALID_ARGUMENT;
}

static double cosine_f(int u, int T) { /* improved DDPM's f(u) with s = 0.008 */
  double c = cos(((double)u / T + 0.008) / 1.008 * 1.5707963267948966);
  return c * c;
}

mg_status mg_schedule_init(mg_schedule *s, mg_noise_schedule kind, int T, double beta_start, double beta_end,
                           char *err, size_t err_size) {
  if (err && err_size) err[0] = '\0';
  if (!s) return schedule_error(err, err_size, "the schedule is NULL");
  memset(s, 0, sizeof *s);
  if (kind != MG_SCHEDULE_LINEAR && kind != MG_SCHEDULE_COSINE)
    return schedule_error(err, err_size, "unknown noise schedule %d (linear or cosine)", (int)kind);
  if (T < 10 || T > 10000) return schedule_error(err, err_size, "T = %d timesteps: must be from 10 to 10000", T);
  if (kind == MG_SCHEDULE_LINEAR) {
    if (!(beta_start > 0 && beta_start < 1))
      return schedule_error(err, err_size, "beta_start = %g: must be in (0, 1)", beta_start);
    if (!(beta_end > 0 && beta_end < 1))
      return schedule_error(err, err_size, "beta_end = %g: must be in (0, 1)", beta_end);
  }
  s->beta = malloc((size_t)T * sizeof *s->beta);
  s->alpha_bar = malloc((size_t)T * sizeof *s->alpha_bar);
  if (!s->beta || !s->alpha_bar) {
    mg_schedule_free(s);
    if (err && err_size) snprintf(err, err_size, "mg_schedule_init: out of memory for %d timesteps", T);
    return MG_ERR_OUT_OF_MEMORY;
  }
  s->T = T;
  if (kind == MG_SCHEDULE_LINEAR) {
    /* torch.linspace: from the start for the first half, from the end for the rest */
    double step = (beta_end - beta_start) / (T - 1);
    for (int t = 0; t < T; t++) s->beta[t] = t < T / 2 ? beta_start + step * t : beta_end - step * (T - 1 - t);
  } else {
    for (int t = 0; t < T; t++) {
      double beta = 1.0 - cosine_f(t + 1, T) / cosine_f(t, T);
      s->beta[t] = beta < 0.999 ? beta : 0.999; /* the last f(T) is ~0: without the cap beta_T = 1 */
    }
  }
  double ab = 1.0;
  for (int t = 0; t < T; t++) s->alpha_bar[t] = ab *= 1.0 - s->beta[t];
  if (!(s->alpha_bar[T - 1] > 0)) {
    mg_schedule_free(s);
    return schedule_error(err, err_size, "alpha_bar underflows to 0 by the last of %d timesteps: use smaller betas "
                          "or fewer timesteps", T);
  }
  return MG_OK;
}

void mg_schedule_free(mg_schedule *s) {
  if (!s) return;
  free(s->beta);
  free(s->alpha_bar);
  memset(s, 0, sizeof *s);
}

void mg_diffusion_timesteps(int T, int N, int *out) {
  /* T (N - k) / N rounded half to even (numpy's round, as diffusers' "trailing" spacing), in exact integers */
  for (int k = 0; k < N; k++) {
    int64_t num = (int64_t)T * (N - k), q = num / N, twice_r = 2 * (num % N);
    if (twice_r > N || (twice_r == N && (q & 1))) q++;
    out[k] = (int)q - 1;
  }
}

/* ---- noise ---- */
/* Values per fill (at least one image): bounds the step arena and the host staging whatever n is. */
#define NOISE_CHUNK_VALUES (1 << 20)

mg_status mg_diffusion_noise(mg_ctx *ctx, uint64_t seed, int64_t first_index, int n, int per, int draw, float *out) {
  if (!ctx) return MG_ERR_INVALID_ARGUMENT;
  if (!out || n < 1 || per < 1 || first_index < 0 || draw < 0)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT,
                   "mg_diffusion_noise: bad request (out %s, n = %d, per = %d, first index %lld, draw %d)",
                   out ? "set" : "NULL", n, per, (long long)first_index, draw);
  /* Each draw is its own Philox key, and image i's noise starts at block i * ceil(per / 4): what one fill of per
   * values from that block gives. A normal's value depends only on its block and lane (mg_philox.h), so a single
   * fill over a run of images, each padded to whole blocks, yields exactly those values: an image's noise depends
   * on (seed, draw, index) only, never on its batch. */
  int64_t stride = 4 * (((int64_t)per + 3) / 4); /* values per image, padded */
  if ((uint64_t)first_index + (uint64_t)n > UINT64_MAX / (uint64_t)stride)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "mg_diffusion_noise: image index %lld is too large",
                   (long long)first_index);
  int64_t fit = NOISE_CHUNK_VALUES / stride > 1 ? NOISE_CHUNK_VALUES / stride : 1;
  int chunk = fit < n ? (int)fit : n;
  float *padded = stride != per ? malloc((size_t)(chunk * stride) * sizeof *padded) : NULL;
  if (stride != per && !padded)
    return mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "mg_diffusion_noise: out of memory for %d images", chunk);
  uint64_t saved_seed = mg_rng_seed_value(ctx), saved_offset = mg_rng_offset(ctx);
  mg_rng_seed(ctx, mg_mix64(mg_mix64(seed) + (uint64_t)draw));
  for (int i0 = 0; i0 < n && mg_ok(ctx); i0 += chunk) {
    int count = n - i0 < chunk ? n - i0 : chunk;
    mg_step_begin(ctx);
    mg_tensor *z = mg_tensor_new(ctx, MG_REAL, 1, (int[]){(int)(count * stride)});
    mg_rng_set_offset(ctx, ((uint64_t)first_index + (uint64_t)i0) * (uint64_t)(stride / 4));
    float *dst = padded ? padded : out + (size_t)i0 * per;
    if (mg_fill_normal(ctx, z, 0.0, 1.0) == MG_OK && mg_tensor_download(ctx, z, dst, z->numel) == MG_OK && padded)
      for (int i = 0; i < count; i++)
        memcpy(out + (size_t)(i0 + i) * per, padded + (size_t)i * stride, (size_t)per * sizeof *out);
  }
  /* the context's own stream (e.g. a training run's) continues as if nothing had been drawn */
  mg_rng_seed(ctx, saved_seed);
  mg_rng_set_offset(ctx, saved_offset);
  free(padded);
  return mg_ctx_status(ctx);
}

/* ---- samplers ---- */
typedef struct sampler_run {
  mg_ctx *ctx;
  const mg_schedule *s;
  mg_prediction p;
  const mg_sampling *o;
  int n, per;
  size_t count;               /* n * per */
  mg_model_fn model;
  void *model_user;
  mg_progress_fn progress;
  void *progress_user;
  int total;                  /* model evaluations planned */
  double t_start;
  float *x;                   /* the caller's images */
  float *out, *noise;         /* the model's output; one noise draw */
  double *x0, *eps, *x0_prev; /* estimates at this step; DPM-Solver++'s x0 of the step before */
} sampler_run;

/* Asks the model for its prediction at timestep t (reverse step `step`, 1-based) and turns it into estimates of
 * x0 (clamped when clipping) and eps. With clipping, eps is recomputed from the clamped x0 so that the two stay
 * one consistent decomposition of x (as diffusers' DDIM does); DDPM and DPM-Solver++ use only x0. */
static mg_status predict(sampler_run *r, int step, int t) {
  mg_ctx *ctx = r->ctx;
  mg_status st = r->model(r->model_user, r->x, r->n, t, r->out);
  if (st != MG_OK || !mg_ok(ctx)) {
    if (st == MG_OK) st = mg_ctx_status(ctx);
    char why[1024];
    snprintf(why, sizeof why, "%s", mg_ok(ctx) ? mg_status_string(st) : mg_context_error(ctx));
    mg_clear_error(ctx);
    return mg_fail(ctx, st, "mg_diffusion_sample: the model failed at step %d of %d (t = %d): %s", step, r->total,
                   t, why);
  }
  double a = sqrt(r->s->alpha_bar[t]), b = sqrt(1.0 - r->s->alpha_bar[t]);
  for (size_t j = 0; j < r->count; j++) {
    double x = r->x[j], m = r->out[j];
    if (!isfinite(m))
      return mg_fail(ctx, MG_ERR_NUMERIC, "mg_diffusion_sample: the model's output at step %d of %d (t = %d) is %g "
                     "(image %lld, value %lld)", step, r->total, t, m,
                     (long long)(r->o->first_index + (int64_t)(j / r->per)), (long long)(j % r->per));
    double x0 = r->p == MG_PREDICT_V ? a * x - b * m : (x - b * m) / a;
    double eps = r->p == MG_PREDICT_V ? b * x + a * m : m;
    if (r->o->clip_x0 && (x0 < -1.0 || x0 > 1.0)) {
      x0 = x0 < -1.0 ? -1.0 : 1.0;
      eps = (x - a * x0) / b;
    }
    r->x0[j] = x0;
    r->eps[j] = eps;
  }
  return MG_OK;
}

/* Progress after reverse step `step`; MG_ERR_CANCELLED when the callback asks to stop. */
static mg_status report(sampler_run *r, int step) {
  if (!r->progress) return MG_OK;
  mg_progress p = {"sample", step, r->total, NAN, mg_seconds() - r->t_start};
  if (r->progress(r->progress_user, &p))
    return mg_fail(r->ctx, MG_ERR_CANCELLED, "mg_diffusion_sample: cancelled after step %d of %d", step, r->total);
  return MG_OK;
}

static mg_status draw_noise(sampler_run *r, int draw) {
  return mg_diffusion_noise(r->ctx, r->o->seed, r->o->first_index, r->n, r->per, draw, r->noise);
}

/* DDPM (Ho et al. 2020), ancestral: every timestep, x_{t-1} = posterior mean of q(x_{t-1} | x_t, x0) at the
 * estimated x0, plus noise of the posterior's variance beta~_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t
 * ("fixed small"). */
static mg_status sample_ddpm(sampler_run *r) {
  const mg_schedule *s = r->s;
  for (int step = 1; step <= s->T; step++) {
    int t = s->T - step;
    mg_status st = predict(r, step, t);
    if (st != MG_OK) return st;
    double ab = s->alpha_bar[t], ab_prev = t > 0 ? s->alpha_bar[t - 1] : 1.0, beta = s->beta[t];
    double c0 = sqrt(ab_prev) * beta / (1.0 - ab), ct = sqrt(1.0 - beta) * (1.0 - ab_prev) / (1.0 - ab);
    double sd = sqrt((1.0 - ab_prev) / (1.0 - ab) * beta);
    if (t > 0 && (st = draw_noise(r, step)) != MG_OK) return st;
    for (size_t j = 0; j < r->count; j++)
      r->x[j] = (float)(c0 * r->x0[j] + ct * r->x[j] + (t > 0 ? sd * r->noise[j] : 0.0));
    if ((st = report(r, step)) != MG_OK) return st;
  }
  return MG_OK;
}

/* DDIM (Song et al. 2021, eq. 12): x_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - sigma^2) eps + sigma z with
 * sigma = eta sqrt((1 - abar_prev) / (1 - abar)) sqrt(1 - abar / abar_prev); the last step goes to abar = 1. */
static mg_status sample_ddim(sampler_run *r, const int *ts, int N) {
  for (int step = 1; step <= N; step++) {
    int t = ts[step - 1];
    mg_status st = predict(r, step, t);
    if (st != MG_OK) return st;
    double ab = r->s->alpha_bar[t], ab_prev = step < N ? r->s->alpha_bar[ts[step]] : 1.0;
    double sigma = r->o->eta * sqrt((1.0 - ab_prev) / (1.0 - ab)) * sqrt(1.0 - ab / ab_prev);
    /* eta > 1 can ask for more noise than the step has variance: then no eps direction is left */
    double dir = 1.0 - ab_prev - sigma * sigma > 0 ? sqrt(1.0 - ab_prev - sigma * sigma) : 0.0;
    if (sigma > 0 && (st = draw_noise(r, step)) != MG_OK) return st;
    for (size_t j = 0; j < r->count; j++)
      r->x[j] = (float)(sqrt(ab_prev) * r->x0[j] + dir * r->eps[j] + (sigma > 0 ? sigma * r->noise[j] : 0.0));
    if ((st = report(r, step)) != MG_OK) return st;
  }
  return MG_OK;
}

/* DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2), in the data prediction x0, with lambda = log(alpha / sigma),
 * alpha = sqrt(abar), sigma = sqrt(1 - abar) and h = lambda_next - lambda:
 *   x_next = (sigma_next / sigma) x + alpha_next (1 - e^-h) D,
 * D = x0 on the first step, else x0 + (x0 - x0_before) / (2 r) with r = h_before / h. The last step goes to
 * sigma = 0 (diffusers' final_sigmas_type "zero"): there h is infinite, the second-order term undefined, and the
 * first-order step lands exactly on x0, so the last step is always first order and returns x0. */
static mg_status sample_dpmpp_2m(sampler_run *r, const int *ts, int N) {
  double h_before = 0.0;
  for (int step = 1; step <= N; step++) {
    int t = ts[step - 1];
    mg_status st = predict(r, step, t);
    if (st != MG_OK) return st;
    if (step == N) {
      for (size_t j = 0; j < r->count; j++) r->x[j] = (float)r->x0[j];
    } else {
      double ab = r->s->alpha_bar[t], ab_next = r->s->alpha_bar[ts[step]];
      double h = 0.5 * (log(ab_next / (1.0 - ab_next)) - log(ab / (1.0 - ab)));
      double ratio = sqrt((1.0 - ab_next) / (1.0 - ab)), gain = -sqrt(ab_next) * expm1(-h);
      double half_over_r = step > 1 ? 0.5 * h / h_before : 0.0;
      const double *before = step > 1 ? r->x0_prev : r->x0; /* the first step is first order: D = x0 */
      for (size_t j = 0; j < r->count; j++) {
        double d = r->x0[j] + half_over_r * (r->x0[j] - before[j]);
        r->x[j] = (float)(ratio * r->x[j] + gain * d);
      }
      memcpy(r->x0_prev, r->x0, r->count * sizeof *r->x0);
      h_before = h;
    }
    if ((st = report(r, step)) != MG_OK) return st;
  }
  return MG_OK;
}

static mg_status check_sampling(mg_ctx *ctx, const mg_schedule *s, mg_prediction p, const mg_sampling *o, int n,
                                int per, mg_model_fn model, const float *x) {
  const char *fn = "mg_diffusion_sample";
  if (!s || !s->beta || !s->alpha_bar || s->T < 1)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: no noise schedule (call mg_schedule_init first)", fn);
  if (!o || !model || !x)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, !o ? "options" : !model ? "model" : "x");
  if (p != MG_PREDICT_EPSILON && p != MG_PREDICT_V)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: unknown prediction type %d (epsilon or v)", fn, (int)p);
  if (o->sampler != MG_SAMPLER_DDPM && o->sampler != MG_SAMPLER_DDIM && o->sampler != MG_SAMPLER_DPMPP_2M)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: unknown sampler %d (ddpm, ddim or dpm++2m)", fn,
                   (int)o->sampler);
  if (o->sampler != MG_SAMPLER_DDPM && (o->steps < 1 || o->steps > s->T))
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: steps = %d: %s takes 1 to %d steps (the schedule's T)", fn,
                   o->steps, mg_sampler_name(o->sampler), s->T);
  if (!(o->eta >= 0 && isfinite(o->eta)))
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: eta = %g: must be finite and >= 0", fn, o->eta);
  if (n < 1) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: n = %d images: need at least one", fn, n);
  if (per < 1) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: per = %d values per image: need at least one", fn, per);
  if (o->first_index < 0)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: first_index = %lld: must be >= 0", fn,
                   (long long)o->first_index);
  return MG_OK;
}

mg_status mg_diffusion_sample(mg_ctx *ctx, const mg_schedule *s, mg_prediction p, const mg_sampling *o, int n, int per,
                              mg_model_fn model, void *model_user, float *x, mg_progress_fn progress,
                              void *progress_user) {
  if (!ctx) return MG_ERR_INVALID_ARGUMENT;
  mg_clear_error(ctx);
  mg_status st = check_sampling(ctx, s, p, o, n, per, model, x);
  if (st != MG_OK) return st;
  int N = o->sampler == MG_SAMPLER_DDPM ? s->T : o->steps;
  sampler_run r = {.ctx = ctx, .s = s, .p = p, .o = o, .n = n, .per = per, .count = (size_t)n * per,
                   .model = model, .model_user = model_user, .progress = progress, .progress_user = progress_user,
                   .total = N, .t_start = mg_seconds(), .x = x};
  r.out = malloc(r.count * sizeof *r.out);
  r.noise = malloc(r.count * sizeof *r.noise);
  r.x0 = malloc(r.count * sizeof *r.x0);
  r.eps = malloc(r.count * sizeof *r.eps);
  r.x0_prev = o->sampler == MG_SAMPLER_DPMPP_2M ? malloc(r.count * sizeof *r.x0_prev) : NULL;
  int *ts = o->sampler != MG_SAMPLER_DDPM ? malloc((size_t)N * sizeof *ts) : NULL; /* DDPM visits every t */
  if (!r.out || !r.noise || !r.x0 || !r.eps || (o->sampler != MG_SAMPLER_DDPM && !ts) ||
      (o->sampler == MG_SAMPLER_DPMPP_2M && !r.x0_prev)) {
    st = mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "mg_diffusion_sample: out of memory for %d images of %d values", n, per);
  } else {
    if (ts) mg_diffusion_timesteps(s->T, N, ts);
    st = mg_diffusion_noise(ctx, o->seed, o->first_index, n, per, 0, x);
    if (st == MG_OK && o->sampler == MG_SAMPLER_DDPM) st = sample_ddpm(&r);
    if (st == MG_OK && o->sampler == MG_SAMPLER_DDIM) st = sample_ddim(&r, ts, N);
    if (st == MG_OK && o->sampler == MG_SAMPLER_DPMPP_2M) st = sample_dpmpp_2m(&r, ts, N);
  }
  free(r.out);
  free(r.noise);
  free(r.x0);
  free(r.eps);
  free(r.x0_prev);
  free(ts);
  return st;
}
