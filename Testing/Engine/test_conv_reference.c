/* test_conv_reference.c: the fast conv, transposed conv and linear kernels (float build) against plain
 * direct-loop references, including the accumulate (+=) and NULL-gradient rules of mg_kernels.h; and the same
 * ops run with 1 and 2 threads must give bit-identical outputs and gradients. */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

/* ---- the references: one output element at a time (gather) for conv2d, one input element at a time
 * (scatter) for the transposed conv, in double. They share nothing with the im2col code they check. ---- */

#define AT4(p, d1, d2, d3, i0, i1, i2, i3) ((p)[(((int64_t)(i0) * (d1) + (i1)) * (d2) + (i2)) * (d3) + (i3)])

/* conv2d: y [n,cout,ho,wo] = b + sum over ci,kh,kw of x[n,ci,oh*s-p+kh,ow*s-p+kw] * w[co,ci,kh,kw];
 * and from dy: dx, dw, db (fresh, not accumulated). Any output may be NULL. */
static void ref_conv2d(const mg_conv_desc *d, const mg_real *x, const mg_real *w, const mg_real *b,
                       const mg_real *dy, double *y, double *dx, double *dw, double *db) {
  int k = d->k;
  if (dx) memset(dx, 0, sizeof(double) * d->n * d->c_in * d->h_in * d->w_in);
  if (dw) memset(dw, 0, sizeof(double) * d->c_out * d->c_in * k * k);
  if (db) memset(db, 0, sizeof(double) * d->c_out);
  for (int i = 0; i < d->n; i++)
    for (int co = 0; co < d->c_out; co++)
      for (int oh = 0; oh < d->h_out; oh++)
        for (int ow = 0; ow < d->w_out; ow++) {
          double acc = b ? b[co] : 0, g = dy ? AT4(dy, d->c_out, d->h_out, d->w_out, i, co, oh, ow) : 0;
          if (db) db[co] += g;
          for (int ci = 0; ci < d->c_in; ci++)
            for (int kh = 0; kh < k; kh++)
              for (int kw = 0; kw < k; kw++) {
                int ih = oh * d->stride - d->pad + kh, iw = ow * d->stride - d->pad + kw;
                if (ih < 0 || ih >= d->h_in || iw < 0 || iw >= d->w_in) continue;
                double xv = AT4(x, d->c_in, d->h_in, d->w_in, i, ci, ih, iw);
                double wv = AT4(w, d->c_in, k, k, co, ci, kh, kw);
                acc += xv * wv;
                if (dx) AT4(dx, d->c_in, d->h_in, d->w_in, i, ci, ih, iw) += g * wv;
                if (dw) AT4(dw, d->c_in, k, k, co, ci, kh, kw) += g * xv;
              }
          if (y) AT4(y, d->c_out, d->h_out, d->w_out, i, co, oh, ow) = acc;
        }
}

/* transposed conv2d: each x[n,ci,ih,iw] adds x * w[ci,co,kh,kw] to y[n,co,ih*s-p+kh,iw*s-p+kw] */
static void ref_conv_transpose2d(const mg_conv_desc *d, const mg_real *x, const mg_real *w, const mg_real *b,
                                 const mg_real *dy, double *y, double *dx, double *dw, double *db) {
  int k = d->k;
  int64_t y_count = (int64_t)d->n * d->c_out * d->h_out * d->w_out;
  if (y)
    for (int64_t j = 0; j < y_count; j++) y[j] = b ? b[(j / ((int64_t)d->h_out * d->w_out)) % d->c_out] : 0;
  if (dx) memset(dx, 0, sizeof(double) * d->n * d->c_in * d->h_in * d->w_in);
  if (dw) memset(dw, 0, sizeof(double) * d->c_in * d->c_out * k * k);
  if (db) {
    memset(db, 0, sizeof(double) * d->c_out);
    for (int64_t j = 0; j < y_count; j++) db[(j / ((int64_t)d->h_out * d->w_out)) % d->c_out] += dy[j];
  }
  for (int i = 0; i < d->n; i++)
    for (int ci = 0; ci < d->c_in; ci++)
      for (int ih = 0; ih < d->h_in; ih++)
        for (int iw = 0; iw < d->w_in; iw++) {
          double xv = AT4(x, d->c_in, d->h_in, d->w_in, i, ci, ih, iw);
          for (int co = 0; co < d->c_out; co++)
            for (int kh = 0; kh < k; kh++)
              for (int kw = 0; kw < k; kw++) {
                int oh = ih * d->stride - d->pad + kh, ow = iw * d->stride - d->pad + kw;
                if (oh < 0 || oh >= d->h_out || ow < 0 || ow >= d->w_out) continue;
                double wv = AT4(w, d->c_out, k, k, ci, co, kh, kw);
                if (y) AT4(y, d->c_out, d->h_out, d->w_out, i, co, oh, ow) += xv * wv;
                double g = dy ? AT4(dy, d->c_out, d->h_out, d->w_out, i, co, oh, ow) : 0;
                if (dx) AT4(dx, d->c_in, d->h_in, d->w_in, i, ci, ih, iw) += g * wv;
                if (dw) AT4(dw, d->c_out, k, k, ci, co, kh, kw) += g * xv;
              }
        }
}

/* ---- helpers ---- */

static mg_real *host_random(int64_t n, double lo, double hi) {
  mg_real *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
  for (int64_t i = 0; i < n; i++) p[i] = (mg_real)tu_uniform(lo, hi);
  return p;
}

static mg_real *copy_of(const mg_real *src, int64_t n) {
  mg_real *p = malloc((size_t)n * sizeof *p);
  memcpy(p, src, (size_t)n * sizeof *p);
  return p;
}

/* fast == before + ref within tolerance; before NULL means zero */
static void check_close(const char *what, const char *name, const mg_real *fast, const mg_real *before,
                        const double *ref, int64_t n) {
  mg_real *expect = malloc((size_t)n * sizeof *expect);
  for (int64_t i = 0; i < n; i++) expect[i] = (mg_real)((before ? before[i] : 0) + ref[i]);
  int64_t worst;
  double err = tu_compare(fast, expect, n, 1e-3, 1e-4, &worst);
  tu_check(err <= 1, "%s %s: element %lld is %.7g, reference %.7g", name, what, (long long)worst,
           (double)fast[worst], (double)expect[worst]);
  free(expect);
}

typedef struct {
  int n, c_in, h_in, w_in, c_out, k, stride, pad;
} conv_case;

/* Forward with and without bias, a full backward accumulating onto non-zero gradients, and backwards that ask for
 * only dx or only dw; all against the reference. */
static void check_conv_case(const mg_kernels *kt, conv_case c, int transposed) {
  mg_conv_desc d = {c.n, c.c_in, c.h_in, c.w_in, c.c_out, 0, 0, c.k, c.stride, c.pad};
  d.h_out = transposed ? (c.h_in - 1) * c.stride - 2 * c.pad + c.k : (c.h_in + 2 * c.pad - c.k) / c.stride + 1;
  d.w_out = transposed ? (c.w_in - 1) * c.stride - 2 * c.pad + c.k : (c.w_in + 2 * c.pad - c.k) / c.stride + 1;
  char name[160];
  snprintf(name, sizeof name, "%s x [%d,%d,%d,%d] cout %d k %d stride %d pad %d",
           transposed ? "conv_transpose2d" : "conv2d", c.n, c.c_in, c.h_in, c.w_in, c.c_out, c.k, c.stride, c.pad);
  int64_t nx = (int64_t)d.n * d.c_in * d.h_in * d.w_in, ny = (int64_t)d.n * d.c_out * d.h_out * d.w_out;
  int64_t nw = (int64_t)d.c_in * d.c_out * d.k * d.k;
  mg_real *x = host_random(nx, -1, 1), *w = host_random(nw, -1, 1), *b = host_random(d.c_out, -1, 1);
  mg_real *dy = host_random(ny, -1, 1), *y = host_random(ny, -9, 9); /* garbage in y: forward must overwrite */
  mg_real *dx0 = host_random(nx, -1, 1), *dw0 = host_random(nw, -1, 1), *db0 = host_random(d.c_out, -1, 1);
  mg_real *dx = copy_of(dx0, nx), *dw = copy_of(dw0, nw), *db = copy_of(db0, d.c_out);
  double *ry = malloc(sizeof(double) * ny), *rdx = malloc(sizeof(double) * nx), *rdw = malloc(sizeof(double) * nw);
  double *rdb = malloc(sizeof(double) * d.c_out);
  size_t ws_bytes = transposed ? kt->conv_transpose2d_workspace(&d) : kt->conv2d_workspace(&d);
  void *ws = kt->alloc(ws_bytes);

  void (*fwd)(const mg_conv_desc *, const mg_real *, const mg_real *, const mg_real *, mg_real *, void *) =
      transposed ? kt->conv_transpose2d_forward : kt->conv2d_forward;
  void (*bwd)(const mg_conv_desc *, const mg_real *, const mg_real *, const mg_real *, mg_real *, mg_real *,
              mg_real *, void *) = transposed ? kt->conv_transpose2d_backward : kt->conv2d_backward;
  void (*ref)(const mg_conv_desc *, const mg_real *, const mg_real *, const mg_real *, const mg_real *, double *,
              double *, double *, double *) = transposed ? ref_conv_transpose2d : ref_conv2d;

  fwd(&d, x, w, b, y, ws);
  ref(&d, x, w, b, dy, ry, rdx, rdw, rdb);
  check_close("forward", name, y, NULL, ry, ny);
  bwd(&d, x, w, dy, dx, dw, db, ws);
  check_close("dx (accumulated)", name, dx, dx0, rdx, nx);
  check_close("dw (accumulated)", name, dw, dw0, rdw, nw);
  check_close("db (accumulated)", name, db, db0, rdb, d.c_out);

  fwd(&d, x, w, NULL, y, ws);
  ref(&d, x, w, NULL, NULL, ry, NULL, NULL, NULL);
  check_close("forward without bias", name, y, NULL, ry, ny);
  /* only dx, then only dw: the skipped gradients' buffers must stay untouched */
  memcpy(dx, dx0, sizeof *dx * nx), memcpy(dw, dw0, sizeof *dw * nw), memcpy(db, db0, sizeof *db * d.c_out);
  bwd(&d, x, w, dy, dx, NULL, NULL, ws);
  check_close("dx only", name, dx, dx0, rdx, nx);
  tu_check(memcmp(dw, dw0, sizeof *dw * nw) == 0 && memcmp(db, db0, sizeof *db * d.c_out) == 0,
           "%s: a backward without dw/db changed them", name);
  memcpy(dx, dx0, sizeof *dx * nx);
  bwd(&d, x, w, dy, NULL, dw, NULL, ws);
  check_close("dw only", name, dw, dw0, rdw, nw);
  tu_check(memcmp(dx, dx0, sizeof *dx * nx) == 0, "%s: a backward without dx changed it", name);

  kt->free(ws);
  free(x), free(w), free(b), free(dy), free(y), free(dx0), free(dw0), free(db0), free(dx), free(dw), free(db);
  free(ry), free(rdx), free(rdw), free(rdb);
}

/* linear: y = x w^T + b against a triple loop; backward accumulates onto non-zero gradients */
static void check_linear(const mg_kernels *kt, int n, int in, int out) {
  mg_real *x = host_random((int64_t)n * in, -1, 1), *w = host_random((int64_t)out * in, -1, 1);
  mg_real *b = host_random(out, -1, 1), *dy = host_random((int64_t)n * out, -1, 1);
  mg_real *y = host_random((int64_t)n * out, -9, 9);
  mg_real *dx0 = host_random((int64_t)n * in, -1, 1), *dw0 = host_random((int64_t)out * in, -1, 1);
  mg_real *db0 = host_random(out, -1, 1);
  mg_real *dx = copy_of(dx0, (int64_t)n * in), *dw = copy_of(dw0, (int64_t)out * in), *db = copy_of(db0, out);
  double *ry = calloc((size_t)n * out, sizeof(double)), *rdx = calloc((size_t)n * in, sizeof(double));
  double *rdw = calloc((size_t)out * in, sizeof(double)), *rdb = calloc((size_t)out, sizeof(double));
  for (int i = 0; i < n; i++)
    for (int o = 0; o < out; o++) {
      double acc = b[o], g = dy[(int64_t)i * out + o];
      rdb[o] += g;
      for (int j = 0; j < in; j++) {
        acc += (double)x[(int64_t)i * in + j] * w[(int64_t)o * in + j];
        rdx[(int64_t)i * in + j] += g * w[(int64_t)o * in + j];
        rdw[(int64_t)o * in + j] += g * x[(int64_t)i * in + j];
      }
      ry[(int64_t)i * out + o] = acc;
    }
  char name[64];
  snprintf(name, sizeof name, "linear [%d,%d] -> %d", n, in, out);
  kt->linear_forward(n, in, out, x, w, b, y);
  check_close("forward", name, y, NULL, ry, (int64_t)n * out);
  kt->linear_backward(n, in, out, x, w, dy, dx, dw, db);
  check_close("dx (accumulated)", name, dx, dx0, rdx, (int64_t)n * in);
  check_close("dw (accumulated)", name, dw, dw0, rdw, (int64_t)out * in);
  check_close("db (accumulated)", name, db, db0, rdb, out);
  for (int o = 0; o < out; o++) ry[o] -= b[o]; /* row 0 without the bias */
  kt->linear_forward(n, in, out, x, w, NULL, y);
  check_close("forward without bias (row 0)", name, y, NULL, ry, out);
  free(x), free(w), free(b), free(dy), free(y), free(dx0), free(dw0), free(db0), free(dx), free(dw), free(db);
  free(ry), free(rdx), free(rdw), free(rdb);
}

/* ---- 1 vs 2 threads: a small network of these ops, forward and backward, must match bit for bit ---- */

typedef struct {
  mg_tensor *x, *w1, *b1, *w2, *wt, *bt, *w3, *lx, *lw, *lb; /* inputs and parameters (all need gradients) */
  mg_tensor *dh, *dl;                                          /* upstream gradients of the two outputs */
} net;

/* Runs the net with the given threads; returns its outputs and all gradients concatenated (caller frees). Only
 * this file's ops are used, so a failure here points at them. */
static mg_real *run_net(mg_ctx *ctx, net *p, int threads, int64_t *count) {
  mg_context_set_threads(ctx, threads);
  mg_tensor *params[] = {p->x, p->w1, p->b1, p->w2, p->wt, p->bt, p->w3, p->lx, p->lw, p->lb};
  const int n_params = (int)(sizeof params / sizeof params[0]);
  for (int i = 0; i < n_params; i++)
    if (params[i]->grad) mg_backend(ctx)->fill_zero(params[i]->grad, (size_t)params[i]->numel * sizeof(mg_real));
  mg_step_begin(ctx);
  mg_tensor *h = mg_conv2d(ctx, p->x, p->w1, p->b1, 1, 1); /* [3,32,32,32] */
  h = mg_conv2d(ctx, h, p->w2, NULL, 2, 1);                 /* [3,32,16,16] */
  h = mg_conv_transpose2d(ctx, h, p->wt, p->bt, 2, 1);      /* [3,16,32,32] */
  h = mg_conv2d(ctx, h, p->w3, NULL, 1, 0);                 /* [3,8,32,32] */
  mg_backward_from(ctx, h, p->dh);
  mg_tensor *l = mg_linear(ctx, p->lx, p->lw, p->lb);       /* [64,256] */
  mg_backward_from(ctx, l, p->dl);
  if (!tu_ctx_ok(ctx, "the thread-determinism network")) return NULL;
  *count = h->numel + l->numel;
  for (int i = 0; i < n_params; i++) *count += params[i]->numel;
  mg_real *all = malloc((size_t)*count * sizeof *all), *at = all;
  mg_tensor_download_real(ctx, h, at, h->numel);
  at += h->numel;
  mg_tensor_download_real(ctx, l, at, l->numel);
  at += l->numel;
  for (int i = 0; i < n_params; i++) {
    mg_backend(ctx)->download(at, params[i]->grad, (size_t)params[i]->numel * sizeof(mg_real));
    at += params[i]->numel;
  }
  return all;
}

static void check_threads(mg_ctx *ctx) {
  net p = {
      tu_random(ctx, 4, (int[]){3, 16, 32, 32}, -1, 1, true), tu_random(ctx, 4, (int[]){32, 16, 3, 3}, -.2, .2, true),
      tu_random(ctx, 1, (int[]){32}, -1, 1, true),             tu_random(ctx, 4, (int[]){32, 32, 3, 3}, -.2, .2, true),
      tu_random(ctx, 4, (int[]){32, 16, 4, 4}, -.2, .2, true), tu_random(ctx, 1, (int[]){16}, -1, 1, true),
      tu_random(ctx, 4, (int[]){8, 16, 1, 1}, -.5, .5, true),  tu_random(ctx, 2, (int[]){64, 300}, -1, 1, true),
      tu_random(ctx, 2, (int[]){256, 300}, -.1, .1, true),     tu_random(ctx, 1, (int[]){256}, -1, 1, true),
      tu_random(ctx, 4, (int[]){3, 8, 32, 32}, -1, 1, false),  tu_random(ctx, 2, (int[]){64, 256}, -1, 1, false),
  };
  int64_t n1 = 0, n2 = 0;
  mg_real *one = run_net(ctx, &p, 1, &n1), *two = run_net(ctx, &p, 2, &n2);
  if (tu_check(one && two, "the 1- and 2-thread runs of the small network both finish")) {
    int64_t first = -1;
    for (int64_t i = 0; i < n1 && first < 0; i++)
      if (memcmp(&one[i], &two[i], sizeof one[i]) != 0) first = i;
    tu_check(n1 == n2 && first < 0, "1 and 2 threads differ at value %lld of %lld (%.9g vs %.9g)", (long long)first,
             (long long)n1, first >= 0 ? (double)one[first] : 0.0, first >= 0 ? (double)two[first] : 0.0);
  }
  free(one);
  free(two);
}

int main(void) {
  mg_ctx *ctx = tu_ctx(2);
  const mg_kernels *kt = mg_backend(ctx);
  tu_seed(3);
  const conv_case convs[] = {
      {2, 3, 9, 7, 5, 3, 1, 1},  {2, 4, 8, 8, 6, 3, 2, 1},   {1, 3, 7, 9, 4, 4, 2, 1},  {2, 3, 6, 6, 4, 4, 1, 2},
      {2, 8, 5, 5, 3, 1, 1, 0},  {1, 2, 6, 5, 3, 1, 2, 0},   {1, 3, 5, 5, 2, 3, 1, 0},  {2, 3, 4, 4, 2, 3, 2, 3},
      {1, 2, 5, 6, 3, 1, 1, 1},  {3, 16, 16, 16, 32, 3, 1, 1}, {2, 64, 16, 16, 64, 3, 1, 1},
      {2, 32, 16, 16, 32, 3, 2, 1}, {2, 128, 8, 8, 64, 1, 1, 0},
      /* large enough that each image is cut into several row chunks (conv.c's CHUNK_ELEMS), the last one shorter */
      {1, 64, 41, 41, 8, 3, 1, 1}, {1, 64, 81, 81, 4, 3, 2, 1}, {1, 64, 80, 80, 4, 3, 2, 1}, {2, 256, 48, 48, 4, 1, 1, 0},
      /* more images than weight-gradient groups (conv.c's DW_GROUPS): several images share a partial */
      {37, 3, 6, 6, 4, 3, 1, 1}, {20, 8, 4, 4, 8, 1, 1, 0},
  };
  for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++) check_conv_case(kt, convs[i], 0);
  const conv_case convts[] = {
      {2, 4, 5, 5, 3, 4, 2, 1}, {1, 3, 6, 4, 5, 4, 1, 1},    {2, 6, 4, 4, 3, 4, 2, 0},
      {1, 2, 3, 3, 2, 4, 1, 2}, {1, 2, 3, 5, 2, 3, 2, 1},    {3, 32, 8, 8, 16, 4, 2, 1},
      {2, 4, 41, 41, 64, 4, 2, 1}, /* several row chunks per image */
      {37, 4, 3, 3, 3, 4, 2, 1},   /* several images per weight-gradient group */
  };
  for (size_t i = 0; i < sizeof convts / sizeof convts[0]; i++) check_conv_case(kt, convts[i], 1);
  check_linear(kt, 5, 7, 3);
  check_linear(kt, 16, 128, 512);
  check_linear(kt, 1, 300, 1);
  check_threads(ctx);
  mg_context_free(ctx);
  return tu_finish();
}
