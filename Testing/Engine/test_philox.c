/* test_philox.c: the Philox4x32-10 generator and the engine's random fills.
 * - Known-answer vectors published with Random123 (Salmon et al. 2011, kat_vectors).
 * - An independent Python implementation (argv[1] python, argv[2] Testing/Python/philox_reference.py) for raw
 *   words, uniforms (exact: 24-bit values) and normals (tolerance: float vs double Box-Muller) over several
 *   (seed, offset) requests, including offsets whose block index crosses 2^32 (counter word 1).
 * - Moments of 1e6 normals and uniforms; 1 vs 2 threads bit-identical; how the context offset advances.
 */
#include "mg_philox.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void known_answers(void) {
  static const struct {
    uint32_t counter[4], key[2], expected[4];
  } kat[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
      {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
       {0xffffffffu, 0xffffffffu},
       {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
      {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
       {0xa4093822u, 0x299f31d0u},
       {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
  };
  for (size_t t = 0; t < sizeof kat / sizeof kat[0]; t++) {
    uint32_t out[4];
    mg_philox4x32_10(kat[t].counter, kat[t].key, out);
    tu_check(memcmp(out, kat[t].expected, sizeof out) == 0, "known answer %zu: got %08x %08x %08x %08x", t, out[0],
             out[1], out[2], out[3]);
  }
  /* the stream layout: block b of seed s is counter {b lo, b hi, 0, 0} under key {s lo, s hi} */
  uint32_t a[4], b[4];
  mg_philox_block(0xa4093822299f31d0ull, 0x85a308d3243f6a88ull, a);
  mg_philox4x32_10((const uint32_t[]){0x243f6a88u, 0x85a308d3u, 0, 0}, (const uint32_t[]){0x299f31d0u, 0xa4093822u}, b);
  tu_check(memcmp(a, b, sizeof a) == 0, "mg_philox_block maps seed and block to key and counter words");
  /* uniform conversions stay inside their intervals at the extremes */
  tu_check(mg_philox_uniform_open0(0) > 0 && mg_philox_uniform_open0(0xffffffffu) == 1.0f, "(0,1] endpoints");
  tu_check(mg_philox_uniform_open1(0) == 0 && mg_philox_uniform_open1(0xffffffffu) < 1.0f, "[0,1) endpoints");
  uint32_t w[4] = {0, 0, 0, 0};
  tu_check(isfinite(mg_philox_normal_lane(w, 0)) && isfinite(mg_philox_normal_lane(w, 1)),
           "Box-Muller is finite for the smallest uniform");
}

typedef struct {
  uint64_t seed, offset;
  int n;
} request;

static void python_cross_check(const char *python, const char *script) {
  const request req[] = {
      {0, 0, 9}, {0x0123456789abcdefull, 17, 23}, {42, 0xfffffffeull, 12}, {0xffffffffffffffffull, 0x123456789ull, 7},
      {7, 1000003, 16},
  };
  const int nreq = (int)(sizeof req / sizeof req[0]);
  char cmd[2048];
  int used = snprintf(cmd, sizeof cmd, "'%s' '%s'", python, script);
  for (int r = 0; r < nreq; r++)
    used += snprintf(cmd + used, sizeof cmd - (size_t)used, " %llu:%llu:%d", (unsigned long long)req[r].seed,
                     (unsigned long long)req[r].offset, req[r].n);
  FILE *f = popen(cmd, "r");
  if (!tu_check(f != NULL, "cannot run %s", cmd)) return;
  const mg_kernels *k = mg_cpu_kernels();
  int compared = 0, bad_words = 0, bad_uniform = 0, bad_normal = 0;
  for (int r = 0; r < nreq; r++) {
    int n = req[r].n;
    mg_real *u = malloc((size_t)n * sizeof *u), *z = malloc((size_t)n * sizeof *z);
    k->rand_uniform(n, req[r].seed, req[r].offset, 0, 1, u);
    k->rand_normal(n, req[r].seed, req[r].offset, 0, 1, z);
    for (int i = 0; i < n; i++) {
      int idx;
      unsigned long word;
      double pu, pz;
      if (fscanf(f, "%d %lu %lf %lf", &idx, &word, &pu, &pz) != 4 || idx != i) break;
      uint32_t w[4];
      mg_philox_block(req[r].seed, req[r].offset + (uint64_t)(i / 4), w);
      bad_words += w[i % 4] != (uint32_t)word;
      bad_uniform += (double)u[i] != pu; /* 24-bit values are exact in float */
      if (!(fabs((double)z[i] - pz) <= 2e-5 + 1e-5 * fabs(pz))) {
        if (bad_normal++ < 5)
          fprintf(stderr, "  request %d element %d: normal %.9g, python %.9g\n", r, i, (double)z[i], pz);
      }
      compared++;
    }
    free(u);
    free(z);
  }
  int rc = pclose(f);
  int expected = 0;
  for (int r = 0; r < nreq; r++) expected += req[r].n;
  tu_check(rc == 0, "python reference exited with status %d (known-answer self-check or crash)", rc);
  tu_check(compared == expected, "read %d of %d reference values", compared, expected);
  tu_check(bad_words == 0, "%d raw words differ from the Python Philox", bad_words);
  tu_check(bad_uniform == 0, "%d uniforms differ from the Python reference", bad_uniform);
  tu_check(bad_normal == 0, "%d normals differ from the Python reference beyond 2e-5", bad_normal);
}

/* Sample moments: mean, std, kurtosis, and the correlation of each Box-Muller pair (lanes 0 and 1). */
static void statistics(void) {
  const int n = 1000000;
  mg_ctx *ctx = tu_ctx(2);
  mg_rng_seed(ctx, 2024);
  mg_tensor *t = mg_tensor_new_persistent(ctx, MG_REAL, 1, &n);
  mg_fill_normal(ctx, t, 3.0, 2.0);
  mg_real *h = malloc((size_t)n * sizeof *h);
  mg_tensor_download_real(ctx, t, h, n);
  double s1 = 0, s2 = 0, s4 = 0, pair = 0;
  for (int i = 0; i < n; i++) s1 += (double)h[i];
  double mean = s1 / n;
  for (int i = 0; i < n; i++) {
    double d = ((double)h[i] - mean);
    s2 += d * d;
    s4 += d * d * d * d;
  }
  double var = s2 / n, kurt = s4 / n / (var * var);
  for (int i = 0; i < n; i += 2) pair += ((double)h[i] - mean) * ((double)h[i + 1] - mean);
  double corr = pair / (n / 2) / var;
  /* bounds are about 5 standard errors: mean 2/sqrt(n) = 0.002, std 2/sqrt(2n) = 0.0014, kurtosis sqrt(24/n) =
   * 0.005, correlation 1/sqrt(n/2) = 0.0014 */
  tu_check(fabs(mean - 3.0) < 0.01, "normal mean %.5f, expected 3", mean);
  tu_check(fabs(sqrt(var) - 2.0) < 0.008, "normal std %.5f, expected 2", sqrt(var));
  tu_check(fabs(kurt - 3.0) < 0.03, "normal kurtosis %.4f, expected 3", kurt);
  tu_check(fabs(corr) < 0.01, "Box-Muller pair correlation %.4f, expected 0", corr);

  mg_fill_uniform(ctx, t, -1.0, 3.0);
  mg_tensor_download_real(ctx, t, h, n);
  double lo = 1e9, hi = -1e9;
  s1 = s2 = 0;
  for (int i = 0; i < n; i++) {
    double x = (double)h[i];
    s1 += x;
    s2 += x * x;
    lo = fmin(lo, x);
    hi = fmax(hi, x);
  }
  mean = s1 / n;
  var = s2 / n - mean * mean;
  tu_check(fabs(mean - 1.0) < 0.006, "uniform mean %.5f, expected 1", mean);
  tu_check(fabs(var - 16.0 / 12.0) < 0.01, "uniform variance %.5f, expected 4/3", var);
  tu_check(lo >= -1.0 && hi < 3.0 && lo < -0.999 && hi > 2.999, "uniform range [%g, %g] within [-1,3)", lo, hi);
  free(h);
  mg_context_free(ctx);
}

/* The same fills with 1 and 2 threads must agree bit for bit. */
static void thread_independence(void) {
  const int n = 300001; /* not a multiple of 4: the last block is partial */
  mg_real *out[2];
  for (int threads = 1; threads <= 2; threads++) {
    mg_ctx *ctx = tu_ctx(threads);
    mg_rng_seed(ctx, 99);
    mg_tensor *a = mg_tensor_new_persistent(ctx, MG_REAL, 1, &n), *b = mg_tensor_new_persistent(ctx, MG_REAL, 1, &n);
    mg_fill_normal(ctx, a, 0, 1);
    mg_fill_uniform(ctx, b, 0, 1);
    out[threads - 1] = malloc(2 * (size_t)n * sizeof(mg_real));
    mg_tensor_download_real(ctx, a, out[threads - 1], n);
    mg_tensor_download_real(ctx, b, out[threads - 1] + n, n);
    tu_ctx_ok(ctx, "fills");
    mg_context_free(ctx);
  }
  tu_check(memcmp(out[0], out[1], 2 * (size_t)n * sizeof(mg_real)) == 0, "1 and 2 threads give identical fills");
  free(out[0]);
  free(out[1]);
}

static mg_real *fill_normal_host(mg_ctx *ctx, int n) {
  mg_tensor *t = mg_tensor_new(ctx, MG_REAL, 1, &n);
  mg_fill_normal(ctx, t, 0, 1);
  mg_real *h = malloc((size_t)n * sizeof *h);
  mg_tensor_download_real(ctx, t, h, n);
  return h;
}

/* mg_fill_normal/uniform advance the context offset by ceil(n/4) blocks: the lanes left over in a partial last
 * block are skipped. So 8 + 8 elements continue the stream exactly like one fill of 16, while 10 + 6 give the
 * first 10 of a 16-fill and then elements 12..17 of an 18-fill. */
static void offset_continuation(void) {
  mg_ctx *ctx = tu_ctx(1);
  mg_rng_seed(ctx, 5);
  mg_real *whole = fill_normal_host(ctx, 18);
  tu_check(mg_rng_offset(ctx) == 5, "18 elements consume 5 blocks (offset %llu)", (unsigned long long)mg_rng_offset(ctx));

  mg_rng_seed(ctx, 5);
  tu_check(mg_rng_offset(ctx) == 0, "seeding resets the offset");
  mg_real *a = fill_normal_host(ctx, 8), *b = fill_normal_host(ctx, 8);
  tu_check(memcmp(a, whole, 8 * sizeof *a) == 0 && memcmp(b, whole + 8, 8 * sizeof *b) == 0,
           "8 then 8 elements equal one fill of 16");
  free(a);
  free(b);

  mg_rng_seed(ctx, 5);
  a = fill_normal_host(ctx, 10);
  tu_check(mg_rng_offset(ctx) == 3, "10 elements consume 3 blocks (offset %llu)", (unsigned long long)mg_rng_offset(ctx));
  b = fill_normal_host(ctx, 6);
  tu_check(mg_rng_offset(ctx) == 5, "then 6 more end at block 5");
  tu_check(memcmp(a, whole, 10 * sizeof *a) == 0, "10 elements are the first 10 of the stream");
  tu_check(memcmp(b, whole + 12, 6 * sizeof *b) == 0, "the next 6 start at the next whole block (element 12)");
  free(a);
  free(b);

  /* resuming from a saved (seed, offset) reproduces the continuation */
  mg_rng_seed(ctx, 5);
  mg_rng_set_offset(ctx, 2);
  a = fill_normal_host(ctx, 10);
  tu_check(memcmp(a, whole + 8, 10 * sizeof *a) == 0, "offset 2 resumes at element 8");
  free(a);
  mg_rng_seed(ctx, 6);
  a = fill_normal_host(ctx, 18);
  tu_check(memcmp(a, whole, 18 * sizeof *a) != 0, "another seed gives another stream");
  free(a);
  free(whole);
  tu_ctx_ok(ctx, "offset continuation");
  mg_context_free(ctx);
}

int main(int argc, char **argv) {
  known_answers();
  if (argc >= 3) python_cross_check(argv[1], argv[2]);
  else tu_check(false, "usage: test_philox PYTHON philox_reference.py");
  statistics();
  thread_independence();
  offset_continuation();
  return tu_finish();
}
