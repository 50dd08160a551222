/* conv.c: 2D convolution and transposed convolution on the CPU, as im2col / col2im around OpenBLAS GEMMs.
 *
 * The column matrix ("col", [c*k*k, ho*wo]) of an image holds in row (ci,kh,kw) the pixel of channel ci that tap
 * (kh,kw) sees at each output position (zero in the padding). A convolution is then a GEMM per image:
 * y = w [cout, cin*k*k] @ col. A transposed convolution is the same picture read backwards: its forward is a GEMM
 * into a col followed by col2im (a scatter-add onto the output), its backward an im2col of dy and GEMMs.
 *
 * Work is cut into pieces fixed by the shape alone: an image, and within it a chunk of whole output rows whose
 * col (about CHUNK_ELEMS values) stays in cache between being written and being multiplied. OpenMP threads take
 * whole pieces and run single-threaded GEMMs on them (gemm.c says why OpenBLAS may not thread), so every value is
 * computed by the same sequence of operations whatever the thread count:
 * - forward conv: one piece per (image, chunk); pieces write disjoint parts of y.
 * - everything that scatters (col2im) or sums over the batch: one piece per run of consecutive images (at most
 *   DW_GROUPS runs, fixed by n), its images and chunks in order. Weight gradients are summed per run into a
 *   partial, then the partials are added to dw in run order.
 * Pieces are handed out dynamically (a thread slowed by another process just takes fewer); which thread runs a
 * piece never changes its result. Each thread owns one col buffer in the workspace, so the workspace grows with
 * the thread count (query it after set_threads).
 */
#include "cpu_kernels.h"

#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Target size of one chunk's col in values (2 MB in float): big enough for efficient GEMMs (measured best among
 * 64K..1M on the benchmark shapes), small enough to be reused from the last-level cache. The chunking changes
 * which GEMMs run, so it must never depend on the thread count. */
#define CHUNK_ELEMS (512 * 1024)

/* Below this many elements a copy loop runs serially (see MG_CPU_PARALLEL_MIN_MACS). Whether the
 * pieces run in parallel never changes the result. */
#define PARALLEL_MIN_ELEMS ((int64_t)1 << 15)

/* Geometry of an image and its col: image [c,h,w], kernel k, stride, pad; col rows c*k*k over ho x wo positions. */
typedef struct col_geom {
  int c, h, w, k, stride, pad, ho, wo;
} col_geom;

/* Output rows per chunk: the image split into the fewest chunks of whole rows whose col holds at most about
 * CHUNK_ELEMS values, with the rows shared out evenly (16 rows as 8 + 8, not 14 + 2). */
static int chunk_rows(const col_geom *g) {
  int64_t per_row = (int64_t)g->c * g->k * g->k * g->wo;
  int64_t chunks = ((int64_t)g->ho * per_row + CHUNK_ELEMS - 1) / CHUNK_ELEMS;
  if (chunks < 1) chunks = 1;
  if (chunks > g->ho) chunks = g->ho;
  return (int)((g->ho + chunks - 1) / chunks);
}

static int64_t col_slot_elems(const col_geom *g) { return (int64_t)g->c * g->k * g->k * chunk_rows(g) * g->wo; }

/* The output columns ow whose input column ow*stride - pad + kw lies inside [0, w): [*lo, *hi). */
static void valid_range(int w, int wo, int kw, int stride, int pad, int *lo, int *hi) {
  int first = pad - kw, last = w - 1 + pad - kw; /* ow*stride must lie in [first, last] */
  *lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  *hi = last < 0 ? 0 : last / stride + 1;
  if (*hi > wo) *hi = wo;
  if (*lo > *hi) *lo = *hi;
}

/* The 3x3 stride-2 pad-1 conv over an even width (the UNet's downsample) has its own im2col and col2im. Its taps
 * read input columns 2*ow-1, 2*ow and 2*ow+1: the odd pixels shifted by one, the even pixels, the odd pixels. So
 * one pass over an input row, loading each pair of pixels once, fills all three taps' col rows; the generic loop
 * runs a strided gather and its padding checks per tap and costs 2.5 times as much. */
static int is_k3_s2_p1_even(const col_geom *g) {
  return g->k == 3 && g->stride == 2 && g->pad == 1 && g->w == 2 * g->wo;
}

static void im2col_k3_s2(const col_geom *g, const mg_real *img, int oh0, int rows, mg_real *col) {
  const int wo = g->wo, cols = rows * wo;
  for (int ci = 0; ci < g->c; ci++) {
    const mg_real *src = img + (int64_t)ci * g->h * g->w;
    for (int kh = 0; kh < 3; kh++) {
      mg_real *d0 = col + (int64_t)(ci * 3 + kh) * 3 * cols, *d1 = d0 + cols, *d2 = d1 + cols; /* taps kw 0, 1, 2 */
      for (int oh = oh0; oh < oh0 + rows; oh++, d0 += wo, d1 += wo, d2 += wo) {
        int ih = oh * 2 - 1 + kh;
        if (ih < 0 || ih >= g->h) {
          for (int ow = 0; ow < wo; ow++) d0[ow] = d1[ow] = d2[ow] = 0;
          continue;
        }
        const mg_real *srow = src + (int64_t)ih * g->w;
        d0[0] = 0; /* column -1: padding */
#pragma omp simd
        for (int ow = 0; ow < wo - 1; ow++) {
          mg_real even = srow[2 * ow], odd = srow[2 * ow + 1];
          d1[ow] = even;
          d2[ow] = odd;
          d0[ow + 1] = odd;
        }
        d1[wo - 1] = srow[2 * wo - 2];
        d2[wo - 1] = srow[2 * wo - 1];
      }
    }
  }
}

/* The adds reach each pixel in the generic col2im's order (kh, then kw), so both give the same bits. */
static void col2im_k3_s2(const col_geom *g, const mg_real *col, int oh0, int rows, mg_real *img) {
  const int wo = g->wo, cols = rows * wo;
  for (int ci = 0; ci < g->c; ci++) {
    mg_real *dst = img + (int64_t)ci * g->h * g->w;
    for (int kh = 0; kh < 3; kh++) {
      const mg_real *d0 = col + (int64_t)(ci * 3 + kh) * 3 * cols, *d1 = d0 + cols, *d2 = d1 + cols;
      for (int oh = oh0; oh < oh0 + rows; oh++, d0 += wo, d1 += wo, d2 += wo) {
        int ih = oh * 2 - 1 + kh;
        if (ih < 0 || ih >= g->h) continue;
        mg_real *drow = dst + (int64_t)ih * g->w;
#pragma omp simd
        for (int ow = 0; ow < wo - 1; ow++) {
          drow[2 * ow] += d1[ow];
          drow[2 * ow + 1] = (drow[2 * ow + 1] + d0[ow + 1]) + d2[ow];
        }
        drow[2 * wo - 2] += d1[wo - 1];
        drow[2 * wo - 1] += d2[wo - 1];
      }
    }
  }
}

/* img [c,h,w] -> col [c*k*k, rows*wo] for output rows [oh0, oh0+rows) (overwritten) */
static void im2col(const col_geom *g, const mg_real *img, int oh0, int rows, mg_real *col) {
  if (is_k3_s2_p1_even(g)) {
    im2col_k3_s2(g, img, oh0, rows, col);
    return;
  }
  const int kk = g->k * g->k, cols = rows * g->wo;
  for (int r = 0; r < g->c * kk; r++) {
    int ci = r / kk, kh = (r % kk) / g->k, kw = r % g->k, lo, hi;
    valid_range(g->w, g->wo, kw, g->stride, g->pad, &lo, &hi);
    const mg_real *src = img + (int64_t)ci * g->h * g->w;
    mg_real *dst = col + (int64_t)r * cols;
    for (int oh = oh0; oh < oh0 + rows; oh++, dst += g->wo) {
      int ih = oh * g->stride - g->pad + kh;
      if (ih < 0 || ih >= g->h) {
        memset(dst, 0, (size_t)g->wo * sizeof *dst);
        continue;
      }
      const mg_real *srow = src + (int64_t)ih * g->w - g->pad + kw; /* srow[ow*stride] is the tap's pixel */
      for (int ow = 0; ow < lo; ow++) dst[ow] = 0;
      if (g->stride == 1)
        memcpy(dst + lo, srow + lo, (size_t)(hi - lo) * sizeof *dst);
      else
#pragma omp simd
        for (int ow = lo; ow < hi; ow++) dst[ow] = srow[ow * g->stride];
      for (int ow = hi; ow < g->wo; ow++) dst[ow] = 0;
    }
  }
}

/* col [c*k*k, rows*wo] for output rows [oh0, oh0+rows) -> img [c,h,w] += every col entry at the pixel it reads */
static void col2im(const col_geom *g, const mg_real *col, int oh0, int rows, mg_real *img) {
  if (is_k3_s2_p1_even(g)) {
    col2im_k3_s2(g, col, oh0, rows, img);
    return;
  }
  const int kk = g->k * g->k, cols = rows * g->wo;
  for (int r = 0; r < g->c * kk; r++) {
    int ci = r / kk, kh = (r % kk) / g->k, kw = r % g->k, lo, hi;
    valid_range(g->w, g->wo, kw, g->stride, g->pad, &lo, &hi);
    mg_real *dst = img + (int64_t)ci * g->h * g->w;
    const mg_real *src = col + (int64_t)r * cols;
    for (int oh = oh0; oh < oh0 + rows; oh++, src += g->wo) {
      int ih = oh * g->stride - g->pad + kh;
      if (ih < 0 || ih >= g->h) continue;
      mg_real *drow = dst + (int64_t)ih * g->w - g->pad + kw;
      if (g->stride == 1)
#pragma omp simd
        for (int ow = lo; ow < hi; ow++) drow[ow] += src[ow];
      else
#pragma omp simd
        for (int ow = lo; ow < hi; ow++) drow[ow * g->stride] += src[ow];
    }
  }
}

/* rows [c, cols] with row stride ld = b[c] broadcast, or 0 without a bias */
static void fill_bias(int c, int cols, int64_t ld, const mg_real *b, mg_real *y) {
  for (int ch = 0; ch < c; ch++) {
    mg_real v = b ? b[ch] : 0, *row = y + ch * ld;
    for (int j = 0; j < cols; j++) row[j] = v;
  }
}

/* db [c] += sum over n and hw of dy [n, c, hw]; one channel per iteration, summed in a fixed order (the simd
 * reduction's lanes are fixed when compiling, so they do not depend on the thread count either) */
static void bias_backward(int n, int c, int64_t hw, const mg_real *dy, mg_real *db) {
#pragma omp parallel for schedule(static) if (n * c * hw >= PARALLEL_MIN_ELEMS)
  for (int ch = 0; ch < c; ch++) {
    double acc = 0;
    for (int i = 0; i < n; i++) {
      const mg_real *row = dy + ((int64_t)i * c + ch) * hw;
      double row_sum = 0;
#pragma omp simd reduction(+ : row_sum)
      for (int64_t j = 0; j < hw; j++) row_sum += (double)row[j];
      acc += row_sum;
    }
    db[ch] += (mg_real)acc;
  }
}

/* dw [count] += partials [n, count] summed over n in order. Blocks of dw go to the threads; within a block
 * the partials are read one after another (contiguous, vectorized) into double sums. */
static void add_partials(int n, int64_t count, const mg_real *partials, mg_real *dw) {
  enum { BLOCK = 512 };
  const int64_t blocks = (count + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static) if (n * count >= PARALLEL_MIN_ELEMS)
  for (int64_t blk = 0; blk < blocks; blk++) {
    const int64_t j0 = blk * BLOCK, len = count - j0 < BLOCK ? count - j0 : BLOCK;
    double acc[BLOCK] = {0};
    for (int i = 0; i < n; i++) {
      const mg_real *p = partials + i * count + j0;
#pragma omp simd
      for (int64_t j = 0; j < len; j++) acc[j] += (double)p[j];
    }
    for (int64_t j = 0; j < len; j++) dw[j0 + j] += (mg_real)acc[j];
  }
}

/* The backward sums weight gradients over the batch in DW_GROUPS fixed runs of consecutive images, one partial per
 * run, so its memory stays bounded for large batches; the runs depend on n alone, never on the thread count. */
#define DW_GROUPS 8
static int dw_groups(int n) { return n < DW_GROUPS ? n : DW_GROUPS; }
static int dw_group_first(int group, int n) { return (int)((int64_t)group * n / dw_groups(n)); }

/* Workspace: one col chunk per thread, then (for the backward) one weight-gradient partial per group of images. */
static size_t workspace_bytes(const col_geom *g, int n, int64_t weight_count, int pointwise) {
  int64_t cols = pointwise ? 0 : (int64_t)mg_cpu_threads() * col_slot_elems(g);
  return (size_t)(cols + (int64_t)dw_groups(n) * weight_count) * sizeof(mg_real);
}

/* ---- conv2d: x [n,cin,h,w] is the image side of the col, y [n,cout,ho,wo] the position side ---- */

static col_geom conv_geom(const mg_conv_desc *d) {
  return (col_geom){d->c_in, d->h_in, d->w_in, d->k, d->stride, d->pad, d->h_out, d->w_out};
}

/* A 1x1 stride-1 unpadded conv reads x itself as its col. */
static int conv_is_pointwise(const mg_conv_desc *d) { return d->k == 1 && d->stride == 1 && d->pad == 0; }

static size_t conv2d_workspace(const mg_conv_desc *d) {
  const col_geom g = conv_geom(d);
  return workspace_bytes(&g, d->n, (int64_t)d->c_out * d->c_in * d->k * d->k, conv_is_pointwise(d));
}

/* x [n,cin,h,w], w [cout,cin,k,k], b [cout] or NULL -> y [n,cout,ho,wo]; ws: conv2d_workspace bytes */
static void conv2d_forward(const mg_conv_desc *d, const mg_real *x, const mg_real *w, const mg_real *b,
                           mg_real *y, void *ws) {
  const col_geom g = conv_geom(d);
  const int kdim = d->c_in * d->k * d->k, plane = d->h_out * d->w_out, rows = chunk_rows(&g);
  const int chunks = (d->h_out + rows - 1) / rows, pointwise = conv_is_pointwise(d);
  const int64_t x_image = (int64_t)d->c_in * d->h_in * d->w_in, y_image = (int64_t)d->c_out * plane;
#pragma omp parallel num_threads(mg_cpu_threads()) if (d->n * y_image * kdim >= MG_CPU_PARALLEL_MIN_MACS)
  {
    mg_real *col = pointwise ? NULL : (mg_real *)ws + mg_cpu_thread_id() * col_slot_elems(&g);
#pragma omp for schedule(dynamic, 1)
    for (int t = 0; t < d->n * chunks; t++) {
      int i = t / chunks, oh0 = (t % chunks) * rows, nrows = d->h_out - oh0 < rows ? d->h_out - oh0 : rows;
      int cols = nrows * d->w_out;
      mg_real *yc = y + i * y_image + (int64_t)oh0 * d->w_out; /* this chunk's columns of y_i [cout, plane] */
      const mg_real *src = x + i * x_image + (int64_t)oh0 * d->w_out;
      int ld_src = plane;
      if (!pointwise) {
        im2col(&g, x + i * x_image, oh0, nrows, col);
        src = col;
        ld_src = cols;
      }
      if (b) fill_bias(d->c_out, cols, plane, b, yc);
      mg_cpu_gemm_serial(0, 0, d->c_out, cols, kdim, 1, w, kdim, src, ld_src, b ? 1 : 0, yc, plane);
    }
  }
}

/* dy [n,cout,ho,wo] -> dx [n,cin,h,w] += col2im(w^T @ dy), dw [cout,cin,k,k] += sum over images of dy @ col^T,
 * db [cout] += sum of dy; any of dx, dw, db may be NULL */
static void conv2d_backward(const mg_conv_desc *d, const mg_real *x, const mg_real *w, const mg_real *dy,
                            mg_real *dx, mg_real *dw, mg_real *db, void *ws) {
  const col_geom g = conv_geom(d);
  const int kdim = d->c_in * d->k * d->k, plane = d->h_out * d->w_out, rows = chunk_rows(&g);
  const int pointwise = conv_is_pointwise(d);
  const int64_t x_image = (int64_t)d->c_in * d->h_in * d->w_in, y_image = (int64_t)d->c_out * plane;
  const int64_t w_count = (int64_t)d->c_out * kdim;
  const int64_t slots = pointwise ? 0 : (int64_t)mg_cpu_threads() * col_slot_elems(&g);
  mg_real *partials = (mg_real *)ws + slots; /* [groups, cout, kdim] */
  const int groups = dw_groups(d->n);
  if (db) bias_backward(d->n, d->c_out, plane, dy, db);
  if (!dx && !dw) return;
#pragma omp parallel num_threads(mg_cpu_threads()) if (d->n * y_image * kdim >= MG_CPU_PARALLEL_MIN_MACS)
  {
    mg_real *col = pointwise ? NULL : (mg_real *)ws + mg_cpu_thread_id() * col_slot_elems(&g);
#pragma omp for schedule(dynamic, 1)
    for (int grp = 0; grp < groups; grp++)
    for (int i = dw_group_first(grp, d->n); i < dw_group_first(grp + 1, d->n); i++) {
      const mg_real *xi = x + i * x_image;
      mg_real *dxi = dx ? dx + i * x_image : NULL, *dwi = partials + grp * w_count;
      const int first = i == dw_group_first(grp, d->n); /* the group's first image overwrites its partial */
      for (int oh0 = 0; oh0 < d->h_out; oh0 += rows) {
        const mg_real beta = first && oh0 == 0 ? 0 : 1;
        int nrows = d->h_out - oh0 < rows ? d->h_out - oh0 : rows, cols = nrows * d->w_out;
        const mg_real *dyc = dy + i * y_image + (int64_t)oh0 * d->w_out; /* [cout, cols], row stride plane */
        if (pointwise) { /* x_i's chunk is its own col, and dx_i's chunk its own dcol */
          int64_t offset = (int64_t)oh0 * d->w_out;
          if (dw)
            mg_cpu_gemm_serial(0, 1, d->c_out, kdim, cols, 1, dyc, plane, xi + offset, plane, beta, dwi, kdim);
          if (dx) mg_cpu_gemm_serial(1, 0, kdim, cols, d->c_out, 1, w, kdim, dyc, plane, 1, dxi + offset, plane);
          continue;
        }
        if (dw) { /* partial_group += dy_chunk @ col_chunk^T */
          im2col(&g, xi, oh0, nrows, col);
          mg_cpu_gemm_serial(0, 1, d->c_out, kdim, cols, 1, dyc, plane, col, cols, beta, dwi, kdim);
        }
        if (dx) { /* dcol = w^T @ dy_chunk, scattered back onto the pixels it read */
          mg_cpu_gemm_serial(1, 0, kdim, cols, d->c_out, 1, w, kdim, dyc, plane, 0, col, cols);
          col2im(&g, col, oh0, nrows, dxi);
        }
      }
    }
  }
  if (dw) add_partials(groups, w_count, partials, dw);
}

/* ---- transposed conv2d: x [n,cin,h,w] is the position side of the col, y [n,cout,ho,wo] the image side ---- */

static col_geom convt_geom(const mg_conv_desc *d) {
  return (col_geom){d->c_out, d->h_out, d->w_out, d->k, d->stride, d->pad, d->h_in, d->w_in};
}

static size_t conv_transpose2d_workspace(const mg_conv_desc *d) {
  const col_geom g = convt_geom(d);
  return workspace_bytes(&g, d->n, (int64_t)d->c_in * d->c_out * d->k * d->k, 0);
}

/* x [n,cin,h,w], w [cin,cout,k,k], b [cout] or NULL -> y [n,cout,ho,wo], ho = (h-1)*stride - 2*pad + k */
static void conv_transpose2d_forward(const mg_conv_desc *d, const mg_real *x, const mg_real *w, const mg_real *b,
                                     mg_real *y, void *ws) {
  const col_geom g = convt_geom(d);
  const int kdim = d->c_out * d->k * d->k, in_plane = d->h_in * d->w_in, out_plane = d->h_out * d->w_out;
  const int rows = chunk_rows(&g);
  const int64_t x_image = (int64_t)d->c_in * in_plane, y_image = (int64_t)d->c_out * out_plane;
#pragma omp parallel num_threads(mg_cpu_threads()) if (d->n * x_image * kdim >= MG_CPU_PARALLEL_MIN_MACS)
  {
    mg_real *col = (mg_real *)ws + mg_cpu_thread_id() * col_slot_elems(&g);
#pragma omp for schedule(dynamic, 1)
    for (int i = 0; i < d->n; i++) {
      mg_real *yi = y + i * y_image;
      fill_bias(d->c_out, out_plane, out_plane, b, yi);
      for (int ih0 = 0; ih0 < d->h_in; ih0 += rows) { /* col [kdim, cols] = w^T @ x_chunk, scattered onto y_i */
        int nrows = d->h_in - ih0 < rows ? d->h_in - ih0 : rows, cols = nrows * d->w_in;
        const mg_real *xc = x + i * x_image + (int64_t)ih0 * d->w_in;
        mg_cpu_gemm_serial(1, 0, kdim, cols, d->c_in, 1, w, kdim, xc, in_plane, 0, col, cols);
        col2im(&g, col, ih0, nrows, yi);
      }
    }
  }
}

/* dy [n,cout,ho,wo] -> dx [n,cin,h,w] += w @ col(dy), dw [cin,cout,k,k] += x @ col(dy)^T, db [cout] += sum dy */
static void conv_transpose2d_backward(const mg_conv_desc *d, const mg_real *x, const mg_real *w, const mg_real *dy,
                                      mg_real *dx, mg_real *dw, mg_real *db, void *ws) {
  const col_geom g = convt_geom(d);
  const int kdim = d->c_out * d->k * d->k, in_plane = d->h_in * d->w_in, out_plane = d->h_out * d->w_out;
  const int rows = chunk_rows(&g);
  const int64_t x_image = (int64_t)d->c_in * in_plane, y_image = (int64_t)d->c_out * out_plane;
  const int64_t w_count = (int64_t)d->c_in * kdim;
  mg_real *partials = (mg_real *)ws + (int64_t)mg_cpu_threads() * col_slot_elems(&g); /* [groups, cin, kdim] */
  const int groups = dw_groups(d->n);
  if (db) bias_backward(d->n, d->c_out, out_plane, dy, db);
  if (!dx && !dw) return;
#pragma omp parallel num_threads(mg_cpu_threads()) if (d->n * x_image * kdim >= MG_CPU_PARALLEL_MIN_MACS)
  {
    mg_real *col = (mg_real *)ws + mg_cpu_thread_id() * col_slot_elems(&g);
#pragma omp for schedule(dynamic, 1)
    for (int grp = 0; grp < groups; grp++)
    for (int i = dw_group_first(grp, d->n); i < dw_group_first(grp + 1, d->n); i++) {
      const int first = i == dw_group_first(grp, d->n); /* the group's first image overwrites its partial */
      for (int ih0 = 0; ih0 < d->h_in; ih0 += rows) {
        int nrows = d->h_in - ih0 < rows ? d->h_in - ih0 : rows, cols = nrows * d->w_in;
        int64_t offset = i * x_image + (int64_t)ih0 * d->w_in; /* this chunk of x_i and dx_i, row stride in_plane */
        im2col(&g, dy + i * y_image, ih0, nrows, col);
        if (dx) mg_cpu_gemm_serial(0, 0, d->c_in, cols, kdim, 1, w, kdim, col, cols, 1, dx + offset, in_plane);
        if (dw)
          mg_cpu_gemm_serial(0, 1, d->c_in, kdim, cols, 1, x + offset, in_plane, col, cols,
                             first && ih0 == 0 ? 0 : 1, partials + grp * w_count, kdim);
      }
    }
  }
  if (dw) add_partials(groups, w_count, partials, dw);
}

void mg_cpu_register_conv(mg_kernels *k) {
  k->conv2d_workspace = conv2d_workspace;
  k->conv2d_forward = conv2d_forward;
  k->conv2d_backward = conv2d_backward;
  k->conv_transpose2d_workspace = conv_transpose2d_workspace;
  k->conv_transpose2d_forward = conv_transpose2d_forward;
  k->conv_transpose2d_backward = conv_transpose2d_backward;
}
