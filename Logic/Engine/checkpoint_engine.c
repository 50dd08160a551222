/* checkpoint_engine.c: a model's parameters, its EMA weights, Adam's moments and the random stream, to and from
 * checkpoint files (the format itself is checkpoint.c). Restores check the whole file against the model before
 * touching any tensor, so a mismatched checkpoint leaves the model as it was. */
#include "mg_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One tensor of the training state and its name in the file. */
typedef struct slot {
  char *name; /* prefix + part + parameter name */
  mg_tensor *t;
} slot;

typedef struct slot_list {
  slot *s;
  int n;
} slot_list;

typedef enum state_kind { STATE_PARAMS, STATE_EMA, STATE_ADAM } state_kind;

static void slots_free(slot_list *l) {
  for (int i = 0; i < l->n; i++) free(l->s[i].name);
  free(l->s);
}

static mg_status slots_add(mg_ctx *ctx, slot_list *l, const char *prefix, const char *part, const mg_tensor *param,
                           mg_tensor *t) {
  if (!t) return MG_OK; /* buffers have no EMA and no moments */
  if (!mg_same_shape(t, param))
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "checkpoint: state for '%s' does not match the parameter's shape "
                   "(was the optimizer or EMA made from another model?)", param->name);
  size_t len = strlen(prefix) + strlen(part) + strlen(param->name) + 1;
  char *name = malloc(len);
  if (!name) return mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "checkpoint: out of memory");
  snprintf(name, len, "%s%s%s", prefix, part, param->name);
  l->s[l->n++] = (slot){name, t};
  return MG_OK;
}

/* The tensors of one kind of state, in parameter order (for ADAM: m then v of each parameter). owner is the
 * mg_ema or mg_adam. */
static mg_status collect(mg_ctx *ctx, state_kind kind, const char *prefix, const mg_params *p, const void *owner,
                         slot_list *out) {
  *out = (slot_list){0};
  if (!mg_ok(ctx)) return mg_ctx_status(ctx);
  if (!p || !prefix || (kind != STATE_PARAMS && !owner))
    return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "checkpoint: missing parameters, prefix, EMA or optimizer");
  int n = mg_params_count(p);
  out->s = calloc(2 * (size_t)n + 1, sizeof *out->s);
  if (!out->s) return mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "checkpoint: out of memory");
  mg_status s = MG_OK;
  for (int i = 0; i < n && s == MG_OK; i++) {
    mg_tensor *param = mg_params_at(p, i);
    if (kind == STATE_PARAMS) s = slots_add(ctx, out, prefix, "", param, param);
    if (kind == STATE_EMA) s = slots_add(ctx, out, prefix, "", param, mg_ema_tensor(owner, i));
    if (kind == STATE_ADAM) {
      s = slots_add(ctx, out, prefix, "m.", param, mg_adam_moment(owner, i, 0));
      if (s == MG_OK) s = slots_add(ctx, out, prefix, "v.", param, mg_adam_moment(owner, i, 1));
    }
  }
  if (s != MG_OK) slots_free(out);
  return s;
}

static mg_status add_slots(mg_ctx *ctx, mg_checkpoint_writer *w, const slot_list *l) {
  int64_t most = 1;
  for (int i = 0; i < l->n; i++)
    if (l->s[i].t->numel > most) most = l->s[i].t->numel;
  float *host = malloc((size_t)most * sizeof *host); /* float32 whatever mg_real is: the file's dtype */
  if (!host) return mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "checkpoint: out of memory for %lld values", (long long)most);
  mg_status s = MG_OK;
  for (int i = 0; i < l->n && s == MG_OK; i++) {
    const mg_tensor *t = l->s[i].t;
    int64_t shape[MG_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
    s = mg_tensor_download(ctx, t, host, t->numel);
    if (s == MG_OK) {
      s = mg_checkpoint_writer_add_tensor(w, l->s[i].name, t->ndim, shape, host);
      if (s != MG_OK) mg_fail(ctx, s, "checkpoint: %s", mg_checkpoint_writer_error(w));
    }
  }
  free(host);
  return s;
}

static mg_status save_state(mg_ctx *ctx, mg_checkpoint_writer *w, state_kind kind, const char *prefix,
                            const mg_params *p, const void *owner) {
  if (!w) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "checkpoint: no writer");
  slot_list l;
  mg_status s = collect(ctx, kind, prefix, p, owner, &l);
  if (s != MG_OK) return s;
  s = add_slots(ctx, w, &l);
  slots_free(&l);
  return s;
}

mg_status mg_checkpoint_add_params(mg_ctx *ctx, mg_checkpoint_writer *w, const char *prefix, const mg_params *p) {
  return save_state(ctx, w, STATE_PARAMS, prefix, p, NULL);
}

mg_status mg_checkpoint_add_ema(mg_ctx *ctx, mg_checkpoint_writer *w, const char *prefix, const mg_params *p,
                                const mg_ema *ema) {
  return save_state(ctx, w, STATE_EMA, prefix, p, ema);
}

static mg_status add_u64(mg_ctx *ctx, mg_checkpoint_writer *w, const char *key, uint64_t value) {
  char text[32];
  snprintf(text, sizeof text, "%llu", (unsigned long long)value);
  mg_status s = mg_checkpoint_writer_add_metadata(w, key, text);
  return s == MG_OK ? s : mg_fail(ctx, s, "checkpoint: %s", mg_checkpoint_writer_error(w));
}

mg_status mg_checkpoint_add_adam(mg_ctx *ctx, mg_checkpoint_writer *w, const char *prefix, const mg_params *p,
                                 const mg_adam *opt) {
  mg_status s = save_state(ctx, w, STATE_ADAM, prefix, p, opt);
  if (s != MG_OK) return s;
  char key[256];
  snprintf(key, sizeof key, "%ssteps", prefix);
  return add_u64(ctx, w, key, (uint64_t)mg_adam_steps(opt));
}

mg_status mg_checkpoint_add_rng(mg_ctx *ctx, mg_checkpoint_writer *w) {
  if (!mg_ok(ctx)) return mg_ctx_status(ctx);
  if (!w) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "checkpoint: no writer");
  mg_status s = add_u64(ctx, w, "rng.seed", mg_rng_seed_value(ctx));
  return s == MG_OK ? add_u64(ctx, w, "rng.offset", mg_rng_offset(ctx)) : s;
}

/* ---- restoring ---- */

static void ckpt_shape_str(const mg_checkpoint_tensor *t, char *buf, size_t size) {
  size_t used = (size_t)snprintf(buf, size, "[");
  for (int d = 0; d < t->ndim && used < size; d++)
    used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? "," : "", (long long)t->shape[d]);
  if (used < size) snprintf(buf + used, size - used, "]");
}

static int slot_cmp(const void *a, const void *b) { return strcmp(((const slot *)a)->name, ((const slot *)b)->name); }

/* Every slot present with its exact shape; no tensor under prefix that is not a slot. Sorts l. */
static mg_status check_slots(mg_ctx *ctx, const mg_checkpoint *ckpt, const char *prefix, slot_list *l) {
  const char *path = mg_checkpoint_path(ckpt);
  for (int i = 0; i < l->n; i++) {
    const mg_tensor *t = l->s[i].t;
    mg_checkpoint_tensor found;
    if (mg_checkpoint_find(ckpt, l->s[i].name, &found) != MG_OK)
      return mg_fail(ctx, MG_ERR_FORMAT, "%s: tensor '%s' is missing", path, l->s[i].name);
    bool same = found.ndim == t->ndim;
    for (int d = 0; same && d < t->ndim; d++) same = found.shape[d] == t->shape[d];
    if (!same) {
      char expected[64], got[200];
      mg_shape_str(t, expected, sizeof expected);
      ckpt_shape_str(&found, got, sizeof got);
      return mg_fail(ctx, MG_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s", path, l->s[i].name, got,
                     expected);
    }
  }
  qsort(l->s, (size_t)l->n, sizeof *l->s, slot_cmp);
  size_t plen = strlen(prefix);
  for (int i = 0; i < mg_checkpoint_tensor_count(ckpt); i++) {
    mg_checkpoint_tensor t;
    mg_checkpoint_tensor_at(ckpt, i, &t);
    if (strncmp(t.name, prefix, plen) != 0) continue;
    slot key = {(char *)t.name, NULL};
    if (!bsearch(&key, l->s, (size_t)l->n, sizeof *l->s, slot_cmp))
      return mg_fail(ctx, MG_ERR_FORMAT, "%s: unexpected tensor '%.200s' (this model has no such %s)", path, t.name,
                     l->n ? "parameter" : "state");
  }
  return MG_OK;
}

static mg_status upload_slots(mg_ctx *ctx, const mg_checkpoint *ckpt, const slot_list *l) {
  mg_status s = MG_OK;
  for (int i = 0; i < l->n && s == MG_OK; i++) {
    mg_checkpoint_tensor found;
    mg_checkpoint_find(ckpt, l->s[i].name, &found);
    s = mg_tensor_upload(ctx, l->s[i].t, found.data, found.numel);
  }
  return s;
}

/* Checks (and for Adam, reads the step count) before uploading anything. */
static mg_status restore_state(mg_ctx *ctx, const mg_checkpoint *ckpt, state_kind kind, const char *prefix,
                               const mg_params *p, void *owner) {
  if (!mg_ok(ctx)) return mg_ctx_status(ctx);
  if (!ckpt) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "checkpoint: nothing loaded");
  slot_list l;
  mg_status s = collect(ctx, kind, prefix, p, owner, &l);
  if (s != MG_OK) return s;
  s = check_slots(ctx, ckpt, prefix, &l);
  uint64_t steps = 0;
  if (s == MG_OK && kind == STATE_ADAM) {
    char key[256];
    snprintf(key, sizeof key, "%ssteps", prefix);
    s = mg_checkpoint_metadata_u64(ctx, ckpt, key, &steps);
    if (s == MG_OK && steps > INT64_MAX)
      s = mg_fail(ctx, MG_ERR_FORMAT, "%s: metadata '%s' is out of range", mg_checkpoint_path(ckpt), key);
  }
  if (s == MG_OK) s = upload_slots(ctx, ckpt, &l);
  if (s == MG_OK && kind == STATE_ADAM) mg_adam_set_steps(owner, (int64_t)steps);
  slots_free(&l);
  return s == MG_OK ? mg_ctx_status(ctx) : s;
}

mg_status mg_checkpoint_restore_params(mg_ctx *ctx, const mg_checkpoint *ckpt, const char *prefix, mg_params *p) {
  return restore_state(ctx, ckpt, STATE_PARAMS, prefix, p, NULL);
}

mg_status mg_checkpoint_restore_ema(mg_ctx *ctx, const mg_checkpoint *ckpt, const char *prefix, const mg_params *p,
                                    mg_ema *ema) {
  return restore_state(ctx, ckpt, STATE_EMA, prefix, p, ema);
}

mg_status mg_checkpoint_restore_adam(mg_ctx *ctx, const mg_checkpoint *ckpt, const char *prefix, const mg_params *p,
                                     mg_adam *opt) {
  return restore_state(ctx, ckpt, STATE_ADAM, prefix, p, opt);
}

mg_status mg_checkpoint_metadata_u64(mg_ctx *ctx, const mg_checkpoint *ckpt, const char *key, uint64_t *out) {
  if (!mg_ok(ctx)) return mg_ctx_status(ctx);
  if (!ckpt || !key || !out) return mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "checkpoint: missing argument");
  const char *text = mg_checkpoint_metadata(ckpt, key);
  if (!text) return mg_fail(ctx, MG_ERR_FORMAT, "%s: metadata '%s' is missing", mg_checkpoint_path(ckpt), key);
  uint64_t v = 0;
  bool ok = text[0] != '\0';
  for (const char *c = text; ok && *c; c++) {
    unsigned digit = (unsigned)(*c - '0');
    ok = *c >= '0' && *c <= '9' && v <= (UINT64_MAX - digit) / 10;
    v = v * 10 + digit;
  }
  if (!ok)
    return mg_fail(ctx, MG_ERR_FORMAT, "%s: metadata '%s' = '%.40s' is not a non-negative integer",
                   mg_checkpoint_path(ckpt), key, text);
  *out = v;
  return MG_OK;
}

mg_status mg_checkpoint_restore_rng(mg_ctx *ctx, const mg_checkpoint *ckpt) {
  uint64_t seed = 0, offset = 0;
  mg_status s = mg_checkpoint_metadata_u64(ctx, ckpt, "rng.seed", &seed);
  if (s == MG_OK) s = mg_checkpoint_metadata_u64(ctx, ckpt, "rng.offset", &offset);
  if (s != MG_OK) return s;
  mg_rng_seed(ctx, seed);
  mg_rng_set_offset(ctx, offset);
  return MG_OK;
}
