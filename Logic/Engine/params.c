/* params.c: a model's named parameters and buffers, in the persistent arena. */
#include "mg_internal.h"

#include <string.h>

typedef struct mg_param_entry {
  mg_tensor *tensor;
  bool buffer;
} mg_param_entry;

struct mg_params {
  mg_ctx *ctx;
  mg_param_entry *entries; /* grown by doubling inside the persistent arena (old arrays are left behind) */
  int count, capacity;
};

mg_params *mg_params_new(mg_ctx *ctx) {
  if (!mg_ok(ctx)) return NULL;
  mg_params *p = mg_arena_alloc(&ctx->persist_host, sizeof *p);
  if (!p) {
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory creating a parameter list");
    return NULL;
  }
  memset(p, 0, sizeof *p);
  p->ctx = ctx;
  return p;
}

static mg_tensor *add(mg_params *p, const char *name, int ndim, const int *shape, bool buffer) {
  if (!p) return NULL;
  mg_ctx *ctx = p->ctx;
  if (!mg_ok(ctx)) return NULL;
  if (mg_params_find(p, name)) {
    mg_fail(ctx, MG_ERR_INVALID_ARGUMENT, "parameter '%s' defined twice", name);
    return NULL;
  }
  if (p->count == p->capacity) {
    int cap = p->capacity ? 2 * p->capacity : 64;
    mg_param_entry *e = mg_arena_alloc(&ctx->persist_host, (size_t)cap * sizeof *e);
    if (!e) {
      mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory growing a parameter list");
      return NULL;
    }
    if (p->count) memcpy(e, p->entries, (size_t)p->count * sizeof *e);
    p->entries = e;
    p->capacity = cap;
  }
  mg_tensor *t = mg_tensor_new_persistent(ctx, MG_REAL, ndim, shape);
  size_t len = strlen(name) + 1;
  char *copy = t ? mg_arena_alloc(&ctx->persist_host, len) : NULL;
  if (!copy) {
    mg_fail(ctx, MG_ERR_OUT_OF_MEMORY, "out of memory creating parameter '%s'", name);
    return NULL;
  }
  memcpy(copy, name, len);
  t->name = copy;
  t->requires_grad = !buffer;
  p->entries[p->count++] = (mg_param_entry){t, buffer};
  return t;
}

mg_tensor *mg_param(mg_params *p, const char *name, int ndim, const int *shape) {
  return add(p, name, ndim, shape, false);
}
mg_tensor *mg_buffer(mg_params *p, const char *name, int ndim, const int *shape) {
  return add(p, name, ndim, shape, true);
}
int mg_params_count(const mg_params *p) { return p ? p->count : 0; }
mg_tensor *mg_params_at(const mg_params *p, int i) { return i >= 0 && i < p->count ? p->entries[i].tensor : NULL; }
bool mg_params_is_buffer(const mg_params *p, int i) { return i >= 0 && i < p->count && p->entries[i].buffer; }

int64_t mg_params_numel(const mg_params *p) {
  int64_t n = 0;
  for (int i = 0; i < p->count; i++)
    if (!p->entries[i].buffer) n += p->entries[i].tensor->numel;
  return n;
}

mg_tensor *mg_params_find(const mg_params *p, const char *name) {
  for (int i = 0; i < p->count; i++)
    if (strcmp(p->entries[i].tensor->name, name) == 0) return p->entries[i].tensor;
  return NULL;
}

void mg_params_set_trainable(mg_params *p, bool trainable) {
  for (int i = 0; p && i < p->count; i++)
    if (!p->entries[i].buffer) p->entries[i].tensor->requires_grad = trainable;
}

void mg_zero_grad(mg_ctx *ctx, mg_params *p) {
  for (int i = 0; i < p->count; i++) {
    mg_tensor *t = p->entries[i].tensor;
    if (t->grad) ctx->k->fill_zero(t->grad, (size_t)t->numel * sizeof(mg_real));
  }
}
