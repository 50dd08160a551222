/* test_backend_ops.c: every kernel entry (MG_KERNEL_ENTRIES) on every backend of test_backends.h against the CPU
 * reference, on the same random inputs.
 *
 * A case is a list of buffers with host contents and a function that makes the kernel call(s) on a given table.
 * The runner places the buffers on the CPU and on the backend (alloc + upload), runs both, downloads every buffer
 * and compares it with the CPU's: outputs, gradients, and inputs too (a kernel that writes its input shows).
 * Outputs and gradients start out random, not zero, so a kernel that overwrites where it should accumulate (or
 * the other way round) shows as well. Cases with gradients run again with some gradient pointers NULL. Workspaces
 * start out as NaN, so reading one before writing it shows. The error of an element is |a-b|/(1+|b|); strict
 * must match bit for bit. A coverage table fails the test when an entry has no case.
 */
#include "test_backends.h"
#include "test_util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BUFS 10
#define MAX_BACKENDS 4
/* TF32 rounds the products' inputs to 10-bit mantissas (relative 2^-11 each). For sums of up to ~300 products of
 * values in [-1, 1], |a-b|/(1+|b|) should stay near 1e-3 (an estimate; the measured worst is printed). */
#define TF32_TOLERANCE 5e-3

typedef struct kcase kcase;
/* The call(s) under test on table k, with p[i] the device pointer of buffer i (NULL for an absent or nulled one). */
typedef void (*run_fn)(const mg_kernels *k, void *const *p, const kcase *c);

typedef struct kbuf {
  const char *name;
  int64_t n;    /* elements (mg_real, or int32 for labels) */
  int labels;   /* int32 */
  int nullable; /* a gradient: the case also runs with it NULL */
  int absent;   /* an optional argument left out (NULL everywhere) */
  void *host;   /* contents before the call, the same on every backend */
} kbuf;

struct kcase {
  const char *op;     /* the entry whose worst error this case counts towards */
  const char *covers; /* every entry the run calls, space-separated */
  char what[200];     /* the shape, for messages */
  run_fn run;
  double cap;         /* tolerance cap on top of the backend's (0: exact even on CUDA) */
  int tf32;           /* a GEMM or convolution: also run in TF32 math mode */
  kbuf buf[MAX_BUFS];
  int nbuf;
  int i[10];          /* integer parameters, per run function */
  double f[8];        /* real parameters */
  uint64_t u[2];      /* seed and offset of the random fills */
  mg_conv_desc conv;
  mg_bcast_desc bc;
  void *host_data;    /* host-side input of upload */
};

static const mg_kernels *cpu;
static test_backend backends[MAX_BACKENDS];
static int n_backends;

/* ---- coverage: the entries some case calls ---- */

#define ENTRY_NAME(e) #e,
static const char *const entries[] = {MG_KERNEL_ENTRIES(ENTRY_NAME)};
#undef ENTRY_NAME
#define N_ENTRIES ((int)(sizeof entries / sizeof entries[0]))
static int covered[N_ENTRIES];

static void mark_covered(const char *covers) {
  char name[64];
  for (const char *s = covers; *s;) {
    size_t len = strcspn(s, " ");
    snprintf(name, sizeof name, "%.*s", (int)len, s);
    int found = 0;
    for (int e = 0; e < N_ENTRIES; e++)
      if (strcmp(entries[e], name) == 0) covered[e] = found = 1;
    tu_check(found, "a case claims to cover '%s', which is no kernel entry", name);
    s += len;
    s += strspn(s, " ");
  }
}

/* ---- worst error per (backend, op) ---- */

typedef struct op_stat {
  char backend[32];
  const char *op;
  double worst, tolerance;
  int runs;
  char what[400];
} op_stat;
static op_stat stats[256];
static int n_stats;

static op_stat *stat_for(const char *backend, const char *op) {
  for (int s = 0; s < n_stats; s++)
    if (strcmp(stats[s].backend, backend) == 0 && strcmp(stats[s].op, op) == 0) return &stats[s];
  if (n_stats == (int)(sizeof stats / sizeof stats[0])) abort();
  op_stat *s = &stats[n_stats++];
  snprintf(s->backend, sizeof s->backend, "%s", backend);
  s->op = op;
  return s;
}

/* ---- building a case ---- */

static kcase the_case;

static kcase *new_case(const char *op, const char *covers, run_fn run, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static kcase *new_case(const char *op, const char *covers, run_fn run, const char *fmt, ...) {
  kcase *c = &the_case;
  memset(c, 0, sizeof *c);
  c->op = op;
  c->covers = covers;
  c->run = run;
  c->cap = INFINITY;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->what, sizeof c->what, fmt, ap);
  va_end(ap);
  return c;
}

static size_t buf_bytes(const kbuf *b) { return (size_t)(b->n > 0 ? b->n : 1) * (b->labels ? 4 : sizeof(mg_real)); }

static int add_buf(kcase *c, const char *name, int64_t n) {
  if (c->nbuf == MAX_BUFS) abort();
  kbuf *b = &c->buf[c->nbuf];
  b->name = name;
  b->n = n;
  return c->nbuf++;
}

/* n reals from U(lo, hi) */
static mg_real *add_real(kcase *c, const char *name, int64_t n, double lo, double hi) {
  kbuf *b = &c->buf[add_buf(c, name, n)];
  mg_real *h = calloc(1, buf_bytes(b));
  for (int64_t i = 0; i < n; i++) h[i] = (mg_real)tu_uniform(lo, hi);
  b->host = h;
  return h;
}

/* A gradient: random (so accumulation shows), and NULL in some runs. */
static void add_grad(kcase *c, const char *name, int64_t n) {
  add_real(c, name, n, -1, 1);
  c->buf[c->nbuf - 1].nullable = 1;
}

/* An optional argument left out: the kernel gets NULL. */
static void add_absent(kcase *c, const char *name) { c->buf[add_buf(c, name, 0)].absent = 1; }

/* Either a buffer of U(lo, hi) or, when !present, an absent one. */
static void add_optional(kcase *c, int present, const char *name, int64_t n, double lo, double hi) {
  if (present) add_real(c, name, n, lo, hi);
  else add_absent(c, name);
}

static int32_t *add_labels(kcase *c, const char *name, int64_t n, int rows) {
  kbuf *b = &c->buf[add_buf(c, name, n)];
  b->labels = 1;
  int32_t *h = calloc(1, buf_bytes(b));
  for (int64_t i = 0; i < n; i++) h[i] = (int32_t)(tu_u64() % (uint64_t)rows);
  b->host = h;
  return h;
}

/* ---- running a case ---- */

/* A workspace for a run function: alloc'ed on k and filled with NaN, so a kernel that reads it before writing
 * gives NaN. The run function frees it. */
static void *workspace(const mg_kernels *k, size_t bytes) {
  int64_t n = (int64_t)(bytes / sizeof(mg_real)) + 1;
  void *ws = k->alloc((size_t)n * sizeof(mg_real));
  if (!ws) {
    fprintf(stderr, "FAIL: %s: no workspace of %zu bytes\n", k->name, bytes);
    exit(EXIT_FAILURE);
  }
  k->fill(n, (mg_real)NAN, ws);
  return ws;
}

static void place(const mg_kernels *k, const kcase *c, unsigned nulled, void **p) {
  for (int i = 0; i < c->nbuf; i++) {
    const kbuf *b = &c->buf[i];
    p[i] = NULL;
    if (b->absent || (nulled >> i & 1)) continue;
    p[i] = k->alloc(buf_bytes(b));
    if (!p[i]) {
      fprintf(stderr, "FAIL: %s: alloc of %zu bytes failed\n", k->name, buf_bytes(b));
      exit(EXIT_FAILURE);
    }
    tu_check((uintptr_t)p[i] % 64 == 0, "%s: alloc returned %p, not 64-byte aligned", k->name, p[i]);
    k->upload(p[i], b->host, buf_bytes(b));
  }
}

static void release(const mg_kernels *k, const kcase *c, void **p) {
  for (int i = 0; i < c->nbuf; i++) k->free(p[i]);
}

/* The error of got against want (the CPU's): |a-b|/(1+|b|) for reals, 0 or infinity for labels; a NaN where the
 * CPU has none, or different bits where they must match (tolerance 0), count as infinitely wrong. */
static double element_error(const kbuf *b, const void *got, const void *want, int64_t i, double tolerance) {
  if (b->labels) return ((const int32_t *)got)[i] == ((const int32_t *)want)[i] ? 0 : INFINITY;
  mg_real a = ((const mg_real *)got)[i], w = ((const mg_real *)want)[i];
  if (memcmp(&a, &w, sizeof a) == 0) return 0;
  double e = fabs((double)a - (double)w) / (1 + fabs((double)w));
  if (isnan(e)) return INFINITY;
  return tolerance == 0 && e == 0 ? INFINITY : e; /* +0 against -0 */
}

static void describe_nulled(const kcase *c, unsigned nulled, char *out, size_t size) {
  out[0] = '\0';
  for (int i = 0; i < c->nbuf; i++)
    if (nulled >> i & 1) snprintf(out + strlen(out), size - strlen(out), "%s%s", out[0] ? "," : " NULL ", c->buf[i].name);
}

/* One run of c on backend b and on the CPU, every buffer compared. */
static void compare_once(kcase *c, const test_backend *b, unsigned nulled, double tolerance, const char *stat_name,
                         mg_math_mode math) {
  void *want[MAX_BUFS], *got[MAX_BUFS];
  char why[512], nulls[160];
  describe_nulled(c, nulled, nulls, sizeof nulls);
  place(cpu, c, nulled, want);
  place(b->k, c, nulled, got);
  c->run(cpu, want, c);
  b->k->set_math_mode(math);
  c->run(b->k, got, c);
  b->k->set_math_mode(MG_MATH_FP32);
  tu_check(b->k->take_error(why, sizeof why) == 0, "%s %s (%s%s): take_error after the call: %s", b->name, c->op,
           c->what, nulls, why);
  double worst = 0;
  for (int i = 0; i < c->nbuf; i++) {
    const kbuf *kb = &c->buf[i];
    if (!got[i]) continue;
    void *host = malloc(buf_bytes(kb));
    b->k->download(host, got[i], buf_bytes(kb));
    double buf_worst = 0;
    int64_t at = 0;
    for (int64_t e = 0; e < (kb->n > 0 ? kb->n : 1); e++) {
      double err = element_error(kb, host, want[i], e, tolerance);
      if (err > buf_worst) buf_worst = err, at = e;
    }
    if (!(buf_worst <= tolerance)) {
      double g = kb->labels ? ((int32_t *)host)[at] : ((mg_real *)host)[at];
      double w = kb->labels ? ((int32_t *)want[i])[at] : ((mg_real *)want[i])[at];
      tu_check(false, "%s %s (%s%s): %s[%lld] is %.9g, the CPU's %.9g (error %.3g, tolerance %.3g)", stat_name,
               c->op, c->what, nulls, kb->name, (long long)at, g, w, buf_worst, tolerance);
    }
    worst = tu_worse(worst, buf_worst);
    free(host);
  }
  tu_check(b->k->take_error(why, sizeof why) == 0, "%s %s (%s%s): take_error after the downloads: %s", b->name,
           c->op, c->what, nulls, why);
  release(cpu, c, want);
  release(b->k, c, got);
  op_stat *s = stat_for(stat_name, c->op);
  s->runs++;
  s->tolerance = tolerance;
  if (s->runs == 1 || tu_worse(s->worst, worst) != s->worst) {
    s->worst = worst;
    snprintf(s->what, sizeof s->what, "%s%s", c->what, nulls);
  }
}

/* The sets of gradients nulled: none, each alone, all but each, all. */
static int null_masks(const kcase *c, unsigned *masks) {
  unsigned all = 0, grads[MAX_BUFS];
  int n_grads = 0, n = 0;
  for (int i = 0; i < c->nbuf; i++)
    if (c->buf[i].nullable) all |= grads[n_grads++] = 1u << i;
  unsigned candidates[2 * MAX_BUFS + 2];
  int n_candidates = 0;
  candidates[n_candidates++] = 0;
  for (int g = 0; g < n_grads; g++) candidates[n_candidates++] = grads[g];
  for (int g = 0; g < n_grads; g++) candidates[n_candidates++] = all & ~grads[g];
  candidates[n_candidates++] = all;
  for (int k = 0; k < n_candidates; k++) {
    int seen = 0;
    for (int j = 0; j < n; j++) seen |= masks[j] == candidates[k];
    if (!seen) masks[n++] = candidates[k];
  }
  return n;
}

/* Runs the case just built on every backend, then frees its host buffers. */
static void check_case(kcase *c) {
  mark_covered(c->covers);
  unsigned masks[2 * MAX_BUFS + 2];
  int n_masks = null_masks(c, masks);
  for (int bi = 0; bi < n_backends; bi++) {
    const test_backend *b = &backends[bi];
    const double tolerance = fmin(b->tolerance, c->cap);
    for (int m = 0; m < n_masks; m++) compare_once(c, b, masks[m], tolerance, b->name, MG_MATH_FP32);
    if (c->tf32) { /* the CPU ignores the mode, so strict must stay exact */
      char name[40];
      snprintf(name, sizeof name, "%s tf32", b->name);
      compare_once(c, b, 0, b->device == MG_DEVICE_CUDA ? TF32_TOLERANCE : tolerance, name, MG_MATH_TF32);
    }
  }
  for (int i = 0; i < c->nbuf; i++) free(c->buf[i].host);
  free(c->host_data);
}

#define R(i) ((mg_real *)p[i])

/* ---- memory ---- */

/* buffers: dst, src, out. Uploads host_data into dst, downloads a range of src and uploads it into out: after the
 * run out holds src's range iff download and upload both worked. i: bytes, dst offset, src offset (bytes). */
static void run_upload_download(const mg_kernels *k, void *const *p, const kcase *c) {
  size_t bytes = (size_t)c->i[0];
  k->upload((char *)p[0] + c->i[1], c->host_data, bytes);
  void *tmp = malloc(bytes + 1);
  k->download(tmp, (const char *)p[1] + c->i[2], bytes);
  k->upload((char *)p[2] + c->i[1], tmp, bytes);
  free(tmp);
}
static void run_copy(const mg_kernels *k, void *const *p, const kcase *c) {
  k->copy((char *)p[1] + c->i[1], (const char *)p[0] + c->i[2], (size_t)c->i[0]);
}
static void run_fill_zero(const mg_kernels *k, void *const *p, const kcase *c) {
  k->fill_zero((char *)p[0] + c->i[1], (size_t)c->i[0]);
}
static void run_fill(const mg_kernels *k, void *const *p, const kcase *c) {
  k->fill(c->i[0], (mg_real)c->f[0], R(0) + c->i[1]);
}
/* the settings are callable and leave the backend working (threads back to 1, the runner's setting) */
static void run_settings(const mg_kernels *k, void *const *p, const kcase *c) {
  k->set_threads(c->i[1]);
  k->set_math_mode(MG_MATH_TF32);
  k->set_math_mode(MG_MATH_FP32);
  k->scale_forward(c->i[0], (mg_real)c->f[0], R(0), R(1));
  k->set_threads(1);
}

static void memory_cases(void) {
  static const int sizes[][3] = {{0, 0, 0}, {4, 0, 4}, {5, 4, 0}, {12, 12, 8}, {132, 0, 4}, {1028, 8, 0}};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    const int bytes = sizes[s][0], off_a = sizes[s][1], off_b = sizes[s][2];
    const int64_t n = (bytes + 16) / 4 + 4;
    kcase *c = new_case("upload", "alloc free upload download take_error", run_upload_download,
                        "%d bytes at offsets %d, %d", bytes, off_a, off_b);
    c->i[0] = bytes, c->i[1] = off_a, c->i[2] = off_b;
    add_real(c, "dst", n, -1, 1);
    add_real(c, "src", n, -1, 1);
    add_real(c, "out", n, -1, 1);
    c->host_data = malloc((size_t)bytes + 1);
    for (int i = 0; i < bytes; i++) ((unsigned char *)c->host_data)[i] = (unsigned char)tu_u64();
    c->cap = 0;
    check_case(c);

    c = new_case("copy", "copy", run_copy, "%d bytes at offsets %d, %d", bytes, off_a, off_b);
    c->i[0] = bytes, c->i[1] = off_a, c->i[2] = off_b;
    add_real(c, "src", n, -1, 1);
    add_real(c, "dst", n, -1, 1);
    c->cap = 0;
    check_case(c);

    c = new_case("fill_zero", "fill_zero", run_fill_zero, "%d bytes at offset %d", bytes, off_a);
    c->i[0] = bytes, c->i[1] = off_a;
    add_real(c, "y", n, -1, 1);
    c->cap = 0;
    check_case(c);
  }
  static const int fills[][2] = {{0, 0}, {1, 0}, {3, 1}, {7, 2}, {33, 0}, {257, 3}, {70000, 1}};
  for (size_t s = 0; s < sizeof fills / sizeof fills[0]; s++) {
    kcase *c = new_case("fill", "fill", run_fill, "n %d at offset %d", fills[s][0], fills[s][1]);
    c->i[0] = fills[s][0], c->i[1] = fills[s][1], c->f[0] = -2.75;
    add_real(c, "y", fills[s][0] + fills[s][1] + 3, -1, 1);
    c->cap = 0;
    check_case(c);
  }
  for (int threads = 1; threads <= 2; threads++) {
    kcase *c = new_case("set_threads", "set_threads set_math_mode scale_forward", run_settings, "threads %d",
                        threads);
    c->i[0] = 33, c->i[1] = threads, c->f[0] = 1.5;
    add_real(c, "x", 33, -1, 1);
    add_real(c, "y", 33, -1, 1);
    check_case(c);
  }
}

/* ---- random numbers: y at an offset; i: n, offset in y; u: seed, stream offset; f: mean/lo, std/hi ---- */

static void run_rand_normal(const mg_kernels *k, void *const *p, const kcase *c) {
  k->rand_normal(c->i[0], c->u[0], c->u[1], (mg_real)c->f[0], (mg_real)c->f[1], R(0) + c->i[1]);
}
static void run_rand_uniform(const mg_kernels *k, void *const *p, const kcase *c) {
  k->rand_uniform(c->i[0], c->u[0], c->u[1], (mg_real)c->f[0], (mg_real)c->f[1], R(0) + c->i[1]);
}

static void random_cases(void) {
  static const int sizes[][2] = {{1, 0}, {3, 1}, {7, 0}, {33, 2}, {257, 1}, {4099, 0}};
  static const uint64_t streams[][2] = {{0, 0}, {42, 5}, {0x9e3779b97f4a7c15ull, (uint64_t)1 << 40}};
  static const double params[][2] = {{0, 1}, {-1, 3}, {-0.5, 2.5}};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
    for (size_t r = 0; r < sizeof streams / sizeof streams[0]; r++)
      for (size_t q = 0; q < sizeof params / sizeof params[0]; q++)
        for (int normal = 0; normal <= 1; normal++) {
          kcase *c = new_case(normal ? "rand_normal" : "rand_uniform", normal ? "rand_normal" : "rand_uniform",
                              normal ? run_rand_normal : run_rand_uniform,
                              "n %d seed %llu offset %llu %s %g %g", sizes[s][0], (unsigned long long)streams[r][0],
                              (unsigned long long)streams[r][1], normal ? "mean/std" : "lo/hi", params[q][0],
                              params[q][1]);
          c->i[0] = sizes[s][0], c->i[1] = sizes[s][1];
          c->u[0] = streams[r][0], c->u[1] = streams[r][1];
          c->f[0] = params[q][0], c->f[1] = params[q][1];
          add_real(c, "y", sizes[s][0] + sizes[s][1] + 2, -1, 1);
          /* the same Philox bits: uniforms exactly, normals to the last ulps of the device's log/sin/cos */
          c->cap = normal ? 1e-5 : 0;
          check_case(c);
        }
}

/* ---- dense linear algebra ---- */

/* i: trans_a, trans_b, m, n, k, lda, ldb, ldc; f: alpha, beta; buffers a, b, c */
static void run_gemm(const mg_kernels *k, void *const *p, const kcase *c) {
  const int *i = c->i;
  k->gemm(i[0], i[1], i[2], i[3], i[4], (mg_real)c->f[0], p[0], i[5], p[1], i[6], (mg_real)c->f[1], p[2], i[7]);
}

/* i: n, in, out; buffers x, w, b (maybe absent), y */
static void run_linear_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->linear_forward(c->i[0], c->i[1], c->i[2], p[0], p[1], p[2], p[3]);
}
/* buffers x, w, dy, dx, dw, db */
static void run_linear_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->linear_backward(c->i[0], c->i[1], c->i[2], p[0], p[1], p[2], p[3], p[4], p[5]);
}

static void gemm_cases(void) {
  static const int shapes[][3] = {{1, 1, 1}, {3, 7, 5}, {7, 1, 33}, {33, 17, 257}, {64, 48, 40}, {130, 300, 70}, {3, 5, 0}};
  static const double scalars[][2] = {{1, 0}, {0.5, 1.5}, {-1, 1}};
  int variant = 0;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (int ta = 0; ta <= 1; ta++)
      for (int tb = 0; tb <= 1; tb++, variant++) {
        const int m = shapes[s][0], n = shapes[s][1], kk = shapes[s][2], pad = variant % 2 ? 3 : 0;
        const double *ab = scalars[variant % 3];
        /* row-major storage: op(A) [m,k] is A [m,k] or A [k,m]; lda is at least the stored row's length */
        const int a_rows = ta ? kk : m, a_cols = ta ? m : kk, b_rows = tb ? n : kk, b_cols = tb ? kk : n;
        const int lda = (a_cols > 0 ? a_cols : 1) + pad, ldb = (b_cols > 0 ? b_cols : 1) + pad, ldc = n + pad;
        kcase *c = new_case("gemm", "gemm", run_gemm, "%s%s m %d n %d k %d lda %d ldb %d ldc %d alpha %g beta %g",
                            ta ? "A^T" : "A", tb ? " B^T" : " B", m, n, kk, lda, ldb, ldc, ab[0], ab[1]);
        int *i = c->i;
        i[0] = ta, i[1] = tb, i[2] = m, i[3] = n, i[4] = kk, i[5] = lda, i[6] = ldb, i[7] = ldc;
        c->f[0] = ab[0], c->f[1] = ab[1];
        c->tf32 = kk > 0;
        add_real(c, "a", (int64_t)(a_rows > 0 ? a_rows : 1) * lda, -1, 1);
        add_real(c, "b", (int64_t)(b_rows > 0 ? b_rows : 1) * ldb, -1, 1);
        add_real(c, "c", (int64_t)m * ldc, -1, 1);
        check_case(c);
      }
  static const int linears[][3] = {{1, 1, 1}, {3, 7, 5}, {33, 20, 9}, {8, 257, 3}};
  for (size_t s = 0; s < sizeof linears / sizeof linears[0]; s++)
    for (int bias = 0; bias <= 1; bias++) {
      const int n = linears[s][0], in = linears[s][1], out = linears[s][2];
      kcase *c = new_case("linear_forward", "linear_forward", run_linear_forward, "n %d in %d out %d %s", n, in, out,
                          bias ? "bias" : "no bias");
      c->i[0] = n, c->i[1] = in, c->i[2] = out;
      c->tf32 = 1;
      add_real(c, "x", (int64_t)n * in, -1, 1);
      add_real(c, "w", (int64_t)out * in, -1, 1);
      add_optional(c, bias, "b", out, -1, 1);
      add_real(c, "y", (int64_t)n * out, -1, 1);
      check_case(c);
      if (!bias) continue;
      c = new_case("linear_backward", "linear_backward", run_linear_backward, "n %d in %d out %d", n, in, out);
      c->i[0] = n, c->i[1] = in, c->i[2] = out;
      c->tf32 = 1;
      add_real(c, "x", (int64_t)n * in, -1, 1);
      add_real(c, "w", (int64_t)out * in, -1, 1);
      add_real(c, "dy", (int64_t)n * out, -1, 1);
      add_grad(c, "dx", (int64_t)n * in);
      add_grad(c, "dw", (int64_t)out * in);
      add_grad(c, "db", out);
      check_case(c);
    }
}

/* ---- convolutions: c->conv; forward buffers x, w, b (maybe absent), y; backward x, w, dy, dx, dw, db ---- */

static void run_conv2d_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  void *ws = workspace(k, k->conv2d_workspace(&c->conv));
  k->conv2d_forward(&c->conv, p[0], p[1], p[2], p[3], ws);
  k->free(ws);
}
static void run_conv2d_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  void *ws = workspace(k, k->conv2d_workspace(&c->conv));
  k->conv2d_backward(&c->conv, p[0], p[1], p[2], p[3], p[4], p[5], ws);
  k->free(ws);
}
static void run_conv_transpose2d_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  void *ws = workspace(k, k->conv_transpose2d_workspace(&c->conv));
  k->conv_transpose2d_forward(&c->conv, p[0], p[1], p[2], p[3], ws);
  k->free(ws);
}
static void run_conv_transpose2d_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  void *ws = workspace(k, k->conv_transpose2d_workspace(&c->conv));
  k->conv_transpose2d_backward(&c->conv, p[0], p[1], p[2], p[3], p[4], p[5], ws);
  k->free(ws);
}

static void conv_cases(void) {
  /* n, c_in, h, w, c_out, k, stride, pad, transposed */
  static const int shapes[][9] = {
      {2, 3, 7, 6, 5, 3, 1, 1, 0},  {3, 5, 8, 8, 3, 3, 2, 1, 0},  {1, 4, 9, 7, 6, 3, 2, 1, 0},
      {2, 12, 5, 3, 7, 1, 1, 0, 0}, {1, 3, 10, 9, 6, 4, 2, 1, 0}, {2, 3, 7, 5, 2, 1, 2, 0, 0},
      {9, 2, 4, 4, 3, 3, 1, 0, 0},  {1, 1, 1, 1, 1, 1, 1, 0, 0},  {2, 3, 5, 4, 5, 4, 2, 1, 1},
      {1, 6, 4, 3, 3, 3, 1, 1, 1},  {2, 5, 3, 3, 2, 1, 1, 0, 1},  {1, 3, 4, 5, 2, 3, 2, 1, 1},
      {9, 2, 3, 2, 3, 4, 2, 1, 1},  {1, 10, 6, 6, 12, 3, 1, 1, 0},
  };
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const int *v = shapes[s];
    const int t = v[8], n = v[0], cin = v[1], h = v[2], w = v[3], cout = v[4], kk = v[5], stride = v[6], pad = v[7];
    mg_conv_desc d = {n, cin, h, w, cout, 0, 0, kk, stride, pad};
    d.h_out = t ? (h - 1) * stride - 2 * pad + kk : (h + 2 * pad - kk) / stride + 1;
    d.w_out = t ? (w - 1) * stride - 2 * pad + kk : (w + 2 * pad - kk) / stride + 1;
    const int64_t xn = (int64_t)n * cin * h * w, yn = (int64_t)n * cout * d.h_out * d.w_out;
    const int64_t wn = (int64_t)cout * cin * kk * kk;
    const char *fwd = t ? "conv_transpose2d_forward" : "conv2d_forward";
    const char *bwd = t ? "conv_transpose2d_backward" : "conv2d_backward";
    for (int bias = 0; bias <= 1; bias++) {
      kcase *c = new_case(fwd, t ? "conv_transpose2d_forward conv_transpose2d_workspace"
                                 : "conv2d_forward conv2d_workspace",
                          t ? run_conv_transpose2d_forward : run_conv2d_forward,
                          "x [%d,%d,%d,%d] c_out %d k %d stride %d pad %d -> %dx%d %s", n, cin, h, w, cout, kk, stride,
                          pad, d.h_out, d.w_out, bias ? "bias" : "no bias");
      c->conv = d;
      c->tf32 = 1;
      add_real(c, "x", xn, -1, 1);
      add_real(c, "w", wn, -1, 1);
      add_optional(c, bias, "b", cout, -1, 1);
      add_real(c, "y", yn, -1, 1);
      check_case(c);
    }
    kcase *c = new_case(bwd, t ? "conv_transpose2d_backward conv_transpose2d_workspace"
                               : "conv2d_backward conv2d_workspace",
                        t ? run_conv_transpose2d_backward : run_conv2d_backward,
                        "x [%d,%d,%d,%d] c_out %d k %d stride %d pad %d -> %dx%d", n, cin, h, w, cout, kk, stride, pad,
                        d.h_out, d.w_out);
    c->conv = d;
    c->tf32 = 1;
    add_real(c, "x", xn, -1, 1);
    add_real(c, "w", wn, -1, 1);
    add_real(c, "dy", yn, -1, 1);
    add_grad(c, "dx", xn);
    add_grad(c, "dw", wn);
    add_grad(c, "db", cout);
    check_case(c);
  }
}

/* ---- normalization; i: n, c, hw, groups (or training); f: eps, momentum ---- */

/* buffers x, gamma, beta, y, mean, rstd */
static void run_group_norm_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->group_norm_forward(c->i[0], c->i[1], c->i[2], c->i[3], (mg_real)c->f[0], p[0], p[1], p[2], p[3], p[4], p[5]);
}
/* buffers x, gamma, mean, rstd, dy, dx, dgamma, dbeta */
static void run_group_norm_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->group_norm_backward(c->i[0], c->i[1], c->i[2], c->i[3], p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]);
}
/* buffers x, gamma, beta, y, mean, rstd, running_mean, running_var */
static void run_batch_norm_forward_train(const mg_kernels *k, void *const *p, const kcase *c) {
  k->batch_norm_forward_train(c->i[0], c->i[1], c->i[2], (mg_real)c->f[0], (mg_real)c->f[1], p[0], p[1], p[2], p[3],
                              p[4], p[5], p[6], p[7]);
}
/* buffers x, gamma, beta, running_mean, running_var, y, rstd */
static void run_batch_norm_forward_eval(const mg_kernels *k, void *const *p, const kcase *c) {
  k->batch_norm_forward_eval(c->i[0], c->i[1], c->i[2], (mg_real)c->f[0], p[0], p[1], p[2], p[3], p[4], p[5], p[6]);
}
/* buffers x, gamma, mean, rstd, dy, dx, dgamma, dbeta */
static void run_batch_norm_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->batch_norm_backward(c->i[0], c->i[1], c->i[2], c->i[3], p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]);
}

static void norm_cases(void) {
  /* n, c, hw, groups, affine, x offset (|mean| >> std) */
  static const int shapes[][6] = {{2, 6, 7, 3, 1, 0},  {1, 4, 1, 4, 1, 0},   {3, 12, 33, 4, 0, 0},
                                  {2, 16, 9, 8, 1, 5}, {1, 5, 257, 1, 1, 0}, {4, 3, 3, 3, 0, 5},
                                  {2, 4, 4099, 2, 1, 0}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const int n = shapes[s][0], ch = shapes[s][1], hw = shapes[s][2], groups = shapes[s][3], affine = shapes[s][4];
    const double lo = shapes[s][5] - 1, hi = shapes[s][5] + 1;
    const int64_t xn = (int64_t)n * ch * hw, stats_n = (int64_t)n * groups;
    kcase *c = new_case("group_norm_forward", "group_norm_forward", run_group_norm_forward,
                        "n %d c %d hw %d groups %d %s x in [%g,%g]", n, ch, hw, groups, affine ? "affine" : "no affine",
                        lo, hi);
    c->i[0] = n, c->i[1] = ch, c->i[2] = hw, c->i[3] = groups, c->f[0] = 1e-5;
    add_real(c, "x", xn, lo, hi);
    add_optional(c, affine, "gamma", ch, 0.5, 1.5);
    add_optional(c, affine, "beta", ch, -1, 1);
    add_real(c, "y", xn, -1, 1);
    add_real(c, "mean", stats_n, -1, 1);
    add_real(c, "rstd", stats_n, -1, 1);
    check_case(c);

    c = new_case("group_norm_backward", "group_norm_backward", run_group_norm_backward,
                 "n %d c %d hw %d groups %d %s", n, ch, hw, groups, affine ? "affine" : "no affine");
    c->i[0] = n, c->i[1] = ch, c->i[2] = hw, c->i[3] = groups;
    add_real(c, "x", xn, lo, hi);
    add_optional(c, affine, "gamma", ch, 0.5, 1.5);
    add_real(c, "mean", stats_n, lo, hi);
    add_real(c, "rstd", stats_n, 0.5, 2);
    add_real(c, "dy", xn, -1, 1);
    add_grad(c, "dx", xn);
    add_grad(c, "dgamma", ch);
    add_grad(c, "dbeta", ch);
    check_case(c);

    /* a batch of one value per channel has no unbiased variance: the engine refuses it */
    for (int running = 0; running <= 1 && n * hw > 1; running++) {
      c = new_case("batch_norm_forward_train", "batch_norm_forward_train", run_batch_norm_forward_train,
                   "n %d c %d hw %d %s %s x in [%g,%g]", n, ch, hw, affine ? "affine" : "no affine",
                   running ? "running stats" : "no running stats", lo, hi);
      c->i[0] = n, c->i[1] = ch, c->i[2] = hw, c->f[0] = 1e-5, c->f[1] = 0.1;
      add_real(c, "x", xn, lo, hi);
      add_optional(c, affine, "gamma", ch, 0.5, 1.5);
      add_optional(c, affine, "beta", ch, -1, 1);
      add_real(c, "y", xn, -1, 1);
      add_real(c, "mean", ch, -1, 1);
      add_real(c, "rstd", ch, -1, 1);
      add_optional(c, running, "running_mean", ch, -1, 1);
      add_optional(c, running, "running_var", ch, 0.5, 2);
      check_case(c);
    }

    c = new_case("batch_norm_forward_eval", "batch_norm_forward_eval", run_batch_norm_forward_eval,
                 "n %d c %d hw %d %s", n, ch, hw, affine ? "affine" : "no affine");
    c->i[0] = n, c->i[1] = ch, c->i[2] = hw, c->f[0] = 1e-5;
    add_real(c, "x", xn, lo, hi);
    add_optional(c, affine, "gamma", ch, 0.5, 1.5);
    add_optional(c, affine, "beta", ch, -1, 1);
    add_real(c, "running_mean", ch, lo, hi);
    add_real(c, "running_var", ch, 0.5, 2);
    add_real(c, "y", xn, -1, 1);
    add_real(c, "rstd", ch, -1, 1);
    check_case(c);

    for (int training = 0; training <= 1; training++) {
      c = new_case("batch_norm_backward", "batch_norm_backward", run_batch_norm_backward, "n %d c %d hw %d %s %s", n,
                   ch, hw, training ? "training" : "eval", affine ? "affine" : "no affine");
      c->i[0] = n, c->i[1] = ch, c->i[2] = hw, c->i[3] = training;
      add_real(c, "x", xn, lo, hi);
      add_optional(c, affine, "gamma", ch, 0.5, 1.5);
      add_real(c, "mean", ch, lo, hi);
      add_real(c, "rstd", ch, 0.5, 2);
      add_real(c, "dy", xn, -1, 1);
      add_grad(c, "dx", xn);
      add_grad(c, "dgamma", ch);
      add_grad(c, "dbeta", ch);
      check_case(c);
    }
  }
}

/* ---- elementwise ---- */

/* i: op, n; f: param; forward buffers x, y; backward x, y, dy, dx */
static void run_unary_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->unary_forward((mg_unary_op)c->i[0], (mg_real)c->f[0], c->i[1], p[0], p[1]);
}
static void run_unary_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->unary_backward((mg_unary_op)c->i[0], (mg_real)c->f[0], c->i[1], p[0], p[1], p[2], p[3]);
}
/* i: op; c->bc; forward buffers a, b, y; backward a, b, dy, da, db */
static void run_binary_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->binary_forward((mg_binary_op)c->i[0], &c->bc, p[0], p[1], p[2]);
}
static void run_binary_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->binary_backward((mg_binary_op)c->i[0], &c->bc, p[0], p[1], p[2], p[3], p[4]);
}
/* i: n; f: alpha; buffers x, y */
static void run_scale_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->scale_forward(c->i[0], (mg_real)c->f[0], p[0], p[1]);
}
static void run_axpy(const mg_kernels *k, void *const *p, const kcase *c) {
  k->axpy(c->i[0], (mg_real)c->f[0], p[0], p[1]);
}
/* i: rows, cols; forward buffers x, y; backward y, dy, dx */
static void run_softmax_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->softmax_forward(c->i[0], c->i[1], p[0], p[1]);
}
static void run_softmax_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->softmax_backward(c->i[0], c->i[1], p[0], p[1], p[2]);
}

static int64_t volume(const int s[4]) { return (int64_t)s[0] * s[1] * s[2] * s[3]; }

/* Operand strides for out[]: contiguous over the operand's own shape, 0 along its size-1 dims. */
static void bcast_strides(const int shape[4], int64_t stride[4]) {
  int64_t st = 1;
  for (int d = 3; d >= 0; d--) {
    stride[d] = shape[d] == 1 ? 0 : st;
    st *= shape[d];
  }
}

static void elementwise_cases(void) {
  static const char *const unary_names[] = {"relu", "leaky_relu", "silu", "tanh", "sigmoid"};
  static const int sizes[] = {0, 1, 7, 33, 257, 5000};
  for (int op = 0; op < MG_UNARY_COUNT; op++)
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
      const int n = sizes[s];
      kcase *c = new_case("unary_forward", "unary_forward", run_unary_forward, "%s n %d", unary_names[op], n);
      c->i[0] = op, c->i[1] = n, c->f[0] = 0.2;
      add_real(c, "x", n, -6, 6);
      add_real(c, "y", n, -1, 1);
      check_case(c);
      c = new_case("unary_backward", "unary_backward", run_unary_backward, "%s n %d", unary_names[op], n);
      c->i[0] = op, c->i[1] = n, c->f[0] = 0.2;
      add_real(c, "x", n, -6, 6);
      add_real(c, "y", n, -1, 1);
      add_real(c, "dy", n, -1, 1);
      add_real(c, "dx", n, -1, 1);
      check_case(c);
    }

  /* output shape, a's shape, b's shape: every broadcast pattern, both sides */
  static const int patterns[][3][4] = {
      {{2, 3, 4, 5}, {2, 3, 4, 5}, {2, 3, 4, 5}}, /* same shape */
      {{2, 3, 4, 5}, {2, 3, 4, 5}, {1, 1, 1, 1}}, /* b a scalar */
      {{2, 3, 4, 5}, {1, 1, 1, 1}, {2, 3, 4, 5}}, /* a a scalar */
      {{2, 3, 4, 5}, {2, 3, 4, 5}, {1, 3, 1, 1}}, /* per channel */
      {{2, 3, 4, 5}, {2, 3, 4, 5}, {2, 1, 4, 5}}, /* over channels */
      {{2, 3, 4, 5}, {1, 3, 4, 5}, {2, 3, 1, 1}}, /* both broadcast */
      {{2, 3, 4, 5}, {2, 3, 4, 5}, {1, 1, 1, 5}}, /* a row */
      {{3, 5, 7, 2}, {3, 1, 7, 1}, {1, 5, 1, 2}}, /* interleaved */
      {{1, 3, 1, 7}, {1, 3, 1, 7}, {1, 3, 1, 1}}, /* size-1 dims in the output */
      {{33, 1, 1, 1}, {33, 1, 1, 1}, {1, 1, 1, 1}},
  };
  static const char *const binary_names[] = {"add", "sub", "mul"};
  for (size_t s = 0; s < sizeof patterns / sizeof patterns[0]; s++)
    for (int op = 0; op < MG_BINARY_COUNT; op++) {
      const int *out = patterns[s][0], *as = patterns[s][1], *bs = patterns[s][2];
      mg_bcast_desc d;
      memcpy(d.shape, out, sizeof d.shape);
      bcast_strides(as, d.a_stride);
      bcast_strides(bs, d.b_stride);
      char what[160];
      snprintf(what, sizeof what, "%s out [%d,%d,%d,%d] a [%d,%d,%d,%d] b [%d,%d,%d,%d]", binary_names[op], out[0],
               out[1], out[2], out[3], as[0], as[1], as[2], as[3], bs[0], bs[1], bs[2], bs[3]);
      kcase *c = new_case("binary_forward", "binary_forward", run_binary_forward, "%s", what);
      c->i[0] = op, c->bc = d;
      add_real(c, "a", volume(as), -2, 2);
      add_real(c, "b", volume(bs), -2, 2);
      add_real(c, "y", volume(out), -1, 1);
      check_case(c);
      c = new_case("binary_backward", "binary_backward", run_binary_backward, "%s", what);
      c->i[0] = op, c->bc = d;
      add_real(c, "a", volume(as), -2, 2);
      add_real(c, "b", volume(bs), -2, 2);
      add_real(c, "dy", volume(out), -1, 1);
      add_grad(c, "da", volume(as));
      add_grad(c, "db", volume(bs));
      check_case(c);
    }

  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
    for (int axpy = 0; axpy <= 1; axpy++) {
      const int n = sizes[s];
      kcase *c = new_case(axpy ? "axpy" : "scale_forward", axpy ? "axpy" : "scale_forward",
                          axpy ? run_axpy : run_scale_forward, "n %d alpha -0.75", n);
      c->i[0] = n, c->f[0] = -0.75;
      add_real(c, "x", n, -1, 1);
      add_real(c, "y", n, -1, 1);
      check_case(c);
    }

  /* rows, cols, x in [lo, hi] (large logits: the max must be subtracted) */
  static const int softmaxes[][4] = {{1, 1, -5, 5}, {3, 7, -5, 5}, {5, 33, -5, 5}, {2, 257, -5, 5},
                                     {4, 1000, -5, 5}, {3, 9, 50, 80}};
  for (size_t s = 0; s < sizeof softmaxes / sizeof softmaxes[0]; s++) {
    const int rows = softmaxes[s][0], cols = softmaxes[s][1];
    kcase *c = new_case("softmax_forward", "softmax_forward", run_softmax_forward, "rows %d cols %d x in [%d,%d]",
                        rows, cols, softmaxes[s][2], softmaxes[s][3]);
    c->i[0] = rows, c->i[1] = cols;
    add_real(c, "x", (int64_t)rows * cols, softmaxes[s][2], softmaxes[s][3]);
    add_real(c, "y", (int64_t)rows * cols, -1, 1);
    check_case(c);
    c = new_case("softmax_backward", "softmax_backward", run_softmax_backward, "rows %d cols %d", rows, cols);
    c->i[0] = rows, c->i[1] = cols;
    add_real(c, "y", (int64_t)rows * cols, 0, 1);
    add_real(c, "dy", (int64_t)rows * cols, -1, 1);
    add_real(c, "dx", (int64_t)rows * cols, -1, 1);
    check_case(c);
  }
}

/* ---- attention; i: b, heads, head_dim, len; forward buffers q, k, v, out, probs; backward q, k, v, probs, dout,
 * dq, dk, dv ---- */

static void run_attention_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  const int *i = c->i;
  void *ws = workspace(k, k->attention_workspace(i[0], i[1], i[2], i[3]));
  k->attention_forward(i[0], i[1], i[2], i[3], p[0], p[1], p[2], p[3], p[4], ws);
  k->free(ws);
}
static void run_attention_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  const int *i = c->i;
  void *ws = workspace(k, k->attention_workspace(i[0], i[1], i[2], i[3]));
  k->attention_backward(i[0], i[1], i[2], i[3], p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], ws);
  k->free(ws);
}

static void attention_cases(void) {
  static const int shapes[][4] = {{1, 1, 4, 1}, {2, 2, 8, 7}, {1, 3, 5, 33}, {2, 1, 16, 65}, {1, 2, 32, 100}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const int b = shapes[s][0], heads = shapes[s][1], head_dim = shapes[s][2], len = shapes[s][3];
    const int64_t qn = (int64_t)b * heads * head_dim * len, pn = (int64_t)b * heads * len * len;
    kcase *c = new_case("attention_forward", "attention_forward attention_workspace", run_attention_forward,
                        "b %d heads %d head_dim %d len %d", b, heads, head_dim, len);
    memcpy(c->i, shapes[s], sizeof shapes[s]);
    add_real(c, "q", qn, -2, 2);
    add_real(c, "k", qn, -2, 2);
    add_real(c, "v", qn, -1, 1);
    add_real(c, "out", qn, -1, 1);
    add_real(c, "probs", pn, -1, 1);
    check_case(c);
    c = new_case("attention_backward", "attention_backward attention_workspace", run_attention_backward,
                 "b %d heads %d head_dim %d len %d", b, heads, head_dim, len);
    memcpy(c->i, shapes[s], sizeof shapes[s]);
    add_real(c, "q", qn, -2, 2);
    add_real(c, "k", qn, -2, 2);
    add_real(c, "v", qn, -1, 1);
    add_real(c, "probs", pn, 0, 2.0 / len);
    add_real(c, "dout", qn, -1, 1);
    add_grad(c, "dq", qn);
    add_grad(c, "dk", qn);
    add_grad(c, "dv", qn);
    check_case(c);
  }
}

/* ---- resampling and layout ---- */

/* i: planes, h, w; forward buffers x, y; backward dy, dx */
static void run_upsample_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->upsample_nearest2x_forward(c->i[0], c->i[1], c->i[2], p[0], p[1]);
}
static void run_upsample_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->upsample_nearest2x_backward(c->i[0], c->i[1], c->i[2], p[0], p[1]);
}
static void run_pool_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->avg_pool2x_forward(c->i[0], c->i[1], c->i[2], p[0], p[1]);
}
static void run_pool_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->avg_pool2x_backward(c->i[0], c->i[1], c->i[2], p[0], p[1]);
}
/* i: n, ca, cb, hw; forward buffers a, b, y; backward dy, da, db */
static void run_concat_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->concat_forward(c->i[0], c->i[1], c->i[2], c->i[3], p[0], p[1], p[2]);
}
static void run_concat_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->concat_backward(c->i[0], c->i[1], c->i[2], c->i[3], p[0], p[1], p[2]);
}

static void resample_cases(void) {
  static const int shapes[][3] = {{1, 1, 1}, {3, 7, 5}, {2, 16, 9}, {5, 2, 33}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const int planes = shapes[s][0], h = shapes[s][1], w = shapes[s][2];
    const int64_t small = (int64_t)planes * h * w, big = 4 * small;
    kcase *c = new_case("upsample_nearest2x_forward", "upsample_nearest2x_forward", run_upsample_forward,
                        "planes %d h %d w %d", planes, h, w);
    memcpy(c->i, shapes[s], sizeof shapes[s]);
    add_real(c, "x", small, -1, 1);
    add_real(c, "y", big, -1, 1);
    c->cap = 0; /* pure data movement */
    check_case(c);
    c = new_case("upsample_nearest2x_backward", "upsample_nearest2x_backward", run_upsample_backward,
                 "planes %d h %d w %d", planes, h, w);
    memcpy(c->i, shapes[s], sizeof shapes[s]);
    add_real(c, "dy", big, -1, 1);
    add_real(c, "dx", small, -1, 1);
    check_case(c);
    /* pooling halves h, w (even): the same arrays read the other way */
    c = new_case("avg_pool2x_forward", "avg_pool2x_forward", run_pool_forward, "planes %d h %d w %d", planes, 2 * h,
                 2 * w);
    c->i[0] = planes, c->i[1] = 2 * h, c->i[2] = 2 * w;
    add_real(c, "x", big, -1, 1);
    add_real(c, "y", small, -1, 1);
    check_case(c);
    c = new_case("avg_pool2x_backward", "avg_pool2x_backward", run_pool_backward, "planes %d h %d w %d", planes,
                 2 * h, 2 * w);
    c->i[0] = planes, c->i[1] = 2 * h, c->i[2] = 2 * w;
    add_real(c, "dy", small, -1, 1);
    add_real(c, "dx", big, -1, 1);
    check_case(c);
  }
  static const int concats[][4] = {{1, 1, 1, 1}, {2, 3, 5, 7}, {3, 8, 1, 33}, {1, 2, 6, 257}};
  for (size_t s = 0; s < sizeof concats / sizeof concats[0]; s++) {
    const int n = concats[s][0], ca = concats[s][1], cb = concats[s][2], hw = concats[s][3];
    kcase *c = new_case("concat_forward", "concat_forward", run_concat_forward, "n %d ca %d cb %d hw %d", n, ca, cb,
                        hw);
    memcpy(c->i, concats[s], sizeof concats[s]);
    add_real(c, "a", (int64_t)n * ca * hw, -1, 1);
    add_real(c, "b", (int64_t)n * cb * hw, -1, 1);
    add_real(c, "y", (int64_t)n * (ca + cb) * hw, -1, 1);
    c->cap = 0;
    check_case(c);
    c = new_case("concat_backward", "concat_backward", run_concat_backward, "n %d ca %d cb %d hw %d", n, ca, cb, hw);
    memcpy(c->i, concats[s], sizeof concats[s]);
    add_real(c, "dy", (int64_t)n * (ca + cb) * hw, -1, 1);
    add_grad(c, "da", (int64_t)n * ca * hw);
    add_grad(c, "db", (int64_t)n * cb * hw);
    check_case(c);
  }
}

/* ---- embeddings ---- */

/* i: n, dim; f: max_period; forward buffers t, y; backward t, dy, dt */
static void run_timestep_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->timestep_embedding_forward(c->i[0], c->i[1], (mg_real)c->f[0], p[0], p[1]);
}
static void run_timestep_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->timestep_embedding_backward(c->i[0], c->i[1], (mg_real)c->f[0], p[0], p[1], p[2]);
}
/* i: n, dim, rows; forward buffers labels, table, y; backward labels, dy, dtable */
static void run_embedding_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->embedding_forward(c->i[0], c->i[1], p[0], p[1], p[2]);
}
static void run_embedding_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->embedding_backward(c->i[0], c->i[1], c->i[2], p[0], p[1], p[2]);
}

static void embedding_cases(void) {
  static const int timesteps[][2] = {{1, 2}, {5, 8}, {7, 64}, {3, 130}};
  for (size_t s = 0; s < sizeof timesteps / sizeof timesteps[0]; s++) {
    const int n = timesteps[s][0], dim = timesteps[s][1];
    kcase *c = new_case("timestep_embedding_forward", "timestep_embedding_forward", run_timestep_forward,
                        "n %d dim %d t in [0,1000]", n, dim);
    c->i[0] = n, c->i[1] = dim, c->f[0] = 10000;
    add_real(c, "t", n, 0, 1000);
    add_real(c, "y", (int64_t)n * dim, -1, 1);
    check_case(c);
    c = new_case("timestep_embedding_backward", "timestep_embedding_backward", run_timestep_backward,
                 "n %d dim %d t in [0,1000]", n, dim);
    c->i[0] = n, c->i[1] = dim, c->f[0] = 10000;
    add_real(c, "t", n, 0, 1000);
    add_real(c, "dy", (int64_t)n * dim, -1, 1);
    add_real(c, "dt", n, -1, 1);
    check_case(c);
  }
  /* n, dim, rows: more samples than rows, so labels repeat and their gradients add up */
  static const int lookups[][3] = {{1, 1, 1}, {7, 5, 3}, {33, 70, 10}, {4, 129, 40}};
  for (size_t s = 0; s < sizeof lookups / sizeof lookups[0]; s++) {
    const int n = lookups[s][0], dim = lookups[s][1], rows = lookups[s][2];
    kcase *c = new_case("embedding_forward", "embedding_forward", run_embedding_forward, "n %d dim %d rows %d", n, dim,
                        rows);
    memcpy(c->i, lookups[s], sizeof lookups[s]);
    add_labels(c, "labels", n, rows);
    add_real(c, "table", (int64_t)rows * dim, -1, 1);
    add_real(c, "y", (int64_t)n * dim, -1, 1);
    c->cap = 0;
    check_case(c);
    c = new_case("embedding_backward", "embedding_backward", run_embedding_backward, "n %d dim %d rows %d", n, dim,
                 rows);
    memcpy(c->i, lookups[s], sizeof lookups[s]);
    add_labels(c, "labels", n, rows);
    add_real(c, "dy", (int64_t)n * dim, -1, 1);
    add_real(c, "dtable", (int64_t)rows * dim, -1, 1);
    check_case(c);
  }
}

/* ---- GAN pieces ---- */

/* i: rows, cols, iterations; f: eps; buffers w, u, v, sigma, y */
static void run_spectral_norm_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->spectral_norm_forward(c->i[0], c->i[1], c->i[2], (mg_real)c->f[0], p[0], p[1], p[2], p[3], p[4]);
}
/* buffers w, u, v, sigma, dy, dw */
static void run_spectral_norm_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->spectral_norm_backward(c->i[0], c->i[1], p[0], p[1], p[2], p[3], p[4], p[5]);
}
/* i: n, c, h, w; forward buffers params, x, y; backward params, dy, dx */
static void run_augment_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->augment_forward(c->i[0], c->i[1], c->i[2], c->i[3], p[0], p[1], p[2]);
}
static void run_augment_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->augment_backward(c->i[0], c->i[1], c->i[2], c->i[3], p[0], p[1], p[2]);
}
/* i: rows, cols; forward buffers x, y; backward dy, dx */
static void run_row_sum_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->row_sum_forward(c->i[0], c->i[1], p[0], p[1]);
}
static void run_row_sum_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->row_sum_backward(c->i[0], c->i[1], p[0], p[1]);
}

/* Per-image augmentation parameters: image 0 the identity, the others random whole shifts and rectangles, some
 * reaching past the image (clamped), some empty. */
static void augment_params(mg_real *params, int n, int h, int w) {
  for (int s = 0; s < n; s++) {
    mg_real *q = params + (int64_t)s * MG_AUGMENT_PARAMS;
    if (s == 0) {
      static const mg_real identity[MG_AUGMENT_PARAMS] = {0, 1, 0, 0, 0, 0, 0, 0};
      memcpy(q, identity, sizeof identity);
      continue;
    }
    q[MG_AUGMENT_BRIGHTNESS] = (mg_real)tu_uniform(-0.5, 0.5);
    q[MG_AUGMENT_CONTRAST] = (mg_real)tu_uniform(0.5, 1.5);
    q[MG_AUGMENT_SHIFT_X] = (mg_real)floor(tu_uniform(-w - 1, w + 2));
    q[MG_AUGMENT_SHIFT_Y] = (mg_real)floor(tu_uniform(-h / 2, h / 2 + 1));
    q[MG_AUGMENT_CUT_X0] = (mg_real)floor(tu_uniform(-1, w + 1));
    q[MG_AUGMENT_CUT_Y0] = (mg_real)floor(tu_uniform(-1, h + 1));
    q[MG_AUGMENT_CUT_X1] = q[MG_AUGMENT_CUT_X0] + (mg_real)floor(tu_uniform(-1, w / 2 + 2));
    q[MG_AUGMENT_CUT_Y1] = q[MG_AUGMENT_CUT_Y0] + (mg_real)floor(tu_uniform(-1, h / 2 + 2));
  }
}

static void gan_cases(void) {
  /* rows, cols, iterations (0: u and v as given) */
  static const int spectral[][3] = {{1, 1, 1}, {4, 27, 1}, {16, 33, 3}, {64, 75, 1}, {5, 9, 0}};
  for (size_t s = 0; s < sizeof spectral / sizeof spectral[0]; s++) {
    const int rows = spectral[s][0], cols = spectral[s][1], iterations = spectral[s][2];
    kcase *c = new_case("spectral_norm_forward", "spectral_norm_forward", run_spectral_norm_forward,
                        "rows %d cols %d iterations %d", rows, cols, iterations);
    memcpy(c->i, spectral[s], sizeof spectral[s]);
    c->f[0] = 1e-12;
    add_real(c, "w", (int64_t)rows * cols, iterations ? -1 : 0, 1); /* positive w, u, v: sigma far from 0 */
    add_real(c, "u", rows, 0.1, 1);
    add_real(c, "v", cols, 0.1, 1);
    add_real(c, "sigma", 1, -1, 1);
    add_real(c, "y", (int64_t)rows * cols, -1, 1);
    check_case(c);
    c = new_case("spectral_norm_backward", "spectral_norm_backward", run_spectral_norm_backward,
                 "rows %d cols %d", rows, cols);
    c->i[0] = rows, c->i[1] = cols;
    add_real(c, "w", (int64_t)rows * cols, -1, 1);
    add_real(c, "u", rows, -1, 1);
    add_real(c, "v", cols, -1, 1);
    add_real(c, "sigma", 1, 1, 3);
    add_real(c, "dy", (int64_t)rows * cols, -1, 1);
    add_real(c, "dw", (int64_t)rows * cols, -1, 1);
    check_case(c);
  }
  static const int augments[][4] = {{1, 1, 1, 1}, {4, 2, 7, 5}, {6, 3, 8, 8}, {3, 1, 33, 17}};
  for (size_t s = 0; s < sizeof augments / sizeof augments[0]; s++) {
    const int n = augments[s][0], ch = augments[s][1], h = augments[s][2], w = augments[s][3];
    const int64_t xn = (int64_t)n * ch * h * w;
    for (int backward = 0; backward <= 1; backward++) {
      kcase *c = new_case(backward ? "augment_backward" : "augment_forward",
                          backward ? "augment_backward" : "augment_forward",
                          backward ? run_augment_backward : run_augment_forward, "n %d c %d h %d w %d", n, ch, h, w);
      memcpy(c->i, augments[s], sizeof augments[s]);
      augment_params(add_real(c, "params", (int64_t)n * MG_AUGMENT_PARAMS, 0, 0), n, h, w);
      add_real(c, backward ? "dy" : "x", xn, -1, 1);
      add_real(c, backward ? "dx" : "y", xn, -1, 1);
      check_case(c);
    }
  }
  static const int row_sums[][2] = {{1, 1}, {7, 3}, {33, 257}, {2, 5000}};
  for (size_t s = 0; s < sizeof row_sums / sizeof row_sums[0]; s++) {
    const int rows = row_sums[s][0], cols = row_sums[s][1];
    kcase *c = new_case("row_sum_forward", "row_sum_forward", run_row_sum_forward, "rows %d cols %d", rows, cols);
    memcpy(c->i, row_sums[s], sizeof row_sums[s]);
    add_real(c, "x", (int64_t)rows * cols, -1, 1);
    add_real(c, "y", rows, -1, 1);
    check_case(c);
    c = new_case("row_sum_backward", "row_sum_backward", run_row_sum_backward, "rows %d cols %d", rows, cols);
    memcpy(c->i, row_sums[s], sizeof row_sums[s]);
    add_real(c, "dy", rows, -1, 1);
    add_real(c, "dx", (int64_t)rows * cols, -1, 1);
    check_case(c);
  }
}

/* ---- reductions and losses; i: n (rows, classes for cross-entropy); f: sign ---- */

static void run_sum_forward(const mg_kernels *k, void *const *p, const kcase *c) { k->sum_forward(c->i[0], p[0], p[1]); }
static void run_sum_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->sum_backward(c->i[0], p[0], p[1]);
}
static void run_mse_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->mse_forward(c->i[0], p[0], p[1], p[2]);
}
static void run_mse_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->mse_backward(c->i[0], p[0], p[1], p[2], p[3], p[4]);
}
static void run_bce_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->bce_logits_forward(c->i[0], p[0], p[1], p[2]);
}
static void run_bce_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->bce_logits_backward(c->i[0], p[0], p[1], p[2], p[3], p[4]);
}
static void run_hinge_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->hinge_forward(c->i[0], (mg_real)c->f[0], p[0], p[1]);
}
static void run_hinge_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->hinge_backward(c->i[0], (mg_real)c->f[0], p[0], p[1], p[2]);
}
/* buffers logits, labels, out, probs; backward probs, labels, dout, dlogits */
static void run_cross_entropy_forward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->cross_entropy_forward(c->i[0], c->i[1], p[0], p[1], p[2], p[3]);
}
static void run_cross_entropy_backward(const mg_kernels *k, void *const *p, const kcase *c) {
  k->cross_entropy_backward(c->i[0], c->i[1], p[0], p[1], p[2], p[3]);
}

static void loss_cases(void) {
  static const int sizes[] = {1, 7, 257, 5000, 70001};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    const int n = sizes[s];
    kcase *c = new_case("sum_forward", "sum_forward", run_sum_forward, "n %d", n);
    c->i[0] = n;
    add_real(c, "x", n, -1, 1);
    add_real(c, "out", 1, -1, 1);
    check_case(c);
    c = new_case("sum_backward", "sum_backward", run_sum_backward, "n %d", n);
    c->i[0] = n;
    add_real(c, "dout", 1, -2, 2);
    add_real(c, "dx", n, -1, 1);
    check_case(c);

    c = new_case("mse_forward", "mse_forward", run_mse_forward, "n %d", n);
    c->i[0] = n;
    add_real(c, "a", n, -1, 1);
    add_real(c, "b", n, -1, 1);
    add_real(c, "out", 1, -1, 1);
    check_case(c);
    c = new_case("mse_backward", "mse_backward", run_mse_backward, "n %d", n);
    c->i[0] = n;
    add_real(c, "a", n, -1, 1);
    add_real(c, "b", n, -1, 1);
    add_real(c, "dout", 1, -2, 2);
    add_grad(c, "da", n);
    add_grad(c, "db", n);
    check_case(c);

    c = new_case("bce_logits_forward", "bce_logits_forward", run_bce_forward, "n %d", n);
    c->i[0] = n;
    add_real(c, "x", n, -8, 8);
    add_real(c, "t", n, 0, 1);
    add_real(c, "out", 1, -1, 1);
    check_case(c);
    c = new_case("bce_logits_backward", "bce_logits_backward", run_bce_backward, "n %d", n);
    c->i[0] = n;
    add_real(c, "x", n, -8, 8);
    add_real(c, "t", n, 0, 1);
    add_real(c, "dout", 1, -2, 2);
    add_grad(c, "dx", n);
    add_grad(c, "dt", n);
    check_case(c);

    for (int sign = -1; sign <= 1; sign += 2) {
      c = new_case("hinge_forward", "hinge_forward", run_hinge_forward, "n %d sign %d", n, sign);
      c->i[0] = n, c->f[0] = sign;
      add_real(c, "x", n, -2, 2);
      add_real(c, "out", 1, -1, 1);
      check_case(c);
      c = new_case("hinge_backward", "hinge_backward", run_hinge_backward, "n %d sign %d", n, sign);
      c->i[0] = n, c->f[0] = sign;
      add_real(c, "x", n, -2, 2);
      add_real(c, "dout", 1, -2, 2);
      add_real(c, "dx", n, -1, 1);
      check_case(c);
    }
  }
  static const int entropies[][2] = {{1, 1}, {5, 3}, {33, 10}, {4, 257}, {1000, 7}};
  for (size_t s = 0; s < sizeof entropies / sizeof entropies[0]; s++) {
    const int rows = entropies[s][0], classes = entropies[s][1];
    kcase *c = new_case("cross_entropy_forward", "cross_entropy_forward", run_cross_entropy_forward,
                        "rows %d classes %d", rows, classes);
    c->i[0] = rows, c->i[1] = classes;
    add_real(c, "logits", (int64_t)rows * classes, -6, 6);
    add_labels(c, "labels", rows, classes);
    add_real(c, "out", 1, -1, 1);
    add_real(c, "probs", (int64_t)rows * classes, -1, 1);
    check_case(c);
    c = new_case("cross_entropy_backward", "cross_entropy_backward", run_cross_entropy_backward,
                 "rows %d classes %d", rows, classes);
    c->i[0] = rows, c->i[1] = classes;
    add_real(c, "probs", (int64_t)rows * classes, 0, 1);
    add_labels(c, "labels", rows, classes);
    add_real(c, "dout", 1, -2, 2);
    add_real(c, "dlogits", (int64_t)rows * classes, -1, 1);
    check_case(c);
  }
}

/* ---- optimizer support ---- */

static void run_sum_squares(const mg_kernels *k, void *const *p, const kcase *c) {
  k->sum_squares(c->i[0], p[0], p[1]);
}
/* i: n, wd_decoupled; f: lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2, grad_scale;
 * buffers param, grad, m, v */
static void run_adam_update(const mg_kernels *k, void *const *p, const kcase *c) {
  const double *f = c->f;
  k->adam_update(c->i[0], p[0], p[1], p[2], p[3], (mg_real)f[0], f[1], f[2], (mg_real)f[3], (mg_real)f[4], c->i[1],
                 (mg_real)f[5], (mg_real)f[6], (mg_real)f[7]);
}
/* i: n; f: decay; buffers param, ema */
static void run_ema_update(const mg_kernels *k, void *const *p, const kcase *c) {
  k->ema_update(c->i[0], (mg_real)c->f[0], p[0], p[1]);
}

static void optim_cases(void) {
  static const int sizes[] = {0, 1, 7, 257, 5000, 70001};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    const int n = sizes[s];
    kcase *c = new_case("sum_squares", "sum_squares", run_sum_squares, "n %d", n);
    c->i[0] = n;
    add_real(c, "x", n, -1, 1);
    add_real(c, "out", 1, -1, 1);
    check_case(c);
    for (int decoupled = 0; decoupled <= 1; decoupled++) {
      const int step = 1 + 9 * decoupled;
      c = new_case("adam_update", "adam_update", run_adam_update, "n %d %s step %d", n, decoupled ? "AdamW" : "Adam",
                   step);
      c->i[0] = n, c->i[1] = decoupled;
      const double f[8] = {1e-3, 0.9, 0.999, 1e-8, 0.01, 1 - pow(0.9, step), 1 - pow(0.999, step), 0.7};
      memcpy(c->f, f, sizeof f);
      add_real(c, "param", n, -1, 1);
      add_real(c, "grad", n, -1, 1);
      add_real(c, "m", n, -0.1, 0.1);
      add_real(c, "v", n, 0, 0.01);
      check_case(c);
    }
    c = new_case("ema_update", "ema_update", run_ema_update, "n %d decay 0.999", n);
    c->i[0] = n, c->f[0] = 0.999;
    add_real(c, "param", n, -1, 1);
    add_real(c, "ema", n, -1, 1);
    check_case(c);
  }
}

/* ---- the report ---- */

static void print_stats(void) {
  for (int s = 0; s < n_stats; s++) {
    const op_stat *st = &stats[s];
    printf("%-11s %-28s worst %-9.3g tolerance %-7.3g runs %-4d%s%s\n", st->backend, st->op, st->worst,
           st->tolerance, st->runs, st->worst > 0 ? "  at " : "", st->worst > 0 ? st->what : "");
  }
}

/* Why no CUDA backend ran (test_backends printed it first; the summary repeats it). */
static void cuda_skip_reason(char *why, size_t size) {
#ifdef MG_HAVE_CUDA
  if (mg_cuda_kernels(why, size)) snprintf(why, size, "the CUDA backend is usable but was not listed");
#else
  snprintf(why, size, "this build has no CUDA backend");
#endif
}

int main(void) {
  tu_seed(20261204);
  cpu = mg_cpu_kernels();
  n_backends = test_backends(backends, MAX_BACKENDS);
  cpu->set_threads(1);
  for (int bi = 0; bi < n_backends; bi++) {
    const test_backend *b = &backends[bi];
#define HAS_ENTRY(e) tu_check(b->k->e != NULL, "the %s table lacks %s", b->name, #e);
    MG_KERNEL_ENTRIES(HAS_ENTRY)
#undef HAS_ENTRY
    b->k->set_threads(1);
    mg_context_free(test_backend_context(b)); /* the engine accepts the table */
  }

  memory_cases();
  random_cases();
  gemm_cases();
  conv_cases();
  norm_cases();
  elementwise_cases();
  attention_cases();
  resample_cases();
  embedding_cases();
  gan_cases();
  loss_cases();
  optim_cases();

  for (int e = 0; e < N_ENTRIES; e++) tu_check(covered[e], "no case covers the kernel entry %s", entries[e]);
  print_stats();
  int cuda_ran = 0;
  for (int bi = 0; bi < n_backends; bi++) cuda_ran |= backends[bi].device == MG_DEVICE_CUDA;
  if (!cuda_ran) {
    char why[512];
    cuda_skip_reason(why, sizeof why);
    printf("NOTE: CUDA was skipped (%s). Only the strict double ran: it checks the cases and the plumbing (device "
           "pointers, uploads, downloads, workspaces), not the CUDA kernels.\n", why);
  }
  return tu_finish();
}
