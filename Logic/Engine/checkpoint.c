/* checkpoint.c: checkpoints as safetensors files: a loader that trusts nothing in the file, and a writer that
 * replaces files atomically.
 *
 * The format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the data section. The JSON maps
 * each tensor name to {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]} (byte offsets from the start
 * of the data section); the optional "__metadata__" entry maps string keys to string values. We write the header
 * padded with spaces to a multiple of 8 bytes (so float data is aligned) and the tensors in insertion order.
 *
 * Uses only medgen.h, status.c, atomic_file.c and cJSON, so the sanitizer test can build these files on their own. */
#include "medgen.h"

#include <cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CKPT_MAX_HEADER ((uint64_t)100 << 20) /* no real header comes close; bounds what a hostile file costs */
#define CKPT_MAX_DIMS 8
#define CKPT_MAX_INT 9007199254740992.0 /* 2^53: the largest range where JSON numbers (doubles) are exact */
#define CKPT_METADATA_KEY "__metadata__"

/* ---- shared helpers ---- */

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool valid_utf8(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
    else return false;
    if (n - i < len) return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

/* A name from a file, made safe to put in a one-line message: control characters become '?', and long names are
 * cut (at a character boundary) with "...". Returns buf. */
static const char *printable(const char *s, char *buf, size_t size) {
  const size_t keep = size > 4 ? size - 4 : 0;
  size_t i = 0;
  for (; s[i] && i < keep; i++) buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7F) ? '?' : s[i];
  if (s[i]) {
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--; /* do not split a UTF-8 sequence */
    memcpy(buf + i, "...", 3);
    i += 3;
  }
  buf[i] = '\0';
  return buf;
}
#define PNAME(s) printable((s), (char[80]){0}, 80)

/* Elements of a shape; -1 when a dim is negative or the byte size would not fit in an int64. */
static int64_t shape_numel(int ndim, const int64_t *shape) {
  int64_t numel = 1;
  for (int i = 0; i < ndim; i++)
    if (shape[i] < 0) return -1;
  for (int i = 0; i < ndim; i++)
    if (shape[i] == 0) return 0; /* before multiplying: [2^40, 2^40, 0] is empty, not an overflow */
  for (int i = 0; i < ndim; i++) {
    if (numel > INT64_MAX / 4 / shape[i]) return -1;
    numel *= shape[i];
  }
  return numel;
}

static void shape_string(int ndim, const int64_t *shape, char *buf, size_t size) {
  size_t used = (size_t)snprintf(buf, size, "[");
  for (int i = 0; i < ndim && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? "," : "", (long long)shape[i]);
  if (used < size) snprintf(buf + used, size - used, "]");
}

static bool host_little_endian(void) {
  const uint16_t probe = 1;
  unsigned char first;
  memcpy(&first, &probe, 1);
  return first == 1;
}

static void swap_bytes4(void *data, int64_t count) {
  unsigned char *p = data;
  for (int64_t i = 0; i < count; i++, p += 4) {
    unsigned char t = p[0];
    p[0] = p[3], p[3] = t;
    t = p[1];
    p[1] = p[2], p[2] = t;
  }
}

/* ---- the loaded checkpoint ---- */

typedef struct ckpt_tensor {
  char *name;
  int ndim;
  int64_t shape[CKPT_MAX_DIMS];
  int64_t numel;
  uint64_t begin, end; /* byte range in the data section */
  float *data;         /* into storage */
} ckpt_tensor;

struct mg_checkpoint {
  char *path; /* as given to mg_checkpoint_load, for messages */
  ckpt_tensor *tensors; /* file (JSON) order */
  ckpt_tensor **by_name; /* sorted by name, for mg_checkpoint_find */
  int n_tensors;
  char **keys, **values;
  int n_meta;
  float *storage; /* every tensor's values in one allocation: aligned, whatever the file's offsets */
};

void mg_checkpoint_free(mg_checkpoint *c) {
  if (!c) return;
  for (int i = 0; i < c->n_tensors; i++) free(c->tensors[i].name);
  for (int i = 0; i < c->n_meta; i++) free(c->keys[i]), free(c->values[i]);
  free(c->path);
  free(c->tensors);
  free(c->by_name);
  free(c->keys);
  free(c->values);
  free(c->storage);
  free(c);
}

/* The loader's state while it validates one file. */
typedef struct loader {
  const char *path;
  char *err;
  size_t err_size;
  FILE *f;
  uint64_t header_len, data_size; /* data section = the bytes after the header */
  char *header;
  cJSON *json;
  mg_checkpoint *c;
} loader;

/* A JSON number that is an exact non-negative integer below 2^53. */
static bool json_uint(const cJSON *item, uint64_t *out) {
  if (!cJSON_IsNumber(item)) return false;
  double d = item->valuedouble;
  if (!(d >= 0 && d <= CKPT_MAX_INT) || (double)(uint64_t)d != d) return false;
  *out = (uint64_t)d;
  return true;
}

static mg_status parse_tensor(loader *L, const cJSON *entry, ckpt_tensor *t) {
  const char *name = entry->string;
  if (!cJSON_IsObject(entry))
    return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path, "entry '%s' is not an object", PNAME(name));
  /* Each field exactly once and nothing else: readers that keep the first or the last of a duplicated field would
   * otherwise see different tensors in the same file. */
  const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL;
  for (const cJSON *field = entry->child; field; field = field->next) {
    const cJSON **slot = strcmp(field->string, "dtype") == 0          ? &dtype
                         : strcmp(field->string, "shape") == 0        ? &shape
                         : strcmp(field->string, "data_offsets") == 0 ? &offsets
                                                                      : NULL;
    if (!slot)
      return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path, "tensor '%s' has an unknown field '%s'", PNAME(name),
                  PNAME(field->string));
    if (*slot)
      return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path, "tensor '%s' has field '%s' twice", PNAME(name),
                  field->string);
    *slot = field;
  }
  if (!cJSON_IsString(dtype))
    return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path, "tensor '%s' has no dtype string", PNAME(name));
  if (strcmp(dtype->valuestring, "F32") != 0)
    return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path, "tensor '%s' has dtype %s; only F32 is supported",
                PNAME(name), PNAME(dtype->valuestring));

  if (!cJSON_IsArray(shape))
    return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path, "tensor '%s' has no shape array", PNAME(name));
  int ndim = cJSON_GetArraySize(shape);
  if (ndim > CKPT_MAX_DIMS)
    return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path, "tensor '%s' has %d dims (at most %d)", PNAME(name),
                ndim, CKPT_MAX_DIMS);
  t->ndim = ndim;
  int d = 0;
  for (const cJSON *dim = shape->child; dim; dim = dim->next, d++) {
    uint64_t v;
    if (!json_uint(dim, &v))
      return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path,
                  "tensor '%s': shape entry %d is not a non-negative integer", PNAME(name), d);
    t->shape[d] = (int64_t)v;
  }
  t->numel = shape_numel(ndim, t->shape);
  if (t->numel < 0)
    return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path, "tensor '%s': shape overflows", PNAME(name));

  uint64_t range[2];
  if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 || !json_uint(offsets->child, &range[0]) ||
      !json_uint(offsets->child->next, &range[1]))
    return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path,
                "tensor '%s': data_offsets is not a pair of non-negative integers", PNAME(name));
  t->begin = range[0];
  t->end = range[1];
  if (t->begin > t->end || t->end > L->data_size)
    return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path,
                "tensor '%s': data_offsets [%llu, %llu] outside the %llu-byte data section", PNAME(name),
                (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)L->data_size);
  if (t->end - t->begin != (uint64_t)t->numel * 4) {
    char s[160];
    shape_string(ndim, t->shape, s, sizeof s);
    return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path,
                "tensor '%s': shape %s needs %llu bytes, offsets give %llu",
                PNAME(name), s, (unsigned long long)t->numel * 4, (unsigned long long)(t->end - t->begin));
  }
  t->name = strdup(name);
  if (!t->name) return mg_file_error(L->err, L->err_size, MG_ERR_OUT_OF_MEMORY, L->path, "out of memory");
  return MG_OK;
}

static int string_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static mg_status parse_metadata(loader *L, const cJSON *meta) {
  mg_checkpoint *c = L->c;
  if (!cJSON_IsObject(meta))
    return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path, "__metadata__ is not an object");
  int n = cJSON_GetArraySize(meta);
  c->keys = calloc((size_t)n + 1, sizeof *c->keys);
  c->values = calloc((size_t)n + 1, sizeof *c->values);
  if (!c->keys || !c->values) return mg_file_error(L->err, L->err_size, MG_ERR_OUT_OF_MEMORY, L->path, "out of memory");
  for (const cJSON *e = meta->child; e; e = e->next) {
    if (!cJSON_IsString(e))
      return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path, "metadata value of '%s' is not a string",
                  PNAME(e->string));
    c->keys[c->n_meta] = strdup(e->string);
    c->values[c->n_meta] = strdup(e->valuestring);
    c->n_meta++; /* counted before the check so free() releases a half-copied pair */
    if (!c->keys[c->n_meta - 1] || !c->values[c->n_meta - 1])
      return mg_file_error(L->err, L->err_size, MG_ERR_OUT_OF_MEMORY, L->path, "out of memory");
  }
  /* Duplicate keys, by sorting a copy of the key list (a hostile header may hold millions of keys). */
  const char **sorted = malloc(((size_t)c->n_meta + 1) * sizeof *sorted);
  if (!sorted) return mg_file_error(L->err, L->err_size, MG_ERR_OUT_OF_MEMORY, L->path, "out of memory");
  memcpy(sorted, c->keys, (size_t)c->n_meta * sizeof *sorted);
  qsort(sorted, (size_t)c->n_meta, sizeof *sorted, string_cmp);
  mg_status status = MG_OK;
  for (int i = 1; i < c->n_meta && status == MG_OK; i++)
    if (strcmp(sorted[i - 1], sorted[i]) == 0)
      status = mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path, "metadata key '%s' appears twice", PNAME(sorted[i]));
  free(sorted);
  return status;
}

static int by_name_cmp(const void *a, const void *b) {
  return strcmp((*(const ckpt_tensor *const *)a)->name, (*(const ckpt_tensor *const *)b)->name);
}
static int by_begin_cmp(const void *a, const void *b) {
  const ckpt_tensor *x = *(const ckpt_tensor *const *)a, *y = *(const ckpt_tensor *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return x < y ? -1 : x > y; /* same array: file order breaks ties, so the message names the same pair every time */
}

/* Names unique and byte ranges disjoint; fills c->by_name. */
static mg_status check_layout(loader *L) {
  mg_checkpoint *c = L->c;
  int n = c->n_tensors;
  c->by_name = malloc(((size_t)n + 1) * sizeof *c->by_name);
  ckpt_tensor **order = malloc(((size_t)n + 1) * sizeof *order);
  if (!c->by_name || !order) {
    free(order);
    return mg_file_error(L->err, L->err_size, MG_ERR_OUT_OF_MEMORY, L->path, "out of memory");
  }
  mg_status status = MG_OK;
  for (int i = 0; i < n; i++) c->by_name[i] = &c->tensors[i];
  qsort(c->by_name, (size_t)n, sizeof *c->by_name, by_name_cmp);
  for (int i = 1; i < n && status == MG_OK; i++)
    if (strcmp(c->by_name[i - 1]->name, c->by_name[i]->name) == 0)
      status = mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path, "tensor '%s' appears twice",
                    PNAME(c->by_name[i]->name));
  /* Empty tensors own no bytes, so they cannot overlap anything. */
  int m = 0;
  for (int i = 0; i < n; i++)
    if (c->tensors[i].end > c->tensors[i].begin) order[m++] = &c->tensors[i];
  qsort(order, (size_t)m, sizeof *order, by_begin_cmp);
  for (int i = 1; i < m && status == MG_OK; i++)
    if (order[i - 1]->end > order[i]->begin)
      status = mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path, "tensors '%s' and '%s' overlap in the data section",
                    PNAME(order[i - 1]->name), PNAME(order[i]->name));
  free(order);
  return status;
}

/* Copies every tensor's bytes into one aligned allocation (file offsets need not be 4-byte aligned). */
static mg_status read_data(loader *L) {
  mg_checkpoint *c = L->c;
  int64_t total = 0; /* bounded by the data section: the ranges are disjoint */
  for (int i = 0; i < c->n_tensors; i++) total += c->tensors[i].numel;
  c->storage = malloc(total ? (size_t)total * sizeof(float) : 1);
  if (!c->storage)
    return mg_file_error(L->err, L->err_size, MG_ERR_OUT_OF_MEMORY, L->path, "out of memory for %lld values", (long long)total);
  float *p = c->storage;
  for (int i = 0; i < c->n_tensors; i++) {
    ckpt_tensor *t = &c->tensors[i];
    t->data = p;
    p += t->numel;
    if (!t->numel) continue;
    if (fseeko(L->f, (off_t)(8 + L->header_len + t->begin), SEEK_SET) != 0 ||
        fread(t->data, 4, (size_t)t->numel, L->f) != (size_t)t->numel)
      return mg_file_error(L->err, L->err_size, MG_ERR_IO, L->path, "cannot read tensor '%s' (%s)", PNAME(t->name),
                  ferror(L->f) ? strerror(errno) : "file shrank while reading");
    if (!host_little_endian()) swap_bytes4(t->data, t->numel);
  }
  return MG_OK;
}

static mg_status load(loader *L) {
  struct stat st;
  if (fstat(fileno(L->f), &st) != 0)
    return mg_file_error(L->err, L->err_size, MG_ERR_IO, L->path, "cannot stat (%s)", strerror(errno));
  if (!S_ISREG(st.st_mode)) return mg_file_error(L->err, L->err_size, MG_ERR_IO, L->path, "not a regular file");
  uint64_t size = (uint64_t)st.st_size;
  if (size < 8)
    return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path,
                "file is %llu bytes, too short for a safetensors header length", (unsigned long long)size);
  unsigned char len_bytes[8];
  if (fread(len_bytes, 1, 8, L->f) != 8)
    return mg_file_error(L->err, L->err_size, MG_ERR_IO, L->path, "cannot read the header length (%s)", strerror(errno));
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | len_bytes[i];
  if (n > CKPT_MAX_HEADER)
    return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path,
                "header length %llu exceeds the 100 MiB limit (not a safetensors file?)", (unsigned long long)n);
  if (n > size - 8)
    return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path,
                "header length %llu is larger than the rest of the file (%llu bytes): truncated?",
                (unsigned long long)n, (unsigned long long)(size - 8));
  L->header_len = n;
  L->data_size = size - 8 - n;

  L->header = malloc((size_t)n + 1); /* NUL-terminated as well, so no parser can run off the end */
  if (!L->header) return mg_file_error(L->err, L->err_size, MG_ERR_OUT_OF_MEMORY, L->path, "out of memory for the header");
  if (fread(L->header, 1, (size_t)n, L->f) != (size_t)n)
    return mg_file_error(L->err, L->err_size, MG_ERR_IO, L->path, "cannot read the header (%s)",
                ferror(L->f) ? strerror(errno) : "file shrank while reading");
  L->header[n] = '\0';
  if (!valid_utf8((const unsigned char *)L->header, (size_t)n))
    return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path, "header is not valid UTF-8");

  const char *end = NULL;
  L->json = cJSON_ParseWithLengthOpts(L->header, (size_t)n, &end, false);
  if (!L->json)
    return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path, "header is not valid JSON (near byte %lld of %llu)",
                end ? (long long)(end - L->header) : -1LL, (unsigned long long)n);
  for (; end && end < L->header + n; end++)
    if (!strchr(" \t\r\n", *end) || *end == '\0')
      return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path, "header has bytes after its JSON (at byte %lld)",
                  (long long)(end - L->header));
  if (!cJSON_IsObject(L->json)) return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path, "header is not a JSON object");

  mg_checkpoint *c = L->c;
  int entries = cJSON_GetArraySize(L->json);
  c->tensors = calloc((size_t)entries + 1, sizeof *c->tensors);
  if (!c->tensors) return mg_file_error(L->err, L->err_size, MG_ERR_OUT_OF_MEMORY, L->path, "out of memory");
  const cJSON *meta = NULL;
  for (const cJSON *e = L->json->child; e; e = e->next) {
    if (strcmp(e->string, CKPT_METADATA_KEY) == 0) {
      if (meta) return mg_file_error(L->err, L->err_size, MG_ERR_FORMAT, L->path, "__metadata__ appears twice");
      meta = e;
      continue;
    }
    mg_status s = parse_tensor(L, e, &c->tensors[c->n_tensors]);
    if (s != MG_OK) return s;
    c->n_tensors++;
  }
  if (meta) {
    mg_status s = parse_metadata(L, meta);
    if (s != MG_OK) return s;
  }
  mg_status s = check_layout(L);
  if (s != MG_OK) return s;
  return read_data(L);
}

mg_status mg_checkpoint_load(const char *path, mg_checkpoint **out, char *err, size_t err_size) {
  if (err && err_size) err[0] = '\0';
  if (!out) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path ? path : "(null)", "no output pointer");
  *out = NULL;
  if (!path) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, "(null)", "no checkpoint path given");
  loader L = {.path = path, .err = err, .err_size = err_size};
  L.f = fopen(path, "rb");
  if (!L.f) return mg_file_error(err, err_size, MG_ERR_IO, path, "cannot open (%s)", strerror(errno));
  L.c = calloc(1, sizeof *L.c);
  if (L.c) L.c->path = strdup(path);
  mg_status s = L.c && L.c->path ? load(&L) : mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory");
  fclose(L.f);
  cJSON_Delete(L.json);
  free(L.header);
  if (s != MG_OK) {
    mg_checkpoint_free(L.c);
    return s;
  }
  *out = L.c;
  return MG_OK;
}

const char *mg_checkpoint_path(const mg_checkpoint *c) { return c ? c->path : ""; }

int mg_checkpoint_tensor_count(const mg_checkpoint *c) { return c ? c->n_tensors : 0; }

static void describe(const ckpt_tensor *t, mg_checkpoint_tensor *out) {
  memset(out, 0, sizeof *out);
  out->name = t->name;
  out->ndim = t->ndim;
  memcpy(out->shape, t->shape, sizeof t->shape);
  out->data = t->data;
  out->numel = t->numel;
}

mg_status mg_checkpoint_tensor_at(const mg_checkpoint *c, int index, mg_checkpoint_tensor *out) {
  if (!out) return MG_ERR_INVALID_ARGUMENT;
  memset(out, 0, sizeof *out);
  if (!c || index < 0 || index >= c->n_tensors) return MG_ERR_INVALID_ARGUMENT;
  describe(&c->tensors[index], out);
  return MG_OK;
}

mg_status mg_checkpoint_find(const mg_checkpoint *c, const char *name, mg_checkpoint_tensor *out) {
  if (!out) return MG_ERR_INVALID_ARGUMENT;
  memset(out, 0, sizeof *out);
  if (!c || !name) return MG_ERR_INVALID_ARGUMENT;
  int lo = 0, hi = c->n_tensors - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    const ckpt_tensor *t = c->by_name[mid];
    int cmp = strcmp(name, t->name);
    if (cmp == 0) {
      describe(t, out);
      return MG_OK;
    }
    if (cmp < 0) hi = mid - 1;
    else lo = mid + 1;
  }
  return MG_ERR_INVALID_ARGUMENT;
}

int mg_checkpoint_metadata_count(const mg_checkpoint *c) { return c ? c->n_meta : 0; }

void mg_checkpoint_metadata_at(const mg_checkpoint *c, int index, const char **key, const char **value) {
  bool in_range = c && index >= 0 && index < c->n_meta;
  if (key) *key = in_range ? c->keys[index] : NULL;
  if (value) *value = in_range ? c->values[index] : NULL;
}

const char *mg_checkpoint_metadata(const mg_checkpoint *c, const char *key) {
  if (!c || !key) return NULL;
  for (int i = 0; i < c->n_meta; i++)
    if (strcmp(c->keys[i], key) == 0) return c->values[i];
  return NULL;
}

/* ---- the writer ---- */

typedef struct writer_tensor {
  char *name;
  int ndim;
  int64_t shape[CKPT_MAX_DIMS];
  int64_t numel;
  unsigned char *bytes; /* numel float32 values, already little endian */
} writer_tensor;

struct mg_checkpoint_writer {
  writer_tensor *tensors;
  int n_tensors, cap_tensors;
  char **keys, **values;
  int n_meta, cap_meta;
  /* The first failed add: save refuses to write a checkpoint that silently lacks something. */
  mg_status status;
  char error[512];
};

mg_checkpoint_writer *mg_checkpoint_writer_new(void) { return calloc(1, sizeof(mg_checkpoint_writer)); }

void mg_checkpoint_writer_free(mg_checkpoint_writer *w) {
  if (!w) return;
  for (int i = 0; i < w->n_tensors; i++) free(w->tensors[i].name), free(w->tensors[i].bytes);
  for (int i = 0; i < w->n_meta; i++) free(w->keys[i]), free(w->values[i]);
  free(w->tensors);
  free(w->keys);
  free(w->values);
  free(w);
}

const char *mg_checkpoint_writer_error(const mg_checkpoint_writer *w) {
  return w ? w->error : "no checkpoint writer";
}

static mg_status writer_fail(mg_checkpoint_writer *w, mg_status status, const char *fmt, ...) {
  if (w->status == MG_OK) {
    w->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->error, sizeof w->error, fmt, ap);
    va_end(ap);
  }
  return status;
}

mg_status mg_checkpoint_writer_add_tensor(mg_checkpoint_writer *w, const char *name, int ndim, const int64_t *shape,
                                          const float *data) {
  if (!w) return MG_ERR_INVALID_ARGUMENT;
  if (!name || !name[0]) return writer_fail(w, MG_ERR_INVALID_ARGUMENT, "a tensor needs a non-empty name");
  if (strncmp(name, "__", 2) == 0)
    return writer_fail(w, MG_ERR_INVALID_ARGUMENT, "tensor name '%s' starts with \"__\" (reserved)", PNAME(name));
  if (!valid_utf8((const unsigned char *)name, strlen(name)))
    return writer_fail(w, MG_ERR_INVALID_ARGUMENT, "tensor name '%s' is not valid UTF-8", PNAME(name));
  if (ndim < 0 || ndim > CKPT_MAX_DIMS || (ndim && !shape))
    return writer_fail(w, MG_ERR_INVALID_ARGUMENT, "tensor '%s': %d dims (0 to %d allowed)", PNAME(name), ndim,
                       CKPT_MAX_DIMS);
  int64_t numel = shape_numel(ndim, shape);
  if (numel < 0 || (uint64_t)numel > SIZE_MAX / 4)
    return writer_fail(w, MG_ERR_INVALID_ARGUMENT, "tensor '%s': negative or overflowing shape", PNAME(name));
  if (numel && !data) return writer_fail(w, MG_ERR_INVALID_ARGUMENT, "tensor '%s': no data", PNAME(name));
  for (int i = 0; i < w->n_tensors; i++)
    if (strcmp(w->tensors[i].name, name) == 0)
      return writer_fail(w, MG_ERR_INVALID_ARGUMENT, "tensor '%s' added twice", PNAME(name));
  if (w->n_tensors == w->cap_tensors) {
    int cap = w->cap_tensors >= INT32_MAX / 2 ? 0 : w->cap_tensors ? 2 * w->cap_tensors : 16;
    writer_tensor *grown = cap ? realloc(w->tensors, (size_t)cap * sizeof *grown) : NULL;
    if (!grown) return writer_fail(w, MG_ERR_OUT_OF_MEMORY, "out of memory adding tensor '%s'", PNAME(name));
    w->tensors = grown;
    w->cap_tensors = cap;
  }
  writer_tensor t = {.name = strdup(name), .ndim = ndim, .numel = numel};
  if (ndim) memcpy(t.shape, shape, (size_t)ndim * sizeof *shape);
  t.bytes = malloc(numel ? (size_t)numel * 4 : 1);
  if (!t.name || !t.bytes) {
    free(t.name);
    free(t.bytes);
    return writer_fail(w, MG_ERR_OUT_OF_MEMORY, "out of memory copying tensor '%s'", PNAME(name));
  }
  if (numel) memcpy(t.bytes, data, (size_t)numel * 4);
  if (!host_little_endian()) swap_bytes4(t.bytes, numel);
  w->tensors[w->n_tensors++] = t;
  return MG_OK;
}

mg_status mg_checkpoint_writer_add_metadata(mg_checkpoint_writer *w, const char *key, const char *value) {
  if (!w) return MG_ERR_INVALID_ARGUMENT;
  if (!key || !value) return writer_fail(w, MG_ERR_INVALID_ARGUMENT, "metadata needs a key and a value");
  if (!valid_utf8((const unsigned char *)key, strlen(key)) || !valid_utf8((const unsigned char *)value, strlen(value)))
    return writer_fail(w, MG_ERR_INVALID_ARGUMENT, "metadata '%s' is not valid UTF-8", PNAME(key));
  for (int i = 0; i < w->n_meta; i++)
    if (strcmp(w->keys[i], key) == 0)
      return writer_fail(w, MG_ERR_INVALID_ARGUMENT, "metadata key '%s' added twice", PNAME(key));
  if (w->n_meta == w->cap_meta) {
    int cap = w->cap_meta >= INT32_MAX / 2 ? 0 : w->cap_meta ? 2 * w->cap_meta : 16;
    char **keys = cap ? realloc(w->keys, (size_t)cap * sizeof *keys) : NULL;
    if (keys) w->keys = keys;
    char **values = keys ? realloc(w->values, (size_t)cap * sizeof *values) : NULL;
    if (values) w->values = values;
    if (!keys || !values) return writer_fail(w, MG_ERR_OUT_OF_MEMORY, "out of memory adding metadata '%s'", PNAME(key));
    w->cap_meta = cap;
  }
  char *k = strdup(key), *v = strdup(value);
  if (!k || !v) {
    free(k);
    free(v);
    return writer_fail(w, MG_ERR_OUT_OF_MEMORY, "out of memory adding metadata '%s'", PNAME(key));
  }
  w->keys[w->n_meta] = k;
  w->values[w->n_meta++] = v;
  return MG_OK;
}

/* The JSON header (unpadded), or NULL when out of memory. Tensors in insertion order, back to back. */
static char *build_header(const mg_checkpoint_writer *w) {
  cJSON *root = cJSON_CreateObject();
  bool ok = root != NULL;
  uint64_t offset = 0;
  for (int i = 0; ok && i < w->n_tensors; i++) {
    const writer_tensor *t = &w->tensors[i];
    cJSON *entry = cJSON_AddObjectToObject(root, t->name);
    ok = entry && cJSON_AddStringToObject(entry, "dtype", "F32");
    cJSON *shape = ok ? cJSON_AddArrayToObject(entry, "shape") : NULL;
    ok = shape != NULL;
    for (int d = 0; ok && d < t->ndim; d++) ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
    cJSON *offsets = ok ? cJSON_AddArrayToObject(entry, "data_offsets") : NULL;
    ok = offsets && cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)offset));
    offset += (uint64_t)t->numel * 4;
    ok = ok && cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)offset));
  }
  if (ok && w->n_meta) {
    cJSON *meta = cJSON_AddObjectToObject(root, CKPT_METADATA_KEY);
    ok = meta != NULL;
    for (int i = 0; ok && i < w->n_meta; i++) ok = cJSON_AddStringToObject(meta, w->keys[i], w->values[i]) != NULL;
  }
  char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
  cJSON_Delete(root);
  return text;
}

/* Header length, header, padding and data, in the file's order. */
static mg_status write_file(mg_atomic_file *af, const mg_checkpoint_writer *w, const char *header, size_t header_len,
                            size_t padded, char *err, size_t err_size) {
  unsigned char len_bytes[8];
  for (int i = 0; i < 8; i++) len_bytes[i] = (unsigned char)((uint64_t)padded >> (8 * i));
  static const char spaces[8] = "        ";
  mg_status s = mg_atomic_file_write(af, len_bytes, 8, err, err_size);
  if (s == MG_OK) s = mg_atomic_file_write(af, header, header_len, err, err_size);
  if (s == MG_OK) s = mg_atomic_file_write(af, spaces, padded - header_len, err, err_size);
  for (int i = 0; s == MG_OK && i < w->n_tensors; i++)
    s = mg_atomic_file_write(af, w->tensors[i].bytes, (size_t)w->tensors[i].numel * 4, err, err_size);
  return s;
}

mg_status mg_checkpoint_writer_save(mg_checkpoint_writer *w, const char *path, char *err, size_t err_size) {
  if (err && err_size) err[0] = '\0';
  if (!path || !path[0]) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, "(null)", "no checkpoint path given");
  if (!w) return mg_file_error(err, err_size, MG_ERR_INVALID_ARGUMENT, path, "no checkpoint writer");
  if (w->status != MG_OK) return mg_file_error(err, err_size, w->status, path, "not written: %s", w->error);

  char *header = build_header(w);
  if (!header) return mg_file_error(err, err_size, MG_ERR_OUT_OF_MEMORY, path, "out of memory building the header");
  size_t header_len = strlen(header), padded = (header_len + 7) / 8 * 8;
  mg_atomic_file *af = NULL;
  mg_status status = mg_atomic_file_open(path, &af, err, err_size);
  if (status == MG_OK) status = write_file(af, w, header, header_len, padded, err, err_size);
  if (status == MG_OK) status = mg_atomic_file_commit(af, err, err_size);
  else mg_atomic_file_abort(af);
  free(header);
  return status;
}
