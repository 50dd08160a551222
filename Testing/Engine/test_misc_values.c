/* test_misc_values.c: forward values of resampling, concat, embeddings, reductions and losses (float build)
 * against plain double loops written here, known closed forms (pool after upsample is the identity, the
 * cross-entropy of equal logits is log(classes), BCE of huge logits stays finite), rejection of bad labels and
 * shapes, and bit-identical results for 1 and 2 threads on inputs spanning many reduction chunks. */
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ---- */

static mg_tensor *label_tensor(mg_ctx *ctx, int n, const int32_t *values) {
  mg_tensor *t = mg_tensor_new_persistent(ctx, MG_INT32, 1, &n);
  if (t) mg_tensor_upload(ctx, t, values, n);
  return t;
}

/* ---- resampling and concat ---- */

static void test_resample(mg_ctx *ctx) {
  mg_step_begin(ctx);
  int n = 2, c = 3, h = 4, w = 5;
  float *xv = tu_random_floats(n * c * h * w, -3, 3);
  mg_tensor *x = tu_tensor(ctx, 4, (int[]){n, c, h, w}, xv, false);
  mg_tensor *up = mg_upsample_nearest2x(ctx, x);
  float *uv = tu_values(ctx, up);
  int bad = 0;
  for (int p = 0; up && p < n * c; p++)
    for (int i = 0; i < 2 * h; i++)
      for (int j = 0; j < 2 * w; j++) bad += uv[(p * 2 * h + i) * 2 * w + j] != xv[(p * h + i / 2) * w + j / 2];
  tu_check(up && up->shape[2] == 2 * h && up->shape[3] == 2 * w && bad == 0, "upsample values (%d wrong)", bad);

  /* pooling the upsampled image gives the original back exactly */
  mg_tensor *back = mg_avg_pool2x(ctx, up);
  float *bv = tu_values(ctx, back);
  bad = 0;
  for (int i = 0; back && i < n * c * h * w; i++) bad += bv[i] != xv[i];
  tu_check(back && mg_same_shape(back, x) && bad == 0, "avg_pool2x(upsample(x)) == x (%d differ)", bad);

  /* pooling a random image against the mean of each block */
  int ph = 6, pw = 8;
  float *pv = tu_random_floats(n * c * ph * pw, -3, 3);
  mg_tensor *px = tu_tensor(ctx, 4, (int[]){n, c, ph, pw}, pv, false);
  mg_tensor *pooled = mg_avg_pool2x(ctx, px);
  float *ov = tu_values(ctx, pooled);
  bad = 0;
  for (int p = 0; pooled && p < n * c; p++)
    for (int i = 0; i < ph / 2; i++)
      for (int j = 0; j < pw / 2; j++) {
        const float *b = pv + (p * ph + 2 * i) * pw + 2 * j;
        double want = ((double)b[0] + b[1] + b[pw] + b[pw + 1]) / 4;
        bad += !tu_close(ov[(p * ph / 2 + i) * pw / 2 + j], want, 1e-6, 1e-6);
      }
  tu_check(pooled && bad == 0, "avg_pool2x values (%d wrong)", bad);

  /* concat: channel blocks of a, then of b, per sample */
  int ca = 2, cb = 3, hw = 6;
  float *av = tu_random_floats(n * ca * hw, -1, 1), *cv = tu_random_floats(n * cb * hw, -1, 1);
  mg_tensor *a = tu_tensor(ctx, 4, (int[]){n, ca, 2, 3}, av, false);
  mg_tensor *b = tu_tensor(ctx, 4, (int[]){n, cb, 2, 3}, cv, false);
  mg_tensor *cat = mg_concat(ctx, a, b);
  float *catv = tu_values(ctx, cat);
  bad = 0;
  for (int s = 0; cat && s < n; s++)
    for (int ch = 0; ch < ca + cb; ch++)
      for (int i = 0; i < hw; i++) {
        float want = ch < ca ? av[(s * ca + ch) * hw + i] : cv[(s * cb + ch - ca) * hw + i];
        bad += catv[(s * (ca + cb) + ch) * hw + i] != want;
      }
  tu_check(cat && cat->shape[1] == ca + cb && bad == 0, "concat values (%d wrong)", bad);
  tu_ctx_ok(ctx, "resample");

  /* bad shapes are errors */
  float odd_values[2 * 3 * 5] = {0};
  mg_tensor *odd = tu_tensor(ctx, 4, (int[]){1, 2, 3, 5}, odd_values, false);
  tu_expect_error(ctx, mg_avg_pool2x(ctx, odd), "avg_pool2x of an odd size", "even");
  mg_tensor *flat = tu_tensor(ctx, 2, (int[]){5, 6}, odd_values, false);
  tu_expect_error(ctx, mg_upsample_nearest2x(ctx, flat), "upsample of a 2D tensor", "4D");
  mg_tensor *other = tu_tensor(ctx, 4, (int[]){n, cb, 3, 2}, cv, false);
  tu_expect_error(ctx, mg_concat(ctx, a, other), "concat of different spatial sizes", "[2,3,3,2]");
  free(xv), free(uv), free(bv), free(pv), free(ov), free(av), free(cv), free(catv);
}

/* ---- embeddings ---- */

static void test_embeddings(mg_ctx *ctx) {
  mg_step_begin(ctx);
  int n = 5, dim = 32, half = dim / 2;
  double period = 10000;
  float *tv = tu_random_floats(n, 0, 1000);
  tv[0] = 0; /* t = 0: cos terms 1, sin terms 0 */
  mg_tensor *t = tu_tensor(ctx, 1, &n, tv, false);
  mg_tensor *emb = mg_timestep_embedding(ctx, t, dim, period);
  float *ev = tu_values(ctx, emb);
  int bad = 0;
  for (int i = 0; emb && i < n; i++)
    for (int j = 0; j < half; j++) {
      double f = pow(period, -(double)j / half); /* the same frequency written another way */
      bad += !tu_close(ev[i * dim + j], cos(tv[i] * f), 1e-6, 0);
      bad += !tu_close(ev[i * dim + half + j], sin(tv[i] * f), 1e-6, 0);
    }
  tu_check(emb && emb->shape[0] == n && emb->shape[1] == dim && bad == 0, "timestep embedding values (%d wrong)",
           bad);
  tu_check(emb && ev[0] == 1 && ev[half - 1] == 1 && ev[half] == 0 && ev[dim - 1] == 0,
           "timestep embedding at t = 0 is [1..1, 0..0]");
  tu_expect_error(ctx, mg_timestep_embedding(ctx, t, 7, period), "odd embedding dim", "even");

  int rows = 4, edim = 3;
  float *table_v = tu_random_floats(rows * edim, -1, 1);
  mg_tensor *table = tu_tensor(ctx, 2, (int[]){rows, edim}, table_v, false);
  int32_t lab[] = {3, 0, 3, 1, 2, 2};
  int nl = 6;
  mg_tensor *looked = mg_embedding(ctx, label_tensor(ctx, nl, lab), table);
  float *lv = tu_values(ctx, looked);
  bad = 0;
  for (int i = 0; looked && i < nl; i++)
    for (int d = 0; d < edim; d++) bad += lv[i * edim + d] != table_v[lab[i] * edim + d];
  tu_check(looked && looked->shape[0] == nl && looked->shape[1] == edim && bad == 0, "embedding rows (%d wrong)",
           bad);
  tu_ctx_ok(ctx, "embeddings");

  int32_t negative[] = {1, -1, 2}, too_big[] = {0, 4};
  tu_expect_error(ctx, mg_embedding(ctx, label_tensor(ctx, 3, negative), table), "embedding label -1", "label -1");
  tu_expect_error(ctx, mg_embedding(ctx, label_tensor(ctx, 2, too_big), table), "embedding label == rows", "label 4");
  free(tv), free(ev), free(table_v), free(lv);
}

/* ---- reductions and losses ---- */

static void test_losses(mg_ctx *ctx) {
  mg_step_begin(ctx);
  int64_t n = 10007;
  int shape[1] = {(int)n};
  float *av = tu_random_floats(n, -3, 3), *bv = tu_random_floats(n, -3, 3), *tv = tu_random_floats(n, 0, 1);
  mg_tensor *a = tu_tensor(ctx, 1, shape, av, false), *b = tu_tensor(ctx, 1, shape, bv, false);
  mg_tensor *t = tu_tensor(ctx, 1, shape, tv, false);
  double sum = 0, mse = 0, bce = 0, hinge_pos = 0, hinge_neg = 0;
  for (int64_t i = 0; i < n; i++) {
    double x = av[i], d = x - bv[i], s = 1 / (1 + exp(-x));
    sum += x;
    mse += d * d;
    bce += -(tv[i] * log(s) + (1 - tv[i]) * log(1 - s)); /* the textbook form, fine for |x| <= 3 */
    hinge_pos += x < 1 ? 1 - x : 0;
    hinge_neg += x > -1 ? 1 + x : 0;
  }
  double got;
  got = mg_tensor_item(ctx, mg_sum(ctx, a));
  tu_check(tu_close(got, sum, 1e-4, 1e-6), "sum %.9g, expected %.9g", got, sum);
  got = mg_tensor_item(ctx, mg_mean(ctx, a));
  tu_check(tu_close(got, sum / n, 1e-7, 1e-6), "mean %.9g, expected %.9g", got, sum / n);
  got = mg_tensor_item(ctx, mg_mse_loss(ctx, a, b));
  tu_check(tu_close(got, mse / n, 0, 1e-6), "mse %.9g, expected %.9g", got, mse / n);
  got = mg_tensor_item(ctx, mg_bce_logits_loss(ctx, a, t));
  tu_check(tu_close(got, bce / n, 0, 1e-6), "bce %.9g, expected %.9g", got, bce / n);
  got = mg_tensor_item(ctx, mg_hinge_loss(ctx, a, 1));
  tu_check(tu_close(got, hinge_pos / n, 0, 1e-6), "hinge +1 %.9g, expected %.9g", got, hinge_pos / n);
  got = mg_tensor_item(ctx, mg_hinge_loss(ctx, a, -1));
  tu_check(tu_close(got, hinge_neg / n, 0, 1e-6), "hinge -1 %.9g, expected %.9g", got, hinge_neg / n);
  tu_ctx_ok(ctx, "losses");

  /* BCE of huge logits: the naive form gives log(0) = -inf; the stable one gives |x| where the label is wrong and
   * ~0 where it is right. Gradients are (sigmoid(x) - t)/n: 1/n, -1/n, 1/n, -1/n, 0. */
  float big_x[] = {100, -100, 1e4f, -1e4f, 50}, big_t[] = {0, 1, 0, 1, 1};
  mg_tensor *bx = tu_tensor(ctx, 1, (int[]){5}, big_x, true), *bt = tu_tensor(ctx, 1, (int[]){5}, big_t, false);
  mg_tensor *big = mg_bce_logits_loss(ctx, bx, bt);
  got = mg_tensor_item(ctx, big);
  tu_check(isfinite(got) && tu_close(got, (100 + 100 + 1e4 + 1e4) / 5, 0, 1e-6), "bce of huge logits %.9g", got);
  mg_backward(ctx, big);
  float grad[5];
  mg_backend(ctx)->download(grad, bx->grad, sizeof grad);
  float want_grad[] = {0.2f, -0.2f, 0.2f, -0.2f, 0};
  for (int i = 0; i < 5; i++)
    tu_check(isfinite(grad[i]) && tu_close(grad[i], want_grad[i], 1e-7, 1e-6), "bce huge-logit gradient %d: %g", i,
             grad[i]);

  /* cross-entropy: equal logits give log(classes); random logits against a direct log-softmax; huge logits */
  mg_step_begin(ctx);
  int rows = 4, classes = 10;
  float *eq = malloc(sizeof(float) * rows * classes);
  for (int i = 0; i < rows * classes; i++) eq[i] = 3.7f;
  int32_t lab[] = {0, 9, 3, 3};
  mg_tensor *labels = label_tensor(ctx, rows, lab);
  got = mg_tensor_item(ctx, mg_cross_entropy_loss(ctx, tu_tensor(ctx, 2, (int[]){rows, classes}, eq, false), labels));
  tu_check(tu_close(got, log(classes), 0, 1e-6), "cross-entropy of equal logits %.9g, expected log(10)", got);

  float *lv = tu_random_floats(rows * classes, -5, 5);
  double ce = 0;
  for (int r = 0; r < rows; r++) {
    double z = 0;
    for (int c = 0; c < classes; c++) z += exp(lv[r * classes + c]);
    ce += log(z) - lv[r * classes + lab[r]];
  }
  got = mg_tensor_item(ctx, mg_cross_entropy_loss(ctx, tu_tensor(ctx, 2, (int[]){rows, classes}, lv, false), labels));
  tu_check(tu_close(got, ce / rows, 0, 1e-6), "cross-entropy %.9g, expected %.9g", got, ce / rows);

  float huge[] = {1000, 0, -1000, 1000, 0, -1000};
  int32_t huge_lab[] = {0, 1};
  got = mg_tensor_item(ctx, mg_cross_entropy_loss(ctx, tu_tensor(ctx, 2, (int[]){2, 3}, huge, false),
                                                  label_tensor(ctx, 2, huge_lab)));
  tu_check(isfinite(got) && tu_close(got, 500, 0, 1e-6), "cross-entropy of huge logits %.9g, expected 500", got);
  tu_ctx_ok(ctx, "cross-entropy");

  /* bad labels and shapes are errors */
  mg_tensor *logits = tu_tensor(ctx, 2, (int[]){rows, classes}, lv, false);
  int32_t out_of_range[] = {0, 1, 10, 2};
  tu_expect_error(ctx, mg_cross_entropy_loss(ctx, logits, label_tensor(ctx, rows, out_of_range)),
               "cross-entropy label == classes", "label 10");
  tu_expect_error(ctx, mg_cross_entropy_loss(ctx, logits, label_tensor(ctx, 3, lab)), "cross-entropy label count",
               "[4]");
  mg_tensor *shorter = tu_tensor(ctx, 1, (int[]){(int)n - 1}, bv, false);
  tu_expect_error(ctx, mg_mse_loss(ctx, a, shorter), "mse of different shapes", "same shape");
  tu_expect_error(ctx, mg_bce_logits_loss(ctx, a, shorter), "bce of different shapes", "same shape");
  tu_expect_error(ctx, mg_hinge_loss(ctx, a, 0.5), "hinge sign 0.5", "sign");
  free(av), free(bv), free(tv), free(eq), free(lv);
}

/* ---- determinism: 1 and 2 threads give the same bits ---- */

typedef struct {
  float loss;
  mg_real *grads[2]; /* float in this build */
} run_result;

typedef enum { SUM, MEAN, MSE, BCE, HINGE, CROSS_ENTROPY, EMBEDDING, TIMESTEP, N_KINDS } kind;
static const char *const kind_names[] = {"sum", "mean", "mse", "bce", "hinge", "cross-entropy", "embedding",
                                         "timestep embedding"};

/* One forward and backward of the loss of `k` on in[0..1]; returns the loss and copies of the input gradients. */
static run_result run_once(mg_ctx *ctx, kind k, mg_tensor **in) {
  mg_step_begin(ctx);
  for (int i = 0; i < 2; i++)
    if (in[i]->requires_grad && in[i]->grad)
      mg_backend(ctx)->fill_zero(in[i]->grad, (size_t)in[i]->numel * sizeof(mg_real));
  mg_tensor *loss = NULL;
  switch (k) {
    case SUM: loss = mg_sum(ctx, in[0]); break;
    case MEAN: loss = mg_mean(ctx, in[0]); break;
    case MSE: loss = mg_mse_loss(ctx, in[0], in[1]); break;
    case BCE: loss = mg_bce_logits_loss(ctx, in[0], in[1]); break;
    case HINGE: loss = mg_hinge_loss(ctx, in[0], -1); break;
    case CROSS_ENTROPY: loss = mg_cross_entropy_loss(ctx, in[0], in[1]); break;
    /* the embeddings' gradients are reductions too (over samples, over frequencies): sum a product to reach them */
    case EMBEDDING: loss = mg_sum(ctx, mg_tanh(ctx, mg_embedding(ctx, in[1], in[0]))); break;
    default: loss = mg_sum(ctx, mg_tanh(ctx, mg_timestep_embedding(ctx, in[0], 64, 10000))); break;
  }
  run_result r = {NAN, {NULL, NULL}};
  if (!loss || mg_backward(ctx, loss) != MG_OK) return r;
  r.loss = (float)mg_tensor_item(ctx, loss);
  for (int i = 0; i < 2; i++)
    if (in[i]->requires_grad && in[i]->grad) {
      r.grads[i] = malloc((size_t)in[i]->numel * sizeof(mg_real));
      mg_backend(ctx)->download(r.grads[i], in[i]->grad, (size_t)in[i]->numel * sizeof(mg_real));
    }
  return r;
}

static void test_thread_determinism(mg_ctx *ctx) {
  /* 1.3M elements = 318 chunks of 4096: more than one group of chunk partials */
  int64_t n = 1300000;
  int shape[1] = {(int)n};
  float *xv = tu_random_floats(n, -4, 4), *yv = tu_random_floats(n, 0, 1);
  /* Make the summation order visible in the float result: pairs +B, -B that cancel exactly when they meet in one
   * partial sum, but swallow the small values added between them otherwise. A partition of the sum that moved
   * with the thread count would change which pairs straddle a chunk boundary, and so the result. */
  for (int64_t i = 0; i < n; i += 97) xv[i] *= 1e5f;
  for (int64_t i = 0; i + 3000 < n; i += 9001) xv[i] = 1e17f, xv[i + 3000] = -1e17f;
  mg_tensor *x = tu_tensor(ctx, 1, shape, xv, true), *y = tu_tensor(ctx, 1, shape, yv, true);
  int rows = 10000, classes = 7; /* 3 chunks of rows */
  mg_tensor *logits = tu_random(ctx, 2, (int[]){rows, classes}, -6, 6, true);
  mg_tensor *labels = tu_labels(ctx, rows, classes);
  mg_tensor *table = tu_random(ctx, 2, (int[]){5, 200}, -1, 1, true);
  mg_tensor *many_labels = tu_labels(ctx, 3000, 5);
  mg_tensor *steps = tu_random(ctx, 1, (int[]){300}, 0, 1000, true);
  for (int k = 0; k < N_KINDS; k++) {
    mg_tensor *in[2] = {x, y};
    if (k == CROSS_ENTROPY) in[0] = logits, in[1] = labels;
    if (k == EMBEDDING) in[0] = table, in[1] = many_labels;
    if (k == TIMESTEP) in[0] = steps, in[1] = steps;
    mg_context_set_threads(ctx, 1);
    run_result one = run_once(ctx, k, in);
    mg_context_set_threads(ctx, 2);
    run_result two = run_once(ctx, k, in);
    tu_ctx_ok(ctx, kind_names[k]);
    tu_check(isfinite(one.loss) && memcmp(&one.loss, &two.loss, sizeof one.loss) == 0,
             "%s: loss %.9g with 1 thread, %.9g with 2", kind_names[k], one.loss, two.loss);
    for (int i = 0; i < 2; i++) {
      if (!one.grads[i] && !two.grads[i]) continue; /* an input this op does not use (sum, mean take one) */
      if (!tu_check(one.grads[i] && two.grads[i], "%s: input %d has a gradient with one thread count only",
                    kind_names[k], i)) {
        free(one.grads[i]), free(two.grads[i]);
        continue;
      }
      tu_check(memcmp(one.grads[i], two.grads[i], (size_t)in[i]->numel * sizeof(mg_real)) == 0,
               "%s: input %d gradient differs between 1 and 2 threads", kind_names[k], i);
      free(one.grads[i]), free(two.grads[i]);
    }
  }
  free(xv), free(yv);
}

int main(void) {
  mg_ctx *ctx = tu_ctx(2);
  tu_seed(41);
  test_resample(ctx);
  test_embeddings(ctx);
  test_losses(ctx);
  test_thread_determinism(ctx);
  mg_context_free(ctx);
  return tu_finish();
}
