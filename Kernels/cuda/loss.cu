/* loss.cu: sum and the training losses (MSE, BCE with logits, hinge, cross-entropy) on the GPU, the same
 * arithmetic as ../cpu/loss.c with the per-element math of mg_loss_math.h.
 *
 * Every forward is one deterministic mg_cuda_sum of a per-index term in double, scaled by 1/n for the means, and
 * overwrites out as the CPU does. The backward kernels read the upstream gradient from the device scalar dout
 * themselves (the host never waits for it) and accumulate. */
#include "cuda_kernels.h"
#include "mg_loss_math.h"

/* ---- per-index terms for mg_cuda_sum; file-local, so their kernel instantiations cannot merge with another
 * file's type of the same name ---- */
namespace {

struct sum_term {
  const mg_real *x;
  __device__ double operator()(int64_t i) const { return (double)x[i]; }
};

struct mse_term {
  const mg_real *a, *b;
  __device__ double operator()(int64_t i) const {
    double d = (double)a[i] - (double)b[i];
    return d * d;
  }
};

struct bce_logits_term {
  const mg_real *x, *t;
  __device__ double operator()(int64_t i) const { return mg_bce_logits_term((double)x[i], (double)t[i]); }
};

struct hinge_term {
  const mg_real *x;
  mg_real sign;
  __device__ double operator()(int64_t i) const { return mg_hinge_term((double)sign, (double)x[i]); }
};

/* Row r's loss logsumexp(row) - row[label]. As on the CPU, the term also stores the row's softmax in probs: the
 * sum calls it exactly once per row, so one thread does a row's max, exponentials and probabilities in order. */
struct cross_entropy_term {
  const mg_real *logits;
  const int32_t *labels;
  mg_real *probs;
  int classes;
  __device__ double operator()(int64_t r) const {
    const mg_real *x = logits + r * classes;
    mg_real *prob = probs + r * classes;
    double m = (double)x[0];
    for (int c = 1; c < classes; c++) m = (double)x[c] > m ? (double)x[c] : m;
    double z = 0;
    for (int c = 0; c < classes; c++) z += exp((double)x[c] - m);
    double lse = m + log(z);
    for (int c = 0; c < classes; c++) prob[c] = (mg_real)exp((double)x[c] - lse);
    return lse - (double)x[labels[r]];
  }
};
} // namespace

/* ---- forwards: out = sum, or the mean (n == 0 gives NaN, as 0/0 does on the CPU) ---- */

static void sum_forward(int64_t n, const mg_real *x, mg_real *out) { mg_cuda_sum(n, sum_term{x}, 1.0, 0, out); }

static void mse_forward(int64_t n, const mg_real *a, const mg_real *b, mg_real *out) {
  mg_cuda_sum(n, mse_term{a, b}, 1.0 / (double)n, 0, out);
}

static void bce_logits_forward(int64_t n, const mg_real *x, const mg_real *t, mg_real *out) {
  mg_cuda_sum(n, bce_logits_term{x, t}, 1.0 / (double)n, 0, out);
}

static void hinge_forward(int64_t n, mg_real sign, const mg_real *x, mg_real *out) {
  mg_cuda_sum(n, hinge_term{x, sign}, 1.0 / (double)n, 0, out);
}

static void cross_entropy_forward(int rows, int classes, const mg_real *logits, const int32_t *labels,
                                  mg_real *out, mg_real *probs) {
  mg_cuda_sum(rows, cross_entropy_term{logits, labels, probs, classes}, 1.0 / (double)rows, 0, out);
}

/* ---- backwards: one thread per element; g is formed from *dout exactly as the CPU forms it ---- */

/* dx [n] += dout */
static __global__ void sum_backward_kernel(int64_t n, const mg_real *dout, mg_real *dx) {
  const mg_real g = *dout;
  MG_CUDA_FOR(i, n) dx[i] += g;
}

/* da [n] += 2(a-b)/n * dout, db [n] -= the same (either may be NULL) */
static __global__ void mse_backward_kernel(int64_t n, const mg_real *a, const mg_real *b, const mg_real *dout,
                                           mg_real *da, mg_real *db) {
  const mg_real g = (mg_real)(2.0 * (double)*dout / (double)n);
  MG_CUDA_FOR(i, n) {
    mg_real d = g * (a[i] - b[i]);
    if (da) da[i] += d;
    if (db) db[i] -= d;
  }
}

/* dx [n] += (sigmoid(x) - t)/n * dout, dt [n] += -x/n * dout (either may be NULL) */
static __global__ void bce_logits_backward_kernel(int64_t n, const mg_real *x, const mg_real *t, const mg_real *dout,
                                                  mg_real *dx, mg_real *dt) {
  const mg_real g = (mg_real)((double)*dout / (double)n);
  MG_CUDA_FOR(i, n) {
    if (dx) dx[i] += g * mg_bce_logits_dx(x[i], t[i]);
    if (dt) dt[i] -= g * x[i];
  }
}

/* dx [n] += -sign/n * dout where 1 - sign*x > 0 */
static __global__ void hinge_backward_kernel(int64_t n, mg_real sign, const mg_real *x, const mg_real *dout,
                                             mg_real *dx) {
  const mg_real g = (mg_real)((double)*dout / (double)n);
  MG_CUDA_FOR(i, n) dx[i] += g * mg_hinge_dx(sign, x[i]);
}

/* dlogits [rows,classes] += (probs - onehot(label))/rows * dout */
static __global__ void cross_entropy_backward_kernel(int rows, int classes, const mg_real *probs, const int32_t *labels,
                                                     const mg_real *dout, mg_real *dlogits) {
  const mg_real g = (mg_real)((double)*dout / (double)rows);
  MG_CUDA_FOR(i, (int64_t)rows * classes) {
    const int64_t r = i / classes;
    const int c = (int)(i - r * classes);
    dlogits[i] += g * (probs[i] - (c == labels[r] ? 1 : 0));
  }
}

static void sum_backward(int64_t n, const mg_real *dout, mg_real *dx) {
  if (n <= 0 || !dx) return;
  sum_backward_kernel<<<mg_cuda_blocks(n), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(n, dout, dx);
  MG_CUDA_LAUNCHED("sum_backward");
}

static void mse_backward(int64_t n, const mg_real *a, const mg_real *b, const mg_real *dout, mg_real *da,
                         mg_real *db) {
  if (n <= 0 || (!da && !db)) return;
  mse_backward_kernel<<<mg_cuda_blocks(n), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(n, a, b, dout, da, db);
  MG_CUDA_LAUNCHED("mse_backward");
}

static void bce_logits_backward(int64_t n, const mg_real *x, const mg_real *t, const mg_real *dout, mg_real *dx,
                                mg_real *dt) {
  if (n <= 0 || (!dx && !dt)) return;
  bce_logits_backward_kernel<<<mg_cuda_blocks(n), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(n, x, t, dout, dx, dt);
  MG_CUDA_LAUNCHED("bce_logits_backward");
}

static void hinge_backward(int64_t n, mg_real sign, const mg_real *x, const mg_real *dout, mg_real *dx) {
  if (n <= 0 || !dx) return;
  hinge_backward_kernel<<<mg_cuda_blocks(n), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(n, sign, x, dout, dx);
  MG_CUDA_LAUNCHED("hinge_backward");
}

static void cross_entropy_backward(int rows, int classes, const mg_real *probs, const int32_t *labels,
                                   const mg_real *dout, mg_real *dlogits) {
  const int64_t n = (int64_t)rows * classes;
  if (n <= 0 || !dlogits) return;
  cross_entropy_backward_kernel<<<mg_cuda_blocks(n), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(rows, classes, probs,
                                                                                               labels, dout, dlogits);
  MG_CUDA_LAUNCHED("cross_entropy_backward");
}

void mg_cuda_register_loss(mg_kernels *k) {
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
