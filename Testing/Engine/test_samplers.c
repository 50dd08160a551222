/* test_samplers.c: noise schedules, the noise streams and the DDPM, DDIM and DPM-Solver++(2M) samplers
 * (Logic/Engine/diffusion.c).
 *
 * 1. Schedules and reverse timesteps against Testing/Python/sampler_reference.py (torch.linspace, improved DDPM's
 *    cosine formula, diffusers' "trailing" spacing).
 * 2. Every sampler with a toy model whose prediction is exact: data x0 ~ N(mu_j, s_j^2) independently per value j,
 *    for which E[eps | x_t] = b (x_t - a mu) / (a^2 s^2 + b^2) (a = sqrt(abar), b = sqrt(1 - abar)) and
 *    v = a eps - b E[x0 | x_t]. The test writes each case's starting noise, every noise draw and the result; the
 *    Python reference re-runs the papers' update rules on the same noise and compares.
 * 3. Statistics, independent of any reference: generated values have the data's mean and spread.
 * 4. Noise streams do not depend on batching; names, bad options, model failures, NaN and cancellation.
 *
 * Usage: test_samplers PYTHON sampler_reference.py WORK_PREFIX */
#include "mg_diffusion.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* ---- the toy model (sampler_reference.py evaluates it in the same order of operations) ---- */
typedef struct toy {
  const mg_schedule *s;
  mg_prediction p;
  const double *mu, *sd; /* per value */
  int per;
  int calls;
} toy;

static mg_status toy_model(void *user, const float *x, int n, int t, float *out) {
  toy *m = user;
  double a = sqrt(m->s->alpha_bar[t]), b = sqrt(1.0 - m->s->alpha_bar[t]);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < m->per; j++) {
      double mu = m->mu[j], s2 = m->sd[j] * m->sd[j], xt = x[(size_t)i * m->per + j];
      double var = a * a * s2 + b * b;
      double eps = b * (xt - a * mu) / var, x0 = mu + a * s2 * (xt - a * mu) / var;
      out[(size_t)i * m->per + j] = (float)(m->p == MG_PREDICT_V ? a * eps - b * x0 : eps);
    }
  m->calls++;
  return MG_OK;
}

static int run_python(const char *python, const char *script, const char *mode, const char *path) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "'%s' '%s' %s '%s'", python, script, mode, path);
  int rc = system(cmd);
  return rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc);
}

/* ---- 1. schedules and timesteps ---- */
static double *read_doubles(FILE *f, int count) {
  double *v = malloc((size_t)count * sizeof *v);
  for (int i = 0; v && i < count; i++)
    if (fscanf(f, "%lf", &v[i]) != 1) {
      free(v);
      return NULL;
    }
  return v;
}

/* beta = 1 - (a ratio near 1): whatever formula computes it carries an absolute rounding of ~1e-16, so small
 * betas (cosine's first, ~1e-5) get an absolute floor; alpha_bar is a well-conditioned product. */
static void compare_schedule(const char *what, const double *c, const double *ref, int T, double floor) {
  double worst = 0;
  int at = 0;
  for (int t = 0; t < T; t++) {
    double e = fabs(c[t] - ref[t]) / (1e-12 * fabs(ref[t]) + floor);
    if (!(e <= worst)) worst = e, at = t;
  }
  tu_check(worst <= 1, "%s: t = %d: %.17g vs reference %.17g", what, at, c[at], ref[at]);
}

static void schedules(const char *python, const char *script, const char *prefix) {
  char path[1024];
  snprintf(path, sizeof path, "%s_schedules.txt", prefix);
  remove(path);
  if (!tu_check(run_python(python, script, "schedules", path) == 0, "the schedule reference failed")) return;
  FILE *f = fopen(path, "r");
  if (!tu_check(f != NULL, "cannot read %s", path)) return;
  char kind[32];
  int schedules = 0, timesteps = 0;
  for (;;) {
    if (fscanf(f, "%31s", kind) != 1) break;
    if (strcmp(kind, "schedule") == 0) {
      char name[32];
      int T;
      double b0, b1;
      if (!tu_check(fscanf(f, "%31s %d %lf %lf", name, &T, &b0, &b1) == 4, "%s: bad schedule header", path)) break;
      double *beta = read_doubles(f, T), *alpha_bar = read_doubles(f, T);
      mg_schedule s;
      char err[256], what[96];
      int kind_index = mg_noise_schedule_from_name(name);
      if (tu_check(beta && alpha_bar && kind_index >= 0, "%s: bad %s schedule", path, name) &&
          tu_check(mg_schedule_init(&s, (mg_noise_schedule)kind_index, T, b0, b1, err, sizeof err) == MG_OK,
                   "mg_schedule_init %s T=%d: %s", name, T, err)) {
        snprintf(what, sizeof what, "%s schedule T=%d beta", name, T);
        compare_schedule(what, s.beta, beta, T, 1e-15);
        snprintf(what, sizeof what, "%s schedule T=%d alpha_bar", name, T);
        compare_schedule(what, s.alpha_bar, alpha_bar, T, 1e-300);
        mg_schedule_free(&s);
        schedules++;
      }
      free(beta);
      free(alpha_bar);
    } else if (strcmp(kind, "timesteps") == 0) {
      int T, N;
      if (!tu_check(fscanf(f, "%d %d", &T, &N) == 2, "%s: bad timesteps header", path)) break;
      int *ts = malloc((size_t)N * sizeof *ts), bad = -1, ref = 0, bad_ref = 0;
      mg_diffusion_timesteps(T, N, ts);
      for (int k = 0; k < N; k++)
        if ((fscanf(f, "%d", &ref) != 1 || ts[k] != ref) && bad < 0) bad = k, bad_ref = ref;
      tu_check(bad < 0, "timesteps T=%d N=%d: step %d is %d, diffusers' trailing spacing gives %d", T, N, bad,
               bad >= 0 ? ts[bad] : 0, bad_ref);
      free(ts);
      timesteps++;
    } else {
      tu_check(false, "%s: unexpected '%s'", path, kind);
      break;
    }
  }
  fclose(f);
  tu_check(schedules == 6 && timesteps == 10, "read %d schedules and %d timestep lists, expected 6 and 10", schedules,
           timesteps);

  /* bad arguments */
  mg_schedule s;
  char err[256];
  struct { mg_noise_schedule kind; int T; double b0, b1; const char *word; } bad[] = {
      {MG_SCHEDULE_LINEAR, 9, 1e-4, 0.02, "T = 9"},         {MG_SCHEDULE_COSINE, 10001, 0, 0, "T = 10001"},
      {MG_SCHEDULE_LINEAR, 1000, 0, 0.02, "beta_start"},    {MG_SCHEDULE_LINEAR, 1000, 1e-4, 1.0, "beta_end"},
      {MG_SCHEDULE_LINEAR, 1000, NAN, 0.02, "beta_start"},  {(mg_noise_schedule)7, 1000, 1e-4, 0.02, "schedule 7"},
      {MG_SCHEDULE_LINEAR, 10000, 0.5, 0.9, "underflows"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    mg_status st = mg_schedule_init(&s, bad[i].kind, bad[i].T, bad[i].b0, bad[i].b1, err, sizeof err);
    tu_check(st == MG_ERR_INVALID_ARGUMENT && strstr(err, bad[i].word), "bad schedule %zu: %s, '%s' (want '%s')", i,
             mg_status_string(st), err, bad[i].word);
    tu_check(s.beta == NULL && s.alpha_bar == NULL && s.T == 0, "a rejected schedule is left empty");
  }
  tu_check(mg_schedule_init(NULL, MG_SCHEDULE_LINEAR, 1000, 1e-4, 0.02, err, sizeof err) == MG_ERR_INVALID_ARGUMENT,
           "NULL schedule rejected");
}

/* ---- 2. samplers against the reference ---- */
typedef struct sampler_case {
  mg_sampler sampler;
  int steps;
  double eta;
  mg_prediction p;
  mg_noise_schedule schedule;
  bool clip;
} sampler_case;

enum { REF_N = 3, REF_PER = 5 }; /* per not a multiple of 4: images start mid Philox block */

static void write_values(FILE *f, const float *v, size_t count) {
  for (size_t i = 0; i < count; i++) fprintf(f, i ? " %.9g" : "%.9g", v[i]);
  fputc('\n', f);
}

static void write_doubles(FILE *f, const double *v, int count) {
  for (int i = 0; i < count; i++) fprintf(f, i ? " %.17g" : "%.17g", v[i]);
  fputc('\n', f);
}

static void run_reference_case(mg_ctx *ctx, FILE *f, const sampler_case *c, const mg_schedule *s, uint64_t seed) {
  static const double mu[REF_PER] = {0.0, 0.6, -0.8, 0.3, 0.9}, sd[REF_PER] = {0.5, 0.4, 0.3, 0.8, 0.25};
  char name[96];
  snprintf(name, sizeof name, "%s-%d-eta%g-%s-%s-%s", mg_sampler_name(c->sampler), c->steps, c->eta,
           mg_prediction_name(c->p), mg_noise_schedule_name(c->schedule), c->clip ? "clip" : "noclip");
  toy m = {s, c->p, mu, sd, REF_PER, 0};
  mg_sampling o = {c->sampler, c->steps, c->eta, c->clip, seed, 2};
  float x[REF_N * REF_PER], z[REF_N * REF_PER];
  int total = c->sampler == MG_SAMPLER_DDPM ? s->T : c->steps;
  if (!tu_check(mg_diffusion_sample(ctx, s, c->p, &o, REF_N, REF_PER, toy_model, &m, x, NULL, NULL) == MG_OK,
                "%s: %s", name, mg_context_error(ctx)) ||
      !tu_check(m.calls == total, "%s: %d model calls, expected %d", name, m.calls, total))
    return;
  fprintf(f, "case %s %s %s %s %d %.17g %d %d %d %d\n", name, mg_sampler_name(c->sampler), mg_prediction_name(c->p),
          mg_noise_schedule_name(c->schedule), c->steps, c->eta, c->clip, REF_N, REF_PER, total + 1);
  write_doubles(f, mu, REF_PER);
  write_doubles(f, sd, REF_PER);
  /* the noise the sampler was meant to draw: draw 0 starts, draw k belongs to reverse step k */
  for (int k = 0; k <= total; k++) {
    mg_diffusion_noise(ctx, seed, o.first_index, REF_N, REF_PER, k, z);
    write_values(f, z, REF_N * REF_PER);
  }
  write_values(f, x, REF_N * REF_PER);
  tu_ctx_ok(ctx, name);
}

/* The reference uses these schedules as written (part 1 checks them against its own): at the cosine schedule's
 * last timestep sqrt(abar) ~ 5e-5, so a last-bit difference in abar that flips one float rounding of the toy
 * model's eps would move x0 = (x - sqrt(1 - abar) eps) / sqrt(abar) by ~1e-3. */
static void samplers_vs_reference(mg_ctx *ctx, const char *python, const char *script, const char *prefix) {
  char path[1024], err[256];
  snprintf(path, sizeof path, "%s_samplers.txt", prefix);
  mg_schedule schedules[2];
  if (!tu_check(mg_schedule_init(&schedules[0], MG_SCHEDULE_LINEAR, 1000, 1e-4, 0.02, err, sizeof err) == MG_OK &&
                    mg_schedule_init(&schedules[1], MG_SCHEDULE_COSINE, 1000, 0, 0, err, sizeof err) == MG_OK,
                "%s", err))
    return;
  FILE *f = fopen(path, "w");
  if (tu_check(f != NULL, "cannot write %s", path)) {
    for (int k = 0; k < 2; k++) {
      fprintf(f, "schedule %s %d\n", mg_noise_schedule_name((mg_noise_schedule)k), schedules[k].T);
      write_doubles(f, schedules[k].beta, schedules[k].T);
      write_doubles(f, schedules[k].alpha_bar, schedules[k].T);
    }
    const sampler_case kinds[] = {{MG_SAMPLER_DDPM, 0, 0.0, 0, 0, 0},  {MG_SAMPLER_DDIM, 50, 0.0, 0, 0, 0},
                                  {MG_SAMPLER_DDIM, 50, 0.5, 0, 0, 0}, {MG_SAMPLER_DPMPP_2M, 10, 0.0, 0, 0, 0},
                                  {MG_SAMPLER_DPMPP_2M, 20, 0.0, 0, 0, 0}};
    uint64_t seed = 100;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
      for (int p = 0; p < 2; p++)
        for (int sched = 0; sched < 2; sched++)
          for (int clip = 0; clip < 2; clip++) {
            sampler_case c = kinds[k];
            c.p = (mg_prediction)p;
            c.schedule = (mg_noise_schedule)sched;
            c.clip = clip;
            run_reference_case(ctx, f, &c, &schedules[sched], seed++);
          }
    fclose(f);
    tu_check(run_python(python, script, "samplers", path) == 0, "samplers differ from the reference (see above)");
  }
  mg_schedule_free(&schedules[0]);
  mg_schedule_free(&schedules[1]);
}

/* ---- 3. statistics ----
 * STAT_N images of STAT_PER values, value j ~ N(mu_j, 0.5^2) under the exact toy model, cosine schedule, T = 1000,
 * no clipping. Standardized, z = (x - mu_j) / 0.5 should have mean 0 and std 1 over all m = 32000 values:
 * standard errors 1/sqrt(m) = 0.0056 (mean) and 1/sqrt(2m) = 0.0040 (std); we allow 4 of them. A discrete sampler
 * is not exact even with a perfect model: propagating mean and variance through the linear updates for this
 * Gaussian gives output stds 0.4% (DDPM, 1000 steps), 3.1% (DDIM, 50 steps, eta 0) and 0.3% (DPM-Solver++(2M), 20
 * steps) below the data's, and means off by < 1e-5; the bounds add that much (rounded up) to the std's. */
enum { STAT_N = 2000, STAT_PER = 16 };

static void statistics(mg_ctx *ctx) {
  const struct { mg_sampler sampler; int steps; mg_prediction p; double std_bias; } runs[] = {
      {MG_SAMPLER_DDPM, 0, MG_PREDICT_EPSILON, 0.005},
      {MG_SAMPLER_DDIM, 50, MG_PREDICT_V, 0.035},
      {MG_SAMPLER_DPMPP_2M, 20, MG_PREDICT_EPSILON, 0.005},
  };
  double mu[STAT_PER], sd[STAT_PER];
  for (int j = 0; j < STAT_PER; j++) mu[j] = -0.45 + 0.06 * j, sd[j] = 0.5;
  mg_schedule s;
  char err[256];
  if (!tu_check(mg_schedule_init(&s, MG_SCHEDULE_COSINE, 1000, 0, 0, err, sizeof err) == MG_OK, "%s", err)) return;
  float *x = malloc((size_t)STAT_N * STAT_PER * sizeof *x);
  const double m = (double)STAT_N * STAT_PER, mean_bound = 4 / sqrt(m), std_bound = 4 / sqrt(2 * m);
  for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
    toy model = {&s, runs[r].p, mu, sd, STAT_PER, 0};
    mg_sampling o = {runs[r].sampler, runs[r].steps, 0.0, false, 7 + r, 0};
    if (!tu_check(mg_diffusion_sample(ctx, &s, runs[r].p, &o, STAT_N, STAT_PER, toy_model, &model, x, NULL, NULL) ==
                      MG_OK, "statistics %s: %s", mg_sampler_name(runs[r].sampler), mg_context_error(ctx)))
      continue;
    double sum = 0, sum2 = 0;
    for (int i = 0; i < STAT_N; i++)
      for (int j = 0; j < STAT_PER; j++) {
        double z = (x[(size_t)i * STAT_PER + j] - mu[j]) / sd[j];
        sum += z;
        sum2 += z * z;
      }
    double mean = sum / m, std = sqrt(sum2 / m - mean * mean);
    printf("statistics %s: standardized mean %.4f, std %.4f\n", mg_sampler_name(runs[r].sampler), mean, std);
    tu_check(fabs(mean) <= mean_bound, "statistics %s: standardized mean %.4f, bound %.4f",
             mg_sampler_name(runs[r].sampler), mean, mean_bound);
    tu_check(fabs(std - 1) <= std_bound + runs[r].std_bias, "statistics %s: standardized std %.4f, bound 1 +- %.4f",
             mg_sampler_name(runs[r].sampler), std, std_bound + runs[r].std_bias);
  }
  free(x);
  mg_schedule_free(&s);
}

/* ---- 4. batching, names and errors ---- */
static bool same(const float *a, const float *b, size_t count) { return memcmp(a, b, count * sizeof *a) == 0; }

static void noise_streams(mg_ctx *ctx) {
  for (int per = 6; per <= 16; per += 10) {
    float all[8 * 16], one[16], three[3 * 16], other[16];
    mg_diffusion_noise(ctx, 7, 0, 8, per, 3, all);
    mg_diffusion_noise(ctx, 7, 5, 1, per, 3, one);
    mg_diffusion_noise(ctx, 7, 4, 3, per, 3, three);
    if (!tu_ctx_ok(ctx, "mg_diffusion_noise")) return;
    tu_check(same(all + 5 * per, one, per) && same(three + per, one, per),
             "per %d: image 5's noise depends on the batch it is drawn in", per);
    mg_diffusion_noise(ctx, 7, 5, 1, per, 4, other);
    tu_check(!same(one, other, per), "per %d: draws 3 and 4 give the same noise", per);
    mg_diffusion_noise(ctx, 8, 5, 1, per, 3, other);
    tu_check(!same(one, other, per), "per %d: seeds 7 and 8 give the same noise", per);
    tu_check(!same(all, all + per, per), "per %d: images 0 and 1 get the same noise", per);
    double sum = 0;
    for (int i = 0; i < 8 * per; i++) sum += all[i];
    tu_check(fabs(sum / (8 * per)) < 0.5, "per %d: noise mean %.3f", per, sum / (8 * per));
  }
  mg_rng_seed(ctx, 99);
  mg_rng_set_offset(ctx, 12);
  float z[4];
  mg_diffusion_noise(ctx, 1, 0, 1, 4, 0, z);
  tu_check(mg_rng_seed_value(ctx) == 99 && mg_rng_offset(ctx) == 12, "drawing noise moved the context's stream");
  tu_check(mg_diffusion_noise(ctx, 1, -1, 1, 4, 0, z) == MG_ERR_INVALID_ARGUMENT &&
               strstr(mg_context_error(ctx), "first index"),
           "negative image index rejected: %s", mg_context_error(ctx));
  mg_clear_error(ctx);
}

/* 6 images in one call, or 3 + 3 with first_index 0 and 3, or on one thread: bit-identical */
static void batching(mg_ctx *ctx) {
  enum { PER = 6 };
  static const double mu[PER] = {0.1, -0.2, 0.3, 0.5, -0.6, 0.0}, sd[PER] = {0.3, 0.5, 0.2, 0.4, 0.3, 0.6};
  mg_schedule s;
  char err[256];
  if (!tu_check(mg_schedule_init(&s, MG_SCHEDULE_LINEAR, 50, 1e-3, 0.2, err, sizeof err) == MG_OK, "%s", err)) return;
  mg_ctx *one_thread = tu_ctx(1);
  const mg_sampling options[] = {{MG_SAMPLER_DDPM, 0, 0.0, true, 5, 0}, {MG_SAMPLER_DDIM, 10, 0.5, true, 5, 0},
                                 {MG_SAMPLER_DPMPP_2M, 10, 0.0, false, 5, 0}};
  for (int k = 0; k < 3; k++) {
    float whole[6 * PER], split[6 * PER], single[6 * PER];
    toy m = {&s, MG_PREDICT_V, mu, sd, PER, 0};
    mg_sampling o = options[k];
    mg_diffusion_sample(ctx, &s, MG_PREDICT_V, &o, 6, PER, toy_model, &m, whole, NULL, NULL);
    mg_diffusion_sample(ctx, &s, MG_PREDICT_V, &o, 3, PER, toy_model, &m, split, NULL, NULL);
    o.first_index = 3;
    mg_diffusion_sample(ctx, &s, MG_PREDICT_V, &o, 3, PER, toy_model, &m, split + 3 * PER, NULL, NULL);
    o.first_index = 0;
    mg_diffusion_sample(one_thread, &s, MG_PREDICT_V, &o, 6, PER, toy_model, &m, single, NULL, NULL);
    if (!tu_ctx_ok(ctx, "batching") || !tu_ctx_ok(one_thread, "batching on one thread")) continue;
    tu_check(same(whole, split, 6 * PER), "%s: 6 images differ from 3 + 3", mg_sampler_name(o.sampler));
    tu_check(same(whole, single, 6 * PER), "%s: results depend on the thread count", mg_sampler_name(o.sampler));
    o.seed = 6;
    mg_diffusion_sample(ctx, &s, MG_PREDICT_V, &o, 6, PER, toy_model, &m, split, NULL, NULL);
    tu_check(!same(whole, split, 6 * PER), "%s: seeds 5 and 6 give the same images", mg_sampler_name(o.sampler));
  }
  mg_context_free(one_thread);
  mg_schedule_free(&s);
}

static void names(void) {
  for (int i = 0; i < 2; i++) {
    tu_check(mg_noise_schedule_from_name(mg_noise_schedule_name((mg_noise_schedule)i)) == i, "schedule %d name", i);
    tu_check(mg_prediction_from_name(mg_prediction_name((mg_prediction)i)) == i, "prediction %d name", i);
  }
  for (int i = 0; i < 3; i++) tu_check(mg_sampler_from_name(mg_sampler_name((mg_sampler)i)) == i, "sampler %d", i);
  tu_check(strcmp(mg_noise_schedule_name(MG_SCHEDULE_COSINE), "cosine") == 0 &&
               strcmp(mg_prediction_name(MG_PREDICT_V), "v") == 0 &&
               strcmp(mg_sampler_name(MG_SAMPLER_DPMPP_2M), "dpm++2m") == 0,
           "stable names");
  tu_check(mg_sampler_from_name("DDIM") == -1 && mg_sampler_from_name(NULL) == -1 &&
               mg_prediction_from_name("eps") == -1 && mg_noise_schedule_from_name("") == -1,
           "unknown names give -1");
  tu_check(mg_sampler_name((mg_sampler)9) != NULL && mg_prediction_name((mg_prediction)-1) != NULL,
           "names of invalid values are not NULL");
}

typedef struct progress_log { int calls, cancel_at; int64_t last_step, total; bool stage_ok; } progress_log;

static int log_progress(void *user, const mg_progress *p) {
  progress_log *log = user;
  log->calls++;
  log->stage_ok &= strcmp(p->stage, "sample") == 0 && p->step == log->calls;
  log->last_step = p->step;
  log->total = p->total;
  return log->calls == log->cancel_at;
}

static mg_status failing_model(void *user, const float *x, int n, int t, float *out) {
  (void)x, (void)n, (void)t, (void)out;
  return mg_fail(user, MG_ERR_OUT_OF_MEMORY, "pretend the device is full");
}

static mg_status silent_failing_model(void *user, const float *x, int n, int t, float *out) {
  (void)user, (void)x, (void)n, (void)t, (void)out;
  return MG_ERR_INTERNAL;
}

static mg_status nan_model(void *user, const float *x, int n, int t, float *out) {
  mg_status st = toy_model(user, x, n, t, out);
  if (t < 50) out[n * 4 - 1] = NAN; /* from step 51 of DDPM on T = 100 */
  return st;
}

static void errors(mg_ctx *ctx) {
  enum { PER = 4 };
  static const double mu[PER] = {0, 0.1, 0.2, 0.3}, sd[PER] = {0.5, 0.5, 0.5, 0.5};
  mg_schedule s;
  char err[256];
  if (!tu_check(mg_schedule_init(&s, MG_SCHEDULE_LINEAR, 100, 1e-4, 0.02, err, sizeof err) == MG_OK, "%s", err))
    return;
  toy m = {&s, MG_PREDICT_EPSILON, mu, sd, PER, 0};
  float x[2 * PER];
  const mg_sampling good = {MG_SAMPLER_DDIM, 7, 0.0, true, 1, 0};

  /* progress and cancellation */
  progress_log log = {0, 0, 0, 0, true};
  tu_check(mg_diffusion_sample(ctx, &s, MG_PREDICT_EPSILON, &good, 2, PER, toy_model, &m, x, log_progress, &log) ==
               MG_OK && log.calls == 7 && log.last_step == 7 && log.total == 7 && log.stage_ok,
           "DDIM progress: %d calls, last step %lld of %lld", log.calls, (long long)log.last_step,
           (long long)log.total);
  mg_sampling ddpm = {MG_SAMPLER_DDPM, 0, 0.0, true, 1, 0}; /* steps is ignored by DDPM */
  log = (progress_log){0, 0, 0, 0, true};
  tu_check(mg_diffusion_sample(ctx, &s, MG_PREDICT_EPSILON, &ddpm, 2, PER, toy_model, &m, x, log_progress, &log) ==
               MG_OK && log.calls == 100 && log.total == 100 && log.stage_ok,
           "DDPM progress: %d calls of %lld", log.calls, (long long)log.total);
  log = (progress_log){0, 3, 0, 0, true};
  m.calls = 0;
  mg_status st = mg_diffusion_sample(ctx, &s, MG_PREDICT_EPSILON, &good, 2, PER, toy_model, &m, x, log_progress, &log);
  tu_check(st == MG_ERR_CANCELLED && m.calls == 3 && strstr(mg_context_error(ctx), "cancelled after step 3 of 7"),
           "cancel: %s after %d model calls: %s", mg_status_string(st), m.calls, mg_context_error(ctx));

  /* the model's failures and non-finite output */
  st = mg_diffusion_sample(ctx, &s, MG_PREDICT_EPSILON, &good, 2, PER, failing_model, ctx, x, NULL, NULL);
  tu_check(st == MG_ERR_OUT_OF_MEMORY && strstr(mg_context_error(ctx), "step 1 of 7") &&
               strstr(mg_context_error(ctx), "pretend the device is full"),
           "model failure: %s: %s", mg_status_string(st), mg_context_error(ctx));
  st = mg_diffusion_sample(ctx, &s, MG_PREDICT_EPSILON, &good, 2, PER, silent_failing_model, NULL, x, NULL, NULL);
  tu_check(st == MG_ERR_INTERNAL && strstr(mg_context_error(ctx), "model failed"), "silent model failure: %s: %s",
           mg_status_string(st), mg_context_error(ctx));
  st = mg_diffusion_sample(ctx, &s, MG_PREDICT_EPSILON, &ddpm, 2, PER, nan_model, &m, x, NULL, NULL);
  tu_check(st == MG_ERR_NUMERIC && strstr(mg_context_error(ctx), "t = 49") && strstr(mg_context_error(ctx), "image 1"),
           "NaN output: %s: %s", mg_status_string(st), mg_context_error(ctx));

  /* bad options: each names what is wrong */
  struct { mg_sampling o; int n, per; mg_prediction p; const char *word; } bad[] = {
      {{MG_SAMPLER_DDIM, 0, 0.0, true, 1, 0}, 2, PER, MG_PREDICT_EPSILON, "steps = 0"},
      {{MG_SAMPLER_DPMPP_2M, 101, 0.0, true, 1, 0}, 2, PER, MG_PREDICT_EPSILON, "steps = 101"},
      {{MG_SAMPLER_DDIM, 7, -1.0, true, 1, 0}, 2, PER, MG_PREDICT_EPSILON, "eta = -1"},
      {{MG_SAMPLER_DDIM, 7, NAN, true, 1, 0}, 2, PER, MG_PREDICT_EPSILON, "eta"},
      {{MG_SAMPLER_DDIM, 7, 0.0, true, 1, 0}, 0, PER, MG_PREDICT_EPSILON, "n = 0"},
      {{MG_SAMPLER_DDIM, 7, 0.0, true, 1, 0}, 2, 0, MG_PREDICT_EPSILON, "per = 0"},
      {{MG_SAMPLER_DDIM, 7, 0.0, true, 1, -3}, 2, PER, MG_PREDICT_EPSILON, "first_index = -3"},
      {{(mg_sampler)9, 7, 0.0, true, 1, 0}, 2, PER, MG_PREDICT_EPSILON, "sampler 9"},
      {{MG_SAMPLER_DDIM, 7, 0.0, true, 1, 0}, 2, PER, (mg_prediction)5, "prediction type 5"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    m.calls = 0;
    st = mg_diffusion_sample(ctx, &s, bad[i].p, &bad[i].o, bad[i].n, bad[i].per, toy_model, &m, x, NULL, NULL);
    tu_check(st == MG_ERR_INVALID_ARGUMENT && m.calls == 0 && strstr(mg_context_error(ctx), bad[i].word),
             "bad option %zu: %s: '%s' (want '%s')", i, mg_status_string(st), mg_context_error(ctx), bad[i].word);
  }
  tu_check(mg_diffusion_sample(ctx, &s, MG_PREDICT_EPSILON, &good, 2, PER, NULL, NULL, x, NULL, NULL) ==
               MG_ERR_INVALID_ARGUMENT && strstr(mg_context_error(ctx), "model is NULL"),
           "NULL model: %s", mg_context_error(ctx));
  mg_schedule empty = {0, NULL, NULL};
  tu_check(mg_diffusion_sample(ctx, &empty, MG_PREDICT_EPSILON, &good, 2, PER, toy_model, &m, x, NULL, NULL) ==
               MG_ERR_INVALID_ARGUMENT && strstr(mg_context_error(ctx), "schedule"),
           "empty schedule: %s", mg_context_error(ctx));
  tu_check(mg_diffusion_sample(NULL, &s, MG_PREDICT_EPSILON, &good, 2, PER, toy_model, &m, x, NULL, NULL) ==
               MG_ERR_INVALID_ARGUMENT, "NULL context rejected");
  /* a failed call leaves the context usable */
  tu_check(mg_diffusion_sample(ctx, &s, MG_PREDICT_EPSILON, &good, 2, PER, toy_model, &m, x, NULL, NULL) == MG_OK,
           "sampling after errors: %s", mg_context_error(ctx));
  mg_schedule_free(&s);
}

int main(int argc, char **argv) {
  mg_ctx *ctx = tu_ctx(0);
  names();
  if (argc >= 4) {
    schedules(argv[1], argv[2], argv[3]);
    samplers_vs_reference(ctx, argv[1], argv[2], argv[3]);
  } else {
    tu_check(false, "usage: test_samplers PYTHON sampler_reference.py WORK_PREFIX (python3 with numpy and torch)");
  }
  statistics(ctx);
  noise_streams(ctx);
  batching(ctx);
  errors(ctx);
  mg_context_free(ctx);
  return tu_finish();
}
