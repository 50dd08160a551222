/* main.c: the medgen command line: reads the command name and hands the rest of argv to that command
 * (medgen_commands.h, medgen_bench.h). Usage errors print one line on stderr and exit 2. */
#include "medgen.h"
#include "medgen_bench.h"
#include "medgen_commands.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_usage(FILE *out) {
  fprintf(out,
          "medgen %s: synthetic medical images from GANs and diffusion models\n"
          "\n"
          "Usage: medgen <command> [options]      (medgen <command> --help for its options)\n"
          "\n"
          "Commands:\n"
          "  train           train a diffusion model (--model ddpm), a GAN (--model gan) or a classifier (--model\n"
          "                  classifier) on your own images (a folder, one subfolder per class)\n"
          "  sample          generate synthetic images from a trained model (GANs: also --truncation and\n"
          "                  --interpolate SEED_A SEED_B)\n"
          "  info FILE       show what a MedGen checkpoint (.safetensors) holds; without FILE, the version and\n"
          "                  which devices (--device) can be used here\n"
          "  demo            train a small GAN on real brain MRI slices and show new slices beneath real ones\n"
          "  eval            measure synthetic images against real ones (Frechet distance, KID, precision and\n"
          "                  recall, diversity, class consistency, memorization) as JSON and an HTML report\n"
          "  bench NAME      measure speed: kernels (against OpenBLAS), ddpm and gan (against PyTorch); augment:\n"
          "                  does synthetic data help a classifier\n"
          "\n"
          "Options:\n"
          "  -h, --help      show this help\n"
          "  --version       show the version\n"
          "\n"
          "train, sample, eval and demo compute where --device says: auto (the default: the CUDA GPU when this\n"
          "build has the CUDA backend and the machine a usable GPU, else the CPU), cpu or cuda; --tf32 lets a GPU\n"
          "use TF32 tensor cores (faster, relative errors of about 1e-3).\n"
          "\n"
          "Every image MedGen generates is marked synthetic in its metadata. Not for diagnosis.\n",
          MEDGEN_VERSION_STRING);
}

static void print_bench_usage(FILE *out) {
  fprintf(out,
          "Usage: medgen bench <benchmark> [options]   (medgen bench <benchmark> --help for its options)\n"
          "\n"
          "Benchmarks:\n"
          "  kernels   conv and GEMM kernel throughput on a 64x64 UNet's shapes, as a fraction of OpenBLAS's\n"
          "            sgemm speed measured in the same run\n"
          "  ddpm      a diffusion UNet's training and sampling step times (--vs-torch: against PyTorch)\n"
          "  gan       a GAN's training step (discriminator and generator) and sampling times (--vs-torch: against\n"
          "            PyTorch)\n"
          "  augment   a classifier trained on real images, with or without synthetic ones, scored on real\n"
          "            validation images (Testing/Benchmarks/augment_pneumonia.sh runs it)\n");
}

static bool is_help(const char *arg) { return !strcmp(arg, "-h") || !strcmp(arg, "--help") || !strcmp(arg, "help"); }

static int cmd_bench(int argc, char **argv) {
  /* argv[0] is "bench" */
  if (argc < 2 || is_help(argv[1])) {
    print_bench_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "kernels")) return medgen_bench_kernels(argc - 1, argv + 1);
  if (!strcmp(argv[1], "ddpm")) return medgen_bench_ddpm(argc - 1, argv + 1);
  if (!strcmp(argv[1], "gan")) return medgen_bench_gan(argc - 1, argv + 1);
  if (!strcmp(argv[1], "augment")) return medgen_bench_augment(argc - 1, argv + 1);
  fprintf(stderr, "medgen bench: unknown benchmark '%s' (try: medgen bench --help)\n", argv[1]);
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (is_help(cmd)) {
    print_usage(stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
    printf("medgen %s\n", MEDGEN_VERSION_STRING);
    return 0;
  }
  if (!strcmp(cmd, "demo")) return medgen_cmd_demo(argc - 1, argv + 1);
  if (!strcmp(cmd, "info")) return medgen_cmd_info(argc - 1, argv + 1);
  if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
  if (!strcmp(cmd, "train")) return medgen_cmd_train(argc - 1, argv + 1);
  if (!strcmp(cmd, "sample")) return medgen_cmd_sample(argc - 1, argv + 1);
  if (!strcmp(cmd, "eval")) return medgen_cmd_eval(argc - 1, argv + 1);
  if (cmd[0] == '-')
    fprintf(stderr, "medgen: unknown option '%s' (try: medgen --help)\n", cmd);
  else
    fprintf(stderr, "medgen: unknown command '%s' (try: medgen --help)\n", cmd);
  return 2;
}
