/* bench_ddpm.c: `medgen bench ddpm`: how long a diffusion UNet takes per training step and per sampling step
 * (one UNet evaluation of the batch), through the public API, on random images. With --vs-torch the same
 * architecture runs in PyTorch (Testing/Python/unet_reference.py bench) in the same run, on the same threads, and
 * the ratios ours / PyTorch's are printed: below 1 means MedGen is faster.
 *
 * Timing: wall clock between progress callbacks (one per step), medians after warm-up steps. Peak memory is this
 * process's maximum resident set (PyTorch runs in a child process and is not counted). */
#include "bench_util.h"
#include "medgen.h"
#include "medgen_bench.h"

#include <stdio.h>
#include <stdlib.h>

enum { WARMUP = 2 };

static void print_help(FILE *out) {
  fprintf(out,
          "Usage: medgen bench ddpm [--preset unet-s|unet-monai] [--size N] [--batch N] [--steps N] [--threads N]\n"
          "                         [--vs-torch]\n"
          "\n"
          "Times a diffusion UNet's training step (forward, backward, AdamW, EMA) and sampling step (one UNet\n"
          "evaluation of the batch) in MedGen; medians of --steps steps (default 8) after %d warm-up steps. The last\n"
          "line reads: train_step_s=X sample_step_s=Y peak_rss_mb=Z. --vs-torch also times the same model in\n"
          "PyTorch (%s Testing/Python/unet_reference.py) on the same threads and adds the ratios (MedGen / PyTorch;\n"
          "below 1: MedGen is faster). Defaults: unet-s, 64x64, batch 16, all cores.\n",
          WARMUP, MEDGEN_PYTHON);
}

int medgen_bench_ddpm(int argc, char **argv) {
  const char *preset = "unet-s";
  int size = 64, batch = 16, steps = 8, threads = 0;
  int vs_torch = 0;
  const bench_int_option ints[] = {{"--size", &size, 1, 4096}, {"--batch", &batch, 1, 4096},
                                   {"--steps", &steps, 1, 4096}, {"--threads", &threads, 1, 4096}};
  int code = bench_parse_args(argc, argv, "medgen bench ddpm", print_help, &preset, &vs_torch, ints,
                              sizeof ints / sizeof *ints);
  if (code >= 0) return code;
  if (steps > BENCH_MAX_TIMED) steps = BENCH_MAX_TIMED;

  char err[1024];
  mg_ddpm_config cfg;
  if (mg_ddpm_default_config(preset, &cfg, err, sizeof err) != MG_OK) {
    fprintf(stderr, "medgen bench ddpm: %s\n", err);
    return 2;
  }
  cfg.unet.image_size = size;
  mg_ctx *ctx = NULL;
  mg_context_options copt = {MG_DEVICE_CPU, threads};
  if (mg_context_create(&copt, &ctx, err, sizeof err) != MG_OK) {
    fprintf(stderr, "medgen bench ddpm: %s\n", err);
    return 1;
  }
  threads = mg_context_threads(ctx);
  const int count = 64;
  float *images = bench_random_images(count, size);
  float *out = malloc((size_t)batch * size * size * sizeof *out);
  mg_ddpm *m = NULL;
  code = 1;
  if (!images || !out) {
    fprintf(stderr, "medgen bench ddpm: out of memory\n");
    goto done;
  }
  mg_dataset data = {count, 1, size, images, NULL, 0, NULL, 127.5, 127.5};
  mg_ddpm_train_options opt = mg_ddpm_default_train_options();
  opt.batch = batch;
  opt.steps = WARMUP + steps;
  opt.checkpoint_path = NULL;
  if (mg_ddpm_create(ctx, &cfg, &opt, &m) != MG_OK) {
    fprintf(stderr, "medgen bench ddpm: %s\n", mg_context_error(ctx));
    goto done;
  }
  printf("medgen bench ddpm: %s (%.2f M parameters), %dx%d, batch %d, %d threads\n", preset,
         mg_ddpm_parameter_count(m) / 1e6, size, size, batch, threads);
  fflush(stdout);
  bench_timer train = bench_timer_start(WARMUP);
  if (mg_ddpm_train(m, &data, bench_on_step, &train) != MG_OK) {
    fprintf(stderr, "medgen bench ddpm: %s\n", mg_context_error(ctx));
    goto done;
  }
  mg_ddpm_sample_options so = mg_ddpm_default_sample_options();
  so.sampler = MG_SAMPLER_DDIM;
  so.steps = WARMUP + steps;
  so.batch = batch;
  bench_timer sample = bench_timer_start(WARMUP);
  if (mg_ddpm_sample(m, &so, batch, NULL, out, bench_on_step, &sample) != MG_OK) {
    fprintf(stderr, "medgen bench ddpm: %s\n", mg_context_error(ctx));
    goto done;
  }
  double train_s = bench_median(&train), sample_s = bench_median(&sample), peak_mb = bench_peak_rss_mb();
  printf("medgen: train step %.3f s (%.1f images/s), sampling step %.3f s\n", train_s, batch / train_s, sample_s);
  char torch_fields[256] = "";
  if (vs_torch) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s/Testing/Python/unet_reference.py bench --preset %s --size %d --batch %d "
             "--threads %d --steps %d", MEDGEN_PYTHON, MEDGEN_SOURCE_DIR, preset, size, batch, threads, steps);
    static const char *const keys[] = {"train_step_s", "sample_step_s"};
    if (!bench_vs_torch("medgen bench ddpm", cmd, keys, "sampling step", train_s, sample_s, torch_fields,
                        sizeof torch_fields))
      goto done;
  }
  printf("train_step_s=%.4f sample_step_s=%.4f peak_rss_mb=%.0f%s\n", train_s, sample_s, peak_mb, torch_fields);
  code = 0;
done:
  mg_ddpm_free(m);
  free(images);
  free(out);
  mg_context_free(ctx);
  return code;
}
