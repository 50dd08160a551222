/* medgen.h: MedGen's public C API.
 *
 * Everything outside the engine (the medgen tool, ITK filters, VTK logic, Slicer) includes only this header.
 * Handles are opaque; every call that can fail returns an mg_status and leaves a human-readable message
 * (mg_context_error, or the caller's err buffer for calls that have no context yet). Nothing here exits,
 * aborts or prints.
 *
 * Thread safety: a context, and everything created from it (a denoiser included), belongs to one thread at a
 * time. Different contexts may run concurrently in different threads. Checkpoint files are independent of
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
  MG_ERR_INTERNAL          /* a bug in MedGen: please report it */
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

typedef enum mg_device { MG_DEVICE_CPU = 0, MG_DEVICE_CUDA = 1 } mg_device;

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
  mg_device device; /* MG_DEVICE_CPU unless a CUDA backend is built and a GPU is present */
  int threads;      /* CPU threads for kernels; 0 means all cores */
} mg_context_options;

/* Creates a context. On failure *out is NULL and err (if non-NULL) holds the reason. */
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

/* ---- Denoiser: the building block of a diffusion model. ----
 * A small UNet that, told a noise level t, predicts the Gaussian noise added to a clean image. Training draws an
 * image, a level t uniform in [0, 1) and noise eps, forms x_t = sqrt(abar(t)) x0 + sqrt(1 - abar(t)) eps (the
 * cosine schedule of improved DDPM: t = 0 is clean, t = 1 is almost pure noise) and minimizes the mean squared
 * error of the predicted eps, with AdamW, a linear warm-up then cosine learning rate, gradient-norm clipping at 1
 * and an exponential moving average (EMA) of the weights. Images are single-channel, square, with pixels in
 * [-1, 1], row-major, top row first; a batch of n images is n * size * size floats.
 *
 * A denoiser belongs to the context it was trained in: use it only with that context, and free it before the
 * context. Its weights live in the context's memory, which only mg_context_free releases, so a program that
 * trains many models should give each its own context. Results are bit-identical for any thread count. */
typedef struct mg_denoiser mg_denoiser;

typedef struct mg_denoiser_options {
  int channels;         /* feature channels at full resolution (twice that at 1/2 and 1/4): a multiple of 8 from
                         * 8 to 256 (default 16) */
  int batch;            /* images per training step, drawn with replacement: 1 to 1024 (default 16) */
  int steps;            /* training steps, at least 1 (default 300) */
  double learning_rate; /* peak AdamW learning rate, in (0, 1] (default 4e-3); the cosine ends at 5% of it */
  int warmup_steps;     /* linear warm-up steps, 0 to steps; -1 (default): a tenth of steps, at most 50 */
  double ema_decay;     /* the EMA's largest decay, in [0, 1) (default 0.999); smaller early on (warm-up) */
  int flip_horizontal;  /* non-zero: mirror half the training images left-right (default 0: off). For images
                         * whose left and right are interchangeable, e.g. axial brain slices */
  uint64_t seed;        /* weights' initialization, batch picks, noise levels and noise (default 1) */
} mg_denoiser_options;

/* The defaults above. */
mg_denoiser_options mg_denoiser_default_options(void);

/* Trains a denoiser on count images of size x size pixels (size a multiple of 4 from 8 to 512; every pixel
 * finite and in [-1, 1]). options may be NULL for the defaults. The same inputs, options and seed give
 * bit-identical weights on any thread count.
 *
 * progress (may be NULL) is called once after each step with stage "train", step = steps done (1 .. total),
 * total = options->steps, the step's loss and the seconds since the call began. A non-zero return cancels: the
 * call returns MG_ERR_CANCELLED at once, before another step.
 *
 * On success *out is the trained denoiser (free with mg_denoiser_free). On any failure *out is NULL and
 * mg_context_error(ctx) says why: MG_ERR_INVALID_ARGUMENT for a NULL pointer, count < 1, an unsupported size, a
 * non-finite or out-of-range pixel (naming the image and the pixel) or an option out of range (naming it);
 * MG_ERR_NUMERIC when the loss or the gradients stop being finite (naming the step); MG_ERR_CANCELLED;
 * MG_ERR_OUT_OF_MEMORY. With ctx NULL it returns MG_ERR_INVALID_ARGUMENT and has nowhere to say so. */
mg_status mg_denoiser_train(mg_ctx *ctx, const float *images, int count, int size, const mg_denoiser_options *options,
                            mg_progress_fn progress, void *user, mg_denoiser **out);
void mg_denoiser_free(mg_denoiser *d);
/* The image size it was trained on, and its number of trained values (0 for NULL). */
int mg_denoiser_image_size(const mg_denoiser *d);
int64_t mg_denoiser_parameter_count(const mg_denoiser *d);

/* Adds noise to count clean images (mg_denoiser_image_size(d) square, pixels finite and in [-1, 1]), image i at
 * noise level levels[i] in [0, 1], and asks the network (with its EMA weights) for the clean images back.
 * denoised receives the estimates, clamped to [-1, 1]; noisy (may be NULL) receives the noisy inputs divided by
 * sqrt(abar), i.e. the clean image plus noise of standard deviation sqrt((1 - abar) / abar), on the clean
 * image's scale and not clamped. Both are count * size * size floats.
 *
 * The noise depends only on seed and the image's position i: the same call gives bit-identical results on any
 * thread count. ctx must be the denoiser's context. Failures: MG_ERR_INVALID_ARGUMENT (NULL pointers, another context, a level or pixel out
 * of range), MG_ERR_OUT_OF_MEMORY; the message is in mg_context_error(ctx). */
mg_status mg_denoiser_denoise(mg_ctx *ctx, mg_denoiser *d, const float *images, int count, const float *levels,
                              uint64_t seed, float *noisy, float *denoised);

/* Writes the denoiser as a checkpoint, atomically (mg_checkpoint_writer_save): its weights ("model."), EMA
 * weights ("ema."), AdamW moments ("optim.") and metadata: "model.config" (the architecture as JSON),
 * "train.config" (the training options as JSON), "step", "seed", "rng.seed", "rng.offset" and "sampler.state"
 * (where training left its random streams), "medgen.version". metadata (may be NULL) adds the caller's own entries:
 * key, value, key, value, ..., NULL; a key already used fails the save. On failure nothing is written under path
 * (and no temporary file is left) and err says which file and why. Uses d's context, whose error it replaces. */
mg_status mg_denoiser_save(mg_denoiser *d, const char *path, const char *const *metadata, char *err,
                           size_t err_size);

#ifdef __cplusplus
}
#endif
#endif
