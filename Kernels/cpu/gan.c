/* gan.c: the pieces GAN training adds on the CPU: spectral normalization of a weight, differentiable
 * augmentation of image batches (brightness, contrast, translation, cutout), and per-row sums.
 *
 * Every output element is written by one thread; sums run in double in a fixed order (the reductions over a
 * whole weight in fixed row blocks, block partials added in block order), so results do not depend on the
 * thread count. Nothing allocates: partials sit in a fixed-size stack array. */
#include "cpu_kernels.h"
#include "mg_augment_math.h"

#include <math.h>

/* Below this many elements a parallel region costs more than it saves; it never changes a result. */
#define PARALLEL_MIN_ELEMS ((int64_t)1 << 15)

/* ---- spectral norm: w [rows, cols] ---- */

#define COL_BLOCK 64     /* columns of w^T u one thread accumulates at once */
#define PARTIAL_GROUP 256 /* row-block partials held at once */

/* sum over rows r of weight[r] * (a[r, :] . b[r * b_row_stride + :]) (weight NULL: 1). Rows are cut into blocks of
 * about MG_CPU_REDUCE_CHUNK elements (a function of the shape only), each summed by one thread. */
static double weighted_row_dots(int rows, int cols, const mg_real *a, const mg_real *b, int64_t b_row_stride,
                                const mg_real *weight) {
  const int block = cols >= MG_CPU_REDUCE_CHUNK ? 1 : MG_CPU_REDUCE_CHUNK / cols;
  const int blocks = (rows + block - 1) / block;
  double total = 0;
  for (int g = 0; g < blocks; g += PARTIAL_GROUP) {
    const int count = blocks - g < PARTIAL_GROUP ? blocks - g : PARTIAL_GROUP;
    double partial[PARTIAL_GROUP];
#pragma omp parallel for schedule(static) if (count > 1 && (int64_t)rows * cols >= PARALLEL_MIN_ELEMS)
    for (int p = 0; p < count; p++) {
      const int r0 = (g + p) * block, r1 = r0 + block < rows ? r0 + block : rows;
      double s = 0;
      for (int r = r0; r < r1; r++) {
        const mg_real *ar = a + (int64_t)r * cols, *br = b + (int64_t)r * b_row_stride;
        double dot = 0;
        for (int j = 0; j < cols; j++) dot += (double)ar[j] * (double)br[j];
        s += weight ? (double)weight[r] * dot : dot;
      }
      partial[p] = s;
    }
    for (int p = 0; p < count; p++) total += partial[p];
  }
  return total;
}

/* a /= max(|a|, eps), as torch.nn.functional.normalize */
static void normalize(int n, mg_real eps, mg_real *a) {
  double sq = 0;
  for (int i = 0; i < n; i++) sq += (double)a[i] * (double)a[i];
  const double norm = fmax(sqrt(sq), (double)eps);
  for (int i = 0; i < n; i++) a[i] = (mg_real)((double)a[i] / norm);
}

/* v = w^T u: threads split the columns in blocks; each walks the rows in order (w is read row by row) */
static void transposed_matvec(int rows, int cols, const mg_real *w, const mg_real *u, mg_real *v) {
  const int blocks = (cols + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) if ((int64_t)rows * cols >= PARALLEL_MIN_ELEMS)
  for (int b = 0; b < blocks; b++) {
    const int j0 = b * COL_BLOCK, j1 = j0 + COL_BLOCK < cols ? j0 + COL_BLOCK : cols;
    double acc[COL_BLOCK] = {0};
    for (int i = 0; i < rows; i++) {
      const mg_real *row = w + (int64_t)i * cols;
      const double ui = u[i];
      for (int j = j0; j < j1; j++) acc[j - j0] += ui * (double)row[j];
    }
    for (int j = j0; j < j1; j++) v[j] = (mg_real)acc[j - j0];
  }
}

/* u = w v, one row per iteration */
static void matvec(int rows, int cols, const mg_real *w, const mg_real *v, mg_real *u) {
#pragma omp parallel for schedule(static) if ((int64_t)rows * cols >= PARALLEL_MIN_ELEMS)
  for (int i = 0; i < rows; i++) {
    const mg_real *row = w + (int64_t)i * cols;
    double dot = 0;
    for (int j = 0; j < cols; j++) dot += (double)row[j] * (double)v[j];
    u[i] = (mg_real)dot;
  }
}

static void spectral_norm_forward(int rows, int cols, int iterations, mg_real eps, const mg_real *w, mg_real *u,
                                  mg_real *v, mg_real *sigma, mg_real *y) {
  for (int it = 0; it < iterations; it++) {
    transposed_matvec(rows, cols, w, u, v);
    normalize(cols, eps, v);
    matvec(rows, cols, w, v, u);
    normalize(rows, eps, u);
  }
  const mg_real s = (mg_real)weighted_row_dots(rows, cols, w, v, 0, u); /* u . (w v) */
  sigma[0] = s;
  const int64_t n = (int64_t)rows * cols;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_ELEMS)
  for (int64_t i = 0; i < n; i++) y[i] = w[i] / s;
}

/* y = w / sigma with sigma = u^T w v (u, v constants): dw = dy / sigma - (sum(dy * w) / sigma^2) u v^T */
static void spectral_norm_backward(int rows, int cols, const mg_real *w, const mg_real *u, const mg_real *v,
                                   const mg_real *sigma, const mg_real *dy, mg_real *dw) {
  const double s = sigma[0];
  const double c = weighted_row_dots(rows, cols, dy, w, cols, NULL) / (s * s);
#pragma omp parallel for schedule(static) if ((int64_t)rows * cols >= PARALLEL_MIN_ELEMS)
  for (int i = 0; i < rows; i++) {
    const int64_t base = (int64_t)i * cols;
    const double cu = c * (double)u[i];
    for (int j = 0; j < cols; j++) dw[base + j] += (mg_real)((double)dy[base + j] / s - cu * (double)v[j]);
  }
}

/* ---- augmentation: x [n,c,h,w], params [n, MG_AUGMENT_PARAMS] ---- */

static void augment_forward(int n, int c, int h, int w, const mg_real *params, const mg_real *x, mg_real *y) {
  const int64_t image = (int64_t)c * h * w;
#pragma omp parallel for schedule(static) if (n > 1 && n * image >= PARALLEL_MIN_ELEMS)
  for (int s = 0; s < n; s++) {
    const mg_augment_image a = mg_augment_image_params(params + (int64_t)s * MG_AUGMENT_PARAMS, h, w);
    const mg_real *xs = x + s * image;
    mg_real *ys = y + s * image;
    double sum = 0;
    for (int64_t i = 0; i < image; i++) sum += xs[i];
    const double mean = sum / (double)image + a.brightness; /* the mean after brightness */
    for (int ch = 0; ch < c; ch++)
      for (int row = 0; row < h; row++)
        for (int col = 0; col < w; col++) {
          const int64_t o = ((int64_t)ch * h + row) * w + col;
          if (!mg_augment_kept(&a, h, w, row, col)) {
            ys[o] = 0;
            continue;
          }
          const double v = (double)xs[((int64_t)ch * h + row - a.shift_y) * w + col - a.shift_x] + a.brightness;
          ys[o] = (mg_real)((v - mean) * a.contrast + mean);
        }
  }
}

/* Cutout and translation route the gradient g back to the source pixels (0 where nothing reached the output).
 * Contrast z_i = (v_i - m) k + m with m = mean(v) over N values has dz_j/dv_i = k [i == j] + (1 - k) / N, so
 * dv = k g + (1 - k) mean(g); brightness passes it on unchanged. */
static void augment_backward(int n, int c, int h, int w, const mg_real *params, const mg_real *dy, mg_real *dx) {
  const int64_t image = (int64_t)c * h * w;
#pragma omp parallel for schedule(static) if (n > 1 && n * image >= PARALLEL_MIN_ELEMS)
  for (int s = 0; s < n; s++) {
    const mg_augment_image a = mg_augment_image_params(params + (int64_t)s * MG_AUGMENT_PARAMS, h, w);
    const mg_real *dys = dy + s * image;
    mg_real *dxs = dx + s * image;
    double sum = 0;
    for (int ch = 0; ch < c; ch++)
      for (int row = 0; row < h; row++)
        for (int col = 0; col < w; col++)
          if (mg_augment_kept(&a, h, w, row, col)) sum += dys[((int64_t)ch * h + row) * w + col];
    const double shared = (1 - a.contrast) * sum / (double)image;
    for (int ch = 0; ch < c; ch++)
      for (int row = 0; row < h; row++)
        for (int col = 0; col < w; col++) {
          const int out_row = row + a.shift_y, out_col = col + a.shift_x;
          const int reached = out_row >= 0 && out_row < h && out_col >= 0 && out_col < w &&
                              mg_augment_kept(&a, h, w, out_row, out_col);
          const double g = reached ? (double)dys[((int64_t)ch * h + out_row) * w + out_col] : 0;
          dxs[((int64_t)ch * h + row) * w + col] += (mg_real)(a.contrast * g + shared);
        }
  }
}

/* ---- row sums: x [rows, cols] -> y [rows] ---- */

static void row_sum_forward(int rows, int cols, const mg_real *x, mg_real *y) {
#pragma omp parallel for schedule(static) if ((int64_t)rows * cols >= PARALLEL_MIN_ELEMS)
  for (int r = 0; r < rows; r++) {
    const mg_real *xr = x + (int64_t)r * cols;
    double sum = 0;
    for (int j = 0; j < cols; j++) sum += xr[j];
    y[r] = (mg_real)sum;
  }
}

static void row_sum_backward(int rows, int cols, const mg_real *dy, mg_real *dx) {
#pragma omp parallel for schedule(static) if ((int64_t)rows * cols >= PARALLEL_MIN_ELEMS)
  for (int r = 0; r < rows; r++) {
    mg_real *dxr = dx + (int64_t)r * cols;
    const mg_real g = dy[r];
    for (int j = 0; j < cols; j++) dxr[j] += g;
  }
}

void mg_cpu_register_gan(mg_kernels *k) {
  k->spectral_norm_forward = spectral_norm_forward;
  k->spectral_norm_backward = spectral_norm_backward;
  k->augment_forward = augment_forward;
  k->augment_backward = augment_backward;
  k->row_sum_forward = row_sum_forward;
  k->row_sum_backward = row_sum_backward;
}
