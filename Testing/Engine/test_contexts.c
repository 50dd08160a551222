/* test_contexts.c: contexts used at the same time from different threads (medgen.h's thread-safety promise).
 *
 * Three pthreads, each with its own context and its own data, repeat conv2d -> group norm -> attention forward and
 * backward: one context with 1 kernel thread, one with 2, and one that switches between 1 and 2 threads every
 * iteration. Every iteration's output and gradients must equal (memcmp) those computed beforehand in the main
 * thread with 1 kernel thread, and after every op the CPU backend's thread count (mg_cpu_threads, read directly)
 * must still be the one the worker's own context set. That count must belong to the calling thread
 * (Kernels/cpu/memory.c): were it shared, one thread's switch would change another's count between sizing a
 * workspace and using it and overrun the workspace, which the scratch buffer's growth to its largest size would
 * mostly hide from the results. The shapes are large enough that the kernels really run in parallel with 2
 * threads. */
#include "cpu_kernels.h"
#include "test_util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ITERATIONS 12

enum { N = 2, CIN = 16, COUT = 32, SIZE = 16, GROUPS = 8, HEADS = 4 };
enum {
  X_COUNT = N * CIN * SIZE * SIZE,
  W_COUNT = COUT * CIN * 3 * 3,
  Y_COUNT = N * COUT * SIZE * SIZE,
  /* what one run produces: the output, then the gradients of x, w, b, gamma and beta */
  RESULT_COUNT = Y_COUNT + X_COUNT + W_COUNT + 3 * COUT,
};

/* One thread's inputs, in host memory. */
typedef struct job_data {
  mg_real x[X_COUNT], w[W_COUNT], b[COUT], gamma[COUT], beta[COUT], dout[Y_COUNT];
} job_data;

static void fill(mg_real *v, int n, double lo, double hi) {
  for (int i = 0; i < n; i++) v[i] = (mg_real)tu_uniform(lo, hi);
}

/* A step tensor holding host values; a leaf whose gradient we want when requires_grad. */
static mg_tensor *input(mg_ctx *ctx, int ndim, const int *shape, const mg_real *host, bool requires_grad) {
  mg_tensor *t = mg_tensor_new(ctx, MG_REAL, ndim, shape);
  if (!t) return NULL;
  mg_tensor_upload_real(ctx, t, host, t->numel);
  t->requires_grad = requires_grad;
  return t;
}

static mg_real *append_grad(mg_ctx *ctx, const mg_tensor *t, mg_real *at) {
  mg_backend(ctx)->download(at, t->grad, (size_t)t->numel * sizeof *at);
  return at + t->numel;
}

/* One step: y = attention(q = g, k = h, v = g) with h = conv2d(x) and g = group_norm(h), so that every op's backward
 * reaches every input; the backward starts from dout. Writes RESULT_COUNT values into out and adds to *wrong_count
 * the ops after which the kernel thread count was not the context's. Returns false with the context's message on
 * failure. Uses only ctx and thread-safe calls (no test_util counters). */
static bool run_once(mg_ctx *ctx, const job_data *d, mg_real *out, int *wrong_count) {
  const int threads = mg_context_threads(ctx);
  mg_step_begin(ctx);
  mg_tensor *x = input(ctx, 4, (int[]){N, CIN, SIZE, SIZE}, d->x, true);
  mg_tensor *w = input(ctx, 4, (int[]){COUT, CIN, 3, 3}, d->w, true);
  mg_tensor *b = input(ctx, 1, (int[]){COUT}, d->b, true);
  mg_tensor *gamma = input(ctx, 1, (int[]){COUT}, d->gamma, true);
  mg_tensor *beta = input(ctx, 1, (int[]){COUT}, d->beta, true);
  mg_tensor *dout = input(ctx, 4, (int[]){N, COUT, SIZE, SIZE}, d->dout, false);
  *wrong_count += mg_cpu_threads() != threads;
  mg_tensor *h = mg_conv2d(ctx, x, w, b, 1, 1);
  *wrong_count += mg_cpu_threads() != threads;
  mg_tensor *g = mg_group_norm(ctx, h, GROUPS, gamma, beta, 1e-5);
  *wrong_count += mg_cpu_threads() != threads;
  mg_tensor *y = mg_attention(ctx, g, h, g, HEADS);
  *wrong_count += mg_cpu_threads() != threads;
  if (!y || mg_backward_from(ctx, y, dout) != MG_OK) return false;
  *wrong_count += mg_cpu_threads() != threads;
  if (!x->grad || !w->grad || !b->grad || !gamma->grad || !beta->grad) {
    mg_fail(ctx, MG_ERR_INTERNAL, "an input got no gradient");
    return false;
  }
  mg_tensor_download_real(ctx, y, out, y->numel);
  mg_real *at = out + Y_COUNT;
  at = append_grad(ctx, x, at);
  at = append_grad(ctx, w, at);
  at = append_grad(ctx, b, at);
  at = append_grad(ctx, gamma, at);
  append_grad(ctx, beta, at);
  return mg_ok(ctx);
}

/* One worker thread: its context, data and the results it must reproduce; what it found. */
typedef struct worker {
  const char *name;
  int threads; /* kernel threads; 0: alternate 1 and 2, starting with 2 */
  const job_data *data;
  const mg_real *expected;
  int runs, mismatches, wrong_count;
  bool failed;
  char error[512];
} worker;

static void *work(void *arg) {
  worker *wk = arg;
  mg_ctx *ctx = NULL;
  mg_context_options opt = {.device = MG_DEVICE_CPU, .threads = wk->threads ? wk->threads : 2};
  mg_real *out = malloc(RESULT_COUNT * sizeof *out);
  if (!out || mg_context_create(&opt, &ctx, wk->error, sizeof wk->error) != MG_OK) {
    wk->failed = true;
    free(out);
    return NULL;
  }
  for (int it = 0; it < ITERATIONS; it++) {
    if (wk->threads == 0 && mg_context_set_threads(ctx, it % 2 ? 1 : 2) != MG_OK) {
      wk->failed = true;
      break;
    }
    if (!run_once(ctx, wk->data, out, &wk->wrong_count)) {
      wk->failed = true;
      break;
    }
    wk->runs++;
    wk->mismatches += memcmp(out, wk->expected, RESULT_COUNT * sizeof *out) != 0;
  }
  if (wk->failed && !wk->error[0]) snprintf(wk->error, sizeof wk->error, "%s", mg_context_error(ctx));
  mg_context_free(ctx);
  free(out);
  return NULL;
}

int main(void) {
  enum { WORKERS = 3 };
  job_data *data = malloc(WORKERS * sizeof *data);
  mg_real *expected = malloc((size_t)WORKERS * RESULT_COUNT * sizeof *expected);
  if (!data || !expected) {
    fprintf(stderr, "FAIL: out of memory\n");
    return EXIT_FAILURE;
  }
  tu_seed(2024);
  for (int i = 0; i < WORKERS; i++) {
    fill(data[i].x, X_COUNT, -1, 1);
    fill(data[i].w, W_COUNT, -0.1, 0.1);
    fill(data[i].b, COUT, -0.1, 0.1);
    fill(data[i].gamma, COUT, 0.5, 1.5);
    fill(data[i].beta, COUT, -0.5, 0.5);
    fill(data[i].dout, Y_COUNT, -1, 1);
  }

  /* The references: the main thread alone, 1 kernel thread. */
  mg_ctx *ctx = tu_ctx(1);
  int wrong_count = 0;
  for (int i = 0; i < WORKERS; i++)
    if (!tu_check(run_once(ctx, &data[i], expected + (size_t)i * RESULT_COUNT, &wrong_count), "reference %d: %s", i,
                  mg_context_error(ctx)))
      return tu_finish();
  tu_check(wrong_count == 0, "reference: the kernel thread count changed during a step");
  mg_context_free(ctx);
  /* The data sets differ, so a thread computing on another's inputs cannot pass by accident. */
  tu_check(memcmp(expected, expected + RESULT_COUNT, RESULT_COUNT * sizeof *expected) != 0,
           "the workers' references should differ");

  worker workers[WORKERS] = {
      {.name = "1 thread", .threads = 1},
      {.name = "2 threads", .threads = 2},
      {.name = "switching between 1 and 2 threads", .threads = 0},
  };
  pthread_t ids[WORKERS];
  bool started[WORKERS];
  for (int i = 0; i < WORKERS; i++) {
    workers[i].data = &data[i];
    workers[i].expected = expected + (size_t)i * RESULT_COUNT;
    started[i] = tu_check(pthread_create(&ids[i], NULL, work, &workers[i]) == 0, "cannot start worker %d", i);
  }
  for (int i = 0; i < WORKERS; i++) {
    if (!started[i]) continue;
    pthread_join(ids[i], NULL);
    const worker *wk = &workers[i];
    tu_check(!wk->failed, "%s: failed after %d runs: %s", wk->name, wk->runs, wk->error);
    tu_check(wk->runs == ITERATIONS && wk->mismatches == 0,
             "%s: %d of %d concurrent runs differ from the single-threaded result", wk->name, wk->mismatches,
             wk->runs);
    tu_check(wk->wrong_count == 0,
             "%s: after %d of %d ops the kernel thread count was not the one its context set (another thread's?)",
             wk->name, wk->wrong_count, 5 * wk->runs);
  }
  free(data);
  free(expected);
  return tu_finish();
}
