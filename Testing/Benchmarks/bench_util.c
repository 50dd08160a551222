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
