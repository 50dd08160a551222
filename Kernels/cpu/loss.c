/* loss.c: sum and the training losses (MSE, BCE with logits, hinge, cross-entropy) on the CPU.
 *
 * Every forward is a deterministic reduction: the index range is cut into fixed chunks of MG_CPU_REDUCE_CHUNK,
 * each chunk is summed in double by one thread, and the chunk partials are added in chunk order. Partials are
 * kept in a fixed-size stack array, a group of chunks at a time, so the kernels allocate nothing. Losses are
 * means; the backward kernels read the upstream gradient from the device scalar dout. */
#include "cpu_kernels.h"
#include "mg_loss_math.h"

#include <math.h>

/* Sums one chunk [begin, end) of some per-index term. */
typedef double (*chunk_sum_fn)(int64_t begin, int64_t end, const void *args);

#define REDUCE_GROUP 256 /* chunks whose partials are held at once */

static double reduce(int64_t n, chunk_sum_fn chunk_sum, const void *args) {
  int64_t chunks = (n + MG_CPU_REDUCE_CHUNK - 1) / MG_CPU_REDUCE_CHUNK;
  double total = 0;
  for (int64_t g = 0; g < chunks; g += REDUCE_GROUP) {
    int count = chunks - g < REDUCE_GROUP ? (int)(chunks - g) : REDUCE_GROUP;
    double partial[REDUCE_GROUP];
#pragma omp parallel for schedule(static) if (count > 1)
    for (int c = 0; c < count; c++) {
      int64_t begin = (g + c) * MG_CPU_REDUCE_CHUNK;
      int64_t end = begin + MG_CPU_REDUCE_CHUNK < n ? begin + MG_CPU_REDUCE_CHUNK : n;
      partial[c] = chunk_sum(begin, end, args);
    }
    for (int c = 0; c < count; c++) total += partial[c];
  }
  return total;
}

/* The arrays a chunk function reads; which fields are used depends on the loss. */
typedef struct loss_args {
  const mg_real *a, *b;
  mg_real sign;
  int classes;
  const int32_t *labels;
  mg_real *probs;
} loss_args;

/* ---- sum: x [n] -> out = sum(x) ---- */
static double sum_chunk(int64_t begin, int64_t end, const void *args) {
  const loss_args *p = args;
  double s = 0;
  for (int64_t i = begin; i < end; i++) s += (double)p->a[i];
  return s;
}

static void sum_forward(int64_t n, const mg_real *x, mg_real *out) {
  loss_args args = {.a = x};
  *out = (mg_real)reduce(n, sum_chunk, &args);
}

/* dout scalar -> dx [n] += dout */
static void sum_backward(int64_t n, const mg_real *dout, mg_real *dx) {
  mg_real g = *dout;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) dx[i] += g;
}

/* ---- mse: a, b [n] -> out = mean((a-b)^2) ---- */
static double mse_chunk(int64_t begin, int64_t end, const void *args) {
  const loss_args *p = args;
  double s = 0;
  for (int64_t i = begin; i < end; i++) {
    double d = (double)p->a[i] - (double)p->b[i];
    s += d * d;
  }
  return s;
}

static void mse_forward(int64_t n, const mg_real *a, const mg_real *b, mg_real *out) {
  loss_args args = {.a = a, .b = b};
  *out = (mg_real)(reduce(n, mse_chunk, &args) / (double)n);
}

/* da [n] += 2(a-b)/n * dout, db [n] -= the same (either may be NULL) */
static void mse_backward(int64_t n, const mg_real *a, const mg_real *b, const mg_real *dout, mg_real *da,
                         mg_real *db) {
  mg_real g = (mg_real)(2.0 * (double)*dout / (double)n);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    mg_real d = g * (a[i] - b[i]);
    if (da) da[i] += d;
    if (db) db[i] -= d;
  }
}

/* ---- bce with logits: x, t [n] -> out = mean(max(x,0) - x*t + log(1+exp(-|x|))) ---- */
static double bce_chunk(int64_t begin, int64_t end, const void *args) {
  const loss_args *p = args;
  double s = 0;
  for (int64_t i = begin; i < end; i++) s += mg_bce_logits_term((double)p->a[i], (double)p->b[i]);
  return s;
}

static void bce_logits_forward(int64_t n, const mg_real *x, const mg_real *t, mg_real *out) {
  loss_args args = {.a = x, .b = t};
  *out = (mg_real)(reduce(n, bce_chunk, &args) / (double)n);
}

/* dx [n] += (sigmoid(x) - t)/n * dout, dt [n] += -x/n * dout (either may be NULL) */
static void bce_logits_backward(int64_t n, const mg_real *x, const mg_real *t, const mg_real *dout, mg_real *dx,
                                mg_real *dt) {
  mg_real g = (mg_real)((double)*dout / (double)n);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    if (dx) dx[i] += g * mg_bce_logits_dx(x[i], t[i]);
    if (dt) dt[i] -= g * x[i];
  }
}

/* ---- hinge: x [n] -> out = mean(relu(1 - sign*x)) ---- */
static double hinge_chunk(int64_t begin, int64_t end, const void *args) {
  const loss_args *p = args;
  double s = 0;
  for (int64_t i = begin; i < end; i++) s += mg_hinge_term((double)p->sign, (double)p->a[i]);
  return s;
}

static void hinge_forward(int64_t n, mg_real sign, const mg_real *x, mg_real *out) {
  loss_args args = {.a = x, .sign = sign};
  *out = (mg_real)(reduce(n, hinge_chunk, &args) / (double)n);
}

/* dx [n] += -sign/n * dout where 1 - sign*x > 0 */
static void hinge_backward(int64_t n, mg_real sign, const mg_real *x, const mg_real *dout, mg_real *dx) {
  mg_real g = (mg_real)((double)*dout / (double)n);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) dx[i] += g * mg_hinge_dx(sign, x[i]);
}

/* ---- cross-entropy: logits [rows,classes], labels [rows] -> out = mean(logsumexp(row) - row[label]) ----
 * The chunks run over rows. Each row is shifted by its max before exp (no overflow), and its softmax is stored
 * in probs for the backward. */
static double cross_entropy_chunk(int64_t begin, int64_t end, const void *args) {
  const loss_args *p = args;
  int classes = p->classes;
  double s = 0;
  for (int64_t r = begin; r < end; r++) {
    const mg_real *x = p->a + r * classes;
    mg_real *prob = p->probs + r * classes;
    double m = (double)x[0];
    for (int c = 1; c < classes; c++) m = (double)x[c] > m ? (double)x[c] : m;
    double z = 0;
    for (int c = 0; c < classes; c++) z += exp((double)x[c] - m);
    double lse = m + log(z);
    for (int c = 0; c < classes; c++) prob[c] = (mg_real)exp((double)x[c] - lse);
    s += lse - (double)x[p->labels[r]];
  }
  return s;
}

static void cross_entropy_forward(int rows, int classes, const mg_real *logits, const int32_t *labels,
                                  mg_real *out, mg_real *probs) {
  loss_args args = {.a = logits, .classes = classes, .labels = labels, .probs = probs};
  *out = (mg_real)(reduce(rows, cross_entropy_chunk, &args) / (double)rows);
}

/* dlogits [rows,classes] += (probs - onehot(label))/rows * dout */
static void cross_entropy_backward(int rows, int classes, const mg_real *probs, const int32_t *labels,
                                   const mg_real *dout, mg_real *dlogits) {
  mg_real g = (mg_real)((double)*dout / (double)rows);
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; r++) {
    const mg_real *prob = probs + (int64_t)r * classes;
    mg_real *d = dlogits + (int64_t)r * classes;
    for (int c = 0; c < classes; c++) d[c] += g * (prob[c] - (c == labels[r] ? 1 : 0));
  }
}

void mg_cpu_register_loss(mg_kernels *k) {
  k->sum_forward = sum_forward;
  k->sum_backward = sum_backward;
  k->mse_forward = mse_forward;
  k->mse_backward = mse_backward;
  k->bce_logits_forward = bce_logits_forward;
  k->bce_logits_backward = bce_logits_backward;
  k->hinge_forward = hinge_forward;
  k->hinge_backward = hinge_backward;
  k->cross_entropy_forward = cross_entropy_forward;
  k->cross_entropy_backward = cross_entropy_backward;
}
