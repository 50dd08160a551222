/* embedding.cu: the sinusoidal timestep embedding of diffusion models and the label (class) embedding lookup on
 * the GPU. The arithmetic is the CPU's (../cpu/embedding.c): frequencies from mg_timestep_frequency, products, sin
 * and cos in double, rounded once. */
#include "cuda_kernels.h"
#include "mg_loss_math.h"

#include <math.h>

/* t [n] -> y [n,dim]: y[i,j] = cos(t_i f_j), y[i,half+j] = sin(t_i f_j), j < half = dim/2; one thread per (i, j) */
static __global__ void timestep_embedding_forward_kernel(int n, int dim, mg_real max_period, const mg_real *t, mg_real *y) {
  const int half = dim / 2;
  MG_CUDA_FOR(ij, (int64_t)n * half) {
    const int64_t i = ij / half;
    const int j = (int)(ij % half);
    double arg = (double)t[i] * mg_timestep_frequency(j, half, (double)max_period);
    y[i * dim + j] = (mg_real)cos(arg);
    y[i * dim + half + j] = (mg_real)sin(arg);
  }
}

/* dy [n,dim] -> dt [n] += sum_j f_j * (-sin(t f_j) dy[i,j] + cos(t f_j) dy[i,half+j]); one thread per sample,
 * summed over j in order in double, as on the CPU */
static __global__ void timestep_embedding_backward_kernel(int n, int dim, mg_real max_period, const mg_real *t,
                                                   const mg_real *dy, mg_real *dt) {
  const int half = dim / 2;
  MG_CUDA_FOR(i, n) {
    const mg_real *dyrow = dy + i * dim;
    double acc = 0;
    for (int j = 0; j < half; j++) {
      double f = mg_timestep_frequency(j, half, (double)max_period), arg = (double)t[i] * f;
      acc += f * (-sin(arg) * (double)dyrow[j] + cos(arg) * (double)dyrow[half + j]);
    }
    dt[i] += (mg_real)acc;
  }
}

/* labels [n] in [0, rows), table [rows,dim] -> y [n,dim] = table[labels]. The engine validates the labels. */
static __global__ void embedding_forward_kernel(int n, int dim, const int32_t *labels, const mg_real *table, mg_real *y) {
  MG_CUDA_FOR(id, (int64_t)n * dim) {
    const int64_t i = id / dim, d = id % dim;
    y[id] = table[(int64_t)labels[i] * dim + d];
  }
}

/* dy [n,dim] -> dtable [rows,dim] += dy scattered to the labels' rows. Repeated labels add into the same row, so
 * without atomics: one thread per table element walks the samples in order and adds those with its row, in
 * mg_real as the CPU does, so the bits match. Labels outside [0, rows) match no row (the CPU skips them too). */
static __global__ void embedding_backward_kernel(int n, int dim, int rows, const int32_t *labels, const mg_real *dy,
                                          mg_real *dtable) {
  MG_CUDA_FOR(rd, (int64_t)rows * dim) {
    const int64_t r = rd / dim, d = rd % dim;
    mg_real acc = dtable[rd];
    for (int i = 0; i < n; i++)
      if (labels[i] == r) acc += dy[(int64_t)i * dim + d];
    dtable[rd] = acc;
  }
}

static void timestep_embedding_forward(int n, int dim, mg_real max_period, const mg_real *t, mg_real *y) {
  if (n <= 0 || dim / 2 <= 0) return;
  timestep_embedding_forward_kernel<<<mg_cuda_blocks((int64_t)n * (dim / 2)), MG_CUDA_THREADS, 0,
                                      mg_cuda()->stream>>>(n, dim, max_period, t, y);
  MG_CUDA_LAUNCHED("timestep_embedding_forward");
}

static void timestep_embedding_backward(int n, int dim, mg_real max_period, const mg_real *t, const mg_real *dy,
                                        mg_real *dt) {
  if (!dt || n <= 0) return;
  timestep_embedding_backward_kernel<<<mg_cuda_blocks(n), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(
      n, dim, max_period, t, dy, dt);
  MG_CUDA_LAUNCHED("timestep_embedding_backward");
}

static void embedding_forward(int n, int dim, const int32_t *labels, const mg_real *table, mg_real *y) {
  if (n <= 0 || dim <= 0) return;
  embedding_forward_kernel<<<mg_cuda_blocks((int64_t)n * dim), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(
      n, dim, labels, table, y);
  MG_CUDA_LAUNCHED("embedding_forward");
}

static void embedding_backward(int n, int dim, int rows, const int32_t *labels, const mg_real *dy,
                               mg_real *dtable) {
  if (!dtable || n <= 0 || dim <= 0 || rows <= 0) return;
  embedding_backward_kernel<<<mg_cuda_blocks((int64_t)rows * dim), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(
      n, dim, rows, labels, dy, dtable);
  MG_CUDA_LAUNCHED("embedding_backward");
}

void mg_cuda_register_embedding(mg_kernels *k) {
  k->timestep_embedding_forward = timestep_embedding_forward;
  k->timestep_embedding_backward = timestep_embedding_backward;
  k->embedding_forward = embedding_forward;
  k->embedding_backward = embedding_backward;
}
