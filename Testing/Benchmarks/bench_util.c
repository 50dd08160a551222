/* bench_util.c: helpers shared by the model benchmarks (bench_util.h). */
#include "bench_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

double bench_now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

bench_timer bench_timer_start(int skip) {
  bench_timer t = {0};
  t.last = bench_now_s();
  t.skip = skip;
  return t;
}

int bench_on_step(void *user, const mg_progress *p) {
  (void)p;
  bench_timer *t = user;
  double now = bench_now_s();
  if (t->skip > 0) t->skip--;
  else if (t->count < BENCH_MAX_TIMED) t->times[t->count++] = now - t->last;
  t->last = now;
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_median(bench_timer *t) {
  if (!t->count) return NAN;
  qsort(t->times, (size_t)t->count, sizeof *t->times, cmp_double);
  return t->count % 2 ? t->times[t->count / 2] : 0.5 * (t->times[t->count / 2 - 1] + t->times[t->count / 2]);
}

double bench_peak_rss_mb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

bool bench_run_reference(const char *cmd, int n, const char *const *keys, double *values) {
  fflush(stdout);
  FILE *p = popen(cmd, "r");
  char line[1024] = "", last[1024] = "";
  while (p && fgets(line, sizeof line, p)) snprintf(last, sizeof last, "%s", line);
  if (!p || pclose(p) != 0) return false;
  for (int i = 0; i < n; i++) {
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\":", keys[i]);
    const char *at = strstr(last, quoted);
    if (!at || sscanf(at + strlen(quoted), "%lf", &values[i]) != 1) return false;
  }
  return true;
}

int bench_parse_device(int argc, char **argv, int *i, const char *tool, bench_device *dev) {
  if (!strcmp(argv[*i], "--tf32")) {
    dev->tf32 = 1;
    return 1;
  }
  if (strcmp(argv[*i], "--device")) return 0;
  const char *name = *i + 1 < argc ? argv[*i + 1] : NULL;
  int device = mg_device_from_name(name);
  if (device < 0) {
    if (!name) fprintf(stderr, "%s: missing value for --device (auto, cpu or cuda)\n", tool);
    else fprintf(stderr, "%s: unknown device '%s' for --device (auto, cpu or cuda)\n", tool, name);
    return 2;
  }
  dev->device = (mg_device)device;
  ++*i;
  return 1;
}

mg_ctx *bench_context_create(const char *tool, bench_device *dev, int threads) {
  static bool noted; /* the fallback reason, once per process however many contexts it makes */
  char note[512], err[1024];
  mg_device resolved;
  if (mg_device_resolve(dev->device, &resolved, note, sizeof note) != MG_OK) {
    fprintf(stderr, "%s: %s\n", tool, note);
    return NULL;
  }
  if (*note && !noted) fprintf(stderr, "%s: %s\n", tool, note);
  noted = noted || *note;
  mg_context_options copt = {resolved, threads, dev->tf32};
  mg_ctx *ctx = NULL;
  if (mg_context_create(&copt, &ctx, err, sizeof err) != MG_OK) {
    fprintf(stderr, "%s: %s\n", tool, err);
    return NULL;
  }
  dev->device = resolved;
  return ctx;
}

const char *bench_python(void) {
  const char *python = getenv("MEDGEN_PYTHON");
  return python && *python ? python : MEDGEN_PYTHON;
}

int bench_parse_args(int argc, char **argv, const char *tool, void (*help)(FILE *out), const char **preset,
                     int *vs_torch, bench_device *dev, const bench_int_option *ints, int n_ints) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      help(stdout);
      return 0;
    }
    int taken = bench_parse_device(argc, argv, &i, tool, dev);
    if (taken == 2) return 2;
    if (taken) continue;
    if (!strcmp(a, "--vs-torch")) {
      *vs_torch = 1;
      continue;
    }
    const bench_int_option *o = NULL;
    for (int k = 0; k < n_ints && !o; k++)
      if (!strcmp(a, ints[k].name)) o = &ints[k];
    if (i + 1 >= argc || (!o && strcmp(a, "--preset"))) {
      fprintf(stderr, "%s: %s '%s' (try: %s --help)\n", tool, i + 1 >= argc ? "missing value for" : "unknown option",
              a, tool);
      return 2;
    }
    const char *v = argv[++i];
    if (!o) {
      *preset = v;
      continue;
    }
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < o->min || n > o->max) {
      fprintf(stderr, "%s: invalid value '%s' for %s\n", tool, v, a);
      return 2;
    }
    *o->value = (int)n;
  }
  return -1;
}

float *bench_random_images(int count, int size) {
  float *images = malloc((size_t)count * size * size * sizeof *images);
  uint64_t state = 12345;
  for (int64_t i = 0; images && i < (int64_t)count * size * size; i++) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    images[i] = (float)((state >> 40) / 8388608.0 - 1.0);
  }
  return images;
}

bool bench_vs_torch(const char *tool, const char *cmd, int n, const bench_measure *m, char *fields,
                    size_t fields_size) {
  enum { MAX_MEASURES = 8 };
  const char *keys[MAX_MEASURES] = {NULL};
  double torch[MAX_MEASURES];
  if (n > MAX_MEASURES) n = MAX_MEASURES;
  for (int i = 0; i < n; i++) keys[i] = m[i].key;
  if (!bench_run_reference(cmd, n, keys, torch)) {
    fprintf(stderr, "%s: the PyTorch run failed (%s); is PyTorch installed for that Python ($MEDGEN_PYTHON)?\n",
            tool, cmd);
    return false;
  }
  printf("pytorch:");
  for (int i = 0; i < n; i++) printf("%s %s %.3f s", i ? "," : "", m[i].what, torch[i]);
  printf("\nratio (MedGen / PyTorch, below 1 is faster):");
  for (int i = 0; i < n; i++) printf("%s %s %.2f", i ? "," : "", m[i].what, m[i].ours / torch[i]);
  printf("\n");
  size_t used = 0;
  fields[0] = '\0';
  for (int i = 0; i < 2 * n && used < fields_size; i++) /* PyTorch's times, then the ratios */
    used += (size_t)(i < n ? snprintf(fields + used, fields_size - used, " torch_%s=%.4f", m[i].key, torch[i])
                           : snprintf(fields + used, fields_size - used, " %s_vs_torch=%.3f", m[i - n].ratio,
                                      m[i - n].ours / torch[i - n]));
  return true;
}
