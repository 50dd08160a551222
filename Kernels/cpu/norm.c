/* norm.c: group norm and batch norm on the CPU.
 *
 * Both normalize x [n,c,hw] over a set of elements S: one (sample, group) for group norm, one channel across the
 * batch for batch norm. Statistics are accumulated in double with the two-pass formula (mean first, then the
 * squared deviations), which stays accurate when |mean| >> std. Each statistic is summed by one thread in a
 * fixed order, so results do not depend on the thread count.
 *
 * The backward of y = xhat*gamma + beta with xhat = (x - mean)*rstd, through the statistics of S (|S| = m):
 *   g = dy*gamma,  dx = rstd * (g - sum_S(g)/m - xhat * sum_S(g*xhat)/m)
 *   dgamma[c] = sum(dy*xhat),  dbeta[c] = sum(dy)   (over every element of channel c)
 * gamma and beta may be NULL (no affine transform: gamma = 1, beta = 0).
 */
#include "cpu_kernels.h"

#include <math.h>

static double gamma_at(const mg_real *gamma, int ch) { return gamma ? (double)gamma[ch] : 1.0; }
static double beta_at(const mg_real *beta, int ch) { return beta ? (double)beta[ch] : 0.0; }

/* ---- group norm: mean, rstd [n*groups] ---- */

static void group_norm_forward(int n, int c, int hw, int groups, mg_real eps, const mg_real *x,
                               const mg_real *gamma, const mg_real *beta, mg_real *y, mg_real *mean,
                               mg_real *rstd) {
  /* x, y are (n, c, hw); mean, rstd are (n, groups); the channels of one group are contiguous in memory */
  const int cpg = c / groups;
  const int64_t m = (int64_t)cpg * hw;
#pragma omp parallel for schedule(static)
  for (int ng = 0; ng < n * groups; ng++) {
    const int64_t base = (int64_t)ng * m;
    const mg_real *xg = x + base;
    double sum = 0;
    for (int64_t i = 0; i < m; i++) sum += xg[i];
    const double mu = sum / (double)m;
    double sq = 0;
    for (int64_t i = 0; i < m; i++) {
      double d = xg[i] - mu;
      sq += d * d;
    }
    const double rs = 1.0 / sqrt(sq / (double)m + (double)eps);
    mean[ng] = (mg_real)mu;
    rstd[ng] = (mg_real)rs;
    const int ch0 = (ng % groups) * cpg;
    for (int j = 0; j < cpg; j++) {
      const double ga = gamma_at(gamma, ch0 + j), be = beta_at(beta, ch0 + j);
      const mg_real *xc = xg + (int64_t)j * hw;
      mg_real *yc = y + base + (int64_t)j * hw;
      for (int i = 0; i < hw; i++) yc[i] = (mg_real)((xc[i] - mu) * rs * ga + be);
    }
  }
}

static void group_norm_backward(int n, int c, int hw, int groups, const mg_real *x, const mg_real *gamma,
                                const mg_real *mean, const mg_real *rstd, const mg_real *dy, mg_real *dx,
                                mg_real *dgamma, mg_real *dbeta) {
  /* x, dy, dx are (n, c, hw); mean, rstd are (n, groups); gamma, dgamma, dbeta are (c) */
  const int cpg = c / groups;
  const int64_t m = (int64_t)cpg * hw;
  if (dx) {
#pragma omp parallel for schedule(static)
    for (int ng = 0; ng < n * groups; ng++) {
      const int64_t base = (int64_t)ng * m;
      const double mu = mean[ng], rs = rstd[ng];
      const int ch0 = (ng % groups) * cpg;
      double sum_g = 0, sum_gx = 0;
      for (int j = 0; j < cpg; j++) {
        const double ga = gamma_at(gamma, ch0 + j);
        for (int i = 0; i < hw; i++) {
          const int64_t o = base + (int64_t)j * hw + i;
          const double g = dy[o] * ga;
          sum_g += g;
          sum_gx += g * (x[o] - mu) * rs;
        }
      }
      const double mean_g = sum_g / (double)m, mean_gx = sum_gx / (double)m;
      for (int j = 0; j < cpg; j++) {
        const double ga = gamma_at(gamma, ch0 + j);
        for (int i = 0; i < hw; i++) {
          const int64_t o = base + (int64_t)j * hw + i;
          const double xhat = (x[o] - mu) * rs;
          dx[o] += (mg_real)(rs * (dy[o] * ga - mean_g - xhat * mean_gx));
        }
      }
    }
  }
  if (dgamma || dbeta) {
    /* one thread per channel, samples summed in order */
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
      double sum_dy = 0, sum_dyx = 0;
      for (int s = 0; s < n; s++) {
        const int ng = s * groups + ch / cpg;
        const double mu = mean[ng], rs = rstd[ng];
        const int64_t base = ((int64_t)s * c + ch) * hw;
        for (int i = 0; i < hw; i++) {
          sum_dy += dy[base + i];
          sum_dyx += dy[base + i] * (x[base + i] - mu) * rs;
        }
      }
      if (dgamma) dgamma[ch] += (mg_real)sum_dyx;
      if (dbeta) dbeta[ch] += (mg_real)sum_dy;
    }
  }
}

/* ---- batch norm: mean, rstd [c] ---- */

static void batch_norm_forward_train(int n, int c, int hw, mg_real eps, mg_real momentum, const mg_real *x,
                                     const mg_real *gamma, const mg_real *beta, mg_real *y, mg_real *mean,
                                     mg_real *rstd, mg_real *running_mean, mg_real *running_var) {
  /* x, y are (n, c, hw); mean, rstd, running_mean, running_var are (c); running stats may be NULL (not tracked) */
  const int64_t m = (int64_t)n * hw;
#pragma omp parallel for schedule(static)
  for (int ch = 0; ch < c; ch++) {
    double sum = 0;
    for (int s = 0; s < n; s++) {
      const mg_real *xc = x + ((int64_t)s * c + ch) * hw;
      for (int i = 0; i < hw; i++) sum += xc[i];
    }
    const double mu = sum / (double)m;
    double sq = 0;
    for (int s = 0; s < n; s++) {
      const mg_real *xc = x + ((int64_t)s * c + ch) * hw;
      for (int i = 0; i < hw; i++) {
        double d = xc[i] - mu;
        sq += d * d;
      }
    }
    const double var = sq / (double)m; /* biased: what the batch is normalized with */
    const double rs = 1.0 / sqrt(var + (double)eps);
    mean[ch] = (mg_real)mu;
    rstd[ch] = (mg_real)rs;
    if (running_mean && running_var) {
      /* PyTorch tracks the unbiased variance (m > 1 is checked by the engine) */
      const double mom = momentum, unbiased = m > 1 ? sq / (double)(m - 1) : var;
      running_mean[ch] = (mg_real)((1.0 - mom) * running_mean[ch] + mom * mu);
      running_var[ch] = (mg_real)((1.0 - mom) * running_var[ch] + mom * unbiased);
    }
    const double ga = gamma_at(gamma, ch), be = beta_at(beta, ch);
    for (int s = 0; s < n; s++) {
      const int64_t base = ((int64_t)s * c + ch) * hw;
      for (int i = 0; i < hw; i++) y[base + i] = (mg_real)((x[base + i] - mu) * rs * ga + be);
    }
  }
}

static void batch_norm_forward_eval(int n, int c, int hw, mg_real eps, const mg_real *x, const mg_real *gamma,
                                    const mg_real *beta, const mg_real *running_mean, const mg_real *running_var,
                                    mg_real *y, mg_real *rstd) {
  /* x, y are (n, c, hw); running_mean, running_var, rstd are (c) */
#pragma omp parallel for schedule(static)
  for (int ch = 0; ch < c; ch++) {
    const double mu = running_mean[ch], rs = 1.0 / sqrt((double)running_var[ch] + (double)eps);
    rstd[ch] = (mg_real)rs;
    const double ga = gamma_at(gamma, ch), be = beta_at(beta, ch);
    for (int s = 0; s < n; s++) {
      const int64_t base = ((int64_t)s * c + ch) * hw;
      for (int i = 0; i < hw; i++) y[base + i] = (mg_real)((x[base + i] - mu) * rs * ga + be);
    }
  }
}

static void batch_norm_backward(int n, int c, int hw, int training, const mg_real *x, const mg_real *gamma,
                                const mg_real *mean, const mg_real *rstd, const mg_real *dy, mg_real *dx,
                                mg_real *dgamma, mg_real *dbeta) {
  /* x, dy, dx are (n, c, hw); mean, rstd, gamma, dgamma, dbeta are (c). In eval mode mean is the running mean. */
  const int64_t m = (int64_t)n * hw;
#pragma omp parallel for schedule(static)
  for (int ch = 0; ch < c; ch++) {
    const double mu = mean[ch], rs = rstd[ch], ga = gamma_at(gamma, ch);
    double sum_dy = 0, sum_dyx = 0;
    for (int s = 0; s < n; s++) {
      const int64_t base = ((int64_t)s * c + ch) * hw;
      for (int i = 0; i < hw; i++) {
        sum_dy += dy[base + i];
        sum_dyx += dy[base + i] * (x[base + i] - mu) * rs;
      }
    }
    if (dgamma) dgamma[ch] += (mg_real)sum_dyx;
    if (dbeta) dbeta[ch] += (mg_real)sum_dy;
    if (!dx) continue;
    /* eval mode: the statistics are constants, so only the direct path remains */
    const double mean_g = training ? ga * sum_dy / (double)m : 0.0;
    const double mean_gx = training ? ga * sum_dyx / (double)m : 0.0;
    for (int s = 0; s < n; s++) {
      const int64_t base = ((int64_t)s * c + ch) * hw;
      for (int i = 0; i < hw; i++) {
        const double xhat = (x[base + i] - mu) * rs;
        dx[base + i] += (mg_real)(rs * (dy[base + i] * ga - mean_g - xhat * mean_gx));
      }
    }
  }
}

void mg_cpu_register_norm(mg_kernels *k) {
  k->group_norm_forward = group_norm_forward;
  k->group_norm_backward = group_norm_backward;
  k->batch_norm_forward_train = batch_norm_forward_train;
  k->batch_norm_forward_eval = batch_norm_forward_eval;
  k->batch_norm_backward = batch_norm_backward;
}
