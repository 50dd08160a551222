/* medgen.h: MedGen's public C API.
 *
 * Everything outside the engine (the medgen tool, ITK filters, VTK logic, Slicer) includes only this header.
 * Handles are opaque; every call that can fail returns an mg_status and leaves a human-readable message
 * (mg_context_error, or the caller's err buffer for calls that have no context yet). Nothing here exits,
 * aborts or prints.
 *
 * Thread safety: a context, and everything created from it, belongs to one thread at a time. Different
 * contexts may run concurrently in different threads. Checkpoint files are independent of contexts; a loaded
 * mg_checkpoint is read-only and may be shared between threads once loaded.
 */
#ifndef MEDGEN_H
#define MEDGEN_H

#include <stddef.h>
#include <stdint.h>

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

#ifdef __cplusplus
}
#endif
#endif
