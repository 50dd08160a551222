/* medgen.h: MedGen's public C API.
 *
 * Everything outside the engine (the medgen tool, ITK filters, VTK logic, Slicer) includes only this header.
 * Handles are opaque; every call that can fail returns an mg_status and leaves a human-readable message
 * (mg_context_error, or the caller's err buffer for calls that have no context yet). Nothing here exits,
 * aborts or prints.
 *
 * Thread safety: a context, and everything created from it (a model included), belongs to one thread at a
 * time. Different contexts may run concurrently in different threads. On CUDA each host thread has its own stream:
 * hand a context to another thread only after a call that returns results to the host (sampling, training,
 * saving, a download), which waits for the GPU. Checkpoint files are independent of
 * contexts; a loaded mg_checkpoint is read-only and may be shared between threads once loaded.
 *
 * Long calls (training) take an mg_progress_fn: it reports each step and can cancel the call.
 */
#ifndef MEDGEN_H
#define MEDGEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MEDGEN_VERSION_STRING "0.1.0"

typedef enum mg_status {
  MG_OK = 0,
  MG_ERR_INVALID_ARGUMENT, /* a caller passed a bad value or shape */
  MG_ERR_IO,               /* a file could not be opened, read or written */
  MG_ERR_FORMAT,           /* a file is corrupt, truncated, hostile or not what it claims */
  MG_ERR_OUT_OF_MEMORY,    /* host or device allocation failed */
  MG_ERR_UNSUPPORTED,      /* the operation is not available on this backend or build */
  MG_ERR_CANCELLED,        /* a progress callback asked to stop */
  MG_ERR_NUMERIC,          /* NaN or Inf appeared (e.g. a diverging loss) */
  MG_ERR_INTERNAL,         /* a bug in MedGen: please report it */
  MG_ERR_DEVICE            /* the GPU, its driver or cuBLAS/cuDNN reported a failure */
} mg_status;

/* Short stable name of a status, e.g. "format error". Never NULL. */
const char *mg_status_string(mg_status status);
/* Writes "<path>: <message>" into err (when err is non-NULL) and returns status: the one way MedGen words an error
 * about a file. printf-style. */
mg_status mg_file_error(char *err, size_t err_size, mg_status status, const char *path, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* Where a context computes. AUTO is the CUDA GPU when this build has the CUDA backend and the machine a usable GPU,
 * else the CPU; a context always reports the device it resolved to. */
typedef enum mg_device { MG_DEVICE_CPU = 0, MG_DEVICE_CUDA = 1, MG_DEVICE_AUTO = 2 } mg_device;

/* "auto", "cpu" or "cuda" -> its mg_device; -1 for any other name. */
int mg_device_from_name(const char *name);
/* "auto", "cpu", "cuda"; "unknown" for a value outside the enum. */
const char *mg_device_name(mg_device device);
/* The device a context asked for `requested` would use. MG_OK with *resolved set, or MG_ERR_UNSUPPORTED for CUDA
 * when it cannot be used, the reason in note ("no CUDA backend in this build", "no CUDA-capable device is
 * detected", ...). Under AUTO on a build with the CUDA backend but no usable GPU, MG_OK, *resolved CPU and note
 * says why the CPU is used: callers show it once. note is "" otherwise. */
mg_status mg_device_resolve(mg_device requested, mg_device *resolved, char *note, size_t note_size);

/* Progress reports from long calls. Return non-zero from the callback to cancel: the call then returns
 * MG_ERR_CANCELLED at the next safe point (one step or one iteration later), leaving files consistent. */
typedef struct mg_progress {
  const char *stage;  /* "train", "sample", ... */
  int64_t step;       /* steps done so far */
  int64_t total;      /* steps planned (0 if unknown) */
  double loss;        /* latest loss, or NaN where none */
  double elapsed_s;   /* seconds since the call began */
} mg_progress;
typedef int (*mg_progress_fn)(void *user, const mg_progress *progress);

/* ---- Contexts: a device, a thread count, memory arenas and the last error. ---- */
typedef struct mg_ctx mg_ctx;

typedef struct mg_context_options {
  mg_device device; /* MG_DEVICE_CPU (0), MG_DEVICE_CUDA or MG_DEVICE_AUTO */
  int threads;      /* CPU threads for kernels; 0 means all cores */
  int tf32;         /* non-zero, CUDA: TF32 tensor cores for GEMM and convolution (relative error ~1e-3); CPU ignores it */
} mg_context_options;

/* Creates a context on options->device, resolved as mg_device_resolve does (AUTO never fails for want of a GPU).
 * On failure *out is NULL and err (if non-NULL) holds the reason. */
mg_status mg_context_create(const mg_context_options *options, mg_ctx **out, char *err, size_t err_size);
void mg_context_free(mg_ctx *ctx);
/* The message of the last failure in this context ("" if none). Valid until the next call on ctx. */
const char *mg_context_error(const mg_ctx *ctx);
/* Threads used by CPU kernels. Results are bit-identical for any thread count. */
mg_status mg_context_set_threads(mg_ctx *ctx, int threads);
int mg_context_threads(const mg_ctx *ctx);

/* ---- Files written atomically: a temporary file beside the target, fsync, rename, fsync of the folder. ----
 * Whoever reads the target, even after a crash or a full disk, finds the old file or the complete new one, and no
 * failure leaves the temporary file behind. A new file gets the permissions any program's new file gets (0666
 * less the umask); a replaced file keeps its permissions. Messages start with the target's path and say what
 * failed and why ("out.png: disk full while writing (No space left on device)"). A handle belongs to one thread;
 * different handles may be used in different threads. */
typedef struct mg_atomic_file mg_atomic_file;

/* Creates the temporary file for path. On failure *out is NULL and err says why. */
mg_status mg_atomic_file_open(const char *path, mg_atomic_file **out, char *err, size_t err_size);
/* The temporary file as a stdio stream, for writers that want one (libpng): write to it, but do not close it. */
FILE *mg_atomic_file_stream(mg_atomic_file *af);
/* Appends bytes. On failure the caller still owns af: abort it. */
mg_status mg_atomic_file_write(mg_atomic_file *af, const void *data, size_t bytes, char *err, size_t err_size);
/* Flushes, fsyncs and renames the temporary file over the target. Frees af whatever happens; on failure the
 * target is untouched and the temporary file removed. A write to the stream that failed unnoticed fails here. */
mg_status mg_atomic_file_commit(mg_atomic_file *af, char *err, size_t err_size);
/* Closes and removes the temporary file, leaving the target untouched, and frees af. NULL is a no-op. */
void mg_atomic_file_abort(mg_atomic_file *af);
/* open + write + commit of one buffer, for small outputs such as CSV logs. */
mg_status mg_file_write_atomic(const char *path, const void *data, size_t bytes, char *err, size_t err_size);

/* ---- Checkpoints: safetensors files with MedGen metadata. ---- */
typedef struct mg_checkpoint mg_checkpoint;

/* Reads and fully validates a checkpoint (header length, JSON, dtypes, shapes, offsets in bounds and not
 * overlapping). On failure *out is NULL and err says which file and what is wrong. */
mg_status mg_checkpoint_load(const char *path, mg_checkpoint **out, char *err, size_t err_size);
void mg_checkpoint_free(mg_checkpoint *ckpt);
/* The path ckpt was loaded from (for messages). */
const char *mg_checkpoint_path(const mg_checkpoint *ckpt);

int mg_checkpoint_tensor_count(const mg_checkpoint *ckpt);
/* Tensor i (0 <= i < count), in file order. Returns NULL name for an index out of range. shape holds up to 8
 * dims; data is float32 in host memory, owned by ckpt. */
typedef struct mg_checkpoint_tensor {
  const char *name;
  int ndim;
  int64_t shape[8];
  const float *data;
  int64_t numel;
} mg_checkpoint_tensor;
mg_status mg_checkpoint_tensor_at(const mg_checkpoint *ckpt, int index, mg_checkpoint_tensor *out);
/* Finds a tensor by name; MG_ERR_INVALID_ARGUMENT if absent. */
mg_status mg_checkpoint_find(const mg_checkpoint *ckpt, const char *name, mg_checkpoint_tensor *out);

int mg_checkpoint_metadata_count(const mg_checkpoint *ckpt);
/* Metadata entry i as key and value strings owned by ckpt; NULLs for an index out of range. */
void mg_checkpoint_metadata_at(const mg_checkpoint *ckpt, int index, const char **key, const char **value);
/* Value for key, or NULL if absent. */
const char *mg_checkpoint_metadata(const mg_checkpoint *ckpt, const char *key);

/* Builds a checkpoint in memory and writes it atomically (temp file in the same folder, fsync, rename), so a
 * crash or a full disk never leaves a half-written file under the final name. */
typedef struct mg_checkpoint_writer mg_checkpoint_writer;
mg_checkpoint_writer *mg_checkpoint_writer_new(void);
void mg_checkpoint_writer_free(mg_checkpoint_writer *w);
/* Copies data (numel = product of shape, float32). Names must be unique and not start with "__". */
mg_status mg_checkpoint_writer_add_tensor(mg_checkpoint_writer *w, const char *name, int ndim,
                                          const int64_t *shape, const float *data);
mg_status mg_checkpoint_writer_add_metadata(mg_checkpoint_writer *w, const char *key, const char *value);
/* The first failed add's message ("" if none). Once an add has failed, save refuses to write (with that message),
 * so a checkpoint never silently lacks a tensor: callers may add everything and check once, at save. */
const char *mg_checkpoint_writer_error(const mg_checkpoint_writer *w);
mg_status mg_checkpoint_writer_save(mg_checkpoint_writer *w, const char *path, char *err, size_t err_size);

/* ---- Training data: 2D images in memory, scaled to [-1, 1], with optional class labels. ----
 * Readers (Logic/IO) fill this from files; the engine never reads image files itself. norm_offset and norm_scale
 * map back to the data's original intensity units (original = value * norm_scale + norm_offset); models store
 * them so that generated images come out in those units. */
#define MG_MAX_CLASSES 256
typedef struct mg_dataset {
  int count;                      /* images */
  int channels;                   /* 1 (grayscale) or more */
  int size;                       /* images are size x size */
  const float *images;            /* count * channels * size * size values in [-1, 1], NCHW, top row first */
  const int32_t *labels;          /* count labels in [0, num_classes), or NULL when unlabelled */
  int num_classes;                /* 0 when unlabelled */
  const char *const *class_names; /* num_classes names (e.g. the class folder names), or NULL */
  double norm_offset, norm_scale; /* original units = value * norm_scale + norm_offset (norm_scale > 0) */
} mg_dataset;

/* ---- UNet noise predictor: architecture ----
 * Levels run from full resolution down: level i has base_channels * channel_mult[i] channels and is halved
 * before the next. Each level has res_blocks residual blocks on the way down and res_blocks + 1 on the way up
 * (each followed by self-attention where attention[i] is set); the middle is residual block, attention (if
 * mid_attention), residual block. Residual blocks: GroupNorm, SiLU, 3x3 conv, + projected time embedding,
 * GroupNorm, SiLU, dropout, 3x3 conv, + a 1x1-conv skip where channels change. Time: sinusoidal embedding of
 * width base_channels through Linear-SiLU-Linear to temb_channels; a class embedding of the same width is added
 * when num_classes > 0 (row num_classes is the "no class" used for classifier-free guidance). */
#define MG_UNET_MAX_LEVELS 5
typedef struct mg_unet_config {
  int image_size;                         /* 8 to 256, divisible by 2^(levels-1) */
  int in_channels;                        /* image channels, 1 to 4 */
  int base_channels;                      /* multiple of groups */
  int levels;                             /* 1 to MG_UNET_MAX_LEVELS */
  int channel_mult[MG_UNET_MAX_LEVELS];   /* per level, >= 1 */
  int res_blocks;                         /* residual blocks per level (down path), 1 to 4 */
  int attention[MG_UNET_MAX_LEVELS];      /* non-zero: self-attention at this level */
  int mid_attention;                      /* non-zero: self-attention in the middle */
  int head_channels;                      /* channels per attention head (a level's channels are split into heads) */
  int groups;                             /* GroupNorm groups; divides every channel count */
  int temb_channels;                      /* time-embedding width */
  double dropout;                         /* in residual blocks while training, [0, 1) */
  int num_classes;                        /* 0: unconditional; else class-conditional, 1 to MG_MAX_CLASSES */
} mg_unet_config;

/* Fills out with a named preset at 64x64, 1 channel, unconditional: "unet-s" (base 64, mult 1,2,2, 1 residual
 * block, attention at levels 1, 2 and the middle, 64 channels per head, 32 groups, time width 256: 4.6 M
 * parameters) or "unet-monai" (MONAI's 2D DDPM tutorial: channels 128,256,256, attention at levels 1, 2 and the
 * middle, 256 channels per head, 32 groups, time width 512). Callers then set image_size, in_channels and
 * num_classes. MG_ERR_INVALID_ARGUMENT (message in err, listing the presets) for an unknown name. */
mg_status mg_unet_preset(const char *name, mg_unet_config *out, char *err, size_t err_size);
/* Checks a configuration; the message names the first bad field and its allowed range. */
mg_status mg_unet_config_check(const mg_unet_config *config, char *err, size_t err_size);

/* ---- Diffusion models (DDPM): a UNet, a noise schedule and what the UNet predicts. ---- */
typedef enum mg_noise_schedule { MG_SCHEDULE_LINEAR = 0, MG_SCHEDULE_COSINE = 1 } mg_noise_schedule;
typedef enum mg_prediction { MG_PREDICT_EPSILON = 0, MG_PREDICT_V = 1 } mg_prediction;
typedef enum mg_sampler { MG_SAMPLER_DDPM = 0, MG_SAMPLER_DDIM = 1, MG_SAMPLER_DPMPP_2M = 2 } mg_sampler;
/* Stable lower-case names ("linear", "cosine"; "epsilon", "v"; "ddpm", "ddim", "dpm++2m") and their inverse
 * (-1 for an unknown name). */
const char *mg_noise_schedule_name(mg_noise_schedule s);
const char *mg_prediction_name(mg_prediction p);
const char *mg_sampler_name(mg_sampler s);
int mg_noise_schedule_from_name(const char *name);
int mg_prediction_from_name(const char *name);
int mg_sampler_from_name(const char *name);

typedef struct mg_ddpm_config {
  mg_unet_config unet;
  mg_noise_schedule schedule;  /* default linear */
  int timesteps;               /* T, 10 to 10000 (default 1000) */
  double beta_start, beta_end; /* the linear schedule's ends (default 1e-4 and 0.02) */
  mg_prediction prediction;    /* default epsilon */
} mg_ddpm_config;
/* The defaults above around a UNet preset (see mg_unet_preset). */
mg_status mg_ddpm_default_config(const char *preset, mg_ddpm_config *out, char *err, size_t err_size);

typedef struct mg_ddpm_train_options {
  int batch;               /* images per step, 1 to 1024 (default 16) */
  int64_t steps;           /* total training steps (default 10000) */
  double learning_rate;    /* peak AdamW rate (default 1e-4) */
  int64_t warmup_steps;    /* linear warm-up, then cosine down to min_lr_ratio of the peak (default 500) */
  double min_lr_ratio;     /* default 0.1 */
  double weight_decay;     /* AdamW's decoupled decay (default 0) */
  double ema_decay;        /* largest EMA decay, with diffusers' warm-up (default 0.9999) */
  double clip_norm;        /* gradient-norm clipping; 0 turns it off (default 1) */
  double class_dropout;    /* probability of training a labelled image as "no class", for guidance (default 0.1) */
  int flip_horizontal;     /* non-zero: mirror half the images left-right (default 0: anatomy has a side) */
  uint64_t seed;           /* initialization, batches, timesteps and noise (default 1) */
  int64_t checkpoint_every;/* steps between checkpoints to checkpoint_path (default 1000; 0: only at the end) */
  const char *checkpoint_path; /* written atomically; NULL: no periodic checkpoints */
} mg_ddpm_train_options;
mg_ddpm_train_options mg_ddpm_default_train_options(void);

/* A diffusion model in a context: weights, and when made for training, the optimizer, EMA and data streams.
 * It belongs to its context (one thread at a time; free it before the context); its weights live in the
 * context's memory, which only mg_context_free releases, so a program that makes many models should give each its
 * own context. */
typedef struct mg_ddpm mg_ddpm;

/* A new model for training, its weights initialized from options->seed. Checks config and options (messages
 * name the bad field). The training options are kept: mg_ddpm_train uses them and checkpoints record them. */
mg_status mg_ddpm_create(mg_ctx *ctx, const mg_ddpm_config *config, const mg_ddpm_train_options *options,
                         mg_ddpm **out);
/* Which weights mg_ddpm_load and mg_gan_load take from a checkpoint. */
typedef enum mg_weights {
  MG_WEIGHTS_EMA = 0,  /* the EMA weights, for sampling (the usual choice) */
  MG_WEIGHTS_RAW = 1,  /* the trained weights, for sampling */
  MG_WEIGHTS_TRAINING = 2 /* everything needed to resume training exactly */
} mg_weights;
/* Builds a model from a checkpoint written by mg_ddpm_save (or periodic training checkpoints). Any problem
 * (another model type, a missing or misshapen tensor, bad metadata) fails with a message naming the file. */
mg_status mg_ddpm_load(mg_ctx *ctx, const mg_checkpoint *ckpt, mg_weights weights, mg_ddpm **out);
void mg_ddpm_free(mg_ddpm *m);

/* The training options a model carries (from mg_ddpm_create, or from its checkpoint), and replacing them: to
 * continue a finished run for more steps, or to change where checkpoints go. batch, seed, learning_rate and
 * weight_decay cannot change, nor steps drop below the steps done. A resumed run equals an uninterrupted one when
 * nothing but checkpoint_path and checkpoint_every changed. checkpoint_path is copied. */
mg_ddpm_train_options mg_ddpm_train_options_of(const mg_ddpm *m);
mg_status mg_ddpm_set_train_options(mg_ddpm *m, const mg_ddpm_train_options *options);

/* Notes the caller wants in every checkpoint of this model, e.g. where its data came from: key must start with "run."
 * (the engine's own keys never do); setting a key again replaces its value. Loading a checkpoint keeps its "run."
 * entries. */
mg_status mg_ddpm_set_note(mg_ddpm *m, const char *key, const char *value);
/* The value of a "run." note, or NULL. */
const char *mg_ddpm_note(const mg_ddpm *m, const char *key);

/* Trains until options->steps steps are done in total (a loaded model continues where its checkpoint stopped:
 * interrupted-and-resumed runs end with the same weights as uninterrupted ones). The data must match the
 * model (channels, size, classes) and, when resuming, be the same images as before (checked by a fingerprint
 * the checkpoint keeps). Saves a checkpoint every checkpoint_every steps and at the end when checkpoint_path is
 * set. progress: stage "train", once per step; non-zero cancels after that step (a checkpoint is written first
 * when checkpoint_path is set). A non-finite loss or gradient stops with MG_ERR_NUMERIC naming the step; the
 * last checkpoint on disk is left as it was. */
mg_status mg_ddpm_train(mg_ddpm *m, const mg_dataset *data, mg_progress_fn progress, void *user);
/* Writes everything (weights, EMA, optimizer, streams, config, data normalization, class names and notes)
 * atomically. */
mg_status mg_ddpm_save(mg_ddpm *m, const char *path, char *err, size_t err_size);

typedef struct mg_ddpm_sample_options {
  mg_sampler sampler;  /* default DDIM */
  int steps;           /* reverse steps for DDIM and DPM-Solver++ (default 50); DDPM always takes T */
  double eta;          /* DDIM's noise (0: deterministic, 1: DDPM-like; default 0) */
  double guidance;     /* classifier-free guidance scale: 0 unconditional, 1 plain conditional (default),
                        * > 1 stronger; ignored by unconditional models */
  int clip_x0;         /* non-zero: clamp the predicted clean image to [-1, 1] at each step (default 1); the
                        * final images are always clamped to the data's range */
  int batch;           /* images per UNet evaluation (default 16) */
  uint64_t seed;       /* image i's noise depends only on (seed, i): the same seed and batch give bit-identical
                        * images on any thread count; another batch changes them by float rounding only (default 1) */
} mg_ddpm_sample_options;
mg_ddpm_sample_options mg_ddpm_default_sample_options(void);
/* Generates n images into out (n * channels * size * size floats) in the data's original units. labels: n class
 * indices (a conditional model; -1 asks for "no class"), or NULL for an unconditional draw. progress: stage
 * "sample", step and total count reverse steps over all batches; non-zero cancels. */
mg_status mg_ddpm_sample(mg_ddpm *m, const mg_ddpm_sample_options *options, int n, const int32_t *labels, float *out,
                         mg_progress_fn progress, void *user);
/* What the network has learned, in one prediction instead of a sampling loop: noises count images (channels *
 * size * size values each, in the model's [-1, 1] scale: finite and in range), image i at timesteps[i] (0 to T-1)
 * with noise that depends only on (seed, i) (a sampler's starting noise for image i), and has the network
 * predict with the weights m holds (a model loaded with MG_WEIGHTS_EMA: the EMA weights; one made by
 * mg_ddpm_create: its current trained weights). denoised receives the estimate of the clean images, clamped to
 * [-1, 1]; noisy (may be NULL) the noisy inputs divided by sqrt(abar): the clean image plus noise of standard
 * deviation sqrt((1 - abar) / abar), on the clean image's scale and not clamped. labels: count classes as in
 * mg_ddpm_sample (-1: no class), or NULL for "no class". Runs in batches of 16; the same call gives
 * bit-identical results on any thread count, and leaves the context's random stream as it was. Failures:
 * MG_ERR_INVALID_ARGUMENT (a NULL pointer, count < 1, a value, timestep or class out of range: the message names
 * it), MG_ERR_OUT_OF_MEMORY; the message is in mg_context_error. */
mg_status mg_ddpm_denoise(mg_ddpm *m, const float *images, int count, const int *timesteps, const int32_t *labels,
                          uint64_t seed, float *noisy, float *denoised);

/* What a model is. */
const mg_ddpm_config *mg_ddpm_get_config(const mg_ddpm *m);
int64_t mg_ddpm_parameter_count(const mg_ddpm *m);
int64_t mg_ddpm_step(const mg_ddpm *m);          /* training steps done */
int mg_ddpm_num_classes(const mg_ddpm *m);
const char *mg_ddpm_class_name(const mg_ddpm *m, int index); /* NULL when out of range or unnamed */
int mg_ddpm_class_index(const mg_ddpm *m, const char *name); /* -1 when unknown */
void mg_ddpm_normalization(const mg_ddpm *m, double *offset, double *scale);

/* ---- GANs: a generator (latent vector -> image in one forward pass) trained against a discriminator. ----
 * Generator: a transposed conv from 1x1 to 4x4, then transposed convs (4x4, stride 2) with batch norm and ReLU,
 * doubling the size up to image_size, tanh output. Discriminator: the mirror, strided convs with spectral norm and
 * LeakyReLU, down to one score. Class-conditional models use conditional batch norm in the generator and a
 * projection head in the discriminator (Miyato and Koyama). Layer widths: width at full resolution, doubling per
 * halving up to 8 * width. */
typedef struct mg_gan_config {
  int image_size;  /* 32 to 256, a power of two */
  int channels;    /* image channels, 1 to 4 */
  int latent_dim;  /* 1 to 1024 */
  int width;       /* 4 to 512 */
  int num_classes; /* 0: unconditional; else class-conditional, 1 to MG_MAX_CLASSES */
} mg_gan_config;
/* Fills out with a named preset, 1 channel, unconditional: "dcgan-64" (64x64, latent 128, width 64: 3.8 M
 * generator and 2.8 M discriminator parameters). Callers then set image_size, channels and num_classes.
 * MG_ERR_INVALID_ARGUMENT (message in err, listing the presets) for an unknown name. */
mg_status mg_gan_preset(const char *name, mg_gan_config *out, char *err, size_t err_size);
/* Checks a configuration; the message names the first bad field and its allowed range. */
mg_status mg_gan_config_check(const mg_gan_config *config, char *err, size_t err_size);

typedef enum mg_gan_loss { MG_GAN_HINGE = 0, MG_GAN_BCE = 1 } mg_gan_loss;
/* "hinge", "bce" (non-saturating), and back (-1 for an unknown name). */
const char *mg_gan_loss_name(mg_gan_loss loss);
int mg_gan_loss_from_name(const char *name);

typedef struct mg_gan_train_options {
  int batch;               /* real images per step, 1 to 1024 (default 32) */
  int64_t steps;           /* total steps, each one discriminator and one generator update (default 10000) */
  double lr_g, lr_d;       /* Adam rates of the generator and the discriminator (default 2e-4 both) */
  double beta1, beta2;     /* Adam's betas, shared (default 0.5 and 0.999) */
  mg_gan_loss loss;        /* default hinge */
  double ema_decay;        /* largest decay of the generator's EMA, with a warm-up as the DDPM's (default 0.999) */
  double augment_p;        /* probability of each augmentation (translation, cutout, brightness, contrast) per image
                            * seen by the discriminator, real and generated alike; with ada its starting value
                            * (default 0) */
  int ada;                 /* non-zero: adapt augment_p every 4 steps toward r_t = E[sign(D(real))] = ada_target
                            * (StyleGAN2-ADA; default 1) */
  double ada_target;       /* default 0.6 */
  double ada_kimg;         /* thousands of images over which p may move by 1 (default 100; StyleGAN2-ADA uses 500
                            * for runs of millions of images) */
  int flip_horizontal;     /* non-zero: mirror half the real images left-right (default 0: anatomy has a side) */
  uint64_t seed;           /* initialization, batches, latents and augmentations (default 1) */
  int64_t checkpoint_every;/* steps between checkpoints to checkpoint_path (default 1000; 0: only at the end) */
  const char *checkpoint_path; /* written atomically; NULL: no periodic checkpoints */
} mg_gan_train_options;
mg_gan_train_options mg_gan_default_train_options(void);

/* A GAN in a context, with the same life cycle and rules as mg_ddpm: it belongs to its context (one thread at a
 * time; free it before the context). */
typedef struct mg_gan mg_gan;

/* A new model for training, its weights initialized from options->seed; checks config and options (messages
 * name the bad field). */
mg_status mg_gan_create(mg_ctx *ctx, const mg_gan_config *config, const mg_gan_train_options *options,
                        mg_gan **out);
/* Builds a model from a checkpoint written by mg_gan_save or by training. MG_WEIGHTS_EMA (the usual choice for
 * sampling) and MG_WEIGHTS_RAW load the generator only; MG_WEIGHTS_TRAINING loads everything needed to resume
 * exactly. Any problem (another model type, a missing or misshapen tensor, bad metadata) fails with a message
 * naming the file. */
mg_status mg_gan_load(mg_ctx *ctx, const mg_checkpoint *ckpt, mg_weights weights, mg_gan **out);
void mg_gan_free(mg_gan *m);

/* As mg_ddpm_train_options_of / mg_ddpm_set_train_options: batch, seed, the learning rates, betas and loss are fixed
 * when the model is made; steps may not drop below the steps done. */
mg_gan_train_options mg_gan_train_options_of(const mg_gan *m);
mg_status mg_gan_set_train_options(mg_gan *m, const mg_gan_train_options *options);
/* As mg_ddpm_set_note / mg_ddpm_note. */
mg_status mg_gan_set_note(mg_gan *m, const char *key, const char *value);
const char *mg_gan_note(const mg_gan *m, const char *key);

/* Trains until options->steps steps are done in total, with the same data rules, checkpoints, cancellation,
 * divergence handling (MG_ERR_NUMERIC naming the step, last checkpoint kept) and exact resume as mg_ddpm_train.
 * progress: stage "train", once per step, loss = the discriminator's; mg_gan_training_state tells more. */
mg_status mg_gan_train(mg_gan *m, const mg_dataset *data, mg_progress_fn progress, void *user);
/* What the last training step measured (NaN where nothing was measured yet). */
typedef struct mg_gan_training_state {
  double d_loss, g_loss; /* the last step's losses */
  double real_sign;      /* r_t: mean sign of the discriminator's scores on real images over the last 4 steps */
  double augment_p;      /* the augmentation probability now */
} mg_gan_training_state;
mg_gan_training_state mg_gan_training_state_of(const mg_gan *m);
/* Writes everything atomically: both networks, the generator's EMA (with batch-norm statistics measured for the
 * EMA weights), both optimizers, the streams, ADA's state, config, data normalization, class names and notes. */
mg_status mg_gan_save(mg_gan *m, const char *path, char *err, size_t err_size);

/* Latent vectors for images first .. first+n-1 of a draw: image i's depends only on (seed, i). truncation > 0
 * redraws every component beyond +-truncation (BigGAN's truncation trick: less variety, more typical images), up to
 * 64 times, then clamps what is still beyond (which only a truncation far below 1 leaves); 0 leaves the standard
 * normal draw as it is. z receives n * latent_dim values. */
mg_status mg_gan_latents(const mg_gan *m, uint64_t seed, int first, int n, double truncation, float *z);
/* Generates n images from the given latents into out (n * channels * size * size floats, the data's original
 * units), in batches of batch (1 to 1024; results do not depend on it beyond float rounding). labels: n classes in
 * [0, num_classes) for a conditional model (NULL: image i gets class i % num_classes); NULL for an unconditional
 * one. The generator runs with the weights m holds: a model loaded with MG_WEIGHTS_EMA, the EMA weights and their
 * measured batch-norm statistics; one made by mg_gan_create or loaded for training, the trained weights. */
mg_status mg_gan_generate(mg_gan *m, int n, const float *z, const int32_t *labels, int batch, float *out);

typedef struct mg_gan_sample_options {
  double truncation; /* as mg_gan_latents (default 0: none) */
  int batch;         /* default 16 */
  uint64_t seed;     /* the same seed gives the same images on any thread count (default 1) */
} mg_gan_sample_options;
mg_gan_sample_options mg_gan_default_sample_options(void);
/* mg_gan_latents (first = 0) then mg_gan_generate. progress: stage "sample", counting images; non-zero cancels. */
mg_status mg_gan_sample(mg_gan *m, const mg_gan_sample_options *options, int n, const int32_t *labels, float *out,
                        mg_progress_fn progress, void *user);

/* What a model is. */
const mg_gan_config *mg_gan_get_config(const mg_gan *m);
int64_t mg_gan_generator_parameter_count(const mg_gan *m);
int64_t mg_gan_discriminator_parameter_count(const mg_gan *m); /* 0 for a model loaded for sampling */
int64_t mg_gan_step(const mg_gan *m);
int mg_gan_num_classes(const mg_gan *m);
const char *mg_gan_class_name(const mg_gan *m, int index);
int mg_gan_class_index(const mg_gan *m, const char *name);
void mg_gan_normalization(const mg_gan *m, double *offset, double *scale);

/* The model type a checkpoint holds ("ddpm", "gan", "classifier"), or NULL when it does not say. */
const char *mg_checkpoint_model_type(const mg_checkpoint *ckpt);

/* ---- Image classifier: a small CNN (conv-BN-ReLU blocks, global average pool, linear) ----
 * Used to check that generated images look like their class (and by the evaluation tools). */
typedef struct mg_classifier mg_classifier;
typedef struct mg_classifier_options {
  int width;            /* channels of the first block, doubled per block (default 32) */
  int batch;            /* default 64 */
  int steps;            /* default 1000 */
  double learning_rate; /* AdamW peak (default 2e-3) */
  uint64_t seed;        /* default 1 */
} mg_classifier_options;
mg_classifier_options mg_classifier_default_options(void);
/* Trains on a labelled dataset (num_classes >= 2; size a multiple of 4 from 16 to 256). progress: stage "train". */
mg_status mg_classifier_train(mg_ctx *ctx, const mg_dataset *data, const mg_classifier_options *options,
                              mg_progress_fn progress, void *user, mg_classifier **out);
/* Classifies count images (channels * size * size each, scaled to [-1, 1] like the training data): labels[i]
 * the most probable class; probs (may be NULL) count * num_classes probabilities. */
mg_status mg_classifier_predict(mg_classifier *c, const float *images, int count, int32_t *labels, float *probs);
mg_status mg_classifier_save(mg_classifier *c, const char *path, char *err, size_t err_size);
mg_status mg_classifier_load(mg_ctx *ctx, const mg_checkpoint *ckpt, mg_classifier **out);
int mg_classifier_num_classes(const mg_classifier *c);
const char *mg_classifier_class_name(const mg_classifier *c, int index);
int mg_classifier_image_size(const mg_classifier *c);
int mg_classifier_channels(const mg_classifier *c);
/* Length of a feature vector: the channels of the last block. */
int mg_classifier_feature_dim(const mg_classifier *c);
/* The features the classifier decides on: for each of count images (as mg_classifier_predict takes them), the global
 * average of its last block's output, the vector the final linear layer reads. features receives
 * count * mg_classifier_feature_dim values. Batch-norm running statistics, so an image's features do not depend on
 * the other images in the call; bit-identical on any thread count. MedGen's evaluation metrics are computed in this
 * space (see Logic/Eval/FeatureExtractor/README.md). */
mg_status mg_classifier_features(mg_classifier *c, const float *images, int count, float *features);
/* Notes kept in the checkpoint, as mg_ddpm_set_note / mg_ddpm_note: keys start with "run." (e.g. the accuracy on
 * held-out images and the recipe that trained it). */
mg_status mg_classifier_set_note(mg_classifier *c, const char *key, const char *value);
const char *mg_classifier_note(const mg_classifier *c, const char *key);
void mg_classifier_free(mg_classifier *c);

#ifdef __cplusplus
}
#endif
#endif
