/* arena.c: bump allocation for tensors and tape nodes, so steady-state steps make no heap allocation. */
#include "mg_internal.h"

#include <stdlib.h>
#include <string.h>

#define MG_ALIGN 64
#define MG_MIN_CHUNK ((size_t)1 << 20)

static size_t align_up(size_t n) { return (n + MG_ALIGN - 1) & ~(size_t)(MG_ALIGN - 1); }

static void *raw_alloc(mg_arena *a, size_t bytes) {
  (*a->heap_allocations)++;
  if (a->k) return a->k->alloc(bytes);
  void *p = NULL;
  return posix_memalign(&p, MG_ALIGN, bytes) == 0 ? p : NULL;
}

static void raw_free(mg_arena *a, void *p) {
  if (a->k) a->k->free(p);
  else free(p);
}

static bool add_chunk(mg_arena *a, size_t size) {
  if (a->n_chunks == a->cap_chunks) {
    int cap = a->cap_chunks ? 2 * a->cap_chunks : 8;
    mg_chunk *c = realloc(a->chunks, (size_t)cap * sizeof *c);
    if (!c) return false;
    a->chunks = c;
    a->cap_chunks = cap;
  }
  char *base = raw_alloc(a, size);
  if (!base) return false;
  a->chunks[a->n_chunks++] = (mg_chunk){base, size, 0};
  a->reserved += size;
  return true;
}

void *mg_arena_alloc(mg_arena *a, size_t bytes) {
  bytes = align_up(bytes ? bytes : 1);
  mg_chunk *last = a->n_chunks ? &a->chunks[a->n_chunks - 1] : NULL;
  if (!last || last->size - last->used < bytes) {
    size_t size = bytes > MG_MIN_CHUNK ? bytes : MG_MIN_CHUNK;
    if (!add_chunk(a, size)) return NULL;
    last = &a->chunks[a->n_chunks - 1];
  }
  void *p = last->base + last->used;
  last->used += bytes;
  return p;
}

void mg_arena_reset(mg_arena *a) {
  if (a->n_chunks > 1) {
    size_t total = a->reserved;
    for (int i = 0; i < a->n_chunks; i++) raw_free(a, a->chunks[i].base);
    a->n_chunks = 0;
    a->reserved = 0;
    add_chunk(a, total); /* on failure the next alloc retries with a fresh chunk */
  }
  if (a->n_chunks) a->chunks[0].used = 0;
}

void mg_arena_release(mg_arena *a) {
  for (int i = 0; i < a->n_chunks; i++) raw_free(a, a->chunks[i].base);
  free(a->chunks);
  a->chunks = NULL;
  a->n_chunks = a->cap_chunks = 0;
  a->reserved = 0;
}
