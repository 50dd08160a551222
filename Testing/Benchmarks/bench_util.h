/* bench_util.h: what the benchmarks share: the device options and the context they ask for (every benchmark that
 * creates a context), and for the model benchmarks (bench_ddpm.c, bench_gan.c) the command line, random images, step
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

/* Where a benchmark's context computes: the options --device auto|cpu|cuda and --tf32, the same in every benchmark. */
typedef struct bench_device {
  mg_device device; /* as asked (default MG_DEVICE_AUTO); after bench_context_create, the device used */
  int tf32;         /* non-zero: --tf32 */
} bench_device;
/* The two options' lines for a benchmark's --help. */
#define BENCH_DEVICE_HELP \
  "  --device auto|cpu|cuda  where MedGen computes (default auto: the GPU when this build has the CUDA backend and\n" \
  "                          the machine a usable GPU, else the CPU, saying why once on stderr)\n" \
  "  --tf32                  CUDA: TF32 tensor cores for GEMMs and convolutions (default: full float32)\n"
/* When argv[*i] is --device NAME or --tf32: takes it into dev (moving *i past NAME) and returns 1; 0 when argv[*i] is
 * neither; 2 after a usage message naming --device (tool: "medgen bench ddpm") for a missing or unknown NAME. */
int bench_parse_device(int argc, char **argv, int *i, const char *tool, bench_device *dev);
/* A context on dev->device (its tf32) with threads (0: all cores); sets dev->device to the device it resolved to.
 * Under auto, the reason for falling back to the CPU goes to stderr, once per process. NULL after a message starting
 * with tool (e.g. --device cuda on a build or machine without a usable GPU). */
mg_ctx *bench_context_create(const char *tool, bench_device *dev, int threads);
/* The Python that runs the PyTorch references: $MEDGEN_PYTHON when set (a GPU machine's PyTorch may live in another
 * Python), else the one found when this build was configured. */
const char *bench_python(void);

/* An integer option of a benchmark's command line: "--steps N" sets *value, which must be in [min, max]. */
typedef struct bench_int_option {
  const char *name;
  int *value;
  int min, max;
} bench_int_option;
/* Parses a model benchmark's command line: -h/--help (help(stdout)), --vs-torch, --preset NAME, the device options
 * (into dev) and the integer options ints. Returns -1 when the benchmark should run, else its exit code: 0 after the
 * help, 2 after a message naming the bad option or value (tool: "medgen bench gan", its first words). */
int bench_parse_args(int argc, char **argv, const char *tool, void (*help)(FILE *out), const char **preset,
                     int *vs_torch, bench_device *dev, const bench_int_option *ints, int n_ints);
/* count random 1-channel size x size images in [-1, 1) (the time does not depend on the content); NULL when out of
 * memory. The caller frees. */
float *bench_random_images(int count, int size);
/* One time that MedGen and the PyTorch reference both measure: its key in the reference's JSON line and in the result
 * line ("train_step_s"), the ratio's name in the result line ("train": train_vs_torch), words for the printout
 * ("train step"), and MedGen's time in seconds. */
typedef struct bench_measure {
  const char *key, *ratio, *what;
  double ours;
} bench_measure;
/* Runs the PyTorch reference cmd and reads the n times of m from its JSON line; prints them and the ratios ours /
 * PyTorch's, and writes the result line's fields into fields: " torch_<key>=... <ratio>_vs_torch=..." for each.
 * False, after a message starting with tool, when the run fails. */
bool bench_vs_torch(const char *tool, const char *cmd, int n, const bench_measure *m, char *fields,
                    size_t fields_size);

#endif
