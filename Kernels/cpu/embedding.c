/* embedding.c: the sinusoidal timestep embedding of diffusion models and the label (class) embedding lookup on
 * the CPU. */
#include "cpu_kernels.h"
#include "mg_loss_math.h"

#include <string.h>

/* t [n] -> y [n,dim]: y[i,j] = cos(t_i f_j), y[i,half+j] = sin(t_i f_j), j < half = dim/2 */
static void timestep_embedding_forward(int n, int dim, mg_real max_period, const mg_real *t, mg_real *y) {
  int half = dim / 2;
#pragma omp parallel for collapse(2) schedule(static)
  for (int i = 0; i < n; i++)
    for (int j = 0; j < half; j++) {
      double arg = (double)t[i] * mg_timestep_frequency(j, half, (double)max_period);
      y[(int64_t)i * dim + j] = (mg_real)cos(arg);
      y[(int64_t)i * dim + half + j] = (mg_real)sin(arg);
    }
}

/* dy [n,dim] -> dt [n] += sum_j f_j * (-sin(t f_j) dy[i,j] + cos(t f_j) dy[i,half+j]); one sample per iteration,
 * summed over j in order */
static void timestep_embedding_backward(int n, int dim, mg_real max_period, const mg_real *t, const mg_real *dy,
                                        mg_real *dt) {
  int half = dim / 2;
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; i++) {
    const mg_real *dyrow = dy + (int64_t)i * dim;
    double acc = 0;
    for (int j = 0; j < half; j++) {
      double f = mg_timestep_frequency(j, half, (double)max_period), arg = (double)t[i] * f;
      acc += f * (-sin(arg) * (double)dyrow[j] + cos(arg) * (double)dyrow[half + j]);
    }
    dt[i] += (mg_real)acc;
  }
}

/* labels [n] in [0, rows), table [rows,dim] -> y [n,dim] = table[labels]. The engine validates the labels. */
static void embedding_forward(int n, int dim, const int32_t *labels, const mg_real *table, mg_real *y) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; i++)
    memcpy(y + (int64_t)i * dim, table + (int64_t)labels[i] * dim, (size_t)dim * sizeof *y);
}

/* dy [n,dim] -> dtable [rows,dim] += dy scattered to the labels' rows. Repeated labels add into the same row, so
 * threads split the embedding dim (in blocks) and each walks the samples in order: every table element is
 * summed by one thread in a fixed order. */
#define EMBEDDING_DIM_BLOCK 64
static void embedding_backward(int n, int dim, int rows, const int32_t *labels, const mg_real *dy,
                               mg_real *dtable) {
  int blocks = (dim + EMBEDDING_DIM_BLOCK - 1) / EMBEDDING_DIM_BLOCK;
#pragma omp parallel for schedule(static)
  for (int b = 0; b < blocks; b++) {
    int d0 = b * EMBEDDING_DIM_BLOCK, d1 = d0 + EMBEDDING_DIM_BLOCK < dim ? d0 + EMBEDDING_DIM_BLOCK : dim;
    for (int i = 0; i < n; i++) {
      if (labels[i] < 0 || labels[i] >= rows) continue; /* defensive: the engine rejects such labels */
      mg_real *dst = dtable + (int64_t)labels[i] * dim;
      const mg_real *src = dy + (int64_t)i * dim;
      for (int d = d0; d < d1; d++) dst[d] += src[d];
    }
  }
}

void mg_cpu_register_embedding(mg_kernels *k) {
  k->timestep_embedding_forward = timestep_embedding_forward;
  k->timestep_embedding_backward = timestep_embedding_backward;
  k->embedding_forward = embedding_forward;
  k->embedding_backward = embedding_backward;
}
