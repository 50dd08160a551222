/* test_checkpoint.c: the safetensors loader and writer (checkpoint.c) on good and hostile files: a round trip, every
 * truncation of a small file, bit flips, crafted headers that must be rejected with a clear message, and atomic
 * writes (atomic_file.c) that leave an existing checkpoint intact when they fail and give new files the umask's
 * permissions.
 *
 * Uses only medgen.h, so it also links with just checkpoint.c + atomic_file.c + status.c and runs under
 * AddressSanitizer and UBSan (test_checkpoint_asan): there a wild read or a leak on an error path fails the test. Its
 * helpers therefore come from test_check.h (no engine dependency) rather than test_util.
 *
 * "test_checkpoint --write-samples DIR" writes DIR/good.safetensors and DIR/corrupt.safetensors for the
 * `medgen info` tests and exits. */
#include "medgen.h"
#include "test_check.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- files ---- */

static char work_dir[256];

static const char *in_dir(const char *name, char *buf, size_t size) {
  snprintf(buf, size, "%s/%s", work_dir, name);
  return buf;
}
#define IN_DIR(name) in_dir((name), (char[512]){0}, 512)

static unsigned char *read_bytes(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
  *size = buf && fread(buf, 1, (size_t)n, f) == (size_t)n ? (size_t)n : 0;
  fclose(f);
  return buf;
}

static void write_bytes(const char *path, const void *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size)) {
    fprintf(stderr, "cannot write test file %s\n", path);
    exit(EXIT_FAILURE);
  }
  fclose(f);
}

/* A safetensors file by hand: header length field len_field, header bytes, then data. */
static void write_parts(const char *path, uint64_t len_field, const char *header, size_t header_size, const void *data,
                        size_t data_size) {
  unsigned char *buf = malloc(8 + header_size + data_size);
  for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(len_field >> (8 * i));
  memcpy(buf + 8, header, header_size);
  if (data_size) memcpy(buf + 8 + header_size, data, data_size);
  write_bytes(path, buf, 8 + header_size + data_size);
  free(buf);
}

static void write_raw(const char *path, const char *json, const void *data, size_t data_size) {
  write_parts(path, strlen(json), json, strlen(json), data, data_size);
}

/* Files in the work directory whose names contain ".tmp-": leftovers of a failed atomic write. */
static int temp_files(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, ".tmp-") != NULL;
  closedir(d);
  return n;
}

static bool file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static bool same_file_bytes(const char *a, const char *b) {
  size_t na = 0, nb = 0;
  unsigned char *x = read_bytes(a, &na), *y = read_bytes(b, &nb);
  bool same = x && y && na == nb && memcmp(x, y, na) == 0;
  free(x);
  free(y);
  return same;
}

/* ---- deterministic test data (splitmix64) ---- */

static float bits_float(uint32_t bits) {
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* ---- the reference checkpoint: what the writer is given and what the loader must give back ---- */

typedef struct ref_tensor {
  const char *name;
  int ndim;
  int64_t shape[8];
  int64_t numel;
  float *data;
} ref_tensor;

#define N_REF 6
static ref_tensor refs[N_REF] = {
    {"model.conv.weight", 4, {4, 3, 3, 3}, 0, NULL},
    {"model.conv.bias", 1, {4}, 0, NULL},
    {"scalar", 0, {0}, 0, NULL},
    {"empty", 2, {0, 5}, 0, NULL},
    {"eight.dims", 8, {2, 1, 3, 1, 2, 1, 1, 2}, 0, NULL},
    {"\xc3\xa9t\xc3\xa9/\xe5\x90\x8d", 2, {3, 2}, 0, NULL}, /* UTF-8 name: "été/名" */
};
static const char *ref_meta[][2] = {
    {"config", "{\"model\": \"unet\", \"channels\": [32, 64],\n \"quote\": \"\\\"\"}"},
    {"step", "123"},
    {"unicode", "\xc3\xbc"},
    {"empty", ""},
};
#define N_META (int)(sizeof ref_meta / sizeof ref_meta[0])

static void make_refs(void) {
  for (int i = 0; i < N_REF; i++) {
    ref_tensor *r = &refs[i];
    r->numel = 1;
    for (int d = 0; d < r->ndim; d++) r->numel *= r->shape[d];
    r->data = malloc((size_t)(r->numel ? r->numel : 1) * sizeof(float));
    for (int64_t j = 0; j < r->numel; j++) r->data[j] = (float)((double)(tu_u64() >> 11) / 9007199254740992.0 - 0.5);
  }
  /* values whose bits must survive exactly: NaN with a payload, -0, infinities, a denormal */
  float *w = refs[0].data;
  w[0] = bits_float(0x7fc12345u);
  w[1] = -0.0f;
  w[2] = bits_float(0x7f800000u);
  w[3] = bits_float(0xff800000u);
  w[4] = bits_float(0x00000001u);
  refs[2].data[0] = 3.5f;
}

static mg_checkpoint_writer *ref_writer(void) {
  mg_checkpoint_writer *w = mg_checkpoint_writer_new();
  for (int i = 0; i < N_REF; i++)
    mg_checkpoint_writer_add_tensor(w, refs[i].name, refs[i].ndim, refs[i].shape, refs[i].data);
  for (int i = 0; i < N_META; i++) mg_checkpoint_writer_add_metadata(w, ref_meta[i][0], ref_meta[i][1]);
  return w;
}

static bool save_refs(const char *path) {
  char err[512];
  mg_checkpoint_writer *w = ref_writer();
  mg_status s = mg_checkpoint_writer_save(w, path, err, sizeof err);
  mg_checkpoint_writer_free(w);
  return tu_check(s == MG_OK, "saving %s: %s", path, err);
}

/* ---- loading: what every successful load must satisfy ---- */

/* Reads every byte the checkpoint exposes (under ASan a bad pointer fails here) and checks it hangs together. */
static bool consistent(const mg_checkpoint *c) {
  int n = mg_checkpoint_tensor_count(c);
  volatile uint32_t sink = 0;
  for (int i = 0; i < n; i++) {
    mg_checkpoint_tensor t, f;
    if (mg_checkpoint_tensor_at(c, i, &t) != MG_OK || !t.name) return false;
    if (t.ndim < 0 || t.ndim > 8) return false;
    int64_t numel = 1;
    for (int d = 0; d < t.ndim; d++) numel *= t.shape[d];
    if (numel != t.numel || (numel && !t.data)) return false;
    for (int64_t j = 0; j < t.numel; j++) {
      uint32_t bits;
      memcpy(&bits, &t.data[j], 4);
      sink ^= bits;
    }
    if (mg_checkpoint_find(c, t.name, &f) != MG_OK || f.data != t.data || strcmp(f.name, t.name) != 0) return false;
  }
  for (int i = 0; i < mg_checkpoint_metadata_count(c); i++) {
    const char *k, *v;
    mg_checkpoint_metadata_at(c, i, &k, &v);
    if (!k || !v || mg_checkpoint_metadata(c, k) != v) return false;
    sink ^= (uint32_t)(strlen(k) + strlen(v));
  }
  (void)sink;
  return true;
}

/* Whether a load of path succeeded; if it failed, checks that the message is one line starting with the path. */
static bool load_or_clean_error(const char *path, const char *what, mg_checkpoint **out) {
  char err[512];
  mg_status s = mg_checkpoint_load(path, out, err, sizeof err);
  if (s == MG_OK) {
    tu_check(*out != NULL, "%s: loaded but no checkpoint", what);
    return true;
  }
  tu_check(*out == NULL, "%s: failed but returned a checkpoint", what);
  tu_check(strncmp(err, path, strlen(path)) == 0 && strlen(err) > strlen(path) + 2 && !strchr(err, '\n'),
        "%s: message should be one line starting with the path: '%s'", what, err);
  return false;
}

/* Expects path to be rejected with status and a message that names the file and contains needle. */
static void expect_reject(const char *what, const char *path, mg_status status, const char *needle) {
  char err[512] = "";
  mg_checkpoint *c = NULL;
  mg_status s = mg_checkpoint_load(path, &c, err, sizeof err);
  tu_check(s == status && c == NULL, "%s: expected status '%s', got '%s' (%s)", what, mg_status_string(status),
        mg_status_string(s), err);
  tu_check(strncmp(err, path, strlen(path)) == 0 && strstr(err, needle) != NULL && !strchr(err, '\n'),
        "%s: message '%s' should start with the path and contain '%s'", what, err, needle);
  mg_checkpoint_free(c);
}

/* ---- tests ---- */

static void test_round_trip(void) {
  const char *path = IN_DIR("round.safetensors");
  if (!save_refs(path)) return;
  mg_checkpoint *c = NULL;
  char err[512];
  if (!tu_check(mg_checkpoint_load(path, &c, err, sizeof err) == MG_OK, "round trip load: %s", err)) return;
  tu_check(consistent(c), "round trip: consistent");
  tu_check(strcmp(mg_checkpoint_path(c), path) == 0, "round trip: path kept");
  tu_check(mg_checkpoint_tensor_count(c) == N_REF, "round trip: %d tensors, expected %d", mg_checkpoint_tensor_count(c),
        N_REF);
  for (int i = 0; i < N_REF && i < mg_checkpoint_tensor_count(c); i++) {
    const ref_tensor *r = &refs[i];
    mg_checkpoint_tensor t;
    mg_checkpoint_tensor_at(c, i, &t); /* file order is insertion order */
    bool shape_ok = t.ndim == r->ndim && t.numel == r->numel;
    for (int d = 0; shape_ok && d < r->ndim; d++) shape_ok = t.shape[d] == r->shape[d];
    tu_check(strcmp(t.name, r->name) == 0, "round trip: tensor %d is '%s', expected '%s'", i, t.name, r->name);
    tu_check(shape_ok, "round trip: shape of '%s'", r->name);
    tu_check(shape_ok && (!r->numel || memcmp(t.data, r->data, (size_t)r->numel * 4) == 0),
          "round trip: values of '%s' bit-exact", r->name);
    tu_check(((uintptr_t)t.data % 4) == 0, "round trip: '%s' data aligned", r->name);
    mg_checkpoint_tensor f;
    tu_check(mg_checkpoint_find(c, r->name, &f) == MG_OK && f.data == t.data, "round trip: find '%s'", r->name);
  }
  mg_checkpoint_tensor t;
  tu_check(mg_checkpoint_find(c, "absent", &t) == MG_ERR_INVALID_ARGUMENT && !t.name, "find of an absent name fails");
  tu_check(mg_checkpoint_tensor_at(c, -1, &t) != MG_OK && !t.name, "tensor_at(-1) fails");
  tu_check(mg_checkpoint_tensor_at(c, N_REF, &t) != MG_OK && !t.name, "tensor_at(count) fails");

  tu_check(mg_checkpoint_metadata_count(c) == N_META, "round trip: %d metadata entries", mg_checkpoint_metadata_count(c));
  for (int i = 0; i < N_META && i < mg_checkpoint_metadata_count(c); i++) {
    const char *k, *v;
    mg_checkpoint_metadata_at(c, i, &k, &v);
    tu_check(k && v && strcmp(k, ref_meta[i][0]) == 0 && strcmp(v, ref_meta[i][1]) == 0, "round trip: metadata %d", i);
    const char *found = mg_checkpoint_metadata(c, ref_meta[i][0]);
    tu_check(found && strcmp(found, ref_meta[i][1]) == 0, "round trip: metadata '%s' by key", ref_meta[i][0]);
  }
  const char *k = "x", *v = "x";
  mg_checkpoint_metadata_at(c, N_META, &k, &v);
  tu_check(!k && !v, "metadata_at out of range gives NULLs");
  tu_check(!mg_checkpoint_metadata(c, "absent"), "absent metadata key gives NULL");
  mg_checkpoint_free(c);

  /* The layout: header padded to 8 bytes, data back to back in insertion order; and the same bytes every time. */
  size_t size = 0;
  unsigned char *bytes = read_bytes(path, &size);
  uint64_t n = 0;
  for (int i = 7; i >= 0 && size >= 8; i--) n = n << 8 | bytes[i];
  int64_t data_bytes = 0;
  for (int i = 0; i < N_REF; i++) data_bytes += refs[i].numel * 4;
  tu_check(n % 8 == 0 && 8 + n + (uint64_t)data_bytes == size, "layout: header %llu bytes (multiple of 8), file %zu",
        (unsigned long long)n, size);
  size_t off = 8 + (size_t)n;
  for (int i = 0; i < N_REF && off + (size_t)refs[i].numel * 4 <= size; i++) {
    tu_check(memcmp(bytes + off, refs[i].data, (size_t)refs[i].numel * 4) == 0, "layout: '%s' at its place",
          refs[i].name);
    off += (size_t)refs[i].numel * 4;
  }
  free(bytes);
  const char *again = IN_DIR("round2.safetensors");
  save_refs(again);
  tu_check(same_file_bytes(path, again), "writing twice gives identical bytes");
}

static void test_writer_misuse(void) {
  const int64_t shape[9] = {2, 2, 1, 1, 1, 1, 1, 1, 1};
  const float data[4] = {1, 2, 3, 4};
  struct {
    const char *what, *name;
    int ndim;
    int64_t dim0;
    bool null_data;
  } bad[] = {
      {"empty name", "", 1, 4, false},
      {"reserved name", "__metadata__", 1, 4, false},
      {"invalid UTF-8 name", "a\xff", 1, 4, false},
      {"9 dims", "x", 9, 2, false},
      {"negative dim", "x", 1, -1, false},
      {"overflowing shape", "x", 3, (int64_t)1 << 40, false},
      {"no data", "x", 1, 4, true},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    mg_checkpoint_writer *w = mg_checkpoint_writer_new();
    int64_t s[9];
    memcpy(s, shape, sizeof s);
    s[0] = bad[i].dim0;
    if (bad[i].dim0 == (int64_t)1 << 40) s[1] = s[2] = (int64_t)1 << 40;
    mg_status st = mg_checkpoint_writer_add_tensor(w, bad[i].name, bad[i].ndim, s, bad[i].null_data ? NULL : data);
    tu_check(st == MG_ERR_INVALID_ARGUMENT && mg_checkpoint_writer_error(w)[0], "writer rejects %s", bad[i].what);
    mg_checkpoint_writer_free(w);
  }

  /* A failed add makes save refuse, naming the path and the first problem, and write nothing. */
  mg_checkpoint_writer *w = mg_checkpoint_writer_new();
  tu_check(mg_checkpoint_writer_add_tensor(w, "a", 1, shape, data) == MG_OK, "first 'a' added");
  tu_check(mg_checkpoint_writer_add_tensor(w, "a", 1, shape, data) == MG_ERR_INVALID_ARGUMENT, "second 'a' rejected");
  tu_check(mg_checkpoint_writer_add_metadata(w, "k", "1") == MG_OK, "metadata added");
  tu_check(mg_checkpoint_writer_add_metadata(w, "k", "2") == MG_ERR_INVALID_ARGUMENT, "duplicate metadata key rejected");
  const char *path = IN_DIR("refused.safetensors");
  char err[512];
  tu_check(mg_checkpoint_writer_save(w, path, err, sizeof err) == MG_ERR_INVALID_ARGUMENT && strstr(err, path) &&
            strstr(err, "'a' added twice"),
        "save after a failed add refuses: '%s'", err);
  tu_check(!file_exists(path), "refused save writes nothing");
  mg_checkpoint_writer_free(w);

  w = mg_checkpoint_writer_new();
  tu_check(mg_checkpoint_writer_add_metadata(w, "k", "\xc3") == MG_ERR_INVALID_ARGUMENT, "invalid UTF-8 value rejected");
  mg_checkpoint_writer_free(w);

  /* An empty checkpoint is valid. */
  w = mg_checkpoint_writer_new();
  path = IN_DIR("empty.safetensors");
  tu_check(mg_checkpoint_writer_save(w, path, err, sizeof err) == MG_OK, "empty checkpoint saved: %s", err);
  mg_checkpoint_writer_free(w);
  mg_checkpoint *c = NULL;
  tu_check(mg_checkpoint_load(path, &c, err, sizeof err) == MG_OK && mg_checkpoint_tensor_count(c) == 0 &&
            mg_checkpoint_metadata_count(c) == 0,
        "empty checkpoint loads: %s", err);
  mg_checkpoint_free(c);
}

/* Every proper prefix of a valid file must be rejected, cleanly. */
static void test_truncations(void) {
  const char *good = IN_DIR("trunc_source.safetensors"), *path = IN_DIR("truncated.safetensors");
  if (!save_refs(good)) return;
  size_t size = 0;
  unsigned char *bytes = read_bytes(good, &size);
  int accepted = 0;
  for (size_t len = 0; len < size; len++) {
    write_bytes(path, bytes, len);
    mg_checkpoint *c = NULL;
    char what[64];
    snprintf(what, sizeof what, "truncated to %zu bytes", len);
    if (load_or_clean_error(path, what, &c)) accepted++;
    mg_checkpoint_free(c);
  }
  tu_check(accepted == 0, "all %zu truncations rejected (%d accepted)", size, accepted);
  free(bytes);
}

/* Flipped bits: in the header a file must load consistently or be rejected; in the data section it must load with
 * exactly that one bit changed. */
static void test_bit_flips(void) {
  const char *good = IN_DIR("flip_source.safetensors"), *path = IN_DIR("flipped.safetensors");
  if (!save_refs(good)) return;
  size_t size = 0;
  unsigned char *bytes = read_bytes(good, &size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | bytes[i];
  const size_t data_start = 8 + (size_t)n;
  int loaded = 0, rejected = 0, bad = 0;

  for (size_t flip = 0; flip < 8 * size; flip++) {
    size_t byte = flip / 8;
    bool in_header = byte < data_start;
    /* every bit of the header; a random tenth of the data bits */
    if (!in_header && tu_u64() % 10 != 0) continue;
    bytes[byte] ^= (unsigned char)(1u << (flip % 8));
    write_bytes(path, bytes, size);
    bytes[byte] ^= (unsigned char)(1u << (flip % 8));
    mg_checkpoint *c = NULL;
    char what[80];
    snprintf(what, sizeof what, "bit %zu of byte %zu flipped", flip % 8, byte);
    if (!load_or_clean_error(path, what, &c)) {
      rejected++;
      if (!in_header) bad += !tu_check(false, "%s: a data bit flip must still load", what);
      continue;
    }
    loaded++;
    if (!tu_check(consistent(c), "%s: loaded but inconsistent", what)) bad++;
    if (!in_header) {
      /* the tensors' bytes, in order, are the data section: exactly one bit differs */
      int differing = 0;
      size_t off = data_start;
      for (int i = 0; i < mg_checkpoint_tensor_count(c); i++) {
        mg_checkpoint_tensor t;
        mg_checkpoint_tensor_at(c, i, &t);
        const unsigned char *p = (const unsigned char *)t.data;
        for (int64_t j = 0; j < t.numel * 4 && off < size; j++, off++)
          for (unsigned x = p[j] ^ bytes[off]; x; x &= x - 1) differing++;
      }
      if (!tu_check(differing == 1, "%s: %d bits differ, expected 1", what, differing)) bad++;
    }
    mg_checkpoint_free(c);
  }
  tu_check(bad == 0, "bit flips: %d loaded, %d rejected, %d bad", loaded, rejected, bad);

  /* random multi-bit damage anywhere */
  for (int trial = 0; trial < 500; trial++) {
    unsigned char *copy = malloc(size);
    memcpy(copy, bytes, size);
    int flips = 1 + (int)(tu_u64() % 8);
    for (int k = 0; k < flips; k++) {
      uint64_t bit = tu_u64() % (8 * size);
      copy[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    write_bytes(path, copy, size);
    free(copy);
    mg_checkpoint *c = NULL;
    if (load_or_clean_error(path, "random damage", &c)) tu_check(consistent(c), "random damage %d: inconsistent", trial);
    mg_checkpoint_free(c);
  }
  free(bytes);
}

static void test_hostile_headers(void) {
  const float four[4] = {1, 2, 3, 4};
  const char *p = IN_DIR("hostile.safetensors");

  write_bytes(p, "", 0);
  expect_reject("empty file", p, MG_ERR_FORMAT, "too short");
  write_bytes(p, "\x02\0\0\0\0", 5);
  expect_reject("5-byte file", p, MG_ERR_FORMAT, "too short");
  write_parts(p, (uint64_t)1 << 63, "{}", 2, NULL, 0);
  expect_reject("header length 2^63", p, MG_ERR_FORMAT, "exceeds");
  write_parts(p, (uint64_t)200 << 20, "{}", 2, NULL, 0);
  expect_reject("header length 200 MiB", p, MG_ERR_FORMAT, "exceeds");
  write_parts(p, 64, "{}", 2, NULL, 0);
  expect_reject("header length beyond the file", p, MG_ERR_FORMAT, "larger than the rest of the file");

  struct {
    const char *what, *json, *needle;
  } cases[] = {
      {"invalid JSON", "{\"w\": {\"dtype\": \"F32\", ", "not valid JSON"},
      {"empty header", "", "not valid JSON"},
      {"header an array", "[1, 2]", "not a JSON object"},
      {"bytes after the JSON", "{} x", "after its JSON"},
      {"second JSON value", "{}{}", "after its JSON"},
      {"NUL in padding", "{}\0", "after its JSON"},
      {"invalid UTF-8", "{\"w\xff\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", "UTF-8"},
      {"wrong dtype", "{\"w\": {\"dtype\": \"F16\", \"shape\": [8], \"data_offsets\": [0, 16]}}", "'w' has dtype F16"},
      {"BF16", "{\"w\": {\"dtype\": \"BF16\", \"shape\": [8], \"data_offsets\": [0, 16]}}", "only F32"},
      {"dtype not a string", "{\"w\": {\"dtype\": 5, \"shape\": [4], \"data_offsets\": [0, 16]}}", "no dtype"},
      {"missing shape", "{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 16]}}", "no shape"},
      {"shape not an array", "{\"w\": {\"dtype\": \"F32\", \"shape\": 4, \"data_offsets\": [0, 16]}}", "no shape"},
      {"negative dim", "{\"w\": {\"dtype\": \"F32\", \"shape\": [-4], \"data_offsets\": [0, 16]}}", "shape entry 0"},
      {"fractional dim", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 1.5], \"data_offsets\": [0, 16]}}",
       "shape entry 1"},
      {"dim as string", "{\"w\": {\"dtype\": \"F32\", \"shape\": [\"4\"], \"data_offsets\": [0, 16]}}", "shape entry"},
      {"huge dim", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1e300], \"data_offsets\": [0, 16]}}", "shape entry"},
      {"overflowing shape",
       "{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], \"data_offsets\": [0, 16]}}",
       "overflows"},
      {"9 dims", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,4], \"data_offsets\": [0, 16]}}",
       "9 dims"},
      {"offsets out of bounds", "{\"w\": {\"dtype\": \"F32\", \"shape\": [8], \"data_offsets\": [0, 32]}}", "outside"},
      {"offsets reversed", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]}}", "outside"},
      {"huge offsets",
       "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [9007199254740990, 9007199254740994]}}",
       "data_offsets"},
      {"one offset", "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0]}}", "data_offsets"},
      {"three offsets", "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16, 16]}}",
       "data_offsets"},
      {"negative offset", "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [-4, 12]}}", "data_offsets"},
      {"offsets as strings", "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [\"0\", \"16\"]}}",
       "data_offsets"},
      {"size mismatch", "{\"w\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 16]}}", "needs 12 bytes"},
      {"overlap",
       "{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 12]},"
       " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}",
       "overlap"},
      {"same range twice",
       "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
       " \"b\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}",
       "overlap"},
      {"duplicate name",
       "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
       " \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}",
       "'a' appears twice"},
      {"duplicate name via an escape",
       "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
       " \"\\u0061\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}",
       "appears twice"},
      {"duplicate field",
       "{\"w\": {\"dtype\": \"F32\", \"dtype\": \"F16\", \"shape\": [4], \"data_offsets\": [0, 16]}}",
       "field 'dtype' twice"},
      {"unknown field", "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16], \"x\": 1}}",
       "unknown field"},
      {"entry not an object", "{\"w\": 5}", "not an object"},
      {"non-string metadata", "{\"__metadata__\": {\"step\": 5}}", "metadata value of 'step' is not a string"},
      {"metadata not an object", "{\"__metadata__\": \"x\"}", "__metadata__ is not an object"},
      {"metadata twice", "{\"__metadata__\": {}, \"__metadata__\": {}}", "__metadata__ appears twice"},
      {"duplicate metadata key", "{\"__metadata__\": {\"k\": \"1\", \"k\": \"2\"}}", "'k' appears twice"},
      {"control characters in a name", "{\"bad\\nname\\u001b[31m\": {\"dtype\": \"F16\", \"shape\": [8], "
                                       "\"data_offsets\": [0, 16]}}",
       "'bad?name?[31m' has dtype F16"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    /* the NUL case's header includes the literal's terminating NUL */
    size_t len = strlen(cases[i].json) + (strcmp(cases[i].what, "NUL in padding") == 0);
    write_parts(p, len, cases[i].json, len, four, sizeof four);
    expect_reject(cases[i].what, p, MG_ERR_FORMAT, cases[i].needle);
  }

  /* a long name is cut in messages */
  char json[1200];
  char name[700];
  memset(name, 'n', sizeof name - 1);
  name[sizeof name - 1] = '\0';
  snprintf(json, sizeof json, "{\"%s\": {\"dtype\": \"I8\", \"shape\": [16], \"data_offsets\": [0, 16]}}", name);
  write_raw(p, json, four, sizeof four);
  char err[512];
  mg_checkpoint *c = NULL;
  tu_check(mg_checkpoint_load(p, &c, err, sizeof err) == MG_ERR_FORMAT && strstr(err, "...' has dtype I8"),
        "long names are cut in messages: '%s'", err);

  /* nesting far past cJSON's limit */
  size_t depth = 100000;
  char *deep = malloc(2 * depth + 1);
  memset(deep, '[', depth);
  memset(deep + depth, ']', depth);
  deep[2 * depth] = '\0';
  write_raw(p, deep, NULL, 0);
  expect_reject("deeply nested JSON", p, MG_ERR_FORMAT, "not valid JSON");
  free(deep);

  expect_reject("missing file", IN_DIR("does-not-exist.safetensors"), MG_ERR_IO, "cannot open");
  expect_reject("a directory", work_dir, MG_ERR_IO, "not a regular file");
  tu_check(mg_checkpoint_load(p, NULL, err, sizeof err) == MG_ERR_INVALID_ARGUMENT, "NULL output pointer rejected");
}

/* Unusual but valid files, as other writers may produce them. */
static void test_valid_variants(void) {
  const char *p = IN_DIR("variant.safetensors");
  char err[512];
  mg_checkpoint *c = NULL;
  float four[4] = {1.5f, -2.0f, 3.25f, 1e-3f};

  /* unaligned offsets, a gap, trailing bytes, a JSON order different from the data order, padding spaces */
  unsigned char data[2 + 16 + 3];
  memset(data, 0xAB, sizeof data);
  memcpy(data + 2, four, 16);
  write_raw(p,
            "  {\"z\": {\"data_offsets\": [2, 10], \"shape\": [2], \"dtype\": \"F32\"},"
            " \"a\": {\"dtype\": \"F32\", \"shape\": [1, 2], \"data_offsets\": [10, 18]},"
            " \"e\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [4, 4]},"
            " \"__metadata__\": {}}   \n",
            data, sizeof data);
  if (tu_check(mg_checkpoint_load(p, &c, err, sizeof err) == MG_OK, "variant file loads: %s", err)) {
    mg_checkpoint_tensor z, a, e;
    tu_check(mg_checkpoint_tensor_count(c) == 3 && consistent(c), "variant: 3 consistent tensors");
    tu_check(mg_checkpoint_tensor_at(c, 0, &z) == MG_OK && strcmp(z.name, "z") == 0, "variant: JSON order kept");
    tu_check(mg_checkpoint_find(c, "a", &a) == MG_OK && a.ndim == 2 && memcmp(a.data, four + 2, 8) == 0 &&
              memcmp(z.data, four, 8) == 0 && ((uintptr_t)a.data % 4) == 0 && ((uintptr_t)z.data % 4) == 0,
          "variant: unaligned tensors read correctly");
    tu_check(mg_checkpoint_find(c, "e", &e) == MG_OK && e.numel == 0, "variant: empty tensor inside another's range");
  }
  mg_checkpoint_free(c);
  c = NULL;

  /* a NUL escape inside a name; a scalar */
  write_raw(p, "{\"a\\u0000b\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [0, 4]}}", four, 4);
  tu_check(mg_checkpoint_load(p, &c, err, sizeof err) == MG_OK && consistent(c), "NUL escape in a name loads: %s", err);
  mg_checkpoint_free(c);
}

/* A failed write names the path, leaves no temporary file, and never touches an existing checkpoint. */
static void test_atomic_write(void) {
  char err[512];
  float *big = calloc(16384, sizeof *big);
  int64_t big_shape[1] = {16384};
  const int64_t small_shape[1] = {4};
  const float small[4] = {1, 2, 3, 4};
  struct stat st;

  /* A new file gets the permissions any new file gets: 0666 less the umask. */
  mode_t old_umask = umask(027);
  const char *fresh = IN_DIR("fresh.safetensors");
  mg_checkpoint_writer *w = mg_checkpoint_writer_new();
  mg_checkpoint_writer_add_tensor(w, "x", 1, small_shape, small);
  tu_check(mg_checkpoint_writer_save(w, fresh, err, sizeof err) == MG_OK, "new file: %s", err);
  tu_check(stat(fresh, &st) == 0 && (st.st_mode & 0777) == 0640, "new file under umask 027: mode 0640 (got %o)",
        (unsigned)(st.st_mode & 0777));
  umask(002);
  unlink(fresh);
  tu_check(mg_checkpoint_writer_save(w, fresh, err, sizeof err) == MG_OK, "new file: %s", err);
  tu_check(stat(fresh, &st) == 0 && (st.st_mode & 0777) == 0664, "new file under umask 002: mode 0664 (got %o)",
        (unsigned)(st.st_mode & 0777));
  umask(old_umask);
  unlink(fresh);

  /* a folder that does not exist */
  const char *missing = IN_DIR("no-such-folder/ckpt.safetensors");
  mg_status s = mg_checkpoint_writer_save(w, missing, err, sizeof err);
  tu_check(s == MG_ERR_IO && strncmp(err, missing, strlen(missing)) == 0 && strstr(err, "No such file"),
        "missing folder: '%s'", err);
  tu_check(temp_files(work_dir) == 0, "missing folder: no temporary file left");

  /* the old checkpoint */
  const char *target = IN_DIR("keep.safetensors"), *copy = IN_DIR("keep.copy");
  tu_check(mg_checkpoint_writer_save(w, target, err, sizeof err) == MG_OK, "old checkpoint written: %s", err);
  mg_checkpoint_writer_free(w);
  size_t size = 0;
  unsigned char *old = read_bytes(target, &size);
  write_bytes(copy, old, size);
  free(old);

  w = mg_checkpoint_writer_new();
  mg_checkpoint_writer_add_tensor(w, "big", 1, big_shape, big);

  /* A write that fails half way (the file size limit stands in for a full disk; it works as root too). */
  struct rlimit old_limit, limit;
  getrlimit(RLIMIT_FSIZE, &old_limit);
  limit = old_limit;
  limit.rlim_cur = 8192;
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN); /* else the kernel kills us instead of failing write() */
  if (tu_check(setrlimit(RLIMIT_FSIZE, &limit) == 0, "setrlimit(RLIMIT_FSIZE)")) {
    s = mg_checkpoint_writer_save(w, target, err, sizeof err);
    setrlimit(RLIMIT_FSIZE, &old_limit);
    tu_check(s == MG_ERR_IO && strncmp(err, target, strlen(target)) == 0 && strstr(err, "writing"),
          "write failing half way: '%s'", err);
    tu_check(same_file_bytes(target, copy), "write failing half way: old checkpoint intact");
    tu_check(temp_files(work_dir) == 0, "write failing half way: no temporary file left");
  }
  signal(SIGXFSZ, old_handler);

  /* A read-only folder (root ignores permissions, so only when not root). */
  if (geteuid() != 0) {
    chmod(work_dir, 0555);
    s = mg_checkpoint_writer_save(w, target, err, sizeof err);
    chmod(work_dir, 0755);
    tu_check(s == MG_ERR_IO && strstr(err, "temporary file"), "read-only folder: '%s'", err);
    tu_check(same_file_bytes(target, copy), "read-only folder: old checkpoint intact");
    tu_check(temp_files(work_dir) == 0, "read-only folder: no temporary file left");
  }

  /* A path whose parent is a file. */
  char under_file[600];
  snprintf(under_file, sizeof under_file, "%s/ckpt.safetensors", target);
  s = mg_checkpoint_writer_save(w, under_file, err, sizeof err);
  tu_check(s == MG_ERR_IO && strncmp(err, under_file, strlen(under_file)) == 0, "parent is a file: '%s'", err);
  tu_check(same_file_bytes(target, copy), "parent is a file: old checkpoint intact");

  /* The target is a folder: everything is written, the final rename fails. */
  const char *folder = IN_DIR("a-folder");
  mkdir(folder, 0755);
  s = mg_checkpoint_writer_save(w, folder, err, sizeof err);
  tu_check(s == MG_ERR_IO && strstr(err, "move the new file into place"), "target is a folder: '%s'", err);
  tu_check(temp_files(work_dir) == 0, "target is a folder: no temporary file left");
  rmdir(folder);

  /* A successful overwrite replaces the contents and keeps the old file's permissions. */
  chmod(target, 0640);
  tu_check(mg_checkpoint_writer_save(w, target, err, sizeof err) == MG_OK, "overwrite: %s", err);
  mg_checkpoint *c = NULL;
  mg_checkpoint_tensor t;
  tu_check(mg_checkpoint_load(target, &c, err, sizeof err) == MG_OK && mg_checkpoint_find(c, "big", &t) == MG_OK &&
            t.numel == 16384 && mg_checkpoint_find(c, "x", &t) != MG_OK,
        "overwrite: new contents: %s", err);
  mg_checkpoint_free(c);
  tu_check(stat(target, &st) == 0 && (st.st_mode & 0777) == 0640, "overwrite keeps permissions 0640 (got %o)",
        (unsigned)(st.st_mode & 0777));
  tu_check(temp_files(work_dir) == 0, "overwrite: no temporary file left");

  /* a relative path (the temporary file goes to the current folder) */
  char cwd[512];
  if (getcwd(cwd, sizeof cwd) && chdir(work_dir) == 0) {
    tu_check(mg_checkpoint_writer_save(w, "relative.safetensors", err, sizeof err) == MG_OK, "relative path: %s", err);
    tu_check(file_exists("relative.safetensors") && temp_files(".") == 0, "relative path: written, no temporary file");
    tu_check(chdir(cwd) == 0, "chdir back");
  }
  mg_checkpoint_writer_free(w);
  free(big);
}

/* mg_atomic_file directly: until commit the target is untouched and the new data sits in one temporary file; abort
 * and a failed commit leave the target as it was and no temporary file. */
static void test_atomic_file_api(void) {
  char err[512];
  const char *target = IN_DIR("atomic.txt");
  write_bytes(target, "old", 3);
  size_t n = 0;
  unsigned char *bytes = NULL;

  mg_atomic_file *af = NULL;
  tu_check(mg_atomic_file_open(target, &af, err, sizeof err) == MG_OK && af, "open: %s", err);
  tu_check(mg_atomic_file_write(af, "new ", 4, err, sizeof err) == MG_OK, "write: %s", err);
  tu_check(fputs("data", mg_atomic_file_stream(af)) >= 0, "write through the stream");
  tu_check(temp_files(work_dir) == 1, "one temporary file while writing (%d)", temp_files(work_dir));
  bytes = read_bytes(target, &n);
  tu_check(bytes && n == 3 && memcmp(bytes, "old", 3) == 0, "target untouched before commit");
  free(bytes);
  tu_check(mg_atomic_file_commit(af, err, sizeof err) == MG_OK, "commit: %s", err);
  bytes = read_bytes(target, &n);
  tu_check(bytes && n == 8 && memcmp(bytes, "new data", 8) == 0, "target replaced at commit");
  free(bytes);
  tu_check(temp_files(work_dir) == 0, "commit: no temporary file left");

  af = NULL;
  tu_check(mg_atomic_file_open(target, &af, err, sizeof err) == MG_OK, "open again: %s", err);
  tu_check(mg_atomic_file_write(af, "lost", 4, err, sizeof err) == MG_OK, "write again: %s", err);
  mg_atomic_file_abort(af);
  mg_atomic_file_abort(NULL);
  bytes = read_bytes(target, &n);
  tu_check(bytes && n == 8 && memcmp(bytes, "new data", 8) == 0, "abort leaves the target as it was");
  free(bytes);
  tu_check(temp_files(work_dir) == 0, "abort: no temporary file left");

  /* A write to the stream that failed without the caller noticing fails the commit (the file size limit stands
   * in for a full disk). The data is larger than stdio's buffer, so fwrite reaches the file and fails. */
  enum { BIG = 1 << 16 };
  char *big = calloc(BIG, 1);
  struct rlimit old_limit, limit;
  getrlimit(RLIMIT_FSIZE, &old_limit);
  limit = old_limit;
  limit.rlim_cur = 4096;
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  af = NULL;
  if (tu_check(mg_atomic_file_open(target, &af, err, sizeof err) == MG_OK, "open for a failing write: %s", err) &&
      tu_check(setrlimit(RLIMIT_FSIZE, &limit) == 0, "setrlimit(RLIMIT_FSIZE)")) {
    (void)fwrite(big, 1, BIG, mg_atomic_file_stream(af));
    mg_status s = mg_atomic_file_commit(af, err, sizeof err);
    setrlimit(RLIMIT_FSIZE, &old_limit);
    tu_check(s == MG_ERR_IO && strncmp(err, target, strlen(target)) == 0 && strstr(err, "writing failed"),
          "unnoticed failed write: '%s'", err);
    bytes = read_bytes(target, &n);
    tu_check(bytes && n == 8 && memcmp(bytes, "new data", 8) == 0, "failed commit leaves the target as it was");
    free(bytes);
    tu_check(temp_files(work_dir) == 0, "failed commit: no temporary file left");
  } else {
    mg_atomic_file_abort(af);
  }
  signal(SIGXFSZ, old_handler);
  free(big);

  /* the one-call write; bad arguments */
  tu_check(mg_file_write_atomic(target, "x", 1, err, sizeof err) == MG_OK, "one-call write: %s", err);
  bytes = read_bytes(target, &n);
  tu_check(bytes && n == 1 && bytes[0] == 'x', "one-call write: contents");
  free(bytes);
  tu_check(mg_file_write_atomic(target, NULL, 1, err, sizeof err) == MG_ERR_INVALID_ARGUMENT && strstr(err, target),
        "one-call write without data: '%s'", err);
  af = (mg_atomic_file *)1;
  tu_check(mg_atomic_file_open("", &af, err, sizeof err) == MG_ERR_INVALID_ARGUMENT && af == NULL,
        "open with an empty name: '%s'", err);
  tu_check(mg_atomic_file_commit(NULL, err, sizeof err) == MG_ERR_INVALID_ARGUMENT, "commit of NULL: '%s'", err);
  tu_check(temp_files(work_dir) == 0, "bad arguments: no temporary file left");
  unlink(target);
}

/* Files for the `medgen info` tests. */
static int write_samples(const char *dir) {
  snprintf(work_dir, sizeof work_dir, "%s", dir);
  mkdir(dir, 0755);
  const char *good = IN_DIR("good.safetensors");
  mg_checkpoint_writer *w = mg_checkpoint_writer_new();
  const char *names[] = {"model.conv.weight", "model.conv.bias", "ema.conv.weight", "ema.conv.bias",
                         "optim.m.conv.weight", "optim.m.conv.bias"};
  const int64_t weight[4] = {8, 1, 3, 3}, bias[1] = {8};
  float values[72];
  for (int i = 0; i < 72; i++) values[i] = (float)i / 72.0f;
  for (int i = 0; i < 6; i++)
    mg_checkpoint_writer_add_tensor(w, names[i], i % 2 ? 1 : 4, i % 2 ? bias : weight, values);
  mg_checkpoint_writer_add_metadata(w, "config", "{\"model\": \"ddpm\", \"channels\": 8}");
  mg_checkpoint_writer_add_metadata(w, "step", "1000");
  char err[512];
  mg_status s = mg_checkpoint_writer_save(w, good, err, sizeof err);
  mg_checkpoint_writer_free(w);
  if (s != MG_OK) {
    fprintf(stderr, "%s\n", err);
    return EXIT_FAILURE;
  }
  size_t size = 0;
  unsigned char *bytes = read_bytes(good, &size);
  write_bytes(IN_DIR("corrupt.safetensors"), bytes, size / 2); /* cut in the middle of the data */
  free(bytes);
  printf("wrote %s and corrupt.safetensors\n", good);
  return EXIT_SUCCESS;
}

static void remove_work_dir(void) {
  DIR *d = opendir(work_dir);
  if (!d) return;
  for (struct dirent *e; (e = readdir(d));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlink(IN_DIR(e->d_name));
  closedir(d);
  rmdir(work_dir);
}

int main(int argc, char **argv) {
  tu_seed(42);
  if (argc == 3 && strcmp(argv[1], "--write-samples") == 0) return write_samples(argv[2]);
  snprintf(work_dir, sizeof work_dir, "/tmp/medgen_ckpt_XXXXXX");
  if (!mkdtemp(work_dir)) {
    perror("mkdtemp");
    return EXIT_FAILURE;
  }
  make_refs();
  test_round_trip();
  test_writer_misuse();
  test_truncations();
  test_bit_flips();
  test_hostile_headers();
  test_valid_variants();
  test_atomic_write();
  test_atomic_file_api();
  for (int i = 0; i < N_REF; i++) free(refs[i].data);
  remove_work_dir();
  return tu_finish();
}
