/* context.c: contexts, status messages and the sticky error that lets forward code run straight through. */
#include "mg_internal.h"

#include <assert.h>

#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

static void put_error(char *err, size_t err_size, const char *msg) {
  if (err && err_size) snprintf(err, err_size, "%s", msg);
}

#define MG_COUNT_ENTRY(name) +1
static_assert(sizeof(mg_kernels) == sizeof(const char *) + (0 MG_KERNEL_ENTRIES(MG_COUNT_ENTRY)) * sizeof(void (*)(void)),
              "MG_KERNEL_ENTRIES must list every entry of mg_kernels");
#undef MG_COUNT_ENTRY

/* The first entry a backend left empty, or NULL when its table is complete. */
static const char *missing_kernel(const mg_kernels *k) {
#define MG_CHECK_ENTRY(name) \
  if (!k->name) return #name;
  MG_KERNEL_ENTRIES(MG_CHECK_ENTRY)
#undef MG_CHECK_ENTRY
  return NULL;
}

static int default_threads(void) {
#ifdef _OPENMP
  return omp_get_num_procs();
#else
  return 1;
#endif
}

static const char *const device_names[] = {"cpu", "cuda", "auto"};

int mg_device_from_name(const char *name) {
  for (int i = 0; name && i < 3; i++)
    if (strcmp(name, device_names[i]) == 0) return i;
  return -1;
}

const char *mg_device_name(mg_device device) {
  return device >= MG_DEVICE_CPU && device <= MG_DEVICE_AUTO ? device_names[device] : "unknown";
}

/* The CUDA kernel table, or NULL with the reason in why. */
static const mg_kernels *cuda_backend(char *why, size_t why_size) {
#ifdef MG_HAVE_CUDA
  return mg_cuda_kernels(why, why_size);
#else
  put_error(why, why_size, "this build of MedGen has no CUDA backend (it was built without the CUDA toolkit)");
  return NULL;
#endif
}

mg_status mg_device_resolve(mg_device requested, mg_device *resolved, char *note, size_t note_size) {
  put_error(note, note_size, "");
  if (!resolved) return MG_ERR_INVALID_ARGUMENT;
  char why[512];
  switch (requested) {
    case MG_DEVICE_CPU:
      *resolved = MG_DEVICE_CPU;
      return MG_OK;
    case MG_DEVICE_CUDA:
      if (!cuda_backend(why, sizeof why)) {
        if (note && note_size) snprintf(note, note_size, "device cuda cannot be used: %s", why);
        return MG_ERR_UNSUPPORTED;
      }
      *resolved = MG_DEVICE_CUDA;
      return MG_OK;
    case MG_DEVICE_AUTO:
      *resolved = cuda_backend(why, sizeof why) ? MG_DEVICE_CUDA : MG_DEVICE_CPU;
#ifdef MG_HAVE_CUDA
      if (*resolved == MG_DEVICE_CPU && note && note_size) snprintf(note, note_size, "%s; using the CPU", why);
#endif
      return MG_OK;
  }
  if (note && note_size) snprintf(note, note_size, "unknown device %d", (int)requested);
  return MG_ERR_INVALID_ARGUMENT;
}

mg_status mg_context_create(const mg_context_options *options, mg_ctx **out, char *err, size_t err_size) {
  if (!out) {
    put_error(err, err_size, "mg_context_create: out is NULL");
    return MG_ERR_INVALID_ARGUMENT;
  }
  *out = NULL;
  mg_context_options opt = options ? *options : (mg_context_options){MG_DEVICE_CPU, 0, 0};
  mg_device device;
  char why[512];
  mg_status s = mg_device_resolve(opt.device, &device, why, sizeof why);
  if (s != MG_OK) {
    put_error(err, err_size, why);
    return s;
  }
  const mg_kernels *k = device == MG_DEVICE_CUDA ? cuda_backend(why, sizeof why) : mg_cpu_kernels();
  if (!k) { /* the GPU went away between the two checks */
    put_error(err, err_size, why);
    return MG_ERR_UNSUPPORTED;
  }
  opt.device = device;
  return mg_context_create_on(k, &opt, out, err, err_size);
}

mg_status mg_context_create_on(const mg_kernels *k, const mg_context_options *opt, mg_ctx **out, char *err,
                               size_t err_size) {
  *out = NULL;
  if (opt->threads < 0) {
    put_error(err, err_size, "thread count must be 0 (all cores) or positive");
    return MG_ERR_INVALID_ARGUMENT;
  }
  const char *missing = missing_kernel(k);
  if (missing) {
    if (err && err_size) snprintf(err, err_size, "the %s backend lacks the kernel '%s'", k->name, missing);
    return MG_ERR_INTERNAL;
  }
  mg_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) {
    put_error(err, err_size, "out of memory creating a context");
    return MG_ERR_OUT_OF_MEMORY;
  }
  ctx->k = k;
  ctx->device = opt->device;
  ctx->math = opt->tf32 ? MG_MATH_TF32 : MG_MATH_FP32;
  ctx->grad_enabled = true;
  ctx->step_dev.k = ctx->persist_dev.k = ctx->k;
  ctx->step_dev.heap_allocations = ctx->step_host.heap_allocations = &ctx->heap_allocations;
  ctx->persist_dev.heap_allocations = ctx->persist_host.heap_allocations = &ctx->heap_allocations;
  mg_context_set_threads(ctx, opt->threads);
  ctx->k->set_math_mode(ctx->math);
  ctx->one = mg_arena_alloc(&ctx->persist_dev, sizeof(mg_real));
  if (!ctx->one) {
    mg_context_free(ctx);
    put_error(err, err_size, "out of memory creating a context");
    return MG_ERR_OUT_OF_MEMORY;
  }
  ctx->k->fill(1, 1, ctx->one);
  *out = ctx;
  return MG_OK;
}

void mg_context_free(mg_ctx *ctx) {
  if (!ctx) return;
  if (ctx->scratch) ctx->k->free(ctx->scratch);
  mg_arena_release(&ctx->step_dev);
  mg_arena_release(&ctx->step_host);
  mg_arena_release(&ctx->persist_dev);
  mg_arena_release(&ctx->persist_host);
  free(ctx);
}

const char *mg_context_error(const mg_ctx *ctx) { return ctx ? ctx->error : "no context"; }

mg_status mg_context_set_threads(mg_ctx *ctx, int threads) {
  if (threads < 0) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "thread count must be 0 (all cores) or positive");
  ctx->threads = threads ? threads : default_threads();
  if (ctx->k->set_threads) ctx->k->set_threads(ctx->threads);
  return MG_OK;
}

int mg_context_threads(const mg_ctx *ctx) { return ctx->threads; }

bool mg_ok(const mg_ctx *ctx) { return ctx->status == MG_OK; }
mg_status mg_ctx_status(const mg_ctx *ctx) { return ctx->status; }
const mg_kernels *mg_backend(const mg_ctx *ctx) { return ctx->k; }
mg_device mg_ctx_device(const mg_ctx *ctx) { return ctx->device; }

mg_status mg_fail(mg_ctx *ctx, mg_status status, const char *fmt, ...) {
  if (ctx->status == MG_OK) {
    ctx->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
    va_end(ap);
  }
  return status;
}

void mg_clear_error(mg_ctx *ctx) {
  ctx->status = MG_OK;
  ctx->error[0] = '\0';
}

bool mg_set_grad_enabled(mg_ctx *ctx, bool enabled) {
  bool previous = ctx->grad_enabled;
  ctx->grad_enabled = enabled;
  return previous;
}

bool mg_grad_enabled(const mg_ctx *ctx) { return ctx->grad_enabled; }

void mg_step_begin(mg_ctx *ctx) {
  /* the settings belong to the calling thread, which may serve other contexts */
  ctx->k->set_threads(ctx->threads);
  ctx->k->set_math_mode(ctx->math);
  ctx->tape = NULL;
  mg_arena_reset(&ctx->step_dev);
  mg_arena_reset(&ctx->step_host);
}

mg_memory_stats mg_memory(const mg_ctx *ctx) {
  return (mg_memory_stats){ctx->step_dev.reserved + ctx->scratch_size, ctx->persist_dev.reserved,
                           ctx->step_host.reserved + ctx->persist_host.reserved, ctx->heap_allocations};
}

/* One buffer serves every op in turn (kernels use scratch only during the call), so scratch costs the largest
 * single request, not the sum over a step. It grows only when a larger request comes, i.e. in the first step. */
void *mg_scratch(mg_ctx *ctx, size_t bytes) {
  if (bytes <= ctx->scratch_size && ctx->scratch) return ctx->scratch;
  if (ctx->scratch) ctx->k->free(ctx->scratch);
  ctx->heap_allocations++;
  ctx->scratch = ctx->k->alloc(bytes ? bytes : 1);
  ctx->scratch_size = ctx->scratch ? bytes : 0;
  if (!ctx->scratch && mg_device_ok(ctx)) /* else a kept device fault is the cause, reported as such */
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory allocating %zu bytes of scratch", bytes);
  return ctx->scratch;
}

bool mg_device_ok(mg_ctx *ctx) {
  char msg[512];
  if (!ctx->k->take_error(msg, sizeof msg)) return true;
  mg_fail(ctx, MG_ERR_DEVICE, "%s: %s", ctx->k->name, msg);
  return false;
}

mg_status mg_rewrap_error(mg_ctx *ctx, const char *head, const char *tail) {
  char why[1024];
  snprintf(why, sizeof why, "%s", mg_context_error(ctx));
  mg_status s = mg_ctx_status(ctx);
  mg_clear_error(ctx);
  return mg_fail(ctx, s, "%s%s%s", head, why, tail);
}

double mg_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
