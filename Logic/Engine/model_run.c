/* model_run.c: the bookkeeping every model kind's training run shares (mg_model_run.h): data binding, notes,
 * checkpoint metadata, the checks of save, load and train, and the training loop; and mg_checkpoint_model_type
 * (medgen.h). */
#include "mg_model_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_NOTES = 32 };

mg_rng_state mg_rng_get(const mg_ctx *ctx) { return (mg_rng_state){mg_rng_seed_value(ctx), mg_rng_offset(ctx)}; }

void mg_rng_set(mg_ctx *ctx, mg_rng_state state) {
  mg_rng_seed(ctx, state.seed);
  mg_rng_set_offset(ctx, state.offset);
}

void mg_run_init(mg_run *r, mg_ctx *ctx, uint64_t seed, int channels, int size, int num_classes) {
  memset(r, 0, sizeof *r);
  r->ctx = ctx;
  r->channels = channels;
  r->size = size;
  r->num_classes = num_classes;
  r->seed = seed;
  r->host_stream = seed * 0x2545f4914f6cdd1dull + 1;
  r->norm_scale = 1;
}

static void free_class_names(mg_run *r) {
  if (r->class_names)
    for (int i = 0; i < r->num_classes; i++) free(r->class_names[i]);
  free(r->class_names);
  r->class_names = NULL;
}

void mg_run_free(mg_run *r) {
  free_class_names(r);
  for (int i = 0; i < 2 * r->n_notes; i++) free(r->notes[i]);
  free(r->notes);
  r->notes = NULL;
  r->n_notes = 0;
  free(r->checkpoint_path);
  r->checkpoint_path = NULL;
}

mg_rng_state mg_run_begin_init(mg_run *r) {
  mg_rng_state kept = mg_rng_get(r->ctx);
  mg_rng_seed(r->ctx, r->seed);
  return kept;
}

void mg_run_end_init(mg_run *r, mg_rng_state kept) {
  r->rng_offset = mg_rng_offset(r->ctx); /* training continues this stream */
  mg_rng_set(r->ctx, kept);              /* the context's own is left as it was */
}

mg_status mg_run_set_checkpoint_path(mg_run *r, const char *path) {
  char *copy = NULL;
  if (path && !(copy = strdup(path))) return mg_fail(r->ctx, MG_ERR_OUT_OF_MEMORY, "out of memory");
  free(r->checkpoint_path);
  r->checkpoint_path = copy;
  return MG_OK;
}

/* ---- notes and classes ---- */

mg_status mg_run_set_note(mg_run *r, const char *fn, const char *key, const char *value) {
  if (!key || !value || strncmp(key, "run.", 4) || !key[4])
    return mg_fail(r->ctx, MG_ERR_INVALID_ARGUMENT, "%s: a note needs a key starting with \"run.\" and a value", fn);
  char *v = strdup(value);
  if (!v) return mg_fail(r->ctx, MG_ERR_OUT_OF_MEMORY, "out of memory");
  for (int i = 0; i < r->n_notes; i++)
    if (!strcmp(r->notes[2 * i], key)) {
      free(r->notes[2 * i + 1]);
      r->notes[2 * i + 1] = v;
      return MG_OK;
    }
  if (r->n_notes == MAX_NOTES) {
    free(v);
    return mg_fail(r->ctx, MG_ERR_INVALID_ARGUMENT, "%s: at most %d notes", fn, MAX_NOTES);
  }
  if (!r->notes && !(r->notes = calloc(2 * MAX_NOTES, sizeof *r->notes))) {
    free(v);
    return mg_fail(r->ctx, MG_ERR_OUT_OF_MEMORY, "out of memory");
  }
  char *k = strdup(key);
  if (!k) {
    free(v);
    return mg_fail(r->ctx, MG_ERR_OUT_OF_MEMORY, "out of memory");
  }
  r->notes[2 * r->n_notes] = k;
  r->notes[2 * r->n_notes + 1] = v;
  r->n_notes++;
  return MG_OK;
}

const char *mg_run_note(const mg_run *r, const char *key) {
  for (int i = 0; key && i < r->n_notes; i++)
    if (!strcmp(r->notes[2 * i], key)) return r->notes[2 * i + 1];
  return NULL;
}

const char *mg_run_class_name(const mg_run *r, int index) {
  if (!r->class_names || index < 0 || index >= r->num_classes) return NULL;
  return r->class_names[index];
}

int mg_run_class_index(const mg_run *r, const char *name) {
  for (int i = 0; name && r->class_names && i < r->num_classes; i++)
    if (r->class_names[i] && !strcmp(r->class_names[i], name)) return i;
  return -1;
}

void mg_run_normalization(const mg_run *r, double *offset, double *scale) {
  if (offset) *offset = r ? r->norm_offset : 0;
  if (scale) *scale = r ? r->norm_scale : 1;
}

/* ---- data ---- */

mg_status mg_run_check_pixels(mg_ctx *ctx, const float *images, int count, int64_t per) {
  for (int64_t i = 0; i < count * per; i++)
    if (!(images[i] >= -1.0f && images[i] <= 1.0f))
      return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "image %lld has value %g at index %lld; values must be in [-1, 1]",
                     (long long)(i / per), images[i], (long long)(i % per));
  return MG_OK;
}

/* FNV-1a over the images' bytes and the labels: a resumed run must see the same data to continue exactly. */
static uint64_t data_fingerprint(const mg_dataset *d) {
  uint64_t h = 0xcbf29ce484222325ull;
  const unsigned char *b = (const unsigned char *)d->images;
  size_t bytes = (size_t)d->count * d->channels * d->size * d->size * sizeof(float);
  for (size_t i = 0; i < bytes; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  if (d->labels) {
    b = (const unsigned char *)d->labels;
    for (size_t i = 0; i < (size_t)d->count * sizeof(int32_t); i++) h = (h ^ b[i]) * 0x100000001b3ull;
  }
  return h;
}

mg_status mg_run_bind_data(mg_run *r, const mg_dataset *d) {
  mg_ctx *ctx = r->ctx;
  if (!d || !d->images) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "no training images");
  if (d->count < 1) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%d training images: need at least one", d->count);
  if (d->channels != r->channels || d->size != r->size)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT,
                   "the images are %d-channel %dx%d but the model takes %d-channel %dx%d images", d->channels,
                   d->size, d->size, r->channels, r->size, r->size);
  if (!(d->norm_scale > 0 && isfinite(d->norm_scale) && isfinite(d->norm_offset)))
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "intensity normalization (offset %g, scale %g): scale must be > 0",
                   d->norm_offset, d->norm_scale);
  if (r->num_classes > 0) {
    if (!d->labels || d->num_classes != r->num_classes)
      return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT,
                     "the model is conditioned on %d classes but the data has %d: give one class folder per class",
                     r->num_classes, d->labels ? d->num_classes : 0);
    for (int i = 0; i < d->count; i++)
      if (d->labels[i] < 0 || d->labels[i] >= d->num_classes)
        return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "image %d has label %d, outside [0, %d)", i, d->labels[i],
                       d->num_classes);
  }
  if (mg_run_check_pixels(ctx, d->images, d->count, (int64_t)d->channels * d->size * d->size) != MG_OK)
    return mg_ctx_status(ctx);
  uint64_t fp = data_fingerprint(d);
  if (r->has_data && (fp != r->data_fingerprint || d->count != r->data_count))
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT,
                   "these are not the images the model was trained on so far (%d images now, %lld before, or "
                   "different content): resuming needs the same data to continue exactly; start a new run instead",
                   d->count, (long long)r->data_count);
  if (r->has_data) return MG_OK;
  /* the first data: the run remembers it (names copied first, so a failure leaves the run unbound) */
  char **names = r->num_classes > 0 ? calloc((size_t)r->num_classes, sizeof *names) : NULL;
  bool ok = r->num_classes == 0 || names;
  for (int i = 0; ok && i < r->num_classes && d->class_names; i++)
    ok = !d->class_names[i] || (names[i] = strdup(d->class_names[i]));
  if (!ok) {
    for (int i = 0; names && i < r->num_classes; i++) free(names[i]);
    free(names);
    return mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory");
  }
  free_class_names(r);
  r->class_names = names;
  r->has_data = true;
  r->data_count = d->count;
  r->data_fingerprint = fp;
  r->norm_offset = d->norm_offset;
  r->norm_scale = d->norm_scale;
  return MG_OK;
}

void mg_run_copy_image(const mg_dataset *d, int k, bool flip, float *dst) {
  const int C = d->channels, S = d->size;
  const float *src = d->images + (size_t)k * C * S * S;
  for (int c = 0; c < C; c++)
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++)
        dst[((size_t)c * S + y) * S + x] = src[((size_t)c * S + y) * S + (flip ? S - 1 - x : x)];
}

/* ---- checkpoint metadata ---- */

char *mg_json_print(cJSON *obj) {
  char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
  cJSON_Delete(obj);
  return text;
}

void mg_json_add_u64_text(cJSON *obj, const char *field, uint64_t value) {
  char text[32];
  snprintf(text, sizeof text, "%llu", (unsigned long long)value);
  cJSON_AddStringToObject(obj, field, text);
}

static char *classes_json(const mg_run *r) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < r->num_classes; i++) {
    const char *name = mg_run_class_name(r, i);
    cJSON_AddItemToArray(a, name ? cJSON_CreateString(name) : cJSON_CreateNull());
  }
  return mg_json_print(a);
}

static char *normalization_json(const mg_run *r) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "offset", r->norm_offset);
  cJSON_AddNumberToObject(o, "scale", r->norm_scale);
  return mg_json_print(o);
}

mg_status mg_run_add_metadata(mg_run *r, mg_checkpoint_writer *w) {
  mg_ctx *ctx = r->ctx;
  char *classes = classes_json(r), *norm = normalization_json(r);
  if (!classes || !norm) {
    free(classes);
    free(norm);
    return mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory");
  }
  char step[32], stream[32], count[32], fingerprint[32];
  snprintf(step, sizeof step, "%lld", (long long)r->step);
  snprintf(stream, sizeof stream, "%llu", (unsigned long long)r->host_stream);
  snprintf(count, sizeof count, "%lld", (long long)r->data_count);
  snprintf(fingerprint, sizeof fingerprint, "%llu", (unsigned long long)r->data_fingerprint);
  /* the stream as training left it: the context's may have moved on since (sampling, other models) */
  mg_rng_state kept = mg_rng_get(ctx);
  mg_rng_set(ctx, (mg_rng_state){r->seed, r->rng_offset});
  mg_checkpoint_add_rng(ctx, w);
  mg_rng_set(ctx, kept);
  const char *pairs[] = {"step", step, "sampler.state", stream, "data.count", count, "data.fingerprint", fingerprint,
                         "data.classes", classes, "data.normalization", norm};
  for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i += 2)
    mg_checkpoint_writer_add_metadata(w, pairs[i], pairs[i + 1]);
  for (int i = 0; i < r->n_notes; i++) mg_checkpoint_writer_add_metadata(w, r->notes[2 * i], r->notes[2 * i + 1]);
  free(classes);
  free(norm);
  return mg_ctx_status(ctx); /* a failed add makes the writer's save refuse, with its message */
}

mg_status mg_run_save_check(mg_run *r, bool trainable, const char *fn, const char *path, char *err, size_t err_size) {
  if (err && err_size) err[0] = '\0';
  if (!r || !path)
    return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path ? path : fn, "%s is NULL",
                         r ? "the path" : "the model");
  mg_clear_error(r->ctx);
  if (!trainable)
    return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path,
                         "this model was loaded for sampling only and has no training state to save");
  return MG_OK;
}

mg_status mg_run_save(mg_run *r, mg_checkpoint_writer *w, const char *type, const char *const *pairs, const char *path,
                      char *err, size_t err_size) {
  mg_ctx *ctx = r->ctx;
  mg_checkpoint_writer_add_metadata(w, "medgen.version", MEDGEN_VERSION_STRING);
  mg_checkpoint_writer_add_metadata(w, "model.type", type);
  for (; *pairs; pairs += 2) mg_checkpoint_writer_add_metadata(w, pairs[0], pairs[1]);
  mg_run_add_metadata(r, w);
  if (!mg_ok(ctx)) return mg_file_error(err, err_size, mg_ctx_status(ctx), path, "%s", mg_context_error(ctx));
  return mg_checkpoint_writer_save(w, path, err, err_size);
}

/* ---- reading checkpoint metadata ---- */

mg_status mg_run_load_check(mg_ctx *ctx, const char *fn, const mg_checkpoint *ckpt, bool has_out, mg_weights weights) {
  mg_clear_error(ctx);
  if (!ckpt || !has_out) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: checkpoint and out are required", fn);
  if ((unsigned)weights > MG_WEIGHTS_TRAINING)
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "%s: unknown weights choice %d", fn, (int)weights);
  return MG_OK;
}

mg_json_reader mg_json_reader_of(mg_ctx *ctx, const mg_checkpoint *ckpt) {
  return (mg_json_reader){ctx, mg_checkpoint_path(ckpt), NULL};
}

mg_status mg_json_rewrap_error(const mg_json_reader *r) {
  char head[1100];
  snprintf(head, sizeof head, "%s: ", r->path);
  return mg_rewrap_error(r->ctx, head, "");
}

bool mg_json_model_type(mg_json_reader *r, const mg_checkpoint *ckpt, const char *type, const char *what) {
  const char *found = mg_checkpoint_model_type(ckpt);
  if (found && !strcmp(found, type)) return true;
  mg_fail(r->ctx, MG_ERR_FORMAT, "%s: not a %s checkpoint (model.type is %s%s%s)", r->path, what, found ? "'" : "",
          found ? found : "missing", found ? "'" : "");
  return false;
}

cJSON *mg_json_parse(mg_json_reader *r, const mg_checkpoint *ckpt, const char *key, int type) {
  r->key = key;
  const char *text = mg_checkpoint_metadata(ckpt, key);
  cJSON *j = text ? cJSON_Parse(text) : NULL;
  if (!j || !(j->type & type)) {
    mg_fail(r->ctx, MG_ERR_FORMAT, "%s: metadata '%s' is %s", r->path, key,
            text ? "not the JSON expected" : "missing");
    cJSON_Delete(j);
    return NULL;
  }
  return j;
}

bool mg_json_number(mg_json_reader *r, const cJSON *o, const char *field, double lo, double hi, double *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);
  if (cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi) {
    *out = v->valuedouble;
    return true;
  }
  mg_fail(r->ctx, MG_ERR_FORMAT, "%s: metadata '%s': field '%s' is missing or outside [%g, %g]", r->path, r->key,
          field, lo, hi);
  return false;
}

bool mg_json_int64(mg_json_reader *r, const cJSON *o, const char *field, double lo, double hi, int64_t *out) {
  double v;
  if (!mg_json_number(r, o, field, lo, hi, &v)) return false;
  if (v != floor(v)) {
    mg_fail(r->ctx, MG_ERR_FORMAT, "%s: metadata '%s': field '%s' is not an integer", r->path, r->key, field);
    return false;
  }
  *out = (int64_t)v;
  return true;
}

bool mg_json_bool(mg_json_reader *r, const cJSON *o, const char *field, int *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);
  if (cJSON_IsBool(v)) {
    *out = cJSON_IsTrue(v);
    return true;
  }
  mg_fail(r->ctx, MG_ERR_FORMAT, "%s: metadata '%s': field '%s' is missing or not true/false", r->path, r->key,
          field);
  return false;
}

bool mg_json_u64_text(mg_json_reader *r, const cJSON *o, const char *field, uint64_t *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);
  bool ok = cJSON_IsString(v) && v->valuestring[0];
  uint64_t value = 0;
  for (const char *c = ok ? v->valuestring : ""; ok && *c; c++) {
    unsigned digit = (unsigned)(*c - '0');
    ok = *c >= '0' && *c <= '9' && value <= (UINT64_MAX - digit) / 10;
    value = value * 10 + digit;
  }
  if (ok) {
    *out = value;
    return true;
  }
  mg_fail(r->ctx, MG_ERR_FORMAT, "%s: metadata '%s': field '%s' is missing or not a decimal integer in quotes",
          r->path, r->key, field);
  return false;
}

bool mg_json_name(mg_json_reader *r, const cJSON *o, const char *field, int (*from_name)(const char *), int *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);
  int value = cJSON_IsString(v) ? from_name(v->valuestring) : -1;
  if (value < 0) {
    mg_fail(r->ctx, MG_ERR_FORMAT, "%s: metadata '%s': field '%s' is missing or unknown", r->path, r->key, field);
    return false;
  }
  *out = value;
  return true;
}

/* Class names and normalization (always), the data fingerprint (what resuming checks). */
static bool read_data(mg_json_reader *r, const mg_checkpoint *ckpt, mg_run *run) {
  cJSON *names = mg_json_parse(r, ckpt, "data.classes", cJSON_Array);
  if (!names) return false;
  bool ok = cJSON_GetArraySize(names) == run->num_classes;
  if (!ok)
    mg_fail(r->ctx, MG_ERR_FORMAT, "%s: metadata 'data.classes' names %d classes but the model has %d", r->path,
            cJSON_GetArraySize(names), run->num_classes);
  if (ok && run->num_classes > 0 && !(run->class_names = calloc((size_t)run->num_classes, sizeof *run->class_names))) {
    mg_fail(r->ctx, MG_ERR_OUT_OF_MEMORY, "out of memory");
    ok = false;
  }
  for (int i = 0; ok && i < run->num_classes; i++) {
    const cJSON *n = cJSON_GetArrayItem(names, i);
    if (cJSON_IsString(n) && !(run->class_names[i] = strdup(n->valuestring))) {
      mg_fail(r->ctx, MG_ERR_OUT_OF_MEMORY, "out of memory");
      ok = false;
    }
  }
  cJSON_Delete(names);
  cJSON *norm = ok ? mg_json_parse(r, ckpt, "data.normalization", cJSON_Object) : NULL;
  ok = ok && norm && mg_json_number(r, norm, "offset", -1e300, 1e300, &run->norm_offset) &&
       mg_json_number(r, norm, "scale", 1e-300, 1e300, &run->norm_scale);
  cJSON_Delete(norm);
  uint64_t count = 0;
  ok = ok && mg_checkpoint_metadata_u64(r->ctx, ckpt, "data.count", &count) == MG_OK &&
       mg_checkpoint_metadata_u64(r->ctx, ckpt, "data.fingerprint", &run->data_fingerprint) == MG_OK;
  run->data_count = (int64_t)count;
  run->has_data = ok && count > 0;
  return ok;
}

bool mg_run_read(mg_json_reader *r, const mg_checkpoint *ckpt, mg_run *run, int64_t max_steps, bool training) {
  mg_ctx *ctx = r->ctx;
  uint64_t step = 0;
  if (!read_data(r, ckpt, run) || mg_checkpoint_metadata_u64(ctx, ckpt, "step", &step) != MG_OK) return false;
  if (step > (uint64_t)max_steps) {
    mg_fail(ctx, MG_ERR_FORMAT, "%s: metadata 'step' (%llu) is past the run's %lld steps", r->path,
            (unsigned long long)step, (long long)max_steps);
    return false;
  }
  run->step = (int64_t)step;
  for (int i = 0; i < mg_checkpoint_metadata_count(ckpt); i++) {
    const char *key, *value;
    mg_checkpoint_metadata_at(ckpt, i, &key, &value);
    if (!strncmp(key, "run.", 4) && mg_run_set_note(run, r->path, key, value) != MG_OK) return false;
  }
  if (!training) return true;
  uint64_t seed = 0;
  if (mg_checkpoint_metadata_u64(ctx, ckpt, "sampler.state", &run->host_stream) != MG_OK ||
      mg_checkpoint_metadata_u64(ctx, ckpt, "rng.seed", &seed) != MG_OK ||
      mg_checkpoint_metadata_u64(ctx, ckpt, "rng.offset", &run->rng_offset) != MG_OK)
    return false;
  if (seed != run->seed) {
    mg_fail(ctx, MG_ERR_FORMAT, "%s: the training state does not fit its options (rng.seed)", r->path);
    return false;
  }
  return true;
}

/* ---- the training loop ---- */

mg_status mg_run_train_check(mg_run *r, bool trainable, const char *fn, const mg_dataset *data) {
  if (!trainable)
    return mg_fail(r->ctx, MG_ERR_INVALID_ARGUMENT, "%s: this model was loaded for sampling only; load its "
                   "checkpoint with MG_WEIGHTS_TRAINING to train further", fn);
  if (mg_run_bind_data(r, data) == MG_OK) return MG_OK;
  char head[128];
  snprintf(head, sizeof head, "%s: ", fn);
  return mg_rewrap_error(r->ctx, head, "");
}

mg_status mg_run_train(mg_run *r, const mg_run_loop *loop, mg_progress_fn progress, void *user) {
  mg_ctx *ctx = r->ctx;
  mg_rng_set(ctx, (mg_rng_state){r->seed, r->rng_offset});
  const int64_t total = loop->total, every = loop->checkpoint_every;
  const double t_start = mg_seconds();
  while (r->step < total) {
    double loss = loop->step(loop->model);
    if (!mg_ok(ctx)) {
      mg_status status = mg_ctx_status(ctx);
      bool diverged = status == MG_ERR_NUMERIC;
      char why[1024];
      snprintf(why, sizeof why, "%s", mg_context_error(ctx));
      mg_clear_error(ctx);
      return mg_fail(ctx, status, "%s: %s at step %lld of %lld (%s)%s", loop->fn,
                     diverged ? "training diverged" : "failed", (long long)r->step + 1, (long long)total, why,
                     diverged ? "; the last checkpoint is kept; try a lower learning rate or another seed" : "");
    }
    r->step++;
    r->rng_offset = mg_rng_offset(ctx);
    bool last = r->step == total;
    int cancel = 0;
    if (progress) {
      mg_progress p = {"train", r->step, total, loss, mg_seconds() - t_start};
      cancel = progress(user, &p);
    }
    if (r->checkpoint_path && (last || cancel || (every > 0 && r->step % every == 0))) {
      char err[1024];
      mg_status s = loop->save(loop->model, r->checkpoint_path, err, sizeof err);
      if (s != MG_OK) {
        mg_clear_error(ctx);
        return mg_fail(ctx, s, "%s", err);
      }
    }
    if (cancel && !last)
      return mg_fail(ctx, MG_ERR_CANCELLED, "%s: cancelled after step %lld of %lld%s", loop->fn, (long long)r->step,
                     (long long)total, r->checkpoint_path ? " (checkpoint saved)" : "");
  }
  return MG_OK;
}

/* ---- what a checkpoint holds ---- */

const char *mg_checkpoint_model_type(const mg_checkpoint *ckpt) {
  if (!ckpt) return NULL;
  const char *type = mg_checkpoint_metadata(ckpt, "model.type");
  if (type) return type;
  /* classifier checkpoints written before they carried model.type say it in their model.config */
  const char *config = mg_checkpoint_metadata(ckpt, "model.config");
  cJSON *j = config ? cJSON_Parse(config) : NULL;
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
  bool classifier = cJSON_IsString(model) && !strcmp(model->valuestring, "classifier");
  cJSON_Delete(j);
  return classifier ? "classifier" : NULL;
}
