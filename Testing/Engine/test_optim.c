/* test_optim.c: the optimizers and training helpers.
 * - Adam (with and without L2 weight decay) and AdamW against torch.optim run by Testing/Python/optim_reference.py
 *   on the same parameters and gradient sequence (JSON files in the build dir), with varying lr and grad_scale:
 *   parameters and both moments within 1e-6 relative. Buffers and parameters without gradients stay untouched.
 * - Resuming: moments copied into a fresh optimizer with mg_adam_set_steps continue bit-identically.
 * - mg_clip_factor against a double loop (one tensor spans several chunk groups of the kernel), and NaN/Inf
 *   gradients failing with MG_ERR_NUMERIC.
 * - EMA updates, mg_ema_decay and mg_lr_schedule against their formulas.
 * Arguments: PYTHON optim_reference.py WORK_PREFIX (WORK_PREFIX_in.json / _out.json are written there). */
#include "test_util.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N_CASES 3
#define N_STEPS 10
#define N_TRAIN 2 /* trainable tensors sent to torch: "w" [3,4] and "b" [5] */

typedef struct {
  const char *name;
  bool decoupled;
  double beta1, beta2, eps, weight_decay, base_lr;
} adam_case;

static const adam_case cases[N_CASES] = {
    {"adam", false, 0.9, 0.999, 1e-8, 0.0, 1e-2},
    {"adam_l2", false, 0.8, 0.95, 1e-6, 0.1, 3e-2},
    {"adamw", true, 0.85, 0.99, 1e-8, 0.05, 2e-2},
};

static const int shapes[N_TRAIN][2] = {{3, 4}, {5, 1}};

/* What the engine did: initial values, the gradient sequence, and the results to compare. */
typedef struct {
  mg_real init[N_TRAIN][12], grads[N_STEPS][N_TRAIN][12];
  double lr[N_STEPS], scale[N_STEPS];
  mg_real out[3][N_TRAIN][12]; /* params, m, v */
} case_run;

static int numel_of(int t) { return shapes[t][0] * shapes[t][1]; }

static void download(mg_ctx *ctx, const mg_tensor *t, mg_real *host) { mg_tensor_download_real(ctx, t, host, t->numel); }

static void upload_grad(mg_ctx *ctx, mg_tensor *t, const mg_real *host) {
  mg_backend(ctx)->upload(mg_grad(ctx, t), host, (size_t)t->numel * sizeof(mg_real));
}

/* Builds "w", "b", a buffer and a parameter that never receives a gradient. */
static mg_params *make_params(mg_ctx *ctx) {
  mg_params *p = mg_params_new(ctx);
  mg_param(p, "w", 2, shapes[0]);
  mg_buffer(p, "running_mean", 1, (int[]){4});
  mg_param(p, "b", 1, (int[]){5});
  mg_param(p, "unused", 1, (int[]){3});
  return p;
}
static const int train_index[N_TRAIN] = {0, 2}; /* positions of "w" and "b" in the list */

static void run_engine_case(const adam_case *c, case_run *r) {
  mg_ctx *ctx = tu_ctx(1);
  mg_params *p = make_params(ctx);
  mg_real buf_vals[4] = {1, 2, 3, 4}, unused_vals[3] = {0.5f, -0.5f, 0.25f};
  mg_tensor_upload_real(ctx, mg_params_find(p, "running_mean"), buf_vals, 4);
  mg_tensor_upload_real(ctx, mg_params_find(p, "unused"), unused_vals, 3);
  for (int t = 0; t < N_TRAIN; t++) {
    for (int i = 0; i < numel_of(t); i++) r->init[t][i] = (mg_real)tu_uniform(-1, 1);
    mg_tensor_upload_real(ctx, mg_params_at(p, train_index[t]), r->init[t], numel_of(t));
  }
  mg_adam *opt = mg_adam_new(ctx, p, (mg_adam_config){c->base_lr, c->beta1, c->beta2, c->eps, c->weight_decay,
                                                        c->decoupled});
  tu_check(opt != NULL, "%s: mg_adam_new: %s", c->name, mg_context_error(ctx));
  for (int s = 0; s < N_STEPS; s++) {
    /* gradients of mixed magnitude: "b" is 1e-3 smaller, so eps and the bias corrections matter */
    for (int t = 0; t < N_TRAIN; t++)
      for (int i = 0; i < numel_of(t); i++) r->grads[s][t][i] = (mg_real)(tu_uniform(-1, 1) * (t ? 1e-3 : 1.0));
    for (int t = 0; t < N_TRAIN; t++) upload_grad(ctx, mg_params_at(p, train_index[t]), r->grads[s][t]);
    r->lr[s] = mg_lr_schedule(s + 1, 3, N_STEPS, c->base_lr, 0.1 * c->base_lr);
    r->scale[s] = s % 3 == 0 ? 1.0 : tu_uniform(0.2, 1.0);
    mg_adam_step(opt, r->lr[s], r->scale[s]);
  }
  tu_check(mg_adam_steps(opt) == N_STEPS, "%s: step count %lld", c->name, (long long)mg_adam_steps(opt));
  for (int t = 0; t < N_TRAIN; t++) {
    download(ctx, mg_params_at(p, train_index[t]), r->out[0][t]);
    download(ctx, mg_adam_moment(opt, train_index[t], 0), r->out[1][t]);
    download(ctx, mg_adam_moment(opt, train_index[t], 1), r->out[2][t]);
  }
  mg_real after_buf[4], after_unused[3];
  download(ctx, mg_params_find(p, "running_mean"), after_buf);
  download(ctx, mg_params_find(p, "unused"), after_unused);
  tu_check(memcmp(after_buf, buf_vals, sizeof buf_vals) == 0, "%s: a buffer was changed by Adam", c->name);
  tu_check(memcmp(after_unused, unused_vals, sizeof unused_vals) == 0,
           "%s: a parameter without a gradient was changed by Adam", c->name);
  tu_check(mg_adam_moment(opt, 1, 0) == NULL && mg_adam_moment(opt, 1, 1) == NULL, "%s: buffers have no moments",
           c->name);
  tu_check(mg_adam_moment(opt, 4, 0) == NULL && mg_adam_moment(opt, 0, 2) == NULL, "%s: bad moment index gives NULL",
           c->name);
  tu_ctx_ok(ctx, c->name);
  mg_context_free(ctx);
}

static cJSON *real_array(const mg_real *v, int n) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
  return a;
}

static void write_request(const char *path, case_run *runs) {
  cJSON *root = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(root, "cases");
  for (int ci = 0; ci < N_CASES; ci++) {
    const adam_case *c = &cases[ci];
    cJSON *jc = cJSON_CreateObject();
    cJSON_AddStringToObject(jc, "name", c->name);
    cJSON_AddBoolToObject(jc, "decoupled", c->decoupled);
    cJSON *betas = cJSON_AddArrayToObject(jc, "betas");
    cJSON_AddItemToArray(betas, cJSON_CreateNumber(c->beta1));
    cJSON_AddItemToArray(betas, cJSON_CreateNumber(c->beta2));
    cJSON_AddNumberToObject(jc, "eps", c->eps);
    cJSON_AddNumberToObject(jc, "weight_decay", c->weight_decay);
    cJSON *params = cJSON_AddArrayToObject(jc, "params");
    for (int t = 0; t < N_TRAIN; t++) cJSON_AddItemToArray(params, real_array(runs[ci].init[t], numel_of(t)));
    cJSON *steps = cJSON_AddArrayToObject(jc, "steps");
    for (int s = 0; s < N_STEPS; s++) {
      cJSON *js = cJSON_CreateObject();
      cJSON_AddNumberToObject(js, "lr", runs[ci].lr[s]);
      cJSON_AddNumberToObject(js, "grad_scale", runs[ci].scale[s]);
      cJSON *grads = cJSON_AddArrayToObject(js, "grads");
      for (int t = 0; t < N_TRAIN; t++) cJSON_AddItemToArray(grads, real_array(runs[ci].grads[s][t], numel_of(t)));
      cJSON_AddItemToArray(steps, js);
    }
    cJSON_AddItemToArray(list, jc);
  }
  char *text = cJSON_PrintUnformatted(root);
  FILE *f = fopen(path, "w");
  if (tu_check(f != NULL && text != NULL, "cannot write %s", path)) {
    fputs(text, f);
    fclose(f);
  }
  free(text);
  cJSON_Delete(root);
}

static void adam_vs_torch(const char *python, const char *script, const char *prefix) {
  static case_run runs[N_CASES];
  tu_seed(1234);
  for (int ci = 0; ci < N_CASES; ci++) run_engine_case(&cases[ci], &runs[ci]);
  char in_path[1024], out_path[1024], cmd[4096];
  snprintf(in_path, sizeof in_path, "%s_in.json", prefix);
  snprintf(out_path, sizeof out_path, "%s_out.json", prefix);
  remove(out_path);
  write_request(in_path, runs);
  snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' '%s'", python, script, in_path, out_path);
  int rc = system(cmd);
  if (!tu_check(rc == 0, "torch reference failed (%d): %s", rc, cmd)) return;
  char *text = tu_read_text(out_path);
  cJSON *root = text ? cJSON_Parse(text) : NULL;
  free(text);
  cJSON *list = cJSON_GetObjectItem(root, "cases");
  if (!tu_check(cJSON_GetArraySize(list) == N_CASES, "cannot read %s", out_path)) {
    cJSON_Delete(root);
    return;
  }
  static const char *const keys[3] = {"params", "exp_avg", "exp_avg_sq"};
  for (int ci = 0; ci < N_CASES; ci++) {
    cJSON *jc = cJSON_GetArrayItem(list, ci);
    for (int k = 0; k < 3; k++) {
      cJSON *tensors = cJSON_GetObjectItem(jc, keys[k]);
      for (int t = 0; t < N_TRAIN; t++) {
        cJSON *values = cJSON_GetArrayItem(tensors, t);
        int n = numel_of(t);
        if (!tu_check(cJSON_GetArraySize(values) == n, "%s %s[%d]: size mismatch", cases[ci].name, keys[k], t))
          continue;
        mg_real ref[12];
        for (int i = 0; i < n; i++) ref[i] = (mg_real)cJSON_GetArrayItem(values, i)->valuedouble;
        /* relative 1e-6; the absolute floor (1e-6 of the tensor's largest value) keeps values crossing zero fair */
        double scale = 0;
        for (int i = 0; i < n; i++) scale = fmax(scale, fabs((double)ref[i]));
        int64_t worst_i;
        double worst = tu_compare(runs[ci].out[k][t], ref, n, 1e-6 * scale, 1e-6, &worst_i);
        tu_check(worst <= 1, "%s %s[%d]: engine %.9g vs torch %.9g at %lld (%.2f x tolerance)", cases[ci].name,
                 keys[k], t, (double)runs[ci].out[k][t][worst_i], (double)ref[worst_i], (long long)worst_i, worst);
      }
    }
  }
  cJSON_Delete(root);
}

/* Six steps in one go equal three steps, then the state copied into a fresh optimizer that continues from step 3. */
static void resume(void) {
  mg_ctx *ctx = tu_ctx(1);
  mg_adam_config cfg = {1e-2, 0.9, 0.999, 1e-8, 0.01, true};
  mg_params *p[3] = {make_params(ctx), make_params(ctx), make_params(ctx)};
  mg_real init[12], grads[6][N_TRAIN][12];
  for (int i = 0; i < 12; i++) init[i] = (mg_real)tu_uniform(-1, 1);
  for (int s = 0; s < 6; s++)
    for (int t = 0; t < N_TRAIN; t++)
      for (int i = 0; i < 12; i++) grads[s][t][i] = (mg_real)tu_uniform(-1, 1);
  for (int k = 0; k < 3; k++)
    for (int t = 0; t < N_TRAIN; t++) mg_tensor_upload_real(ctx, mg_params_at(p[k], train_index[t]), init, numel_of(t));
  mg_adam *whole = mg_adam_new(ctx, p[0], cfg), *first = mg_adam_new(ctx, p[1], cfg), *second = mg_adam_new(ctx, p[2], cfg);
  for (int s = 0; s < 6; s++) {
    for (int t = 0; t < N_TRAIN; t++) upload_grad(ctx, mg_params_at(p[0], train_index[t]), grads[s][t]);
    mg_adam_step(whole, 1e-2, 1);
  }
  for (int s = 0; s < 3; s++) {
    for (int t = 0; t < N_TRAIN; t++) upload_grad(ctx, mg_params_at(p[1], train_index[t]), grads[s][t]);
    mg_adam_step(first, 1e-2, 1);
  }
  const mg_kernels *k = mg_backend(ctx);
  for (int t = 0; t < N_TRAIN; t++) {
    int i = train_index[t];
    size_t bytes = (size_t)numel_of(t) * sizeof(mg_real);
    k->copy(mg_params_at(p[2], i)->data, mg_params_at(p[1], i)->data, bytes);
    for (int w = 0; w < 2; w++) k->copy(mg_adam_moment(second, i, w)->data, mg_adam_moment(first, i, w)->data, bytes);
  }
  mg_adam_set_steps(second, mg_adam_steps(first));
  for (int s = 3; s < 6; s++) {
    for (int t = 0; t < N_TRAIN; t++) upload_grad(ctx, mg_params_at(p[2], train_index[t]), grads[s][t]);
    mg_adam_step(second, 1e-2, 1);
  }
  for (int t = 0; t < N_TRAIN; t++) {
    mg_real a[12], b[12];
    download(ctx, mg_params_at(p[0], train_index[t]), a);
    download(ctx, mg_params_at(p[2], train_index[t]), b);
    tu_check(memcmp(a, b, (size_t)numel_of(t) * sizeof(mg_real)) == 0, "resumed optimizer differs on tensor %d", t);
  }
  tu_check(mg_adam_steps(second) == 6, "resumed step count %lld", (long long)mg_adam_steps(second));

  /* bad settings and a parameter list that grew after the optimizer are errors, not crashes */
  mg_adam_config bad = cfg;
  bad.beta2 = 1.0;
  tu_check(mg_adam_new(ctx, p[0], bad) == NULL && mg_ctx_status(ctx) == MG_ERR_INVALID_ARGUMENT, "beta2 = 1 rejected");
  mg_clear_error(ctx);
  mg_param(p[0], "late", 1, (int[]){2});
  tu_check(mg_adam_step(whole, 1e-2, 1) == MG_ERR_INVALID_ARGUMENT, "a grown parameter list is rejected");
  mg_clear_error(ctx);
  mg_params *fresh = make_params(ctx);
  mg_adam *other = mg_adam_new(ctx, fresh, cfg);
  tu_check(mg_adam_step(other, NAN, 1) == MG_ERR_INVALID_ARGUMENT, "a NaN learning rate is rejected");
  mg_clear_error(ctx);
  tu_check(mg_adam_step(other, 1e-3, INFINITY) == MG_ERR_INVALID_ARGUMENT, "an infinite grad scale is rejected");
  mg_clear_error(ctx);
  tu_check(mg_adam_steps(other) == 0, "rejected steps are not counted");
  mg_context_free(ctx);
}

static void clip(void) {
  mg_ctx *ctx = tu_ctx(2);
  mg_params *p = mg_params_new(ctx);
  const int big = 4096 * 256 + 12345; /* more than one group of 256 chunks in the kernel */
  mg_tensor *w = mg_param(p, "big.weight", 1, &big);
  mg_buffer(p, "stats", 1, (int[]){8});
  mg_tensor *b = mg_param(p, "small.bias", 1, (int[]){7});
  mg_param(p, "no_grad", 1, (int[]){3});
  mg_real *gw = malloc((size_t)big * sizeof *gw), gb[7];
  for (int i = 0; i < big; i++) gw[i] = (mg_real)tu_uniform(-0.01, 0.01);
  for (int i = 0; i < 7; i++) gb[i] = (mg_real)tu_uniform(-3, 3);
  upload_grad(ctx, w, gw);
  upload_grad(ctx, b, gb);
  mg_grad(ctx, mg_params_find(p, "stats")); /* a buffer's gradient must not count even if one exists */
  mg_backend(ctx)->fill(8, 100, mg_params_find(p, "stats")->grad);
  double ss = 0;
  for (int i = 0; i < big; i++) ss += (double)gw[i] * (double)gw[i];
  for (int i = 0; i < 7; i++) ss += (double)gb[i] * (double)gb[i];
  double expected = sqrt(ss), norm = 0;

  double f = mg_clip_factor(ctx, p, 0, &norm);
  tu_check(f == 1 && fabs(norm - expected) <= 1e-6 * expected, "norm %.10g vs double loop %.10g (factor %g)", norm,
           expected, f);
  f = mg_clip_factor(ctx, p, 0.5 * expected, &norm);
  double want = 0.5 * expected / (expected + 1e-6);
  tu_check(fabs(f - want) <= 1e-6 * want, "factor %.10g vs %.10g for max_norm = norm/2", f, want);
  tu_check(mg_clip_factor(ctx, p, 2 * expected, NULL) == 1, "no clipping below max_norm");
  mg_context_set_threads(ctx, 1);
  double norm1;
  mg_clip_factor(ctx, p, 1, &norm1);
  tu_check(norm1 == norm, "norm with 1 thread %.17g equals 2 threads %.17g", norm1, norm);
  tu_ctx_ok(ctx, "clip");

  gb[3] = NAN;
  upload_grad(ctx, b, gb);
  f = mg_clip_factor(ctx, p, 1, &norm);
  tu_check(mg_ctx_status(ctx) == MG_ERR_NUMERIC && isnan(norm), "a NaN gradient gives MG_ERR_NUMERIC (status %d)",
           mg_ctx_status(ctx));
  tu_check(strstr(mg_context_error(ctx), "small.bias") != NULL, "the message names the parameter: %s",
           mg_context_error(ctx));
  mg_clear_error(ctx);
  gb[3] = INFINITY;
  upload_grad(ctx, b, gb);
  mg_clip_factor(ctx, p, 1, &norm);
  tu_check(mg_ctx_status(ctx) == MG_ERR_NUMERIC, "an infinite gradient gives MG_ERR_NUMERIC");
  mg_clear_error(ctx);
  free(gw);
  mg_context_free(ctx);
}

static void ema(void) {
  mg_ctx *ctx = tu_ctx(1);
  mg_params *p = make_params(ctx);
  mg_real w0[12], w1[12], e[12];
  for (int i = 0; i < 12; i++) w0[i] = (mg_real)tu_uniform(-1, 1);
  mg_tensor *w = mg_params_at(p, 0);
  mg_tensor_upload_real(ctx, w, w0, 12);
  mg_ema *avg = mg_ema_new(ctx, p);
  download(ctx, mg_ema_tensor(avg, 0), e);
  tu_check(memcmp(e, w0, sizeof e) == 0, "the EMA starts as a copy");
  tu_check(mg_ema_tensor(avg, 1) == NULL && mg_ema_tensor(avg, 9) == NULL, "no EMA for buffers or bad indices");
  double expect[12];
  for (int i = 0; i < 12; i++) expect[i] = w0[i];
  const double decays[3] = {0.9, 0.5, 0.999};
  for (int s = 0; s < 3; s++) {
    for (int i = 0; i < 12; i++) w1[i] = (mg_real)tu_uniform(-1, 1);
    mg_tensor_upload_real(ctx, w, w1, 12);
    mg_ema_update(avg, decays[s]);
    for (int i = 0; i < 12; i++) expect[i] = decays[s] * expect[i] + (1 - decays[s]) * w1[i];
  }
  download(ctx, mg_ema_tensor(avg, 0), e);
  double worst = 0;
  for (int i = 0; i < 12; i++) worst = tu_worse(worst, fabs((double)e[i] - expect[i]));
  tu_check(worst < 1e-6, "EMA differs from the formula by %g", worst);
  tu_check(mg_ema_update(avg, 1.5) == MG_ERR_INVALID_ARGUMENT, "decay outside [0,1] rejected");
  mg_clear_error(ctx);
  tu_ctx_ok(ctx, "ema");
  mg_context_free(ctx);

  /* diffusers: min(max_decay, 1 - (1 + step/inv_gamma)^-power), 0 at step 0 */
  tu_check(mg_ema_decay(0, 0.9999, 1, 2.0 / 3) == 0, "decay 0 at step 0");
  const int64_t steps[4] = {1, 10, 1000, 100000};
  for (int i = 0; i < 4; i++) {
    double want = fmin(0.9999, 1 - pow(1 + (double)steps[i] / 1.0, -2.0 / 3));
    tu_check(fabs(mg_ema_decay(steps[i], 0.9999, 1, 2.0 / 3) - want) < 1e-15, "ema decay at step %lld",
             (long long)steps[i]);
    double want2 = 1 - pow(1 + (double)steps[i] / 2.0, -0.75);
    tu_check(fabs(mg_ema_decay(steps[i], 1.0, 2.0, 0.75) - want2) < 1e-15, "ema decay (inv_gamma 2, power 3/4)");
  }
  tu_check(mg_ema_decay(10000000, 0.9999, 1, 2.0 / 3) == 0.9999, "decay capped at max_decay");
  bool monotone = true;
  for (int64_t s = 1; s < 5000; s++) monotone &= mg_ema_decay(s, 0.9999, 1, 2.0 / 3) >= mg_ema_decay(s - 1, 0.9999, 1, 2.0 / 3);
  tu_check(monotone, "EMA decay never decreases with the step");
}

static void schedule(void) {
  const double base = 1e-3, floor_lr = 1e-5;
  tu_check(mg_lr_schedule(0, 100, 1000, base, floor_lr) == 0, "warm-up starts at 0");
  tu_check(fabs(mg_lr_schedule(50, 100, 1000, base, floor_lr) - base / 2) < 1e-18, "half-way through warm-up");
  tu_check(fabs(mg_lr_schedule(100, 100, 1000, base, floor_lr) - base) < 1e-18, "base lr at the end of warm-up");
  tu_check(fabs(mg_lr_schedule(550, 100, 1000, base, floor_lr) - (base + floor_lr) / 2) < 1e-15,
           "cosine mid-point is the mean of base and min");
  tu_check(fabs(mg_lr_schedule(1000, 100, 1000, base, floor_lr) - floor_lr) < 1e-18, "min lr at total");
  tu_check(fabs(mg_lr_schedule(5000, 100, 1000, base, floor_lr) - floor_lr) < 1e-18, "min lr after total");
  tu_check(mg_lr_schedule(0, 0, 1000, base, floor_lr) == base, "no warm-up starts at base");
  bool up = true, down = true;
  for (int64_t s = 1; s <= 100; s++) up &= mg_lr_schedule(s, 100, 1000, base, floor_lr) > mg_lr_schedule(s - 1, 100, 1000, base, floor_lr);
  for (int64_t s = 101; s <= 1000; s++) down &= mg_lr_schedule(s, 100, 1000, base, floor_lr) < mg_lr_schedule(s - 1, 100, 1000, base, floor_lr);
  tu_check(up, "warm-up increases strictly");
  tu_check(down, "cosine decreases strictly");
}

int main(int argc, char **argv) {
  if (argc >= 4) adam_vs_torch(argv[1], argv[2], argv[3]);
  else tu_check(false, "usage: test_optim PYTHON optim_reference.py WORK_PREFIX");
  resume();
  clip();
  ema();
  schedule();
  return tu_finish();
}
