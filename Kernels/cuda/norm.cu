/* norm.cu: group norm and batch norm on the GPU, the same arithmetic as ../cpu/norm.c (see there for the
 * backward's formula).
 *
 * One block normalizes one set S: a (sample, group) for group norm, a channel across the batch for batch norm.
 * Its threads stride over S, each adding a fixed subset in double, and mg_cuda_block_sum combines them in a fixed
 * tree, so the statistics are deterministic. They use the CPU's two-pass formula (mean first, then the squared
 * deviations). gamma and beta may be NULL (gamma = 1, beta = 0).
 */
#include "cuda_kernels.h"

static __device__ inline double gamma_at(const mg_real *gamma, int ch) { return gamma ? (double)gamma[ch] : 1.0; }
static __device__ inline double beta_at(const mg_real *beta, int ch) { return beta ? (double)beta[ch] : 0.0; }

/* Offset in x [n,c,hw] of element k of channel ch, counting sample by sample: k = s*hw + i. */
static __device__ inline int64_t channel_offset(int64_t k, int c, int ch, int hw) {
  const int64_t s = k / hw;
  return (s * c + ch) * hw + (k - s * hw);
}

/* ---- group norm: mean, rstd [n*groups]; a group's channels are contiguous, so S is one span of cpg*hw ---- */

/* One block per (sample, group). */
static __global__ void group_norm_forward_kernel(int c, int hw, int groups, mg_real eps, const mg_real *x,
                                                 const mg_real *gamma, const mg_real *beta, mg_real *y, mg_real *mean,
                                                 mg_real *rstd) {
  const int ng = blockIdx.x, cpg = c / groups, ch0 = (ng % groups) * cpg;
  const int64_t m = (int64_t)cpg * hw, base = (int64_t)ng * m;
  const mg_real *xg = x + base;
  double sum = 0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) sum += xg[i];
  const double mu = mg_cuda_block_sum(sum) / (double)m;
  double sq = 0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    double d = xg[i] - mu;
    sq += d * d;
  }
  const double rs = 1.0 / sqrt(mg_cuda_block_sum(sq) / (double)m + (double)eps);
  if (threadIdx.x == 0) {
    mean[ng] = (mg_real)mu;
    rstd[ng] = (mg_real)rs;
  }
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    const int ch = ch0 + (int)(i / hw);
    y[base + i] = (mg_real)((xg[i] - mu) * rs * gamma_at(gamma, ch) + beta_at(beta, ch));
  }
}

/* dx += ..., one block per (sample, group): the two sums over S first, then every element. */
static __global__ void group_norm_dx_kernel(int c, int hw, int groups, const mg_real *x, const mg_real *gamma,
                                            const mg_real *mean, const mg_real *rstd, const mg_real *dy, mg_real *dx) {
  const int ng = blockIdx.x, cpg = c / groups, ch0 = (ng % groups) * cpg;
  const int64_t m = (int64_t)cpg * hw, base = (int64_t)ng * m;
  const double mu = mean[ng], rs = rstd[ng];
  double sum_g = 0, sum_gx = 0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    const int64_t o = base + i;
    const double g = dy[o] * gamma_at(gamma, ch0 + (int)(i / hw));
    sum_g += g;
    sum_gx += g * (x[o] - mu) * rs;
  }
  const double mean_g = mg_cuda_block_sum(sum_g) / (double)m, mean_gx = mg_cuda_block_sum(sum_gx) / (double)m;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    const int64_t o = base + i;
    const double xhat = (x[o] - mu) * rs;
    dx[o] += (mg_real)(rs * (dy[o] * gamma_at(gamma, ch0 + (int)(i / hw)) - mean_g - xhat * mean_gx));
  }
}

/* dgamma, dbeta += ..., one block per channel over all samples (each sample has its own group statistics). */
static __global__ void group_norm_affine_kernel(int n, int c, int hw, int groups, const mg_real *x, const mg_real *mean,
                                                const mg_real *rstd, const mg_real *dy, mg_real *dgamma,
                                                mg_real *dbeta) {
  const int ch = blockIdx.x, group = ch / (c / groups);
  double sum_dy = 0, sum_dyx = 0;
  for (int64_t k = threadIdx.x; k < (int64_t)n * hw; k += blockDim.x) {
    const int ng = (int)(k / hw) * groups + group;
    const int64_t o = channel_offset(k, c, ch, hw);
    const double mu = mean[ng], rs = rstd[ng];
    sum_dy += dy[o];
    sum_dyx += dy[o] * (x[o] - mu) * rs;
  }
  sum_dy = mg_cuda_block_sum(sum_dy);
  sum_dyx = mg_cuda_block_sum(sum_dyx);
  if (threadIdx.x == 0) {
    if (dgamma) dgamma[ch] += (mg_real)sum_dyx;
    if (dbeta) dbeta[ch] += (mg_real)sum_dy;
  }
}

static void group_norm_forward(int n, int c, int hw, int groups, mg_real eps, const mg_real *x,
                               const mg_real *gamma, const mg_real *beta, mg_real *y, mg_real *mean,
                               mg_real *rstd) {
  if (n * groups <= 0) return;
  group_norm_forward_kernel<<<n * groups, MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(c, hw, groups, eps, x, gamma,
                                                                                    beta, y, mean, rstd);
  MG_CUDA_LAUNCHED("group_norm_forward");
}

static void group_norm_backward(int n, int c, int hw, int groups, const mg_real *x, const mg_real *gamma,
                                const mg_real *mean, const mg_real *rstd, const mg_real *dy, mg_real *dx,
                                mg_real *dgamma, mg_real *dbeta) {
  cudaStream_t st = mg_cuda()->stream;
  if (dx && n * groups > 0) {
    group_norm_dx_kernel<<<n * groups, MG_CUDA_THREADS, 0, st>>>(c, hw, groups, x, gamma, mean, rstd, dy, dx);
    MG_CUDA_LAUNCHED("group_norm_dx");
  }
  if ((dgamma || dbeta) && c > 0) {
    group_norm_affine_kernel<<<c, MG_CUDA_THREADS, 0, st>>>(n, c, hw, groups, x, mean, rstd, dy, dgamma, dbeta);
    MG_CUDA_LAUNCHED("group_norm_affine");
  }
}

/* ---- batch norm: mean, rstd [c]; one block per channel, S = the channel's n*hw elements ---- */

static __global__ void batch_norm_forward_train_kernel(int n, int c, int hw, mg_real eps, mg_real momentum,
                                                       const mg_real *x, const mg_real *gamma, const mg_real *beta,
                                                       mg_real *y, mg_real *mean, mg_real *rstd, mg_real *running_mean,
                                                       mg_real *running_var) {
  const int ch = blockIdx.x;
  const int64_t m = (int64_t)n * hw;
  double sum = 0;
  for (int64_t k = threadIdx.x; k < m; k += blockDim.x) sum += x[channel_offset(k, c, ch, hw)];
  const double mu = mg_cuda_block_sum(sum) / (double)m;
  double sq = 0;
  for (int64_t k = threadIdx.x; k < m; k += blockDim.x) {
    double d = x[channel_offset(k, c, ch, hw)] - mu;
    sq += d * d;
  }
  sq = mg_cuda_block_sum(sq);
  const double var = sq / (double)m; /* biased: what the batch is normalized with */
  const double rs = 1.0 / sqrt(var + (double)eps);
  if (threadIdx.x == 0) {
    mean[ch] = (mg_real)mu;
    rstd[ch] = (mg_real)rs;
    if (running_mean && running_var) {
      /* PyTorch tracks the unbiased variance (m > 1 is checked by the engine) */
      const double mom = momentum, unbiased = m > 1 ? sq / (double)(m - 1) : var;
      running_mean[ch] = (mg_real)((1.0 - mom) * running_mean[ch] + mom * mu);
      running_var[ch] = (mg_real)((1.0 - mom) * running_var[ch] + mom * unbiased);
    }
  }
  const double ga = gamma_at(gamma, ch), be = beta_at(beta, ch);
  for (int64_t k = threadIdx.x; k < m; k += blockDim.x) {
    const int64_t o = channel_offset(k, c, ch, hw);
    y[o] = (mg_real)((x[o] - mu) * rs * ga + be);
  }
}

static __global__ void batch_norm_forward_eval_kernel(int n, int c, int hw, mg_real eps, const mg_real *x,
                                                      const mg_real *gamma, const mg_real *beta,
                                                      const mg_real *running_mean, const mg_real *running_var,
                                                      mg_real *y, mg_real *rstd) {
  const int ch = blockIdx.x;
  const double mu = running_mean[ch], rs = 1.0 / sqrt((double)running_var[ch] + (double)eps);
  if (threadIdx.x == 0) rstd[ch] = (mg_real)rs;
  const double ga = gamma_at(gamma, ch), be = beta_at(beta, ch);
  for (int64_t k = threadIdx.x; k < (int64_t)n * hw; k += blockDim.x) {
    const int64_t o = channel_offset(k, c, ch, hw);
    y[o] = (mg_real)((x[o] - mu) * rs * ga + be);
  }
}

/* dgamma, dbeta, dx += ..., the channel's two sums first. */
static __global__ void batch_norm_backward_kernel(int n, int c, int hw, int training, const mg_real *x,
                                                  const mg_real *gamma, const mg_real *mean, const mg_real *rstd,
                                                  const mg_real *dy, mg_real *dx, mg_real *dgamma, mg_real *dbeta) {
  const int ch = blockIdx.x;
  const int64_t m = (int64_t)n * hw;
  const double mu = mean[ch], rs = rstd[ch], ga = gamma_at(gamma, ch);
  double sum_dy = 0, sum_dyx = 0;
  for (int64_t k = threadIdx.x; k < m; k += blockDim.x) {
    const int64_t o = channel_offset(k, c, ch, hw);
    sum_dy += dy[o];
    sum_dyx += dy[o] * (x[o] - mu) * rs;
  }
  sum_dy = mg_cuda_block_sum(sum_dy);
  sum_dyx = mg_cuda_block_sum(sum_dyx);
  if (threadIdx.x == 0) {
    if (dgamma) dgamma[ch] += (mg_real)sum_dyx;
    if (dbeta) dbeta[ch] += (mg_real)sum_dy;
  }
  if (!dx) return;
  /* eval mode: the statistics are constants, so only the direct path remains */
  const double mean_g = training ? ga * sum_dy / (double)m : 0.0;
  const double mean_gx = training ? ga * sum_dyx / (double)m : 0.0;
  for (int64_t k = threadIdx.x; k < m; k += blockDim.x) {
    const int64_t o = channel_offset(k, c, ch, hw);
    const double xhat = (x[o] - mu) * rs;
    dx[o] += (mg_real)(rs * (dy[o] * ga - mean_g - xhat * mean_gx));
  }
}

static void batch_norm_forward_train(int n, int c, int hw, mg_real eps, mg_real momentum, const mg_real *x,
                                     const mg_real *gamma, const mg_real *beta, mg_real *y, mg_real *mean,
                                     mg_real *rstd, mg_real *running_mean, mg_real *running_var) {
  if (c <= 0) return;
  batch_norm_forward_train_kernel<<<c, MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(
      n, c, hw, eps, momentum, x, gamma, beta, y, mean, rstd, running_mean, running_var);
  MG_CUDA_LAUNCHED("batch_norm_forward_train");
}

static void batch_norm_forward_eval(int n, int c, int hw, mg_real eps, const mg_real *x, const mg_real *gamma,
                                    const mg_real *beta, const mg_real *running_mean, const mg_real *running_var,
                                    mg_real *y, mg_real *rstd) {
  if (c <= 0) return;
  batch_norm_forward_eval_kernel<<<c, MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(n, c, hw, eps, x, gamma, beta,
                                                                               running_mean, running_var, y, rstd);
  MG_CUDA_LAUNCHED("batch_norm_forward_eval");
}

static void batch_norm_backward(int n, int c, int hw, int training, const mg_real *x, const mg_real *gamma,
                                const mg_real *mean, const mg_real *rstd, const mg_real *dy, mg_real *dx,
                                mg_real *dgamma, mg_real *dbeta) {
  if (c <= 0 || (!dx && !dgamma && !dbeta)) return;
  batch_norm_backward_kernel<<<c, MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(n, c, hw, training, x, gamma, mean,
                                                                           rstd, dy, dx, dgamma, dbeta);
  MG_CUDA_LAUNCHED("batch_norm_backward");
}

void mg_cuda_register_norm(mg_kernels *k) {
  k->group_norm_forward = group_norm_forward;
  k->group_norm_backward = group_norm_backward;
  k->batch_norm_forward_train = batch_norm_forward_train;
  k->batch_norm_forward_eval = batch_norm_forward_eval;
  k->batch_norm_backward = batch_norm_backward;
}
