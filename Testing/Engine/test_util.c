/* test_util.c: see test_util.h. */
#include "test_util.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

bool tu_ctx_ok(mg_ctx *ctx, const char *where) {
  return tu_check(mg_ok(ctx), "%s: %s", where, mg_context_error(ctx));
}

mg_tensor *tu_random(mg_ctx *ctx, int ndim, const int *shape, double lo, double hi, bool requires_grad) {
  mg_tensor *t = mg_tensor_new_persistent(ctx, MG_REAL, ndim, shape);
  if (!t) return NULL;
  mg_real *host = malloc((size_t)t->numel * sizeof *host);
  for (int64_t i = 0; i < t->numel; i++) host[i] = (mg_real)tu_uniform(lo, hi);
  mg_tensor_upload_real(ctx, t, host, t->numel);
  free(host);
  t->requires_grad = requires_grad;
  return t;
}

mg_tensor *tu_labels(mg_ctx *ctx, int n, int classes) {
  mg_tensor *t = mg_tensor_new_persistent(ctx, MG_INT32, 1, &n);
  if (!t) return NULL;
  int32_t *host = malloc((size_t)n * sizeof *host);
  for (int i = 0; i < n; i++) host[i] = (int32_t)(tu_uniform(0, classes)) % classes;
  mg_tensor_upload(ctx, t, host, n);
  free(host);
  return t;
}

mg_tensor *tu_tensor(mg_ctx *ctx, int ndim, const int *shape, const float *values, bool requires_grad) {
  mg_tensor *t = mg_tensor_new_persistent(ctx, MG_REAL, ndim, shape);
  if (t) {
    mg_tensor_upload(ctx, t, values, t->numel);
    t->requires_grad = requires_grad;
  }
  return t;
}

float *tu_values(mg_ctx *ctx, const mg_tensor *t) {
  if (!t) return NULL;
  float *v = malloc((size_t)t->numel * sizeof *v);
  mg_tensor_download(ctx, t, v, t->numel);
  return v;
}

float *tu_random_floats(int64_t n, double lo, double hi) {
  float *v = malloc((size_t)n * sizeof *v);
  for (int64_t i = 0; i < n; i++) v[i] = (float)tu_uniform(lo, hi);
  return v;
}

bool tu_close(double got, double want, double atol, double rtol) {
  return fabs(got - want) <= atol + rtol * fabs(want);
}

void tu_expect_error(mg_ctx *ctx, const mg_tensor *result, const char *what, const char *expect) {
  tu_check(result == NULL && !mg_ok(ctx), "%s must fail", what);
  tu_check(strstr(mg_context_error(ctx), expect) != NULL, "%s: message \"%s\" should mention \"%s\"", what,
           mg_context_error(ctx), expect);
  mg_clear_error(ctx);
}

bool tu_check_refused(mg_status s, const char *err, const char *expect, const char *what) {
  return tu_check(s == MG_ERR_INVALID_ARGUMENT && strstr(err, expect) != NULL,
                  "%s: status %d, message '%s' (want '%s')", what, (int)s, err, expect);
}

void tu_check_bad_json(const char *good, const tu_json_edit *edits, int n_edits,
                       mg_status (*parse)(const char *json, char *err, size_t err_size)) {
  for (int i = 0; i < n_edits; i++) {
    char json[2048], err[256] = "";
    const char *at = strstr(good, edits[i].from);
    if (!tu_check(at != NULL, "bad JSON case %d: '%s' not in %s", i, edits[i].from, good)) continue;
    snprintf(json, sizeof json, "%.*s%s%s", (int)(at - good), good, edits[i].to, at + strlen(edits[i].from));
    tu_check_refused(parse(json, err, sizeof err), err, edits[i].expect, json);
  }
}

double tu_worse(double worst, double err) { return err > worst || isnan(err) ? err : worst; }

double tu_compare(const mg_real *a, const mg_real *b, int64_t n, double atol, double rtol, int64_t *worst_index) {
  double worst = 0;
  int64_t wi = 0;
  for (int64_t i = 0; i < n; i++) {
    double r = fabs((double)a[i] - (double)b[i]) / (atol + rtol * fabs((double)b[i]));
    if (!(r <= worst)) { /* NaN counts as worst */
      worst = isnan(r) ? INFINITY : r;
      wi = i;
    }
  }
  if (worst_index) *worst_index = wi;
  return worst;
}

static double loss_of(mg_ctx *ctx, tu_forward_fn f, void *user, mg_tensor **inputs, const mg_real *r, int64_t n) {
  mg_step_begin(ctx);
  mg_tensor *y = f(ctx, inputs, user);
  if (!y || y->numel != n) return NAN;
  mg_real *host = malloc((size_t)n * sizeof *host);
  mg_tensor_download_real(ctx, y, host, n);
  double loss = 0;
  for (int64_t i = 0; i < n; i++) loss += (double)host[i] * (double)r[i];
  free(host);
  return loss;
}

bool tu_gradcheck(mg_ctx *ctx, const char *name, tu_forward_fn f, void *user, mg_tensor **inputs, int n_inputs,
                  double eps, double atol, double rtol, int max_points) {
  bool all_ok = true;
  mg_step_begin(ctx);
  mg_tensor *y = f(ctx, inputs, user);
  if (!tu_check(y != NULL, "%s: forward failed: %s", name, mg_context_error(ctx))) return false;
  int64_t n = y->numel;
  mg_real *r = malloc((size_t)n * sizeof *r);
  for (int64_t i = 0; i < n; i++) r[i] = (mg_real)tu_uniform(-1, 1);
  mg_tensor *rt = mg_tensor_new(ctx, MG_REAL, y->ndim, y->shape);
  mg_tensor_upload_real(ctx, rt, r, n);
  for (int i = 0; i < n_inputs; i++)
    if (inputs[i]->requires_grad && inputs[i]->grad)
      mg_backend(ctx)->fill_zero(inputs[i]->grad, (size_t)inputs[i]->numel * sizeof(mg_real));
  if (!tu_check(mg_backward_from(ctx, y, rt) == MG_OK, "%s: backward failed: %s", name, mg_context_error(ctx))) {
    free(r);
    return false;
  }
  bool grad_mode = mg_set_grad_enabled(ctx, false);
  for (int i = 0; i < n_inputs; i++) {
    mg_tensor *x = inputs[i];
    if (!x->requires_grad) continue;
    if (!tu_check(x->grad != NULL, "%s: input %d got no gradient", name, i)) {
      all_ok = false;
      continue;
    }
    mg_real *xv = malloc((size_t)x->numel * sizeof *xv), *g = malloc((size_t)x->numel * sizeof *g);
    mg_tensor_download_real(ctx, x, xv, x->numel);
    mg_backend(ctx)->download(g, x->grad, (size_t)x->numel * sizeof *g);
    int64_t points = x->numel < max_points ? x->numel : max_points;
    int bad = 0;
    for (int64_t p = 0; p < points; p++) {
      int64_t j = points == x->numel ? p : (int64_t)tu_uniform(0, (double)x->numel);
      mg_real saved = xv[j];
      xv[j] = saved + (mg_real)eps;
      mg_tensor_upload_real(ctx, x, xv, x->numel);
      double lp = loss_of(ctx, f, user, inputs, r, n);
      xv[j] = saved - (mg_real)eps;
      mg_tensor_upload_real(ctx, x, xv, x->numel);
      double lm = loss_of(ctx, f, user, inputs, r, n);
      xv[j] = saved;
      mg_tensor_upload_real(ctx, x, xv, x->numel);
      double numeric = (lp - lm) / (2 * eps), analytic = (double)g[j];
      double err = fabs(numeric - analytic), allowed = atol + rtol * fmax(fabs(numeric), fabs(analytic));
      if (!(err <= allowed)) {
        if (bad++ < 5)
          fprintf(stderr, "  %s: input %d element %lld: analytic %.10g numeric %.10g\n", name, i, (long long)j,
                  analytic, numeric);
      }
    }
    all_ok &= tu_check(bad == 0, "%s: input %d: %d of %lld gradient entries differ from finite differences", name,
                       i, bad, (long long)points);
    free(xv);
    free(g);
  }
  mg_set_grad_enabled(ctx, grad_mode);
  free(r);
  return all_ok;
}

/* ---- files and checkpoints ---- */

size_t tu_read_file(const char *path, char *buf, size_t size) {
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(buf, 1, size, f) : 0;
  if (f) fclose(f);
  return n;
}

bool tu_ends_with(const char *s, const char *tail) {
  size_t n = strlen(s), m = strlen(tail);
  return n >= m && strcmp(s + n - m, tail) == 0;
}

mg_checkpoint *tu_load_checkpoint(const char *path) {
  char err[512];
  mg_checkpoint *ck = NULL;
  tu_check(mg_checkpoint_load(path, &ck, err, sizeof err) == MG_OK, "load: %s", err);
  return ck;
}

void tu_same_checkpoints(const char *a_path, const char *b_path, const char *what, const char *const *keys,
                         int n_keys) {
  mg_checkpoint *a = tu_load_checkpoint(a_path), *b = tu_load_checkpoint(b_path);
  if (!a || !b) {
    mg_checkpoint_free(a);
    mg_checkpoint_free(b);
    return;
  }
  int n = mg_checkpoint_tensor_count(a), differing = 0;
  tu_check(n > 0 && n == mg_checkpoint_tensor_count(b), "%s: %d vs %d tensors", what, n, mg_checkpoint_tensor_count(b));
  for (int i = 0; i < n && n == mg_checkpoint_tensor_count(b); i++) {
    mg_checkpoint_tensor ta, tb;
    mg_checkpoint_tensor_at(a, i, &ta);
    mg_checkpoint_tensor_at(b, i, &tb);
    if (strcmp(ta.name, tb.name) || ta.numel != tb.numel || memcmp(ta.data, tb.data, (size_t)ta.numel * 4))
      if (differing++ < 3) printf("  %s: tensor %s differs\n", what, ta.name);
  }
  tu_check(differing == 0, "%s: %d tensors differ", what, differing);
  for (int k = 0; k < n_keys; k++) {
    const char *va = mg_checkpoint_metadata(a, keys[k]), *vb = mg_checkpoint_metadata(b, keys[k]);
    tu_check(va && vb && !strcmp(va, vb), "%s: metadata %s: %s vs %s", what, keys[k], va ? va : "-", vb ? vb : "-");
  }
  mg_checkpoint_free(a);
  mg_checkpoint_free(b);
}

bool tu_rewrite_checkpoint(const char *from, const char *to,
                           void (*edit)(const mg_checkpoint_tensor *t, float *values, void *user), void *user) {
  mg_checkpoint *ck = tu_load_checkpoint(from);
  if (!ck) return false;
  char err[512];
  mg_checkpoint_writer *w = mg_checkpoint_writer_new();
  for (int i = 0; i < mg_checkpoint_tensor_count(ck); i++) {
    mg_checkpoint_tensor t;
    mg_checkpoint_tensor_at(ck, i, &t);
    float *copy = malloc((size_t)t.numel * sizeof *copy);
    memcpy(copy, t.data, (size_t)t.numel * sizeof *copy);
    edit(&t, copy, user);
    mg_checkpoint_writer_add_tensor(w, t.name, t.ndim, t.shape, copy);
    free(copy);
  }
  for (int i = 0; i < mg_checkpoint_metadata_count(ck); i++) {
    const char *k, *v;
    mg_checkpoint_metadata_at(ck, i, &k, &v);
    mg_checkpoint_writer_add_metadata(w, k, v);
  }
  bool saved = tu_check(mg_checkpoint_writer_save(w, to, err, sizeof err) == MG_OK, "save %s: %s", to, err);
  mg_checkpoint_writer_free(w);
  mg_checkpoint_free(ck);
  return saved;
}

typedef struct tensor_edit {
  const char *name;
  float (*edit)(float value);
} tensor_edit;

static void edit_named(const mg_checkpoint_tensor *t, float *values, void *user) {
  const tensor_edit *e = user;
  if (strcmp(t->name, e->name) != 0) return;
  for (int64_t j = 0; j < t->numel; j++) values[j] = e->edit(values[j]);
}

bool tu_copy_checkpoint(const char *from, const char *to, const char *name, float (*edit)(float value)) {
  tensor_edit e = {name, edit};
  return tu_rewrite_checkpoint(from, to, edit_named, &e);
}

void tu_write_metadata_only(const char *path, const char *const *pairs) {
  char err[512];
  mg_checkpoint_writer *w = mg_checkpoint_writer_new();
  int64_t shape[1] = {1};
  float v = 1;
  mg_checkpoint_writer_add_tensor(w, "model.x", 1, shape, &v);
  for (; *pairs; pairs += 2) mg_checkpoint_writer_add_metadata(w, pairs[0], pairs[1]);
  tu_check(mg_checkpoint_writer_save(w, path, err, sizeof err) == MG_OK, "save: %s", err);
  mg_checkpoint_writer_free(w);
}
