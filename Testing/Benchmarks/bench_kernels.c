/* bench_kernels.c: throughput of the CPU conv and attention kernels on the shapes of a 64x64 UNet (batch 16,
 * channels 64/128), printed next to OpenBLAS's sgemm peak (a large square product) measured in the same run, so the
 * percentages compare like with like on whatever machine and load this runs on.
 *
 * Timing: wall clock (CLOCK_MONOTONIC), one warm-up call, then the best of N calls. Backward kernels accumulate,
 * so repeated calls just keep adding into the same gradient buffers; that costs the same every time. */
#include "medgen_bench.h"
#include "mg_kernels.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH 16
#define PEAK_N 2048 /* the peak's square product */

_Static_assert(sizeof(mg_real) == sizeof(float), "the benchmark measures the float32 product build");

typedef struct conv_case {
  const char *name;
  int transposed;
  int c_in, h_in, c_out, k, stride, pad;
} conv_case;

static const conv_case conv_cases[] = {
    {"conv3x3 64->64 @64x64", 0, 64, 64, 64, 3, 1, 1},
    {"conv3x3 64->128 @32x32", 0, 64, 32, 128, 3, 1, 1},
    {"conv3x3 128->128 @32x32", 0, 128, 32, 128, 3, 1, 1},
    {"conv3x3 128->128 @16x16", 0, 128, 16, 128, 3, 1, 1},
    {"conv3x3 s2 64->64 64x64->32x32", 0, 64, 64, 64, 3, 2, 1},
    {"convT4x4 s2 128->64 32x32->64x64", 1, 128, 32, 64, 4, 2, 1},
    {"conv1x1 128->64 @32x32", 0, 128, 32, 64, 1, 1, 0},
};

/* Spatial attention as the UNet runs it: 128 channels in heads of 64, over the positions of a 16x16 and a 32x32
 * feature map. The kernel saves the softmax probabilities [batch, heads, len, len] for its backward. */
typedef struct attn_case {
  const char *name;
  int heads, head_dim, side; /* len = side * side positions */
} attn_case;

static const attn_case attn_cases[] = {
    {"attention 2x64ch @16x16 (len 256)", 2, 64, 16},
    {"attention 2x64ch @32x32 (len 1024)", 2, 64, 32},
};

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* What one timed call does: a kernel call with everything it needs. */
typedef enum { RUN_FORWARD, RUN_BACKWARD_DATA, RUN_BACKWARD_WEIGHT, RUN_BACKWARD } run_kind;

typedef struct bench {
  const mg_kernels *k;
  mg_conv_desc d;
  int transposed;
  const attn_case *ac;
  mg_real *x, *w, *b, *y, *dy, *dx, *dw, *db, *ws;
  mg_real *q, *kk, *v, *out, *probs, *dout, *dq, *dk, *dv; /* attention */
  int square; /* the peak's square product through the gemm kernel: x @ w -> y */
} bench;

static void run_conv(bench *bn, run_kind kind) {
  const mg_kernels *k = bn->k;
  mg_real *dx = kind == RUN_BACKWARD_DATA || kind == RUN_BACKWARD ? bn->dx : NULL;
  mg_real *dw = kind == RUN_BACKWARD_WEIGHT || kind == RUN_BACKWARD ? bn->dw : NULL;
  mg_real *db = dw ? bn->db : NULL;
  if (kind == RUN_FORWARD) {
    if (bn->transposed) k->conv_transpose2d_forward(&bn->d, bn->x, bn->w, bn->b, bn->y, bn->ws);
    else k->conv2d_forward(&bn->d, bn->x, bn->w, bn->b, bn->y, bn->ws);
  } else {
    if (bn->transposed) k->conv_transpose2d_backward(&bn->d, bn->x, bn->w, bn->dy, dx, dw, db, bn->ws);
    else k->conv2d_backward(&bn->d, bn->x, bn->w, bn->dy, dx, dw, db, bn->ws);
  }
}

static void run_attention(bench *bn, run_kind kind) {
  const attn_case *ac = bn->ac;
  const int len = ac->side * ac->side;
  if (kind == RUN_FORWARD)
    bn->k->attention_forward(BATCH, ac->heads, ac->head_dim, len, bn->q, bn->kk, bn->v, bn->out, bn->probs, bn->ws);
  else
    bn->k->attention_backward(BATCH, ac->heads, ac->head_dim, len, bn->q, bn->kk, bn->v, bn->probs, bn->dout, bn->dq,
                              bn->dk, bn->dv, bn->ws);
}

static double best_seconds(bench *bn, run_kind kind, int reps) {
  double best = 1e30;
  for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
    double t = now();
    if (bn->square) bn->k->gemm(0, 0, PEAK_N, PEAK_N, PEAK_N, 1, bn->x, PEAK_N, bn->w, PEAK_N, 0, bn->y, PEAK_N);
    else if (bn->ac) run_attention(bn, kind);
    else run_conv(bn, kind);
    t = now() - t;
    if (r >= 0 && t < best) best = t;
  }
  return best;
}

static mg_real *alloc_random(const mg_kernels *k, int64_t n, uint64_t *state) {
  mg_real *p = k->alloc((size_t)(n > 0 ? n : 1) * sizeof *p);
  if (!p) return NULL;
  for (int64_t i = 0; i < n; i++) { /* values in [-1, 1) from a 64-bit LCG: content does not matter, only no NaNs */
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    p[i] = (mg_real)((double)(*state >> 11) / 4503599627370496.0 - 1.0);
  }
  return p;
}

static void print_rate(double gflop, double seconds, double peak) {
  double rate = gflop / seconds;
  printf("  %7.1f %4.0f%%", rate, 100 * rate / peak);
}

static void usage(FILE *to) {
  fprintf(to, "usage: medgen bench kernels [--threads N] [--quick] [--only TEXT]\n"
              "  --threads N  threads for the kernels (default: all cores)\n"
              "  --quick      fewer repetitions (noisier numbers)\n"
              "  --only TEXT  only the cases whose name contains TEXT\n");
}

int medgen_bench_kernels(int argc, char **argv) {
  long threads = sysconf(_SC_NPROCESSORS_ONLN);
  int quick = 0;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(argv[i], "--quick") == 0) {
      quick = 1;
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      char *end;
      threads = strtol(argv[++i], &end, 10);
      if (*end || threads < 1 || threads > 1024) {
        fprintf(stderr, "medgen bench kernels: --threads needs a positive integer, got '%s'\n", argv[i]);
        usage(stderr);
        return 2;
      }
    } else {
      fprintf(stderr, "medgen bench kernels: unknown option or missing value '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  const int reps = quick ? 3 : 10, peak_reps = quick ? 3 : 10;
  const mg_kernels *k = mg_cpu_kernels();
  k->set_threads((int)threads);
  uint64_t rng = 42;
  int status = 0;

  /* Peak: one large square product with OpenBLAS's own threading, where it is at its best. The kernels keep
   * OpenBLAS single-threaded (gemm.c), so it gets the threads only for this measurement. The same product through
   * the gemm kernel (tiles over OpenMP threads) is measured next, which also gives OpenBLAS's idle workers time to
   * stop spinning before the kernels are timed. */
  const int pn = PEAK_N;
  bench peak = {.k = k, .square = 1};
  peak.x = alloc_random(k, (int64_t)pn * pn, &rng);
  peak.w = alloc_random(k, (int64_t)pn * pn, &rng);
  peak.y = alloc_random(k, (int64_t)pn * pn, &rng);
  if (!peak.x || !peak.w || !peak.y) {
    fprintf(stderr, "medgen bench kernels: out of memory\n");
    if (peak.x) k->free(peak.x);
    if (peak.w) k->free(peak.w);
    if (peak.y) k->free(peak.y);
    return 1;
  }
  const double peak_gflop = 2e-9 * pn * pn * pn;
  double best = 1e30;
  openblas_set_num_threads((int)threads);
  for (int r = -1; r < peak_reps; r++) {
    double t = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, pn, pn, pn, 1, peak.x, pn, peak.w, pn, 0, peak.y, pn);
    t = now() - t;
    if (r >= 0 && t < best) best = t;
  }
  k->set_threads((int)threads); /* back to single-threaded OpenBLAS */
  const double peak_rate = peak_gflop / best;
  const double tiled_rate = peak_gflop / best_seconds(&peak, RUN_FORWARD, peak_reps);
  k->free(peak.x), k->free(peak.w), k->free(peak.y);

  printf("MedGen kernel benchmark: %s backend, %ld thread%s, float32, batch %d, best of %d after a warm-up\n",
         k->name, threads, threads == 1 ? "" : "s", BATCH, reps);
  printf("Peak: OpenBLAS sgemm %dx%dx%d with its own threads = %.1f GFLOP/s (best of %d); %%pk below is relative to "
         "it\n", pn, pn, pn, peak_rate, peak_reps);
  printf("The same product through the gemm kernel (fixed tiles on OpenMP threads): %.1f GFLOP/s (%.0f%%)\n\n",
         tiled_rate, 100 * tiled_rate / peak_rate);
  printf("%-34s %7s  %13s  %13s  %13s  %13s\n", "case (batch 16)", "GFLOP", "forward", "bwd data", "bwd weight",
         "bwd total");
  printf("%-34s %7s  %13s  %13s  %13s  %13s\n", "", "fwd", "GFLOP/s  %pk", "GFLOP/s  %pk", "GFLOP/s  %pk",
         "GFLOP/s  %pk");

  for (size_t c = 0; c < sizeof conv_cases / sizeof conv_cases[0]; c++) {
    const conv_case *cc = &conv_cases[c];
    if (only && !strstr(cc->name, only)) continue;
    mg_conv_desc d = {BATCH, cc->c_in, cc->h_in, cc->h_in, cc->c_out, 0, 0, cc->k, cc->stride, cc->pad};
    if (cc->transposed) d.h_out = (cc->h_in - 1) * cc->stride - 2 * cc->pad + cc->k;
    else d.h_out = (cc->h_in + 2 * cc->pad - cc->k) / cc->stride + 1;
    d.w_out = d.h_out;
    int64_t x_n = (int64_t)BATCH * d.c_in * d.h_in * d.w_in, y_n = (int64_t)BATCH * d.c_out * d.h_out * d.w_out;
    int64_t w_n = (int64_t)d.c_in * d.c_out * d.k * d.k;
    size_t ws_bytes = cc->transposed ? k->conv_transpose2d_workspace(&d) : k->conv2d_workspace(&d);
    bench bn = {.k = k, .d = d, .transposed = cc->transposed};
    bn.x = alloc_random(k, x_n, &rng), bn.dx = alloc_random(k, x_n, &rng);
    bn.y = alloc_random(k, y_n, &rng), bn.dy = alloc_random(k, y_n, &rng);
    bn.w = alloc_random(k, w_n, &rng), bn.dw = alloc_random(k, w_n, &rng);
    bn.b = alloc_random(k, d.c_out, &rng), bn.db = alloc_random(k, d.c_out, &rng);
    bn.ws = k->alloc(ws_bytes ? ws_bytes : 64);
    if (bn.x && bn.dx && bn.y && bn.dy && bn.w && bn.dw && bn.b && bn.db && bn.ws) {
      /* the col-side plane: conv output positions, or transposed-conv input positions */
      double plane = cc->transposed ? (double)d.h_in * d.w_in : (double)d.h_out * d.w_out;
      double gflop = 2e-9 * BATCH * d.c_in * d.c_out * d.k * d.k * plane;
      printf("%-34s %7.2f", cc->name, gflop);
      print_rate(gflop, best_seconds(&bn, RUN_FORWARD, reps), peak_rate);
      print_rate(gflop, best_seconds(&bn, RUN_BACKWARD_DATA, reps), peak_rate);
      print_rate(gflop, best_seconds(&bn, RUN_BACKWARD_WEIGHT, reps), peak_rate);
      print_rate(2 * gflop, best_seconds(&bn, RUN_BACKWARD, reps), peak_rate);
      printf("\n");
    } else {
      fprintf(stderr, "medgen bench kernels: out of memory for %s\n", cc->name);
      status = 1;
    }
    mg_real *bufs[] = {bn.x, bn.dx, bn.y, bn.dy, bn.w, bn.dw, bn.b, bn.db, bn.ws};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
      if (bufs[i]) k->free(bufs[i]);
  }

  for (size_t c = 0; c < sizeof attn_cases / sizeof attn_cases[0]; c++) {
    const attn_case *ac = &attn_cases[c];
    if (only && !strstr(ac->name, only)) continue;
    const int len = ac->side * ac->side;
    const int64_t act_n = (int64_t)BATCH * ac->heads * ac->head_dim * len;
    const int64_t probs_n = (int64_t)BATCH * ac->heads * len * len;
    size_t ws_bytes = k->attention_workspace(BATCH, ac->heads, ac->head_dim, len);
    bench bn = {.k = k, .ac = ac};
    bn.q = alloc_random(k, act_n, &rng), bn.kk = alloc_random(k, act_n, &rng), bn.v = alloc_random(k, act_n, &rng);
    bn.out = alloc_random(k, act_n, &rng), bn.dout = alloc_random(k, act_n, &rng);
    bn.dq = alloc_random(k, act_n, &rng), bn.dk = alloc_random(k, act_n, &rng), bn.dv = alloc_random(k, act_n, &rng);
    bn.probs = alloc_random(k, probs_n, &rng);
    bn.ws = k->alloc(ws_bytes ? ws_bytes : 64);
    if (bn.q && bn.kk && bn.v && bn.out && bn.dout && bn.dq && bn.dk && bn.dv && bn.probs && bn.ws) {
      /* forward: scores Q^T K and output V P^T per head; backward: dP, dV, dQ, dK (softmax not counted) */
      double gflop = 4e-9 * BATCH * ac->heads * (double)len * len * ac->head_dim;
      printf("%-34s %7.2f", ac->name, gflop);
      print_rate(gflop, best_seconds(&bn, RUN_FORWARD, reps), peak_rate);
      printf("  %13s  %13s", "-", "-");
      print_rate(2 * gflop, best_seconds(&bn, RUN_BACKWARD, reps), peak_rate);
      printf("\n");
    } else {
      fprintf(stderr, "medgen bench kernels: out of memory for %s\n", ac->name);
      status = 1;
    }
    mg_real *bufs[] = {bn.q, bn.kk, bn.v, bn.out, bn.dout, bn.dq, bn.dk, bn.dv, bn.probs, bn.ws};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
      if (bufs[i]) k->free(bufs[i]);
  }
  printf("\nGFLOP counts multiply-adds as 2; the backward does twice the forward's work (data + weight "
         "gradients).\nAttention counts its products only (forward: scores and output; backward: dP, dV, dQ, dK), "
         "not the softmax.\n");
  return status;
}
