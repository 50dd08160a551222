/* bench_util.h: what the model benchmarks (bench_ddpm.c, bench_gan.c) share: step timers fed by progress callbacks,
 * medians, peak memory, and the PyTorch reference's JSON line. */
#ifndef MEDGEN_BENCH_UTIL_H
#define MEDGEN_BENCH_UTIL_H

#include "medgen.h"

#include <stdbool.h>

enum { BENCH_MAX_TIMED = 64 };

/* Wall-clock times between calls of bench_on_step, after skip calls of warm-up. */
typedef struct bench_timer {
  double last;
  int count, skip;
  double times[BENCH_MAX_TIMED];
} bench_timer;

double bench_now_s(void);
/* A timer started now that ignores its first skip intervals. */
bench_timer bench_timer_start(int skip);
/* Records the time since the last call (or the start): an mg_progress_fn (user is a bench_timer; never cancels),
 * also called directly around timed calls. */
int bench_on_step(void *user, const mg_progress *p);
/* The median of the recorded times (NaN when none); sorts them. */
double bench_median(bench_timer *t);
/* This process's peak resident memory in MiB. */
double bench_peak_rss_mb(void);
/* Runs cmd and reads n numbers from its last line of output, a JSON object with the given keys ("train_step_s"...).
 * False when the command fails or a key is missing. */
bool bench_run_reference(const char *cmd, int n, const char *const *keys, double *values);

#endif
