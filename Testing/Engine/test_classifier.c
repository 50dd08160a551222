/* test_classifier.c: the image classifier (medgen.h) through the public API alone, on a synthetic 3-class set
 * generated here (32x32: a bright disk, a bright square, or a patch of horizontal stripes, each of random position,
 * size and brightness on a noisy dark background).
 * - trained on 300 images it classifies 150 held-out ones with accuracy >= 95%; trained on the same images with
 *   labels that say nothing about the shape it stays near chance (< 60%), so the accuracy check can fail;
 * - progress runs once per step in order; a callback returning non-zero cancels (MG_ERR_CANCELLED);
 * - training and prediction give the same bits with 1 and 2 threads; probabilities sum to 1 and agree with labels;
 *   an image classified alone gets the same probabilities as in a batch (batch norm uses its running statistics);
 * - save -> load (another context) -> the same probabilities bit for bit, with names, size and metadata;
 * - features: 4*width values per image, the input of the final linear layer (softmax of fc(features) gives the
 *   probabilities), bit-identical on 1 and 2 threads and alone or in a batch; "run." notes survive save and load;
 *   bad feature and note arguments are refused with messages. It writes DIR/parity_model.safetensors (the
 *   classifier, saved) and DIR/parity_outputs.safetensors (images, features, logits) for classifier_reference.py,
 *   which runs the same network in PyTorch on the checkpoint's weights (test classifier_parity);
 * - a checkpoint of another model, one without model.config and one whose config disagrees with its tensors are
 *   refused with messages naming the file; bad datasets, options and predict arguments are refused. */
#include "medgen.h"
#include "test_check.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { S = 32, K = 3, N_TRAIN = 300, N_TEST = 150, STEPS = 100 };
static const char *const NAMES[K] = {"disk", "square", "stripes"};

/* n images, image i of class i % K, in [-1, 1]. Shapes cover about the same area (disk radius r, square side
 * 1.77 r, stripe patch side 1.77 r) so that size alone does not tell the class. */
static void make_shapes(float *img, int32_t *labels, int n) {
  for (int i = 0; i < n; i++) {
    int k = i % K;
    double r = tu_uniform(4, 8), half = 0.886 * r; /* pi r^2 == (2 half)^2 */
    double cx = tu_uniform(r + 1, S - r - 1), cy = tu_uniform(r + 1, S - r - 1);
    double bright = tu_uniform(0.3, 0.9), period = tu_uniform(3, 5), phase = tu_uniform(0, period);
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++) {
        double dx = x - cx, dy = y - cy;
        bool inside = k == 0   ? dx * dx + dy * dy <= r * r
                      : k == 1 ? fabs(dx) <= half && fabs(dy) <= half
                               : fabs(dx) <= half && fabs(dy) <= half && fmod(y + phase, period) < period / 2;
        double v = -0.8 + (inside ? bright + 0.8 : 0) + tu_uniform(-0.15, 0.15);
        img[((size_t)i * S + y) * S + x] = (float)(v < -1 ? -1 : v > 1 ? 1 : v);
      }
    labels[i] = k;
  }
}

static mg_dataset dataset(const float *images, const int32_t *labels, int count) {
  mg_dataset d = {count, 1, S, images, labels, K, NAMES, 100.0, 200.0};
  return d;
}

static mg_classifier_options test_options(void) {
  mg_classifier_options o = mg_classifier_default_options();
  o.width = 8;
  o.batch = 32;
  o.steps = STEPS;
  o.learning_rate = 4e-3;
  o.seed = 3;
  return o;
}

typedef struct progress_log {
  int calls, cancel_at, total;
  bool in_order, finite;
} progress_log;

static int record(void *user, const mg_progress *p) {
  progress_log *log = user;
  log->calls++;
  log->in_order = log->in_order && p->step == log->calls && p->total == log->total && p->stage &&
                  !strcmp(p->stage, "train");
  log->finite = log->finite && isfinite(p->loss) && p->loss >= 0;
  return log->cancel_at > 0 && p->step >= log->cancel_at;
}

static double accuracy(mg_classifier *c, const float *images, const int32_t *truth, int n) {
  int32_t *pred = malloc((size_t)n * sizeof *pred);
  mg_status s = mg_classifier_predict(c, images, n, pred, NULL);
  int right = 0;
  for (int i = 0; i < n && s == MG_OK; i++) right += pred[i] == truth[i];
  free(pred);
  return s == MG_OK ? (double)right / n : -1;
}

static mg_classifier *train(mg_ctx *ctx, const mg_dataset *d, const mg_classifier_options *o, progress_log *log) {
  mg_classifier *c = NULL;
  mg_status s = mg_classifier_train(ctx, d, o, log ? record : NULL, log, &c);
  tu_check(s == MG_OK && c, "train: %s: %s", mg_status_string(s), mg_context_error(ctx));
  return c;
}

/* Probabilities for n images; NULL on failure (reported). */
static float *probabilities(mg_classifier *c, const float *images, int n, int32_t *labels) {
  float *p = malloc((size_t)n * K * sizeof *p);
  mg_status s = mg_classifier_predict(c, images, n, labels, p);
  if (tu_check(s == MG_OK, "predict: %s", mg_status_string(s))) return p;
  free(p);
  return NULL;
}

static void test_learns(mg_classifier *c, const float *test, const int32_t *truth, const progress_log *log) {
  tu_check(log->calls == STEPS && log->in_order, "progress: %d calls for %d steps, in order: %d", log->calls, STEPS,
           log->in_order);
  tu_check(log->finite, "progress: every loss must be finite");
  tu_check(mg_classifier_num_classes(c) == K && mg_classifier_image_size(c) == S, "classes %d, size %d",
           mg_classifier_num_classes(c), mg_classifier_image_size(c));
  tu_check(!strcmp(mg_classifier_class_name(c, 2), "stripes") && !mg_classifier_class_name(c, K) &&
               !mg_classifier_class_name(c, -1),
           "class names");
  double acc = accuracy(c, test, truth, N_TEST);
  printf("held-out accuracy: %.3f\n", acc);
  tu_check(acc >= 0.95, "held-out accuracy %.3f, expected >= 0.95", acc);

  int32_t labels[N_TEST];
  float *p = probabilities(c, test, N_TEST, labels);
  if (!p) return;
  bool sums = true, argmax = true;
  for (int i = 0; i < N_TEST; i++) {
    double sum = 0;
    int best = 0;
    for (int k = 0; k < K; k++) {
      sum += p[i * K + k];
      if (p[i * K + k] > p[i * K + best]) best = k;
    }
    sums = sums && fabs(sum - 1) < 1e-5;
    argmax = argmax && labels[i] == best;
  }
  tu_check(sums, "probabilities must sum to 1");
  tu_check(argmax, "labels must be the most probable classes");
  /* eval mode normalizes with the running statistics: an image's probabilities do not depend on its batch (beyond
   * float rounding: BLAS may block a batch of one differently; batch statistics would move them by far more) */
  bool alone = true;
  for (int i = 0; i < 5; i++) {
    float q[K];
    alone = alone && mg_classifier_predict(c, test + (size_t)i * S * S, 1, NULL, q) == MG_OK;
    for (int k = 0; k < K; k++) alone = alone && fabsf(q[k] - p[i * K + k]) <= 1e-5f;
  }
  tu_check(alone, "an image classified alone must get the probabilities it gets in a batch");
  free(p);
}

/* The control: labels that carry no information about the shape. A plain permutation would leave chance
 * imbalances (say 40 of the disks labelled "square") that a net can learn and carry to held-out images; here each
 * shape gets every label equally often (image i is of shape i % 3 and gets label (i / 3) % 3), so only the
 * images' noise and placement tell training labels apart, and those do not carry over. */
static void test_shuffled(const float *train_images, const float *test, const int32_t *truth) {
  int32_t shuffled[N_TRAIN];
  for (int i = 0; i < N_TRAIN; i++) shuffled[i] = (i / K) % K;
  mg_ctx *ctx = tu_ctx(2);
  mg_dataset d = dataset(train_images, shuffled, N_TRAIN);
  mg_classifier_options o = test_options();
  mg_classifier *c = train(ctx, &d, &o, NULL);
  if (c) {
    double acc = accuracy(c, test, truth, N_TEST);
    printf("held-out accuracy with shuffled training labels: %.3f\n", acc);
    tu_check(acc >= 0 && acc < 0.6, "shuffled labels: accuracy %.3f, expected near chance (1/3)", acc);
  }
  mg_classifier_free(c);
  mg_context_free(ctx);
}

static void test_cancel(mg_ctx *ctx, const mg_dataset *d) {
  mg_classifier_options o = test_options();
  progress_log log = {0, 3, STEPS, true, true};
  mg_classifier *c = (mg_classifier *)&log; /* must be overwritten with NULL */
  mg_status s = mg_classifier_train(ctx, d, &o, record, &log, &c);
  tu_check(s == MG_ERR_CANCELLED && !c && log.calls == 3, "cancel: %s after %d calls", mg_status_string(s),
           log.calls);
  tu_check(strstr(mg_context_error(ctx), "cancel") != NULL, "cancel: message '%s'", mg_context_error(ctx));
}

/* A short run on 1 and on 2 threads: the same probabilities, bit for bit; and one model predicting on 1 then 2. */
static void test_threads(const mg_dataset *d, const float *test, mg_ctx *ctx, mg_classifier *trained) {
  float *p[2] = {NULL, NULL};
  for (int k = 0; k < 2; k++) {
    mg_ctx *cx = tu_ctx(k + 1);
    mg_classifier_options o = test_options();
    o.steps = 10;
    mg_classifier *c = train(cx, d, &o, NULL);
    if (c) p[k] = probabilities(c, test, N_TEST, NULL);
    mg_classifier_free(c);
    mg_context_free(cx);
  }
  tu_check(p[0] && p[1] && !memcmp(p[0], p[1], (size_t)N_TEST * K * sizeof(float)),
           "training and predicting on 1 and 2 threads must give the same probabilities");
  free(p[0]);
  free(p[1]);
  for (int k = 0; k < 2; k++) {
    mg_context_set_threads(ctx, k + 1);
    p[k] = probabilities(trained, test, N_TEST, NULL);
  }
  tu_check(p[0] && p[1] && !memcmp(p[0], p[1], (size_t)N_TEST * K * sizeof(float)),
           "predicting on 1 and 2 threads must give the same probabilities");
  free(p[0]);
  free(p[1]);
}

static void expect_load_refused(const char *path, const char *what, const char *says) {
  char err[1024];
  mg_checkpoint *ck = NULL;
  if (!tu_check(mg_checkpoint_load(path, &ck, err, sizeof err) == MG_OK, "%s: %s", what, err)) return;
  mg_ctx *ctx = tu_ctx(1);
  mg_classifier *c = (mg_classifier *)ck;
  mg_status s = mg_classifier_load(ctx, ck, &c);
  const char *msg = mg_context_error(ctx);
  tu_check(s == MG_ERR_FORMAT && !c, "%s: %s, expected a format error", what, mg_status_string(s));
  tu_check(strstr(msg, path) && strstr(msg, says), "%s: message '%s' should name the file and say '%s'", what, msg,
           says);
  mg_context_free(ctx);
  mg_checkpoint_free(ck);
}

/* Copies every tensor of ck into a new file, with model.config replaced by config (NULL: left out). */
static void rewrite(const mg_checkpoint *ck, const char *config, const char *path) {
  mg_checkpoint_writer *w = mg_checkpoint_writer_new();
  for (int i = 0; i < mg_checkpoint_tensor_count(ck); i++) {
    mg_checkpoint_tensor t;
    mg_checkpoint_tensor_at(ck, i, &t);
    mg_checkpoint_writer_add_tensor(w, t.name, t.ndim, t.shape, t.data);
  }
  if (config) mg_checkpoint_writer_add_metadata(w, "model.config", config);
  char err[1024];
  tu_check(mg_checkpoint_writer_save(w, path, err, sizeof err) == MG_OK, "rewrite %s: %s", path, err);
  mg_checkpoint_writer_free(w);
}

static void test_save_load(mg_classifier *c, const float *test, const char *dir) {
  char path[1024], other[1024], err[1024];
  snprintf(path, sizeof path, "%s/classifier.safetensors", dir);
  mg_status s = mg_classifier_save(c, path, err, sizeof err);
  if (!tu_check(s == MG_OK, "save: %s", err)) return;
  mg_checkpoint *ck = NULL;
  if (!tu_check(mg_checkpoint_load(path, &ck, err, sizeof err) == MG_OK, "load: %s", err)) return;
  const char *config = mg_checkpoint_metadata(ck, "model.config");
  const char *classes = mg_checkpoint_metadata(ck, "data.classes");
  const char *norm = mg_checkpoint_metadata(ck, "data.normalization");
  tu_check(config && strstr(config, "\"model\":\"classifier\"") && strstr(config, "\"image_size\":32") &&
               strstr(config, "\"width\":8") && strstr(config, "\"blocks\":4") && strstr(config, "\"num_classes\":3"),
           "model.config: %s", config ? config : "(absent)");
  tu_check(classes && !strcmp(classes, "[\"disk\",\"square\",\"stripes\"]"), "data.classes: %s",
           classes ? classes : "(absent)");
  tu_check(norm && strstr(norm, "\"offset\":100") && strstr(norm, "\"scale\":200"), "data.normalization: %s",
           norm ? norm : "(absent)");
  tu_check(mg_checkpoint_metadata(ck, "medgen.version") != NULL, "medgen.version must be saved");
  mg_checkpoint_tensor t;
  tu_check(mg_checkpoint_find(ck, "model.block.3.bn2.running_var", &t) == MG_OK && t.numel == 32,
           "the batch-norm running statistics must be saved");

  mg_ctx *ctx = tu_ctx(1);
  mg_classifier *loaded = NULL;
  s = mg_classifier_load(ctx, ck, &loaded);
  if (tu_check(s == MG_OK && loaded, "mg_classifier_load: %s", mg_context_error(ctx))) {
    float *a = probabilities(c, test, N_TEST, NULL), *b = probabilities(loaded, test, N_TEST, NULL);
    tu_check(a && b && !memcmp(a, b, (size_t)N_TEST * K * sizeof(float)),
             "the loaded classifier must give the same probabilities bit for bit");
    tu_check(!strcmp(mg_classifier_class_name(loaded, 1), "square") && mg_classifier_image_size(loaded) == S &&
                 mg_classifier_num_classes(loaded) == K,
             "the loaded classifier's names, size and classes");
    free(a);
    free(b);
  }
  mg_classifier_free(loaded);
  mg_context_free(ctx);

  snprintf(other, sizeof other, "%s/not-a-classifier.safetensors", dir);
  rewrite(ck, "{\"model\":\"gan\",\"image_size\":32,\"channels\":8}", other);
  expect_load_refused(other, "another model's config", "not a classifier");
  rewrite(ck, NULL, other);
  expect_load_refused(other, "no model.config", "not a classifier");
  rewrite(ck, "{\"model\":\"classifier\",\"image_size\":32,\"channels\":1,\"width\":8,\"blocks\":4,\"num_classes\":4}",
          other);
  expect_load_refused(other, "4 classes for 3-class weights", "model.fc.weight");
  rewrite(ck, "{\"model\":\"classifier\",\"image_size\":32,\"channels\":1,\"width\":8,\"blocks\":3,\"num_classes\":3}",
          other);
  expect_load_refused(other, "3 blocks at size 32", "blocks");
  remove(other);
  mg_checkpoint_free(ck);
  remove(path);
}

enum { N_PARITY = 12 }; /* images in the PyTorch comparison */

/* Features of n images on the context's threads; NULL on failure (reported). */
static float *features_of(mg_classifier *c, const float *images, int n) {
  float *f = malloc((size_t)n * mg_classifier_feature_dim(c) * sizeof *f);
  mg_status s = mg_classifier_features(c, images, n, f);
  if (tu_check(s == MG_OK, "features: %s", mg_status_string(s))) return f;
  free(f);
  return NULL;
}

/* Writes the classifier and what it computes on the first N_PARITY images, for classifier_reference.py. */
static void write_parity(mg_classifier *c, const float *test, const float *features, const float *logits,
                         const char *dir) {
  char path[1024], err[1024];
  snprintf(path, sizeof path, "%s/parity_model.safetensors", dir);
  tu_check(mg_classifier_save(c, path, err, sizeof err) == MG_OK, "save %s: %s", path, err);
  const int F = mg_classifier_feature_dim(c);
  mg_checkpoint_writer *w = mg_checkpoint_writer_new();
  mg_checkpoint_writer_add_tensor(w, "images", 4, (int64_t[]){N_PARITY, 1, S, S}, test);
  mg_checkpoint_writer_add_tensor(w, "features", 2, (int64_t[]){N_PARITY, F}, features);
  mg_checkpoint_writer_add_tensor(w, "logits", 2, (int64_t[]){N_PARITY, K}, logits);
  snprintf(path, sizeof path, "%s/parity_outputs.safetensors", dir);
  tu_check(mg_checkpoint_writer_save(w, path, err, sizeof err) == MG_OK, "save %s: %s", path, err);
  mg_checkpoint_writer_free(w);
}

static void test_features(mg_ctx *ctx, mg_classifier *c, const float *test, const char *dir) {
  const int F = mg_classifier_feature_dim(c);
  tu_check(F == 4 * 8 && mg_classifier_channels(c) == 1, "feature dim %d (expected 32), channels %d", F,
           mg_classifier_channels(c));
  float *f[2] = {NULL, NULL};
  for (int k = 0; k < 2; k++) {
    mg_context_set_threads(ctx, k + 1);
    f[k] = features_of(c, test, N_TEST);
  }
  tu_check(f[0] && f[1] && !memcmp(f[0], f[1], (size_t)N_TEST * F * sizeof(float)),
           "features on 1 and 2 threads must be the same bits");
  float *p = probabilities(c, test, N_TEST, NULL), *one = features_of(c, test + (size_t)3 * S * S, 1);
  if (!f[0] || !p || !one) goto done;
  bool alone = true;
  for (int j = 0; j < F; j++) alone = alone && fabsf(one[j] - f[0][(size_t)3 * F + j]) <= 1e-5f * (1 + fabsf(one[j]));
  tu_check(alone, "an image's features alone must be those it gets in a batch");

  /* the features are what the final linear layer reads: softmax(fc(features)) == the probabilities */
  char path[1024], err[1024];
  snprintf(path, sizeof path, "%s/features.safetensors", dir);
  mg_checkpoint *ck = NULL;
  mg_checkpoint_tensor wt, bt;
  if (!tu_check(mg_classifier_save(c, path, err, sizeof err) == MG_OK &&
                    mg_checkpoint_load(path, &ck, err, sizeof err) == MG_OK,
                "save and reload: %s", err) ||
      !tu_check(mg_checkpoint_find(ck, "model.fc.weight", &wt) == MG_OK && wt.numel == (int64_t)K * F &&
                    mg_checkpoint_find(ck, "model.fc.bias", &bt) == MG_OK,
                "model.fc.weight [%d, %d] and model.fc.bias must be saved", K, F)) {
    mg_checkpoint_free(ck);
    goto done;
  }
  float logits[N_TEST * K];
  double worst = 0;
  for (int i = 0; i < N_TEST; i++) {
    double z[K], top = -INFINITY, sum = 0;
    for (int k = 0; k < K; k++) {
      z[k] = bt.data[k];
      for (int j = 0; j < F; j++) z[k] += (double)wt.data[k * F + j] * f[0][(size_t)i * F + j];
      logits[i * K + k] = (float)z[k];
      top = z[k] > top ? z[k] : top;
    }
    for (int k = 0; k < K; k++) sum += exp(z[k] - top);
    for (int k = 0; k < K; k++) worst = fmax(worst, fabs(exp(z[k] - top) / sum - p[i * K + k]));
  }
  tu_check(worst <= 1e-5, "softmax(fc(features)) must give the probabilities: differs by %.3g", worst);
  mg_checkpoint_free(ck);
  remove(path);
  write_parity(c, test, f[0], logits, dir);
done:
  free(f[0]);
  free(f[1]);
  free(p);
  free(one);
}

static void test_notes(mg_classifier *c, const char *dir) {
  tu_check(mg_classifier_set_note(c, "run.val_accuracy", "0.5") == MG_OK &&
               mg_classifier_set_note(c, "run.recipe", "a first recipe") == MG_OK &&
               mg_classifier_set_note(c, "run.recipe", "medgen train --model classifier") == MG_OK,
           "set_note must take run. keys and replace a value");
  tu_check(!strcmp(mg_classifier_note(c, "run.recipe"), "medgen train --model classifier") &&
               !mg_classifier_note(c, "run.absent") && !mg_classifier_note(c, NULL) && !mg_classifier_note(NULL, "x"),
           "note: the last value set, NULL when absent");
  char path[1024], err[1024];
  snprintf(path, sizeof path, "%s/notes.safetensors", dir);
  mg_checkpoint *ck = NULL;
  mg_ctx *ctx = tu_ctx(1);
  mg_classifier *loaded = NULL;
  if (tu_check(mg_classifier_save(c, path, err, sizeof err) == MG_OK &&
                   mg_checkpoint_load(path, &ck, err, sizeof err) == MG_OK,
               "save and reload: %s", err) &&
      tu_check(mg_classifier_load(ctx, ck, &loaded) == MG_OK, "load: %s", mg_context_error(ctx))) {
    const char *recipe = mg_classifier_note(loaded, "run.recipe");
    const char *acc = mg_classifier_note(loaded, "run.val_accuracy");
    tu_check(recipe && !strcmp(recipe, "medgen train --model classifier") && acc && !strcmp(acc, "0.5"),
             "notes after save and load: run.recipe '%s', run.val_accuracy '%s'", recipe ? recipe : "(absent)",
             acc ? acc : "(absent)");
    tu_check(mg_checkpoint_metadata(ck, "run.recipe") != NULL, "the notes must be checkpoint metadata");
  }
  mg_classifier_free(loaded);
  mg_checkpoint_free(ck);
  mg_context_free(ctx);
  remove(path);
}

/* A call refused with MG_ERR_INVALID_ARGUMENT and a message (the context's, read right after) that says says. */
static void expect_invalid(mg_ctx *ctx, const char *what, mg_status s, const char *says) {
  const char *msg = mg_context_error(ctx);
  tu_check(s == MG_ERR_INVALID_ARGUMENT, "%s: %s, expected invalid argument", what, mg_status_string(s));
  tu_check(strstr(msg, says) != NULL, "%s: message '%s' should say '%s'", what, msg, says);
}

static void test_bad_feature_arguments(mg_ctx *ctx, mg_classifier *c, const float *images) {
  float *f = malloc((size_t)2 * mg_classifier_feature_dim(c) * sizeof *f);
  float *bad = malloc((size_t)2 * S * S * sizeof *bad);
  memcpy(bad, images, (size_t)2 * S * S * sizeof *bad);
  bad[S * S + 2 * S + 7] = INFINITY; /* image 1, pixel (7,2) */
  expect_invalid(ctx, "NULL features", mg_classifier_features(c, images, 2, NULL), "features is NULL");
  expect_invalid(ctx, "NULL images", mg_classifier_features(c, NULL, 2, f), "images is NULL");
  expect_invalid(ctx, "no images", mg_classifier_features(c, images, 0, f), "at least one");
  expect_invalid(ctx, "an infinite pixel", mg_classifier_features(c, bad, 2, f),
                 "mg_classifier_features: image 1, channel 0, pixel (7,2)");
  expect_invalid(ctx, "a note key without run.", mg_classifier_set_note(c, "val_accuracy", "1"), "\"run.\"");
  expect_invalid(ctx, "the note key run.", mg_classifier_set_note(c, "run.", "1"), "\"run.\"");
  expect_invalid(ctx, "a NULL note value", mg_classifier_set_note(c, "run.x", NULL), "mg_classifier_set_note");
  tu_check(mg_classifier_features(NULL, images, 1, f) == MG_ERR_INVALID_ARGUMENT &&
               mg_classifier_feature_dim(NULL) == 0 && mg_classifier_channels(NULL) == 0 &&
               mg_classifier_set_note(NULL, "run.x", "1") == MG_ERR_INVALID_ARGUMENT,
           "a NULL classifier must be refused");
  free(bad);
  free(f);
}

static void expect_refused(mg_ctx *ctx, const char *what, const mg_dataset *d, const mg_classifier_options *o,
                           const char *says) {
  mg_classifier *c = (mg_classifier *)ctx;
  mg_status s = mg_classifier_train(ctx, d, o, NULL, NULL, &c);
  const char *msg = mg_context_error(ctx);
  tu_check(s == MG_ERR_INVALID_ARGUMENT && !c, "%s: %s, expected invalid argument", what, mg_status_string(s));
  tu_check(strstr(msg, says) != NULL, "%s: message '%s' should mention '%s'", what, msg, says);
}

static void test_bad_inputs(mg_ctx *ctx, mg_classifier *c, const float *images, const int32_t *labels) {
  const mg_dataset good = dataset(images, labels, N_TRAIN);
  const mg_classifier_options o = test_options();
  mg_dataset d = good;
  d.labels = NULL;
  expect_refused(ctx, "no labels", &d, &o, "no labels");
  d = good;
  d.num_classes = 1;
  expect_refused(ctx, "1 class", &d, &o, "1 classes");
  d.num_classes = MG_MAX_CLASSES + 1;
  expect_refused(ctx, "257 classes", &d, &o, "257 classes");
  d = good;
  d.num_classes = 4;
  d.class_names = NULL;
  expect_refused(ctx, "a class without images", &d, &o, "class 3");
  d = good;
  int32_t bad_labels[N_TRAIN];
  memcpy(bad_labels, labels, sizeof bad_labels);
  bad_labels[7] = 3;
  d.labels = bad_labels;
  expect_refused(ctx, "label 3", &d, &o, "label 3 of image 7");
  d = good;
  d.size = 18;
  expect_refused(ctx, "size 18", &d, &o, "image size 18");
  d.size = 8;
  expect_refused(ctx, "size 8", &d, &o, "image size 8");
  d = good;
  d.count = 0;
  expect_refused(ctx, "no images", &d, &o, "at least one");
  float *bad = malloc((size_t)N_TRAIN * S * S * sizeof *bad);
  memcpy(bad, images, (size_t)N_TRAIN * S * S * sizeof *bad);
  bad[((size_t)5 * S + 9) * S + 4] = NAN; /* image 5, pixel (4,9) */
  d = good;
  d.images = bad;
  expect_refused(ctx, "NaN pixel", &d, &o, "image 5, channel 0, pixel (4,9)");
  mg_classifier_options odd = o;
  odd.width = 2;
  expect_refused(ctx, "width 2", &good, &odd, "width");
  odd = o;
  odd.batch = 1;
  expect_refused(ctx, "batch 1", &good, &odd, "batch");
  odd = o;
  odd.steps = 0;
  expect_refused(ctx, "0 steps", &good, &odd, "steps");
  odd = o;
  odd.learning_rate = NAN;
  expect_refused(ctx, "NaN learning rate", &good, &odd, "learning rate");
  tu_check(mg_classifier_train(ctx, &good, &o, NULL, NULL, NULL) == MG_ERR_INVALID_ARGUMENT &&
               strstr(mg_context_error(ctx), "out"),
           "NULL out: %s", mg_context_error(ctx));

  int32_t pred[N_TRAIN];
  mg_status s = mg_classifier_predict(c, bad, N_TRAIN, pred, NULL);
  tu_check(s == MG_ERR_INVALID_ARGUMENT && strstr(mg_context_error(ctx), "image 5"), "predict NaN: %s",
           mg_context_error(ctx));
  s = mg_classifier_predict(c, images, 0, pred, NULL);
  tu_check(s == MG_ERR_INVALID_ARGUMENT && strstr(mg_context_error(ctx), "at least one"), "predict 0 images: %s",
           mg_context_error(ctx));
  s = mg_classifier_predict(c, images, 1, NULL, NULL);
  tu_check(s == MG_ERR_INVALID_ARGUMENT, "predict with nowhere to write: %s", mg_context_error(ctx));
  free(bad);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : ".";
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
    printf("FAIL: cannot create %s\n", dir);
    return 1;
  }
  tu_seed(2024);
  float *train_images = malloc((size_t)N_TRAIN * S * S * sizeof(float));
  float *test_images = malloc((size_t)N_TEST * S * S * sizeof(float));
  int32_t train_labels[N_TRAIN], test_labels[N_TEST];
  make_shapes(train_images, train_labels, N_TRAIN);
  make_shapes(test_images, test_labels, N_TEST);
  mg_dataset d = dataset(train_images, train_labels, N_TRAIN);

  mg_ctx *ctx = tu_ctx(2);
  progress_log log = {0, 0, STEPS, true, true};
  mg_classifier_options o = test_options();
  mg_classifier *c = train(ctx, &d, &o, &log);
  if (c) {
    test_learns(c, test_images, test_labels, &log);
    test_threads(&d, test_images, ctx, c);
    test_save_load(c, test_images, dir);
    test_features(ctx, c, test_images, dir);
    test_notes(c, dir);
    test_bad_inputs(ctx, c, train_images, train_labels);
    test_bad_feature_arguments(ctx, c, test_images);
  }
  test_cancel(ctx, &d);
  test_shuffled(train_images, test_images, test_labels);
  mg_classifier_free(c);
  mg_context_free(ctx);
  free(train_images);
  free(test_images);
  return tu_finish();
}
