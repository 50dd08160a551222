/* bench_augment.c: `medgen bench augment`: the diagnostic-model side of the augmentation benchmark
 * (augment_pneumonia.sh). Trains MedGen's CNN classifier on a labelled folder of real images, optionally together
 * with a labelled folder of synthetic ones (the same class folders), and scores it on a labelled validation folder
 * of real images: accuracy, and the area under the ROC curve of the positive class (two classes: the second in
 * sorted order, "pneumonia" for PneumoniaMNIST; more classes: the mean one-vs-rest AUC).
 *
 * Every folder is read at --size (area resampling) and mapped to [-1, 1] with the real training folder's intensity
 * range, so synthetic and validation images are in the same units as the real ones. The same --seed gives the same
 * classifier on any thread count. The last line reads: auc=X accuracy=Y real=N synthetic=M val=K. */
#include "bench_util.h"
#include "medgen.h"
#include "medgen_bench.h"
#include "mg_io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_help(FILE *out) {
  fprintf(out,
          "Usage: medgen bench augment --train DIR [--extra DIR] --val DIR [--size N] [--seed S] [--steps N]\n"
          "                            [--width N] [--batch N] [--threads N] [--device auto|cpu|cuda] [--tf32]\n"
          "\n"
          "Trains MedGen's CNN classifier on the real images in DIR (class subfolders), plus the synthetic images in\n"
          "--extra (the same class folders) when given, and scores it on the real images of --val: accuracy and the\n"
          "AUC of the second class (two classes) or the mean one-vs-rest AUC (more). Defaults: size 32, seed 1,\n"
          "600 steps of batch 64, width 16, all cores. The last line reads: auc=X accuracy=Y real=N synthetic=M\n"
          "val=K.\n"
          "\n" BENCH_DEVICE_HELP);
}

static int fail(const char *msg) {
  fprintf(stderr, "medgen bench augment: %s\n", msg);
  return 1;
}

/* Area under the ROC curve of scores for positives against negatives (Mann-Whitney U with ties counted half);
 * NaN when either group is empty. */
static double roc_auc(const float *scores, const int *positive, int n) {
  double pairs = 0, wins = 0;
  for (int i = 0; i < n; i++) {
    if (!positive[i]) continue;
    for (int j = 0; j < n; j++) {
      if (positive[j]) continue;
      pairs += 1;
      wins += scores[i] > scores[j] ? 1.0 : scores[i] == scores[j] ? 0.5 : 0.0;
    }
  }
  return pairs > 0 ? wins / pairs : NAN;
}

typedef struct options {
  const char *train, *extra, *val;
  int size, steps, width, batch, threads;
  uint64_t seed;
  bench_device dev;
} options;

/* -1: run; else the exit code (0 after --help, 2 after a message naming the bad option). */
static int parse(int argc, char **argv, options *o) {
  *o = (options){NULL, NULL, NULL, 32, 600, 16, 64, 0, 1, {MG_DEVICE_AUTO, 0}};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      print_help(stdout);
      return 0;
    }
    int taken = bench_parse_device(argc, argv, &i, "medgen bench augment", &o->dev);
    if (taken == 2) return 2;
    if (taken) continue;
    struct { const char *name; int *value; long lo, hi; } ints[] = {
        {"--size", &o->size, 16, 256}, {"--steps", &o->steps, 1, 1000000}, {"--width", &o->width, 4, 256},
        {"--batch", &o->batch, 2, 1024}, {"--threads", &o->threads, 1, 4096}};
    bool known = false;
    for (size_t k = 0; k < sizeof ints / sizeof *ints && !known; k++) {
      if (strcmp(a, ints[k].name)) continue;
      char *end = NULL;
      long n = v ? strtol(v, &end, 10) : 0;
      if (!v || *end || n < ints[k].lo || n > ints[k].hi) {
        fprintf(stderr, "medgen bench augment: %s needs a whole number from %ld to %ld\n", a, ints[k].lo, ints[k].hi);
        return 2;
      }
      *ints[k].value = (int)n;
      known = true;
    }
    if (!known && !strcmp(a, "--seed")) {
      char *end = NULL;
      if (!v || !(o->seed = strtoull(v, &end, 10), *v && !*end)) {
        fprintf(stderr, "medgen bench augment: --seed needs a whole number\n");
        return 2;
      }
      known = true;
    }
    const char **paths[] = {&o->train, &o->extra, &o->val};
    const char *path_names[] = {"--train", "--extra", "--val"};
    for (int k = 0; k < 3 && !known; k++) {
      if (strcmp(a, path_names[k])) continue;
      if (!v) {
        fprintf(stderr, "medgen bench augment: %s needs a folder\n", a);
        return 2;
      }
      *paths[k] = v;
      known = true;
    }
    if (!known) {
      fprintf(stderr, "medgen bench augment: unknown option '%s' (try --help)\n", a);
      return 2;
    }
    i++;
  }
  if (!o->train || !o->val) {
    fprintf(stderr, "medgen bench augment: --train and --val are required (try --help)\n");
    return 2;
  }
  return -1;
}

int medgen_bench_augment(int argc, char **argv) {
  options o;
  int code = parse(argc, argv, &o);
  if (code >= 0) return code;

  char err[1024];
  mg_image_folder real = {0}, extra = {0}, val = {0};
  mg_ctx *ctx = NULL;
  mg_classifier *clf = NULL;
  float *train_images = NULL, *probs = NULL, *scores = NULL;
  int32_t *train_labels = NULL, *predicted = NULL;
  int *positive = NULL;
  int result = 1;

  if (mg_image_folder_read(o.train, o.size, 0, NULL, &real, err, sizeof err) != MG_OK ||
      (o.extra && mg_image_folder_read(o.extra, o.size, 0, NULL, &extra, err, sizeof err) != MG_OK) ||
      mg_image_folder_read(o.val, o.size, 0, NULL, &val, err, sizeof err) != MG_OK) {
    result = fail(err);
    goto done;
  }
  if (!real.labels || real.data.num_classes < 2) {
    snprintf(err, sizeof err, "%s: needs at least two class folders", o.train);
    result = fail(err);
    goto done;
  }
  if ((o.extra && mg_image_folder_match(&extra, o.extra, &real.data, err, sizeof err) != MG_OK) ||
      mg_image_folder_match(&val, o.val, &real.data, err, sizeof err) != MG_OK) {
    result = fail(err);
    goto done;
  }

  /* the training set: real images, then synthetic ones */
  const int K = real.data.num_classes, n_extra = o.extra ? extra.data.count : 0;
  const int n_train = real.data.count + n_extra;
  const size_t per = (size_t)real.data.channels * o.size * o.size;
  train_images = malloc((size_t)n_train * per * sizeof *train_images);
  train_labels = malloc((size_t)n_train * sizeof *train_labels);
  probs = malloc((size_t)val.data.count * K * sizeof *probs);
  scores = malloc((size_t)val.data.count * sizeof *scores);
  predicted = malloc((size_t)val.data.count * sizeof *predicted);
  positive = malloc((size_t)val.data.count * sizeof *positive);
  if (!train_images || !train_labels || !probs || !scores || !predicted || !positive) {
    result = fail("out of memory");
    goto done;
  }
  memcpy(train_images, real.images, (size_t)real.data.count * per * sizeof *train_images);
  memcpy(train_labels, real.labels, (size_t)real.data.count * sizeof *train_labels);
  if (n_extra) {
    memcpy(train_images + (size_t)real.data.count * per, extra.images, (size_t)n_extra * per * sizeof *train_images);
    memcpy(train_labels + real.data.count, extra.labels, (size_t)n_extra * sizeof *train_labels);
  }
  mg_dataset train = real.data;
  train.count = n_train;
  train.images = train_images;
  train.labels = train_labels;

  if (!(ctx = bench_context_create("medgen bench augment", &o.dev, o.threads))) goto done;
  mg_classifier_options co = mg_classifier_default_options();
  co.width = o.width;
  co.batch = o.batch;
  co.steps = o.steps;
  co.seed = o.seed;
  printf("training a classifier on %d real + %d synthetic images (%d classes, %dx%d), %d steps of %d, seed %llu, %s\n",
         real.data.count, n_extra, K, o.size, o.size, o.steps, o.batch, (unsigned long long)o.seed,
         mg_device_name(o.dev.device));
  if (mg_classifier_train(ctx, &train, &co, NULL, NULL, &clf) != MG_OK ||
      mg_classifier_predict(clf, val.images, val.data.count, predicted, probs) != MG_OK) {
    result = fail(mg_context_error(ctx));
    goto done;
  }

  int correct = 0;
  for (int i = 0; i < val.data.count; i++) correct += predicted[i] == val.labels[i];
  double auc = 0;
  int first = K == 2 ? 1 : 0; /* two classes: the second is the positive one; more: every class in turn */
  for (int c = first; c < K; c++) {
    for (int i = 0; i < val.data.count; i++) {
      scores[i] = probs[(size_t)i * K + c];
      positive[i] = val.labels[i] == c;
    }
    auc += roc_auc(scores, positive, val.data.count) / (K - first);
  }
  double accuracy = (double)correct / val.data.count;
  printf("validation: %d images, accuracy %.4f, AUC (%s) %.4f\n", val.data.count, accuracy,
         K == 2 ? real.class_names[1] : "mean one-vs-rest", auc);
  printf("auc=%.6f accuracy=%.6f real=%d synthetic=%d val=%d\n", auc, accuracy, real.data.count, n_extra,
         val.data.count);
  result = 0;

done:
  mg_classifier_free(clf);
  mg_context_free(ctx);
  mg_image_folder_free(&real);
  mg_image_folder_free(&extra);
  mg_image_folder_free(&val);
  free(train_images);
  free(train_labels);
  free(probs);
  free(scores);
  free(predicted);
  free(positive);
  return result;
}
