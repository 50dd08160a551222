/* cli_util.h: what the medgen commands share: option values, folders, clocks, Ctrl-C, and progress lines. */
#ifndef MEDGEN_CLI_UTIL_H
#define MEDGEN_CLI_UTIL_H

#include "medgen.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Strict number parsing: the whole string, within [lo, hi]. */
bool cli_parse_long(const char *s, long lo, long hi, long *out);
bool cli_parse_double(const char *s, double lo, double hi, double *out);
bool cli_parse_u64(const char *s, uint64_t *out);

/* mkdir -p; false with errno set on failure. */
bool cli_make_dir(const char *path);
/* Whether the folder path goes into exists and can be written to (a trailing '/' names a folder to create in its
 * parent); when not, says so on stderr ("TOOL: cannot write OPTION PATH: the folder ... does not exist"). */
bool cli_output_folder_writable(const char *tool, const char *option, const char *path);
/* A usage error: "TOOL: <message> (try: TOOL --help)" on stderr; returns 2, the exit code of bad usage. */
int cli_usage_error(const char *tool, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* --device and --tf32, which every command that computes takes. cli_check_device: 0 when name is auto, cpu or cuda,
 * else a usage error naming --device and its values ("TOOL: unknown --device 'x': use auto, cpu or cuda"), 2. */
int cli_check_device(const char *tool, const char *name);
/* The context a command computes in: on the device named (auto, cpu or cuda; NULL: auto), threads CPU threads (0:
 * all cores), and on CUDA TF32 tensor cores when tf32. Returns 0 with *out set and *device (when device is non-NULL)
 * the device it resolved to; 2 after a usage error (an unknown name); 1 when the device cannot be used or the engine
 * cannot start, the engine's reason on stderr ("TOOL: device cuda cannot be used: ..."). Under auto, a build with
 * the CUDA backend on a machine without a usable GPU computes on the CPU and says why on stderr, once per process
 * however many contexts it makes ("TOOL: <why>; using the CPU"). */
int cli_context_create(const char *tool, const char *device_name, int threads, bool tf32, mg_ctx **out,
                       mg_device *device);
/* Where a context computes, for the lines a command prints: "cpu, 2 threads", "cuda" or "cuda, tf32". */
const char *cli_device_text(const mg_ctx *ctx, mg_device device, bool tf32, char *buf, size_t size);
/* The value of the run notes run.tf32 records beside run.device: "1" when TF32 is in use (CUDA and tf32), else "0". */
const char *cli_tf32_note(mg_device device, bool tf32);

/* The class list `medgen sample` writes beside a stack and `medgen eval` reads: FILE.csv for FILE.nii.gz,
 * FILE.nrrd, ...; DIR.csv for a DICOM series DIR/. */
void cli_class_list_path(const char *stack, char *out, size_t out_size);
double cli_now_s(void);
/* "45s", "12m05s", "3h07m" */
void cli_format_duration(double seconds, char *buf, size_t size);

/* Ctrl-C: cli_catch_interrupt installs a handler that sets a flag (cli_interrupted) instead of killing the
 * process, so long calls can stop cleanly through their progress callback; cli_release_interrupt restores the
 * previous handler. */
void cli_catch_interrupt(void);
void cli_release_interrupt(void);
bool cli_interrupted(void);

/* A growing text buffer (logs written at the end, atomically). Appends fail silently once out of memory;
 * failed says so. */
typedef struct cli_text {
  char *data;
  size_t len, cap;
  bool failed;
} cli_text;
void cli_text_append(cli_text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void cli_text_free(cli_text *t);

/* A trained model of either kind, as the commands see it: exactly one of ddpm and gan is set. The functions below
 * ask whichever it is. */
typedef struct cli_model {
  mg_ddpm *ddpm;
  mg_gan *gan;
} cli_model;
/* Loads the model ckpt holds (its model type says which: "gan", else a diffusion model, whose loader names any
 * other type); false with the message in err. */
bool cli_model_load(mg_ctx *ctx, const mg_checkpoint *ckpt, mg_weights weights, cli_model *out, char *err,
                    size_t err_size);
void cli_model_free(cli_model *m);
const char *cli_model_kind(const cli_model *m); /* "diffusion model" or "GAN" */
int cli_model_image_size(const cli_model *m);
int cli_model_channels(const cli_model *m);
int64_t cli_model_step(const cli_model *m);
int cli_model_num_classes(const cli_model *m);
const char *cli_model_class_name(const cli_model *m, int index);
int cli_model_class_index(const cli_model *m, const char *name);
void cli_model_normalization(const cli_model *m, double *offset, double *scale);
const char *cli_model_note(const cli_model *m, const char *key);
mg_status cli_model_set_note(cli_model *m, const char *key, const char *value);

/* Training progress for people: a line every report_every steps (and the first and last): step, share done,
 * mean loss since the last line (a GAN's: discriminator and generator losses, then r_t and the augmentation
 * probability now), images per second, elapsed time and ETA. */
typedef struct cli_train_progress {
  int batch;
  int64_t first_step;  /* steps already done when this run started (resume) */
  int64_t report_every;
  const mg_gan *gan;   /* set for a GAN's run */
  double t_report, loss_sum, g_loss_sum;
  int64_t loss_count, steps_at_report;
  cli_text *log;       /* optional CSV lines, under the header cli_train_log_header gives */
} cli_train_progress;
/* An mg_progress_fn: user is a cli_train_progress; returns non-zero after Ctrl-C. */
int cli_on_train_progress(void *user, const mg_progress *p);
/* The log's first line: "step,loss,seconds", or for a GAN "step,d_loss,g_loss,r_t,augment_p,seconds". */
const char *cli_train_log_header(const cli_train_progress *p);

#endif
