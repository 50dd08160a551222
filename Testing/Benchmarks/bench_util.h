/* bench_util.h: what the model benchmarks (bench_ddpm.c, bench_gan.c) share: the command line, random images, step
 * timers fed by progress callbacks, medians, peak memory, and the comparison with the PyTorch reference. */
#ifndef MEDGEN_BENCH_UTIL_H
#define MEDGEN_BENCH_UTIL_H

#include "medgen.h"

#include <stdbool.h>
#include <stdio.h>

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

/* An integer option of a benchmark's command line: "--steps N" sets *value, which must be in [min, max]. */
typedef struct bench_int_option {
  const char *name;
  int *value;
  int min, max;
} bench_int_option;
/* Parses a model benchmark's command line: -h/--help (help(stdout)), --vs-torch, --preset NAME and the integer
 * options ints. Returns -1 when the benchmark should run, else its exit code: 0 after the help, 2 after a message
 * naming the bad option or value (tool: "medgen bench gan", its first words). */
int bench_parse_args(int argc, char **argv, const char *tool, void (*help)(FILE *out), const char **preset,
                     int *vs_torch, const bench_int_option *ints, int n_ints);
/* count random 1-channel size x size images in [-1, 1) (the time does not depend on the content); NULL when out of
 * memory. The caller frees. */
float *bench_random_images(int count, int size);
/* Runs the PyTorch reference cmd, whose JSON line gives its train and sample times as keys[0] and keys[1]; prints
 * them (sample_what names the sample time: "sampling step") and the ratios ours / PyTorch's, and writes the result
 * line's fields into fields: " torch_<key>=... train_vs_torch=... sample_vs_torch=...". False, after a message
 * starting with tool, when the run fails. */
bool bench_vs_torch(const char *tool, const char *cmd, const char *const *keys, const char *sample_what, double train_s,
                    double sample_s, char *fields, size_t fields_size);

#endif
