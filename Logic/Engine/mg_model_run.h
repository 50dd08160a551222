/* mg_model_run.h: what the training runs of every model kind share (ddpm.c, gan.c): the run's step, random
 * streams and checkpoint path, the data it is bound to (fingerprint, class names, normalization), the caller's
 * "run." notes, their checkpoint metadata, the first checks of the public save, load and train calls, JSON readers
 * whose messages name the file and the key, and the training loop (steps, progress, checkpoints, cancellation,
 * divergence). The model kinds add their networks, options and step. */
#ifndef MG_MODEL_RUN_H
#define MG_MODEL_RUN_H

#include "mg_engine.h"

#include <cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The context's random stream, saved and put back around work that must not disturb it. */
typedef struct mg_rng_state {
  uint64_t seed, offset;
} mg_rng_state;
mg_rng_state mg_rng_get(const mg_ctx *ctx);
void mg_rng_set(mg_ctx *ctx, mg_rng_state state);

typedef struct mg_run {
  mg_ctx *ctx;
  int channels, size, num_classes; /* the images the model takes */
  uint64_t seed;                   /* the run's seed: it keys the context's stream while training */
  int64_t step;                    /* training steps done */
  uint64_t rng_offset;             /* the context's stream (keyed by seed) where training left it */
  uint64_t host_stream;            /* mg_host_uniform state: batch picks, flips and the model's other host draws */
  /* what the model was trained on: set by the first training call, kept in checkpoints */
  bool has_data;
  int64_t data_count;
  uint64_t data_fingerprint;
  char **class_names; /* num_classes entries (NULL entries for unnamed classes), or NULL */
  double norm_offset, norm_scale;
  char **notes;       /* "run." key, value, key, value, ...: n_notes pairs */
  int n_notes;
  char *checkpoint_path; /* where training writes checkpoints (the run's copy of the option), or NULL */
} mg_run;

/* A run that has not trained yet: step 0, the host stream derived from seed, normalization (0, 1). rng_offset is
 * set by mg_run_end_init. */
void mg_run_init(mg_run *r, mg_ctx *ctx, uint64_t seed, int channels, int size, int num_classes);
void mg_run_free(mg_run *r);
/* Around the drawing of a new model's weights: begin keys the context's stream by the run's seed and returns the
 * context's own; end records where the draws left the run's stream (training continues it) and puts the context's
 * own back. */
mg_rng_state mg_run_begin_init(mg_run *r);
void mg_run_end_init(mg_run *r, mg_rng_state kept);
/* Keeps a copy of path (NULL: none) as the run's checkpoint path; the old one is freed. */
mg_status mg_run_set_checkpoint_path(mg_run *r, const char *path);

/* The public set_note / note of a model; fn names the call in messages. */
mg_status mg_run_set_note(mg_run *r, const char *fn, const char *key, const char *value);
const char *mg_run_note(const mg_run *r, const char *key);
const char *mg_run_class_name(const mg_run *r, int index); /* NULL when out of range or unnamed */
int mg_run_class_index(const mg_run *r, const char *name); /* -1 when unknown */
/* The public normalization getter of a model; r may be NULL (then offset 0, scale 1). */
void mg_run_normalization(const mg_run *r, double *offset, double *scale);

/* Model-scale images: every value finite and in [-1, 1]; the message names the first bad one. */
mg_status mg_run_check_pixels(mg_ctx *ctx, const float *images, int count, int64_t per);
/* Checks the training data against the model (shape, classes, labels, values, normalization). The first data a
 * run sees is remembered (class names, normalization, fingerprint); later calls must pass the same images. */
mg_status mg_run_bind_data(mg_run *r, const mg_dataset *d);
/* Image k of the data into dst, mirrored left to right when flip (the training batches' draw). */
void mg_run_copy_image(const mg_dataset *d, int k, bool flip, float *dst);

/* Adds the run's metadata to a checkpoint: "step", "sampler.state" (the host stream), "rng.seed" and "rng.offset"
 * (the stream as training left it), "data.count", "data.fingerprint", "data.classes", "data.normalization" and
 * the notes. Failures are recorded in ctx. */
mg_status mg_run_add_metadata(mg_run *r, mg_checkpoint_writer *w);

/* The checks a model's public save makes first (fn names it): a model (r NULL: none) and a path, and training
 * state to save (trainable). Clears err and the context's error. MG_OK, or the failure with its message in err. */
mg_status mg_run_save_check(mg_run *r, bool trainable, const char *fn, const char *path, char *err, size_t err_size);
/* Saves w (holding the model's tensors) to path, with the metadata "medgen.version", "model.type" (type), the
 * model's pairs (key, value, key, value, ..., NULL) in order, then the run's (mg_run_add_metadata). A failure
 * recorded in the context while the tensors were added is reported as the save's, in err. */
mg_status mg_run_save(mg_run *r, mg_checkpoint_writer *w, const char *type, const char *const *pairs, const char *path,
                      char *err, size_t err_size);

/* Readers of checkpoint metadata: each failure records MG_ERR_FORMAT in ctx with a message naming the file and
 * the entry, and returns NULL or false. */
typedef struct mg_json_reader {
  mg_ctx *ctx;
  const char *path, *key; /* the file, and the metadata entry being read */
} mg_json_reader;
mg_json_reader mg_json_reader_of(mg_ctx *ctx, const mg_checkpoint *ckpt);
/* Fails unless the checkpoint's model type is type ("not a <what> checkpoint (model.type is ...)"). */
bool mg_json_model_type(mg_json_reader *r, const mg_checkpoint *ckpt, const char *type, const char *what);
/* Metadata key parsed as JSON of the given cJSON type (cJSON_Object, cJSON_Array); the caller deletes it. */
cJSON *mg_json_parse(mg_json_reader *r, const mg_checkpoint *ckpt, const char *key, int type);
bool mg_json_number(mg_json_reader *r, const cJSON *o, const char *field, double lo, double hi, double *out);
bool mg_json_int64(mg_json_reader *r, const cJSON *o, const char *field, double lo, double hi, int64_t *out);
bool mg_json_bool(mg_json_reader *r, const cJSON *o, const char *field, int *out);
/* A 64-bit integer stored as decimal text (JSON numbers are doubles). */
bool mg_json_u64_text(mg_json_reader *r, const cJSON *o, const char *field, uint64_t *out);
/* A name mapped by from_name (-1: unknown). */
bool mg_json_name(mg_json_reader *r, const cJSON *o, const char *field, int (*from_name)(const char *), int *out);
/* Prints obj as one line and deletes it; NULL when out of memory. Free the text with free(). */
char *mg_json_print(cJSON *obj);
/* Adds a 64-bit integer to obj as decimal text (read back with mg_json_u64_text). */
void mg_json_add_u64_text(cJSON *obj, const char *field, uint64_t value);

/* The checks a model's public load makes first (fn names it): the checkpoint and out given (has_out), a known
 * weights choice. Clears the context's error; MG_OK or the failure, recorded in ctx (which must not be NULL). */
mg_status mg_run_load_check(mg_ctx *ctx, const char *fn, const mg_checkpoint *ckpt, bool has_out, mg_weights weights);
/* The failure recorded in the reader's context, its message prefixed with the checkpoint's path. */
mg_status mg_json_rewrap_error(const mg_json_reader *r);

/* Reads what mg_run_add_metadata wrote, into a run made with the checkpoint's seed and shape: the step (at most
 * max_steps), the data entries and the notes; with training, also the host stream and the context stream's offset
 * (whose seed must be the run's). */
bool mg_run_read(mg_json_reader *r, const mg_checkpoint *ckpt, mg_run *run, int64_t max_steps, bool training);

/* The checks a model's public train makes first (fn names it): training state to train (trainable), then the data
 * (mg_run_bind_data). Failures are recorded in the context with fn in the message. */
mg_status mg_run_train_check(mg_run *r, bool trainable, const char *fn, const mg_dataset *data);

/* The training loop: from run->step to total steps, each made by step(model), which returns the loss to report
 * and records any failure in ctx (MG_ERR_NUMERIC for a non-finite loss or gradient). The context's stream is the
 * run's (seed, rng_offset) throughout. After each step: progress (stage "train"), then a checkpoint written with
 * save(model) when the run's checkpoint_path is set and the step is the last, a multiple of checkpoint_every or
 * cancelled; cancellation then returns MG_ERR_CANCELLED. A failed step returns its status with a message naming fn
 * and the step ("training diverged at step N of M (...); the last checkpoint is kept; ..." for MG_ERR_NUMERIC). */
typedef struct mg_run_loop {
  const char *fn; /* the public call, for messages */
  int64_t total, checkpoint_every;
  double (*step)(void *model);
  mg_status (*save)(void *model, const char *path, char *err, size_t err_size);
  void *model;
} mg_run_loop;
mg_status mg_run_train(mg_run *r, const mg_run_loop *loop, mg_progress_fn progress, void *user);

#ifdef __cplusplus
}
#endif
#endif
