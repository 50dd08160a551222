/* mg_model_run.h: what the training runs of every model kind share (ddpm.c, gan.c): the run's step and random
 * streams, the data it is bound to (fingerprint, class names, normalization), the caller's "run." notes, their
 * checkpoint metadata, JSON readers whose messages name the file and the key, and the training loop (steps,
 * progress, checkpoints, cancellation, divergence). The model kinds add their networks, options and step. */
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
} mg_run;

/* A run that has not trained yet: step 0, the host stream derived from seed, normalization (0, 1). rng_offset is
 * the caller's to set (where initializing the weights left the stream). */
void mg_run_init(mg_run *r, mg_ctx *ctx, uint64_t seed, int channels, int size, int num_classes);
void mg_run_free(mg_run *r);

/* The public set_note / note of a model; fn names the call in messages. */
mg_status mg_run_set_note(mg_run *r, const char *fn, const char *key, const char *value);
const char *mg_run_note(const mg_run *r, const char *key);
const char *mg_run_class_name(const mg_run *r, int index); /* NULL when out of range or unnamed */
int mg_run_class_index(const mg_run *r, const char *name); /* -1 when unknown */

/* Model-scale images: every value finite and in [-1, 1]; the message names the first bad one. */
mg_status mg_run_check_pixels(mg_ctx *ctx, const float *images, int count, int64_t per);
/* Checks the training data against the model (shape, classes, labels, values, normalization). The first data a
 * run sees is remembered (class names, normalization, fingerprint); later calls must pass the same images. */
mg_status mg_run_bind_data(mg_run *r, const mg_dataset *d);

/* Adds the run's metadata to a checkpoint: "step", "sampler.state" (the host stream), "rng.seed" and "rng.offset"
 * (the stream as training left it), "data.count", "data.fingerprint", "data.classes", "data.normalization" and
 * the notes. Failures are recorded in ctx. */
mg_status mg_run_add_metadata(mg_run *r, mg_checkpoint_writer *w);

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

/* Reads what mg_run_add_metadata wrote, into a run made with the checkpoint's seed and shape: the step (at most
 * max_steps), the data entries and the notes; with training, also the host stream and the context stream's offset
 * (whose seed must be the run's). */
bool mg_run_read(mg_json_reader *r, const mg_checkpoint *ckpt, mg_run *run, int64_t max_steps, bool training);

/* The training loop: from run->step to total steps, each made by step(model), which returns the loss to report
 * and records any failure in ctx (MG_ERR_NUMERIC for a non-finite loss or gradient). The context's stream is the
 * run's (seed, rng_offset) throughout. After each step: progress (stage "train"), then a checkpoint written with
 * save(model) when checkpoint_path is set and the step is the last, a multiple of checkpoint_every or cancelled;
 * cancellation then returns MG_ERR_CANCELLED. A failed step returns its status with a message naming fn and the
 * step ("training diverged at step N of M (...); the last checkpoint is kept; ..." for MG_ERR_NUMERIC). */
typedef struct mg_run_loop {
  const char *fn; /* the public call, for messages */
  int64_t total, checkpoint_every;
  const char *checkpoint_path;
  double (*step)(void *model);
  mg_status (*save)(void *model, const char *path, char *err, size_t err_size);
  void *model;
} mg_run_loop;
mg_status mg_run_train(mg_run *r, const mg_run_loop *loop, mg_progress_fn progress, void *user);

#ifdef __cplusplus
}
#endif
#endif
