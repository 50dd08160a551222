/* bench_gan.c: `medgen bench gan`: how long a GAN takes per training step (a discriminator update on real and
 * generated images, a generator update, the EMA) and to sample 16 images, through the public API (mg_gan_train and
 * mg_gan_sample, as `medgen train` and `medgen sample` run them), on random images with augmentation off. With
 * --vs-torch the same networks run in PyTorch (Testing/Python/gan_reference.py bench) in the same run, on the same
 * threads, and the ratios ours / PyTorch's are printed: below 1 means MedGen is faster.
 *
 * Timing: wall clock between progress callbacks (one per training step) and around each sampling call, medians
 * after warm-up. Peak memory is this process's maximum resident set (PyTorch runs in a child process and is not
 * counted). */
#include "bench_util.h"
#include "medgen.h"
#include "medgen_bench.h"

#include <stdio.h>
#include <stdlib.h>

enum { SAMPLE_COUNT = 16 };

static void print_help(FILE *out) {
  fprintf(out,
          "Usage: medgen bench gan [--preset dcgan-64] [--size N] [--batch N] [--steps N] [--warmup N] [--threads N]\n"
          "                        [--device auto|cpu|cuda] [--tf32] [--vs-torch]\n"
          "\n"
          "Times a GAN's training step (one discriminator and one generator update with hinge loss, Adam and the\n"
          "generator's EMA; augmentation off) at --batch real images, and the sampling of %d images in one batch;\n"
          "medians of --steps (default 8) after --warmup (default 2). The last line reads: train_step_s=X\n"
          "sample_s=Y peak_rss_mb=Z. --vs-torch also times the same networks in PyTorch (%s\n"
          "Testing/Python/gan_reference.py; $MEDGEN_PYTHON overrides the Python) on the same threads and adds the\n"
          "ratios (MedGen / PyTorch; below 1: MedGen is faster); the reference runs on the CPU only, so --vs-torch\n"
          "needs MedGen on the CPU too. Defaults: dcgan-64 at its size (64x64), batch 16, all cores.\n"
          "\n" BENCH_DEVICE_HELP,
          SAMPLE_COUNT, bench_python());
}

int medgen_bench_gan(int argc, char **argv) {
  const char *preset = "dcgan-64";
  int size = 0, batch = 16, steps = 8, warmup = 2, threads = 0;
  int vs_torch = 0;
  bench_device dev = {MG_DEVICE_AUTO, 0};
  const bench_int_option ints[] = {{"--size", &size, 1, 4096}, {"--batch", &batch, 1, 4096},
                                   {"--steps", &steps, 1, BENCH_MAX_TIMED}, {"--warmup", &warmup, 0, 4096},
                                   {"--threads", &threads, 1, 4096}};
  int code = bench_parse_args(argc, argv, "medgen bench gan", print_help, &preset, &vs_torch, &dev, ints,
                              sizeof ints / sizeof *ints);
  if (code >= 0) return code;

  char err[1024];
  mg_gan_config cfg;
  if (mg_gan_preset(preset, &cfg, err, sizeof err) != MG_OK) {
    fprintf(stderr, "medgen bench gan: %s\n", err);
    return 2;
  }
  if (vs_torch && size && size != cfg.image_size) {
    fprintf(stderr, "medgen bench gan: --vs-torch compares the preset at its own size (%d): drop --size\n",
            cfg.image_size);
    return 2;
  }
  if (size) cfg.image_size = size;
  size = cfg.image_size;
  mg_ctx *ctx = bench_context_create("medgen bench gan", &dev, threads);
  if (!ctx) return 1;
  if (vs_torch && dev.device != MG_DEVICE_CPU) {
    fprintf(stderr, "medgen bench gan: --vs-torch compares on the CPU only (gan_reference.py): add --device cpu\n");
    mg_context_free(ctx);
    return 2;
  }
  threads = mg_context_threads(ctx);
  const int count = 64;
  float *images = bench_random_images(count, size);
  float *out = malloc((size_t)SAMPLE_COUNT * size * size * sizeof *out);
  mg_gan *m = NULL;
  code = 1;
  if (!images || !out) {
    fprintf(stderr, "medgen bench gan: out of memory\n");
    goto done;
  }
  mg_dataset data = {count, 1, size, images, NULL, 0, NULL, 127.5, 127.5};
  mg_gan_train_options opt = mg_gan_default_train_options();
  opt.batch = batch;
  opt.steps = warmup + steps;
  opt.augment_p = 0;
  opt.ada = 0;
  opt.checkpoint_path = NULL;
  if (mg_gan_create(ctx, &cfg, &opt, &m) != MG_OK) {
    fprintf(stderr, "medgen bench gan: %s\n", mg_context_error(ctx));
    goto done;
  }
  printf("medgen bench gan: %s (generator %.2f M, discriminator %.2f M parameters), %dx%d, batch %d, %s, %d threads\n",
         preset, mg_gan_generator_parameter_count(m) / 1e6, mg_gan_discriminator_parameter_count(m) / 1e6, size,
         size, batch, mg_device_name(dev.device), threads);
  fflush(stdout);
  bench_timer train = bench_timer_start(warmup);
  if (mg_gan_train(m, &data, bench_on_step, &train) != MG_OK) {
    fprintf(stderr, "medgen bench gan: %s\n", mg_context_error(ctx));
    goto done;
  }
  mg_gan_sample_options so = mg_gan_default_sample_options();
  so.batch = SAMPLE_COUNT;
  bench_timer sample = bench_timer_start(warmup);
  for (int i = 0; i < warmup + steps; i++) {
    so.seed = (uint64_t)i + 1;
    if (mg_gan_sample(m, &so, SAMPLE_COUNT, NULL, out, NULL, NULL) != MG_OK) {
      fprintf(stderr, "medgen bench gan: %s\n", mg_context_error(ctx));
      goto done;
    }
    bench_on_step(&sample, NULL);
  }
  double train_s = bench_median(&train), sample_s = bench_median(&sample), peak_mb = bench_peak_rss_mb();
  printf("medgen: train step %.3f s (%.1f images/s), sampling %d images %.3f s\n", train_s, batch / train_s,
         SAMPLE_COUNT, sample_s);
  char torch_fields[256] = "";
  if (vs_torch) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s/Testing/Python/gan_reference.py bench --preset %s --batch %d --threads %d "
             "--steps %d --warmup %d", bench_python(), MEDGEN_SOURCE_DIR, preset, batch, threads, steps, warmup);
    char sample_what[64];
    snprintf(sample_what, sizeof sample_what, "sampling %d images", SAMPLE_COUNT);
    const bench_measure measures[] = {{"train_step_s", "train", "train step", train_s},
                                      {"sample_s", "sample", sample_what, sample_s}};
    if (!bench_vs_torch("medgen bench gan", cmd, 2, measures, torch_fields, sizeof torch_fields)) goto done;
  }
  printf("train_step_s=%.4f sample_s=%.4f peak_rss_mb=%.0f%s\n", train_s, sample_s, peak_mb, torch_fields);
  code = 0;
done:
  mg_gan_free(m);
  free(images);
  free(out);
  mg_context_free(ctx);
  return code;
}
