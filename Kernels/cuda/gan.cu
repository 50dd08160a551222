/* gan.cu: the pieces GAN training adds, on the GPU: spectral normalization of a weight, differentiable augmentation
 * of image batches (brightness, contrast, translation, cutout), and per-row sums. The same sequence of steps as
 * ../cpu/gan.c, with its double accumulation; sums over many values are block sums in a fixed tree, so results are
 * deterministic and agree with the CPU's to the rounding of the double sums. Scalars that later steps need (sigma,
 * a weight's dot product with its gradient) stay on the device: nothing here waits for the GPU. */
#include "cuda_kernels.h"
#include "mg_augment_math.h"

/* ---- spectral norm: w [rows, cols] ---- */

/* v = w^T u: one thread per column, walking the rows in order (neighbouring threads read neighbouring values) */
static __global__ void transposed_matvec_kernel(int rows, int cols, const mg_real *w, const mg_real *u, mg_real *v) {
  MG_CUDA_FOR(j, cols) {
    double acc = 0;
    for (int i = 0; i < rows; i++) acc += (double)u[i] * (double)w[(int64_t)i * cols + j];
    v[j] = (mg_real)acc;
  }
}

/* u = w v: one block per row */
static __global__ void matvec_kernel(int rows, int cols, const mg_real *w, const mg_real *v, mg_real *u) {
  for (int i = blockIdx.x; i < rows; i += gridDim.x) { /* the same trip count for the whole block */
    const mg_real *row = w + (int64_t)i * cols;
    double dot = 0;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) dot += (double)row[j] * (double)v[j];
    dot = mg_cuda_block_sum(dot);
    if (threadIdx.x == 0) u[i] = (mg_real)dot;
  }
}

/* a /= max(|a|, eps), as torch.nn.functional.normalize; one block (u and v are a weight's rows or columns) */
static __global__ void normalize_kernel(int n, mg_real eps, mg_real *a) {
  double sq = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) sq += (double)a[i] * (double)a[i];
  const double norm = fmax(sqrt(mg_cuda_block_sum(sq)), (double)eps); /* every read is done before any write */
  for (int i = threadIdx.x; i < n; i += blockDim.x) a[i] = (mg_real)((double)a[i] / norm);
}

/* First pass of sum over rows r of weight[r] * (a[r, :] . b[r * b_row_stride + :]) (weight NULL: 1): block g sums
 * rows g, g + gridDim.x, ... in order into partials[g]; mg_cuda_finish_sum adds the partials. The grid is fixed by
 * rows, so the result is too. */
static __global__ void weighted_row_dots_kernel(int rows, int cols, const mg_real *a, const mg_real *b,
                                                int64_t b_row_stride, const mg_real *weight, double *partials) {
  double total = 0;
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    const mg_real *ar = a + (int64_t)r * cols, *br = b + (int64_t)r * b_row_stride;
    double dot = 0;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) dot += (double)ar[j] * (double)br[j];
    dot = mg_cuda_block_sum(dot);
    total += weight ? (double)weight[r] * dot : dot;
  }
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

/* Queues the first pass into mg_cuda()->partials (the scratch of mg_cuda_sum's first pass, free between calls on
 * this thread's stream) and returns how many partials it wrote. */
static int weighted_row_dots(int rows, int cols, const mg_real *a, const mg_real *b, int64_t b_row_stride,
                             const mg_real *weight) {
  mg_cuda_state *s = mg_cuda();
  const int parts = rows < MG_CUDA_MAX_PARTIALS ? rows : MG_CUDA_MAX_PARTIALS;
  weighted_row_dots_kernel<<<parts, MG_CUDA_THREADS, 0, s->stream>>>(rows, cols, a, b, b_row_stride, weight,
                                                                     s->partials);
  MG_CUDA_LAUNCHED("weighted_row_dots");
  return parts;
}

static __global__ void divide_by_sigma_kernel(int64_t n, const mg_real *w, const mg_real *sigma, mg_real *y) {
  const mg_real s = sigma[0];
  MG_CUDA_FOR(i, n) y[i] = w[i] / s;
}

static void spectral_norm_forward(int rows, int cols, int iterations, mg_real eps, const mg_real *w, mg_real *u,
                                  mg_real *v, mg_real *sigma, mg_real *y) {
  if (rows <= 0 || cols <= 0) return; /* the engine's tensors have no empty dims */
  mg_cuda_state *s = mg_cuda();
  const int row_blocks = rows < MG_CUDA_MAX_BLOCKS ? rows : MG_CUDA_MAX_BLOCKS;
  for (int it = 0; it < iterations; it++) {
    transposed_matvec_kernel<<<mg_cuda_blocks(cols), MG_CUDA_THREADS, 0, s->stream>>>(rows, cols, w, u, v);
    MG_CUDA_LAUNCHED("spectral_norm transposed_matvec");
    normalize_kernel<<<1, MG_CUDA_THREADS, 0, s->stream>>>(cols, eps, v);
    MG_CUDA_LAUNCHED("spectral_norm normalize v");
    matvec_kernel<<<row_blocks, MG_CUDA_THREADS, 0, s->stream>>>(rows, cols, w, v, u);
    MG_CUDA_LAUNCHED("spectral_norm matvec");
    normalize_kernel<<<1, MG_CUDA_THREADS, 0, s->stream>>>(rows, eps, u);
    MG_CUDA_LAUNCHED("spectral_norm normalize u");
  }
  const int parts = weighted_row_dots(rows, cols, w, v, 0, u); /* u . (w v) */
  mg_cuda_finish_sum<<<1, MG_CUDA_THREADS, 0, s->stream>>>(parts, s->partials, 1.0, 0, sigma);
  MG_CUDA_LAUNCHED("spectral_norm sigma");
  const int64_t n = (int64_t)rows * cols;
  divide_by_sigma_kernel<<<mg_cuda_blocks(n), MG_CUDA_THREADS, 0, s->stream>>>(n, w, sigma, y);
  MG_CUDA_LAUNCHED("spectral_norm divide");
}

/* dw += dy / sigma - c u v^T with c = sum(dy * w) / sigma^2, the sum kept in double at dy_dot_w */
static __global__ void spectral_norm_backward_kernel(int rows, int cols, const mg_real *u, const mg_real *v,
                                                     const mg_real *sigma, const double *dy_dot_w, const mg_real *dy,
                                                     mg_real *dw) {
  const double s = sigma[0];
  const double c = dy_dot_w[0] / (s * s);
  MG_CUDA_FOR(k, (int64_t)rows * cols) {
    const int64_t i = k / cols, j = k % cols;
    const double cu = c * (double)u[i];
    dw[k] += (mg_real)((double)dy[k] / s - cu * (double)v[j]);
  }
}

static void spectral_norm_backward(int rows, int cols, const mg_real *w, const mg_real *u, const mg_real *v,
                                   const mg_real *sigma, const mg_real *dy, mg_real *dw) {
  if (rows <= 0 || cols <= 0) return;
  mg_cuda_state *s = mg_cuda();
  const int parts = weighted_row_dots(rows, cols, dy, w, cols, NULL);
  /* the total replaces partials[0], in double as on the CPU: the block reads every partial before it writes */
  mg_cuda_finish_sum<<<1, MG_CUDA_THREADS, 0, s->stream>>>(parts, s->partials, 1.0, 0, s->partials);
  MG_CUDA_LAUNCHED("spectral_norm_backward sum");
  const int64_t n = (int64_t)rows * cols;
  spectral_norm_backward_kernel<<<mg_cuda_blocks(n), MG_CUDA_THREADS, 0, s->stream>>>(rows, cols, u, v, sigma,
                                                                                      s->partials, dy, dw);
  MG_CUDA_LAUNCHED("spectral_norm_backward");
}

/* ---- augmentation: x [n,c,h,w], params [n, MG_AUGMENT_PARAMS] on the device ---- */

/* One block per image: the image's mean needs all of it before any output is written. */
static __global__ void augment_forward_kernel(int n, int c, int h, int w, const mg_real *params, const mg_real *x,
                                              mg_real *y) {
  const int64_t image = (int64_t)c * h * w, plane = (int64_t)h * w;
  for (int s = blockIdx.x; s < n; s += gridDim.x) {
    const mg_augment_image a = mg_augment_image_params(params + (int64_t)s * MG_AUGMENT_PARAMS, h, w);
    const mg_real *xs = x + s * image;
    mg_real *ys = y + s * image;
    double sum = 0;
    for (int64_t i = threadIdx.x; i < image; i += blockDim.x) sum += xs[i];
    const double mean = mg_cuda_block_sum(sum) / (double)image + a.brightness; /* the mean after brightness */
    for (int64_t o = threadIdx.x; o < image; o += blockDim.x) {
      const int ch = (int)(o / plane), row = (int)(o % plane / w), col = (int)(o % w);
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
 * dv = k g + (1 - k) mean(g), mean(g) over the whole image's routed gradient; brightness passes it on unchanged.
 * One block per image, for that mean. */
static __global__ void augment_backward_kernel(int n, int c, int h, int w, const mg_real *params, const mg_real *dy,
                                               mg_real *dx) {
  const int64_t image = (int64_t)c * h * w, plane = (int64_t)h * w;
  for (int s = blockIdx.x; s < n; s += gridDim.x) {
    const mg_augment_image a = mg_augment_image_params(params + (int64_t)s * MG_AUGMENT_PARAMS, h, w);
    const mg_real *dys = dy + s * image;
    mg_real *dxs = dx + s * image;
    double sum = 0;
    for (int64_t o = threadIdx.x; o < image; o += blockDim.x) {
      const int row = (int)(o % plane / w), col = (int)(o % w);
      if (mg_augment_kept(&a, h, w, row, col)) sum += dys[o];
    }
    const double shared = (1 - a.contrast) * mg_cuda_block_sum(sum) / (double)image;
    for (int64_t i = threadIdx.x; i < image; i += blockDim.x) {
      const int ch = (int)(i / plane), row = (int)(i % plane / w), col = (int)(i % w);
      const int out_row = row + a.shift_y, out_col = col + a.shift_x;
      const bool reached =
          out_row >= 0 && out_row < h && out_col >= 0 && out_col < w && mg_augment_kept(&a, h, w, out_row, out_col);
      const double g = reached ? (double)dys[((int64_t)ch * h + out_row) * w + out_col] : 0;
      dxs[i] += (mg_real)(a.contrast * g + shared);
    }
  }
}

static void augment_forward(int n, int c, int h, int w, const mg_real *params, const mg_real *x, mg_real *y) {
  if (n <= 0 || (int64_t)c * h * w <= 0) return;
  const int blocks = n < MG_CUDA_MAX_BLOCKS ? n : MG_CUDA_MAX_BLOCKS;
  augment_forward_kernel<<<blocks, MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(n, c, h, w, params, x, y);
  MG_CUDA_LAUNCHED("augment_forward");
}

static void augment_backward(int n, int c, int h, int w, const mg_real *params, const mg_real *dy, mg_real *dx) {
  if (n <= 0 || (int64_t)c * h * w <= 0) return;
  const int blocks = n < MG_CUDA_MAX_BLOCKS ? n : MG_CUDA_MAX_BLOCKS;
  augment_backward_kernel<<<blocks, MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(n, c, h, w, params, dy, dx);
  MG_CUDA_LAUNCHED("augment_backward");
}

/* ---- row sums: x [rows, cols] -> y [rows] ---- */

/* one block per row */
static __global__ void row_sum_forward_kernel(int rows, int cols, const mg_real *x, mg_real *y) {
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    const mg_real *xr = x + (int64_t)r * cols;
    double sum = 0;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) sum += xr[j];
    sum = mg_cuda_block_sum(sum);
    if (threadIdx.x == 0) y[r] = (mg_real)sum;
  }
}

static __global__ void row_sum_backward_kernel(int rows, int cols, const mg_real *dy, mg_real *dx) {
  MG_CUDA_FOR(k, (int64_t)rows * cols) dx[k] += dy[k / cols];
}

static void row_sum_forward(int rows, int cols, const mg_real *x, mg_real *y) {
  if (rows <= 0) return;
  const int blocks = rows < MG_CUDA_MAX_BLOCKS ? rows : MG_CUDA_MAX_BLOCKS;
  row_sum_forward_kernel<<<blocks, MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(rows, cols, x, y);
  MG_CUDA_LAUNCHED("row_sum_forward");
}

static void row_sum_backward(int rows, int cols, const mg_real *dy, mg_real *dx) {
  const int64_t n = (int64_t)rows * cols;
  if (n <= 0) return;
  row_sum_backward_kernel<<<mg_cuda_blocks(n), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(rows, cols, dy, dx);
  MG_CUDA_LAUNCHED("row_sum_backward");
}

void mg_cuda_register_gan(mg_kernels *k) {
  k->spectral_norm_forward = spectral_norm_forward;
  k->spectral_norm_backward = spectral_norm_backward;
  k->augment_forward = augment_forward;
  k->augment_backward = augment_backward;
  k->row_sum_forward = row_sum_forward;
  k->row_sum_backward = row_sum_backward;
}
