/* test_checkpoint_python.c: our checkpoints against an independent safetensors reader/writer in Python
 * (Testing/Python/read_safetensors.py): Python must read what we write, and we must read what Python writes, with
 * every value bit-exact. Arguments: PYTHON SCRIPT. Skips (77) when Python or numpy is missing. */
#include "test_util.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char work_dir[256];
static const char *python, *script;

/* Runs the script in mode on file, writing json; returns its exit code. */
static int run_script(const char *mode, const char *file, const char *json) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s' '%s' %s '%s' '%s'", python, script, mode, file, json);
  int rc = system(cmd);
  return rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc);
}

/* A description written by the script: {"metadata": [[k, v]...], "tensors": [{"name","shape","bits"}...]}. */
static cJSON *read_description(const char *path) {
  char *text = tu_read_text(path);
  cJSON *j = text ? cJSON_Parse(text) : NULL;
  free(text);
  tu_check(j != NULL, "cannot parse %s", path);
  return j;
}

/* The loaded checkpoint c holds exactly what desc says, in the same order. */
static void compare(const char *what, const mg_checkpoint *c, const cJSON *desc) {
  const cJSON *tensors = cJSON_GetObjectItem(desc, "tensors"), *meta = cJSON_GetObjectItem(desc, "metadata");
  tu_check(cJSON_GetArraySize(tensors) == mg_checkpoint_tensor_count(c), "%s: %d tensors, expected %d", what,
           mg_checkpoint_tensor_count(c), cJSON_GetArraySize(tensors));
  int i = 0;
  for (const cJSON *t = tensors ? tensors->child : NULL; t && i < mg_checkpoint_tensor_count(c); t = t->next, i++) {
    mg_checkpoint_tensor ct;
    mg_checkpoint_tensor_at(c, i, &ct);
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(t, "name"));
    const cJSON *shape = cJSON_GetObjectItem(t, "shape"), *bits = cJSON_GetObjectItem(t, "bits");
    if (!tu_check(name && strcmp(name, ct.name) == 0, "%s: tensor %d is '%s', expected '%s'", what, i, ct.name,
                  name ? name : "?"))
      continue;
    bool shape_ok = cJSON_GetArraySize(shape) == ct.ndim;
    int d = 0;
    for (const cJSON *dim = shape->child; shape_ok && dim; dim = dim->next, d++)
      shape_ok = dim->valuedouble == (double)ct.shape[d];
    tu_check(shape_ok, "%s: shape of '%s'", what, name);
    bool values_ok = shape_ok && cJSON_GetArraySize(bits) == ct.numel;
    int64_t j = 0, wrong = 0;
    for (const cJSON *b = bits->child; values_ok && b; b = b->next, j++) {
      uint32_t ours;
      memcpy(&ours, &ct.data[j], 4);
      wrong += (double)ours != b->valuedouble;
    }
    tu_check(values_ok && wrong == 0, "%s: values of '%s' bit-exact (%lld differ)", what, name, (long long)wrong);
  }
  tu_check(cJSON_GetArraySize(meta) == mg_checkpoint_metadata_count(c), "%s: %d metadata entries, expected %d", what,
           mg_checkpoint_metadata_count(c), cJSON_GetArraySize(meta));
  i = 0;
  for (const cJSON *m = meta ? meta->child : NULL; m && i < mg_checkpoint_metadata_count(c); m = m->next, i++) {
    const char *key, *value;
    mg_checkpoint_metadata_at(c, i, &key, &value);
    const char *k = cJSON_GetStringValue(cJSON_GetArrayItem(m, 0)), *v = cJSON_GetStringValue(cJSON_GetArrayItem(m, 1));
    tu_check(k && v && strcmp(k, key) == 0 && strcmp(v, value) == 0, "%s: metadata %d is '%s'='%s', expected '%s'='%s'",
             what, i, key, value, k ? k : "?", v ? v : "?");
  }
}

int main(int argc, char **argv) {
  if (argc < 3) return tu_skip("usage: test_checkpoint_python PYTHON SCRIPT (no Python configured)");
  python = argv[1];
  script = argv[2];
  if (access(python, X_OK) != 0) return tu_skip("Python is not available");
  snprintf(work_dir, sizeof work_dir, "/tmp/medgen_ckpt_py_XXXXXX");
  if (!mkdtemp(work_dir)) return tu_skip("cannot create a temporary folder");
  char ours[512], ours_json[512], theirs[512], theirs_json[512], err[512];
  snprintf(ours, sizeof ours, "%s/ours.safetensors", work_dir);
  snprintf(ours_json, sizeof ours_json, "%s/ours.json", work_dir);
  snprintf(theirs, sizeof theirs, "%s/theirs.safetensors", work_dir);
  snprintf(theirs_json, sizeof theirs_json, "%s/theirs.json", work_dir);

  /* We write (several shapes, random values, special bit patterns, UTF-8 metadata); Python reads. */
  mg_checkpoint_writer *w = mg_checkpoint_writer_new();
  const int64_t shapes[][4] = {{16, 3, 3, 3}, {16}, {7, 5}, {0, 4}};
  const int ndims[] = {4, 1, 2, 2};
  const char *names[] = {"model.down.0.conv.weight", "model.down.0.conv.bias", "ema.lin.w\xc3\xa9ight", "empty"};
  tu_seed(11);
  for (int i = 0; i < 4; i++) {
    int64_t n = 1;
    for (int d = 0; d < ndims[i]; d++) n *= shapes[i][d];
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t j = 0; j < n; j++) v[j] = (float)tu_uniform(-3, 3);
    if (i == 0) {
      const uint32_t special[] = {0x7fc00001u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x00000001u};
      memcpy(v, special, sizeof special);
    }
    mg_checkpoint_writer_add_tensor(w, names[i], ndims[i], shapes[i], v);
    free(v);
  }
  mg_checkpoint_writer_add_tensor(w, "scalar", 0, NULL, (const float[]){-1.25f});
  mg_checkpoint_writer_add_metadata(w, "config", "{\"model\": \"unet\", \"base\": 32}");
  mg_checkpoint_writer_add_metadata(w, "note", "line one\nline \"two\"\t\xe5\x90\x8d");
  tu_check(mg_checkpoint_writer_save(w, ours, err, sizeof err) == MG_OK, "save: %s", err);
  mg_checkpoint_writer_free(w);

  int rc = run_script("dump", ours, ours_json);
  if (rc == 77) return tu_skip("numpy is not available to the configured Python");
  if (tu_check(rc == 0, "Python rejected our file %s (exit %d)", ours, rc)) {
    cJSON *desc = read_description(ours_json);
    mg_checkpoint *c = NULL;
    if (desc && tu_check(mg_checkpoint_load(ours, &c, err, sizeof err) == MG_OK, "reload: %s", err))
      compare("Python reading ours", c, desc);
    mg_checkpoint_free(c);
    cJSON_Delete(desc);
  }

  /* Python writes (its own layout); we read. */
  rc = run_script("write", theirs, theirs_json);
  if (tu_check(rc == 0, "Python could not write %s (exit %d)", theirs, rc)) {
    cJSON *desc = read_description(theirs_json);
    mg_checkpoint *c = NULL;
    if (desc && tu_check(mg_checkpoint_load(theirs, &c, err, sizeof err) == MG_OK, "loading Python's file: %s", err))
      compare("reading Python's", c, desc);
    mg_checkpoint_free(c);
    cJSON_Delete(desc);
  }

  unlink(ours), unlink(ours_json), unlink(theirs), unlink(theirs_json);
  rmdir(work_dir);
  return tu_finish();
}
