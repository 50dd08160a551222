/* bench_ddpm.c: `medgen bench ddpm`: how long a diffusion UNet takes per training step, per sampling step (one UNet
 * evaluation of the batch) and, when asked, for a whole DDIM sampling run, through the public API, on random images.
 * With --vs-torch the same architecture runs in PyTorch (Testing/Python/unet_reference.py bench) in the same run, on
 * the same device and threads at the same precision, and the ratios ours / PyTorch's are printed: below 1 means
 * MedGen is faster.
 *
 * Timing: wall clock between progress callbacks (one per step), medians after warm-up steps; the DDIM run: wall clock
 * around mg_ddpm_sample, the median of DDIM_REPEATS calls after a two-step warm-up call of the same batch. On CUDA
 * the work is asynchronous, so every timed interval must end in a synchronization. A training step downloads its
 * loss after the forward and its gradient norm after the backward (the clip factor), so in steady state the interval
 * between two callbacks holds exactly one step (the Adam and EMA kernels a step queues land in the next interval);
 * a sampling step downloads the UNet's prediction before its callback; mg_ddpm_sample returns the images in host
 * memory. Peak memory is this process's maximum resident set (host memory only; PyTorch runs in a child process and
 * is not counted). */
#include "bench_util.h"
#include "medgen.h"
#include "medgen_bench.h"

#include <stdio.h>
#include <stdlib.h>

enum { WARMUP = 2, DDIM_REPEATS = 3 };

static void print_help(FILE *out) {
  fprintf(out,
          "Usage: medgen bench ddpm [--preset unet-s|unet-monai] [--size N] [--batch N] [--steps N] [--threads N]\n"
          "                         [--sample-images N] [--ddim-steps S] [--device auto|cpu|cuda] [--tf32]\n"
          "                         [--vs-torch]\n"
          "\n"
          "Times a diffusion UNet's training step (forward, backward, gradient clipping, AdamW, EMA) and sampling\n"
          "step (one UNet evaluation of the batch) in MedGen; medians of --steps steps (default 8) after %d warm-up\n"
          "steps. --sample-images N (default 0: off) also times a whole DDIM run (mg_ddpm_sample) of N images in one\n"
          "batch with --ddim-steps S (default 50): the median of %d calls after a 2-step warm-up. The last line\n"
          "reads: train_step_s=X sample_step_s=Y peak_rss_mb=Z device=D tf32=0|1 [ddim_s=W ddim_images_per_s=V].\n"
          "--vs-torch also times the same model in PyTorch (%s\n"
          "Testing/Python/unet_reference.py; $MEDGEN_PYTHON overrides the Python) on the same device and threads at\n"
          "the same precision (eager; TF32 only with --tf32) and adds the ratios (MedGen / PyTorch; below 1: MedGen\n"
          "is faster). Defaults: unet-s, 64x64, batch 16, all cores.\n"
          "\n" BENCH_DEVICE_HELP,
          WARMUP, DDIM_REPEATS, bench_python());
}

int medgen_bench_ddpm(int argc, char **argv) {
  const char *tool = "medgen bench ddpm", *preset = "unet-s";
  int size = 64, batch = 16, steps = 8, threads = 0, sample_images = 0, ddim_steps = 50;
  int vs_torch = 0;
  bench_device dev = {MG_DEVICE_AUTO, 0};
  const bench_int_option ints[] = {{"--size", &size, 1, 4096},
                                   {"--batch", &batch, 1, 4096},
                                   {"--steps", &steps, 1, 4096},
                                   {"--threads", &threads, 1, 4096},
                                   {"--sample-images", &sample_images, 0, 1024},
                                   {"--ddim-steps", &ddim_steps, 1, 10000}};
  int code = bench_parse_args(argc, argv, tool, print_help, &preset, &vs_torch, &dev, ints, sizeof ints / sizeof *ints);
  if (code >= 0) return code;
  if (steps > BENCH_MAX_TIMED) steps = BENCH_MAX_TIMED;

  char err[1024];
  mg_ddpm_config cfg;
  if (mg_ddpm_default_config(preset, &cfg, err, sizeof err) != MG_OK) {
    fprintf(stderr, "%s: %s\n", tool, err);
    return 2;
  }
  cfg.unet.image_size = size;
  mg_ctx *ctx = bench_context_create(tool, &dev, threads);
  if (!ctx) return 1;
  threads = mg_context_threads(ctx);
  const int count = 64;
  const size_t per = (size_t)size * size;
  float *images = bench_random_images(count, size);
  int out_images = sample_images > batch ? sample_images : batch;
  float *out = malloc((size_t)out_images * per * sizeof *out);
  mg_ddpm *m = NULL;
  code = 1;
  if (!images || !out) {
    fprintf(stderr, "%s: out of memory\n", tool);
    goto done;
  }
  mg_dataset data = {count, 1, size, images, NULL, 0, NULL, 127.5, 127.5};
  mg_ddpm_train_options opt = mg_ddpm_default_train_options();
  opt.batch = batch;
  opt.steps = WARMUP + steps;
  opt.checkpoint_path = NULL;
  if (mg_ddpm_create(ctx, &cfg, &opt, &m) != MG_OK) {
    fprintf(stderr, "%s: %s\n", tool, mg_context_error(ctx));
    goto done;
  }
  const char *device = mg_device_name(dev.device);
  const int tf32 = dev.device == MG_DEVICE_CUDA && dev.tf32; /* the CPU ignores it */
  printf("%s: %s (%.2f M parameters), %dx%d, batch %d, %s", tool, preset, mg_ddpm_parameter_count(m) / 1e6, size, size,
         batch, device);
  if (dev.device == MG_DEVICE_CUDA) printf(" (%s)\n", tf32 ? "TF32" : "float32, no TF32");
  else printf(", %d threads\n", threads);
  fflush(stdout);
  bench_timer train = bench_timer_start(WARMUP);
  if (mg_ddpm_train(m, &data, bench_on_step, &train) != MG_OK) {
    fprintf(stderr, "%s: %s\n", tool, mg_context_error(ctx));
    goto done;
  }
  mg_ddpm_sample_options so = mg_ddpm_default_sample_options();
  so.sampler = MG_SAMPLER_DDIM;
  so.steps = WARMUP + steps;
  so.batch = batch;
  bench_timer sample = bench_timer_start(WARMUP);
  if (mg_ddpm_sample(m, &so, batch, NULL, out, bench_on_step, &sample) != MG_OK) {
    fprintf(stderr, "%s: %s\n", tool, mg_context_error(ctx));
    goto done;
  }
  double train_s = bench_median(&train), sample_s = bench_median(&sample);
  printf("medgen: train step %.3f s (%.1f images/s), sampling step %.3f s\n", train_s, batch / train_s, sample_s);
  double ddim_s = 0;
  if (sample_images) {
    so.batch = sample_images; /* one batch, as a GPU run of this size would */
    bench_timer ddim = bench_timer_start(1);
    for (int i = 0; i < 1 + DDIM_REPEATS; i++) {
      so.steps = i ? ddim_steps : ddim_steps < 2 ? ddim_steps : 2; /* the warm-up meets the shapes: two steps do */
      if (mg_ddpm_sample(m, &so, sample_images, NULL, out, NULL, NULL) != MG_OK) {
        fprintf(stderr, "%s: %s\n", tool, mg_context_error(ctx));
        goto done;
      }
      bench_on_step(&ddim, NULL);
    }
    ddim_s = bench_median(&ddim);
    printf("medgen: DDIM sampling of %d images in %d steps %.3f s (%.1f images/s)\n", sample_images, ddim_steps, ddim_s,
           sample_images / ddim_s);
  }
  double peak_mb = bench_peak_rss_mb();
  /* PyTorch gets the device to itself: a GPU's memory held by this context would crowd its larger batches */
  mg_ddpm_free(m);
  m = NULL;
  mg_context_free(ctx);
  ctx = NULL;
  char torch_fields[512] = "";
  if (vs_torch) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s/Testing/Python/unet_reference.py bench --preset %s --size %d --batch %d "
             "--threads %d --warmup %d --steps %d --device %s%s --sample-images %d --ddim-steps %d", bench_python(),
             MEDGEN_SOURCE_DIR, preset, size, batch, threads, WARMUP, steps, device, tf32 ? " --tf32" : "",
             sample_images, ddim_steps);
    const bench_measure measures[] = {{"train_step_s", "train", "train step", train_s},
                                      {"sample_step_s", "sample", "sampling step", sample_s},
                                      {"ddim_s", "ddim", "DDIM sampling", ddim_s}};
    if (!bench_vs_torch(tool, cmd, sample_images ? 3 : 2, measures, torch_fields, sizeof torch_fields)) goto done;
  }
  printf("train_step_s=%.4f sample_step_s=%.4f peak_rss_mb=%.0f device=%s tf32=%d", train_s, sample_s, peak_mb, device,
         tf32);
  if (sample_images) printf(" ddim_s=%.4f ddim_images_per_s=%.2f", ddim_s, sample_images / ddim_s);
  printf("%s\n", torch_fields);
  code = 0;
done:
  mg_ddpm_free(m);
  free(images);
  free(out);
  mg_context_free(ctx);
  return code;
}
