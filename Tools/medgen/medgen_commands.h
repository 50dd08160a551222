/* medgen_commands.h: the subcommands of the medgen tool, one cmd_<name>.c file each. Every command takes argc/argv
 * as main does, with argv[0] the command's name ("info", "demo") and its options after, and returns the process
 * exit code: 0 success, 1 failure (the reason printed on stderr), 2 bad usage. Each handles its own --help. */
#ifndef MEDGEN_COMMANDS_H
#define MEDGEN_COMMANDS_H

/* `medgen info FILE`: what a checkpoint (or image) holds. cmd_info.c */
int medgen_cmd_info(int argc, char **argv);
/* `medgen demo [options]`: trains a small diffusion model on real brain MRI slices and shows its denoising in a
 * picture. cmd_demo.c */
int medgen_cmd_demo(int argc, char **argv);

/* `medgen train [options]`: trains a diffusion model or a GAN on a folder of images. cmd_train.c */
int medgen_cmd_train(int argc, char **argv);
/* `medgen sample [options]`: synthetic images from a trained diffusion model or GAN. cmd_sample.c */
int medgen_cmd_sample(int argc, char **argv);

/* `medgen eval [options]`: metrics of synthetic images against real ones, as JSON and an HTML report. cmd_eval.c */
int medgen_cmd_eval(int argc, char **argv);

#endif
