/* medgen_bench.h: the benchmarks behind `medgen bench ...`, callable from the medgen tool or their own
 * executables. Each takes argc/argv as main does (argv[0] is the benchmark's name, options follow) and returns a
 * process exit code. */
#ifndef MEDGEN_BENCH_H
#define MEDGEN_BENCH_H

#ifdef __cplusplus
extern "C" {
#endif

/* Conv and attention kernel throughput on a 64x64 UNet's shapes, against OpenBLAS's sgemm peak measured in the same
 * run. Options: --threads N (default: all cores), --quick (fewer repetitions). */
int medgen_bench_kernels(int argc, char **argv);
/* A diffusion UNet's training and sampling step times through the public API; --vs-torch adds PyTorch's times for
 * the same architecture and the ratios. The last line: train_step_s=X sample_step_s=Y peak_rss_mb=Z [...]. */
int medgen_bench_ddpm(int argc, char **argv);
/* A GAN's training step (discriminator and generator) and the sampling of 16 images through the public API;
 * --vs-torch adds PyTorch's times for the same networks and the ratios. The last line: train_step_s=X sample_s=Y
 * peak_rss_mb=Z [...]. */
int medgen_bench_gan(int argc, char **argv);
/* MedGen's CNN classifier trained on real images, with or without synthetic ones, scored on real validation images
 * (augment_pneumonia.sh runs it). The last line: auc=X accuracy=Y real=N synthetic=M val=K. */
int medgen_bench_augment(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
