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

int bench_parse_args(int argc, char **argv, const char *tool, void (*help)(FILE *out), const char **preset,
                     int *vs_torch, const bench_int_option *ints, int n_ints) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      help(stdout);
      return 0;
    }
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

bool bench_vs_torch(const char *tool, const char *cmd, const char *const *keys, const char *sample_what, double train_s,
                    double sample_s, char *fields, size_t fields_size) {
  double torch[2];
  if (!bench_run_reference(cmd, 2, keys, torch)) {
    fprintf(stderr, "%s: the PyTorch run failed (%s); is python3-torch installed?\n", tool, cmd);
    return false;
  }
  double tt = torch[0], ts = torch[1];
  printf("pytorch: train step %.3f s, %s %.3f s\n", tt, sample_what, ts);
  printf("ratio (MedGen / PyTorch, below 1 is faster): train %.2f, sampling %.2f\n", train_s / tt, sample_s / ts);
  snprintf(fields, fields_size, " torch_%s=%.4f torch_%s=%.4f train_vs_torch=%.3f sample_vs_torch=%.3f", keys[0], tt,
           keys[1], ts, train_s / tt, sample_s / ts);
  return true;
}
