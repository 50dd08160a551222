/* test_device.c: choosing where a context computes (medgen.h's device API) and device failures reaching callers.
 * - names: mg_device_from_name / mg_device_name both ways, -1 and "unknown" outside the enum;
 * - mg_device_resolve: CPU is always itself; CUDA is usable or refused with the reason; AUTO takes CUDA when usable,
 *   else the CPU, with a note only on a build that has the CUDA backend (a build without it has nothing to explain);
 * - mg_context_create follows the same answers: a refused device leaves no context and the reason in err, and
 *   mg_ctx_device reports the device resolved;
 * - a failure a backend keeps from asynchronous work (take_error) comes out of the next download as MG_ERR_DEVICE,
 *   naming the backend and the failure, once.
 * The expectations come from the build (MG_HAVE_CUDA) and from mg_device_resolve's own answer for CUDA, so the test
 * holds on builds with and without the CUDA backend and on machines with and without a GPU. */
#include "mg_internal.h"
#include "test_util.h"

#include <string.h>

static void names(void) {
  const struct { const char *name; int device; } cases[] = {
      {"cpu", MG_DEVICE_CPU}, {"cuda", MG_DEVICE_CUDA}, {"auto", MG_DEVICE_AUTO},
      {"gpu", -1},            {"CUDA", -1},             {"", -1},
      {"cpu ", -1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    tu_check(mg_device_from_name(cases[i].name) == cases[i].device, "mg_device_from_name(\"%s\") = %d, want %d",
             cases[i].name, mg_device_from_name(cases[i].name), cases[i].device);
  tu_check(mg_device_from_name(NULL) == -1, "mg_device_from_name(NULL) = %d", mg_device_from_name(NULL));
  for (int d = MG_DEVICE_CPU; d <= MG_DEVICE_AUTO; d++)
    tu_check(mg_device_from_name(mg_device_name((mg_device)d)) == d, "device %d round-trips through '%s'", d,
             mg_device_name((mg_device)d));
  tu_check(strcmp(mg_device_name((mg_device)7), "unknown") == 0 &&
               strcmp(mg_device_name((mg_device)-1), "unknown") == 0,
           "a device outside the enum is named 'unknown'");
}

/* Whether this build and machine can run CUDA, as mg_device_resolve says; the reason in why otherwise. */
static bool cuda_usable(char *why, size_t why_size) {
  mg_device resolved = MG_DEVICE_AUTO;
  mg_status s = mg_device_resolve(MG_DEVICE_CUDA, &resolved, why, why_size);
  if (s == MG_OK) {
    tu_check(resolved == MG_DEVICE_CUDA && why[0] == '\0', "resolve(cuda) OK: resolved %s, note '%s'",
             mg_device_name(resolved), why);
    return true;
  }
  tu_check(s == MG_ERR_UNSUPPORTED, "resolve(cuda) without a usable GPU: %s, want %s", mg_status_string(s),
           mg_status_string(MG_ERR_UNSUPPORTED));
  tu_check(strstr(why, "cuda") || strstr(why, "CUDA"), "resolve(cuda)'s refusal says why, naming cuda: '%s'", why);
#ifndef MG_HAVE_CUDA
  tu_check(strstr(why, "no CUDA backend") != NULL, "a build without CUDA says so: '%s'", why);
#endif
  return false;
}

static void resolve(bool cuda, const char *cuda_why) {
  char note[512];
  mg_device resolved = MG_DEVICE_AUTO;

  strcpy(note, "stale");
  tu_check(mg_device_resolve(MG_DEVICE_CPU, &resolved, note, sizeof note) == MG_OK && resolved == MG_DEVICE_CPU &&
               note[0] == '\0',
           "resolve(cpu) -> %s, note '%s'", mg_device_name(resolved), note);

  strcpy(note, "stale");
  mg_status s = mg_device_resolve(MG_DEVICE_AUTO, &resolved, note, sizeof note);
  tu_check(s == MG_OK, "resolve(auto) never fails: %s '%s'", mg_status_string(s), note);
  tu_check(resolved == (cuda ? MG_DEVICE_CUDA : MG_DEVICE_CPU), "resolve(auto) -> %s with CUDA %s",
           mg_device_name(resolved), cuda ? "usable" : "unusable");
#ifdef MG_HAVE_CUDA
  if (cuda)
    tu_check(note[0] == '\0', "resolve(auto) on a GPU has nothing to explain: '%s'", note);
  else /* the user asked for auto and got the CPU on a CUDA build: the note says why, with cuda's reason */
    tu_check(strstr(note, "CPU") && strlen(note) > strlen("; using the CPU"),
             "resolve(auto) falling back to the CPU on a CUDA build explains why: '%s' (cuda: '%s')", note, cuda_why);
#else
  (void)cuda_why;
  tu_check(note[0] == '\0', "resolve(auto) on a build without CUDA has nothing to explain: '%s'", note);
#endif

  strcpy(note, "stale");
  tu_check(mg_device_resolve((mg_device)9, &resolved, note, sizeof note) == MG_ERR_INVALID_ARGUMENT &&
               strstr(note, "9"),
           "resolve(9) refused naming the value: '%s'", note);
  tu_check(mg_device_resolve(MG_DEVICE_CPU, NULL, note, sizeof note) == MG_ERR_INVALID_ARGUMENT,
           "resolve with a NULL result refused");
  tu_check(mg_device_resolve(MG_DEVICE_AUTO, &resolved, NULL, 0) == MG_OK, "resolve without a note buffer works");
}

/* mg_context_create(device) -> status; on success the context's device is checked against want and freed. */
static mg_status create_on(mg_device device, mg_device want, char *err, size_t err_size) {
  mg_context_options opt = {.device = device, .threads = 1};
  mg_ctx *ctx = (mg_ctx *)&opt; /* not NULL, to see a failure clear it */
  strcpy(err, "stale");
  mg_status s = mg_context_create(&opt, &ctx, err, err_size);
  if (s != MG_OK) {
    tu_check(ctx == NULL, "a failed mg_context_create(%s) leaves no context", mg_device_name(device));
    return s;
  }
  tu_check(ctx != NULL && mg_ctx_device(ctx) == want, "context asked for %s reports %s, want %s",
           mg_device_name(device), ctx ? mg_device_name(mg_ctx_device(ctx)) : "(none)", mg_device_name(want));
  tu_check(ctx && strcmp(mg_backend(ctx)->name, want == MG_DEVICE_CUDA ? "cuda" : "cpu") == 0,
           "context on %s runs the '%s' kernels", mg_device_name(want), ctx ? mg_backend(ctx)->name : "");
  mg_context_free(ctx);
  return s;
}

static void contexts(bool cuda, const char *cuda_why) {
  char err[512];
  tu_check(create_on(MG_DEVICE_CPU, MG_DEVICE_CPU, err, sizeof err) == MG_OK, "cpu context: %s", err);
  mg_device auto_device = cuda ? MG_DEVICE_CUDA : MG_DEVICE_CPU;
  tu_check(create_on(MG_DEVICE_AUTO, auto_device, err, sizeof err) == MG_OK, "auto context: %s", err);
  mg_status s = create_on(MG_DEVICE_CUDA, MG_DEVICE_CUDA, err, sizeof err);
  if (cuda)
    tu_check(s == MG_OK, "cuda context on a usable GPU: %s", err);
  else
    tu_check(s == MG_ERR_UNSUPPORTED && strstr(err, cuda_why),
             "cuda context without a usable GPU: %s '%s', want %s '%s'", mg_status_string(s), err,
             mg_status_string(MG_ERR_UNSUPPORTED), cuda_why);
  s = create_on((mg_device)5, MG_DEVICE_CPU, err, sizeof err);
  tu_check(s == MG_ERR_INVALID_ARGUMENT && err[0], "context on device 5: %s '%s'", mg_status_string(s), err);

  mg_ctx *ctx = NULL;
  tu_check(mg_context_create(NULL, &ctx, err, sizeof err) == MG_OK && ctx && mg_ctx_device(ctx) == MG_DEVICE_CPU,
           "no options: a CPU context (%s)", err);
  mg_context_free(ctx);
  mg_context_options tf32 = {.device = MG_DEVICE_CPU, .threads = 1, .tf32 = 1};
  tu_check(mg_context_create(&tf32, &ctx, err, sizeof err) == MG_OK, "the CPU ignores tf32: %s", err);
  mg_context_free(ctx);
}

/* ---- a backend that fails: the CPU kernels with a take_error that reports one armed failure ---- */
static bool fail_armed;
static int take_error_fake(char *msg, size_t msg_size) {
  if (!fail_armed) return mg_cpu_kernels()->take_error(msg, msg_size);
  fail_armed = false;
  snprintf(msg, msg_size, "simulated launch failure (unspecified launch failure)");
  return 1;
}

static void *alloc_refused(size_t bytes) {
  (void)bytes;
  return NULL;
}

static void device_failure(void) {
  mg_kernels failing = *mg_cpu_kernels();
  failing.name = "failing";
  failing.take_error = take_error_fake;
  mg_context_options opt = {.device = MG_DEVICE_CPU, .threads = 1};
  mg_ctx *ctx = NULL;
  char err[512];
  if (!tu_check(mg_context_create_on(&failing, &opt, &ctx, err, sizeof err) == MG_OK,
                "context on the failing table: %s", err))
    return;
  const float in[4] = {1, 2, 3, 4};
  float out[4] = {0};
  mg_tensor *t = mg_tensor_new_persistent(ctx, MG_REAL, 1, (int[]){4});
  tu_check(mg_tensor_upload(ctx, t, in, 4) == MG_OK && mg_tensor_download(ctx, t, out, 4) == MG_OK &&
               memcmp(in, out, sizeof in) == 0,
           "unarmed: upload and download work: %s", mg_context_error(ctx));

  fail_armed = true;
  mg_status s = mg_tensor_download(ctx, t, out, 4);
  const char *msg = mg_context_error(ctx);
  tu_check(s == MG_ERR_DEVICE && mg_ctx_status(ctx) == MG_ERR_DEVICE, "a kept failure surfaces as %s, got %s",
           mg_status_string(MG_ERR_DEVICE), mg_status_string(s));
  tu_check(strstr(msg, "failing") && strstr(msg, "simulated launch failure"),
           "the message names the backend and the failure: '%s'", msg);
  tu_check(!fail_armed, "the download asked the backend for its errors");

  mg_clear_error(ctx); /* taken once: the next download is clean */
  tu_check(mg_tensor_download(ctx, t, out, 4) == MG_OK, "after the failure was taken: %s", mg_context_error(ctx));

  /* A GPU fault makes every later allocation fail too: the fault is reported, not "out of memory". */
  failing.alloc = alloc_refused;
  fail_armed = true;
  mg_step_begin(ctx);
  tu_check(!mg_tensor_new(ctx, MG_REAL, 1, (int[]){1 << 22}) && mg_ctx_status(ctx) == MG_ERR_DEVICE &&
               strstr(mg_context_error(ctx), "simulated launch failure"),
           "an allocation failing after a kept fault reports the fault: %s '%s'",
           mg_status_string(mg_ctx_status(ctx)), mg_context_error(ctx));
  mg_clear_error(ctx);
  tu_check(!mg_tensor_new(ctx, MG_REAL, 1, (int[]){1 << 22}) && mg_ctx_status(ctx) == MG_ERR_OUT_OF_MEMORY,
           "without a kept fault it is out of memory: %s", mg_status_string(mg_ctx_status(ctx)));
  mg_clear_error(ctx);
  mg_context_free(ctx);
  failing.alloc = mg_cpu_kernels()->alloc;

  failing.gemm = NULL; /* a table missing an entry is refused, naming it */
  strcpy(err, "");
  ctx = (mg_ctx *)&opt;
  tu_check(mg_context_create_on(&failing, &opt, &ctx, err, sizeof err) != MG_OK && ctx == NULL && strstr(err, "gemm"),
           "a table without gemm is refused naming it: '%s'", err);
}

int main(void) {
  char cuda_why[512];
  bool cuda = cuda_usable(cuda_why, sizeof cuda_why);
#ifdef MG_HAVE_CUDA
  printf("this build has the CUDA backend; ");
#else
  printf("this build has no CUDA backend; ");
#endif
  printf("cuda here: %s\n", cuda ? "usable" : cuda_why);
  names();
  resolve(cuda, cuda_why);
  contexts(cuda, cuda_why);
  device_failure();
  return tu_finish();
}
